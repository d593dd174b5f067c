// Pointwise activations with their first and second derivatives, φ, φ', φ''. The tangent pass
// of the MLP (mlp.hpp) needs φ'' to be exact for the smooth activations; for the piecewise-linear
// ones φ'' = 0 almost everywhere (at the kink we take the right-hand derivative, φ'(0) = slope
// for z ≤ 0 as in PyTorch/TF's ReLU gradient, which is 0 at z = 0).
#pragma once

#include <algorithm>
#include <cmath>

#include "core/options.hpp"

namespace kexue {

enum class Activation { relu, leaky_relu, tanh, sigmoid, softplus, gelu, linear, sau_relu, sau_leaky_relu };

// The names of the JS API (`activation: 'leaky_relu'`); enum_name / parse_enum read them.
template <>
struct EnumNames<Activation> {
    static constexpr EnumEntry<Activation> entries[] = {
        {"relu", Activation::relu},         {"leaky_relu", Activation::leaky_relu}, {"tanh", Activation::tanh},
        {"sigmoid", Activation::sigmoid},   {"softplus", Activation::softplus},     {"gelu", Activation::gelu},
        {"linear", Activation::linear},     {"sau_relu", Activation::sau_relu},
        {"sau_leaky_relu", Activation::sau_leaky_relu}};
};

// Slope of leaky ReLU for z < 0, the value used by the WGAN-GP/GN reference code.
constexpr double kLeakyReluSlope = 0.2;

// Width σ of the Gaussian the SAU activations smooth with (docs/math.md §7.14; kexue.fm/archives/
// 8718; Biswas et al., "SAU: Smooth activation function using convolution with approximate
// identities", arXiv 2109.13210): σ = 1, where §7.14's vector is ReLU ⊛ N(0, 1) at 1 = 1.08331547059.
constexpr double kSauSigma = 1.0;

template <typename T>
struct ActivationDerivatives {
    T value;   // φ(z)
    T first;   // φ'(z)
    T second;  // φ''(z)
};

// ReLU ⊛ N(0, σ²) = ½[z erf(z/√2σ) + z + √(2/π) σ e^{−z²/2σ²}] = z Φ(z/σ) + σ φ(z/σ), with
// φ' = Φ(z/σ) (the step smoothed the same way) and φ'' = φ(z/σ)/σ, φ the standard normal density.
template <typename T>
inline ActivationDerivatives<T> sau_relu(T z) {
    const T sigma = T(kSauSigma);
    const T u = z / sigma;
    const T density = std::exp(T(-0.5) * u * u) * T(0.3989422804014327);  // 1/√(2π)
    const T cdf = T(0.5) * std::erfc(-u * T(0.7071067811865476));         // Φ(u), accurate for u ≪ 0
    return {z * cdf + sigma * density, cdf, density / sigma};
}

template <typename T>
inline ActivationDerivatives<T> activate(Activation activation, T z) {
    switch (activation) {
        case Activation::relu:
            return z > T(0) ? ActivationDerivatives<T>{z, T(1), T(0)}
                            : ActivationDerivatives<T>{T(0), T(0), T(0)};
        case Activation::leaky_relu: {
            const T slope = T(kLeakyReluSlope);
            return z > T(0) ? ActivationDerivatives<T>{z, T(1), T(0)}
                            : ActivationDerivatives<T>{slope * z, slope, T(0)};
        }
        case Activation::tanh: {
            const T t = std::tanh(z);
            const T d = T(1) - t * t;
            return {t, d, T(-2) * t * d};
        }
        case Activation::sigmoid: {
            // Split by sign so exp never overflows.
            const T s = z >= T(0) ? T(1) / (T(1) + std::exp(-z)) : std::exp(z) / (T(1) + std::exp(z));
            const T d = s * (T(1) - s);
            return {s, d, d * (T(1) - T(2) * s)};
        }
        case Activation::softplus: {
            // log(1 + e^z) = max(z, 0) + log1p(e^{−|z|}); φ' = σ(z), φ'' = σ(1 − σ).
            const T value = std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)));
            const T s = z >= T(0) ? T(1) / (T(1) + std::exp(-z)) : std::exp(z) / (T(1) + std::exp(z));
            return {value, s, s * (T(1) - s)};
        }
        case Activation::gelu: {
            // GELU, tanh form (Hendrycks & Gimpel): ½ z (1 + tanh u), u = c (z + 0.044715 z³).
            const T c = T(0.7978845608028654);  // sqrt(2/π)
            const T k = T(0.044715);
            const T u = c * (z + k * z * z * z);
            const T du = c * (T(1) + T(3) * k * z * z);
            const T d2u = c * T(6) * k * z;
            const T t = std::tanh(u);
            const T sech2 = T(1) - t * t;
            const T first = T(0.5) * (T(1) + t) + T(0.5) * z * sech2 * du;
            const T second = sech2 * (du - z * t * du * du + T(0.5) * z * d2u);
            return {T(0.5) * z * (T(1) + t), first, second};
        }
        case Activation::sau_relu:
            return sau_relu(z);
        case Activation::sau_leaky_relu: {
            // max(αz, z) = αz + (1 − α) ReLU(z), smoothed as ReLU is.
            const T slope = T(kLeakyReluSlope);
            const ActivationDerivatives<T> r = sau_relu(z);
            return {slope * z + (T(1) - slope) * r.value, slope + (T(1) - slope) * r.first, (T(1) - slope) * r.second};
        }
        case Activation::linear:
        default:
            return {z, T(1), T(0)};
    }
}

}  // namespace kexue
