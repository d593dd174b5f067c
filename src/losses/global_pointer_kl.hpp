// GlobalPointer's symmetric "KL divergence" between two sets of logits (kexue.fm/archives/9039;
// docs/math.md §7.13), e.g. the two dropout passes of R-Drop.
//   softmax logits:     KL(p‖q) + KL(q‖p) = Σ_i (p_i − q_i)(s_i − t_i),   p = softmax(s), q = softmax(t)
//   multi-label logits: D(s, t) = Σ_i (σ(s_i) − σ(t_i))(s_i − t_i)   (a sum of per-logit symmetric
//                       binary KLs: GlobalPointer's, whose logits are independent sigmoids)
//   ∂D/∂s_i = σ'(s_i)(s_i − t_i) + σ(s_i) − σ(t_i),   ∂D/∂t_i = −σ'(t_i)(s_i − t_i) − (σ(s_i) − σ(t_i))
//   softmax: ∂/∂s_j = (p_j − q_j) + p_j((s_j − t_j) − Σ_i p_i(s_i − t_i)), and symmetrically for t.
// Both gradients are returned, since both passes come from the model being trained.
#pragma once

#include <cstddef>

#include "core/error.hpp"
#include "core/options.hpp"
#include "losses/reduction.hpp"

namespace kexue {

enum class KlForm { sigmoid, softmax };

template <>
struct EnumNames<KlForm> {
    static constexpr EnumEntry<KlForm> entries[] = {{"sigmoid", KlForm::sigmoid}, {"softmax", KlForm::softmax}};
};

struct GlobalPointerKlOptions {
    std::size_t rows = 1;
    std::size_t classes = 0;
    KlForm form = KlForm::sigmoid;  // GlobalPointer's multi-label logits
    Reduction reduction = Reduction::mean;
};

template <typename Visitor>
void visit_fields(GlobalPointerKlOptions& o, Visitor&& field) {
    field("rows", o.rows, kPositive);
    field("classes", o.classes, kRequired | kPositive);
    field("form", o.form);
    field("reduction", o.reduction);
}

// rows, classes ≥ 1; s, t and both gradients fit in the heap.
Error global_pointer_kl_validate(const GlobalPointerKlOptions& options);

// s and t [rows, classes] finite.
Error global_pointer_kl_check_inputs(const GlobalPointerKlOptions& options, const float* s, const float* t);

// s, t [rows, classes] → grad_s, grad_t [rows, classes] of the reduced loss, row_losses [rows]
// (may be null); returns the reduced loss ('none': the mean). In double per row.
double global_pointer_kl_f32(const GlobalPointerKlOptions& options, const float* s, const float* t, float* grad_s,
                             float* grad_t, double* row_losses);

}  // namespace kexue
