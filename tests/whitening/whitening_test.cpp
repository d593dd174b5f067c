// BERT-whitening: the N=4, d=2 vectors of docs/math.md §4.5 for every (β, γ, k, ddof) row, the properties that
// define the technique (covariance ≈ I, rotation keeps cosines, chunking and merging do not change
// the statistics) and the transform against a float64 evaluation of (x − βμ)W_k.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "whitening/whitening.hpp"

namespace kexue {
namespace {

const std::vector<float> kSpecX{3, 3, 1, 1, 2, 3, 2, 1};  // N = 4, d = 2, μ = [2, 2]

std::vector<float> transform(const WhiteningFit& fit, const std::vector<float>& x, std::size_t rows,
                             bool normalize = false) {
    WhiteningTransform transform(fit.dim, fit.k, fit.kernel.data(), fit.center.data());
    std::vector<float> y(rows * fit.k);
    transform.apply(x.data(), rows, y.data(), normalize);
    return y;
}

WhiteningFit fit_spec(double beta, double gamma, std::size_t k, std::size_t ddof = 0) {
    WhiteningStats stats(2);
    EXPECT_EQ(stats.add(kSpecX.data(), 4), -1);
    return whitening_fit(stats, {beta, gamma, k, ddof});
}

void expect_near_all(const std::vector<float>& got, const std::vector<double>& want, double tol) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

TEST(WhiteningSpec, BetaOneGammaOneFull) {
    const auto fit = fit_spec(1, 1, 2);
    EXPECT_NEAR(fit.eigenvalues[0], 1.309016994, 1e-9);
    EXPECT_NEAR(fit.eigenvalues[1], 0.1909830056, 1e-9);
    // U columns with the largest-magnitude entry positive, scaled by λ^(−1/2).
    EXPECT_NEAR(fit.kernel[0] * std::sqrt(fit.eigenvalues[0]), 0.5257311121, 1e-9);
    EXPECT_NEAR(fit.kernel[2] * std::sqrt(fit.eigenvalues[0]), 0.8506508084, 1e-9);
    EXPECT_NEAR(fit.kernel[1] * std::sqrt(fit.eigenvalues[1]), 0.8506508084, 1e-9);
    EXPECT_NEAR(fit.kernel[3] * std::sqrt(fit.eigenvalues[1]), -0.5257311121, 1e-9);
    expect_near_all(transform(fit, kSpecX, 4),
                    {1.203001910, 0.7434960689, -1.203001910, -0.7434960689, 0.7434960689,
                     -1.203001910, -0.7434960689, 1.203001910},
                    2e-6);
}

TEST(WhiteningSpec, BetaOneGammaOneReducedToOne) {
    expect_near_all(transform(fit_spec(1, 1, 1), kSpecX, 4),
                    {1.203001910, -1.203001910, 0.7434960689, -0.7434960689}, 2e-6);
}

TEST(WhiteningSpec, BetaZeroGammaZeroIsARotation) {
    const auto fit = fit_spec(0, 0, 2);
    EXPECT_NEAR(fit.eigenvalues[0], 9.256939094, 1e-8);
    EXPECT_NEAR(fit.eigenvalues[1], 0.2430609057, 1e-9);
    const auto y = transform(fit, kSpecX, 4);
    expect_near_all(y, {4.241007331, 0.1177149997, 1.413669110, 0.03923833323, 3.553791942,
                        -0.6087387220, 2.100884499, 0.7656920550},
                    4e-6);
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_NEAR(std::hypot(y[2 * i], y[2 * i + 1]), std::hypot(kSpecX[2 * i], kSpecX[2 * i + 1]), 4e-6);
}

TEST(WhiteningSpec, BetaHalfGammaHalf) {
    const auto fit = fit_spec(0.5, 0.5, 2);
    EXPECT_NEAR(fit.eigenvalues[0], 3.270690633, 1e-8);
    EXPECT_NEAR(fit.eigenvalues[1], 0.2293093674, 1e-9);
    expect_near_all(transform(fit, kSpecX, 4),
                    {2.096055693, 0.3371250280, 0, 0, 1.615410488, -0.7655066431, 0.4806452052,
                     1.102631671},
                    3e-6);
}

TEST(WhiteningSpec, DdofOneMatchesNumpyCov) {
    const auto fit = fit_spec(1, 1, 2, 1);
    EXPECT_NEAR(fit.eigenvalues[0], 1.745355992, 1e-8);
    EXPECT_NEAR(fit.eigenvalues[1], 0.2546440075, 1e-9);
    const auto y = transform(fit, kSpecX, 4);
    EXPECT_NEAR(y[0], 1.041830215, 2e-6);
    EXPECT_NEAR(y[1], 0.6438864833, 2e-6);
    const auto y0 = transform(fit_spec(1, 1, 2, 0), kSpecX, 4);
    for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], std::sqrt(0.75) * y0[i], 2e-6);
}

