// Double-precision twins of the float32 kernels of src/losses/, written as xtensor expressions of
// the formulas of docs/math.md §7.1, 7.2, 7.5 and 7.13 (the stable lse is the only trick; no
// SIMD, no fused passes). The tests hold every kernel against them. Per-row losses and per-row
// gradients (reduction 'none').
#pragma once

#include <cstddef>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "losses/global_pointer_kl.hpp"

namespace kexue::reference {

using Matrix = xt::xtensor<double, 2>;
using Vector = xt::xtensor<double, 1>;

struct LossAndGrad {
    Vector loss;      // [rows]
    Matrix grad;      // ∂loss_r/∂(first input) [rows, cols]
    Matrix grad_other;  // ∂loss_r/∂(second input), where there is one (GlobalPointer KL's t)
};

// lse of each row (the §7.1 rules for ±∞ and NaN) and the softmax.
Vector logsumexp(const Matrix& x);
Matrix softmax(const Matrix& x);

// ZLPR with targets t ∈ [0, 1] and mask (1 counted, 0 left out), all [rows, classes].
LossAndGrad zlpr(const Matrix& s, const Matrix& t, const Matrix& mask);

// InfoNCE / FlatNCE of sim [rows, cols] with positives targets[r], temperature τ; grad w.r.t. sim.
LossAndGrad info_nce(const Matrix& sim, const std::vector<std::size_t>& targets, double temperature);
LossAndGrad flat_nce(const Matrix& sim, const std::vector<std::size_t>& targets, double temperature);

LossAndGrad global_pointer_kl(const Matrix& s, const Matrix& t, KlForm form);

}  // namespace kexue::reference
