// Embind boundary of logsumexp, the losses (src/losses/) and the exponentiated-gradient optimizer
// (src/optim/exponentiated_gradient.hpp). Each entry point follows bindings/options.hpp: a `…Plan`
// binding reads the options by name and returns { options } (resolved) or { error }; the compute
// binding takes heap addresses plus the same options object, re-reads and re-validates them, checks
// the inputs' values (NaN, labels outside [0, 1], indices out of range) in C++, and returns the
// error or the result. Arrays are the facade's (bindings/js/losses.js): they arrive as addresses.
#include <cstdint>
#include <string>

#include <emscripten/bind.h>

#include "losses/contrastive.hpp"
#include "losses/flooding.hpp"
#include "losses/global_pointer_kl.hpp"
#include "losses/logsumexp.hpp"
#include "losses/zlpr.hpp"
#include "optim/exponentiated_gradient.hpp"
#include "options.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::bindings::at;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;


// ---- logsumexp ----------------------------------------------------------------------------------

Error read_logsumexp(const val& options, kexue::LogsumexpOptions& o) {
    Error error = read_options(options, o);
    return error ? error : kexue::logsumexp_validate(o);
}

val logsumexp_plan(val options) {
    kexue::LogsumexpOptions o;
    return plan_result(read_logsumexp(options, o), o);
}

// x [rows, cols] → out [rows]
val logsumexp_f32(std::uintptr_t x, std::uintptr_t out, val options) {
    kexue::LogsumexpOptions o;
    if (Error e = read_logsumexp(options, o)) return to_js_error(e);
    kexue::logsumexp_f32(o, at<const float>(x), at<float>(out));
    return val::undefined();
}

// x [rows, cols] → grad [rows, cols] (the softmax)
val logsumexp_grad_f32(std::uintptr_t x, std::uintptr_t grad, val options) {
    kexue::LogsumexpOptions o;
    if (Error e = read_logsumexp(options, o)) return to_js_error(e);
    kexue::logsumexp_grad_f32(o, at<const float>(x), at<float>(grad), nullptr);
    return val::undefined();
}

Error read_bounds(const val& options, kexue::LogsumexpBoundsOptions& o) {
    Error error = read_options(options, o, {"p"});
    return error ? error : kexue::logsumexp_bounds_validate(o);
}

val logsumexp_bounds_plan(val options) {
    kexue::LogsumexpBoundsOptions o;
    return plan_result(read_bounds(options, o), o);
}

// x [rows, cols], p [p_rows, cols] (address 0: none) → out [kLogsumexpBoundCount, rows] doubles
val logsumexp_bounds(std::uintptr_t x, std::uintptr_t p, std::uint32_t p_rows, std::uintptr_t out, val options) {
    kexue::LogsumexpBoundsOptions o;
    Error error = read_bounds(options, o);
    const float* p_data = p ? at<const float>(p) : nullptr;
    if (!error) error = kexue::logsumexp_bounds_check_inputs(o, at<const float>(x), p_data, p_rows);
    if (error) return to_js_error(error);
    kexue::logsumexp_bounds(o, at<const float>(x), p_data, p_rows, at<double>(out));
    return val::undefined();
}

val logsumexp_bound_names() {
    val names = val::array();
    for (std::size_t i = 0; i < kexue::kLogsumexpBoundCount; ++i) names.set(i, std::string(kexue::kLogsumexpBoundNames[i]));
    return names;
}

// ---- ZLPR ---------------------------------------------------------------------------------------

Error read_zlpr(const val& options, kexue::ZlprOptions& o) {
    Error error = read_options(options, o, {"mask"});
    return error ? error : kexue::zlpr_validate(o);
}

val zlpr_plan(val options) {
    kexue::ZlprOptions o;
    return plan_result(read_zlpr(options, o), o);
}

// Index sets (offsets [rows + 1] uint32, indices doubles) → labels [rows, classes] 0/1
val zlpr_labels_from_index_sets(std::uintptr_t offsets, std::uintptr_t indices, std::uintptr_t labels, val options) {
    kexue::ZlprOptions o;
    Error error = read_zlpr(options, o);
    if (!error) error = kexue::zlpr_labels_from_index_sets(o, at<const std::uint32_t>(offsets), at<const double>(indices),
                                                           at<float>(labels));
    return to_js_error(error);
}

