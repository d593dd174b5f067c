// docs/math.md §7.10: k-occurrence counts and their skewness.
#include "whitening/hubness.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/validate.hpp"

namespace kexue {

Error hubness_validate(const HubnessOptions& o) {
    if (Error e = positive("rows", o.rows)) return e;
    if (Error e = positive("dim", o.dim)) return e;
    if (o.rows < 2) return range_error("rows", "at least 2 (a point needs a neighbour)", js_number(std::uint64_t(o.rows)));
    if (Error e = positive("k", o.k)) return e;
    if (o.k >= o.rows) {
        return range_error("k", "less than rows = " + js_number(std::uint64_t(o.rows)), js_number(std::uint64_t(o.k)));
    }
    if (Error e = buffer_fits("x", {{"rows", o.rows}, {"dim", o.dim}})) return e;
    // x, the counts and the result, and the per-row workspaces (norms, squared norms, distances
    // and the neighbour order: 32 bytes a row), in 64 bits (issue 18: rows 2²⁶ at dim 1 aborted).
    return heap_budget("rows",
                       saturating_sum({checked_product({o.rows, o.dim, 4}), checked_product({o.rows, 4 + 32}), 16}),
                       "x, the counts and the per-row workspaces");
}

Error hubness_input_validate(const float* x, const HubnessOptions& o) {
    if (Error e = finite_rows("x", x, o.rows, o.dim)) return e;
    if (o.metric == HubnessMetric::cosine) {
        for (std::size_t i = 0; i < o.rows; ++i) {
            bool zero = true;
            for (std::size_t d = 0; d < o.dim && zero; ++d) zero = x[i * o.dim + d] == 0.0f;
            if (zero) {
                return range_error_text("x", "row " + js_number(std::uint64_t(i)) +
                                                 " of x is zero: its cosine is undefined (use metric 'euclidean')");
            }
        }
    }
    return {};
}

HubnessSummary hubness(const float* x, const HubnessOptions& o, std::int32_t* counts) {
    const std::size_t n = o.rows, dim = o.dim, k = o.k;
    std::vector<double> inv_norm(n, 1.0), sq(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t d = 0; d < dim; ++d) s += double(x[i * dim + d]) * double(x[i * dim + d]);
        sq[i] = s;
        inv_norm[i] = 1.0 / std::sqrt(s);
    }
    std::fill(counts, counts + n, 0);
    std::vector<double> distance(n);
    std::vector<std::size_t> order(n - 1);
    for (std::size_t i = 0; i < n; ++i) {
        const float* xi = x + i * dim;
        for (std::size_t j = 0; j < n; ++j) {
            if (j == i) continue;
            const float* xj = x + j * dim;
            double dot = 0;
            for (std::size_t d = 0; d < dim; ++d) dot += double(xi[d]) * double(xj[d]);
            // Smaller is nearer: −cos, or the squared Euclidean distance.
            distance[j] = o.metric == HubnessMetric::cosine ? -dot * inv_norm[i] * inv_norm[j] : sq[i] + sq[j] - 2 * dot;
        }
        std::size_t m = 0;
        for (std::size_t j = 0; j < n; ++j) {
            if (j != i) order[m++] = j;
        }
        const auto nearer = [&](std::size_t a, std::size_t b) {
            return distance[a] < distance[b] || (distance[a] == distance[b] && a < b);
        };
        std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), nearer);
        for (std::size_t r = 0; r < k; ++r) ++counts[order[r]];
    }
    // Population moments of the counts around their mean k.
    double m2 = 0, m3 = 0, max = 0;
    for (std::size_t j = 0; j < n; ++j) {
        const double c = double(counts[j]) - double(k);
        m2 += c * c;
        m3 += c * c * c;
        max = std::max(max, double(counts[j]));
    }
    m2 /= double(n);
    m3 /= double(n);
    const double skewness = m2 > 0 ? m3 / std::pow(m2, 1.5) : std::numeric_limits<double>::quiet_NaN();
    return {skewness, max};
}

}  // namespace kexue
