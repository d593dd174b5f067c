// Each layer of the transformer (src/model/layers.hpp): its float backward pass against central
// finite differences of its double forward pass, and the double backward against the same
// differences at a tighter tolerance. The loss is L = Σ w∘y for a fixed random w, so dy = w.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/random.hpp"
#include "model/layers.hpp"
#include "../helpers/tensors.hpp"

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

// An elementwise activation y = f(x): its float and double forward passes agree, and both backward
// passes match central differences of the double forward (the loss Σ w∘f(x)). `forward(x, n, y)`
// and `backward(dy, x, n, dx)` are generic lambdas over the float and double overloads. Returns the
// float dx.
template <typename Forward, typename Backward>
std::vector<float> expect_activation_matches_finite_differences(Forward forward, Backward backward,
                                                                const std::vector<double>& x,
                                                                const std::vector<double>& w) {
    const std::size_t count = x.size();
    auto forward_double = [&](const std::vector<double>& xs) {
        std::vector<double> y(count);
        forward(xs.data(), count, y.data());
        return y;
    };
    const auto num = numeric_gradient(forward_double, x, w);
    const auto xf = to_float(x), wf = to_float(w);
    std::vector<float> y(count), dx(count);
    forward(xf.data(), count, y.data());
    const auto yd = forward_double(x);
    for (std::size_t i = 0; i < count; ++i) EXPECT_NEAR(y[i], yd[i], 1e-5 * (1 + std::fabs(yd[i]))) << i;
    backward(wf.data(), xf.data(), count, dx.data());
    EXPECT_LT(relative_error(dx, num), kFloatTolerance);
    std::vector<double> dxd(count);
    backward(w.data(), x.data(), count, dxd.data());
    EXPECT_LT(relative_error(dxd, num), kDoubleTolerance);
    return dx;
}

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
    expect_activation_matches_finite_differences(
        [](auto* xs, std::size_t n, auto* y) { gelu_forward(xs, n, y); },
        [](auto* dy, auto* xs, std::size_t n, auto* dx) { gelu_backward(dy, xs, n, dx); }, x, w);
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

// The attention layers' options under test: the entropy scale (base length 4), RoPE applied by the
// caller (or not at all), and the parameter's causal flag and normalisation.
AttentionOptions attention_test_options(const std::tuple<bool, AttentionNormalize>& param) {
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    options.base_len = 4;
    options.n_min = 1;
    options.causal = std::get<0>(param);
    options.normalize = std::get<1>(param);
    options.rope.reset();
    return options;
}

// RoPE at arbitrary positions, then the fused attention (causal for the causal objective,
// bidirectional for the masked one; GQA, keySize ≠ valueSize, the entropy scale; each of the
// model's normalisations: softmax, relu2, l2), as the model runs them; the inputs are the
// un-rotated q, k and v.
class RopeAttention : public ::testing::TestWithParam<std::tuple<bool, AttentionNormalize>> {};

