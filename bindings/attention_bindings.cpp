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
#include "attention/attention_gpu.hpp"
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

// Options the facade handles itself: `positions` (an array it copies into the heap), `backend` and
// `precision` (the WebGPU kernels' multiplication precision); attention's `rope.positionsQ` and
// `rope.positionsK`, copied into the heap too, arrive as addresses (read_attention).
const std::vector<std::string> kRopeJsOnly{"positions", "backend"};
const std::vector<std::string> kRope2dJsOnly{"positions", "backend"};
const std::vector<std::string> kAttentionJsOnly{"backend", "precision", "rope.positionsQ", "rope.positionsK"};

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

// positions: float64 × count at that address, count = seq (shared by the batch entries) or
// batch·seq (one row per entry; the facade checked the length), or address 0 for none.
Error read_rope(const val& js, RopeCall& call, std::uintptr_t positions, std::size_t count) {
    Error error = read_options(js, call, kRopeJsOnly);
    call.options.positions = f64_or_null(positions);
    call.options.positions_per_batch = positions != 0 && count != call.shape.seq;
    if (!error) error = kexue::rope_validate(call.shape, call.options);
    return error;
}

val rope_plan(val js) {
    RopeCall call;
    Error error = read_rope(js, call, 0, 0);
    call.options = kexue::rope_resolve(call.shape, call.options);
    return plan_result(error, call);
}

// x, y: [batch, seq, heads, dim] float32; positions: float64 × count (seq or batch·seq), or 0 for
// offset + 0, 1, 2, …
val rope_apply(std::uintptr_t x, std::uintptr_t y, std::uintptr_t positions, std::size_t count, val js) {
    RopeCall call;
    if (Error error = read_rope(js, call, positions, count)) return to_js_error(error);
    kexue::rope_apply(call.shape, call.options, f32(x), f32_out(y));
    return val::undefined();
}

// For the WebGPU kernel: { table } with (a·cos, ±a·sin) per token (per batch entry and token with
// per-batch positions) and pair, or { error }.
val rope_table(std::uintptr_t positions, std::size_t count, val js) {
    RopeCall call;
    val out = val::object();
    if (Error error = read_rope(js, call, positions, count)) out.set("error", to_js_error(error));
    else out.set("table", float32_array(kexue::rope_cos_sin_table(call.shape, call.options)));
    return out;
}

