// The register-blocked f32 micro-kernel that every matrix product of the library runs through: the
// GEMM (core/gemm.cpp, on packed panels) and the fused attention (attention/attention.cpp, on
// zero-padded tiles). Named by operation, tile and element type, as XNNPACK names its kernels
// (f32-gemm-4x8-wasmsimd); the ISA is xsimd's batch<float> of the build (SSE4.1, which Emscripten
// maps to 128-bit WASM SIMD, or the host ISA natively).
//
//   C[0:rows, 0:cols] (+)= A[0:rows, 0:depth] · B[0:depth, 0:cols]     rows ≤ 4, cols ≤ V·W
//
// with A(r, p) = a[r·a_row_stride + p·a_depth_stride] (a packed GEMM panel has strides (1, 4), a
// row-major tile (lda, 1)), row p of B at b + p·ldb holding V whole vectors of W = kVecWidth floats
// (zero-padded past `cols` by the caller), and C row-major with leading dimension ldc. The tile of
// C, 4 rows × V vectors, lives in registers for the whole depth loop: the BLIS micro-kernel (Van
// Zee & van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality", ACM TOMS
// 41(3), 2015), here 8 accumulators + 2 B vectors + 1 broadcast, inside the 16 vector registers V8
// gives WASM SIMD on x64. Measured in WASM on this project's machines, 4×2v and 2×4v reached 40–42
// GFLOP/s of the ~44 the 128-bit units issue, while 6×2v and 3×4v (15–17 live vectors) stayed
// below 30. Plain WASM SIMD has no FMA: xsimd::fma lowers to a mul and an add there, and the loop
// body (2 loads, 4 splats, 8 mul, 8 add, the pointer steps) is then bound by the 6 operations per
// cycle x64 cores dispatch, not by the floating-point units: ~46 GFLOP/s of the ~55 the 128-bit
// units issue on the project's Zen 4 machines, measured in L1. The relaxed-SIMD build (compiled
// with -mrelaxed-simd, shipped as dist/kexue*-relaxed.wasm, see scripts/relaxed-simd.mjs) fuses
// each pair into one f32x4.relaxed_madd (vfmadd on x64), which reaches ~54.
//
// The sums start at zero and C is added once at the end when accumulating, so the result does not
// depend on which of the two callers (or the scalar twin below) computed it beyond rounding.
//
// microkernel_4x2v_f32 / microkernel_4x1v_f32 are the two widths; microkernel_4xv_f32_scalar is
// their plain-loop twin with the same contract, which the tests compare them against.
#pragma once

#include <cstddef>

#include "core/simd.hpp"

#if defined(__GNUC__) || defined(__clang__)
#define KEXUE_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define KEXUE_ALWAYS_INLINE inline
#endif

