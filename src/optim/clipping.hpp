// Gradient clipping by global norm, both forms of kexue.fm/archives/7469 (Zhang et al., ICLR
// 2020), over a list of tensors whose concatenation is g:
//   Min     g ← g · min(1, γ/‖g‖)
//   Smooth  g ← g · γ/(‖g‖ + γ)   (the optimal step 1/(L0 + L1‖g‖) under (L0, L1)-smoothness)
// with ½·min(1, γ/‖g‖) ≤ γ/(‖g‖ + γ) ≤ min(1, γ/‖g‖). ‖g‖ = 0 leaves g unchanged. γ > 0.
#pragma once

#include <cstddef>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

enum class ClipForm { Min, Smooth };

template <>
struct EnumNames<ClipForm> {
    static constexpr EnumEntry<ClipForm> entries[] = {{"min", ClipForm::Min}, {"smooth", ClipForm::Smooth}};
};

// The options of kx.clipGradients, by the names the JS API uses.
struct ClipOptions {
    double max_norm = 0;  // γ, required
    ClipForm form = ClipForm::Min;
};

template <typename Visitor>
void visit_fields(ClipOptions& o, Visitor&& field) {
    field("maxNorm", o.max_norm, kRequired);
    field("form", o.form);
}

// The tensors clipped together: how many, and their total length.
struct ClipShape {
    std::size_t tensors = 0;
    std::size_t total = 0;
};

// At least one tensor ("grads must not be empty"), the concatenation within the heap, and
// 0 < maxNorm < ∞.
Error clip_validate(const ClipShape& shape, const ClipOptions& options);

// The coefficient g is multiplied by, for a global norm `norm`.
double clip_coefficient(double norm, double max_norm, ClipForm form);

// Scales tensors[0..count) (sizes[i] floats each) in place; returns the global L2 norm before
// clipping (accumulated in double).
double clip_by_global_norm(float* const* tensors, const std::size_t* sizes, std::size_t count,
                           double max_norm, ClipForm form);

}  // namespace kexue
