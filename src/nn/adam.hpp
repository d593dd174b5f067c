// Adam (Kingma & Ba 2015) with bias correction, for a flat float parameter vector:
//   m ← β1 m + (1 − β1) g,  v ← β2 v + (1 − β2) g²,  p ← p − lr · m̂ / (sqrt(v̂) + eps),
//   m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t). WGAN-GP's paper uses β1 = 0, β2 = 0.9.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace kexue {

struct AdamOptions {
    double lr = 1e-4;
    double beta1 = 0.0;
    double beta2 = 0.9;
    double eps = 1e-8;
};

class Adam {
public:
    Adam(std::size_t count, const AdamOptions& options)
        : options_(options), m_(count, 0.0f), v_(count, 0.0f) {}

    // parameters, gradient: count floats.
    void step(float* parameters, const float* gradient) {
        ++t_;
        const double correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t_));
        const double correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t_));
        const double b1 = options_.beta1, b2 = options_.beta2;
        for (std::size_t i = 0; i < m_.size(); ++i) {
            const double g = gradient[i];
            const double m = b1 * m_[i] + (1 - b1) * g;
            const double v = b2 * v_[i] + (1 - b2) * g * g;
            m_[i] = static_cast<float>(m);
            v_[i] = static_cast<float>(v);
            parameters[i] -= static_cast<float>(options_.lr * (m / correction1) /
                                                (std::sqrt(v / correction2) + options_.eps));
        }
    }

    std::size_t steps() const { return t_; }

private:
    AdamOptions options_;
    std::vector<float> m_, v_;
    std::size_t t_ = 0;
};

}  // namespace kexue
