// core/finite.hpp: the first NaN or ±∞ of a float32 or float16 buffer, at every position of
// buffers longer than a few vectors (the vector loop and the tail), for each kind of non-finite
// value, and none in buffers of the largest finite values, subnormals and signed zeros.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "core/finite.hpp"

namespace kexue {
namespace {

TEST(FirstNonFinite, Float32EveryPositionAndKind) {
    const float bad[] = {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                         std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN()};
    const float fine[] = {std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(), -0.0f, 0.0f, 1.5f};
    for (std::size_t count : {0u, 1u, 7u, 37u}) {
        std::vector<float> x(count);
        for (std::size_t i = 0; i < count; ++i) x[i] = fine[i % 6];
        EXPECT_EQ(first_non_finite_f32(x.data(), count), count);
        for (std::size_t at = 0; at < count; ++at)
            for (float value : bad) {
                std::vector<float> y = x;
                y[at] = value;
                if (at + 3 < count) y[at + 3] = value;  // a later one does not hide the first
                EXPECT_EQ(first_non_finite_f32(y.data(), count), at) << "count " << count << " at " << at;
            }
    }
}

TEST(FirstNonFinite, Float16EveryPositionAndKind) {
    const std::uint16_t bad[] = {0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x7c01};
    const std::uint16_t fine[] = {0x7bff, 0xfbff, 0x0001, 0x8000, 0x0000, 0x3c00};
    for (std::size_t count : {0u, 1u, 9u, 45u}) {
        std::vector<std::uint16_t> x(count);
        for (std::size_t i = 0; i < count; ++i) x[i] = fine[i % 6];
        EXPECT_EQ(first_non_finite_f16(x.data(), count), count);
        for (std::size_t at = 0; at < count; ++at)
            for (std::uint16_t value : bad) {
                std::vector<std::uint16_t> y = x;
                y[at] = value;
                if (at + 5 < count) y[at + 5] = value;
                EXPECT_EQ(first_non_finite_f16(y.data(), count), at) << "count " << count << " at " << at;
            }
    }
}

}  // namespace
}  // namespace kexue
