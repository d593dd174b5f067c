// Embind boundary of the MLP (src/nn/) and the GAN critics and trainer (src/gan/). The JS facade
// (bindings/js/gan.js) validates every argument; these wrappers only translate heap addresses.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <emscripten/bind.h>

#include "gan/datasets.hpp"
#include "gan/gradient_normalization.hpp"
#include "gan/trainer.hpp"
#include "gan/wgan_gp.hpp"
#include "nn/mlp.hpp"
#include "core/random.hpp"

namespace {

using kexue::Activation;

template <typename T>
T* at(std::uintptr_t address) {
    return reinterpret_cast<T*>(address);
}

Activation activation_from(const std::string& name) {
    Activation activation = Activation::relu;
    kexue::parse_activation(name, activation);  // the facade only passes known names
    return activation;
}

std::vector<std::size_t> sizes_from(std::uintptr_t sizes, std::uint32_t count) {
    const std::uint32_t* s = at<const std::uint32_t>(sizes);
    return std::vector<std::size_t>(s, s + count);
}

std::uint64_t seed_from(double seed) { return static_cast<std::uint64_t>(seed); }

// An MLP with its float32 parameters and a reusable workspace.
class MlpNative {
public:
    MlpNative(std::uintptr_t sizes, std::uint32_t count, const std::string& activation, double seed)
        : mlp_(sizes_from(sizes, count), activation_from(activation)),
          parameters_(mlp_.initial_parameters(seed_from(seed))) {}

    std::uint32_t parameter_count() const { return static_cast<std::uint32_t>(parameters_.size()); }
    void get_parameters(std::uintptr_t out) const { std::copy(parameters_.begin(), parameters_.end(), at<float>(out)); }
    void set_parameters(std::uintptr_t in) {
        const float* p = at<const float>(in);
        std::copy(p, p + parameters_.size(), parameters_.begin());
    }

    void forward(std::uintptr_t x, std::uint32_t rows, std::uintptr_t out) {
        mlp_.evaluate(parameters_.data(), at<const float>(x), rows, at<float>(out), workspace_);
    }
    void input_gradient(std::uintptr_t x, std::uint32_t rows, std::uintptr_t out) {
        mlp_.input_gradient(parameters_.data(), at<const float>(x), rows, at<float>(out), workspace_);
    }

    // result: float64 [loss, penalty].
    void critic_loss(std::uintptr_t real, std::uintptr_t fake, std::uintptr_t eps, std::uint32_t rows, double lambda,
                     bool one_sided, std::uintptr_t gradient, std::uintptr_t norms, std::uintptr_t result) {
        kexue::GradientPenaltyOptions options;
        options.lambda = lambda;
        options.one_sided = one_sided;
        const kexue::CriticLoss loss = kexue::wgan_gp_critic_loss(
            mlp_, parameters_.data(), at<const float>(real), at<const float>(fake), at<const float>(eps), rows, options,
            at<float>(gradient), at<float>(norms), wgan_workspace_);
        at<double>(result)[0] = loss.loss;
        at<double>(result)[1] = loss.penalty;
    }

    double generator_loss(std::uintptr_t fake, std::uint32_t rows, std::uintptr_t fake_gradient) {
        return kexue::wgan_generator_loss(mlp_, parameters_.data(), at<const float>(fake), rows,
                                          at<float>(fake_gradient), workspace_);
    }

