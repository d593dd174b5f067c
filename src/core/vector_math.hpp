// Elementwise math on SIMD vectors that the kernels share (attention's softmax tiles, logsumexp,
// the losses), plus the one way a row of float terms is summed into a double.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/simd.hpp"

namespace kexue::simd {

// exp on a vector for arguments ≤ ~0 (scores minus their row max or logsumexp). xsimd::exp on the
// SSE4.1 backend compiles to slow WASM (its float→int conversion is emulated lane by lane) and cost
// as much as the two matrix products of attention, so this is Cephes' expf: x = n·ln2 + f with n
// rounded by the 1.5·2²³ magic-number trick, f reduced in two parts (Cody–Waite), exp(f) by its
// degree-5 minimax polynomial (~1 ulp), and 2ⁿ built in the exponent bits. Arguments are clamped
// to [−87, 88], so exp(−∞) comes out as ~1e−38 rather than 0: callers zero masked entries
// themselves, or use exp_vec_or_zero.
inline Vec exp_vec(Vec x) {
    using IntVec = xsimd::batch<std::int32_t>;
    x = xsimd::min(xsimd::max(x, Vec(-87.0f)), Vec(88.0f));
    const Vec magic(12582912.0f);  // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
    const Vec shifted = xsimd::fma(x, Vec(1.44269504088896341f), magic);
    const Vec n = shifted - magic;
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

// exp_vec, but exactly 0 below −87 (float's smallest normal is e^−87.3): a probability of an entry
// at −∞ (a masked class, a −∞ logit) must be 0, not 1e−38.
inline Vec exp_vec_or_zero(Vec x) {
    return xsimd::select(x < Vec(-87.0f), Vec(0.0f), exp_vec(x));
}

// Sums float vectors into a double: each lane adds at most kFlushEvery terms in float (relative
// error ≤ 16·2⁻²⁴ for non-negative terms), then the lanes are added to the double total. A row of
// 10⁴ softmax terms keeps float's 7 digits in its sum instead of losing ~2 of them.
class DoubleSum {
public:
    void add(Vec v) {
        partial_ += v;
        if (++count_ == kFlushEvery) flush();
    }
    void add(double x) { total_ += x; }
    double total() {
        flush();
        return total_;
    }

private:
    static constexpr int kFlushEvery = 16;
    void flush() {
        alignas(64) float lanes[kVecWidth];
        partial_.store_aligned(lanes);
        for (std::size_t i = 0; i < kVecWidth; ++i) total_ += lanes[i];
        partial_ = Vec(0.0f);
        count_ = 0;
    }
    Vec partial_ = Vec(0.0f);
    int count_ = 0;
    double total_ = 0;
};

}  // namespace kexue::simd
