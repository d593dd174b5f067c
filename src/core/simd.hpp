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

namespace kexue::simd {

using Vec = xsimd::batch<float>;
using AlignedFloats = std::vector<float, xsimd::aligned_allocator<float>>;

constexpr std::size_t kVecWidth = Vec::size;

}  // namespace kexue::simd
