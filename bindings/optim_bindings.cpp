// Embind boundary of the optimizers (src/optim/): LoRA-as-an-optimizer / GaLore, multi-task
// gradient combination and gradient clipping. Options cross by name (bindings/options.hpp): each
// entry point has a `…Plan` binding that reads and validates them with the core's validator and
// returns { options } (resolved) or { error }, and a compute binding that takes heap addresses plus
// the same options, re-reads and re-validates them, and returns { error } or its result.
#include <algorithm>
#include <cstdint>
#include <utility>

#include <emscripten/bind.h>

#include "optim/clipping.hpp"
#include "optim/low_rank_optimizer.hpp"
#include "optim/multitask.hpp"
#include "options.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::LowRankConfig;
using kexue::LowRankOptimizer;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;
using kexue::bindings::write_options;

// The arrays of the options object, which the JS facade copies into the heap itself.
const std::vector<std::string> kLowRankArrays{"weight", "factors"};

val error_result(const Error& error) {
    val out = val::object();
    out.set("error", to_js_error(error));
    return out;
}

template <typename T>
val value_result(const char* name, T value) {
    val out = val::object();
    out.set(name, value);
    return out;
}

Error read_low_rank(const val& options, bool with_factors, LowRankConfig& config) {
    Error error = read_options(options, config, kLowRankArrays);
    if (!error) error = kexue::low_rank_validate(config);
    if (!error && with_factors) error = kexue::low_rank_factors_validate(config);
    return error;
}

// { options } (resolved: the mode's defaults filled in) or { error }.
val low_rank_plan(val options) {
    LowRankConfig config;
    const bool with_factors = options.typeOf().as<std::string>() == "object" && !options.isNull() &&
                              !options["factors"].isUndefined();
    const Error error = read_low_rank(options, with_factors, config);
    return plan_result(error, kexue::low_rank_resolve(config));
}

// { optimizer } or { error }: a constructor cannot return an error, so the facade calls this
// factory (after lowRankOptimizerPlan) with the weight and the optional factors in the heap.
val low_rank_create(val options, std::uintptr_t w0, std::uintptr_t a0, std::uintptr_t b0) {
    LowRankConfig config;
    if (Error error = read_low_rank(options, a0 != 0 && b0 != 0, config)) return error_result(error);
    LowRankOptimizer optimizer(config, reinterpret_cast<const float*>(w0),
                               a0 ? reinterpret_cast<const float*>(a0) : nullptr,
                               b0 ? reinterpret_cast<const float*>(b0) : nullptr);
    return value_result("optimizer", val(std::move(optimizer)));
}

val optimizer_options(const LowRankOptimizer& optimizer) { return write_options(optimizer.config()); }

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
bool has_factors(const LowRankOptimizer& o) { return o.has_factors(); }
double projector_floats(const LowRankOptimizer& o) { return static_cast<double>(o.projector().size()); }
double state_floats(const LowRankOptimizer& o) { return static_cast<double>(o.state_floats()); }
double steps(const LowRankOptimizer& o) { return static_cast<double>(o.steps()); }

// ---- multitask: grads arrive stacked as one tasks×size buffer ----

kexue::MultitaskShape shape_of(double tasks, double size) {
    return {static_cast<std::size_t>(tasks), static_cast<std::size_t>(size)};
}

// { error } or {} (normalizedSum has no options).
val normalized_sum_plan(double tasks, double size) {
    const Error error = kexue::normalized_sum_validate(shape_of(tasks, size));
    return error ? error_result(error) : val::object();
}

val normalized_sum(std::uintptr_t grads, double tasks, double size, std::uintptr_t direction) {
    const kexue::MultitaskShape shape = shape_of(tasks, size);
    if (Error error = kexue::normalized_sum_validate(shape)) return error_result(error);
    const std::size_t used = kexue::normalized_sum(reinterpret_cast<const float*>(grads), shape.tasks, shape.size,
                                                   reinterpret_cast<float*>(direction));
    return value_result("used", static_cast<double>(used));
}

Error read_mgda(const val& options, const kexue::MultitaskShape& shape, kexue::MgdaOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::mgda_validate(shape, o);
    return error;
}

