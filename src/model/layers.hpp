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
//   silu          x → x·σ(x)                                     (Swish; Ramachandran et al. 2017)
//   scale-offset  z [N, s], γ, β [s] → z∘γ + β                   (GAU's Q and K from the shared Z)
//   gate          u, a [count] → u∘a                             (GAU's U ⊙ A·V)
//   gau           a [N, D] → y [N, D], the Gated Attention Unit   (Hua et al. 2022, arXiv 2202.10447)
//   talking heads q, k, v → o, mixing the heads' n×n logits and weights (Shazeer et al. 2020, arXiv 2003.02436)
//   block         z [N, d] → y [N, d], a pre-RMSNorm attention + GELU FFN block (the ladder's side layers)
//   ladder gate   s, x [N, d], α → μ·s + (1 − μ)·x, μ = σ(α/T)  (Sung et al. 2022, arXiv 2206.06522)
//   tied head     h [N, D] · Eᵀ → logits [N, V]
//   cross-entropy logits [N, V], targets [N] → loss [N] = lse(logits) − logits[target]
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

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

// ---- SiLU (Swish), GAU's φ: y = x·σ(x) -------------------------------------------------------
//
// Hua et al. use it for U, V and Z ("we use the Swish activation function", arXiv 2202.10447 §2).
// The float pair (layers.cpp) is vectorised; the double twin is in layers_reference.cpp.

// y = x·σ(x), elementwise over `count`.
void silu_forward(const float* x, std::size_t count, float* y);
void silu_forward(const double* x, std::size_t count, double* y);
// dx = dy·σ(x)·(1 + x·(1 − σ(x))) (overwritten; dx may be dy).
void silu_backward(const float* dy, const float* x, std::size_t count, float* dx);
void silu_backward(const double* dy, const double* x, std::size_t count, double* dx);

// ---- scale-offset: y = z∘γ + β per row (GAU's Q and K from the shared Z) ---------------------
//
// z [N, s], γ, β [s] → y [N, s]. The paper's "cheap per-dim transformations" of one shared Z make
// Q and K (§2, "OffsetScale"), so that the block pays for one s-wide projection instead of two.

void scale_offset_forward(const float* z, const float* gamma, const float* beta, std::size_t n, std::size_t s,
                          float* y);
void scale_offset_forward(const double* z, const double* gamma, const double* beta, std::size_t n, std::size_t s,
                          double* y);
// dz = dy∘γ (overwritten, or added when accumulate; dz may be dy); dγ += Σ_rows dy∘z and
// dβ += Σ_rows dy (each skipped when null: a frozen tensor).
void scale_offset_backward(const float* dy, const float* z, const float* gamma, std::size_t n, std::size_t s,
                           float* dz, float* dgamma, float* dbeta, bool accumulate);
void scale_offset_backward(const double* dy, const double* z, const double* gamma, std::size_t n, std::size_t s,
                           double* dz, double* dgamma, double* dbeta, bool accumulate);

// ---- gate: y = u∘a (GAU's U ⊙ A·V) ------------------------------------------------------------

void gate_forward(const float* u, const float* a, std::size_t count, float* y);
void gate_forward(const double* u, const double* a, std::size_t count, double* y);
// du = dy∘a, da = dy∘u (overwritten; either may be dy).
void gate_backward(const float* dy, const float* u, const float* a, std::size_t count, float* du, float* da);
void gate_backward(const double* dy, const double* u, const double* a, std::size_t count, double* du, double* da);

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

