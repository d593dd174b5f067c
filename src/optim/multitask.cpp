// Multi-task gradient combination; see multitask.hpp.
#include "optim/multitask.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/validate.hpp"

namespace kexue {
namespace {

// `list` names the stacked gradients, `first` the argument whose length is `size`.
Error task_list_validate(const std::string& list, const std::string& first, const MultitaskShape& shape) {
    if (shape.tasks == 0) return range_error_text(list, list + " must not be empty");
    if (shape.size == 0) return range_error_text(first, first + " must not be empty");
    if (Error e = buffer_fits(list, {{"tasks", shape.tasks}, {"size", shape.size}})) return e;
    // The whole call: the stacked gradients and a primary one (float32), the direction (float32),
    // combine's double accumulator and the tasks × tasks Gram matrix (double). Two 2²⁷-float
    // gradients fit one by one but not together with the workspaces (issue 18).
    const std::uint64_t floats = checked_product({saturating_sum({shape.tasks, 2}), shape.size});
    const std::uint64_t doubles = saturating_sum({checked_product({shape.tasks, shape.tasks}), checked_product({shape.size, 2})});
    const std::uint64_t bytes = saturating_sum({checked_product({floats, 4}), checked_product({doubles, 8})});
    return heap_budget(list, bytes, "the gradients, the direction and the workspaces");
}

double dot(const float* x, const float* y, std::size_t size) {
    double sum = 0;
    for (std::size_t i = 0; i < size; ++i) sum += static_cast<double>(x[i]) * y[i];
    return sum;
}

// direction = base + Σ_i weights[i]·rows[i] (base may be null), accumulated in double.
void combine(const float* base, const float* rows, std::size_t count, std::size_t size,
             const double* weights, float* direction) {
    std::vector<double> sum(size, 0.0);
    if (base) {
        for (std::size_t j = 0; j < size; ++j) sum[j] = base[j];
    }
    for (std::size_t i = 0; i < count; ++i) {
        if (weights[i] == 0) continue;
        const float* row = rows + i * size;
        for (std::size_t j = 0; j < size; ++j) sum[j] += weights[i] * row[j];
    }
    for (std::size_t j = 0; j < size; ++j) direction[j] = static_cast<float>(sum[j]);
}

// Gram matrix M_ij = ⟨g_i, g_j⟩ (tasks×tasks, row-major).
std::vector<double> gram(const float* grads, std::size_t tasks, std::size_t size) {
    std::vector<double> m(tasks * tasks);
    for (std::size_t i = 0; i < tasks; ++i) {
        for (std::size_t j = i; j < tasks; ++j) {
            m[i * tasks + j] = m[j * tasks + i] = dot(grads + i * size, grads + j * size, size);
        }
    }
    return m;
}

}  // namespace

Error normalized_sum_validate(const MultitaskShape& shape) { return task_list_validate("grads", "grads[0]", shape); }

Error mgda_validate(const MultitaskShape& shape, const MgdaOptions& options) {
    if (Error e = task_list_validate("grads", "grads[0]", shape)) return e;
    if (Error e = positive("maxIterations", options.max_iterations)) return e;
    return finite_in("tolerance", options.tolerance, '[', 0, INFINITY, ']');
}

Error primary_aux_validate(const MultitaskShape& aux, const PrimaryAuxOptions& options) {
    if (Error e = task_list_validate("auxGrads", "g0", aux)) return e;
    if (Error e = positive("maxSweeps", options.max_sweeps)) return e;
    return finite_in("tolerance", options.tolerance, '[', 0, INFINITY, ']');
}

std::size_t normalized_sum(const float* grads, std::size_t tasks, std::size_t size, float* direction) {
    std::vector<double> weights(tasks, 0.0);
    std::size_t used = 0;
    for (std::size_t i = 0; i < tasks; ++i) {
        const double norm = std::sqrt(dot(grads + i * size, grads + i * size, size));
        if (norm > 0) {
            weights[i] = 1.0 / norm;
            ++used;
        }
    }
    combine(nullptr, grads, tasks, size, weights.data(), direction);
    return used;
}

namespace {

// The point of the affine hull of {g_i : i ∈ support} nearest the origin: coefficients mu (one per
// support entry, Σ mu = 1). With s_0 the first entry and d_k = g_{s_k} − g_{s_0}, minimise
// ‖g_{s_0} + Σ_k t_k d_k‖²: the normal equations A t = −b, A_kl = ⟨d_k, d_l⟩, b_k = ⟨d_k, g_{s_0}⟩,
// all from the Gram matrix. Gaussian elimination with complete pivoting; a pivot below rounding
// (affinely dependent points) leaves its t at 0, which still gives the nearest point.
void affine_minimizer(const double* m, std::size_t n, const std::vector<std::size_t>& support,
                      std::vector<double>& mu) {
    const std::size_t k = support.size() - 1, s0 = support[0];
    mu.assign(support.size(), 0.0);
    if (k == 0) {
        mu[0] = 1;
        return;
    }
    std::vector<double> a(k * k), rhs(k), t(k, 0.0);
    double largest = 0;
    for (std::size_t p = 0; p < k; ++p) {
        const std::size_t sp = support[p + 1];
        for (std::size_t q = 0; q < k; ++q) {
            const std::size_t sq = support[q + 1];
            a[p * k + q] = m[sp * n + sq] - m[sp * n + s0] - m[s0 * n + sq] + m[s0 * n + s0];
            largest = std::max(largest, std::abs(a[p * k + q]));
        }
        rhs[p] = -(m[sp * n + s0] - m[s0 * n + s0]);
    }
    std::vector<std::size_t> column(k);
    for (std::size_t q = 0; q < k; ++q) column[q] = q;
    std::size_t rank = 0;
    for (; rank < k; ++rank) {
        std::size_t pr = rank, pc = rank;
        for (std::size_t p = rank; p < k; ++p) {
            for (std::size_t q = rank; q < k; ++q) {
                if (std::abs(a[p * k + q]) > std::abs(a[pr * k + pc])) pr = p, pc = q;
            }
        }
        if (!(std::abs(a[pr * k + pc]) > 1e-13 * largest)) break;
        for (std::size_t q = 0; q < k; ++q) std::swap(a[rank * k + q], a[pr * k + q]);
        std::swap(rhs[rank], rhs[pr]);
        for (std::size_t p = 0; p < k; ++p) std::swap(a[p * k + rank], a[p * k + pc]);
        std::swap(column[rank], column[pc]);
        for (std::size_t p = rank + 1; p < k; ++p) {
            const double f = a[p * k + rank] / a[rank * k + rank];
            for (std::size_t q = rank; q < k; ++q) a[p * k + q] -= f * a[rank * k + q];
            rhs[p] -= f * rhs[rank];
        }
    }
    for (std::size_t p = rank; p-- > 0;) {
        double sum = rhs[p];
        for (std::size_t q = p + 1; q < rank; ++q) sum -= a[p * k + q] * t[column[q]];
        t[column[p]] = sum / a[p * k + p];
    }
    double total = 0;
    for (std::size_t q = 0; q < k; ++q) {
        mu[q + 1] = t[q];
        total += t[q];
    }
    mu[0] = 1 - total;
}

// ‖u‖² − min_i⟨g_i, u⟩ for u = Σ α_i g_i; `mg` receives (M α)_i = ⟨g_i, u⟩.
double duality_gap(const double* m, std::size_t n, const double* alpha, std::vector<double>& mg, std::size_t& best) {
    mg.assign(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < n; ++j) mg[i] += m[i * n + j] * alpha[j];
    }
    double uu = 0;
    for (std::size_t i = 0; i < n; ++i) uu += alpha[i] * mg[i];
    best = static_cast<std::size_t>(std::min_element(mg.begin(), mg.end()) - mg.begin());
    return std::max(0.0, uu - mg[best]);
}

}  // namespace

