// Embind boundary of kx.Transformer (src/model/transformer.hpp). Options cross by name
// (bindings/options.hpp) into the core's structs and are checked by its validators: the
// constructor's by transformerPlan, each call's by its `…Plan` method, and again by the compute
// method itself. Tokens travel as int32 heap buffers, positions as float64 ones; the facade
// (bindings/js/transformer.js) checks only their JS types.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <emscripten/bind.h>

#include "core/validate.hpp"
#include "model/transformer.hpp"
#include "options.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::bindings::at;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::require_valid;
using kexue::bindings::to_js_error;
using kexue::bindings::write_options;
namespace model = kexue::model;

val error_result(const Error& error) {
    val out = val::object();
    out.set("error", to_js_error(error));
    return out;
}

Error read_config(const val& options, model::TransformerConfig& config) {
    Error error = read_options(options, config);
    if (!error) {
        config = model::transformer_resolve(config);
        error = model::transformer_validate(config);
    }
    return error;
}

// { options } (resolved: kvHeads, keySize, ffn filled in) or { error }.
val transformer_plan(val options) {
    model::TransformerConfig config;
    const Error error = read_config(options, config);
    return plan_result(error, config);
}

// The positions and targets arrays are the facade's: it copies them into the heap and passes the rest.
const std::vector<std::string> kCallArrays{"positions", "targets"};

class TransformerNative {
public:
    explicit TransformerNative(val options) : t_(std::make_unique<model::Transformer>(read(options))) {}
    explicit TransformerNative(std::unique_ptr<model::Transformer> t) : t_(std::move(t)) {}

    val options() const { return write_options(t_->config()); }
    // The backbone's parameters, then (while the ladder is active) its side network's: the tensors
    // of the safetensors file, in tensors()'s order.
    double parameter_count() const {
        return static_cast<double>(t_->model().parameters().size() + t_->model().ladder_parameters().size());
    }
    void read_parameters(std::uintptr_t out) const {
        const auto& backbone = t_->model().parameters();
        const auto& side = t_->model().ladder_parameters();
        std::copy(side.begin(), side.end(), std::copy(backbone.begin(), backbone.end(), at<float>(out)));
    }
    double steps() const { return static_cast<double>(t_->model().steps()); }
    double optimizer_state_floats() const { return static_cast<double>(t_->optimizer_state_floats()); }
    double trained_parameter_count() const { return static_cast<double>(t_->trained_parameter_count()); }
    double activation_floats(double batch, double seq) const {
        // With the ladder: the frozen backbone's forward pass and the side network's step.
        return static_cast<double>(t_->activation_floats(static_cast<std::uint64_t>(batch), static_cast<std::uint64_t>(seq)));
    }
    // { totalMs, gemmMs, attentionMs, ropeMs } of the last trainStep, evaluate or generate.
    val last_times() const {
        const model::StepTimes& t = t_->last_times();
        val out = val::object();
        out.set("totalMs", t.total);
        out.set("gemmMs", t.gemm);
        out.set("attentionMs", t.attention);
        out.set("ropeMs", t.rope);
        return out;
    }
    val finetuning() const {
        if (!t_->finetuning()) return val::null();
        return write_options(*t_->finetuning());
    }
    // [{ name, shape, offset }] into parameters(): the backbone's tensors, then the ladder's.
    val tensors() const {
        val out = val::array();
        std::size_t i = 0;
        const auto list = [&](const std::vector<model::TensorInfo>& tensors, std::size_t base) {
            for (const model::TensorInfo& t : tensors) {
                val entry = val::object();
                entry.set("name", t.name);
                val shape = val::array();
                for (std::size_t k = 0; k < t.shape.size(); ++k) shape.set(k, static_cast<double>(t.shape[k]));
                entry.set("shape", shape);
                entry.set("offset", static_cast<double>(base + t.offset));
                out.set(i++, entry);
            }
        };
        list(t_->model().tensors(), 0);
        list(t_->model().ladder_tensors(), t_->model().parameters().size());
        return out;
    }

    // trainStep/evaluate: { options, tokensPerRow, tokens } or { error }; with_targets: a targets
    // array will come with the call (rows of seq tokens).
    val call_plan(val options, bool with_targets) const {
        model::TrainCall call;
        call.with_targets = with_targets;
        Error error = read_call(options, 0, 0, 0, 0, call);
        val out = plan_result(error, call);
        if (!error) {
            out.set("tokensPerRow", static_cast<double>(model::tokens_per_row(t_->config(), call)));
            out.set("tokens", static_cast<double>(call.batch * model::tokens_per_row(t_->config(), call)));
        }
        return out;
    }