// ---- talking-heads attention (attention.talkingHeads) -------------------------------------------
//
// Shazeer, Lan, Cheng, Ding, Hou 2020, "Talking-Heads Attention" (arXiv 2003.02436): two learned
// H×H projections across the heads, one on the logits before the normalisation and one on the
// weights after it, so that every head's weights depend on every head's queries and keys. The
// mixing needs the n×n matrices of all heads at once, which the fused kernel never forms: this
// path materialises them (docs/math.md §7.19). Shapes (row-major; RoPE already applied by the
// caller; M = Sq·Sk, head h reads kv head g(h) = h / (H / Hkv)):
//   q [B, Sq, H, dk], k [B, Sk, Hkv, dk], v [B, Sk, Hkv, dv] → o [B, Sq, H, dv]
//   Pl, Pw [H, H]
//   kept for the backward pass: logits S [B, H, Sq, Sk] and weights A [B, H, Sq, Sk]
//   S_h   = c_i · q_h k_{g(h)}ᵀ        c_i the row's scale (attention_row_scale: per row for 'entropy')
//   S'_g  = Σ_h Pl[h, g] S_h            the logits mixed (one [H, H]ᵀ·[H, M] product per batch entry)
//   A_g   = normalize(S'_g) per row     over the keys the row sees (attention_row: causal with the
//                                       cache offset, query i at position Sk − Sq + i); 0 elsewhere
//   A'_k  = Σ_g Pw[g, k] A_g            the weights mixed
//   o_k   = A'_k v_{g(k)}
// Rows are normalised as the fused kernel does (attention.hpp, "Logit shaping"): softmax (stable,
// max subtracted), l2 and relu2; the sink, softcap, bias, mask and window options are not used by
// the model and not supported here. With Pl = Pw = I this is the fused kernel's attention.
// Every product is a matmul (the library's GEMM in float, naive loops in double).

namespace talking_detail {

// Copies head h of x [rows, heads, width] into out [rows, width] (and back: scatter).
template <typename Real>
void gather_head(const Real* x, std::size_t rows, std::size_t heads, std::size_t width, std::size_t h, Real* out) {
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < width; ++j) out[r * width + j] = x[(r * heads + h) * width + j];
}
template <typename Real>
void scatter_head(const Real* in, std::size_t rows, std::size_t heads, std::size_t width, std::size_t h, Real* x,
                  bool accumulate) {
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < width; ++j) {
            Real& target = x[(r * heads + h) * width + j];
            target = accumulate ? target + in[r * width + j] : in[r * width + j];
        }
}

}  // namespace talking_detail

