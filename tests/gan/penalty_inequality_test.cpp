// docs/math.md §7.12: the tight vector and the inequality as a property on random networks.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/random.hpp"
#include "gan/penalty_inequality.hpp"
#include "gan/trainer.hpp"

namespace kexue {
namespace {

TEST(PenaltyInequality, TightVector) {
    // §7.12's vector: W = [[3, 4]], b = 0, x = [1, 2], f = Wx. With spectral norms (‖I‖ = 1) both
    // sides are 6: ‖∇_x f‖²(1 + ‖x‖²)/‖W‖² = 25·6/25 and ‖∇_θ f‖² = ‖x‖² + 1. Frobenius has ‖I‖² = 2.
    Mlp<float> mlp({2, 1}, Activation::relu);
    const std::vector<float> p{3, 4, 0};
    const std::vector<float> x{1, 2};
    for (MatrixNorm norm : {MatrixNorm::frobenius, MatrixNorm::spectral}) {
        double lhs = 0, rhs = 0;
        penalty_inequality(mlp, p.data(), x.data(), 1, norm, &lhs, &rhs);
        EXPECT_NEAR(lhs, norm == MatrixNorm::spectral ? 6.0 : 3.0, 1e-12);
        EXPECT_NEAR(rhs, 6.0, 1e-12);
    }
}

TEST(PenaltyInequality, HoldsOnRandomNetworksAndInputs) {
    Xoshiro256 rng(11);
    int checked = 0;
    for (Activation act : {Activation::relu, Activation::leaky_relu, Activation::tanh, Activation::gelu,
                           Activation::softplus, Activation::sau_relu}) {
        for (int trial = 0; trial < 20; ++trial) {
            const std::size_t n0 = 1 + trial % 4;
            std::vector<std::size_t> sizes{n0};
            const std::size_t depth = 1 + trial % 3;
            for (std::size_t d = 0; d < depth; ++d) sizes.push_back(1 + (rng.next() % 7));
            sizes.push_back(1);
            Mlp<float> mlp(sizes, act);
            std::vector<float> p = mlp.initial_parameters(trial * 7 + 1);
            for (auto& v : p) v *= static_cast<float>(0.5 + 2 * rng.uniform());
            const std::size_t rows = 8;
            std::vector<float> x(rows * n0);
            for (auto& v : x) v = static_cast<float>(2 * rng.normal());
            std::vector<double> lhs(rows), rhs(rows);
            for (MatrixNorm norm : {MatrixNorm::frobenius, MatrixNorm::spectral}) {
                penalty_inequality(mlp, p.data(), x.data(), rows, norm, lhs.data(), rhs.data());
                for (std::size_t r = 0; r < rows; ++r) {
                    EXPECT_LE(lhs[r], rhs[r] * (1 + 1e-9) + 1e-12) << enum_name(act) << " trial " << trial;
                    EXPECT_GE(lhs[r], 0.0);
                    ++checked;
                }
            }
        }
    }
    EXPECT_EQ(checked, 6 * 20 * 2 * 8);
}

TEST(PenaltyInequality, SpectralIsTighterThanFrobenius) {
    Mlp<float> mlp({3, 5, 4, 1}, Activation::tanh);
    const std::vector<float> p = mlp.initial_parameters(5);
    const std::vector<float> x{0.3f, -1.2f, 0.8f};
    double lf = 0, ls = 0, rf = 0, rs = 0;
    penalty_inequality(mlp, p.data(), x.data(), 1, MatrixNorm::frobenius, &lf, &rf);
    penalty_inequality(mlp, p.data(), x.data(), 1, MatrixNorm::spectral, &ls, &rs);
    EXPECT_EQ(rf, rs);
    EXPECT_LE(lf, ls);
    EXPECT_LE(ls, rs);
}

// Σ_r side(x_r) by penalty_inequality (the double-precision evaluation of both sides), as a
// function of the float parameters.
double side_sum(const Mlp<float>& mlp, const std::vector<float>& p, const std::vector<float>& x, std::size_t rows,
                PenaltyInequalitySide side, MatrixNorm norm) {
    std::vector<double> lhs(rows), rhs(rows);
    penalty_inequality(mlp, p.data(), x.data(), rows, norm, lhs.data(), rhs.data());
    double sum = 0;
    for (std::size_t r = 0; r < rows; ++r) sum += side == PenaltyInequalitySide::input ? lhs[r] : rhs[r];
    return sum;
}

TEST(PenaltyInequality, GradientOfEitherSideMatchesFiniteDifferences) {
    // Smooth activations (φ'' matters: both sides depend on φ'); central differences in the float
    // parameters, with the step actually taken after rounding.
    Xoshiro256 rng(23);
    for (Activation act : {Activation::tanh, Activation::softplus, Activation::sau_relu, Activation::gelu}) {
        for (MatrixNorm norm : {MatrixNorm::frobenius, MatrixNorm::spectral}) {
            for (PenaltyInequalitySide side : {PenaltyInequalitySide::input, PenaltyInequalitySide::parameter}) {
                const std::vector<std::size_t> sizes{2, 5, 4, 1};
                Mlp<float> mlp(sizes, act);
                const std::vector<float> p = mlp.initial_parameters(3);
                const std::size_t rows = 3;
                std::vector<float> x(rows * 2);
                for (auto& v : x) v = static_cast<float>(rng.normal());
                std::vector<float> grad(p.size(), 0.0f);
                const double value = penalty_inequality_gradient(mlp, p.data(), x.data(), rows, side, norm, 0.5, grad.data());
                EXPECT_NEAR(value, side_sum(mlp, p, x, rows, side, norm), 1e-9 * std::abs(value));
                for (std::size_t i = 0; i < p.size(); ++i) {
                    std::vector<float> up(p), down(p);
                    up[i] += 1e-3f;
                    down[i] -= 1e-3f;
                    const double step = double(up[i]) - double(down[i]);
                    const double fd = 0.5 * (side_sum(mlp, up, x, rows, side, norm) - side_sum(mlp, down, x, rows, side, norm)) / step;
                    EXPECT_NEAR(grad[i], fd, 2e-3 * (1 + std::abs(fd)))
                        << enum_name(act) << " " << enum_name(norm) << (side == PenaltyInequalitySide::input ? " input" : " parameter")
                        << " parameter " << i;
                }
            }
        }
    }
}

TEST(PenaltyInequality, GanTrainerTrainsWithEitherSide) {
    // lipschitz 'input-side' / 'parameter-side': λ E side(x̂) at the gradient penalty's x̂; runs
    // reproducibly, stays finite, and the penalty shrinks the side it penalises.
    for (LipschitzMethod method : {LipschitzMethod::input_side, LipschitzMethod::parameter_side}) {
        GanTrainerOptions o = gan_preset_options(GanPreset::toy);
        o.lipschitz = method;
        o.batch = 32;
        o.n_critic = 2;
        o.critic.hidden = {16, 16};
        o.critic.activation = Activation::tanh;
        o.generator.hidden = {16};
        o.gradient_penalty.lambda = 1.0;
        o.seed = 4;
        EXPECT_FALSE(gan_trainer_validate(o));
        GanTrainer a(ToyDataset::ring8(), o), b(ToyDataset::ring8(), o);
        GanTrainerOptions plain = o;
        plain.lipschitz = LipschitzMethod::none;
        GanTrainer c(ToyDataset::ring8(), plain);
        GanStepResult ra{}, rb{};
        for (int i = 0; i < 30; ++i) {
            ra = a.step();
            rb = b.step();
            c.step();
        }
        EXPECT_EQ(ra.critic_loss, rb.critic_loss);
        EXPECT_TRUE(std::isfinite(ra.critic_loss) && std::isfinite(ra.generator_loss));
        EXPECT_EQ(a.critic_parameters(), b.critic_parameters());
        // The penalised side, measured on one batch of ring8 points, is smaller than without it.
        Xoshiro256 rng(1);
        std::vector<float> x(2 * 64);
        ToyDataset::ring8().sample(rng, 64, x.data());
        const PenaltyInequalitySide side =
            method == LipschitzMethod::input_side ? PenaltyInequalitySide::input : PenaltyInequalitySide::parameter;
        const double with = side_sum(a.critic(), a.critic_parameters(), x, 64, side, MatrixNorm::spectral);
        const double without = side_sum(c.critic(), c.critic_parameters(), x, 64, side, MatrixNorm::spectral);
        EXPECT_LT(with, without) << enum_name(method);
    }
}

TEST(PenaltyInequality, Validator) {
    PenaltyInequalityOptions o;
    EXPECT_EQ(penalty_inequality_validate({2, 3, 2}, o).parameter, "mlp");
    EXPECT_EQ(penalty_inequality_validate({2, 3, 1}, o).parameter, "rows");
    o.rows = 4;
    EXPECT_FALSE(penalty_inequality_validate({2, 3, 1}, o));
    // The per-layer Jacobians of a wide input: 12001 units × 6000 inputs × 32 bytes.
    o.rows = 1;
    EXPECT_EQ(penalty_inequality_validate({6000, 6000, 1}, o).parameter, "rows");
}

}  // namespace
}  // namespace kexue
