// simd::vexp_f32 (core/vexp_f32.hpp) against double-precision std::exp over its whole input range
// [−87, 88]: every 127th float bit pattern of the range (about 17.6 million arguments, every
// exponent and a spread of mantissas), both ends, and the values around 0. The error is measured
// in ulp of the float nearest the true value. Also simd::vtanh_f32 (core/vector_math.hpp, the
// attention softcap) against std::tanh.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "core/simd.hpp"
#include "core/vector_math.hpp"
#include "core/vexp_f32.hpp"

namespace kexue {
namespace {

using simd::kVecWidth;
using simd::Vec;

float from_bits(std::uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

std::uint32_t to_bits(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return bits;
}

// |got − exp(x)| in units of the float spacing at exp(x) (exp(x) ≥ exp(−87) > FLT_MIN: normal).
double ulp_error(float got, float x) {
    const double want = std::exp(static_cast<double>(x));
    const double ulp = std::ldexp(1.0, std::ilogb(want) - 23);
    return std::fabs(static_cast<double>(got) - want) / ulp;
}

struct Sweep {
    Vec (*function)(Vec) = simd::vexp_f32;
    double max_ulp = 0.0;
    float worst = 0.0f;
    std::uint64_t count = 0;
    alignas(64) float lanes[kVecWidth] = {};
    std::size_t filled = 0;

    void add(float x) {
        lanes[filled++] = x;
        if (filled == kVecWidth) flush();
    }
    void flush() {
        alignas(64) float out[kVecWidth];
        function(Vec::load_aligned(lanes)).store_aligned(out);
        for (std::size_t i = 0; i < filled; ++i) {
            const double e = ulp_error(out[i], lanes[i]);
            if (e > max_ulp) {
                max_ulp = e;
                worst = lanes[i];
            }
        }
        count += filled;
        filled = 0;
    }
    // Every `stride`-th bit pattern from the float `from` to the float `to` of the same sign
    // (bit patterns grow with |x|), plus `to` itself.
    void range(float from, float to, std::uint32_t stride) {
        for (std::uint64_t bits = to_bits(from); bits <= to_bits(to); bits += stride)
            add(from_bits(static_cast<std::uint32_t>(bits)));
        add(to);
    }
};

// Bound: 2 ulp. Cephes' expf is documented at about 1 ulp peak (expf.c: "peak relative error
// 1.0e−7" over ±MAXLOGF); the Cody–Waite reduction leaves f exact to ~2⁻³⁵, the degree-5 minimax
// polynomial is good to ~1.2e−8 on |f| ≤ ln2/2, and the final product with 2ⁿ is exact, so the
// rounding of the Horner steps dominates: measured 1.263 ulp (at x = 15.6425695) both natively with
// AVX-512's fused multiply-adds and in WASM SIMD without them. 2 leaves room for another ISA's
// rounding, not for a wrong coefficient or reduction constant (those cost 10+ ulp).
TEST(VectorExp, WithinTwoUlpOfDoubleExpOverTheWholeRange) {
    Sweep sweep;
    sweep.range(0.0f, simd::kVexpMax, 127);                  // [0, 88]
    sweep.range(-0.0f, simd::kVexpMin, 127);                 // [−87, −0] (sign bit set: −0 first)
    for (int i = -1000; i <= 1000; ++i) sweep.add(static_cast<float>(i) * 1e-3f);  // around 0
    sweep.add(std::numeric_limits<float>::denorm_min());
    sweep.add(-std::numeric_limits<float>::min());
    sweep.flush();
    RecordProperty("max_ulp", std::to_string(sweep.max_ulp));
    RecordProperty("worst_argument", std::to_string(sweep.worst));
    RecordProperty("arguments", std::to_string(sweep.count));
    std::printf("vexp_f32: max error %.3f ulp at x = %.9g over %llu arguments in [%g, %g]\n", sweep.max_ulp,
                static_cast<double>(sweep.worst), static_cast<unsigned long long>(sweep.count),
                static_cast<double>(simd::kVexpMin), static_cast<double>(simd::kVexpMax));
    EXPECT_GT(sweep.count, 17000000u);
    EXPECT_LE(sweep.max_ulp, 2.0);
}

// exp(0) = 1 exactly, and the clamp: arguments below −87 (−∞ included: masked scores) give
// exp(−87), a small positive normal float, never 0, NaN or a denormal; above 88 give exp(88).
TEST(VectorExp, ExactAtZeroAndClampedOutsideTheRange) {
    alignas(64) float in[kVecWidth], out[kVecWidth];
    for (std::size_t i = 0; i < kVecWidth; ++i) in[i] = 0.0f;
    simd::vexp_f32(Vec::load_aligned(in)).store_aligned(out);
    EXPECT_EQ(out[0], 1.0f);
    const float low[] = {-std::numeric_limits<float>::infinity(), -1000.0f, -87.5f};
    for (float x : low) {
        simd::vexp_f32(Vec(x)).store_aligned(out);
        simd::vexp_f32(Vec(simd::kVexpMin)).store_aligned(in);
        EXPECT_EQ(out[0], in[0]) << x;
        EXPECT_GE(out[0], std::numeric_limits<float>::min()) << x;
    }
    simd::vexp_f32(Vec(std::numeric_limits<float>::infinity())).store_aligned(out);
    EXPECT_TRUE(std::isfinite(out[0]));
    EXPECT_NEAR(out[0] / std::exp(88.0), 1.0, 1e-6);
}

// vtanh_f32: every 128th float bit pattern of [0, 20] and of [−20, −0] (tanh is odd; beyond 9.01 it
// rounds to ±1 in float). Bounds: 4 ulp of the true value where |tanh x| ≥ 2⁻¹² (the polynomial
// branch below 0.625 is Cephes' minimax fit, about 2 ulp; above, 1 − 2/(e^{2|x|} + 1) adds the
// error of vexp_f32 and one division), and an absolute 2⁻²⁴·|x| below, where the result is x to
// within its own rounding.
TEST(VectorTanh, WithinFourUlpOfDoubleTanh) {
    double max_ulp = 0.0;
    float worst = 0.0f;
    std::uint64_t count = 0;
    alignas(64) float in[kVecWidth], out[kVecWidth];
    auto check = [&](std::size_t filled) {
        simd::vtanh_f32(Vec::load_aligned(in)).store_aligned(out);
        for (std::size_t i = 0; i < filled; ++i) {
            const double want = std::tanh(static_cast<double>(in[i]));
            const float nearest = static_cast<float>(want);
            const double ulp = std::nextafter(std::fabs(nearest), std::numeric_limits<float>::infinity()) -
                               std::fabs(nearest);
            const double error = std::fabs(static_cast<double>(out[i]) - want);
            if (std::fabs(want) < 0x1p-12) {
                EXPECT_LE(error, 0x1p-24 * std::fabs(in[i]) + 1e-45) << in[i];
            } else if (error / ulp > max_ulp) {
                max_ulp = error / ulp;
                worst = in[i];
            }
        }
        count += filled;
    };
    for (float sign : {1.0f, -1.0f}) {
        std::size_t filled = 0;
        for (std::uint64_t bits = 0; bits <= to_bits(20.0f); bits += 128) {
            in[filled++] = sign * from_bits(static_cast<std::uint32_t>(bits));
            if (filled == kVecWidth) check(filled), filled = 0;
        }
        if (filled) check(filled);
    }
    std::printf("vtanh_f32: max error %.3f ulp at x = %.9g over %llu arguments in [-20, 20]\n", max_ulp,
                static_cast<double>(worst), static_cast<unsigned long long>(count));
    EXPECT_GT(count, 15000000u);
    EXPECT_LE(max_ulp, 4.0);
    simd::vtanh_f32(Vec(100.0f)).store_aligned(out);
    EXPECT_EQ(out[0], 1.0f);
    simd::vtanh_f32(Vec(-std::numeric_limits<float>::infinity())).store_aligned(out);
    EXPECT_EQ(out[0], -1.0f);
}

// simd::vexp_softmax_f32, the forward softmax's exp (2^t with t = x·log₂e, no two-part
// reduction): rounding t to float moves it by up to |t|·2⁻²⁴, which changes 2^t by a relative
// |t|·2⁻²⁴·ln2, up to |t|·ln2 ulp where the result's mantissa is near 1; on top of the
// polynomial's ~2 ulp. The bound is 3 + 0.8·|t| ulp over [−87, 8], the arguments the softmax gives
// it (logits minus a running max that lags the true max by at most 8): ~3 ulp near x = 0, where the
// weights that matter are, and ~100 ulp (6·10⁻⁶ relative) at weights of 10⁻³⁸.
TEST(VectorExp, SoftmaxExpWithinItsBoundOverItsRange) {
    double worst_excess = -1e9, worst_x = 0.0;
    std::uint64_t count = 0;
    auto check = [&](float x) {
        alignas(64) float out[kVecWidth];
        simd::vexp_softmax_f32(Vec(x)).store_aligned(out);
        const double t = std::fabs(static_cast<double>(x)) * 1.4426950408889634;
        const double excess = ulp_error(out[0], x) - (3.0 + 0.8 * t);
        if (excess > worst_excess) {
            worst_excess = excess;
            worst_x = x;
        }
        ++count;
    };
    for (std::uint64_t bits = to_bits(0.0f); bits <= to_bits(8.0f); bits += 1021) check(from_bits(static_cast<std::uint32_t>(bits)));
    for (std::uint64_t bits = to_bits(-0.0f); bits <= to_bits(-87.0f); bits += 1021) check(from_bits(static_cast<std::uint32_t>(bits)));
    for (int i = -1000; i <= 1000; ++i) check(static_cast<float>(i) * 1e-3f);
    std::printf("vexp_softmax_f32: worst excess over 3 + 0.8·|t| ulp: %.3f at x = %.9g over %llu arguments\n",
                worst_excess, worst_x, static_cast<unsigned long long>(count));
    EXPECT_GT(count, 2000000u);
    EXPECT_LE(worst_excess, 0.0);
    // exp(0) = 1 exactly; −∞ (masked) and anything below −126·ln2 give 2^−126 (callers that need
    // zero there flush, as the attention does), never NaN.
    alignas(64) float out[kVecWidth];
    simd::vexp_softmax_f32(Vec(0.0f)).store_aligned(out);
    EXPECT_EQ(out[0], 1.0f);
    simd::vexp_softmax_f32(Vec(-std::numeric_limits<float>::infinity())).store_aligned(out);
    EXPECT_FALSE(std::isnan(out[0]));
    EXPECT_LE(out[0], 1.2e-38f);
}

}  // namespace
}  // namespace kexue
