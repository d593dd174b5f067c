// Shapes: sigma d×d symmetric; T = Qᵀ·sigma·Q tridiagonal (diagonal a, off-diagonal e); the
// eigenvectors of sigma are Q·z for the eigenvectors z of T. See symmetric_eigen.hpp.
//
// Why: in WASM Eigen runs its scalar path, and SelfAdjointEigenSolver spends most of a 768×768
// solve forming Q and rotating all d eigenvectors through every implicit-QR sweep (~6d³ flops),
// although whitening with k < d keeps k of them. LAPACK's expert driver dsyevx does what this file
// does: tridiagonalise (dsytrd), eigenvalues of T (here Eigen's own QR without vectors, so they are
// bit-identical to the reference), inverse iteration for the wanted vectors (dstein: J. H.
// Wilkinson, The Algebraic Eigenvalue Problem, 1965, §5.54; I. C. F. Ipsen, "Computing an
// eigenvector with inverse iteration", SIAM Review 39(2), 1997), back-transformation (dormtr).
#include "whitening/symmetric_eigen.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/simd.hpp"

namespace kexue {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
// dstein's constants: at most 5 iterations, 2 more after the growth test passes, and eigenvalues
// closer than 1e-3·‖T‖₁ form a group whose vectors are orthogonalised against each other.
constexpr int kMaxIterations = 5;
constexpr int kExtraIterations = 2;
constexpr double kGroupTolerance = 1e-3;
// Gram–Schmidt within the groups costs ~3·d·Σg² flops: past d³ (a large cluster of nearly equal
// eigenvalues among the wanted ones, e.g. the noise floor of full whitening, k = d) the reference's
// ~6d³ on its tighter loops is as fast; use it.
constexpr double kMaxGroupWork = 1.0;

// The LU factorisation with partial pivoting of T − λI (LAPACK dlagtf): U has the diagonal `diag`
// and two super-diagonals `super1`, `super2`; `mult` are L's multipliers, `swap` the interchanges.
struct TridiagonalLu {
    std::vector<double> diag, super1, super2, mult;
    std::vector<std::uint8_t> swap;
};

void factor(const Eigen::VectorXd& a, const Eigen::VectorXd& e, double lambda, TridiagonalLu& lu) {
    const std::size_t n = static_cast<std::size_t>(a.size());
    lu.diag.assign(n, 0.0);
    lu.super1.assign(n, 0.0);
    lu.super2.assign(n, 0.0);
    lu.mult.assign(n, 0.0);
    lu.swap.assign(n, 0);
    for (std::size_t i = 0; i < n; ++i) lu.diag[i] = a(static_cast<Eigen::Index>(i)) - lambda;
    for (std::size_t i = 0; i + 1 < n; ++i) lu.super1[i] = e(static_cast<Eigen::Index>(i));
    for (std::size_t k = 0; k + 1 < n; ++k) {
        const double below = e(static_cast<Eigen::Index>(k));
        if (std::fabs(lu.diag[k]) >= std::fabs(below)) {
            const double m = lu.diag[k] == 0.0 ? 0.0 : below / lu.diag[k];
            lu.mult[k] = m;
            lu.diag[k + 1] -= m * lu.super1[k];
        } else {
            // Interchange rows k and k+1.
            const double m = lu.diag[k] / below;
            const double next_diag = lu.diag[k + 1];
            lu.diag[k] = below;
            lu.diag[k + 1] = lu.super1[k] - m * next_diag;
            if (k + 2 < n) {
                lu.super2[k] = lu.super1[k + 1];
                lu.super1[k + 1] = -m * lu.super2[k];
            }
            lu.super1[k] = next_diag;
            lu.mult[k] = m;
            lu.swap[k] = 1;
        }
    }
}

// Solves (T − λI)·x = y in place (dlagts, job −1): pivots smaller than `tol` are moved to ±tol,
// which is what makes inverse iteration work at an eigenvalue, where T − λI is singular.
void solve(const TridiagonalLu& lu, double tol, double* y, std::size_t n) {
    for (std::size_t k = 1; k < n; ++k) {
        if (!lu.swap[k - 1]) {
            y[k] -= lu.mult[k - 1] * y[k - 1];
        } else {
            const double t = y[k - 1];
            y[k - 1] = y[k];
            y[k] = t - lu.mult[k - 1] * y[k];
        }
    }
    for (std::size_t k = n; k-- > 0;) {
        double t = y[k];
        if (k + 1 < n) t -= lu.super1[k] * y[k + 1];
        if (k + 2 < n) t -= lu.super2[k] * y[k + 2];
        double pivot = lu.diag[k];
        if (std::fabs(pivot) < tol) pivot = pivot < 0 ? -tol : tol;
        y[k] = t / pivot;
    }
}

// x·y and x −= s·y on f64x2 (xsimd's SSE2 batch, WASM SIMD in the module): the Gram–Schmidt of
// large groups is most of the inverse iteration's work. The dot product's four partial sums are
// this file's own summation order.
using VecD = xsimd::batch<double>;
constexpr std::size_t kWidthD = VecD::size;

double dot(const double* x, const double* y, std::size_t n) {
    VecD s0(0.0), s1(0.0);
    std::size_t i = 0;
    for (; i + 2 * kWidthD <= n; i += 2 * kWidthD) {
        s0 = xsimd::fma(VecD::load_unaligned(x + i), VecD::load_unaligned(y + i), s0);
        s1 = xsimd::fma(VecD::load_unaligned(x + i + kWidthD), VecD::load_unaligned(y + i + kWidthD), s1);
    }
    double sum = xsimd::hadd(s0 + s1);
    for (; i < n; ++i) sum += x[i] * y[i];
    return sum;
}

void subtract_scaled(double* x, double s, const double* y, std::size_t n) {
    const VecD vs(s);
    std::size_t i = 0;
    for (; i + kWidthD <= n; i += kWidthD) (VecD::load_unaligned(x + i) - vs * VecD::load_unaligned(y + i)).store_unaligned(x + i);
    for (; i < n; ++i) x[i] -= s * y[i];
}

// ‖T·z − λz‖∞.
double residual(const Eigen::VectorXd& a, const Eigen::VectorXd& e, double lambda, const double* z, std::size_t n) {
    double worst = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto ii = static_cast<Eigen::Index>(i);
        double r = (a(ii) - lambda) * z[i];
        if (i > 0) r += e(ii - 1) * z[i - 1];
        if (i + 1 < n) r += e(ii) * z[i + 1];
        worst = std::max(worst, std::fabs(r));
    }
    return worst;
}

