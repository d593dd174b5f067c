// IEEE 754 binary16 ("half", f16) ↔ binary32 conversions, for kernels that take half-precision
// tensors and compute in float32 (the attention converts while it packs its tiles, so no f32 copy
// of a tensor is ever made).
//
// An f16 is 1 sign bit, 5 exponent bits (bias 15) and 10 mantissa bits: normal numbers
// (1 + m/1024)·2^(e−15) for e = 1 … 30, subnormals m·2^−24 for e = 0, ±∞ and NaN for e = 31. Every
// f16 is exactly a float, so f16 → f32 is exact: the exponent is re-biased (+112) and the mantissa
// moved up 13 bits; subnormals are renormalised (here by converting the integer m to float, which is
// exact, and scaling by 2^−24); NaN payloads are kept. f32 → f16 rounds to nearest, ties to even
// (IEEE's default), overflowing to ±∞ from 65520 (the midpoint between the largest f16, 65504, and
// 2^16) on, as every hardware converter does (F16C's vcvtps2ph, ARM's fcvt). The bit manipulation is
// that of F. Giesen, "half_to_float / float_to_half_fast3_rtne" (public domain,
// gist.github.com/rygorous/2156668), written for xsimd batches too.
//
// tests/core/float16_test.cpp checks both directions against a double-precision reference over all
// 65536 f16 bit patterns (and the f32 → f16 rounding at every midpoint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/options.hpp"
#include "core/simd.hpp"

namespace kexue {

// The element type of a tensor crossing a kernel's boundary (float32, or float16 bits). The names
// are onnxruntime-web's and TensorFlow.js's tensor type names.
enum class ElementType { float32, float16 };

template <>
struct EnumNames<ElementType> {
    static constexpr EnumEntry<ElementType> entries[] = {
        {"float32", ElementType::float32},
        {"float16", ElementType::float16},
    };
};

inline std::size_t element_bytes(ElementType type) { return type == ElementType::float16 ? 2 : 4; }

inline float f32_from_bits(std::uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

inline std::uint32_t f32_bits(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return bits;
}

// The float equal to the f16 with bits `h` (exact; NaN payloads kept).
inline float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return f32_from_bits(sign | 0x7f800000u | (mantissa << 13));  // ±∞, NaN
    if (exponent == 0) {  // ±0 and subnormals m·2^−24: m converts to float exactly
        const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^−24
        return f32_from_bits(sign | f32_bits(magnitude));
    }
    return f32_from_bits(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

// The f16 nearest to x (ties to even), ±∞ from |x| ≥ 65520, NaN → a quiet NaN of the same sign
// (the top 10 payload bits kept).
inline std::uint16_t f32_to_f16(float x) {
    std::uint32_t bits = f32_bits(x);
    const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    bits &= 0x7fffffffu;
    if (bits >= 0x7f800000u)  // ±∞ and NaN
        return static_cast<std::uint16_t>(sign | 0x7c00u | (bits > 0x7f800000u ? 0x200u | ((bits >> 13) & 0x3ffu) : 0u));
    if (bits >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // ≥ 65520 rounds to ∞
    if (bits < 0x38800000u) {
        // Below 2^−14 the result is subnormal (or 0): adding 0.5 puts the f16 mantissa m = x·2^24,
        // rounded to nearest even by the float addition itself, in the low bits of the sum.
        const float sum = f32_from_bits(bits) + 0.5f;
        return static_cast<std::uint16_t>(sign | (f32_bits(sum) - 0x3f000000u));
    }
    // Normal: re-bias the exponent (−112) and round the 13 dropped bits to nearest even.
    const std::uint32_t odd = (bits >> 13) & 1u;
    bits += 0xc8000fffu + odd;  // (15 − 127) << 23, plus 0xfff (+1 when the kept part is odd)
    return static_cast<std::uint16_t>(sign | (bits >> 13));
}

namespace simd {

// f16 → f32 on a batch: the lanes hold f16 bits in the low 16 bits of 32-bit integers. The two
// special cases are chosen with float selects on the exponent's bits (all of them ordinary floats
// or zero): xsimd 8.1's select on 32-bit integer batches does not compile for AVX-512BW with GCC 12.
inline Vec f16_to_f32(xsimd::batch<std::int32_t> h) {
    using IntVec = xsimd::batch<std::int32_t>;
    const IntVec magnitude_bits = (h & IntVec(0x7fff)) << 13;  // exponent and mantissa, f32-aligned
    const Vec exponent = xsimd::bitwise_cast<Vec>(magnitude_bits & IntVec(0x0f800000));
    const IntVec rebiased = magnitude_bits + IntVec(112 << 23);
    // e = 31 (∞, NaN): the exponent becomes 255.
    Vec out = xsimd::select(exponent == xsimd::bitwise_cast<Vec>(IntVec(0x0f800000)),
                            xsimd::bitwise_cast<Vec>(rebiased + IntVec(112 << 23)), xsimd::bitwise_cast<Vec>(rebiased));
    // e = 0 (0 and subnormals): the bits (m << 13) + 113·2^23 are the float 2^−14·(1 + m/1024);
    // subtracting 2^−14 leaves m·2^−24 exactly.
    const Vec subnormal = xsimd::bitwise_cast<Vec>(rebiased + IntVec(1 << 23)) - Vec(6.103515625e-05f);  // 2^−14
    out = xsimd::select(exponent == Vec(0.0f), subnormal, out);
    return xsimd::bitwise_cast<Vec>(xsimd::bitwise_cast<IntVec>(out) | ((h & IntVec(0x8000)) << 16));
}

}  // namespace simd

// count f16s at `src` → floats at `dst` (whole vectors first, then the tail).
inline void f16_to_f32_row(const std::uint16_t* src, float* dst, std::size_t count) {
    using IntVec = xsimd::batch<std::int32_t>;
    constexpr std::size_t width = simd::kVecWidth;
    std::size_t i = 0;
    for (; i + width <= count; i += width) {
        alignas(64) std::int32_t lanes[width];
        for (std::size_t l = 0; l < width; ++l) lanes[l] = src[i + l];
        simd::f16_to_f32(IntVec::load_aligned(lanes)).store_unaligned(dst + i);
    }
    for (; i < count; ++i) dst[i] = f16_to_f32(src[i]);
}

// count floats → f16s (ties to even).
inline void f32_to_f16_row(const float* src, std::uint16_t* dst, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace kexue
