// Gradient-normalized critics, per sample, with F = f(x), u = ∇_x f(x), g = ‖u‖₂:
//   GN   (Wu et al., ICCV 2021, arXiv 2109.02235)        f̂ = F / (g + |F|)
//   GraN (Bhaskara et al., WACV 2022, arXiv 2111.03162)   f̂ = F g / (g² + ε),  ε > 0
// Exact gradients (kexue.fm/archives/8757 derives the GN form):
//   ∇_θ f̂ = ∂f̂/∂F ∇_θ F + ∂f̂/∂g ∇_θ g,   ∇_θ g = (1/g) ∇_θ⟨∇_x f, v⟩|_{v=u}   (mixed term, tangent pass)
//   ∇_x f̂ = ∂f̂/∂F u     + ∂f̂/∂g H_x u / g                                      (Hessian-vector product)
//   GN:   ∂f̂/∂F = g/(g+|F|)²,  ∂f̂/∂g = −F/(g+|F|)²
//   GraN: ∂f̂/∂F = g/(g²+ε),    ∂f̂/∂g = F(ε − g²)/(g²+ε)²
// Edge cases: GN at g = |F| = 0 is 0/0: f̂ = 0 with zero gradient. The norm g is not
// differentiable at g = 0 (u = 0), so there the ∂f̂/∂g term is dropped.
//
// Shapes (row-major): x: rows × p; row_weights, value: rows; parameter_gradient: like the
// parameters; input_gradient: rows × p. The gradients are those of Σ_i w_i f̂(x_i) (w = 1 when
// row_weights is nullptr), so row i of input_gradient is w_i ∇_x f̂(x_i).
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "nn/mlp.hpp"

namespace kexue {

enum class GradientNormalization { gn, gran };

template <>
struct EnumNames<GradientNormalization> {
    static constexpr EnumEntry<GradientNormalization> entries[] = {{"gn", GradientNormalization::gn},
                                                                   {"gran", GradientNormalization::gran}};
};

struct NormalizedCriticOptions {
    GradientNormalization variant = GradientNormalization::gn;
    std::optional<double> eps;  // GraN's ε: required (> 0) for gran, unused by gn
};

template <typename Visitor>
void visit_fields(NormalizedCriticOptions& o, Visitor&& field) {
    field("variant", o.variant);
    field("eps", o.eps);
}

// GraN needs eps, finite and > 0 ("eps is required (a number > 0), received undefined"); when
// given for GN it must be valid too.
Error normalized_critic_options_validate(const NormalizedCriticOptions& options);

// The options of gan.normalizedCritic: { rows, variant, eps }.
struct NormalizedCriticCallOptions {
    std::size_t rows = 0;
    NormalizedCriticOptions normalization;
};

template <typename Visitor>
void visit_fields(NormalizedCriticCallOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    visit_fields(o.normalization, field);
}

// A critic (sizes ending in 1), the batch fits, and the options above.
Error normalized_critic_validate(const std::vector<std::size_t>& critic_sizes,
                                 const NormalizedCriticCallOptions& options);

template <typename T>
struct NormalizedCriticWorkspace {
    MlpWorkspace<T> mlp;
    std::vector<T> weights, direction;
};

// Any of value, parameter_gradient (overwritten), input_gradient may be nullptr.
template <typename T>
void normalized_critic(const Mlp<T>& critic, const T* parameters, const T* x, std::size_t rows,
                       const NormalizedCriticOptions& options, const T* row_weights, T* value,
                       T* parameter_gradient, T* input_gradient, NormalizedCriticWorkspace<T>& ws);

}  // namespace kexue
