// Multi-task gradient combination and gradient clipping: the vectors of docs/math.md §6B and §7.3 and the
// optimality conditions that define each direction.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "optim/clipping.hpp"
#include "optim/multitask.hpp"

namespace kexue {
namespace {

TEST(MultitaskSpec, NormalizedSumTwoTasks) {
    const std::vector<float> g{1, 0, 0, 2};  // g1 = [1, 0], g2 = [0, 2]
    std::vector<float> u(2);
    EXPECT_EQ(normalized_sum(g.data(), 2, 2, u.data()), 2u);
    EXPECT_FLOAT_EQ(u[0], 1);
    EXPECT_FLOAT_EQ(u[1], 1);
}

TEST(MultitaskSpec, NormalizedSumSkipsZeroNorm) {
    const std::vector<float> g{0, 0, 3, 4};
    std::vector<float> u(2);
    EXPECT_EQ(normalized_sum(g.data(), 2, 2, u.data()), 1u);
    EXPECT_FLOAT_EQ(u[0], 0.6f);
    EXPECT_FLOAT_EQ(u[1], 0.8f);
}

TEST(MultitaskSpec, MgdaTwoTasksClosedForm) {
    const std::vector<float> g{1, 0, 0, 2};
    std::vector<float> u(2);
    std::vector<double> alpha(2);
    mgda(g.data(), 2, 2, u.data(), alpha.data());
    EXPECT_NEAR(alpha[0], 0.8, 1e-12);
    EXPECT_NEAR(alpha[1], 0.2, 1e-12);
    EXPECT_NEAR(u[0], 0.8, 1e-7);
    EXPECT_NEAR(u[1], 0.4, 1e-7);
}

TEST(MultitaskSpec, MgdaThreeTasksExact) {
    const std::vector<float> g{1, 0, 0, 1, -1, 0.5f};
    std::vector<float> u(2);
    std::vector<double> alpha(3);
    const MgdaResult r = mgda(g.data(), 3, 2, u.data(), alpha.data());
    // The exact optimum (docs/math.md §6B, by active-set enumeration): α = [9/17, 0, 8/17], u = [1/17, 4/17].
    EXPECT_NEAR(alpha[0], 9.0 / 17, 1e-12);
    EXPECT_EQ(alpha[1], 0.0);
    EXPECT_NEAR(alpha[2], 8.0 / 17, 1e-12);
    EXPECT_NEAR(alpha[0] + alpha[1] + alpha[2], 1, 1e-15);
    EXPECT_NEAR(u[0], 1.0 / 17, 1e-7);
    EXPECT_NEAR(u[1], 4.0 / 17, 1e-7);
    EXPECT_LE(r.gap, 1e-12);
    EXPECT_GE(r.gap, 0.0);
    EXPECT_LE(r.iterations, 3u);
}

// The min-norm point of the simplex on a Gram matrix by brute force: for every support S, the
// affine minimiser of {g_i : i ∈ S} (the KKT system [M_SS 1; 1ᵀ 0] solved by Gaussian elimination);
// keep the feasible ones (α ≥ 0) and return the smallest αᵀMα. Exponential, for n ≤ 8 only.
double brute_force_min_norm(const std::vector<double>& m, std::size_t n, std::vector<double>& best_alpha) {
    double best = INFINITY;
    for (unsigned mask = 1; mask < (1u << n); ++mask) {
        std::vector<std::size_t> s;
        for (std::size_t i = 0; i < n; ++i) {
            if (mask & (1u << i)) s.push_back(i);
        }
        const std::size_t k = s.size(), w = k + 1;
        std::vector<double> a(w * (w + 1), 0.0);  // augmented [K | r]
        for (std::size_t p = 0; p < k; ++p) {
            for (std::size_t q = 0; q < k; ++q) a[p * (w + 1) + q] = m[s[p] * n + s[q]];
            a[p * (w + 1) + k] = 1;
            a[k * (w + 1) + p] = 1;
        }
        a[k * (w + 1) + w] = 1;
        bool singular = false;
        for (std::size_t c = 0; c < w && !singular; ++c) {
            std::size_t piv = c;
            for (std::size_t r = c + 1; r < w; ++r) {
                if (std::abs(a[r * (w + 1) + c]) > std::abs(a[piv * (w + 1) + c])) piv = r;
            }
            if (std::abs(a[piv * (w + 1) + c]) < 1e-12) {
                singular = true;
                break;
            }
            for (std::size_t j = 0; j <= w; ++j) std::swap(a[c * (w + 1) + j], a[piv * (w + 1) + j]);
            for (std::size_t r = 0; r < w; ++r) {
                if (r == c) continue;
                const double f = a[r * (w + 1) + c] / a[c * (w + 1) + c];
                for (std::size_t j = c; j <= w; ++j) a[r * (w + 1) + j] -= f * a[c * (w + 1) + j];
            }
        }
        if (singular) continue;
        std::vector<double> alpha(n, 0.0);
        bool feasible = true;
        for (std::size_t p = 0; p < k; ++p) {
            alpha[s[p]] = a[p * (w + 1) + w] / a[p * (w + 1) + p];
            feasible = feasible && alpha[s[p]] >= -1e-12;
        }
        if (!feasible) continue;
        double value = 0;
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < n; ++j) value += alpha[i] * m[i * n + j] * alpha[j];
        }
        if (value < best) {
            best = value;
            best_alpha = alpha;
        }
    }
    return best;
}

