// The one seeded random number generator of the library (nn, gan and optim draw from it):
// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators", ACM TOMS
// 2021; prng.di.unimi.it) seeded through splitmix64, uniforms with 53 random bits, normals by
// Box–Muller in double with both outputs of each pair used.
//
// The integer stream is the same on every platform. uniform() is exact integer-to-double
// arithmetic, so it is too; normal() goes through the platform's log/sin/cos, so native and WASM
// draws can differ in the last bits of a double (float32 consumers almost never see it).
//
// Header-only and inline: every part of the library links this one definition (two classes with
// one name in one library would be an ODR violation).
#pragma once

#include <cmath>
#include <cstdint>

namespace kexue {

class Xoshiro256 {
public:
    explicit Xoshiro256(std::uint64_t seed) {
        // splitmix64 spreads any seed (0 included) over the 256-bit state, as the authors advise.
        for (auto& word : state_) word = splitmix64(seed);
    }

    std::uint64_t next() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform on [0, 1): the top 53 bits as a multiple of 2^-53.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    // Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double u1 = 1.0 - uniform();  // in (0, 1], so the log is finite
        const double u2 = uniform();
        const double radius = std::sqrt(-2.0 * std::log(u1));
        const double angle = 6.283185307179586476925 * u2;  // 2π, the same double as 2.0 * π
        spare_ = radius * std::sin(angle);
        has_spare_ = true;
        return radius * std::cos(angle);
    }

private:
    static std::uint64_t splitmix64(std::uint64_t& x) {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    std::uint64_t state_[4];
    double spare_ = 0.0;
    bool has_spare_ = false;
};

}  // namespace kexue
