// Unargmaxable classes of a softmax layer (docs/math.md §7.19; kexue.fm/archives/9046, 2022-04-20;
// Grivas, Bogoychev & Lopez, "Low-Rank Softmax Can Have Unargmaxable Classes in Theory but Rarely in
// Practice", ACL 2022). Class k of logits W z + b (W: classes × dim, one row w_i per class) is
// argmaxable when some input z makes it the strict argmax:
//   ∃ z:  w_k·z + b_k > w_i·z + b_i  for every i ≠ k,
// and unargmaxable otherwise (ties are not wins: a duplicated class with an equal bias never wins).
// The exact test is the linear programme
//   t* = max t  subject to  (w_i − w_k)·z + t ≤ b_k − b_i  (i ≠ k),  t ≤ 1,   z free,
// k being argmaxable iff t* > 0 (the cap t ≤ 1 only bounds the programme). Its dual
//   min Σ_i α_i (b_k − b_i) + μ  s.t.  Σ_i α_i (w_i − w_k) = 0,  Σ_i α_i + μ = 1,  α, μ ≥ 0
// is what kexue solves, by a dense primal simplex in double (Dantzig pricing, Bland's rule on
// degenerate runs, a refactorisation before every optimality claim) with the classes added as
// columns when they price out (constraint generation on the primal: a restricted programme has
// t*_S ≥ t*, so t*_S ≤ 0 already proves k unargmaxable, and z of a restricted optimum that violates
// no constraint of the full one proves k argmaxable). A dual point with value ≤ 0 is Su's
// certificate: w_k = Σ α̂_i w_i with Σ α̂_i b_i ≥ b_k, i.e. w_k in the convex hull of the others.
//
// Before any programme, a screen proves most classes argmaxable at once. The argmax does not move
// when every row moves by the same vector, so it works on u_i = w_i − mean: along z = c·u_k
// (c → ∞) class k wins iff ‖u_k‖² > u_i·u_k for every i ≠ k, which needs checking only against
// rows at least as long as u_k (Cauchy–Schwarz). The Gram entries come from the float32 GEMM (blocks of
// rows sorted by norm) and count only when they clear the rigorous error bound of a float32 dot
// product of length dim (|fl(x·y) − x·y| ≤ γ_dim ‖x‖‖y‖, any summation order, Higham Thm 3.1) and
// the rounding of u to float32.
// Classes the screen cannot prove go to the programme, seeded with the rows that beat them there.
//
// No LP library is used: the project's stack (Eigen, xtensor, xsimd) has none, Debian's GLPK, Clp
// and HiGHS are native libraries the WASM build cannot link, and their npm builds (glpk.js,
// highs-js) are separate WASM modules callable only from JS, not from this C++ core or its native
// tests. The programme here is small and structured (dim + 1 rows), which a dense simplex suits.
//
// Shapes (row-major): weight classes × dim; bias classes (or none); status classes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

// The options of kx.unargmaxable(weight, { classes, dim, bias }) besides the bias array.
struct UnargmaxableOptions {
    std::size_t classes = 0;
    std::size_t dim = 0;
};

template <typename Visitor>
void visit_fields(UnargmaxableOptions& o, Visitor&& field) {
    field("classes", o.classes, kRequired | kPositive);
    field("dim", o.dim, kRequired | kPositive);
}

// Bits of the per-class status.
constexpr std::uint8_t kUnargmaxable = 1;        // can never be the strict argmax
constexpr std::uint8_t kDecidedByProgramme = 2;  // the screen could not prove it; the LP decided
constexpr std::uint8_t kWithinRounding = 4;      // the LP's answer rests on margins within rounding

// classes, dim ≥ 1; the weight, the sorted copy, the screen's Gram block and the simplex
// tableaux fit in the heap (64-bit counts).
Error unargmaxable_validate(const UnargmaxableOptions& options);
// weight and bias (nullptr: none) finite.
Error unargmaxable_input_validate(const float* weight, const float* bias, const UnargmaxableOptions& options);

struct UnargmaxableSummary {
    std::size_t unargmaxable = 0;  // classes with kUnargmaxable
    std::size_t screened = 0;      // proven argmaxable by the screen
    std::size_t programmes = 0;    // decided by a linear programme
    std::size_t within_rounding = 0;
};

// status: classes bytes (bits above). bias may be nullptr.
UnargmaxableSummary unargmaxable(const float* weight, const float* bias, const UnargmaxableOptions& options,
                                 std::uint8_t* status);

// The twin: one linear programme per class over every other class from the start (no screen, no
// constraint generation), in double. Slow (classes programmes of classes columns); for tests.
UnargmaxableSummary unargmaxable_reference(const float* weight, const float* bias,
                                           const UnargmaxableOptions& options, std::uint8_t* status);

}  // namespace kexue
