// Exponentiated gradient descent and a meta-learned per-coordinate step size
// (kexue.fm/archives/8968; Amid, Anil, Fifty & Warmuth, arXiv 2202.00145; docs/math.md §7.6).
//
//   'exponentiated'  θ ← θ ⊙ exp(−η ν ⊙ g)   for θ ≥ 0: mirror descent under the entropy, so θ stays
//                                              non-negative and zeros stay zero
//   'additive'       θ ← θ − η ν ⊙ g         plain gradient descent with per-coordinate steps
// The step sizes ν (ν_0 = 1) are themselves learned by an exponentiated-gradient step on the
// hypergradient, Su's simplified form:
//   ν_{t+1} = ν_t ⊙ exp(γ g_{t−1} ⊙ g_t)      (no update at the first step)
// so a coordinate's step grows while its consecutive gradients agree in sign and shrinks when they
// flip. γ = metaLr = 0 keeps ν = 1 (plain EG or plain SGD). metaClip c > 0 clamps γ g_{t−1} g_t to
// [−c, c] (the paper's safeguard against one large product); 0 leaves it unclamped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

enum class EgUpdate { exponentiated, additive };

template <>
struct EnumNames<EgUpdate> {
    static constexpr EnumEntry<EgUpdate> entries[] = {{"exponentiated", EgUpdate::exponentiated},
                                                      {"additive", EgUpdate::additive}};
};

struct ExponentiatedGradientOptions {
    double lr = 0;  // η > 0
    EgUpdate update = EgUpdate::exponentiated;
    double meta_lr = 0;    // γ ≥ 0
    double meta_clip = 0;  // c ≥ 0 (0: no clamp)
    // The weight's length: not an option by name (the JS facade passes the weight beside them).
    std::size_t size = 0;
};

template <typename Visitor>
void visit_fields(ExponentiatedGradientOptions& o, Visitor&& field) {
    field("lr", o.lr, kRequired);
    field("update", o.update);
    field("metaLr", o.meta_lr);
    field("metaClip", o.meta_clip);
}

// η > 0, γ ≥ 0, c ≥ 0, a non-empty weight, and its state (weight, ν, previous gradient, the
// gradient buffer) fits in the heap.
Error exponentiated_gradient_validate(const ExponentiatedGradientOptions& options);

// The initial weight [size]: finite, and ≥ 0 for the 'exponentiated' update.
Error exponentiated_gradient_check_weight(const ExponentiatedGradientOptions& options, const float* weight);

class ExponentiatedGradient {
public:
    // Preconditions: the options and the weight pass the two checks above.
    ExponentiatedGradient(const ExponentiatedGradientOptions& options, const float* weight);

    // One update from grad [size]. Returns −1, or the index of the first non-finite entry, in which
    // case nothing changes (the step is refused).
    std::int64_t step(const float* grad);

    const ExponentiatedGradientOptions& options() const { return options_; }
    const std::vector<float>& weight() const { return weight_; }
    const std::vector<float>& step_sizes() const { return step_sizes_; }
    std::uint64_t steps() const { return steps_; }

private:
    ExponentiatedGradientOptions options_;
    std::vector<float> weight_;
    std::vector<float> step_sizes_;     // ν
    std::vector<float> previous_grad_;  // g_{t−1}
    std::uint64_t steps_ = 0;
};

}  // namespace kexue