std::vector<float> anisotropic_rows(std::size_t rows, std::size_t dim, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> mixing(dim * dim);
    for (float& value : mixing) value = normal(rng) / std::sqrt(static_cast<float>(dim));
    std::vector<float> out(rows * dim);
    for (std::size_t i = 0; i < rows; ++i) {
        std::vector<float> z(dim);
        for (std::size_t j = 0; j < dim; ++j) z[j] = normal(rng) * (1.0f + 3.0f * j / dim);
        for (std::size_t j = 0; j < dim; ++j) {
            double sum = 0.5 + 0.1 * j;  // an offset so that β matters
            for (std::size_t p = 0; p < dim; ++p) sum += z[p] * mixing[p * dim + j];
            out[i * dim + j] = static_cast<float>(sum);
        }
    }
    return out;
}

TEST(WhiteningProperties, WhitenedRowsHaveIdentityCovariance) {
    const std::size_t rows = 2000, dim = 24;
    const auto x = anisotropic_rows(rows, dim, 1);
    WhiteningStats stats(dim);
    ASSERT_EQ(stats.add(x.data(), rows), -1);
    const auto fit = whitening_fit(stats, {1, 1, dim, 0});
    const auto y = transform(fit, x, rows);
    for (std::size_t a = 0; a < dim; ++a) {
        for (std::size_t b = 0; b < dim; ++b) {
            double mean_a = 0, mean_b = 0, cov = 0;
            for (std::size_t i = 0; i < rows; ++i) { mean_a += y[i * dim + a]; mean_b += y[i * dim + b]; }
            mean_a /= rows;
            mean_b /= rows;
            for (std::size_t i = 0; i < rows; ++i) cov += (y[i * dim + a] - mean_a) * (y[i * dim + b] - mean_b);
            EXPECT_NEAR(cov / rows, a == b ? 1.0 : 0.0, 2e-3) << a << "," << b;
        }
    }
}

TEST(WhiteningProperties, BetaZeroGammaZeroKeepsNormsAndCosines) {
    const std::size_t rows = 300, dim = 16;
    const auto x = anisotropic_rows(rows, dim, 2);
    WhiteningStats stats(dim);
    stats.add(x.data(), rows);
    const auto y = transform(whitening_fit(stats, {0, 0, dim, 0}), x, rows);
    for (std::size_t i = 0; i + 1 < rows; i += 7) {
        double xx = 0, yy = 0, xy_in = 0, xy_out = 0, nx2 = 0, ny2 = 0;
        for (std::size_t j = 0; j < dim; ++j) {
            xx += double(x[i * dim + j]) * x[i * dim + j];
            yy += double(y[i * dim + j]) * y[i * dim + j];
            xy_in += double(x[i * dim + j]) * x[(i + 1) * dim + j];
            xy_out += double(y[i * dim + j]) * y[(i + 1) * dim + j];
            nx2 += double(x[(i + 1) * dim + j]) * x[(i + 1) * dim + j];
            ny2 += double(y[(i + 1) * dim + j]) * y[(i + 1) * dim + j];
        }
        EXPECT_NEAR(std::sqrt(yy), std::sqrt(xx), 1e-4 * std::sqrt(xx));
        EXPECT_NEAR(xy_out / std::sqrt(yy * ny2), xy_in / std::sqrt(xx * nx2), 1e-5);
    }
}