// o overwritten; logits and weights [B, H, Sq, Sk] receive S and A (zeros where a row sees no key).
template <typename Real>
void talking_heads_forward(const AttentionShape& shape, const AttentionOptions& options, const Real* pl,
                           const Real* pw, const Real* q, const Real* k, const Real* v, Real* o, Real* logits,
                           Real* weights) {
    using namespace talking_detail;
    const std::size_t H = shape.heads, Hkv = shape.kv_heads, Sq = shape.seq_q, Sk = shape.seq_k, dk = shape.dim,
                      dv = shape.dim_v, M = Sq * Sk, group = H / Hkv;
    std::vector<Real> qh(Sq * dk), kh(Sk * dk), vh(Sk * dv), oh(Sq * dv), mixed(H * M);
    for (std::size_t b = 0; b < shape.batch; ++b) {
        Real* S = logits + b * H * M;
        Real* A = weights + b * H * M;
        for (std::size_t h = 0; h < H; ++h) {
            gather_head(q + b * Sq * H * dk, Sq, H, dk, h, qh.data());
            gather_head(k + b * Sk * Hkv * dk, Sk, Hkv, dk, h / group, kh.data());
            matmul(Sq, dk, Sk, false, true, qh.data(), kh.data(), S + h * M, false);
            for (std::size_t i = 0; i < Sq; ++i) {
                const AttentionRow row = attention_row(shape, options, b, i);
                Real* s = S + h * M + i * Sk;
                const Real c = row.empty() ? Real(0)
                                           : static_cast<Real>(attention_row_scale(options, row.end - row.begin, dk));
                for (std::size_t j = 0; j < Sk; ++j) s[j] = (j >= row.begin && j < row.end) ? c * s[j] : Real(0);
            }
        }
        // S' = Plᵀ·S, written where A goes, then normalised in place row by row.
        matmul(H, H, M, true, false, pl, S, A, false);
        for (std::size_t g = 0; g < H; ++g) {
            for (std::size_t i = 0; i < Sq; ++i) {
                const AttentionRow row = attention_row(shape, options, b, i);
                Real* a = A + g * M + i * Sk;
                for (std::size_t j = 0; j < row.begin && j < Sk; ++j) a[j] = 0;
                for (std::size_t j = row.end; j < Sk; ++j) a[j] = 0;
                if (row.empty()) continue;
                if (options.normalize == AttentionNormalize::relu2) {
                    // GAU's relu²(s)/n (kexue.fm/archives/8934): n is the row's key count.
                    const Real inv_n = Real(1) / static_cast<Real>(row.end - row.begin);
                    for (std::size_t j = row.begin; j < row.end; ++j) a[j] = a[j] > 0 ? a[j] * a[j] * inv_n : Real(0);
                    continue;
                }
                // softmax: e^{s − max}/Σ; l2: e^{s − max}/‖e^{s − max}‖₂ (kexue.fm/archives/9105).
                Real top = a[row.begin];
                for (std::size_t j = row.begin + 1; j < row.end; ++j) top = a[j] > top ? a[j] : top;
                double sum = 0;
                for (std::size_t j = row.begin; j < row.end; ++j) {
                    a[j] = static_cast<Real>(std::exp(static_cast<double>(a[j] - top)));
                    sum += options.normalize == AttentionNormalize::l2 ? static_cast<double>(a[j]) * a[j] : a[j];
                }
                const Real inv = static_cast<Real>(
                    1.0 / (options.normalize == AttentionNormalize::l2 ? std::sqrt(sum) : sum));
                for (std::size_t j = row.begin; j < row.end; ++j) a[j] *= inv;
            }
        }
        // A' = Pwᵀ·A, then o_k = A'_k·v_{g(k)}.
        matmul(H, H, M, true, false, pw, A, mixed.data(), false);
        for (std::size_t kk = 0; kk < H; ++kk) {
            gather_head(v + b * Sk * Hkv * dv, Sk, Hkv, dv, kk / group, vh.data());
            matmul(Sq, Sk, dv, false, false, mixed.data() + kk * M, vh.data(), oh.data(), false);
            scatter_head(oh.data(), Sq, H, dv, kk, o + b * Sq * H * dv, false);
        }
    }
}

