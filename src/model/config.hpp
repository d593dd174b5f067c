// The configuration of kx.Transformer (src/model/transformer.hpp) and of its calls, with their
// field lists (the one place listing each call's options, core/options.hpp) and validators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "attention/attention.hpp"
#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {
namespace model {

// Where the normalisation sits (kexue.fm/archives/8978, 9009):
//   pre-rms   x + f(RMSNorm(x)), a final RMSNorm before the head (LLaMA's block);
//   post-ln   LayerNorm(x + f(x)) (the original Transformer, BERT);
//   deepnorm  LayerNorm(α·x + f(x)) with α = (2L)^(1/4) and the value, output and FFN weights
//             initialised with gain β = (8L)^(−1/4) (DeepNet, Wang et al. 2022, arXiv 2203.00555, for a
//             decoder of L layers): Su's reading is that α > 1 keeps the residual branch dominant
//             so the post-norm model trains as stably as a pre-norm one while keeping its depth.
enum class NormPlacement { pre_rms, post_ln, deepnorm };

}  // namespace model

// Specialisations live in kexue, EnumNames' namespace.
template <>
struct EnumNames<model::NormPlacement> {
    static constexpr EnumEntry<model::NormPlacement> entries[] = {
        {"pre-rms", model::NormPlacement::pre_rms}, {"post-ln", model::NormPlacement::post_ln}, {"deepnorm", model::NormPlacement::deepnorm}};
};

namespace model {

// What each of the `layers` layers is:
//   transformer  attention then a GELU FFN, each a residual branch with its norm (model.hpp);
//   gau          one Gated Attention Unit (Hua et al. 2022, "Transformer Quality in Linear Time",
//                arXiv 2202.10447; kexue.fm/archives/8934, 9052): a single residual branch
//                O = (U ⊙ A·V)·Wo with U = φ(X·Wu), V = φ(X·Wv) [n, e], Z = φ(X·Wz) [n, s], φ = SiLU,
//                Q, K = per-dimension scale and offset of Z, A the model's attention of Q and K
//                (one head, key size s, value size e). The gate U lets one head do what many do,
//                and the FFN folds into the same block, so a GAU layer costs about the
//                parameters of half a transformer layer at e = 2·dModel (the paper stacks twice
//                as many).
enum class BlockKind { transformer, gau };

}  // namespace model

// Specialisations live in kexue, EnumNames' namespace.
template <>
struct EnumNames<model::BlockKind> {
    static constexpr EnumEntry<model::BlockKind> entries[] = {{"transformer", model::BlockKind::transformer},
                                                       {"gau", model::BlockKind::gau}};
};

namespace model {

// What the model predicts: the next token (causal attention), or masked tokens from both sides
// (bidirectional attention, BERT's 80/10/10 corruption of `maskRate` of the tokens).
enum class Objective { causal, masked };

}  // namespace model

// Specialisations live in kexue, EnumNames' namespace.
template <>
struct EnumNames<model::Objective> {
    static constexpr EnumEntry<model::Objective> entries[] = {{"causal", model::Objective::causal}, {"masked", model::Objective::masked}};
};

