// Embind boundary of kx.unargmaxable (src/whitening/unargmaxable.hpp; docs/math.md §7.19).
#include <cstdint>

#include <emscripten/bind.h>

#include "options.hpp"
#include "whitening/unargmaxable.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::bindings::at;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;

Error read_unargmaxable(const val& options, kexue::UnargmaxableOptions& o) {
    Error error = read_options(options, o, {"bias"});  // bias: an array, passed by address
    if (!error) error = kexue::unargmaxable_validate(o);
    return error;
}

val unargmaxable_plan(val options) {
    kexue::UnargmaxableOptions o;
    return plan_result(read_unargmaxable(options, o), o);
}

// weight: classes × dim floats; bias: classes floats (address 0: none); status: classes bytes;
// summary: float64 [unargmaxable, screened, programmes, withinRounding].
val unargmaxable(std::uintptr_t weight, std::uintptr_t bias, std::uintptr_t status, std::uintptr_t summary,
                 val options) {
    kexue::UnargmaxableOptions o;
    Error error = read_unargmaxable(options, o);
    const float* bias_data = bias ? at<const float>(bias) : nullptr;
    if (!error) error = kexue::unargmaxable_input_validate(at<const float>(weight), bias_data, o);
    if (error) return to_js_error(error);
    const kexue::UnargmaxableSummary s =
        kexue::unargmaxable(at<const float>(weight), bias_data, o, at<std::uint8_t>(status));
    double* out = at<double>(summary);
    out[0] = double(s.unargmaxable);
    out[1] = double(s.screened);
    out[2] = double(s.programmes);
    out[3] = double(s.within_rounding);
    return val::undefined();
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_unargmaxable) {
    emscripten::function("unargmaxablePlan", &unargmaxable_plan);
    emscripten::function("unargmaxable", &unargmaxable);
}