// { inverseFrequencies: Float64Array, attentionFactor } of a RoPE configuration, or { error }.
val rope_frequencies(val js) {
    kexue::RopeFrequencyCall call;
    Error error = read_options(js, call);
    if (!error) error = kexue::rope_frequencies_validate(call);
    val out = val::object();
    if (error) {
        out.set("error", to_js_error(error));
        return out;
    }
    const kexue::RopeSpectrum spectrum = kexue::rope_spectrum(call.rotary_dim, call.base, call.scaling, {});
    const std::vector<double>& theta = spectrum.inverse_frequencies;
    out.set("inverseFrequencies", val(emscripten::typed_memory_view(theta.size(), theta.data())).call<val>("slice"));
    out.set("attentionFactor", spectrum.attention_factor);
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

// For the WebGPU kernel: { table } with (cos, ±sin) per token and pair (dim/2 pairs), or { error }.
val rope2d_table(std::uintptr_t positions, val js) {
    Rope2dCall call;
    val out = val::object();
    if (Error error = read_rope2d(js, call, positions)) out.set("error", to_js_error(error));
    else out.set("table", float32_array(kexue::rope2d_cos_sin_table(call.shape, call.options)));
    return out;
}

// ---- attention ----

// `buffers`: undefined, or the object of heap addresses the facade passes (read_buffers below);
// its positionsQ / positionsK (0: none) and positionsQCount / positionsKCount are rope.positionsQ
// and rope.positionsK (seq or batch·seq each; the facade checked the lengths). `input_type`: the
// element type of q, k, v, which the facade reads off the JS arrays ('float32' for a Float32Array,
// 'float16' for a Float16Array or a Uint16Array of f16 bits).
Error read_attention(const val& js, AttentionCall& call, const val& buffers = val::undefined(),
                     const std::string& input_type = "float32") {
    Error error = read_options(js, call, kAttentionJsOnly);
    kexue::parse_enum(input_type, call.options.input_type);  // the facade passes one of the names
    if (!error && call.options.rope && !buffers.isUndefined() && !buffers.isNull()) {
        kexue::AttentionRope& rope = *call.options.rope;
        const auto number = [&](const char* name) {
            const val v = buffers[name];
            return v.isUndefined() || v.isNull() ? 0.0 : v.as<double>();
        };
        const auto q = static_cast<std::uintptr_t>(number("positionsQ"));
        const auto k = static_cast<std::uintptr_t>(number("positionsK"));
        rope.positions_q = f64_or_null(q);
        rope.positions_q_per_batch = q != 0 && static_cast<std::size_t>(number("positionsQCount")) != call.shape.seq_q;
        rope.positions_k = f64_or_null(k);
        rope.positions_k_per_batch = k != 0 && static_cast<std::size_t>(number("positionsKCount")) != call.shape.seq_k;
    }
    if (!error) error = kexue::attention_validate(call.shape, call.options);
    return error;
}

// { options } or { error }.
val attention_plan(val js) {
    AttentionCall call;
    const Error error = read_attention(js, call);
    call.options = kexue::attention_resolve(call.shape, call.options);
    return plan_result(error, call);
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
// of the output type, logsumexp [batch, heads, seqQ] float32 (0 to skip); positions as in
// read_attention.
val attention_forward(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t o,
                      std::uintptr_t logsumexp, val buffers, std::string input_type, val js) {
    AttentionCall call;
    kexue::AttentionBuffers data;
    if (Error error = read_attention(js, call, buffers, input_type)) return to_js_error(error);
    if (Error error = read_buffers(buffers, call, data)) return to_js_error(error);
    kexue::attention_forward(call.shape, call.options, ptr(q), ptr(k), ptr(v), ptr_out(o),
                             logsumexp == 0 ? nullptr : f32_out(logsumexp), data);
    return val::undefined();
}

// The backward pass from the forward's o and logsumexp: dq like q, dk like k, dv like v (in the
// output type, as are o and d_o), and dSinks [heads] float32 when the options have sinks (0 to skip).
val attention_backward(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t o,
                       std::uintptr_t logsumexp, std::uintptr_t d_o, std::uintptr_t dq, std::uintptr_t dk,
                       std::uintptr_t dv, std::uintptr_t d_sinks, val buffers, std::string input_type, val js) {
    AttentionCall call;
    kexue::AttentionBuffers data;
    if (Error error = read_attention(js, call, buffers, input_type)) return to_js_error(error);
    if (Error error = read_buffers(buffers, call, data)) return to_js_error(error);
    kexue::attention_backward(call.shape, call.options, ptr(q), ptr(k), ptr(v), ptr(o), f32(logsumexp), ptr(d_o),
                              ptr_out(dq), ptr_out(dk), ptr_out(dv), data, d_sinks == 0 ? nullptr : f32_out(d_sinks));
    return val::undefined();
}

// For the WebGPU kernels (attention_gpu.hpp): { rowScale, scaleDims: [batch|1, heads|1, seqQ|1],
// ropeQ, ropeQBatch, ropeK, ropeKBatch (ropeQ null without RoPE, ropeK also with rotated cached keys), lengths (Uint32Array [batch, 2] or null), alibi,
// visible (relu2's n_i, laid out like rowScale), sinks (each null when unused) } or { error }.
// `buffers` as for attentionForward (the mask counts in n_i).
val attention_gpu_tables(val buffers, val js) {
    AttentionCall call;
    kexue::AttentionBuffers data;
    val out = val::object();
    Error error = read_attention(js, call, buffers);
    if (!error) error = read_buffers(buffers, call, data);
    if (error) {
        out.set("error", to_js_error(error));
        return out;
    }
    const kexue::AttentionGpuTables tables = kexue::attention_gpu_tables(call.shape, call.options, data);
    out.set("rowScale", float32_array(tables.row_scale));
    val dims = val::array();
    dims.call<void>("push", static_cast<double>(tables.scale_batch));
    dims.call<void>("push", static_cast<double>(tables.scale_heads));
    dims.call<void>("push", static_cast<double>(tables.scale_rows));
    out.set("scaleDims", dims);
    out.set("ropeQ", call.options.rope ? float32_array(tables.rope_q) : val::null());
    out.set("ropeQBatch", static_cast<double>(tables.rope_q_batch));
    out.set("ropeKBatch", static_cast<double>(tables.rope_k_batch));
    out.set("ropeK", tables.rope_k.empty() ? val::null() : float32_array(tables.rope_k));
    out.set("lengths", tables.lengths.empty()
                           ? val::null()
                           : val(emscripten::typed_memory_view(tables.lengths.size(), tables.lengths.data()))
                                 .call<val>("slice"));
    out.set("alibi", tables.alibi.empty() ? val::null() : float32_array(tables.alibi));
    out.set("visible", tables.visible.empty() ? val::null() : float32_array(tables.visible));
    out.set("sinks", tables.sinks.empty() ? val::null() : float32_array(tables.sinks));
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
    emscripten::function("ropeFrequencies", &rope_frequencies);
    emscripten::function("rope2dPlan", &rope2d_plan);
    emscripten::function("rope2dApply", &rope2d_apply);
    emscripten::function("rope2dTable", &rope2d_table);
    emscripten::function("attentionPlan", &attention_plan);
    emscripten::function("attentionForward", &attention_forward);
    emscripten::function("attentionBackward", &attention_backward);
    emscripten::function("attentionGpuTables", &attention_gpu_tables);
}
