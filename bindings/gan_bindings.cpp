// Embind boundary of the MLP (src/nn/) and the GAN critics and trainer (src/gan/). Options cross as
// plain JS objects read by name into the core's options structs (bindings/options.hpp); each call
// has a `…Plan` binding that validates them with the core's validator and returns { options }
// (resolved) or { error }, and the compute binding re-reads and re-validates the same object and
// returns an error or undefined. Arrays travel as heap addresses whose lengths the facade checked
// against the resolved plan.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <emscripten/bind.h>

#include "core/validate.hpp"
#include "gan/datasets.hpp"
#include "gan/gradient_normalization.hpp"
#include "gan/trainer.hpp"
#include "gan/wgan_gp.hpp"
#include "nn/mlp.hpp"
#include "core/random.hpp"
#include "options.hpp"
#include "toy_trainer_bindings.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::bindings::OptionsWriter;
using kexue::bindings::at;
using kexue::bindings::plan_result;
using kexue::bindings::read_argument;
using kexue::bindings::read_options;
using kexue::bindings::require_valid;
using kexue::bindings::read_step_count;
using kexue::bindings::to_js_error;
using kexue::bindings::toy_trainer_dataset;
using kexue::bindings::write_mode_metrics;
using kexue::bindings::write_options;



val mlp_plan(val options) {
    kexue::MlpOptions o;
    Error error = read_options(options, o);
    if (!error) error = kexue::mlp_validate(o);
    return plan_result(error, o);
}

kexue::MlpOptions mlp_options(const val& options) {
    kexue::MlpOptions o;
    Error error = read_options(options, o);
    if (!error) error = kexue::mlp_validate(o);
    require_valid(error);
    return o;
}

// An MLP with its float32 parameters and reusable workspaces.
class MlpNative {
public:
    explicit MlpNative(val options)
        : options_(mlp_options(options)),
          mlp_(options_.sizes, options_.activation),
          parameters_(mlp_.initial_parameters(options_.seed, options_.initialization)) {}

    val options() const { return write_options(options_); }
    std::uint32_t parameter_count() const { return static_cast<std::uint32_t>(parameters_.size()); }
    void get_parameters(std::uintptr_t out) const { std::copy(parameters_.begin(), parameters_.end(), at<float>(out)); }
    void set_parameters(std::uintptr_t in) {
        const float* p = at<const float>(in);
        std::copy(p, p + parameters_.size(), parameters_.begin());
    }

    // Mlp.forward: { rows }.
    val forward_plan(val options) const {
        kexue::MlpBatchOptions o;
        const Error error = read_forward(options, o);
        return plan_result(error, o);
    }
    // x: rows × n_0 → out: rows × n_L.
    val forward(std::uintptr_t x, std::uintptr_t out, val options) {
        kexue::MlpBatchOptions o;
        if (Error error = read_forward(options, o)) return to_js_error(error);
        mlp_.evaluate(parameters_.data(), at<const float>(x), o.rows, at<float>(out), workspace_);
        return val::undefined();
    }

    // Mlp.inputGradient: { rows }, a network with one output.
    val input_gradient_plan(val options) const {
        kexue::MlpBatchOptions o;
        const Error error = read_input_gradient(options, o);
        return plan_result(error, o);
    }
    val input_gradient(std::uintptr_t x, std::uintptr_t out, val options) {
        kexue::MlpBatchOptions o;
        if (Error error = read_input_gradient(options, o)) return to_js_error(error);
        mlp_.input_gradient(parameters_.data(), at<const float>(x), o.rows, at<float>(out), workspace_);
        return val::undefined();
    }

    // gan.criticLoss: { rows, lambda, penalty } besides the arrays real, fake, interpolation.
    val critic_loss_plan(val options) const {
        kexue::CriticLossOptions o;
        const Error error = read_critic_loss(options, o);
        return plan_result(error, o);
    }
    // result: float64 [loss, penalty]; interpolation: rows weights in [0, 1].
    val critic_loss(std::uintptr_t real, std::uintptr_t fake, std::uintptr_t interpolation, std::uintptr_t gradient,
                    std::uintptr_t norms, std::uintptr_t result, val options) {
        kexue::CriticLossOptions o;
        Error error = read_critic_loss(options, o);
        if (!error) error = kexue::wgan_interpolation_validate(at<const float>(interpolation), o.rows);
        if (error) return to_js_error(error);
        const kexue::CriticLoss loss = kexue::wgan_gp_critic_loss(
            mlp_, parameters_.data(), at<const float>(real), at<const float>(fake), at<const float>(interpolation),
            o.rows, o.gradient_penalty, at<float>(gradient), at<float>(norms), wgan_workspace_);
        at<double>(result)[0] = loss.loss;
        at<double>(result)[1] = loss.penalty;
        return val::undefined();
    }

