// The one Adam of the library (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR
// 2015, Algorithm 1), used by the GAN trainer (src/gan/trainer.cpp) and by LowRankOptimizer
// (src/optim/low_rank_optimizer.cpp):
//   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²,
//   p ← (1 − lr·wd)·p − lr·m̂/(√v̂ + eps),   m̂ = m/(1 − β1ᵗ),  v̂ = v/(1 − β2ᵗ)
// with decoupled weight decay wd (AdamW, Loshchilov & Hutter, arXiv 1711.05101; 0 by default).
// The bias corrections are folded into two scalars per step, lr/(1 − β1ᵗ) and 1/√(1 − β2ᵗ), so the
// per-entry work is two multiply-adds, one square root and one division:
//   p ← (1 − lr·wd)·p − [lr/(1 − β1ᵗ)]·m/(√v·[1/√(1 − β2ᵗ)] + eps).
// GaLore's reference AdamW (jiaweizzhao/GaLore) puts eps outside the bias correction instead; its
// form, adam_normalized_moments, shares the moment update.
//
// Precision. The moments are stored in float32 everywhere (as PyTorch keeps them in the
// parameter's dtype); the arithmetic type `Real` is a template parameter:
//   double  the GAN trainer (Adam class below): its networks are small (a few thousand parameters),
//           so double arithmetic costs nothing measurable and keeps its seeded runs as they were.
//   float   LowRankOptimizer: the update runs over rows×cols entries ('full') or the factors every
//           step; float arithmetic vectorises four lanes per WASM SIMD instruction where double
//           gets two, and the weights themselves are float32.
// The corrections are always computed in double (β2ᵗ for large t needs it).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kexue {

struct AdamOptions {
    double lr = 1e-4;
    double beta1 = 0.0;  // WGAN-GP's paper uses β1 = 0, β2 = 0.9
    double beta2 = 0.9;
    double eps = 1e-8;
    double weight_decay = 0;  // decoupled (AdamW)
};

// The per-step scalars of the update, in the arithmetic type.
template <typename Real>
struct AdamStep {
    Real beta1, beta2, eps;
    Real step;         // lr/(1 − β1ᵗ)
    Real inv_sqrt_c2;  // 1/√(1 − β2ᵗ)
    float decay;       // 1 − lr·wd, applied to the float32 parameter
};

// t ≥ 1: the step being taken.
template <typename Real>
AdamStep<Real> adam_step(const AdamOptions& o, std::int64_t t) {
    const double td = static_cast<double>(t);
    AdamStep<Real> s;
    s.beta1 = static_cast<Real>(o.beta1);
    s.beta2 = static_cast<Real>(o.beta2);
    s.eps = static_cast<Real>(o.eps);
    s.step = static_cast<Real>(o.lr / (1.0 - std::pow(o.beta1, td)));
    s.inv_sqrt_c2 = static_cast<Real>(1.0 / std::sqrt(1.0 - std::pow(o.beta2, td)));
    s.decay = static_cast<float>(1.0 - o.lr * o.weight_decay);
    return s;
}

// One moment update for entry i; returns the new m and v in Real (stored rounded to float).
template <typename Real>
inline void adam_moments(Real g, float& m_stored, float& v_stored, Real beta1, Real beta2, Real& m, Real& v) {
    m = beta1 * static_cast<Real>(m_stored) + (1 - beta1) * g;
    v = beta2 * static_cast<Real>(v_stored) + (1 - beta2) * g * g;
    m_stored = static_cast<float>(m);
    v_stored = static_cast<float>(v);
}

// p, g, m, v: `count` floats; p is updated in place (decoupled decay first, then the Adam step).
template <typename Real>
void adam_update(float* p, const float* g, float* m, float* v, std::size_t count, const AdamStep<Real>& s) {
    // Locals, not s.field: a float store to p, m or v may alias a float field of s as far as the
    // compiler knows, which would reload the fields every entry and keep the loop scalar.
    const Real beta1 = s.beta1, beta2 = s.beta2, eps = s.eps, step = s.step, inv_sqrt_c2 = s.inv_sqrt_c2;
    const float decay = s.decay;
    for (std::size_t i = 0; i < count; ++i) {
        Real mi, vi;
        adam_moments(static_cast<Real>(g[i]), m[i], v[i], beta1, beta2, mi, vi);
        p[i] = p[i] * decay - static_cast<float>(step * mi / (std::sqrt(vi) * inv_sqrt_c2 + eps));
    }
}

// GaLore's form: updates the moments from g and overwrites g with N = m/(√v + eps), uncorrected;
// the caller folds lr·√(1 − β2ᵗ)/(1 − β1ᵗ) into its step size.
template <typename Real>
void adam_normalized_moments(float* g, float* m, float* v, std::size_t count, Real beta1, Real beta2, Real eps) {
    for (std::size_t i = 0; i < count; ++i) {
        Real mi, vi;
        adam_moments(static_cast<Real>(g[i]), m[i], v[i], beta1, beta2, mi, vi);
        g[i] = static_cast<float>(mi / (std::sqrt(vi) + eps));
    }
}

// Adam over a flat float parameter vector with its own moments (double arithmetic; see above).
class Adam {
public:
    Adam(std::size_t count, const AdamOptions& options) : options_(options), m_(count, 0.0f), v_(count, 0.0f) {}

    // parameters, gradient: count floats.
    void step(float* parameters, const float* gradient) {
        ++t_;
        adam_update(parameters, gradient, m_.data(), v_.data(), m_.size(),
                    adam_step<double>(options_, static_cast<std::int64_t>(t_)));
    }

    std::size_t steps() const { return t_; }

private:
    AdamOptions options_;
    std::vector<float> m_, v_;
    std::size_t t_ = 0;
};

}  // namespace kexue