// Random Gram matrices of n = 3…8 tasks, from gradients in 2…10 dimensions (so some are singular:
// more tasks than dimensions, where the support is at most dim + 1), against brute force.
TEST(MultitaskSpec, MgdaMatchesBruteForceOnRandomGramMatrices) {
    std::uint64_t state = 12345;
    auto uniform = [&state] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<double>(state >> 11) * 0x1.0p-53 * 2 - 1;
    };
    int cases = 0;
    for (std::size_t n = 3; n <= 8; ++n) {
        for (std::size_t dim : {2, 3, 5, 10}) {
            for (int trial = 0; trial < 10; ++trial) {
                std::vector<double> g(n * dim);
                const double shift = trial % 2 ? 0.7 : 0.0;  // shifted: the origin often outside the hull
                for (std::size_t i = 0; i < n; ++i) {
                    for (std::size_t d = 0; d < dim; ++d) g[i * dim + d] = uniform() + (d == 0 ? shift : 0);
                }
                std::vector<double> m(n * n);
                for (std::size_t i = 0; i < n; ++i) {
                    for (std::size_t j = 0; j < n; ++j) {
                        double sum = 0;
                        for (std::size_t d = 0; d < dim; ++d) sum += g[i * dim + d] * g[j * dim + d];
                        m[i * n + j] = sum;
                    }
                }
                std::vector<double> exact_alpha, alpha(n);
                const double exact = brute_force_min_norm(m, n, exact_alpha);
                const MgdaResult r = mgda_gram(m.data(), n, alpha.data());
                double value = 0, total = 0, max_diag = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    EXPECT_GE(alpha[i], 0.0);
                    total += alpha[i];
                    max_diag = std::max(max_diag, m[i * n + i]);
                    for (std::size_t j = 0; j < n; ++j) value += alpha[i] * m[i * n + j] * alpha[j];
                }
                SCOPED_TRACE("n " + std::to_string(n) + " dim " + std::to_string(dim) + " trial " + std::to_string(trial));
                EXPECT_NEAR(total, 1, 1e-14);
                EXPECT_NEAR(value, exact, 1e-12 * max_diag);
                EXPECT_LE(r.gap, 1e-12 * max_diag);
                // The direction u = Σ α_i g_i is unique even where α is not (dependent points).
                for (std::size_t d = 0; d < dim; ++d) {
                    double u = 0, v = 0;
                    for (std::size_t i = 0; i < n; ++i) {
                        u += alpha[i] * g[i * dim + d];
                        v += exact_alpha[i] * g[i * dim + d];
                    }
                    EXPECT_NEAR(u, v, 1e-6);
                }
                ++cases;
            }
        }
    }
    EXPECT_EQ(cases, 240);
}

TEST(MultitaskSpec, MgdaDegenerateInputs) {
    // Repeated and zero gradients: a zero gradient is the min-norm point; duplicates are harmless.
    const std::vector<float> dup{1, 2, 1, 2, 1, 2, -1, 0};
    std::vector<float> u(2);
    std::vector<double> alpha(4);
    MgdaResult r = mgda(dup.data(), 4, 2, u.data(), alpha.data());
    // The segment (−1, 0) + t(2, 2): nearest the origin at t = 1/4, u = (−1/2, 1/2).
    EXPECT_NEAR(u[0], -0.5, 1e-7);
    EXPECT_NEAR(u[1], 0.5, 1e-7);
    EXPECT_NEAR(alpha[0] + alpha[1] + alpha[2], 0.25, 1e-12);
    EXPECT_NEAR(alpha[3], 0.75, 1e-12);
    EXPECT_LE(r.gap, 1e-12 * 5);
    const std::vector<float> zero{1, 0, 0, 0, 0, 1};
    r = mgda(zero.data(), 3, 2, u.data(), alpha.data());
    EXPECT_EQ(alpha[1], 1.0);
    EXPECT_EQ(r.gap, 0.0);
    std::vector<float> all_zero(6, 0.0f);
    r = mgda(all_zero.data(), 3, 2, u.data(), alpha.data());
    EXPECT_NEAR(alpha[0] + alpha[1] + alpha[2], 1, 1e-15);
    EXPECT_EQ(u[0], 0.0f);
}