    // gan.generatorLoss: { rows }.
    val generator_loss_plan(val options) const {
        kexue::MlpBatchOptions o;
        const Error error = read_generator_loss(options, o);
        return plan_result(error, o);
    }
    // result: float64 [loss]; fake_gradient: rows × n_0.
    val generator_loss(std::uintptr_t fake, std::uintptr_t fake_gradient, std::uintptr_t result, val options) {
        kexue::MlpBatchOptions o;
        if (Error error = read_generator_loss(options, o)) return to_js_error(error);
        at<double>(result)[0] = kexue::wgan_generator_loss(mlp_, parameters_.data(), at<const float>(fake), o.rows,
                                                           at<float>(fake_gradient), workspace_);
        return val::undefined();
    }

    // gan.normalizedCritic: { rows, variant, eps }.
    val normalized_critic_plan(val options) const {
        kexue::NormalizedCriticCallOptions o;
        const Error error = read_normalized_critic(options, o);
        return plan_result(error, o);
    }
    val normalized_critic(std::uintptr_t x, std::uintptr_t value, std::uintptr_t parameter_gradient,
                          std::uintptr_t input_gradient, val options) {
        kexue::NormalizedCriticCallOptions o;
        if (Error error = read_normalized_critic(options, o)) return to_js_error(error);
        kexue::normalized_critic(mlp_, parameters_.data(), at<const float>(x), o.rows, o.normalization,
                                 static_cast<const float*>(nullptr), at<float>(value), at<float>(parameter_gradient),
                                 at<float>(input_gradient), normalized_workspace_);
        return val::undefined();
    }

private:
    Error read_forward(const val& options, kexue::MlpBatchOptions& o) const {
        Error error = read_options(options, o);
        if (!error) error = kexue::mlp_batch_validate(options_.sizes, o.rows, 2);
        return error;
    }

    Error read_input_gradient(const val& options, kexue::MlpBatchOptions& o) const {
        Error error = kexue::mlp_single_output_validate(options_.sizes, "sizes", "needs a network with one output");
        if (!error) error = read_options(options, o);
        if (!error) error = kexue::mlp_batch_validate(options_.sizes, o.rows, 4);
        return error;
    }

    Error read_critic_loss(const val& options, kexue::CriticLossOptions& o) const {
        Error error = read_options(options, o, {"real", "fake", "interpolation"});
        if (!error) error = kexue::wgan_critic_loss_validate(options_.sizes, o);
        return error;
    }

    Error read_generator_loss(const val& options, kexue::MlpBatchOptions& o) const {
        Error error = read_options(options, o);
        if (!error) error = kexue::wgan_generator_loss_validate(options_.sizes, o);
        return error;
    }

    Error read_normalized_critic(const val& options, kexue::NormalizedCriticCallOptions& o) const {
        Error error = read_options(options, o);
        if (!error) error = kexue::normalized_critic_validate(options_.sizes, o);
        return error;
    }

    kexue::MlpOptions options_;
    kexue::Mlp<float> mlp_;
    std::vector<float> parameters_;
    kexue::MlpWorkspace<float> workspace_;
    kexue::WganWorkspace<float> wgan_workspace_;
    kexue::NormalizedCriticWorkspace<float> normalized_workspace_;
};

// The trainer's options: the preset is read first, its values become the defaults, then the
// options are read again over them (explicit options override the preset).
Error read_trainer_options(const val& options, kexue::GanTrainerOptions& out) {
    kexue::GanTrainerOptions first;
    Error error = read_options(options, first);
    if (error) return error;
    out = kexue::gan_preset_options(first.preset);
    error = read_options(options, out);
    if (!error) error = kexue::gan_trainer_validate(out);
    return error;
}

val trainer_plan(val options) {
    kexue::GanTrainerOptions o;
    const Error error = read_trainer_options(options, o);
    return plan_result(error, o);
}

// { paper: { lr, beta1, beta2, nCritic, lambda }, toy: { … } }: what each preset sets.
val gan_presets() {
    val presets = val::object();
    for (const auto& entry : kexue::EnumNames<kexue::GanPreset>::entries) {
        kexue::GanTrainerOptions o = kexue::gan_preset_options(entry.value);
        OptionsWriter writer;
        kexue::visit_preset_fields(o, writer);
        presets.set(entry.name, writer.object);
    }
    return presets;
}

// A trainer with the options it was built from. points: pointCount × 2 floats of the user's
// samples (the dataset option is then ignored), or 0.
class GanTrainerNative {
public:
    GanTrainerNative(val options, std::uintptr_t points, std::uint32_t point_count)
        : options_(read(options)),
          trainer_(toy_trainer_dataset(options_.dataset, points, point_count), options_) {}

    val options() const { return write_options(options_); }

    // step(count, { onProgress, signal }) runs count single steps from JS: count checked first.
    val step_plan(val count) const {
        std::size_t n = 1;
        return to_js_error(read_step_count(count, n));
    }

    // count (default 1) generator steps; result: float64 [criticLoss, generatorLoss, gradNorm].
    val step(val count, std::uintptr_t result) {
        std::size_t n = 1;
        if (Error error = read_step_count(count, n)) return to_js_error(error);
        kexue::GanStepResult r{};
        for (std::size_t i = 0; i < n; ++i) r = trainer_.step();
        at<double>(result)[0] = r.critic_loss;
        at<double>(result)[1] = r.generator_loss;
        at<double>(result)[2] = r.gradient_norm;
        return val::undefined();
    }

