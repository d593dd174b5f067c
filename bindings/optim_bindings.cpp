// Embind boundary of the optimizers (src/optim/): LoRA-as-an-optimizer / GaLore, multi-task
// gradient combination and gradient clipping. The JS facade (bindings/js/optim.js) validates every
// argument; these wrappers only translate heap addresses and enum codes.
#include <algorithm>
#include <cstdint>

#include <emscripten/bind.h>

#include "optim/clipping.hpp"
#include "optim/low_rank_optimizer.hpp"
#include "optim/multitask.hpp"

namespace {

using kexue::LowRankOptimizer;

// Codes shared with bindings/js/optim.js (index into its MODES / BASES / INITS lists).
LowRankOptimizer* make_optimizer(std::uint32_t rows, std::uint32_t cols, std::uint32_t rank,
                                 std::uint32_t mode, std::uint32_t base, double lr, double beta1,
                                 double beta2, double eps, double weight_decay, double scale,
                                 std::uint32_t update_proj_gap, std::uint32_t init, double seed,
                                 std::uintptr_t w0, std::uintptr_t a0, std::uintptr_t b0) {
    kexue::LowRankConfig config;
    config.rows = rows;
    config.cols = cols;
    config.rank = rank;
    config.mode = static_cast<kexue::LowRankMode>(mode);
    config.base = static_cast<kexue::LowRankBase>(base);
    config.lr = lr;
    config.beta1 = beta1;
    config.beta2 = beta2;
    config.eps = eps;
    config.weight_decay = weight_decay;
    config.scale = scale;
    config.update_proj_gap = update_proj_gap;
    config.init = static_cast<kexue::LowRankInit>(init);
    config.seed = static_cast<std::uint64_t>(seed);  // JS passes an integer below 2^53
    return new LowRankOptimizer(config, reinterpret_cast<const float*>(w0),
                                a0 ? reinterpret_cast<const float*>(a0) : nullptr,
                                b0 ? reinterpret_cast<const float*>(b0) : nullptr);
}

double optimizer_step(LowRankOptimizer& optimizer, std::uintptr_t grad) {
    return static_cast<double>(optimizer.step(reinterpret_cast<const float*>(grad)));
}

void copy_to(const std::vector<float>& source, std::uintptr_t out) {
    std::copy(source.begin(), source.end(), reinterpret_cast<float*>(out));
}
void read_weight(const LowRankOptimizer& o, std::uintptr_t out) { copy_to(o.weight(), out); }
void read_a(const LowRankOptimizer& o, std::uintptr_t out) { copy_to(o.a(), out); }
void read_b(const LowRankOptimizer& o, std::uintptr_t out) { copy_to(o.b(), out); }
void read_projector(const LowRankOptimizer& o, std::uintptr_t out) { copy_to(o.projector(), out); }
double state_floats(const LowRankOptimizer& o) { return static_cast<double>(o.state_floats()); }
double steps(const LowRankOptimizer& o) { return static_cast<double>(o.steps()); }

std::uint32_t normalized_sum(std::uintptr_t grads, std::uint32_t tasks, std::uint32_t size,
                             std::uintptr_t direction) {
    return static_cast<std::uint32_t>(kexue::normalized_sum(reinterpret_cast<const float*>(grads), tasks,
                                                            size, reinterpret_cast<float*>(direction)));
}

std::uint32_t mgda(std::uintptr_t grads, std::uint32_t tasks, std::uint32_t size, std::uintptr_t direction,
                   std::uintptr_t weights, std::uint32_t max_iterations, double tolerance) {
    return static_cast<std::uint32_t>(kexue::mgda(reinterpret_cast<const float*>(grads), tasks, size,
                                                  reinterpret_cast<float*>(direction),
                                                  reinterpret_cast<double*>(weights), max_iterations, tolerance));
}

std::uint32_t primary_aux(std::uintptr_t primary, std::uintptr_t aux, std::uint32_t aux_tasks,
                          std::uint32_t size, std::uintptr_t direction, std::uintptr_t weights,
                          std::uint32_t max_sweeps, double tolerance) {
    return static_cast<std::uint32_t>(kexue::primary_aux(
        reinterpret_cast<const float*>(primary), reinterpret_cast<const float*>(aux), aux_tasks, size,
        reinterpret_cast<float*>(direction), reinterpret_cast<double*>(weights), max_sweeps, tolerance));
}

// The JS side concatenates the tensors into one buffer: the global norm is the same.
double clip_gradients(std::uintptr_t values, std::uint32_t size, double max_norm, std::uint32_t form) {
    float* tensor = reinterpret_cast<float*>(values);
    const std::size_t sizes[1] = {size};
    return kexue::clip_by_global_norm(&tensor, sizes, 1, max_norm, static_cast<kexue::ClipForm>(form));
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_optim) {
    emscripten::class_<LowRankOptimizer>("LowRankOptimizerNative")
        .constructor(&make_optimizer, emscripten::allow_raw_pointers())
        .function("step", &optimizer_step)
        .function("readWeight", &read_weight)
        .function("readA", &read_a)
        .function("readB", &read_b)
        .function("readProjector", &read_projector)
        .function("stateFloats", &state_floats)
        .function("steps", &steps);
    emscripten::function("multitaskNormalizedSum", &normalized_sum);
    emscripten::function("multitaskMgda", &mgda);
    emscripten::function("multitaskPrimaryAux", &primary_aux);
    emscripten::function("clipGradients", &clip_gradients);
}
