// kx.Transformer: a small decoder (or, with the masked objective, encoder) transformer trained,
// fine-tuned, sampled and saved in the page, on the library's kernels (model.hpp for the model
// itself, layers.hpp for its layers).
//
//   Transformer t(transformer_resolve(config));           // after transformer_validate
//   t.train_step(tokens, call);                           // AdamW, clipping, flooding
//   t.evaluate(tokens, call, per_token);                  // per-token loss
//   t.generate(prompt, length, options);                  // KV cache, temperature, top-k
//   t.finetune(options);                                  // 'full' | 'lora' | 'galore' | 'ladder' from now on
//   auto bytes = t.save();  Transformer::load(bytes …);   // safetensors
//
// Fine-tuning with 'lora' or 'galore' runs one LowRankOptimizer (optim/low_rank_optimizer.hpp;
// kexue.fm/archives/9590) per targeted weight matrix: the network keeps its full matrices, each
// step hands the optimizer the full gradient G = ∂L/∂W, and the optimizer keeps only low-rank state
// (LoRA's A and B with their Adam moments, or GaLore's projector and projected moments). The other
// parameters are frozen and their weight gradients are not computed. With 'ladder' the whole
// backbone is frozen and a side network (model.hpp, LadderShape) trains with AdamW; save() then
// writes its tensors (ladder.*) and options (finetune.*), and load() resumes with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "model/config.hpp"
#include "model/model.hpp"
#include "optim/low_rank_optimizer.hpp"

namespace kexue::model {

// Where the time of the last train_step or evaluate went, in milliseconds (layers.hpp, LayerTimes).
struct StepTimes {
    double total = 0, gemm = 0, attention = 0, rope = 0;
};

struct TrainStepResult {
    double loss = 0;           // before flooding
    double gradient_norm = 0;  // global norm before clipping
    bool refused = false;      // a non-finite gradient: nothing was updated
};

class Transformer {
public:
    // `config` resolved (transformer_resolve) and valid (transformer_validate).
    explicit Transformer(const TransformerConfig& config);

    const TransformerConfig& config() const { return model_.config(); }
    TransformerModel<float>& model() { return model_; }
    const TransformerModel<float>& model() const { return model_; }

    // tokens: batch rows of tokens_per_row(config, call); call and tokens valid
    // (train_call_validate, tokens_validate).
    TrainStepResult train_step(const std::int32_t* tokens, const TrainCall& call);
    // `batch` windows of `row` consecutive corpus tokens at offsets drawn from the model's random
    // stream (so that a seed reproduces a run on a corpus too); length ≥ row.
    std::vector<std::int32_t> sample_windows(const std::int32_t* corpus, std::size_t length, std::size_t batch,
                                             std::size_t row);
    // Mean loss; per_token (batch·seq, may be null) each token's.
    double evaluate(const std::int32_t* tokens, const TrainCall& call, float* per_token);

    // The prompt followed by up to options.max_tokens sampled tokens is what the model sees; returns
    // the sampled tokens. Valid per generate_validate.
    std::vector<std::int32_t> generate(const std::int32_t* prompt, std::size_t prompt_length,
                                       const GenerateOptions& options);

    // From now on train_step updates only the targets, by `method` (finetune_validate first).
    void finetune(const FinetuneOptions& options);
    const std::optional<FinetuneOptions>& finetuning() const { return finetune_; }
    // Floats of optimizer state: AdamW's moments of the trained tensors, or the low-rank optimizers'.
    std::size_t optimizer_state_floats() const;
    // The trained parameter count (all, or the targets after finetune; LoRA counts its factors; the
    // ladder its side network).
    std::size_t trained_parameter_count() const;
    // Floats of activations one train_step of batch × seq keeps: transformer_activation_floats, or
    // with the ladder ladder_activation_floats (model.hpp).
    std::uint64_t activation_floats(std::uint64_t batch, std::uint64_t seq) const;

    const StepTimes& last_times() const { return times_; }

    std::vector<std::uint8_t> save() const;
    // A model from a file written by save() (or by any writer of the same tensors and metadata);
    // every check passes before the model is built, so a refused file leaves nothing behind.
    static Error load(const std::uint8_t* bytes, std::size_t size, std::unique_ptr<Transformer>& out);

private:
    TransformerModel<float> model_;
    std::vector<std::pair<std::size_t, LowRankOptimizer>> low_rank_;  // tensor index, its optimizer
    std::optional<FinetuneOptions> finetune_;
    StepTimes times_;
};

// The metadata key/value pairs of a configuration ("config.vocab" → "256", …) and back: every field
// of visit_fields(TransformerConfig) is written, and read back exactly (numbers as %.17g).
std::vector<std::pair<std::string, std::string>> transformer_config_metadata(const TransformerConfig& config);
Error transformer_config_from_metadata(const std::vector<std::pair<std::string, std::string>>& metadata,
                                       TransformerConfig& config);

// One draw from softmax(logits/temperature) over the topK largest logits (temperature 0: the
// first largest). logits: vocab floats.
std::int32_t sample_token(const float* logits, std::size_t vocab, double temperature, std::size_t top_k,
                          Xoshiro256& rng);

}  // namespace kexue::model
