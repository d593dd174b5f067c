// Shapes: x, y [batch, seq, heads, dim] (see rope.hpp).
//
// For each token the cos/sin of its angles are computed once (in double, rounded to float) and
// applied to the token's vectors in every batch entry and head; the O(seq·dim) trigonometry is
// thus shared by batch·heads vectors. The rotation itself is the pairwise form of kexue.fm/8265:
// y = x ⊙ cos + rotate(x) ⊙ sin.
#include "attention/rope.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "attention/rope_kernel.hpp"

namespace kexue {
namespace {

void require(bool condition, const std::string& message) {
    if (!condition) throw std::invalid_argument("rope: " + message);
}

// An independently rotated part of a head vector: its first dim, its pair count, and its first
// entry in the token's cos/sin table (2D split rotates two halves with one table).
struct Segment {
    std::size_t first_dim;
    std::size_t pairs;
    std::size_t first_pair;
};

// Rotates the vectors of token `token` in every batch entry and head, segment by segment.

void rotate_token(const RopeShape& shape, std::size_t token, const Segment* segments,
                  std::size_t segment_count, RopeLayout layout, const float* cos_table,
                  const float* sin_table, std::size_t rotated_dims, const float* x, float* y) {
    for (std::size_t b = 0; b < shape.batch; ++b) {
        const std::size_t base_offset = (b * shape.seq + token) * shape.heads * shape.dim;
        for (std::size_t h = 0; h < shape.heads; ++h) {
            const float* in = x + base_offset + h * shape.dim;
            float* out = y + base_offset + h * shape.dim;
            for (std::size_t s = 0; s < segment_count; ++s) {
                const Segment& seg = segments[s];
                rope_detail::rotate_segment(in + seg.first_dim, out + seg.first_dim, seg.pairs, layout,
                                            cos_table + seg.first_pair, sin_table + seg.first_pair);
            }
            // Partial rotary: the dims past the rotated ones pass through.
            if (in != out && rotated_dims < shape.dim)
                std::memcpy(out + rotated_dims, in + rotated_dims,
                            (shape.dim - rotated_dims) * sizeof(float));
        }
    }
}

}  // namespace

std::vector<double> rope_frequencies(std::size_t rotary_dim, double base) {
    std::vector<double> frequencies(rotary_dim / 2);
    for (std::size_t i = 0; i < frequencies.size(); ++i)
        frequencies[i] = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rotary_dim));
    return frequencies;
}

void rope_apply(const RopeShape& shape, const RopeOptions& options, const float* x, float* y) {
    const std::size_t rotary_dim = options.rotary_dim == 0 ? shape.dim : options.rotary_dim;
    require(shape.dim % 2 == 0, "dim must be even, got " + std::to_string(shape.dim));
    require(rotary_dim % 2 == 0 && rotary_dim <= shape.dim,
            "rotary_dim must be even and at most dim, got " + std::to_string(rotary_dim));
    require(options.base > 0.0 && std::isfinite(options.base), "base must be positive");
    const std::size_t pairs = rotary_dim / 2;
    const std::vector<double> frequencies = rope_frequencies(rotary_dim, options.base);
    std::vector<float> cos_table(pairs), sin_table(pairs);
    const Segment segment{0, pairs, 0};
    for (std::size_t t = 0; t < shape.seq; ++t) {
        const double position =
            options.positions ? options.positions[t] : options.position_offset + static_cast<double>(t);
        require(std::isfinite(position), "positions must be finite");
        rope_detail::fill_cos_sin(position, frequencies.data(), pairs, options.inverse, cos_table.data(),
                                  sin_table.data(), options.float32_angles);
        rotate_token(shape, t, &segment, 1, options.layout, cos_table.data(), sin_table.data(), rotary_dim,
                     x, y);
    }
}

void rope2d_apply(const RopeShape& shape, const Rope2dOptions& options, const float* x, float* y) {
    require(shape.dim % 4 == 0, "2D RoPE needs dim to be a multiple of 4, got " + std::to_string(shape.dim));
    require(options.base > 0.0 && std::isfinite(options.base), "base must be positive");
    require(options.positions != nullptr || options.grid_width > 0,
            "2D RoPE needs positions or a grid width");
    const std::size_t pairs = shape.dim / 2;
    const bool split = options.mode == Rope2dMode::split;
    // split: each half is a RoPE of dimension dim/2, so both halves share the dim/2 schedule.
    // tie: one dim-dimensional schedule whose even pairs follow x and odd pairs follow y.
    const std::vector<double> frequencies =
        split ? rope_frequencies(shape.dim / 2, options.base) : rope_frequencies(shape.dim, options.base);
    std::vector<double> x_frequencies(pairs, 0.0), y_frequencies(pairs, 0.0);
    for (std::size_t i = 0; i < pairs; ++i) {
        if (split) {
            (i < pairs / 2 ? x_frequencies[i] : y_frequencies[i]) = frequencies[i % (pairs / 2)];
        } else {
            (i % 2 == 0 ? x_frequencies[i] : y_frequencies[i]) = frequencies[i];
        }
    }
    std::vector<float> cos_table(pairs), sin_table(pairs);
    const Segment split_segments[2] = {{0, pairs / 2, 0}, {shape.dim / 2, pairs / 2, pairs / 2}};
    const Segment tie_segment{0, pairs, 0};
    const double sign = options.inverse ? -1.0 : 1.0;
    for (std::size_t t = 0; t < shape.seq; ++t) {
        double x_position, y_position;
        if (options.positions) {
            x_position = options.positions[2 * t];
            y_position = options.positions[2 * t + 1];
        } else {
            x_position = static_cast<double>(t % options.grid_width);
            y_position = static_cast<double>(t / options.grid_width);
        }
        require(std::isfinite(x_position) && std::isfinite(y_position), "positions must be finite");
        for (std::size_t i = 0; i < pairs; ++i) {
            const double angle = sign * (x_position * x_frequencies[i] + y_position * y_frequencies[i]);
            cos_table[i] = static_cast<float>(std::cos(angle));
            sin_table[i] = static_cast<float>(std::sin(angle));
        }
        if (split)
            rotate_token(shape, t, split_segments, 2, options.layout, cos_table.data(), sin_table.data(),
                         shape.dim, x, y);
        else
            rotate_token(shape, t, &tie_segment, 1, options.layout, cos_table.data(), sin_table.data(),
                         shape.dim, x, y);
    }
}

void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout, double base,
                                  double position) {
    const std::size_t pairs = rotary_dim / 2;
    for (std::size_t i = 0; i < pairs; ++i) {
        const double angle = position * std::pow(base, -2.0 * static_cast<double>(i) / rotary_dim);
        const double c = std::cos(angle), s = std::sin(angle);
        const std::size_t first = layout == RopeLayout::interleaved ? 2 * i : i;
        const std::size_t second = layout == RopeLayout::interleaved ? 2 * i + 1 : i + pairs;
        const double a = vector[first], b = vector[second];
        vector[first] = a * c - b * s;
        vector[second] = b * c + a * s;
    }
}

}  // namespace kexue
