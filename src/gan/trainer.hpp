// A WGAN trainer for 2-D toy data, entirely in C++ (one call per generator step from JS).
// Per generator step (Gulrajani et al. 2017, Algorithm 1): n_critic critic steps, then one
// generator step, each with Adam(lr, β1, β2). The critic is Lipschitz-constrained by
//   gp    the gradient penalty (wgan_gp.hpp), L_D = E D(fake) − E D(real) + λ E(‖∇D(x̂)‖ − 1)²
//   gn    gradient normalization, D = f̂ = f/(‖∇f‖ + |f|), L_D = E f̂(fake) − E f̂(real)
//   gran  GraN, f̂ = f‖∇f‖/(‖∇f‖² + ε), same Wasserstein loss
//   none  the plain Wasserstein loss (no constraint; diverges, for comparison)
//   input-side, parameter-side  a side of §7.12's inequality as the penalty, L_D = E D(fake) −
//         E D(real) + λ E side(x̂): the input side ‖∇_x D‖² Σ_t (1 + ‖h_t‖²)/(‖W_t‖² ‖∇_x h_t‖²)
//         (spectral norms) or the parameter side ‖∇_θ D(x̂)‖², which bounds it from above
//         (penalty_inequality.hpp; kexue.fm/archives/8796), at the gradient penalty's x̂
// and the generator minimises −E D(G(z)), z ~ N(0, I_latent).
// Every random draw comes from one seeded xoshiro256** stream, so a seed reproduces a run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "core/random.hpp"
#include "gan/datasets.hpp"
#include "gan/gradient_normalization.hpp"
#include "gan/metrics.hpp"
#include "gan/wgan_gp.hpp"
#include "nn/mlp.hpp"
#include "optim/adam.hpp"

