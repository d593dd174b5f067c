// The SIMD vocabulary the kernels share: one float vector type on the build's target (SSE4.1,
// which Emscripten maps to 128-bit WASM SIMD, or the host ISA natively), its width, and an aligned
// float buffer for packed panels and tiles.
#pragma once

#include <cstddef>
#include <vector>

// GCC 12 reports a false -Wuninitialized inside its own AVX-512 intrinsics (_mm512_undefined_*,
// GCC bug 105593) when xsimd's functions are inlined; the warning points into the header, so
// silencing it for the include leaves the kernels' own code checked.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace kexue::simd {

using Vec = xsimd::batch<float>;
using AlignedFloats = std::vector<float, xsimd::aligned_allocator<float>>;

constexpr std::size_t kVecWidth = Vec::size;

// max(a, b) and min(a, b) for arguments that are not NaN. Under WASM they are the one-instruction
// pseudo-maximum and pseudo-minimum f32x4.pmax (a < b ? b : a) and f32x4.pmin (b < a ? b : a): the
// SSE4.1 _mm_max_ps / _mm_min_ps that xsimd calls become a compare and a bit select under
// Emscripten, four x64 instructions after V8.
inline Vec max_not_nan(Vec a, Vec b) {
#if defined(__wasm_simd128__)
    return Vec(__m128(wasm_f32x4_pmax(v128_t(__m128(a)), v128_t(__m128(b)))));
#else
    return xsimd::max(a, b);
#endif
}

inline Vec min_not_nan(Vec a, Vec b) {
#if defined(__wasm_simd128__)
    return Vec(__m128(wasm_f32x4_pmin(v128_t(__m128(a)), v128_t(__m128(b)))));
#else
    return xsimd::min(a, b);
#endif
}

}  // namespace kexue::simd
