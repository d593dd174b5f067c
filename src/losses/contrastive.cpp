// InfoNCE and FlatNCE; see contrastive.hpp (docs/math.md §7.5). Per row: the max of the negatives,
// one exp-sum pass over them that keeps the exps in grad, one scaling pass (float32 SIMD, sums in
// double); the positive enters in double, so both losses share the negatives' pass.
#include "losses/contrastive.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/validate.hpp"
#include "losses/row_kernels.hpp"

namespace kexue {

Error contrastive_validate(const ContrastiveOptions& options, ContrastiveLoss loss, bool has_targets) {
    if (Error e = positive("rows", options.rows)) return e;
    if (Error e = positive("cols", options.cols)) return e;
    if (!has_targets && options.cols != options.rows) {
        return range_error("cols", "equal to rows = " + js_number(std::uint64_t(options.rows)) +
                                       " (the positive of row i is column i; pass targets for a non-square "
                                       "similarity matrix)",
                           js_number(std::uint64_t(options.cols)));
    }
    if (loss == ContrastiveLoss::flat_nce && options.cols < 2) {
        return range_error("cols", "at least 2 (FlatNCE needs a negative)", js_number(std::uint64_t(options.cols)));
    }
    if (Error e = greater_than("temperature", options.temperature, 0)) return e;
    if (Error e = buffer_fits("sim", {{"rows", options.rows}, {"cols", options.cols}})) return e;
    return heap_budget("sim", checked_product({options.rows, options.cols, 8}), "the similarities and the gradient");
}

Error contrastive_check_inputs(const ContrastiveOptions& options, const float* sim, const double* targets) {
    const std::size_t count = options.rows * options.cols;
    for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(sim[i])) return range_error("sim[" + js_number(std::uint64_t(i)) + "]", "finite", js_number(sim[i]));
    }
    if (targets) {
        for (std::size_t r = 0; r < options.rows; ++r) {
            const double t = targets[r];
            if (!(t >= 0 && t < static_cast<double>(options.cols) && t == std::floor(t))) {
                return range_error("targets[" + js_number(std::uint64_t(r)) + "]",
                                   "an integer in [0, cols = " + js_number(std::uint64_t(options.cols)) + ")",
                                   js_number(t));
            }
        }
    }
    return {};
}

namespace {

template <ContrastiveLoss Loss>
double contrastive_f32(const ContrastiveOptions& options, const float* sim, const double* targets, float* grad,
                       double* row_losses) {
    const std::size_t rows = options.rows, cols = options.cols;
    const float inverse_tau = static_cast<float>(1.0 / options.temperature);
    // ∂(reduced loss)/∂sim = reduction factor · (1/τ) · ∂L/∂s.
    const double scale = reduction_scale(options.reduction, rows) / options.temperature;
    std::vector<double> own_losses(row_losses ? 0 : rows);
    double* losses = row_losses ? row_losses : own_losses.data();
    for_row_blocks(rows, cols, [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            const float* x = sim + r * cols;
            float* g = grad + r * cols;
            const std::size_t t = targets ? static_cast<std::size_t>(targets[r]) : r;
            const std::size_t after = cols - t - 1;
            // The negatives (the two segments around the positive): their max score m and
            // S = Σ_{j≠t} e^{s_j − m}, the exps kept in g. τ > 0 keeps the order, so max(sim)/τ is
            // the max score; the positive's score is rounded as m is.
            const float m = std::max(row_kernels::max_checked(x, t, nullptr),
                                     row_kernels::max_checked(x + t + 1, after, nullptr)) * inverse_tau;
            const float score_t = x[t] * inverse_tau;
            const double sum = row_kernels::exp_sum(x, t, inverse_tau, m, g) +
                               row_kernels::exp_sum(x + t + 1, after, inverse_tau, m, g + t + 1);
            double negatives = 0, positive = 0;  // ∂L/∂s_j = negatives·e_j (j ≠ t), ∂L/∂s_t = positive
            if (Loss == ContrastiveLoss::flat_nce) {
                losses[r] = (static_cast<double>(m) - score_t) + std::log(sum);
                negatives = 1 / sum;
                positive = -1;
            } else if (cols == 1) {
                losses[r] = 0;  // the positive alone: softmax 1, loss and gradient 0
            } else if (score_t >= m) {
                // The positive is the max: L = log(1 + ξ), ξ = S·e^{m − s_t} ≤ K − 1, kept to full
                // relative precision when ξ ≪ 1 (a well-trained model), where lse − s_t would
                // round it away.
                const double ratio = std::exp(static_cast<double>(m) - score_t);
                const double xi = sum * ratio;
                losses[r] = std::log1p(xi);
                negatives = ratio / (1 + xi);
                positive = -xi / (1 + xi);
            } else {
                const double ratio = std::exp(static_cast<double>(score_t) - m);
                const double total = sum + ratio;
                losses[r] = (static_cast<double>(m) - score_t) + std::log(total);
                negatives = 1 / total;
                positive = ratio / total - 1;
            }
            const float c = static_cast<float>(scale * negatives);
            row_kernels::scale(g, t, c);
            row_kernels::scale(g + t + 1, after, c);
            g[t] = static_cast<float>(scale * positive);
        }
    });
    return reduce_rows(options.reduction, losses, rows);
}

}  // namespace

double info_nce_f32(const ContrastiveOptions& options, const float* sim, const double* targets, float* grad,
                    double* row_losses) {
    return contrastive_f32<ContrastiveLoss::info_nce>(options, sim, targets, grad, row_losses);
}

double flat_nce_f32(const ContrastiveOptions& options, const float* sim, const double* targets, float* grad,
                    double* row_losses) {
    return contrastive_f32<ContrastiveLoss::flat_nce>(options, sim, targets, grad, row_losses);
}

}  // namespace kexue
