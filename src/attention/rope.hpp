// RoPE — rotary position embedding (Su et al., RoFormer, arXiv 2104.09864; kexue.fm/archives/8265),
// and its 2D form (kexue.fm/archives/8397 and 10040).
//
// Shapes (row-major): x, y are [batch, seq, heads, dim]. The rotation of token t depends only on
// its position, so every batch entry and head of a token gets the same rotation.
//
// RoPE multiplies each vector by the block-diagonal orthogonal matrix
//   R_m = diag(ρ(m·θ_0), …, ρ(m·θ_{d/2−1})),   ρ(φ) = [[cos φ, −sin φ], [sin φ, cos φ]],
//   θ_i = base^(−2i/d),
// so that ⟨R_m q, R_n k⟩ = qᵀ R_{n−m} k depends only on the relative position n − m. The pairs
// rotated together are (2i, 2i+1) in the interleaved layout (RoFormer, GPT-J, bert4keras) and
// (i, i + d/2) in the half layout ("rotate_half"; GPT-NeoX, HF LLaMA). The layouts are related by
// a fixed permutation of the dims but are not interchangeable for trained weights.
//
// The gradient of y = R_m x is ∂L/∂x = R_mᵀ ∂L/∂y = R_{−m} ∂L/∂y: the same kernel with the angle
// negated, which is what `inverse` selects. Angles m·θ_i are formed in double, because at
// m ≈ 1e6 the float32 ulp of the angle is ~0.06 rad; only cos and sin are rounded to float.
//
// Frequencies (docs/math.md §1.6): θ_i = base^(−2i/d) unless the caller gives them
// (`inverseFrequencies`) or asks for a context-extension rule (`ropeScaling`, Hugging Face's
// `rope_scaling` in camelCase): 'linear' (position interpolation, Chen et al. 2023, arXiv
// 2306.15595), 'ntk' (the static NTK-aware base change, bloc97 2023; kexue.fm/archives/9675,
// 9706), 'yarn' (Peng et al. 2023, arXiv 2309.00071) and 'llama3' (Meta's Llama 3.1 rule). YaRN's
// attention factor a multiplies the rotated part of every vector (HF multiplies cos and sin by
// it), so q'·k' gains a².
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

enum class RopeLayout {
    interleaved,  // pairs (2i, 2i+1)
    half,         // pairs (i, i + rotary_dim/2)
};

template <>
struct EnumNames<RopeLayout> {
    static constexpr EnumEntry<RopeLayout> entries[] = {
        {"interleaved", RopeLayout::interleaved},
        {"half", RopeLayout::half},
    };
};

// The context-extension rules of Hugging Face's `rope_scaling` (transformers/modeling_rope_utils.py).
enum class RopeScalingType {
    linear,  // θ_i / factor (position interpolation, Chen et al. 2023)
    ntk,     // base · factor^(d/(d−2)) (static NTK-aware scaling, bloc97; kexue.fm/9675)
    yarn,    // NTK-by-parts + attention factor (Peng et al. 2023)
    llama3,  // Llama 3.1: long wavelengths / factor, short kept, a smooth ramp between
};

template <>
struct EnumNames<RopeScalingType> {
    static constexpr EnumEntry<RopeScalingType> entries[] = {
        {"linear", RopeScalingType::linear},
        {"ntk", RopeScalingType::ntk},
        {"yarn", RopeScalingType::yarn},
        {"llama3", RopeScalingType::llama3},
    };
};

// HF's `rope_scaling` fields in camelCase. Fields a type does not use are ignored (a model's
// config can be copied as is); the defaults are HF's (beta_fast 32, beta_slow 1) and Meta's
// (low_freq_factor 1, high_freq_factor 4).
struct RopeScaling {
    std::optional<RopeScalingType> type;  // required
    double factor = 1.0;                  // required, ≥ 1
    std::optional<double> original_max_position_embeddings;  // yarn, llama3: the training length
    double low_freq_factor = 1.0;    // llama3
    double high_freq_factor = 4.0;   // llama3
    double beta_fast = 32.0;         // yarn: rotations per training length above which θ_i is kept
    double beta_slow = 1.0;          // yarn: … below which θ_i is interpolated (divided by factor)
    std::optional<double> attention_factor;  // default: yarn 0.1·ln(factor) + 1, the others 1
};

template <typename Visitor>
void visit_fields(RopeScaling& s, Visitor&& field) {
    field("type", s.type, kRequired);
    field("factor", s.factor, kRequired);
    field("originalMaxPositionEmbeddings", s.original_max_position_embeddings);
    field("lowFreqFactor", s.low_freq_factor);
    field("highFreqFactor", s.high_freq_factor);
    field("betaFast", s.beta_fast);
    field("betaSlow", s.beta_slow);
    field("attentionFactor", s.attention_factor);
}

// The rotation's spectrum: θ_i for each of the rotary_dim/2 pairs, and the factor a that multiplies
// the rotated dims (YaRN's attention factor; 1 otherwise).
struct RopeSpectrum {
    std::vector<double> inverse_frequencies;
    double attention_factor = 1.0;
};

