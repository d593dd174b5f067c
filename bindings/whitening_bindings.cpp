// Embind boundary of BERT-whitening (src/whitening/). Options cross as plain JS objects read by
// name (bindings/options.hpp) and are validated by the core's validators: each `…Plan` binding
// returns { options } (resolved) or { error }, each compute binding re-reads and re-validates the
// same options and returns an error, undefined, or { options } of the fitted model.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <emscripten/bind.h>

#include "core/validate.hpp"
#include "options.hpp"
#include "whitening/whitening.hpp"

namespace {

using emscripten::val;
using kexue::Error;
using kexue::WhiteningStats;
using kexue::WhiteningTransform;
using kexue::bindings::plan_result;
using kexue::bindings::read_argument;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;
using kexue::bindings::write_options;

// new WhiteningStats(dim): { options: { dim } } or { error }.
val stats_plan(val dim) {
    kexue::WhiteningStatsOptions o;
    Error error = read_argument("dim", dim, o.dim, kexue::kRequired | kexue::kPositive);
    if (!error) error = kexue::whitening_stats_validate(o);
    return plan_result(error, o);
}

Error read_rows(const WhiteningStats& stats, const val& rows, std::size_t& count) {
    Error error = read_argument("rows", rows, count, kexue::kRequired | kexue::kPositive);
    if (!error) error = kexue::whitening_add_validate(stats.dim(), count);
    return error;
}

val stats_add_plan(const WhiteningStats& stats, val rows) {
    std::size_t count = 0;
    return to_js_error(read_rows(stats, rows, count));
}

// Adds rows×dim floats at x; a row with NaN or ±Infinity is an error and nothing is added.
val stats_add(WhiteningStats& stats, std::uintptr_t x, val rows) {
    std::size_t count = 0;
    Error error = read_rows(stats, rows, count);
    const float* data = reinterpret_cast<const float*>(x);
    if (!error) error = kexue::finite_rows("x", data, count, stats.dim());
    if (error) return to_js_error(error);
    stats.add(data, count);
    return val::undefined();
}

val stats_merge(WhiteningStats& stats, const WhiteningStats& other) {
    if (Error error = kexue::whitening_merge_validate(stats, other)) return to_js_error(error);
    stats.merge(other);
    return val::undefined();
}

double stats_count(const WhiteningStats& stats) { return static_cast<double>(stats.count()); }

// Whitening.fit(x, { rows, dim, beta, gamma, k, ddof }): the resolved options (k = dim by default).
val fit_options_plan(val options) {
    kexue::WhiteningFitOptions o;
    Error error = read_options(options, o);
    if (!error) error = kexue::whitening_fit_options_validate(o);
    if (o.whitening.k == 0) o.whitening.k = o.dim;
    return plan_result(error, o);
}

Error read_fit(const WhiteningStats& stats, const val& options, kexue::WhiteningOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::whitening_fit_validate(stats, o);
    if (o.k == 0) o.k = stats.dim();
    return error;
}

// WhiteningStats#finalize(options): the resolved options ({ beta, gamma, k, ddof }).
val fit_plan(const WhiteningStats& stats, val options) {
    kexue::WhiteningOptions o;
    const Error error = read_fit(stats, options, o);
    return plan_result(error, o);
}

// Fits and writes mean (dim), eigenvalues (dim), center (dim) and kernel (dim×k) as float64 into
// heap buffers the facade sized from fit_plan; returns { options } of the model or { error }.
val fit(const WhiteningStats& stats, val options, std::uintptr_t mean, std::uintptr_t eigenvalues,
        std::uintptr_t center, std::uintptr_t kernel) {
    kexue::WhiteningOptions o;
    kexue::WhiteningModelInfo info;
    Error error = read_fit(stats, options, o);
    if (error) return plan_result(error, info);
    const kexue::WhiteningFit result = kexue::whitening_fit(stats, o);
    if ((error = kexue::whitening_spread_validate(result, o))) return plan_result(error, info);
    std::copy(result.mean.begin(), result.mean.end(), reinterpret_cast<double*>(mean));
    std::copy(result.eigenvalues.begin(), result.eigenvalues.end(), reinterpret_cast<double*>(eigenvalues));
    std::copy(result.center.begin(), result.center.end(), reinterpret_cast<double*>(center));
    std::copy(result.kernel.begin(), result.kernel.end(), reinterpret_cast<double*>(kernel));
    info.dim = result.dim;
    info.k = result.k;
    info.beta = o.beta;
    info.gamma = o.gamma;
    info.ddof = o.ddof;
    info.count = stats.count();
    return plan_result(error, info);
}

// Whitening.fromJSON(object): the header (format, version, then dim, k, beta, gamma, ddof, count)
// read and validated; the arrays are the facade's. Returns { options } of the model (k resolved).
val json_plan(val object) {
    const std::vector<std::string> arrays = {"mean", "eigenvalues", "center", "kernel"};
    kexue::WhiteningJsonHeader header;
    kexue::WhiteningModelInfo model;
    kexue::FieldNames header_names, model_names;
    kexue::visit_fields(header, header_names);
    kexue::visit_fields(model, model_names);
    std::vector<std::string> also_known = arrays;
    also_known.insert(also_known.end(), model_names.names.begin(), model_names.names.end());
    Error error = read_options(object, header, also_known);
    if (!error) error = kexue::whitening_json_validate(header);
    if (!error) {
        also_known = arrays;
        also_known.insert(also_known.end(), header_names.names.begin(), header_names.names.end());
        error = read_options(object, model, also_known);
    }
    if (!error) error = kexue::whitening_model_validate(model);
    if (model.k == 0) model.k = model.dim;
    return plan_result(error, model);
}

// Whitening.fromKernelBias: { dim, k } of the imported kernel.
val model_plan(val object) {
    kexue::WhiteningModelInfo model;
    Error error = read_options(object, model);
    if (!error) error = kexue::whitening_model_validate(model);
    if (model.k == 0) model.k = model.dim;
    return plan_result(error, model);
}

// Whitening#toJSON's header for a model's options: { format, version, dim, k, beta, gamma, ddof, count }.
val json_header(val options) {
    kexue::WhiteningJsonHeader header;
    header.format = kexue::kWhiteningFormat;
    header.version = kexue::kWhiteningFormatVersion;
    kexue::WhiteningModelInfo model;
    read_options(options, model);  // the model's own resolved .options
    kexue::bindings::OptionsWriter writer;
    kexue::visit_fields(header, writer);
    kexue::visit_fields(model, writer);
    return writer.object;
}

val eigenvalues_check(std::uintptr_t eigenvalues, std::uint32_t dim) {
    return to_js_error(kexue::whitening_eigenvalues_validate(reinterpret_cast<const double*>(eigenvalues), dim));
}

// An imported model's float64 arrays (mean, eigenvalues: address 0 when absent) within float32's range.
val model_range_check(std::uintptr_t kernel, std::uintptr_t center, std::uintptr_t mean, std::uintptr_t eigenvalues,
                      std::uint32_t dim, std::uint32_t k, bool kernel_bias) {
    const auto doubles = [](std::uintptr_t address) { return reinterpret_cast<const double*>(address); };
    return to_js_error(kexue::whitening_model_range_validate(dim, k, doubles(kernel), doubles(center),
                                                             mean ? doubles(mean) : nullptr,
                                                             eigenvalues ? doubles(eigenvalues) : nullptr, kernel_bias));
}

// Built from arrays whose shape a plan accepted.
WhiteningTransform* make_transform(std::uint32_t dim, std::uint32_t k, std::uintptr_t kernel, std::uintptr_t center) {
    if (dim == 0 || k == 0 || k > dim) std::abort();
    return new WhiteningTransform(dim, k, reinterpret_cast<const double*>(kernel),
                                  reinterpret_cast<const double*>(center));
}

Error read_transform(const WhiteningTransform& transform, const val& options, kexue::WhiteningTransformOptions& o) {
    Error error = read_options(options, o);
    if (!error) error = kexue::whitening_transform_validate(transform.dim(), transform.k(), o);
    return error;
}

// Whitening#transform(x, { rows, normalize }).
val transform_plan(const WhiteningTransform& transform, val options) {
    kexue::WhiteningTransformOptions o;
    const Error error = read_transform(transform, options, o);
    return plan_result(error, o);
}

val transform_apply(const WhiteningTransform& transform, std::uintptr_t x, std::uintptr_t y, val options) {
    kexue::WhiteningTransformOptions o;
    Error error = read_transform(transform, options, o);
    const float* data = reinterpret_cast<const float*>(x);
    if (!error) error = kexue::finite_rows("x", data, o.rows, transform.dim());
    if (error) return to_js_error(error);
    transform.apply(data, o.rows, reinterpret_cast<float*>(y), o.normalize);
    return val::undefined();
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_whitening) {
    emscripten::function("whiteningStatsPlan", &stats_plan);
    emscripten::class_<WhiteningStats>("WhiteningStatsNative")
        .constructor<std::size_t>()
        .function("addPlan", &stats_add_plan)
        .function("add", &stats_add)
        .function("merge", &stats_merge)
        .function("count", &stats_count);
    emscripten::function("whiteningFitOptionsPlan", &fit_options_plan);
    emscripten::function("whiteningFitPlan", &fit_plan);
    emscripten::function("whiteningFit", &fit);
    emscripten::function("whiteningJsonPlan", &json_plan);
    emscripten::function("whiteningModelPlan", &model_plan);
    emscripten::function("whiteningJsonHeader", &json_header);
    emscripten::function("whiteningEigenvaluesCheck", &eigenvalues_check);
    emscripten::function("whiteningModelRangeCheck", &model_range_check);
    emscripten::class_<WhiteningTransform>("WhiteningTransformNative")
        .constructor(&make_transform, emscripten::allow_raw_pointers())
        .function("plan", &transform_plan)
        .function("apply", &transform_apply);
}
