// Entropy-invariant scaled dot-product attention, fused and tiled (FlashAttention-2, Dao 2023),
// with optional fused RoPE, causal masking with a KV-cache offset, and grouped-query attention.
//
//   O = softmax_rows(c_i · Q Kᵀ) V
//
// Shapes (row-major), in the default layout 'bshd':
//   Q  [batch, seq_q, heads,    dim]      dQ like Q
//   K  [batch, seq_k, kv_heads, dim]      dK like K
//   V  [batch, seq_k, kv_heads, dim_v]    dV like V
//   O  [batch, seq_q, heads,    dim_v]    dO like O
//   logsumexp [batch, heads, seq_q]       log Σ_j exp(c_i q_i·k_j) over the keys row i sees
// Layout 'bhsd' (PyTorch's scaled_dot_product_attention) swaps the seq and heads axes of Q, K, V, O
// and their gradients: Q [batch, heads, seq_q, dim], … . The kernels read and write either through
// strides (the tile loaders and the output writes); nothing is transposed in memory.
// Element types: Q, K, V are float32 or float16 (options.input_type, IEEE binary16 bits,
// core/float16.hpp), converted to float32 as the tiles are packed; O, and in the backward pass O,
// dO, dQ, dK, dV, are of the output type (options.output_type, or else the input type). All
// arithmetic is float32; logsumexp is always float32.
// Query head h reads kv head h / (heads / kv_heads).
//
// The per-row scale c_i (kexue.fm/archives/8823, 9588, 9708, 9948; bert4keras `softmax_plus`):
//   entropy   c_i = log(max(n_i, n_min)) / log(base_len) / √dim, where n_i is the number of keys
//             row i sees, so that the softmax entropy does not grow with the length; with
//             clip_below_one, c_i = max(1, log(max(n_i, n_min)) / log(base_len)) / √dim, which
//             never softens a model trained at base_len (training-free extrapolation).
//   standard  c_i = 1/√dim.
//   a number  c_i = that number.
// Causal: query i sits at position seq_k − seq_q + i (decoding after seq_k − seq_q cached keys)
// and sees keys 0 … seq_k − seq_q + i, so n_i = seq_k − seq_q + i + 1; otherwise n_i = seq_k.
// A row that sees no key (seq_k = 0) outputs zeros and has logsumexp −∞.
//
// Fused RoPE: callers pass un-rotated Q and K; query i is rotated at position seq_k − seq_q + i
// (also without causal) and key j at position j. Gradients are w.r.t. the un-rotated inputs.
//
// attention_forward/attention_backward are the float32 xsimd kernels; the *_reference functions
// are their naive double-precision twins (they materialise the score rows) for tests.
//
// Errors are values (core/error.hpp): attention_validate returns the first broken rule, named by
// the JS API's parameter names; the kernels assume valid input.
//
// Memory: nothing of size seq_q × seq_k. The forward pass allocates packed, tile-padded copies of
// the rotated K and of V (about the size of K + V); the backward pass up to about twice K + V,
// then twice Q + dO, one after the other.
#pragma once

#include <cstddef>
#include <optional>
#include <variant>
#include <vector>

#include "attention/rope.hpp"
#include "core/error.hpp"
#include "core/float16.hpp"
#include "core/options.hpp"

namespace kexue {

struct AttentionShape {
    std::size_t batch = 1;
    std::size_t seq_q = 0;
    std::size_t seq_k = 0;
    std::size_t heads = 1;
    std::size_t kv_heads = 1;
    std::size_t dim = 0;
    std::size_t dim_v = 0;
};

// The shape of kx.attention, by the names the JS API uses. seqK, kvHeads and dimV default to seqQ,
// heads and dim (self-attention, multi-head, values as wide as keys).
template <typename Visitor>
void visit_fields(AttentionShape& s, Visitor&& field) {
    field("batch", s.batch, kPositive);
    field("seqQ", s.seq_q, kRequired);
    field("seqK", s.seq_k, kOptional, &s.seq_q);
    field("heads", s.heads, kRequired | kPositive);
    field("kvHeads", s.kv_heads, kPositive, &s.heads);
    field("dim", s.dim, kRequired | kPositive);
    field("dimV", s.dim_v, kPositive, &s.dim);
}

// How c_i is chosen; a number instead (std::variant below) fixes c_i to it.
enum class AttentionScale { entropy, standard };

template <>
struct EnumNames<AttentionScale> {
    static constexpr EnumEntry<AttentionScale> entries[] = {
        {"entropy", AttentionScale::entropy},
        {"standard", AttentionScale::standard},
    };
};

// RoPE fused into the kernel (rope.hpp for the rotation itself).
struct AttentionRope {
    double base = 10000.0;
    RopeLayout layout = RopeLayout::interleaved;
    std::size_t rotary_dim = 0;  // 0 means dim; the JS API resolves it to dim
    bool float32_angles = false;  // native only: see RopeOptions::float32_angles
};

template <typename Visitor>
void visit_fields(AttentionRope& r, Visitor&& field) {
    field("base", r.base);
    field("layout", r.layout);
    field("rotaryDim", r.rotary_dim, kPositive);
}

// Where the seq and heads axes of Q, K, V, O (and their gradients) sit.
enum class AttentionLayout { bshd, bhsd };

template <>
struct EnumNames<AttentionLayout> {
    static constexpr EnumEntry<AttentionLayout> entries[] = {
        {"bshd", AttentionLayout::bshd},  // [batch, seq, heads, dim]: kexue's default, onnxruntime's BSNH
        {"bhsd", AttentionLayout::bhsd},  // [batch, heads, seq, dim]: PyTorch's
    };
};

struct AttentionOptions {
    // 'entropy', 'standard', or a finite number: c_i fixed to it.
    std::variant<AttentionScale, double> scale = AttentionScale::entropy;
    double base_len = 512.0;   // the training length at which the entropy scale equals 1/√dim
    double n_min = 16.0;       // floor on n_i: "极短序列scale反而不好" (bert4keras)
    bool clip_below_one = false;
    bool causal = false;
    std::optional<AttentionRope> rope;  // rotate Q and K inside the kernel when set
    AttentionLayout layout = AttentionLayout::bshd;
    // The element type of the output (and of the backward's O, dO, dQ, dK, dV); empty: the input's.
    std::optional<ElementType> output_type;
    // The element type of Q, K, V: not an option of the JS API, whose facade sets it from the JS
    // type of the arrays (Float32Array; Float16Array or Uint16Array of f16 bits).
    ElementType input_type = ElementType::float32;

