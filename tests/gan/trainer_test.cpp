// Toy datasets, the mode metrics, and the trainer's reproducibility (the "does it learn" run is
// in the JS suite, on the WASM module, where it is fast).
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "gan/trainer.hpp"

namespace kexue {
namespace {

TEST(GanDatasets, ModesAndSpread) {
    const auto ring = ToyDataset::ring8();
    ASSERT_EQ(ring.mode_count(), 8u);
    EXPECT_NEAR(ring.modes()[2], std::sqrt(0.5), 1e-12);
    const auto grid = ToyDataset::grid25();
    ASSERT_EQ(grid.mode_count(), 25u);
    EXPECT_EQ(grid.modes()[0], -4.0);
    EXPECT_EQ(grid.modes()[49], 4.0);
    // Data drawn from the dataset itself scores as a perfect generator would.
    for (const auto& d : {ring, grid}) {
        Xoshiro256 rng(1);
        std::vector<float> x(2 * 2500);
        d.sample(rng, 2500, x.data());
        const auto m = mode_metrics(x.data(), 2500, d.modes().data(), d.mode_count(), d.mode_std());
        EXPECT_GT(m.high_quality, 0.98);
        EXPECT_EQ(m.modes, double(d.mode_count()));
        EXPECT_LT(m.reverse_kl, 0.02);
        // Median of a 2-D Gaussian's radius: σ sqrt(2 ln 2).
        EXPECT_NEAR(m.median_distance, d.mode_std() * std::sqrt(2 * std::log(2.0)), 0.1 * d.mode_std());
    }
    Xoshiro256 rng(2);
    std::vector<float> roll(2 * 1000);
    ToyDataset::swissroll().sample(rng, 1000, roll.data());
    for (float v : roll) EXPECT_LT(std::abs(v), 2.2f);
}

TEST(GanMetrics, CollapsedAndEmpty) {
    const auto ring = ToyDataset::ring8();
    // Every sample on mode 0: 1 mode, KL = log 8.
    std::vector<float> collapsed(2 * 100);
    for (std::size_t i = 0; i < 100; ++i) collapsed[2 * i] = 1.0f;
    auto m = mode_metrics(collapsed.data(), 100, ring.modes().data(), 8, 0.01);
    EXPECT_EQ(m.high_quality, 1.0);
    EXPECT_EQ(m.modes, 1.0);
    EXPECT_NEAR(m.reverse_kl, std::log(8.0), 1e-12);
    EXPECT_NEAR(m.median_distance, 0.0, 1e-7);
    // All samples at the origin: no high-quality sample, KL undefined, distance 1.
    std::vector<float> origin(2 * 10, 0.0f);
    m = mode_metrics(origin.data(), 10, ring.modes().data(), 8, 0.01);
    EXPECT_EQ(m.high_quality, 0.0);
    EXPECT_EQ(m.modes, 0.0);
    EXPECT_TRUE(std::isnan(m.reverse_kl));
    EXPECT_NEAR(m.median_distance, 1.0, 1e-12);
}

GanTrainerOptions small_options(LipschitzMethod method, std::uint64_t seed) {
    GanTrainerOptions o;
    o.lipschitz = method;
    o.batch = 16;
    o.n_critic = 2;
    o.critic.hidden = {8, 8};
    o.generator.hidden = {8};
    o.eps = 1.0;  // GraN's ε
    o.seed = seed;
    o.lr = 1e-3;
    o.beta1 = 0.5;
    return o;
}

TEST(GanTrainer, SeedReproducesRun) {
    for (auto method : {LipschitzMethod::gp, LipschitzMethod::gn, LipschitzMethod::gran, LipschitzMethod::none}) {
        GanTrainer a(ToyDataset::ring8(), small_options(method, 9));
        GanTrainer b(ToyDataset::ring8(), small_options(method, 9));
        GanTrainer c(ToyDataset::ring8(), small_options(method, 10));
        GanStepResult ra{}, rb{}, rc{};
        for (int i = 0; i < 3; ++i) {
            ra = a.step();
            rb = b.step();
            rc = c.step();
        }
        EXPECT_EQ(ra.critic_loss, rb.critic_loss);
        EXPECT_EQ(ra.generator_loss, rb.generator_loss);
        EXPECT_EQ(a.generator_parameters(), b.generator_parameters());
        EXPECT_NE(a.generator_parameters(), c.generator_parameters());
        EXPECT_TRUE(std::isfinite(ra.critic_loss) && std::isfinite(ra.generator_loss) &&
                    std::isfinite(ra.gradient_norm));
        // Sampling and evaluating draw from their own stream: training continues identically.
        std::vector<float> s(20);
        a.sample(10, s.data());
        a.evaluate(100);
        EXPECT_EQ(a.step().critic_loss, b.step().critic_loss);
    }
}

TEST(GanTrainer, UserSamplesAndSwissroll) {
    const std::vector<float> points{0, 0, 1, 1, -1, 2};
    GanTrainer t(ToyDataset::from_samples(points.data(), 3), small_options(LipschitzMethod::gp, 1));
    t.step();
    const auto m = t.evaluate(200);
    EXPECT_TRUE(std::isnan(m.high_quality));
    EXPECT_TRUE(std::isfinite(m.median_distance));
    GanTrainer roll(ToyDataset::swissroll(), small_options(LipschitzMethod::gn, 1));
    roll.step();
    EXPECT_TRUE(std::isfinite(roll.evaluate(200).median_distance));
}

}  // namespace
}  // namespace kexue
