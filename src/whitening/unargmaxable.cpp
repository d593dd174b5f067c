// docs/math.md §7.19: which classes of a softmax layer can never be the argmax.
#include "whitening/unargmaxable.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <Eigen/Dense>

#include "core/gemm.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"

namespace kexue {
namespace {

constexpr std::size_t kBlockRows = 128;  // screen: rows of the Gram block per GEMM
constexpr std::size_t kSeedColumns = 64;  // columns a programme starts with, and adds per round
constexpr double kUnitRoundoff32 = 5.9604644775390625e-08;  // 2⁻²⁴
constexpr double kUnitRoundoff64 = 1.1102230246251565e-16;  // 2⁻⁵³

// α columns a programme holds before it drops the nonbasic ones that price out positively.
std::uint64_t column_cap(std::uint64_t m) { return 2 * m + 256; }

// Bytes of one programme: B⁻¹ and the LU of a refactorisation (3 m² doubles), the α columns
// (m doubles each, up to the cap plus one round), per-column costs and ids, the basis, and the
// pricing pass's reduced costs and candidate list over every class.
std::uint64_t programme_bytes(std::uint64_t classes, std::uint64_t dim) {
    const std::uint64_t m = dim + 1;
    const std::uint64_t columns = saturating_sum({column_cap(m), kSeedColumns, 1});
    return saturating_sum({checked_product({3, m, m, 8}), checked_product({m, columns, 8}),
                           checked_product({columns, 24}), checked_product({m, 24}),
                           checked_product({classes, 24})});
}

// Bytes of everything but the programmes: the weight and bias the facade copied in, the status,
// the screen's sorted scaled copy, its norms, order and bounds, one Gram block, and the seeds.
std::uint64_t fixed_bytes(std::uint64_t classes, std::uint64_t dim) {
    return saturating_sum({checked_product({classes, dim, 4}),                        // weight
                           checked_product({classes, 4 + 1}),                         // bias, status
                           checked_product({classes, dim, 4}),                        // sorted copy
                           checked_product({classes, 8 * 3}),                         // norms, order, ends
                           checked_product({std::min<std::uint64_t>(classes, kBlockRows), classes, 4}),
                           checked_product({classes, kSeedColumns, 4})});             // seeds
}

// How many programmes run at once: the threads, as far as the heap holds their workspaces.
std::size_t concurrent_programmes(std::uint64_t classes, std::uint64_t dim) {
    const std::uint64_t fixed = fixed_bytes(classes, dim), each = programme_bytes(classes, dim);
    std::size_t count = thread_count();
    while (count > 1 && saturating_sum({fixed, checked_product({count, each})}) > kMaxHeapBytes) --count;
    return count;
}

// The data of one class's programme. Rows enter it scaled by a power of two, ŵ = s·w (exact in
// double), so that the largest row norm is in [1/2, 1): z absorbs the scale, the answer is the same.
struct Problem {
    const float* w;
    const float* bias;  // nullptr: zero
    std::size_t n, d;
    double scale;
    double tol;  // t* ≤ tol counts as a tie (unargmaxable)
    double b(std::size_t i) const { return bias ? double(bias[i]) : 0.0; }
};

// The dual programme of class k restricted to a set of α columns, by the revised primal simplex.
// Rows: d equalities Σ α_i (ŵ_i − ŵ_k) = 0 and Σ α_i + μ = 1 (m = d + 1). Column ids: 0…d−1 the
// artificials of the equality rows (fixed at 0: they may leave the basis, never enter), d the
// variable μ (cost 1), d+1+j the j-th α column (cost b_k − b_i). The start basis is the identity
// (artificials at 0, μ = 1): feasible, so there is no phase one.
class Programme {
public:
    Programme(const Problem& p, std::size_t k)
        : p_(p), k_(k), d_(p.d), m_(p.d + 1), binv_(m_ * m_, 0.0), basis_(m_), xb_(m_, 0.0) {
        for (std::size_t i = 0; i < m_; ++i) {
            binv_[i * m_ + i] = 1.0;
            basis_[i] = i;
        }
        xb_[d_] = 1.0;
        wk_.resize(d_);
        for (std::size_t j = 0; j < d_; ++j) wk_[j] = p.scale * double(p.w[k * d_ + j]);
    }