// From d_o [B, Sq, H, dv] after talking_heads_forward on the same q, k, v (no cache): dq, dk, dv
// overwritten (w.r.t. the rotated q and k); dpl, dpw [H, H] accumulated (+=; null: frozen).
//   dA'_k = dO_k v_{g(k)}ᵀ,   dv_g = Σ_{k in g} A'_kᵀ dO_k
//   dPw[g, k] = Σ A_g ⊙ dA'_k,   dA_g = Σ_k Pw[g, k] dA'_k
//   dS'_g = the normalisation's backward (softmax: A_g ⊙ (dA_g − rowsum(dA_g ⊙ A_g)))
//   dPl[h, g] = Σ S_h ⊙ dS'_g,   dS_h = Σ_g Pl[h, g] dS'_g
//   dq_h = c_i dS_h k_{g(h)},   dk_g = Σ_{h in g} (c_i dS_h)ᵀ q_h
template <typename Real>
void talking_heads_backward(const AttentionShape& shape, const AttentionOptions& options, const Real* pl,
                            const Real* pw, const Real* q, const Real* k, const Real* v, const Real* logits,
                            const Real* weights, const Real* d_o, Real* dq, Real* dk, Real* dv, Real* dpl,
                            Real* dpw) {
    using namespace talking_detail;
    const std::size_t H = shape.heads, Hkv = shape.kv_heads, Sq = shape.seq_q, Sk = shape.seq_k, D = shape.dim,
                      Dv = shape.dim_v, M = Sq * Sk, group = H / Hkv;
    std::vector<Real> x1(H * M), x2(H * M), qh(Sq * D), kh(Sk * D), vh(Sk * Dv), doh(Sq * Dv), dqh(Sq * D),
        dkg(Hkv * Sk * D), dvg(Hkv * Sk * Dv);
    for (std::size_t b = 0; b < shape.batch; ++b) {
        const Real* S = logits + b * H * M;
        const Real* A = weights + b * H * M;
        std::fill(dkg.begin(), dkg.end(), Real(0));
        std::fill(dvg.begin(), dvg.end(), Real(0));
        // x1 = A' = Pwᵀ·A (recomputed: cheaper than keeping a third n×n matrix), x2 = dA'.
        matmul(H, H, M, true, false, pw, A, x1.data(), false);
        for (std::size_t kk = 0; kk < H; ++kk) {
            gather_head(d_o + b * Sq * H * Dv, Sq, H, Dv, kk, doh.data());
            gather_head(v + b * Sk * Hkv * Dv, Sk, Hkv, Dv, kk / group, vh.data());
            matmul(Sq, Dv, Sk, false, true, doh.data(), vh.data(), x2.data() + kk * M, false);
            matmul(Sk, Sq, Dv, true, false, x1.data() + kk * M, doh.data(), dvg.data() + (kk / group) * Sk * Dv, true);
        }
        if (dpw) matmul(H, M, H, false, true, A, x2.data(), dpw, true);
        // x1 = dA = Pw·dA'; x2 = S' = Plᵀ·S (relu2's backward reads the mixed logits).
        matmul(H, H, M, false, false, pw, x2.data(), x1.data(), false);
        if (options.normalize == AttentionNormalize::relu2) matmul(H, H, M, true, false, pl, S, x2.data(), false);
        for (std::size_t g = 0; g < H; ++g) {
            for (std::size_t i = 0; i < Sq; ++i) {
                const AttentionRow row = attention_row(shape, options, b, i);
                const Real* a = A + g * M + i * Sk;
                const Real* s = x2.data() + g * M + i * Sk;
                Real* da = x1.data() + g * M + i * Sk;
                double dot = 0;
                for (std::size_t j = row.begin; j < row.end; ++j) dot += static_cast<double>(a[j]) * da[j];
                const double statistic = row.empty() ? 0.0 : std::log(static_cast<double>(row.end - row.begin));
                for (std::size_t j = 0; j < Sk; ++j) {
                    const bool seen = j >= row.begin && j < row.end;
                    da[j] = seen ? static_cast<Real>(attention_score_gradient(
                                       options.normalize,
                                       options.normalize == AttentionNormalize::relu2 ? static_cast<double>(s[j]) : 0.0,
                                       a[j], da[j], dot, statistic))
                                 : Real(0);
                }
            }
        }
        // x1 = dS'; dPl += S·dS'ᵀ; x2 = dS = Pl·dS'.
        if (dpl) matmul(H, M, H, false, true, S, x1.data(), dpl, true);
        matmul(H, H, M, false, false, pl, x1.data(), x2.data(), false);
        for (std::size_t h = 0; h < H; ++h) {
            for (std::size_t i = 0; i < Sq; ++i) {
                const AttentionRow row = attention_row(shape, options, b, i);
                Real* ds = x2.data() + h * M + i * Sk;
                const Real c = row.empty() ? Real(0)
                                           : static_cast<Real>(attention_row_scale(options, row.end - row.begin, D));
                for (std::size_t j = 0; j < Sk; ++j) ds[j] *= c;
            }
            gather_head(q + b * Sq * H * D, Sq, H, D, h, qh.data());
            gather_head(k + b * Sk * Hkv * D, Sk, Hkv, D, h / group, kh.data());
            matmul(Sq, Sk, D, false, false, x2.data() + h * M, kh.data(), dqh.data(), false);
            scatter_head(dqh.data(), Sq, H, D, h, dq + b * Sq * H * D, false);
            matmul(Sk, Sq, D, true, false, x2.data() + h * M, qh.data(), dkg.data() + (h / group) * Sk * D, true);
        }
        for (std::size_t g = 0; g < Hkv; ++g) {
            scatter_head(dkg.data() + g * Sk * D, Sk, Hkv, D, g, dk + b * Sk * Hkv * D, false);
            scatter_head(dvg.data() + g * Sk * Dv, Sk, Hkv, Dv, g, dv + b * Sk * Hkv * Dv, false);
        }
    }
}
// The float overloads (layers.cpp) run the templates above and count their time, GEMMs included,
// as attention time (LayerTimes::attention), not as GEMM time.
void talking_heads_forward(const AttentionShape& shape, const AttentionOptions& options, const float* pl,
                           const float* pw, const float* q, const float* k, const float* v, float* o, float* logits,
                           float* weights);
