// exp on a vector of floats (the softmax of the fused attention; named like XNNPACK's f32-vexp).
//
// xsimd::exp on the SSE4.1 backend compiles to slow WASM (its float→int conversion is emulated
// lane by lane) and cost as much as the two matrix products of an attention tile, so this is
// Cephes' expf (S. L. Moshier, Cephes Math Library, expf.c): x = n·ln2 + f with n rounded by the
// 1.5·2²³ magic-number trick, f reduced in two parts (Cody & Waite, "Software Manual for the
// Elementary Functions", 1980) to |f| ≤ ln2/2, exp(f) by its degree-5 minimax polynomial, and 2ⁿ
// built in the exponent bits. Accuracy over the whole input range, measured against double
// std::exp by tests/core/vexp_test.cpp: a few ulp (the bound is stated there).
//
// Arguments are clamped to [kVexpMin, kVexpMax] = [−87, 88], where both 2ⁿ and the result stay
// normal floats, so exp(−∞) comes out as exp(−87) ≈ 1.6e−38 rather than 0: callers zero masked
// entries themselves. Arguments must not be NaN (the clamp's result for NaN depends on the ISA).
#pragma once

#include <cstdint>

#include "core/simd.hpp"

namespace kexue::simd {

constexpr float kVexpMin = -87.0f;
constexpr float kVexpMax = 88.0f;

inline Vec vexp_f32(Vec x) {
    using IntVec = xsimd::batch<std::int32_t>;
    x = xsimd::min(xsimd::max(x, Vec(kVexpMin)), Vec(kVexpMax));
    const Vec magic(12582912.0f);  // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
    const Vec shifted = xsimd::fma(x, Vec(1.44269504088896341f), magic);
    const Vec n = shifted - magic;
    // ln2 = 0.693359375 − 2.12194440e−4 + …: the first part has few bits, so n·0.693359375 is exact.
    Vec f = xsimd::fnma(n, Vec(0.693359375f), x);
    f = xsimd::fnma(n, Vec(-2.12194440e-4f), f);
    Vec p(1.9875691500e-4f);
    p = xsimd::fma(p, f, Vec(1.3981999507e-3f));
    p = xsimd::fma(p, f, Vec(8.3334519073e-3f));
    p = xsimd::fma(p, f, Vec(4.1665795894e-2f));
    p = xsimd::fma(p, f, Vec(1.6666665459e-1f));
    p = xsimd::fma(p, f, Vec(5.0000001201e-1f));
    const Vec exp_f = xsimd::fma(p, f * f, f + Vec(1.0f));
    // The low bits of `shifted` are n (two's complement), so shifting them into the exponent field
    // and adding the bias gives the bits of 2ⁿ.
    const IntVec pow2n_bits = (xsimd::bitwise_cast<IntVec>(shifted) << 23) + IntVec(127 << 23);
    return exp_f * xsimd::bitwise_cast<Vec>(pow2n_bits);
}

// exp(x) for the softmax's logits minus a running max (the fused attention): x < 88, and mostly
// x ≤ 0, where the weights that matter are near x = 0. Computed as 2^t, t = x·log2(e), which needs no two-part reduction: n = round(t) by the
// magic-number trick, f = t − n exactly (|f| ≤ 1/2), and 2^f = 1 + f·P(f) with the degree-5 P of
// Cephes' exp2f (S. L. Moshier, exp2f.c: relative error 1.7e−7 on [−1/2, 1/2]). Rounding t costs
// up to |t|·2^−24 of relative error, so the result is a few ulp off near x = 0, where the softmax
// weights that matter are, and up to ~10^−5 relative for x near −87, where they are below 10^−37.
// Arguments below −126·ln 2 ≈ −87.3 are clamped there (as vexp_f32 does: callers zero masked
// entries), with the one-instruction max of core/simd.hpp. Measured in the fused attention: 40%
// cheaper than vexp_f32.
inline Vec vexp_softmax_f32(Vec x) {
    using IntVec = xsimd::batch<std::int32_t>;
    const Vec t = max_not_nan(x * Vec(1.44269504088896341f), Vec(-126.0f));
    const Vec magic(12582912.0f);  // 1.5·2²³
    const Vec shifted = t + magic;
    const Vec f = t - (shifted - magic);
    Vec p(1.535336188319500e-4f);
    p = p * f + Vec(1.339887440266574e-3f);
    p = p * f + Vec(9.618437357674640e-3f);
    p = p * f + Vec(5.550332471162809e-2f);
    p = p * f + Vec(2.402264791363012e-1f);
    p = p * f + Vec(6.931472028550421e-1f);
    const Vec exp2_f = p * f + Vec(1.0f);
    const IntVec pow2n_bits = (xsimd::bitwise_cast<IntVec>(shifted) << 23) + IntVec(127 << 23);
    return exp2_f * xsimd::bitwise_cast<Vec>(pow2n_bits);
}

}  // namespace kexue::simd
