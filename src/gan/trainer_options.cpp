// The trainer's options: presets and the validator (trainer.hpp). Kept apart from the training
// loop in trainer.cpp.
#include <initializer_list>
#include <string>
#include <vector>

#include "core/validate.hpp"
#include "gan/trainer.hpp"

namespace kexue {

GanTrainerOptions gan_preset_options(GanPreset preset) {
    GanTrainerOptions o;  // 'paper'
    o.preset = preset;
    if (preset == GanPreset::toy) {
        o.lr = 1e-3;
        o.beta1 = 0.5;
        o.beta2 = 0.9;
        o.n_critic = 5;
        o.gradient_penalty.lambda = 0.1;
    }
    return o;
}

namespace {

Error hidden_validate(const std::string& name, const std::vector<std::size_t>& hidden) {
    for (std::size_t i = 0; i < hidden.size(); ++i) {
        if (Error e = positive(name + "[" + std::to_string(i) + "]", hidden[i])) return e;
    }
    return {};
}

}  // namespace

Error gan_trainer_validate(const GanTrainerOptions& o) {
    if (Error e = gradient_penalty_validate(o.gradient_penalty)) return e;
    NormalizedCriticOptions normalized;
    normalized.variant = o.lipschitz == LipschitzMethod::gran ? GradientNormalization::gran : GradientNormalization::gn;
    normalized.eps = o.eps;
    if (Error e = normalized_critic_options_validate(normalized)) return e;
    if (Error e = positive("nCritic", o.n_critic)) return e;
    if (Error e = number_greater_than("lr", o.lr, 0)) return e;
    if (Error e = learning_rate_at_most("lr", o.lr)) return e;
    if (Error e = finite_in("beta1", o.beta1, '[', 0, 1, ')')) return e;
    if (Error e = finite_in("beta2", o.beta2, '[', 0, 1, ')')) return e;
    if (Error e = positive("batch", o.batch)) return e;
    if (Error e = hidden_validate("critic.hidden", o.critic.hidden)) return e;
    if (Error e = positive("generator.latent", o.generator.latent)) return e;
    if (Error e = hidden_validate("generator.hidden", o.generator.hidden)) return e;

    // Each network's parameters, gradient and two Adam moments (4 floats per parameter) …
    const std::vector<std::size_t> critic = mlp_layer_sizes(2, o.critic.hidden, 1);
    const std::vector<std::size_t> generator = mlp_layer_sizes(o.generator.latent, o.generator.hidden, 2);
    const std::uint64_t critic_floats = checked_product({mlp_parameter_count(critic), 4});
    const std::uint64_t generator_floats = checked_product({mlp_parameter_count(generator), 4});
    // A side of the penalty inequality works in double: the critic's weights, their gradient and
    // norm gradient, and Eigen's JacobiSVD of each weight (a copy, its QR, thin U and V): 64 bytes,
    // 16 floats' worth, per parameter; and per-sample Jacobians (width × 2 doubles, 4 of them).
    const bool side = o.lipschitz == LipschitzMethod::input_side || o.lipschitz == LipschitzMethod::parameter_side;
    const std::uint64_t side_floats =
        side ? saturating_sum({checked_product({mlp_parameter_count(critic), 16}), checked_product({mlp_width(critic), 16})})
             : 0;
    if (Error e = heap_budget("critic.hidden", checked_product({saturating_sum({critic_floats, side_floats}), 4}),
                              side ? "the critic's parameters, gradient and Adam moments and the penalty side's "
                                     "double-precision workspaces"
                                   : "the critic's parameters, gradient and Adam moments")) {
        return e;
    }
    if (Error e = heap_budget("generator.hidden", checked_product({generator_floats, 4}),
                              "the generator's parameters, gradient and Adam moments")) {
        return e;
    }
    // … and the batch workspaces: the critic's passes over [fake; real] and x̂ (forward, reverse
    // and tangent, up to 40 arrays of batch × Σ sizes floats), the generator's (4 arrays), the
    // latent draws and the batch buffers.
    const std::uint64_t workspace = saturating_sum(
        {checked_product({o.batch, mlp_width(critic), 40}), checked_product({o.batch, mlp_width(generator), 4}),
         checked_product({o.batch, o.generator.latent}), checked_product({o.batch, 24}), side_floats});
    return heap_budget("batch", checked_product({saturating_sum({critic_floats, generator_floats, workspace}), 4}),
                       "the networks, their Adam moments and the batch workspaces");
}

Error gan_sample_validate(const GanTrainerOptions& o, const std::string& name, std::size_t n) {
    if (Error e = positive(name, n)) return e;
    if (Error e = buffer_fits("samples", {{name.c_str(), n}, {"2", 2}})) return e;
    const std::vector<std::size_t> generator = mlp_layer_sizes(o.generator.latent, o.generator.hidden, 2);
    const std::uint64_t floats = saturating_sum({checked_product({n, 4}), checked_product({n, o.generator.latent}),
                                                 checked_product({n, mlp_width(generator), 2})});
    return heap_budget(name, checked_product({floats, 4}), "the samples and the generator's workspace");
}

}  // namespace kexue
