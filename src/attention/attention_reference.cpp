// The double-precision definition of the attention that attention.cpp computes in tiles, written
// as xtensor expressions so it reads like the NumPy it would be (every score matrix materialised;
// for tests only). Per batch entry b and query head h, reading kv head g = h / (heads / kv_heads):
//
//   Q' = R Q,  K' = R K                        (RoPE, kexue.fm/8265; positions as in attention.hpp;
//                                               K' = K for a cache of rotated keys)
//   X  = c[:, None] · Q' K'ᵀ,  Y = softcap(X)   (attention_softcap; Y = X without a softcap)
//   S  = Y + bias − slope_h·|p − j|  (bias and ALiBi when given), masked to −∞ where key j is not
//        visible to row i (attention_row's range, and the mask)
//   P  = φ(S) e^{−L}, L per row from the normalisation (attention.hpp, "Logit shaping"):
//        softmax  L = log(Σ_j e^{S_ij} + e^{z_h}) (the sink term only with sinks/smoothSoftmax)
//        l2       L = ½ log Σ_j e^{2 S_ij}
//        relu2    L = log n_i, φ = relu²
//        rows that see no key (or, for softmax and l2, only −∞ logits) get P = 0 and L = −∞ (z_h
//        with a sink)
//   O  = P V
//
// and the backward pass (attention_score_gradient; FlashAttention-2's dS for softmax):
//   dP = dO Vᵀ,  D = rowsum(P ∘ dP),  dS = attention_score_gradient(S, P, dP, D, L),
//   dX = dS ∘ (1 − (Y/cap)²),  dQ' = c[:, None] · dX K',  dK' = (c[:, None] · dX)ᵀ Q',  dV = Pᵀ dO,
//   dz_h = −Σ_i e^{z_h − L_i} D_i,  then dQ = Rᵀ dQ', dK = Rᵀ dK' (R_mᵀ = R_{−m}; dK = dK' for rotated cached keys).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>

#include <xtensor/xadapt.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "attention/attention.hpp"

namespace kexue {
namespace {

using Matrix = xt::xtensor<double, 2>;
using Vector = xt::xtensor<double, 1>;
using Tensor4 = xt::xtensor<double, 4>;
using xt::all;
using xt::newaxis;

// a · b for a [n, k], b [k, m], as np.matmul. The one primitive written as loops: xtensor has no
// matrix product without xtensor-blas, and its broadcast-and-sum form (np.einsum('ip,pj->ij'))
// ran 7× slower under the sanitizers of the native test build.
template <class A, class B>
Matrix matmul(const A& a_expression, const B& b_expression) {
    const Matrix a = a_expression, b = b_expression;  // contiguous, row-major
    const std::size_t n = a.shape(0), depth = a.shape(1), m = b.shape(1);
    Matrix c = xt::zeros<double>({n, m});
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t p = 0; p < depth; ++p) {
            const double a_ip = a(i, p);
            for (std::size_t j = 0; j < m; ++j) c(i, j) += a_ip * b(p, j);
        }
    return c;
}

// A read-only [d0, d1, d2, d3] tensor over a caller's buffer, copied (the references rotate it).
Tensor4 load(const double* data, std::size_t d0, std::size_t d1, std::size_t d2, std::size_t d3) {
    const std::array<std::size_t, 4> shape{d0, d1, d2, d3};
    return xt::adapt(data, d0 * d1 * d2 * d3, xt::no_ownership(), shape);
}

// x [batch, seq, heads, dim] rotated in place (transposed when inverse): token t of batch b at
// position(b, t).
template <class Position>
void rotate(Tensor4& x, std::size_t rotary_dim, const AttentionRope& rope, Position position, bool inverse) {
    const RopeSpectrum spectrum = rope_spectrum(rotary_dim, rope.base, rope.scaling, rope.inverse_frequencies);
    const std::size_t seq = x.shape(1);
    for (std::size_t b = 0; b < x.shape(0); ++b)
        for (std::size_t t = 0; t < seq; ++t)
            for (std::size_t h = 0; h < x.shape(2); ++h) {
                const double p = position(b, t);
                rope_rotate_vector_reference(&x(b, t, h, 0), rotary_dim, rope.layout,
                                             spectrum.inverse_frequencies.data(), spectrum.attention_factor,
                                             inverse ? -p : p);
            }
}

// Everything one (batch, head) needs: the rotated Q' and K', V, the shaped scores and the weights.
struct Head {
    Matrix q, k, v;    // Q' [seq_q, dim], K' [seq_k, dim], V [seq_k, dim_v]
    Vector scale;      // c_i [seq_q]
    Matrix capped;     // Y = softcap(X) [seq_q, seq_k] (0 where masked)
    Matrix s;          // S [seq_q, seq_k], −∞ where masked
    Matrix p;          // P [seq_q, seq_k], zero where masked
    Vector logsumexp;  // L [seq_q]
};

class Reference {
public:
    Reference(const AttentionShape& shape, const AttentionOptions& options, const double* q, const double* k,
              const double* v, const AttentionBuffers& buffers)
        : shape_(shape), options_(options), buffers_(buffers),
          q_(load(q, shape.batch, shape.seq_q, shape.heads, shape.dim)),
          k_(load(k, shape.batch, shape.seq_k, shape.kv_heads, shape.dim)),
          v_(load(v, shape.batch, shape.seq_k, shape.kv_heads, shape.dim_v)) {
        if (options.rope) {
            rotate_queries(q_, false);
            rotate_keys(k_, false);
        }
    }

