// The whitening fit's eigensolver (whitening/symmetric_eigen.hpp) against its twin, Eigen's
// SelfAdjointEigenSolver: eigenvalues to 1e-12 relative (they come from the same tridiagonal, so in
// practice to the last bit), eigenvectors equal up to sign where the eigenvalues are distinct,
// residuals and orthonormality at float64 level, and the fallback on a large cluster.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "whitening/symmetric_eigen.hpp"

namespace kexue {
namespace {

// A covariance of `rows` draws with a decaying spectrum over `factors` directions plus isotropic
// noise: like sentence embeddings, a few large eigenvalues and a dense floor.
Eigen::MatrixXd embedding_covariance(Eigen::Index dim, Eigen::Index rows, Eigen::Index factors, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal;
    Eigen::MatrixXd mixing(factors, dim);
    for (Eigen::Index i = 0; i < mixing.size(); ++i) mixing.data()[i] = normal(rng);
    Eigen::MatrixXd x(rows, dim);
    for (Eigen::Index r = 0; r < rows; ++r) {
        for (Eigen::Index j = 0; j < dim; ++j) x(r, j) = 0.05 * normal(rng);
        for (Eigen::Index f = 0; f < factors; ++f) x.row(r) += normal(rng) * 0.3 / (1.0 + static_cast<double>(f)) * mixing.row(f);
    }
    const Eigen::RowVectorXd mean = x.colwise().mean();
    x.rowwise() -= mean;
    return x.transpose() * x / static_cast<double>(rows);
}

enum class Path { fast, fallback };

void expect_matches_reference(const Eigen::MatrixXd& sigma, std::size_t k, Path path) {
    const SymmetricEigenTop fast = symmetric_eigen_top(sigma, k);
    const SymmetricEigenTop reference = symmetric_eigen_top_reference(sigma, k);
    EXPECT_EQ(fast.fell_back, path == Path::fallback);
    const Eigen::Index d = sigma.rows();
    ASSERT_EQ(fast.values.size(), d);
    ASSERT_EQ(fast.vectors.rows(), d);
    ASSERT_EQ(fast.vectors.cols(), static_cast<Eigen::Index>(k));
    const double top = reference.values(0);
    for (Eigen::Index j = 0; j < d; ++j) {
        EXPECT_NEAR(fast.values(j), reference.values(j), 1e-12 * top) << "eigenvalue " << j;
        if (j > 0) EXPECT_GE(fast.values(j - 1), fast.values(j));
    }
    const auto kk = static_cast<Eigen::Index>(k);
    // Σv = λv and VᵀV = I at float64 level.
    const Eigen::MatrixXd residual = sigma * fast.vectors - fast.vectors * fast.values.head(kk).asDiagonal();
    EXPECT_LT(residual.cwiseAbs().maxCoeff(), 1e-12 * top);
    const Eigen::MatrixXd gram = fast.vectors.transpose() * fast.vectors - Eigen::MatrixXd::Identity(kk, kk);
    EXPECT_LT(gram.cwiseAbs().maxCoeff(), 1e-11);
    // Where an eigenvalue is well separated, its vector is the reference's up to sign.
    for (Eigen::Index j = 0; j < kk; ++j) {
        double gap = std::numeric_limits<double>::infinity();
        if (j > 0) gap = std::min(gap, reference.values(j - 1) - reference.values(j));
        if (j + 1 < d) gap = std::min(gap, reference.values(j) - reference.values(j + 1));
        if (gap < 1e-6 * top) continue;
        EXPECT_NEAR(std::fabs(fast.vectors.col(j).dot(reference.vectors.col(j))), 1.0, 1e-9) << "vector " << j;
    }
}

TEST(SymmetricEigenTop, EmbeddingLikeSpectrumMatchesEigen) {
    expect_matches_reference(embedding_covariance(96, 400, 12, 1), 32, Path::fast);
    expect_matches_reference(embedding_covariance(40, 300, 5, 3), 1, Path::fast);
    // k = d: the noise floor's eigenvalues form one group too large for Gram–Schmidt to pay off.
    expect_matches_reference(embedding_covariance(96, 400, 12, 2), 96, Path::fallback);
    // Well-separated eigenvalues: all d vectors by inverse iteration.
    std::mt19937 rng(9);
    std::normal_distribution<double> normal;
    Eigen::MatrixXd random(60, 60);
    for (Eigen::Index i = 0; i < random.size(); ++i) random.data()[i] = normal(rng);
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(random);
    const Eigen::MatrixXd q = qr.householderQ();
    Eigen::VectorXd lambda(60);
    for (Eigen::Index i = 0; i < 60; ++i) lambda(i) = std::pow(0.8, static_cast<double>(i));
    expect_matches_reference(q * lambda.asDiagonal() * q.transpose(), 60, Path::fast);
}

TEST(SymmetricEigenTop, SmallAndTinyMatricesMatchEigen) {
    Eigen::MatrixXd two(2, 2);
    two << 2, 1, 1, 3;
    expect_matches_reference(two, 2, Path::fast);  // below 3×3 the reference runs directly
    Eigen::MatrixXd three(3, 3);
    three << 4, 1, 0.5, 1, 3, 0.25, 0.5, 0.25, 1;
    expect_matches_reference(three, 3, Path::fast);
}

TEST(SymmetricEigenTop, LargeClusterFallsBackToEigen) {
    // Rank 10 in dimension 120: 110 zero eigenvalues, one cluster too large for inverse iteration.
    Eigen::MatrixXd sigma = embedding_covariance(120, 10, 10, 4);
    const SymmetricEigenTop fast = symmetric_eigen_top(sigma, 120);
    EXPECT_TRUE(fast.fell_back);
    const SymmetricEigenTop reference = symmetric_eigen_top_reference(sigma, 120);
    EXPECT_TRUE(fast.values.isApprox(reference.values));
    EXPECT_TRUE(fast.vectors.isApprox(reference.vectors));
}

TEST(SymmetricEigenTop, RepeatedEigenvaluesGiveAnOrthonormalBasis) {
    // diag(5, 5, 5, 2, 1) rotated: a triple eigenvalue among the wanted ones.
    std::mt19937 rng(5);
    std::normal_distribution<double> normal;
    Eigen::MatrixXd random(5, 5);
    for (Eigen::Index i = 0; i < random.size(); ++i) random.data()[i] = normal(rng);
    const Eigen::HouseholderQR<Eigen::MatrixXd> qr(random);
    const Eigen::MatrixXd q = qr.householderQ();
    Eigen::VectorXd lambda(5);
    lambda << 5, 5, 5, 2, 1;
    const Eigen::MatrixXd sigma = q * lambda.asDiagonal() * q.transpose();
    const SymmetricEigenTop fast = symmetric_eigen_top(sigma, 4);
    EXPECT_LT((fast.values - lambda).cwiseAbs().maxCoeff(), 1e-13);
    EXPECT_LT((sigma * fast.vectors - fast.vectors * fast.values.head(4).asDiagonal()).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((fast.vectors.transpose() * fast.vectors - Eigen::MatrixXd::Identity(4, 4)).cwiseAbs().maxCoeff(), 1e-12);
}

}  // namespace
}  // namespace kexue