    // { loss, gradientNorm } or { error }.
    val train_step(std::uintptr_t tokens, double token_count, std::uintptr_t positions, double position_count,
                   std::uintptr_t targets, double target_count, val options) {
        model::TrainCall call;
        if (Error e = read_call(options, positions, position_count, targets, target_count, call)) return error_result(e);
        if (Error e = check_tokens(tokens, token_count, call)) return error_result(e);
        return step_result(t_->train_step(at<const std::int32_t>(tokens), call));
    }

    // One step on `batch` windows drawn from a corpus (train()): { loss, gradientNorm } or { error }.
    val train_windows(std::uintptr_t corpus, double corpus_length, std::uintptr_t positions, double position_count,
                      val options) {
        model::TrainCall call;
        if (Error e = read_call(options, positions, position_count, 0, 0, call)) return error_result(e);
        const std::size_t row = model::tokens_per_row(t_->config(), call);
        const auto length = static_cast<std::size_t>(corpus_length);
        if (length < row) {
            return error_result(kexue::range_error("tokens", "at least " + kexue::js_number(std::uint64_t(row)) +
                                                                 " tokens (one window of seq + 1)",
                                                   kexue::js_number(std::uint64_t(length)) + " tokens"));
        }
        const auto batch = t_->sample_windows(at<const std::int32_t>(corpus), length, call.batch, row);
        if (Error e = model::tokens_validate(t_->config(), batch.data(), batch.size())) return error_result(e);
        return step_result(t_->train_step(batch.data(), call));
    }

    // Every token of a buffer in [0, vocab): undefined or the error.
    val check_tokens_buffer(std::uintptr_t tokens, double count) const {
        return to_js_error(model::tokens_validate(t_->config(), at<const std::int32_t>(tokens),
                                                  static_cast<std::size_t>(count)));
    }

    // { loss } (mean) with per-token losses in `out` (batch·seq floats), or { error }.
    val evaluate(std::uintptr_t tokens, double token_count, std::uintptr_t positions, double position_count,
                 std::uintptr_t targets, double target_count, val options, std::uintptr_t out) {
        model::TrainCall call;
        if (Error e = read_call(options, positions, position_count, targets, target_count, call)) return error_result(e);
        if (Error e = check_tokens(tokens, token_count, call)) return error_result(e);
        val result = val::object();
        result.set("loss", t_->evaluate(at<const std::int32_t>(tokens), call, at<float>(out)));
        return result;
    }

    val generate_plan(double prompt_length, val options) const {
        model::GenerateOptions o;
        return plan_result(read_generate(prompt_length, options, o), o);
    }

    // { count } with the sampled tokens in `out` (maxTokens int32), or { error }.
    val generate(std::uintptr_t prompt, double prompt_length, val options, std::uintptr_t out) {
        model::GenerateOptions o;
        if (Error e = read_generate(prompt_length, options, o)) return error_result(e);
        const auto length = static_cast<std::size_t>(prompt_length);
        if (Error e = model::tokens_validate(t_->config(), at<const std::int32_t>(prompt), length, "prompt"))
            return error_result(e);
        const auto tokens = t_->generate(at<const std::int32_t>(prompt), length, o);
        std::copy(tokens.begin(), tokens.end(), at<std::int32_t>(out));
        val result = val::object();
        result.set("count", static_cast<double>(tokens.size()));
        return result;
    }

    // { options } (resolved: the ladder's sideHeads filled in) or { error }; the change happens only
    // when it is valid.
    val finetune(val options) {
        model::FinetuneOptions o;
        Error error = read_options(options, o);
        if (!error) error = model::finetune_validate(t_->config(), o);
        if (!error) {
            o = model::finetune_resolve(t_->config(), o);
            t_->finetune(o);
        }
        return plan_result(error, o);
    }

    // A new Uint8Array with the safetensors file.
    val save() const {
        const std::vector<std::uint8_t> bytes = t_->save();
        return val(emscripten::typed_memory_view(bytes.size(), bytes.data())).call<val>("slice");
    }

