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

// ‖M‖² and its gradient with respect to M: 2σ u vᵀ for the spectral norm, 2M for Frobenius.
double squared_norm_and_gradient(const Matrix& m, MatrixNorm norm, Matrix& gradient) {
    if (norm == MatrixNorm::frobenius) {
        gradient = 2.0 * m;
        return m.squaredNorm();
    }
    const Eigen::JacobiSVD<Matrix> svd(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const double sigma = svd.singularValues()(0);
    gradient = 2.0 * sigma * svd.matrixU().col(0) * svd.matrixV().col(0).transpose();
    return sigma * sigma;
}

}  // namespace

Error penalty_inequality_validate(const std::vector<std::size_t>& sizes, const PenaltyInequalityOptions& o) {
    if (Error e = mlp_single_output_validate(sizes, "mlp", "needs a network with one output (f is a scalar)")) return e;
    if (Error e = positive("rows", o.rows)) return e;
    std::size_t widest = 0;
    for (std::size_t n : sizes) widest = std::max(widest, n);
    // One sample's Jacobian (widest × n_0 doubles) and the rows × n_0 input and two results.
    if (Error e = buffer_fits("the Jacobian", {{"width", widest}, {"n_0", sizes.front()}}, 8)) return e;
    if (Error e = buffer_fits("x", {{"rows", o.rows}, {"n_0", sizes.front()}})) return e;
    // Everything in 64 bits: x and the two results, the weights in double with their SVD's
    // workspace (a copy and its QR: 5 doubles a parameter), and each layer's Jacobian, its
    // pre-activation product and their SVD (4 doubles per unit and input coordinate).
    std::uint64_t units = 0;
    for (std::size_t n : sizes) units = saturating_sum({units, n});
    return heap_budget("rows",
                       saturating_sum({checked_product({o.rows, sizes.front(), 4}), checked_product({o.rows, 16}),
                                       checked_product({mlp_parameter_count(sizes), 40}),
                                       checked_product({units, sizes.front(), 32})}),
                       "x, the results, the weights in double and the per-layer Jacobians");
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

double penalty_inequality_gradient(const Mlp<float>& mlp, const float* parameters, const float* x, std::size_t rows,
                                   PenaltyInequalitySide side, MatrixNorm norm, double scale, float* gradient) {
    const std::vector<std::size_t>& sizes = mlp.sizes();
    const std::size_t L = mlp.layers(), n0 = sizes[0];
    // Layer l (1…L): W[l] n_l × n_{l−1}, b[l]; the output layer is linear with one unit.
    std::vector<Matrix> W(L + 1), dW(L + 1), w_norm_gradient(L + 1);
    std::vector<Eigen::VectorXd> b(L + 1), db(L + 1);
    std::vector<double> w_square(L + 1);
    for (std::size_t l = 1; l <= L; ++l) {
        W[l].resize(sizes[l], sizes[l - 1]);
        b[l].resize(sizes[l]);
        const float* wp = parameters + mlp.weight_offset(l);
        const float* bp = parameters + mlp.bias_offset(l);
        for (std::size_t i = 0; i < sizes[l]; ++i) {
            for (std::size_t j = 0; j < sizes[l - 1]; ++j) W[l](i, j) = wp[i * sizes[l - 1] + j];
            b[l](i) = bp[i];
        }
        dW[l] = Matrix::Zero(sizes[l], sizes[l - 1]);
        db[l] = Eigen::VectorXd::Zero(sizes[l]);
        if (side == PenaltyInequalitySide::input) w_square[l] = squared_norm_and_gradient(W[l], norm, w_norm_gradient[l]);
    }
    // Per sample: h[l] the input of layer l+1 (h[0] = x), its φ'(z), φ''(z), J[l] = ∂h[l]/∂x and
    // Zj[l] = W_l J[l−1] (so J[l] = diag φ'(z_l) · Zj[l]).
    std::vector<Eigen::VectorXd> h(L), d1(L), d2(L), hbar(L);
    std::vector<Matrix> J(L), Zj(L), Jbar(L);
    double total = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        h[0] = Eigen::Map<const Eigen::VectorXf>(x + r * n0, n0).cast<double>();
        const bool input = side == PenaltyInequalitySide::input;
        if (input) J[0] = Matrix::Identity(n0, n0);
        for (std::size_t l = 1; l < L; ++l) {
            const Eigen::VectorXd z = W[l] * h[l - 1] + b[l];
            h[l].resize(sizes[l]);
            d1[l].resize(sizes[l]);
            d2[l].resize(sizes[l]);
            for (std::size_t i = 0; i < sizes[l]; ++i) {
                const ActivationDerivatives<double> a = activate<double>(mlp.activation(), z(i));
                h[l](i) = a.value;
                d1[l](i) = a.first;
                d2[l](i) = a.second;
            }
            if (input) {
                Zj[l] = W[l] * J[l - 1];
                J[l] = d1[l].asDiagonal() * Zj[l];
            }
        }
        for (std::size_t l = 0; l < L; ++l) hbar[l] = Eigen::VectorXd::Zero(h[l].size());
        if (input) {
            // gᵀ = W_L J[L−1]; value G·S with G = ‖g‖², S = Σ_l (1 + ‖h[l−1]‖²)/(‖W_l‖² ‖J[l−1]‖²).
            const Eigen::VectorXd g = (W[L] * J[L - 1]).transpose();
            const double G = g.squaredNorm();
            if (!(G > 0)) continue;
            std::vector<double> j_square(L + 1, 0.0);
            std::vector<Matrix> j_norm_gradient(L + 1);
            double S = 0;
            for (std::size_t l = 1; l <= L; ++l) {
                j_square[l] = squared_norm_and_gradient(J[l - 1], norm, j_norm_gradient[l]);
                const double denominator = w_square[l] * j_square[l];
                if (denominator > 0) S += (1.0 + h[l - 1].squaredNorm()) / denominator;
            }
            total += G * S;
            for (std::size_t l = 0; l < L; ++l) Jbar[l] = Matrix::Zero(J[l].rows(), J[l].cols());
            const Eigen::VectorXd gbar = 2.0 * S * g;
            dW[L] += scale * (J[L - 1] * gbar).transpose();
            Jbar[L - 1] += W[L].transpose() * gbar.transpose();
            for (std::size_t l = 1; l <= L; ++l) {
                const double denominator = w_square[l] * j_square[l];
                if (!(denominator > 0)) continue;
                const double a = 1.0 + h[l - 1].squaredNorm();
                hbar[l - 1] += (2.0 * G / denominator) * h[l - 1];
                dW[l] -= (scale * G * a / (denominator * w_square[l])) * w_norm_gradient[l];
                if (l >= 2) Jbar[l - 1] -= (G * a / (denominator * j_square[l])) * j_norm_gradient[l];
            }
            // Back through h[l] = φ(z_l), J[l] = diag φ'(z_l) W_l J[l−1].
            for (std::size_t l = L - 1; l >= 1; --l) {
                const Eigen::VectorXd zbar = hbar[l].cwiseProduct(d1[l]) +
                                             d2[l].cwiseProduct(Jbar[l].cwiseProduct(Zj[l]).rowwise().sum());
                const Matrix zjbar = d1[l].asDiagonal() * Jbar[l];
                dW[l] += scale * (zbar * h[l - 1].transpose() + zjbar * J[l - 1].transpose());
                db[l] += scale * zbar;
                hbar[l - 1] += W[l].transpose() * zbar;
                if (l >= 2) Jbar[l - 1] += W[l].transpose() * zjbar;
            }
        } else {
            // δ_L = 1, s_l = W_{l+1}ᵀ δ_{l+1}, δ_l = φ'(z_l) ⊙ s_l; value Σ_l ‖δ_l‖² (1 + ‖h[l−1]‖²).
            std::vector<Eigen::VectorXd> delta(L + 1), s(L), dbar(L + 1), zbar(L);
            delta[L] = Eigen::VectorXd::Ones(1);
            for (std::size_t l = L - 1; l >= 1; --l) {
                s[l] = W[l + 1].transpose() * delta[l + 1];
                delta[l] = d1[l].cwiseProduct(s[l]);
            }
            for (std::size_t l = 1; l <= L; ++l) {
                const double a = 1.0 + h[l - 1].squaredNorm();
                total += delta[l].squaredNorm() * a;
                dbar[l] = 2.0 * a * delta[l];
                hbar[l - 1] += (2.0 * delta[l].squaredNorm()) * h[l - 1];
            }
            // Back through the backward pass, in the order opposite to it (l = 1 … L−1).
            for (std::size_t l = 1; l < L; ++l) {
                zbar[l] = dbar[l].cwiseProduct(s[l]).cwiseProduct(d2[l]);
                const Eigen::VectorXd sbar = dbar[l].cwiseProduct(d1[l]);
                dW[l + 1] += scale * delta[l + 1] * sbar.transpose();
                if (l + 1 < L) dbar[l + 1] += W[l + 1] * sbar;
            }
            // Back through the forward pass.
            for (std::size_t l = L - 1; l >= 1; --l) {
                zbar[l] += hbar[l].cwiseProduct(d1[l]);
                dW[l] += scale * zbar[l] * h[l - 1].transpose();
                db[l] += scale * zbar[l];
                hbar[l - 1] += W[l].transpose() * zbar[l];
            }
        }
    }
    for (std::size_t l = 1; l <= L; ++l) {
        float* gw = gradient + mlp.weight_offset(l);
        float* gb = gradient + mlp.bias_offset(l);
        for (std::size_t i = 0; i < sizes[l]; ++i) {
            for (std::size_t j = 0; j < sizes[l - 1]; ++j) gw[i * sizes[l - 1] + j] += float(dW[l](i, j));
            gb[i] += float(db[l](i));
        }
    }
    return total;
}

}  // namespace kexue
