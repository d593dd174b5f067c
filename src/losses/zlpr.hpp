// Multi-label "softmax + cross-entropy" (ZLPR), kexue.fm/archives/7359 and 9064 (docs/math.md §7.2).
//
// Raw scores s ∈ R^C per row, a class predicted when s_i > 0. With targets t_i ∈ [0, 1]
//   L = log(1 + Σ_i t_i e^{−s_i}) + log(1 + Σ_i (1 − t_i) e^{s_i})
//     = lse([−s + log t, 0]) + lse([s + log(1 − t), 0])
//   ∂L/∂s_i = −t_i e^{−s_i}/(1 + Σ t e^{−s}) + (1 − t_i) e^{s_i}/(1 + Σ (1 − t) e^{s})
// Hard labels (t ∈ {0, 1}) give Su's log(1 + Σ_neg e^{s_i}) + log(1 + Σ_pos e^{−s_j}). The
// stationary point of the soft loss is t_i = σ(2 s_i), so σ(2s) is the calibrated probability.
// t is never clipped: t = 0 or 1 drops a term exactly (bert4keras' −∞ logit), and the sums are
// shifted by their own max over the terms present, so e.g. s = 500 with t = 1 costs nothing. A
// masked class (mask 0) is left out of both sums and gets gradient 0.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "core/options.hpp"
#include "losses/reduction.hpp"

namespace kexue {

struct ZlprOptions {
    std::size_t rows = 1;
    std::size_t classes = 0;
    bool soft = false;  // false: labels must be 0 or 1; true: any t ∈ [0, 1]
    Reduction reduction = Reduction::mean;
};

// The options of kx.losses.zlpr (`mask` is the JS facade's: an array, passed beside them).
template <typename Visitor>
void visit_fields(ZlprOptions& o, Visitor&& field) {
    field("rows", o.rows, kPositive);
    field("classes", o.classes, kRequired | kPositive);
    field("soft", o.soft);
    field("reduction", o.reduction);
}

// rows, classes ≥ 1, and logits, labels, mask and grad [rows, classes] fit in the heap together.
Error zlpr_validate(const ZlprOptions& options);

// logits finite; labels 0 or 1 (hard) or in [0, 1] (soft); mask (may be null) 0 or 1.
Error zlpr_check_inputs(const ZlprOptions& options, const float* logits, const float* labels, const float* mask);

// Hard labels given as index sets: set r is indices[offsets[r] : offsets[r + 1]] (offsets has
// rows + 1 entries), each index an integer in [0, classes); repeats are allowed. Checks them and
// writes the 0/1 labels [rows, classes]; returns the first bad index as an error
// ("labels[1][2] must be an integer in [0, classes = 5), received 7").
Error zlpr_labels_from_index_sets(const ZlprOptions& options, const std::uint32_t* offsets, const double* indices,
                                  float* labels);

// logits, labels, mask (null: every class counts) [rows, classes] → grad [rows, classes] of the
// reduced loss, row_losses [rows] (may be null); returns the reduced loss ('none': the mean).
double zlpr_f32(const ZlprOptions& options, const float* logits, const float* labels, const float* mask,
                float* grad, double* row_losses);

// σ(2s) elementwise over logits[0:count] (NaN stays NaN).
void zlpr_probability_f32(std::size_t count, const float* logits, float* out);

}  // namespace kexue