    // { transformer } or { error }.
    static val load(std::uintptr_t bytes, double size) {
        std::unique_ptr<model::Transformer> loaded;
        if (Error e = model::Transformer::load(at<const std::uint8_t>(bytes), static_cast<std::size_t>(size), loaded))
            return error_result(e);
        val out = val::object();
        out.set("transformer", val(TransformerNative(std::move(loaded))));
        return out;
    }

private:
    static model::TransformerConfig read(const val& options) {
        model::TransformerConfig config;
        require_valid(read_config(options, config));
        return config;
    }

    Error read_call(const val& options, std::uintptr_t positions, double position_count, std::uintptr_t targets,
                    double target_count, model::TrainCall& call) const {
        Error error = read_options(options, call, kCallArrays);
        if (!error && positions) {
            call.given = at<const double>(positions);
            call.given_count = static_cast<std::size_t>(position_count);
        }
        if (!error && targets) {
            call.with_targets = true;
            call.targets = at<const std::int32_t>(targets);
            call.targets_count = static_cast<std::size_t>(target_count);
        }
        if (!error) error = model::train_call_validate(t_->config(), call);
        if (!error && t_->model().ladder_active()) {
            // The ladder's step keeps other activations than the whole model's (ladder_activation_floats).
            const std::uint64_t floats = t_->activation_floats(call.batch, call.seq);
            const std::uint64_t tokens = kexue::checked_product({call.batch, model::tokens_per_row(t_->config(), call)});
            error = kexue::heap_budget("batch", kexue::saturating_sum({kexue::checked_product({floats, 4}),
                                                                       kexue::checked_product({tokens, 4})}),
                                       "the activations of batch × seq tokens");
        }
        return error;
    }

    Error check_tokens(std::uintptr_t tokens, double token_count, const model::TrainCall& call) const {
        const std::uint64_t expected = kexue::checked_product({call.batch, model::tokens_per_row(t_->config(), call)});
        const auto count = static_cast<std::uint64_t>(token_count);
        if (count != expected) {
            const bool causal = t_->config().objective == model::Objective::causal && !call.targets;
            return kexue::range_error("tokens", std::string("batch·") + (causal ? "(seq + 1)" : "seq") + " = " +
                                                    kexue::js_number(expected) + " tokens",
                                      kexue::js_number(count));
        }
        return model::tokens_validate(t_->config(), at<const std::int32_t>(tokens), static_cast<std::size_t>(count));
    }

    Error read_generate(double prompt_length, const val& options, model::GenerateOptions& o) const {
        Error error = read_options(options, o);
        if (!error) error = model::generate_validate(t_->config(), static_cast<std::size_t>(prompt_length), o);
        return error;
    }

    static val step_result(const model::TrainStepResult& r) {
        if (r.refused) {
            return error_result(kexue::range_error_text(
                "tokens", "the gradient is not finite (loss " + kexue::js_number(r.loss) +
                              "): the step was refused and the weights are unchanged; lower optimizer.lr"));
        }
        val out = val::object();
        out.set("loss", r.loss);
        out.set("gradientNorm", r.gradient_norm);
        return out;
    }

    std::unique_ptr<model::Transformer> t_;
};

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_transformer) {
    emscripten::function("transformerPlan", &transformer_plan);
    emscripten::class_<TransformerNative>("TransformerNative")
        .constructor<val>()
        .class_function("load", &TransformerNative::load)
        .function("options", &TransformerNative::options)
        .function("parameterCount", &TransformerNative::parameter_count)
        .function("readParameters", &TransformerNative::read_parameters)
        .function("steps", &TransformerNative::steps)
        .function("optimizerStateFloats", &TransformerNative::optimizer_state_floats)
        .function("trainedParameterCount", &TransformerNative::trained_parameter_count)
        .function("activationFloats", &TransformerNative::activation_floats)
        .function("finetuning", &TransformerNative::finetuning)
        .function("lastTimes", &TransformerNative::last_times)
        .function("tensors", &TransformerNative::tensors)
        .function("callPlan", &TransformerNative::call_plan)
        .function("trainStep", &TransformerNative::train_step)
        .function("trainWindows", &TransformerNative::train_windows)
        .function("checkTokens", &TransformerNative::check_tokens_buffer)
        .function("evaluate", &TransformerNative::evaluate)
        .function("generatePlan", &TransformerNative::generate_plan)
        .function("generate", &TransformerNative::generate)
        .function("finetune", &TransformerNative::finetune)
        .function("save", &TransformerNative::save);
}
