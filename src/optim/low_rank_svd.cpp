// Top-k singular vectors, exact or by randomized subspace iteration; see low_rank_svd.hpp.
#include "optim/low_rank_svd.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SVD>

#include "core/gemm.hpp"

namespace kexue {
namespace {

// Makes the largest-|·| entry (the first, on ties) of the vector v[0], v[stride], … positive.
void fix_sign(double* v, std::size_t count, std::size_t stride) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < count; ++i) {
        if (std::abs(v[i * stride]) > std::abs(v[best * stride])) best = i;
    }
    if (v[best * stride] < 0) {
        for (std::size_t i = 0; i < count; ++i) v[i * stride] = -v[i * stride];
    }
}

// Orthonormal basis of the columns of y (rows×k, k ≤ rows), thin Q of Householder QR.
Eigen::MatrixXd orthonormal_columns(const Eigen::MatrixXd& y) {
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(y);
    return qr.householderQ() * Eigen::MatrixXd::Identity(y.rows(), y.cols());
}

std::vector<float> to_float(const Eigen::MatrixXd& m) {  // row-major copy
    std::vector<float> out(static_cast<std::size_t>(m.size()));
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) out[i * m.cols() + j] = static_cast<float>(m(i, j));
    }
    return out;
}

Eigen::MatrixXd from_float(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
    Eigen::MatrixXd m(rows, cols);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) m(i, j) = x[i * cols + j];
    }
    return m;
}

}  // namespace

void top_singular_vectors(const float* g, std::size_t rows, std::size_t cols, std::size_t k, Xoshiro256& rng,
                          float* left, float* right) {
    const std::size_t min_dim = std::min(rows, cols);
    constexpr std::size_t kOversample = 8;
    constexpr int kPowerIterations = 6;
    Eigen::MatrixXd u, v;  // rows×k and cols×k
    if (min_dim <= 64 || k + kOversample >= min_dim) {
        const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> gm(
            g, rows, cols);
        Eigen::BDCSVD<Eigen::MatrixXd> svd(gm.cast<double>(), Eigen::ComputeThinU | Eigen::ComputeThinV);
        u = svd.matrixU().leftCols(k);
        v = svd.matrixV().leftCols(k);
    } else {
        // Randomized range finder on G (float GEMMs), re-orthonormalised in double after every
        // product so the power iterations keep the small singular directions.
        const std::size_t kk = k + kOversample;
        std::vector<float> omega(cols * kk), y(rows * kk), z(cols * kk);
        for (auto& x : omega) x = static_cast<float>(rng.normal());
        gemm_f32({rows, cols, kk, false, false}, g, omega.data(), y.data());
        Eigen::MatrixXd q = orthonormal_columns(from_float(y, rows, kk));
        for (int it = 0; it < kPowerIterations; ++it) {
            const std::vector<float> qf = to_float(q);
            gemm_f32({cols, rows, kk, true, false}, g, qf.data(), z.data());  // Gᵀ·Q
            const std::vector<float> zf = to_float(orthonormal_columns(from_float(z, cols, kk)));
            gemm_f32({rows, cols, kk, false, false}, g, zf.data(), y.data());  // G·Z
            q = orthonormal_columns(from_float(y, rows, kk));
        }
        const std::vector<float> qf = to_float(q);
        std::vector<float> small(kk * cols);
        gemm_f32({kk, rows, cols, true, false}, qf.data(), g, small.data());  // Qᵀ·G
        Eigen::BDCSVD<Eigen::MatrixXd> svd(from_float(small, kk, cols), Eigen::ComputeThinU | Eigen::ComputeThinV);
        u = q * svd.matrixU().leftCols(k);
        v = svd.matrixV().leftCols(k);
    }
    for (std::size_t i = 0; i < k; ++i) {
        fix_sign(u.col(i).data(), rows, 1);
        fix_sign(v.col(i).data(), cols, 1);
    }
    if (left) {
        for (std::size_t i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < k; ++j) left[i * k + j] = static_cast<float>(u(i, j));
        }
    }
    if (right) {
        for (std::size_t i = 0; i < k; ++i) {
            for (std::size_t j = 0; j < cols; ++j) right[i * cols + j] = static_cast<float>(v(j, i));
        }
    }
}

}  // namespace kexue
