// docs/math.md §7.12: both sides of the penalty inequality per sample.
#include "gan/penalty_inequality.hpp"

#include <cmath>

#include <Eigen/Dense>

#include "core/validate.hpp"

namespace kexue {
namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double matrix_norm(const Matrix& m, MatrixNorm norm) {
    if (norm == MatrixNorm::frobenius || m.rows() == 0 || m.cols() == 0) return m.norm();
    return Eigen::JacobiSVD<Matrix>(m).singularValues()(0);
}

}  // namespace

Error penalty_inequality_validate(const std::vector<std::size_t>& sizes, const PenaltyInequalityOptions& o) {
    if (Error e = mlp_single_output_validate(sizes, "mlp", "needs a network with one output (f is a scalar)")) return e;
    if (Error e = positive("rows", o.rows)) return e;
    std::size_t widest = 0;
    for (std::size_t n : sizes) widest = std::max(widest, n);
    // One sample's Jacobian (widest × n_0 doubles) and the rows × n_0 input and two results.
    if (Error e = buffer_fits("the Jacobian", {{"width", widest}, {"n_0", sizes.front()}}, 8)) return e;
    return buffer_fits("x", {{"rows", o.rows}, {"n_0", sizes.front()}});
}

void penalty_inequality(const Mlp<float>& mlp, const float* parameters, const float* x, std::size_t rows,
                        MatrixNorm norm, double* input_side, double* parameter_side) {
    const std::vector<std::size_t>& sizes = mlp.sizes();
    const std::size_t L = mlp.layers(), n0 = sizes[0];
    std::vector<Matrix> W(L + 1);
    std::vector<Eigen::VectorXd> b(L + 1);
    std::vector<double> w_norm(L + 1);
    for (std::size_t l = 1; l <= L; ++l) {
        W[l].resize(sizes[l], sizes[l - 1]);
        b[l].resize(sizes[l]);
        const float* wp = parameters + mlp.weight_offset(l);
        const float* bp = parameters + mlp.bias_offset(l);
        for (std::size_t i = 0; i < sizes[l]; ++i) {
            for (std::size_t j = 0; j < sizes[l - 1]; ++j) W[l](i, j) = wp[i * sizes[l - 1] + j];
            b[l](i) = bp[i];
        }
        w_norm[l] = matrix_norm(W[l], norm);
    }
    std::vector<Eigen::VectorXd> h(L), d1(L + 1);  // h[l−1] is the input of layer l; d1 = φ'(z_l)
    std::vector<Matrix> J(L);                       // J[l−1] = ∂h[l−1]/∂x
    for (std::size_t r = 0; r < rows; ++r) {
        h[0] = Eigen::Map<const Eigen::VectorXf>(x + r * n0, n0).cast<double>();
        J[0] = Matrix::Identity(n0, n0);
        for (std::size_t l = 1; l < L; ++l) {
            const Eigen::VectorXd z = W[l] * h[l - 1] + b[l];
            h[l].resize(sizes[l]);
            d1[l].resize(sizes[l]);
            for (std::size_t i = 0; i < sizes[l]; ++i) {
                const ActivationDerivatives<double> a = activate<double>(mlp.activation(), z(i));
                h[l](i) = a.value;
                d1[l](i) = a.first;
            }
            J[l] = d1[l].asDiagonal() * (W[l] * J[l - 1]);
        }
        // Reverse: δ_L = 1 (linear scalar output), δ_{l} = φ'(z_l) ⊙ W_{l+1}ᵀ δ_{l+1}.
        Eigen::VectorXd delta = Eigen::VectorXd::Ones(1);
        double parameter = 0, inverse_sum = 0;
        Eigen::VectorXd input_gradient;
        for (std::size_t l = L; l >= 1; --l) {
            const double hh = 1.0 + h[l - 1].squaredNorm();
            parameter += delta.squaredNorm() * hh;
            const double jn = matrix_norm(J[l - 1], norm);
            const double denominator = w_norm[l] * w_norm[l] * jn * jn;
            if (denominator > 0) inverse_sum += hh / denominator;
            const Eigen::VectorXd a = W[l].transpose() * delta;
            if (l == 1) {
                input_gradient = a;
            } else {
                delta = d1[l - 1].cwiseProduct(a);
            }
        }
        const double g2 = input_gradient.squaredNorm();
        input_side[r] = g2 > 0 ? g2 * inverse_sum : 0.0;
        parameter_side[r] = parameter;
    }
}

}  // namespace kexue
