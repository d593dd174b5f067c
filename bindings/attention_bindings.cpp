// Embind boundary of RoPE and entropy-invariant attention (src/attention/). The JS facade
// (bindings/js/attention.js) validates every argument, buffer lengths included, because these
// modules are built without exceptions: a std::invalid_argument thrown here would abort.
#include <cstdint>
#include <string>

#include <emscripten/bind.h>
#include <emscripten/val.h>

#include "attention/attention.hpp"
#include "attention/rope.hpp"

namespace {

using kexue::AttentionOptions;
using kexue::AttentionScale;
using kexue::AttentionShape;
using kexue::RopeLayout;

const float* f32(std::uintptr_t address) { return reinterpret_cast<const float*>(address); }
float* f32_out(std::uintptr_t address) { return reinterpret_cast<float*>(address); }
const double* f64_or_null(std::uintptr_t address) {
    return address == 0 ? nullptr : reinterpret_cast<const double*>(address);
}

// x, y: [batch, seq, heads, dim] float32; positions: float64 × seq, or 0 for 0, 1, 2, …
void rope_apply(std::uintptr_t x, std::uintptr_t y, std::uint32_t batch, std::uint32_t seq,
                std::uint32_t heads, std::uint32_t dim, double base, bool half_layout,
                std::uint32_t rotary_dim, std::uintptr_t positions, bool inverse) {
    kexue::RopeOptions options;
    options.base = base;
    options.layout = half_layout ? RopeLayout::half : RopeLayout::interleaved;
    options.rotary_dim = rotary_dim;
    options.positions = f64_or_null(positions);
    options.inverse = inverse;
    kexue::rope_apply({batch, seq, heads, dim}, options, f32(x), f32_out(y));
}

// x, y: [batch, seq, heads, dim] float32; positions: float64 (x, y) × seq, or 0 for the grid.
void rope2d_apply(std::uintptr_t x, std::uintptr_t y, std::uint32_t batch, std::uint32_t seq,
                  std::uint32_t heads, std::uint32_t dim, double base, bool half_layout, bool tie_mode,
                  std::uintptr_t positions, std::uint32_t grid_width, bool inverse) {
    kexue::Rope2dOptions options;
    options.base = base;
    options.layout = half_layout ? RopeLayout::half : RopeLayout::interleaved;
    options.mode = tie_mode ? kexue::Rope2dMode::tie : kexue::Rope2dMode::split;
    options.positions = f64_or_null(positions);
    options.grid_width = grid_width;
    options.inverse = inverse;
    kexue::rope2d_apply({batch, seq, heads, dim}, options, f32(x), f32_out(y));
}

// The options cross the boundary as one plain JS object ({ scale, fixedScale, baseLen, nMin,
// clipBelowOne, causal, rope, ropeBase, ropeHalf, ropeRotaryDim }) that the facade fills in full.
struct AttentionConfig {
    AttentionShape shape;
    AttentionOptions options;
};

AttentionConfig make_config(std::uint32_t batch, std::uint32_t seq_q, std::uint32_t seq_k,
                            std::uint32_t heads, std::uint32_t kv_heads, std::uint32_t dim,
                            std::uint32_t dim_v, const emscripten::val& js) {
    AttentionConfig config;
    config.shape = {batch, seq_q, seq_k, heads, kv_heads, dim, dim_v};
    AttentionOptions& options = config.options;
    const std::string scale = js["scale"].as<std::string>();
    options.scale = scale == "standard" ? AttentionScale::standard
                    : scale == "fixed"  ? AttentionScale::fixed
                                        : AttentionScale::entropy;
    options.fixed_scale = js["fixedScale"].as<double>();
    options.base_len = js["baseLen"].as<double>();
    options.n_min = js["nMin"].as<double>();
    options.clip_below_one = js["clipBelowOne"].as<bool>();
    options.causal = js["causal"].as<bool>();
    options.rope = js["rope"].as<bool>();
    options.rope_base = js["ropeBase"].as<double>();
    options.rope_layout = js["ropeHalf"].as<bool>() ? RopeLayout::half : RopeLayout::interleaved;
    options.rope_rotary_dim = js["ropeRotaryDim"].as<std::uint32_t>();
    return config;
}

// q [batch, seq_q, heads, dim], k [batch, seq_k, kv_heads, dim], v [batch, seq_k, kv_heads, dim_v]
// → o [batch, seq_q, heads, dim_v], logsumexp [batch, heads, seq_q] (0 to skip).
void attention_forward(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t o,
                       std::uintptr_t logsumexp, std::uint32_t batch, std::uint32_t seq_q,
                       std::uint32_t seq_k, std::uint32_t heads, std::uint32_t kv_heads,
                       std::uint32_t dim, std::uint32_t dim_v, emscripten::val options) {
    const AttentionConfig config = make_config(batch, seq_q, seq_k, heads, kv_heads, dim, dim_v, options);
    kexue::attention_forward(config.shape, config.options, f32(q), f32(k), f32(v), f32_out(o),
                             logsumexp == 0 ? nullptr : f32_out(logsumexp));
}

// The backward pass from the forward's o and logsumexp: dq like q, dk like k, dv like v.
void attention_backward(std::uintptr_t q, std::uintptr_t k, std::uintptr_t v, std::uintptr_t o,
                        std::uintptr_t logsumexp, std::uintptr_t d_o, std::uintptr_t dq,
                        std::uintptr_t dk, std::uintptr_t dv, std::uint32_t batch,
                        std::uint32_t seq_q, std::uint32_t seq_k, std::uint32_t heads,
                        std::uint32_t kv_heads, std::uint32_t dim, std::uint32_t dim_v,
                        emscripten::val options) {
    const AttentionConfig config = make_config(batch, seq_q, seq_k, heads, kv_heads, dim, dim_v, options);
    kexue::attention_backward(config.shape, config.options, f32(q), f32(k), f32(v), f32(o),
                              f32(logsumexp), f32(d_o), f32_out(dq), f32_out(dk), f32_out(dv));
}

}  // namespace

EMSCRIPTEN_BINDINGS(kexue_attention) {
    emscripten::function("ropeApply", &rope_apply);
    emscripten::function("rope2dApply", &rope2d_apply);
    emscripten::function("attentionForward", &attention_forward);
    emscripten::function("attentionBackward", &attention_backward);
}