namespace model {

// RoPE inside the attention (interleaved pairs, RoFormer).
struct ModelRope {
    double base = 10000.0;
};

template <typename Visitor>
void visit_fields(ModelRope& r, Visitor&& field) {
    field("base", r.base);
}

// The attention options of the model: the kernel's (attention.hpp) that a model fixes. The
// defaults are written here, not taken from the kernel, so that a change of the kernel's defaults
// does not change a saved model.
struct ModelAttention {
    // 'standard' 1/√keySize, 'entropy' log(n)/log(baseLen)/√keySize (kexue.fm/archives/8823), or a number.
    std::variant<AttentionScale, double> scale = AttentionScale::standard;
    double base_len = 512.0;
    double n_min = 1.0;
    std::optional<ModelRope> rope = ModelRope{};
    // How a row's weights are normalised (attention.hpp, AttentionNormalize): 'softmax', 'relu2'
    // (GAU's relu²(s)/n, kexue.fm/archives/8934, 9052) or 'l2' (P_i of unit L2 norm, 9105). With
    // identical tokens a softmax row is an average of identical values whatever RoPE does to the
    // weights, so it cannot tell positions apart; relu2 and l2 rows need not sum to 1, and their
    // output can grow with the number of keys (bench/transformer.mjs, part 'probe').
    AttentionNormalize normalize = AttentionNormalize::softmax;
    // Talking-heads attention (Shazeer et al. 2020, arXiv 2003.02436; layers.hpp): two learned
    // H×H matrices per layer mix the heads' logits before the normalisation and their weights after
    // it. It needs every head's n×n matrices at once, so it runs on a materialised path instead of
    // the fused kernel (memory quadratic in seq). Block 'transformer' only (a GAU has one head).
    bool talking_heads = false;
};

template <typename Visitor>
void visit_fields(ModelAttention& a, Visitor&& field) {
    field("scale", a.scale);
    field("baseLen", a.base_len);
    field("nMin", a.n_min);
    field("rope", a.rope);
    field("normalize", a.normalize);
    field("talkingHeads", a.talking_heads);
}

// The sizes of a GAU layer (block 'gau'); 0: resolved (for block 'gau' only; a 'transformer'
// model keeps 0 here). The paper's defaults are e = 2·dModel and s = 128; kexue takes
// s = min(128, dModel), so that a small model's shared key is not wider than its stream.
struct ModelGau {
    std::size_t expansion = 0;  // e, the width of U and V (and of the attention's values)
    std::size_t key_size = 0;   // s, the width of Z, Q and K
};

template <typename Visitor>
void visit_fields(ModelGau& g, Visitor&& field) {
    field("expansion", g.expansion);
    field("keySize", g.key_size);
}

// AdamW (optim/adam.hpp), global-norm clipping (optim/clipping.hpp) and flooding
// (losses/flooding.hpp, kexue.fm/archives/7643) of trainStep.
struct ModelOptimizer {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.95;
    double eps = 1e-8;
    double weight_decay = 0.0;     // decoupled, on the matrices (not the norms' gains and biases)
    double clip_norm = 1.0;        // 0: no clipping
    std::optional<double> flooding;  // flood level b: train on |L − b| + b
};

template <typename Visitor>
void visit_fields(ModelOptimizer& o, Visitor&& field) {
    field("lr", o.lr);
    field("beta1", o.beta1);
    field("beta2", o.beta2);
    field("eps", o.eps);
    field("weightDecay", o.weight_decay);
    field("clipNorm", o.clip_norm);
    field("flooding", o.flooding);
}

struct TransformerConfig {
    std::size_t vocab = 0;
    std::size_t d_model = 0;
    std::size_t layers = 0;
    std::size_t heads = 0;
    std::size_t kv_heads = 0;  // 0: heads (resolved)
    std::size_t key_size = 0;  // 0: dModel/heads (resolved); may differ (kexue.fm/archives/7325)
    std::size_t ffn = 0;       // 0: 4·dModel (resolved)
    BlockKind block = BlockKind::transformer;
    ModelGau gau;              // block 'gau': e and s (heads must be 1: GAU is single-head)
    NormPlacement norm = NormPlacement::pre_rms;
    Objective objective = Objective::causal;
    double mask_rate = 0.15;
    ModelAttention attention;
    std::size_t max_seq = 1024;
    double init_std = 0.02;
    double norm_eps = 1e-5;
    ModelOptimizer optimizer;
    std::uint64_t seed = 0;
};

template <typename Visitor>
void visit_fields(TransformerConfig& c, Visitor&& field) {
    field("vocab", c.vocab, kRequired | kPositive);
    field("dModel", c.d_model, kRequired | kPositive);
    field("layers", c.layers, kRequired | kPositive);
    field("heads", c.heads, kRequired | kPositive);
    field("kvHeads", c.kv_heads);
    field("keySize", c.key_size);
    field("ffn", c.ffn);
    field("block", c.block);
    field("gau", c.gau);
    field("norm", c.norm);
    field("objective", c.objective);
    field("maskRate", c.mask_rate);
    field("attention", c.attention);
    field("maxSeq", c.max_seq, kPositive);
    field("initStd", c.init_std);
    field("normEps", c.norm_eps);
    field("optimizer", c.optimizer);
    field("seed", c.seed);
}

// kvHeads, keySize and ffn filled in (0 → heads, dModel/heads, 4·dModel); for block 'gau' also
// gau.expansion (0 → 2·dModel) and gau.keySize (0 → min(128, dModel)).
TransformerConfig transformer_resolve(TransformerConfig config);

// The first rule the (resolved) configuration breaks: vocab ≥ 2; dModel, layers, heads ≥ 1; dModel
// a multiple of heads (the value heads are dModel/heads wide); heads a multiple of kvHeads; keySize
// even with RoPE; block 'gau': heads = kvHeads = 1, gau.expansion ≥ 1, gau.keySize ≥ 1 and even
// with RoPE (the transformer's keySize and ffn are then unused and unchecked), and no
// attention.talkingHeads; maskRate in (0, 1) and vocab ≥ 3 for the masked objective (the last id is the mask
// token); the attention and optimizer numbers finite and in range; the parameters within the heap.
Error transformer_validate(const TransformerConfig& config);

// The parameter count of a resolved configuration (64-bit, UINT64_MAX on overflow).
std::uint64_t transformer_parameter_count(const TransformerConfig& config);

// Where the tokens of a row sit for RoPE (docs/math.md §7.17).
//   sequential   0 … seq−1
//   random       a sorted sample of seq distinct integers from [0, positionRange), fresh per row and
//                step (randomised positions: Ruoss et al. 2023, arXiv 2305.16843; kexue.fm/archives/9444)
//   equal-mean   Su's variant for functional encodings such as RoPE (9444): per row draw n from an
//                exponential distribution of mean seq and place the tokens evenly on [0, n],
//                positions i·n/(seq − 1) (fractional), so that on average they span what 0 … seq−1
//                spans, while the model sees every stretch of them
//   given        the caller's positions (an array; native: TrainCall::given)
enum class PositionMode { sequential, random, equal_mean };

}  // namespace model

