// core/float16.hpp against a double-precision reference written from the IEEE 754 definition of
// binary16, over all 65536 bit patterns: the scalar and the SIMD f16 → f32 (bit for bit, NaN
// payloads included), the f32 → f16 round trip, and f32 → f16 rounding at and around every
// midpoint between neighbouring f16s (ties to even), at the overflow threshold and on NaN.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "core/float16.hpp"

namespace kexue {
namespace {

// (−1)^s · m·2^−24 (e = 0), (−1)^s · (1 + m/1024)·2^(e−15) (e = 1 … 30), ±∞ / NaN (e = 31).
double reference_value(std::uint16_t h) {
    const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double magnitude;
    if (exponent == 0x1f) magnitude = mantissa ? std::numeric_limits<double>::quiet_NaN() : INFINITY;
    else if (exponent == 0) magnitude = std::ldexp(mantissa, -24);
    else magnitude = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
    return sign ? -magnitude : magnitude;
}

bool is_nan_bits(std::uint16_t h) { return ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0; }

// The reference's float: NaNs keep sign and payload (mantissa << 13), as the converters promise.
std::uint32_t reference_f32_bits(std::uint16_t h) {
    if (is_nan_bits(h))
        return (static_cast<std::uint32_t>(h & 0x8000) << 16) | 0x7f800000u | (static_cast<std::uint32_t>(h & 0x3ff) << 13);
    return f32_bits(static_cast<float>(reference_value(h)));  // exact: every f16 is a float
}

TEST(Float16, ScalarToF32IsExactOnAll65536Patterns) {
    for (std::uint32_t h = 0; h < 65536; ++h)
        ASSERT_EQ(f32_bits(f16_to_f32(static_cast<std::uint16_t>(h))), reference_f32_bits(static_cast<std::uint16_t>(h)))
            << "f16 bits 0x" << std::hex << h;
}

TEST(Float16, SimdRowToF32IsExactOnAll65536Patterns) {
    // One row of every pattern, then odd offsets and lengths so the vector tail runs too.
    std::vector<std::uint16_t> all(65536);
    for (std::uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<std::uint16_t>(h);
    for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
        const std::size_t count = all.size() - offset - (offset ? 2 : 0);
        std::vector<float> out(count);
        f16_to_f32_row(all.data() + offset, out.data(), count);
        for (std::size_t i = 0; i < count; ++i)
            ASSERT_EQ(f32_bits(out[i]), reference_f32_bits(all[offset + i])) << "f16 bits 0x" << std::hex << all[offset + i];
    }
}

TEST(Float16, RoundTripKeepsEveryPattern) {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto bits = static_cast<std::uint16_t>(h);
        const std::uint16_t back = f32_to_f16(f16_to_f32(bits));
        if (is_nan_bits(bits)) {
            EXPECT_TRUE(is_nan_bits(back)) << std::hex << h;
            EXPECT_EQ(back & 0x8000, bits & 0x8000) << std::hex << h;
            EXPECT_NE(back & 0x200, 0) << "a quiet NaN, " << std::hex << h;
        } else {
            ASSERT_EQ(back, bits) << "f16 bits 0x" << std::hex << h;
        }
    }
}

// The reference rounding: the nearest of the two f16 neighbours of x, ties to the even mantissa;
// |x| ≥ 65520 (halfway from 65504 to 2^16) is ±∞.
std::uint16_t reference_round(double x, std::uint16_t below, std::uint16_t above) {
    const double lo = reference_value(below), hi = reference_value(above);
    if (std::fabs(x) >= 65520.0) return x > 0 ? 0x7c00 : 0xfc00;
    const double d_lo = std::fabs(x - lo), d_hi = std::fabs(hi - x);
    if (d_lo < d_hi) return below;
    if (d_hi < d_lo) return above;
    return (below & 1) ? above : below;
}

TEST(Float16, ToF16RoundsToNearestEvenAroundEveryMidpoint) {
    // Between each pair of neighbouring positive finite f16s (and from 65504 towards 2^16): the
    // midpoint (a tie), one float ulp either side of it, and a quarter and three quarters of the way.
    for (std::uint32_t h = 0; h < 0x7c00; ++h) {
        const auto below = static_cast<std::uint16_t>(h);
        const auto above = static_cast<std::uint16_t>(h + 1);
        const double lo = reference_value(below);
        const double hi = h + 1 == 0x7c00 ? 65536.0 : reference_value(above);
        const double mid = (lo + hi) / 2;  // exact in double, and a float (f16 spacing ≥ 2^−24)
        const float mid_f = static_cast<float>(mid);
        ASSERT_EQ(static_cast<double>(mid_f), mid);
        const float probes[] = {mid_f, std::nextafter(mid_f, 0.0f), std::nextafter(mid_f, INFINITY),
                                static_cast<float>(lo + (hi - lo) / 4), static_cast<float>(lo + 3 * (hi - lo) / 4)};
        for (const float x : probes) {
            const std::uint16_t want = reference_round(x, below, above);
            ASSERT_EQ(f32_to_f16(x), want) << "x = " << x << " between f16 0x" << std::hex << h << " and 0x" << h + 1;
            ASSERT_EQ(f32_to_f16(-x), static_cast<std::uint16_t>(want | 0x8000)) << "x = " << -x;
        }
    }
}

TEST(Float16, ToF16EdgeCases) {
    EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the tie rounds to the even "mantissa" of 2^16: ∞
    EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
    EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);                       // a tie with 0: even
    EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);  // just above: 2^−24
    EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
    const std::uint16_t nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
    EXPECT_TRUE(is_nan_bits(nan));
    std::vector<float> row{1.0f, -2.5f, 0.1f};
    std::vector<std::uint16_t> halves(3);
    f32_to_f16_row(row.data(), halves.data(), 3);
    EXPECT_EQ(halves, (std::vector<std::uint16_t>{0x3c00, 0xc100, 0x2e66}));
}

}  // namespace
}  // namespace kexue