    ElementType resolved_output_type() const { return output_type.value_or(input_type); }
};

template <typename Visitor>
void visit_fields(AttentionOptions& o, Visitor&& field) {
    field("scale", o.scale);
    field("baseLen", o.base_len);
    field("nMin", o.n_min);
    field("clipBelowOne", o.clip_below_one);
    field("causal", o.causal);
    field("rope", o.rope);
    field("layout", o.layout);
    field("outputType", o.output_type);
}

// One options object of kx.attention / kx.attentionBackward: the shape and the options side by
// side.
struct AttentionCall {
    AttentionShape shape;
    AttentionOptions options;
};

template <typename Visitor>
void visit_fields(AttentionCall& c, Visitor&& field) {
    visit_fields(c.shape, field);
    visit_fields(c.options, field);
}

// The first rule broken, with the JS parameter names: batch, heads, kvHeads, dim, dimV ≥ 1; heads a
// multiple of kvHeads; causal needs seqQ ≤ seqK; scale finite; baseLen > 1; nMin ≥ 1; with RoPE an
// even dim, rope.base > 0, rope.rotaryDim even and ≤ dim; q, k, v and the output fit in the heap.
Error attention_validate(const AttentionShape& shape, const AttentionOptions& options);

// The options with the defaults that depend on the shape filled in (rope.rotaryDim = dim).
AttentionOptions attention_resolve(const AttentionShape& shape, AttentionOptions options);

// n_i, the keys query row i sees: all seq_k, or under causal those at positions ≤ its own,
// seq_k − seq_q + i + 1.
inline std::size_t attention_visible_keys(const AttentionShape& shape, bool causal, std::size_t row) {
    return causal ? shape.seq_k - shape.seq_q + row + 1 : shape.seq_k;
}

// c_i for a row that sees `visible_keys` keys (visible_keys ≥ 1).
double attention_row_scale(const AttentionOptions& options, std::size_t visible_keys, std::size_t dim);

// What the WebGPU kernel reads besides the tensors, computed as the WASM kernels compute it:
// c_i of every query row [seq_q], and (cos, sin) per fused-RoPE position min(0, seq_k − seq_q) …
// seq_k − 1 and pair, interleaved (rope_cos_sin_table's layout; empty without RoPE).
std::vector<float> attention_row_scales(const AttentionShape& shape, const AttentionOptions& options);
std::vector<float> attention_rope_table(const AttentionShape& shape, const AttentionOptions& options);

// Forward pass. `logsumexp` may be null when no backward pass follows. Outputs must not alias
// inputs. The shape and options must pass attention_validate (asserted). q, k, v hold elements of
// options.input_type, o of options.resolved_output_type() (float32 for both by default, so float
// pointers can be passed as they are).
void attention_forward(const AttentionShape& shape, const AttentionOptions& options, const void* q,
                       const void* k, const void* v, void* o, float* logsumexp);

// Backward pass from the forward's o and logsumexp: recomputes P tile by tile (FlashAttention-2),
// writes dq, dk, dv (overwritten, not accumulated). q, k, v are of the input type; o, d_o, dq, dk,
// dv of the output type.
void attention_backward(const AttentionShape& shape, const AttentionOptions& options, const void* q,
                        const void* k, const void* v, const void* o, const float* logsumexp,
                        const void* d_o, void* dq, void* dk, void* dv);

// The double-precision twins (attention_reference.cpp: the definition written with xtensor
// expressions, materialising every score row). logsumexp may be null.
void attention_forward_reference(const AttentionShape& shape, const AttentionOptions& options,
                                 const double* q, const double* k, const double* v, double* o,
                                 double* logsumexp);
void attention_backward_reference(const AttentionShape& shape, const AttentionOptions& options,
                                  const double* q, const double* k, const double* v, const double* d_o,
                                  double* dq, double* dk, double* dv);

// The tiles of the fused kernels (query rows × keys), exposed so tests can aim at tile edges.
std::size_t attention_query_tile();
std::size_t attention_key_tile();

}  // namespace kexue
