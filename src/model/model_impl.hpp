// The definitions of TransformerModel<Real> (model.hpp), included by the two files that instantiate
// it: transformer.cpp (float) and model_reference.cpp (double, tests only).
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <type_traits>
#include <unordered_set>

#include "losses/flooding.hpp"
#include "model/layers.hpp"
#include "model/model.hpp"
#include "optim/adam.hpp"
#include "optim/clipping.hpp"

namespace kexue::model {

template <typename Real>
TransformerModel<Real>::TransformerModel(const TransformerConfig& config)
    : config_(config), tensors_(transformer_tensors(config)), optimizer_(config.optimizer), rng_(config.seed) {
    std::size_t total = 0;
    for (const TensorInfo& t : tensors_) total = std::max(total, t.offset + t.size);
    params_.assign(total, Real(0));
    grads_.assign(total, Real(0));
    trainable_.assign(tensors_.size(), true);
    // Tensor indices in the order transformer_tensors lists them.
    const bool post = config.norm != NormPlacement::pre_rms;
    std::size_t index = 0;
    embedding_ = index++;
    layer_params_.resize(config.layers);
    for (LayerParams& p : layer_params_) {
        if (config.block == BlockKind::gau) {
            p.norm1_g = index++;
            p.norm1_b = post ? index++ : 0;
            p.wu = index++;
            p.wv = index++;
            p.wz = index++;
            p.q_scale = index++;
            p.q_offset = index++;
            p.k_scale = index++;
            p.k_offset = index++;
            p.wo = index++;
            continue;
        }
        p.norm1_g = index++;
        p.norm1_b = post ? index++ : 0;
        p.wq = index++;
        p.wk = index++;
        p.wv = index++;
        p.wo = index++;
        if (config.attention.talking_heads) {
            p.talk_logits = index++;
            p.talk_weights = index++;
        }
        p.norm2_g = index++;
        p.norm2_b = post ? index++ : 0;
        p.w1 = index++;
        p.w2 = index++;
    }
    final_norm_ = post ? 0 : index++;
    assert(index == tensors_.size());
    init_parameters();
    reset_optimizer(config.optimizer);
    cache_k_.resize(config.layers);
    cache_v_.resize(config.layers);
}

// GPT-2's initialisation for pre-rms (N(0, σ²), the residual outputs Wo and W2 scaled by 1/√(2L)),
// N(0, σ²) for post-ln, and DeepNet's for deepnorm: Xavier-normal with gain β = (8L)^(−1/4) on
// Wv, Wo, W1, W2 and gain 1 on Wq, Wk (arXiv 2203.00555, Figure 2; kexue.fm/archives/8978).
// Block 'gau' has one residual branch per layer instead of two, so M = L sub-layers where a
// transformer has 2L: Wo scaled by 1/√L (pre-rms), and DeepNet's α = M^(1/4), β = (4M)^(−1/4)
// (its (2L)^(1/4), (8L)^(−1/4) written per sub-layer) with gain 1 on Wz (Q's and K's projection);
// γ = 1 and β = 0 for the scale-offset of Q and K (the identity at the start, as Su's bert4keras
// ScaleOffset). The talking-heads matrices Pl and Pw start at the identity, so that a fresh
// talking-heads model computes what the plain one does (and, drawing nothing from the stream, has
// the same other weights for the same seed); the identity start is kexue's choice, which lets the
// tests compare the two paths.
template <typename Real>
void TransformerModel<Real>::init_parameters() {
    const double layers = static_cast<double>(config_.layers);
    const bool gau = config_.block == BlockKind::gau;
    const double sublayers = gau ? layers : 2.0 * layers;
    const double beta = std::pow(4.0 * sublayers, -0.25);
    for (const TensorInfo& t : tensors_) {
        Real* p = params_.data() + t.offset;
        if (t.kind == TensorKind::norm_gain || t.kind == TensorKind::qk_scale) {
            std::fill(p, p + t.size, Real(1));
            continue;
        }
        if (t.kind == TensorKind::norm_bias || t.kind == TensorKind::qk_offset) {
            std::fill(p, p + t.size, Real(0));
            continue;
        }
        if (t.talking()) {
            std::fill(p, p + t.size, Real(0));
            for (std::size_t i = 0; i < t.shape[0]; ++i) p[i * t.shape[0] + i] = Real(1);
            continue;
        }
        double std = config_.init_std;
        if (t.kind != TensorKind::embedding) {
            if (config_.norm == NormPlacement::pre_rms) {
                if (t.kind == TensorKind::wo || t.kind == TensorKind::w2) std /= std::sqrt(sublayers);
            } else if (config_.norm == NormPlacement::deepnorm) {
                const double gain =
                    (t.kind == TensorKind::wq || t.kind == TensorKind::wk || t.kind == TensorKind::wz) ? 1.0 : beta;
                std = gain * std::sqrt(2.0 / static_cast<double>(t.shape[0] + t.shape[1]));
            }
        }
        // Rounded to float first, so that the float model and its double twin start equal.
        for (std::size_t i = 0; i < t.size; ++i) p[i] = static_cast<Real>(static_cast<float>(std * rng_.normal()));
    }
}

template <typename Real>
Real TransformerModel<Real>::alpha() const {
    if (config_.norm == NormPlacement::deepnorm) {
        const double sublayers = double(config_.layers) * (config_.block == BlockKind::gau ? 1.0 : 2.0);
        return static_cast<Real>(std::pow(sublayers, 0.25));
    }
    return Real(1);
}

template <typename Real>
GauWeights<Real> TransformerModel<Real>::gau_weights(std::size_t l) {
    const LayerParams& P = layer_params_[l];
    return {param(P.wu),      param(P.wv),      param(P.wz),      param(P.q_scale),
            param(P.q_offset), param(P.k_scale), param(P.k_offset), param(P.wo)};
}

template <typename Real>
GauGrads<Real> TransformerModel<Real>::gau_grads(std::size_t l) {
    const LayerParams& P = layer_params_[l];
    return {grad_if_trainable(P.wu),       grad_if_trainable(P.wv),      grad_if_trainable(P.wz),
            grad_if_trainable(P.q_scale),  grad_if_trainable(P.q_offset), grad_if_trainable(P.k_scale),
            grad_if_trainable(P.k_offset), grad_if_trainable(P.wo)};
}

template <typename Real>
GauActs<Real> TransformerModel<Real>::gau_acts(std::size_t l) {
    LayerActs& A = acts_[l];
    return {A.upre.data(), A.u.data(), A.vpre.data(), A.v.data(),   A.zpre.data(), A.z.data(),
            A.q.data(),    A.k.data(), A.att.data(),  A.lse.data(), A.gate.data()};
}

template <typename Real>
GauShape TransformerModel<Real>::gau_shape(std::size_t batch, std::size_t seq) const {
    return {batch, seq, config_.d_model, config_.gau.expansion, config_.gau.key_size};
}

template <typename Real>
AttentionOptions TransformerModel<Real>::attention_options() const {
    // Every option passed explicitly: the kernel's defaults may change, a model's must not.
    AttentionOptions o;
    o.scale = config_.attention.scale;
    o.base_len = config_.attention.base_len;
    o.n_min = config_.attention.n_min;
    o.clip_below_one = false;
    o.causal = config_.objective == Objective::causal;
    o.normalize = config_.attention.normalize;
    o.rope.reset();  // RoPE is applied by the model at the call's positions (rope_rows)
    return o;
}

template <typename Real>
void TransformerModel<Real>::reset_optimizer(const ModelOptimizer& optimizer) {
    optimizer_ = optimizer;
    adam_steps_ = 0;
    ladder_m_.assign(ladder_params_.size(), 0.0);
    ladder_v_.assign(ladder_params_.size(), 0.0);
    if constexpr (std::is_same_v<Real, float>) {
        adam_m_.assign(params_.size(), 0.0f);
        adam_v_.assign(params_.size(), 0.0f);
    } else {
        adam_m64_.assign(params_.size(), 0.0);
        adam_v64_.assign(params_.size(), 0.0);
    }
}

template <typename Real>
std::size_t TransformerModel<Real>::adam_state_floats() const {
    if (!adam_enabled_) return 0;
    if (ladder_active()) return 2 * ladder_params_.size();
    std::size_t n = 0;
    for (std::size_t i = 0; i < tensors_.size(); ++i)
        if (trainable_[i]) n += 2 * tensors_[i].size;
    return n;
}

template <typename Real>
void TransformerModel<Real>::ensure_activations(std::size_t batch, std::size_t seq) {
    const std::size_t n = batch * seq;
    if (ladder_active()) ensure_ladder_activations(n);
    if (n <= capacity_rows_) return;
    capacity_rows_ = n;
    const TransformerConfig& c = config_;
    const std::size_t d = c.d_model, f = c.ffn, dk = c.key_size, dv = c.d_model / c.heads;
    const bool post = c.norm != NormPlacement::pre_rms;
    resid_.assign(c.layers + 1, std::vector<Real>(n * d));
    acts_.resize(c.layers);
    if (c.block == BlockKind::gau) {
        const std::size_t e = c.gau.expansion, s = c.gau.key_size;
        for (LayerActs& a : acts_) {
            if (!post) {
                a.norm1.assign(n * d, 0);
                a.rstd1.assign(n, 0);
            } else {
                a.s1.assign(n * d, 0);
                a.mean_mid.assign(n, 0);
                a.rstd_mid.assign(n, 0);
            }
            for (auto* buffer : {&a.upre, &a.u, &a.vpre, &a.v, &a.att, &a.gate}) buffer->assign(n * e, 0);
            for (auto* buffer : {&a.zpre, &a.z, &a.q, &a.k}) buffer->assign(n * s, 0);
            a.lse.assign(n, 0);
        }
        if (!post) {
            final_norm_out_.assign(n * d, 0);
            final_rstd_.assign(n, 0);
        }
        logits_.assign(n * c.vocab, 0);
        dlogits_.assign(n * c.vocab, 0);
        losses_.assign(n, 0);
        for (auto* buffer : {&dx_, &dmid_, &dtmp_, &dnorm_}) buffer->assign(n * d, 0);
        dq_.assign(n * s, 0);
        dk_.assign(n * s, 0);
        dv_.assign(n * e, 0);
        datt_.assign(n * e, 0);
        dh_.assign(n * e, 0);
        inputs_.assign(n, 0);
        targets_.assign(n, 0);
        return;
    }
    // With the ladder every layer reuses layer 0's buffers: the backbone's backward pass never runs,
    // so nothing of a layer needs to outlive it but its output x_{l+1} (enable_ladder).
    for (std::size_t l = 0; l < (ladder_active() ? 1 : acts_.size()); ++l) {
        LayerActs& a = acts_[l];
        if (!post) {
            a.norm1.assign(n * d, 0);
            a.rstd1.assign(n, 0);
            a.norm2.assign(n * d, 0);
            a.rstd2.assign(n, 0);
        } else {
            a.s1.assign(n * d, 0);
            a.mean_mid.assign(n, 0);
            a.rstd_mid.assign(n, 0);
            a.s2.assign(n * d, 0);
            a.mean_out.assign(n, 0);
            a.rstd_out.assign(n, 0);
        }
        a.q.assign(n * c.heads * dk, 0);
        a.k.assign(n * c.kv_heads * dk, 0);
        a.v.assign(n * c.kv_heads * dv, 0);
        a.att.assign(n * c.heads * dv, 0);
        a.lse.assign(n * c.heads, 0);
        a.mid.assign(n * d, 0);
        a.hpre.assign(n * f, 0);
        a.hact.assign(n * f, 0);
        if (c.attention.talking_heads) {
            // S and A of every head, [batch, H, seq, seq] (layers.hpp, talking_heads_forward).
            a.talk_s.assign(batch * c.heads * seq * seq, 0);
            a.talk_a.assign(batch * c.heads * seq * seq, 0);
        }
    }
    if (!post) {
        final_norm_out_.assign(n * d, 0);
        final_rstd_.assign(n, 0);
    }
    logits_.assign(n * c.vocab, 0);
    dlogits_.assign(n * c.vocab, 0);
    losses_.assign(n, 0);
    for (auto* buffer : {&dx_, &dmid_, &dtmp_, &dnorm_}) buffer->assign(n * d, 0);
    dq_.assign(n * c.heads * dk, 0);
    dk_.assign(n * c.kv_heads * dk, 0);
    dv_.assign(n * c.kv_heads * dv, 0);
    datt_.assign(n * c.heads * dv, 0);
    dh_.assign(n * f, 0);
    inputs_.assign(n, 0);
    targets_.assign(n, 0);
}

template <typename Real>
std::vector<double> TransformerModel<Real>::positions_for(const TrainCall& call) {
    const std::size_t b = call.batch, t = call.seq;
    std::vector<double> positions(b * t);
    const double range = static_cast<double>(call.position_range ? call.position_range : config_.max_seq);
    if (call.given) {
        for (std::size_t row = 0; row < b; ++row)
            for (std::size_t i = 0; i < t; ++i)
                positions[row * t + i] = call.given[call.given_count == t ? i : row * t + i];
        return positions;
    }
    for (std::size_t row = 0; row < b; ++row) {
        double* p = positions.data() + row * t;
        switch (call.positions) {
            case PositionMode::sequential:
                for (std::size_t i = 0; i < t; ++i) p[i] = static_cast<double>(i);
                break;
            case PositionMode::equal_mean:
                // n ~ Exponential(mean seq) by inversion (1 − u ∈ (0, 1], so the log is finite).
                equal_mean_positions(t, -static_cast<double>(t) * std::log(1.0 - rng_.uniform()), p);
                break;
            case PositionMode::random: {
                // Floyd's algorithm: t distinct integers of [0, R), then sorted.
                const std::uint64_t r = static_cast<std::uint64_t>(range);
                std::unordered_set<std::uint64_t> chosen;
                std::vector<std::uint64_t> picks;
                for (std::uint64_t j = r - t; j < r; ++j) {
                    const std::uint64_t x = static_cast<std::uint64_t>(rng_.uniform() * static_cast<double>(j + 1));
                    const std::uint64_t pick = chosen.count(x) ? j : x;
                    chosen.insert(pick);
                    picks.push_back(pick);
                }
                std::sort(picks.begin(), picks.end());
                for (std::size_t i = 0; i < t; ++i) p[i] = static_cast<double>(picks[i]);
                break;
            }
        }
    }
    return positions;
}

template <typename Real>
void TransformerModel<Real>::forward_layers(const std::int32_t* inputs, std::size_t batch, std::size_t seq,
                                            const double* positions, bool use_cache) {
    const TransformerConfig& c = config_;
    const std::size_t n = batch * seq, d = c.d_model, f = c.ffn, h = c.heads, hkv = c.kv_heads, dk = c.key_size,
                      dv = c.d_model / c.heads;
    const bool post = c.norm != NormPlacement::pre_rms;
    const Real eps = static_cast<Real>(c.norm_eps), a = alpha();
    const AttentionOptions options = attention_options();
    embedding_forward(inputs, n, param(embedding_), d, resid_[0].data());
    for (std::size_t l = 0; l < c.layers; ++l) {
        LayerActs& A = acts_[ladder_active() ? 0 : l];
        const LayerParams& P = layer_params_[l];
        const Real* x = resid_[l].data();
        Real* out = resid_[l + 1].data();
        const Real* in = x;
        if (!post) {
            rmsnorm_forward(x, param(P.norm1_g), n, d, eps, A.norm1.data(), A.rstd1.data());
            in = A.norm1.data();
        }
        if (c.block == BlockKind::gau) {
            // pre-rms: out = x + GAU(RMSNorm(x)); post-ln / deepnorm: out = LN(α·x + GAU(x)).
            const GauShape g = gau_shape(batch, seq);
            GauActs<Real> acts = gau_acts(l);
            GauRope rope;
            if (c.attention.rope) rope = GauRope{positions, c.attention.rope->base};
            const Real *keys = nullptr, *values = nullptr;
            std::size_t seq_k = 0;
            if (use_cache) {
                if (cache_k_[l].empty()) {
                    cache_k_[l].assign(c.max_seq * g.s, 0);
                    cache_v_[l].assign(c.max_seq * g.e, 0);
                }
                acts.k = cache_k_[l].data() + cache_length_ * g.s;
                acts.v = cache_v_[l].data() + cache_length_ * g.e;
                keys = cache_k_[l].data();
                values = cache_v_[l].data();
                seq_k = cache_length_ + seq;
            }
            Real* y = post ? A.s1.data() : out;
            gau_forward(g, options, rope, gau_weights(l), in, acts, y, keys, values, seq_k);
            if (!post) {
                for (std::size_t i = 0; i < n * d; ++i) out[i] += x[i];
            } else {
                for (std::size_t i = 0; i < n * d; ++i) A.s1[i] += a * x[i];
                layernorm_forward(A.s1.data(), param(P.norm1_g), param(P.norm1_b), n, d, eps, out, A.mean_mid.data(),
                                  A.rstd_mid.data());
            }
            continue;
        }
        Real* k = A.k.data();
        Real* v = A.v.data();
        std::size_t seq_k = seq;
        if (use_cache) {
            if (cache_k_[l].empty()) {
                cache_k_[l].assign(c.max_seq * hkv * dk, 0);
                cache_v_[l].assign(c.max_seq * hkv * dv, 0);
            }
            k = cache_k_[l].data() + cache_length_ * hkv * dk;
            v = cache_v_[l].data() + cache_length_ * hkv * dv;
            seq_k = cache_length_ + seq;
        }
        linear_forward(in, param(P.wq), n, d, h * dk, A.q.data());
        linear_forward(in, param(P.wk), n, d, hkv * dk, k);
        linear_forward(in, param(P.wv), n, d, hkv * dv, v);
        if (c.attention.rope) {
            for (std::size_t b = 0; b < batch; ++b) {
                rope_rows(A.q.data() + b * seq * h * dk, seq, h, dk, positions + b * seq, c.attention.rope->base, false);
                rope_rows(k + b * seq * hkv * dk, seq, hkv, dk, positions + b * seq, c.attention.rope->base, false);
            }
        }
        const AttentionShape shape{batch, seq, seq_k, h, hkv, dk, dv};
        if (c.attention.talking_heads) {
            // The materialised path (layers.hpp); with the cache, S and A are [H, seq, seq_k].
            const std::size_t square = batch * h * seq * seq_k;
            if (A.talk_s.size() < square) {
                A.talk_s.resize(square);
                A.talk_a.resize(square);
            }
            talking_heads_forward(shape, options, param(P.talk_logits), param(P.talk_weights), A.q.data(),
                                  use_cache ? cache_k_[l].data() : k, use_cache ? cache_v_[l].data() : v,
                                  A.att.data(), A.talk_s.data(), A.talk_a.data());
        } else {
            fused_attention_forward(shape, options, A.q.data(), use_cache ? cache_k_[l].data() : k,
                                    use_cache ? cache_v_[l].data() : v, A.att.data(), A.lse.data());
        }
        if (!post) {
            linear_forward(A.att.data(), param(P.wo), n, h * dv, d, A.mid.data());
            for (std::size_t i = 0; i < n * d; ++i) A.mid[i] += x[i];
            rmsnorm_forward(A.mid.data(), param(P.norm2_g), n, d, eps, A.norm2.data(), A.rstd2.data());
            linear_forward(A.norm2.data(), param(P.w1), n, d, f, A.hpre.data());
            gelu_forward(A.hpre.data(), n * f, A.hact.data());
            linear_forward(A.hact.data(), param(P.w2), n, f, d, out);
            for (std::size_t i = 0; i < n * d; ++i) out[i] += A.mid[i];
        } else {
            linear_forward(A.att.data(), param(P.wo), n, h * dv, d, A.s1.data());
            for (std::size_t i = 0; i < n * d; ++i) A.s1[i] += a * x[i];
            layernorm_forward(A.s1.data(), param(P.norm1_g), param(P.norm1_b), n, d, eps, A.mid.data(),
                              A.mean_mid.data(), A.rstd_mid.data());
            linear_forward(A.mid.data(), param(P.w1), n, d, f, A.hpre.data());
            gelu_forward(A.hpre.data(), n * f, A.hact.data());
            linear_forward(A.hact.data(), param(P.w2), n, f, d, A.s2.data());
            for (std::size_t i = 0; i < n * d; ++i) A.s2[i] += a * A.mid[i];
            layernorm_forward(A.s2.data(), param(P.norm2_g), param(P.norm2_b), n, d, eps, out, A.mean_out.data(),
                              A.rstd_out.data());
        }
    }
    const Real* top = resid_[c.layers].data();
    if (ladder_active()) {
        // h = x_L + s_L·Wup takes x_L's place before the final norm and the head.
        ladder_forward(batch, seq, positions, use_cache);
        top = ladder_h_.data();
    }
    if (!post) {
        rmsnorm_forward(top, param(final_norm_), n, d, eps, final_norm_out_.data(), final_rstd_.data());
        top = final_norm_out_.data();
    }
    // The head tied to the embedding: logits = h·Eᵀ.
    matmul(n, d, c.vocab, false, true, top, param(embedding_), logits_.data(), false);
}

template <typename Real>
void TransformerModel<Real>::backward_layers(const std::int32_t* inputs, std::size_t batch, std::size_t seq,
                                             const double* positions) {
    const TransformerConfig& c = config_;
    const std::size_t n = batch * seq, d = c.d_model, f = c.ffn, h = c.heads, hkv = c.kv_heads, dk = c.key_size,
                      dv = c.d_model / c.heads, vocab = c.vocab;
    const bool post = c.norm != NormPlacement::pre_rms;
    const Real a = alpha();
    const AttentionOptions options = attention_options();
    if (ladder_active()) {
        // The frozen head and final norm pass dL/dh to the side network; the backbone's own backward
        // pass (and its weight gradients) never runs.
        const Real* top = post ? ladder_h_.data() : final_norm_out_.data();
        (void)top;
        matmul(n, vocab, d, false, false, dlogits_.data(), param(embedding_), dtmp_.data(), false);
        if (!post) {
            rmsnorm_backward(dtmp_.data(), ladder_h_.data(), param(final_norm_), final_rstd_.data(), n, d, dx_.data(),
                             static_cast<Real*>(nullptr));
        } else {
            std::copy(dtmp_.begin(), dtmp_.begin() + n * d, dx_.begin());
        }
        ladder_backward(dx_.data(), batch, seq, positions);
        return;
    }
    std::fill(grads_.begin(), grads_.end(), Real(0));

    const Real* top = post ? resid_[c.layers].data() : final_norm_out_.data();
    // logits = top·Eᵀ: d top = dlogits·E, dE += dlogitsᵀ·top.
    matmul(n, vocab, d, false, false, dlogits_.data(), param(embedding_), dtmp_.data(), false);
    if (trainable_[embedding_]) matmul(vocab, n, d, true, false, dlogits_.data(), top, grad(embedding_), true);
    if (!post) {
        rmsnorm_backward(dtmp_.data(), resid_[c.layers].data(), param(final_norm_), final_rstd_.data(), n, d,
                         dx_.data(), grad_if_trainable(final_norm_));
    } else {
        std::copy(dtmp_.begin(), dtmp_.begin() + n * d, dx_.begin());
    }

    const AttentionShape shape{batch, seq, seq, h, hkv, dk, dv};
    for (std::size_t l = c.layers; l-- > 0;) {
        LayerActs& A = acts_[l];
        const LayerParams& P = layer_params_[l];
        const Real* x = resid_[l].data();
        // dx_ holds dL/dx_{l+1} on entry and dL/dx_l on exit.
        if (c.block == BlockKind::gau) {
            GauRope rope;
            if (c.attention.rope) rope = GauRope{positions, c.attention.rope->base};
            const GauScratch<Real> scratch{datt_.data(), dh_.data(), dv_.data(), dq_.data(), dk_.data()};
            if (!post) {
                // out = x + GAU(RMSNorm(x))
                gau_backward(gau_shape(batch, seq), options, rope, gau_weights(l), A.norm1.data(), gau_acts(l),
                             dx_.data(), gau_grads(l), scratch, dnorm_.data());
                rmsnorm_backward(dnorm_.data(), x, param(P.norm1_g), A.rstd1.data(), n, d, dtmp_.data(),
                                 grad_if_trainable(P.norm1_g));
                for (std::size_t i = 0; i < n * d; ++i) dx_[i] += dtmp_[i];
            } else {
                // out = LN(s1), s1 = α·x + GAU(x)
                layernorm_backward(dx_.data(), A.s1.data(), param(P.norm1_g), A.mean_mid.data(), A.rstd_mid.data(), n,
                                   d, dtmp_.data(), grad_if_trainable(P.norm1_g), grad_if_trainable(P.norm1_b));
                gau_backward(gau_shape(batch, seq), options, rope, gau_weights(l), x, gau_acts(l), dtmp_.data(),
                             gau_grads(l), scratch, dnorm_.data());
                for (std::size_t i = 0; i < n * d; ++i) dx_[i] = a * dtmp_[i] + dnorm_[i];
            }
            continue;
        }
        if (!post) {
            // out = mid + hact·W2
            std::copy(dx_.begin(), dx_.begin() + n * d, dmid_.begin());
            linear_backward(dx_.data(), A.hact.data(), param(P.w2), n, f, d, dh_.data(), grad_if_trainable(P.w2));
            gelu_backward(dh_.data(), A.hpre.data(), n * f, dh_.data());
            linear_backward(dh_.data(), A.norm2.data(), param(P.w1), n, d, f, dnorm_.data(), grad_if_trainable(P.w1));
            rmsnorm_backward(dnorm_.data(), A.mid.data(), param(P.norm2_g), A.rstd2.data(), n, d, dtmp_.data(),
                             grad_if_trainable(P.norm2_g));
            for (std::size_t i = 0; i < n * d; ++i) dmid_[i] += dtmp_[i];
            // mid = x + att·Wo
            linear_backward(dmid_.data(), A.att.data(), param(P.wo), n, h * dv, d, datt_.data(),
                            grad_if_trainable(P.wo));
        } else {
            // out = LN(s2), s2 = α·mid + hact·W2
            layernorm_backward(dx_.data(), A.s2.data(), param(P.norm2_g), A.mean_out.data(), A.rstd_out.data(), n, d,
                               dtmp_.data(), grad_if_trainable(P.norm2_g), grad_if_trainable(P.norm2_b));
            for (std::size_t i = 0; i < n * d; ++i) dmid_[i] = a * dtmp_[i];
            linear_backward(dtmp_.data(), A.hact.data(), param(P.w2), n, f, d, dh_.data(), grad_if_trainable(P.w2));
            gelu_backward(dh_.data(), A.hpre.data(), n * f, dh_.data());
            linear_backward(dh_.data(), A.mid.data(), param(P.w1), n, d, f, dmid_.data(), grad_if_trainable(P.w1),
                            true);
            // mid = LN(s1), s1 = α·x + att·Wo
            layernorm_backward(dmid_.data(), A.s1.data(), param(P.norm1_g), A.mean_mid.data(), A.rstd_mid.data(), n,
                               d, dtmp_.data(), grad_if_trainable(P.norm1_g), grad_if_trainable(P.norm1_b));
            linear_backward(dtmp_.data(), A.att.data(), param(P.wo), n, h * dv, d, datt_.data(),
                            grad_if_trainable(P.wo));
        }
        if (c.attention.talking_heads) {
            talking_heads_backward(shape, options, param(P.talk_logits), param(P.talk_weights), A.q.data(),
                                   A.k.data(), A.v.data(), A.talk_s.data(), A.talk_a.data(), datt_.data(), dq_.data(),
                                   dk_.data(), dv_.data(), grad_if_trainable(P.talk_logits),
                                   grad_if_trainable(P.talk_weights));
        } else {
            fused_attention_backward(shape, options, A.q.data(), A.k.data(), A.v.data(), A.att.data(), A.lse.data(),
                                     datt_.data(), dq_.data(), dk_.data(), dv_.data());
        }
        if (c.attention.rope) {
            // The kernel's gradients are w.r.t. the rotated q and k: ∂/∂q = R_mᵀ ∂/∂(R_m q) = R_{−m} ∂/∂(R_m q).
            for (std::size_t b = 0; b < batch; ++b) {
                rope_rows(dq_.data() + b * seq * h * dk, seq, h, dk, positions + b * seq, c.attention.rope->base, true);
                rope_rows(dk_.data() + b * seq * hkv * dk, seq, hkv, dk, positions + b * seq, c.attention.rope->base,
                          true);
            }
        }
        const Real* in = post ? x : A.norm1.data();
        linear_backward(dq_.data(), in, param(P.wq), n, d, h * dk, dnorm_.data(), grad_if_trainable(P.wq));
        linear_backward(dk_.data(), in, param(P.wk), n, d, hkv * dk, dnorm_.data(), grad_if_trainable(P.wk), true);
        linear_backward(dv_.data(), in, param(P.wv), n, d, hkv * dv, dnorm_.data(), grad_if_trainable(P.wv), true);
        if (!post) {
            rmsnorm_backward(dnorm_.data(), x, param(P.norm1_g), A.rstd1.data(), n, d, dtmp_.data(),
                             grad_if_trainable(P.norm1_g));
            for (std::size_t i = 0; i < n * d; ++i) dx_[i] = dmid_[i] + dtmp_[i];
        } else {
            for (std::size_t i = 0; i < n * d; ++i) dx_[i] = a * dtmp_[i] + dnorm_[i];
        }
    }
    if (trainable_[embedding_]) embedding_backward(inputs, n, dx_.data(), d, grad(embedding_));
}

template <typename Real>
double TransformerModel<Real>::forward_backward(const std::int32_t* tokens, const TrainCall& call, bool backward,
                                                Real* per_token) {
    const TransformerConfig& c = config_;
    const std::size_t b = call.batch, t = call.seq, n = b * t, row = tokens_per_row(c, call);
    ensure_activations(b, t);
    // Training draws masks and random positions from the model's stream; evaluation from the
    // call's seed, so that evaluating twice gives the same numbers.
    Xoshiro256 local(call.seed);
    Xoshiro256& rng = backward ? rng_ : local;
    if (call.targets) {
        // Rows of seq inputs, and the caller's targets (−1: not predicted).
        std::copy(tokens, tokens + n, inputs_.begin());
        std::copy(call.targets, call.targets + n, targets_.begin());
    } else if (c.objective == Objective::causal) {
        for (std::size_t r = 0; r < b; ++r) {
            for (std::size_t i = 0; i < t; ++i) {
                inputs_[r * t + i] = tokens[r * row + i];
                targets_[r * t + i] = tokens[r * row + i + 1];
            }
        }
    } else {
        // BERT's corruption: each token is a target with probability maskRate; a target's input is
        // the mask id (vocab − 1) 80% of the time, a random token 10%, itself 10%.
        const std::int32_t mask_id = static_cast<std::int32_t>(c.vocab - 1);
        for (std::size_t i = 0; i < n; ++i) {
            const std::int32_t token = tokens[i];
            inputs_[i] = token;
            targets_[i] = -1;
            if (rng.uniform() >= c.mask_rate) continue;
            targets_[i] = token;
            const double u = rng.uniform();
            if (u < 0.8) inputs_[i] = mask_id;
            else if (u < 0.9) inputs_[i] = static_cast<std::int32_t>(rng.uniform() * static_cast<double>(c.vocab - 1));
        }
    }
    std::vector<double> positions;
    if (backward) {
        positions = positions_for(call);
    } else {
        std::swap(rng_, local);  // evaluation's random positions come from the call's seed too
        positions = positions_for(call);
        std::swap(rng_, local);
    }
    forward_layers(inputs_.data(), b, t, positions.data(), false);
    std::size_t count = 0;
    for (std::size_t i = 0; i < n; ++i) count += targets_[i] >= 0;
    const Real weight = Real(1) / static_cast<Real>(std::max<std::size_t>(count, 1));
    cross_entropy_forward_backward(logits_.data(), targets_.data(), n, c.vocab, weight, losses_.data(),
                                   backward ? dlogits_.data() : static_cast<Real*>(nullptr));
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(losses_[i]);
    if (per_token) std::copy(losses_.begin(), losses_.begin() + n, per_token);
    const double loss = sum / static_cast<double>(std::max<std::size_t>(count, 1));
    if (backward) {
        // Flooding (kexue.fm/archives/7643): the gradient of |L − b| + b is sign(L − b)·∇L.
        if (c.optimizer.flooding) {
            const Real sign = static_cast<Real>(flooding(loss, *c.optimizer.flooding).sign);
            if (sign != Real(1))
                for (Real& g : dlogits_) g *= sign;
        }
        backward_layers(inputs_.data(), b, t, positions.data());
    }
    return loss;
}

template <typename Real>
double TransformerModel<Real>::train_step(const std::int32_t* tokens, const TrainCall& call) {
    const double loss = forward_backward(tokens, call, true, nullptr);
    apply_update();
    return loss;
}

// AdamW over n entries with float64 moments, the gradient scaled by grad_scale (a clipping
// coefficient) on the way in: the float64 reference model's update, and the ladder's side network
// (small enough to keep double moments whatever Real is).
template <typename Real>
void adamw_float64_moments(Real* p, const Real* g, double* m, double* v, std::size_t n, const AdamOptions& o,
                           std::size_t step, double grad_scale) {
    const double t = static_cast<double>(step);
    const double c1 = 1.0 - std::pow(o.beta1, t), c2 = 1.0 - std::pow(o.beta2, t);
    for (std::size_t j = 0; j < n; ++j) {
        const double gj = static_cast<double>(g[j]) * grad_scale;
        m[j] = o.beta1 * m[j] + (1 - o.beta1) * gj;
        v[j] = o.beta2 * v[j] + (1 - o.beta2) * gj * gj;
        const double pj = static_cast<double>(p[j]);
        p[j] = static_cast<Real>(pj * (1 - o.lr * o.weight_decay) - (o.lr / c1) * m[j] / (std::sqrt(v[j]) / std::sqrt(c2) + o.eps));
    }
}

template <typename Real>
void TransformerModel<Real>::apply_update() {
    if (ladder_active()) {
        // The side network alone: clipping over its gradient, then AdamW (no decay on the norms'
        // gains and the gates), in double for both Real.
        double sum = 0;
        for (Real g : ladder_grads_) sum += static_cast<double>(g) * g;
        last_norm_ = std::sqrt(sum);
        double coefficient = 1;
        if (optimizer_.clip_norm > 0) coefficient = clip_coefficient(last_norm_, optimizer_.clip_norm, ClipForm::Min);
        ++steps_;
        if (!adam_enabled_) return;
        ++adam_steps_;
        AdamOptions o{optimizer_.lr, optimizer_.beta1, optimizer_.beta2, optimizer_.eps, 0.0};
        for (const TensorInfo& info : ladder_tensors_) {
            o.weight_decay = info.matrix() ? optimizer_.weight_decay : 0.0;
            const std::size_t j = info.offset;
            adamw_float64_moments(ladder_params_.data() + j, ladder_grads_.data() + j, ladder_m_.data() + j,
                                  ladder_v_.data() + j, info.size, o, adam_steps_, coefficient);
        }
        return;
    }
    // Global-norm clipping over the trained tensors (kexue.fm/archives/7469, the 'min' form).
    double sum = 0;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
        if (!trainable_[i]) continue;
        const Real* g = grads_.data() + tensors_[i].offset;
        for (std::size_t j = 0; j < tensors_[i].size; ++j) sum += static_cast<double>(g[j]) * g[j];
    }
    last_norm_ = std::sqrt(sum);
    if (optimizer_.clip_norm > 0) {
        const double coefficient = clip_coefficient(last_norm_, optimizer_.clip_norm, ClipForm::Min);
        if (coefficient != 1) {
            for (Real& g : grads_) g = static_cast<Real>(g * coefficient);
        }
    }
    ++steps_;
    if (!adam_enabled_) return;
    ++adam_steps_;
    // AdamW (optim/adam.hpp); no decay on the norms' gains and biases.
    AdamOptions with_decay{optimizer_.lr, optimizer_.beta1, optimizer_.beta2, optimizer_.eps, optimizer_.weight_decay};
    AdamOptions without_decay = with_decay;
    without_decay.weight_decay = 0;
    const auto t = static_cast<std::int64_t>(adam_steps_);
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
        if (!trainable_[i]) continue;
        const TensorInfo& info = tensors_[i];
        const AdamOptions& o = info.decayed() ? with_decay : without_decay;
        Real* p = params_.data() + info.offset;
        const Real* g = grads_.data() + info.offset;
        if constexpr (std::is_same_v<Real, float>) {
            adam_update(p, g, adam_m_.data() + info.offset, adam_v_.data() + info.offset, info.size,
                        adam_step<float>(o, t));
        } else {
            // The same update with moments in double (the reference keeps no float rounding).
            adamw_float64_moments(p, g, adam_m64_.data() + info.offset, adam_v64_.data() + info.offset, info.size, o,
                                  adam_steps_, 1.0);
        }
    }
}