// The frequencies of a configuration: `inverse_frequencies` when given, else base^(−2i/d) changed
// by `scaling` (d = rotary_dim). Must pass rope_frequency_rules.
RopeSpectrum rope_spectrum(std::size_t rotary_dim, double base, const std::optional<RopeScaling>& scaling,
                           const std::vector<double>& inverse_frequencies);

// The rules of the frequency options, named with `prefix` ("" for kx.rope, "rope." inside
// attention): inverseFrequencies and ropeScaling exclusive; inverseFrequencies of length
// rotary_dim/2 and finite; ropeScaling.type given; factor ≥ 1; 'ntk' needs rotary_dim > 2; 'yarn'
// and 'llama3' need originalMaxPositionEmbeddings > 0; 'llama3' needs 0 < lowFreqFactor <
// highFreqFactor; 'yarn' needs betaFast, betaSlow > 0; attentionFactor > 0.
Error rope_frequency_rules(const std::string& prefix, std::size_t rotary_dim,
                           const std::optional<RopeScaling>& scaling, const std::vector<double>& inverse_frequencies);

// One options object of kx.ropeFrequencies: the spectrum of a configuration, to inspect it or to
// compare it with a model's own inv_freq.
struct RopeFrequencyCall {
    std::size_t rotary_dim = 0;
    double base = 10000.0;
    std::optional<RopeScaling> scaling;
};

template <typename Visitor>
void visit_fields(RopeFrequencyCall& c, Visitor&& field) {
    field("rotaryDim", c.rotary_dim, kRequired | kPositive);
    field("base", c.base);
    field("ropeScaling", c.scaling);
}

// The first rule broken: rotaryDim ≥ 1 and even, base > 0, the frequency rules.
Error rope_frequencies_validate(const RopeFrequencyCall& call);

// x and y are [batch, seq, heads, dim].
struct RopeShape {
    std::size_t batch = 1;
    std::size_t seq = 0;
    std::size_t heads = 1;
    std::size_t dim = 0;
};

template <typename Visitor>
void visit_fields(RopeShape& s, Visitor&& field) {
    field("batch", s.batch, kPositive);
    field("seq", s.seq, kRequired | kPositive);
    field("heads", s.heads, kPositive);
    field("dim", s.dim, kRequired | kPositive);
}

struct RopeOptions {
    double base = 10000.0;
    RopeLayout layout = RopeLayout::interleaved;
    // Partial rotary (GPT-NeoX): the first rotary_dim dims are rotated (with the schedule of a
    // rotary_dim-dimensional RoPE) and the rest pass through. 0 means dim. Must be even.
    std::size_t rotary_dim = 0;
    // Rotate by −m instead of m: the transpose a·R_{−m}, i.e. the backward pass (the inverse
    // rotation when the attention factor a is 1).
    bool inverse = false;
    // Context extension (rope_spectrum); at most one of the two.
    std::optional<RopeScaling> scaling;
    std::vector<double> inverse_frequencies;  // empty: from base (and scaling)
    // Token t sits at position_offset + t when no positions are given (a decoding step's new keys:
    // offset = the number of tokens before them).
    double position_offset = 0.0;
    // Native only (the JS facade passes its `positions` array through the heap):
    // Position of each token, length seq, or batch·seq with positions_per_batch (batch entry b's
    // token t at positions[b·seq + t]); real and negative values are allowed.
    const double* positions = nullptr;
    bool positions_per_batch = false;
    // Form the angle m·θ_i in float32 instead of double, as HF transformers does; for parity with
    // models trained that way (at m ≈ 1e6 the float32 angle is off by up to ~0.06 rad).
    bool float32_angles = false;
};

// The options of kx.rope besides the shape (and `positions`, an array the facade copies).
template <typename Visitor>
void visit_fields(RopeOptions& o, Visitor&& field) {
    field("base", o.base);
    field("layout", o.layout);
    field("rotaryDim", o.rotary_dim, kPositive);
    field("inverse", o.inverse);
    field("ropeScaling", o.scaling);
    field("inverseFrequencies", o.inverse_frequencies);
    field("offset", o.position_offset);
}

// One options object of kx.rope.
struct RopeCall {
    RopeShape shape;
    RopeOptions options;
};

template <typename Visitor>
void visit_fields(RopeCall& c, Visitor&& field) {
    visit_fields(c.shape, field);
    visit_fields(c.options, field);
}

// The rules of a RoPE configuration, shared by rope_validate and attention_validate (fused RoPE),
// with the caller's parameter names: an even dim, base > 0, a rotary dim (0 means dim) even and
// at most dim.
Error rope_rules(const char* dim_name, std::size_t dim, const char* base_name, double base,
                 const char* rotary_dim_name, std::size_t rotary_dim);

// The first rule broken: batch, seq, heads, dim ≥ 1; dim even; base > 0; rotaryDim even and ≤ dim;
// the frequency rules (rope_frequency_rules); x fits in the heap; every position finite (when
// positions are given) and offset 0 with them.
Error rope_validate(const RopeShape& shape, const RopeOptions& options);

// rotaryDim = dim when left at 0.
RopeOptions rope_resolve(const RopeShape& shape, RopeOptions options);

