// The inequality between the input-gradient and the parameter-gradient penalty (docs/math.md §7.12;
// kexue.fm/archives/8796; arXiv 2111.15090). For an MLP h^{(t+1)} = φ(W^{(t)} h^{(t)} + b^{(t)}),
// h^{(1)} = x, with a scalar output f, per sample:
//   input side      ‖∇_x f‖² Σ_t (1 + ‖h^{(t)}‖²)/(‖W^{(t)}‖² ‖∇_x h^{(t)}‖²)
//   parameter side  ‖∇_θ f‖² = Σ_t ‖δ_t‖²(1 + ‖h^{(t)}‖²),  δ_t = ∂f/∂(W^{(t)} h^{(t)} + b^{(t)})
// and input side ≤ parameter side, because ∇_x f = (W^{(t)} ∇_x h^{(t)})ᵀ δ_t for every layer t, so
// ‖δ_t‖ ≥ ‖∇_x f‖/(‖W^{(t)}‖ ‖∇_x h^{(t)}‖) (operator norms; the Frobenius norm bounds the spectral
// one from above, so the inequality holds with either). A term whose ‖∇_x h^{(t)}‖ is 0 has ∇_x f = 0
// and counts 0. Computed in double from the float32 parameters: forward-mode Jacobians ∇_x h^{(t)}
// (n_t × n_0 per sample) and the reverse pass.
// Shapes (row-major): x rows × n_0; input_side, parameter_side rows.
#pragma once

#include <cstddef>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "nn/mlp.hpp"

namespace kexue {

enum class MatrixNorm { frobenius, spectral };

template <>
struct EnumNames<MatrixNorm> {
    static constexpr EnumEntry<MatrixNorm> entries[] = {{"frobenius", MatrixNorm::frobenius},
                                                        {"spectral", MatrixNorm::spectral}};
};

// The options of kx.gan.penaltyInequality(mlp, x, { rows, norm }).
struct PenaltyInequalityOptions {
    std::size_t rows = 0;
    MatrixNorm norm = MatrixNorm::spectral;
};

template <typename Visitor>
void visit_fields(PenaltyInequalityOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("norm", o.norm);
}

// A network with one output, rows ≥ 1, and the per-sample Jacobians in the heap.
Error penalty_inequality_validate(const std::vector<std::size_t>& sizes, const PenaltyInequalityOptions& options);

void penalty_inequality(const Mlp<float>& mlp, const float* parameters, const float* x, std::size_t rows,
                        MatrixNorm norm, double* input_side, double* parameter_side);

// Training with either side as a penalty (GanTrainer's lipschitz 'input-side' / 'parameter-side'):
// adds scale · ∇_θ Σ_r side(x_r) to `gradient` (the parameter layout of mlp.hpp) and returns
// Σ_r side(x_r). Exact, in double: the parameter side ‖∇_θ f‖² = Σ_t ‖δ_t‖²(1 + ‖h_t‖²) is
// differentiated through the backward pass that makes δ_t (double backprop, φ'' included); the input
// side through the forward-mode Jacobians ∇_x h_t it is built from, with d‖M‖₂² = 2σ u vᵀ (top
// singular pair) or d‖M‖_F² = 2M. A sample whose ∇_x f is 0 contributes 0 (and no gradient).
enum class PenaltyInequalitySide { input, parameter };

double penalty_inequality_gradient(const Mlp<float>& mlp, const float* parameters, const float* x, std::size_t rows,
                                   PenaltyInequalitySide side, MatrixNorm norm, double scale, float* gradient);

}  // namespace kexue