    std::size_t columns() const { return ids_.size(); }
    bool holds(std::size_t cls) const { return std::find(ids_.begin(), ids_.end(), cls) != ids_.end(); }

    void add_column(std::size_t cls) {
        ids_.push_back(cls);
        cost_.push_back(p_.b(k_) - p_.b(cls));
        const float* wi = p_.w + cls * d_;
        for (std::size_t j = 0; j < d_; ++j) a_.push_back(p_.scale * double(wi[j]) - wk_[j]);
        a_.push_back(1.0);
    }

    enum class Outcome { optimal, below, failed };

    // Pivots until the restricted optimum, or until the objective (an upper bound of t*) is at
    // most `stop_below`.
    Outcome solve(double stop_below) {
        const std::size_t cap = 50 * (m_ + columns()) + 1000;
        // Refactorise every max(64, m) pivots: O(m³) each, O(m²) per pivot on average.
        const std::size_t period = std::max<std::size_t>(64, m_);
        bool bland = false;
        std::size_t degenerate = 0;
        std::vector<double> y(m_), q(m_);
        for (std::size_t iteration = 0; iteration < cap; ++iteration) {
            if (objective() <= stop_below) return Outcome::below;
            duals(y);
            const std::size_t entering = price(y, bland);
            if (entering == kNone) {
                // Optimal on the maintained inverse: confirm on a fresh one before saying so.
                if (pivots_ == 0) return Outcome::optimal;
                if (!refactor()) return Outcome::failed;
                continue;
            }
            column(entering, q);
            const std::size_t row = ratio_test(q, bland);
            if (row == kNone) return Outcome::failed;  // unbounded: impossible for this dual
            const double theta = basis_[row] < d_ ? 0.0 : std::max(0.0, xb_[row]) / q[row];
            pivot(row, entering, q);
            if (theta <= 1e-15) {
                if (++degenerate >= 50) bland = true;  // Bland's rule cannot cycle
            } else {
                degenerate = 0;
                bland = false;
            }
            if (pivots_ >= period && !refactor()) return Outcome::failed;
        }
        return Outcome::failed;
    }

    double objective() const {
        double sum = 0;
        for (std::size_t r = 0; r < m_; ++r) sum += cost_of(basis_[r]) * xb_[r];
        return sum;
    }

    // The primal point (z, t) of the current basis: y = c_Bᵀ B⁻¹.
    void multipliers(std::vector<double>& z, double& t) const {
        std::vector<double> y(m_);
        duals(y);
        z.assign(y.begin(), y.begin() + d_);
        t = y[d_];
    }

    // Drops nonbasic α columns whose reduced cost is positive (they price out at the optimum).
    void purge(const std::vector<double>& z, double t) {
        std::vector<bool> basic(columns(), false);
        for (std::size_t r = 0; r < m_; ++r) {
            if (basis_[r] > d_) basic[basis_[r] - d_ - 1] = true;
        }
        std::vector<std::size_t> remap(columns(), kNone);
        std::size_t kept = 0;
        for (std::size_t j = 0; j < columns(); ++j) {
            double dot = 0;
            for (std::size_t i = 0; i < d_; ++i) dot += a_[j * m_ + i] * z[i];
            if (!basic[j] && cost_[j] - dot - t > p_.tol) continue;
            remap[j] = kept;
            if (kept != j) {
                ids_[kept] = ids_[j];
                cost_[kept] = cost_[j];
                std::copy(a_.begin() + j * m_, a_.begin() + (j + 1) * m_, a_.begin() + kept * m_);
            }
            ++kept;
        }
        ids_.resize(kept);
        cost_.resize(kept);
        a_.resize(kept * m_);
        for (std::size_t r = 0; r < m_; ++r) {
            if (basis_[r] > d_) basis_[r] = d_ + 1 + remap[basis_[r] - d_ - 1];
        }
    }

private:
    static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();

