// Entropy-invariant scaled dot-product attention, fused and tiled (FlashAttention-2, Dao 2023),
// with optional fused RoPE, causal masking with a KV-cache offset, grouped-query attention, a
// logit softcap, attention sinks, and the softmax, relu² and l2 normalisations.
//
//   O = softmax_rows(c_i · Q Kᵀ) V
//
// Shapes (row-major), in the default layout 'bshd':
//   Q  [batch, seq_q, heads,    dim]      dQ like Q
//   K  [batch, seq_k, kv_heads, dim]      dK like K
//   V  [batch, seq_k, kv_heads, dim_v]    dV like V
//   O  [batch, seq_q, heads,    dim_v]    dO like O
//   logsumexp [batch, heads, seq_q]       L_i: log Σ_j exp(c_i q_i·k_j) over the keys row i sees
//                                         (with softcap, sinks, or another normalisation: the log of
//                                         the row's normaliser, see "Logit shaping" below)
// Layout 'bhsd' (PyTorch's scaled_dot_product_attention) swaps the seq and heads axes of Q, K, V, O
// and their gradients: Q [batch, heads, seq_q, dim], … . The kernels read and write either through
// strides (the tile loaders and the output writes); nothing is transposed in memory.
// Element types: Q, K, V are float32 or float16 (options.input_type, IEEE binary16 bits,
// core/float16.hpp), converted to float32 as the tiles are packed; O, and in the backward pass O,
// dO, dQ, dK, dV, are of the output type (options.output_type, or else the input type). All
// arithmetic is float32; logsumexp and dSinks are always float32.
// Query head h reads kv head h / (heads / kv_heads).
//
// The per-row scale c_i (kexue.fm/archives/8823, 9588, 9708, 9948; bert4keras `softmax_plus`):
//   entropy   c_i = log(max(n_i, n_min)) / log(base_len) / √dim, where n_i is the number of keys
//             row i sees, so that the softmax entropy does not grow with the length; with
//             clip_below_one, c_i = max(1, log(max(n_i, n_min)) / log(base_len)) / √dim, which
//             never softens a model trained at base_len (training-free extrapolation).
//   standard  c_i = 1/√dim.
//   a number  c_i = that number.
// Which keys a row sees (the one statement of these rules; attention_row and
// attention_visible_keys below compute them, and the WebGPU kernel follows them):
//   lengths   batch b holds Lq_b = seqLensQ[b] (default seq_q) queries and Lk_b = seqLensK[b]
//             (default seq_k) keys, the first ones of its rows (right padding); query rows
//             i ≥ Lq_b are padding and output zeros.
//   position  query i of batch b sits at position p = Lk_b − Lq_b + i (decoding after Lk_b − Lq_b
//             cached keys; with RoPE it is also the query's rotation position); key j at j.
//   range     row i sees the keys j in [begin, end): begin = max(0, p − left), end = min(Lk_b,
//             p + right + 1, and p + 1 with causal); a window side left out is unbounded.
//   mask      a boolean mask (1 = may attend) removes keys of that range.
//   n_i       the keys row i sees: the range's length, less the keys the mask removes. A bias
//             (additive, −∞ included) never changes n_i: exclusions the entropy scale should
//             count go in the mask.
// Logits: s_ij = softcap(c_i q_i·k_j) + bias[b, h, i, j] − slope_h·|p − j| (the last with alibi),
// over the keys the row sees; the softcap (when set) acts on the scaled logit only, before the
// additive terms (onnxruntime GroupQueryAttention's order; "Logit shaping" below). A row that sees
// no key, or whose logits are all −∞, outputs zeros, has logsumexp −∞ (the sink z_h with one) and
// passes no gradient.
//
// Fused RoPE: callers pass un-rotated Q and K; query i is rotated at its position p above (also
// without causal) and key j at position j, unless positions_q / positions_k give them (one row for
// every batch entry, or one per entry). Gradients are w.r.t. the un-rotated inputs. With
// cached_keys = rotated, K holds keys the caller rotated already (a KV cache of rotated keys, each
// rotated once when it was appended, e.g. by rope_apply with an offset): only the queries are
// rotated, so a decoding step rotates O(new tokens), and dK is w.r.t. the given, rotated K.
// Explicit positions only move the rotation: the ranges, ALiBi and n_i above keep p and j.
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

