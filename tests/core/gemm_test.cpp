// The packed, SIMD GEMM against its scalar reference twin, on the sizes that break tiled loops:
// 1, tile−1, tile, tile+1 of both register tile dimensions, odd primes, sizes that cross the
// cache blocks (k > 256, m > 96, n > 1024), and all four transpose combinations; the threaded
// product against the reference and, bit for bit, the serial one.
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"
#include "../helpers/threads.hpp"

#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace kexue {
namespace {

using testing::ThreadCountGuard;
using testing::uniform_floats;

// max |got − want| / max(1, max |want|): the relative error of the whole result, which stays
// meaningful when single entries cancel to near zero.
double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
    double max_diff = 0.0, max_ref = 1.0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    }
    return max_diff / max_ref;
}

void expect_matches_reference(const GemmShape& shape, bool accumulate = false) {
    const auto a = uniform_floats(shape.m * shape.k, 1 + shape.m * 7 + shape.k);
    const auto b = uniform_floats(shape.k * shape.n, 2 + shape.n * 13 + shape.k);
    auto got = uniform_floats(shape.m * shape.n, 3);
    auto want = got;
    gemm_f32(shape, a.data(), b.data(), got.data(), accumulate);
    gemm_f32_reference(shape, a.data(), b.data(), want.data(), accumulate);
    EXPECT_LE(relative_error(got, want), 1e-5)
        << "m=" << shape.m << " k=" << shape.k << " n=" << shape.n << " tA=" << shape.transpose_a
        << " tB=" << shape.transpose_b << " accumulate=" << accumulate;
}

std::vector<std::size_t> edge_sizes(std::size_t tile) {
    std::vector<std::size_t> sizes{1, tile, tile + 1, 13, 37};
    if (tile > 1) sizes.push_back(tile - 1);
    return sizes;
}

class GemmTransposes : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(GemmTransposes, MatchesReferenceOnTileEdges) {
    const auto [transpose_a, transpose_b] = GetParam();
    for (std::size_t m : edge_sizes(gemm_tile_rows()))
        for (std::size_t n : edge_sizes(gemm_tile_cols()))
            for (std::size_t k : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}})
                expect_matches_reference({m, k, n, transpose_a, transpose_b});
}

TEST_P(GemmTransposes, MatchesReferenceAcrossCacheBlocks) {
    const auto [transpose_a, transpose_b] = GetParam();
    expect_matches_reference({97, 257, 61, transpose_a, transpose_b});
    expect_matches_reference({193, 300, 1031, transpose_a, transpose_b});
    expect_matches_reference({128, 128, 128, transpose_a, transpose_b});
}

TEST_P(GemmTransposes, AccumulatesIntoC) {
    const auto [transpose_a, transpose_b] = GetParam();
    expect_matches_reference({7, 300, 9, transpose_a, transpose_b}, true);
    expect_matches_reference({13, 5, 17, transpose_a, transpose_b}, true);
}

INSTANTIATE_TEST_SUITE_P(AllCombinations, GemmTransposes,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& info) {
                             return std::string(std::get<0>(info.param) ? "At" : "A") + "_" +
                                    (std::get<1>(info.param) ? "Bt" : "B");
                         });

TEST(Gemm, LargeSquareMatchesReference) { expect_matches_reference({256, 256, 256}); }

TEST(Gemm, KnownSmallProduct) {
    // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
    const std::vector<float> a{1, 2, 3, 4, 5, 6}, b{7, 8, 9, 10, 11, 12};
    std::vector<float> c(4, -1.0f);
    gemm_f32({2, 3, 2}, a.data(), b.data(), c.data());
    EXPECT_EQ(c, (std::vector<float>{58, 64, 139, 154}));
    // The same product with both operands supplied transposed: Aᵀ stored 3×2, Bᵀ stored 2×3.
    const std::vector<float> a_t{1, 4, 2, 5, 3, 6}, b_t{7, 9, 11, 8, 10, 12};
    std::vector<float> c_t(4, -1.0f);
    gemm_f32({2, 3, 2, true, true}, a_t.data(), b_t.data(), c_t.data());
    EXPECT_EQ(c_t, c);
}

