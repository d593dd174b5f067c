// The row primitives of the softmax-shaped kernels (logsumexp, InfoNCE/FlatNCE): a max that sees
// NaN, an exp-sum with the exps optionally kept, and a scaling pass. Float32 SIMD with float
// exps (Cephes, ~1 ulp) and sums in double (simd::DoubleSum).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "core/simd.hpp"
#include "core/vector_math.hpp"

namespace kexue::row_kernels {

using simd::kVecWidth;
using simd::Vec;

// max of x[0:n] (n ≥ 0; −∞ for n = 0); *has_nan is set when some entry is NaN (xsimd's max, like
// the SSE/WASM instruction, would silently drop it).
inline float max_checked(const float* x, std::size_t n, bool* has_nan) {
    float best = -INFINITY;
    bool nan = false;
    std::size_t j = 0;
    if (n >= kVecWidth) {
        Vec best_vec(-INFINITY);
        auto nan_vec = (best_vec != best_vec);
        for (; j + kVecWidth <= n; j += kVecWidth) {
            const Vec v = Vec::load_unaligned(x + j);
            best_vec = xsimd::max(best_vec, v);
            nan_vec = nan_vec | (v != v);
        }
        alignas(64) float lanes[kVecWidth];
        best_vec.store_aligned(lanes);
        best = *std::max_element(lanes, lanes + kVecWidth);
        nan = xsimd::any(nan_vec);
    }
    for (; j < n; ++j) {
        best = std::max(best, x[j]);
        nan = nan || std::isnan(x[j]);
    }
    if (has_nan) *has_nan = nan;
    return best;
}

// Σ_j exp(scale·x_j − shift) over x[0:n], in double; when `out` is not null the float exps are
// stored there (out may be x). Terms below e^−87 count as 0.
inline double exp_sum(const float* x, std::size_t n, float scale, float shift, float* out) {
    simd::DoubleSum sum;
    const Vec scale_vec(scale), shift_vec(shift);
    std::size_t j = 0;
    for (; j + kVecWidth <= n; j += kVecWidth) {
        const Vec e = simd::exp_vec_or_zero(xsimd::fms(Vec::load_unaligned(x + j), scale_vec, shift_vec));
        if (out) e.store_unaligned(out + j);
        sum.add(e);
    }
    for (; j < n; ++j) {
        const float e = std::exp(x[j] * scale - shift);
        if (out) out[j] = e;
        sum.add(static_cast<double>(e));
    }
    return sum.total();
}

// x[0:n] *= c.
inline void scale(float* x, std::size_t n, float c) {
    const Vec c_vec(c);
    std::size_t j = 0;
    for (; j + kVecWidth <= n; j += kVecWidth) (Vec::load_unaligned(x + j) * c_vec).store_unaligned(x + j);
    for (; j < n; ++j) x[j] *= c;
}

}  // namespace kexue::row_kernels