#include <cmath>
#include <cstddef>
#include <cstdint>
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

// What K holds when RoPE is fused: keys to rotate inside the kernel, or keys already rotated (a KV
// cache of rotated keys; the kernel rotates only the queries).
enum class RopeCachedKeys { unrotated, rotated };

template <>
struct EnumNames<RopeCachedKeys> {
    static constexpr EnumEntry<RopeCachedKeys> entries[] = {
        {"unrotated", RopeCachedKeys::unrotated},
        {"rotated", RopeCachedKeys::rotated},
    };
};

// RoPE fused into the kernel (rope.hpp for the rotation itself).
struct AttentionRope {
    double base = 10000.0;
    RopeLayout layout = RopeLayout::interleaved;
    std::size_t rotary_dim = 0;  // 0 means dim; the JS API resolves it to dim
    std::optional<RopeScaling> scaling;        // rope.hpp: at most one of scaling and
    std::vector<double> inverse_frequencies;   // explicit frequencies (rotary_dim / 2)
    RopeCachedKeys cached_keys = RopeCachedKeys::unrotated;
    bool float32_angles = false;  // native only: see RopeOptions::float32_angles
    // Native only (the JS facade copies `positionsQ` and `positionsK` into the heap): the position
    // of every query row / key, seq_q (seq_k) of them shared by the batch entries, or batch·seq_q
    // (batch·seq_k) with the *_per_batch flag, entry b's row i at [b·seq + i]. Null: the defaults
    // seq_k − seq_q + i and j.
    const double* positions_q = nullptr;
    bool positions_q_per_batch = false;
    const double* positions_k = nullptr;
    bool positions_k_per_batch = false;
};

template <typename Visitor>
void visit_fields(AttentionRope& r, Visitor&& field) {
    field("base", r.base);
    field("layout", r.layout);
    field("rotaryDim", r.rotary_dim, kPositive);
    field("ropeScaling", r.scaling);
    field("inverseFrequencies", r.inverse_frequencies);
    field("cachedKeys", r.cached_keys);
}

// ---- Logit shaping and row normalisation (docs/math.md §2.8, §2.9) --------------------------------
//
// The one account of what happens between the scores and the weights, followed by the float32
// kernels (attention.cpp, vectorised), the double-precision reference (attention_reference.cpp,
// through the functions below) and the WebGPU kernel. For query row i of head h, over the keys j
// it sees (J_i, n_i = |J_i| = attention_visible_keys):
//
//   x_ij = c_i · (R_i q_i)·(R_j k_j)          the scaled logit (c_i = attention_row_scale)
//   s_ij = cap · tanh(x_ij / cap) + a_ij       softcap (Gemma 2, arXiv 2408.00118; s = x + a without
//                                              it), then a_ij = bias − ALiBi: the additive terms act
//                                              after the softcap, as in onnxruntime's
//                                              GroupQueryAttention (softcap, then attention bias,
//                                              then softmax); masks remove keys from J_i
//   P_ij = φ(s_ij) · e^{−L_i},   O_i = Σ_{j∈J_i} P_ij v_j
//
// where the normalisation fixes φ and the row statistic L_i, the "logsumexp" the forward pass saves
// for the backward pass (always: P = φ(s)·e^{−L}, so L is the log of the row's normaliser):
//
//   softmax  φ = exp    L_i = log(Σ_{j∈J_i} e^{s_ij} + e^{z_h})    z_h: the sink of head h (below)
//   l2       φ = exp    L_i = ½ log Σ_{j∈J_i} e^{2 s_ij}            P_i has unit L2 norm (9105)
//   relu2    φ = relu²  L_i = log n_i                               GAU's relu²(s)/n (8934, 9052)
//
// Sinks (softmax only): `sinks[h]` is a per-head logit z_h in the denominator, a key with a zero
// value that every row sees (onnxruntime's head_sink, gpt-oss); smoothSoftmax is z_h = 0 for every
// head, "+1 in the denominator" (onnxruntime's smooth_softmax). Without either the e^{z_h} term is
// absent. A row that sees no key (or, for softmax and l2, only −∞ logits) outputs zeros; its L_i is
// −∞ (z_h with a sink, log 0 for relu2).

