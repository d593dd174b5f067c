// The double-precision definition of the attention that attention.cpp computes in tiles, written
// as xtensor expressions so it reads like the NumPy it would be (every score matrix materialised;
// for tests only). Per batch entry b and query head h, reading kv head g = h / (heads / kv_heads):
//
//   Q' = R Q,  K' = R K                        (RoPE, kexue.fm/8265; positions as in attention.hpp)
//   S  = c[:, None] · Q' K'ᵀ + bias − slope_h·|p − j|  (bias and ALiBi when given), masked to −∞
//        where key j is not visible to row i (attention_row's range, and the mask)
//   P  = softmax(S, axis=1),  logsumexp = max(S) + log Σ exp(S − max(S)); rows whose S is all −∞
//        get P = 0 and logsumexp −∞
//   O  = P V
//
// and the backward pass (the softmax gradient, FlashAttention-2 eq. for dS):
//   dP = dO Vᵀ,  dS = P ∘ (dP − rowsum(P ∘ dP)),  dQ' = c[:, None] · dS K',  dK' = (c[:, None] · dS)ᵀ Q',
//   dV = Pᵀ dO,  then dQ = Rᵀ dQ', dK = Rᵀ dK' (R_mᵀ = R_{−m}).
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

// x [batch, seq, heads, dim] rotated in place: token t of batch b at position position(b, t)
// (negated when inverse).
template <class Position>
void rotate(Tensor4& x, std::size_t rotary_dim, const AttentionRope& rope, Position position, bool inverse) {
    for (std::size_t b = 0; b < x.shape(0); ++b)
        for (std::size_t t = 0; t < x.shape(1); ++t)
            for (std::size_t h = 0; h < x.shape(2); ++h) {
                const double p = position(b, t);
                rope_rotate_vector_reference(&x(b, t, h, 0), rotary_dim, rope.layout, rope.base, inverse ? -p : p);
            }
}

