// The transformer itself: parameters, activations and the forward/backward pass of the whole model,
// written once for an arithmetic type Real (layers.hpp). TransformerModel<float> is what
// kx.Transformer trains (transformer.hpp adds generation, fine-tuning and files around it);
// TransformerModel<double> is its float64 reference twin, instantiated in the tests only
// (model_reference.cpp), which tests/model/transformer_test.cpp trains side by side with the float
// model from the same parameters and compares loss by loss.
//
// The model (N = batch·seq rows, D = dModel, H heads of keySize dk for queries and keys and
// D/H for values, Hkv key/value heads, F = ffn):
//   x_0 = E[tokens]
//   pre-rms:   a = RMSNorm(x_l);  m = x_l + Attn(a)·Wo;  x_{l+1} = m + GELU(RMSNorm(m)·W1)·W2
//   post-ln, deepnorm (α = 1, or (2L)^(1/4)):
//              m = LN(α·x_l + Attn(x_l)·Wo);  x_{l+1} = LN(α·m + GELU(m·W1)·W2)
//   Attn(a) = attention(RoPE(a·Wq), RoPE(a·Wk), a·Wv), causal for the causal objective; with
//             attention.talkingHeads the heads' logits and weights are mixed by Pl and Pw [H, H]
//             (layers.hpp, talking_heads_forward)
//   logits = h·Eᵀ (the head tied to the embedding), h = RMSNorm(x_L) (pre-rms) or x_L
//   loss = mean over predicted tokens of lse(logits) − logits[target]
// Parameters live in one flat buffer (and their gradients in another) in the order of tensors(),
// so that AdamW, clipping and the safetensors file walk one list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "model/config.hpp"
#include "model/layers.hpp"

namespace kexue::model {

// What a tensor is, for names, initialisation, weight decay and fine-tuning targets.
// GAU layers (block 'gau') use wv and wo for their V and output projections, wu and wz for U and Z,
// qk_scale and qk_offset for the γ and β of Q and K.
// With attention.talkingHeads each standard layer adds talking_logits (Pl, mixing the logits) and
// talking_weights (Pw, mixing the weights), [H, H] each (layers.hpp).
// The ladder's side network (finetune method 'ladder') adds ladder_down, ladder_gate and ladder_up
// and uses norm_gain, wq, wk, wv, wo, w1, w2 for its own blocks.
enum class TensorKind {
    embedding, norm_gain, norm_bias, wq, wk, wv, wo, w1, w2, wu, wz, qk_scale, qk_offset, talking_logits,
    talking_weights, ladder_down, ladder_gate, ladder_up
};

struct TensorInfo {
    std::string name;                // "layers.0.attn.wq", the safetensors name
    std::vector<std::size_t> shape;  // [rows, cols] for matrices (y = x·W), [D] for norms
    std::size_t offset = 0;          // into parameters() / gradients()
    std::size_t size = 0;
    TensorKind kind = TensorKind::embedding;
    std::size_t layer = 0;
    bool matrix() const { return shape.size() == 2; }
    bool talking() const { return kind == TensorKind::talking_logits || kind == TensorKind::talking_weights; }
    // AdamW's weight decay: the matrices, except the talking-heads ones, which start at the identity
    // (decay would pull them towards 0, where every logit and weight vanishes, not towards I).
    bool decayed() const { return matrix() && !talking(); }
    // A matrix LoRA and GaLore may target: not the embedding (tied to the head) nor the H×H
    // talking-heads matrices.
    bool low_rank_target() const { return matrix() && kind != TensorKind::embedding && !talking(); }
};

// The short target name of a kind ("wq", …, "embedding", "norms").
const char* tensor_kind_target(TensorKind kind);

// The tensors of a resolved configuration, in buffer order.
std::vector<TensorInfo> transformer_tensors(const TransformerConfig& config);

// Floats of activations one training step keeps for its backward pass (and the scratch of the
// backward pass), for batch × seq; what the README's activation-memory table reports.
std::uint64_t transformer_activation_floats(const TransformerConfig& config, std::uint64_t batch, std::uint64_t seq);

// ---- ladder side-tuning (finetune method 'ladder') ---------------------------------------------
//
// Sung, Cho, Bansal 2022, "LST: Ladder Side-Tuning for Parameter and Memory Efficient Transfer
// Learning" (arXiv 2206.06522), §3; Su's reading in kexue.fm/archives/9138. With x_0 = E[tokens] and
// x_1 … x_L the frozen backbone's hidden states (model.hpp's forward pass), N rows, D = dModel and
// the side width d = D/reduction:
//   s_0 = x_0·Wdown_0                                  the embedding's ladder  [N, d]
//   z_l = μ_l·s_l + (1 − μ_l)·x_{l+1}·Wdown_{l+1}     μ_l = σ(α_l/T), T = 0.1, α_l = 0 at the start
//   s_{l+1} = Block_l(z_l)                             pre-RMSNorm attention + GELU FFN at width d
//   h = x_L + s_L·Wup                                  Wup [d, D], zero at the start
//   logits = FinalNorm(h)·Eᵀ                           the backbone's (frozen) final norm and head
// Right after finetune the model is the pretrained one exactly (Wup = 0). Gradients flow through the
// side network, the gates and the ladders only: ∂L/∂x_l is never formed.
struct LadderShape {
    std::size_t width = 0;     // d = dModel/reduction
    std::size_t heads = 0;     // side heads (keys and values alike: no grouped-query attention)
    std::size_t ffn = 0;       // 4·d
    std::size_t reduction = 0;
    std::size_t head_size() const { return heads ? width / heads : 0; }
};
constexpr double kLadderGateTemperature = 0.1;  // T of μ = σ(α/T), the paper's

// The side network of a finetune_resolve'd ladder on a resolved configuration.
LadderShape ladder_shape(const TransformerConfig& config, const FinetuneOptions& options);
// Its tensors, in buffer order: ladder.down.0 … ladder.down.L [D, d]; per side layer
// ladder.layers.l.gate [1] (α), attn_norm.weight [d], attn.wq, wk, wv [d, d], attn.wo [d, d],
// ffn_norm.weight [d], ffn.w1 [d, 4d], ffn.w2 [4d, d]; ladder.up [d, D].
std::vector<TensorInfo> ladder_tensors(const TransformerConfig& config, const LadderShape& shape);
// Floats of activations one ladder step keeps (the backbone's forward without what only its backward
// needs: one layer's scratch reused by every layer, and the hidden states x_0 … x_L the ladders read)
// and the side network's activations and backward scratch.
std::uint64_t ladder_activation_floats(const TransformerConfig& config, const LadderShape& shape, std::uint64_t batch,
                                       std::uint64_t seq);

template <typename Real>
class TransformerModel {
public:
    // `config` resolved and valid (transformer_resolve, transformer_validate). Parameters drawn from
    // Xoshiro256(config.seed) in tensor order.
    explicit TransformerModel(const TransformerConfig& config);

