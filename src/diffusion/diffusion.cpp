// docs/math.md §7.11: schedule, forward noising, DDPM and DDIM steps, the step-at-a-time sampler.
#include "diffusion/diffusion.hpp"

#include <algorithm>
#include <cmath>

#include "core/validate.hpp"

namespace kexue {

Error linear_schedule_validate(const LinearScheduleOptions& o) {
    if (Error e = positive("steps", o.steps)) return e;
    if (Error e = finite_in("betaStart", o.beta_start, '(', 0, 1, ')')) return e;
    if (Error e = finite_in("betaEnd", o.beta_end, '(', 0, 1, ')')) return e;
    return buffer_fits("the schedule", {{"steps", o.steps}}, 8);
}

std::vector<double> linear_schedule(const LinearScheduleOptions& o) {
    std::vector<double> beta(o.steps);
    const double span = o.steps > 1 ? double(o.steps - 1) : 1.0;
    for (std::size_t t = 0; t < o.steps; ++t) beta[t] = o.beta_start + (o.beta_end - o.beta_start) * double(t) / span;
    return beta;
}

Error diffusion_schedule_validate(const std::vector<double>& beta, const std::string& name) {
    if (beta.empty()) return range_error(name, "a non-empty array of β_1..β_T", "an empty array");
    for (std::size_t i = 0; i < beta.size(); ++i) {
        if (Error e = finite_in(name + "[" + std::to_string(i) + "]", beta[i], '(', 0, 1, ')')) return e;
    }
    return {};
}

std::vector<double> schedule_or_default(const std::optional<std::vector<double>>& beta) {
    return beta ? *beta : linear_schedule({});
}

Error diffusion_noise_validate(const DiffusionNoiseOptions& o) {
    if (Error e = positive("rows", o.rows)) return e;
    if (Error e = positive("dim", o.dim)) return e;
    if (o.beta) {
        if (Error e = diffusion_schedule_validate(*o.beta)) return e;
    }
    const std::size_t T = o.beta ? o.beta->size() : LinearScheduleOptions{}.steps;
    if (Error e = at_most("t", o.t, T, "the schedule's T")) return e;
    return buffer_fits("x0", {{"rows", o.rows}, {"dim", o.dim}, {"3 arrays", 3}});
}

DiffusionSchedule::DiffusionSchedule(std::vector<double> beta) : beta_(std::move(beta)), alpha_bar_(beta_.size() + 1) {
    alpha_bar_[0] = 1.0;
    for (std::size_t t = 1; t <= beta_.size(); ++t) alpha_bar_[t] = alpha_bar_[t - 1] * (1.0 - beta_[t - 1]);
}

void diffusion_add_noise(const DiffusionSchedule& schedule, std::size_t t, const float* x0, const float* eps,
                         std::size_t count, float* xt) {
    const double a = std::sqrt(schedule.alpha_bar(t)), b = std::sqrt(1.0 - schedule.alpha_bar(t));
    for (std::size_t i = 0; i < count; ++i) xt[i] = static_cast<float>(a * double(x0[i]) + b * double(eps[i]));
}

void ddpm_update(const DiffusionSchedule& schedule, std::size_t t, DdpmVariance variance, const float* x,
                 const float* eps, const float* z, std::size_t count, float* out) {
    const double beta = schedule.beta(t), ab = schedule.alpha_bar(t), ab_prev = schedule.alpha_bar(t - 1);
    const double c = beta / std::sqrt(1.0 - ab);
    const double inv_sqrt_alpha = 1.0 / std::sqrt(1.0 - beta);
    const double var = variance == DdpmVariance::beta ? beta : (1.0 - ab_prev) / (1.0 - ab) * beta;
    const double sigma = t == 1 ? 0.0 : std::sqrt(var);  // z = 0 at the last step
    for (std::size_t i = 0; i < count; ++i) {
        const double mean = (double(x[i]) - c * double(eps[i])) * inv_sqrt_alpha;
        out[i] = static_cast<float>(sigma == 0.0 ? mean : mean + sigma * double(z[i]));
    }
}

void ddim_update(const DiffusionSchedule& schedule, std::size_t t, std::size_t s, double eta, const float* x,
                 const float* eps, const float* z, std::size_t count, float* out) {
    const double ab = schedule.alpha_bar(t), ab_s = schedule.alpha_bar(s);
    const double sigma = eta * std::sqrt((1.0 - ab_s) / (1.0 - ab)) * std::sqrt(1.0 - ab / ab_s);
    const double direction = std::sqrt(std::max(0.0, 1.0 - ab_s - sigma * sigma));
    const double sqrt_ab = std::sqrt(ab), sqrt_1m_ab = std::sqrt(1.0 - ab), sqrt_ab_s = std::sqrt(ab_s);
    for (std::size_t i = 0; i < count; ++i) {
        const double x0 = (double(x[i]) - sqrt_1m_ab * double(eps[i])) / sqrt_ab;
        double next = sqrt_ab_s * x0 + direction * double(eps[i]);
        if (sigma > 0.0) next += sigma * double(z[i]);
        out[i] = static_cast<float>(next);
    }
}

Error diffusion_sample_validate(const DiffusionSampleOptions& o, bool need_rows) {
    if (need_rows) {
        if (Error e = positive("rows", o.rows)) return e;
    }
    if (Error e = positive("dim", o.dim)) return e;
    if (o.beta) {
        if (Error e = diffusion_schedule_validate(*o.beta)) return e;
    }
    const std::size_t T = o.beta ? o.beta->size() : LinearScheduleOptions{}.steps;
    if (o.sampler == DiffusionSampler::ddpm) {
        // Options that would silently do nothing are refused.
        if (o.eta) return range_error_text("eta", "eta applies to the DDIM sampler only");
        if (o.steps) return range_error_text("steps", "steps applies to the DDIM sampler only (DDPM visits all T steps)");
        if (!o.timesteps.empty()) return range_error_text("timesteps", "timesteps applies to the DDIM sampler only");
    } else {
        if (o.eta) {
            if (Error e = finite_in("eta", *o.eta, '[', 0, 1, ']')) return e;
        }
        if (o.steps && !o.timesteps.empty()) {
            return range_error_text("steps", "give steps or timesteps, not both");
        }
        if (o.steps) {
            if (Error e = at_most("steps", *o.steps, T, "the schedule's T")) return e;
        }
        for (std::size_t i = 0; i < o.timesteps.size(); ++i) {
            const std::string name = "timesteps[" + std::to_string(i) + "]";
            const std::size_t v = o.timesteps[i];
            if (v < 1 || v > T) {
                return range_error(name, "an integer in [1, T = " + js_number(std::uint64_t(T)) + "]",
                                   js_number(std::uint64_t(v)));
            }
            if (i > 0 && v <= o.timesteps[i - 1]) {
                return range_error(name, "greater than timesteps[" + std::to_string(i - 1) + "] = " +
                                             js_number(std::uint64_t(o.timesteps[i - 1])) +
                                             " (timesteps must be strictly increasing)",
                                   js_number(std::uint64_t(v)));
            }
        }
    }
    // x, ε, z and the predictor's input: 4 buffers of rows × dim floats.
    return buffer_fits("x", {{"rows", o.rows}, {"dim", o.dim}, {"4 buffers", 4}});
}

std::vector<std::size_t> diffusion_timesteps(const DiffusionSampleOptions& o, std::size_t T) {
    std::vector<std::size_t> ts;
    if (o.sampler == DiffusionSampler::ddim && !o.timesteps.empty()) {
        ts = o.timesteps;
    } else if (o.sampler == DiffusionSampler::ddim && o.steps) {
        const std::size_t S = *o.steps;
        for (std::size_t i = 0; i < S; ++i) ts.push_back(1 + (i * T) / S);  // DDIM's 'linear' τ
    } else {
        for (std::size_t t = 1; t <= T; ++t) ts.push_back(t);
    }
    std::reverse(ts.begin(), ts.end());
    return ts;
}

DiffusionSamplerState::DiffusionSamplerState(DiffusionSchedule schedule, const DiffusionSampleOptions& options)
    : schedule_(std::move(schedule)),
      options_(options),
      timesteps_(diffusion_timesteps(options, schedule_.steps())),
      rng_(options.seed),
      x_(options.rows * options.dim),
      z_(options.rows * options.dim) {
    for (auto& v : x_) v = static_cast<float>(rng_.normal());
}

Error DiffusionSamplerState::advance(const float* eps) {
    const std::size_t count = x_.size();
    for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(eps[i])) {
            return range_error_text("eps", "the predicted ε at t = " + js_number(std::uint64_t(t())) + " holds NaN or Infinity (row " +
                                               js_number(std::uint64_t(i / options_.dim)) + ")");
        }
    }
    const std::size_t t = timesteps_[index_];
    const std::size_t s = index_ + 1 < timesteps_.size() ? timesteps_[index_ + 1] : 0;
    if (options_.sampler == DiffusionSampler::ddpm) {
        if (t > 1) {
            for (auto& v : z_) v = static_cast<float>(rng_.normal());
        }
        ddpm_update(schedule_, t, options_.variance, x_.data(), eps, z_.data(), count, x_.data());
    } else {
        const double eta = options_.eta.value_or(0.0);
        if (eta > 0.0 && s > 0) {
            for (auto& v : z_) v = static_cast<float>(rng_.normal());
        }
        ddim_update(schedule_, t, s, eta, x_.data(), eps, z_.data(), count, x_.data());
    }
    ++index_;
    return {};
}

}  // namespace kexue