void talking_heads_backward(const AttentionShape& shape, const AttentionOptions& options, const float* pl,
                            const float* pw, const float* q, const float* k, const float* v, const float* logits,
                            const float* weights, const float* d_o, float* dq, float* dk, float* dv, float* dpl,
                            float* dpw);

// ---- the Gated Attention Unit (block 'gau') ---------------------------------------------------
//
// Hua et al. 2022, "Transformer Quality in Linear Time" (arXiv 2202.10447), §2; Su's reading in
// kexue.fm/archives/8934 and 9052. With a [N, D] the normed input of the block (N = B·S rows):
//   U = φ(a·Wu), V = φ(a·Wv)      [N, e]      φ = SiLU
//   Z = φ(a·Wz)                   [N, s]
//   Q = Z∘γq + βq, K = Z∘γk + βk  [N, s]      then RoPE at the rows' positions
//   A·V = attention(Q, K, V)      [N, e]      the fused kernel, one head (dk = s, dv = e): never an
//                                             N×N buffer; the model's scale and normalisation
//                                             (the paper's relu²(·)/n is normalize 'relu2')
//   y = (U ⊙ A·V)·Wo              [N, D]
// The model adds the residual and places the norm (model.hpp).
struct GauShape {
    std::size_t batch = 0, seq = 0, d = 0, e = 0, s = 0;
};

template <typename Real>
struct GauWeights {
    const Real *wu, *wv, *wz, *q_scale, *q_offset, *k_scale, *k_offset, *wo;
};

// Weight gradients, accumulated (+=); a null one is not computed (a frozen tensor).
template <typename Real>
struct GauGrads {
    Real *wu, *wv, *wz, *q_scale, *q_offset, *k_scale, *k_offset, *wo;
};

// What the forward pass keeps for the backward one: upre, u, vpre, v, att, gate [N, e];
// zpre, z, q, k [N, s] (q, k after RoPE); lse [B, 1, S].
template <typename Real>
struct GauActs {
    Real *upre, *u, *vpre, *v, *zpre, *z, *q, *k, *att, *lse, *gate;
};

// RoPE of Q and K at positions [B·S] (null: no RoPE).
struct GauRope {
    const double* positions = nullptr;
    double base = 10000.0;
};

// y [N, D] (overwritten). With a KV cache (generation, batch 1) acts.k and acts.v point at the
// cache's rows for these tokens, and keys/values [seq_k, s] / [seq_k, e] are the whole cache.
template <typename Real>
void gau_forward(const GauShape& g, const AttentionOptions& options, const GauRope& rope, const GauWeights<Real>& w,
                 const Real* a, const GauActs<Real>& acts, Real* y, const Real* keys = nullptr,
                 const Real* values = nullptr, std::size_t seq_k = 0) {
    const std::size_t n = g.batch * g.seq;
    linear_forward(a, w.wu, n, g.d, g.e, acts.upre);
    silu_forward(acts.upre, n * g.e, acts.u);
    linear_forward(a, w.wv, n, g.d, g.e, acts.vpre);
    silu_forward(acts.vpre, n * g.e, acts.v);
    linear_forward(a, w.wz, n, g.d, g.s, acts.zpre);
    silu_forward(acts.zpre, n * g.s, acts.z);
    scale_offset_forward(acts.z, w.q_scale, w.q_offset, n, g.s, acts.q);
    scale_offset_forward(acts.z, w.k_scale, w.k_offset, n, g.s, acts.k);
    if (rope.positions) {
        for (std::size_t b = 0; b < g.batch; ++b) {
            rope_rows(acts.q + b * g.seq * g.s, g.seq, 1, g.s, rope.positions + b * g.seq, rope.base, false);
            rope_rows(acts.k + b * g.seq * g.s, g.seq, 1, g.s, rope.positions + b * g.seq, rope.base, false);
        }
    }
    const AttentionShape shape{g.batch, g.seq, keys ? seq_k : g.seq, 1, 1, g.s, g.e};
    fused_attention_forward(shape, options, acts.q, keys ? keys : acts.k, values ? values : acts.v, acts.att, acts.lse);
    gate_forward(acts.u, acts.att, n * g.e, acts.gate);
    linear_forward(acts.gate, w.wo, n, g.e, g.d, y);
}

