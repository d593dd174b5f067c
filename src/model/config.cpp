// Resolution, validation and the tensor list of the transformer's configuration (config.hpp,
// model.hpp).
#include "model/config.hpp"

#include <algorithm>
#include <cmath>

#include "core/validate.hpp"
#include "model/model.hpp"

namespace kexue::model {

TransformerConfig transformer_resolve(TransformerConfig c) {
    if (c.kv_heads == 0) c.kv_heads = c.heads;
    if (c.key_size == 0 && c.heads > 0) c.key_size = c.d_model / c.heads;
    if (c.ffn == 0) c.ffn = 4 * c.d_model;
    if (c.block == BlockKind::gau) {
        // The paper's e = 2·dModel; s = 128 there, capped at dModel here (config.hpp, ModelGau).
        if (c.gau.expansion == 0) c.gau.expansion = 2 * c.d_model;
        if (c.gau.key_size == 0) c.gau.key_size = std::min<std::size_t>(128, c.d_model);
    }
    return c;
}

namespace {

std::string n(std::uint64_t x) { return js_number(x); }

}  // namespace

Error transformer_validate(const TransformerConfig& c) {
    if (c.vocab < 2) return range_error("vocab", "at least 2", n(c.vocab));
    if (c.vocab > (std::size_t{1} << 24)) return range_error("vocab", "at most 16777216", n(c.vocab));
    if (Error e = positive("dModel", c.d_model)) return e;
    if (Error e = positive("layers", c.layers)) return e;
    if (Error e = positive("heads", c.heads)) return e;
    if (c.block == BlockKind::gau) {
        // One head of key size s and value size e; the transformer's keySize and ffn are unused.
        if (c.heads != 1) return range_error("heads", "1 for block 'gau' (a GAU is single-head)", n(c.heads));
        if (c.kv_heads != 1) return range_error("kvHeads", "1 for block 'gau' (a GAU is single-head)", n(c.kv_heads));
        if (Error e = positive("gau.expansion", c.gau.expansion)) return e;
        if (Error e = positive("gau.keySize", c.gau.key_size)) return e;
        if (c.attention.rope && c.gau.key_size % 2 != 0) {
            return range_error("gau.keySize", "even (RoPE rotates pairs of dims)", n(c.gau.key_size));
        }
        if (c.attention.talking_heads) {
            return range_error("attention.talkingHeads",
                               "false with block 'gau' (a GAU is single-head: there are no heads to mix)", "true");
        }
    } else if (c.d_model % c.heads != 0) {
        return range_error_text("heads", "dModel must be a multiple of heads (the value heads are dModel/heads wide), "
                                         "received dModel = " + n(c.d_model) + ", heads = " + n(c.heads));
    }
    if (c.block == BlockKind::transformer) {
        if (Error e = positive("kvHeads", c.kv_heads)) return e;
        if (c.heads % c.kv_heads != 0) {
            return range_error("heads", "a multiple of kvHeads = " + n(c.kv_heads) + " (grouped-query attention)",
                               "heads = " + n(c.heads));
        }
        if (Error e = positive("keySize", c.key_size)) return e;
        if (c.attention.rope && c.key_size % 2 != 0) {
            return range_error("keySize", "even (RoPE rotates pairs of dims)", n(c.key_size));
        }
        if (Error e = positive("ffn", c.ffn)) return e;
    }
    if (c.objective == Objective::masked) {
        if (c.vocab < 3) return range_error("vocab", "at least 3 for the masked objective (the last id is the mask)", n(c.vocab));
        if (Error e = finite_in("maskRate", c.mask_rate, '(', 0, 1, ')')) return e;
    }
    if (const double* scale = std::get_if<double>(&c.attention.scale)) {
        if (Error e = finite("attention.scale", *scale)) return e;
    }
    if (Error e = greater_than("attention.baseLen", c.attention.base_len, 1)) return e;
    if (Error e = at_least("attention.nMin", c.attention.n_min, 1)) return e;
    if (c.attention.rope) {
        if (Error e = greater_than("attention.rope.base", c.attention.rope->base, 0)) return e;
    }
    if (Error e = positive("maxSeq", c.max_seq)) return e;
    if (Error e = at_most("maxSeq", c.max_seq, std::uint64_t{1} << 20, "2^20")) return e;
    if (Error e = number_greater_than("initStd", c.init_std, 0)) return e;
    if (Error e = number_greater_than("normEps", c.norm_eps, 0)) return e;
    const ModelOptimizer& o = c.optimizer;
    if (Error e = number_at_least("optimizer.lr", o.lr, 0)) return e;
    if (Error e = learning_rate_at_most("optimizer.lr", o.lr)) return e;
    if (Error e = finite_in("optimizer.beta1", o.beta1, '[', 0, 1, ')')) return e;
    if (Error e = finite_in("optimizer.beta2", o.beta2, '[', 0, 1, ')')) return e;
    if (Error e = number_greater_than("optimizer.eps", o.eps, 0)) return e;
    if (Error e = number_at_least("optimizer.weightDecay", o.weight_decay, 0)) return e;
    if (Error e = number_at_least("optimizer.clipNorm", o.clip_norm, 0)) return e;
    if (o.flooding) {
        if (Error e = finite("optimizer.flooding", *o.flooding)) return e;
    }
    // Parameters, their gradients and two AdamW moments, plus the KV cache of generation.
    const std::uint64_t params = transformer_parameter_count(c);
    const std::uint64_t cache =
        c.block == BlockKind::gau
            ? checked_product({c.layers, c.max_seq, saturating_sum({c.gau.key_size, c.gau.expansion})})
            : checked_product(
                  {2, c.layers, c.max_seq, c.kv_heads, std::max<std::uint64_t>(c.key_size, c.d_model / c.heads)});
    return heap_budget("the model", checked_product({saturating_sum({checked_product({4, params}), cache}), 4}),
                       "its parameters, gradients, AdamW moments and KV cache");
}

std::uint64_t transformer_parameter_count(const TransformerConfig& c) {
    const std::uint64_t d = c.d_model, h = c.heads, hkv = c.kv_heads, dk = c.key_size,
                        dv = c.heads ? c.d_model / c.heads : 0, f = c.ffn;
    std::uint64_t layer = 0;
    if (c.block == BlockKind::gau) {
        // A norm, Wu and Wv [D, e], Wz [D, s], γ and β of Q and K [s] each, Wo [e, D].
        const std::uint64_t e = c.gau.expansion, s = c.gau.key_size;
        layer = saturating_sum({c.norm == NormPlacement::pre_rms ? d : 2 * d, checked_product({3, d, e}),
                                checked_product({d, s}), checked_product({4, s})});
        return saturating_sum({checked_product({c.vocab, d}), checked_product({c.layers, layer}),
                               c.norm == NormPlacement::pre_rms ? d : 0});
    }
    const std::uint64_t norms = c.norm == NormPlacement::pre_rms ? 2 * d : 4 * d;
    layer = saturating_sum({norms, checked_product({d, h, dk}), checked_product({d, hkv, dk}),
                                                checked_product({d, hkv, dv}), checked_product({h, dv, d}),
                                                checked_product({2, d, f}),
                                                c.attention.talking_heads ? checked_product({2, h, h}) : 0});
    return saturating_sum({checked_product({c.vocab, d}), checked_product({c.layers, layer}),
                           c.norm == NormPlacement::pre_rms ? d : 0});
}

const char* tensor_kind_target(TensorKind kind) {
    switch (kind) {
        case TensorKind::embedding: return "embedding";
        case TensorKind::norm_gain:
        case TensorKind::norm_bias: return "norms";
        case TensorKind::wq: return "wq";
        case TensorKind::wk: return "wk";
        case TensorKind::wv: return "wv";
        case TensorKind::wo: return "wo";
        case TensorKind::w1: return "w1";
        case TensorKind::w2: return "w2";
        case TensorKind::wu: return "wu";
        case TensorKind::wz: return "wz";
        case TensorKind::qk_scale:
        case TensorKind::qk_offset: return "scaleOffset";
        case TensorKind::talking_logits:
        case TensorKind::talking_weights: return "talking";
        case TensorKind::ladder_down:
        case TensorKind::ladder_gate:
        case TensorKind::ladder_up: return "ladder";
    }
    return "?";
}

namespace {

// Tensors laid out one after another in one flat buffer, in the order they are added: what both
// the model's parameter list and the ladder's side-network list are.
struct TensorList {
    std::vector<TensorInfo> tensors;
    std::size_t offset = 0;
    void add(std::string name, std::vector<std::size_t> shape, TensorKind kind, std::size_t layer) {
        TensorInfo t;
        t.name = std::move(name);
        t.size = 1;
        for (std::size_t x : shape) t.size *= x;
        t.shape = std::move(shape);
        t.offset = offset;
        t.kind = kind;
        t.layer = layer;
        offset += t.size;
        tensors.push_back(std::move(t));
    }
};

}  // namespace

std::vector<TensorInfo> transformer_tensors(const TransformerConfig& c) {
    TensorList list;
    const std::size_t d = c.d_model, h = c.heads, hkv = c.kv_heads, dk = c.key_size, dv = c.d_model / c.heads,
                      f = c.ffn;
    const bool post = c.norm != NormPlacement::pre_rms;
    list.add("embedding.weight", {c.vocab, d}, TensorKind::embedding, 0);
    for (std::size_t l = 0; l < c.layers && c.block == BlockKind::gau; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        const std::size_t e = c.gau.expansion, s = c.gau.key_size;
        list.add(p + "gau_norm.weight", {d}, TensorKind::norm_gain, l);
        if (post) list.add(p + "gau_norm.bias", {d}, TensorKind::norm_bias, l);
        list.add(p + "gau.wu", {d, e}, TensorKind::wu, l);
        list.add(p + "gau.wv", {d, e}, TensorKind::wv, l);
        list.add(p + "gau.wz", {d, s}, TensorKind::wz, l);
        list.add(p + "gau.q_scale", {s}, TensorKind::qk_scale, l);
        list.add(p + "gau.q_offset", {s}, TensorKind::qk_offset, l);
        list.add(p + "gau.k_scale", {s}, TensorKind::qk_scale, l);
        list.add(p + "gau.k_offset", {s}, TensorKind::qk_offset, l);
        list.add(p + "gau.wo", {e, d}, TensorKind::wo, l);
    }
    for (std::size_t l = 0; l < c.layers && c.block == BlockKind::transformer; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        list.add(p + "attn_norm.weight", {d}, TensorKind::norm_gain, l);
        if (post) list.add(p + "attn_norm.bias", {d}, TensorKind::norm_bias, l);
        list.add(p + "attn.wq", {d, h * dk}, TensorKind::wq, l);
        list.add(p + "attn.wk", {d, hkv * dk}, TensorKind::wk, l);
        list.add(p + "attn.wv", {d, hkv * dv}, TensorKind::wv, l);
        list.add(p + "attn.wo", {h * dv, d}, TensorKind::wo, l);
        if (c.attention.talking_heads) {
            list.add(p + "attn.talking_logits", {h, h}, TensorKind::talking_logits, l);
            list.add(p + "attn.talking_weights", {h, h}, TensorKind::talking_weights, l);
        }
        list.add(p + "ffn_norm.weight", {d}, TensorKind::norm_gain, l);
        if (post) list.add(p + "ffn_norm.bias", {d}, TensorKind::norm_bias, l);
        list.add(p + "ffn.w1", {d, f}, TensorKind::w1, l);
        list.add(p + "ffn.w2", {f, d}, TensorKind::w2, l);
    }
    if (!post) list.add("final_norm.weight", {d}, TensorKind::norm_gain, 0);
    return list.tensors;
}

namespace {

// Talking heads (layers.hpp) keep two n×n matrices per head for each of `layers_kept` layers, the
// logits S and the weights A, [batch, H, seq, seq]; the kernels' scratch adds two [H, seq, seq]
// products (the mixed weights and their gradient), the gathered heads and the K and V gradients of
// one batch entry. 0 without talking heads.
std::uint64_t talking_heads_floats(const TransformerConfig& c, std::uint64_t batch, std::uint64_t seq,
                                   std::uint64_t layers_kept) {
    if (!c.attention.talking_heads) return 0;
    const std::uint64_t h = c.heads, hkv = c.kv_heads, dk = c.key_size, dv = c.d_model / c.heads;
    const std::uint64_t square = checked_product({h, seq, seq});
    const std::uint64_t kept = checked_product({2, layers_kept, batch, square});
    const std::uint64_t scratch =
        saturating_sum({checked_product({2, square}), checked_product({seq, 3 * dk + 2 * dv}),
                        checked_product({hkv, seq, dk + dv})});
    return saturating_sum({kept, scratch});
}

}  // namespace

std::uint64_t transformer_activation_floats(const TransformerConfig& c, std::uint64_t batch, std::uint64_t seq) {
    const std::uint64_t rows = checked_product({batch, seq});
    const std::uint64_t d = c.d_model, h = c.heads, hkv = c.kv_heads, dk = c.key_size, dv = c.d_model / c.heads,
                        f = c.ffn;
    if (c.block == BlockKind::gau) {
        // Per layer: the norm or pre-norm sum (D) and its statistics (3), U and V before and after
        // SiLU (4·e), Z before and after SiLU, Q and K (4·s), the attention output and the gate
        // (2·e), the logsumexp (1); then the residual streams, the final norm, logits and their
        // gradient, and the backward scratch (4·D, dQ, dK, dV, dU and the gate's gradient).
        const std::uint64_t e = c.gau.expansion, s = c.gau.key_size;
        const std::uint64_t per_row_layer = saturating_sum({d, 4, checked_product({6, e}), checked_product({4, s})});
        const std::uint64_t per_row =
            saturating_sum({checked_product({c.layers, per_row_layer}), checked_product({c.layers + 1, d}), 2 * d + 2,
                            2 * std::uint64_t(c.vocab) + 1, 4 * d + 2 * s + 3 * e});
        return checked_product({rows, per_row});
    }
    // Per layer: the norm or pre-norm sums (3·D), q, k, v, the attention output, mid, 2·F for the
    // FFN, and the per-row statistics; then the L + 1 residual streams, logits and their gradient,
    // and the backward scratch (4·D, q, k, v, attention output, F).
    const std::uint64_t per_row_layer = 3 * d + h * dk + hkv * (dk + dv) + h * dv + d + 2 * f + 6 + h;
    const std::uint64_t per_row = saturating_sum({checked_product({c.layers, per_row_layer}),
                                                  checked_product({c.layers + 1, d}), 2 * d + 2,
                                                  2 * std::uint64_t(c.vocab) + 1,
                                                  4 * d + h * dk + hkv * (dk + dv) + h * dv + f});
    return saturating_sum({checked_product({rows, per_row}), talking_heads_floats(c, batch, seq, c.layers)});
}

LadderShape ladder_shape(const TransformerConfig& c, const FinetuneOptions& o) {
    LadderShape s;
    s.reduction = o.reduction;
    s.width = c.d_model / o.reduction;
    s.heads = o.side_heads;
    s.ffn = 4 * s.width;
    return s;
}

std::vector<TensorInfo> ladder_tensors(const TransformerConfig& c, const LadderShape& s) {
    TensorList list;
    const std::size_t D = c.d_model, d = s.width;
    for (std::size_t l = 0; l <= c.layers; ++l) list.add("ladder.down." + std::to_string(l), {D, d}, TensorKind::ladder_down, l);
    for (std::size_t l = 0; l < c.layers; ++l) {
        const std::string p = "ladder.layers." + std::to_string(l) + ".";
        list.add(p + "gate", {1}, TensorKind::ladder_gate, l);
        list.add(p + "attn_norm.weight", {d}, TensorKind::norm_gain, l);
        list.add(p + "attn.wq", {d, d}, TensorKind::wq, l);
        list.add(p + "attn.wk", {d, d}, TensorKind::wk, l);
        list.add(p + "attn.wv", {d, d}, TensorKind::wv, l);
        list.add(p + "attn.wo", {d, d}, TensorKind::wo, l);
        list.add(p + "ffn_norm.weight", {d}, TensorKind::norm_gain, l);
        list.add(p + "ffn.w1", {d, s.ffn}, TensorKind::w1, l);
        list.add(p + "ffn.w2", {s.ffn, d}, TensorKind::w2, l);
    }
    list.add("ladder.up", {d, D}, TensorKind::ladder_up, 0);
    return list.tensors;
}

std::uint64_t ladder_activation_floats(const TransformerConfig& c, const LadderShape& s, std::uint64_t batch,
                                       std::uint64_t seq) {
    const std::uint64_t rows = checked_product({batch, seq});
    const std::uint64_t D = c.d_model, h = c.heads, hkv = c.kv_heads, dk = c.key_size, dv = c.d_model / c.heads,
                        f = c.ffn, d = s.width, sf = s.ffn;
    // The backbone: one layer's buffers, reused by every layer (nothing is kept for a backward pass
    // that never runs), the L + 1 hidden states the ladders read, h, the final norm, the logits and
    // their gradient, and dL/dh.
    const std::uint64_t backbone_layer = 3 * D + h * dk + hkv * (dk + dv) + h * dv + D + 2 * f + 6 + h;
    const std::uint64_t backbone = saturating_sum({backbone_layer, checked_product({c.layers + 1, D}), 4 * D + 2,
                                                   2 * std::uint64_t(c.vocab) + 1});
    // The side network: per layer the ladder's projection and the mix (2·d), the block's norms,
    // q, k, v, the attention output and mid (7·d), the FFN (2·sf), the statistics (2 + heads); the
    // side streams s_0 … s_L; and the backward scratch (10·d, sf).
    const std::uint64_t side_layer = 9 * d + 2 * sf + 2 + s.heads;
    const std::uint64_t side = saturating_sum({checked_product({c.layers, side_layer}),
                                               checked_product({c.layers + 1, d}), 10 * d + sf});
    // With talking heads the backbone's one reused layer also keeps its n×n matrices.
    return saturating_sum({checked_product({rows, saturating_sum({backbone, side})}), talking_heads_floats(c, batch, seq, 1)});
}

void equal_mean_positions(std::size_t seq, double n, double* out) {
    for (std::size_t i = 0; i < seq; ++i) out[i] = seq == 1 ? 0.0 : static_cast<double>(i) * n / static_cast<double>(seq - 1);
}

std::size_t tokens_per_row(const TransformerConfig& config, const TrainCall& call) {
    return config.objective == Objective::causal && !call.with_targets && !call.targets ? call.seq + 1 : call.seq;
}

Error train_call_validate(const TransformerConfig& c, const TrainCall& call) {
    if (Error e = positive("batch", call.batch)) return e;
    if (Error e = positive("seq", call.seq)) return e;
    if (Error e = at_most("seq", call.seq, c.max_seq, "maxSeq")) return e;
    const std::uint64_t range = call.position_range ? call.position_range : c.max_seq;
    if (call.positions == PositionMode::random) {
        if (range < call.seq) {
            return range_error("positionRange", "at least seq = " + n(call.seq) + " (distinct positions)",
                               n(range));
        }
        if (Error e = at_most("positionRange", range, std::uint64_t{1} << 31, "2^31")) return e;
    }
    if (call.given) {
        const std::uint64_t rows = checked_product({call.batch, call.seq});
        if (call.given_count != call.seq && call.given_count != rows) {
            return range_error("positions", "an array of seq = " + n(call.seq) + " or batch·seq = " + n(rows) +
                                                " numbers", "length " + n(call.given_count));
        }
        for (std::size_t i = 0; i < call.given_count; ++i) {
            if (!std::isfinite(call.given[i])) {
                return range_error("positions[" + n(i) + "]", "a finite number", js_number(call.given[i]));
            }
        }
    }
    if ((call.with_targets || call.targets) && c.objective != Objective::causal) {
        return range_error_text("targets", "targets: only the causal objective takes a targets array (the masked "
                                           "one predicts the tokens it masks)");
    }
    if (call.targets) {
        const std::uint64_t rows = checked_product({call.batch, call.seq});
        if (call.targets_count != rows) {
            return range_error("targets", "an array of batch·seq = " + n(rows) + " target ids",
                               "length " + n(call.targets_count));
        }
        const std::int64_t top = static_cast<std::int64_t>(c.vocab) - 1;
        for (std::size_t i = 0; i < call.targets_count; ++i) {
            if (call.targets[i] < -1 || call.targets[i] > top) {
                return range_error("targets[" + n(i) + "]",
                                   "an integer in [0, " + js_number(static_cast<double>(top)) + "] or −1 (not predicted)",
                                   js_number(static_cast<double>(call.targets[i])));
            }
        }
    }
    const std::uint64_t floats = transformer_activation_floats(c, call.batch, call.seq);
    const std::uint64_t tokens = checked_product({call.batch, tokens_per_row(c, call)});
    return heap_budget("batch", saturating_sum({checked_product({floats, 4}), checked_product({tokens, 4})}),
                       "the activations of batch × seq tokens");
}

Error tokens_validate(const TransformerConfig& c, const std::int32_t* tokens, std::size_t count, const std::string& name) {
    const std::int64_t top = static_cast<std::int64_t>(c.vocab) - (c.objective == Objective::masked ? 2 : 1);
    for (std::size_t i = 0; i < count; ++i) {
        if (tokens[i] < 0 || tokens[i] > top) {
            std::string expected = "an integer in [0, " + js_number(static_cast<double>(top)) + "]";
            if (c.objective == Objective::masked) expected += " (vocab − 1 is the mask id)";
            return range_error(name + "[" + n(i) + "]", expected, js_number(static_cast<double>(tokens[i])));
        }
    }
    return {};
}

Error generate_validate(const TransformerConfig& c, std::size_t prompt_length, const GenerateOptions& o) {
    if (c.objective != Objective::causal) {
        return range_error_text("objective", "generate needs the causal objective, this model was built with 'masked'");
    }
    if (Error e = positive("prompt.length", prompt_length)) return e;
    if (Error e = at_most("prompt.length + maxTokens", saturating_sum({prompt_length, o.max_tokens}), c.max_seq, "maxSeq"))
        return e;
    if (Error e = number_at_least("temperature", o.temperature, 0)) return e;
    return at_most("topK", o.top_k, c.vocab, "vocab");
}

FinetuneOptions finetune_resolve(const TransformerConfig& c, FinetuneOptions o) {
    if (o.method != FinetuneMethod::ladder || o.side_heads != 0 || o.reduction == 0) return o;
    const std::size_t width = c.d_model / o.reduction;
    std::size_t heads = std::max<std::size_t>(1, std::min<std::size_t>(c.heads, width / 8));
    while (heads > 1 && width % heads != 0) --heads;
    o.side_heads = heads;
    return o;
}

namespace {

// The ladder's rules (finetune_validate): a standard backbone, no targets, a side width that the
// reduction and the side heads divide, and an even side head size with RoPE.
Error ladder_validate(const TransformerConfig& c, const FinetuneOptions& given) {
    if (c.block != BlockKind::transformer) {
        return range_error("method", "'full', 'lora' or 'galore' for block 'gau' (the ladder's side layers are "
                                     "standard transformer blocks reading a standard backbone)",
                           "\"ladder\"");
    }
    if (!given.targets.empty()) {
        return range_error("targets", "empty for method 'ladder' (the side network is what trains; the backbone "
                                      "stays frozen)", "length " + n(given.targets.size()));
    }
    if (Error e = positive("reduction", given.reduction)) return e;
    if (given.reduction > c.d_model || c.d_model % given.reduction != 0) {
        return range_error("reduction", "a divisor of dModel = " + n(c.d_model) + " (the side width is dModel/reduction)",
                           n(given.reduction));
    }
    const FinetuneOptions o = finetune_resolve(c, given);
    const std::size_t width = c.d_model / o.reduction;
    if (o.side_heads > width || width % o.side_heads != 0) {
        return range_error("sideHeads", "a divisor of the side width dModel/reduction = " + n(width),
                           n(o.side_heads));
    }
    if (c.attention.rope && (width / o.side_heads) % 2 != 0) {
        return range_error_text("reduction", "reduction: the side head size (dModel/reduction)/sideHeads must be even "
                                             "with RoPE (it rotates pairs of dims), received dModel = " +
                                                 n(c.d_model) + ", reduction = " + n(o.reduction) +
                                                 ", sideHeads = " + n(o.side_heads));
    }
    return {};
}

}  // namespace

Error finetune_validate(const TransformerConfig& c, const FinetuneOptions& o) {
    if (o.method == FinetuneMethod::ladder) {
        if (Error e = ladder_validate(c, o)) return e;
        if (Error e = number_greater_than("lr", o.lr, 0)) return e;
        if (Error e = learning_rate_at_most("lr", o.lr)) return e;
        return number_at_least("weightDecay", o.weight_decay, 0);
    }
    static const char* const kMatrixTargets[] = {"wq", "wk", "wv", "wo", "w1", "w2"};
    static const char* const kGauTargets[] = {"wu", "wv", "wz", "wo"};
    std::vector<std::string> known(std::begin(kMatrixTargets), std::end(kMatrixTargets));
    if (c.block == BlockKind::gau) known.assign(std::begin(kGauTargets), std::end(kGauTargets));
    if (o.method == FinetuneMethod::full) {
        known.push_back("embedding");
        known.push_back("norms");
        if (c.block == BlockKind::gau) known.push_back("scaleOffset");
        if (c.attention.talking_heads) known.push_back("talking");
    }
    for (std::size_t i = 0; i < o.targets.size(); ++i) {
        const std::string& t = o.targets[i];
        const std::string name = "targets[" + n(i) + "]";
        if (t == "talking" && c.attention.talking_heads && o.method != FinetuneMethod::full) {
            return range_error(name, "a target of method '" + std::string(enum_name(o.method)) +
                                         "' ('talking', the H×H talking-heads matrices, trains only with method "
                                         "'full': a low-rank factor of so small a matrix saves nothing)",
                               "\"talking\"");
        }
        if (std::find(known.begin(), known.end(), t) == known.end()) {
            std::string list;
            for (const std::string& k : known) list += (list.empty() ? "'" : ", '") + k + "'";
            return range_error(name, "one of " + list, "\"" + t + "\"");
        }
        if (std::find(o.targets.begin(), o.targets.begin() + static_cast<std::ptrdiff_t>(i), t) !=
            o.targets.begin() + static_cast<std::ptrdiff_t>(i)) {
            return range_error(name, "a target not listed before", "\"" + t + "\" again");
        }
    }
    if (Error e = number_greater_than("lr", o.lr, 0)) return e;
    if (Error e = learning_rate_at_most("lr", o.lr)) return e;
    if (Error e = finite("scale", o.scale)) return e;
    if (Error e = number_at_least("weightDecay", o.weight_decay, 0)) return e;
    if (o.method != FinetuneMethod::full) {
        for (const TensorInfo& t : transformer_tensors(c)) {
            if (!t.low_rank_target()) continue;
            const bool targeted = o.targets.empty() || std::find(o.targets.begin(), o.targets.end(),
                                                                 tensor_kind_target(t.kind)) != o.targets.end();
            if (targeted && o.rank > std::min(t.shape[0], t.shape[1])) {
                return range_error("rank", "at most min(rows, cols) = " + n(std::min(t.shape[0], t.shape[1])) +
                                               " of " + t.name, n(o.rank));
            }
        }
    }
    return {};
}

}  // namespace kexue::model