    std::size_t rotary_dim() const {
        return options_.rope && options_.rope->rotary_dim != 0 ? options_.rope->rotary_dim : shape_.dim;
    }
    // Query i of batch b sits at its row's position (attention.hpp), key j at j, unless positions
    // are given (positions_q / positions_k: one row for all batch entries, or one per entry).
    std::function<double(std::size_t, std::size_t)> query_position() const {
        const AttentionRope& rope = *options_.rope;
        if (rope.positions_q) {
            const double* positions = rope.positions_q;
            const std::size_t stride = rope.positions_q_per_batch ? shape_.seq_q : 0;
            return [positions, stride](std::size_t b, std::size_t i) { return positions[b * stride + i]; };
        }
        return [this](std::size_t b, std::size_t i) {
            return static_cast<double>(attention_row(shape_, options_, b, i).position);
        };
    }
    std::function<double(std::size_t, std::size_t)> key_position() const {
        const AttentionRope& rope = *options_.rope;
        if (rope.positions_k) {
            const double* positions = rope.positions_k;
            const std::size_t stride = rope.positions_k_per_batch ? shape_.seq_k : 0;
            return [positions, stride](std::size_t b, std::size_t j) { return positions[b * stride + j]; };
        }
        return [](std::size_t, std::size_t j) { return static_cast<double>(j); };
    }
    void rotate_queries(Tensor4& x, bool inverse) const {
        rotate(x, rotary_dim(), *options_.rope, query_position(), inverse);
    }
    void rotate_keys(Tensor4& x, bool inverse) const {
        if (options_.rope->cached_keys == RopeCachedKeys::rotated) return;  // K is K' already
        rotate(x, rotary_dim(), *options_.rope, key_position(), inverse);
    }
    std::size_t kv_head(std::size_t h) const { return h / (shape_.heads / shape_.kv_heads); }