// Eigenvectors of T for values[first … n−1] (ascending, as Eigen returns them), as the columns of
// z (n × count, column j for values[first + j]); false when a vector does not converge or check.
bool tridiagonal_vectors(const Eigen::VectorXd& a, const Eigen::VectorXd& e, const Eigen::VectorXd& values,
                         std::size_t first, Eigen::MatrixXd& z) {
    const std::size_t n = static_cast<std::size_t>(a.size());
    const std::size_t count = n - first;
    z.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(count));
    double norm1 = 0.0;  // ‖T‖₁
    for (std::size_t i = 0; i < n; ++i) {
        const auto ii = static_cast<Eigen::Index>(i);
        double column = std::fabs(a(ii));
        if (i > 0) column += std::fabs(e(ii - 1));
        if (i + 1 < n) column += std::fabs(e(ii));
        norm1 = std::max(norm1, column);
    }
    if (norm1 == 0.0) return false;  // T = 0: every vector is an eigenvector; let the reference pick
    const double group_tol = kGroupTolerance * norm1;
    const double growth = std::sqrt(0.1 / static_cast<double>(n));
    const double residual_tol = 64.0 * std::sqrt(static_cast<double>(n)) * kEps * norm1;
    TridiagonalLu lu;
    std::vector<double> x(n);
    std::uint64_t state = 0x9e3779b97f4a7c15ull;  // a fixed start: the fit is deterministic
    {
        // The groups, from the eigenvalues alone, to decide before any work.
        double work = 0.0, last = 0.0;
        std::size_t start = 0;
        for (std::size_t j = 0; j < count; ++j) {
            const double lambda = values(static_cast<Eigen::Index>(first + j));
            if (j > 0 && lambda - last > group_tol) start = j;
            last = lambda;
            work += 3.0 * static_cast<double>(n) * static_cast<double>(j - start);
        }
        if (work > kMaxGroupWork * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n)) return false;
    }
    std::size_t group_start = 0;
    double previous = 0.0;
    for (std::size_t j = 0; j < count; ++j) {
        double lambda = values(static_cast<Eigen::Index>(first + j));
        if (j > 0) {
            // Equal eigenvalues are pulled apart a little so that the factorisations differ.
            const double perturb = 10.0 * std::fabs(kEps * lambda);
            if (lambda - previous < perturb) lambda = previous + perturb;
            if (lambda - previous > group_tol) group_start = j;
        }
        previous = lambda;
        for (double& value : x) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            value = static_cast<double>(state >> 11) * 0x1.0p-53 * 2.0 - 1.0;
        }
        factor(a, e, lambda, lu);
        double tol = 0.0;
        for (std::size_t i = 0; i < n; ++i) tol = std::max({tol, std::fabs(lu.diag[i]), std::fabs(lu.super1[i])});
        tol = std::max(tol * kEps, kEps);
        int iterations = 0, passed = 0;
        while (true) {
            if (++iterations > kMaxIterations) return false;
            double sum = 0.0;
            for (double value : x) sum += std::fabs(value);
            const double scale = static_cast<double>(n) * norm1 * std::max(kEps, std::fabs(lu.diag[n - 1])) / sum;
            for (double& value : x) value *= scale;
            solve(lu, tol, x.data(), n);
            // Orthogonalise against the group's earlier vectors (modified Gram–Schmidt).
            for (std::size_t i = group_start; i < j; ++i) {
                const double* zi = z.col(static_cast<Eigen::Index>(i)).data();
                subtract_scaled(x.data(), dot(x.data(), zi, n), zi, n);
            }
            double largest = 0.0;
            for (double value : x) largest = std::max(largest, std::fabs(value));
            if (!std::isfinite(largest) || largest == 0.0) return false;
            if (largest >= growth && ++passed > kExtraIterations) break;
        }
        double norm2 = 0.0;
        for (double value : x) norm2 += value * value;
        const double inverse = 1.0 / std::sqrt(norm2);
        double* zj = z.col(static_cast<Eigen::Index>(j)).data();
        for (std::size_t r = 0; r < n; ++r) zj[r] = x[r] * inverse;
        if (!(residual(a, e, values(static_cast<Eigen::Index>(first + j)), zj, n) <= residual_tol)) return false;
        for (std::size_t i = group_start; i < j; ++i) {
            if (!(std::fabs(dot(z.col(static_cast<Eigen::Index>(i)).data(), zj, n)) <= 1e-12)) return false;
        }
    }
    return true;
}