template <typename Real>
void TransformerModel<Real>::forward_cached(const std::int32_t* tokens, std::size_t count, std::vector<Real>& logits) {
    assert(cache_length_ + count <= config_.max_seq);
    std::vector<double> positions(count);
    for (std::size_t i = 0; i < count; ++i) positions[i] = static_cast<double>(cache_length_ + i);
    ensure_activations(1, count);
    forward_layers(tokens, 1, count, positions.data(), true);
    cache_length_ += count;
    logits.assign(logits_.begin(), logits_.begin() + count * config_.vocab);
}

// ---- ladder side-tuning (model.hpp, LadderShape) -------------------------------------------------

template <typename Real>
void TransformerModel<Real>::enable_ladder(const LadderShape& shape) {
    ladder_ = shape;
    ladder_tensors_ = kexue::model::ladder_tensors(config_, shape);
    std::size_t total = 0;
    for (const TensorInfo& t : ladder_tensors_) total = std::max(total, t.offset + t.size);
    ladder_params_.assign(total, Real(0));
    ladder_grads_.assign(total, Real(0));
    ladder_m_.assign(total, 0.0);
    ladder_v_.assign(total, 0.0);
    ladder_init();
    trainable_.assign(tensors_.size(), false);
    // The backbone's per-layer activations are freed: from now on one layer's are reused by all.
    acts_.clear();
    acts_.resize(config_.layers);
    capacity_rows_ = 0;
    ladder_capacity_ = 0;
    ladder_cache_k_.assign(config_.layers, {});
    ladder_cache_v_.assign(config_.layers, {});
}