    Head head(std::size_t b, std::size_t h) const {
        const std::size_t g = kv_head(h);
        const double inf = std::numeric_limits<double>::infinity();
        Head out{xt::view(q_, b, all(), h, all()), xt::view(k_, b, all(), g, all()), xt::view(v_, b, all(), g, all()),
                 Vector::from_shape({shape_.seq_q}), Matrix(), Matrix(), Matrix(), Vector()};
        // Which keys each row sees, n_i and c_i (attention.hpp: one definition for both twins), and
        // the additive terms of the logits.
        Matrix sees = xt::zeros<double>({shape_.seq_q, shape_.seq_k});
        Matrix terms = xt::zeros<double>({shape_.seq_q, shape_.seq_k});
        const AttentionStrides bias = options_.bias ? attention_strides(*options_.bias) : AttentionStrides{};
        const AttentionStrides mask = options_.mask ? attention_strides(*options_.mask) : AttentionStrides{};
        const double slope = options_.alibi ? attention_alibi_slope(shape_.heads, h) : 0.0;
        Vector visible = xt::zeros<double>({shape_.seq_q});
        for (std::size_t i = 0; i < shape_.seq_q; ++i) {
            const AttentionRow row = attention_row(shape_, options_, b, i);
            const std::size_t n = attention_visible_keys(shape_, options_, buffers_, b, h, i);
            visible(i) = static_cast<double>(n);
            out.scale(i) = n > 0 ? attention_row_scale(options_, n, shape_.dim) : 0.0;
            for (std::size_t j = row.begin; j < row.end; ++j) {
                sees(i, j) = !options_.mask || buffers_.mask[mask.at(b, h, i, j)] != 0;
                if (options_.bias) terms(i, j) += buffers_.bias[bias.at(b, h, i, j)];
                terms(i, j) -= slope * std::fabs(static_cast<double>(row.position) - static_cast<double>(j));
            }
        }
        const AttentionNormalize normalize = options_.normalize;
        const bool sink = attention_has_sink(options_);  // softmax only (attention_validate)
        const double z = sink ? attention_sink(options_, h) : -inf;
        out.p = out.capped = xt::zeros<double>({shape_.seq_q, shape_.seq_k});
        out.s = xt::ones<double>({shape_.seq_q, shape_.seq_k}) * -inf;
        out.logsumexp = xt::ones<double>({shape_.seq_q}) * -inf;
        for (std::size_t i = 0; i < shape_.seq_q; ++i) {
            // Rows that see no key: L = z_h with a sink (its weight is 1, O = 0), log 0 = −∞ for relu².
            if (sink) out.logsumexp(i) = z;
        }
        if (shape_.seq_k == 0) return out;  // no key: P is empty, O = 0
        const double cap = attention_cap(options_);
        out.capped = xt::where(sees > 0.5, xt::view(out.scale, all(), newaxis()) * matmul(out.q, xt::transpose(out.k)),
                               0.0);
        for (double& x : out.capped) x = attention_softcap(x, cap);
        out.s = xt::where(sees > 0.5, out.capped + terms, -inf);
        for (std::size_t i = 0; i < shape_.seq_q; ++i) {
            if (normalize == AttentionNormalize::relu2) {  // φ = relu², L = log n_i
                if (visible(i) == 0) continue;
                for (std::size_t j = 0; j < shape_.seq_k; ++j)
                    out.p(i, j) = sees(i, j) > 0.5 ? attention_weight_numerator(normalize, out.s(i, j)) / visible(i) : 0.0;
                out.logsumexp(i) = std::log(visible(i));
                continue;
            }
            // softmax, with the sink as one more logit; l2 from the doubled logits: ½ logsumexp(2S).
            // (xt::amax of an all −∞ row gives the lowest double, not −∞: the max is taken here.)
            const double factor = normalize == AttentionNormalize::l2 ? 2.0 : 1.0;
            const double row_max = std::max(*std::max_element(xt::row(out.s, i).begin(), xt::row(out.s, i).end()), z);
            if (row_max == -inf) continue;  // sees no key, or only −∞ logits
            const Vector shifted = xt::row(out.s, i) - row_max;
            double row_sum = xt::sum(xt::exp(factor * shifted))();
            if (sink) row_sum += std::exp(z - row_max);
            out.logsumexp(i) = row_max + std::log(row_sum) / factor;
            // P from the shifted logits, not as exp(S − L): at |S| ~ 1e38 the double L = max + log ℓ
            // has lost log ℓ.
            xt::row(out.p, i) = xt::exp(shifted) / (factor == 2.0 ? std::sqrt(row_sum) : row_sum);
        }
        return out;
    }

private:
    AttentionShape shape_;
    AttentionOptions options_;
    AttentionBuffers buffers_;
    Tensor4 q_, k_, v_;
};

// A [d0, d1, d2, d3] view of a caller's output buffer.
auto output(double* data, std::size_t d0, std::size_t d1, std::size_t d2, std::size_t d3) {
    const std::array<std::size_t, 4> shape{d0, d1, d2, d3};
    return xt::adapt(data, d0 * d1 * d2 * d3, xt::no_ownership(), shape);
}

}  // namespace