// Descending values, and the top-k columns of `ascending_vectors` in descending order.
SymmetricEigenTop descending(const Eigen::VectorXd& ascending_values, const Eigen::MatrixXd& ascending_vectors,
                             std::size_t k, double scale) {
    const Eigen::Index d = ascending_values.size();
    SymmetricEigenTop out;
    out.values = ascending_values.reverse() * scale;
    const Eigen::Index cols = ascending_vectors.cols();
    out.vectors.resize(d, static_cast<Eigen::Index>(k));
    for (Eigen::Index j = 0; j < static_cast<Eigen::Index>(k); ++j) out.vectors.col(j) = ascending_vectors.col(cols - 1 - j);
    return out;
}

double max_abs(const Eigen::MatrixXd& m) {
    const double scale = m.cwiseAbs().maxCoeff();
    return scale == 0.0 ? 1.0 : scale;
}

}  // namespace

SymmetricEigenTop symmetric_eigen_top_reference(const Eigen::MatrixXd& sigma, std::size_t k) {
    // SelfAdjointEigenSolver scales by the largest |entry| itself.
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(sigma);
    return descending(solver.eigenvalues(), solver.eigenvectors(), k, 1.0);
}

SymmetricEigenTop symmetric_eigen_top(const Eigen::MatrixXd& sigma, std::size_t k) {
    const Eigen::Index d = sigma.rows();
    if (d < 3 || k == 0) return symmetric_eigen_top_reference(sigma, k);
    // The same scaling and tridiagonalisation as SelfAdjointEigenSolver::compute.
    const double scale = max_abs(sigma);
    const Eigen::Tridiagonalization<Eigen::MatrixXd> tri(sigma / scale);
    const Eigen::VectorXd a = tri.diagonal();
    const Eigen::VectorXd e = tri.subDiagonal();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> values_only;
    values_only.computeFromTridiagonal(a, e, Eigen::EigenvaluesOnly);
    if (values_only.info() != Eigen::Success) return symmetric_eigen_top_reference(sigma, k);
    const Eigen::VectorXd& ascending = values_only.eigenvalues();

    Eigen::MatrixXd z;
    if (!tridiagonal_vectors(a, e, ascending, static_cast<std::size_t>(d) - k, z)) {
        SymmetricEigenTop out = symmetric_eigen_top_reference(sigma, k);
        out.fell_back = true;
        return out;
    }
    // Back to sigma's basis: Q·z, Q applied as Eigen's blocked Householder sequence.
    const Eigen::MatrixXd vectors = tri.matrixQ() * z;
    Eigen::VectorXd scaled = ascending;
    return descending(scaled, vectors, k, scale);
}

}  // namespace kexue
