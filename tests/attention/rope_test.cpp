// RoPE 1D and 2D: reference values computed with mpmath (kexue.fm/8265, 8397, 10040), the
// relative-position property ⟨R_m q, R_n k⟩ = f(n − m), the permutation that relates the two
// layouts, inverse ∘ forward = identity, partial rotary, and the promised errors.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"

#include "attention/rope.hpp"

namespace kexue {
namespace {

using testing::random_floats;

// One vector (batch = seq = heads = 1) rotated to position m.
std::vector<float> rope1d(std::vector<float> x, double m, RopeLayout layout, bool inverse = false) {
    RopeOptions options;
    options.layout = layout;
    options.positions = &m;
    options.inverse = inverse;
    rope_apply({1, 1, 1, x.size()}, options, x.data(), x.data());
    return x;
}

std::vector<float> rope2d(std::vector<float> x, double px, double py, Rope2dMode mode,
                          RopeLayout layout = RopeLayout::interleaved, bool inverse = false) {
    const double positions[2] = {px, py};
    Rope2dOptions options;
    options.mode = mode;
    options.layout = layout;
    options.positions = positions;
    options.inverse = inverse;
    rope2d_apply({1, 1, 1, 1, x.size()}, options, x.data(), x.data());
    return x;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
    return sum;
}

void expect_near_vector(const std::vector<float>& got, const std::vector<double>& want, double tolerance) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], want[i], tolerance * std::max(1.0, std::fabs(want[i]))) << "index " << i;
}

TEST(Rope, FrequenciesForDim4) {
    const auto theta = rope_frequencies(4, 10000.0);
    ASSERT_EQ(theta.size(), 2u);
    EXPECT_DOUBLE_EQ(theta[0], 1.0);
    EXPECT_NEAR(theta[1], 0.01, 1e-15);
}

TEST(Rope, SpecVectorsBothLayouts) {
    const std::vector<float> x{1, 2, 3, 4};
    expect_near_vector(rope1d(x, 1, RopeLayout::interleaved),
                       {-1.142639664, 1.922075597, 2.959850668, 4.029799502}, 2e-6);
    expect_near_vector(rope1d(x, 1, RopeLayout::half), {-1.984110649, 1.959900668, 2.462377902, 4.019799668},
                       2e-6);
    EXPECT_EQ(rope1d(x, 0, RopeLayout::interleaved), x);
    EXPECT_EQ(rope1d(x, 0, RopeLayout::half), x);
}

TEST(Rope, SpecRelativeVectors) {
    const std::vector<float> q{1, 2, 3, 4}, k{0.5f, -1, 2, 0.25f};
    EXPECT_NEAR(dot(q, k), 5.5, 1e-12);
    const double pairs[3][2] = {{5, 3}, {12, 10}, {0, -2}};
    for (const auto& mn : pairs) {
        EXPECT_NEAR(dot(rope1d(q, mn[0], RopeLayout::interleaved), rope1d(k, mn[1], RopeLayout::interleaved)),
                    5.659235114, 1e-5);
        EXPECT_NEAR(dot(rope1d(q, mn[0], RopeLayout::half), rope1d(k, mn[1], RopeLayout::half)), -3.160111731,
                    1e-5);
    }
    // qᵀ R_{−2} k
    EXPECT_NEAR(dot(q, rope1d(k, -2, RopeLayout::interleaved)), 5.659235114, 1e-5);
}

TEST(Rope2d, SpecVectors) {
    const std::vector<float> v{1, 2, 3, 4, 5, 6, 7, 8};
    expect_near_vector(rope2d(v, 2, 3, Rope2dMode::split),
                       {-2.234741690, 0.07700375373, 2.919405353, 4.059196027, -5.796682531, -5.234354939,
                        6.756886235, 8.206368771},
                       2e-6);
    expect_near_vector(rope2d(v, 2, 3, Rope2dMode::tie),
                       {-2.234741690, 0.07700375373, 1.683928641, 4.707906576, 4.879008033, 6.098793373,
                        6.975968536, 8.020963969},
                       2e-6);
    const std::vector<float> q{1, -1, 2, .5f, 0, 3, -2, 1}, k{.5f, 2, -1, 1, 1, 1, .25f, -3};
    EXPECT_NEAR(dot(rope2d(q, 1, 4, Rope2dMode::split), rope2d(k, 3, 1, Rope2dMode::split)), -9.918008495, 1e-5);
    EXPECT_NEAR(dot(q, rope2d(k, 2, -3, Rope2dMode::split)), -9.918008495, 1e-5);
}