TEST_P(RopeAttention, BackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(6);
    const AttentionShape shape{2, 5, 5, 4, 2, 6, 4};
    const AttentionOptions options = attention_test_options(GetParam());
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

// ---- talking-heads attention (attention.talkingHeads) --------------------------------------------

// Talking heads (Shazeer et al. 2020) with non-identity mixing Pl, Pw: the float and double backward
// passes against central differences of the double forward, for q, k, v (rotated, as the model
// passes them), Pl and Pw; GQA, keySize ≠ valueSize, the entropy scale, causal or bidirectional,
// each normalisation, and a query block after cached keys (seq_q < seq_k: the causal offset).
class TalkingHeads : public ::testing::TestWithParam<std::tuple<bool, AttentionNormalize>> {};

TEST_P(TalkingHeads, BackwardMatchesFiniteDifferences) {
    for (std::size_t seq_q : {std::size_t{5}, std::size_t{3}}) {
        Xoshiro256 rng(8 + seq_q);
        const std::size_t B = 2, Sq = seq_q, Sk = 5, H = 4, Hkv = 2, dk = 6, dv = 4;
        const AttentionShape shape{B, Sq, Sk, H, Hkv, dk, dv};
        const AttentionOptions options = attention_test_options(GetParam());
        const std::size_t nq = B * Sq * H * dk, nk = B * Sk * Hkv * dk, nv = B * Sk * Hkv * dv, no = B * Sq * H * dv,
                          square = B * H * Sq * Sk;
        const auto q = random_vector(nq, rng), k = random_vector(nk, rng), v = random_vector(nv, rng),
                   w = random_vector(no, rng);
        auto pl = random_vector(H * H, rng, 0.5), pw = random_vector(H * H, rng, 0.5);
        for (std::size_t i = 0; i < H; ++i) pl[i * H + i] += 1, pw[i * H + i] += 1;
        auto run = [&](const std::vector<double>& qs, const std::vector<double>& ks, const std::vector<double>& vs,
                       const std::vector<double>& pls, const std::vector<double>& pws) {
            std::vector<double> o(no), s(square), a(square);
            talking_heads_forward(shape, options, pls.data(), pws.data(), qs.data(), ks.data(), vs.data(), o.data(),
                                  s.data(), a.data());
            return o;
        };
        const auto num_dq = numeric_gradient([&](const auto& x) { return run(x, k, v, pl, pw); }, q, w);
        const auto num_dk = numeric_gradient([&](const auto& x) { return run(q, x, v, pl, pw); }, k, w);
        const auto num_dv = numeric_gradient([&](const auto& x) { return run(q, k, x, pl, pw); }, v, w);
        const auto num_dpl = numeric_gradient([&](const auto& x) { return run(q, k, v, x, pw); }, pl, w);
        const auto num_dpw = numeric_gradient([&](const auto& x) { return run(q, k, v, pl, x); }, pw, w);
        const std::string context = " seq_q " + std::to_string(Sq);
        // double
        {
            std::vector<double> o(no), s(square), a(square), dq(nq), dk_(nk), dv_(nv), dpl(H * H, 0.0), dpw(H * H, 0.0);
            talking_heads_forward(shape, options, pl.data(), pw.data(), q.data(), k.data(), v.data(), o.data(), s.data(),
                                  a.data());
            talking_heads_backward(shape, options, pl.data(), pw.data(), q.data(), k.data(), v.data(), s.data(),
                                   a.data(), w.data(), dq.data(), dk_.data(), dv_.data(), dpl.data(), dpw.data());
            EXPECT_LT(relative_error(dq, num_dq), kDoubleTolerance) << context;
            EXPECT_LT(relative_error(dk_, num_dk), kDoubleTolerance) << context;
            EXPECT_LT(relative_error(dv_, num_dv), kDoubleTolerance) << context;
            EXPECT_LT(relative_error(dpl, num_dpl), kDoubleTolerance) << context;
            EXPECT_LT(relative_error(dpw, num_dpw), kDoubleTolerance) << context;
        }
        // float (the GEMM)
        const auto qf = to_float(q), kf = to_float(k), vf = to_float(v), wf = to_float(w), plf = to_float(pl),
                   pwf = to_float(pw);
        std::vector<float> o(no), s(square), a(square), dq(nq), dk_(nk), dv_(nv), dpl(H * H, 0.0f), dpw(H * H, 0.0f);
        talking_heads_forward(shape, options, plf.data(), pwf.data(), qf.data(), kf.data(), vf.data(), o.data(), s.data(),
                              a.data());
        const auto od = run(q, k, v, pl, pw);
        EXPECT_LT(relative_error(o, od), 1e-5) << context;
        talking_heads_backward(shape, options, plf.data(), pwf.data(), qf.data(), kf.data(), vf.data(), s.data(),
                               a.data(), wf.data(), dq.data(), dk_.data(), dv_.data(), dpl.data(), dpw.data());
        EXPECT_LT(relative_error(dq, num_dq), kFloatTolerance) << context;
        EXPECT_LT(relative_error(dk_, num_dk), kFloatTolerance) << context;
        EXPECT_LT(relative_error(dv_, num_dv), kFloatTolerance) << context;
        EXPECT_LT(relative_error(dpl, num_dpl), kFloatTolerance) << context;
        EXPECT_LT(relative_error(dpw, num_dpw), kFloatTolerance) << context;
    }
}

// With Pl = Pw = I (the initialisation) the materialised path is the fused kernel: the same
// output and the same dq, dk, dv, to float rounding; and a block of queries after cached keys
// (seq_q < seq_k) gives the last rows of the full computation (the KV cache's causal offset).
TEST_P(TalkingHeads, IdentityMixingEqualsTheFusedKernelAndCachedRowsEqualTheFullOnes) {
    Xoshiro256 rng(9);
    const std::size_t B = 2, S = 6, H = 4, Hkv = 2, dk = 6, dv = 4;
    const AttentionShape shape{B, S, S, H, Hkv, dk, dv};
    const AttentionOptions options = attention_test_options(GetParam());
    const std::size_t nq = B * S * H * dk, nk = B * S * Hkv * dk, nv = B * S * Hkv * dv, no = B * S * H * dv,
                      square = B * H * S * S;
    const auto q = to_float(random_vector(nq, rng)), k = to_float(random_vector(nk, rng)),
               v = to_float(random_vector(nv, rng)), w = to_float(random_vector(no, rng));
    std::vector<float> eye(H * H, 0.0f);
    for (std::size_t i = 0; i < H; ++i) eye[i * H + i] = 1;
    std::vector<float> o1(no), o2(no), lse(B * H * S), s(square), a(square);
    std::vector<float> dq1(nq), dk1(nk), dv1(nv), dq2(nq), dk2(nk), dv2(nv), dpl(H * H, 0.0f), dpw(H * H, 0.0f);
    fused_attention_forward(shape, options, q.data(), k.data(), v.data(), o1.data(), lse.data());
    fused_attention_backward(shape, options, q.data(), k.data(), v.data(), o1.data(), lse.data(), w.data(), dq1.data(),
                             dk1.data(), dv1.data());
    talking_heads_forward(shape, options, eye.data(), eye.data(), q.data(), k.data(), v.data(), o2.data(), s.data(),
                          a.data());
    talking_heads_backward(shape, options, eye.data(), eye.data(), q.data(), k.data(), v.data(), s.data(), a.data(),
                           w.data(), dq2.data(), dk2.data(), dv2.data(), dpl.data(), dpw.data());
    for (std::size_t i = 0; i < no; ++i) EXPECT_NEAR(o2[i], o1[i], 1e-5f * (1 + std::fabs(o1[i]))) << i;
    for (std::size_t i = 0; i < nq; ++i) EXPECT_NEAR(dq2[i], dq1[i], 1e-4f * (1 + std::fabs(dq1[i]))) << i;
    for (std::size_t i = 0; i < nk; ++i) EXPECT_NEAR(dk2[i], dk1[i], 1e-4f * (1 + std::fabs(dk1[i]))) << i;
    for (std::size_t i = 0; i < nv; ++i) EXPECT_NEAR(dv2[i], dv1[i], 1e-4f * (1 + std::fabs(dv1[i]))) << i;
    // Non-identity mixing; then the last 2 queries of each row alone against all S keys.
    std::vector<float> pl(H * H), pw(H * H);
    for (std::size_t i = 0; i < H * H; ++i) pl[i] = eye[i] + 0.3f * static_cast<float>(rng.normal());
    for (std::size_t i = 0; i < H * H; ++i) pw[i] = eye[i] + 0.3f * static_cast<float>(rng.normal());
    talking_heads_forward(shape, options, pl.data(), pw.data(), q.data(), k.data(), v.data(), o2.data(), s.data(),
                          a.data());
    const std::size_t tail = 2;
    const AttentionShape cached{B, tail, S, H, Hkv, dk, dv};
    std::vector<float> q_tail, o_tail(B * tail * H * dv), s_tail(B * H * tail * S), a_tail(B * H * tail * S);
    for (std::size_t b = 0; b < B; ++b)
        q_tail.insert(q_tail.end(), q.begin() + static_cast<std::ptrdiff_t>((b * S + S - tail) * H * dk),
                      q.begin() + static_cast<std::ptrdiff_t>((b + 1) * S * H * dk));
    talking_heads_forward(cached, options, pl.data(), pw.data(), q_tail.data(), k.data(), v.data(), o_tail.data(),
                          s_tail.data(), a_tail.data());
    for (std::size_t b = 0; b < B; ++b)
        for (std::size_t i = 0; i < tail * H * dv; ++i)
            EXPECT_NEAR(o_tail[b * tail * H * dv + i], o2[(b * S + S - tail) * H * dv + i], 1e-5f) << b << " " << i;
}

INSTANTIATE_TEST_SUITE_P(ModelLayers, TalkingHeads,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(AttentionNormalize::softmax,
                                                                                 AttentionNormalize::relu2,
                                                                                 AttentionNormalize::l2)),
                         [](const auto& info) {
                             const std::string normalize = enum_name(std::get<1>(info.param));
                             return std::string(std::get<0>(info.param) ? "Causal" : "Bidirectional") +
                                    (normalize == "softmax" ? "Softmax" : normalize == "relu2" ? "Relu2" : "L2");
                         });