MgdaResult mgda_gram(const double* m, std::size_t tasks, double* weights, std::size_t max_iterations,
                     double tolerance) {
    const std::size_t n = tasks;
    std::vector<double> mg;
    std::size_t best = 0;
    if (n == 1) {
        weights[0] = 1;
        return {0, 0.0};
    }
    if (n == 2) {
        const double diff = m[0] - 2 * m[1] + m[3];  // ‖g1 − g2‖²
        const double gamma = diff > 0 ? std::clamp((m[3] - m[1]) / diff, 0.0, 1.0) : 0.5;
        weights[0] = gamma;
        weights[1] = 1 - gamma;
        return {0, duality_gap(m, n, weights, mg, best)};
    }
    double max_diag = 0;
    for (std::size_t i = 0; i < n; ++i) max_diag = std::max(max_diag, m[i * n + i]);
    // Wolfe's algorithm. The support S holds the g_i with α_i > 0, kept affinely independent;
    // α is the nearest point of their convex hull, and at the end of each minor loop the nearest
    // point of their affine hull too.
    std::fill(weights, weights + n, 0.0);
    std::size_t first = 0;
    for (std::size_t i = 1; i < n; ++i) {
        if (m[i * n + i] < m[first * n + first]) first = i;
    }
    weights[first] = 1;
    std::vector<std::size_t> support{first};
    std::vector<double> mu;
    std::size_t iterations = 0;
    double gap = duality_gap(m, n, weights, mg, best);
    while (iterations < max_iterations && gap > tolerance * max_diag) {
        // Major cycle: the task that most violates ⟨g_i, u⟩ ≥ ‖u‖² enters the support. If it is
        // already there, the gap is rounding and nothing can improve it.
        if (std::find(support.begin(), support.end(), best) != support.end()) break;
        support.push_back(best);
        ++iterations;
        // Minor cycles: move α towards the affine minimiser until it lies inside the simplex,
        // dropping each task whose weight reaches 0 on the way (each drop shrinks S, so ≤ |S|).
        for (std::size_t minor = 0; minor <= n; ++minor) {
            affine_minimizer(m, n, support, mu);
            const bool inside = std::all_of(mu.begin(), mu.end(), [](double x) { return x > 0; });
            if (inside) {
                for (std::size_t k = 0; k < support.size(); ++k) weights[support[k]] = mu[k];
                break;
            }
            // The largest step θ ∈ [0, 1) from α towards μ that keeps every weight ≥ 0.
            double theta = 1;
            std::size_t leaving = support.size();  // none: only zero weights meet μ ≤ 0, step to μ
            for (std::size_t k = 0; k < support.size(); ++k) {
                const double w = weights[support[k]];
                if (mu[k] <= 0 && w - mu[k] > 0 && w / (w - mu[k]) < theta) {
                    theta = w / (w - mu[k]);
                    leaving = k;
                }
            }
            std::vector<std::size_t> kept;
            for (std::size_t k = 0; k < support.size(); ++k) {
                double& w = weights[support[k]];
                w += theta * (mu[k] - w);
                if (k == leaving || !(w > 0)) {
                    w = 0;
                } else {
                    kept.push_back(support[k]);
                }
            }
            support.swap(kept);
            if (support.size() <= 1) {
                if (support.size() == 1) weights[support[0]] = 1;
                break;
            }
        }
        // α stays on the simplex: renormalise the rounding of the updates.
        double total = 0;
        for (std::size_t i = 0; i < n; ++i) total += weights[i];
        for (std::size_t i = 0; i < n; ++i) weights[i] /= total;
        gap = duality_gap(m, n, weights, mg, best);
    }
    return {iterations, gap};
}

