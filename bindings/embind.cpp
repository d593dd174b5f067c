// The Embind boundary of the core (matmul, threads). Every entry point follows one pattern
// (bindings/options.hpp): options cross as a plain JS object read by name, a `…Plan` binding
// validates them with the core's validator and returns { options } (resolved, defaults filled
// in) or { error }, and the compute binding takes heap addresses plus the same options.
#include <cstdint>
#include <cstdlib>

#include <emscripten/bind.h>

#include "core/gemm.hpp"
#include "core/parallel.hpp"
#include "options.hpp"

namespace {

using emscripten::val;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;

val matmul_plan(val options) {
    kexue::GemmShape shape;
    kexue::Error error = read_options(options, shape);
    if (!error) error = kexue::gemm_validate(shape);
    return plan_result(error, shape);
}

// C (m×n) = op(A) · op(B); a, b, c are byte addresses of float32 buffers in the WASM heap.
val matmul_f32(std::uintptr_t a, std::uintptr_t b, std::uintptr_t c, val options) {
    kexue::GemmShape shape;
    kexue::Error error = read_options(options, shape);
    if (!error) error = kexue::gemm_validate(shape);
    if (error) return kexue::bindings::to_js_error(error);
    kexue::gemm_f32(shape, reinterpret_cast<const float*>(a), reinterpret_cast<const float*>(b),
                    reinterpret_cast<float*>(c));
    return val::undefined();
}

std::uint32_t thread_count() { return static_cast<std::uint32_t>(kexue::thread_count()); }
std::uint32_t max_thread_count() { return static_cast<std::uint32_t>(kexue::max_thread_count()); }
void set_thread_count(std::uint32_t count) { kexue::set_thread_count(count); }

// Test-only: aborts the instance on purpose, so that tests can check that a dead instance is
// refused with one clear error and that init() makes a fresh one (issue 18). The facade reaches it
// only through abortForTesting in bindings/js/guard.js, which the public API does not export.
void abort_for_testing() { std::abort(); }

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_core) {
    emscripten::function("matmulPlan", &matmul_plan);
    emscripten::function("matmulF32", &matmul_f32);
    emscripten::function("threadCount", &thread_count);
    emscripten::function("maxThreadCount", &max_thread_count);
    emscripten::function("setThreadCount", &set_thread_count);
    emscripten::function("abortForTesting", &abort_for_testing);
}
