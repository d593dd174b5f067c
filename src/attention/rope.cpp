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

// An independently rotated part of a head vector: its first dim, its pair count, and its first
// entry in the token's cos/sin table (2D split rotates two halves with one table).
struct Segment {
    std::size_t first_dim;
    std::size_t pairs;
    std::size_t first_pair;
};

// Rotates the vectors of token `token` in batch entries batch_first … batch_end − 1 and every
// head, segment by segment.
void rotate_token(const RopeShape& shape, std::size_t token, std::size_t batch_first, std::size_t batch_end,
                  const Segment* segments, std::size_t segment_count, RopeLayout layout, const float* cos_table,
                  const float* sin_table, std::size_t rotated_dims, const float* x, float* y) {
    for (std::size_t b = batch_first; b < batch_end; ++b) {
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

// The position of batch entry b's token t.
double token_position(const RopeShape& shape, const RopeOptions& options, std::size_t b, std::size_t t) {
    if (!options.positions) return options.position_offset + static_cast<double>(t);
    return options.positions[options.positions_per_batch ? b * shape.seq + t : t];
}

}  // namespace

std::vector<double> rope_frequencies(std::size_t rotary_dim, double base) {
    std::vector<double> frequencies(rotary_dim / 2);
    for (std::size_t i = 0; i < frequencies.size(); ++i)
        frequencies[i] = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(rotary_dim));
    return frequencies;
}

