// ExponentiatedGradient: the vectors of docs/math.md §7.6 (plain EG, and the meta-learned step size
// over three steps), zeros staying zero, the clamp, refused steps, and the validators.
#include <cmath>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "optim/exponentiated_gradient.hpp"

namespace kexue {
namespace {

ExponentiatedGradientOptions options(double lr, EgUpdate update, double meta_lr = 0, double clip = 0,
                                     std::size_t size = 2) {
    ExponentiatedGradientOptions o;
    o.lr = lr;
    o.update = update;
    o.meta_lr = meta_lr;
    o.meta_clip = clip;
    o.size = size;
    return o;
}

TEST(ExponentiatedGradientSpec, PlainEgStep) {
    const std::vector<float> theta{1, 2}, g{0.5f, -1};
    ExponentiatedGradient eg(options(0.1, EgUpdate::exponentiated), theta.data());
    EXPECT_EQ(eg.step(g.data()), -1);
    EXPECT_NEAR(eg.weight()[0], 0.9512294245, 1e-7);
    EXPECT_NEAR(eg.weight()[1], 2.210341836, 1e-6);
    EXPECT_EQ(eg.step_sizes()[0], 1.0f);
}

TEST(ExponentiatedGradientSpec, MetaStepSizeThreeSteps) {
    const std::vector<float> theta{1, 2};
    const std::vector<std::vector<float>> grads{{0.5f, -1}, {0.4f, 0.6f}, {0.2f, -0.3f}};
    const double nu[3][2] = {{1, 1}, {1.105170918, 0.7408182207}, {1.150273799, 0.6770568745}};
    const double want[3][2] = {{0.95, 2.1}, {0.9057931633, 2.055550907}, {0.8827876873, 2.075862613}};
    ExponentiatedGradient eg(options(0.1, EgUpdate::additive, 0.5), theta.data());
    for (int t = 0; t < 3; ++t) {
        EXPECT_EQ(eg.step(grads[t].data()), -1);
        for (int i = 0; i < 2; ++i) {
            EXPECT_NEAR(eg.step_sizes()[i], nu[t][i], 1e-6) << "step " << t;
            EXPECT_NEAR(eg.weight()[i], want[t][i], 1e-6) << "step " << t;
        }
    }
    EXPECT_EQ(eg.steps(), 3u);
}

TEST(ExponentiatedGradient, ZerosStayZeroAndWeightsStayPositive) {
    const std::vector<float> theta{0, 1, 3};
    ExponentiatedGradient eg(options(0.1, EgUpdate::exponentiated, 0.1, 0, 3), theta.data());
    const std::vector<float> g{-2, 0.5f, -0.2f};
    for (int t = 0; t < 20; ++t) eg.step(g.data());
    // Coordinate 0: ν grows to e^{0.4·19} and exp(−η ν g) overflows, yet 0 stays exactly 0.
    EXPECT_EQ(eg.weight()[0], 0.0f);
    // A constant-sign gradient makes ν grow: ν_t = exp(γ g² (t − 1)), and θ = θ_0 exp(−η g Σ ν_t).
    double sum = 0;
    for (int k = 0; k < 20; ++k) sum += std::exp(0.1 * 0.25 * k);
    EXPECT_NEAR(eg.weight()[1], std::exp(-0.1 * 0.5 * sum), 1e-5 * std::exp(-0.1 * 0.5 * sum));
    EXPECT_GT(eg.weight()[1], 0.0f);
    EXPECT_NEAR(eg.step_sizes()[2], std::exp(0.1 * 0.04 * 19), 1e-5);
}

TEST(ExponentiatedGradient, MetaClipBoundsTheStepSizeChange) {
    const std::vector<float> theta{1}, g{10};
    ExponentiatedGradient eg(options(1e-3, EgUpdate::additive, 1, 0.01, 1), theta.data());
    eg.step(g.data());
    eg.step(g.data());  // γ g² = 100, clamped to 0.01
    EXPECT_NEAR(eg.step_sizes()[0], std::exp(0.01), 1e-6);
}

TEST(ExponentiatedGradient, NonFiniteGradientIsRefusedAndChangesNothing) {
    const std::vector<float> theta{1, 2};
    ExponentiatedGradient eg(options(0.1, EgUpdate::additive, 0.5), theta.data());
    const std::vector<float> g{0.5f, -1}, bad{0.5f, std::numeric_limits<float>::quiet_NaN()};
    eg.step(g.data());
    const std::vector<float> weight = eg.weight(), nu = eg.step_sizes();
    EXPECT_EQ(eg.step(bad.data()), 1);
    EXPECT_EQ(eg.weight(), weight);
    EXPECT_EQ(eg.step_sizes(), nu);
    EXPECT_EQ(eg.steps(), 1u);
    // The next good step uses g_{t−1} of the last accepted step: the §7.6 second step.
    const std::vector<float> g2{0.4f, 0.6f};
    eg.step(g2.data());
    EXPECT_NEAR(eg.weight()[0], 0.9057931633, 1e-6);
}

TEST(ExponentiatedGradientValidate, NamesTheParameter) {
    EXPECT_FALSE(exponentiated_gradient_validate(options(0.1, EgUpdate::exponentiated)));
    EXPECT_EQ(exponentiated_gradient_validate(options(0, EgUpdate::exponentiated)).text,
              "lr must be greater than 0, received 0");
    EXPECT_EQ(exponentiated_gradient_validate(options(0.1, EgUpdate::exponentiated, -1)).text,
              "metaLr must be at least 0, received -1");
    EXPECT_EQ(exponentiated_gradient_validate(options(0.1, EgUpdate::exponentiated, 0, -2)).parameter, "metaClip");
    EXPECT_EQ(exponentiated_gradient_validate(options(0.1, EgUpdate::exponentiated, 0, 0, 0)).text,
              "weight must be non-empty, received length 0");
    const std::vector<float> negative{1, -0.5f};
    const Error e = exponentiated_gradient_check_weight(options(0.1, EgUpdate::exponentiated), negative.data());
    EXPECT_EQ(e.parameter, "weight[1]");
    EXPECT_NE(e.text.find("received -0.5"), std::string::npos);
    EXPECT_FALSE(exponentiated_gradient_check_weight(options(0.1, EgUpdate::additive), negative.data()));
    const std::vector<float> infinite{std::numeric_limits<float>::infinity(), 1};
    EXPECT_EQ(exponentiated_gradient_check_weight(options(0.1, EgUpdate::additive), infinite.data()).text,
              "weight[0] must be finite, received Infinity");
}

}  // namespace
}  // namespace kexue