template <typename Real>
void TransformerModel<Real>::disable_ladder() {
    if (!ladder_active()) return;
    ladder_ = LadderShape{};
    ladder_tensors_.clear();
    for (auto* v : {&ladder_params_, &ladder_grads_, &ladder_h_, &ladder_ds_, &ladder_dz_, &ladder_ddown_, &ladder_dmid_,
                    &ladder_dtmp_, &ladder_dnorm_, &ladder_dq_, &ladder_dk_, &ladder_dv_, &ladder_datt_, &ladder_dffn_})
        std::vector<Real>().swap(*v);
    ladder_m_.clear();
    ladder_v_.clear();
    side_.clear();
    ladder_acts_.clear();
    ladder_cache_k_.clear();
    ladder_cache_v_.clear();
    ladder_capacity_ = 0;
    capacity_rows_ = 0;  // every layer's activations again
}

// The side network's initialisation. The paper initialises the side blocks from a structurally
// pruned copy of the backbone (§3.2); kexue draws them like a fresh pre-rms layer (N(0, initStd²),
// Wo and W2 scaled by 1/√(2L)), and the ladders with std 1/√D so that x·Wdown keeps about the
// scale of x. Wup = 0 and α = 0 make the model start as the pretrained one exactly.
template <typename Real>
void TransformerModel<Real>::ladder_init() {
    Xoshiro256 rng(config_.seed + 0x1add3e5);
    const double residual = config_.init_std / std::sqrt(2.0 * static_cast<double>(config_.layers));
    for (const TensorInfo& t : ladder_tensors_) {
        Real* p = ladder_params_.data() + t.offset;
        double std = 0;
        switch (t.kind) {
            case TensorKind::norm_gain: std::fill(p, p + t.size, Real(1)); continue;
            case TensorKind::ladder_gate:
            case TensorKind::ladder_up: std::fill(p, p + t.size, Real(0)); continue;
            case TensorKind::ladder_down: std = 1.0 / std::sqrt(static_cast<double>(config_.d_model)); break;
            case TensorKind::wo:
            case TensorKind::w2: std = residual; break;
            default: std = config_.init_std; break;
        }
        // Rounded to float first, so that the float model and its double twin start equal.
        for (std::size_t i = 0; i < t.size; ++i) p[i] = static_cast<Real>(static_cast<float>(std * rng.normal()));
    }
}