TEST(MultitaskSpec, PrimaryAuxOneTask) {
    const std::vector<float> g0{1, 1}, g1{-1, 0.5f};
    std::vector<float> u(2);
    double lambda = -1;
    primary_aux(g0.data(), g1.data(), 1, 2, u.data(), &lambda);
    EXPECT_NEAR(lambda, 0.4, 1e-12);
    EXPECT_NEAR(u[0], 0.6, 1e-7);
    EXPECT_NEAR(u[1], 1.2, 1e-7);
    // An auxiliary gradient that agrees with the primary one gets λ = 0.
    const std::vector<float> agreeing{1, 0};
    primary_aux(g0.data(), agreeing.data(), 1, 2, u.data(), &lambda);
    EXPECT_EQ(lambda, 0);
}

TEST(Multitask, PrimaryAuxSeveralTasksSatisfiesKkt) {
    // min_{λ ≥ 0} ‖g0 + Σ λ_i g_i‖²: ⟨u, g_i⟩ = 0 where λ_i > 0 and ≥ 0 where λ_i = 0.
    const std::vector<float> g0{1, 1, 0.5f};
    const std::vector<float> aux{-1, 0.5f, 0, 0.2f, -1, 0.3f, 1, 1, 1, 0, 0, 0};
    std::vector<float> u(3);
    std::vector<double> lambda(4);
    primary_aux(g0.data(), aux.data(), 4, 3, u.data(), lambda.data(), 1000, 1e-14);
    for (int i = 0; i < 4; ++i) {
        const double d = u[0] * aux[i * 3] + u[1] * aux[i * 3 + 1] + u[2] * aux[i * 3 + 2];
        EXPECT_GE(lambda[i], 0);
        if (lambda[i] > 0) EXPECT_NEAR(d, 0, 1e-6) << i;
        else EXPECT_GE(d, -1e-6) << i;
    }
    EXPECT_EQ(lambda[2], 0);  // agrees with g0
    EXPECT_EQ(lambda[3], 0);  // zero gradient
}

TEST(ClippingSpec, BothForms) {
    std::vector<float> g{3, 4};
    float* tensors[1] = {g.data()};
    const std::size_t sizes[1] = {2};
    EXPECT_DOUBLE_EQ(clip_by_global_norm(tensors, sizes, 1, 1.0, ClipForm::Min), 5.0);
    EXPECT_FLOAT_EQ(g[0], 0.6f);
    EXPECT_FLOAT_EQ(g[1], 0.8f);
    g = {3, 4};
    tensors[0] = g.data();
    clip_by_global_norm(tensors, sizes, 1, 1.0, ClipForm::Smooth);
    EXPECT_FLOAT_EQ(g[0], 0.5f);
    EXPECT_NEAR(g[1], 0.6666666667, 1e-7);
}

TEST(Clipping, GlobalNormOverTensorsAndZeroNorm) {
    std::vector<float> a{3}, b{4};
    float* tensors[2] = {a.data(), b.data()};
    const std::size_t sizes[2] = {1, 1};
    EXPECT_DOUBLE_EQ(clip_by_global_norm(tensors, sizes, 2, 10.0, ClipForm::Min), 5.0);
    EXPECT_EQ(a[0], 3);  // below the threshold: unchanged
    clip_by_global_norm(tensors, sizes, 2, 2.5, ClipForm::Min);
    EXPECT_FLOAT_EQ(a[0], 1.5f);
    EXPECT_FLOAT_EQ(b[0], 2.0f);
    std::vector<float> zero{0, 0};
    float* z[1] = {zero.data()};
    const std::size_t zsize[1] = {2};
    EXPECT_EQ(clip_by_global_norm(z, zsize, 1, 1.0, ClipForm::Smooth), 0.0);
    EXPECT_EQ(zero[0], 0);
    for (double norm : {0.1, 1.0, 3.0, 100.0}) {
        const double hard = clip_coefficient(norm, 1.0, ClipForm::Min);
        const double smooth = clip_coefficient(norm, 1.0, ClipForm::Smooth);
        EXPECT_LE(0.5 * hard, smooth);
        EXPECT_LE(smooth, hard);
    }
}

}  // namespace
}  // namespace kexue