    double cost_of(std::size_t id) const { return id < d_ ? 0.0 : id == d_ ? 1.0 : cost_[id - d_ - 1]; }

    // The original column of `id` into q (m entries).
    void original(std::size_t id, double* q) const {
        if (id <= d_) {
            std::fill(q, q + m_, 0.0);
            q[id] = 1.0;
        } else {
            std::copy(a_.begin() + (id - d_ - 1) * m_, a_.begin() + (id - d_) * m_, q);
        }
    }

    void duals(std::vector<double>& y) const {
        std::fill(y.begin(), y.end(), 0.0);
        for (std::size_t r = 0; r < m_; ++r) {
            const double c = cost_of(basis_[r]);
            if (c == 0) continue;
            const double* row = &binv_[r * m_];  // y = Σ_r c_B[r] · row r of B⁻¹
            for (std::size_t j = 0; j < m_; ++j) y[j] += c * row[j];
        }
    }

    // The entering column: the most negative reduced cost (Dantzig), or the first negative one
    // (Bland). Artificials never enter.
    std::size_t price(const std::vector<double>& y, bool bland) const {
        std::vector<bool> basic_alpha(columns() + 1, false);  // index 0: μ
        for (std::size_t r = 0; r < m_; ++r) {
            if (basis_[r] >= d_) basic_alpha[basis_[r] - d_] = true;
        }
        std::size_t best = kNone;
        double best_value = -p_.tol;
        if (!basic_alpha[0] && 1.0 - y[d_] < best_value) {
            best = d_;
            if (bland) return best;
            best_value = 1.0 - y[d_];
        }
        for (std::size_t j = 0; j < columns(); ++j) {
            if (basic_alpha[j + 1]) continue;
            const double* a = &a_[j * m_];
            double dot = 0;
            for (std::size_t i = 0; i < m_; ++i) dot += a[i] * y[i];
            const double reduced = cost_[j] - dot;
            if (reduced < best_value) {
                best = d_ + 1 + j;
                if (bland) return best;
                best_value = reduced;
            }
        }
        return best;
    }

    // q = B⁻¹ a_id.
    void column(std::size_t id, std::vector<double>& q) const {
        std::vector<double> a(m_);
        original(id, a.data());
        for (std::size_t r = 0; r < m_; ++r) {
            const double* row = &binv_[r * m_];
            double sum = 0;
            for (std::size_t j = 0; j < m_; ++j) sum += row[j] * a[j];
            q[r] = sum;
        }
    }

    // The leaving row. A basic artificial is fixed at 0: any nonzero entry blocks at ratio 0.
    // Ties: the smallest basic id (Bland) or the largest |q_r| (stability).
    std::size_t ratio_test(const std::vector<double>& q, bool bland) const {
        double qmax = 0;
        for (double v : q) qmax = std::max(qmax, std::abs(v));
        const double eps = 1e-9 * std::max(1.0, qmax);
        std::size_t best = kNone;
        double best_ratio = std::numeric_limits<double>::infinity();
        for (std::size_t r = 0; r < m_; ++r) {
            double ratio;
            if (basis_[r] < d_) {
                if (std::abs(q[r]) <= eps) continue;
                ratio = 0;
            } else {
                if (q[r] <= eps) continue;
                ratio = std::max(0.0, xb_[r]) / q[r];
            }
            if (best == kNone || ratio < best_ratio - 1e-12) {
                best = r;
                best_ratio = ratio;
            } else if (ratio <= best_ratio + 1e-12 &&
                       (bland ? basis_[r] < basis_[best] : std::abs(q[r]) > std::abs(q[best]))) {
                best = r;
                best_ratio = std::min(best_ratio, ratio);
            }
        }
        return best;
    }

