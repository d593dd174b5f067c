// Gradient clipping by global norm; see clipping.hpp.
#include "optim/clipping.hpp"

#include <algorithm>
#include <cmath>

#include "core/validate.hpp"

namespace kexue {

Error clip_validate(const ClipShape& shape, const ClipOptions& options) {
    if (shape.tensors == 0) return range_error_text("grads", "grads must not be empty");
    if (Error e = buffer_fits("grads", {{"total", shape.total}})) return e;
    return finite_in("maxNorm", options.max_norm, '(', 0, INFINITY, ']');
}

double clip_coefficient(double norm, double max_norm, ClipForm form) {
    if (norm == 0) return 1;
    return form == ClipForm::Min ? std::min(1.0, max_norm / norm) : max_norm / (norm + max_norm);
}

double clip_by_global_norm(float* const* tensors, const std::size_t* sizes, std::size_t count,
                           double max_norm, ClipForm form) {
    double sum = 0;
    for (std::size_t t = 0; t < count; ++t) {
        for (std::size_t i = 0; i < sizes[t]; ++i) sum += static_cast<double>(tensors[t][i]) * tensors[t][i];
    }
    const double norm = std::sqrt(sum);
    const double coefficient = clip_coefficient(norm, max_norm, form);
    if (coefficient != 1) {
        for (std::size_t t = 0; t < count; ++t) {
            for (std::size_t i = 0; i < sizes[t]; ++i) {
                tensors[t][i] = static_cast<float>(tensors[t][i] * coefficient);
            }
        }
    }
    return norm;
}

}  // namespace kexue
