// A small 2-D diffusion model trained in C++ on the GAN's toy datasets (docs/math.md §7.11;
// kexue.fm/archives/9119): an Mlp ε-predictor ε_θ(x_t, t) whose input is x_t next to a sinusoidal
// embedding of τ = t/T (Fourier features at octave frequencies; Ho et al. use the transformer's
// sinusoidal position encoding of t, whose highest frequencies a small MLP cannot use),
//   input = [x_t (2), sin(2^k π τ), cos(2^k π τ) (k < E/2)],
// trained on DDPM's simple loss L = mean ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖², t ~ U{1..T},
// with the library's one Adam (optim/adam.hpp) and one random stream (core/random.hpp).
// Shapes (row-major): x rows × 2, the network input rows × (2 + E).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "core/random.hpp"
#include "diffusion/diffusion.hpp"
#include "gan/datasets.hpp"
#include "gan/metrics.hpp"
#include "nn/mlp.hpp"
#include "optim/adam.hpp"

namespace kexue {

struct DiffusionTrainerOptions {
    ToyDatasetKind dataset = ToyDatasetKind::ring8;
    LinearScheduleOptions schedule;                 // T = 1000, β 1e−4 → 0.02
    std::vector<std::size_t> hidden{64, 64, 64};
    Activation activation = Activation::relu;
    std::size_t embedding = 16;                     // E, even
    double lr = 3e-3;  // 1e−3 needs ~3× the steps on ring8
    double beta1 = 0.9;
    double beta2 = 0.999;
    std::size_t batch = 256;
    std::uint64_t seed = 0;
};

template <typename Visitor>
void visit_fields(DiffusionTrainerOptions& o, Visitor&& field) {
    field("dataset", o.dataset);
    field("schedule", o.schedule);
    field("hidden", o.hidden, kPositive);
    field("activation", o.activation);
    field("embedding", o.embedding, kPositive);
    field("lr", o.lr);
    field("beta1", o.beta1);
    field("beta2", o.beta2);
    field("batch", o.batch, kPositive);
    field("seed", o.seed);
}

// The schedule, E even, lr > 0, β in [0, 1), sizes ≥ 1, the network with its Adam moments and
// the batch workspaces in the heap.
Error diffusion_trainer_validate(const DiffusionTrainerOptions& options);

// The sampler options of DiffusionTrainer.sample/evaluate: no rows (n is an argument), no beta
// (the trainer's schedule), dim 2; and n's workspace in the heap.
Error diffusion_trainer_sample_validate(const DiffusionTrainerOptions& trainer, const DiffusionSampleOptions& options,
                                        const std::string& name, std::size_t n);

// The options of DiffusionTrainer.predict(x, { rows, t }).
struct DiffusionPredictOptions {
    std::size_t rows = 0;
    std::size_t t = 0;  // 1..T
};

template <typename Visitor>
void visit_fields(DiffusionPredictOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("t", o.t, kRequired | kPositive);
}

// t ≤ T, x, ε and the model's workspace in the heap.
Error diffusion_predict_validate(const DiffusionTrainerOptions& trainer, const DiffusionPredictOptions& options);

// The ε-predictor: an Mlp (2 + E) → hidden… → 2 with the time embedding.
class DiffusionModel {
public:
    explicit DiffusionModel(const DiffusionTrainerOptions& options);

    const Mlp<float>& mlp() const { return mlp_; }
    std::vector<float>& parameters() { return parameters_; }
    std::size_t embedding() const { return embedding_; }

    // Writes the network input for rows × 2 points x at per-row timesteps t (or one t for all
    // when t_all > 0) into `input` (rows × (2 + E)).
    void build_input(const float* x, std::size_t rows, const std::size_t* t, std::size_t t_all,
                     std::vector<float>& input) const;
    // ε_θ(x, t) for one t, rows × 2 → eps (rows × 2).
    void predict(const float* x, std::size_t rows, std::size_t t, float* eps);

private:
    std::size_t embedding_;
    std::size_t steps_;  // T
    Mlp<float> mlp_;
    std::vector<float> parameters_;
    std::vector<float> input_;
    MlpWorkspace<float> ws_;
};

class DiffusionTrainer {
public:
    DiffusionTrainer(ToyDataset dataset, const DiffusionTrainerOptions& options);

    // One Adam step on a batch; returns the batch's loss.
    double step();
    // count × 2 samples with the given sampler (its seed is the sampler's own stream).
    void sample(std::size_t count, const DiffusionSampleOptions& options, float* out);
    GanMetrics evaluate(std::size_t count, const DiffusionSampleOptions& options);
    // The mode metrics (or, for user samples, the nearest-point ones) of count × 2 samples.
    GanMetrics metrics(const float* samples, std::size_t count) const;

    std::size_t steps() const { return steps_; }
    const DiffusionSchedule& schedule() const { return schedule_; }
    DiffusionModel& model() { return model_; }

private:
    ToyDataset dataset_;
    DiffusionTrainerOptions options_;
    DiffusionSchedule schedule_;
    Xoshiro256 rng_;
    DiffusionModel model_;
    Adam adam_;
    std::vector<float> x0_, eps_, xt_, input_, seed_, gradient_, reference_points_;
    std::vector<std::size_t> t_;
    MlpWorkspace<float> ws_;
    std::size_t steps_ = 0;
};

// A sampling run of a trainer's model one timestep at a time, so that a caller can report progress
// and stop between steps; DiffusionTrainer::sample is this run to the end (the same numbers).
class DiffusionTrainerSampling {
public:
    DiffusionTrainerSampling(DiffusionTrainer& trainer, std::size_t count, const DiffusionSampleOptions& options);
    bool done() const { return diverged_ || sampler_.done(); }
    std::size_t total() const { return total_; }
    std::size_t completed() const { return diverged_ ? total_ : total_ - sampler_.remaining(); }
    // One step: ε_θ at the current t, then the sampler's update. A diverged model's NaN fills the
    // samples and ends the run, rather than stopping it midway.
    void advance();
    // count × 2 samples: the final ones once done (NaN if the model diverged).
    void samples(float* out) const;

private:
    DiffusionTrainer& trainer_;
    std::size_t count_, total_;
    DiffusionSamplerState sampler_;
    std::vector<float> eps_;
    bool diverged_ = false;
};

}  // namespace kexue