// The rules of each type follow Hugging Face's modeling_rope_utils.py (_compute_*_parameters), the
// reference implementation the papers' models ship with; rope_spectrum_reference (rope_reference.cpp)
// is the same written as HF writes it, and tests/conformance/transformers holds HF's own numbers.
RopeSpectrum rope_spectrum(std::size_t rotary_dim, double base, const std::optional<RopeScaling>& scaling,
                           const std::vector<double>& inverse_frequencies) {
    assert(!rope_frequency_rules("", rotary_dim, scaling, inverse_frequencies));
    RopeSpectrum out;
    if (!inverse_frequencies.empty()) {
        out.inverse_frequencies = inverse_frequencies;
        return out;
    }
    if (!scaling) {
        out.inverse_frequencies = rope_frequencies(rotary_dim, base);
        return out;
    }
    const RopeScaling& s = *scaling;
    const double d = static_cast<double>(rotary_dim), factor = s.factor;
    const double two_pi = 2.0 * 3.14159265358979323846;
    std::vector<double>& theta = out.inverse_frequencies;
    switch (*s.type) {
        case RopeScalingType::linear:
            // Position interpolation (Chen et al. 2023): position m turns as m / factor would.
            theta = rope_frequencies(rotary_dim, base);
            for (double& t : theta) t /= factor;
            break;
        case RopeScalingType::ntk:
            // NTK-aware (bloc97; kexue.fm/9675, RoPE as a base-β number): raise the base so that the lowest
            // frequency is interpolated by `factor` while the highest (θ_0 = 1) is kept:
            // base' = base · factor^(d/(d−2)), hence θ_{d/2−1}' = θ_{d/2−1} / factor.
            theta = rope_frequencies(rotary_dim, base * std::pow(factor, d / (d - 2.0)));
            break;
        case RopeScalingType::yarn: {
            // NTK-by-parts (Peng et al. 2023, §3.2): pair i turns r_i = L / λ_i times over the
            // training length L (λ_i = 2π/θ_i). Pairs with r_i > β_fast are kept (extrapolated),
            // pairs with r_i < β_slow interpolated (θ_i / factor), a linear ramp in i between. The
            // ramp's ends are the dims where r = β, floored and ceiled as HF does.
            const double length = *s.original_max_position_embeddings;
            const auto correction_dim = [&](double rotations) {
                return d * std::log(length / (rotations * two_pi)) / (2.0 * std::log(base));
            };
            const double low = std::max(std::floor(correction_dim(s.beta_fast)), 0.0);
            double high = std::min(std::ceil(correction_dim(s.beta_slow)), d - 1.0);
            if (low == high) high += 0.001;  // HF: "prevent singularity"
            theta = rope_frequencies(rotary_dim, base);
            for (std::size_t i = 0; i < theta.size(); ++i) {
                const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
                theta[i] = theta[i] / factor * ramp + theta[i] * (1.0 - ramp);
            }
            // The attention factor √(1/t) = 0.1·ln(s) + 1 (§3.4, eq. 22): softmax temperature.
            out.attention_factor = s.attention_factor.value_or(0.1 * std::log(factor) + 1.0);
            return out;
        }
        case RopeScalingType::llama3: {
            // Llama 3.1 (Meta's reference apply_scaling; HF _compute_llama3_parameters): wavelengths
            // longer than L / low_freq_factor are interpolated, shorter than L / high_freq_factor
            // kept, and in between θ is blended with weight (L/λ − low) / (high − low).
            const double length = *s.original_max_position_embeddings;
            const double low_wavelength = length / s.low_freq_factor;
            const double high_wavelength = length / s.high_freq_factor;
            theta = rope_frequencies(rotary_dim, base);
            for (double& t : theta) {
                const double wavelength = two_pi / t;
                if (wavelength > low_wavelength) {
                    t /= factor;
                } else if (!(wavelength < high_wavelength)) {
                    const double smooth =
                        (length / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
                    t = (1.0 - smooth) * t / factor + smooth * t;
                }
            }
            break;
        }
    }
    out.attention_factor = s.attention_factor.value_or(1.0);
    return out;
}

Error rope_frequency_rules(const std::string& prefix, std::size_t rotary_dim,
                           const std::optional<RopeScaling>& scaling, const std::vector<double>& inverse_frequencies) {
    const std::string frequencies_name = prefix + "inverseFrequencies", scaling_name = prefix + "ropeScaling";
    if (!inverse_frequencies.empty()) {
        if (scaling)
            return range_error_text(frequencies_name, frequencies_name + " and " + scaling_name +
                                                          " cannot both be given (explicit frequencies are final)");
        if (inverse_frequencies.size() != rotary_dim / 2)
            return range_error_text(frequencies_name,
                                    frequencies_name + " must have length rotaryDim / 2 = " +
                                        js_number(std::uint64_t{rotary_dim / 2}) + ", received length " +
                                        js_number(std::uint64_t{inverse_frequencies.size()}));
        return finite_entries(frequencies_name, inverse_frequencies.data(), inverse_frequencies.size());
    }
    if (!scaling) return {};
    const RopeScaling& s = *scaling;
    const std::string field = scaling_name + ".";
    if (!s.type) return type_error(field + "type", enum_choices<RopeScalingType>(), "undefined");
    const std::string type = std::string("'") + enum_name(*s.type) + "'";
    if (Error e = at_least(field + "factor", s.factor, 1.0)) return e;
    if (s.attention_factor)
        if (Error e = greater_than(field + "attentionFactor", *s.attention_factor, 0.0)) return e;
    switch (*s.type) {
        case RopeScalingType::linear:
            return {};
        case RopeScalingType::ntk:
            if (rotary_dim > 2) return {};
            return range_error_text(field + "type", field + "type 'ntk' needs rotaryDim > 2 (the base is raised to "
                                                    "the power rotaryDim / (rotaryDim - 2)), received rotaryDim = " +
                                                        js_number(std::uint64_t{rotary_dim}));
        case RopeScalingType::yarn:
        case RopeScalingType::llama3:
            break;
    }
    const std::string length_name = field + "originalMaxPositionEmbeddings";
    if (!s.original_max_position_embeddings)
        return required(length_name, "the training length, a number > 0, for type " + type);
    if (Error e = greater_than(length_name, *s.original_max_position_embeddings, 0.0)) return e;
    if (*s.type == RopeScalingType::yarn) {
        if (Error e = greater_than(field + "betaFast", s.beta_fast, 0.0)) return e;
        return greater_than(field + "betaSlow", s.beta_slow, 0.0);
    }
    if (Error e = greater_than(field + "lowFreqFactor", s.low_freq_factor, 0.0)) return e;
    if (std::isfinite(s.high_freq_factor) && s.high_freq_factor > s.low_freq_factor) return {};
    return range_error(field + "highFreqFactor", "greater than lowFreqFactor = " + js_number(s.low_freq_factor),
                       js_number(s.high_freq_factor));
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

Error rope_frequencies_validate(const RopeFrequencyCall& call) {
    if (Error e = positive("rotaryDim", call.rotary_dim)) return e;
    if (Error e = rope_rules("rotaryDim", call.rotary_dim, "base", call.base, "rotaryDim", 0)) return e;
    return rope_frequency_rules("", call.rotary_dim, call.scaling, {});
}

Error rope_validate(const RopeShape& shape, const RopeOptions& options) {
    if (Error e = positive("batch", shape.batch)) return e;
    if (Error e = positive("seq", shape.seq)) return e;
    if (Error e = positive("heads", shape.heads)) return e;
    if (Error e = positive("dim", shape.dim)) return e;
    if (Error e = rope_rules("dim", shape.dim, "base", options.base, "rotaryDim", options.rotary_dim)) return e;
    const std::size_t rotary_dim = options.rotary_dim == 0 ? shape.dim : options.rotary_dim;
    if (Error e = rope_frequency_rules("", rotary_dim, options.scaling, options.inverse_frequencies)) return e;
    if (Error e = buffer_fits("x", {{"batch", shape.batch}, {"seq", shape.seq}, {"heads", shape.heads},
                                    {"dim", shape.dim}}))
        return e;
    if (options.positions && options.position_offset != 0.0)
        return range_error_text("offset", "offset must be 0 when positions are given (they hold every token's "
                                          "position), received " + js_number(options.position_offset));
    if (Error e = finite("offset", options.position_offset)) return e;
    if (!options.positions) return {};
    return finite_entries("positions", options.positions,
                          options.positions_per_batch ? shape.batch * shape.seq : shape.seq);
}

RopeOptions rope_resolve(const RopeShape& shape, RopeOptions options) {
    if (options.rotary_dim == 0) options.rotary_dim = shape.dim;
    return options;
}

std::vector<float> rope_cos_sin_table(const RopeShape& shape, const RopeOptions& options) {
    const std::size_t rotary_dim = options.rotary_dim == 0 ? shape.dim : options.rotary_dim;
    const std::size_t pairs = rotary_dim / 2;
    const RopeSpectrum spectrum = rope_spectrum(rotary_dim, options.base, options.scaling, options.inverse_frequencies);
    const std::size_t batches = options.positions && options.positions_per_batch ? shape.batch : 1;
    std::vector<float> cos_table(pairs), sin_table(pairs), table(2 * batches * shape.seq * pairs);
    for (std::size_t b = 0; b < batches; ++b)
        for (std::size_t t = 0; t < shape.seq; ++t) {
            rope_detail::fill_cos_sin(token_position(shape, options, b, t), spectrum.inverse_frequencies.data(), pairs,
                                      options.inverse, cos_table.data(), sin_table.data(), options.float32_angles,
                                      spectrum.attention_factor);
            const std::size_t row = b * shape.seq + t;
            for (std::size_t i = 0; i < pairs; ++i) {
                table[2 * (row * pairs + i)] = cos_table[i];
                table[2 * (row * pairs + i) + 1] = sin_table[i];
            }
        }
    return table;
}

void rope_apply(const RopeShape& shape, const RopeOptions& options, const float* x, float* y) {
    assert(!rope_validate(shape, options));
    const std::size_t rotary_dim = options.rotary_dim == 0 ? shape.dim : options.rotary_dim;
    const std::size_t pairs = rotary_dim / 2;
    const RopeSpectrum spectrum = rope_spectrum(rotary_dim, options.base, options.scaling, options.inverse_frequencies);
    std::vector<float> cos_table(pairs), sin_table(pairs);
    const Segment segment{0, pairs, 0};
    // Shared positions: one cos/sin row per token serves every batch entry; per-batch ones: one
    // per (entry, token).
    const bool per_batch = options.positions && options.positions_per_batch;
    for (std::size_t b = 0; b < (per_batch ? shape.batch : 1); ++b)
        for (std::size_t t = 0; t < shape.seq; ++t) {
            rope_detail::fill_cos_sin(token_position(shape, options, b, t), spectrum.inverse_frequencies.data(), pairs,
                                      options.inverse, cos_table.data(), sin_table.data(), options.float32_angles,
                                      spectrum.attention_factor);
            rotate_token(shape, t, per_batch ? b : 0, per_batch ? b + 1 : shape.batch, &segment, 1, options.layout,
                         cos_table.data(), sin_table.data(), rotary_dim, x, y);
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
    if (!options.positions) return {};
    return finite_entries("positions", options.positions, 2 * checked_product({shape.height, shape.width}));
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
            rotate_token(shape, t, 0, shape.batch, split_segments, 2, options.layout, cos_table.data(),
                         sin_table.data(), shape.dim, x, y);
        else
            rotate_token(shape, t, 0, shape.batch, &tie_segment, 1, options.layout, cos_table.data(),
                         sin_table.data(), shape.dim, x, y);
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
