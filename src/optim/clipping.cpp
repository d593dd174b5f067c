// Gradient clipping by global norm; see clipping.hpp.
#include "optim/clipping.hpp"

#include <algorithm>
#include <cmath>

namespace kexue {

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