// Specialisations live in kexue, EnumNames' namespace.
template <>
struct EnumNames<model::PositionMode> {
    static constexpr EnumEntry<model::PositionMode> entries[] = {{"sequential", model::PositionMode::sequential},
                                                          {"random", model::PositionMode::random},
                                                          {"equal-mean", model::PositionMode::equal_mean}};
};

namespace model {

// The options of trainStep / evaluate: tokens hold `batch` rows of seq + 1 tokens (inputs 0…seq−1,
// targets 1…seq) for the causal objective, rows of seq tokens for the masked one. With a separate
// targets array (causal only) the tokens are rows of seq inputs and target i is what position i
// predicts (seeing inputs 0…i): tasks whose labels are not the next input, such as counting
// identical tokens (kexue.fm/archives/9105; bench/transformer.mjs, part 'probe').
struct TrainCall {
    std::size_t batch = 1;
    std::size_t seq = 0;
    PositionMode positions = PositionMode::sequential;
    std::size_t position_range = 0;  // 0: maxSeq (random and equal-mean positions)
    std::uint64_t seed = 0;          // evaluate with the masked objective: which tokens are masked
    // Native only: seq (shared by the rows) or batch·seq positions; the JS facade copies its
    // `positions` array here. Null: `positions` says.
    const double* given = nullptr;
    std::size_t given_count = 0;
    // Native only: batch·seq target ids, each in [0, vocab) or −1 (not predicted); the JS facade
    // copies its `targets` array here. with_targets says a targets array comes with the call (a
    // plan sets it alone, before the array is in the heap); it makes a row seq tokens.
    bool with_targets = false;
    const std::int32_t* targets = nullptr;
    std::size_t targets_count = 0;
};

template <typename Visitor>
void visit_fields(TrainCall& c, Visitor&& field) {
    field("batch", c.batch, kPositive);
    field("seq", c.seq, kRequired | kPositive);
    field("positions", c.positions);
    field("positionRange", c.position_range);
    field("seed", c.seed);
}

// Su's equal-mean positions for one row: linspace(0, 1, seq)·n, e.g. seq 5, n 8 → 0, 2, 4, 6, 8.
void equal_mean_positions(std::size_t seq, double n, double* out);

// The tokens per row the call reads: seq + 1 (causal) or seq (masked, or with separate targets).
std::size_t tokens_per_row(const TransformerConfig& config, const TrainCall& call);

// The first rule broken: batch, seq ≥ 1; seq ≤ maxSeq; positionRange (resolved) ≥ seq and ≤ 2^31
// for random positions; given positions: seq or batch·seq of them, finite; separate targets only
// with the causal objective, batch·seq of them, each in [−1, vocab); the activations within the heap.
Error train_call_validate(const TransformerConfig& config, const TrainCall& call);

// The first token outside [0, vocab) (the masked objective also refuses vocab − 1, its mask id):
// "tokens[7] must be an integer in [0, 255], received 300".
Error tokens_validate(const TransformerConfig& config, const std::int32_t* tokens, std::size_t count,
                      const std::string& name = "tokens");

// generate(prompt, { maxTokens, temperature, topK, seed }).
struct GenerateOptions {
    std::size_t max_tokens = 64;
    double temperature = 1.0;  // 0: greedy
    std::size_t top_k = 0;     // 0: the whole vocabulary
    std::uint64_t seed = 0;
};

template <typename Visitor>
void visit_fields(GenerateOptions& o, Visitor&& field) {
    field("maxTokens", o.max_tokens);
    field("temperature", o.temperature);
    field("topK", o.top_k);
    field("seed", o.seed);
}

// prompt ≥ 1 token; prompt + maxTokens ≤ maxSeq; temperature ≥ 0; topK ≤ vocab; the causal objective.
Error generate_validate(const TransformerConfig& config, std::size_t prompt_length, const GenerateOptions& options);

// finetune({ method, rank, targets, lr, … }): which weights train from now on and how.
//   full    AdamW on the targets;
//   lora, galore  one LowRankOptimizer per targeted matrix (transformer.hpp);
//   ladder  ladder side-tuning (Sung, Cho, Bansal 2022, arXiv 2206.06522; kexue.fm/archives/9138):
//           the whole backbone is frozen and its backward pass never runs; a side network of
//           width dModel/reduction reads the backbone's hidden states through down-projections
//           ("ladders") and adds its output, projected up, to the last hidden state (model.hpp,
//           LadderShape). Only the side network trains, so the gradients, the optimizer state and
//           the activations kept for the backward pass are the side network's.
enum class FinetuneMethod { full, lora, galore, ladder };

}  // namespace model

