#include "diffusion/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "core/validate.hpp"

namespace kexue {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<std::size_t> model_sizes(const DiffusionTrainerOptions& o) {
    return mlp_layer_sizes(2 + o.embedding, o.hidden, 2);  // input [x_t, time embedding] → ε
}

}  // namespace

Error diffusion_trainer_validate(const DiffusionTrainerOptions& o) {
    LinearScheduleOptions schedule = o.schedule;
    if (Error e = linear_schedule_validate(schedule)) {
        e.parameter = "schedule." + e.parameter;
        e.text = "schedule." + e.text;
        return e;
    }
    for (std::size_t i = 0; i < o.hidden.size(); ++i) {
        if (Error e = positive("hidden[" + std::to_string(i) + "]", o.hidden[i])) return e;
    }
    if (Error e = positive("embedding", o.embedding)) return e;
    if (o.embedding % 2 != 0) return range_error("embedding", "an even positive integer (sin and cos pairs)", js_number(std::uint64_t(o.embedding)));
    if (Error e = number_greater_than("lr", o.lr, 0)) return e;
    if (Error e = finite_in("beta1", o.beta1, '[', 0, 1, ')')) return e;
    if (Error e = finite_in("beta2", o.beta2, '[', 0, 1, ')')) return e;
    if (Error e = positive("batch", o.batch)) return e;
    const std::vector<std::size_t> sizes = model_sizes(o);
    // Parameters, gradient and two Adam moments; the batch's input, 4 forward/reverse arrays of
    // batch × Σ sizes, and the x_0, ε, x_t, seed buffers.
    const std::uint64_t floats = saturating_sum({checked_product({mlp_parameter_count(sizes), 4}),
                                                 checked_product({o.batch, mlp_width(sizes), 5}),
                                                 checked_product({o.batch, 8})});
    return heap_budget("batch", checked_product({floats, 4}), "the model, its Adam moments and the batch workspaces");
}

Error diffusion_trainer_sample_validate(const DiffusionTrainerOptions& trainer, const DiffusionSampleOptions& o,
                                        const std::string& name, std::size_t n) {
    if (o.beta) return range_error_text("beta", "beta is the trainer's schedule; it cannot be changed when sampling");
    if (o.rows != 0) return range_error_text("rows", "the trainer's sample count is its argument " + name + ", not rows");
    if (o.dim != 2) return range_error("dim", "2 (the toy datasets are 2-D)", js_number(std::uint64_t(o.dim)));
    if (Error e = positive(name, n)) return e;
    DiffusionSampleOptions check = o;
    check.rows = n;
    check.beta = linear_schedule(trainer.schedule);  // T for the step checks
    if (Error e = diffusion_sample_validate(check)) return e;
    const std::vector<std::size_t> sizes = model_sizes(trainer);
    const std::uint64_t floats = saturating_sum({checked_product({n, 8}), checked_product({n, mlp_width(sizes), 3})});
    return heap_budget(name, checked_product({floats, 4}), "the samples and the model's workspace");
}

Error diffusion_predict_validate(const DiffusionTrainerOptions& trainer, const DiffusionPredictOptions& o) {
    if (Error e = positive("rows", o.rows)) return e;
    if (Error e = positive("t", o.t)) return e;
    if (Error e = at_most("t", o.t, trainer.schedule.steps, "the schedule's T")) return e;
    const std::uint64_t floats = saturating_sum({checked_product({o.rows, 4}), checked_product({o.rows, mlp_width(model_sizes(trainer)), 3})});
    return heap_budget("rows", checked_product({floats, 4}), "x, ε and the model's workspace");
}

DiffusionModel::DiffusionModel(const DiffusionTrainerOptions& o)
    : embedding_(o.embedding), steps_(o.schedule.steps), mlp_(model_sizes(o), o.activation), parameters_(mlp_.initial_parameters(o.seed * 2 + 1)) {}

void DiffusionModel::build_input(const float* x, std::size_t rows, const std::size_t* t, std::size_t t_all,
                                 std::vector<float>& input) const {
    const std::size_t width = 2 + embedding_, half = embedding_ / 2;
    input.resize(rows * width);
    for (std::size_t r = 0; r < rows; ++r) {
        float* row = input.data() + r * width;
        row[0] = x[2 * r];
        row[1] = x[2 * r + 1];
        const double tau = double(t ? t[r] : t_all) / double(steps_);
        for (std::size_t k = 0; k < half; ++k) {
            const double angle = tau * kPi * std::ldexp(1.0, int(k));
            row[2 + k] = static_cast<float>(std::sin(angle));
            row[2 + half + k] = static_cast<float>(std::cos(angle));
        }
    }
}

