// docs/math.md §7.12: the tight vector and the inequality as a property on random networks.
#include <gtest/gtest.h>

#include <vector>

#include "core/random.hpp"
#include "gan/penalty_inequality.hpp"

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

TEST(PenaltyInequality, Validator) {
    PenaltyInequalityOptions o;
    EXPECT_EQ(penalty_inequality_validate({2, 3, 2}, o).parameter, "mlp");
    EXPECT_EQ(penalty_inequality_validate({2, 3, 1}, o).parameter, "rows");
    o.rows = 4;
    EXPECT_FALSE(penalty_inequality_validate({2, 3, 1}, o));
}

}  // namespace
}  // namespace kexue
