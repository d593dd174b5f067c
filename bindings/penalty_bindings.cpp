// Embind boundary of the penalty inequality (src/gan/penalty_inequality.hpp; docs/math.md §7.12).
// The facade passes the network's resolved options (Mlp.options: sizes, activation) and a copy of
// its parameters; the binding rebuilds the (parameter-free) Mlp shape from them.
#include <cstdint>

#include <emscripten/bind.h>

#include "gan/penalty_inequality.hpp"
#include "nn/mlp.hpp"
#include "options.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;

Error read_call(const val& mlp_options, const val& options, kexue::MlpOptions& m,
                kexue::PenaltyInequalityOptions& o) {
    Error error = read_options(mlp_options, m);
    if (!error) error = kexue::mlp_validate(m);
    if (!error) error = read_options(options, o);
    if (!error) error = kexue::penalty_inequality_validate(m.sizes, o);
    return error;
}

val penalty_inequality_plan(val mlp_options, val options) {
    kexue::MlpOptions m;
    kexue::PenaltyInequalityOptions o;
    return plan_result(read_call(mlp_options, options, m, o), o);
}

// parameters: the Mlp's; x: rows × n_0; input_side, parameter_side: rows doubles.
val penalty_inequality(std::uintptr_t parameters, std::uintptr_t x, std::uintptr_t input_side,
                       std::uintptr_t parameter_side, val mlp_options, val options) {
    kexue::MlpOptions m;
    kexue::PenaltyInequalityOptions o;
    if (Error error = read_call(mlp_options, options, m, o)) return to_js_error(error);
    const kexue::Mlp<float> mlp(m.sizes, m.activation);
    kexue::penalty_inequality(mlp, reinterpret_cast<const float*>(parameters), reinterpret_cast<const float*>(x),
                              o.rows, o.norm, reinterpret_cast<double*>(input_side),
                              reinterpret_cast<double*>(parameter_side));
    return val::undefined();
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_penalty_inequality) {
    emscripten::function("penaltyInequalityPlan", &penalty_inequality_plan);
    emscripten::function("penaltyInequality", &penalty_inequality);
}
