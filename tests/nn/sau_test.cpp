// The SAU activations (docs/math.md §7.14; kexue.fm/archives/8718): ReLU and leaky ReLU smoothed by
// convolution with N(0, σ²), σ = 1. Vectors of §7.14, limits, and the derivatives the WGAN-GP
// tangent pass needs (the finite-difference suites of mlp_test.cpp cover them in whole networks).
#include <gtest/gtest.h>

#include <cmath>

#include "nn/activation.hpp"
#include "nn/mlp.hpp"

namespace kexue {
namespace {

TEST(SauActivation, Section714Vectors) {
    // ReLU ⊛ Gaussian at x = 1, σ = 1; its slope is Φ(1), and x·Φ(x) is the erf GELU 0.841344746069.
    const auto r = activate<double>(Activation::sau_relu, 1.0);
    EXPECT_NEAR(r.value, 1.08331547059, 1e-11);
    EXPECT_NEAR(r.first, 0.841344746069, 1e-11);
    EXPECT_NEAR(r.second, 0.241970724519, 1e-11);  // φ(1)
    const auto l = activate<double>(Activation::sau_leaky_relu, 1.0);
    EXPECT_NEAR(l.value, 0.2 + 0.8 * 1.08331547059, 1e-11);
    EXPECT_NEAR(l.first, 0.2 + 0.8 * 0.841344746069, 1e-11);
}

// Through whole networks (float SIMD path and double twin): a 1 → 1 → 1 identity network outputs φ(x).
TEST(SauActivation, InsideAnMlp) {
    const std::vector<float> pf{1, 0, 1, 0};
    const std::vector<double> pd{1, 0, 1, 0};
    for (Activation act : {Activation::sau_relu, Activation::sau_leaky_relu}) {
        Mlp<float> mf({1, 1, 1}, act);
        Mlp<double> md({1, 1, 1}, act);
        MlpWorkspace<float> wf;
        MlpWorkspace<double> wd;
        const float xf = 1.0f;
        const double xd = 1.0;
        float of = 0;
        double od = 0;
        mf.evaluate(pf.data(), &xf, 1, &of, wf);
        md.evaluate(pd.data(), &xd, 1, &od, wd);
        EXPECT_NEAR(od, activate<double>(act, 1.0).value, 1e-15) << enum_name(act);
        EXPECT_NEAR(of, activate<double>(act, 1.0).value, 1e-6) << enum_name(act);
    }
}

TEST(SauActivation, LimitsAndSymmetry) {
    // Far from 0 the smoothing vanishes: ReLU and leaky ReLU are recovered, without overflow.
    EXPECT_NEAR(activate<double>(Activation::sau_relu, 40.0).value, 40.0, 1e-12);
    EXPECT_NEAR(activate<double>(Activation::sau_relu, -40.0).value, 0.0, 1e-300);
    EXPECT_NEAR(activate<double>(Activation::sau_leaky_relu, -40.0).value, -8.0, 1e-12);
    EXPECT_NEAR(activate<double>(Activation::sau_leaky_relu, -40.0).first, 0.2, 1e-15);
    // f(z) − f(−z) = z for ReLU ⊛ any even kernel.
    for (double z : {0.3, 1.7, 5.0}) {
        EXPECT_NEAR(activate<double>(Activation::sau_relu, z).value - activate<double>(Activation::sau_relu, -z).value, z,
                    1e-12);
    }
    EXPECT_NEAR(activate<double>(Activation::sau_relu, 0.0).value, 0.3989422804014327, 1e-15);  // σ/√(2π)
    const auto f = activate<float>(Activation::sau_relu, 2.0f);
    EXPECT_NEAR(f.value, activate<double>(Activation::sau_relu, 2.0).value, 1e-6);
}

TEST(SauActivation, DerivativesMatchDifferences) {
    const double h = 1e-5;
    for (Activation act : {Activation::sau_relu, Activation::sau_leaky_relu}) {
        for (double z : {-6.0, -2.5, -0.4, 0.0, 0.9, 3.3}) {
            const auto d = activate<double>(act, z);
            const auto plus = activate<double>(act, z + h), minus = activate<double>(act, z - h);
            EXPECT_NEAR(d.first, (plus.value - minus.value) / (2 * h), 1e-9) << enum_name(act) << " z=" << z;
            EXPECT_NEAR(d.second, (plus.first - minus.first) / (2 * h), 1e-9) << enum_name(act) << " z=" << z;
        }
    }
}

}  // namespace
}  // namespace kexue
