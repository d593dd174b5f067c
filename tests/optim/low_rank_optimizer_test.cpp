// LoRA as an optimizer and GaLore: the docs/math.md §3.8 vectors, the equivalence with backpropagating
// into the factors of y = x·(W0 + A·B), the expectation of the random projection, the inits,
// refused steps and the state-memory formulas.
#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <gtest/gtest.h>

#include "optim/low_rank_kernels.hpp"
#include "optim/low_rank_optimizer.hpp"
#include "optim/low_rank_reference.hpp"
#include "optim/low_rank_svd.hpp"

namespace kexue {
namespace {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

LowRankConfig make_config(std::size_t rows, std::size_t cols, std::size_t rank, LowRankMode mode,
                          LowRankBase base, double lr) {
    LowRankConfig c;
    c.rows = rows;
    c.cols = cols;
    c.rank = rank;
    c.mode = mode;
    c.base = base;
    c.lr = lr;
    return c;
}

void expect_near_all(const std::vector<float>& got, const std::vector<double>& want, double tol) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "index " << i;
}

const std::vector<float> kW0{1, 0, 2, 0, 1, -1};  // 2×3
const std::vector<float> kA{1, 2};                 // 2×1
const std::vector<float> kB{0.5f, -1, 0};          // 1×3
const std::vector<float> kG{1, 0, -1, 2, 1, 0};    // 2×3

TEST(LowRankSpec, LoRASgdAndTheExactEtaSquaredDecomposition) {
    LowRankOptimizer opt(make_config(2, 3, 1, LowRankMode::LoRA, LowRankBase::SGD, 0.1), kW0.data(),
                         kA.data(), kB.data());
    expect_near_all(opt.weight(), {1.5, -1, 2, 1, -1, -1}, 1e-7);  // W0 + A·B
    const std::vector<float> before = opt.weight();
    ASSERT_EQ(opt.step(kG.data()), -1);
    expect_near_all(opt.a(), {0.95, 2}, 1e-7);
    expect_near_all(opt.b(), {0, -1.2, 0.1}, 1e-7);
    expect_near_all(opt.weight(), {1, -1.14, 2.095, 0, -1.4, -0.8}, 1e-6);
    // ΔW = −η(G·BᵀB + A·AᵀG) + η²·G·Bᵀ·Aᵀ·G exactly.
    const std::vector<double> first{-0.525, -0.15, 0.1, -1, -0.4, 0.2};
    const std::vector<double> second{0.025, 0.01, -0.005, 0, 0, 0};
    const std::vector<double> delta{-0.5, -0.14, 0.095, -1, -0.4, 0.2};
    for (int i = 0; i < 6; ++i) {
        EXPECT_NEAR(first[i] + second[i], delta[i], 1e-15);
        EXPECT_NEAR(opt.weight()[i] - before[i], delta[i], 1e-6) << i;
    }
}

TEST(LowRankSpec, LoRAAdamFirstStep) {
    LowRankOptimizer opt(make_config(2, 3, 1, LowRankMode::LoRA, LowRankBase::Adam, 0.01), kW0.data(),
                         kA.data(), kB.data());
    const std::vector<float> before = opt.weight();
    ASSERT_EQ(opt.step(kG.data()), -1);
    // float32 factors and weights: tolerances of a few ulps of the O(1) entries.
    expect_near_all(opt.a(), {0.9900000002, 2.0}, 3e-7);
    expect_near_all(opt.b(), {0.49, -1.01, 0.0099999999}, 3e-7);
    const std::vector<double> delta{-0.01489999988, 9.99998475e-5, 0.009899999903,
                                    -0.01999999996, -0.0199999999, 0.0199999998};
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(opt.weight()[i] - before[i], delta[i], 5e-7) << i;
}

TEST(LowRankSpec, AdditiveGradientsAreRowAndColumnSums) {
    // SGD with lr = 1 from A = B = 0: A' = −∂L/∂A, B' = −∂L/∂B.
    LowRankOptimizer opt(make_config(2, 3, 1, LowRankMode::Additive, LowRankBase::SGD, 1.0), kW0.data());
    ASSERT_EQ(opt.step(kG.data()), -1);
    expect_near_all(opt.a(), {0, -3}, 1e-7);
    expect_near_all(opt.b(), {-3, -1, 1}, 1e-7);
    // w_ij = w0_ij + a_i + b_j.
    expect_near_all(opt.weight(), {1 - 3, 0 - 1, 2 + 1, 0 - 6, 1 - 4, -1 - 2}, 1e-6);
}

TEST(LowRankOptimizer, AdditiveRankTwoUsesResidueClasses) {
    // n = 4, m = 2, r = 2: gA[i, k] = Σ_{j ≡ k} G_ij = G_ik; gB[k, j] = G_kj + G_{k+2, j}.
    const std::vector<float> w0(8, 0.0f);
    const std::vector<float> g{1, 2, 3, 4, 5, 6, 7, 8};
    LowRankOptimizer opt(make_config(4, 2, 2, LowRankMode::Additive, LowRankBase::SGD, 1.0), w0.data());
    ASSERT_EQ(opt.step(g.data()), -1);
    expect_near_all(opt.a(), {-1, -2, -3, -4, -5, -6, -7, -8}, 1e-6);
    expect_near_all(opt.b(), {-6, -8, -10, -12}, 1e-6);
    // w_ij = A[i, j mod 2] + B[i mod 2, j].
    expect_near_all(opt.weight(), {-7, -10, -13, -16, -11, -14, -17, -20}, 1e-6);
}

const std::vector<float> kGaloreG{3, 1, 1, 3, 0, 0};  // 3×2
const std::vector<float> kGaloreW{1, 0, 0, 1, 1, 1};

TEST(LowRankSpec, GaloreAdamStep) {
    LowRankConfig c = make_config(3, 2, 1, LowRankMode::GaLore, LowRankBase::Adam, 0.01);
    c.eps = 1e-6;
    c.scale = 0.25;
    LowRankOptimizer opt(c, kGaloreW.data());
    ASSERT_EQ(opt.step(kGaloreG.data()), -1);
    expect_near_all(opt.projector(), {0.7071067812, 0.7071067812}, 1e-7);
    expect_near_all(opt.weight(), {0.9982322528, -0.001767747189, -0.001767747189, 0.9982322528, 1, 1}, 1e-7);
}

TEST(LowRankSpec, LoRAWithFixedTopSingularVectorIsGaloreSgd) {
    const std::vector<double> delta{-0.2, -0.2, -0.2, -0.2, 0, 0};
    const std::vector<float> u1{0.70710678f, 0.70710678f, 0};  // top left singular vector, 3×1
    const std::vector<float> zero_b{0, 0};
    LowRankOptimizer lora(make_config(3, 2, 1, LowRankMode::FixedA, LowRankBase::SGD, 0.1),
                          kGaloreW.data(), u1.data(), zero_b.data());
    LowRankOptimizer galore(make_config(3, 2, 1, LowRankMode::GaLore, LowRankBase::SGD, 0.1), kGaloreW.data());
    ASSERT_EQ(lora.step(kGaloreG.data()), -1);
    ASSERT_EQ(galore.step(kGaloreG.data()), -1);
    for (int i = 0; i < 6; ++i) {
        EXPECT_NEAR(lora.weight()[i] - kGaloreW[i], delta[i], 1e-6) << i;
        EXPECT_NEAR(galore.weight()[i] - kGaloreW[i], delta[i], 1e-6) << i;
    }
    // The transposed problem (2×3, rows < cols) takes GaLore's left projector: the same update, transposed.
    const std::vector<float> gt{3, 1, 0, 1, 3, 0}, wt{1, 0, 1, 0, 1, 1};
    LowRankOptimizer left(make_config(2, 3, 1, LowRankMode::GaLore, LowRankBase::SGD, 0.1), wt.data());
    ASSERT_EQ(left.step(gt.data()), -1);
    expect_near_all(left.projector(), {0.7071067812, 0.7071067812}, 1e-7);
    const std::vector<double> delta_t{-0.2, -0.2, 0, -0.2, -0.2, 0};
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(left.weight()[i] - wt[i], delta_t[i], 1e-6) << i;
}

// ---- Equivalence: backpropagating into A and B of y = x·(W0 + A·B) vs the optimizer fed G ----

void check_equivalence(LowRankBase base, double lr) {
    const int n = 6, m = 5, r = 2, batch = 8;
    Xoshiro256 rng(42);
    auto random = [&](int rows, int cols, double sd) {
        MatD x(rows, cols);
        for (int i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(sd * rng.normal());
        return x;
    };
    const MatD w0 = random(n, m, 1), x = random(batch, n, 1), target = random(batch, m, 1);
    MatD a = random(n, r, 0.5), b = random(r, m, 0.5);
    std::vector<float> w0f(w0.data(), w0.data() + w0.size()), af(a.data(), a.data() + a.size()),
        bf(b.data(), b.data() + b.size());
    LowRankConfig c = make_config(n, m, r, LowRankMode::LoRA, base, lr);
    LowRankOptimizer opt(c, w0f.data(), af.data(), bf.data());
    // The reference Adam (low_rank_reference.hpp), in double on the factors of the network.
    const AdamOptions adam{lr, 0.9, 0.999, 1e-8};
    AdamReference adam_a(n * r, adam), adam_b(r * m, adam);
    for (int t = 1; t <= 20; ++t) {
        // The network: L = ½‖X·(W0 + A·B) − T‖²/batch, backpropagated into A and B (docs/math.md §3.1, eq. grad-2).
        const MatD dy = (x * (w0 + a * b) - target) / batch;
        const MatD grad_a = x.transpose() * (dy * b.transpose());
        const MatD grad_b = (x * a).transpose() * dy;
        if (base == LowRankBase::SGD) {
            a -= lr * grad_a;
            b -= lr * grad_b;
        } else {
            adam_a.step(a.data(), grad_a.data());
            adam_b.step(b.data(), grad_b.data());
        }
        // The optimizer: only G = Xᵀ·dY at its current W.
        const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> w(
            opt.weight().data(), n, m);
        const MatD g = x.transpose() * ((x * w.cast<double>() - target) / batch);
        std::vector<float> gf(g.data(), g.data() + g.size());
        ASSERT_EQ(opt.step(gf.data()), -1);
        const MatD want = w0 + a * b;
        double diff = 0;
        for (int i = 0; i < n * m; ++i) diff += std::pow(opt.weight()[i] - want.data()[i], 2);
        EXPECT_LE(std::sqrt(diff) / want.norm(), 1e-5) << "step " << t;
    }
}

TEST(LowRankOptimizer, EquivalentToBackpropIntoFactorsSgd) { check_equivalence(LowRankBase::SGD, 0.05); }
TEST(LowRankOptimizer, EquivalentToBackpropIntoFactorsAdam) { check_equivalence(LowRankBase::Adam, 0.01); }

TEST(LowRankOptimizer, RandomProjectionIsTwiceSgdInExpectation) {
    const std::size_t n = 4, m = 3, r = 2;
    const std::vector<float> g{1, -2, 0.5f, 0, 3, -1, 2, 1, 1, -0.5f, 0, 2};
    const std::vector<float> w0(n * m, 0.0f);
    const int seeds = 4000;
    std::vector<double> mean(n * m, 0.0);
    for (int seed = 0; seed < seeds; ++seed) {
        LowRankConfig c = make_config(n, m, r, LowRankMode::RandomProj, LowRankBase::SGD, 1.0);
        c.seed = static_cast<std::uint64_t>(seed);
        LowRankOptimizer opt(c, w0.data());
        ASSERT_EQ(opt.step(g.data()), -1);
        for (std::size_t i = 0; i < n * m; ++i) mean[i] += opt.weight()[i] / seeds;
    }
    // Each entry's standard deviation over draws is below ~2.5·max|G|; 4000 draws: ~0.04·max|G|.
    for (std::size_t i = 0; i < n * m; ++i) EXPECT_NEAR(mean[i], -2.0 * g[i], 0.25) << i;
}

TEST(LowRankOptimizer, RandomProjectionIsSeeded) {
    const std::vector<float> w0(12, 1.0f), g(12, 0.5f);
    LowRankConfig c = make_config(4, 3, 1, LowRankMode::RandomProj, LowRankBase::SGD, 0.1);
    c.seed = 7;
    LowRankOptimizer x(c, w0.data()), y(c, w0.data());
    c.seed = 8;
    LowRankOptimizer z(c, w0.data());
    x.step(g.data());
    y.step(g.data());
    z.step(g.data());
    EXPECT_EQ(x.weight(), y.weight());
    EXPECT_NE(x.weight(), z.weight());
}

TEST(LowRankOptimizer, Xoshiro256FirstOutputs) {
    // Pinned so that a change of generator (which would change every seeded result) is noticed.
    Xoshiro256 rng(0);
    const std::uint64_t first = rng.next();
    Xoshiro256 again(0);
    EXPECT_EQ(again.next(), first);
    double sum = 0, sum2 = 0;
    Xoshiro256 normals(1);
    for (int i = 0; i < 20000; ++i) {
        const double z = normals.normal();
        sum += z;
        sum2 += z * z;
    }
    EXPECT_NEAR(sum / 20000, 0, 0.03);
    EXPECT_NEAR(sum2 / 20000, 1, 0.03);
}

// ---- GaLore over several steps against its double twin (low_rank_reference.cpp) ----

TEST(LowRankOptimizer, GaloreRefreshKeepsMomentsAndMatchesReference) {
    const int n = 5, m = 4, r = 2, gap = 2;
    Xoshiro256 rng(3);
    std::vector<float> wf(n * m);
    for (auto& x : wf) x = static_cast<float>(rng.normal());
    LowRankConfig c = make_config(n, m, r, LowRankMode::GaLore, LowRankBase::Adam, 0.01);
    c.eps = 1e-6;
    c.scale = 0.25;
    c.update_proj_gap = gap;
    c.weight_decay = 0.1;
    LowRankOptimizer opt(c, wf.data());
    LowRankReference reference(c, wf.data());
    std::vector<float> previous_projector;
    for (int t = 0; t < 5; ++t) {
        std::vector<float> gf(n * m);
        for (auto& x : gf) x = static_cast<float>(rng.normal());
        reference.step(gf.data());
        ASSERT_EQ(opt.step(gf.data()), -1);
        for (int i = 0; i < n * m; ++i) EXPECT_NEAR(opt.weight()[i], reference.weight().data()[i], 2e-6) << "step " << t;
        if (t == 1) EXPECT_EQ(opt.projector(), previous_projector);  // no refresh within the gap
        if (t == 2) EXPECT_NE(opt.projector(), previous_projector);
        previous_projector = opt.projector();
    }
}

TEST(LowRankOptimizer, RandomizedSubspaceIterationFindsTopSingularVectors) {
    // 100×80 with singular values 10, 8, 6, 4 on top of a small full-rank part.
    const int n = 100, m = 80, k = 3;
    Xoshiro256 rng(5);
    auto gaussian = [&](int rows, int cols) {
        Eigen::MatrixXd x(rows, cols);
        for (int i = 0; i < x.size(); ++i) x.data()[i] = rng.normal();
        return x;
    };
    const Eigen::MatrixXd u = Eigen::HouseholderQR<Eigen::MatrixXd>(gaussian(n, 4)).householderQ() *
                              Eigen::MatrixXd::Identity(n, 4);
    const Eigen::MatrixXd v = Eigen::HouseholderQR<Eigen::MatrixXd>(gaussian(m, 4)).householderQ() *
                              Eigen::MatrixXd::Identity(m, 4);
    const Eigen::Vector4d s(10, 8, 6, 4);
    const Eigen::MatrixXd g = u * s.asDiagonal() * v.transpose() + 0.01 * gaussian(n, m);
    const MatD grow = g;
    std::vector<float> gf(grow.data(), grow.data() + grow.size());
    std::vector<float> left(n * k), right(k * m);
    top_singular_vectors(gf.data(), n, m, k, rng, left.data(), right.data());
    Eigen::JacobiSVD<Eigen::MatrixXd> exact(g, Eigen::ComputeThinU | Eigen::ComputeThinV);
    for (int j = 0; j < k; ++j) {
        double dl = 0, dr = 0;
        for (int i = 0; i < n; ++i) dl += left[i * k + j] * exact.matrixU()(i, j);
        for (int i = 0; i < m; ++i) dr += right[j * m + i] * exact.matrixV()(i, j);
        EXPECT_NEAR(std::abs(dl), 1, 1e-5) << j;
        EXPECT_NEAR(std::abs(dr), 1, 1e-5) << j;
        // Sign convention: the largest-|·| entry is positive.
        float best = 0;
        for (int i = 0; i < n; ++i) best = std::abs(left[i * k + j]) > std::abs(best) ? left[i * k + j] : best;
        EXPECT_GT(best, 0);
    }
}

TEST(LowRankOptimizer, FusedFactorGradientsMatchTheGemmTwinOnEdgeSizes) {
    Xoshiro256 rng(13);
    const std::size_t w = 8;  // covers SIMD widths 4 and 8: 1, w−1, w, w+1, and larger
    for (std::size_t cols : {std::size_t{1}, w - 1, w, w + 1, std::size_t{37}}) {
        for (std::size_t r : {1, 3, 8}) {
            const std::size_t rows = 5;
            std::vector<float> g(rows * cols), a(rows * r), b(r * cols);
            for (auto* v : {&g, &a, &b}) {
                for (auto& x : *v) x = static_cast<float>(rng.normal());
            }
            std::vector<float> ga(rows * r), gb(r * cols), ga_ref(rows * r), gb_ref(r * cols);
            lora_factor_gradients(g.data(), a.data(), b.data(), rows, cols, r, ga.data(), gb.data());
            lora_factor_gradients_reference(g.data(), a.data(), b.data(), rows, cols, r, ga_ref.data(), gb_ref.data());
            for (std::size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(ga[i], ga_ref[i], 1e-5) << cols << " " << r;
            for (std::size_t i = 0; i < gb.size(); ++i) EXPECT_NEAR(gb[i], gb_ref[i], 1e-5) << cols << " " << r;
            // One output only.
            std::vector<float> gb_only(r * cols);
            lora_factor_gradients(g.data(), a.data(), nullptr, rows, cols, r, nullptr, gb_only.data());
            EXPECT_EQ(gb_only, gb);
        }
    }
}

TEST(LowRankOptimizer, FusedLowRankUpdateMatchesTheGemmTwinOnEdgeSizes) {
    Xoshiro256 rng(17);
    for (std::size_t cols : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{37}}) {
        for (std::size_t r : {1, 3, 8}) {
            const std::size_t rows = 4;
            std::vector<float> base(rows * cols), a(rows * r), b(r * cols);
            for (auto* v : {&base, &a, &b}) {
                for (auto& x : *v) x = static_cast<float>(rng.normal());
            }
            std::vector<float> out(rows * cols), ref(rows * cols);
            low_rank_update(base.data(), a.data(), b.data(), rows, cols, r, -0.5f, out.data());
            low_rank_update_reference(base.data(), a.data(), b.data(), rows, cols, r, -0.5f, ref.data());
            for (std::size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-5) << cols << " " << r;
            low_rank_update(base.data(), a.data(), b.data(), rows, cols, r, -0.5f, base.data());  // in place
            EXPECT_EQ(base, out);
        }
    }
}

// ---- Inits ----

TEST(LowRankOptimizer, ZeroBInitStartsAtW0WithBZero) {
    const std::vector<float> w0{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // 3×4
    LowRankOptimizer lora(make_config(3, 4, 2, LowRankMode::LoRA, LowRankBase::Adam, 0.01), w0.data());
    EXPECT_EQ(lora.weight(), w0);
    EXPECT_TRUE(std::all_of(lora.b().begin(), lora.b().end(), [](float x) { return x == 0; }));
    EXPECT_TRUE(std::any_of(lora.a().begin(), lora.a().end(), [](float x) { return x != 0; }));
    for (float x : lora.a()) EXPECT_LE(std::abs(x), 1 / std::sqrt(3.0f));
    // FixedB trains A, so A starts at zero and the fixed B is random.
    LowRankOptimizer fixed_b(make_config(3, 4, 2, LowRankMode::FixedB, LowRankBase::SGD, 0.01), w0.data());
    EXPECT_EQ(fixed_b.weight(), w0);
    EXPECT_TRUE(std::all_of(fixed_b.a().begin(), fixed_b.a().end(), [](float x) { return x == 0; }));
    EXPECT_TRUE(std::any_of(fixed_b.b().begin(), fixed_b.b().end(), [](float x) { return x != 0; }));
}

TEST(LowRankOptimizer, SymmetricInitStartsAtW0WithBothFactorsRandom) {
    const std::vector<float> w0{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    LowRankConfig c = make_config(3, 4, 2, LowRankMode::LoRA, LowRankBase::Adam, 0.01);
    c.init = LowRankInit::Symmetric;
    c.scale = 2;
    LowRankOptimizer opt(c, w0.data());
    for (int i = 0; i < 12; ++i) EXPECT_NEAR(opt.weight()[i], w0[i], 1e-6);
    EXPECT_TRUE(std::any_of(opt.b().begin(), opt.b().end(), [](float x) { return x != 0; }));
    // Given factors with the symmetric init: W0' = W0 − s·A0·B0.
    const std::vector<float> a0{1, 0, 0, 1, 1, 1}, b0{1, 0, 0, 0, 0, 1, 0, 0};
    LowRankOptimizer given(c, w0.data(), a0.data(), b0.data());
    for (int i = 0; i < 12; ++i) EXPECT_NEAR(given.weight()[i], w0[i], 1e-6);
    ASSERT_EQ(given.step(w0.data()), -1);
}

TEST(LowRankOptimizer, LoRAGAFirstSgdStepIsTheBestRank2rStep) {
    // A0 = U[:, :r], B0 = Vh[r:2r]: −η(G·B0ᵀB0 + A0A0ᵀG) is −η times the best rank-2r
    // approximation of G; the η² term is tiny for small η.
    const int n = 6, m = 5, r = 1;
    Xoshiro256 rng(9);
    MatD g(n, m), w0 = MatD::Zero(n, m);
    for (int i = 0; i < g.size(); ++i) g.data()[i] = static_cast<float>(rng.normal());
    std::vector<float> gf(g.data(), g.data() + g.size()), w0f(n * m, 0.0f);
    LowRankConfig c = make_config(n, m, r, LowRankMode::LoRA, LowRankBase::SGD, 1e-3);
    c.init = LowRankInit::LoRAGA;
    LowRankOptimizer opt(c, w0f.data());
    ASSERT_EQ(opt.step(gf.data()), -1);
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(g, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Eigen::MatrixXd best = svd.matrixU().leftCols(2 * r) * svd.singularValues().head(2 * r).asDiagonal() *
                                 svd.matrixV().leftCols(2 * r).transpose();
    for (int i = 0; i < n; ++i) {
        for (int j = 0; j < m; ++j) EXPECT_NEAR(opt.weight()[i * m + j] / -1e-3, best(i, j), 1e-2) << i << "," << j;
    }
}

// ---- Refusals and accounting ----

TEST(LowRankOptimizer, NonFiniteGradientIsRefusedAndNothingChanges) {
    for (LowRankMode mode : {LowRankMode::Full, LowRankMode::LoRA, LowRankMode::GaLore, LowRankMode::RandomProj}) {
        const LowRankBase base = mode == LowRankMode::RandomProj ? LowRankBase::SGD : LowRankBase::Adam;
        LowRankOptimizer opt(make_config(2, 3, 1, mode, base, 0.1), kW0.data(), nullptr, nullptr);
        std::vector<float> g = kG;
        g[4] = std::nanf("");
        const std::vector<float> before = opt.weight();
        EXPECT_EQ(opt.step(g.data()), 4);
        g[4] = -INFINITY;
        EXPECT_EQ(opt.step(g.data()), 4);
        EXPECT_EQ(opt.weight(), before);
        EXPECT_EQ(opt.steps(), 0);
        EXPECT_EQ(opt.step(kG.data()), -1);
        EXPECT_EQ(opt.steps(), 1);
    }
}

TEST(LowRankOptimizer, ConfigErrors) {
    auto config = [](std::size_t rank, LowRankMode mode) {
        return make_config(6, 4, rank, mode, LowRankBase::Adam, 0.01);
    };
    EXPECT_FALSE(low_rank_validate(config(2, LowRankMode::LoRA)));
    EXPECT_TRUE(low_rank_validate(config(0, LowRankMode::LoRA)));
    EXPECT_TRUE(low_rank_validate(config(5, LowRankMode::GaLore)));
    EXPECT_FALSE(low_rank_validate(config(0, LowRankMode::Full)));
    EXPECT_TRUE(low_rank_validate(config(3, LowRankMode::Additive)));
    EXPECT_FALSE(low_rank_validate(config(2, LowRankMode::Additive)));
    EXPECT_TRUE(low_rank_validate(config(1, LowRankMode::RandomProj)));  // Adam
    LowRankConfig c = config(3, LowRankMode::LoRA);
    c.init = LowRankInit::LoRAGA;
    EXPECT_TRUE(low_rank_validate(c));  // 2r > 4
    c.rank = 2;
    EXPECT_FALSE(low_rank_validate(c));
    c.beta2 = 1;
    EXPECT_TRUE(low_rank_validate(c));
}

TEST(LowRankOptimizer, StateFloatsFormulas) {
    const std::size_t n = 768, m = 512, r = 8;
    auto floats = [&](LowRankMode mode, LowRankBase base) {
        return low_rank_state_floats(make_config(n, m, r, mode, base, 0.01));
    };
    EXPECT_EQ(floats(LowRankMode::Full, LowRankBase::Adam), 2 * n * m);
    EXPECT_EQ(floats(LowRankMode::Full, LowRankBase::SGD), 0u);
    EXPECT_EQ(floats(LowRankMode::LoRA, LowRankBase::Adam), 3 * (n + m) * r);
    EXPECT_EQ(floats(LowRankMode::LoRA, LowRankBase::SGD), (n + m) * r);
    EXPECT_EQ(floats(LowRankMode::FixedA, LowRankBase::Adam), (n + m) * r + 2 * r * m);
    EXPECT_EQ(floats(LowRankMode::FixedB, LowRankBase::Adam), (n + m) * r + 2 * n * r);
    EXPECT_EQ(floats(LowRankMode::RandomProj, LowRankBase::SGD), (n + m) * r);
    EXPECT_EQ(floats(LowRankMode::Additive, LowRankBase::Adam), 3 * (n + m) * r);
    EXPECT_EQ(floats(LowRankMode::GaLore, LowRankBase::Adam), m * r + 2 * n * r);
}

TEST(LowRankOptimizer, FullSgdAndAdamWithDecoupledDecay) {
    LowRankConfig c = make_config(2, 3, 1, LowRankMode::Full, LowRankBase::SGD, 0.1);
    c.weight_decay = 0.5;
    LowRankOptimizer sgd(c, kW0.data());
    ASSERT_EQ(sgd.step(kG.data()), -1);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(sgd.weight()[i], kW0[i] * 0.95 - 0.1 * kG[i], 1e-6);
    c.base = LowRankBase::Adam;
    c.weight_decay = 0;
    LowRankOptimizer adam(c, kW0.data());
    ASSERT_EQ(adam.step(kG.data()), -1);
    // First Adam step: −lr·sign(g) (up to eps) for non-zero g.
    for (int i = 0; i < 6; ++i) {
        const double sign = kG[i] > 0 ? 1 : kG[i] < 0 ? -1 : 0;
        EXPECT_NEAR(adam.weight()[i], kW0[i] - 0.1 * sign, 1e-6) << i;
    }
}

}  // namespace
}  // namespace kexue
