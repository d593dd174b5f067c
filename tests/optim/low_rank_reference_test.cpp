// LowRankOptimizer (float32, fused SIMD kernels) against its double twin LowRankReference
// (low_rank_reference.cpp, xtensor), in every mode and base, over several steps from the same
// seeded inputs: the two agree to float rounding, relative to the size of W.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "optim/low_rank_optimizer.hpp"
#include "optim/low_rank_reference.hpp"

namespace kexue {
namespace {

struct ModeCase {
    LowRankMode mode;
    LowRankBase base;
    LowRankInit init;
    std::size_t rank;
};

TEST(LowRankReference, EveryModeMatchesTheDoubleTwin) {
    const std::size_t n = 12, m = 8;
    const ModeCase cases[] = {
        {LowRankMode::Full, LowRankBase::SGD, LowRankInit::ZeroB, 1},
        {LowRankMode::Full, LowRankBase::Adam, LowRankInit::ZeroB, 1},
        {LowRankMode::LoRA, LowRankBase::SGD, LowRankInit::ZeroB, 3},
        {LowRankMode::LoRA, LowRankBase::Adam, LowRankInit::ZeroB, 3},
        {LowRankMode::LoRA, LowRankBase::Adam, LowRankInit::Symmetric, 2},
        {LowRankMode::LoRA, LowRankBase::SGD, LowRankInit::LoRAGA, 2},
        {LowRankMode::FixedA, LowRankBase::Adam, LowRankInit::ZeroB, 2},
        {LowRankMode::FixedB, LowRankBase::Adam, LowRankInit::ZeroB, 2},
        {LowRankMode::RandomProj, LowRankBase::SGD, LowRankInit::ZeroB, 2},
        {LowRankMode::Additive, LowRankBase::SGD, LowRankInit::ZeroB, 4},
        {LowRankMode::Additive, LowRankBase::Adam, LowRankInit::ZeroB, 2},
        {LowRankMode::GaLore, LowRankBase::SGD, LowRankInit::ZeroB, 2},
        {LowRankMode::GaLore, LowRankBase::Adam, LowRankInit::ZeroB, 3},
    };
    for (const ModeCase& k : cases) {
        LowRankConfig c;
        c.rows = n;
        c.cols = m;
        c.rank = k.rank;
        c.mode = k.mode;
        c.base = k.base;
        c.init = k.init;
        c.lr = 0.02;
        c.weight_decay = 0.1;
        c.scale = 1.5;
        c.update_proj_gap = 2;
        c.seed = 11;
        ASSERT_FALSE(low_rank_validate(c)) << enum_name(k.mode);
        Xoshiro256 rng(21);
        std::vector<float> w0(n * m);
        for (auto& x : w0) x = static_cast<float>(rng.normal());
        LowRankOptimizer opt(c, w0.data());
        LowRankReference reference(c, w0.data());
        for (int t = 0; t < 5; ++t) {
            std::vector<float> g(n * m);
            for (auto& x : g) x = static_cast<float>(rng.normal());
            ASSERT_EQ(opt.step(g.data()), -1);
            reference.step(g.data());
            double diff = 0, norm = 0;
            for (std::size_t i = 0; i < n * m; ++i) {
                diff = std::max(diff, std::abs(opt.weight()[i] - reference.weight().data()[i]));
                norm = std::max(norm, std::abs(reference.weight().data()[i]));
            }
            EXPECT_LE(diff, 1e-5 * norm) << enum_name(k.mode) << "/" << enum_name(k.base) << "/"
                                         << enum_name(k.init) << " step " << t;
        }
        if (opt.has_factors()) {
            for (std::size_t i = 0; i < opt.a().size(); ++i) EXPECT_NEAR(opt.a()[i], reference.a().data()[i], 1e-5);
            for (std::size_t i = 0; i < opt.b().size(); ++i) EXPECT_NEAR(opt.b()[i], reference.b().data()[i], 1e-5);
        }
    }
}

TEST(AdamReference, FirstStepIsLrTimesTheSignOfTheGradient) {
    // m̂ = g, v̂ = g², so the first step is −lr·g/(|g| + eps).
    AdamOptions o;
    o.lr = 0.1;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    AdamReference adam(3, o);
    double p[3] = {1, 1, 1};
    const double g[3] = {2, -0.5, 0};
    adam.step(p, g);
    EXPECT_NEAR(p[0], 0.9, 1e-8);
    EXPECT_NEAR(p[1], 1.1, 1e-8);
    EXPECT_EQ(p[2], 1);
}

TEST(Adam, FloatAndDoubleArithmeticAgreeToFloatRounding) {
    // The one Adam update (optim/adam.hpp) in both precisions its callers use.
    AdamOptions o;
    o.lr = 0.01;
    o.beta1 = 0.9;
    o.beta2 = 0.99;
    o.weight_decay = 0.5;
    std::vector<float> pf(64), pd(64), mf(64, 0), vf(64, 0), md(64, 0), vd(64, 0), g(64);
    Xoshiro256 rng(4);
    for (auto& x : pf) x = static_cast<float>(rng.normal());
    pd = pf;
    for (int t = 1; t <= 10; ++t) {
        for (auto& x : g) x = static_cast<float>(rng.normal());
        adam_update(pf.data(), g.data(), mf.data(), vf.data(), g.size(), adam_step<float>(o, t));
        adam_update(pd.data(), g.data(), md.data(), vd.data(), g.size(), adam_step<double>(o, t));
    }
    for (std::size_t i = 0; i < pf.size(); ++i) EXPECT_NEAR(pf[i], pd[i], 1e-5) << i;
}

}  // namespace
}  // namespace kexue