    void pivot(std::size_t row, std::size_t entering, const std::vector<double>& q) {
        const double pivot = q[row];
        double* pr = &binv_[row * m_];
        for (std::size_t j = 0; j < m_; ++j) pr[j] /= pivot;
        const double theta = (basis_[row] < d_ ? 0.0 : std::max(0.0, xb_[row])) / pivot;
        for (std::size_t r = 0; r < m_; ++r) {
            if (r == row || q[r] == 0) continue;
            double* rr = &binv_[r * m_];
            const double f = q[r];
            for (std::size_t j = 0; j < m_; ++j) rr[j] -= f * pr[j];
            xb_[r] -= f * theta;
        }
        xb_[row] = theta;
        basis_[row] = entering;
        ++pivots_;
    }

    // B⁻¹ and x_B afresh from the basis (LU with partial pivoting), against accumulated error.
    bool refactor() {
        Eigen::MatrixXd B(m_, m_);
        std::vector<double> a(m_);
        for (std::size_t r = 0; r < m_; ++r) {
            original(basis_[r], a.data());
            for (std::size_t i = 0; i < m_; ++i) B(i, r) = a[i];
        }
        const Eigen::PartialPivLU<Eigen::MatrixXd> lu(B);
        if (!(lu.rcond() > 1e-14)) return false;
        const Eigen::MatrixXd inverse = lu.inverse();
        for (std::size_t r = 0; r < m_; ++r) {
            for (std::size_t j = 0; j < m_; ++j) binv_[r * m_ + j] = inverse(r, j);
        }
        for (std::size_t r = 0; r < m_; ++r) {
            // x_B = B⁻¹ e_d; artificials are fixed at 0, small negatives are rounding.
            xb_[r] = basis_[r] < d_ ? 0.0 : std::max(0.0, binv_[r * m_ + d_]);
        }
        pivots_ = 0;
        return true;
    }

