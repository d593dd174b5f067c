// Denoising diffusion: the linear β schedule, forward noising, and the DDPM ancestral and DDIM
// samplers (docs/math.md §7.11; kexue.fm/archives/9119 and 9181; Ho et al. 2020, "Denoising
// Diffusion Probabilistic Models"; Song et al., "Denoising Diffusion Implicit Models", arXiv
// 2010.02502). Paper notation: α_t = 1 − β_t, ᾱ_t = Π_{s≤t} α_s, ᾱ_0 = 1, t = 1..T.
//   forward   x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε
//   DDPM      x_{t−1} = (x_t − β_t/√(1 − ᾱ_t) ε_θ)/√α_t + σ_t z,  σ_t² = β_t ('beta') or
//             β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t ('beta_tilde'), z = 0 at the last step
//   DDIM      x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ)/√ᾱ_t,
//             x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s − σ²) ε_θ + σ z,  s < t the previous step of the subsequence,
//             σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s)   (η = 0 deterministic, η = 1 with all
//             steps = DDPM with β̃)
// Shapes (row-major): x, ε, z  rows × dim; the ε-predictor sees the whole batch at one t.
// The update is computed in double per entry and stored as float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "core/random.hpp"

namespace kexue {

// The options of kx.diffusion.linearSchedule (DDPM's defaults: T = 1000, β from 1e−4 to 0.02).
struct LinearScheduleOptions {
    std::size_t steps = 1000;
    double beta_start = 1e-4;
    double beta_end = 0.02;
};

template <typename Visitor>
void visit_fields(LinearScheduleOptions& o, Visitor&& field) {
    field("steps", o.steps, kPositive);
    field("betaStart", o.beta_start);
    field("betaEnd", o.beta_end);
}

// steps ≥ 1, both ends in (0, 1), the T doubles fit in the heap.
Error linear_schedule_validate(const LinearScheduleOptions& options);

// β_t = start + (end − start)(t − 1)/(T − 1), t = 1..T (β_1 = start when T = 1).
std::vector<double> linear_schedule(const LinearScheduleOptions& options);

// A schedule given as β_1..β_T: at least one entry, each a finite number in (0, 1).
Error diffusion_schedule_validate(const std::vector<double>& beta, const std::string& name = "beta");

class DiffusionSchedule {
public:
    explicit DiffusionSchedule(std::vector<double> beta);  // diffusion_schedule_validate passed

