// WGAN-GP critic and generator losses; formulas and shapes in wgan_gp.hpp.
#include "gan/wgan_gp.hpp"

#include <algorithm>
#include <cmath>

#include "core/parallel.hpp"
#include "core/validate.hpp"

namespace kexue {

Error gradient_penalty_validate(const GradientPenaltyOptions& options) {
    return number_at_least("lambda", options.lambda, 0);
}

Error wgan_critic_loss_validate(const std::vector<std::size_t>& critic_sizes, const CriticLossOptions& options) {
    if (Error e = mlp_single_output_validate(critic_sizes, "critic", "critic must have one output (sizes ending in 1)")) {
        return e;
    }
    // The [fake; real] pair at 2·rows with the reverse pass, x̂ at rows with the tangent pass.
    if (Error e = mlp_batch_validate(critic_sizes, options.rows, 16)) return e;
    return gradient_penalty_validate(options.gradient_penalty);
}

Error wgan_interpolation_validate(const float* interpolation, std::size_t rows) {
    for (std::size_t i = 0; i < rows; ++i) {
        const float t = interpolation[i];
        if (!(t >= 0 && t <= 1)) {
            return range_error("interpolation[" + std::to_string(i) + "]", "in [0, 1]", js_number(double(t)));
        }
    }
    return {};
}

Error wgan_generator_loss_validate(const std::vector<std::size_t>& critic_sizes, const MlpBatchOptions& options) {
    if (Error e = mlp_single_output_validate(critic_sizes, "critic", "critic must have one output (sizes ending in 1)")) {
        return e;
    }
    return mlp_batch_validate(critic_sizes, options.rows, 4);
}

template <typename T>
CriticLoss wgan_gp_critic_loss(const Mlp<T>& critic, const T* parameters, const T* real, const T* fake,
                               const T* interpolation, std::size_t rows, const GradientPenaltyOptions& options,
                               T* gradient, T* gradient_norms, WganWorkspace<T>& ws) {
    const std::size_t p = critic.input_size();
    const std::size_t L = critic.layers();
    const double inv_m = 1.0 / static_cast<double>(rows);
    std::fill(gradient, gradient + critic.parameter_count(), T(0));

    // Two chains that share nothing until the parameter gradient: D(x̃) − D(x) (forward and reverse
    // over the stacked [fake; real] rows) and the penalty at x̂ (forward, reverse, tangent).
    double wasserstein = 0, penalty = 0;
    const auto pair_chain = [&] {
        // One forward/reverse over [fake; real], the ±1/m weights riding on the reverse seed (the
        // pass is linear in it), so no rescaled copy.
        ws.pair_rows.resize(2 * rows * p);
        std::copy(fake, fake + rows * p, ws.pair_rows.begin());
        std::copy(real, real + rows * p, ws.pair_rows.begin() + rows * p);
        critic.forward(parameters, ws.pair_rows.data(), 2 * rows, ws.pair);
        ws.weights.assign(2 * rows, T(inv_m));
        std::fill(ws.weights.begin() + rows, ws.weights.end(), T(-inv_m));
        critic.reverse(parameters, ws.weights.data(), ws.pair);
        const T* d = ws.pair.z[L].data();
        for (std::size_t i = 0; i < rows; ++i) wasserstein += double(d[i]) - double(d[rows + i]);
        wasserstein *= inv_m;
    };
    const auto penalty_chain = [&] {
        // g = ∇_x D(x̂) from the reverse pass, then the tangent pass along
        // v_i = 2λ (s_i − 1)/(m s_i) · g_i (it is linear in v, so the coefficient rides on v).
        ws.interpolated_rows.resize(rows * p);
        for (std::size_t i = 0; i < rows; ++i) {
            const T e = interpolation[i];
            for (std::size_t j = 0; j < p; ++j) {
                ws.interpolated_rows[i * p + j] = e * real[i * p + j] + (T(1) - e) * fake[i * p + j];
            }
        }
        critic.forward(parameters, ws.interpolated_rows.data(), rows, ws.interpolated);
        critic.reverse(parameters, nullptr, ws.interpolated);
        const T* g = ws.interpolated.a[0].data();
        ws.direction.resize(rows * p);
        for (std::size_t i = 0; i < rows; ++i) {
            double squared = 0;
            for (std::size_t j = 0; j < p; ++j) squared += double(g[i * p + j]) * double(g[i * p + j]);
            const double s = std::sqrt(squared + options.gp_eps);
            if (gradient_norms) gradient_norms[i] = T(std::sqrt(squared));
            const double excess = options.penalty == PenaltySide::one_sided ? std::max(0.0, s - 1) : s - 1;
            penalty += options.lambda * excess * excess;
            const double coefficient = 2 * options.lambda * excess / s * inv_m;
            for (std::size_t j = 0; j < p; ++j) ws.direction[i * p + j] = T(coefficient * double(g[i * p + j]));
        }
        penalty *= inv_m;
        if (options.lambda > 0) critic.tangent(parameters, ws.direction.data(), ws.interpolated);
    };
    // On two or three threads the chains run side by side, one per thread, each with serial products
    // (a parallel_for inside a task runs serially): at the sizes a GAN critic has (a few hundred rows
    // and units) a product split across threads spends a large share of its time waking and joining
    // them, ten times per step, and two independent chains keep two threads busy without a join.
    // With four threads, splitting each product uses them all. Either way each product computes
    // every element with the same operations, and the two gradient accumulations below keep their
    // order, so the result does not depend on the thread count.
    const std::size_t threads = thread_count();
    if (threads == 2 || threads == 3) {
        parallel_for(2, [&](std::size_t chain) { chain == 0 ? pair_chain() : penalty_chain(); });
    } else {
        pair_chain();
        penalty_chain();
    }
    critic.accumulate_parameter_gradient(ws.pair, nullptr, gradient);
    if (options.lambda > 0) critic.accumulate_mixed_gradient(ws.interpolated, gradient);
    return {wasserstein + penalty, penalty};
}

template <typename T>
double wgan_generator_loss(const Mlp<T>& critic, const T* parameters, const T* fake, std::size_t rows,
                           T* fake_gradient, MlpWorkspace<T>& ws) {
    const double inv_m = 1.0 / static_cast<double>(rows);
    critic.forward(parameters, fake, rows, ws);
    std::vector<T> seed(rows, T(-inv_m));
    critic.reverse(parameters, seed.data(), ws);
    std::copy(ws.a[0].begin(), ws.a[0].end(), fake_gradient);
    double loss = 0;
    for (std::size_t i = 0; i < rows; ++i) loss -= double(ws.z[critic.layers()][i]);
    return loss * inv_m;
}

#define KEXUE_INSTANTIATE_WGAN(T)                                                                      \
    template CriticLoss wgan_gp_critic_loss<T>(const Mlp<T>&, const T*, const T*, const T*, const T*, \
                                               std::size_t, const GradientPenaltyOptions&, T*, T*,    \
                                               WganWorkspace<T>&);                                    \
    template double wgan_generator_loss<T>(const Mlp<T>&, const T*, const T*, std::size_t, T*,        \
                                           MlpWorkspace<T>&);
KEXUE_INSTANTIATE_WGAN(float)
KEXUE_INSTANTIATE_WGAN(double)
#undef KEXUE_INSTANTIATE_WGAN

}  // namespace kexue