// The reduced loss (a number), or the error.
val loss_or_error(const Error& error, double loss) { return error ? to_js_error(error) : val(loss); }

// logits, labels, mask (0: none) [rows, classes] → grad [rows, classes], row losses [rows] doubles (0: none)
val zlpr_f32(std::uintptr_t logits, std::uintptr_t labels, std::uintptr_t mask, std::uintptr_t grad,
             std::uintptr_t row_losses, val options) {
    kexue::ZlprOptions o;
    Error error = read_zlpr(options, o);
    const float* mask_data = mask ? at<const float>(mask) : nullptr;
    if (!error) error = kexue::zlpr_check_inputs(o, at<const float>(logits), at<const float>(labels), mask_data);
    if (error) return to_js_error(error);
    return val(kexue::zlpr_f32(o, at<const float>(logits), at<const float>(labels), mask_data, at<float>(grad),
                               row_losses ? at<double>(row_losses) : nullptr));
}

void zlpr_probability_f32(std::uintptr_t logits, std::uintptr_t out, std::uint32_t count) {
    kexue::zlpr_probability_f32(count, at<const float>(logits), at<float>(out));
}

// ---- InfoNCE / FlatNCE --------------------------------------------------------------------------

Error read_contrastive(const val& options, kexue::ContrastiveLoss loss, kexue::ContrastiveOptions& o) {
    Error error = read_options(options, o, {"targets"});
    if (error) return error;
    const bool has_targets = !options.isUndefined() && !options["targets"].isUndefined();
    return kexue::contrastive_validate(o, loss, has_targets);
}

kexue::ContrastiveLoss contrastive_loss(const std::string& name) {
    return name == "flatNCE" ? kexue::ContrastiveLoss::flat_nce : kexue::ContrastiveLoss::info_nce;
}

val contrastive_plan(val options, std::string loss) {
    kexue::ContrastiveOptions o;
    return plan_result(read_contrastive(options, contrastive_loss(loss), o), o);
}

// sim [rows, cols], targets [rows] doubles (0: the diagonal) → grad [rows, cols], row losses (0: none)
val contrastive_f32(std::string loss, std::uintptr_t sim, std::uintptr_t targets, std::uintptr_t grad,
                    std::uintptr_t row_losses, val options) {
    kexue::ContrastiveOptions o;
    const kexue::ContrastiveLoss kind = contrastive_loss(loss);
    Error error = read_contrastive(options, kind, o);
    const double* target_data = targets ? at<const double>(targets) : nullptr;
    if (!error) error = kexue::contrastive_check_inputs(o, at<const float>(sim), target_data);
    if (error) return to_js_error(error);
    double* losses = row_losses ? at<double>(row_losses) : nullptr;
    return val(kind == kexue::ContrastiveLoss::flat_nce
                   ? kexue::flat_nce_f32(o, at<const float>(sim), target_data, at<float>(grad), losses)
                   : kexue::info_nce_f32(o, at<const float>(sim), target_data, at<float>(grad), losses));
}

// ---- GlobalPointer KL ---------------------------------------------------------------------------

Error read_global_pointer_kl(const val& options, kexue::GlobalPointerKlOptions& o) {
    Error error = read_options(options, o);
    return error ? error : kexue::global_pointer_kl_validate(o);
}

val global_pointer_kl_plan(val options) {
    kexue::GlobalPointerKlOptions o;
    return plan_result(read_global_pointer_kl(options, o), o);
}

// s, t [rows, classes] → grad_s, grad_t [rows, classes], row losses (0: none)
val global_pointer_kl_f32(std::uintptr_t s, std::uintptr_t t, std::uintptr_t grad_s, std::uintptr_t grad_t,
                          std::uintptr_t row_losses, val options) {
    kexue::GlobalPointerKlOptions o;
    Error error = read_global_pointer_kl(options, o);
    if (!error) error = kexue::global_pointer_kl_check_inputs(o, at<const float>(s), at<const float>(t));
    if (error) return to_js_error(error);
    return val(kexue::global_pointer_kl_f32(o, at<const float>(s), at<const float>(t), at<float>(grad_s),
                                            at<float>(grad_t), row_losses ? at<double>(row_losses) : nullptr));
}