void attention_forward_reference(const AttentionShape& shape, const AttentionOptions& options, const double* q,
                                 const double* k, const double* v, double* o, double* logsumexp,
                                 const AttentionBuffers& buffers) {
    const Reference reference(shape, options, q, k, v, buffers);
    auto out = output(o, shape.batch, shape.seq_q, shape.heads, shape.dim_v);
    for (std::size_t b = 0; b < shape.batch; ++b)
        for (std::size_t h = 0; h < shape.heads; ++h) {
            const Head head = reference.head(b, h);
            xt::view(out, b, all(), h, all()) = matmul(head.p, head.v);
            if (logsumexp) {
                auto lse = output(logsumexp, shape.batch, shape.heads, shape.seq_q, 1);
                xt::view(lse, b, h, all(), 0) = head.logsumexp;
            }
        }
}

void attention_backward_reference(const AttentionShape& shape, const AttentionOptions& options, const double* q,
                                  const double* k, const double* v, const double* d_o, double* dq, double* dk,
                                  double* dv, const AttentionBuffers& buffers, double* d_sinks) {
    const Reference reference(shape, options, q, k, v, buffers);
    const Tensor4 grad_out = load(d_o, shape.batch, shape.seq_q, shape.heads, shape.dim_v);
    // Gradients w.r.t. the rotated Q' and K' first; rotated back at the end.
    Tensor4 grad_q = xt::zeros<double>({shape.batch, shape.seq_q, shape.heads, shape.dim});
    Tensor4 grad_k = xt::zeros<double>({shape.batch, shape.seq_k, shape.kv_heads, shape.dim});
    auto grad_v = output(dv, shape.batch, shape.seq_k, shape.kv_heads, shape.dim_v);
    grad_v.fill(0.0);
    const bool sink_gradient = d_sinks && options.sinks;
    if (sink_gradient) std::fill(d_sinks, d_sinks + shape.heads, 0.0);
    const double cap = attention_cap(options);
    for (std::size_t b = 0; b < shape.batch; ++b)
        for (std::size_t h = 0; h < shape.heads; ++h) {
            const Head head = reference.head(b, h);
            const std::size_t g = reference.kv_head(h);
            const Matrix d_out = xt::view(grad_out, b, all(), h, all());
            const Matrix d_p = matmul(d_out, xt::transpose(head.v));
            const Vector row_dot = xt::sum(head.p * d_p, {1});  // D_i = Σ_j P_ij dP_ij = dO_i·O_i
            Matrix d_x = xt::zeros<double>(head.p.shape());      // ∂loss/∂X, zero where masked
            for (std::size_t i = 0; i < d_x.shape(0); ++i)
                for (std::size_t j = 0; j < d_x.shape(1); ++j)
                    if (head.p(i, j) != 0.0 || (options.normalize == AttentionNormalize::relu2 && head.s(i, j) > 0))
                        d_x(i, j) = attention_score_gradient(options.normalize, head.s(i, j), head.p(i, j), d_p(i, j),
                                                             row_dot(i), head.logsumexp(i)) *
                                    attention_softcap_slope(head.capped(i, j), cap);
            if (sink_gradient)
                for (std::size_t i = 0; i < shape.seq_q; ++i)
                    d_sinks[h] += attention_sink_gradient(attention_sink(options, h), head.logsumexp(i), row_dot(i));
            const Matrix d_logits = xt::view(head.scale, all(), newaxis()) * d_x;  // ∂L/∂(Q'K'ᵀ)
            xt::view(grad_q, b, all(), h, all()) = matmul(d_logits, head.k);
            xt::view(grad_k, b, all(), g, all()) += matmul(xt::transpose(d_logits), head.q);
            xt::view(grad_v, b, all(), g, all()) += matmul(xt::transpose(head.p), d_out);
        }
    if (options.rope) {
        reference.rotate_queries(grad_q, true);
        reference.rotate_keys(grad_k, true);
    }
    std::copy(grad_q.begin(), grad_q.end(), dq);
    std::copy(grad_k.begin(), grad_k.end(), dk);
}

}  // namespace kexue