// y = R_pos x for every vector. y may equal x (in place); otherwise they must not overlap. The
// shape and options must pass rope_validate (asserted).
void rope_apply(const RopeShape& shape, const RopeOptions& options, const float* x, float* y);

// 2D RoPE, R_{x,y} = diag(R_x, R_y) (kexue.fm/archives/8397, 10040).
enum class Rope2dMode {
    // The first dim/2 dims are a 1D RoPE of dimension dim/2 at the x position, the second half one
    // at the y position (10040 §二维RoPE). Needs dim % 4 == 0; `layout` is the layout of each half.
    split,
    // RoPE-Tie (10040 §统一升维): the full-dim 1D schedule θ_i = base^(−2i/dim), where pair i
    // turns by x·θ_i when i is even and by y·θ_i when i is odd, so tie(n, n) equals the 1D RoPE at
    // n. `layout` chooses which dims form pair i, as in 1D. Needs dim % 4 == 0.
    tie,
};

template <>
struct EnumNames<Rope2dMode> {
    static constexpr EnumEntry<Rope2dMode> entries[] = {
        {"split", Rope2dMode::split},
        {"tie", Rope2dMode::tie},
    };
};

// x and y are [batch, height·width, heads, dim]: the tokens of a height × width grid, row-major.
struct Rope2dShape {
    std::size_t batch = 1;
    std::size_t height = 0;
    std::size_t width = 0;
    std::size_t heads = 1;
    std::size_t dim = 0;
};

template <typename Visitor>
void visit_fields(Rope2dShape& s, Visitor&& field) {
    field("batch", s.batch, kPositive);
    field("height", s.height, kRequired | kPositive);
    field("width", s.width, kRequired | kPositive);
    field("heads", s.heads, kPositive);
    field("dim", s.dim, kRequired | kPositive);
}

struct Rope2dOptions {
    double base = 10000.0;
    RopeLayout layout = RopeLayout::interleaved;
    Rope2dMode mode = Rope2dMode::split;
    bool inverse = false;
    // Native only: (x0, y0, x1, y1, …), one (x, y) pair per token, length 2·height·width. When
    // null, token t sits at x = t % width, y = t / width.
    const double* positions = nullptr;
};

template <typename Visitor>
void visit_fields(Rope2dOptions& o, Visitor&& field) {
    field("base", o.base);
    field("layout", o.layout);
    field("mode", o.mode);
    field("inverse", o.inverse);
}

// One options object of kx.rope2d.
struct Rope2dCall {
    Rope2dShape shape;
    Rope2dOptions options;
};

template <typename Visitor>
void visit_fields(Rope2dCall& c, Visitor&& field) {
    visit_fields(c.shape, field);
    visit_fields(c.options, field);
}

// The first rule broken: batch, height, width, heads, dim ≥ 1; dim a multiple of 4; base > 0;
// x fits in the heap; every position finite (when positions are given).
Error rope2d_validate(const Rope2dShape& shape, const Rope2dOptions& options);

// x and y are [batch, height·width, heads, dim]; y may equal x. The shape and options must pass
// rope2d_validate (asserted).
void rope2d_apply(const Rope2dShape& shape, const Rope2dOptions& options, const float* x, float* y);

// (cos, sin) of ±angle per token and pair of 2D RoPE, interleaved like rope_cos_sin_table, dim/2
// pairs per token: 'split' x angles for the first dim/4 pairs then y angles; 'tie' pair i at x
// (i even) or y (i odd). Computed as rope2d_apply computes them (the WebGPU kernel's table).
std::vector<float> rope2d_cos_sin_table(const Rope2dShape& shape, const Rope2dOptions& options);

// θ_i = base^(−2i/rotary_dim) for i = 0 … rotary_dim/2 − 1.
std::vector<double> rope_frequencies(std::size_t rotary_dim, double base);

// (a·cos, a·sin) of ±position·θ_i per token and pair, interleaved: table[2(t·pairs + i)] = cos,
// table[2(t·pairs + i) + 1] = sin, pairs = rotary_dim / 2, a the attention factor, angles formed
// as rope_apply forms them (the WebGPU kernel applies the rotation with this table). With
// per-batch positions it has batch·seq rows, row b·seq + t for batch entry b's token t.
std::vector<float> rope_cos_sin_table(const RopeShape& shape, const RopeOptions& options);

// The double-precision reference twins (rope_reference.cpp, xtensor expressions).
// Rotates one vector in place by R_position, over its first rotary_dim entries; the reference
// attention and the tests use it.
void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout,
                                  double base, double position);
// The same with explicit frequencies (rotary_dim/2 of them) and attention factor: vector ←
// a·R_position vector over the rotated dims.
void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout,
                                  const double* inverse_frequencies, double attention_factor, double position);
// rope_spectrum written as Hugging Face writes it (modeling_rope_utils.py: the torch.where and
// clamp expressions of _compute_{linear,dynamic,yarn,llama3}_parameters), in xtensor.
RopeSpectrum rope_spectrum_reference(std::size_t rotary_dim, double base, const RopeScaling& scaling);

}  // namespace kexue
