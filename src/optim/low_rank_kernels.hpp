// The fused kernels of the low-rank optimizers (LoRA as an optimizer, GaLore, the random
// projection): each reads the big rows×cols matrix once, because the optimizer step is
// memory-bound on it, and keeps the r-wide factor rows in registers. Each has a GEMM twin
// (`…_reference`, two calls of gemm_f32) that the tests compare it with on edge sizes.
//
// Shapes (row-major):
//   G, base, out   rows×cols
//   A              rows×r        B   r×cols
#pragma once

#include <cstddef>

namespace kexue {

// The two factor gradients of LoRA in one pass over G:
//   ga (rows×r) = G·Bᵀ   and   gb (r×cols) = Aᵀ·G.
// Either output may be null (not computed; its factor may then be null too). SIMD over cols.
// GaLore's projections R = G·Pᵀ and R = Pᵀ·G are the same two products.
void lora_factor_gradients(const float* g, const float* a, const float* b, std::size_t rows, std::size_t cols,
                           std::size_t r, float* ga, float* gb);
void lora_factor_gradients_reference(const float* g, const float* a, const float* b, std::size_t rows,
                                     std::size_t cols, std::size_t r, float* ga, float* gb);

// out = base + scale·A·B (rows×cols) in one pass over out; base may be out (an in-place update).
// The reference twin needs base not to alias a or b.
void low_rank_update(const float* base, const float* a, const float* b, std::size_t rows, std::size_t cols,
                     std::size_t r, float scale, float* out);
void low_rank_update_reference(const float* base, const float* a, const float* b, std::size_t rows,
                               std::size_t cols, std::size_t r, float scale, float* out);

}  // namespace kexue
