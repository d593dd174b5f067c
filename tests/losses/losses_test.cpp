// The losses of src/losses/: every vector of docs/math.md §7.2, 7.4, 7.5 and 7.13, the float32
// kernels against their xtensor double twins (edge sizes around the SIMD width, hard, soft and
// masked labels, every reduction), every gradient against finite differences, ZLPR's stationary
// point s* = ½·logit(t), chunked contrastive gradients, and the validators.
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"

#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "losses/contrastive.hpp"
#include "losses/flooding.hpp"
#include "losses/global_pointer_kl.hpp"
#include "losses/losses_reference.hpp"
#include "losses/zlpr.hpp"

namespace kexue {
namespace {

using reference::Matrix;

using testing::random_floats;

std::vector<float> random_uniform(std::size_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    std::vector<float> out(count);
    for (float& v : out) v = uniform(rng);
    return out;
}

Matrix to_matrix(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
    Matrix m({rows, cols});
    for (std::size_t i = 0; i < rows * cols; ++i) m.data()[i] = x[i];
    return m;
}

// Central differences of a float loss, d/dx_i with step h (relative to the float spacing of x_i).
double finite_difference(const std::function<double(const std::vector<float>&)>& loss, std::vector<float> x,
                         std::size_t i, float h) {
    const float x0 = x[i];
    x[i] = x0 + h;
    const double plus = loss(x);
    const float up = x[i];
    x[i] = x0 - h;
    const double minus = loss(x);
    return (plus - minus) / (double(up) - x[i]);
}

// ---- ZLPR ---------------------------------------------------------------------------------------

struct ZlprResult {
    double loss;
    std::vector<float> grad;
    std::vector<double> rows;
};

ZlprResult run_zlpr(const ZlprOptions& o, const std::vector<float>& s, const std::vector<float>& t,
                    const std::vector<float>* mask = nullptr) {
    EXPECT_FALSE(zlpr_validate(o));
    EXPECT_FALSE(zlpr_check_inputs(o, s.data(), t.data(), mask ? mask->data() : nullptr));
    ZlprResult out{0, std::vector<float>(s.size()), std::vector<double>(o.rows)};
    out.loss = zlpr_f32(o, s.data(), t.data(), mask ? mask->data() : nullptr, out.grad.data(), out.rows.data());
    return out;
}

TEST(ZlprSpec, VectorsOf7_2) {
    const std::vector<float> s{2, -1, 0.5f};
    EXPECT_NEAR(run_zlpr({1, 3}, s, {1, 0, 0}).loss, 1.23105861638, 1e-6);
    const ZlprResult soft = run_zlpr({1, 3, true}, s, {0.9f, 0.1f, 0.5f});
    EXPECT_NEAR(soft.loss, 1.59156350389, 1e-6);
    EXPECT_NEAR(soft.grad[0], 0.1835125527, 1e-6);
    EXPECT_NEAR(soft.grad[1], -0.04579944731, 1e-6);
    EXPECT_NEAR(soft.grad[2], 0.1060986635, 1e-6);
    std::vector<float> probability(3);
    zlpr_probability_f32(3, s.data(), probability.data());
    EXPECT_NEAR(probability[0], 0.98201379, 1e-7);
    EXPECT_NEAR(probability[1], 0.119202922, 1e-7);
    EXPECT_NEAR(probability[2], 0.7310585786, 1e-7);
}

TEST(ZlprSpec, StationaryPointIsHalfTheLogit) {
    // s* = ½·logit(t) makes the soft gradient vanish (so σ(2s) recovers t), for §7.2's t and random t.
    std::vector<float> t{0.9f, 0.1f, 0.5f};
    const std::vector<float> more = random_uniform(37, 3);
    t.insert(t.end(), more.begin(), more.end());
    std::vector<float> s(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) s[i] = static_cast<float>(0.5 * std::log(double(t[i]) / (1.0 - t[i])));
    EXPECT_NEAR(s[0], 1.098612289, 1e-6);
    EXPECT_NEAR(s[1], -1.098612289, 1e-6);
    const ZlprResult r = run_zlpr({1, t.size(), true}, s, t);
    for (std::size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(r.grad[i], 0, 2e-7) << i;
    std::vector<float> probability(t.size());
    zlpr_probability_f32(t.size(), s.data(), probability.data());
    for (std::size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(probability[i], t[i], 1e-6);
    // …and it is a minimum: moving any coordinate raises the loss.
    for (std::size_t i = 0; i < 3; ++i) {
        for (const float step : {-0.05f, 0.05f}) {
            std::vector<float> moved = s;
            moved[i] += step;
            EXPECT_GT(run_zlpr({1, t.size(), true}, moved, t).loss, r.loss);
        }
    }
}

TEST(Zlpr, MatchesTheDoubleTwinHardSoftMaskedOnEdgeSizes) {
    const std::size_t w = simd::kVecWidth;
    unsigned seed = 1;
    for (const std::size_t classes : {std::size_t(1), w - 1, w, w + 1, 2 * w + 1, std::size_t(100), std::size_t(1000)}) {
        for (const bool soft : {false, true}) {
            for (const bool masked : {false, true}) {
                for (const Reduction reduction : {Reduction::mean, Reduction::sum, Reduction::none}) {
                    const std::size_t rows = 5;
                    const std::vector<float> s = random_floats(rows * classes, ++seed, 4.0f);
                    std::vector<float> t = random_uniform(rows * classes, ++seed);
                    if (!soft) for (float& v : t) v = v < 0.1f ? 1.0f : 0.0f;
                    else for (std::size_t i = 0; i < t.size(); i += 3) t[i] = i % 2 ? 1.0f : 0.0f;  // the ends too
                    std::vector<float> mask(rows * classes, 1.0f);
                    if (masked) {
                        const std::vector<float> u = random_uniform(rows * classes, ++seed);
                        for (std::size_t i = 0; i < u.size(); ++i) mask[i] = u[i] < 0.3f ? 0.0f : 1.0f;
                    }
                    const ZlprOptions o{rows, classes, soft, reduction};
                    const ZlprResult got = run_zlpr(o, s, t, masked ? &mask : nullptr);
                    const reference::LossAndGrad want =
                        reference::zlpr(to_matrix(s, rows, classes), to_matrix(t, rows, classes), to_matrix(mask, rows, classes));
                    const double scale = reduction == Reduction::mean ? 1.0 / rows : 1.0;
                    double total = 0;
                    for (std::size_t r = 0; r < rows; ++r) {
                        EXPECT_NEAR(got.rows[r], want.loss(r), 1e-6 * (1 + want.loss(r))) << classes << soft << masked;
                        total += want.loss(r);
                        for (std::size_t j = 0; j < classes; ++j) {
                            EXPECT_NEAR(got.grad[r * classes + j], scale * want.grad(r, j), 1e-6)
                                << "classes " << classes << " soft " << soft << " masked " << masked;
                            if (mask[r * classes + j] == 0) EXPECT_EQ(got.grad[r * classes + j], 0.0f);
                        }
                    }
                    EXPECT_NEAR(got.loss, reduction == Reduction::sum ? total : total / rows, 1e-6 * (1 + total));
                }
            }
        }
    }
}

TEST(Zlpr, MaskedClassesLeaveBothSums) {
    // The masked loss equals the loss of the row with the masked classes removed.
    const std::vector<float> s{2, -1, 0.5f, 7, -3}, t{1, 0, 0, 1, 0}, mask{1, 1, 1, 0, 0};
    const ZlprResult masked = run_zlpr({1, 5}, s, t, &mask);
    const ZlprResult removed = run_zlpr({1, 3}, {2, -1, 0.5f}, {1, 0, 0});
    EXPECT_NEAR(masked.loss, removed.loss, 1e-7);
    EXPECT_NEAR(masked.loss, 1.23105861638, 1e-6);
    for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(masked.grad[j], removed.grad[j]);
    EXPECT_EQ(masked.grad[3], 0.0f);
    EXPECT_EQ(masked.grad[4], 0.0f);
}

TEST(Zlpr, IndexSetsEqualTheirMask) {
    const ZlprOptions o{3, 6};
    const std::vector<std::uint32_t> offsets{0, 2, 2, 5};
    const std::vector<double> indices{0, 4, 5, 1, 5};  // {0, 4}, {}, {5, 1, 5}
    std::vector<float> labels(18, -1);
    ASSERT_FALSE(zlpr_labels_from_index_sets(o, offsets.data(), indices.data(), labels.data()));
    const std::vector<float> want{1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1};
    EXPECT_EQ(labels, want);
    const std::vector<double> outside{0, 4, 6, 1, 5};
    const Error e = zlpr_labels_from_index_sets(o, offsets.data(), outside.data(), labels.data());
    EXPECT_EQ(e.parameter, "labels[2][0]");
    EXPECT_EQ(e.text, "labels[2][0] must be an integer in [0, classes = 6), received 6");
    const std::vector<double> fractional{0, 4, 1.5, 1, 5}, negative{-1, 4, 5, 1, 5};
    EXPECT_EQ(zlpr_labels_from_index_sets(o, offsets.data(), fractional.data(), labels.data()).parameter, "labels[2][0]");
    EXPECT_EQ(zlpr_labels_from_index_sets(o, offsets.data(), negative.data(), labels.data()).text,
              "labels[0][0] must be an integer in [0, classes = 6), received -1");
}

TEST(Zlpr, NoClippingNoOverflowAtExtremeScores) {
    // t = 1 at s = 500: the positive term is e^−500 and the loss ~0; s = −500: the loss is 500.
    EXPECT_NEAR(run_zlpr({1, 2}, {500, -500}, {1, 0}).loss, 0, 1e-12);
    EXPECT_NEAR(run_zlpr({1, 2}, {-500, -500}, {1, 0}).loss, 500, 1e-3);
    // Soft targets at 0 and 1 exactly equal the hard loss; a target of 1e-30 is not clipped away.
    const std::vector<float> s{3, -2, 40};
    EXPECT_NEAR(run_zlpr({1, 3, true}, s, {1, 0, 0}).loss, run_zlpr({1, 3}, s, {1, 0, 0}).loss, 1e-6);
    const double tiny = run_zlpr({1, 3, true}, s, {1, 0, 1e-30f}).loss;
    EXPECT_NEAR(tiny, run_zlpr({1, 3}, s, {1, 0, 0}).loss, 1e-5);  // 1e−30·e^40 is negligible
    const double larger = run_zlpr({1, 3, true}, s, {1, 0, 1e-10f}).loss;
    EXPECT_NEAR(larger - tiny, std::log1p(1e-10 * std::exp(-40.0) / std::exp(-3.0)), 1e-7);
    for (const float g : run_zlpr({1, 3, true}, {80, -80, 0}, {0.5f, 0.5f, 1e-30f}).grad) EXPECT_TRUE(std::isfinite(g));
}

TEST(Zlpr, GradientMatchesFiniteDifferences) {
    const std::size_t classes = 9;
    const std::vector<float> s = random_floats(2 * classes, 41, 1.5f);
    const std::vector<float> t = random_uniform(2 * classes, 42);
    std::vector<float> mask(2 * classes, 1);
    mask[3] = mask[12] = 0;
    const ZlprOptions o{2, classes, true, Reduction::sum};
    const ZlprResult r = run_zlpr(o, s, t, &mask);
    const auto loss = [&](const std::vector<float>& x) {
        std::vector<float> grad(x.size());
        return zlpr_f32(o, x.data(), t.data(), mask.data(), grad.data(), nullptr);
    };
    for (std::size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(r.grad[i], finite_difference(loss, s, i, 1e-2f), 3e-4) << i;
    // The formula itself, on the double twin with h = 1e-6.
    const Matrix sm = to_matrix(s, 2, classes), tm = to_matrix(t, 2, classes), mm = to_matrix(mask, 2, classes);
    const reference::LossAndGrad want = reference::zlpr(sm, tm, mm);
    for (std::size_t j = 0; j < classes; ++j) {
        Matrix plus = sm, minus = sm;
        plus(1, j) += 1e-6;
        minus(1, j) -= 1e-6;
        const double fd = (reference::zlpr(plus, tm, mm).loss(1) - reference::zlpr(minus, tm, mm).loss(1)) / 2e-6;
        EXPECT_NEAR(want.grad(1, j), fd, 1e-8);
    }
}

TEST(Zlpr, ThreadsDoNotChangeTheResult) {
    const std::size_t rows = 64, classes = 2000, saved = thread_count();
    const std::vector<float> s = random_floats(rows * classes, 8, 3.0f);
    std::vector<float> t = random_uniform(rows * classes, 9);
    for (float& v : t) v = v < 0.01f ? 1.0f : 0.0f;
    set_thread_count(1);
    const ZlprResult serial = run_zlpr({rows, classes}, s, t);
    set_thread_count(max_thread_count());
    const ZlprResult parallel = run_zlpr({rows, classes}, s, t);
    set_thread_count(saved);
    EXPECT_EQ(parallel.loss, serial.loss);
    EXPECT_EQ(parallel.grad, serial.grad);
}

TEST(ZlprValidate, NamesTheParameterAndTheValue) {
    EXPECT_EQ(zlpr_validate({0, 3}).text, "rows must be a positive integer, received 0");
    EXPECT_EQ(zlpr_validate({1, 0}).parameter, "classes");
    EXPECT_EQ(zlpr_validate({65536, 65536}).parameter, "logits");
    const std::vector<float> s{0, 1, 2}, nan_s{0, std::nanf(""), 2};
    const std::vector<float> hard{1, 0, 1}, half{1, 0.5f, 0}, above{1, 1.5f, 0}, below{-0.1f, 0, 0};
    EXPECT_EQ(zlpr_check_inputs({1, 3}, nan_s.data(), hard.data(), nullptr).text, "logits[1] must be finite, received NaN");
    EXPECT_EQ(zlpr_check_inputs({1, 3}, s.data(), half.data(), nullptr).text,
              "labels[1] must be 0 or 1 (hard labels; pass soft: true for targets in [0, 1]), received 0.5");
    EXPECT_FALSE(zlpr_check_inputs({1, 3, true}, s.data(), half.data(), nullptr));
    EXPECT_EQ(zlpr_check_inputs({1, 3, true}, s.data(), above.data(), nullptr).text,
              "labels[1] must be in [0, 1], received 1.5");
    EXPECT_EQ(zlpr_check_inputs({1, 3, true}, s.data(), below.data(), nullptr).parameter, "labels[0]");
    const std::vector<float> nan_t{std::nanf(""), 0, 0};
    EXPECT_EQ(zlpr_check_inputs({1, 3, true}, s.data(), nan_t.data(), nullptr).text, "labels[0] must be in [0, 1], received NaN");
    const std::vector<float> bad_mask{1, 2, 0};
    EXPECT_EQ(zlpr_check_inputs({1, 3}, s.data(), hard.data(), bad_mask.data()).text,
              "mask[1] must be 0 (left out) or 1 (counted), received 2");
}

// ---- InfoNCE / FlatNCE --------------------------------------------------------------------------

struct NceResult {
    double loss;
    std::vector<float> grad;
    std::vector<double> rows;
};

NceResult run_nce(ContrastiveLoss kind, const ContrastiveOptions& o, const std::vector<float>& sim,
                  const std::vector<double>* targets = nullptr) {
    EXPECT_FALSE(contrastive_validate(o, kind, targets != nullptr));
    EXPECT_FALSE(contrastive_check_inputs(o, sim.data(), targets ? targets->data() : nullptr));
    NceResult out{0, std::vector<float>(sim.size()), std::vector<double>(o.rows)};
    const auto f = kind == ContrastiveLoss::info_nce ? info_nce_f32 : flat_nce_f32;
    out.loss = f(o, sim.data(), targets ? targets->data() : nullptr, out.grad.data(), out.rows.data());
    return out;
}

TEST(ContrastiveSpec, VectorsOf7_5) {
    const std::vector<float> s{2, 0.5f, -1};
    const std::vector<double> t{0};
    EXPECT_NEAR(run_nce(ContrastiveLoss::info_nce, {1, 3}, s, &t).loss, 0.241311296657, 1e-7);
    const NceResult flat = run_nce(ContrastiveLoss::flat_nce, {1, 3}, s, &t);
    EXPECT_NEAR(flat.loss, -1.29858672202, 1e-6);
    EXPECT_NEAR(flat.grad[0], -1, 1e-7);
    EXPECT_NEAR(flat.grad[1], 0.8175744762, 1e-7);
    EXPECT_NEAR(flat.grad[2], 0.1824255238, 1e-7);
    // InfoNCE = log(1 + ξ) and FlatNCE = log ξ, ξ = Σ_{j≠t} e^{s_j − s_t}.
    const double xi = std::exp(0.5 - 2) + std::exp(-1 - 2.0);
    EXPECT_NEAR(flat.loss, std::log(xi), 1e-6);
}

TEST(Contrastive, SmallXiKeepsItsDigits) {
    // A positive far above two negatives: InfoNCE = log(1 + ξ) with ξ ~ 1e−13 keeps its relative
    // precision (the positive's score is rounded as the shift is), FlatNCE's log ξ is exact.
    const std::vector<float> s{30, 0, 1};
    const std::vector<double> t{0};
    const double xi = std::exp(-30.0) + std::exp(-29.0);
    EXPECT_NEAR(run_nce(ContrastiveLoss::info_nce, {1, 3}, s, &t).loss / std::log1p(xi), 1, 1e-6);
    EXPECT_NEAR(run_nce(ContrastiveLoss::flat_nce, {1, 3}, s, &t).loss, std::log(xi), 1e-5);
}

TEST(Contrastive, MatchesTheDoubleTwinOnEdgeSizes) {
    const std::size_t w = simd::kVecWidth;
    unsigned seed = 100;
    for (const std::size_t n : {std::size_t(2), w - 1, w, w + 1, 2 * w + 1, std::size_t(67)}) {
        for (const double temperature : {1.0, 0.05}) {
            for (const ContrastiveLoss kind : {ContrastiveLoss::info_nce, ContrastiveLoss::flat_nce}) {
                const std::vector<float> sim = random_floats(n * n, ++seed, 0.4f);
                const ContrastiveOptions o{n, n, temperature, Reduction::mean};
                const NceResult got = run_nce(kind, o, sim);
                std::vector<std::size_t> diagonal(n);
                for (std::size_t i = 0; i < n; ++i) diagonal[i] = i;
                const Matrix m = to_matrix(sim, n, n);
                const reference::LossAndGrad want = kind == ContrastiveLoss::info_nce
                    ? reference::info_nce(m, diagonal, temperature) : reference::flat_nce(m, diagonal, temperature);
                double mean = 0;
                for (std::size_t r = 0; r < n; ++r) {
                    mean += want.loss(r) / n;
                    EXPECT_NEAR(got.rows[r], want.loss(r), 2e-6 * (1 + std::fabs(want.loss(r))));
                    for (std::size_t j = 0; j < n; ++j) {
                        EXPECT_NEAR(got.grad[r * n + j], want.grad(r, j) / n, 2e-6 / temperature / n) << n << " " << temperature;
                    }
                }
                EXPECT_NEAR(got.loss, mean, 2e-6 * (1 + std::fabs(mean)));
            }
        }
    }
}

TEST(Contrastive, GradientsMatchFiniteDifferences) {
    const std::size_t n = 6;
    const std::vector<float> sim = random_floats(n * n, 5, 1.0f);
    for (const ContrastiveLoss kind : {ContrastiveLoss::info_nce, ContrastiveLoss::flat_nce}) {
        const ContrastiveOptions o{n, n, 0.5, Reduction::sum};
        const NceResult r = run_nce(kind, o, sim);
        const auto loss = [&](const std::vector<float>& x) {
            std::vector<float> grad(x.size());
            return (kind == ContrastiveLoss::info_nce ? info_nce_f32 : flat_nce_f32)(o, x.data(), nullptr, grad.data(), nullptr);
        };
        for (std::size_t i = 0; i < sim.size(); ++i) EXPECT_NEAR(r.grad[i], finite_difference(loss, sim, i, 1e-2f), 2e-3) << i;
        std::vector<std::size_t> diagonal(n);
        for (std::size_t i = 0; i < n; ++i) diagonal[i] = i;
        const Matrix m = to_matrix(sim, n, n);
        const auto ref = [&](const Matrix& x) {
            const reference::LossAndGrad v = kind == ContrastiveLoss::info_nce ? reference::info_nce(x, diagonal, 0.5)
                                                                               : reference::flat_nce(x, diagonal, 0.5);
            return v.loss(2);
        };
        const reference::LossAndGrad want = kind == ContrastiveLoss::info_nce ? reference::info_nce(m, diagonal, 0.5)
                                                                              : reference::flat_nce(m, diagonal, 0.5);
        for (std::size_t j = 0; j < n; ++j) {
            Matrix plus = m, minus = m;
            plus(2, j) += 1e-6;
            minus(2, j) -= 1e-6;
            EXPECT_NEAR(want.grad(2, j), (ref(plus) - ref(minus)) / 2e-6, 1e-8);
        }
    }
}

TEST(Contrastive, ChunksWithTargetsAccumulateToTheFullBatch) {
    // A 10×10 similarity matrix in chunks of 4, 4, 2 rows (positives at the global column), with
    // reduction 'sum': the chunks' losses and gradient rows are the full batch's.
    const std::size_t n = 10;
    const std::vector<float> sim = random_floats(n * n, 11, 0.5f);
    for (const ContrastiveLoss kind : {ContrastiveLoss::info_nce, ContrastiveLoss::flat_nce}) {
        const NceResult full = run_nce(kind, {n, n, 0.1, Reduction::sum}, sim);
        double total = 0;
        for (std::size_t begin = 0; begin < n; begin += 4) {
            const std::size_t rows = std::min<std::size_t>(4, n - begin);
            const std::vector<float> chunk(sim.begin() + begin * n, sim.begin() + (begin + rows) * n);
            std::vector<double> targets(rows);
            for (std::size_t i = 0; i < rows; ++i) targets[i] = static_cast<double>(begin + i);
            const NceResult part = run_nce(kind, {rows, n, 0.1, Reduction::sum}, chunk, &targets);
            total += part.loss;
            for (std::size_t i = 0; i < rows * n; ++i) EXPECT_EQ(part.grad[i], full.grad[begin * n + i]);
        }
        EXPECT_NEAR(total, full.loss, 1e-9 * (1 + std::fabs(full.loss)));
    }
}

TEST(ContrastiveValidate, NamesTheParameterAndTheValue) {
    EXPECT_EQ(contrastive_validate({4, 6}, ContrastiveLoss::info_nce, false).text,
              "cols must be equal to rows = 4 (the positive of row i is column i; pass targets for a non-square "
              "similarity matrix), received 6");
    EXPECT_FALSE(contrastive_validate({4, 6}, ContrastiveLoss::info_nce, true));
    EXPECT_FALSE(contrastive_validate({1, 1}, ContrastiveLoss::info_nce, false));
    EXPECT_EQ(contrastive_validate({1, 1}, ContrastiveLoss::flat_nce, false).text,
              "cols must be at least 2 (FlatNCE needs a negative), received 1");
    EXPECT_EQ(contrastive_validate({2, 2, 0}, ContrastiveLoss::info_nce, false).text,
              "temperature must be greater than 0, received 0");
    EXPECT_EQ(contrastive_validate({0, 0}, ContrastiveLoss::info_nce, false).parameter, "rows");
    const std::vector<float> sim{0, 1, 2, std::numeric_limits<float>::infinity()};
    EXPECT_EQ(contrastive_check_inputs({2, 2}, sim.data(), nullptr).text, "sim[3] must be finite, received Infinity");
    const std::vector<float> good{0, 1, 2, 3};
    const std::vector<double> outside{0, 2}, fractional{0.5, 1};
    EXPECT_EQ(contrastive_check_inputs({2, 2}, good.data(), outside.data()).text,
              "targets[1] must be an integer in [0, cols = 2), received 2");
    EXPECT_EQ(contrastive_check_inputs({2, 2}, good.data(), fractional.data()).parameter, "targets[0]");
}

// ---- GlobalPointer KL ---------------------------------------------------------------------------

TEST(GlobalPointerKlSpec, VectorsOf7_13) {
    const std::vector<float> s{1, -2}, t{0.5f, 0.5f};
    std::vector<float> gs(2), gt(2), gs2(2), gt2(2);
    const GlobalPointerKlOptions o{1, 2};
    ASSERT_FALSE(global_pointer_kl_check_inputs(o, s.data(), t.data()));
    EXPECT_NEAR(global_pointer_kl_f32(o, s.data(), t.data(), gs.data(), gt.data(), nullptr), 1.31244064666, 1e-9);
    EXPECT_NEAR(gs[0], 0.206905214, 1e-7);
    EXPECT_NEAR(gs[1], -0.7657403727, 1e-7);
    // Symmetric: D(s, t) = D(t, s) and ∂D/∂t(s, t) = ∂D/∂s(t, s).
    EXPECT_NEAR(global_pointer_kl_f32(o, t.data(), s.data(), gs2.data(), gt2.data(), nullptr), 1.31244064666, 1e-9);
    EXPECT_EQ(gt, gs2);
    EXPECT_EQ(gs, gt2);
}

TEST(GlobalPointerKl, SoftmaxFormIsTheSymmetricKL) {
    const std::size_t classes = 7;
    const std::vector<float> s = random_floats(classes, 3, 2.0f), t = random_floats(classes, 4, 2.0f);
    std::vector<float> gs(classes), gt(classes);
    const double d = global_pointer_kl_f32({1, classes, KlForm::softmax}, s.data(), t.data(), gs.data(), gt.data(), nullptr);
    const Matrix p = reference::softmax(to_matrix(s, 1, classes)), q = reference::softmax(to_matrix(t, 1, classes));
    double kl = 0;
    for (std::size_t i = 0; i < classes; ++i) kl += p(0, i) * std::log(p(0, i) / q(0, i)) + q(0, i) * std::log(q(0, i) / p(0, i));
    EXPECT_NEAR(d, kl, 1e-9);
}

TEST(GlobalPointerKl, MatchesTheTwinAndFiniteDifferences) {
    for (const KlForm form : {KlForm::sigmoid, KlForm::softmax}) {
        const std::size_t rows = 3, classes = 2 * simd::kVecWidth + 1;
        const std::vector<float> s = random_floats(rows * classes, 21, 2.0f), t = random_floats(rows * classes, 22, 2.0f);
        const GlobalPointerKlOptions o{rows, classes, form, Reduction::mean};
        std::vector<float> gs(s.size()), gt(s.size());
        std::vector<double> row_losses(rows);
        const double loss = global_pointer_kl_f32(o, s.data(), t.data(), gs.data(), gt.data(), row_losses.data());
        const reference::LossAndGrad want = reference::global_pointer_kl(to_matrix(s, rows, classes), to_matrix(t, rows, classes), form);
        EXPECT_NEAR(loss, xt::mean(want.loss)(), 1e-9);
        for (std::size_t r = 0; r < rows; ++r) {
            EXPECT_NEAR(row_losses[r], want.loss(r), 1e-9);
            for (std::size_t j = 0; j < classes; ++j) {
                EXPECT_NEAR(gs[r * classes + j], want.grad(r, j) / rows, 1e-7);
                EXPECT_NEAR(gt[r * classes + j], want.grad_other(r, j) / rows, 1e-7);
            }
        }
        const auto loss_of = [&](const std::vector<float>& a, const std::vector<float>& b) {
            std::vector<float> g1(a.size()), g2(a.size());
            return global_pointer_kl_f32(o, a.data(), b.data(), g1.data(), g2.data(), nullptr);
        };
        for (std::size_t i = 0; i < s.size(); i += 5) {
            EXPECT_NEAR(gs[i], finite_difference([&](const std::vector<float>& x) { return loss_of(x, t); }, s, i, 1e-2f), 2e-4);
            EXPECT_NEAR(gt[i], finite_difference([&](const std::vector<float>& x) { return loss_of(s, x); }, t, i, 1e-2f), 2e-4);
        }
    }
}

TEST(GlobalPointerKlValidate, NamesTheParameter) {
    EXPECT_EQ(global_pointer_kl_validate({1, 0}).parameter, "classes");
    const std::vector<float> s{0, 1}, t{0, std::nanf("")};
    EXPECT_EQ(global_pointer_kl_check_inputs({1, 2}, s.data(), t.data()).text, "t[1] must be finite, received NaN");
    EXPECT_EQ(global_pointer_kl_check_inputs({1, 2}, t.data(), s.data()).parameter, "s[1]");
}

// ---- flooding -----------------------------------------------------------------------------------

TEST(FloodingSpec, VectorsOf7_4) {
    EXPECT_NEAR(flooding(0.3, 0.5).loss, 0.7, 1e-15);
    EXPECT_EQ(flooding(0.3, 0.5).sign, -1);
    EXPECT_EQ(flooding(0.8, 0.5).loss, 0.8);
    EXPECT_EQ(flooding(0.8, 0.5).sign, 1);
    EXPECT_EQ(flooding(0.5, 0.5).sign, 0);  // the subgradient 0 at L = b
    EXPECT_EQ(flooding(0.5, 0.5).loss, 0.5);
    EXPECT_FALSE(flooding_validate(-1.3, 0));  // FlatNCE's loss can be negative
    EXPECT_EQ(flooding_validate(std::nan(""), 0.5).text, "loss must be a finite number, received NaN");
    EXPECT_EQ(flooding_validate(1, std::numeric_limits<double>::infinity()).parameter, "level");
}

}  // namespace
}  // namespace kexue
