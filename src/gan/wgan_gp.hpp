// WGAN-GP (Gulrajani et al. 2017, arXiv 1704.00028, Algorithm 1) for an MLP critic D.
//
// Shapes (row-major): real, fake, interpolated: m × p; interpolation: m; gradient: like the
// parameters (layout of mlp.hpp); gradient_norms: m.
//
//   x̂_i = t_i x_i + (1 − t_i) x̃_i (t = interpolation, the paper's ε ~ U[0, 1]),
//   s_i = sqrt(‖∇_x D(x̂_i)‖² + gp_eps)
//   L_D = (1/m) Σ_i [ D(x̃_i) − D(x_i) + λ (s_i − 1)² ]            (one-sided: λ max(0, s_i − 1)²)
//   ∇_w L_D = (1/m) Σ_i [ ∇_w D(x̃_i) − ∇_w D(x_i) + 2λ (s_i − 1)/s_i · ∇_w⟨∇_x D(x̂_i), v⟩|_{v = g_i} ]
// The last term is the mixed second derivative, from the MLP's tangent pass (exact, φ'' included).
//   L_G = −(1/m) Σ_i D(x̃_i),   ∂L_G/∂x̃_i = −(1/m) ∇_x D(x̃_i)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "nn/mlp.hpp"

namespace kexue {

// two-sided λ (s − 1)² (Algorithm 1); one-sided λ max(0, s − 1)², the alternative of the paper's §4.
enum class PenaltySide { two_sided, one_sided };

template <>
struct EnumNames<PenaltySide> {
    static constexpr EnumEntry<PenaltySide> entries[] = {{"two-sided", PenaltySide::two_sided},
                                                         {"one-sided", PenaltySide::one_sided}};
};

struct GradientPenaltyOptions {
    double lambda = 10.0;                        // λ ≥ 0; λ = 0 is the plain WGAN loss
    PenaltySide penalty = PenaltySide::two_sided;
    double gp_eps = 1e-12;                       // keeps ∂s/∂g finite at g = 0 (not an option)
};

template <typename Visitor>
void visit_fields(GradientPenaltyOptions& o, Visitor&& field) {
    field("lambda", o.lambda);
    field("penalty", o.penalty);
}

// λ ≥ 0 and finite.
Error gradient_penalty_validate(const GradientPenaltyOptions& options);

// The options of gan.criticLoss besides its arrays (real, fake, interpolation).
struct CriticLossOptions {
    std::size_t rows = 0;
    GradientPenaltyOptions gradient_penalty;
};

template <typename Visitor>
void visit_fields(CriticLossOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    visit_fields(o.gradient_penalty, field);
}

// A critic (sizes ending in 1) and the batch fit; λ ≥ 0.
Error wgan_critic_loss_validate(const std::vector<std::size_t>& critic_sizes, const CriticLossOptions& options);
// Each interpolation weight t_i in [0, 1]: "interpolation[0] must be in [0, 1], received 1.5".
Error wgan_interpolation_validate(const float* interpolation, std::size_t rows);
// gan.generatorLoss: a critic and the batch fit.
Error wgan_generator_loss_validate(const std::vector<std::size_t>& critic_sizes, const MlpBatchOptions& options);

struct CriticLoss {
    double loss;     // L_D
    double penalty;  // (1/m) Σ λ (s_i − 1)², included in loss
};

template <typename T>
struct WganWorkspace {
    MlpWorkspace<T> pair;          // [fake; real] stacked
    MlpWorkspace<T> interpolated;  // x̂
    std::vector<T> pair_rows, interpolated_rows, weights, direction;
};

// gradient (parameter_count) is overwritten; gradient_norms may be nullptr.
template <typename T>
CriticLoss wgan_gp_critic_loss(const Mlp<T>& critic, const T* parameters, const T* real, const T* fake,
                               const T* interpolation, std::size_t rows, const GradientPenaltyOptions& options,
                               T* gradient, T* gradient_norms, WganWorkspace<T>& ws);

// Returns L_G; fake_gradient (m × p) receives ∂L_G/∂x̃.
template <typename T>
double wgan_generator_loss(const Mlp<T>& critic, const T* parameters, const T* fake, std::size_t rows,
                           T* fake_gradient, MlpWorkspace<T>& ws);

}  // namespace kexue
