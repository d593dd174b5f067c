// docs/math.md §7.11: DDPM/DDIM vectors, sampler equivalences, validators, and the toy model
// learning ring8.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "diffusion/diffusion.hpp"
#include "diffusion/trainer.hpp"

namespace kexue {
namespace {

DiffusionSchedule two_steps() { return DiffusionSchedule({0.1, 0.2}); }

TEST(Diffusion, ScheduleVectors) {
    const DiffusionSchedule s = two_steps();
    EXPECT_DOUBLE_EQ(s.alpha_bar(0), 1.0);
    EXPECT_NEAR(s.alpha_bar(1), 0.9, 1e-15);
    EXPECT_NEAR(s.alpha_bar(2), 0.72, 1e-15);
    const std::vector<double> beta = linear_schedule({});
    ASSERT_EQ(beta.size(), 1000u);
    EXPECT_DOUBLE_EQ(beta.front(), 1e-4);
    EXPECT_NEAR(beta.back(), 0.02, 1e-15);
}

// §7.11 vectors: T = 2, x_2 = 1, ε_θ = 0.5, z = 0.3.
TEST(Diffusion, DdpmAndDdimStepVectors) {
    const DiffusionSchedule s = two_steps();
    const float x = 1.0f, eps = 0.5f, z = 0.3f, zero = 0.0f;
    float out = 0;
    ddpm_update(s, 2, DdpmVariance::beta, &x, &eps, &zero, 1, &out);
    EXPECT_NEAR(out, 0.906745425068, 1e-6);
    ddpm_update(s, 2, DdpmVariance::beta, &x, &eps, &z, 1, &out);
    EXPECT_NEAR(out, 1.04090950372, 1e-6);
    ddpm_update(s, 2, DdpmVariance::beta_tilde, &x, &eps, &z, 1, &out);
    EXPECT_NEAR(out, 0.986923797641, 1e-6);
    ddim_update(s, 2, 1, 0.0, &x, &eps, &z, 1, &out);
    EXPECT_NEAR(out, 0.980343882603, 1e-6);
    ddim_update(s, 2, 1, 1.0, &x, &eps, &z, 1, &out);
    EXPECT_NEAR(out, 0.986923797641, 1e-6);
    const float x1 = 0.7f, e1 = 0.2f;
    ddim_update(s, 1, 0, 0.0, &x1, &e1, &z, 1, &out);
    EXPECT_NEAR(out, 0.671198120706, 1e-6);
    // The last DDPM step adds no noise.
    ddpm_update(s, 1, DdpmVariance::beta, &x1, &e1, &z, 1, &out);
    float mean = 0;
    ddpm_update(s, 1, DdpmVariance::beta, &x1, &e1, &zero, 1, &mean);
    EXPECT_EQ(out, mean);
}

TEST(Diffusion, AddNoise) {
    const DiffusionSchedule s = two_steps();
    const float x0 = 2.0f, eps = -1.0f;
    float xt = 0;
    diffusion_add_noise(s, 2, &x0, &eps, 1, &xt);
    EXPECT_NEAR(xt, std::sqrt(0.72) * 2 - std::sqrt(0.28), 1e-6);
}

// Runs a sampler with the exact ε-predictor of data N(μ = 0, s²): x_t ~ N(0, ᾱs² + 1 − ᾱ), so
// E[ε | x_t] = √(1 − ᾱ) x_t/(ᾱs² + 1 − ᾱ); returns the samples' (mean, variance).
std::pair<double, double> sample_moments(const DiffusionSampleOptions& options, double s) {
    const DiffusionSchedule schedule(linear_schedule({}));
    DiffusionSamplerState sampler(schedule, options);
    std::vector<float> eps(options.rows * options.dim);
    while (!sampler.done()) {
        const double ab = schedule.alpha_bar(sampler.t());
        const double c = std::sqrt(1 - ab) / (ab * s * s + 1 - ab);
        for (std::size_t i = 0; i < eps.size(); ++i) eps[i] = static_cast<float>(c * sampler.x()[i]);
        EXPECT_FALSE(sampler.advance(eps.data()));
    }
    double sum = 0, sq = 0;
    for (float v : sampler.x()) sum += v;
    const double mean = sum / double(sampler.x().size());
    for (float v : sampler.x()) sq += (v - mean) * (v - mean);
    return {mean, sq / double(sampler.x().size())};
}

TEST(Diffusion, DdimEtaOneAllStepsMatchesDdpmInDistribution) {
    DiffusionSampleOptions ddpm;
    ddpm.rows = 20000;
    ddpm.dim = 1;
    ddpm.variance = DdpmVariance::beta_tilde;
    ddpm.seed = 1;
    DiffusionSampleOptions ddim = ddpm;
    ddim.sampler = DiffusionSampler::ddim;
    ddim.eta = 1.0;
    ddim.seed = 2;
    const auto [m1, v1] = sample_moments(ddpm, 0.5);
    const auto [m2, v2] = sample_moments(ddim, 0.5);
    // 20,000 samples: the mean's standard error is 0.0035, the variance's ~1%.
    EXPECT_NEAR(m1, 0.0, 0.02);
    EXPECT_NEAR(m2, 0.0, 0.02);
    EXPECT_NEAR(v1, 0.25, 0.015);
    EXPECT_NEAR(v2, 0.25, 0.015);
    EXPECT_NEAR(v2 / v1, 1.0, 0.05);
}

TEST(Diffusion, DdimEtaZeroIsDeterministicGivenXT) {
    DiffusionSampleOptions o;
    o.sampler = DiffusionSampler::ddim;
    o.rows = 4;
    o.dim = 2;
    o.steps = 20;
    o.seed = 7;
    DiffusionSamplerState a(DiffusionSchedule(linear_schedule({})), o), b(DiffusionSchedule(linear_schedule({})), o);
    std::vector<float> eps(8);
    std::size_t count = 0;
    while (!a.done()) {
        ASSERT_EQ(a.t(), b.t());
        for (std::size_t i = 0; i < 8; ++i) eps[i] = 0.1f * a.x()[i];
        a.advance(eps.data());
        b.advance(eps.data());
        ++count;
    }
    EXPECT_EQ(count, 20u);
    EXPECT_EQ(a.x(), b.x());
    const std::vector<std::size_t> ts = diffusion_timesteps(o, 1000);
    EXPECT_EQ(ts.front(), 951u);
    EXPECT_EQ(ts.back(), 1u);
}

TEST(Diffusion, Validators) {
    EXPECT_EQ(diffusion_schedule_validate({0.1, 1.0}).parameter, "beta[1]");
    EXPECT_EQ(diffusion_schedule_validate({0.1, 1.0}).text, "beta[1] must be a finite number in (0, 1), received 1");
    EXPECT_EQ(diffusion_schedule_validate({NAN}).parameter, "beta[0]");
    EXPECT_EQ(diffusion_schedule_validate({}).parameter, "beta");
    DiffusionSampleOptions empty;
    empty.rows = 1;
    empty.beta = std::vector<double>{};
    EXPECT_EQ(diffusion_sample_validate(empty).parameter, "beta");
    LinearScheduleOptions lin;
    lin.beta_end = 1.5;
    EXPECT_EQ(linear_schedule_validate(lin).parameter, "betaEnd");
    DiffusionSampleOptions o;
    EXPECT_EQ(diffusion_sample_validate(o).parameter, "rows");
    o.rows = 3;
    EXPECT_FALSE(diffusion_sample_validate(o));
    o.eta = 0.5;
    EXPECT_EQ(diffusion_sample_validate(o).parameter, "eta");  // DDPM has no η
    o.sampler = DiffusionSampler::ddim;
    EXPECT_FALSE(diffusion_sample_validate(o));
    o.eta = 1.5;
    EXPECT_EQ(diffusion_sample_validate(o).parameter, "eta");
    o.eta = 0.0;
    o.timesteps = {1, 5, 5};
    const Error e = diffusion_sample_validate(o);
    EXPECT_EQ(e.parameter, "timesteps[2]");
    EXPECT_NE(e.text.find("strictly increasing"), std::string::npos);
    o.timesteps = {1, 1001};
    EXPECT_EQ(diffusion_sample_validate(o).parameter, "timesteps[1]");
    o.timesteps.clear();
    o.steps = 1001;
    EXPECT_EQ(diffusion_sample_validate(o).parameter, "steps");
    DiffusionTrainerOptions t;
    t.embedding = 3;
    EXPECT_EQ(diffusion_trainer_validate(t).parameter, "embedding");
    t = {};
    t.schedule.beta_start = 0;
    EXPECT_EQ(diffusion_trainer_validate(t).parameter, "schedule.betaStart");
}

TEST(Diffusion, SamplerRefusesNonFiniteEpsilon) {
    DiffusionSampleOptions o;
    o.rows = 2;
    DiffusionSamplerState s(DiffusionSchedule(linear_schedule({})), o);
    const std::vector<float> eps{0, 0, NAN, 0};
    const Error e = s.advance(eps.data());
    EXPECT_EQ(e.parameter, "eps");
    EXPECT_EQ(s.t(), 1000u);  // no step taken
}

// CI-sized: the model learns ring8 (median distance halves, ≥ 6 of 8 modes).
TEST(Diffusion, LearnsRing8) {
    DiffusionTrainerOptions o;
    o.seed = 1;
    DiffusionTrainer trainer(ToyDataset::ring8(), o);
    DiffusionSampleOptions ddim;
    ddim.sampler = DiffusionSampler::ddim;
    ddim.steps = 50;
    const GanMetrics before = trainer.evaluate(1000, ddim);
    for (int i = 0; i < 3000; ++i) trainer.step();
    const GanMetrics after = trainer.evaluate(1000, ddim);
    EXPECT_LT(after.median_distance, before.median_distance / 2);
    EXPECT_GE(after.modes, 6);
    std::printf("before median %.3f modes %.0f; after median %.3f modes %.0f hq %.3f\n", before.median_distance,
                before.modes, after.median_distance, after.modes, after.high_quality);
}

}  // namespace
}  // namespace kexue