// ⟨R_m q, R_n k⟩ depends only on n − m, for a realistic head size, both layouts.
TEST(Rope, InnerProductDependsOnlyOnRelativePosition) {
    const auto q = random_floats(64, 1), k = random_floats(64, 2);
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
        for (double delta : {-7.0, 0.0, 3.0, 40.5}) {
            const double want = dot(q, rope1d(k, delta, layout));
            for (double m : {0.0, 1.0, 17.0, 1000.0, -12.25}) {
                const double got = dot(rope1d(q, m, layout), rope1d(k, m + delta, layout));
                EXPECT_NEAR(got, want, 1e-4 * std::max(1.0, std::fabs(want))) << "m=" << m << " delta=" << delta;
            }
        }
    }
}

TEST(Rope2d, InnerProductDependsOnlyOnRelativePosition) {
    const auto q = random_floats(32, 3), k = random_floats(32, 4);
    for (Rope2dMode mode : {Rope2dMode::split, Rope2dMode::tie}) {
        for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
            const double want = dot(q, rope2d(k, 2, -5, mode, layout));
            for (auto [x, y] : {std::pair<double, double>{0, 0}, {3, 7}, {-4, 11}, {100, 2}}) {
                const double got = dot(rope2d(q, x, y, mode, layout), rope2d(k, x + 2, y - 5, mode, layout));
                EXPECT_NEAR(got, want, 1e-4 * std::max(1.0, std::fabs(want)));
            }
        }
    }
}

// RoPE-Tie at (n, n) is the 1D RoPE at n (10040 §统一升维), in either layout.
TEST(Rope2d, TieOnTheDiagonalIsRope1d) {
    const auto v = random_floats(16, 5);
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half})
        for (double n : {0.0, 1.0, 9.0, 250.0}) EXPECT_EQ(rope2d(v, n, n, Rope2dMode::tie, layout), rope1d(v, n, layout));
}

// RoPE_B(x, m) = Π⁻¹ RoPE_A(Πx, m) with (Πx)[2i] = x[i], (Πx)[2i+1] = x[i+h].
TEST(Rope, LayoutsRelatedByPermutation) {
    const std::size_t d = 32, h = d / 2;
    const auto x = random_floats(d, 6);
    std::vector<float> permuted(d);
    for (std::size_t i = 0; i < h; ++i) {
        permuted[2 * i] = x[i];
        permuted[2 * i + 1] = x[i + h];
    }
    for (double m : {1.0, 13.0, -2.5}) {
        const auto a = rope1d(permuted, m, RopeLayout::interleaved);
        std::vector<float> unpermuted(d);
        for (std::size_t i = 0; i < h; ++i) {
            unpermuted[i] = a[2 * i];
            unpermuted[i + h] = a[2 * i + 1];
        }
        EXPECT_EQ(unpermuted, rope1d(x, m, RopeLayout::half));
    }
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    return diff;
}

TEST(Rope, InverseUndoesForwardOnBatchedTensor) {
    const RopeShape shape{2, 7, 3, 16};
    const auto x = random_floats(2 * 7 * 3 * 16, 7);
    const std::vector<double> positions{0, 1, 2.5, -3, 100, 4096, 1e6};
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
        for (std::size_t rotary_dim : {std::size_t{0}, std::size_t{8}}) {
            RopeOptions options;
            options.layout = layout;
            options.positions = positions.data();
            options.rotary_dim = rotary_dim;
            std::vector<float> y(x.size());
            rope_apply(shape, options, x.data(), y.data());
            EXPECT_GT(max_abs_diff(x, y), 0.1);
            options.inverse = true;
            rope_apply(shape, options, y.data(), y.data());
            EXPECT_LT(max_abs_diff(x, y), 1e-5);
        }
    }
    // 2D: batch 2 of a 3 × 3 grid, 3 heads.
    const Rope2dShape grid{2, 3, 3, 3, 16};
    const auto x2d = random_floats(2 * 9 * 3 * 16, 17);
    for (Rope2dMode mode : {Rope2dMode::split, Rope2dMode::tie}) {
        Rope2dOptions options;
        options.mode = mode;
        std::vector<float> y(x2d.size());
        rope2d_apply(grid, options, x2d.data(), y.data());
        EXPECT_GT(max_abs_diff(x2d, y), 0.1);
        options.inverse = true;
        rope2d_apply(grid, options, y.data(), y.data());
        EXPECT_LT(max_abs_diff(x2d, y), 1e-5);
    }
}