template <typename Real>
void TransformerModel<Real>::ensure_ladder_activations(std::size_t rows) {
    if (rows <= ladder_capacity_) return;
    ladder_capacity_ = rows;
    const std::size_t L = config_.layers, d = ladder_.width, f = ladder_.ffn;
    side_.assign(L + 1, std::vector<Real>(rows * d, 0));
    ladder_acts_.resize(L);
    for (LadderActs& a : ladder_acts_) {
        for (auto* v : {&a.down, &a.z, &a.norm1, &a.q, &a.k, &a.v, &a.att, &a.mid, &a.norm2}) v->assign(rows * d, 0);
        a.rstd1.assign(rows, 0);
        a.rstd2.assign(rows, 0);
        a.lse.assign(rows * ladder_.heads, 0);
        a.hpre.assign(rows * f, 0);
        a.hact.assign(rows * f, 0);
    }
    ladder_h_.assign(rows * config_.d_model, 0);
    for (auto* v : {&ladder_ds_, &ladder_dz_, &ladder_ddown_, &ladder_dmid_, &ladder_dtmp_, &ladder_dnorm_, &ladder_dq_,
                    &ladder_dk_, &ladder_dv_, &ladder_datt_})
        v->assign(rows * d, 0);
    ladder_dffn_.assign(rows * f, 0);
}

