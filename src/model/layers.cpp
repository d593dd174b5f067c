// The float overloads of the layers (layers.hpp): the library's kernels (GEMM, RoPE, the fused
// attention, the logsumexp row kernel), a vectorised GELU and SiLU, GAU's scale-offset and gate, and
// the timing of the talking-heads attention (its kernel is the template in layers.hpp).
#include "model/layers.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "attention/rope.hpp"
#include "core/gemm.hpp"
#include "core/simd.hpp"
#include "core/vexp_f32.hpp"
#include "losses/logsumexp.hpp"

namespace kexue::model {

using simd::kVecWidth;
using simd::Vec;

LayerTimes& layer_times() {
    static LayerTimes times;
    return times;
}

namespace {

// Adds the milliseconds of its scope to `slot`.
class Stopwatch {
public:
    explicit Stopwatch(double& slot) : slot_(slot), start_(std::chrono::steady_clock::now()) {}
    ~Stopwatch() {
        slot_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    }

private:
    double& slot_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace

void matmul(std::size_t m, std::size_t k, std::size_t n, bool ta, bool tb, const float* a, const float* b, float* c,
            bool accumulate) {
    Stopwatch watch(layer_times().gemm);
    gemm_f32(GemmShape{m, k, n, ta, tb}, a, b, c, accumulate);
}

namespace {

// tanh(u) = 1 − 2/(e^{2u} + 1): exact at both ends (vexp_f32 clamps to [−87, 88], where the
// quotient is already 0 or 2 in float).
inline Vec tanh_vec(Vec u) { return Vec(1.0f) - Vec(2.0f) / (simd::vexp_f32(u + u) + Vec(1.0f)); }

}  // namespace

void gelu_forward(const float* x, std::size_t count, float* y) {
    const Vec scale(static_cast<float>(kGeluScale)), cubic(static_cast<float>(kGeluCubic)), half(0.5f), one(1.0f);
    std::size_t i = 0;
    for (; i + kVecWidth <= count; i += kVecWidth) {
        const Vec xv = Vec::load_unaligned(x + i);
        const Vec u = scale * xsimd::fma(cubic * xv, xv * xv, xv);
        (half * xv * (one + tanh_vec(u))).store_unaligned(y + i);
    }
    for (; i < count; ++i) {
        const float u = static_cast<float>(kGeluScale) * (x[i] + static_cast<float>(kGeluCubic) * x[i] * x[i] * x[i]);
        y[i] = 0.5f * x[i] * (1.0f + std::tanh(u));
    }
}

void gelu_backward(const float* dy, const float* x, std::size_t count, float* dx) {
    const Vec scale(static_cast<float>(kGeluScale)), cubic(static_cast<float>(kGeluCubic)),
        cubic3(static_cast<float>(3 * kGeluCubic)), half(0.5f), one(1.0f);
    std::size_t i = 0;
    for (; i + kVecWidth <= count; i += kVecWidth) {
        const Vec xv = Vec::load_unaligned(x + i);
        const Vec x2 = xv * xv;
        const Vec t = tanh_vec(scale * xsimd::fma(cubic * xv, x2, xv));
        const Vec du = scale * xsimd::fma(cubic3, x2, one);
        const Vec grad = half * (one + t) + half * xv * (one - t * t) * du;
        (Vec::load_unaligned(dy + i) * grad).store_unaligned(dx + i);
    }
    for (; i < count; ++i) {
        const float xi = x[i];
        const float u = static_cast<float>(kGeluScale) * (xi + static_cast<float>(kGeluCubic) * xi * xi * xi);
        const float t = std::tanh(u);
        const float du = static_cast<float>(kGeluScale) * (1.0f + static_cast<float>(3 * kGeluCubic) * xi * xi);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * xi * (1.0f - t * t) * du);
    }
}

// ---- SiLU -------------------------------------------------------------------------------------

namespace {

// σ(x) = 1/(1 + e^{−x}): vexp_f32 clamps its argument to [−87, 88], where σ is already 0 or 1
// in float, so the ends stay exact.
inline Vec sigmoid_vec(Vec x) { return Vec(1.0f) / (Vec(1.0f) + simd::vexp_f32(-x)); }
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void silu_forward(const float* x, std::size_t count, float* y) {
    std::size_t i = 0;
    for (; i + kVecWidth <= count; i += kVecWidth) {
        const Vec xv = Vec::load_unaligned(x + i);
        (xv * sigmoid_vec(xv)).store_unaligned(y + i);
    }
    for (; i < count; ++i) y[i] = x[i] * sigmoid(x[i]);
}

void silu_backward(const float* dy, const float* x, std::size_t count, float* dx) {
    const Vec one(1.0f);
    std::size_t i = 0;
    for (; i + kVecWidth <= count; i += kVecWidth) {
        const Vec xv = Vec::load_unaligned(x + i);
        const Vec sv = sigmoid_vec(xv);
        (Vec::load_unaligned(dy + i) * sv * xsimd::fma(xv, one - sv, one)).store_unaligned(dx + i);
    }
    for (; i < count; ++i) {
        const float sg = sigmoid(x[i]);
        dx[i] = dy[i] * sg * (1.0f + x[i] * (1.0f - sg));
    }
}

// ---- scale-offset -------------------------------------------------------------------------------

void scale_offset_forward(const float* z, const float* gamma, const float* beta, std::size_t n, std::size_t s,
                          float* y) {
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < s; ++j) y[i * s + j] = z[i * s + j] * gamma[j] + beta[j];
}

void scale_offset_backward(const float* dy, const float* z, const float* gamma, std::size_t n, std::size_t s,
                           float* dz, float* dgamma, float* dbeta, bool accumulate) {
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < s; ++j) {
            const float g = dy[i * s + j];  // read before dz (which may be dy) is written
            if (dgamma) dgamma[j] += g * z[i * s + j];
            if (dbeta) dbeta[j] += g;
            dz[i * s + j] = accumulate ? dz[i * s + j] + g * gamma[j] : g * gamma[j];
        }
    }
}

