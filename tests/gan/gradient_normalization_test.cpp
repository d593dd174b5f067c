// GN and GraN critics: the docs/math.md §6A vectors (linear and tanh f), the 0/0 edge case, and for every
// smooth activation the parameter and input gradients against central finite differences of a
// float64 evaluation.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/random.hpp"
#include "gan/gradient_normalization.hpp"

namespace kexue {
namespace {

template <typename T>
struct Normalized {
    std::vector<T> value, parameter_gradient, input_gradient;
};

template <typename T>
Normalized<T> run(const Mlp<T>& mlp, const std::vector<double>& w, const std::vector<double>& x,
                  const NormalizedCriticOptions& options, const std::vector<double>& weights = {}) {
    const std::size_t rows = x.size() / mlp.input_size();
    const std::vector<T> wt(w.begin(), w.end()), xt(x.begin(), x.end()), weights_t(weights.begin(), weights.end());
    Normalized<T> r{std::vector<T>(rows), std::vector<T>(mlp.parameter_count()), std::vector<T>(x.size())};
    NormalizedCriticWorkspace<T> ws;
    normalized_critic(mlp, wt.data(), xt.data(), rows, options, weights.empty() ? nullptr : weights_t.data(),
                      r.value.data(), r.parameter_gradient.data(), r.input_gradient.data(), ws);
    return r;
}

NormalizedCriticOptions gn() { return {}; }
NormalizedCriticOptions gran(double eps) { return {GradientNormalization::gran, eps}; }

template <typename T>
void check_linear_spec(double tol) {
    Mlp<T> mlp({2, 1}, Activation::linear);
    const auto r = run(mlp, {3, 4, 0}, {1, 1}, gn());
    EXPECT_NEAR(r.value[0], 0.5833333333, tol);
    EXPECT_NEAR(r.input_gradient[0], 0.1041666667, tol);
    EXPECT_NEAR(r.input_gradient[1], 0.1388888889, tol);
    EXPECT_NEAR(run(mlp, {3, 4, 0}, {1, 1}, gran(1)).value[0], 1.346153846, tol);
}

TEST(GradientNormalizationSpec, LinearDouble) { check_linear_spec<double>(1e-9); }
TEST(GradientNormalizationSpec, LinearFloat) { check_linear_spec<float>(1e-6); }

template <typename T>
void check_tanh_spec(double tol) {
    Mlp<T> mlp({2, 2, 1}, Activation::tanh);
    const std::vector<double> w{1, -1, 0.5, 2, 0, 0.1, 1, -2, 0.3};
    const auto r = run(mlp, w, {0.3, -0.2}, gn());
    EXPECT_NEAR(r.value[0], 0.1839582231, tol);
    const double want[] = {0.04111190027, -0.00163721718, -0.09689945134, 0.000515367286, 0.1336325778,
                           -0.3145257309, 0.04138499628,  0.04193781440,  0.1416354418};
    for (int i = 0; i < 9; ++i) EXPECT_NEAR(r.parameter_gradient[i], want[i], tol) << i;
    EXPECT_NEAR(r.input_gradient[0], -0.02363028770, tol);
    EXPECT_NEAR(r.input_gradient[1], -0.7626840396, tol);
    EXPECT_NEAR(run(mlp, w, {0.3, -0.2}, gran(0.01)).value[0], 0.2253255270, tol);
    EXPECT_NEAR(run(mlp, w, {0.3, -0.2}, gran(1)).value[0], 0.2156711311, tol);
}

TEST(GradientNormalizationSpec, TanhDouble) { check_tanh_spec<double>(1e-9); }
TEST(GradientNormalizationSpec, TanhFloat) { check_tanh_spec<float>(1e-6); }

// f ≡ 0 (all weights zero): GN is 0/0 and defined as 0 with zero gradient; GraN is 0.
TEST(GradientNormalization, ZeroOverZero) {
    Mlp<double> mlp({2, 3, 1}, Activation::relu);
    const std::vector<double> w(mlp.parameter_count(), 0.0);
    for (const auto& options : {gn(), gran(0.5)}) {
        const auto r = run(mlp, w, {0.5, -1, 2, 3}, options);
        for (double v : r.value) EXPECT_EQ(v, 0.0);
        for (double g : r.parameter_gradient) EXPECT_TRUE(std::isfinite(g));
        for (double g : r.input_gradient) EXPECT_EQ(g, 0.0);
    }
    const auto r = run(mlp, w, {0.5, -1}, gn());
    for (double g : r.parameter_gradient) EXPECT_EQ(g, 0.0);
}

class NormalizedFiniteDifferences
    : public ::testing::TestWithParam<std::tuple<Activation, GradientNormalization>> {};

TEST_P(NormalizedFiniteDifferences, Gradients) {
    const auto [act, variant] = GetParam();
    const NormalizedCriticOptions options{variant, 0.3};
    Mlp<double> mlp({3, 5, 4, 1}, act);
    Xoshiro256 rng(5);
    const std::size_t rows = 3;
    std::vector<double> w(mlp.parameter_count()), x(rows * 3), weights(rows);
    for (auto& v : w) v = 0.8 * rng.normal();
    for (auto& v : x) v = rng.normal();
    for (auto& v : weights) v = rng.normal();
    const auto r = run(mlp, w, x, options, weights);
    auto objective = [&](const std::vector<double>& wv, const std::vector<double>& xv) {
        const auto values = run(mlp, wv, xv, options).value;
        double s = 0;
        for (std::size_t i = 0; i < rows; ++i) s += weights[i] * values[i];
        return s;
    };
    const double h = 1e-6;
    for (std::size_t i = 0; i < w.size(); ++i) {
        auto wp = w, wm = w;
        wp[i] += h;
        wm[i] -= h;
        const double fd = (objective(wp, x) - objective(wm, x)) / (2 * h);
        EXPECT_NEAR(r.parameter_gradient[i], fd, 1e-6 * (1 + std::abs(fd))) << "parameter " << i;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
        auto xp = x, xm = x;
        xp[i] += h;
        xm[i] -= h;
        const double fd = (objective(w, xp) - objective(w, xm)) / (2 * h);
        EXPECT_NEAR(r.input_gradient[i], fd, 1e-6 * (1 + std::abs(fd))) << "input " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(
    EveryActivation, NormalizedFiniteDifferences,
    ::testing::Combine(::testing::Values(Activation::relu, Activation::leaky_relu, Activation::tanh,
                                         Activation::sigmoid, Activation::softplus, Activation::gelu),
                       ::testing::Values(GradientNormalization::gn, GradientNormalization::gran)),
    [](const auto& info) {
        return std::string(enum_name(std::get<0>(info.param))) +
               (std::get<1>(info.param) == GradientNormalization::gn ? "_gn" : "_gran");
    });

}  // namespace
}  // namespace kexue
