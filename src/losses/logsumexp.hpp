// Stable logsumexp along the last axis of a batch, its gradient (the softmax), and the bounds of
// kexue.fm/archives/9070 (docs/math.md §7.1).
//
//   lse(x) = log Σ_i e^{x_i} = M + log Σ_i e^{x_i − M},  M = max_i x_i
//
// Rules at the edges (§7.1): a row holding NaN gives NaN; M = +∞ gives +∞; a row of −∞ only gives
// −∞ (an empty sum); −∞ entries otherwise just drop out (lse([−∞, 0]) = 0). The gradient
// ∂lse/∂x = softmax(x); where it has no value (M = ±∞) the kernels return the limit as the entries
// equal to M move there together: 1/count on those entries, 0 elsewhere (a one-hot for a single
// +∞, which is the limit along every path); NaN rows give NaN.
//
// Bounds (§7.1), each per row, for a float32 x of finite entries and n = cols:
//   max x < lse(x) ≤ max x + log n                 (left equality only for n = 1)
//   max x < τ·lse(x/τ) ≤ max x + τ log n            (temperature τ > 0; → max as τ → 0)
//   lse(x) ≥ mean x + log n                         (Jensen)
//   lse(x) ≥ Σ p_i x_i + H(p) ≥ Σ p_i x_i + H_t(p)  (p a distribution; H Shannon's entropy
//                                                    −Σ p log p, H_t = −log(Σ p^t)/(t − 1) Rényi's
//                                                    of order t > 1, t = 2: −log Σ p²)
// lse is convex and 1-Lipschitz in ‖·‖_∞ (the property tests check both).
#pragma once

#include <cstddef>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

struct LogsumexpOptions {
    std::size_t rows = 1;
    std::size_t cols = 0;
};

// The options of kx.logsumexp and kx.logsumexp.grad.
template <typename Visitor>
void visit_fields(LogsumexpOptions& o, Visitor&& field) {
    field("rows", o.rows, kPositive);
    field("cols", o.cols, kRequired | kPositive);
}

// rows, cols ≥ 1 and x [rows, cols] fits in the heap.
Error logsumexp_validate(const LogsumexpOptions& options);

// x [rows, cols] → out [rows]. Float32 in and out, exps in float (SIMD), sums in double.
void logsumexp_f32(const LogsumexpOptions& options, const float* x, float* out);

// x [rows, cols] → grad [rows, cols] = softmax of each row; value [rows] = lse (may be null).
void logsumexp_grad_f32(const LogsumexpOptions& options, const float* x, float* grad, float* value);

struct LogsumexpBoundsOptions {
    std::size_t rows = 1;
    std::size_t cols = 0;
    double t = 2;    // the Rényi order of the p-bound (t > 1)
    double tau = 1;  // the temperature τ of the tempered lse (τ > 0)
};

template <typename Visitor>
void visit_fields(LogsumexpBoundsOptions& o, Visitor&& field) {
    field("rows", o.rows, kPositive);
    field("cols", o.cols, kRequired | kPositive);
    field("t", o.t);
    field("tau", o.tau);
}

// rows, cols ≥ 1, t > 1, τ > 0, x fits.
Error logsumexp_bounds_validate(const LogsumexpBoundsOptions& options);

// The inputs: x finite; p (when given, p_rows = 1 row shared by every row of x, or p_rows = rows)
// finite, ≥ 0, each row summing to 1 within 1e-4 (float32 rounding of a distribution).
Error logsumexp_bounds_check_inputs(const LogsumexpBoundsOptions& options, const float* x, const float* p,
                                    std::size_t p_rows);

// The quantities of the bounds, in this order, each a block of `rows` doubles in `out`
// [kLogsumexpBoundCount, rows]; the two p-bounds are NaN when p is null.
enum LogsumexpBound : std::size_t {
    kBoundValue,          // lse(x)
    kBoundMax,            // max x                      (< lse, < tempered)
    kBoundMaxPlusLogN,    // max x + log n              (≥ lse)
    kBoundMeanPlusLogN,   // mean x + log n             (≤ lse)
    kBoundTempered,       // τ·lse(x/τ)
    kBoundTemperedUpper,  // max x + τ log n            (≥ tempered)
    kBoundShannon,        // Σ p x − Σ p log p          (≤ lse)
    kBoundRenyi,          // Σ p x − log(Σ p^t)/(t − 1) (≤ shannon)
    kLogsumexpBoundCount
};

// The names the JS API uses for them (the keys of kx.logsumexp.bounds' result), in the same order.
extern const char* const kLogsumexpBoundNames[kLogsumexpBoundCount];

// x [rows, cols], p [p_rows, cols] or null → out [kLogsumexpBoundCount, rows], in double.
void logsumexp_bounds(const LogsumexpBoundsOptions& options, const float* x, const float* p, std::size_t p_rows,
                      double* out);

}  // namespace kexue
