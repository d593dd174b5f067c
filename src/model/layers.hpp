// The layers of the transformer (src/model/transformer.hpp), each a forward/backward pair side by
// side, in the style of llm.c (Karpathy): plain loops over row-major buffers, activations kept by
// the caller for the backward pass, parameter gradients accumulated (+=), input gradients
// overwritten unless stated.
//
// Every layer is written once, templated on the arithmetic type Real. The float instantiation is
// what the model trains with; the double one is its reference twin: the tests check each float
// backward pass against finite differences of the double forward (tests/model/layers_test.cpp)
// and a whole float model against the same model in double (tests/model/transformer_test.cpp).
// Where a kernel of the library does the work in float (the GEMM, the fused attention, RoPE), the
// float overload calls it and the double overload the kernel's *_reference twin
// (layers_reference.cpp, linked into the tests only).
//
// Shapes (row-major; N = batch·seq token rows, D = dModel):
//   embedding     tokens [N] (int32) · E [V, D] → x [N, D]
//   rmsnorm       x [N, D], g [D] → y [N, D], rstd [N]          (Zhang & Sennrich 2019)
//   layernorm     x [N, D], g, b [D] → y, mean [N], rstd [N]     (Ba et al. 2016)
//   linear        x [N, in] · W [in, out] → y [N, out]           (Su's convention y = x·W)
//   gelu          x → 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))   (Hendrycks & Gimpel, tanh form)
//   tied head     h [N, D] · Eᵀ → logits [N, V]
//   cross-entropy logits [N, V], targets [N] → loss [N] = lse(logits) − logits[target]
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "attention/attention.hpp"