    const Problem& p_;
    std::size_t k_, d_, m_;
    std::vector<double> wk_;
    std::vector<double> a_;     // α columns, m each
    std::vector<double> cost_;  // b_k − b_i per α column
    std::vector<std::size_t> ids_;
    std::vector<double> binv_;  // B⁻¹, row-major m × m
    std::vector<std::size_t> basis_;
    std::vector<double> xb_;
    std::size_t pivots_ = 0;  // since the last refactorisation
};

// Decides class k by constraint generation from the seed columns. Returns its status bits.
std::uint8_t decide(const Problem& p, std::size_t k, const std::vector<std::size_t>& seed, bool generate) {
    const std::size_t n = p.n, d = p.d;
    Programme lp(p, k);
    if (generate) {
        for (std::size_t i : seed) {
            if (i != k && !lp.holds(i)) lp.add_column(i);
        }
    } else {
        for (std::size_t i = 0; i < n; ++i) {
            if (i != k) lp.add_column(i);
        }
    }
    const std::uint64_t cap = column_cap(d + 1);
    std::vector<double> z, wz(n);
    std::vector<std::size_t> violators;
    for (std::size_t round = 0; round <= n / kSeedColumns + 2 * (d + 1) + 16; ++round) {
        const auto outcome = lp.solve(generate ? p.tol : -std::numeric_limits<double>::infinity());
        if (outcome == Programme::Outcome::failed) {
            return lp.objective() <= p.tol ? kUnargmaxable | kWithinRounding : kWithinRounding;
        }
        if (outcome == Programme::Outcome::below) return kUnargmaxable;
        double t = 0;
        lp.multipliers(z, t);
        if (t <= p.tol) return kUnargmaxable;
        // Price every class: r_i = (b_k − b_i) − (ŵ_i − ŵ_k)·z − t; a negative one is a
        // constraint of the full programme that z violates.
        double wz_k = 0;
        for (std::size_t j = 0; j < d; ++j) wz_k += double(p.w[k * d + j]) * z[j];
        wz_k *= p.scale;
        violators.clear();
        for (std::size_t i = 0; i < n; ++i) {
            if (i == k) continue;
            double dot = 0;
            for (std::size_t j = 0; j < d; ++j) dot += double(p.w[i * d + j]) * z[j];
            wz[i] = p.scale * dot - wz_k;
            if (p.b(k) - p.b(i) - wz[i] - t < -p.tol) violators.push_back(i);
        }
        if (violators.empty()) {
            // z is a witness: margins (ŵ_k − ŵ_i)·z + b_k − b_i ≥ t − tol > 0. Check each against
            // the rounding of its own evaluation (γ_{d+4} of the terms' magnitudes).
            double zk_abs = 0;
            for (std::size_t j = 0; j < d; ++j) zk_abs += std::abs(double(p.w[k * d + j]) * z[j]);
            const double gamma = double(d + 4) * kUnitRoundoff64 * 1.01;
            for (std::size_t i = 0; i < n; ++i) {
                if (i == k) continue;
                double zi_abs = 0;
                for (std::size_t j = 0; j < d; ++j) zi_abs += std::abs(double(p.w[i * d + j]) * z[j]);
                const double margin = p.b(k) - p.b(i) - wz[i];
                const double error = gamma * (p.scale * (zi_abs + zk_abs) + std::abs(p.b(k)) + std::abs(p.b(i)));
                if (!(margin > error)) return kWithinRounding;
            }
            return 0;
        }
        if (!generate) return kWithinRounding;  // every column was in: pricing disagrees with the solve
        std::sort(violators.begin(), violators.end(), [&](std::size_t a, std::size_t b) {
            const double ra = p.b(k) - p.b(a) - wz[a], rb = p.b(k) - p.b(b) - wz[b];
            return ra < rb || (ra == rb && a < b);
        });
        if (violators.size() > kSeedColumns) violators.resize(kSeedColumns);
        if (lp.columns() + violators.size() > cap) lp.purge(z, t);
        std::size_t added = 0;
        for (std::size_t i : violators) {
            if (lp.holds(i)) continue;
            lp.add_column(i);
            ++added;
        }
        if (added == 0) return kWithinRounding;  // only rounding-level violations, all held already
    }
    return lp.objective() <= p.tol ? kUnargmaxable | kWithinRounding : kWithinRounding;
}

Problem make_problem(const float* weight, const float* bias, const UnargmaxableOptions& o) {
    const std::size_t n = o.classes, d = o.dim;
    double largest = 0, largest_bias = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) s += double(weight[i * d + j]) * double(weight[i * d + j]);
        largest = std::max(largest, std::sqrt(s));
        if (bias) largest_bias = std::max(largest_bias, std::abs(double(bias[i])));
    }
    int exponent = 0;
    if (largest > 0) std::frexp(largest, &exponent);  // largest = f·2^e, f in [1/2, 1)
    return {weight, bias, n, d, std::ldexp(1.0, -exponent), 1e-9 * std::max(1.0, largest_bias)};
}

UnargmaxableSummary summarize(const std::uint8_t* status, std::size_t n) {
    UnargmaxableSummary s;
    for (std::size_t i = 0; i < n; ++i) {
        if (status[i] & kUnargmaxable) ++s.unargmaxable;
        if (status[i] & kDecidedByProgramme) ++s.programmes;
        else ++s.screened;
        if (status[i] & kWithinRounding) ++s.within_rounding;
    }
    return s;
}

}  // namespace

