// Multi-task gradient combination and gradient clipping: the vectors of docs/math.md §6B and §7.3 and the
// optimality conditions that define each direction.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "optim/clipping.hpp"
#include "optim/multitask.hpp"

namespace kexue {
namespace {

TEST(MultitaskSpec, NormalizedSumTwoTasks) {
    const std::vector<float> g{1, 0, 0, 2};  // g1 = [1, 0], g2 = [0, 2]
    std::vector<float> u(2);
    EXPECT_EQ(normalized_sum(g.data(), 2, 2, u.data()), 2u);
    EXPECT_FLOAT_EQ(u[0], 1);
    EXPECT_FLOAT_EQ(u[1], 1);
}

TEST(MultitaskSpec, NormalizedSumSkipsZeroNorm) {
    const std::vector<float> g{0, 0, 3, 4};
    std::vector<float> u(2);
    EXPECT_EQ(normalized_sum(g.data(), 2, 2, u.data()), 1u);
    EXPECT_FLOAT_EQ(u[0], 0.6f);
    EXPECT_FLOAT_EQ(u[1], 0.8f);
}

TEST(MultitaskSpec, MgdaTwoTasksClosedForm) {
    const std::vector<float> g{1, 0, 0, 2};
    std::vector<float> u(2);
    std::vector<double> alpha(2);
    mgda(g.data(), 2, 2, u.data(), alpha.data());
    EXPECT_NEAR(alpha[0], 0.8, 1e-12);
    EXPECT_NEAR(alpha[1], 0.2, 1e-12);
    EXPECT_NEAR(u[0], 0.8, 1e-7);
    EXPECT_NEAR(u[1], 0.4, 1e-7);
}

TEST(MultitaskSpec, MgdaThreeTasksFrankWolfe) {
    const std::vector<float> g{1, 0, 0, 1, -1, 0.5f};
    std::vector<float> u(2);
    std::vector<double> alpha(3);
    EXPECT_EQ(mgda(g.data(), 3, 2, u.data(), alpha.data(), 200, 0), 200u);
    // Exact-line-search FW after 200 iterations from uniform α (docs/math.md §6B).
    EXPECT_NEAR(alpha[0], 0.5231, 1e-3);
    EXPECT_NEAR(alpha[1], 0.0128, 1e-3);
    EXPECT_NEAR(alpha[2], 0.4641, 1e-3);
    EXPECT_NEAR(alpha[0] + alpha[1] + alpha[2], 1, 1e-12);
    // The exact optimum u = [1/17, 4/17], reached sublinearly.
    EXPECT_NEAR(u[0], 1.0 / 17, 1e-2);
    EXPECT_NEAR(u[1], 4.0 / 17, 1e-2);
}

TEST(MultitaskSpec, PrimaryAuxOneTask) {
    const std::vector<float> g0{1, 1}, g1{-1, 0.5f};
    std::vector<float> u(2);
    double lambda = -1;
    primary_aux(g0.data(), g1.data(), 1, 2, u.data(), &lambda);
    EXPECT_NEAR(lambda, 0.4, 1e-12);
    EXPECT_NEAR(u[0], 0.6, 1e-7);
    EXPECT_NEAR(u[1], 1.2, 1e-7);
    // An auxiliary gradient that agrees with the primary one gets λ = 0.
    const std::vector<float> agreeing{1, 0};
    primary_aux(g0.data(), agreeing.data(), 1, 2, u.data(), &lambda);
    EXPECT_EQ(lambda, 0);
}

TEST(Multitask, PrimaryAuxSeveralTasksSatisfiesKkt) {
    // min_{λ ≥ 0} ‖g0 + Σ λ_i g_i‖²: ⟨u, g_i⟩ = 0 where λ_i > 0 and ≥ 0 where λ_i = 0.
    const std::vector<float> g0{1, 1, 0.5f};
    const std::vector<float> aux{-1, 0.5f, 0, 0.2f, -1, 0.3f, 1, 1, 1, 0, 0, 0};
    std::vector<float> u(3);
    std::vector<double> lambda(4);
    primary_aux(g0.data(), aux.data(), 4, 3, u.data(), lambda.data(), 1000, 1e-14);
    for (int i = 0; i < 4; ++i) {
        const double d = u[0] * aux[i * 3] + u[1] * aux[i * 3 + 1] + u[2] * aux[i * 3 + 2];
        EXPECT_GE(lambda[i], 0);
        if (lambda[i] > 0) EXPECT_NEAR(d, 0, 1e-6) << i;
        else EXPECT_GE(d, -1e-6) << i;
    }
    EXPECT_EQ(lambda[2], 0);  // agrees with g0
    EXPECT_EQ(lambda[3], 0);  // zero gradient
}

TEST(ClippingSpec, BothForms) {
    std::vector<float> g{3, 4};
    float* tensors[1] = {g.data()};
    const std::size_t sizes[1] = {2};
    EXPECT_DOUBLE_EQ(clip_by_global_norm(tensors, sizes, 1, 1.0, ClipForm::Min), 5.0);
    EXPECT_FLOAT_EQ(g[0], 0.6f);
    EXPECT_FLOAT_EQ(g[1], 0.8f);
    g = {3, 4};
    tensors[0] = g.data();
    clip_by_global_norm(tensors, sizes, 1, 1.0, ClipForm::Smooth);
    EXPECT_FLOAT_EQ(g[0], 0.5f);
    EXPECT_NEAR(g[1], 0.6666666667, 1e-7);
}

TEST(Clipping, GlobalNormOverTensorsAndZeroNorm) {
    std::vector<float> a{3}, b{4};
    float* tensors[2] = {a.data(), b.data()};
    const std::size_t sizes[2] = {1, 1};
    EXPECT_DOUBLE_EQ(clip_by_global_norm(tensors, sizes, 2, 10.0, ClipForm::Min), 5.0);
    EXPECT_EQ(a[0], 3);  // below the threshold: unchanged
    clip_by_global_norm(tensors, sizes, 2, 2.5, ClipForm::Min);
    EXPECT_FLOAT_EQ(a[0], 1.5f);
    EXPECT_FLOAT_EQ(b[0], 2.0f);
    std::vector<float> zero{0, 0};
    float* z[1] = {zero.data()};
    const std::size_t zsize[1] = {2};
    EXPECT_EQ(clip_by_global_norm(z, zsize, 1, 1.0, ClipForm::Smooth), 0.0);
    EXPECT_EQ(zero[0], 0);
    for (double norm : {0.1, 1.0, 3.0, 100.0}) {
        const double hard = clip_coefficient(norm, 1.0, ClipForm::Min);
        const double smooth = clip_coefficient(norm, 1.0, ClipForm::Smooth);
        EXPECT_LE(0.5 * hard, smooth);
        EXPECT_LE(smooth, hard);
    }
}

}  // namespace
}  // namespace kexue
