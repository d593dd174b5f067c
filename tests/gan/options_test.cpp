// The validators of the MLP and GAN entry points (mlp.hpp, wgan_gp.hpp, gradient_normalization.hpp,
// datasets.hpp, trainer.hpp), called directly: each error names its parameter, with the text the JS
// API throws after "<function>: ".
#include <gtest/gtest.h>

#include "../helpers/validation.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "gan/datasets.hpp"
#include "gan/gradient_normalization.hpp"
#include "gan/trainer.hpp"
#include "gan/wgan_gp.hpp"
#include "nn/mlp.hpp"

namespace kexue {
namespace {

using testing::expect_error;
using testing::field_names;



TEST(MlpValidate, SizesActivationSeed) {
    EXPECT_EQ(field_names(MlpOptions{}),
              (std::vector<std::string>{"sizes", "activation", "init", "outputInit", "bias", "seed"}));
    EXPECT_FALSE(mlp_validate({{2, 3, 1}, Activation::tanh, 7}));
    expect_error(mlp_validate({{2}, Activation::relu, 0}), ErrorKind::range, "sizes",
                 "sizes must have at least 2 entries, received 1");
    expect_error(mlp_validate({{2, 0, 1}, Activation::relu, 0}), ErrorKind::range, "sizes[1]",
                 "sizes[1] must be a positive integer, received 0");
    // 65536 × 65536 weights: 4294967296 + 65536 floats, beyond the heap (64-bit count, no wrap).
    const Error big = mlp_validate({{65536, 65536}, Activation::relu, 0});
    expect_error(big, ErrorKind::range, "parameters",
                 "parameters of shape count=4295032832 needs 4295032832 floats (17180131328 bytes), more than "
                 "the 2 GiB WASM heap can hold");
    EXPECT_EQ(mlp_parameter_count({3, 5, 2}), 3u * 5 + 5 + 5 * 2 + 2);
    // No wrap: exact where the count fits in 64 bits (32-bit size_t in WASM), saturated where not.
    const std::size_t huge = std::numeric_limits<std::size_t>::max();
    const std::uint64_t h = huge;
    EXPECT_EQ(mlp_parameter_count({huge, huge}), sizeof(std::size_t) == 8 ? UINT64_MAX : h * h + h);
}

TEST(MlpValidate, BatchAndSingleOutput) {
    EXPECT_EQ(field_names(MlpBatchOptions{}), (std::vector<std::string>{"rows"}));
    EXPECT_FALSE(mlp_batch_validate({2, 8, 1}, 16, 4));
    expect_error(mlp_batch_validate({2, 8, 1}, 0, 2), ErrorKind::range, "rows",
                 "rows must be a positive integer, received 0");
    const Error big = mlp_batch_validate({2, 4096, 1}, 1 << 20, 8);
    ASSERT_TRUE(big);
    EXPECT_EQ(big.parameter, "rows");
    EXPECT_NE(big.text.find("more than the 2 GiB WASM heap can hold"), std::string::npos) << big.text;
    EXPECT_FALSE(mlp_single_output_validate({2, 1}, "sizes", "needs a network with one output"));
    expect_error(mlp_single_output_validate({2, 2}, "sizes", "needs a network with one output"), ErrorKind::range,
                 "sizes", "needs a network with one output, received sizes [2, 2]");
}

TEST(WganValidate, CriticLossGeneratorLossInterpolation) {
    EXPECT_EQ(field_names(CriticLossOptions{}), (std::vector<std::string>{"rows", "lambda", "penalty"}));
    CriticLossOptions o;
    o.rows = 4;
    EXPECT_FALSE(wgan_critic_loss_validate({2, 3, 1}, o));
    expect_error(wgan_critic_loss_validate({2, 2}, o), ErrorKind::range, "critic",
                 "critic must have one output (sizes ending in 1), received sizes [2, 2]");
    o.gradient_penalty.lambda = -1;
    expect_error(wgan_critic_loss_validate({2, 3, 1}, o), ErrorKind::range, "lambda",
                 "lambda must be a finite number ≥ 0, received -1");
    expect_error(gradient_penalty_validate(o.gradient_penalty), ErrorKind::range, "lambda",
                 "lambda must be a finite number ≥ 0, received -1");
    o.gradient_penalty.lambda = 0;
    o.rows = 0;
    expect_error(wgan_critic_loss_validate({2, 3, 1}, o), ErrorKind::range, "rows",
                 "rows must be a positive integer, received 0");

    const float good[] = {0, 0.5f, 1};
    EXPECT_FALSE(wgan_interpolation_validate(good, 3));
    const float above[] = {0.5f, 1.5f};
    expect_error(wgan_interpolation_validate(above, 2), ErrorKind::range, "interpolation[1]",
                 "interpolation[1] must be in [0, 1], received 1.5");
    const float nan[] = {std::numeric_limits<float>::quiet_NaN()};
    expect_error(wgan_interpolation_validate(nan, 1), ErrorKind::range, "interpolation[0]",
                 "interpolation[0] must be in [0, 1], received NaN");

    EXPECT_FALSE(wgan_generator_loss_validate({2, 1}, {3}));
    expect_error(wgan_generator_loss_validate({2, 3}, {3}), ErrorKind::range, "critic",
                 "critic must have one output (sizes ending in 1), received sizes [2, 3]");
    EXPECT_STREQ(enum_name(PenaltySide::one_sided), "one-sided");
    EXPECT_EQ(enum_choices<PenaltySide>(), "one of 'two-sided', 'one-sided'");
}

TEST(GradientNormalizationValidate, VariantAndEps) {
    EXPECT_EQ(field_names(NormalizedCriticCallOptions{}), (std::vector<std::string>{"rows", "variant", "eps"}));
    NormalizedCriticCallOptions o;
    o.rows = 2;
    EXPECT_FALSE(normalized_critic_validate({2, 1}, o));  // gn needs no ε
    o.normalization.variant = GradientNormalization::gran;
    expect_error(normalized_critic_validate({2, 1}, o), ErrorKind::type, "eps",
                 "eps is required (a number > 0), received undefined");
    o.normalization.eps = 0.0;
    expect_error(normalized_critic_options_validate(o.normalization), ErrorKind::range, "eps",
                 "eps must be a finite number > 0, received 0");
    o.normalization.eps = 0.1;
    EXPECT_FALSE(normalized_critic_validate({2, 1}, o));
    expect_error(normalized_critic_validate({2, 4, 2}, o), ErrorKind::range, "critic",
                 "critic must have one output (sizes ending in 1), received sizes [2, 4, 2]");
    EXPECT_EQ(enum_choices<GradientNormalization>(), "one of 'gn', 'gran'");
}

TEST(GanDatasetValidate, NamesAndCounts) {
    EXPECT_EQ(enum_choices<ToyDatasetKind>(), "one of 'ring8', 'grid25', 'swissroll'");
    EXPECT_EQ(field_names(ToyDatasetSampleOptions{}), (std::vector<std::string>{"seed"}));
    EXPECT_FALSE(toy_dataset_sample_validate(ToyDatasetKind::grid25, 10));
    expect_error(toy_dataset_sample_validate(ToyDatasetKind::ring8, 0), ErrorKind::range, "n",
                 "n must be a positive integer, received 0");
    const Error big = toy_dataset_sample_validate(ToyDatasetKind::ring8, std::size_t(1) << 30);
    ASSERT_TRUE(big);
    EXPECT_EQ(big.parameter, "samples");
    const Error samples = toy_dataset_sample_validate(ToyDatasetKind::samples, 10);
    ASSERT_TRUE(samples);
    EXPECT_EQ(samples.parameter, "name");
    EXPECT_EQ(ToyDataset::named(ToyDatasetKind::grid25).mode_count(), 25u);
}

TEST(GanTrainerValidate, EveryRule) {
    EXPECT_EQ(field_names(GanTrainerOptions{}),
              (std::vector<std::string>{"dataset", "preset", "lipschitz", "lambda", "penalty", "eps", "nCritic", "lr",
                                        "beta1", "beta2", "batch", "critic", "generator", "seed"}));
    EXPECT_EQ(field_names(GanGeneratorOptions{}),
              (std::vector<std::string>{"latent", "hidden", "activation", "init", "outputInit", "bias"}));
    EXPECT_EQ(field_names(GanCriticOptions{}),
              (std::vector<std::string>{"hidden", "activation", "init", "outputInit", "bias"}));
    // Both networks start as gan_toy.py's: He-uniform hidden layers, Glorot output, zero biases.
    for (const MlpInitOptions& init : {GanTrainerOptions{}.critic.initialization, GanTrainerOptions{}.generator.initialization}) {
        EXPECT_EQ(init.init, MlpInit::he);
        EXPECT_EQ(init.output_init, MlpInit::glorot);
        EXPECT_EQ(init.bias, MlpBiasInit::zero);
    }
    EXPECT_FALSE(gan_trainer_validate({}));
    const auto with = [](auto change) {
        GanTrainerOptions o;
        change(o);
        return gan_trainer_validate(o);
    };
    expect_error(with([](auto& o) { o.gradient_penalty.lambda = -0.5; }), ErrorKind::range, "lambda",
                 "lambda must be a finite number ≥ 0, received -0.5");
    expect_error(with([](auto& o) { o.lipschitz = LipschitzMethod::gran; }), ErrorKind::type, "eps",
                 "eps is required (a number > 0), received undefined");
    expect_error(with([](auto& o) { o.lipschitz = LipschitzMethod::gran; o.eps = 0.0; }), ErrorKind::range, "eps",
                 "eps must be a finite number > 0, received 0");
    EXPECT_FALSE(with([](auto& o) { o.lipschitz = LipschitzMethod::gran; o.eps = 0.1; }));
    expect_error(with([](auto& o) { o.n_critic = 0; }), ErrorKind::range, "nCritic",
                 "nCritic must be a positive integer, received 0");
    expect_error(with([](auto& o) { o.lr = 0; }), ErrorKind::range, "lr", "lr must be a finite number > 0, received 0");
    expect_error(with([](auto& o) { o.beta1 = 1; }), ErrorKind::range, "beta1",
                 "beta1 must be a finite number in [0, 1), received 1");
    expect_error(with([](auto& o) { o.beta2 = -0.1; }), ErrorKind::range, "beta2",
                 "beta2 must be a finite number in [0, 1), received -0.1");
    expect_error(with([](auto& o) { o.batch = 0; }), ErrorKind::range, "batch",
                 "batch must be a positive integer, received 0");
    expect_error(with([](auto& o) { o.critic.hidden = {8, 0}; }), ErrorKind::range, "critic.hidden[1]",
                 "critic.hidden[1] must be a positive integer, received 0");
    expect_error(with([](auto& o) { o.generator.latent = 0; }), ErrorKind::range, "generator.latent",
                 "generator.latent must be a positive integer, received 0");
    expect_error(with([](auto& o) { o.generator.hidden = {0}; }), ErrorKind::range, "generator.hidden[0]",
                 "generator.hidden[0] must be a positive integer, received 0");
    // 64-bit parameter counts: a 2^20-wide layer pair has 2^40 weights.
    const Error wide = with([](auto& o) { o.critic.hidden = {1 << 20, 1 << 20}; });
    ASSERT_TRUE(wide);
    EXPECT_EQ(wide.parameter, "critic.hidden");
    EXPECT_NE(wide.text.find("more than the 2 GiB WASM heap can hold"), std::string::npos) << wide.text;
    const Error generator = with([](auto& o) { o.generator.hidden = {1 << 16, 1 << 16}; });
    ASSERT_TRUE(generator);
    EXPECT_EQ(generator.parameter, "generator.hidden");
    const Error batch = with([](auto& o) { o.batch = std::size_t(1) << 24; });
    ASSERT_TRUE(batch);
    EXPECT_EQ(batch.parameter, "batch");
    // The documented defaults fit.
    EXPECT_FALSE(with([](auto& o) { o.batch = 256; o.critic.hidden = {512, 512}; }));
}

TEST(GanTrainerValidate, PresetsAndSamples) {
    const GanTrainerOptions paper = gan_preset_options(GanPreset::paper);
    EXPECT_EQ(paper.lr, 1e-4);
    EXPECT_EQ(paper.beta1, 0.0);
    EXPECT_EQ(paper.gradient_penalty.lambda, 10.0);
    const GanTrainerOptions toy = gan_preset_options(GanPreset::toy);
    EXPECT_EQ(toy.preset, GanPreset::toy);
    EXPECT_EQ(toy.lr, 1e-3);
    EXPECT_EQ(toy.beta1, 0.5);
    EXPECT_EQ(toy.beta2, 0.9);
    EXPECT_EQ(toy.n_critic, 5u);
    EXPECT_EQ(toy.gradient_penalty.lambda, 0.1);
    FieldNames preset_names;
    GanTrainerOptions o;
    visit_preset_fields(o, preset_names);
    EXPECT_EQ(preset_names.names, (std::vector<std::string>{"lr", "beta1", "beta2", "nCritic", "lambda"}));
    EXPECT_EQ(enum_choices<GanPreset>(), "one of 'paper', 'toy'");
    EXPECT_EQ(enum_choices<LipschitzMethod>(), "one of 'gp', 'gn', 'gran', 'none', 'input-side', 'parameter-side'");

    EXPECT_FALSE(gan_sample_validate(o, "n", 2500));
    expect_error(gan_sample_validate(o, "n", 0), ErrorKind::range, "n", "n must be a positive integer, received 0");
    const Error big = gan_sample_validate(o, "n", std::size_t(1) << 29);
    ASSERT_TRUE(big);
    EXPECT_EQ(big.parameter, "samples");
}

}  // namespace
}  // namespace kexue
