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
#pragma once

#include <cstddef>
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
    // Rotate by −m instead of m: the inverse rotation, i.e. the backward pass.
    bool inverse = false;
    // Native only (the JS facade passes its `positions` array through the heap):
    // Position of each token, length seq; real and negative values are allowed. When null, token
    // t sits at position_offset + t.
    const double* positions = nullptr;
    double position_offset = 0.0;
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
// x fits in the heap; every position finite (when positions are given).
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

// (cos, sin) of ±position·θ_i per token and pair, interleaved: table[2(t·pairs + i)] = cos,
// table[2(t·pairs + i) + 1] = sin, pairs = rotary_dim / 2, angles formed as rope_apply forms them
// (the WebGPU kernel applies the rotation with this table).
std::vector<float> rope_cos_sin_table(const RopeShape& shape, const RopeOptions& options);

// The double-precision reference twins (rope_reference.cpp, xtensor expressions).
// Rotates one vector in place by R_position, over its first rotary_dim entries; the reference
// attention and the tests use it.
void rope_rotate_vector_reference(double* vector, std::size_t rotary_dim, RopeLayout layout,
                                  double base, double position);

}  // namespace kexue
