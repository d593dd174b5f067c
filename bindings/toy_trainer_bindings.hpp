// What the bindings of the trainers on 2-D toy data share (GanTrainerNative in gan_bindings.cpp,
// DiffusionTrainerNative in diffusion_bindings.cpp); their JS side is ToyTrainer in
// bindings/js/toy-data.js.
#pragma once

#include <cstddef>
#include <cstdint>

#include <emscripten/val.h>

#include "core/validate.hpp"
#include "gan/datasets.hpp"
#include "gan/metrics.hpp"
#include "options.hpp"

namespace kexue::bindings {

// The trainer's data: the user's point_count samples (n × 2 floats at `points`), or the named one.
inline ToyDataset toy_trainer_dataset(ToyDatasetKind named, std::uintptr_t points, std::uint32_t point_count) {
    return point_count > 0 ? ToyDataset::from_samples(at<const float>(points), point_count) : ToyDataset::named(named);
}

// step(count): count ≥ 1 steps, 1 when undefined. step_plan checks it before a stepped run
// (bindings/js/toy-data.js), step before running them all in one call.
inline Error read_step_count(const emscripten::val& count, std::size_t& n) {
    n = 1;
    Error error = read_argument("count", count, n, kPositive);
    if (!error) error = positive("count", n);
    return error;
}

// The mode metrics as float64 [highQuality, modes, reverseKL, medianDistance] (toy-data.js, readModeMetrics).
inline void write_mode_metrics(const GanMetrics& m, std::uintptr_t result) {
    double* r = at<double>(result);
    r[0] = m.high_quality;
    r[1] = m.modes;
    r[2] = m.reverse_kl;
    r[3] = m.median_distance;
}

}  // namespace kexue::bindings