// ---- gate ---------------------------------------------------------------------------------------

void gate_forward(const float* u, const float* a, std::size_t count, float* y) {
    for (std::size_t i = 0; i < count; ++i) y[i] = u[i] * a[i];
}

void gate_backward(const float* dy, const float* u, const float* a, std::size_t count, float* du, float* da) {
    for (std::size_t i = 0; i < count; ++i) {
        const float g = dy[i];  // du or da may be dy
        du[i] = g * a[i];
        da[i] = g * u[i];
    }
}

void rope_rows(float* x, std::size_t rows, std::size_t heads, std::size_t dim, const double* positions, double base,
               bool inverse) {
    Stopwatch watch(layer_times().rope);
    RopeOptions options;
    options.base = base;
    options.layout = RopeLayout::interleaved;
    options.rotary_dim = dim;
    options.inverse = inverse;
    options.positions = positions;
    rope_apply(RopeShape{1, rows, heads, dim}, options, x, x);
}

void fused_attention_forward(const AttentionShape& shape, const AttentionOptions& options, const float* q, const float* k,
                       const float* v, float* o, float* logsumexp) {
    Stopwatch watch(layer_times().attention);
    kexue::attention_forward(shape, options, q, k, v, o, logsumexp);
}

void fused_attention_backward(const AttentionShape& shape, const AttentionOptions& options, const float* q, const float* k,
                        const float* v, const float* o, const float* logsumexp, const float* d_o, float* dq,
                        float* dk, float* dv) {
    Stopwatch watch(layer_times().attention);
    kexue::attention_backward(shape, options, q, k, v, o, logsumexp, d_o, dq, dk, dv);
}

namespace {

// Times a talking-heads call as attention: its GEMMs are part of the attention, so the time the
// float matmul adds to LayerTimes::gemm meanwhile is taken back out of it.
class AttentionWithGemms {
public:
    AttentionWithGemms() : gemm_before_(layer_times().gemm), start_(std::chrono::steady_clock::now()) {}
    ~AttentionWithGemms() {
        layer_times().attention +=
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
        layer_times().gemm = gemm_before_;
    }

private:
    double gemm_before_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace

void talking_heads_forward(const AttentionShape& shape, const AttentionOptions& options, const float* pl,
                           const float* pw, const float* q, const float* k, const float* v, float* o, float* logits,
                           float* weights) {
    AttentionWithGemms watch;
    talking_heads_forward<float>(shape, options, pl, pw, q, k, v, o, logits, weights);
}

void talking_heads_backward(const AttentionShape& shape, const AttentionOptions& options, const float* pl,
                            const float* pw, const float* q, const float* k, const float* v, const float* logits,
                            const float* weights, const float* d_o, float* dq, float* dk, float* dv, float* dpl,
                            float* dpw) {
    AttentionWithGemms watch;
    talking_heads_backward<float>(shape, options, pl, pw, q, k, v, logits, weights, d_o, dq, dk, dv, dpl, dpw);
}

void cross_entropy_forward_backward(const float* logits, const std::int32_t* targets, std::size_t n, std::size_t v,
                                    float weight, float* loss, float* dlogits) {
    // The row kernel writes softmax into dlogits (or into a row of scratch when no gradient is
    // wanted) and the stable lse; the loss and the one-hot are then one pass per row.
    std::vector<float> scratch;
    std::vector<float> lse(n);
    float* probabilities = dlogits;
    if (!probabilities) {
        scratch.resize(n * v);
        probabilities = scratch.data();
    }
    logsumexp_grad_f32(LogsumexpOptions{n, v}, logits, probabilities, lse.data());
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t t = targets[i];
        loss[i] = t < 0 ? 0.0f : static_cast<float>(static_cast<double>(lse[i]) - logits[i * v + t]);
        if (!dlogits) continue;
        float* row = dlogits + i * v;
        if (t < 0) {
            std::fill(row, row + v, 0.0f);
            continue;
        }
        for (std::size_t j = 0; j < v; ++j) row[j] *= weight;
        row[t] -= weight;
    }
}

}  // namespace kexue::model