double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::fabs(a[i] - b[i]));
        scale = std::max(scale, std::fabs(b[i]));
    }
    return diff / scale;
}

TEST(WhiteningProperties, ChunkedAndMergedStatisticsEqualOneShot) {
    const std::size_t rows = 1111, dim = 20;
    const auto x = anisotropic_rows(rows, dim, 3);
    WhiteningStats one_shot(dim);
    one_shot.add(x.data(), rows);

    WhiteningStats chunked(dim);
    for (std::size_t start = 0; start < rows; start += 97)
        chunked.add(x.data() + start * dim, std::min<std::size_t>(97, rows - start));

    WhiteningStats left(dim), right(dim);
    left.add(x.data(), 600);
    right.add(x.data() + 600 * dim, rows - 600);
    left.merge(right);

    for (const WhiteningStats* other : {&chunked, &left}) {
        EXPECT_EQ(other->count(), rows);
        EXPECT_LE(max_relative_difference(other->mean(), one_shot.mean()), 1e-10);
        EXPECT_LE(max_relative_difference(other->centred_second_moment(), one_shot.centred_second_moment()), 1e-10);
    }
}

TEST(WhiteningTransformTest, MatchesFloat64AffineMapAndNormalizes) {
    const std::size_t rows = 57, dim = 33, k = 9;
    const auto x = anisotropic_rows(rows, dim, 4);
    WhiteningStats stats(dim);
    stats.add(x.data(), rows);
    const auto fit = whitening_fit(stats, {0.7, 0.6, k, 1});
    const auto y = transform(fit, x, rows);
    const auto y_normalized = transform(fit, x, rows, true);
    for (std::size_t i = 0; i < rows; ++i) {
        double norm = 0;
        for (std::size_t col = 0; col < k; ++col) {
            double want = 0;
            for (std::size_t j = 0; j < dim; ++j) want += (x[i * dim + j] - fit.center[j]) * fit.kernel[j * k + col];
            EXPECT_NEAR(y[i * k + col], want, 1e-4 * (1 + std::fabs(want)));
            norm += double(y[i * k + col]) * y[i * k + col];
        }
        for (std::size_t col = 0; col < k; ++col)
            EXPECT_NEAR(y_normalized[i * k + col], y[i * k + col] / std::sqrt(norm), 1e-5);
    }
}

TEST(WhiteningStatsTest, RejectsNonFiniteRowsWithoutChangingState) {
    WhiteningStats stats(2);
    stats.add(kSpecX.data(), 4);
    const std::vector<float> bad{1, 2, 3, NAN, 5, 6};
    EXPECT_EQ(stats.add(bad.data(), 3), 1);
    const std::vector<float> inf{1, 2, 3, 4, INFINITY, 6};
    EXPECT_EQ(stats.add(inf.data(), 3), 2);
    EXPECT_EQ(stats.count(), 4u);
    EXPECT_DOUBLE_EQ(stats.mean()[0], 2.0);
}

TEST(WhiteningSpec, RankDeficientInputIsClampedNotInfinite) {
    // Three identical directions: Σ has rank 1, so λ_2 is clamped to 1e-12·λ_1.
    const std::vector<float> x{1, 2, 2, 4, 3, 6};
    WhiteningStats stats(2);
    stats.add(x.data(), 3);
    const auto fit = whitening_fit(stats, {1, 1, 2, 0});
    for (double value : fit.kernel) EXPECT_TRUE(std::isfinite(value));
}

}  // namespace
}  // namespace kexue