// Tensor indices (ladder_tensors): downs 0 … L, then 9 per side layer (gate, norm1, wq, wk, wv, wo,
// norm2, w1, w2), then up.
template <typename Real>
BlockWeights<Real> TransformerModel<Real>::ladder_block_weights(std::size_t l) {
    const std::size_t b = config_.layers + 1 + 9 * l;
    return {ladder_param(b + 1), ladder_param(b + 2), ladder_param(b + 3), ladder_param(b + 4),
            ladder_param(b + 5), ladder_param(b + 6), ladder_param(b + 7), ladder_param(b + 8)};
}

template <typename Real>
BlockGrads<Real> TransformerModel<Real>::ladder_block_grads(std::size_t l) {
    const std::size_t b = config_.layers + 1 + 9 * l;
    return {ladder_grad(b + 1), ladder_grad(b + 2), ladder_grad(b + 3), ladder_grad(b + 4),
            ladder_grad(b + 5), ladder_grad(b + 6), ladder_grad(b + 7), ladder_grad(b + 8)};
}

template <typename Real>
BlockActs<Real> TransformerModel<Real>::ladder_block_acts(std::size_t l) {
    LadderActs& a = ladder_acts_[l];
    return {a.norm1.data(), a.rstd1.data(), a.q.data(),     a.k.data(),     a.v.data(),    a.att.data(),
            a.lse.data(),   a.mid.data(),   a.norm2.data(), a.rstd2.data(), a.hpre.data(), a.hact.data()};
}