// Scratch of the backward pass: dgate, du, dv [N, e]; dq, dk [N, s].
template <typename Real>
struct GauScratch {
    Real *dgate, *du, *dv, *dq, *dk;
};

// da [N, D] (overwritten) and the weight gradients (+=) from dy [N, D], after gau_forward on the
// same rows (no cache).
template <typename Real>
void gau_backward(const GauShape& g, const AttentionOptions& options, const GauRope& rope, const GauWeights<Real>& w,
                  const Real* a, const GauActs<Real>& acts, const Real* dy, const GauGrads<Real>& grads,
                  const GauScratch<Real>& t, Real* da) {
    const std::size_t n = g.batch * g.seq;
    // y = gate·Wo, gate = U ⊙ A·V: the gate's gradient becomes d(A·V) in place.
    linear_backward(dy, acts.gate, w.wo, n, g.e, g.d, t.dgate, grads.wo);
    gate_backward(t.dgate, acts.u, acts.att, n * g.e, t.du, t.dgate);
    const AttentionShape shape{g.batch, g.seq, g.seq, 1, 1, g.s, g.e};
    fused_attention_backward(shape, options, acts.q, acts.k, acts.v, acts.att, acts.lse, t.dgate, t.dq, t.dk, t.dv);
    if (rope.positions) {
        // The kernel's gradients are w.r.t. the rotated q and k: R_mᵀ = R_{−m}.
        for (std::size_t b = 0; b < g.batch; ++b) {
            rope_rows(t.dq + b * g.seq * g.s, g.seq, 1, g.s, rope.positions + b * g.seq, rope.base, true);
            rope_rows(t.dk + b * g.seq * g.s, g.seq, 1, g.s, rope.positions + b * g.seq, rope.base, true);
        }
    }
    silu_backward(t.du, acts.upre, n * g.e, t.du);
    silu_backward(t.dv, acts.vpre, n * g.e, t.dv);
    // Q and K share Z: dZ = dQ∘γq + dK∘γk, gathered in dq.
    scale_offset_backward(t.dq, acts.z, w.q_scale, n, g.s, t.dq, grads.q_scale, grads.q_offset, false);
    scale_offset_backward(t.dk, acts.z, w.k_scale, n, g.s, t.dq, grads.k_scale, grads.k_offset, true);
    silu_backward(t.dq, acts.zpre, n * g.s, t.dq);
    linear_backward(t.du, a, w.wu, n, g.d, g.e, da, grads.wu);
    linear_backward(t.dv, a, w.wv, n, g.d, g.e, da, grads.wv, true);
    linear_backward(t.dq, a, w.wz, n, g.d, g.s, da, grads.wz, true);
}

// ---- a pre-RMSNorm transformer block (the side layers of ladder side-tuning) ------------------
//
// z [N, d] (N = B·S rows) → y [N, d], with H heads of size dk for queries, keys and values alike
// (d = H·dk) and an FFN of width f:
//   a = RMSNorm(z)·g1;  q, k, v = a·Wq, a·Wk, a·Wv  [N, d]   RoPE on q and k at the rows' positions
//   mid = z + attention(q, k, v)·Wo                          the fused kernel, never an N×N buffer
//   y = mid + GELU(RMSNorm(mid)·g2·W1)·W2                     W1 [d, f], W2 [f, d]
// The backbone's pre-rms layer (model.hpp) with its own sizes; ladder side-tuning stacks one per
// backbone layer at width dModel/reduction (model.hpp, LadderShape).
struct BlockShape {
    std::size_t batch = 0, seq = 0, d = 0, heads = 0, ffn = 0;
    std::size_t head_size() const { return d / heads; }
};