    // sample(n): n ≥ 1 points, checked before the facade allocates n × 2 floats.
    val sample_plan(val n) const {
        std::size_t count = 0;
        return to_js_error(read_count("n", n, count, 0));
    }
    val sample(val n, std::uintptr_t out) {
        std::size_t count = 0;
        if (Error error = read_count("n", n, count, 0)) return to_js_error(error);
        trainer_.sample(count, at<float>(out));
        return val::undefined();
    }

    // Metrics of n (default 2,500) samples; result: float64 [highQuality, modes, reverseKL, medianDistance].
    val evaluate(val n, std::uintptr_t result) {
        std::size_t count = 0;
        if (Error error = read_count("n", n, count, 2500)) return to_js_error(error);
        write_mode_metrics(trainer_.evaluate(count), result);
        return val::undefined();
    }

    double steps() const { return static_cast<double>(trainer_.steps()); }

    std::uint32_t parameter_count(bool generator) const {
        return static_cast<std::uint32_t>(generator ? trainer_.generator().parameter_count()
                                                    : trainer_.critic().parameter_count());
    }

    void parameters(bool generator, std::uintptr_t out) {
        const std::vector<float>& p = generator ? trainer_.generator_parameters() : trainer_.critic_parameters();
        std::copy(p.begin(), p.end(), at<float>(out));
    }

private:
    static kexue::GanTrainerOptions read(const val& options) {
        kexue::GanTrainerOptions o;
        require_valid(read_trainer_options(options, o));
        return o;
    }

    // A count of samples: `fallback` when undefined (0: required).
    Error read_count(const char* name, const val& value, std::size_t& count, std::size_t fallback) const {
        count = fallback;
        Error error = read_argument(name, value, count, fallback == 0 ? kexue::kRequired | kexue::kPositive
                                                                      : kexue::kPositive);
        if (!error) error = kexue::gan_sample_validate(options_, name, count);
        return error;
    }

    kexue::GanTrainerOptions options_;
    kexue::GanTrainer trainer_;
};

// gan.sampleDataset(name, n, { seed }).
Error read_dataset_call(const val& name, const val& n, const val& options, kexue::ToyDatasetKind& kind,
                        std::size_t& count, kexue::ToyDatasetSampleOptions& o) {
    Error error = read_argument("name", name, kind, kexue::kRequired);
    if (!error) error = read_argument("n", n, count, kexue::kRequired | kexue::kPositive);
    if (!error) error = read_options(options, o);
    if (!error) error = kexue::toy_dataset_sample_validate(kind, count);
    return error;
}

val dataset_sample_plan(val name, val n, val options) {
    kexue::ToyDatasetKind kind{};
    std::size_t count = 0;
    kexue::ToyDatasetSampleOptions o;
    return to_js_error(read_dataset_call(name, n, options, kind, count, o));
}

// n points of a built-in toy dataset into out (n × 2).
val dataset_sample(val name, val n, val options, std::uintptr_t out) {
    kexue::ToyDatasetKind kind{};
    std::size_t count = 0;
    kexue::ToyDatasetSampleOptions o;
    if (Error error = read_dataset_call(name, n, options, kind, count, o)) return to_js_error(error);
    const kexue::ToyDataset dataset = kexue::ToyDataset::named(kind);
    kexue::Xoshiro256 rng(o.seed);
    dataset.sample(rng, count, at<float>(out));
    return val::undefined();
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_gan) {
    emscripten::function("mlpPlan", &mlp_plan);
    emscripten::function("ganTrainerPlan", &trainer_plan);
    emscripten::function("ganPresets", &gan_presets);
    emscripten::function("ganDatasetSamplePlan", &dataset_sample_plan);
    emscripten::function("ganDatasetSample", &dataset_sample);
    emscripten::class_<MlpNative>("MlpNative")
        .constructor<val>()
        .function("options", &MlpNative::options)
        .function("parameterCount", &MlpNative::parameter_count)
        .function("getParameters", &MlpNative::get_parameters)
        .function("setParameters", &MlpNative::set_parameters)
        .function("forwardPlan", &MlpNative::forward_plan)
        .function("forward", &MlpNative::forward)
        .function("inputGradientPlan", &MlpNative::input_gradient_plan)
        .function("inputGradient", &MlpNative::input_gradient)
        .function("criticLossPlan", &MlpNative::critic_loss_plan)
        .function("criticLoss", &MlpNative::critic_loss)
        .function("generatorLossPlan", &MlpNative::generator_loss_plan)
        .function("generatorLoss", &MlpNative::generator_loss)
        .function("normalizedCriticPlan", &MlpNative::normalized_critic_plan)
        .function("normalizedCritic", &MlpNative::normalized_critic);
    kexue::bindings::toy_trainer_class<GanTrainerNative>("GanTrainerNative");
}
