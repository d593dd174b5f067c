// Embind boundary of RoPE and entropy-invariant attention (src/attention/), in the pattern of
// bindings/options.hpp: each entry point has a `…Plan` binding that reads the JS options object by
// name (the field lists in rope.hpp and attention.hpp), validates it with the core's validator and
// returns { options } (resolved: defaults filled in) or { error }; the compute bindings take heap
// addresses plus the same options object, read and validate it again, and return an error or
// undefined. The facade (bindings/js/attention.js) only checks the arrays it copies.
#include <cstdint>
#include <string>
#include <vector>

#include <emscripten/bind.h>
#include <emscripten/val.h>

#include "attention/attention.hpp"
#include "attention/rope.hpp"
#include "core/finite.hpp"
#include "options.hpp"

namespace {

using emscripten::val;
using kexue::AttentionCall;
using kexue::Error;
using kexue::Rope2dCall;
using kexue::RopeCall;
using kexue::bindings::plan_result;
using kexue::bindings::read_options;
using kexue::bindings::to_js_error;

// Options the facade handles itself: `positions` (an array it copies into the heap) and `backend`.
const std::vector<std::string> kRopeJsOnly{"positions", "backend"};
const std::vector<std::string> kRope2dJsOnly{"positions"};
const std::vector<std::string> kAttentionJsOnly{"backend"};

const float* f32(std::uintptr_t address) { return reinterpret_cast<const float*>(address); }
float* f32_out(std::uintptr_t address) { return reinterpret_cast<float*>(address); }
const void* ptr(std::uintptr_t address) { return reinterpret_cast<const void*>(address); }
void* ptr_out(std::uintptr_t address) { return reinterpret_cast<void*>(address); }
const double* f64_or_null(std::uintptr_t address) {
    return address == 0 ? nullptr : reinterpret_cast<const double*>(address);
}

// A copy of `values` as a new JS Float32Array (not a view into the heap).
val float32_array(const std::vector<float>& values) {
    return val(emscripten::typed_memory_view(values.size(), values.data())).call<val>("slice");
}

// ---- RoPE ----

Error read_rope(const val& js, RopeCall& call, std::uintptr_t positions) {
    Error error = read_options(js, call, kRopeJsOnly);
    call.options.positions = f64_or_null(positions);
    if (!error) error = kexue::rope_validate(call.shape, call.options);
    return error;
}

val rope_plan(val js) {
    RopeCall call;
    Error error = read_rope(js, call, 0);
    call.options = kexue::rope_resolve(call.shape, call.options);
    return plan_result(error, call);
}

// x, y: [batch, seq, heads, dim] float32; positions: float64 × seq, or 0 for 0, 1, 2, …
val rope_apply(std::uintptr_t x, std::uintptr_t y, std::uintptr_t positions, val js) {
    RopeCall call;
    if (Error error = read_rope(js, call, positions)) return to_js_error(error);
    kexue::rope_apply(call.shape, call.options, f32(x), f32_out(y));
    return val::undefined();
}

// For the WebGPU kernel: { table } with (cos, ±sin) per token and pair, or { error }.
val rope_table(std::uintptr_t positions, val js) {
    RopeCall call;
    val out = val::object();
    if (Error error = read_rope(js, call, positions)) out.set("error", to_js_error(error));
    else out.set("table", float32_array(kexue::rope_cos_sin_table(call.shape, call.options)));
    return out;
}

Error read_rope2d(const val& js, Rope2dCall& call, std::uintptr_t positions) {
    Error error = read_options(js, call, kRope2dJsOnly);
    call.options.positions = f64_or_null(positions);
    if (!error) error = kexue::rope2d_validate(call.shape, call.options);
    return error;
}

val rope2d_plan(val js) {
    Rope2dCall call;
    const Error error = read_rope2d(js, call, 0);
    return plan_result(error, call);
}

// x, y: [batch, height·width, heads, dim] float32; positions: float64 (x, y) × height·width, or 0
// for the grid.
val rope2d_apply(std::uintptr_t x, std::uintptr_t y, std::uintptr_t positions, val js) {
    Rope2dCall call;
    if (Error error = read_rope2d(js, call, positions)) return to_js_error(error);
    kexue::rope2d_apply(call.shape, call.options, f32(x), f32_out(y));
    return val::undefined();
}

// ---- attention ----

// `input_type`: the element type of q, k, v, which the facade reads off the JS arrays
// ('float32' for a Float32Array, 'float16' for a Float16Array or a Uint16Array of f16 bits).
Error read_attention(const val& js, AttentionCall& call, const std::string& input_type = "float32") {
    Error error = read_options(js, call, kAttentionJsOnly);
    kexue::parse_enum(input_type, call.options.input_type);  // the facade passes one of the names
    if (!error) error = kexue::attention_validate(call.shape, call.options);
    return error;
}

// { options } or { error }, and wasmOnly: whether the call uses what the WebGPU kernel does not
// implement yet (attention_needs_wasm).
val attention_plan(val js) {
    AttentionCall call;
    const Error error = read_attention(js, call);
    call.options = kexue::attention_resolve(call.shape, call.options);
    val out = plan_result(error, call);
    if (!error) out.set("wasmOnly", kexue::attention_needs_wasm(call.options));
    return out;
}

// The heap addresses of the buffers besides q, k, v: { bias, mask } (0 or absent when off). The
// facade copies `bias.data` / `mask.data` there; an option without its buffer is refused.
Error read_buffers(const val& js, const AttentionCall& call, kexue::AttentionBuffers& out) {
    auto address = [&](const char* name) -> std::uintptr_t {
        if (js.isUndefined() || js.isNull()) return 0;
        const val v = js[name];
        return v.isUndefined() || v.isNull() ? 0 : static_cast<std::uintptr_t>(v.as<double>());
    };
    out.bias = reinterpret_cast<const float*>(address("bias"));
    out.mask = reinterpret_cast<const std::uint8_t*>(address("mask"));
    if (call.options.bias && !out.bias) return kexue::type_error("bias.data", "a Float32Array", "undefined");
    if (call.options.mask && !out.mask) return kexue::type_error("mask.data", "a Uint8Array", "undefined");
    return {};
}

// q [batch, seqQ, heads, dim], k [batch, seqK, kvHeads, dim], v [batch, seqK, kvHeads, dimV]
// (or [batch, heads, seq, …] with layout 'bhsd'), of `input_type`, → o [batch, seqQ, heads, dimV]
// of the output type, logsumexp [batch, heads, seqQ] float32 (0 to skip).
val attention_forward(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t o,
                      std::uintptr_t logsumexp, val buffers, std::string input_type, val js) {
    AttentionCall call;
    kexue::AttentionBuffers data;
    if (Error error = read_attention(js, call, input_type)) return to_js_error(error);
    if (Error error = read_buffers(buffers, call, data)) return to_js_error(error);
    kexue::attention_forward(call.shape, call.options, ptr(q), ptr(k), ptr(v), ptr_out(o),
                             logsumexp == 0 ? nullptr : f32_out(logsumexp), data);
    return val::undefined();
}

// The backward pass from the forward's o and logsumexp: dq like q, dk like k, dv like v (in the
// output type, as are o and d_o).
val attention_backward(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t o,
                       std::uintptr_t logsumexp, std::uintptr_t d_o, std::uintptr_t dq, std::uintptr_t dk,
                       std::uintptr_t dv, val buffers, std::string input_type, val js) {
    AttentionCall call;
    kexue::AttentionBuffers data;
    if (Error error = read_attention(js, call, input_type)) return to_js_error(error);
    if (Error error = read_buffers(buffers, call, data)) return to_js_error(error);
    kexue::attention_backward(call.shape, call.options, ptr(q), ptr(k), ptr(v), ptr(o), f32(logsumexp), ptr(d_o),
                              ptr_out(dq), ptr_out(dk), ptr_out(dv), data);
    return val::undefined();
}

// For the WebGPU kernel: { rowScale, ropeTable } or { error }. rowScale holds c_i per query row
// (attention_row_scale); ropeTable (cos, sin) per position min(0, seqK − seqQ) … seqK − 1 and pair,
// or null without RoPE.
val attention_gpu_tables(val js) {
    AttentionCall call;
    val out = val::object();
    if (Error error = read_attention(js, call)) {
        out.set("error", to_js_error(error));
        return out;
    }
    out.set("rowScale", float32_array(kexue::attention_row_scales(call.shape, call.options)));
    out.set("ropeTable", call.options.rope
                             ? float32_array(kexue::attention_rope_table(call.shape, call.options))
                             : val::null());
    return out;
}

// The index of the first NaN or ±∞ among `count` elements at `address` ('float32' or 'float16'
// bits), or count: the facade's finiteness check of the tensors it copied into the heap.
double first_non_finite(std::uintptr_t address, double count, std::string type) {
    const auto n = static_cast<std::size_t>(count);
    return static_cast<double>(type == "float16"
                                   ? kexue::first_non_finite_f16(reinterpret_cast<const std::uint16_t*>(address), n)
                                   : kexue::first_non_finite_f32(reinterpret_cast<const float*>(address), n));
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_attention) {
    emscripten::function("firstNonFinite", &first_non_finite);
    emscripten::function("ropePlan", &rope_plan);
    emscripten::function("ropeApply", &rope_apply);
    emscripten::function("ropeTable", &rope_table);
    emscripten::function("rope2dPlan", &rope2d_plan);
    emscripten::function("rope2dApply", &rope2d_apply);
    emscripten::function("attentionPlan", &attention_plan);
    emscripten::function("attentionForward", &attention_forward);
    emscripten::function("attentionBackward", &attention_backward);
    emscripten::function("attentionGpuTables", &attention_gpu_tables);
}
