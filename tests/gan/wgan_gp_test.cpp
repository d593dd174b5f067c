// WGAN-GP: the docs/math.md §5.4 vectors (linear, tanh and ReLU critics) in double and float, and for every
// activation the full critic gradient (the penalty's second-order term included) against central
// finite differences of a float64 evaluation of L_D.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/random.hpp"
#include "gan/wgan_gp.hpp"

namespace kexue {
namespace {

// [W1_00, W1_01, W1_10, W1_11, b1_0, b1_1, w2_0, w2_1, b2] — also the library's layout.
const std::vector<double> kSpecParameters{1, -1, 0.5, 2, 0, 0.1, 1, -2, 0.3};

template <typename T>
struct Result {
    CriticLoss loss;
    std::vector<T> gradient, norms;
};

template <typename T>
Result<T> critic_loss(const Mlp<T>& mlp, const std::vector<double>& w, const std::vector<double>& real,
                      const std::vector<double>& fake, const std::vector<double>& eps,
                      const GradientPenaltyOptions& options) {
    const std::vector<T> wt(w.begin(), w.end()), rt(real.begin(), real.end()), ft(fake.begin(), fake.end()),
        et(eps.begin(), eps.end());
    Result<T> r;
    r.gradient.resize(mlp.parameter_count());
    r.norms.resize(eps.size());
    WganWorkspace<T> ws;
    r.loss = wgan_gp_critic_loss(mlp, wt.data(), rt.data(), ft.data(), et.data(), eps.size(), options,
                                 r.gradient.data(), r.norms.data(), ws);
    return r;
}

template <typename T>
void check_linear_spec(double tol) {
    Mlp<T> mlp({2, 1}, Activation::linear);
    const auto r = critic_loss(mlp, {3, 4, 0}, {1, 0}, {0, 1}, {0.6}, {});
    EXPECT_NEAR(r.loss.loss, 161, 161 * tol);
    EXPECT_NEAR(r.loss.penalty, 160, 160 * tol);
    EXPECT_NEAR(r.norms[0], 5, tol);
    EXPECT_NEAR(r.gradient[0], 47, 47 * tol);
    EXPECT_NEAR(r.gradient[1], 65, 65 * tol);
    EXPECT_NEAR(r.gradient[2], 0, tol);
}

TEST(WganGpSpec, LinearCriticDouble) { check_linear_spec<double>(1e-12); }
TEST(WganGpSpec, LinearCriticFloat) { check_linear_spec<float>(1e-6); }

template <typename T>
void check_tanh_spec(double tol) {
    Mlp<T> mlp({2, 2, 1}, Activation::tanh);
    const auto r = critic_loss(mlp, kSpecParameters, {1, 0}, {0, 1}, {0.25}, {});
    EXPECT_NEAR(r.loss.loss, -0.5503329503, tol);
    EXPECT_NEAR(r.loss.penalty, 1.839660101, tol);
    EXPECT_NEAR(r.norms[0], 1.428912590, tol);
    const double want[] = {4.836162452, 0.7729154587, -1.006639221, -2.729387505, 8.425072032,
                           -4.590287810, 7.592543381, -1.137517787, 0};
    for (int i = 0; i < 9; ++i) EXPECT_NEAR(r.gradient[i], want[i], tol * (1 + std::abs(want[i]))) << i;
    // The penalty's own gradient: λ = 10 minus λ = 0.
    GradientPenaltyOptions plain;
    plain.lambda = 0;
    const auto r0 = critic_loss(mlp, kSpecParameters, {1, 0}, {0, 1}, {0.25}, plain);
    const double penalty_grad[] = {5.256136794, 0.352941117, -2.429794746, -2.612941428, 8.425072032,
                                   -5.896997257, 9.115731693, -1.570920157, 0};
    for (int i = 0; i < 9; ++i) {
        EXPECT_NEAR(r.gradient[i] - r0.gradient[i], penalty_grad[i], tol * (1 + std::abs(penalty_grad[i]))) << i;
    }
    // Generator: L_G = −D(x_fake), ∂L_G/∂x_fake.
    const std::vector<T> wt(kSpecParameters.begin(), kSpecParameters.end()), fake{0, 1};
    std::vector<T> fake_grad(2);
    MlpWorkspace<T> ws;
    EXPECT_NEAR(wgan_generator_loss(mlp, wt.data(), fake.data(), 1, fake_grad.data(), ws), 2.402498029, tol);
    EXPECT_NEAR(fake_grad[0], -0.3617513029, tol);
    EXPECT_NEAR(fake_grad[1], 0.6528664965, tol);
}

TEST(WganGpSpec, TanhCriticDouble) { check_tanh_spec<double>(1e-9); }
TEST(WganGpSpec, TanhCriticFloat) { check_tanh_spec<float>(2e-6); }

template <typename T>
void check_relu_spec(double tol) {
    Mlp<T> mlp({2, 2, 1}, Activation::relu);
    GradientPenaltyOptions plain;
    plain.lambda = 0;
    const auto r = critic_loss(mlp, kSpecParameters, {1, 0}, {0, 1}, {0.25}, {});
    const auto r0 = critic_loss(mlp, kSpecParameters, {1, 0}, {0, 1}, {0.25}, plain);
    EXPECT_NEAR(r.norms[0], 4.123105626, tol * 5);
    EXPECT_NEAR(r.loss.penalty, 97.53788749, tol * 100);
    const double want[] = {0, 0, 30.298575, 121.1943, 0, 0, 0, -128.7689437, 0};
    for (int i = 0; i < 9; ++i) {
        EXPECT_NEAR(r.gradient[i] - r0.gradient[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << i;
    }
}

TEST(WganGpSpec, ReluCriticDouble) { check_relu_spec<double>(1e-9); }
TEST(WganGpSpec, ReluCriticFloat) { check_relu_spec<float>(1e-6); }

double reference_loss(const Mlp<double>& mlp, const std::vector<double>& w, const std::vector<double>& real,
                      const std::vector<double>& fake, const std::vector<double>& eps,
                      const GradientPenaltyOptions& options) {
    return critic_loss(mlp, w, real, fake, eps, options).loss.loss;
}

class WganGpFiniteDifferences : public ::testing::TestWithParam<std::tuple<Activation, bool>> {};

TEST_P(WganGpFiniteDifferences, CriticGradient) {
    const auto [act, one_sided] = GetParam();
    Mlp<double> mlp({3, 5, 4, 1}, act);
    Xoshiro256 rng(11);
    const std::size_t m = 4;
    std::vector<double> w(mlp.parameter_count()), real(m * 3), fake(m * 3), eps(m);
    for (auto& x : w) x = 0.9 * rng.normal();
    for (auto& x : real) x = rng.normal();
    for (auto& x : fake) x = rng.normal();
    for (auto& x : eps) x = rng.uniform();
    GradientPenaltyOptions options;
    options.lambda = 3.5;
    options.penalty = one_sided ? PenaltySide::one_sided : PenaltySide::two_sided;
    const auto r = critic_loss(mlp, w, real, fake, eps, options);
    const double h = 1e-6;
    for (std::size_t i = 0; i < w.size(); ++i) {
        auto wp = w, wm = w;
        wp[i] += h;
        wm[i] -= h;
        const double fd = (reference_loss(mlp, wp, real, fake, eps, options) -
                           reference_loss(mlp, wm, real, fake, eps, options)) / (2 * h);
        EXPECT_NEAR(r.gradient[i], fd, 2e-6 * (1 + std::abs(fd))) << enum_name(act) << " parameter " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(
    EveryActivation, WganGpFiniteDifferences,
    ::testing::Combine(::testing::Values(Activation::relu, Activation::leaky_relu, Activation::tanh,
                                         Activation::sigmoid, Activation::softplus, Activation::gelu),
                       ::testing::Bool()),
    [](const auto& info) {
        return std::string(enum_name(std::get<0>(info.param))) + (std::get<1>(info.param) ? "_one_sided" : "");
    });

// λ = 0 leaves the plain Wasserstein loss; ε = 1 puts x̂ on the real sample.
TEST(WganGp, LambdaZeroAndEpsilonEnds) {
    Mlp<double> mlp({2, 1}, Activation::linear);
    GradientPenaltyOptions plain;
    plain.lambda = 0;
    const auto r = critic_loss(mlp, {3, 4, 0.5}, {1, 0}, {0, 1}, {1.0}, plain);
    EXPECT_DOUBLE_EQ(r.loss.loss, 1.0);
    EXPECT_DOUBLE_EQ(r.loss.penalty, 0.0);
    EXPECT_DOUBLE_EQ(r.gradient[0], -1.0);
    EXPECT_DOUBLE_EQ(r.gradient[1], 1.0);
    // One-sided: a gradient norm below 1 is not penalised.
    GradientPenaltyOptions one_sided;
    one_sided.penalty = PenaltySide::one_sided;
    const auto small = critic_loss(mlp, {0.3, 0.4, 0}, {1, 0}, {0, 1}, {0.0}, one_sided);
    EXPECT_DOUBLE_EQ(small.loss.penalty, 0.0);
    const auto two_sided = critic_loss(mlp, {0.3, 0.4, 0}, {1, 0}, {0, 1}, {0.0}, {});
    EXPECT_NEAR(two_sided.loss.penalty, 2.5, 1e-9);
}

}  // namespace
}  // namespace kexue
