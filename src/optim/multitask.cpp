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

std::size_t mgda(const float* grads, std::size_t tasks, std::size_t size, float* direction,
                 double* weights, std::size_t max_iterations, double tolerance) {
    const std::vector<double> m = gram(grads, tasks, size);
    std::size_t iterations = 0;
    if (tasks == 1) {
        weights[0] = 1;
    } else if (tasks == 2) {
        const double diff = m[0] - 2 * m[1] + m[3];  // ‖g1 − g2‖²
        const double gamma = diff > 0 ? std::clamp((m[3] - m[1]) / diff, 0.0, 1.0) : 0.5;
        weights[0] = gamma;
        weights[1] = 1 - gamma;
    } else {
        double max_diag = 0;
        for (std::size_t i = 0; i < tasks; ++i) max_diag = std::max(max_diag, m[i * tasks + i]);
        std::fill(weights, weights + tasks, 1.0 / static_cast<double>(tasks));
        std::vector<double> mg(tasks);  // ⟨g_i, u⟩ = (M·α)_i
        for (; iterations < max_iterations; ++iterations) {
            for (std::size_t i = 0; i < tasks; ++i) {
                double sum = 0;
                for (std::size_t j = 0; j < tasks; ++j) sum += m[i * tasks + j] * weights[j];
                mg[i] = sum;
            }
            double uu = 0;
            for (std::size_t i = 0; i < tasks; ++i) uu += weights[i] * mg[i];
            const std::size_t tau = static_cast<std::size_t>(std::min_element(mg.begin(), mg.end()) - mg.begin());
            if (uu - mg[tau] <= tolerance * max_diag) break;
            // Exact line search between u and g_τ: γ = clip(⟨u − g_τ, u⟩/‖u − g_τ‖², 0, 1).
            const double dd = uu - 2 * mg[tau] + m[tau * tasks + tau];
            if (dd <= 0) break;
            const double gamma = std::clamp((uu - mg[tau]) / dd, 0.0, 1.0);
            for (std::size_t i = 0; i < tasks; ++i) weights[i] *= 1 - gamma;
            weights[tau] += gamma;
        }
    }
    combine(nullptr, grads, tasks, size, weights, direction);
    return iterations;
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
