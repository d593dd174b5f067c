// kexue::logsumexp_f32 / logsumexp_grad_f32 / logsumexp_bounds: the vectors of docs/math.md §7.1,
// the ±∞/NaN rules, the xtensor double twin on edge sizes, the gradient against finite
// differences, the bounds (plus convexity and 1-Lipschitz) as properties on random inputs, and
// the validators.
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"

#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "losses/logsumexp.hpp"
#include "losses/losses_reference.hpp"

namespace kexue {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> lse_rows(std::size_t rows, std::size_t cols, const std::vector<float>& x) {
    std::vector<float> out(rows);
    logsumexp_f32({rows, cols}, x.data(), out.data());
    return out;
}

std::vector<float> softmax_rows(std::size_t rows, std::size_t cols, const std::vector<float>& x) {
    std::vector<float> grad(rows * cols);
    logsumexp_grad_f32({rows, cols}, x.data(), grad.data(), nullptr);
    return grad;
}

using testing::random_floats;

reference::Matrix to_matrix(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
    reference::Matrix m({rows, cols});
    for (std::size_t i = 0; i < rows * cols; ++i) m.data()[i] = x[i];
    return m;
}

TEST(LogsumexpSpec, VectorsOf7_1) {
    EXPECT_NEAR(lse_rows(1, 3, {1, 2, 3})[0], 3.40760596444438, 1e-6);
    const std::vector<float> grad = softmax_rows(1, 3, {1, 2, 3});
    EXPECT_NEAR(grad[0], 0.0900305731704, 1e-7);
    EXPECT_NEAR(grad[1], 0.244728471055, 1e-7);
    EXPECT_NEAR(grad[2], 0.665240955775, 1e-7);
    // Stable where e^1000 overflows: 1000 + log 2.
    EXPECT_NEAR(lse_rows(1, 2, {1000, 1000})[0], 1000.69314718056, 1e-4);
    EXPECT_EQ(lse_rows(1, 2, {-kInf, 0})[0], 0.0f);

    const LogsumexpBoundsOptions options{1, 3, 2, 1};
    const std::vector<float> x{1, 2, 3}, p{0.2f, 0.3f, 0.5f};
    std::vector<double> out(kLogsumexpBoundCount);
    ASSERT_FALSE(logsumexp_bounds_check_inputs(options, x.data(), p.data(), 1));
    logsumexp_bounds(options, x.data(), p.data(), 1, out.data());
    EXPECT_NEAR(out[kBoundValue], 3.40760596444438, 1e-12);
    EXPECT_NEAR(out[kBoundMaxPlusLogN], 4.09861228867, 1e-10);
    EXPECT_NEAR(out[kBoundMeanPlusLogN], 3.09861228867, 1e-10);
    // p is float32, so its entries are 0.2 ± 3e-9: the two p-bounds to 1e-7.
    EXPECT_NEAR(out[kBoundRenyi], 3.26758402626, 1e-7);
    EXPECT_NEAR(out[kBoundShannon], 3.32965301406, 1e-7);
    EXPECT_EQ(out[kBoundMax], 3);
    EXPECT_NEAR(out[kBoundTempered], out[kBoundValue], 1e-12);  // τ = 1
}

TEST(Logsumexp, InfinityAndNaNRules) {
    // Rows of 5 (one vector and a tail on 4-wide SIMD): NaN, +∞, all −∞, two +∞, −∞ dropping out.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x{1, 2, nan, 3, 4,  1, kInf, 2, 3, 4,  -kInf, -kInf, -kInf, -kInf, -kInf,
                               kInf, 0, kInf, 1, 2,  -kInf, 0, -kInf, -kInf, -kInf};
    const std::vector<float> value = lse_rows(5, 5, x);
    EXPECT_TRUE(std::isnan(value[0]));
    EXPECT_EQ(value[1], kInf);
    EXPECT_EQ(value[2], -kInf);
    EXPECT_EQ(value[3], kInf);
    EXPECT_EQ(value[4], 0.0f);
    const std::vector<float> grad = softmax_rows(5, 5, x);
    for (std::size_t j = 0; j < 5; ++j) {
        EXPECT_TRUE(std::isnan(grad[j]));
        EXPECT_EQ(grad[5 + j], j == 1 ? 1.0f : 0.0f);   // one +∞: the one-hot limit
        EXPECT_EQ(grad[10 + j], 0.2f);                  // all −∞: uniform
        EXPECT_EQ(grad[15 + j], j == 0 || j == 2 ? 0.5f : 0.0f);
        EXPECT_EQ(grad[20 + j], j == 1 ? 1.0f : 0.0f);  // exactly 0 for −∞ entries
    }
    // The NaN of one row never leaks into the others (the max's SIMD lanes are per row).
    const std::vector<float> mixed{nan, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_TRUE(std::isnan(lse_rows(2, 5, mixed)[0]));
    EXPECT_NEAR(lse_rows(2, 5, mixed)[1], std::log(5.0), 1e-6);
    // The reference agrees on every rule.
    const reference::Vector want = reference::logsumexp(to_matrix(x, 5, 5));
    EXPECT_TRUE(std::isnan(want(0)));
    EXPECT_EQ(want(1), kInf);
    EXPECT_EQ(want(2), -kInf);
    EXPECT_EQ(want(3), kInf);
    EXPECT_EQ(want(4), 0.0);
}

TEST(Logsumexp, MatchesTheDoubleTwinOnEdgeSizes) {
    const std::size_t w = simd::kVecWidth;
    for (const std::size_t cols : {std::size_t(1), w - 1, w, w + 1, 2 * w + 3, std::size_t(257), std::size_t(10000)}) {
        for (const float scale : {1.0f, 30.0f}) {
            const std::size_t rows = 7;
            const std::vector<float> x = random_floats(rows * cols, static_cast<unsigned>(cols * 13 + scale), scale);
            const std::vector<float> value = lse_rows(rows, cols, x);
            std::vector<float> grad(rows * cols), value2(rows);
            logsumexp_grad_f32({rows, cols}, x.data(), grad.data(), value2.data());
            const reference::Matrix m = to_matrix(x, rows, cols);
            const reference::Vector want = reference::logsumexp(m);
            const reference::Matrix want_grad = reference::softmax(m);
            for (std::size_t r = 0; r < rows; ++r) {
                EXPECT_NEAR(value[r], want(r), 2e-6 * std::max(1.0, std::fabs(want(r)))) << "cols " << cols;
                EXPECT_EQ(value[r], value2[r]);
                double sum = 0;
                for (std::size_t j = 0; j < cols; ++j) {
                    EXPECT_NEAR(grad[r * cols + j], want_grad(r, j), 2e-6 * std::max(1e-2, want_grad(r, j)));
                    sum += grad[r * cols + j];
                }
                EXPECT_NEAR(sum, 1, 1e-5);
            }
        }
    }
}

TEST(Logsumexp, GradientMatchesFiniteDifferences) {
    const std::size_t cols = 11;
    const std::vector<float> x = random_floats(cols, 5, 2.0f);
    const std::vector<float> grad = softmax_rows(1, cols, x);
    const reference::Matrix m = to_matrix(x, 1, cols);
    for (std::size_t j = 0; j < cols; ++j) {
        // On the double twin (h = 1e-5) and on the float kernel itself (h = 1e-2, central).
        reference::Matrix plus = m, minus = m;
        plus(0, j) += 1e-5;
        minus(0, j) -= 1e-5;
        const double fd = (reference::logsumexp(plus)(0) - reference::logsumexp(minus)(0)) / 2e-5;
        EXPECT_NEAR(grad[j], fd, 1e-6);
        std::vector<float> xp = x, xm = x;
        xp[j] += 1e-2f;
        xm[j] -= 1e-2f;
        const double fd_float = (double(lse_rows(1, cols, xp)[0]) - lse_rows(1, cols, xm)[0]) / (double(xp[j]) - xm[j]);
        EXPECT_NEAR(grad[j], fd_float, 5e-4);
    }
}

TEST(Logsumexp, BoundsHoldOnRandomInputs) {
    std::mt19937 rng(2024);
    std::uniform_real_distribution<double> uniform(0, 1);
    for (int trial = 0; trial < 200; ++trial) {
        const std::size_t rows = 3, cols = 1 + trial % 37;
        const float scale = static_cast<float>(std::pow(10.0, 3 * uniform(rng) - 2));  // 0.01 … 10
        const std::vector<float> x = random_floats(rows * cols, 100 + trial, scale);
        std::vector<float> p(rows * cols);
        for (std::size_t r = 0; r < rows; ++r) {
            double sum = 0;
            for (std::size_t j = 0; j < cols; ++j) sum += p[r * cols + j] = static_cast<float>(-std::log(uniform(rng)));
            for (std::size_t j = 0; j < cols; ++j) p[r * cols + j] = static_cast<float>(p[r * cols + j] / sum);
        }
        if (trial % 5 == 0 && cols > 1) {
            // A zero in p (0·log 0 = 0): row 0 renormalised without its first entry.
            p[0] = 0;
            double rest = 0;
            for (std::size_t j = 1; j < cols; ++j) rest += p[j];
            for (std::size_t j = 1; j < cols; ++j) p[j] = static_cast<float>(p[j] / rest);
        }
        const LogsumexpBoundsOptions options{rows, cols, 1.0 + 3.0 * uniform(rng) + 1e-3, 0.05 + 5 * uniform(rng)};
        ASSERT_FALSE(logsumexp_bounds_check_inputs(options, x.data(), p.data(), rows));
        std::vector<double> b(kLogsumexpBoundCount * rows);
        logsumexp_bounds(options, x.data(), p.data(), rows, b.data());
        for (std::size_t r = 0; r < rows; ++r) {
            auto at = [&](LogsumexpBound k) { return b[k * rows + r]; };
            const double slack = 1e-12 * (1 + std::fabs(at(kBoundValue)));
            if (cols > 1) EXPECT_LT(at(kBoundMax), at(kBoundValue));
            else EXPECT_NEAR(at(kBoundMax), at(kBoundValue), slack);  // n = 1: equality
            EXPECT_LE(at(kBoundValue), at(kBoundMaxPlusLogN) + slack);
            EXPECT_LE(at(kBoundMeanPlusLogN), at(kBoundValue) + slack);
            EXPECT_LE(at(kBoundRenyi), at(kBoundShannon) + slack);
            EXPECT_LE(at(kBoundShannon), at(kBoundValue) + slack);
            EXPECT_LE(at(kBoundMax), at(kBoundTempered) + slack);
            EXPECT_LE(at(kBoundTempered), at(kBoundTemperedUpper) + slack);
            // The float kernel's value agrees with the double one.
            EXPECT_NEAR(lse_rows(rows, cols, x)[r], at(kBoundValue), 2e-6 * (1 + std::fabs(at(kBoundValue))));
        }
        // Convex and 1-Lipschitz in ‖·‖_∞, through the float kernel (float tolerance).
        const std::vector<float> y = random_floats(rows * cols, 900 + trial, scale);
        const float lambda = static_cast<float>(uniform(rng));
        std::vector<float> mix(rows * cols);
        for (std::size_t i = 0; i < mix.size(); ++i) mix[i] = lambda * x[i] + (1 - lambda) * y[i];
        const std::vector<float> lx = lse_rows(rows, cols, x), ly = lse_rows(rows, cols, y), lm = lse_rows(rows, cols, mix);
        for (std::size_t r = 0; r < rows; ++r) {
            const double tolerance = 1e-5 * (1 + std::fabs(lx[r]) + std::fabs(ly[r]));
            EXPECT_LE(lm[r], lambda * lx[r] + (1 - lambda) * ly[r] + tolerance);
            double distance = 0;
            for (std::size_t j = 0; j < cols; ++j) distance = std::max(distance, double(std::fabs(x[r * cols + j] - y[r * cols + j])));
            EXPECT_LE(std::fabs(lx[r] - ly[r]), distance + tolerance);
        }
    }
}

TEST(Logsumexp, ThreadsDoNotChangeTheResult) {
    const std::size_t rows = 64, cols = 3000, saved = thread_count();
    const std::vector<float> x = random_floats(rows * cols, 77, 3.0f);
    set_thread_count(1);
    const std::vector<float> serial = softmax_rows(rows, cols, x);
    set_thread_count(max_thread_count());
    EXPECT_EQ(softmax_rows(rows, cols, x), serial);
    set_thread_count(saved);
}

TEST(LogsumexpValidate, NamesTheParameter) {
    EXPECT_FALSE(logsumexp_validate({2, 3}));
    EXPECT_EQ(logsumexp_validate({0, 3}).text, "rows must be a positive integer, received 0");
    EXPECT_EQ(logsumexp_validate({1, 0}).parameter, "cols");
    EXPECT_EQ(logsumexp_validate({65536, 65536}).parameter, "x");
    EXPECT_EQ(logsumexp_bounds_validate({1, 3, 1, 1}).text, "t must be greater than 1, received 1");
    EXPECT_EQ(logsumexp_bounds_validate({1, 3, 2, 0}).text, "tau must be greater than 0, received 0");
    const LogsumexpBoundsOptions ok{1, 3, 2, 1};
    const std::vector<float> x{1, 2, std::nanf("")}, good{1, 2, 3};
    EXPECT_EQ(logsumexp_bounds_check_inputs(ok, x.data(), nullptr, 0).text, "x[2] must be finite, received NaN");
    const std::vector<float> negative{0.5f, 0.6f, -0.1f}, unnormalised{0.2f, 0.2f, 0.2f};
    EXPECT_EQ(logsumexp_bounds_check_inputs(ok, good.data(), negative.data(), 1).parameter, "p[2]");
    const Error sum = logsumexp_bounds_check_inputs(ok, good.data(), unnormalised.data(), 1);
    EXPECT_EQ(sum.parameter, "p");
    EXPECT_NE(sum.text.find("summing to 1"), std::string::npos) << sum.text;
}

}  // namespace
}  // namespace kexue