TEST(Gemm, ZeroDepthWritesZerosOrLeavesAccumulator) {
    std::vector<float> c(6, 5.0f);
    gemm_f32({2, 0, 3}, nullptr, nullptr, c.data(), true);
    EXPECT_EQ(c, std::vector<float>(6, 5.0f));
    gemm_f32({2, 0, 3}, nullptr, nullptr, c.data(), false);
    EXPECT_EQ(c, std::vector<float>(6, 0.0f));
}

// The threaded product's tasks (row blocks × column groups over a shared packed op(B)) against the
// reference, and bit for bit against the serial product: every tile of C is summed by the same
// micro-kernel calls over the same depth slices in the same order, whoever computes it.
TEST(GemmThreaded, TasksMatchReferenceAndTheSerialProductForAllTransposes) {
    ThreadCountGuard guard;
    // Tall, wide, one row block (column groups only), deeper than a depth slice (k > 256), ragged
    // edges; every one at or above the threaded product's threshold of 2²² multiply-adds.
    const std::vector<std::array<std::size_t, 3>> shapes{
        {211, 197, 131}, {37, 259, 523}, {256, 64, 256}, {4, 1031, 1029}, {70, 300, 200}};
    for (const auto& [m, k, n] : shapes) ASSERT_GE(m * k * n, std::size_t{1} << 22);
    for (const auto& [m, k, n] : shapes) {
        for (bool transpose_a : {false, true}) {
            for (bool transpose_b : {false, true}) {
                const GemmShape shape{m, k, n, transpose_a, transpose_b};
                const auto a = uniform_floats(m * k, 11);
                const auto b = uniform_floats(k * n, 12);
                std::vector<float> want(m * n, 7.0f), serial(m * n, 7.0f);
                gemm_f32_reference(shape, a.data(), b.data(), want.data(), true);
                set_thread_count(1);
                gemm_f32(shape, a.data(), b.data(), serial.data(), true);
                for (std::size_t threads : {std::size_t{2}, std::size_t{3}, max_thread_count()}) {
                    set_thread_count(threads);
                    std::vector<float> got(m * n, 7.0f);
                    gemm_f32(shape, a.data(), b.data(), got.data(), true);
                    EXPECT_LE(relative_error(got, want), 1e-5) << "threads=" << threads << " m=" << m << " k=" << k
                                                               << " n=" << n;
                    EXPECT_EQ(got, serial) << "threads=" << threads << " m=" << m << " k=" << k << " n=" << n;
                }
            }
        }
    }
}

// A product whose packed op(B) exceeds the shared buffer (1 Mi floats) is done in chunks: of
// columns, and of depth past 2¹⁷ (one panel of all of k no longer fits), accumulating into C.
TEST(GemmThreaded, ChunksOfTheSharedPackedOperand) {
    ThreadCountGuard guard;
    const std::vector<std::array<std::size_t, 3>> shapes{
        {5, 2049, 2050},          // four chunks of 504 columns and one of 34
        {4, 131072 + 300, 9}};    // depth chunks of 131072 and 300, two column panels
    for (const auto& [m, k, n] : shapes) {
        for (bool accumulate : {false, true}) {
            const auto a = uniform_floats(m * k, 21);
            const auto b = uniform_floats(k * n, 22);
            std::vector<float> want(m * n, 7.0f), serial(m * n, 7.0f), got(m * n, 7.0f);
            gemm_f32_reference({m, k, n}, a.data(), b.data(), want.data(), accumulate);
            set_thread_count(1);
            gemm_f32({m, k, n}, a.data(), b.data(), serial.data(), accumulate);
            set_thread_count(2);
            gemm_f32({m, k, n}, a.data(), b.data(), got.data(), accumulate);
            EXPECT_LE(relative_error(got, want), 1e-5) << "m=" << m << " k=" << k << " n=" << n;
            EXPECT_EQ(got, serial) << "m=" << m << " k=" << k << " n=" << n << " accumulate=" << accumulate;
        }
    }
}

}  // namespace
}  // namespace kexue