namespace kexue {

enum class LipschitzMethod { gp, gn, gran, none, input_side, parameter_side };

template <>
struct EnumNames<LipschitzMethod> {
    static constexpr EnumEntry<LipschitzMethod> entries[] = {{"gp", LipschitzMethod::gp},
                                                             {"gn", LipschitzMethod::gn},
                                                             {"gran", LipschitzMethod::gran},
                                                             {"none", LipschitzMethod::none},
                                                             {"input-side", LipschitzMethod::input_side},
                                                             {"parameter-side", LipschitzMethod::parameter_side}};
};

// Named sets of defaults (gan_preset_options): 'paper' is Algorithm 1 of Gulrajani et al. 2017;
// 'toy' learns the 2-D mixtures much faster.
enum class GanPreset { paper, toy };

template <>
struct EnumNames<GanPreset> {
    static constexpr EnumEntry<GanPreset> entries[] = {{"paper", GanPreset::paper}, {"toy", GanPreset::toy}};
};

// The initialisation of both networks: as the WGAN-GP authors' gan_toy.py (tflib Linear) does,
// He-uniform hidden layers, a Glorot-uniform output layer and zero biases. PyTorch's nn.Linear
// default (Mlp's 'torch') makes the generator's first output a blob of radius ~0.07, from which
// λ = 10 runs do not learn ring8 (README, "multi-seed runs": 0 of 8 seeds).
inline MlpInitOptions gan_network_init() {
    MlpInitOptions o;
    o.init = MlpInit::he;
    o.output_init = MlpInit::glorot;
    o.bias = MlpBiasInit::zero;
    return o;
}

// The critic 2 → hidden… → 1 and the generator latent → hidden… → 2.
struct GanCriticOptions {
    std::vector<std::size_t> hidden{256, 256};
    Activation activation = Activation::relu;
    MlpInitOptions initialization = gan_network_init();
};

template <typename Visitor>
void visit_fields(GanCriticOptions& o, Visitor&& field) {
    field("hidden", o.hidden, kPositive);
    field("activation", o.activation);
    visit_fields(o.initialization, field);  // init, outputInit, bias
}

struct GanGeneratorOptions {
    std::size_t latent = 2;
    std::vector<std::size_t> hidden{256, 256};
    Activation activation = Activation::relu;
    MlpInitOptions initialization = gan_network_init();
};

template <typename Visitor>
void visit_fields(GanGeneratorOptions& o, Visitor&& field) {
    field("latent", o.latent, kPositive);
    field("hidden", o.hidden, kPositive);
    field("activation", o.activation);
    visit_fields(o.initialization, field);  // init, outputInit, bias
}

// The member initialisers are the 'paper' preset.
struct GanTrainerOptions {
    ToyDatasetKind dataset = ToyDatasetKind::ring8;  // what the caller named; GanTrainer takes the ToyDataset
    GanPreset preset = GanPreset::paper;              // which defaults the options were resolved from
    LipschitzMethod lipschitz = LipschitzMethod::gp;
    GradientPenaltyOptions gradient_penalty;          // λ (gp only) and the penalty's side
    std::optional<double> eps;                        // GraN's ε, required for gran
    std::size_t n_critic = 5;
    double lr = 1e-4;
    double beta1 = 0.0;
    double beta2 = 0.9;
    std::size_t batch = 256;
    GanCriticOptions critic;
    GanGeneratorOptions generator;
    std::uint64_t seed = 0;
};

// The options a preset sets; the others keep the member initialisers.
template <typename Visitor>
void visit_preset_fields(GanTrainerOptions& o, Visitor&& field) {
    field("lr", o.lr);
    field("beta1", o.beta1);
    field("beta2", o.beta2);
    field("nCritic", o.n_critic, kPositive);
    field("lambda", o.gradient_penalty.lambda);
}

// The options of `new kx.GanTrainer({...})` (dataset: a name; the JS facade passes user samples
// separately), by their JS names.
template <typename Visitor>
void visit_fields(GanTrainerOptions& o, Visitor&& field) {
    field("dataset", o.dataset);
    field("preset", o.preset);
    field("lipschitz", o.lipschitz);
    visit_fields(o.gradient_penalty, field);  // lambda, penalty
    field("eps", o.eps);
    field("nCritic", o.n_critic, kPositive);
    field("lr", o.lr);
    field("beta1", o.beta1);
    field("beta2", o.beta2);
    field("batch", o.batch, kPositive);
    field("critic", o.critic);
    field("generator", o.generator);
    field("seed", o.seed);
}

// The defaults of a preset: 'paper' Adam(1e-4, 0, 0.9), λ 10, nCritic 5; 'toy' Adam(1e-3, 0.5,
// 0.9), λ 0.1, nCritic 5 (β1 0.5 and λ 0.1 as in the authors' gan_toy.py, "Smaller lambda makes
// things faster for toy tasks"; lr 1e-3 is ours, gan_toy.py uses 1e-4).
GanTrainerOptions gan_preset_options(GanPreset preset);

// Every option in range (λ ≥ 0, ε > 0 for gran, lr > 0, β in [0, 1), sizes ≥ 1), and the two
// networks with their Adam moments and batch workspaces fit in the heap (64-bit counts).
Error gan_trainer_validate(const GanTrainerOptions& options);

// n ≥ 1 generated points (GanTrainer::sample, evaluate), their generator workspace in the heap;
// `name` is the argument's name in the call ("n").
Error gan_sample_validate(const GanTrainerOptions& options, const std::string& name, std::size_t n);

struct GanStepResult {
    double critic_loss;     // of the last critic step
    double generator_loss;
    double gradient_norm;   // mean ‖∇_x D‖ at the last critic step's x̂ (gp, none) or samples (gn, gran)
};

class GanTrainer {
public:
    GanTrainer(ToyDataset dataset, const GanTrainerOptions& options);

    GanStepResult step();
    // count × 2 generated points (from a stream of their own, so the training run is unchanged).
    void sample(std::size_t count, float* out);
    // Metrics of `count` generated samples (2,500 in the papers' protocol).
    GanMetrics evaluate(std::size_t count = 2500);

    std::size_t steps() const { return steps_; }
    const Mlp<float>& critic() const { return critic_; }
    const Mlp<float>& generator() const { return generator_; }
    std::vector<float>& critic_parameters() { return critic_parameters_; }
    std::vector<float>& generator_parameters() { return generator_parameters_; }

private:
    double critic_step();
    double generator_step();
    void generate(Xoshiro256& rng, std::size_t count, float* out);

    ToyDataset dataset_;
    GanTrainerOptions options_;
    Xoshiro256 rng_;
    Xoshiro256 sample_rng_;  // sample() and evaluate() do not disturb the training stream
    Mlp<float> critic_, generator_;
    std::vector<float> critic_parameters_, generator_parameters_;
    Adam critic_adam_, generator_adam_;
    std::vector<float> real_, fake_, eps_, latent_, gradient_, norms_, fake_gradient_, weights_, both_;
    std::vector<float> reference_points_;
    WganWorkspace<float> wgan_ws_;
    NormalizedCriticWorkspace<float> normalized_ws_;
    MlpWorkspace<float> generator_ws_, critic_ws_;
    double last_gradient_norm_ = 0;
    std::size_t steps_ = 0;
};

}  // namespace kexue
