// WGAN-GP (Gulrajani et al. 2017, arXiv 1704.00028, Algorithm 1) for an MLP critic D.
//
// Shapes (row-major): real, fake, interpolated: m × p; eps: m; gradient: like the parameters
// (layout of mlp.hpp); gradient_norms: m.
//
//   x̂_i = ε_i x_i + (1 − ε_i) x̃_i,   s_i = sqrt(‖∇_x D(x̂_i)‖² + gp_eps)
//   L_D = (1/m) Σ_i [ D(x̃_i) − D(x_i) + λ (s_i − 1)² ]            (one-sided: λ max(0, s_i − 1)²)
//   ∇_w L_D = (1/m) Σ_i [ ∇_w D(x̃_i) − ∇_w D(x_i) + 2λ (s_i − 1)/s_i · ∇_w⟨∇_x D(x̂_i), v⟩|_{v = g_i} ]
// The last term is the mixed second derivative, from the MLP's tangent pass (exact, φ'' included).
//   L_G = −(1/m) Σ_i D(x̃_i),   ∂L_G/∂x̃_i = −(1/m) ∇_x D(x̃_i)
#pragma once

#include <cstddef>

#include "nn/mlp.hpp"

namespace kexue {

struct GradientPenaltyOptions {
    double lambda = 10.0;    // λ ≥ 0; λ = 0 is the plain WGAN loss
    bool one_sided = false;  // λ max(0, s − 1)², the alternative of the paper's §4
    double gp_eps = 1e-12;   // keeps ∂s/∂g finite at g = 0
};

struct CriticLoss {
    double loss;     // L_D
    double penalty;  // (1/m) Σ λ (s_i − 1)², included in loss
};

template <typename T>
struct WganWorkspace {
    MlpWorkspace<T> pair;          // [fake; real] stacked
    MlpWorkspace<T> interpolated;  // x̂
    std::vector<T> rows_buffer, weights, direction;
};

// gradient (parameter_count) is overwritten; gradient_norms may be nullptr.
template <typename T>
CriticLoss wgan_gp_critic_loss(const Mlp<T>& critic, const T* parameters, const T* real, const T* fake,
                               const T* eps, std::size_t rows, const GradientPenaltyOptions& options,
                               T* gradient, T* gradient_norms, WganWorkspace<T>& ws);

// Returns L_G; fake_gradient (m × p) receives ∂L_G/∂x̃.
template <typename T>
double wgan_generator_loss(const Mlp<T>& critic, const T* parameters, const T* fake, std::size_t rows,
                           T* fake_gradient, MlpWorkspace<T>& ws);

}  // namespace kexue
