// Elementwise math on SIMD vectors that the losses share (built on core/vexp_f32.hpp, the one
// vector exp), plus the one way a row of float terms is summed into a double.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/simd.hpp"
#include "core/vexp_f32.hpp"

namespace kexue::simd {

// vexp_f32, but exactly 0 below −87 (float's smallest normal is e^−87.3): a probability of an entry
// at −∞ (a masked class, a −∞ logit) must be 0, not 1e−38.
inline Vec exp_vec_or_zero(Vec x) {
    return xsimd::select(x < Vec(kVexpMin), Vec(0.0f), vexp_f32(x));
}

// tanh on a vector (the attention softcap, attention.hpp), after Cephes' tanhf (S. L. Moshier,
// Cephes Math Library, tanhf.c): for |x| < 0.625 its odd minimax polynomial x + x·z·P(z), z = x²,
// which keeps the relative accuracy near 0 that 1 − 2/(e^{2|x|} + 1) would lose to cancellation;
// above, that formula, through vexp_f32 (clamped at 88, so a large |x| gives ±1 and never
// Infinity/Infinity). Accuracy against double std::tanh: tests/core/vexp_test.cpp.
inline Vec vtanh_f32(Vec x) {
    const Vec a = xsimd::abs(x);
    const Vec z = x * x;
    Vec p(-5.70498872745e-3f);
    p = xsimd::fma(p, z, Vec(2.06390887954e-2f));
    p = xsimd::fma(p, z, Vec(-5.37397155531e-2f));
    p = xsimd::fma(p, z, Vec(1.33314422036e-1f));
    p = xsimd::fma(p, z, Vec(-3.33332819422e-1f));
    const Vec small = xsimd::fma(p * z, x, x);
    const Vec large_abs = Vec(1.0f) - Vec(2.0f) / (vexp_f32(a + a) + Vec(1.0f));
    const Vec large = xsimd::select(x < Vec(0.0f), -large_abs, large_abs);
    return xsimd::select(a < Vec(0.625f), small, large);
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