// ---- GAU's layers (block 'gau') -----------------------------------------------------------------

TEST(ModelLayers, SiluBackwardMatchesFiniteDifferencesIncludingTheVectorisedPath) {
    Xoshiro256 rng(7);
    const std::size_t count = 37;  // vector body and scalar tail
    auto x = random_vector(count, rng, 3.0);
    x[0] = 30.0;  // saturated ends: σ = 1 and 0 in float
    x[1] = -30.0;
    x[2] = 100.0;  // beyond vexp's clamp
    x[3] = -100.0;
    const auto w = random_vector(count, rng);
    const std::vector<float> dx = expect_activation_matches_finite_differences(
        [](auto* xs, std::size_t n, auto* y) { silu_forward(xs, n, y); },
        [](auto* dy, auto* xs, std::size_t n, auto* dx) { silu_backward(dy, xs, n, dx); }, x, w);
    const auto xf = to_float(x), wf = to_float(w);
    // In place (dx = dy), as gau_backward calls it.
    std::vector<float> inplace = wf;
    silu_backward(inplace.data(), xf.data(), count, inplace.data());
    EXPECT_EQ(inplace, dx);
}

TEST(ModelLayers, ScaleOffsetAndGateBackwardMatchFiniteDifferences) {
    Xoshiro256 rng(8);
    const std::size_t n = 4, s = 6;
    const auto z = random_vector(n * s, rng), g = random_vector(s, rng), b = random_vector(s, rng),
               w = random_vector(n * s, rng);
    auto run = [&](const std::vector<double>& zs, const std::vector<double>& gs, const std::vector<double>& bs) {
        std::vector<double> y(n * s);
        scale_offset_forward(zs.data(), gs.data(), bs.data(), n, s, y.data());
        return y;
    };
    const auto num_dz = numeric_gradient([&](const auto& v) { return run(v, g, b); }, z, w);
    const auto num_dg = numeric_gradient([&](const auto& v) { return run(z, v, b); }, g, w);
    const auto num_db = numeric_gradient([&](const auto& v) { return run(z, g, v); }, b, w);
    const auto zf = to_float(z), gf = to_float(g), bf = to_float(b), wf = to_float(w);
    std::vector<float> dz(n * s, 0.0f), dg(s, 0.0f), db(s, 0.0f);
    scale_offset_backward(wf.data(), zf.data(), gf.data(), n, s, dz.data(), dg.data(), db.data(), false);
    EXPECT_LT(relative_error(dz, num_dz), kFloatTolerance);
    EXPECT_LT(relative_error(dg, num_dg), kFloatTolerance);
    EXPECT_LT(relative_error(db, num_db), kFloatTolerance);
    // accumulate adds dy∘γ to what dz held.
    std::vector<float> twice = dz;
    scale_offset_backward(wf.data(), zf.data(), gf.data(), n, s, twice.data(), nullptr, nullptr, true);
    for (std::size_t i = 0; i < n * s; ++i) EXPECT_FLOAT_EQ(twice[i], 2 * dz[i]);
    std::vector<double> dzd(n * s), dgd(s, 0.0), dbd(s, 0.0);
    scale_offset_backward(w.data(), z.data(), g.data(), n, s, dzd.data(), dgd.data(), dbd.data(), false);
    EXPECT_LT(relative_error(dzd, num_dz), kDoubleTolerance);
    EXPECT_LT(relative_error(dgd, num_dg), kDoubleTolerance);
    EXPECT_LT(relative_error(dbd, num_db), kDoubleTolerance);

    // gate: y = u∘a
    const std::size_t count = n * s;
    const auto u = random_vector(count, rng), a = random_vector(count, rng);
    auto gate = [&](const std::vector<double>& us, const std::vector<double>& as) {
        std::vector<double> y(count);
        gate_forward(us.data(), as.data(), count, y.data());
        return y;
    };
    const auto num_du = numeric_gradient([&](const auto& v) { return gate(v, a); }, u, w);
    const auto num_da = numeric_gradient([&](const auto& v) { return gate(u, v); }, a, w);
    const auto uf = to_float(u), af = to_float(a);
    std::vector<float> du(count), da = wf;  // da written over dy, as gau_backward does
    gate_backward(da.data(), uf.data(), af.data(), count, du.data(), da.data());
    EXPECT_LT(relative_error(du, num_du), kFloatTolerance);
    EXPECT_LT(relative_error(da, num_da), kFloatTolerance);
    std::vector<double> dud(count), dad(count);
    gate_backward(w.data(), u.data(), a.data(), count, dud.data(), dad.data());
    EXPECT_LT(relative_error(dud, num_du), kDoubleTolerance);
    EXPECT_LT(relative_error(dad, num_da), kDoubleTolerance);
}