template <typename Real>
struct BlockWeights {
    const Real *norm1, *wq, *wk, *wv, *wo, *norm2, *w1, *w2;
};

// Weight gradients, accumulated (+=); a null one is not computed.
template <typename Real>
struct BlockGrads {
    Real *norm1, *wq, *wk, *wv, *wo, *norm2, *w1, *w2;
};

// What the forward pass keeps: norm1, q, k, v, att, mid, norm2 [N, d] (q, k after RoPE); rstd1,
// rstd2 [N]; lse [B, H, S]; hpre, hact [N, f].
template <typename Real>
struct BlockActs {
    Real *norm1, *rstd1, *q, *k, *v, *att, *lse, *mid, *norm2, *rstd2, *hpre, *hact;
};

// y [N, d] (overwritten). With a KV cache (generation, batch 1) acts.k and acts.v point at the
// cache's rows for these tokens, and keys/values [seq_k, d] are the whole cache.
template <typename Real>
void block_forward(const BlockShape& b, const AttentionOptions& options, const GauRope& rope, const BlockWeights<Real>& w,
                   Real eps, const Real* z, const BlockActs<Real>& acts, Real* y, const Real* keys = nullptr,
                   const Real* values = nullptr, std::size_t seq_k = 0) {
    const std::size_t n = b.batch * b.seq, d = b.d, f = b.ffn, dk = b.head_size();
    rmsnorm_forward(z, w.norm1, n, d, eps, acts.norm1, acts.rstd1);
    linear_forward(acts.norm1, w.wq, n, d, d, acts.q);
    linear_forward(acts.norm1, w.wk, n, d, d, acts.k);
    linear_forward(acts.norm1, w.wv, n, d, d, acts.v);
    if (rope.positions) {
        for (std::size_t r = 0; r < b.batch; ++r) {
            rope_rows(acts.q + r * b.seq * d, b.seq, b.heads, dk, rope.positions + r * b.seq, rope.base, false);
            rope_rows(acts.k + r * b.seq * d, b.seq, b.heads, dk, rope.positions + r * b.seq, rope.base, false);
        }
    }
    const AttentionShape shape{b.batch, b.seq, keys ? seq_k : b.seq, b.heads, b.heads, dk, dk};
    fused_attention_forward(shape, options, acts.q, keys ? keys : acts.k, values ? values : acts.v, acts.att, acts.lse);
    linear_forward(acts.att, w.wo, n, d, d, acts.mid);
    for (std::size_t i = 0; i < n * d; ++i) acts.mid[i] += z[i];
    rmsnorm_forward(acts.mid, w.norm2, n, d, eps, acts.norm2, acts.rstd2);
    linear_forward(acts.norm2, w.w1, n, d, f, acts.hpre);
    gelu_forward(acts.hpre, n * f, acts.hact);
    linear_forward(acts.hact, w.w2, n, f, d, y);
    for (std::size_t i = 0; i < n * d; ++i) y[i] += acts.mid[i];
}

// Scratch of the backward pass: dmid, dtmp, dnorm, dq, dk, dv, datt [N, d]; dh [N, f].
template <typename Real>
struct BlockScratch {
    Real *dmid, *dtmp, *dnorm, *dq, *dk, *dv, *datt, *dh;
};

