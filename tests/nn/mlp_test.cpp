// MLP passes: every activation's φ, φ', φ'' against differences, the reverse and tangent passes
// (parameter gradient, input gradient, mixed derivative ∇_w⟨∇_x D, v⟩, Hessian-vector product)
// against central finite differences of a float64 evaluation, and the float (SIMD GEMM) path
// against its double reference twin on sizes around the GEMM tile.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/gemm.hpp"
#include "core/random.hpp"
#include "nn/mlp.hpp"

namespace kexue {
namespace {

const Activation kAll[] = {Activation::relu,     Activation::leaky_relu, Activation::tanh,  Activation::sigmoid,
                           Activation::softplus, Activation::gelu,       Activation::linear,
                           Activation::sau_relu, Activation::sau_leaky_relu};

std::vector<double> random_vector(Xoshiro256& rng, std::size_t n, double scale = 1.0) {
    std::vector<double> v(n);
    for (auto& x : v) x = scale * rng.normal();
    return v;
}

double sum_output(const Mlp<double>& mlp, const std::vector<double>& w, const std::vector<double>& x,
                  std::size_t rows) {
    MlpWorkspace<double> ws;
    std::vector<double> out(rows * mlp.output_size());
    mlp.evaluate(w.data(), x.data(), rows, out.data(), ws);
    double s = 0;
    for (double o : out) s += o;
    return s;
}

// Σ_rows ⟨∇_x D(x_r), v_r⟩ (output size 1).
double directional_input_gradient(const Mlp<double>& mlp, const std::vector<double>& w,
                                  const std::vector<double>& x, const std::vector<double>& v, std::size_t rows) {
    MlpWorkspace<double> ws;
    std::vector<double> g(x.size());
    mlp.input_gradient(w.data(), x.data(), rows, g.data(), ws);
    double s = 0;
    for (std::size_t i = 0; i < g.size(); ++i) s += g[i] * v[i];
    return s;
}

TEST(Activation, DerivativesMatchDifferences) {
    const double h = 1e-5;
    for (Activation act : kAll) {
        for (double z : {-3.1, -0.7, -0.05, 0.3, 1.2, 4.5}) {
            const auto d = activate<double>(act, z);
            const auto plus = activate<double>(act, z + h), minus = activate<double>(act, z - h);
            EXPECT_NEAR(d.first, (plus.value - minus.value) / (2 * h), 1e-8) << enum_name(act) << " z=" << z;
            EXPECT_NEAR(d.second, (plus.first - minus.first) / (2 * h), 1e-8) << enum_name(act) << " z=" << z;
        }
    }
    EXPECT_NEAR(activate<double>(Activation::softplus, 800.0).value, 800.0, 1e-12);  // no overflow
    EXPECT_NEAR(activate<double>(Activation::sigmoid, -800.0).value, 0.0, 1e-300);
    EXPECT_NEAR(activate<double>(Activation::leaky_relu, -2.0).value, -0.4, 1e-15);
    EXPECT_NEAR(activate<double>(Activation::gelu, 1.0).value, 0.8411919906082768, 1e-12);
}

TEST(Activation, ParseNames) {
    for (Activation act : kAll) {
        Activation parsed;
        ASSERT_TRUE(parse_enum(enum_name(act), parsed));
        EXPECT_EQ(parsed, act);
    }
    Activation ignored;
    EXPECT_FALSE(parse_enum("swish", ignored));
    EXPECT_EQ(enum_choices<Activation>(),
              "one of 'relu', 'leaky_relu', 'tanh', 'sigmoid', 'softplus', 'gelu', 'linear', 'sau_relu', "
              "'sau_leaky_relu'");
}

TEST(Mlp, LayoutAndInit) {
    Mlp<double> mlp({3, 5, 2}, Activation::tanh);
    EXPECT_EQ(mlp.parameter_count(), 3u * 5 + 5 + 5 * 2 + 2);
    EXPECT_EQ(mlp.weight_offset(2), 20u);
    EXPECT_EQ(mlp.bias_offset(2), 30u);
    const auto w = mlp.initial_parameters(7);
    EXPECT_EQ(w, mlp.initial_parameters(7));
    EXPECT_NE(w, mlp.initial_parameters(8));
    for (std::size_t i = 0; i < 20; ++i) EXPECT_LE(std::abs(w[i]), 1 / std::sqrt(3.0));
    for (std::size_t i = 20; i < w.size(); ++i) EXPECT_LE(std::abs(w[i]), 1 / std::sqrt(5.0));
}

// The default init is PyTorch's nn.Linear and draws the same stream as before the init options:
// per layer, W then b, all uniform in ±1/√fan_in.
TEST(Mlp, TorchInitIsTheEarlierStream) {
    Mlp<double> mlp({3, 5, 2}, Activation::relu);
    Xoshiro256 rng(11);
    std::vector<double> expected;
    for (const auto& [in, out] : {std::pair<double, std::size_t>{3, 5}, {5, 2}}) {
        for (std::size_t i = 0; i < out * std::size_t(in) + out; ++i) {
            expected.push_back((2 * rng.uniform() - 1) * (1.0 / std::sqrt(in)));
        }
    }
    EXPECT_EQ(mlp.initial_parameters(11), expected);
    EXPECT_EQ(enum_choices<MlpInit>(), "one of 'torch', 'he', 'glorot'");
    EXPECT_EQ(enum_choices<MlpBiasInit>(), "one of 'uniform', 'zero'");
}

// Each init against its formula through the moments of the draws: uniform in ±bound has mean 0
// and variance bound²/3; the sample mean of N draws has standard error bound/√(3N), the sample
// second moment bound²·√(4/45)/√N (Var x² = bound⁴/5 − bound⁴/9). 5 standard errors each.
void expect_uniform_moments(const std::vector<double>& w, std::size_t begin, std::size_t end, double bound,
                            const std::string& what) {
    SCOPED_TRACE(what);
    const double n = static_cast<double>(end - begin);
    double sum = 0, sum2 = 0, largest = 0;
    for (std::size_t i = begin; i < end; ++i) {
        sum += w[i];
        sum2 += w[i] * w[i];
        largest = std::max(largest, std::abs(w[i]));
    }
    EXPECT_LE(largest, bound);
    EXPECT_GE(largest, 0.95 * bound);  // the draws fill the interval
    EXPECT_NEAR(sum / n, 0.0, 5 * bound / std::sqrt(3 * n));
    EXPECT_NEAR(sum2 / n, bound * bound / 3, 5 * bound * bound * std::sqrt(4.0 / 45) / std::sqrt(n));
}

TEST(Mlp, InitOptionsMatchTheirFormulas) {
    const std::vector<std::size_t> sizes{40, 300, 200, 3};
    Mlp<double> mlp(sizes, Activation::relu);
    for (const MlpInit init : {MlpInit::torch, MlpInit::he, MlpInit::glorot}) {
        for (const MlpBiasInit bias : {MlpBiasInit::uniform, MlpBiasInit::zero}) {
            MlpInitOptions options;
            options.init = init;
            options.bias = bias;
            const std::vector<double> w = mlp.initial_parameters(3, options);
            for (std::size_t l = 1; l < sizes.size(); ++l) {
                const double in = double(sizes[l - 1]), out = double(sizes[l]);
                const double bound = init == MlpInit::torch ? 1 / std::sqrt(in)
                                     : init == MlpInit::he  ? std::sqrt(6 / in)
                                                            : std::sqrt(6 / (in + out));
                EXPECT_DOUBLE_EQ(mlp_weight_bound(init, sizes[l - 1], sizes[l]), bound);
                const std::string what = std::string(enum_name(init)) + " layer " + std::to_string(l);
                expect_uniform_moments(w, mlp.weight_offset(l), mlp.bias_offset(l), bound, what + " weights");
                if (bias == MlpBiasInit::zero) {
                    for (std::size_t i = mlp.bias_offset(l); i < mlp.bias_offset(l) + sizes[l]; ++i) EXPECT_EQ(w[i], 0.0);
                } else if (sizes[l] >= 200) {
                    expect_uniform_moments(w, mlp.bias_offset(l), mlp.bias_offset(l) + sizes[l], 1 / std::sqrt(in),
                                           what + " biases");
                }
            }
        }
    }
    // gan_toy.py's networks: He hidden layers, a Glorot output layer, zero biases.
    MlpInitOptions reference;
    reference.init = MlpInit::he;
    reference.output_init = MlpInit::glorot;
    reference.bias = MlpBiasInit::zero;
    const std::vector<double> w = mlp.initial_parameters(4, reference);
    expect_uniform_moments(w, mlp.weight_offset(2), mlp.bias_offset(2), std::sqrt(6.0 / 300), "he hidden");
    expect_uniform_moments(w, mlp.weight_offset(3), mlp.bias_offset(3), std::sqrt(6.0 / 203), "glorot output");
}

// The docs/math.md §5.4(b) network: D(x) = w2·tanh(W1 x + b1) + b2.
TEST(Mlp, SpecTanhNetwork) {
    Mlp<double> mlp({2, 2, 1}, Activation::tanh);
    const std::vector<double> w{1, -1, 0.5, 2, 0, 0.1, 1, -2, 0.3};
    MlpWorkspace<double> ws;
    const std::vector<double> x{1, 0, 0, 1, 0.25, 0.75};
    mlp.forward(w.data(), x.data(), 3, ws);
    EXPECT_NEAR(ws.z[2][0], -0.01250497804, 1e-10);
    EXPECT_NEAR(ws.z[2][1], -2.402498029, 1e-9);
    mlp.reverse(w.data(), nullptr, ws);
    EXPECT_NEAR(ws.a[0][4], 0.6671591864, 1e-10);
    EXPECT_NEAR(ws.a[0][5], -1.263601919, 1e-9);
    EXPECT_NEAR(ws.a[0][2], -0.3617513029 * -1, 1e-9);  // ∇_x D(x_fake) = −∂L_G/∂x_fake
    EXPECT_NEAR(ws.a[0][3], 0.6528664965 * -1, 1e-9);
}

class MlpFiniteDifferences : public ::testing::TestWithParam<Activation> {};

TEST_P(MlpFiniteDifferences, AllPasses) {
    const Activation act = GetParam();
    Mlp<double> mlp({3, 4, 3, 1}, act);
    Xoshiro256 rng(42);
    const std::size_t rows = 3;
    std::vector<double> w = random_vector(rng, mlp.parameter_count(), 0.8);
    const std::vector<double> x = random_vector(rng, rows * 3), v = random_vector(rng, rows * 3);
    MlpWorkspace<double> ws;
    mlp.forward(w.data(), x.data(), rows, ws);
    mlp.reverse(w.data(), nullptr, ws);
    std::vector<double> grad(mlp.parameter_count(), 0.0), mixed(mlp.parameter_count(), 0.0);
    mlp.accumulate_parameter_gradient(ws, nullptr, grad.data());
    const std::vector<double> input_grad = ws.a[0];
    mlp.tangent(w.data(), v.data(), ws);
    mlp.accumulate_mixed_gradient(ws, mixed.data());
    const std::vector<double> hessian_v = ws.ad[0];

    const double h = 1e-6;
    for (std::size_t i = 0; i < w.size(); ++i) {
        auto wp = w, wm = w;
        wp[i] += h;
        wm[i] -= h;
        const double fd = (sum_output(mlp, wp, x, rows) - sum_output(mlp, wm, x, rows)) / (2 * h);
        EXPECT_NEAR(grad[i], fd, 1e-7 * (1 + std::abs(fd))) << "∂D/∂w " << i;
        const double fd_mixed = (directional_input_gradient(mlp, wp, x, v, rows) -
                                 directional_input_gradient(mlp, wm, x, v, rows)) / (2 * h);
        EXPECT_NEAR(mixed[i], fd_mixed, 1e-6 * (1 + std::abs(fd_mixed))) << "mixed " << i;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
        auto xp = x, xm = x;
        xp[i] += h;
        xm[i] -= h;
        const double fd = (sum_output(mlp, w, xp, rows) - sum_output(mlp, w, xm, rows)) / (2 * h);
        EXPECT_NEAR(input_grad[i], fd, 1e-7 * (1 + std::abs(fd))) << "∂D/∂x " << i;
        // H v: the derivative of ⟨∇_x D(x), e_i⟩ along v, i.e. (∇_x D(x + h v) − ∇_x D(x − h v))/2h.
    }
    std::vector<double> xp = x, xm = x;
    for (std::size_t i = 0; i < x.size(); ++i) {
        xp[i] += h * v[i];
        xm[i] -= h * v[i];
    }
    std::vector<double> gp(x.size()), gm(x.size());
    MlpWorkspace<double> scratch;
    mlp.input_gradient(w.data(), xp.data(), rows, gp.data(), scratch);
    mlp.input_gradient(w.data(), xm.data(), rows, gm.data(), scratch);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double fd = (gp[i] - gm[i]) / (2 * h);
        EXPECT_NEAR(hessian_v[i], fd, 1e-6 * (1 + std::abs(fd))) << "H v " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(EveryActivation, MlpFiniteDifferences, ::testing::ValuesIn(kAll),
                         [](const auto& info) { return std::string(enum_name(info.param)); });

// A vector output (the generator): reverse with a seed matrix against finite differences.
TEST(Mlp, VectorOutputSeed) {
    Mlp<double> mlp({2, 5, 2}, Activation::gelu);
    Xoshiro256 rng(3);
    const std::size_t rows = 4;
    const auto w = random_vector(rng, mlp.parameter_count()), x = random_vector(rng, rows * 2),
               seed = random_vector(rng, rows * 2);
    MlpWorkspace<double> ws;
    mlp.forward(w.data(), x.data(), rows, ws);
    mlp.reverse(w.data(), seed.data(), ws);
    std::vector<double> grad(mlp.parameter_count(), 0.0);
    mlp.accumulate_parameter_gradient(ws, nullptr, grad.data());
    auto objective = [&](const std::vector<double>& p) {
        std::vector<double> out(rows * 2);
        MlpWorkspace<double> s;
        mlp.evaluate(p.data(), x.data(), rows, out.data(), s);
        double total = 0;
        for (std::size_t i = 0; i < out.size(); ++i) total += out[i] * seed[i];
        return total;
    };
    for (std::size_t i = 0; i < w.size(); ++i) {
        auto wp = w, wm = w;
        wp[i] += 1e-6;
        wm[i] -= 1e-6;
        EXPECT_NEAR(grad[i], (objective(wp) - objective(wm)) / 2e-6, 1e-7);
    }
}

// The float path (SIMD GEMM) against the double twin, on widths around the GEMM tile.
TEST(Mlp, FloatMatchesDoubleTwin) {
    const std::size_t tile = gemm_tile_cols(), tile_rows = gemm_tile_rows();
    for (Activation act : {Activation::relu, Activation::tanh, Activation::gelu}) {
        for (std::size_t width : {std::size_t(1), tile - 1, tile + 1, 3 * tile + 5}) {
            if (width == 0) continue;
            const std::vector<std::size_t> sizes{3, width, width + 2, 1};
            Mlp<double> md(sizes, act);
            Mlp<float> mf(sizes, act);
            const std::size_t rows = 2 * tile_rows + 3;
            Xoshiro256 rng(width);
            const auto w = md.initial_parameters(width), x = random_vector(rng, rows * 3), v = random_vector(rng, rows * 3);
            const std::vector<float> wf(w.begin(), w.end()), xf(x.begin(), x.end()), vf(v.begin(), v.end());
            MlpWorkspace<double> wsd;
            MlpWorkspace<float> wsf;
            md.forward(w.data(), x.data(), rows, wsd);
            mf.forward(wf.data(), xf.data(), rows, wsf);
            md.reverse(w.data(), nullptr, wsd);
            mf.reverse(wf.data(), nullptr, wsf);
            md.tangent(w.data(), v.data(), wsd);
            mf.tangent(wf.data(), vf.data(), wsf);
            std::vector<double> gd(md.parameter_count(), 0.0);
            std::vector<float> gf(mf.parameter_count(), 0.0f);
            md.accumulate_parameter_gradient(wsd, nullptr, gd.data());
            mf.accumulate_parameter_gradient(wsf, nullptr, gf.data());
            md.accumulate_mixed_gradient(wsd, gd.data());
            mf.accumulate_mixed_gradient(wsf, gf.data());
            for (std::size_t r = 0; r < rows; ++r) EXPECT_NEAR(wsf.z[3][r], wsd.z[3][r], 1e-5);
            for (std::size_t i = 0; i < rows * 3; ++i) {
                EXPECT_NEAR(wsf.a[0][i], wsd.a[0][i], 1e-5);
                EXPECT_NEAR(wsf.ad[0][i], wsd.ad[0][i], 1e-5);
            }
            for (std::size_t i = 0; i < gd.size(); ++i) EXPECT_NEAR(gf[i], gd[i], 1e-4 * (1 + std::abs(gd[i])));
        }
    }
}

TEST(Random, ReproducibleStream) {
    Xoshiro256 a(123), b(123);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
    // Fixed first outputs, so the native and the WASM builds are held to the same stream.
    Xoshiro256 c(0);
    EXPECT_EQ(c.next(), 11091344671253066420ULL);
    EXPECT_EQ(c.next(), 13793997310169335082ULL);
    Xoshiro256 d(42);
    EXPECT_EQ(d.uniform(), 0.083862971059882163);
    EXPECT_NEAR(d.normal(), -0.41536520949523315, 1e-15);  // libm's log/cos may differ in the last bit
    double mean = 0, square = 0;
    Xoshiro256 e(9);
    for (int i = 0; i < 20000; ++i) {
        const double z = e.normal();
        mean += z;
        square += z * z;
    }
    EXPECT_NEAR(mean / 20000, 0, 0.03);
    EXPECT_NEAR(square / 20000, 1, 0.04);
}

}  // namespace
}  // namespace kexue
