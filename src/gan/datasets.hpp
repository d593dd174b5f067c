// The 2-D toy datasets of the mode-collapse literature (VEEGAN, PacGAN, WGAN-GP's gan_toy.py):
//   ring8      8 Gaussians evenly on the circle of radius 1, std 0.01
//   grid25     25 Gaussians at {−4, −2, 0, 2, 4}², std 0.05
//   swissroll  sklearn's make_swiss_roll (t = 1.5π(1 + 2u), (t cos t, t sin t), noise 0.25) / 7.5,
//              as gan_toy.py builds it; it has no modes
//   samples    the user's own points, drawn uniformly with replacement
// Shapes: modes K × 2; samples n × 2 (row-major).
#pragma once

#include <cstddef>
#include <vector>

#include "core/random.hpp"

namespace kexue {

enum class ToyDatasetKind { ring8, grid25, swissroll, samples };

class ToyDataset {
public:
    static ToyDataset ring8();
    static ToyDataset grid25();
    static ToyDataset swissroll();
    static ToyDataset from_samples(const float* points, std::size_t count);

    ToyDatasetKind kind() const { return kind_; }
    const std::vector<double>& modes() const { return modes_; }  // K × 2, empty without modes
    std::size_t mode_count() const { return modes_.size() / 2; }
    double mode_std() const { return std_; }
    const std::vector<float>& points() const { return points_; }  // user samples

    void sample(Xoshiro256& rng, std::size_t count, float* out) const;

private:
    ToyDatasetKind kind_ = ToyDatasetKind::ring8;
    std::vector<double> modes_;
    double std_ = 0;
    std::vector<float> points_;
};

}  // namespace kexue
