// The shared f32 micro-kernel (core/microkernel_4x2v_f32.hpp) against its scalar twin, on the
// sizes that break register-blocked loops: rows 1 … 4 of the 4-row tile, columns 1, W − 1, W,
// W + 1, 2W − 1, 2W of the 2-vector tile (W = the vector width; 1 … W for the 1-vector one),
// depths 1, tile − 1, tile, tile + 1 and large, both A layouts the callers use (packed panels of
// the GEMM, row-major tiles of the attention), with and without accumulation into C.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"

#include "core/microkernel_4x2v_f32.hpp"

namespace kexue {
namespace {

using simd::kMicroRows;
using simd::kVecWidth;

using testing::uniform_floats;

enum class Layout { packed, row_major };

// Runs the V-vector kernel and the scalar twin on the same operands; returns the largest
// |difference| relative to the depth (float sums of `depth` products in a different order, and
// fused or not, differ by a few ulp per term).
template <std::size_t V>
void expect_matches_scalar(std::size_t rows, std::size_t cols, std::size_t depth, Layout layout, bool accumulate) {
    constexpr std::size_t kCols = V * kVecWidth;
    const std::size_t lda = depth + 3, ldb = kCols + 5, ldc = kCols + 7;
    // A: packed panel a[p·4 + r] (strides 1, 4) or row-major a[r·lda + p] (strides lda, 1).
    const std::size_t a_row_stride = layout == Layout::packed ? 1 : lda;
    const std::size_t a_depth_stride = layout == Layout::packed ? kMicroRows : 1;
    std::vector<float> a = uniform_floats(kMicroRows * lda, static_cast<std::uint32_t>(7 + depth));
    // Rows past `rows` of A and columns past `cols` of B are the callers' zero padding.
    for (std::size_t r = rows; r < kMicroRows; ++r)
        for (std::size_t p = 0; p < depth; ++p) a[r * a_row_stride + p * a_depth_stride] = 0.0f;
    std::vector<float> b = uniform_floats(depth * ldb, static_cast<std::uint32_t>(11 + cols));
    for (std::size_t p = 0; p < depth; ++p) std::fill(b.begin() + p * ldb + cols, b.begin() + p * ldb + kCols, 0.0f);
    const std::vector<float> c0 = uniform_floats(kMicroRows * ldc, 13);
    std::vector<float> got = c0, want = c0;

    if constexpr (V == 2)
        simd::microkernel_4x2v_f32(depth, a.data(), a_row_stride, a_depth_stride, b.data(), ldb, got.data(), ldc, rows,
                                   cols, accumulate);
    else
        simd::microkernel_4x1v_f32(depth, a.data(), a_row_stride, a_depth_stride, b.data(), ldb, got.data(), ldc, rows,
                                   cols, accumulate);
    simd::microkernel_4xv_f32_scalar(depth, a.data(), a_row_stride, a_depth_stride, b.data(), ldb, want.data(), ldc,
                                     rows, cols, accumulate);

    const double tolerance = 1e-6 * static_cast<double>(depth + 1);
    for (std::size_t r = 0; r < kMicroRows; ++r) {
        for (std::size_t j = 0; j < ldc; ++j) {
            const std::size_t i = r * ldc + j;
            if (r < rows && j < cols) {
                EXPECT_NEAR(got[i], want[i], tolerance) << "r=" << r << " j=" << j << " rows=" << rows
                                                        << " cols=" << cols << " depth=" << depth
                                                        << " accumulate=" << accumulate;
            } else {
                EXPECT_EQ(got[i], c0[i]) << "wrote outside the tile: r=" << r << " j=" << j << " rows=" << rows
                                         << " cols=" << cols;
            }
        }
    }
}

std::vector<std::size_t> depths() { return {1, kMicroRows - 1, kMicroRows, kMicroRows + 1, 64, 257}; }

TEST(Microkernel4x2v, MatchesScalarTwinOnEdgeSizes) {
    std::set<std::size_t> columns{1, 2 * kVecWidth - 1, 2 * kVecWidth};
    if (kVecWidth > 1) columns.insert({kVecWidth - 1, kVecWidth, kVecWidth + 1});
    for (Layout layout : {Layout::packed, Layout::row_major})
        for (bool accumulate : {false, true})
            for (std::size_t rows = 1; rows <= kMicroRows; ++rows)
                for (std::size_t cols : columns)
                    for (std::size_t depth : depths()) expect_matches_scalar<2>(rows, cols, depth, layout, accumulate);
}

TEST(Microkernel4x1v, MatchesScalarTwinOnEdgeSizes) {
    std::set<std::size_t> columns{1, kVecWidth};
    if (kVecWidth > 1) columns.insert(kVecWidth - 1);
    for (Layout layout : {Layout::packed, Layout::row_major})
        for (bool accumulate : {false, true})
            for (std::size_t rows = 1; rows <= kMicroRows; ++rows)
                for (std::size_t cols : columns)
                    for (std::size_t depth : depths()) expect_matches_scalar<1>(rows, cols, depth, layout, accumulate);
}

// A known product on the full tile: A(r, p) = r + 1 and B(p, j) = j + 1 over depth 2, so
// C(r, j) = 2·(r + 1)·(j + 1), exactly.
TEST(Microkernel4x2v, KnownProduct) {
    constexpr std::size_t kCols = 2 * kVecWidth;
    const float a[2 * kMicroRows] = {1, 2, 3, 4, 1, 2, 3, 4};  // packed: a[p·4 + r] = r + 1
    std::vector<float> b(2 * kCols);
    for (std::size_t p = 0; p < 2; ++p)
        for (std::size_t j = 0; j < kCols; ++j) b[p * kCols + j] = static_cast<float>(j + 1);
    std::vector<float> c(kMicroRows * kCols, -1.0f);
    simd::microkernel_4x2v_f32(2, a, 1, kMicroRows, b.data(), kCols, c.data(), kCols, kMicroRows, kCols, false);
    for (std::size_t r = 0; r < kMicroRows; ++r)
        for (std::size_t j = 0; j < kCols; ++j)
            EXPECT_EQ(c[r * kCols + j], static_cast<float>(2 * (r + 1) * (j + 1)));
}

}  // namespace
}  // namespace kexue