    const TransformerConfig& config() const { return config_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    std::vector<Real>& parameters() { return params_; }
    const std::vector<Real>& parameters() const { return params_; }
    const std::vector<Real>& gradients() const { return grads_; }
    std::vector<Real>& gradients() { return grads_; }

    // Forward pass over `call.batch` rows of tokens (tokens_per_row each), and, when `backward`,
    // the gradients of the mean loss into gradients() (overwritten). Returns the mean loss over the
    // predicted tokens; per_token (batch·seq, may be null) receives each token's loss (0 where the
    // masked objective predicts nothing). `call` and the tokens must pass the validators.
    double forward_backward(const std::int32_t* tokens, const TrainCall& call, bool backward, Real* per_token);

    // One step: forward_backward, flooding, clipping, AdamW over the trainable tensors. Returns the
    // loss before flooding. `trainable` (one flag per tensor) null: all.
    double train_step(const std::int32_t* tokens, const TrainCall& call);
    // The second half of train_step, after forward_backward: clipping and AdamW.
    void apply_update();

    // The global gradient norm of the last train_step, before clipping.
    double last_gradient_norm() const { return last_norm_; }
    std::size_t steps() const { return steps_; }
    // The step count of a loaded model (informational; AdamW restarts its bias correction).
    void set_steps(std::size_t steps) { steps_ = steps; }

    // Which tensors AdamW updates in train_step (all by default); fine-tuning freezes the rest, and
    // their weight gradients are then not computed.
    void set_trainable(const std::vector<bool>& trainable) { trainable_ = trainable; }
    const std::vector<bool>& trainable() const { return trainable_; }
    // Skip AdamW entirely (the low-rank optimizers of transformer.hpp update the weights instead).
    void set_adam_enabled(bool enabled) { adam_enabled_ = enabled; }
    // Fresh AdamW moments and step count (fine-tuning with method 'full').
    void reset_optimizer(const ModelOptimizer& optimizer);
    const ModelOptimizer& optimizer() const { return optimizer_; }
    // Floats of AdamW state kept for the trainable tensors.
    std::size_t adam_state_floats() const;

    // ---- generation with a KV cache (causal objective) ----
    // Drops the cache.
    void reset_cache() { cache_length_ = 0; }
    std::size_t cache_length() const { return cache_length_; }
    // Appends `count` tokens at positions cache_length() … and returns their logits [count, vocab]
    // in `logits` (the last row predicts the next token). cache_length() + count ≤ maxSeq.
    void forward_cached(const std::int32_t* tokens, std::size_t count, std::vector<Real>& logits);

    // ---- ladder side-tuning (LadderShape above) ----
    // From now on the backbone is frozen (every tensor untrainable, its backward pass never run) and
    // a fresh side network, drawn from Xoshiro256(seed + 0x1add3e5) so that the model's own stream
    // does not move, trains with AdamW (the model's optimizer, reset_optimizer). disable_ladder
    // drops it.
    void enable_ladder(const LadderShape& shape);
    void disable_ladder();
    bool ladder_active() const { return ladder_.width != 0; }
    const LadderShape& ladder() const { return ladder_; }
    const std::vector<TensorInfo>& ladder_tensors() const { return ladder_tensors_; }
    std::vector<Real>& ladder_parameters() { return ladder_params_; }
    const std::vector<Real>& ladder_parameters() const { return ladder_params_; }
    const std::vector<Real>& ladder_gradients() const { return ladder_grads_; }

    // The logits [rows·seq, vocab] of the last forward_backward (tests compare them with the cache).
    const std::vector<Real>& last_logits() const { return logits_; }

    // The positions of a call, batch·seq of them (drawn from the model's random stream for
    // 'random'; the stream advances so that two steps get different positions).
    std::vector<double> positions_for(const TrainCall& call);

    // The model's random stream (initialisation, masks, random positions, training windows).
    Xoshiro256& random_stream() { return rng_; }

private:
    struct LayerActs {
        std::vector<Real> norm1, rstd1, mean1;  // pre: RMSNorm(x) / post: unused
        std::vector<Real> q, k, v, att, lse;
        std::vector<Real> s1, mid, mean_mid, rstd_mid;  // post: s1 = αx + att·Wo, mid = LN(s1); pre: mid only
        std::vector<Real> norm2, rstd2;                 // pre: RMSNorm(mid)
        std::vector<Real> hpre, hact;
        std::vector<Real> s2, mean_out, rstd_out;  // post: s2 = α·mid + h·W2
        // Block 'gau' (layers.hpp, gau_forward): norm1/rstd1 (pre) or s1/mid stats (post) as above,
        // q, k, v, att, lse as above (one head), and these.
        std::vector<Real> upre, u, vpre, zpre, z, gate;
        // attention.talkingHeads: the logits S and weights A of every head, [B, H, Sq, Sk].
        std::vector<Real> talk_s, talk_a;
    };

    Real* param(std::size_t tensor) { return params_.data() + tensors_[tensor].offset; }
    Real* grad(std::size_t tensor) { return grads_.data() + tensors_[tensor].offset; }
    Real* grad_if_trainable(std::size_t tensor) { return trainable_[tensor] ? grad(tensor) : nullptr; }
    void init_parameters();
    void ensure_activations(std::size_t batch, std::size_t seq);
    // Runs the layers over rows [batch, seq] with the given positions. With the cache, batch = 1,
    // the keys/values go to the cache at cache_length_ and attention sees the whole cache.
    void forward_layers(const std::int32_t* inputs, std::size_t batch, std::size_t seq, const double* positions,
                        bool use_cache);
    void backward_layers(const std::int32_t* inputs, std::size_t batch, std::size_t seq, const double* positions);
    AttentionOptions attention_options() const;
    Real alpha() const;  // DeepNorm's residual scale (1 for post-ln)
    // Block 'gau': layer l's weights, gradients (null where frozen), activations and sizes.
    GauWeights<Real> gau_weights(std::size_t l);
    GauGrads<Real> gau_grads(std::size_t l);
    GauActs<Real> gau_acts(std::size_t l);
    GauShape gau_shape(std::size_t batch, std::size_t seq) const;

    TransformerConfig config_;
    std::vector<TensorInfo> tensors_;
    std::vector<Real> params_, grads_;
    std::vector<float> adam_m_, adam_v_;  // float moments (adam.hpp), float for both Real
    std::vector<double> adam_m64_, adam_v64_;
    std::vector<bool> trainable_;
    bool adam_enabled_ = true;
    ModelOptimizer optimizer_;
    std::size_t steps_ = 0;
    std::size_t adam_steps_ = 0;
    double last_norm_ = 0;
    Xoshiro256 rng_;

    // Tensor indices: embedding, per layer [norm1 g, (b), wq, wk, wv, wo, (Pl, Pw), norm2 g, (b), w1, w2]
    // (block 'gau': [norm1 g, (b), wu, wv, wz, q_scale, q_offset, k_scale, k_offset, wo]), final norm.
    std::size_t embedding_ = 0, final_norm_ = 0;
    struct LayerParams {
        std::size_t norm1_g = 0, norm1_b = 0, wq = 0, wk = 0, wv = 0, wo = 0, norm2_g = 0, norm2_b = 0, w1 = 0, w2 = 0;
        std::size_t wu = 0, wz = 0, q_scale = 0, q_offset = 0, k_scale = 0, k_offset = 0;
        std::size_t talk_logits = 0, talk_weights = 0;  // attention.talkingHeads: Pl, Pw
    };
    std::vector<LayerParams> layer_params_;

    // Activations (sized for the largest call so far).
    std::size_t capacity_rows_ = 0, capacity_batch_ = 0, capacity_seq_ = 0;
    std::vector<std::vector<Real>> resid_;  // x_0 … x_L
    std::vector<LayerActs> acts_;
    std::vector<Real> final_norm_out_, final_rstd_, logits_, dlogits_, losses_;
    std::vector<Real> dx_, dmid_, dtmp_, dnorm_, dq_, dk_, dv_, datt_, dh_;
    std::vector<std::int32_t> inputs_, targets_;
    // KV cache: per layer [maxSeq, Hkv·dk] rotated keys and [maxSeq, Hkv·dv] values.
    std::vector<std::vector<Real>> cache_k_, cache_v_;
    std::size_t cache_length_ = 0;

    // The ladder's side network: its own tensors, parameters, gradients and AdamW moments.
    struct LadderActs {
        std::vector<Real> down, z;  // x_{l+1}·Wdown_{l+1} and the gate's mix [N, d]
        std::vector<Real> norm1, rstd1, q, k, v, att, lse, mid, norm2, rstd2, hpre, hact;
    };
    void ladder_init();
    void ensure_ladder_activations(std::size_t rows);
    // h = x_L + s_L·Wup from the backbone's hidden states resid_ (with the cache: the side layers' own).
    void ladder_forward(std::size_t batch, std::size_t seq, const double* positions, bool use_cache);
    // The side network's gradients from dL/dh (dh [N, D]).
    void ladder_backward(const Real* dh, std::size_t batch, std::size_t seq, const double* positions);
    Real* ladder_param(std::size_t tensor) { return ladder_params_.data() + ladder_tensors_[tensor].offset; }
    Real* ladder_grad(std::size_t tensor) { return ladder_grads_.data() + ladder_tensors_[tensor].offset; }
    BlockWeights<Real> ladder_block_weights(std::size_t l);
    BlockGrads<Real> ladder_block_grads(std::size_t l);
    BlockActs<Real> ladder_block_acts(std::size_t l);
    BlockShape ladder_block_shape(std::size_t batch, std::size_t seq) const;

    LadderShape ladder_;
    std::vector<TensorInfo> ladder_tensors_;
    std::vector<Real> ladder_params_, ladder_grads_;
    std::vector<double> ladder_m_, ladder_v_;  // AdamW moments (double for both Real: the side network is small)
    std::size_t ladder_capacity_ = 0;
    std::vector<std::vector<Real>> side_;  // s_0 … s_L
    std::vector<LadderActs> ladder_acts_;
    std::vector<Real> ladder_h_;                                                    // [N, D]
    std::vector<Real> ladder_ds_, ladder_dz_, ladder_ddown_, ladder_dmid_, ladder_dtmp_, ladder_dnorm_, ladder_dq_,
        ladder_dk_, ladder_dv_, ladder_datt_, ladder_dffn_;
    std::vector<std::vector<Real>> ladder_cache_k_, ladder_cache_v_;
};

extern template class TransformerModel<float>;

}  // namespace kexue::model
