// Each layer of the transformer (src/model/layers.hpp): its float backward pass against central
// finite differences of its double forward pass, and the double backward against the same
// differences at a tighter tolerance. The loss is L = Σ w∘y for a fixed random w, so dy = w.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "core/random.hpp"
#include "model/layers.hpp"

namespace kexue::model {
namespace {

std::vector<double> random_vector(std::size_t n, Xoshiro256& rng, double scale = 1.0) {
    std::vector<double> v(n);
    for (double& x : v) x = scale * rng.normal();
    return v;
}

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

// ∂(w·f(x))/∂x by central differences of the double forward.
std::vector<double> numeric_gradient(const std::function<std::vector<double>(const std::vector<double>&)>& f,
                                     std::vector<double> x, const std::vector<double>& w, double h = 1e-5) {
    std::vector<double> g(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double saved = x[i];
        x[i] = saved + h;
        const double up = dot(w, f(x));
        x[i] = saved - h;
        const double down = dot(w, f(x));
        x[i] = saved;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

// ‖a − b‖ / ‖b‖.
template <typename A>
double relative_error(const std::vector<A>& a, const std::vector<double>& b) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        den += b[i] * b[i];
    }
    return std::sqrt(num / std::max(den, 1e-30));
}

constexpr double kFloatTolerance = 2e-3;
constexpr double kDoubleTolerance = 1e-6;

TEST(ModelLayers, RmsNormBackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(1);
    const std::size_t n = 3, d = 10;
    const auto x = random_vector(n * d, rng), g = random_vector(d, rng), w = random_vector(n * d, rng);
    auto forward_x = [&](const std::vector<double>& xs) {
        std::vector<double> y(n * d), r(n);
        rmsnorm_forward(xs.data(), g.data(), n, d, 1e-5, y.data(), r.data());
        return y;
    };
    auto forward_g = [&](const std::vector<double>& gs) {
        std::vector<double> y(n * d), r(n);
        rmsnorm_forward(x.data(), gs.data(), n, d, 1e-5, y.data(), r.data());
        return y;
    };
    const auto num_dx = numeric_gradient(forward_x, x, w), num_dg = numeric_gradient(forward_g, g, w);
    // float
    const auto xf = to_float(x), gf = to_float(g), wf = to_float(w);
    std::vector<float> y(n * d), r(n), dx(n * d), dg(d, 0.0f);
    rmsnorm_forward(xf.data(), gf.data(), n, d, 1e-5f, y.data(), r.data());
    rmsnorm_backward(wf.data(), xf.data(), gf.data(), r.data(), n, d, dx.data(), dg.data());
    EXPECT_LT(relative_error(dx, num_dx), kFloatTolerance);
    EXPECT_LT(relative_error(dg, num_dg), kFloatTolerance);
    // double
    std::vector<double> yd(n * d), rd(n), dxd(n * d), dgd(d, 0.0);
    rmsnorm_forward(x.data(), g.data(), n, d, 1e-5, yd.data(), rd.data());
    rmsnorm_backward(w.data(), x.data(), g.data(), rd.data(), n, d, dxd.data(), dgd.data());
    EXPECT_LT(relative_error(dxd, num_dx), kDoubleTolerance);
    EXPECT_LT(relative_error(dgd, num_dg), kDoubleTolerance);
}

TEST(ModelLayers, LayerNormBackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(2);
    const std::size_t n = 3, d = 9;
    const auto x = random_vector(n * d, rng), g = random_vector(d, rng), b = random_vector(d, rng),
               w = random_vector(n * d, rng);
    auto run = [&](const std::vector<double>& xs, const std::vector<double>& gs, const std::vector<double>& bs) {
        std::vector<double> y(n * d), m(n), r(n);
        layernorm_forward(xs.data(), gs.data(), bs.data(), n, d, 1e-5, y.data(), m.data(), r.data());
        return y;
    };
    const auto num_dx = numeric_gradient([&](const auto& v) { return run(v, g, b); }, x, w);
    const auto num_dg = numeric_gradient([&](const auto& v) { return run(x, v, b); }, g, w);
    const auto num_db = numeric_gradient([&](const auto& v) { return run(x, g, v); }, b, w);
    const auto xf = to_float(x), gf = to_float(g), bf = to_float(b), wf = to_float(w);
    std::vector<float> y(n * d), m(n), r(n), dx(n * d), dg(d, 0.0f), db(d, 0.0f);
    layernorm_forward(xf.data(), gf.data(), bf.data(), n, d, 1e-5f, y.data(), m.data(), r.data());
    layernorm_backward(wf.data(), xf.data(), gf.data(), m.data(), r.data(), n, d, dx.data(), dg.data(), db.data());
    EXPECT_LT(relative_error(dx, num_dx), kFloatTolerance);
    EXPECT_LT(relative_error(dg, num_dg), kFloatTolerance);
    EXPECT_LT(relative_error(db, num_db), kFloatTolerance);
    std::vector<double> yd(n * d), md(n), rd(n), dxd(n * d), dgd(d, 0.0), dbd(d, 0.0);
    layernorm_forward(x.data(), g.data(), b.data(), n, d, 1e-5, yd.data(), md.data(), rd.data());
    layernorm_backward(w.data(), x.data(), g.data(), md.data(), rd.data(), n, d, dxd.data(), dgd.data(), dbd.data());
    EXPECT_LT(relative_error(dxd, num_dx), kDoubleTolerance);
    EXPECT_LT(relative_error(dgd, num_dg), kDoubleTolerance);
    EXPECT_LT(relative_error(dbd, num_db), kDoubleTolerance);
}

TEST(ModelLayers, GeluBackwardMatchesFiniteDifferencesIncludingTheVectorisedPath) {
    Xoshiro256 rng(3);
    const std::size_t count = 37;  // vector body and scalar tail
    auto x = random_vector(count, rng, 3.0);
    x[0] = 12.0;  // saturated ends
    x[1] = -12.0;
    const auto w = random_vector(count, rng);
    auto forward = [&](const std::vector<double>& xs) {
        std::vector<double> y(count);
        gelu_forward(xs.data(), count, y.data());
        return y;
    };
    const auto num = numeric_gradient(forward, x, w);
    const auto xf = to_float(x), wf = to_float(w);
    std::vector<float> y(count), dx(count);
    gelu_forward(xf.data(), count, y.data());
    const auto yd = forward(x);
    for (std::size_t i = 0; i < count; ++i) EXPECT_NEAR(y[i], yd[i], 1e-5 * (1 + std::fabs(yd[i]))) << i;
    gelu_backward(wf.data(), xf.data(), count, dx.data());
    EXPECT_LT(relative_error(dx, num), kFloatTolerance);
    std::vector<double> dxd(count);
    gelu_backward(w.data(), x.data(), count, dxd.data());
    EXPECT_LT(relative_error(dxd, num), kDoubleTolerance);
}

TEST(ModelLayers, LinearBackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(4);
    const std::size_t n = 5, in = 7, out = 6;
    const auto x = random_vector(n * in, rng), wt = random_vector(in * out, rng), w = random_vector(n * out, rng);
    auto run = [&](const std::vector<double>& xs, const std::vector<double>& ws) {
        std::vector<double> y(n * out);
        linear_forward(xs.data(), ws.data(), n, in, out, y.data());
        return y;
    };
    const auto num_dx = numeric_gradient([&](const auto& v) { return run(v, wt); }, x, w);
    const auto num_dw = numeric_gradient([&](const auto& v) { return run(x, v); }, wt, w);
    const auto xf = to_float(x), wtf = to_float(wt), wf = to_float(w);
    std::vector<float> dx(n * in), dw(in * out, 0.0f);
    linear_backward(wf.data(), xf.data(), wtf.data(), n, in, out, dx.data(), dw.data());
    EXPECT_LT(relative_error(dx, num_dx), kFloatTolerance);
    EXPECT_LT(relative_error(dw, num_dw), kFloatTolerance);
    std::vector<double> dxd(n * in), dwd(in * out, 0.0);
    linear_backward(w.data(), x.data(), wt.data(), n, in, out, dxd.data(), dwd.data());
    EXPECT_LT(relative_error(dxd, num_dx), kDoubleTolerance);
    EXPECT_LT(relative_error(dwd, num_dw), kDoubleTolerance);
}

TEST(ModelLayers, EmbeddingBackwardAddsRepeatedTokens) {
    const std::int32_t tokens[] = {2, 0, 2};
    const std::size_t d = 3;
    std::vector<double> table(4 * d), dx = {1, 2, 3, 4, 5, 6, 7, 8, 9}, dtable(4 * d, 0.0);
    for (std::size_t i = 0; i < table.size(); ++i) table[i] = double(i);
    std::vector<double> x(3 * d);
    embedding_forward(tokens, 3, table.data(), d, x.data());
    EXPECT_EQ(x[0], 6);
    EXPECT_EQ(x[3], 0);
    embedding_backward(tokens, 3, dx.data(), d, dtable.data());
    EXPECT_EQ(dtable[6], 1 + 7);
    EXPECT_EQ(dtable[0], 4);
    EXPECT_EQ(dtable[3], 0);
}

TEST(ModelLayers, CrossEntropyBackwardMatchesFiniteDifferencesAndIgnoresNegativeTargets) {
    Xoshiro256 rng(5);
    const std::size_t n = 4, v = 11;
    auto logits = random_vector(n * v, rng, 3.0);
    logits[3] = 80.0;  // a large logit: the logsumexp must stay finite
    const std::int32_t targets[] = {3, -1, 0, 10};
    const std::vector<double> w(n, 0.25);  // the mean over rows
    auto forward = [&](const std::vector<double>& ls) {
        std::vector<double> loss(n);
        cross_entropy_forward_backward(ls.data(), targets, n, v, 0.25, loss.data(), static_cast<double*>(nullptr));
        return loss;
    };
    const auto num = numeric_gradient(forward, logits, w);
    const auto lf = to_float(logits);
    std::vector<float> loss(n), dl(n * v);
    cross_entropy_forward_backward(lf.data(), targets, n, v, 0.25f, loss.data(), dl.data());
    EXPECT_EQ(loss[1], 0.0f);
    for (std::size_t j = 0; j < v; ++j) EXPECT_EQ(dl[v + j], 0.0f);
    EXPECT_TRUE(std::isfinite(loss[0]));
    EXPECT_LT(relative_error(dl, num), kFloatTolerance);
    const auto ld = forward(logits);
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(loss[i], ld[i], 1e-4 * (1 + ld[i]));
}

// RoPE at arbitrary positions, then the fused attention (causal for the causal objective,
// bidirectional for the masked one; GQA, keySize ≠ valueSize, the entropy scale; each of the
// model's normalisations: softmax, relu2, l2), as the model runs them; the inputs are the
// un-rotated q, k and v.
class RopeAttention : public ::testing::TestWithParam<std::tuple<bool, AttentionNormalize>> {};

TEST_P(RopeAttention, BackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(6);
    const AttentionShape shape{2, 5, 5, 4, 2, 6, 4};
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    options.base_len = 4;
    options.n_min = 1;
    options.causal = std::get<0>(GetParam());
    options.normalize = std::get<1>(GetParam());
    options.rope.reset();
    const std::size_t nq = 2 * 5 * 4 * 6, nk = 2 * 5 * 2 * 6, nv = 2 * 5 * 2 * 4, no = 2 * 5 * 4 * 4;
    const auto q = random_vector(nq, rng), k = random_vector(nk, rng), v = random_vector(nv, rng),
               w = random_vector(no, rng);
    const std::vector<double> positions = {0, 3, 4, 9, 20, 1, 2, 5, 6, 100};  // two rows of five
    auto run = [&](std::vector<double> qs, std::vector<double> ks, const std::vector<double>& vs) {
        for (std::size_t b = 0; b < 2; ++b) {
            rope_rows(qs.data() + b * 5 * 4 * 6, 5, 4, 6, positions.data() + b * 5, 10000.0, false);
            rope_rows(ks.data() + b * 5 * 2 * 6, 5, 2, 6, positions.data() + b * 5, 10000.0, false);
        }
        std::vector<double> o(no), lse(2 * 4 * 5);
        fused_attention_forward(shape, options, qs.data(), ks.data(), vs.data(), o.data(), lse.data());
        return o;
    };
    const auto num_dq = numeric_gradient([&](const auto& x) { return run(x, k, v); }, q, w);
    const auto num_dk = numeric_gradient([&](const auto& x) { return run(q, x, v); }, k, w);
    const auto num_dv = numeric_gradient([&](const auto& x) { return run(q, k, x); }, v, w);
    // float: rotate, attention forward/backward, rotate the gradients back
    auto qf = to_float(q), kf = to_float(k);
    const auto vf = to_float(v), wf = to_float(w);
    for (std::size_t b = 0; b < 2; ++b) {
        rope_rows(qf.data() + b * 5 * 4 * 6, 5, 4, 6, positions.data() + b * 5, 10000.0, false);
        rope_rows(kf.data() + b * 5 * 2 * 6, 5, 2, 6, positions.data() + b * 5, 10000.0, false);
    }
    std::vector<float> o(no), lse(2 * 4 * 5), dq(nq), dk(nk), dv(nv);
    fused_attention_forward(shape, options, qf.data(), kf.data(), vf.data(), o.data(), lse.data());
    fused_attention_backward(shape, options, qf.data(), kf.data(), vf.data(), o.data(), lse.data(), wf.data(), dq.data(),
                       dk.data(), dv.data());
    for (std::size_t b = 0; b < 2; ++b) {
        rope_rows(dq.data() + b * 5 * 4 * 6, 5, 4, 6, positions.data() + b * 5, 10000.0, true);
        rope_rows(dk.data() + b * 5 * 2 * 6, 5, 2, 6, positions.data() + b * 5, 10000.0, true);
    }
    EXPECT_LT(relative_error(dq, num_dq), kFloatTolerance);
    EXPECT_LT(relative_error(dk, num_dk), kFloatTolerance);
    EXPECT_LT(relative_error(dv, num_dv), kFloatTolerance);
}

INSTANTIATE_TEST_SUITE_P(ModelLayers, RopeAttention,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(AttentionNormalize::softmax,
                                                                                 AttentionNormalize::relu2,
                                                                                 AttentionNormalize::l2)),
                         [](const auto& info) {
                             const std::string normalize = enum_name(std::get<1>(info.param));
                             return std::string(std::get<0>(info.param) ? "Causal" : "Bidirectional") +
                                    (normalize == "softmax" ? "Softmax" : normalize == "relu2" ? "Relu2" : "L2");
                         });

}  // namespace
}  // namespace kexue::model
