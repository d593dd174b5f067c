// Embind boundary of kx.hubness (src/whitening/hubness.hpp; docs/math.md §7.10).
#include <cstdint>

#include <emscripten/bind.h>

#include "options.hpp"
#include "whitening/hubness.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;

Error read_hubness(const val& options, kexue::HubnessOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::hubness_validate(o);
    return error;
}

val hubness_plan(val options) {
    kexue::HubnessOptions o;
    return plan_result(read_hubness(options, o), o);
}

// x: rows × dim floats; counts: rows int32; result: float64 [skewness, max].
val hubness(std::uintptr_t x, std::uintptr_t counts, std::uintptr_t result, val options) {
    kexue::HubnessOptions o;
    Error error = read_hubness(options, o);
    if (!error) error = kexue::hubness_input_validate(reinterpret_cast<const float*>(x), o);
    if (error) return to_js_error(error);
    const kexue::HubnessSummary s = kexue::hubness(reinterpret_cast<const float*>(x), o,
                                                   reinterpret_cast<std::int32_t*>(counts));
    reinterpret_cast<double*>(result)[0] = s.skewness;
    reinterpret_cast<double*>(result)[1] = s.max;
    return val::undefined();
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_hubness) {
    emscripten::function("hubnessPlan", &hubness_plan);
    emscripten::function("hubness", &hubness);
}