Error unargmaxable_validate(const UnargmaxableOptions& o) {
    if (Error e = positive("classes", o.classes)) return e;
    if (Error e = positive("dim", o.dim)) return e;
    if (Error e = buffer_fits("weight", {{"classes", o.classes}, {"dim", o.dim}})) return e;
    // Named after what dominates: the copies and the screen grow with classes·dim, a programme
    // (its basis inverse) with dim².
    const std::uint64_t fixed = fixed_bytes(o.classes, o.dim), programme = programme_bytes(o.classes, o.dim);
    return heap_budget(programme > fixed ? "dim" : "classes", saturating_sum({fixed, programme}),
                       "the weight, its sorted copy, the screen's Gram block and a linear programme");
}

Error unargmaxable_input_validate(const float* weight, const float* bias, const UnargmaxableOptions& o) {
    if (Error e = finite_rows("weight", weight, o.classes, o.dim)) return e;
    if (bias) {
        for (std::size_t i = 0; i < o.classes; ++i) {
            if (!std::isfinite(bias[i])) {
                return range_error_text("bias", "bias[" + js_number(std::uint64_t(i)) + "] is NaN or Infinity");
            }
        }
    }
    return {};
}

UnargmaxableSummary unargmaxable(const float* weight, const float* bias, const UnargmaxableOptions& o,
                                 std::uint8_t* status) {
    const std::size_t n = o.classes, d = o.dim;
    std::fill(status, status + n, std::uint8_t(0));
    if (n == 1) return summarize(status, n);  // no rival: the one class is always the argmax
    const Problem problem = make_problem(weight, bias, o);

    // ---- The screen. Logits' argmax does not change when every row moves by the same vector c
    // (it adds c·z to every logit), so the screen works on u_i = w_i − c with c the rows' mean: a
    // component shared by all rows (real heads have one) would otherwise hide the direction along
    // which a class wins. Rows sorted by ‖u‖ (longest first), scaled by a power of two so that the
    // longest has norm in [1/2, 1).
    std::vector<double> center(d, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) center[j] += double(weight[i * d + j]);
    }
    for (double& c : center) c /= double(n);
    std::vector<double> norm(n);
    double longest = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) {
            const double v = double(weight[i * d + j]) - center[j];
            s += v * v;
        }
        norm[i] = std::sqrt(s);
        longest = std::max(longest, norm[i]);
    }
    int exponent = 0;
    if (longest > 0) std::frexp(longest, &exponent);
    const double scale = std::ldexp(1.0, -exponent);
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return norm[a] > norm[b]; });
    // The float32 copy the GEMM reads, and the norms of the exact (double) u the claims are about.
    std::vector<float> sorted(n * d);
    std::vector<double> sorted_norm(n), sorted_square(n);
    for (std::size_t p = 0; p < n; ++p) {
        double s = 0;
        for (std::size_t j = 0; j < d; ++j) {
            const double v = scale * (double(weight[order[p] * d + j]) - center[j]);
            sorted[p * d + j] = float(v);
            s += v * v;
        }
        sorted_square[p] = s;
        sorted_norm[p] = std::sqrt(s);
    }
    // end[p]: rows before it are at least (1 − 1e-9) as long as row p; rows after it are shorter,
    // so their dot with u_k is below ‖u_k‖² by Cauchy–Schwarz, whatever the rounding of the norms.
    std::vector<std::size_t> end(n);
    for (std::size_t p = 0, q = 0; p < n; ++p) {
        q = std::max(q, p + 1);
        while (q < n && sorted_norm[q] >= sorted_norm[p] * (1 - 1e-9)) ++q;
        end[p] = q;
    }
    // How far a Gram entry of the float copy can be from the exact u_i·u_k: rounding u to float32
    // (2⁻²⁴ relative per entry, so ≤ 2·2⁻²⁴ ‖u_i‖‖u_k‖, 2⁻²² with room) and the float32 dot
    // product of length d (Higham, Thm 3.1: γ_d Σ|x_j y_j| ≤ γ_d ‖x‖‖y‖), with an absolute slack
    // for products and entries that fall into the subnormals.
    const double gamma = double(d) * kUnitRoundoff32 / (1 - double(d) * kUnitRoundoff32) * 1.01 + 4 * kUnitRoundoff32;
    const double slack = double(d) * std::ldexp(1.0, -140);
    std::vector<std::uint32_t> seeds(n * kSeedColumns);
    std::vector<std::uint8_t> seed_count(n, 0);
    std::vector<std::uint8_t> proven(n, 0);
    std::vector<float> gram(std::min(n, kBlockRows) * n);
    for (std::size_t p0 = 0; p0 < n; p0 += kBlockRows) {
        const std::size_t p1 = std::min(n, p0 + kBlockRows), rows = p1 - p0, cols = end[p1 - 1];
        GemmShape shape;
        shape.m = rows;
        shape.k = d;
        shape.n = cols;
        shape.transpose_b = true;
        gemm_f32(shape, sorted.data() + p0 * d, sorted.data(), gram.data());
        parallel_for(rows, [&](std::size_t r) {
            const std::size_t p = p0 + r;
            const float* g = gram.data() + r * cols;
            // A row too short for the bound to mean anything goes to the programme.
            bool ok = sorted_square[p] > std::ldexp(1.0, -100);
            // The worst rivals (largest w_i·w_k − ‖w_k‖²), kept for the programme's first columns.
            std::pair<double, std::size_t> worst[kSeedColumns];
            std::size_t count = 0;
            for (std::size_t q = 0; q < end[p]; ++q) {
                if (q == p) continue;
                const double excess = double(g[q]) - sorted_square[p];
                const double bound = gamma * sorted_norm[p] * (sorted_norm[p] + sorted_norm[q]) +
                                     1e-12 * sorted_square[p] + slack;
                if (excess <= -bound) continue;
                ok = false;
                if (count < kSeedColumns) {
                    worst[count++] = {excess, order[q]};
                } else {
                    std::size_t weakest = 0;
                    for (std::size_t s = 1; s < count; ++s) {
                        if (worst[s].first < worst[weakest].first) weakest = s;
                    }
                    if (excess > worst[weakest].first) worst[weakest] = {excess, order[q]};
                }
            }
            const std::size_t k = order[p];
            proven[k] = ok ? 1 : 0;
            seed_count[k] = std::uint8_t(count);
            for (std::size_t s = 0; s < count; ++s) seeds[k * kSeedColumns + s] = std::uint32_t(worst[s].second);
        });
    }
    std::vector<double>().swap(sorted_norm);
    std::vector<float>().swap(gram);
    std::vector<float>().swap(sorted);

    // ---- The programmes, for the classes the screen could not prove.
    std::vector<std::size_t> open;
    for (std::size_t k = 0; k < n; ++k) {
        if (!proven[k]) open.push_back(k);
    }
    std::atomic<std::size_t> next{0};
    const std::size_t slots = std::min(concurrent_programmes(n, d), std::max<std::size_t>(open.size(), 1));
    parallel_for(slots, [&](std::size_t) {
        std::vector<std::size_t> seed;
        for (std::size_t index = next++; index < open.size(); index = next++) {
            const std::size_t k = open[index];
            seed.assign(seeds.begin() + k * kSeedColumns, seeds.begin() + k * kSeedColumns + seed_count[k]);
            status[k] = std::uint8_t(kDecidedByProgramme | decide(problem, k, seed, true));
        }
    });
    return summarize(status, n);
}

UnargmaxableSummary unargmaxable_reference(const float* weight, const float* bias, const UnargmaxableOptions& o,
                                           std::uint8_t* status) {
    const std::size_t n = o.classes;
    std::fill(status, status + n, std::uint8_t(0));
    if (n == 1) return summarize(status, n);
    const Problem problem = make_problem(weight, bias, o);
    for (std::size_t k = 0; k < n; ++k) {
        status[k] = std::uint8_t(kDecidedByProgramme | decide(problem, k, {}, false));
    }
    return summarize(status, n);
}

}  // namespace kexue
