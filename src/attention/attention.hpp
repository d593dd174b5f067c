// Entropy-invariant scaled dot-product attention, fused and tiled (FlashAttention-2, Dao 2023),
// with optional fused RoPE, causal masking with a KV-cache offset, and grouped-query attention.
//
//   O = softmax_rows(c_i · Q Kᵀ) V
//
// Shapes (row-major):
//   Q  [batch, seq_q, heads,    dim]      dQ like Q
//   K  [batch, seq_k, kv_heads, dim]      dK like K
//   V  [batch, seq_k, kv_heads, dim_v]    dV like V
//   O  [batch, seq_q, heads,    dim_v]    dO like O
//   logsumexp [batch, heads, seq_q]       log Σ_j exp(c_i q_i·k_j) over the keys row i sees
// Query head h reads kv head h / (heads / kv_heads).
//
// The per-row scale c_i (kexue.fm/archives/8823, 9588, 9708, 9948; bert4keras `softmax_plus`):
//   entropy   c_i = log(max(n_i, n_min)) / log(base_len) / √dim, where n_i is the number of keys
//             row i sees, so that the softmax entropy does not grow with the length; with
//             clip_below_one, c_i = max(1, log(max(n_i, n_min)) / log(base_len)) / √dim, which
//             never softens a model trained at base_len (training-free extrapolation).
//   standard  c_i = 1/√dim.
//   fixed     c_i = fixed_scale.
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
// Memory: nothing of size seq_q × seq_k. The forward pass allocates packed, tile-padded copies of
// the rotated K and of V (about the size of K + V); the backward pass up to about twice K + V,
// then twice Q + dO, one after the other.
#pragma once

#include <cstddef>

#include "attention/rope.hpp"

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

enum class AttentionScale { entropy, standard, fixed };

struct AttentionOptions {
    AttentionScale scale = AttentionScale::entropy;
    double fixed_scale = 1.0;  // c_i when scale is fixed
    double base_len = 512.0;   // the training length at which the entropy scale equals 1/√dim
    double n_min = 16.0;       // floor on n_i: "极短序列scale反而不好" (bert4keras)
    bool clip_below_one = false;
    bool causal = false;
    bool rope = false;  // rotate Q and K inside the kernel
    double rope_base = 10000.0;
    RopeLayout rope_layout = RopeLayout::interleaved;
    std::size_t rope_rotary_dim = 0;  // 0 means dim
    bool rope_float32_angles = false;  // see RopeOptions::float32_angles
};

// Throws std::invalid_argument for: a zero dim, heads not a positive multiple of kv_heads,
// causal with seq_q > seq_k, base_len ≤ 1, n_min < 1, a non-finite fixed scale, or an invalid RoPE
// configuration (odd dim or rotary dim, rotary dim > dim, rope_base ≤ 0).
void attention_validate(const AttentionShape& shape, const AttentionOptions& options);

// c_i for a row that sees `visible_keys` keys (visible_keys ≥ 1).
double attention_row_scale(const AttentionOptions& options, std::size_t visible_keys, std::size_t dim);

// Forward pass. `logsumexp` may be null when no backward pass follows. Outputs must not alias
// inputs.
void attention_forward(const AttentionShape& shape, const AttentionOptions& options, const float* q,
                       const float* k, const float* v, float* o, float* logsumexp);

// Backward pass from the forward's o and logsumexp: recomputes P tile by tile (FlashAttention-2),
// writes dq, dk, dv (overwritten, not accumulated).
void attention_backward(const AttentionShape& shape, const AttentionOptions& options, const float* q,
                        const float* k, const float* v, const float* o, const float* logsumexp,
                        const float* d_o, float* dq, float* dk, float* dv);

// Naive double-precision twins. logsumexp may be null.
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