// Specialisations live in kexue, EnumNames' namespace.
template <>
struct EnumNames<model::FinetuneMethod> {
    static constexpr EnumEntry<model::FinetuneMethod> entries[] = {
        {"full", model::FinetuneMethod::full}, {"lora", model::FinetuneMethod::lora}, {"galore", model::FinetuneMethod::galore},
        {"ladder", model::FinetuneMethod::ladder}};
};

namespace model {

struct FinetuneOptions {
    FinetuneMethod method = FinetuneMethod::lora;
    std::size_t rank = 8;
    // Matrix kinds of every layer: 'wq', 'wk', 'wv', 'wo', 'w1', 'w2' (block 'gau': 'wu', 'wv',
    // 'wz', 'wo') and for 'full' also 'embedding', 'norms' (and for 'gau' 'scaleOffset', the
    // per-dimension γ and β of Q and K; with attention.talkingHeads 'talking', the two H×H mixing
    // matrices, which 'lora' and 'galore' refuse: a rank-r factor of an H×H matrix saves nothing). Empty: every matrix of every layer ('full': every parameter).
    std::vector<std::string> targets;
    double lr = 1e-3;
    double scale = 1.0;                // LoRA's s (W = W0 + s·A·B), GaLore's α
    std::size_t update_proj_gap = 50;  // GaLore
    double weight_decay = 0.0;
    // Ladder: the side network's width is dModel/reduction (the paper's r = 8), with side_heads
    // heads (0: resolved by finetune_resolve to the most heads, at most the backbone's, that keep
    // a side head at least 8 wide and divide the width).
    std::size_t reduction = 8;
    std::size_t side_heads = 0;
};

template <typename Visitor>
void visit_fields(FinetuneOptions& o, Visitor&& field) {
    field("method", o.method);
    field("rank", o.rank, kPositive);
    field("targets", o.targets);
    field("lr", o.lr);
    field("scale", o.scale);
    field("updateProjGap", o.update_proj_gap, kPositive);
    field("weightDecay", o.weight_decay);
    field("reduction", o.reduction, kPositive);
    field("sideHeads", o.side_heads);
}

// The known target names, each at most once; rank ≤ min(rows, cols) of every targeted matrix;
// lr, scale, weightDecay finite (lr > 0). Ladder: block 'transformer'; no targets (the side
// network is what trains); reduction a divisor of dModel; sideHeads (resolved) a divisor of the side
// width dModel/reduction, whose head size is even with RoPE.
Error finetune_validate(const TransformerConfig& config, const FinetuneOptions& options);

// sideHeads filled in for the ladder (0 → the most heads h ≤ heads with (dModel/reduction)/h ≥ 8
// that divide the side width; 1 when the side width is below 16).
FinetuneOptions finetune_resolve(const TransformerConfig& config, FinetuneOptions options);

}  // namespace model
}  // namespace kexue
