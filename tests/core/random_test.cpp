// The library's one generator (core/random.hpp) and the draws made from it by each part, pinned to
// the values the separate copies it replaced produced (src/nn/random.hpp and the optimizer's
// out-of-line Xoshiro256), so a seeded result anywhere does not move.
#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "core/random.hpp"
#include "optim/low_rank_draws.hpp"
#include "optim/low_rank_optimizer.hpp"

namespace kexue {
namespace {

TEST(Random, NormalPairsAndUniformArePinned) {
    Xoshiro256 rng(1);
    // Box–Muller through libm: native and WASM may differ in the last bit of a double.
    EXPECT_NEAR(rng.normal(), -1.5452228371402943, 1e-15);
    EXPECT_NEAR(rng.normal(), -0.19951530557849143, 1e-15);  // the pair's second value
    EXPECT_EQ(rng.uniform(), 0.5741057000197225);              // exact integer → double arithmetic
}

TEST(Random, LowRankFactorDrawsArePinned) {
    // Kaiming-uniform A of a 3×4, r = 2 LoRA (zero-b init) from seed 3, and B of 'fixed-b' from seed 4:
    // uniform draws, so bit-identical on every platform.
    LowRankConfig c;
    c.rows = 3;
    c.cols = 4;
    c.rank = 2;
    c.lr = 0.01;
    c.seed = 3;
    const std::vector<float> w0(12, 0.0f);
    LowRankOptimizer lora(c, w0.data());
    const std::vector<float> a{0x1.c2d398p-3f, 0x1.4c732p-3f, -0x1.4d215ep-2f, 0x1.4140e2p-5f, -0x1.64a2f4p-4f,
                               -0x1.db4acep-4f};
    EXPECT_EQ(lora.a(), a);
    c.mode = LowRankMode::FixedB;
    c.seed = 4;
    LowRankOptimizer fixed_b(c, w0.data());
    const std::vector<float> b{-0x1.5695eep-2f, 0x1.29fad4p-1f, -0x1.480daap-4f, 0x1.59c924p-1f,
                               -0x1.8d0ddap-2f, 0x1.44064cp-3f, -0x1.7207dep-6f, 0x1.448e54p-2f};
    EXPECT_EQ(fixed_b.b(), b);
    // The same draws straight from the draw function.
    Xoshiro256 rng(3);
    std::vector<float> direct(6);
    kaiming_uniform(rng, 3, direct.data(), direct.size());
    EXPECT_EQ(direct, a);
}

TEST(Random, RandomProjectionStepIsPinned) {
    // One 'random' step (seed 5, lr 0.5) from W = 0: normals, then the fused kernels (FMA or not),
    // so equal to float rounding.
    LowRankConfig c;
    c.rows = 4;
    c.cols = 3;
    c.rank = 2;
    c.mode = LowRankMode::RandomProj;
    c.lr = 0.5;
    c.seed = 5;
    const std::vector<float> w0(12, 0.0f);
    const std::vector<float> g{1, -2, 0.5f, 0, 3, -1, 2, 1, 1, -0.5f, 0, 2};
    LowRankOptimizer opt(c, w0.data());
    ASSERT_EQ(opt.step(g.data()), -1);
    const std::vector<double> want{-3.63007212, 0.435020149, 0.491150707, -1.04197836, -2.18754625, -0.599227786,
                                   -6.41098547, -1.22203398,  0.755309105, 2.77381468, -1.60706508, -1.51470971};
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(opt.weight()[i], want[i], 1e-5) << i;
}

}  // namespace
}  // namespace kexue