// How a row's weights are normalised.
enum class AttentionNormalize { softmax, relu2, l2 };

template <>
struct EnumNames<AttentionNormalize> {
    static constexpr EnumEntry<AttentionNormalize> entries[] = {
        {"softmax", AttentionNormalize::softmax},
        {"relu2", AttentionNormalize::relu2},
        {"l2", AttentionNormalize::l2},
    };
};

// s from the scaled logit x; cap ≤ 0 means no softcap.
inline double attention_softcap(double x, double cap) { return cap > 0 ? cap * std::tanh(x / cap) : x; }

// d softcap(x)/dx written with the capped value y = cap·tanh(x/cap) (before the additive terms):
// 1 − tanh²(x/cap) = 1 − (y/cap)² (1 without a softcap).
inline double attention_softcap_slope(double y, double cap) { return cap > 0 ? 1.0 - (y / cap) * (y / cap) : 1.0; }

// φ(s), the un-normalised weight.
inline double attention_weight_numerator(AttentionNormalize normalize, double s) {
    if (normalize == AttentionNormalize::relu2) return s > 0 ? s * s : 0.0;
    return std::exp(s);
}

// ∂loss/∂s_ij from P_ij, dP_ij = dO_i·v_j, D_i = dO_i·O_i (= Σ_j P_ij dP_ij) and L_i:
//   softmax  P (dP − D)           (the sink's dP is 0: it has no value)
//   l2       P (dP − P·D)         (∂P_ij/∂s_ik = P_ij δ_jk − P_ij P_ik²)
//   relu2    dP · 2 relu(s) e^{−L} (n_i is a count, not differentiated)
inline double attention_score_gradient(AttentionNormalize normalize, double s, double p, double d_p, double row_dot,
                                       double statistic) {
    switch (normalize) {
        case AttentionNormalize::relu2:
            return s > 0 ? d_p * 2.0 * s * std::exp(-statistic) : 0.0;
        case AttentionNormalize::l2:
            return p * (d_p - p * row_dot);
        case AttentionNormalize::softmax:
        default:
            return p * (d_p - row_dot);
    }
}