    std::size_t steps() const { return beta_.size(); }
    double beta(std::size_t t) const { return beta_[t - 1]; }   // t = 1..T
    double alpha_bar(std::size_t t) const { return alpha_bar_[t]; }  // t = 0..T, ᾱ_0 = 1
    const std::vector<double>& betas() const { return beta_; }
    const std::vector<double>& alpha_bars() const { return alpha_bar_; }

private:
    std::vector<double> beta_;
    std::vector<double> alpha_bar_;
};

// x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε over `count` entries; t = 0..T (t = 0 copies x_0).
void diffusion_add_noise(const DiffusionSchedule& schedule, std::size_t t, const float* x0, const float* eps,
                         std::size_t count, float* xt);

// The options of kx.diffusion.addNoise(x0, eps, { rows, dim, t, beta }).
struct DiffusionNoiseOptions {
    std::size_t rows = 0;
    std::size_t dim = 2;
    std::size_t t = 0;          // 0..T
    std::optional<std::vector<double>> beta;  // unset: linear_schedule defaults
};

template <typename Visitor>
void visit_fields(DiffusionNoiseOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("dim", o.dim, kPositive);
    field("t", o.t, kRequired);
    field("beta", o.beta);
}

// rows, dim ≥ 1, the schedule, t ≤ T, the three rows × dim arrays in the heap.
Error diffusion_noise_validate(const DiffusionNoiseOptions& options);

// The schedule an options struct names: its beta, or the linear defaults when unset.
std::vector<double> schedule_or_default(const std::optional<std::vector<double>>& beta);

enum class DdpmVariance { beta, beta_tilde };

template <>
struct EnumNames<DdpmVariance> {
    static constexpr EnumEntry<DdpmVariance> entries[] = {{"beta", DdpmVariance::beta},
                                                          {"beta_tilde", DdpmVariance::beta_tilde}};
};

enum class DiffusionSampler { ddpm, ddim };

template <>
struct EnumNames<DiffusionSampler> {
    static constexpr EnumEntry<DiffusionSampler> entries[] = {{"ddpm", DiffusionSampler::ddpm},
                                                              {"ddim", DiffusionSampler::ddim}};
};

// One step, per entry (the §7.11 formulas above); z is ignored where σ = 0.
//   DDPM t → t − 1 (t ≥ 1); DDIM t → s (0 ≤ s < t ≤ T), η in [0, 1].
void ddpm_update(const DiffusionSchedule& schedule, std::size_t t, DdpmVariance variance, const float* x,
                 const float* eps, const float* z, std::size_t count, float* out);
void ddim_update(const DiffusionSchedule& schedule, std::size_t t, std::size_t s, double eta, const float* x,
                 const float* eps, const float* z, std::size_t count, float* out);

// The options of kx.diffusion.ddpmSample / ddimSample and DiffusionTrainer.sample.
struct DiffusionSampleOptions {
    DiffusionSampler sampler = DiffusionSampler::ddpm;
    std::size_t rows = 0;                 // samples (the trainer takes n as an argument instead)
    std::size_t dim = 2;                  // coordinates per sample
    std::optional<std::vector<double>> beta;  // β_1..β_T; unset: linear_schedule defaults (or the trainer's)
    DdpmVariance variance = DdpmVariance::beta;  // DDPM's σ_t²
    std::optional<double> eta;            // DDIM only, in [0, 1]; 0 when unset
    std::optional<std::size_t> steps;     // DDIM only: S evenly spaced steps τ_i = 1 + ⌊(i − 1)T/S⌋
    std::vector<std::size_t> timesteps;   // DDIM only: an explicit increasing subsequence of 1..T
    std::uint64_t seed = 0;               // of x_T and the z draws
};

template <typename Visitor>
void visit_fields(DiffusionSampleOptions& o, Visitor&& field) {
    field("sampler", o.sampler);
    field("rows", o.rows);
    field("dim", o.dim, kPositive);
    field("beta", o.beta);
    field("variance", o.variance);
    field("eta", o.eta);
    field("steps", o.steps, kPositive);
    field("timesteps", o.timesteps);
    field("seed", o.seed);
}

// rows ≥ 1 (when `need_rows`), the schedule, η in [0, 1], steps ≤ T, timesteps strictly increasing
// in [1, T], no DDIM-only option with the DDPM sampler, x and the step buffers fit in the heap.
Error diffusion_sample_validate(const DiffusionSampleOptions& options, bool need_rows = true);

// The timesteps a sampler visits, highest first (DDPM: T, T − 1, …, 1; DDIM: its subsequence).
std::vector<std::size_t> diffusion_timesteps(const DiffusionSampleOptions& options, std::size_t T);

// A sampler driven one step at a time, so that the ε-predictor can live anywhere (a C++ model, a
// JS callback): while (!done()) { ε = predict(x(), t()); advance(ε); }. x_T ~ N(0, I) from `seed`.
class DiffusionSamplerState {
public:
    DiffusionSamplerState(DiffusionSchedule schedule, const DiffusionSampleOptions& options);

    bool done() const { return index_ >= timesteps_.size(); }
    std::size_t t() const { return timesteps_[index_]; }
    std::size_t remaining() const { return timesteps_.size() - index_; }
    const std::vector<float>& x() const { return x_; }
    // One update with the predictor's ε (rows × dim): an error (and no step) when ε holds NaN or ±∞.
    Error advance(const float* eps);

private:
    DiffusionSchedule schedule_;
    DiffusionSampleOptions options_;
    std::vector<std::size_t> timesteps_;
    std::size_t index_ = 0;
    Xoshiro256 rng_;
    std::vector<float> x_, z_;
};

}  // namespace kexue
