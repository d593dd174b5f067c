// Exponentiated gradient with a meta-learned step size; see exponentiated_gradient.hpp.
#include "optim/exponentiated_gradient.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "core/validate.hpp"

namespace kexue {

Error exponentiated_gradient_validate(const ExponentiatedGradientOptions& options) {
    if (Error e = greater_than("lr", options.lr, 0)) return e;
    if (Error e = at_least("metaLr", options.meta_lr, 0)) return e;
    if (Error e = at_least("metaClip", options.meta_clip, 0)) return e;
    if (options.size == 0) return range_error("weight", "non-empty", "length 0");
    return buffer_fits("the weight", {{"size", options.size}, {"copies", 4}});
}

Error exponentiated_gradient_check_weight(const ExponentiatedGradientOptions& options, const float* weight) {
    const bool exponentiated = options.update == EgUpdate::exponentiated;
    for (std::size_t i = 0; i < options.size; ++i) {
        const float w = weight[i];
        if (!std::isfinite(w) || (exponentiated && w < 0)) {
            return range_error("weight[" + js_number(std::uint64_t(i)) + "]",
                               exponentiated ? "finite and ≥ 0 (the 'exponentiated' update keeps the weight "
                                               "non-negative; use update: 'additive' for signed weights)"
                                             : "finite",
                               js_number(w));
        }
    }
    return {};
}

ExponentiatedGradient::ExponentiatedGradient(const ExponentiatedGradientOptions& options, const float* weight)
    : options_(options),
      weight_(weight, weight + options.size),
      step_sizes_(options.size, 1.0f),
      previous_grad_(options.size, 0.0f) {
    assert(!exponentiated_gradient_validate(options) && !exponentiated_gradient_check_weight(options, weight));
}

std::int64_t ExponentiatedGradient::step(const float* grad) {
    const std::size_t n = options_.size;
    // Refuse before touching any state, so a bad gradient leaves the optimizer as it was.
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(grad[i])) return static_cast<std::int64_t>(i);
    }
    const double lr = options_.lr, meta_lr = options_.meta_lr, clip = options_.meta_clip;
    const bool meta = meta_lr > 0 && steps_ > 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double g = grad[i];
        if (meta) {
            double exponent = meta_lr * previous_grad_[i] * g;
            if (clip > 0) exponent = std::clamp(exponent, -clip, clip);
            // Capped at float's largest value: a step size of +∞ would turn a zero gradient into NaN.
            step_sizes_[i] = static_cast<float>(
                std::min(step_sizes_[i] * std::exp(exponent), double(std::numeric_limits<float>::max())));
        }
        const double step = lr * step_sizes_[i] * g;
        if (options_.update == EgUpdate::additive) {
            weight_[i] = static_cast<float>(weight_[i] - step);
        } else if (weight_[i] != 0) {
            // Zeros stay zero (also when exp(−step) overflows, where 0·∞ would be NaN).
            weight_[i] = static_cast<float>(weight_[i] * std::exp(-step));
        }
        previous_grad_[i] = grad[i];
    }
    ++steps_;
    return -1;
}

}  // namespace kexue
