// A WGAN trainer for 2-D toy data, entirely in C++ (one call per generator step from JS).
// Per generator step (Gulrajani et al. 2017, Algorithm 1): n_critic critic steps, then one
// generator step, each with Adam(lr, β1, β2). The critic is Lipschitz-constrained by
//   gp    the gradient penalty (wgan_gp.hpp), L_D = E D(fake) − E D(real) + λ E(‖∇D(x̂)‖ − 1)²
//   gn    gradient normalization, D = f̂ = f/(‖∇f‖ + |f|), L_D = E f̂(fake) − E f̂(real)
//   gran  GraN, f̂ = f‖∇f‖/(‖∇f‖² + ε), same Wasserstein loss
//   none  the plain Wasserstein loss (no constraint; diverges, for comparison)
// and the generator minimises −E D(G(z)), z ~ N(0, I_latent).
// Every random draw comes from one seeded xoshiro256** stream, so a seed reproduces a run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/random.hpp"
#include "gan/datasets.hpp"
#include "gan/gradient_normalization.hpp"
#include "gan/metrics.hpp"
#include "gan/wgan_gp.hpp"
#include "nn/mlp.hpp"
#include "optim/adam.hpp"

namespace kexue {

enum class LipschitzMethod { gp, gn, gran, none };

struct GanTrainerOptions {
    LipschitzMethod lipschitz = LipschitzMethod::gp;
    double lambda = 10.0;
    bool one_sided = false;
    double gran_epsilon = 1.0;
    std::size_t n_critic = 5;
    double lr = 1e-4;
    double beta1 = 0.0;
    double beta2 = 0.9;
    std::size_t batch = 256;
    std::vector<std::size_t> critic_hidden{256, 256};
    Activation critic_activation = Activation::relu;
    std::size_t latent = 2;
    std::vector<std::size_t> generator_hidden{256, 256};
    Activation generator_activation = Activation::relu;
    std::uint64_t seed = 0;
};

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
