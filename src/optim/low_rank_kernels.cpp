// The fused low-rank kernels and their GEMM twins; see low_rank_kernels.hpp.
#include "optim/low_rank_kernels.hpp"

#include <algorithm>
#include <vector>

#include "core/gemm.hpp"
#include "core/simd.hpp"

namespace kexue {

void lora_factor_gradients_reference(const float* g, const float* a, const float* b, std::size_t rows,
                                     std::size_t cols, std::size_t r, float* ga, float* gb) {
    if (ga) gemm_f32({rows, cols, r, false, true}, g, b, ga);  // G·Bᵀ
    if (gb) gemm_f32({r, rows, cols, true, false}, a, g, gb);  // Aᵀ·G
}

namespace {

// G rows×cols, A rows×r, B r×cols → ga rows×r (kGa), gb r×cols (kGb). Which outputs are wanted is
// a template parameter, so the inner loop carries no per-entry test of a null pointer (GaLore and
// the fixed-factor modes want one output).
template <bool kGa, bool kGb>
void factor_gradients(const float* g, const float* a, const float* b, std::size_t rows, std::size_t cols,
                      std::size_t r, float* ga, float* gb) {
    using simd::Vec;
    constexpr std::size_t W = simd::kVecWidth;
    const std::size_t vec_end = cols - cols % W;
    if (kGb) std::fill(gb, gb + r * cols, 0.0f);
    std::vector<Vec> acc(kGa ? r : 0);
    std::vector<float> tail(kGa ? r : 0);
    for (std::size_t i = 0; i < rows; ++i) {
        const float* gi = g + i * cols;
        const float* ai = kGb ? a + i * r : nullptr;
        for (auto& v : acc) v = Vec(0.0f);
        for (auto& t : tail) t = 0;
        for (std::size_t j = 0; j < vec_end; j += W) {
            const Vec gv = Vec::load_unaligned(gi + j);
            for (std::size_t k = 0; k < r; ++k) {
                if (kGa) acc[k] = xsimd::fma(gv, Vec::load_unaligned(b + k * cols + j), acc[k]);
                if (kGb) {
                    float* out = gb + k * cols + j;
                    xsimd::fma(Vec(ai[k]), gv, Vec::load_unaligned(out)).store_unaligned(out);
                }
            }
        }
        for (std::size_t j = vec_end; j < cols; ++j) {
            for (std::size_t k = 0; k < r; ++k) {
                if (kGa) tail[k] += gi[j] * b[k * cols + j];
                if (kGb) gb[k * cols + j] += ai[k] * gi[j];
            }
        }
        if (kGa) {
            for (std::size_t k = 0; k < r; ++k) ga[i * r + k] = xsimd::hadd(acc[k]) + tail[k];
        }
    }
}

}  // namespace

void lora_factor_gradients(const float* g, const float* a, const float* b, std::size_t rows, std::size_t cols,
                           std::size_t r, float* ga, float* gb) {
    if (ga && gb) {
        factor_gradients<true, true>(g, a, b, rows, cols, r, ga, gb);
    } else if (ga) {
        factor_gradients<true, false>(g, a, b, rows, cols, r, ga, gb);
    } else if (gb) {
        factor_gradients<false, true>(g, a, b, rows, cols, r, ga, gb);
    }
}

void low_rank_update_reference(const float* base, const float* a, const float* b, std::size_t rows,
                               std::size_t cols, std::size_t r, float scale, float* out) {
    std::vector<float> scaled_a(a, a + rows * r);
    for (auto& x : scaled_a) x *= scale;
    if (base != out) std::copy(base, base + rows * cols, out);
    gemm_f32({rows, r, cols}, scaled_a.data(), b, out, true);
}

// base, out rows×cols, A rows×r, B r×cols.
void low_rank_update(const float* base, const float* a, const float* b, std::size_t rows, std::size_t cols,
                     std::size_t r, float scale, float* out) {
    using simd::Vec;
    constexpr std::size_t W = simd::kVecWidth;
    const std::size_t vec_end = cols - cols % W;
    std::vector<float> sa(r);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t k = 0; k < r; ++k) sa[k] = scale * a[i * r + k];
        const float* base_row = base + i * cols;
        float* out_row = out + i * cols;
        for (std::size_t j = 0; j < vec_end; j += W) {
            Vec v = Vec::load_unaligned(base_row + j);
            for (std::size_t k = 0; k < r; ++k) v = xsimd::fma(Vec(sa[k]), Vec::load_unaligned(b + k * cols + j), v);
            v.store_unaligned(out_row + j);
        }
        for (std::size_t j = vec_end; j < cols; ++j) {
            float v = base_row[j];
            for (std::size_t k = 0; k < r; ++k) v += sa[k] * b[k * cols + j];
            out_row[j] = v;
        }
    }
}

}  // namespace kexue