// Row i's term of ∂loss/∂z_h = −Σ_{b,i} e^{z_h − L_i} D_i (summed over the rows of head h): the
// sink's weight e^{z_h − L_i} times its dS = P_sink (0 − D_i).
inline double attention_sink_gradient(double sink, double statistic, double row_dot) {
    return -std::exp(sink - statistic) * row_dot;
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

// A sliding window around a query's position p: keys p − left … p + right, both ends inclusive
// (Mistral's is causal with left = w − 1; onnxruntime's local_window_size w is left = w − 1,
// right = 0). A side left out is unbounded; with causal, right is cut to 0.
struct AttentionWindow {
    std::optional<std::size_t> left;
    std::optional<std::size_t> right;
};

template <typename Visitor>
void visit_fields(AttentionWindow& w, Visitor&& field) {
    field("left", w.left);
    field("right", w.right);
}

// The shape of a bias or mask read from the caller's buffer (row-major), broadcast over
// [batch, heads, seq_q, seq_k]: four dims, each that size or 1 (a key-padding mask is
// [batch, 1, 1, seq_k]). The data itself crosses as a heap address (AttentionBuffers).
struct AttentionBroadcast {
    std::vector<std::size_t> shape;
};

template <typename Visitor>
void visit_fields(AttentionBroadcast& t, Visitor&& field) {
    field("shape", t.shape, kRequired);
}

struct AttentionOptions {
    // 'standard' (1/√dim, the default of every peer: PyTorch's scaled_dot_product_attention,
    // onnxruntime), 'entropy' (models trained with it, or run beyond their training length), or a
    // finite number: c_i fixed to it.
    std::variant<AttentionScale, double> scale = AttentionScale::standard;
    double base_len = 512.0;   // the training length at which the entropy scale equals 1/√dim
    double n_min = 16.0;       // floor on n_i: "极短序列scale反而不好" (bert4keras)
    bool clip_below_one = false;
    bool causal = false;
    std::optional<AttentionRope> rope;  // rotate Q and K inside the kernel when set
    std::optional<double> softcap;      // cap > 0: s = cap·tanh(x/cap); absent: s = x
    std::optional<std::vector<double>> sinks;  // [heads] logits z_h in the softmax denominator
    bool smooth_softmax = false;        // z_h = 0 for every head (+1 in the denominator)
    AttentionNormalize normalize = AttentionNormalize::softmax;
    AttentionLayout layout = AttentionLayout::bshd;
    // The element type of the output (and of the backward's O, dO, dQ, dK, dV); empty: the input's.
    std::optional<ElementType> output_type;
    // The element type of Q, K, V: not an option of the JS API, whose facade sets it from the JS
    // type of the arrays (Float32Array; Float16Array or Uint16Array of f16 bits).
    ElementType input_type = ElementType::float32;

    // Right-padded batches: the valid queries and keys of each batch entry ([batch] each).
    std::optional<std::vector<std::size_t>> seq_lens_q, seq_lens_k;
    std::optional<AttentionWindow> window;
    // ALiBi (Press et al., arXiv 2108.12409): −slope_h·|p − j| added to the logits.
    bool alibi = false;
    std::optional<AttentionBroadcast> bias;  // additive, float32, after the scale
    std::optional<AttentionBroadcast> mask;  // boolean bytes, nonzero = may attend

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
    field("seqLensQ", o.seq_lens_q);
    field("seqLensK", o.seq_lens_k);
    field("window", o.window);
    field("alibi", o.alibi);
    field("bias", o.bias);
    field("mask", o.mask);
    field("softcap", o.softcap);
    field("sinks", o.sinks);
    field("smoothSoftmax", o.smooth_softmax);
    field("normalize", o.normalize);
}

// The softcap as a number, 0 without one (what attention_softcap takes).
inline double attention_cap(const AttentionOptions& options) { return options.softcap ? *options.softcap : 0.0; }

// Whether rows have a sink logit, and head h's: sinks[h], or 0 with smoothSoftmax.
inline bool attention_has_sink(const AttentionOptions& options) {
    return options.sinks.has_value() || options.smooth_softmax;
}
inline double attention_sink(const AttentionOptions& options, std::size_t head) {
    return options.sinks ? (*options.sinks)[head] : 0.0;
}

// The caller's buffers read besides q, k, v (null when the option is off): bias [options.bias
// shape] floats, mask [options.mask shape] bytes.
struct AttentionBuffers {
    const float* bias = nullptr;
    const std::uint8_t* mask = nullptr;
};

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
// multiple of kvHeads; causal needs seqQ ≤ seqK (per batch entry with seqLensQ/seqLensK); scale
// finite; baseLen > 1; nMin ≥ 1; with RoPE an even dim, rope.base > 0, rope.rotaryDim even and
// ≤ dim, the frequency rules (rope.hpp), finite positions and no rope.positionsK with
// rope.cachedKeys 'rotated'; seqLensQ/seqLensK of length batch with entries ≤ seqQ/seqK; bias.shape
// and mask.shape four dims broadcasting over [batch, heads, seqQ, seqK]; softcap > 0; sinks: heads
// finite numbers; sinks and smoothSoftmax not both, and only with normalize 'softmax'; q, k, v, the
// output, the bias and the mask fit in the heap. (Negative lengths and windows are refused where
// the JS numbers are read.)
Error attention_validate(const AttentionShape& shape, const AttentionOptions& options);

// The options with the defaults that depend on the shape filled in (rope.rotaryDim = dim).
AttentionOptions attention_resolve(const AttentionShape& shape, AttentionOptions options);

// Lq_b and Lk_b: the valid queries and keys of batch entry b.
std::size_t attention_seq_len_q(const AttentionShape& shape, const AttentionOptions& options, std::size_t b);
std::size_t attention_seq_len_k(const AttentionShape& shape, const AttentionOptions& options, std::size_t b);

// What query row i of batch entry b sees before the mask: its position and the keys [begin, end)
// (begin = end when none; padded rows see none).
struct AttentionRow {
    long position = 0;
    std::size_t begin = 0, end = 0;
    bool empty() const { return end <= begin; }
};
AttentionRow attention_row(const AttentionShape& shape, const AttentionOptions& options, std::size_t b,
                           std::size_t i);

// A [batch|1, heads|1, seq_q|1, seq_k|1] buffer's element strides over (b, h, i, j): 0 where the
// dim is broadcast.
struct AttentionStrides {
    std::size_t b = 0, h = 0, i = 0, j = 0;
    std::size_t at(std::size_t bb, std::size_t hh, std::size_t ii, std::size_t jj) const {
        return bb * b + hh * h + ii * i + jj * j;
    }
};
AttentionStrides attention_strides(const AttentionBroadcast& tensor);

// n_i: the keys of the row's range that the mask (if any; buffers.mask) admits.
std::size_t attention_visible_keys(const AttentionShape& shape, const AttentionOptions& options,
                                   const AttentionBuffers& buffers, std::size_t b, std::size_t h, std::size_t i);

// ALiBi's slope of head h of `heads` (Press et al.'s reference get_slopes): 2^(−8(h+1)/heads) for
// a power of two; otherwise the slopes of the power of two m below, then every other slope of 2m.
double attention_alibi_slope(std::size_t heads, std::size_t h);

// c_i for a row that sees `visible_keys` keys (visible_keys ≥ 1).
double attention_row_scale(const AttentionOptions& options, std::size_t visible_keys, std::size_t dim);

// What the WebGPU kernels read besides the tensors: attention_gpu.hpp.

// Per-row tables in the WASM kernels' own terms (tests and tools; the slopes also feed the plan):
// c_i of every query row [seq_q] for batch 0, and (a·cos, a·sin) per fused-RoPE position
// min(0, seq_k − seq_q) … seq_k − 1 and pair, interleaved (rope_cos_sin_table's layout; empty
// without RoPE), at the default positions.
std::vector<float> attention_row_scales(const AttentionShape& shape, const AttentionOptions& options);
std::vector<float> attention_rope_table(const AttentionShape& shape, const AttentionOptions& options);
// For a kernel porting the padding and window rules (attention_row): (position, begin, end) of
// every query row, [batch, seq_q, 3]; and ALiBi's slopes [heads] (empty without alibi).
std::vector<std::int32_t> attention_row_keys(const AttentionShape& shape, const AttentionOptions& options);
std::vector<float> attention_alibi_slopes(const AttentionShape& shape, const AttentionOptions& options);

// Forward pass. `logsumexp` may be null when no backward pass follows. Outputs must not alias
// inputs. The shape and options must pass attention_validate (asserted). q, k, v hold elements of
// options.input_type, o of options.resolved_output_type() (float32 for both by default, so float
// pointers can be passed as they are).
void attention_forward(const AttentionShape& shape, const AttentionOptions& options, const void* q,
                       const void* k, const void* v, void* o, float* logsumexp,
                       const AttentionBuffers& buffers = {});

// Backward pass from the forward's o and logsumexp: recomputes P tile by tile (FlashAttention-2),
// writes dq, dk, dv (overwritten, not accumulated), and with options.sinks set, d_sinks [heads]
// (float32) when it is not null. No gradient flows to the bias. q, k, v are of the input type; o,
// d_o, dq, dk, dv of the output type.
void attention_backward(const AttentionShape& shape, const AttentionOptions& options, const void* q,
                        const void* k, const void* v, const void* o, const float* logsumexp,
                        const void* d_o, void* dq, void* dk, void* dv, const AttentionBuffers& buffers = {},
                        float* d_sinks = nullptr);

// The double-precision twins (attention_reference.cpp: the definition written with xtensor
// expressions, materialising every score row). logsumexp may be null. The bias is read as floats
// (the kernels' input), the mask as bytes.
void attention_forward_reference(const AttentionShape& shape, const AttentionOptions& options,
                                 const double* q, const double* k, const double* v, double* o,
                                 double* logsumexp, const AttentionBuffers& buffers = {});
void attention_backward_reference(const AttentionShape& shape, const AttentionOptions& options,
                                  const double* q, const double* k, const double* v, const double* d_o,
                                  double* dq, double* dk, double* dv, const AttentionBuffers& buffers = {},
                                  double* d_sinks = nullptr);

// The tiles of the fused kernels (query rows × keys), exposed so tests can aim at tile edges.
std::size_t attention_query_tile();
std::size_t attention_key_tile();

}  // namespace kexue