    void normalized_critic(std::uintptr_t x, std::uint32_t rows, bool gran, double epsilon, std::uintptr_t value,
                           std::uintptr_t parameter_gradient, std::uintptr_t input_gradient) {
        kexue::NormalizedCriticOptions options;
        options.variant = gran ? kexue::GradientNormalization::gran : kexue::GradientNormalization::gn;
        options.epsilon = epsilon;
        kexue::normalized_critic(mlp_, parameters_.data(), at<const float>(x), rows, options,
                                 static_cast<const float*>(nullptr), at<float>(value), at<float>(parameter_gradient),
                                 at<float>(input_gradient), normalized_workspace_);
    }

private:
    kexue::Mlp<float> mlp_;
    std::vector<float> parameters_;
    kexue::MlpWorkspace<float> workspace_;
    kexue::WganWorkspace<float> wgan_workspace_;
    kexue::NormalizedCriticWorkspace<float> normalized_workspace_;
};

// config (float64): [dataset, lipschitz, lambda, oneSided, granEpsilon, nCritic, lr, beta1, beta2,
//                    batch, latent, seed, criticActivation, generatorActivation,
//                    criticHiddenCount, generatorHiddenCount, criticHidden..., generatorHidden...]
// dataset: 0 ring8, 1 grid25, 2 swissroll, 3 samples (points: pointCount × 2 floats);
// lipschitz: 0 gp, 1 gn, 2 gran, 3 none; activations by index in kActivations.
const char* const kActivations[] = {"relu", "leaky_relu", "tanh", "sigmoid", "softplus", "gelu", "linear"};

kexue::GanTrainer* make_trainer(std::uintptr_t config_address, std::uintptr_t points, std::uint32_t point_count) {
    const double* c = at<const double>(config_address);
    kexue::ToyDataset dataset = kexue::ToyDataset::ring8();
    switch (static_cast<int>(c[0])) {
        case 1: dataset = kexue::ToyDataset::grid25(); break;
        case 2: dataset = kexue::ToyDataset::swissroll(); break;
        case 3: dataset = kexue::ToyDataset::from_samples(at<const float>(points), point_count); break;
        default: break;
    }
    kexue::GanTrainerOptions o;
    const kexue::LipschitzMethod methods[] = {kexue::LipschitzMethod::gp, kexue::LipschitzMethod::gn,
                                              kexue::LipschitzMethod::gran, kexue::LipschitzMethod::none};
    o.lipschitz = methods[static_cast<int>(c[1])];
    o.lambda = c[2];
    o.one_sided = c[3] != 0;
    o.gran_epsilon = c[4];
    o.n_critic = static_cast<std::size_t>(c[5]);
    o.lr = c[6];
    o.beta1 = c[7];
    o.beta2 = c[8];
    o.batch = static_cast<std::size_t>(c[9]);
    o.latent = static_cast<std::size_t>(c[10]);
    o.seed = seed_from(c[11]);
    o.critic_activation = activation_from(kActivations[static_cast<int>(c[12])]);
    o.generator_activation = activation_from(kActivations[static_cast<int>(c[13])]);
    const std::size_t critic_count = static_cast<std::size_t>(c[14]);
    const std::size_t generator_count = static_cast<std::size_t>(c[15]);
    o.critic_hidden.assign(c + 16, c + 16 + critic_count);
    o.generator_hidden.assign(c + 16 + critic_count, c + 16 + critic_count + generator_count);
    return new kexue::GanTrainer(std::move(dataset), o);
}

// result: float64 [criticLoss, generatorLoss, gradNorm].
void trainer_step(kexue::GanTrainer& trainer, std::uint32_t steps, std::uintptr_t result) {
    kexue::GanStepResult r{};
    for (std::uint32_t i = 0; i < steps; ++i) r = trainer.step();
    at<double>(result)[0] = r.critic_loss;
    at<double>(result)[1] = r.generator_loss;
    at<double>(result)[2] = r.gradient_norm;
}

void trainer_sample(kexue::GanTrainer& trainer, std::uint32_t count, std::uintptr_t out) {
    trainer.sample(count, at<float>(out));
}

// result: float64 [highQuality, modes, reverseKL, medianDistance].
void trainer_evaluate(kexue::GanTrainer& trainer, std::uint32_t count, std::uintptr_t result) {
    const kexue::GanMetrics m = trainer.evaluate(count);
    double* r = at<double>(result);
    r[0] = m.high_quality;
    r[1] = m.modes;
    r[2] = m.reverse_kl;
    r[3] = m.median_distance;
}

double trainer_steps(const kexue::GanTrainer& trainer) { return static_cast<double>(trainer.steps()); }

std::uint32_t trainer_parameter_count(const kexue::GanTrainer& trainer, bool generator) {
    return static_cast<std::uint32_t>(generator ? trainer.generator().parameter_count()
                                                : trainer.critic().parameter_count());
}

void trainer_parameters(kexue::GanTrainer& trainer, bool generator, std::uintptr_t out) {
    const std::vector<float>& p = generator ? trainer.generator_parameters() : trainer.critic_parameters();
    std::copy(p.begin(), p.end(), at<float>(out));
}

// count points of a built-in toy dataset (0 ring8, 1 grid25, 2 swissroll) into out (count × 2).
void dataset_sample(std::uint32_t kind, std::uint32_t count, double seed, std::uintptr_t out) {
    const kexue::ToyDataset dataset = kind == 1   ? kexue::ToyDataset::grid25()
                                      : kind == 2 ? kexue::ToyDataset::swissroll()
                                                  : kexue::ToyDataset::ring8();
    kexue::Xoshiro256 rng(static_cast<std::uint64_t>(seed));
    dataset.sample(rng, count, at<float>(out));
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_gan) {
    emscripten::function("ganDatasetSample", &dataset_sample);
    emscripten::class_<MlpNative>("MlpNative")
        .constructor<std::uintptr_t, std::uint32_t, const std::string&, double>()
        .function("parameterCount", &MlpNative::parameter_count)
        .function("getParameters", &MlpNative::get_parameters)
        .function("setParameters", &MlpNative::set_parameters)
        .function("forward", &MlpNative::forward)
        .function("inputGradient", &MlpNative::input_gradient)
        .function("criticLoss", &MlpNative::critic_loss)
        .function("generatorLoss", &MlpNative::generator_loss)
        .function("normalizedCritic", &MlpNative::normalized_critic);
    emscripten::class_<kexue::GanTrainer>("GanTrainerNative")
        .constructor(&make_trainer, emscripten::allow_raw_pointers())
        .function("step", &trainer_step)
        .function("sample", &trainer_sample)
        .function("evaluate", &trainer_evaluate)
        .function("steps", &trainer_steps)
        .function("parameterCount", &trainer_parameter_count)
        .function("parameters", &trainer_parameters);
}