// The float kernel against the double reference, every (batch, token, head) vector, including the
// default positions with an offset, large positions, and the partial-rotary pass-through.
TEST(Rope, MatchesDoubleReference) {
    const RopeShape shape{2, 5, 3, 12};
    const auto x = random_floats(2 * 5 * 3 * 12, 8);
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
        for (std::size_t rotary_dim : {std::size_t{12}, std::size_t{6}}) {
            for (double offset : {0.0, 999990.0}) {
                RopeOptions options;
                options.layout = layout;
                options.rotary_dim = rotary_dim;
                options.position_offset = offset;
                options.base = 500.0;
                std::vector<float> y(x.size());
                rope_apply(shape, options, x.data(), y.data());
                for (std::size_t b = 0; b < 2; ++b)
                    for (std::size_t t = 0; t < 5; ++t)
                        for (std::size_t h = 0; h < 3; ++h) {
                            const std::size_t at = ((b * 5 + t) * 3 + h) * 12;
                            std::vector<double> want(x.begin() + at, x.begin() + at + 12);
                            rope_rotate_vector_reference(want.data(), rotary_dim, layout, 500.0, offset + t);
                            for (std::size_t p = 0; p < 12; ++p) {
                                EXPECT_NEAR(y[at + p], want[p], 2e-6 * std::max(1.0, std::fabs(want[p])));
                                if (p >= rotary_dim) EXPECT_EQ(y[at + p], x[at + p]);
                            }
                        }
            }
        }
    }
}

// float32_angles rounds m·θ_i to float32 before cos/sin (HF parity); at m = 1e6 that moves the
// fast pairs by a visible amount, while double angles track the reference.
TEST(Rope, Float32AnglesAreSwitchable) {
    const auto x = random_floats(8, 10);
    const double m = 1000003.0;
    RopeOptions options;
    options.positions = &m;
    options.float32_angles = true;
    std::vector<float> in_float(x.size()), in_double(x.size());
    rope_apply({1, 1, 1, 8}, options, x.data(), in_float.data());
    options.float32_angles = false;
    rope_apply({1, 1, 1, 8}, options, x.data(), in_double.data());
    const auto theta = rope_frequencies(8, 10000.0);
    std::vector<double> want_double(x.begin(), x.end());
    rope_rotate_vector_reference(want_double.data(), 8, RopeLayout::interleaved, 10000.0, m);
    for (std::size_t i = 0; i < 4; ++i) {
        const double angle = static_cast<float>(m) * static_cast<float>(theta[i]);
        const double c = std::cos(angle), s = std::sin(angle);
        EXPECT_NEAR(in_float[2 * i], x[2 * i] * c - x[2 * i + 1] * s, 1e-5);
        EXPECT_NEAR(in_float[2 * i + 1], x[2 * i + 1] * c + x[2 * i] * s, 1e-5);
        EXPECT_NEAR(in_double[2 * i], want_double[2 * i], 1e-5);
        EXPECT_NEAR(in_double[2 * i + 1], want_double[2 * i + 1], 1e-5);
    }
    EXPECT_GT(max_abs_diff(in_float, in_double), 1e-3);
}

TEST(Rope2d, GridDefaultPositionsMatchExplicitOnes) {
    const Rope2dShape shape{1, 2, 3, 2, 8};  // a 2 × 3 grid: token t at (t % 3, t / 3)
    const auto x = random_floats(6 * 2 * 8, 9);
    Rope2dOptions grid;
    std::vector<float> from_grid(x.size()), explicit_positions(x.size());
    rope2d_apply(shape, grid, x.data(), from_grid.data());
    const std::vector<double> positions{0, 0, 1, 0, 2, 0, 0, 1, 1, 1, 2, 1};
    Rope2dOptions given;
    given.positions = positions.data();
    rope2d_apply(shape, given, x.data(), explicit_positions.data());
    EXPECT_EQ(from_grid, explicit_positions);
}

// What rope_apply used to throw for is now the validator's (attention_validate_test.cpp tests
// every rule with its parameter name); the same cases here, through the validators.
TEST(Rope, RejectsInvalidInput) {
    RopeOptions options;
    EXPECT_FALSE(rope_validate({1, 1, 1, 8}, options));
    EXPECT_EQ(rope_validate({1, 1, 1, 5}, options).parameter, "dim");
    options.rotary_dim = 3;
    EXPECT_EQ(rope_validate({1, 1, 1, 8}, options).parameter, "rotaryDim");
    options.rotary_dim = 10;
    EXPECT_EQ(rope_validate({1, 1, 1, 8}, options).parameter, "rotaryDim");
    options.rotary_dim = 0;
    options.base = 0.0;
    EXPECT_EQ(rope_validate({1, 1, 1, 8}, options).parameter, "base");
    options.base = 10000.0;
    const double nan_position = std::nan("");
    options.positions = &nan_position;
    EXPECT_EQ(rope_validate({1, 1, 1, 8}, options).parameter, "positions[0]");

    Rope2dOptions options2d;
    EXPECT_FALSE(rope2d_validate({1, 1, 2, 1, 8}, options2d));
    EXPECT_EQ(rope2d_validate({1, 1, 2, 1, 6}, options2d).parameter, "dim");
    EXPECT_EQ(rope2d_validate({1, 0, 2, 1, 8}, options2d).parameter, "height");
}

}  // namespace
}  // namespace kexue
