// Internal to src/attention: the float rotation shared by rope.cpp and the fused attention.
//
// A vector segment of 2·pairs floats is rotated pair by pair with precomputed cos/sin of each
// pair's angle (angles formed in double by the callers, see rope.hpp). Pair i is (2i, 2i+1) in the
// interleaved layout and (i, i + pairs) in the half layout. `in` may equal `out`.
#pragma once

#include <cmath>
#include <cstddef>

#include "attention/rope.hpp"

namespace kexue {
namespace rope_detail {

// `inverse` rotates by the negated angles (sin → −sin), i.e. applies R_mᵀ = R_{−m}.
inline void rotate_segment(const float* in, float* out, std::size_t pairs, RopeLayout layout,
                           const float* cos_table, const float* sin_table, bool inverse = false) {
    const float sign = inverse ? -1.0f : 1.0f;
    if (layout == RopeLayout::interleaved) {
        for (std::size_t i = 0; i < pairs; ++i) {
            const float a = in[2 * i], b = in[2 * i + 1], c = cos_table[i], s = sign * sin_table[i];
            out[2 * i] = a * c - b * s;
            out[2 * i + 1] = b * c + a * s;
        }
    } else {
        for (std::size_t i = 0; i < pairs; ++i) {
            const float a = in[i], b = in[i + pairs], c = cos_table[i], s = sign * sin_table[i];
            out[i] = a * c - b * s;
            out[i + pairs] = b * c + a * s;
        }
    }
}

// a·cos and a·sin of position·frequency[i] for every pair, negated when inverse; a is the
// attention factor (YaRN; 1 otherwise), folded into the table as HF folds it into cos and sin. The
// angle is formed in double and only the products are rounded to float, unless float32_angles asks
// for the product float(position)·float(θ_i) rounded to float32 first (what HF transformers
// computes; parity with checkpoints tuned under it).
inline void fill_cos_sin(double position, const double* frequencies, std::size_t pairs, bool inverse,
                         float* cos_table, float* sin_table, bool float32_angles = false,
                         double attention_factor = 1.0) {
    const double sign = inverse ? -1.0 : 1.0;
    for (std::size_t i = 0; i < pairs; ++i) {
        const double angle =
            float32_angles
                ? sign * static_cast<double>(static_cast<float>(position) * static_cast<float>(frequencies[i]))
                : sign * position * frequencies[i];
        cos_table[i] = static_cast<float>(attention_factor * std::cos(angle));
        sin_table[i] = static_cast<float>(attention_factor * std::sin(angle));
    }
}

}  // namespace rope_detail
}  // namespace kexue
