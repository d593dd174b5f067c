// GlobalPointer's symmetric KL; see global_pointer_kl.hpp (docs/math.md §7.13).
#include "losses/global_pointer_kl.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/validate.hpp"

namespace kexue {

Error global_pointer_kl_validate(const GlobalPointerKlOptions& options) {
    if (Error e = positive("rows", options.rows)) return e;
    if (Error e = positive("classes", options.classes)) return e;
    if (Error e = buffer_fits("s", {{"rows", options.rows}, {"classes", options.classes}})) return e;
    return heap_budget("s", checked_product({options.rows, options.classes, 16}), "s, t and both gradients");
}

Error global_pointer_kl_check_inputs(const GlobalPointerKlOptions& options, const float* s, const float* t) {
    const std::size_t count = options.rows * options.classes;
    for (const auto& [name, x] : {std::pair<const char*, const float*>{"s", s}, {"t", t}}) {
        for (std::size_t i = 0; i < count; ++i) {
            if (!std::isfinite(x[i])) {
                return range_error(std::string(name) + "[" + js_number(std::uint64_t(i)) + "]", "finite", js_number(x[i]));
            }
        }
    }
    return {};
}

namespace {

double sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

// softmax of x[0:n] into out, in double.
void softmax(const float* x, std::size_t n, double* out) {
    const double max = *std::max_element(x, x + n);
    double sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += out[j] = std::exp(x[j] - max);
    for (std::size_t j = 0; j < n; ++j) out[j] /= sum;
}

}  // namespace

double global_pointer_kl_f32(const GlobalPointerKlOptions& options, const float* s, const float* t, float* grad_s,
                             float* grad_t, double* row_losses) {
    const std::size_t rows = options.rows, classes = options.classes;
    const double scale = reduction_scale(options.reduction, rows);
    std::vector<double> own_losses(row_losses ? 0 : rows);
    double* losses = row_losses ? row_losses : own_losses.data();
    for_row_blocks(rows, classes, [&](std::size_t begin, std::size_t end) {
        std::vector<double> p(options.form == KlForm::softmax ? classes : 0), q(p.size());
        for (std::size_t r = begin; r < end; ++r) {
            const std::size_t o = r * classes;
            double loss = 0;
            if (options.form == KlForm::sigmoid) {
                for (std::size_t i = 0; i < classes; ++i) {
                    const double si = s[o + i], ti = t[o + i], d = si - ti;
                    const double ps = sigmoid(si), pt = sigmoid(ti);
                    loss += (ps - pt) * d;
                    grad_s[o + i] = static_cast<float>(scale * (ps * (1 - ps) * d + ps - pt));
                    grad_t[o + i] = static_cast<float>(-scale * (pt * (1 - pt) * d + ps - pt));
                }
            } else {
                softmax(s + o, classes, p.data());
                softmax(t + o, classes, q.data());
                double mean_p = 0, mean_q = 0;  // Σ p (s − t), Σ q (s − t)
                for (std::size_t i = 0; i < classes; ++i) {
                    const double d = static_cast<double>(s[o + i]) - t[o + i];
                    loss += (p[i] - q[i]) * d;
                    mean_p += p[i] * d;
                    mean_q += q[i] * d;
                }
                for (std::size_t i = 0; i < classes; ++i) {
                    const double d = static_cast<double>(s[o + i]) - t[o + i];
                    grad_s[o + i] = static_cast<float>(scale * ((p[i] - q[i]) + p[i] * (d - mean_p)));
                    grad_t[o + i] = static_cast<float>(-scale * ((p[i] - q[i]) + q[i] * (d - mean_q)));
                }
            }
            losses[r] = loss;
        }
    });
    return reduce_rows(options.reduction, losses, rows);
}

}  // namespace kexue
