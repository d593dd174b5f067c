// GN and GraN critics with exact gradients; formulas and shapes in gradient_normalization.hpp.
#include "gan/gradient_normalization.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "core/validate.hpp"

namespace kexue {

Error normalized_critic_options_validate(const NormalizedCriticOptions& options) {
    if (!options.eps) {
        if (options.variant == GradientNormalization::gran) return required("eps", "a number > 0");
        return {};
    }
    return number_greater_than("eps", *options.eps, 0);
}

Error normalized_critic_validate(const std::vector<std::size_t>& critic_sizes,
                                 const NormalizedCriticCallOptions& options) {
    if (Error e = mlp_single_output_validate(critic_sizes, "critic", "critic must have one output (sizes ending in 1)")) {
        return e;
    }
    if (Error e = mlp_batch_validate(critic_sizes, options.rows, 8)) return e;
    return normalized_critic_options_validate(options.normalization);
}

template <typename T>
void normalized_critic(const Mlp<T>& critic, const T* parameters, const T* x, std::size_t rows,
                       const NormalizedCriticOptions& options, const T* row_weights, T* value,
                       T* parameter_gradient, T* input_gradient, NormalizedCriticWorkspace<T>& ws) {
    const std::size_t p = critic.input_size();
    // GraN's ε > 0 (normalized_critic_options_validate).
    assert(options.variant == GradientNormalization::gn || (options.eps && *options.eps > 0));
    const double eps = options.eps.value_or(0.0);
    critic.forward(parameters, x, rows, ws.mlp);
    critic.reverse(parameters, nullptr, ws.mlp);
    const T* F = ws.mlp.z[critic.layers()].data();
    const T* u = ws.mlp.a[0].data();

    // Per sample: f̂, w ∂f̂/∂F (row weight of the reverse pass) and v = w (∂f̂/∂g)/g · u.
    ws.weights.resize(rows);
    ws.direction.resize(rows * p);
    std::vector<double> by_value(rows);
    for (std::size_t i = 0; i < rows; ++i) {
        const double w = row_weights ? double(row_weights[i]) : 1.0;
        const double f = F[i];
        double squared = 0;
        for (std::size_t j = 0; j < p; ++j) squared += double(u[i * p + j]) * double(u[i * p + j]);
        const double g = std::sqrt(squared);
        double normalized = 0, d_f = 0, d_g = 0;
        if (options.variant == GradientNormalization::gn) {
            const double denominator = g + std::abs(f);
            if (denominator > 0) {  // else 0/0: f̂ = 0 and zero gradient
                normalized = f / denominator;
                d_f = g / (denominator * denominator);
                d_g = -f / (denominator * denominator);
            }
        } else {
            const double denominator = squared + eps;
            normalized = f * g / denominator;
            d_f = g / denominator;
            d_g = f * (eps - squared) / (denominator * denominator);
        }
        if (value) value[i] = T(normalized);
        by_value[i] = w * d_f;
        ws.weights[i] = T(w * d_f);
        const double along = g > 0 ? w * d_g / g : 0.0;  // ‖·‖ has no derivative at u = 0
        for (std::size_t j = 0; j < p; ++j) ws.direction[i * p + j] = T(along * double(u[i * p + j]));
    }
    if (!parameter_gradient && !input_gradient) return;
    critic.tangent(parameters, ws.direction.data(), ws.mlp);
    if (parameter_gradient) {
        std::fill(parameter_gradient, parameter_gradient + critic.parameter_count(), T(0));
        critic.accumulate_parameter_gradient(ws.mlp, ws.weights.data(), parameter_gradient);
        critic.accumulate_mixed_gradient(ws.mlp, parameter_gradient);
    }
    if (input_gradient) {
        const T* hessian_v = ws.mlp.ad[0].data();
        for (std::size_t i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < p; ++j) {
                input_gradient[i * p + j] = T(by_value[i] * double(u[i * p + j]) + double(hessian_v[i * p + j]));
            }
        }
    }
}

template void normalized_critic<float>(const Mlp<float>&, const float*, const float*, std::size_t,
                                       const NormalizedCriticOptions&, const float*, float*, float*, float*,
                                       NormalizedCriticWorkspace<float>&);
template void normalized_critic<double>(const Mlp<double>&, const double*, const double*, std::size_t,
                                        const NormalizedCriticOptions&, const double*, double*, double*,
                                        double*, NormalizedCriticWorkspace<double>&);

}  // namespace kexue
