// The double-precision definition of RoPE (Su et al., RoFormer, arXiv 2104.09864 §3.4.2;
// kexue.fm/archives/8265), written as xtensor expressions to read like the paper:
//   θ_i = base^(−2i/d),  (a_i, b_i) ← (a_i cos mθ_i − b_i sin mθ_i,  b_i cos mθ_i + a_i sin mθ_i)
// where (a_i, b_i) is pair i: dims (2i, 2i+1) in the interleaved layout, (i, i + d/2) in the half
// layout. The float kernels (rope.cpp, attention.cpp) are tested against it.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include <xtensor/xadapt.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xtensor.hpp>

#include "attention/rope.hpp"

namespace kexue {

void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout,
                                  const double* inverse_frequencies, double attention_factor, double position) {
    const std::size_t pairs = rotary_dim / 2;
    // Pair i is (x[2i], x[2i+1]), the rows of x seen as pairs × 2, or (x[i], x[i + d/2]), the
    // columns of x seen as 2 × pairs; a and b are the first and second members of every pair.
    const bool interleaved = layout == RopeLayout::interleaved;
    using Shape = std::array<std::size_t, 2>;
    auto x = xt::adapt(vector, rotary_dim, xt::no_ownership(), interleaved ? Shape{pairs, 2} : Shape{2, pairs});
    using Slices = xt::xstrided_slice_vector;
    auto a = xt::strided_view(x, interleaved ? Slices{xt::all(), 0} : Slices{0, xt::all()});
    auto b = xt::strided_view(x, interleaved ? Slices{xt::all(), 1} : Slices{1, xt::all()});

    const std::array<std::size_t, 1> pair_shape{pairs};
    const xt::xtensor<double, 1> theta = xt::adapt(inverse_frequencies, pairs, xt::no_ownership(), pair_shape);
    const xt::xtensor<double, 1> angle = position * theta;
    const xt::xtensor<double, 1> a0 = a, b0 = b;
    a = attention_factor * (a0 * xt::cos(angle) - b0 * xt::sin(angle));
    b = attention_factor * (b0 * xt::cos(angle) + a0 * xt::sin(angle));
}

void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout, double base,
                                  double position) {
    const xt::xtensor<double, 1> i = xt::arange<double>(static_cast<double>(rotary_dim / 2));
    const xt::xtensor<double, 1> theta = xt::pow(base, -2.0 * i / static_cast<double>(rotary_dim));
    rope_rotate_vector_reference(vector, rotary_dim, layout, theta.data(), 1.0, position);
}

// Hugging Face's transformers/modeling_rope_utils.py, line by line (torch → xtensor):
//   inv_freq = 1 / base ** (arange(0, dim, 2) / dim)
//   linear: inv_freq / factor
//   dynamic NTK (static form): base = base * factor ** (dim / (dim - 2))
//   yarn:   pos_freqs = base ** (arange(0, dim, 2) / dim)
//           inv_freq_extrapolation = 1 / pos_freqs;  inv_freq_interpolation = 1 / (factor * pos_freqs)
//           low, high = find_correction_range(beta_fast, beta_slow, dim, base, original_max)
//           inv_freq_extrapolation_factor = 1 - linear_ramp_factor(low, high, dim // 2)
//           inv_freq = inv_freq_interpolation * (1 - extrapolation_factor) + inv_freq_extrapolation * extrapolation_factor
//           attention_factor = 0.1 * log(factor) + 1
//   llama3: wavelen = 2π / inv_freq
//           inv_freq_llama = where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
//           smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
//           smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
//           is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
//           inv_freq_llama = where(is_medium, smoothed, inv_freq_llama)
RopeSpectrum rope_spectrum_reference(std::size_t rotary_dim, double base, const RopeScaling& scaling) {
    const double dim = static_cast<double>(rotary_dim), factor = scaling.factor, pi = 3.14159265358979323846;
    const auto inverse_frequencies = [dim](double b) -> xt::xtensor<double, 1> {
        return 1.0 / xt::pow(b, xt::arange<double>(0.0, dim, 2.0) / dim);
    };
    xt::xtensor<double, 1> inv_freq = inverse_frequencies(base);
    double attention_factor = 1.0;
    switch (*scaling.type) {
        case RopeScalingType::linear:
            inv_freq = inv_freq / factor;
            break;
        case RopeScalingType::ntk:
            inv_freq = inverse_frequencies(base * std::pow(factor, dim / (dim - 2.0)));
            break;
        case RopeScalingType::yarn: {
            const double original = *scaling.original_max_position_embeddings;
            const auto find_correction_dim = [&](double rotations) {
                return (dim * std::log(original / (rotations * 2.0 * pi))) / (2.0 * std::log(base));
            };
            const double low = std::max(std::floor(find_correction_dim(scaling.beta_fast)), 0.0);
            double high = std::min(std::ceil(find_correction_dim(scaling.beta_slow)), dim - 1.0);
            if (low == high) high += 0.001;
            const xt::xtensor<double, 1> pos_freqs = xt::pow(base, xt::arange<double>(0.0, dim, 2.0) / dim);
            const xt::xtensor<double, 1> extrapolation = 1.0 / pos_freqs, interpolation = 1.0 / (factor * pos_freqs);
            const xt::xtensor<double, 1> ramp =
                xt::clip((xt::arange<double>(static_cast<double>(rotary_dim / 2)) - low) / (high - low), 0.0, 1.0);
            const xt::xtensor<double, 1> extrapolation_factor = 1.0 - ramp;
            inv_freq = interpolation * (1.0 - extrapolation_factor) + extrapolation * extrapolation_factor;
            attention_factor = 0.1 * std::log(factor) + 1.0;
            break;
        }
        case RopeScalingType::llama3: {
            const double old_context = *scaling.original_max_position_embeddings;
            const double low_freq_wavelen = old_context / scaling.low_freq_factor;
            const double high_freq_wavelen = old_context / scaling.high_freq_factor;
            const xt::xtensor<double, 1> wavelen = 2.0 * pi / inv_freq;
            xt::xtensor<double, 1> inv_freq_llama = xt::where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq);
            const xt::xtensor<double, 1> smooth_factor = (old_context / wavelen - scaling.low_freq_factor) /
                                                         (scaling.high_freq_factor - scaling.low_freq_factor);
            const xt::xtensor<double, 1> smoothed =
                (1.0 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama;
            const auto is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
            inv_freq_llama = xt::where(is_medium, smoothed, inv_freq_llama);
            inv_freq = inv_freq_llama;
            break;
        }
    }
    if (scaling.attention_factor) attention_factor = *scaling.attention_factor;
    return {std::vector<double>(inv_freq.begin(), inv_freq.end()), attention_factor};
}

}  // namespace kexue
