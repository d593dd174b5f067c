#include "gan/trainer.hpp"

#include <algorithm>
#include <cmath>

#include "gan/penalty_inequality.hpp"

namespace kexue {
namespace {

AdamOptions adam_options(const GanTrainerOptions& o) { return {o.lr, o.beta1, o.beta2, 1e-8}; }

}  // namespace

GanTrainer::GanTrainer(ToyDataset dataset, const GanTrainerOptions& options)
    : dataset_(std::move(dataset)),
      options_(options),
      rng_(options.seed),
      sample_rng_(options.seed ^ 0x9a3b5c7d1e2f4a6bULL),
      critic_(mlp_layer_sizes(2, options.critic.hidden, 1), options.critic.activation),
      generator_(mlp_layer_sizes(options.generator.latent, options.generator.hidden, 2), options.generator.activation),
      critic_adam_(critic_.parameter_count(), adam_options(options)),
      generator_adam_(generator_.parameter_count(), adam_options(options)) {
    // Separate streams for the two initialisations and the training draws, all from one seed.
    critic_parameters_ = critic_.initial_parameters(options.seed * 3 + 1, options.critic.initialization);
    generator_parameters_ = generator_.initial_parameters(options.seed * 3 + 2, options.generator.initialization);
    reference_points_ = dataset_.metric_reference_points();
}

void GanTrainer::generate(Xoshiro256& rng, std::size_t count, float* out) {
    latent_.resize(count * options_.generator.latent);
    for (auto& z : latent_) z = static_cast<float>(rng.normal());
    generator_.forward(generator_parameters_.data(), latent_.data(), count, generator_ws_);
    std::copy(generator_ws_.z[generator_.layers()].begin(), generator_ws_.z[generator_.layers()].end(), out);
}

double GanTrainer::critic_step() {
    const std::size_t m = options_.batch;
    real_.resize(2 * m);
    fake_.resize(2 * m);
    dataset_.sample(rng_, m, real_.data());
    generate(rng_, m, fake_.data());
    gradient_.resize(critic_.parameter_count());
    double loss = 0;
    const bool side = options_.lipschitz == LipschitzMethod::input_side ||
                      options_.lipschitz == LipschitzMethod::parameter_side;
    if (options_.lipschitz == LipschitzMethod::gp || options_.lipschitz == LipschitzMethod::none || side) {
        eps_.resize(m);
        for (auto& e : eps_) e = static_cast<float>(rng_.uniform());
        norms_.resize(m);
        GradientPenaltyOptions gp;
        gp.lambda = options_.lipschitz == LipschitzMethod::gp ? options_.gradient_penalty.lambda : 0.0;
        gp.penalty = options_.gradient_penalty.penalty;
        loss = wgan_gp_critic_loss(critic_, critic_parameters_.data(), real_.data(), fake_.data(), eps_.data(), m,
                                   gp, gradient_.data(), norms_.data(), wgan_ws_)
                   .loss;
        double sum = 0;
        for (float n : norms_) sum += n;
        last_gradient_norm_ = sum / double(m);
        if (side) {
            // λ E side(x̂) at the gradient penalty's interpolates x̂ = t x + (1 − t) x̃.
            both_.resize(2 * m);
            for (std::size_t i = 0; i < 2 * m; ++i) {
                const float t = eps_[i / 2];
                both_[i] = t * real_[i] + (1 - t) * fake_[i];
            }
            const double lambda = options_.gradient_penalty.lambda;
            const double value = penalty_inequality_gradient(
                critic_, critic_parameters_.data(), both_.data(), m,
                options_.lipschitz == LipschitzMethod::input_side ? PenaltyInequalitySide::input
                                                                  : PenaltyInequalitySide::parameter,
                MatrixNorm::spectral, lambda / double(m), gradient_.data());
            loss += lambda * value / double(m);
        }
    } else {
        // L_D = mean f̂(fake) − mean f̂(real): one pass over [fake; real] with weights ±1/m.
        NormalizedCriticOptions normalized;
        normalized.variant = options_.lipschitz == LipschitzMethod::gn ? GradientNormalization::gn
                                                                        : GradientNormalization::gran;
        normalized.eps = options_.eps;
        both_.resize(4 * m);
        std::copy(fake_.begin(), fake_.begin() + 2 * m, both_.begin());
        std::copy(real_.begin(), real_.begin() + 2 * m, both_.begin() + 2 * m);
        weights_.assign(2 * m, float(1.0 / double(m)));
        std::fill(weights_.begin() + m, weights_.end(), float(-1.0 / double(m)));
        norms_.resize(2 * m);
        fake_gradient_.resize(4 * m);
        normalized_critic(critic_, critic_parameters_.data(), both_.data(), 2 * m, normalized, weights_.data(),
                          norms_.data(), gradient_.data(), fake_gradient_.data(), normalized_ws_);
        double sum = 0, norm_sum = 0;
        for (std::size_t i = 0; i < 2 * m; ++i) {
            sum += double(weights_[i]) * double(norms_[i]);
            // input_gradient rows carry the weight ±1/m: undo it for the reported norm.
            norm_sum += std::hypot(double(fake_gradient_[2 * i]), double(fake_gradient_[2 * i + 1])) * double(m);
        }
        loss = sum;
        last_gradient_norm_ = norm_sum / double(2 * m);
    }
    critic_adam_.step(critic_parameters_.data(), gradient_.data());
    return loss;
}

double GanTrainer::generator_step() {
    const std::size_t m = options_.batch;
    fake_.resize(2 * m);
    latent_.resize(m * options_.generator.latent);
    for (auto& z : latent_) z = static_cast<float>(rng_.normal());
    generator_.forward(generator_parameters_.data(), latent_.data(), m, generator_ws_);
    const std::vector<float>& generated = generator_ws_.z[generator_.layers()];
    fake_gradient_.resize(2 * m);
    double loss = 0;
    if (options_.lipschitz != LipschitzMethod::gn && options_.lipschitz != LipschitzMethod::gran) {
        loss = wgan_generator_loss(critic_, critic_parameters_.data(), generated.data(), m, fake_gradient_.data(),
                                   critic_ws_);
    } else {
        NormalizedCriticOptions normalized;
        normalized.variant = options_.lipschitz == LipschitzMethod::gn ? GradientNormalization::gn
                                                                        : GradientNormalization::gran;
        normalized.eps = options_.eps;
        weights_.assign(m, float(-1.0 / double(m)));
        norms_.resize(m);
        normalized_critic(critic_, critic_parameters_.data(), generated.data(), m, normalized, weights_.data(),
                          norms_.data(), static_cast<float*>(nullptr), fake_gradient_.data(), normalized_ws_);
        for (std::size_t i = 0; i < m; ++i) loss -= double(norms_[i]);
        loss /= double(m);
    }
    // Back through the generator with ∂L_G/∂G(z) as the output cotangent.
    generator_.reverse(generator_parameters_.data(), fake_gradient_.data(), generator_ws_);
    gradient_.assign(generator_.parameter_count(), 0.0f);
    generator_.accumulate_parameter_gradient(generator_ws_, nullptr, gradient_.data());
    generator_adam_.step(generator_parameters_.data(), gradient_.data());
    return loss;
}

GanStepResult GanTrainer::step() {
    double critic_loss = 0;
    for (std::size_t k = 0; k < options_.n_critic; ++k) critic_loss = critic_step();
    const double generator_loss = generator_step();
    ++steps_;
    return {critic_loss, generator_loss, last_gradient_norm_};
}

void GanTrainer::sample(std::size_t count, float* out) { generate(sample_rng_, count, out); }

GanMetrics GanTrainer::evaluate(std::size_t count) {
    std::vector<float> samples(2 * count);
    generate(sample_rng_, count, samples.data());
    if (dataset_.mode_count() > 0) {
        return mode_metrics(samples.data(), count, dataset_.modes().data(), dataset_.mode_count(),
                            dataset_.mode_std());
    }
    return nearest_point_metrics(samples.data(), count, reference_points_.data(), reference_points_.size() / 2);
}

}  // namespace kexue