void DiffusionModel::predict(const float* x, std::size_t rows, std::size_t t, float* eps) {
    build_input(x, rows, nullptr, t, input_);
    mlp_.evaluate(parameters_.data(), input_.data(), rows, eps, ws_);
}

DiffusionTrainer::DiffusionTrainer(ToyDataset dataset, const DiffusionTrainerOptions& options)
    : dataset_(std::move(dataset)),
      options_(options),
      schedule_(linear_schedule(options.schedule)),
      rng_(options.seed),
      model_(options),
      adam_(model_.mlp().parameter_count(), AdamOptions{options.lr, options.beta1, options.beta2, 1e-8, 0}) {
    reference_points_ = dataset_.metric_reference_points();
}

double DiffusionTrainer::step() {
    const std::size_t m = options_.batch, T = schedule_.steps();
    x0_.resize(2 * m);
    eps_.resize(2 * m);
    xt_.resize(2 * m);
    t_.resize(m);
    dataset_.sample(rng_, m, x0_.data());
    for (std::size_t r = 0; r < m; ++r) {
        t_[r] = 1 + std::min<std::size_t>(T - 1, static_cast<std::size_t>(rng_.uniform() * double(T)));
        const double a = std::sqrt(schedule_.alpha_bar(t_[r])), b = std::sqrt(1.0 - schedule_.alpha_bar(t_[r]));
        for (std::size_t j = 0; j < 2; ++j) {
            const double e = rng_.normal();
            eps_[2 * r + j] = static_cast<float>(e);
            xt_[2 * r + j] = static_cast<float>(a * double(x0_[2 * r + j]) + b * e);
        }
    }
    model_.build_input(xt_.data(), m, t_.data(), 0, input_);
    const Mlp<float>& mlp = model_.mlp();
    mlp.forward(model_.parameters().data(), input_.data(), m, ws_);
    const std::vector<float>& out = ws_.z[mlp.layers()];
    // L = (1/(2m)) Σ (ε_θ − ε)², ∂L/∂ε_θ = (ε_θ − ε)/m.
    seed_.resize(2 * m);
    double loss = 0;
    for (std::size_t i = 0; i < 2 * m; ++i) {
        const double d = double(out[i]) - double(eps_[i]);
        loss += d * d;
        seed_[i] = static_cast<float>(d / double(m));
    }
    mlp.reverse(model_.parameters().data(), seed_.data(), ws_);
    gradient_.assign(mlp.parameter_count(), 0.0f);
    mlp.accumulate_parameter_gradient(ws_, nullptr, gradient_.data());
    adam_.step(model_.parameters().data(), gradient_.data());
    ++steps_;
    return loss / double(2 * m);
}

namespace {

DiffusionSampleOptions trainer_sample_options(std::size_t count, const DiffusionSampleOptions& options) {
    DiffusionSampleOptions o = options;
    o.rows = count;
    o.dim = 2;
    return o;
}

}  // namespace

DiffusionTrainerSampling::DiffusionTrainerSampling(DiffusionTrainer& trainer, std::size_t count,
                                                   const DiffusionSampleOptions& options)
    : trainer_(trainer),
      count_(count),
      total_(0),
      sampler_(trainer.schedule(), trainer_sample_options(count, options)),
      eps_(2 * count) {
    total_ = sampler_.remaining();
}

void DiffusionTrainerSampling::advance() {
    if (done()) return;
    trainer_.model().predict(sampler_.x().data(), count_, sampler_.t(), eps_.data());
    if (sampler_.advance(eps_.data())) diverged_ = true;
}

void DiffusionTrainerSampling::samples(float* out) const {
    if (diverged_) {
        std::fill(out, out + 2 * count_, NAN);
        return;
    }
    std::copy(sampler_.x().begin(), sampler_.x().end(), out);
}

void DiffusionTrainer::sample(std::size_t count, const DiffusionSampleOptions& options, float* out) {
    DiffusionTrainerSampling run(*this, count, options);
    while (!run.done()) run.advance();
    run.samples(out);
}

GanMetrics DiffusionTrainer::metrics(const float* samples, std::size_t count) const {
    if (dataset_.mode_count() > 0) {
        return mode_metrics(samples, count, dataset_.modes().data(), dataset_.mode_count(), dataset_.mode_std());
    }
    return nearest_point_metrics(samples, count, reference_points_.data(), reference_points_.size() / 2);
}

GanMetrics DiffusionTrainer::evaluate(std::size_t count, const DiffusionSampleOptions& options) {
    std::vector<float> samples(2 * count);
    sample(count, options, samples.data());
    return metrics(samples.data(), count);
}

}  // namespace kexue
