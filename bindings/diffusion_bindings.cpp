// Embind boundary of the diffusion samplers and trainer (src/diffusion/; docs/math.md §7.11).
// Each call has a `…Plan` binding returning { options } or { error }; compute bindings re-read and
// re-validate the same options object. The samplers run one step per `advance` so that the facade
// can call a JS ε-predictor between steps (a JS exception then never unwinds through C++ frames).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include <emscripten/bind.h>

#include "core/validate.hpp"
#include "diffusion/diffusion.hpp"
#include "diffusion/trainer.hpp"
#include "gan/datasets.hpp"
#include "options.hpp"
#include "toy_trainer_bindings.hpp"

namespace {

using emscripten::val;
using kexue::Error;
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



// kx.diffusion.linearSchedule({ steps, betaStart, betaEnd }).
Error read_linear(const val& options, kexue::LinearScheduleOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::linear_schedule_validate(o);
    return error;
}

val linear_schedule_plan(val options) {
    kexue::LinearScheduleOptions o;
    return plan_result(read_linear(options, o), o);
}

// beta: T doubles; alpha_bar: T + 1 doubles (ᾱ_0 = 1).
val linear_schedule(val options, std::uintptr_t beta, std::uintptr_t alpha_bar) {
    kexue::LinearScheduleOptions o;
    if (Error error = read_linear(options, o)) return to_js_error(error);
    const kexue::DiffusionSchedule schedule(kexue::linear_schedule(o));
    std::copy(schedule.betas().begin(), schedule.betas().end(), at<double>(beta));
    std::copy(schedule.alpha_bars().begin(), schedule.alpha_bars().end(), at<double>(alpha_bar));
    return val::undefined();
}

// kx.diffusion.addNoise(x0, eps, { rows, dim, t, beta }).
Error read_noise(const val& options, kexue::DiffusionNoiseOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::diffusion_noise_validate(o);
    return error;
}

val add_noise_plan(val options) {
    kexue::DiffusionNoiseOptions o;
    return plan_result(read_noise(options, o), o);
}

val add_noise(std::uintptr_t x0, std::uintptr_t eps, std::uintptr_t out, val options) {
    kexue::DiffusionNoiseOptions o;
    if (Error error = read_noise(options, o)) return to_js_error(error);
    const kexue::DiffusionSchedule schedule(kexue::schedule_or_default(o.beta));
    kexue::diffusion_add_noise(schedule, o.t, at<const float>(x0), at<const float>(eps), o.rows * o.dim, at<float>(out));
    return val::undefined();
}

// The samplers' options ({ sampler, rows, dim, beta, variance, eta, steps, timesteps, seed }).
Error read_sample(const val& options, kexue::DiffusionSampleOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::diffusion_sample_validate(o);
    return error;
}

val sample_plan(val options) {
    kexue::DiffusionSampleOptions o;
    return plan_result(read_sample(options, o), o);
}

kexue::DiffusionSampleOptions sample_options(const val& options) {
    kexue::DiffusionSampleOptions o;
    require_valid(read_sample(options, o));
    return o;
}

// A sampler driven step by step from JS: while (!done()) { x(ptr); ε = predictor(x, t()); advance(εPtr); }.
class DiffusionSamplerNative {
public:
    explicit DiffusionSamplerNative(val options)
        : options_(sample_options(options)),
          state_(kexue::DiffusionSchedule(kexue::schedule_or_default(options_.beta)), options_) {}

