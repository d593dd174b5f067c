// InfoNCE and FlatNCE over a similarity matrix (kexue.fm/archives/8586, arXiv 2107.01152;
// docs/math.md §7.5), returning ∂L/∂similarities so that a caller can accumulate a large batch in
// chunks: compute all embeddings, the similarity rows of one chunk, this gradient, then
// backpropagate the chunk (kexue.fm's contrastive learning with gradient accumulation).
//
// Row i holds the scores s_j = sim_ij/τ of its K = cols candidates; its positive is column
// target_i (by default i: the diagonal of a square matrix, as in SimCSE's in-batch negatives).
//   InfoNCE   L = lse(s) − s_t = log(1 + ξ),  ξ = Σ_{j≠t} e^{s_j − s_t}
//             ∂L/∂s_j = softmax(s)_j − [j = t]
//   FlatNCE   ξ/sg(ξ) has value 1 and the gradient of Su's form L = lse_{j≠t}(s_j) − s_t (which is
//             what is returned; it may be negative): ∂L/∂s_t = −1, the negatives get their
//             softmax among the negatives. For small K, ξ → 0 and log(1 + ξ) drowns in rounding;
//             FlatNCE's gradient does not. K = 1 has no negative and is refused.
// Gradients are with respect to sim (so they carry the 1/τ).
#pragma once

#include <cstddef>

#include "core/error.hpp"
#include "core/options.hpp"
#include "losses/reduction.hpp"

namespace kexue {

struct ContrastiveOptions {
    std::size_t rows = 0;
    std::size_t cols = 0;
    double temperature = 1;  // τ > 0: the scores are sim/τ
    Reduction reduction = Reduction::mean;
};

// The options of kx.losses.infoNCE and kx.losses.flatNCE (`targets` is the JS facade's: an array).
template <typename Visitor>
void visit_fields(ContrastiveOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("cols", o.cols, kRequired | kPositive);
    field("temperature", o.temperature);
    field("reduction", o.reduction);
}

enum class ContrastiveLoss { info_nce, flat_nce };

// rows, cols ≥ 1, τ > 0; without explicit targets the positives are the diagonal, so the matrix
// must be square; FlatNCE needs cols ≥ 2; sim and grad fit in the heap.
Error contrastive_validate(const ContrastiveOptions& options, ContrastiveLoss loss, bool has_targets);

// sim [rows, cols] finite; targets (may be null) [rows] integers in [0, cols).
Error contrastive_check_inputs(const ContrastiveOptions& options, const float* sim, const double* targets);

// sim [rows, cols], targets [rows] or null (the diagonal) → grad [rows, cols] of the reduced loss,
// row_losses [rows] (may be null); returns the reduced loss ('none': the mean).
double info_nce_f32(const ContrastiveOptions& options, const float* sim, const double* targets, float* grad,
                    double* row_losses);
double flat_nce_f32(const ContrastiveOptions& options, const float* sim, const double* targets, float* grad,
                    double* row_losses);

}  // namespace kexue
