// Tensors for the kernel tests: seeded random inputs, the float → double copy the reference twins
// take, the whole-tensor relative error, and the central-difference check of a backward pass.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace kexue::testing {

// count draws of N(0, stddev²) from a seeded generator.
inline std::vector<float> random_floats(std::size_t count, std::uint32_t seed, float stddev = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, stddev);
    std::vector<float> out(count);
    for (float& x : out) x = dist(rng);
    return out;
}

// count draws of U(−1, 1) from a seeded generator.
inline std::vector<float> uniform_floats(std::size_t count, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> out(count);
    for (float& x : out) x = dist(rng);
    return out;
}

inline std::vector<double> to_double(const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); }

// max |got − want| / max(max |want|, 0.01): the relative error of the whole tensor, meaningful when
// single entries cancel to near zero. The floor covers gradients that vanish exactly (one visible
// key: dS = P(dP − D) = 0), where float rounding leaves ~1e-8 against a double 0. Infinite entries
// (a row that sees no key has logsumexp −∞) must agree exactly; any other non-finite result is an
// infinite error.
template <typename T>
double relative_error(const std::vector<T>& got, const std::vector<double>& want) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    double max_diff = 0.0, max_ref = 1e-2;
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double g = static_cast<double>(got[i]);
        if (std::isinf(want[i]) || std::isinf(g)) {
            if (g != want[i]) return kInf;
            continue;
        }
        if (!std::isfinite(g)) return kInf;
        max_diff = std::max(max_diff, std::fabs(g - want[i]));
        max_ref = std::max(max_ref, std::fabs(want[i]));
    }
    return max_diff / max_ref;
}

// loss(), called out of line. The WASM build's compiler (Debian's Emscripten 3.1.6, LLVM 14.0.6)
// miscompiles the central difference below when a cheap loss is inlined into it: at -O2 with
// -msimd128 the SLP vectorizer fuses the two evaluations into f64x2 lanes (up, down), and the
// WebAssembly backend lowers the BUILD_VECTOR whose splat value is the up lane's scalar load to
// v128.load64_splat without keeping that load in the memory chain (LowerBUILD_VECTOR's LOAD_SPLAT
// node takes the load's input chain but has no output chain, so the stores that followed the load
// are no longer ordered after it). The load is then scheduled after `x[i] = saved − step` and
// `x[i] = saved`, so `up` reads the unperturbed x and every difference comes out halved
// (ModelLayers.LadderGateBackwardMatchesFiniteDifferences read each gradient as 2× its difference
// there). A call boundary keeps each evaluation's loads in their own function, behind the store
// before the call; native (x86) code generation was never affected.
template <typename Loss>
[[gnu::noinline]] double evaluate_loss(Loss& loss) {
    return loss();
}

// grad against central differences (step 1e-6) of loss() in every entry of x, each within
// tolerance; x is restored. Failures print name[i] and then `context`.
template <typename Loss>
void expect_central_differences(Loss&& loss, std::vector<double>& x, const std::vector<double>& grad, double tolerance,
                                const std::string& name, const std::string& context = "") {
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double saved = x[i], step = 1e-6;
        x[i] = saved + step;
        const double up = evaluate_loss(loss);
        x[i] = saved - step;
        const double down = evaluate_loss(loss);
        x[i] = saved;
        EXPECT_NEAR(grad[i], (up - down) / (2 * step), tolerance) << name << "[" << i << "]" << context;
    }
}

}  // namespace kexue::testing
