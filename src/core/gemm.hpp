// Single-precision matrix multiply: C = op(A) · op(B)  (or C += op(A) · op(B)).
//
// Shapes (row-major):
//   op(A): m×k   — A is stored m×k, or k×m when transpose_a
//   op(B): k×n   — B is stored k×n, or n×k when transpose_b
//   C:     m×n
//
// Two implementations with one contract:
//   gemm_f32            packed panels and an xsimd register-blocked micro-kernel (the fast path);
//   gemm_f32_reference  the textbook triple loop in double accumulation, kept as the twin every
//                       optimized kernel is tested against.
#pragma once

#include <cstddef>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

struct GemmShape {
    std::size_t m = 0;
    std::size_t k = 0;
    std::size_t n = 0;
    bool transpose_a = false;
    bool transpose_b = false;
};

// The options of kx.matmul, by the names the JS API uses.
template <typename Visitor>
void visit_fields(GemmShape& s, Visitor&& field) {
    field("m", s.m, kRequired | kPositive);
    field("k", s.k, kRequired | kPositive);
    field("n", s.n, kRequired | kPositive);
    field("transposeA", s.transpose_a);
    field("transposeB", s.transpose_b);
}

// m, k, n ≥ 1, and A, B and C together fit in the heap.
Error gemm_validate(const GemmShape& shape);

// When `accumulate` is true C is added to (C += op(A)·op(B)); otherwise it is overwritten.
// Buffers must not alias C. k == 0 yields C = 0 (or leaves C unchanged when accumulating).
void gemm_f32(const GemmShape& shape, const float* a, const float* b, float* c, bool accumulate = false);
void gemm_f32_reference(const GemmShape& shape, const float* a, const float* b, float* c,
                        bool accumulate = false);

// The register tile of the micro-kernel on the build's SIMD target, exposed so tests can aim at
// tile edges (1, tile−1, tile, tile+1) whatever the vector width is.
std::size_t gemm_tile_rows();
std::size_t gemm_tile_cols();

}  // namespace kexue