// ---- flooding -----------------------------------------------------------------------------------

// { loss: |L − b| + b, sign: dL̃/dL } or { error }
val flooding(double loss, double level) {
    val out = val::object();
    if (Error e = kexue::flooding_validate(loss, level)) {
        out.set("error", to_js_error(e));
        return out;
    }
    const kexue::Flooded flooded = kexue::flooding(loss, level);
    out.set("loss", flooded.loss);
    out.set("sign", flooded.sign);
    return out;
}

// ---- ExponentiatedGradient ----------------------------------------------------------------------

using kexue::ExponentiatedGradient;

Error read_exponentiated_gradient(const val& options, std::uint32_t size, kexue::ExponentiatedGradientOptions& o) {
    Error error = read_options(options, o, {"weight"});
    o.size = size;
    return error ? error : kexue::exponentiated_gradient_validate(o);
}

val exponentiated_gradient_plan(val options, std::uint32_t size) {
    kexue::ExponentiatedGradientOptions o;
    return plan_result(read_exponentiated_gradient(options, size, o), o);
}

val exponentiated_gradient_check_weight(std::uintptr_t weight, std::uint32_t size, val options) {
    kexue::ExponentiatedGradientOptions o;
    Error error = read_exponentiated_gradient(options, size, o);
    if (!error) error = kexue::exponentiated_gradient_check_weight(o, at<const float>(weight));
    return to_js_error(error);
}

// The facade constructs only after the plan and the weight check passed.
ExponentiatedGradient* make_exponentiated_gradient(val options, std::uint32_t size, std::uintptr_t weight) {
    kexue::ExponentiatedGradientOptions o;
    read_exponentiated_gradient(options, size, o);
    return new ExponentiatedGradient(o, at<const float>(weight));
}

double eg_step(ExponentiatedGradient& optimizer, std::uintptr_t grad) {
    return static_cast<double>(optimizer.step(at<const float>(grad)));
}
void eg_read_weight(const ExponentiatedGradient& o, std::uintptr_t out) {
    std::copy(o.weight().begin(), o.weight().end(), at<float>(out));
}
void eg_read_step_sizes(const ExponentiatedGradient& o, std::uintptr_t out) {
    std::copy(o.step_sizes().begin(), o.step_sizes().end(), at<float>(out));
}
double eg_steps(const ExponentiatedGradient& o) { return static_cast<double>(o.steps()); }
val eg_options(const ExponentiatedGradient& o) { return kexue::bindings::write_options(o.options()); }

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_losses) {
    emscripten::function("logsumexpPlan", &logsumexp_plan);
    emscripten::function("logsumexpF32", &logsumexp_f32);
    emscripten::function("logsumexpGradF32", &logsumexp_grad_f32);
    emscripten::function("logsumexpBoundsPlan", &logsumexp_bounds_plan);
    emscripten::function("logsumexpBounds", &logsumexp_bounds);
    emscripten::function("logsumexpBoundNames", &logsumexp_bound_names);
    emscripten::function("zlprPlan", &zlpr_plan);
    emscripten::function("zlprLabelsFromIndexSets", &zlpr_labels_from_index_sets);
    emscripten::function("zlprF32", &zlpr_f32);
    emscripten::function("zlprProbabilityF32", &zlpr_probability_f32);
    emscripten::function("contrastivePlan", &contrastive_plan);
    emscripten::function("contrastiveF32", &contrastive_f32);
    emscripten::function("globalPointerKlPlan", &global_pointer_kl_plan);
    emscripten::function("globalPointerKlF32", &global_pointer_kl_f32);
    emscripten::function("flooding", &flooding);
    emscripten::function("exponentiatedGradientPlan", &exponentiated_gradient_plan);
    emscripten::function("exponentiatedGradientCheckWeight", &exponentiated_gradient_check_weight);
    emscripten::class_<ExponentiatedGradient>("ExponentiatedGradientNative")
        .constructor(&make_exponentiated_gradient, emscripten::allow_raw_pointers())
        .function("step", &eg_step)
        .function("readWeight", &eg_read_weight)
        .function("readStepSizes", &eg_read_step_sizes)
        .function("steps", &eg_steps)
        .function("options", &eg_options);
}
