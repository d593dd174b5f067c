// Gradient clipping by global norm, both forms of kexue.fm/archives/7469 (Zhang et al., ICLR
// 2020), over a list of tensors whose concatenation is g:
//   Min     g ← g · min(1, γ/‖g‖)
//   Smooth  g ← g · γ/(‖g‖ + γ)   (the optimal step 1/(L0 + L1‖g‖) under (L0, L1)-smoothness)
// with ½·min(1, γ/‖g‖) ≤ γ/(‖g‖ + γ) ≤ min(1, γ/‖g‖). ‖g‖ = 0 leaves g unchanged. γ > 0.
#pragma once

#include <cstddef>

namespace kexue {

enum class ClipForm { Min, Smooth };

// The coefficient g is multiplied by, for a global norm `norm`.
double clip_coefficient(double norm, double max_norm, ClipForm form);

// Scales tensors[0..count) (sizes[i] floats each) in place; returns the global L2 norm before
// clipping (accumulated in double).
double clip_by_global_norm(float* const* tensors, const std::size_t* sizes, std::size_t count,
                           double max_norm, ClipForm form);

}  // namespace kexue