namespace kexue::simd {

constexpr std::size_t kMicroRows = 4;

// acc + a·b. In the relaxed-SIMD build one f32x4.relaxed_madd, which the engine may run fused (one
// rounding, x64 with FMA3, ARM) or as a mul and an add (two roundings): results may differ from the
// plain build by rounding, never by more. Always inlined, so the two builds' objects never share an
// out-of-line copy.
KEXUE_ALWAYS_INLINE Vec madd(const Vec& a, const Vec& b, const Vec& acc) {
#if defined(__wasm_relaxed_simd__)
    // Clang 14's name for the draft's f32x4.fma; scripts/relaxed-simd.mjs turns the instruction
    // into the standard f32x4.relaxed_madd(a, b, acc) = a·b + acc.
    return Vec(__builtin_wasm_fma_f32x4(a, b, acc));
#else
    return xsimd::fma(a, b, acc);
#endif
}

// Always inlined: the strides the callers pass are constants there (1 and 4 for packed panels),
// which the depth loop must see to address A without multiplications.
template <std::size_t V>
KEXUE_ALWAYS_INLINE void microkernel_4xv_f32(std::size_t depth, const float* a, std::size_t a_row_stride,
                                             std::size_t a_depth_stride, const float* b, std::size_t ldb, float* c,
                                             std::size_t ldc, std::size_t rows, std::size_t cols, bool accumulate) {
    Vec acc[kMicroRows][V];
    for (std::size_t r = 0; r < kMicroRows; ++r)
        for (std::size_t v = 0; v < V; ++v) acc[r][v] = Vec(0.0f);

    // Pointers advance by their strides: Emscripten runs LLVM without loop strength reduction
    // (-disable-lsr), so indexing by p·stride would multiply in every iteration.
    const float* a_column = a;
    const float* b_row_p = b;
    for (std::size_t p = 0; p < depth; ++p, a_column += a_depth_stride, b_row_p += ldb) {
        Vec b_row[V];
        for (std::size_t v = 0; v < V; ++v) b_row[v] = Vec::load_unaligned(b_row_p + v * kVecWidth);
        for (std::size_t r = 0; r < kMicroRows; ++r) {
            const Vec a_broadcast(a_column[r * a_row_stride]);
            for (std::size_t v = 0; v < V; ++v) acc[r][v] = madd(a_broadcast, b_row[v], acc[r][v]);
        }
    }

    if (rows == kMicroRows && cols == V * kVecWidth) {
        for (std::size_t r = 0; r < kMicroRows; ++r) {
            for (std::size_t v = 0; v < V; ++v) {
                float* dst = c + r * ldc + v * kVecWidth;
                Vec out = acc[r][v];
                if (accumulate) out += Vec::load_unaligned(dst);
                out.store_unaligned(dst);
            }
        }
        return;
    }
    // An edge tile: only rows × cols of C exist.
    alignas(64) float tile[kMicroRows * V * kVecWidth];
    for (std::size_t r = 0; r < kMicroRows; ++r)
        for (std::size_t v = 0; v < V; ++v) acc[r][v].store_aligned(tile + (r * V + v) * kVecWidth);
    for (std::size_t r = 0; r < rows; ++r) {
        float* dst = c + r * ldc;
        const float* src = tile + r * V * kVecWidth;
        for (std::size_t j = 0; j < cols; ++j) dst[j] = accumulate ? dst[j] + src[j] : src[j];
    }
}

// The 4 × 2-vector tile (4×8 floats with 128-bit vectors).
KEXUE_ALWAYS_INLINE void microkernel_4x2v_f32(std::size_t depth, const float* a, std::size_t a_row_stride,
                                              std::size_t a_depth_stride, const float* b, std::size_t ldb,
                                              float* c, std::size_t ldc, std::size_t rows, std::size_t cols,
                                              bool accumulate) {
    microkernel_4xv_f32<2>(depth, a, a_row_stride, a_depth_stride, b, ldb, c, ldc, rows, cols, accumulate);
}

// The 4 × 1-vector tile, for a column edge narrower than two vectors.
KEXUE_ALWAYS_INLINE void microkernel_4x1v_f32(std::size_t depth, const float* a, std::size_t a_row_stride,
                                              std::size_t a_depth_stride, const float* b, std::size_t ldb,
                                              float* c, std::size_t ldc, std::size_t rows, std::size_t cols,
                                              bool accumulate) {
    microkernel_4xv_f32<1>(depth, a, a_row_stride, a_depth_stride, b, ldb, c, ldc, rows, cols, accumulate);
}

// The scalar twin: the same contract (any rows ≤ 4, cols ≤ V·W), plain loops, float sums in the
// same order.
inline void microkernel_4xv_f32_scalar(std::size_t depth, const float* a, std::size_t a_row_stride,
                                       std::size_t a_depth_stride, const float* b, std::size_t ldb, float* c,
                                       std::size_t ldc, std::size_t rows, std::size_t cols, bool accumulate) {
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t j = 0; j < cols; ++j) {
            float sum = 0.0f;
            for (std::size_t p = 0; p < depth; ++p) sum += a[r * a_row_stride + p * a_depth_stride] * b[p * ldb + j];
            c[r * ldc + j] = accumulate ? c[r * ldc + j] + sum : sum;
        }
    }
}

}  // namespace kexue::simd