    bool done() const { return state_.done(); }
    double t() const { return static_cast<double>(state_.t()); }
    double remaining() const { return static_cast<double>(state_.remaining()); }
    void x(std::uintptr_t out) const { std::copy(state_.x().begin(), state_.x().end(), at<float>(out)); }
    val advance(std::uintptr_t eps) { return to_js_error(state_.advance(at<const float>(eps))); }

private:
    kexue::DiffusionSampleOptions options_;
    kexue::DiffusionSamplerState state_;
};

Error read_trainer(const val& options, kexue::DiffusionTrainerOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::diffusion_trainer_validate(o);
    return error;
}

val trainer_plan(val options) {
    kexue::DiffusionTrainerOptions o;
    return plan_result(read_trainer(options, o), o);
}

// A trainer on a built-in dataset or the user's points (pointCount × 2 floats; 0 for none).
class DiffusionTrainerNative {
public:
    DiffusionTrainerNative(val options, std::uintptr_t points, std::uint32_t point_count)
        : options_(read(options)),
          trainer_(toy_trainer_dataset(options_.dataset, points, point_count), options_) {}

    val options() const { return write_options(options_); }
    double steps() const { return static_cast<double>(trainer_.steps()); }

    // step(count, { onProgress, signal }) runs count single steps from JS: count checked first.
    val step_plan(val count) const {
        std::size_t n = 1;
        return to_js_error(read_step_count(count, n));
    }

    kexue::DiffusionTrainer& trainer() { return trainer_; }

    // count (default 1) steps; result: float64 [loss of the last step, mean loss of the call].
    val step(val count, std::uintptr_t result) {
        std::size_t n = 1;
        if (Error error = read_step_count(count, n)) return to_js_error(error);
        double last = 0, sum = 0;
        for (std::size_t i = 0; i < n; ++i) sum += last = trainer_.step();
        at<double>(result)[0] = last;
        at<double>(result)[1] = sum / double(n);
        return val::undefined();
    }

    // sample(n, options) / evaluate(n, options): the sampler options without rows or beta.
    val sample_plan(val n, val options) const {
        std::size_t count = 0;
        kexue::DiffusionSampleOptions o;
        return plan_result(read_sample_call(n, options, count, o, 0), o);
    }
    val sample(val n, val options, std::uintptr_t out) {
        std::size_t count = 0;
        kexue::DiffusionSampleOptions o;
        if (Error error = read_sample_call(n, options, count, o, 0)) return to_js_error(error);
        trainer_.sample(count, o, at<float>(out));
        return val::undefined();
    }
    // result: float64 [highQuality, modes, reverseKL, medianDistance] of n (default 2,500) samples.
    val evaluate(val n, val options, std::uintptr_t result) {
        std::size_t count = 0;
        kexue::DiffusionSampleOptions o;
        if (Error error = read_sample_call(n, options, count, o, 2500)) return to_js_error(error);
        write_mode_metrics(trainer_.evaluate(count, o), result);
        return val::undefined();
    }

    // sample/evaluate with { onProgress, signal }: a run stepped from JS (one timestep per call),
    // the same numbers as sample(). samplingStart returns an error or undefined; one run at a time
    // (a new start replaces the old one, and samplingId tells the facade which is current).
    val sampling_start(val n, val options, bool evaluate) {
        std::size_t count = 0;
        kexue::DiffusionSampleOptions o;
        if (Error error = read_sample_call(n, options, count, o, evaluate ? 2500 : 0)) return to_js_error(error);
        sampling_ = std::make_unique<kexue::DiffusionTrainerSampling>(trainer_, count, o);
        sampling_count_ = count;
        ++sampling_id_;
        return val::undefined();
    }
    double sampling_id() const { return double(sampling_id_); }
    double sampling_total() const { return sampling_ ? double(sampling_->total()) : 0; }
    double sampling_completed() const { return sampling_ ? double(sampling_->completed()) : 0; }
    bool sampling_advance() {
        if (!sampling_ || sampling_->done()) return false;
        sampling_->advance();
        return !sampling_->done();
    }
    void sampling_samples(std::uintptr_t out) const {
        if (sampling_) sampling_->samples(at<float>(out));
    }
    void sampling_metrics(std::uintptr_t result) const {
        if (!sampling_) return;
        std::vector<float> samples(2 * sampling_count_);
        sampling_->samples(samples.data());
        write_mode_metrics(trainer_.metrics(samples.data(), sampling_count_), result);
    }
    void sampling_end() { sampling_.reset(); }