namespace kexue::model {

// Milliseconds the float kernels spent since the last reset, for the throughput benchmark's "share
// of time in attention, GEMMs and the rest" (bench/transformer.mjs). Process-wide; the model runs
// on one thread at a time (the kernels themselves may use the pool).
struct LayerTimes {
    double gemm = 0;       // matmul (every linear layer and the tied head)
    double attention = 0;  // the fused attention kernel, forward and backward
    double rope = 0;       // rope_rows
};
LayerTimes& layer_times();

// ---- token embedding -----------------------------------------------------------------------

template <typename Real>
void embedding_forward(const std::int32_t* tokens, std::size_t n, const Real* table, std::size_t d, Real* x) {
    for (std::size_t i = 0; i < n; ++i) {
        const Real* row = table + static_cast<std::size_t>(tokens[i]) * d;
        for (std::size_t j = 0; j < d; ++j) x[i * d + j] = row[j];
    }
}

// d_table[token] += dx (rows of repeated tokens add up).
template <typename Real>
void embedding_backward(const std::int32_t* tokens, std::size_t n, const Real* dx, std::size_t d, Real* d_table) {
    for (std::size_t i = 0; i < n; ++i) {
        Real* row = d_table + static_cast<std::size_t>(tokens[i]) * d;
        for (std::size_t j = 0; j < d; ++j) row[j] += dx[i * d + j];
    }
}

// ---- RMSNorm: y = x · r · g, r = 1/√(mean(x²) + eps) -------------------------------------------

template <typename Real>
void rmsnorm_forward(const Real* x, const Real* g, std::size_t n, std::size_t d, Real eps, Real* y, Real* rstd) {
    for (std::size_t i = 0; i < n; ++i) {
        const Real* xi = x + i * d;
        double sum = 0;
        for (std::size_t j = 0; j < d; ++j) sum += static_cast<double>(xi[j]) * xi[j];
        const Real r = static_cast<Real>(1.0 / std::sqrt(sum / static_cast<double>(d) + static_cast<double>(eps)));
        rstd[i] = r;
        for (std::size_t j = 0; j < d; ++j) y[i * d + j] = xi[j] * r * g[j];
    }
}

// dx = r·(g∘dy) − (r³/D)·x·Σ_j(g_j dy_j x_j) (overwritten); dg += Σ_i dy∘x·r.
template <typename Real>
void rmsnorm_backward(const Real* dy, const Real* x, const Real* g, const Real* rstd, std::size_t n, std::size_t d,
                      Real* dx, Real* dg) {
    for (std::size_t i = 0; i < n; ++i) {
        const Real* xi = x + i * d;
        const Real* dyi = dy + i * d;
        const Real r = rstd[i];
        double dot = 0;
        for (std::size_t j = 0; j < d; ++j) dot += static_cast<double>(g[j]) * dyi[j] * xi[j];
        const Real c = static_cast<Real>(dot * r * r * r / static_cast<double>(d));
        for (std::size_t j = 0; j < d; ++j) {
            dx[i * d + j] = r * g[j] * dyi[j] - c * xi[j];
            if (dg) dg[j] += dyi[j] * xi[j] * r;
        }
    }
}

// ---- LayerNorm: y = (x − μ)·r·g + b ------------------------------------------------------------

template <typename Real>
void layernorm_forward(const Real* x, const Real* g, const Real* b, std::size_t n, std::size_t d, Real eps, Real* y,
                       Real* mean, Real* rstd) {
    for (std::size_t i = 0; i < n; ++i) {
        const Real* xi = x + i * d;
        double sum = 0;
        for (std::size_t j = 0; j < d; ++j) sum += xi[j];
        const double mu = sum / static_cast<double>(d);
        double var = 0;
        for (std::size_t j = 0; j < d; ++j) var += (xi[j] - mu) * (xi[j] - mu);
        const Real r = static_cast<Real>(1.0 / std::sqrt(var / static_cast<double>(d) + static_cast<double>(eps)));
        mean[i] = static_cast<Real>(mu);
        rstd[i] = r;
        for (std::size_t j = 0; j < d; ++j) y[i * d + j] = (xi[j] - static_cast<Real>(mu)) * r * g[j] + b[j];
    }
}

// With x̂ = (x − μ)·r and ĝ = g∘dy: dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ∘x̂)) (overwritten);
// dg += Σ_i dy∘x̂, db += Σ_i dy (llm.c's layernorm_backward).
template <typename Real>
void layernorm_backward(const Real* dy, const Real* x, const Real* g, const Real* mean, const Real* rstd,
                        std::size_t n, std::size_t d, Real* dx, Real* dg, Real* db) {
    for (std::size_t i = 0; i < n; ++i) {
        const Real* xi = x + i * d;
        const Real* dyi = dy + i * d;
        const Real mu = mean[i], r = rstd[i];
        double sum_g = 0, sum_gx = 0;
        for (std::size_t j = 0; j < d; ++j) {
            const double xhat = (xi[j] - mu) * r;
            const double gj = static_cast<double>(g[j]) * dyi[j];
            sum_g += gj;
            sum_gx += gj * xhat;
        }
        const Real mean_g = static_cast<Real>(sum_g / static_cast<double>(d));
        const Real mean_gx = static_cast<Real>(sum_gx / static_cast<double>(d));
        for (std::size_t j = 0; j < d; ++j) {
            const Real xhat = (xi[j] - mu) * r;
            dx[i * d + j] = r * (g[j] * dyi[j] - mean_g - xhat * mean_gx);
            if (dg) dg[j] += dyi[j] * xhat;
            if (db) db[j] += dyi[j];
        }
    }
}

// ---- GELU (tanh form, as GPT-2 and llm.c) ----------------------------------------------------

constexpr double kGeluScale = 0.7978845608028654;  // √(2/π)
constexpr double kGeluCubic = 0.044715;

// y = gelu(x), elementwise over `count`. The float overload (layers.cpp) is vectorised.
template <typename Real>
void gelu_forward(const Real* x, std::size_t count, Real* y) {
    for (std::size_t i = 0; i < count; ++i) {
        const Real u = static_cast<Real>(kGeluScale) * (x[i] + static_cast<Real>(kGeluCubic) * x[i] * x[i] * x[i]);
        y[i] = Real(0.5) * x[i] * (Real(1) + std::tanh(u));
    }
}

// dx = dy·gelu'(x) (overwritten).
template <typename Real>
void gelu_backward(const Real* dy, const Real* x, std::size_t count, Real* dx) {
    for (std::size_t i = 0; i < count; ++i) {
        const Real xi = x[i];
        const Real u = static_cast<Real>(kGeluScale) * (xi + static_cast<Real>(kGeluCubic) * xi * xi * xi);
        const Real t = std::tanh(u);
        const Real du = static_cast<Real>(kGeluScale) * (Real(1) + Real(3 * kGeluCubic) * xi * xi);
        dx[i] = dy[i] * (Real(0.5) * (Real(1) + t) + Real(0.5) * xi * (Real(1) - t * t) * du);
    }
}
void gelu_forward(const float* x, std::size_t count, float* y);
void gelu_backward(const float* dy, const float* x, std::size_t count, float* dx);

// ---- products (GEMM in float, naive loops in double) ----------------------------------------

// C [m, n] (+)= op(A) · op(B), op(A) m×k (A stored k×m when ta), op(B) k×n (B stored n×k when tb).
void matmul(std::size_t m, std::size_t k, std::size_t n, bool ta, bool tb, const float* a, const float* b, float* c,
            bool accumulate);
void matmul(std::size_t m, std::size_t k, std::size_t n, bool ta, bool tb, const double* a, const double* b,
            double* c, bool accumulate);

// y [N, out] = x [N, in] · W [in, out].
template <typename Real>
void linear_forward(const Real* x, const Real* w, std::size_t n, std::size_t in, std::size_t out, Real* y) {
    matmul(n, in, out, false, false, x, w, y, false);
}

// dx = dy · Wᵀ (overwritten, or added when accumulate_dx; skipped when dx is null);
// dW += xᵀ · dy (skipped when dw is null: a frozen weight).
template <typename Real>
void linear_backward(const Real* dy, const Real* x, const Real* w, std::size_t n, std::size_t in, std::size_t out,
                     Real* dx, Real* dw, bool accumulate_dx = false) {
    if (dx) matmul(n, out, in, false, true, dy, w, dx, accumulate_dx);
    if (dw) matmul(in, n, out, true, false, x, dy, dw, true);
}

// ---- RoPE at given positions, and attention ------------------------------------------------
//
// x [rows, heads, dim] rotated in place by R_{positions[row]} (inverse: R_{−positions[row]}, the
// backward pass), interleaved pairs (RoFormer), θ_i = base^(−2i/dim). The float overload runs the
// library's rope_apply, the double one rope_rotate_vector_reference.
void rope_rows(float* x, std::size_t rows, std::size_t heads, std::size_t dim, const double* positions, double base,
               bool inverse);
void rope_rows(double* x, std::size_t rows, std::size_t heads, std::size_t dim, const double* positions, double base,
               bool inverse);

// The fused kernel (attention.hpp), RoPE already applied by the caller: q [B, Sq, H, dk],
// k [B, Sk, Hkv, dk], v [B, Sk, Hkv, dv] → o [B, Sq, H, dv], logsumexp [B, H, Sq].
void fused_attention_forward(const AttentionShape& shape, const AttentionOptions& options, const float* q, const float* k,
                       const float* v, float* o, float* logsumexp);
void fused_attention_forward(const AttentionShape& shape, const AttentionOptions& options, const double* q,
                       const double* k, const double* v, double* o, double* logsumexp);
// dq, dk, dv overwritten.
void fused_attention_backward(const AttentionShape& shape, const AttentionOptions& options, const float* q, const float* k,
                        const float* v, const float* o, const float* logsumexp, const float* d_o, float* dq,
                        float* dk, float* dv);
void fused_attention_backward(const AttentionShape& shape, const AttentionOptions& options, const double* q,
                        const double* k, const double* v, const double* o, const double* logsumexp,
                        const double* d_o, double* dq, double* dk, double* dv);

// ---- softmax cross-entropy, fused with a stable logsumexp -----------------------------------
//
// loss[i] = lse(logits_i) − logits_i[target_i], lse = M + log Σ exp(x − M) (docs/math.md §7.1).
// When dlogits is given it receives weight·(softmax(logits_i) − onehot(target_i)) for each row:
// the gradient of Σ_i weight·loss[i]. Rows whose target is negative are ignored (loss 0, gradient 0):
// the masked LM objective predicts only the masked positions.
template <typename Real>
void cross_entropy_forward_backward(const Real* logits, const std::int32_t* targets, std::size_t n, std::size_t v,
                                    Real weight, Real* loss, Real* dlogits) {
    for (std::size_t i = 0; i < n; ++i) {
        const Real* row = logits + i * v;
        Real* drow = dlogits ? dlogits + i * v : nullptr;
        if (targets[i] < 0) {
            loss[i] = 0;
            if (drow)
                for (std::size_t j = 0; j < v; ++j) drow[j] = 0;
            continue;
        }
        Real m = row[0];
        for (std::size_t j = 1; j < v; ++j) m = row[j] > m ? row[j] : m;
        double sum = 0;
        for (std::size_t j = 0; j < v; ++j) sum += std::exp(static_cast<double>(row[j] - m));
        const double lse = static_cast<double>(m) + std::log(sum);
        loss[i] = static_cast<Real>(lse - static_cast<double>(row[targets[i]]));
        if (drow) {
            for (std::size_t j = 0; j < v; ++j) {
                drow[j] = weight * static_cast<Real>(std::exp(static_cast<double>(row[j]) - lse));
            }
            drow[targets[i]] -= weight;
        }
    }
}
// The float overload (layers.cpp) uses the library's vectorised logsumexp_grad_f32 row kernel.
void cross_entropy_forward_backward(const float* logits, const std::int32_t* targets, std::size_t n, std::size_t v,
                                    float weight, float* loss, float* dlogits);

}  // namespace kexue::model
