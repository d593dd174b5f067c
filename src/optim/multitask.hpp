// Multi-task gradient combination (kexue.fm/archives/8870, 8896, 8907; Sener & Koltun, arXiv
// 1810.04650). Every function reads `tasks` gradients of the shared parameters stacked as one
// tasks×size row-major float matrix (row i = g_i) and writes the combined direction (size).
//
//   normalized_sum  u = Σ_i g_i/‖g_i‖, terms with ‖g_i‖ = 0 skipped (scale- and shift-invariant
//                   weighting L = Σ L_i / sg(‖∇L_i‖)).
//   mgda            the min-norm point of the convex hull, u = Σ α_i g_i, α on the simplex
//                   (Pareto-stationary direction): two tasks in closed form
//                   γ* = clip(⟨g2 − g1, g2⟩/‖g1 − g2‖², 0, 1) (the weight of g1); more tasks
//                   exactly, by Wolfe's active-set algorithm for the nearest point of a polytope
//                   (P. Wolfe, "Finding the nearest point in a polytope", Math. Programming 11,
//                   1976) on the Gram matrix: one O(tasks²·size) pass, then O(tasks³) per step.
//                   Frank–Wolfe, which this replaced, converges as O(1/k) (0.1–3% above the
//                   minimum norm after 1,000–5,000 iterations); Wolfe's method ends at the
//                   minimum in finitely many steps (at most a few times `tasks` in practice).
//   primary_aux     u = g0 + Σ λ_i g_i minimising ‖u‖² over λ ≥ 0: one auxiliary task in closed
//                   form λ = relu(−⟨g0, g1⟩)/‖g1‖², more by cyclic exact coordinate re-fitting of
//                   each λ_τ (a convex QP, so the sweeps converge).
// All reductions are in double.
#pragma once

#include <cstddef>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

// The stacked gradients: `tasks` rows of `size` floats (for primary_aux, the auxiliary tasks).
struct MultitaskShape {
    std::size_t tasks = 0;
    std::size_t size = 0;
};

// The options of kx.multitask.mgda, by the names the JS API uses.
struct MgdaOptions {
    std::size_t max_iterations = 200;  // major cycles of Wolfe's algorithm
    double tolerance = 1e-12;          // of the duality gap, relative to max_i ‖g_i‖²
};

template <typename Visitor>
void visit_fields(MgdaOptions& o, Visitor&& field) {
    field("maxIterations", o.max_iterations, kPositive);
    field("tolerance", o.tolerance);
}

// The options of kx.multitask.primaryAux.
struct PrimaryAuxOptions {
    std::size_t max_sweeps = 200;
    double tolerance = 1e-12;
};

template <typename Visitor>
void visit_fields(PrimaryAuxOptions& o, Visitor&& field) {
    field("maxSweeps", o.max_sweeps, kPositive);
    field("tolerance", o.tolerance);
}

// At least one task of at least one entry ("grads must not be empty", "grads[0] must not be
// empty"), the stacked buffer within the heap; for mgda and primary_aux, iterations ≥ 1 and a
// finite tolerance ≥ 0. primary_aux names its arguments g0 and auxGrads.
Error normalized_sum_validate(const MultitaskShape& shape);
Error mgda_validate(const MultitaskShape& shape, const MgdaOptions& options);
Error primary_aux_validate(const MultitaskShape& aux, const PrimaryAuxOptions& options);

// Returns how many tasks contributed (non-zero norm).
std::size_t normalized_sum(const float* grads, std::size_t tasks, std::size_t size, float* direction);

struct MgdaResult {
    std::size_t iterations;  // major cycles (points added to the support); 0 for ≤ 2 tasks
    // The duality gap ‖u‖² − min_i⟨g_i, u⟩ ≥ 0 of the returned α, from the Gram matrix in double:
    // ‖u‖² − ‖u*‖² ≤ gap, and gap = 0 exactly at the optimum (the KKT condition ⟨g_i, u⟩ ≥ ‖u‖²).
    double gap;
};

// weights: tasks doubles (α). Stops when the gap is at most tolerance·max_i ‖g_i‖², when no task
// can enter the support any more (the optimum to rounding), or after max_iterations major cycles.
MgdaResult mgda(const float* grads, std::size_t tasks, std::size_t size, float* direction, double* weights,
                std::size_t max_iterations = 200, double tolerance = 1e-12);

// The same on a Gram matrix M (tasks×tasks, symmetric positive semidefinite, row-major): α and
// the result; `mgda` is this after one pass over the gradients.
MgdaResult mgda_gram(const double* gram, std::size_t tasks, double* weights, std::size_t max_iterations = 200,
                     double tolerance = 1e-12);

// primary: size floats (g0); aux: aux_tasks×size; weights: aux_tasks doubles (λ). Returns sweeps run.
std::size_t primary_aux(const float* primary, const float* aux, std::size_t aux_tasks, std::size_t size,
                        float* direction, double* weights, std::size_t max_sweeps = 200,
                        double tolerance = 1e-12);

}  // namespace kexue
