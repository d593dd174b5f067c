#include "gan/datasets.hpp"

#include <algorithm>
#include <cmath>

#include "core/validate.hpp"

namespace kexue {

namespace {
constexpr double kPi = 3.141592653589793238463;
}

ToyDataset ToyDataset::ring8() {
    ToyDataset d;
    d.kind_ = ToyDatasetKind::ring8;
    d.std_ = 0.01;
    for (int k = 0; k < 8; ++k) {
        d.modes_.push_back(std::cos(2 * kPi * k / 8));
        d.modes_.push_back(std::sin(2 * kPi * k / 8));
    }
    return d;
}

ToyDataset ToyDataset::grid25() {
    ToyDataset d;
    d.kind_ = ToyDatasetKind::grid25;
    d.std_ = 0.05;
    for (int i = -2; i <= 2; ++i) {
        for (int j = -2; j <= 2; ++j) {
            d.modes_.push_back(2.0 * i);
            d.modes_.push_back(2.0 * j);
        }
    }
    return d;
}

ToyDataset ToyDataset::swissroll() {
    ToyDataset d;
    d.kind_ = ToyDatasetKind::swissroll;
    return d;
}

ToyDataset ToyDataset::from_samples(const float* points, std::size_t count) {
    ToyDataset d;
    d.kind_ = ToyDatasetKind::samples;
    d.points_.assign(points, points + 2 * count);
    return d;
}

ToyDataset ToyDataset::named(ToyDatasetKind kind) {
    switch (kind) {
        case ToyDatasetKind::grid25: return grid25();
        case ToyDatasetKind::swissroll: return swissroll();
        default: return ring8();
    }
}

Error toy_dataset_sample_validate(ToyDatasetKind kind, std::size_t n) {
    if (kind == ToyDatasetKind::samples) {
        return range_error("name", enum_choices<ToyDatasetKind>(), "the kind 'samples'");
    }
    if (Error e = positive("n", n)) return e;
    return buffer_fits("samples", {{"n", n}, {"2", 2}});
}

std::vector<float> ToyDataset::metric_reference_points() const {
    if (kind_ == ToyDatasetKind::samples) return points_;
    if (kind_ != ToyDatasetKind::swissroll) return {};
    std::vector<float> points(2 * 2500);
    Xoshiro256 rng(0x5eed);  // fixed, so every run is scored against the same points
    sample(rng, 2500, points.data());
    return points;
}

void ToyDataset::sample(Xoshiro256& rng, std::size_t count, float* out) const {
    for (std::size_t i = 0; i < count; ++i) {
        double x = 0, y = 0;
        switch (kind_) {
            case ToyDatasetKind::ring8:
            case ToyDatasetKind::grid25: {
                const std::size_t k = static_cast<std::size_t>(rng.uniform() * mode_count());
                x = modes_[2 * k] + std_ * rng.normal();
                y = modes_[2 * k + 1] + std_ * rng.normal();
                break;
            }
            case ToyDatasetKind::swissroll: {
                const double t = 1.5 * kPi * (1 + 2 * rng.uniform());
                x = (t * std::cos(t) + 0.25 * rng.normal()) / 7.5;
                y = (t * std::sin(t) + 0.25 * rng.normal()) / 7.5;
                break;
            }
            case ToyDatasetKind::samples: {
                const std::size_t n = points_.size() / 2;
                const std::size_t k = std::min(n - 1, static_cast<std::size_t>(rng.uniform() * n));
                x = points_[2 * k];
                y = points_[2 * k + 1];
                break;
            }
        }
        out[2 * i] = static_cast<float>(x);
        out[2 * i + 1] = static_cast<float>(y);
    }
}

}  // namespace kexue