val mgda_plan(val options, double tasks, double size) {
    kexue::MgdaOptions o;
    return plan_result(read_mgda(options, shape_of(tasks, size), o), o);
}

val mgda(std::uintptr_t grads, double tasks, double size, std::uintptr_t direction, std::uintptr_t weights,
         val options) {
    const kexue::MultitaskShape shape = shape_of(tasks, size);
    kexue::MgdaOptions o;
    if (Error error = read_mgda(options, shape, o)) return error_result(error);
    const kexue::MgdaResult ran =
        kexue::mgda(reinterpret_cast<const float*>(grads), shape.tasks, shape.size, reinterpret_cast<float*>(direction),
                    reinterpret_cast<double*>(weights), o.max_iterations, o.tolerance);
    val out = value_result("iterations", static_cast<double>(ran.iterations));
    out.set("gap", ran.gap);
    return out;
}

Error read_primary_aux(const val& options, const kexue::MultitaskShape& aux, kexue::PrimaryAuxOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::primary_aux_validate(aux, o);
    return error;
}

val primary_aux_plan(val options, double aux_tasks, double size) {
    kexue::PrimaryAuxOptions o;
    return plan_result(read_primary_aux(options, shape_of(aux_tasks, size), o), o);
}

val primary_aux(std::uintptr_t primary, std::uintptr_t aux, double aux_tasks, double size, std::uintptr_t direction,
                std::uintptr_t weights, val options) {
    const kexue::MultitaskShape shape = shape_of(aux_tasks, size);
    kexue::PrimaryAuxOptions o;
    if (Error error = read_primary_aux(options, shape, o)) return error_result(error);
    const std::size_t sweeps = kexue::primary_aux(
        reinterpret_cast<const float*>(primary), reinterpret_cast<const float*>(aux), shape.tasks, shape.size,
        reinterpret_cast<float*>(direction), reinterpret_cast<double*>(weights), o.max_sweeps, o.tolerance);
    return value_result("sweeps", static_cast<double>(sweeps));
}

// ---- clipping: the facade concatenates the tensors into one buffer (the global norm is the same) ----

Error read_clip(const val& options, const kexue::ClipShape& shape, kexue::ClipOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::clip_validate(shape, o);
    return error;
}

val clip_gradients_plan(val options, double tensors, double total) {
    kexue::ClipOptions o;
    return plan_result(read_clip(options, {static_cast<std::size_t>(tensors), static_cast<std::size_t>(total)}, o), o);
}

val clip_gradients(std::uintptr_t values, double tensors, double total, val options) {
    const kexue::ClipShape shape{static_cast<std::size_t>(tensors), static_cast<std::size_t>(total)};
    kexue::ClipOptions o;
    if (Error error = read_clip(options, shape, o)) return error_result(error);
    float* tensor = reinterpret_cast<float*>(values);
    const std::size_t sizes[1] = {shape.total};
    return value_result("norm", kexue::clip_by_global_norm(&tensor, sizes, 1, o.max_norm, o.form));
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_optim) {
    emscripten::function("lowRankOptimizerPlan", &low_rank_plan);
    emscripten::class_<LowRankOptimizer>("LowRankOptimizerNative")
        .class_function("create", &low_rank_create)
        .function("options", &optimizer_options)
        .function("step", &optimizer_step)
        .function("readWeight", &read_weight)
        .function("readA", &read_a)
        .function("readB", &read_b)
        .function("readProjector", &read_projector)
        .function("hasFactors", &has_factors)
        .function("projectorFloats", &projector_floats)
        .function("stateFloats", &state_floats)
        .function("steps", &steps);
    emscripten::function("multitaskNormalizedSumPlan", &normalized_sum_plan);
    emscripten::function("multitaskNormalizedSum", &normalized_sum);
    emscripten::function("multitaskMgdaPlan", &mgda_plan);
    emscripten::function("multitaskMgda", &mgda);
    emscripten::function("multitaskPrimaryAuxPlan", &primary_aux_plan);
    emscripten::function("multitaskPrimaryAux", &primary_aux);
    emscripten::function("clipGradientsPlan", &clip_gradients_plan);
    emscripten::function("clipGradients", &clip_gradients);
}