// Everything one (batch, head) needs: the rotated Q' and K', V, and the softmax of the scores.
struct Head {
    Matrix q, k, v;  // Q' [seq_q, dim], K' [seq_k, dim], V [seq_k, dim_v]
    Vector scale;    // c_i [seq_q]
    Matrix p;        // P [seq_q, seq_k], zero where masked
    Vector logsumexp;
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
            rotate(q_, rotary_dim(), *options.rope, query_position(), false);
            rotate(k_, rotary_dim(), *options.rope, key_position(), false);
        }
    }

    std::size_t rotary_dim() const {
        return options_.rope && options_.rope->rotary_dim != 0 ? options_.rope->rotary_dim : shape_.dim;
    }
    // Query i of batch b sits at its row's position (attention.hpp), key j at j.
    std::function<double(std::size_t, std::size_t)> query_position() const {
        return [this](std::size_t b, std::size_t i) {
            return static_cast<double>(attention_row(shape_, options_, b, i).position);
        };
    }
    static std::function<double(std::size_t, std::size_t)> key_position() {
        return [](std::size_t, std::size_t j) { return static_cast<double>(j); };
    }
    std::size_t kv_head(std::size_t h) const { return h / (shape_.heads / shape_.kv_heads); }

    Head head(std::size_t b, std::size_t h) const {
        const std::size_t g = kv_head(h);
        const double inf = std::numeric_limits<double>::infinity();
        Head out{xt::view(q_, b, all(), h, all()), xt::view(k_, b, all(), g, all()), xt::view(v_, b, all(), g, all()),
                 Vector::from_shape({shape_.seq_q}), Matrix(), Vector()};
        // Which keys each row sees, n_i and c_i (attention.hpp: one definition for both twins), and
        // the additive terms of the logits.
        Matrix sees = xt::zeros<double>({shape_.seq_q, shape_.seq_k});
        Matrix terms = xt::zeros<double>({shape_.seq_q, shape_.seq_k});
        const AttentionStrides bias = options_.bias ? attention_strides(*options_.bias) : AttentionStrides{};
        const AttentionStrides mask = options_.mask ? attention_strides(*options_.mask) : AttentionStrides{};
        const double slope = options_.alibi ? attention_alibi_slope(shape_.heads, h) : 0.0;
        for (std::size_t i = 0; i < shape_.seq_q; ++i) {
            const AttentionRow row = attention_row(shape_, options_, b, i);
            const std::size_t n = attention_visible_keys(shape_, options_, buffers_, b, h, i);
            out.scale(i) = n > 0 ? attention_row_scale(options_, n, shape_.dim) : 0.0;
            for (std::size_t j = row.begin; j < row.end; ++j) {
                sees(i, j) = !options_.mask || buffers_.mask[mask.at(b, h, i, j)] != 0;
                if (options_.bias) terms(i, j) += buffers_.bias[bias.at(b, h, i, j)];
                terms(i, j) -= slope * std::fabs(static_cast<double>(row.position) - static_cast<double>(j));
            }
        }
        out.p = xt::zeros<double>({shape_.seq_q, shape_.seq_k});
        out.logsumexp = xt::ones<double>({shape_.seq_q}) * -inf;
        if (shape_.seq_k == 0) return out;  // no key: P is empty, O = 0, logsumexp = −∞
        const Matrix scores = xt::where(sees > 0.5, xt::view(out.scale, all(), newaxis()) *
                                                        matmul(out.q, xt::transpose(out.k)) + terms, -inf);
        for (std::size_t i = 0; i < shape_.seq_q; ++i) {
            // (xt::amax of an all −∞ row gives the lowest double, not −∞: the max is taken here.)
            const double row_max = *std::max_element(xt::row(scores, i).begin(), xt::row(scores, i).end());
            if (row_max == -inf) continue;  // sees no key, or only −∞ logits
            const auto e = xt::eval(xt::exp(xt::row(scores, i) - row_max));
            const double row_sum = xt::sum(e)();
            xt::row(out.p, i) = e / row_sum;
            out.logsumexp(i) = row_max + std::log(row_sum);
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
                                  double* dv, const AttentionBuffers& buffers) {
    const Reference reference(shape, options, q, k, v, buffers);
    const Tensor4 grad_out = load(d_o, shape.batch, shape.seq_q, shape.heads, shape.dim_v);
    // Gradients w.r.t. the rotated Q' and K' first; rotated back at the end.
    Tensor4 grad_q = xt::zeros<double>({shape.batch, shape.seq_q, shape.heads, shape.dim});
    Tensor4 grad_k = xt::zeros<double>({shape.batch, shape.seq_k, shape.kv_heads, shape.dim});
    auto grad_v = output(dv, shape.batch, shape.seq_k, shape.kv_heads, shape.dim_v);
    grad_v.fill(0.0);
    for (std::size_t b = 0; b < shape.batch; ++b)
        for (std::size_t h = 0; h < shape.heads; ++h) {
            const Head head = reference.head(b, h);
            const std::size_t g = reference.kv_head(h);
            const Matrix d_out = xt::view(grad_out, b, all(), h, all());
            const Matrix d_p = matmul(d_out, xt::transpose(head.v));
            const Vector row_dot = xt::sum(head.p * d_p, {1});  // D_i = Σ_j P_ij dP_ij
            const Matrix d_s = head.p * (d_p - xt::view(row_dot, all(), newaxis()));
            const Matrix d_logits = xt::view(head.scale, all(), newaxis()) * d_s;  // ∂L/∂(Q'K'ᵀ)
            xt::view(grad_q, b, all(), h, all()) = matmul(d_logits, head.k);
            xt::view(grad_k, b, all(), g, all()) += matmul(xt::transpose(d_logits), head.q);
            xt::view(grad_v, b, all(), g, all()) += matmul(xt::transpose(head.p), d_out);
        }
    if (options.rope) {
        rotate(grad_q, reference.rotary_dim(), *options.rope, reference.query_position(), true);
        rotate(grad_k, reference.rotary_dim(), *options.rope, Reference::key_position(), true);
    }
    std::copy(grad_q.begin(), grad_q.end(), dq);
    std::copy(grad_k.begin(), grad_k.end(), dk);
}

}  // namespace kexue