template <typename Real>
BlockShape TransformerModel<Real>::ladder_block_shape(std::size_t batch, std::size_t seq) const {
    return {batch, seq, ladder_.width, ladder_.heads, ladder_.ffn};
}

template <typename Real>
void TransformerModel<Real>::ladder_forward(std::size_t batch, std::size_t seq, const double* positions,
                                            bool use_cache) {
    const TransformerConfig& c = config_;
    const std::size_t n = batch * seq, D = c.d_model, d = ladder_.width, L = c.layers;
    const Real eps = static_cast<Real>(c.norm_eps);
    const AttentionOptions options = attention_options();
    GauRope rope;
    if (c.attention.rope) rope = GauRope{positions, c.attention.rope->base};
    const BlockShape shape = ladder_block_shape(batch, seq);
    // s_0 = x_0·Wdown_0
    linear_forward(resid_[0].data(), ladder_param(0), n, D, d, side_[0].data());
    for (std::size_t l = 0; l < L; ++l) {
        LadderActs& A = ladder_acts_[l];
        // z_l = μ_l·s_l + (1 − μ_l)·x_{l+1}·Wdown_{l+1}
        linear_forward(resid_[l + 1].data(), ladder_param(l + 1), n, D, d, A.down.data());
        const Real mu = ladder_gate_mu(*ladder_param(L + 1 + 9 * l), kLadderGateTemperature);
        ladder_gate_forward(side_[l].data(), A.down.data(), n * d, mu, A.z.data());
        // s_{l+1} = Block_l(z_l), its keys and values into the side cache when generating.
        BlockActs<Real> acts = ladder_block_acts(l);
        const Real *keys = nullptr, *values = nullptr;
        std::size_t seq_k = 0;
        if (use_cache) {
            if (ladder_cache_k_[l].empty()) {
                ladder_cache_k_[l].assign(c.max_seq * d, 0);
                ladder_cache_v_[l].assign(c.max_seq * d, 0);
            }
            acts.k = ladder_cache_k_[l].data() + cache_length_ * d;
            acts.v = ladder_cache_v_[l].data() + cache_length_ * d;
            keys = ladder_cache_k_[l].data();
            values = ladder_cache_v_[l].data();
            seq_k = cache_length_ + seq;
        }
        block_forward(shape, options, rope, ladder_block_weights(l), eps, A.z.data(), acts, side_[l + 1].data(), keys,
                      values, seq_k);
    }
    // h = x_L + s_L·Wup (exactly x_L while Wup = 0: the products are ±0).
    linear_forward(side_[L].data(), ladder_param(ladder_tensors_.size() - 1), n, d, D, ladder_h_.data());
    const Real* x = resid_[L].data();
    for (std::size_t i = 0; i < n * D; ++i) ladder_h_[i] += x[i];
}

