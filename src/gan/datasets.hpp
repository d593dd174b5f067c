// The 2-D toy datasets of the mode-collapse literature (VEEGAN, PacGAN, WGAN-GP's gan_toy.py):
//   ring8      8 Gaussians evenly on the circle of radius 1, std 0.01
//   grid25     25 Gaussians at {−4, −2, 0, 2, 4}², std 0.05
//   swissroll  sklearn's make_swiss_roll (t = 1.5π(1 + 2u), (t cos t, t sin t), noise 0.25) / 7.5,
//              as gan_toy.py builds it; it has no modes
//   samples    the user's own points, drawn uniformly with replacement
// Shapes: modes K × 2; samples n × 2 (row-major).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "core/random.hpp"

namespace kexue {

enum class ToyDatasetKind { ring8, grid25, swissroll, samples };

// The built-in sets by name ('ring8', 'grid25', 'swissroll'). `samples` has no name: a caller
// chooses it by handing over the points (ToyDataset::from_samples; a Float32Array in JS).
template <>
struct EnumNames<ToyDatasetKind> {
    static constexpr EnumEntry<ToyDatasetKind> entries[] = {{"ring8", ToyDatasetKind::ring8},
                                                            {"grid25", ToyDatasetKind::grid25},
                                                            {"swissroll", ToyDatasetKind::swissroll}};
};

// The options of gan.sampleDataset(name, n, { seed }).
struct ToyDatasetSampleOptions {
    std::uint64_t seed = 0;
};

template <typename Visitor>
void visit_fields(ToyDatasetSampleOptions& o, Visitor&& field) {
    field("seed", o.seed);
}

// n ≥ 1 points of a built-in set, whose n × 2 floats fit in the heap.
Error toy_dataset_sample_validate(ToyDatasetKind kind, std::size_t n);

class ToyDataset {
public:
    static ToyDataset ring8();
    static ToyDataset grid25();
    static ToyDataset swissroll();
    static ToyDataset from_samples(const float* points, std::size_t count);
    // A built-in set by kind (not `samples`).
    static ToyDataset named(ToyDatasetKind kind);

    ToyDatasetKind kind() const { return kind_; }
    const std::vector<double>& modes() const { return modes_; }  // K × 2, empty without modes
    std::size_t mode_count() const { return modes_.size() / 2; }
    double mode_std() const { return std_; }
    const std::vector<float>& points() const { return points_; }  // user samples

    void sample(Xoshiro256& rng, std::size_t count, float* out) const;

    // The points generated samples are scored against by nearest-point metrics (metrics.hpp) when
    // the set has no modes: 2,500 fixed points of a curve (swissroll), or the user's samples;
    // empty for the mode sets. The GAN and diffusion trainers both score with these.
    std::vector<float> metric_reference_points() const;

private:
    ToyDatasetKind kind_ = ToyDatasetKind::ring8;
    std::vector<double> modes_;
    double std_ = 0;
    std::vector<float> points_;
};

}  // namespace kexue