    // predict(x, { rows, t }): ε_θ(x, t), rows × 2.
    val predict_plan(val options) const {
        kexue::DiffusionPredictOptions o;
        return plan_result(read_predict(options, o), o);
    }
    val predict(std::uintptr_t x, std::uintptr_t out, val options) {
        kexue::DiffusionPredictOptions o;
        if (Error error = read_predict(options, o)) return to_js_error(error);
        trainer_.model().predict(at<const float>(x), o.rows, o.t, at<float>(out));
        return val::undefined();
    }

    std::uint32_t parameter_count() { return static_cast<std::uint32_t>(trainer_.model().parameters().size()); }
    void parameters(std::uintptr_t out) {
        const std::vector<float>& p = trainer_.model().parameters();
        std::copy(p.begin(), p.end(), at<float>(out));
    }

private:
    static kexue::DiffusionTrainerOptions read(const val& options) {
        kexue::DiffusionTrainerOptions o;
        require_valid(read_trainer(options, o));
        return o;
    }

    Error read_sample_call(const val& n, const val& options, std::size_t& count, kexue::DiffusionSampleOptions& o,
                           std::size_t fallback) const {
        count = fallback;
        Error error = read_argument("n", n, count, fallback == 0 ? kexue::kRequired | kexue::kPositive : kexue::kPositive);
        if (!error) error = read_options(options, o);
        if (!error) error = kexue::diffusion_trainer_sample_validate(options_, o, "n", count);
        return error;
    }

    Error read_predict(const val& options, kexue::DiffusionPredictOptions& o) const {
        Error error = read_options(options, o);
        if (!error) error = kexue::diffusion_predict_validate(options_, o);
        return error;
    }

    kexue::DiffusionTrainerOptions options_;
    kexue::DiffusionTrainer trainer_;
    std::unique_ptr<kexue::DiffusionTrainerSampling> sampling_;
    std::size_t sampling_count_ = 0;
    std::uint64_t sampling_id_ = 0;
};

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_diffusion) {
    emscripten::function("diffusionLinearSchedulePlan", &linear_schedule_plan);
    emscripten::function("diffusionLinearSchedule", &linear_schedule);
    emscripten::function("diffusionAddNoisePlan", &add_noise_plan);
    emscripten::function("diffusionAddNoise", &add_noise);
    emscripten::function("diffusionSamplePlan", &sample_plan);
    emscripten::function("diffusionTrainerPlan", &trainer_plan);
    emscripten::class_<DiffusionSamplerNative>("DiffusionSamplerNative")
        .constructor<val>()
        .function("done", &DiffusionSamplerNative::done)
        .function("t", &DiffusionSamplerNative::t)
        .function("remaining", &DiffusionSamplerNative::remaining)
        .function("x", &DiffusionSamplerNative::x)
        .function("advance", &DiffusionSamplerNative::advance);
    kexue::bindings::toy_trainer_class<DiffusionTrainerNative>("DiffusionTrainerNative")
        .function("samplingStart", &DiffusionTrainerNative::sampling_start)
        .function("samplingId", &DiffusionTrainerNative::sampling_id)
        .function("samplingTotal", &DiffusionTrainerNative::sampling_total)
        .function("samplingCompleted", &DiffusionTrainerNative::sampling_completed)
        .function("samplingAdvance", &DiffusionTrainerNative::sampling_advance)
        .function("samplingSamples", &DiffusionTrainerNative::sampling_samples)
        .function("samplingMetrics", &DiffusionTrainerNative::sampling_metrics)
        .function("samplingEnd", &DiffusionTrainerNative::sampling_end)
        .function("predictPlan", &DiffusionTrainerNative::predict_plan)
        .function("predict", &DiffusionTrainerNative::predict);
}