MgdaResult mgda(const float* grads, std::size_t tasks, std::size_t size, float* direction, double* weights,
                std::size_t max_iterations, double tolerance) {
    const std::vector<double> m = gram(grads, tasks, size);
    const MgdaResult result = mgda_gram(m.data(), tasks, weights, max_iterations, tolerance);
    combine(nullptr, grads, tasks, size, weights, direction);
    return result;
}

std::size_t primary_aux(const float* primary, const float* aux, std::size_t aux_tasks, std::size_t size,
                        float* direction, double* weights, std::size_t max_sweeps, double tolerance) {
    // ⟨u, g_τ⟩ = ⟨g0, g_τ⟩ + Σ_i λ_i ⟨g_i, g_τ⟩, all from the Gram matrix of [g0; aux].
    const std::size_t n = aux_tasks;
    const std::vector<double> m = gram(aux, n, size);
    std::vector<double> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = dot(primary, aux + i * size, size);
    std::fill(weights, weights + n, 0.0);
    std::size_t sweeps = 0;
    const std::size_t limit = n == 1 ? 1 : max_sweeps;
    for (; sweeps < limit; ++sweeps) {
        double largest_change = 0;
        for (std::size_t tau = 0; tau < n; ++tau) {
            const double norm2 = m[tau * n + tau];
            if (norm2 <= 0) continue;  // a zero gradient cannot change u
            double u_dot = p[tau];
            for (std::size_t j = 0; j < n; ++j) u_dot += weights[j] * m[j * n + tau];
            // Minimise ‖u + (λ − λ_τ)·g_τ‖² over λ ≥ 0.
            const double updated = std::max(0.0, weights[tau] - u_dot / norm2);
            largest_change = std::max(largest_change, std::abs(updated - weights[tau]));
            weights[tau] = updated;
        }
        if (largest_change <= tolerance) {
            ++sweeps;
            break;
        }
    }
    combine(primary, aux, n, size, weights, direction);
    return sweeps;
}

}  // namespace kexue