// dz [N, d] (overwritten) and the weight gradients (+=) from dy [N, d], after block_forward on the
// same rows (no cache). dz must not be dy or a scratch buffer.
template <typename Real>
void block_backward(const BlockShape& b, const AttentionOptions& options, const GauRope& rope, const BlockWeights<Real>& w,
                    const Real* z, const BlockActs<Real>& acts, const Real* dy, const BlockGrads<Real>& grads,
                    const BlockScratch<Real>& t, Real* dz) {
    const std::size_t n = b.batch * b.seq, d = b.d, f = b.ffn, dk = b.head_size();
    // y = mid + hact·W2, hact = GELU(RMSNorm(mid)·W1)
    for (std::size_t i = 0; i < n * d; ++i) t.dmid[i] = dy[i];
    linear_backward(dy, acts.hact, w.w2, n, f, d, t.dh, grads.w2);
    gelu_backward(t.dh, acts.hpre, n * f, t.dh);
    linear_backward(t.dh, acts.norm2, w.w1, n, d, f, t.dnorm, grads.w1);
    rmsnorm_backward(t.dnorm, acts.mid, w.norm2, acts.rstd2, n, d, t.dtmp, grads.norm2);
    for (std::size_t i = 0; i < n * d; ++i) t.dmid[i] += t.dtmp[i];
    // mid = z + att·Wo
    linear_backward(t.dmid, acts.att, w.wo, n, d, d, t.datt, grads.wo);
    const AttentionShape shape{b.batch, b.seq, b.seq, b.heads, b.heads, dk, dk};
    fused_attention_backward(shape, options, acts.q, acts.k, acts.v, acts.att, acts.lse, t.datt, t.dq, t.dk, t.dv);
    if (rope.positions) {
        // The kernel's gradients are w.r.t. the rotated q and k: R_mᵀ = R_{−m}.
        for (std::size_t r = 0; r < b.batch; ++r) {
            rope_rows(t.dq + r * b.seq * d, b.seq, b.heads, dk, rope.positions + r * b.seq, rope.base, true);
            rope_rows(t.dk + r * b.seq * d, b.seq, b.heads, dk, rope.positions + r * b.seq, rope.base, true);
        }
    }
    linear_backward(t.dq, acts.norm1, w.wq, n, d, d, t.dnorm, grads.wq);
    linear_backward(t.dk, acts.norm1, w.wk, n, d, d, t.dnorm, grads.wk, true);
    linear_backward(t.dv, acts.norm1, w.wv, n, d, d, t.dnorm, grads.wv, true);
    rmsnorm_backward(t.dnorm, z, w.norm1, acts.rstd1, n, d, t.dtmp, grads.norm1);
    for (std::size_t i = 0; i < n * d; ++i) dz[i] = t.dmid[i] + t.dtmp[i];
}

// ---- the ladder's gate: z = μ·s + (1 − μ)·x, μ = σ(α/T) -----------------------------------------
//
// s, x, z [count]; α a scalar. LST's gated ladder connection (arXiv 2206.06522, §3.1): the side
// layer's input mixes the side network's own stream s with the down-projected backbone state x;
// α = 0 starts at an even mix, and T = 0.1 lets a few steps of Adam move μ far.

template <typename Real>
Real ladder_gate_mu(Real alpha, double temperature) {
    return static_cast<Real>(1.0 / (1.0 + std::exp(-static_cast<double>(alpha) / temperature)));
}

template <typename Real>
void ladder_gate_forward(const Real* s, const Real* x, std::size_t count, Real mu, Real* z) {
    for (std::size_t i = 0; i < count; ++i) z[i] = mu * s[i] + (Real(1) - mu) * x[i];
}

// ds = μ·dz, dx = (1 − μ)·dz (overwritten; either may be dz, not both); dα += Σ dz∘(s − x)·μ(1 − μ)/T
// (skipped when null).
template <typename Real>
void ladder_gate_backward(const Real* dz, const Real* s, const Real* x, std::size_t count, Real mu, double temperature,
                          Real* ds, Real* dx, Real* dalpha) {
    double dmu = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const Real g = dz[i];
        dmu += static_cast<double>(g) * (static_cast<double>(s[i]) - static_cast<double>(x[i]));
        ds[i] = mu * g;
        dx[i] = (Real(1) - mu) * g;
    }
    if (dalpha) *dalpha += static_cast<Real>(dmu * static_cast<double>(mu) * (1.0 - static_cast<double>(mu)) / temperature);
}

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
