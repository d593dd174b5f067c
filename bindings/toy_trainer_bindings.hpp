// What the bindings of the trainers on 2-D toy data share (GanTrainerNative in gan_bindings.cpp,
// DiffusionTrainerNative in diffusion_bindings.cpp); their JS side is ToyTrainer in
// bindings/js/toy-data.js.
#pragma once

#include <cstddef>
#include <cstdint>

#include <emscripten/bind.h>
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

// The Embind class of a toy trainer with the methods ToyTrainer and its subclasses call on every one
// (built from its options and the samples' pointer and count); a binding adds its own to the result.
template <typename Native>
emscripten::class_<Native> toy_trainer_class(const char* name) {
    return emscripten::class_<Native>(name)
        .template constructor<emscripten::val, std::uintptr_t, std::uint32_t>()
        .function("options", &Native::options)
        .function("steps", &Native::steps)
        .function("stepPlan", &Native::step_plan)
        .function("step", &Native::step)
        .function("samplePlan", &Native::sample_plan)
        .function("sample", &Native::sample)
        .function("evaluate", &Native::evaluate)
        .function("parameterCount", &Native::parameter_count)
        .function("parameters", &Native::parameters);
}

}  // namespace kexue::bindings