// The ladder's gate z = μ·s + (1 − μ)·x, μ = σ(α/T) (Sung et al. 2022): ds, dx and dα of the double
// pair against central differences of Σ w∘z, at an α away from 0 so that μ ≠ 1/2.
TEST(ModelLayers, LadderGateBackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(12);
    const std::size_t count = 10;
    const double temperature = 0.1;
    auto s = random_vector(count, rng), x = random_vector(count, rng);
    const auto w = random_vector(count, rng);
    std::vector<double> alpha = {0.07};
    auto loss = [&]() {
        std::vector<double> z(count);
        ladder_gate_forward(s.data(), x.data(), count, ladder_gate_mu(alpha[0], temperature), z.data());
        double sum = 0;
        for (std::size_t i = 0; i < count; ++i) sum += w[i] * z[i];
        return sum;
    };
    std::vector<double> ds(count), dx(count), dalpha = {0.0};
    ladder_gate_backward(w.data(), s.data(), x.data(), count, ladder_gate_mu(alpha[0], temperature), temperature,
                         ds.data(), dx.data(), dalpha.data());
    kexue::testing::expect_central_differences(loss, s, ds, 1e-8, "ds");
    kexue::testing::expect_central_differences(loss, x, dx, 1e-8, "dx");
    kexue::testing::expect_central_differences(loss, alpha, dalpha, 1e-7, "dalpha");
    // ds may be dz (the model passes its buffer through): the same numbers.
    std::vector<double> inplace = w, dx2(count);
    ladder_gate_backward(inplace.data(), s.data(), x.data(), count, ladder_gate_mu(alpha[0], temperature), temperature,
                         inplace.data(), dx2.data(), static_cast<double*>(nullptr));
    EXPECT_EQ(inplace, ds);
    EXPECT_EQ(dx2, dx);
}

