// Stable logsumexp, its softmax gradient and its bounds; see logsumexp.hpp (docs/math.md §7.1).
#include "losses/logsumexp.hpp"

#include <cmath>
#include <limits>

#include "core/validate.hpp"
#include "losses/reduction.hpp"
#include "losses/row_kernels.hpp"

namespace kexue {

const char* const kLogsumexpBoundNames[kLogsumexpBoundCount] = {
    "value", "max", "maxPlusLogN", "meanPlusLogN", "tempered", "temperedUpper", "shannon", "renyi"};

Error logsumexp_validate(const LogsumexpOptions& options) {
    if (Error e = positive("rows", options.rows)) return e;
    if (Error e = positive("cols", options.cols)) return e;
    return buffer_fits("x", {{"rows", options.rows}, {"cols", options.cols}});
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One row x[0:n] → lse; when grad is not null, grad[0:n] = softmax (the §7.1 edge rules).
double logsumexp_row(const float* x, std::size_t n, float* grad) {
    bool has_nan = false;
    const float max = row_kernels::max_checked(x, n, &has_nan);
    if (has_nan) {
        if (grad) std::fill(grad, grad + n, static_cast<float>(kNaN));
        return kNaN;
    }
    if (std::isinf(max)) {
        // +∞: the sum is dominated by the +∞ entries; all −∞: the sum is empty. The gradient is
        // the limit as the entries at `max` go there together.
        if (grad) {
            std::size_t count = 0;
            for (std::size_t j = 0; j < n; ++j) count += x[j] == max;
            for (std::size_t j = 0; j < n; ++j) grad[j] = x[j] == max ? 1.0f / static_cast<float>(count) : 0.0f;
        }
        return max;
    }
    // Every term is ≤ e^0 = 1 and the largest is exactly 1, so the sum lies in [1, n].
    const double sum = row_kernels::exp_sum(x, n, 1.0f, max, grad);
    if (grad) row_kernels::scale(grad, n, static_cast<float>(1.0 / sum));
    return static_cast<double>(max) + std::log(sum);
}

}  // namespace

void logsumexp_f32(const LogsumexpOptions& options, const float* x, float* out) {
    const std::size_t cols = options.cols;
    for_row_blocks(options.rows, cols, [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) out[r] = static_cast<float>(logsumexp_row(x + r * cols, cols, nullptr));
    });
}

void logsumexp_grad_f32(const LogsumexpOptions& options, const float* x, float* grad, float* value) {
    const std::size_t cols = options.cols;
    for_row_blocks(options.rows, cols, [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            const double lse = logsumexp_row(x + r * cols, cols, grad + r * cols);
            if (value) value[r] = static_cast<float>(lse);
        }
    });
}

Error logsumexp_bounds_validate(const LogsumexpBoundsOptions& options) {
    if (Error e = positive("rows", options.rows)) return e;
    if (Error e = positive("cols", options.cols)) return e;
    if (Error e = greater_than("t", options.t, 1)) return e;
    if (Error e = greater_than("tau", options.tau, 0)) return e;
    return buffer_fits("x", {{"rows", options.rows}, {"cols", options.cols}});
}

Error logsumexp_bounds_check_inputs(const LogsumexpBoundsOptions& options, const float* x, const float* p,
                                    std::size_t p_rows) {
    const std::size_t rows = options.rows, cols = options.cols;
    for (std::size_t i = 0; i < rows * cols; ++i) {
        if (!std::isfinite(x[i])) return range_error("x[" + js_number(std::uint64_t(i)) + "]", "finite", js_number(x[i]));
    }
    if (!p) return {};
    if (p_rows != 1 && p_rows != rows) {
        return range_error("p", "one row of cols = " + js_number(std::uint64_t(cols)) + " or rows×cols = " +
                                    js_number(std::uint64_t(rows * cols)) + " entries",
                           js_number(std::uint64_t(p_rows * cols)) + " entries");
    }
    for (std::size_t r = 0; r < p_rows; ++r) {
        double sum = 0;
        for (std::size_t j = 0; j < cols; ++j) {
            const float v = p[r * cols + j];
            if (!(v >= 0) || !std::isfinite(v)) {
                return range_error("p[" + js_number(std::uint64_t(r * cols + j)) + "]", "a finite number ≥ 0 (a probability)",
                                   js_number(v));
            }
            sum += v;
        }
        if (!(std::fabs(sum - 1) <= 1e-4)) {
            return range_error("p", "a distribution (each row summing to 1 within 1e-4)",
                               "row " + js_number(std::uint64_t(r)) + " summing to " + js_number(sum));
        }
    }
    return {};
}

void logsumexp_bounds(const LogsumexpBoundsOptions& options, const float* x, const float* p, std::size_t p_rows,
                      double* out) {
    const std::size_t rows = options.rows, cols = options.cols;
    const double log_n = std::log(static_cast<double>(cols));
    const double tau = options.tau, t = options.t;
    for (std::size_t r = 0; r < rows; ++r) {
        const float* row = x + r * cols;
        double max = -INFINITY, mean = 0;
        for (std::size_t j = 0; j < cols; ++j) {
            max = std::max(max, static_cast<double>(row[j]));
            mean += row[j];
        }
        mean /= static_cast<double>(cols);
        // Both sums shifted by the max, in double: the exact bounds are compared to ~1e-15.
        double sum = 0, tempered_sum = 0;
        for (std::size_t j = 0; j < cols; ++j) {
            sum += std::exp(row[j] - max);
            tempered_sum += std::exp((row[j] - max) / tau);
        }
        out[kBoundValue * rows + r] = max + std::log(sum);
        out[kBoundMax * rows + r] = max;
        out[kBoundMaxPlusLogN * rows + r] = max + log_n;
        out[kBoundMeanPlusLogN * rows + r] = mean + log_n;
        out[kBoundTempered * rows + r] = max + tau * std::log(tempered_sum);
        out[kBoundTemperedUpper * rows + r] = max + tau * log_n;
        double shannon = kNaN, renyi = kNaN;
        if (p) {
            const float* pr = p + (p_rows == 1 ? 0 : r * cols);
            double expectation = 0, entropy = 0, power_sum = 0;
            for (std::size_t j = 0; j < cols; ++j) {
                const double pj = pr[j];
                expectation += pj * row[j];
                if (pj > 0) {
                    entropy -= pj * std::log(pj);  // 0·log 0 = 0
                    power_sum += std::pow(pj, t);
                }
            }
            shannon = expectation + entropy;
            renyi = expectation - std::log(power_sum) / (t - 1);
        }
        out[kBoundShannon * rows + r] = shannon;
        out[kBoundRenyi * rows + r] = renyi;
    }
}

}  // namespace kexue