template <typename Real>
void TransformerModel<Real>::ladder_backward(const Real* dh, std::size_t batch, std::size_t seq,
                                             const double* positions) {
    const TransformerConfig& c = config_;
    const std::size_t n = batch * seq, D = c.d_model, d = ladder_.width, L = c.layers;
    const AttentionOptions options = attention_options();
    GauRope rope;
    if (c.attention.rope) rope = GauRope{positions, c.attention.rope->base};
    const BlockShape shape = ladder_block_shape(batch, seq);
    const BlockScratch<Real> scratch{ladder_dmid_.data(), ladder_dtmp_.data(), ladder_dnorm_.data(), ladder_dq_.data(),
                                     ladder_dk_.data(),   ladder_dv_.data(),   ladder_datt_.data(),  ladder_dffn_.data()};
    std::fill(ladder_grads_.begin(), ladder_grads_.end(), Real(0));
    // h = x_L + s_L·Wup: ds_L = dh·Wupᵀ, dWup += s_Lᵀ·dh (x_L is frozen: its gradient is not formed).
    const std::size_t up = ladder_tensors_.size() - 1;
    linear_backward(dh, side_[L].data(), ladder_param(up), n, d, D, ladder_ds_.data(), ladder_grad(up));
    for (std::size_t l = L; l-- > 0;) {
        LadderActs& A = ladder_acts_[l];
        // ladder_ds_ holds dL/ds_{l+1} on entry and dL/ds_l on exit.
        block_backward(shape, options, rope, ladder_block_weights(l), A.z.data(), ladder_block_acts(l),
                       ladder_ds_.data(), ladder_block_grads(l), scratch, ladder_dz_.data());
        const std::size_t gate = L + 1 + 9 * l;
        const Real mu = ladder_gate_mu(*ladder_param(gate), kLadderGateTemperature);
        ladder_gate_backward(ladder_dz_.data(), side_[l].data(), A.down.data(), n * d, mu, kLadderGateTemperature,
                             ladder_ds_.data(), ladder_ddown_.data(), ladder_grad(gate));
        // down = x_{l+1}·Wdown_{l+1}: dWdown += x_{l+1}ᵀ·ddown.
        matmul(D, n, d, true, false, resid_[l + 1].data(), ladder_ddown_.data(), ladder_grad(l + 1), true);
    }
    matmul(D, n, d, true, false, resid_[0].data(), ladder_ds_.data(), ladder_grad(0), true);
}

}  // namespace kexue::model