// The whole GAU block (gau_forward / gau_backward): every input and weight gradient of the float
// and the double backward pass against central differences of the double forward, with RoPE at
// arbitrary positions, causal and bidirectional, for each of the model's normalisations (softmax
// with the entropy scale, Su's 9052; the paper's relu2; l2).
class GauBlock : public ::testing::TestWithParam<std::tuple<bool, AttentionNormalize>> {};

TEST_P(GauBlock, BackwardMatchesFiniteDifferences) {
    Xoshiro256 rng(9);
    const GauShape g{2, 5, 6, 8, 4};  // batch, seq, d, e, s
    const std::size_t n = g.batch * g.seq;
    AttentionOptions options = attention_test_options(GetParam());
    options.clip_below_one = false;
    const std::vector<double> positions = {0, 3, 4, 9, 20, 1, 2, 5, 6, 100};
    const GauRope rope{positions.data(), 10000.0};
    // Inputs: a, then the eight weights in GauWeights order.
    const std::vector<std::size_t> sizes = {n * g.d, g.d * g.e, g.d * g.e, g.d * g.s, g.s, g.s, g.s, g.s, g.e * g.d};
    std::vector<std::vector<double>> inputs;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        inputs.push_back(random_vector(sizes[i], rng, i == 0 ? 1.0 : 0.5));
    }
    for (double& x : inputs[4]) x += 1.0;  // γq, γk near their initial 1
    for (double& x : inputs[6]) x += 1.0;
    const auto w = random_vector(n * g.d, rng);
    auto buffers = [&](auto zero) {
        using R = decltype(zero);
        std::vector<std::vector<R>> b;
        for (std::size_t i = 0; i < 6; ++i) b.emplace_back(n * g.e, R(0));  // upre u vpre v att gate
        for (std::size_t i = 0; i < 4; ++i) b.emplace_back(n * g.s, R(0));  // zpre z q k
        b.emplace_back(n, R(0));                                             // lse
        return b;
    };
    auto acts_of = [&](auto& b) {
        using R = typename std::remove_reference_t<decltype(b)>::value_type::value_type;
        return GauActs<R>{b[0].data(), b[1].data(), b[2].data(), b[3].data(), b[6].data(), b[7].data(),
                          b[8].data(), b[9].data(), b[4].data(), b[10].data(), b[5].data()};
    };
    auto weights_of = [&](const auto& in) {
        using R = typename std::remove_reference_t<decltype(in)>::value_type::value_type;
        return GauWeights<R>{in[1].data(), in[2].data(), in[3].data(), in[4].data(),
                             in[5].data(), in[6].data(), in[7].data(), in[8].data()};
    };
    auto forward = [&](const std::vector<std::vector<double>>& in) {
        auto b = buffers(0.0);
        std::vector<double> y(n * g.d);
        gau_forward(g, options, rope, weights_of(in), in[0].data(), acts_of(b), y.data());
        return y;
    };
    std::vector<std::vector<double>> numeric;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        numeric.push_back(numeric_gradient(
            [&](const std::vector<double>& v) {
                auto in = inputs;
                in[i] = v;
                return forward(in);
            },
            inputs[i], w));
    }
    // Both twins: forward, then backward from dy = w.
    auto analytic = [&](auto zero) {
        using R = decltype(zero);
        std::vector<std::vector<R>> in;
        for (const auto& v : inputs) in.emplace_back(v.begin(), v.end());
        const std::vector<R> dy(w.begin(), w.end());
        auto b = buffers(zero);
        std::vector<R> y(n * g.d);
        const GauActs<R> acts = acts_of(b);
        gau_forward(g, options, rope, weights_of(in), in[0].data(), acts, y.data());
        std::vector<std::vector<R>> grads;
        for (std::size_t size : sizes) grads.emplace_back(size, R(0));
        const GauGrads<R> gg{grads[1].data(), grads[2].data(), grads[3].data(), grads[4].data(),
                             grads[5].data(), grads[6].data(), grads[7].data(), grads[8].data()};
        std::vector<R> dgate(n * g.e), du(n * g.e), dv(n * g.e), dq(n * g.s), dk(n * g.s);
        gau_backward(g, options, rope, weights_of(in), in[0].data(), acts, dy.data(), gg,
                     GauScratch<R>{dgate.data(), du.data(), dv.data(), dq.data(), dk.data()}, grads[0].data());
        return grads;
    };
    const auto gf = analytic(0.0f);
    const auto gd = analytic(0.0);
    const char* names[] = {"a", "wu", "wv", "wz", "q_scale", "q_offset", "k_scale", "k_offset", "wo"};
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        EXPECT_LT(relative_error(gf[i], numeric[i]), kFloatTolerance) << names[i];
        EXPECT_LT(relative_error(gd[i], numeric[i]), kDoubleTolerance) << names[i];
    }
}

INSTANTIATE_TEST_SUITE_P(ModelLayers, GauBlock,
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
