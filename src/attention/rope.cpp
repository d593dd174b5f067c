// Shapes: x, y [batch, seq, heads, dim] (see rope.hpp).
//
// For each token the cos/sin of its angles are computed once (in double, rounded to float) and
// applied to the token's vectors in every batch entry and head; the O(seq·dim) trigonometry is
// thus shared by batch·heads vectors. The rotation itself is the pairwise form of kexue.fm/8265:
// y = x ⊙ cos + rotate(x) ⊙ sin.
#include "attention/rope.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <string>

#include "attention/rope_kernel.hpp"
#include "core/validate.hpp"

namespace kexue {
namespace {

// Every entry of positions[0 : count] finite.
Error positions_finite(const double* positions, std::size_t count) {
    if (!positions) return {};
    for (std::size_t i = 0; i < count; ++i)
        if (Error e = finite("positions[" + std::to_string(i) + "]", positions[i])) return e;
    return {};
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

Error rope_rules(const char* dim_name, std::size_t dim, const char* base_name, double base,
                 const char* rotary_dim_name, std::size_t rotary_dim) {
    const char* const why = "RoPE rotates pairs of dims";
    if (Error e = even(dim_name, dim, why)) return e;
    if (Error e = greater_than(base_name, base, 0.0)) return e;
    if (rotary_dim == 0) return {};
    if (Error e = even(rotary_dim_name, rotary_dim, why)) return e;
    return at_most(rotary_dim_name, rotary_dim, dim, "dim");
}

Error rope_validate(const RopeShape& shape, const RopeOptions& options) {
    if (Error e = positive("batch", shape.batch)) return e;
    if (Error e = positive("seq", shape.seq)) return e;
    if (Error e = positive("heads", shape.heads)) return e;
    if (Error e = positive("dim", shape.dim)) return e;
    if (Error e = rope_rules("dim", shape.dim, "base", options.base, "rotaryDim", options.rotary_dim)) return e;
    if (Error e = buffer_fits("x", {{"batch", shape.batch}, {"seq", shape.seq}, {"heads", shape.heads},
                                    {"dim", shape.dim}}))
        return e;
    return positions_finite(options.positions, shape.seq);
}

RopeOptions rope_resolve(const RopeShape& shape, RopeOptions options) {
    if (options.rotary_dim == 0) options.rotary_dim = shape.dim;
    return options;
}

std::vector<float> rope_cos_sin_table(const RopeShape& shape, const RopeOptions& options) {
    const std::size_t rotary_dim = options.rotary_dim == 0 ? shape.dim : options.rotary_dim;
    const std::size_t pairs = rotary_dim / 2;
    const std::vector<double> frequencies = rope_frequencies(rotary_dim, options.base);
    std::vector<float> cos_table(pairs), sin_table(pairs), table(2 * shape.seq * pairs);
    for (std::size_t t = 0; t < shape.seq; ++t) {
        const double position =
            options.positions ? options.positions[t] : options.position_offset + static_cast<double>(t);
        rope_detail::fill_cos_sin(position, frequencies.data(), pairs, options.inverse, cos_table.data(),
                                  sin_table.data(), options.float32_angles);
        for (std::size_t i = 0; i < pairs; ++i) {
            table[2 * (t * pairs + i)] = cos_table[i];
            table[2 * (t * pairs + i) + 1] = sin_table[i];
        }
    }
    return table;
}

void rope_apply(const RopeShape& shape, const RopeOptions& options, const float* x, float* y) {
    assert(!rope_validate(shape, options));
    const std::size_t rotary_dim = options.rotary_dim == 0 ? shape.dim : options.rotary_dim;
    const std::size_t pairs = rotary_dim / 2;
    const std::vector<double> frequencies = rope_frequencies(rotary_dim, options.base);
    std::vector<float> cos_table(pairs), sin_table(pairs);
    const Segment segment{0, pairs, 0};
    for (std::size_t t = 0; t < shape.seq; ++t) {
        const double position =
            options.positions ? options.positions[t] : options.position_offset + static_cast<double>(t);
        rope_detail::fill_cos_sin(position, frequencies.data(), pairs, options.inverse, cos_table.data(),
                                  sin_table.data(), options.float32_angles);
        rotate_token(shape, t, &segment, 1, options.layout, cos_table.data(), sin_table.data(), rotary_dim,
                     x, y);
    }
}

Error rope2d_validate(const Rope2dShape& shape, const Rope2dOptions& options) {
    if (Error e = positive("batch", shape.batch)) return e;
    if (Error e = positive("height", shape.height)) return e;
    if (Error e = positive("width", shape.width)) return e;
    if (Error e = positive("heads", shape.heads)) return e;
    if (Error e = positive("dim", shape.dim)) return e;
    if (shape.dim % 4 != 0)
        return range_error("dim", "a multiple of 4 (two rotary halves of even size)",
                           js_number(std::uint64_t{shape.dim}));
    if (Error e = greater_than("base", options.base, 0.0)) return e;
    if (Error e = buffer_fits("x", {{"batch", shape.batch}, {"height", shape.height}, {"width", shape.width},
                                    {"heads", shape.heads}, {"dim", shape.dim}}))
        return e;
    return positions_finite(options.positions, 2 * checked_product({shape.height, shape.width}));
}

namespace {

// 2D RoPE's per-token angles, shared by rope2d_apply and the WebGPU table (rope2d_cos_sin_table):
// the frequency of each of the dim/2 pairs along x and along y (one of the two is 0).
struct Rope2dSchedule {
    std::vector<double> x_frequencies, y_frequencies;
};

Rope2dSchedule rope2d_schedule(const Rope2dShape& grid, const Rope2dOptions& options) {
    const std::size_t pairs = grid.dim / 2;
    const bool split = options.mode == Rope2dMode::split;
    // split: each half is a RoPE of dimension dim/2, so both halves share the dim/2 schedule.
    // tie: one dim-dimensional schedule whose even pairs follow x and odd pairs follow y.
    const std::vector<double> frequencies =
        split ? rope_frequencies(grid.dim / 2, options.base) : rope_frequencies(grid.dim, options.base);
    Rope2dSchedule schedule{std::vector<double>(pairs, 0.0), std::vector<double>(pairs, 0.0)};
    for (std::size_t i = 0; i < pairs; ++i) {
        if (split) {
            (i < pairs / 2 ? schedule.x_frequencies[i] : schedule.y_frequencies[i]) = frequencies[i % (pairs / 2)];
        } else {
            (i % 2 == 0 ? schedule.x_frequencies[i] : schedule.y_frequencies[i]) = frequencies[i];
        }
    }
    return schedule;
}

// cos and sin of token t's dim/2 angles (± with inverse), rounded to float.
void rope2d_token_cos_sin(const Rope2dShape& grid, const Rope2dOptions& options, const Rope2dSchedule& schedule,
                          std::size_t t, float* cos_table, float* sin_table) {
    double x_position, y_position;
    if (options.positions) {
        x_position = options.positions[2 * t];
        y_position = options.positions[2 * t + 1];
    } else {
        x_position = static_cast<double>(t % grid.width);
        y_position = static_cast<double>(t / grid.width);
    }
    const double sign = options.inverse ? -1.0 : 1.0;
    for (std::size_t i = 0; i < grid.dim / 2; ++i) {
        const double angle = sign * (x_position * schedule.x_frequencies[i] + y_position * schedule.y_frequencies[i]);
        cos_table[i] = static_cast<float>(std::cos(angle));
        sin_table[i] = static_cast<float>(std::sin(angle));
    }
}

}  // namespace

void rope2d_apply(const Rope2dShape& grid, const Rope2dOptions& options, const float* x, float* y) {
    assert(!rope2d_validate(grid, options));
    const RopeShape shape{grid.batch, grid.height * grid.width, grid.heads, grid.dim};
    const std::size_t pairs = shape.dim / 2;
    const bool split = options.mode == Rope2dMode::split;
    const Rope2dSchedule schedule = rope2d_schedule(grid, options);
    std::vector<float> cos_table(pairs), sin_table(pairs);
    const Segment split_segments[2] = {{0, pairs / 2, 0}, {shape.dim / 2, pairs / 2, pairs / 2}};
    const Segment tie_segment{0, pairs, 0};
    for (std::size_t t = 0; t < shape.seq; ++t) {
        rope2d_token_cos_sin(grid, options, schedule, t, cos_table.data(), sin_table.data());
        if (split)
            rotate_token(shape, t, split_segments, 2, options.layout, cos_table.data(), sin_table.data(),
                         shape.dim, x, y);
        else
            rotate_token(shape, t, &tie_segment, 1, options.layout, cos_table.data(), sin_table.data(),
                         shape.dim, x, y);
    }
}

std::vector<float> rope2d_cos_sin_table(const Rope2dShape& grid, const Rope2dOptions& options) {
    const std::size_t seq = grid.height * grid.width, pairs = grid.dim / 2;
    const Rope2dSchedule schedule = rope2d_schedule(grid, options);
    std::vector<float> cos_table(pairs), sin_table(pairs), table(2 * seq * pairs);
    for (std::size_t t = 0; t < seq; ++t) {
        rope2d_token_cos_sin(grid, options, schedule, t, cos_table.data(), sin_table.data());
        for (std::size_t i = 0; i < pairs; ++i) {
            table[2 * (t * pairs + i)] = cos_table[i];
            table[2 * (t * pairs + i) + 1] = sin_table[i];
        }
    }
    return table;
}

}  // namespace kexue
