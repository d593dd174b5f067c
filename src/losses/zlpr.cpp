// ZLPR multi-label loss; see zlpr.hpp (docs/math.md §7.2).
//
// Each row takes three passes over its C classes (float32 SIMD, sums in double):
//   1. the shifts  M_a = max(0, max_{t_i>0} −s_i),  M_b = max(0, max_{t_i<1} s_i)  (masked out: none)
//   2. the terms   a_i = t_i e^{−s_i − M_a},  b_i = (1 − t_i) e^{s_i − M_b},
//                  S_a = e^{−M_a} + Σ a_i,     S_b = e^{−M_b} + Σ b_i   (every term ≤ 1, S ≥ 1)
//   3. the loss    L = M_a + log S_a + M_b + log S_b, and ∂L/∂s_i = −a_i/S_a + b_i/S_b
// Hard labels (t ∈ {0, 1}) have one term per class, so they take one exp per class instead of two.
#include "losses/zlpr.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/simd.hpp"
#include "core/validate.hpp"
#include "core/vector_math.hpp"

namespace kexue {

using simd::kVecWidth;
using simd::Vec;

Error zlpr_validate(const ZlprOptions& options) {
    if (Error e = positive("rows", options.rows)) return e;
    if (Error e = positive("classes", options.classes)) return e;
    const Extent rows{"rows", options.rows}, classes{"classes", options.classes};
    if (Error e = buffer_fits("logits", {rows, classes})) return e;
    // logits, labels, mask, grad, the soft kernel's scratch row, and the row losses.
    const std::uint64_t bytes = checked_product({options.rows, options.classes, 4 * 4});
    return heap_budget("logits", bytes, "logits, labels, mask and the gradient");
}

namespace {

std::string index(std::size_t i) { return js_number(std::uint64_t(i)); }

}  // namespace

Error zlpr_check_inputs(const ZlprOptions& options, const float* logits, const float* labels, const float* mask) {
    const std::size_t count = options.rows * options.classes;
    for (std::size_t i = 0; i < count; ++i) {
        if (!std::isfinite(logits[i])) return range_error("logits[" + index(i) + "]", "finite", js_number(logits[i]));
    }
    for (std::size_t i = 0; i < count; ++i) {
        const float t = labels[i];
        if (options.soft ? !(t >= 0 && t <= 1) : !(t == 0 || t == 1)) {
            return range_error("labels[" + index(i) + "]",
                               options.soft ? "in [0, 1]" : "0 or 1 (hard labels; pass soft: true for targets in [0, 1])",
                               js_number(t));
        }
    }
    if (mask) {
        for (std::size_t i = 0; i < count; ++i) {
            if (!(mask[i] == 0 || mask[i] == 1)) {
                return range_error("mask[" + index(i) + "]", "0 (left out) or 1 (counted)", js_number(mask[i]));
            }
        }
    }
    return {};
}

Error zlpr_labels_from_index_sets(const ZlprOptions& options, const std::uint32_t* offsets, const double* indices,
                                  float* labels) {
    const std::size_t classes = options.classes;
    std::fill(labels, labels + options.rows * classes, 0.0f);
    for (std::size_t r = 0; r < options.rows; ++r) {
        for (std::uint32_t k = offsets[r]; k < offsets[r + 1]; ++k) {
            const double c = indices[k];
            if (!(c >= 0 && c < static_cast<double>(classes) && c == std::floor(c))) {
                return range_error("labels[" + index(r) + "][" + index(k - offsets[r]) + "]",
                                   "an integer in [0, classes = " + index(classes) + ")", js_number(c));
            }
            labels[r * classes + static_cast<std::size_t>(c)] = 1.0f;
        }
    }
    return {};
}

namespace {

const Vec kZero(0.0f);
const Vec kOne(1.0f);
const Vec kHalf(0.5f);
const Vec kMinusInfinity(-INFINITY);

// One row's passes. Soft: both terms per class, a_i kept in `scratch`, b_i in `grad`. Hard: the one
// term of each class kept in `grad`, its side given by t_i. `n` is a multiple of the vector width;
// the row's tail comes through the same functions from padded copies (mask 0 in the padding).
template <bool Soft>
class ZlprRow {
public:
    template <bool Masked>
    void max_pass(const float* s, const float* t, const float* m, std::size_t n) {
        for (std::size_t j = 0; j < n; j += kVecWidth) {
            const Vec sv = Vec::load_unaligned(s + j), tv = Vec::load_unaligned(t + j);
            auto in_a = Soft ? (tv > kZero) : (tv > kHalf);
            auto in_b = Soft ? (tv < kOne) : (tv < kHalf);
            if (Masked) {
                const auto counted = Vec::load_unaligned(m + j) > kHalf;
                in_a = in_a & counted;
                in_b = in_b & counted;
            }
            max_a_ = xsimd::max(max_a_, xsimd::select(in_a, -sv, kMinusInfinity));
            max_b_ = xsimd::max(max_b_, xsimd::select(in_b, sv, kMinusInfinity));
        }
    }

    void reduce_max() {
        alignas(64) float lanes[kVecWidth];
        max_a_.store_aligned(lanes);
        shift_a_ = std::max(0.0f, *std::max_element(lanes, lanes + kVecWidth));  // the 0 of lse([…, 0])
        max_b_.store_aligned(lanes);
        shift_b_ = std::max(0.0f, *std::max_element(lanes, lanes + kVecWidth));
    }

    template <bool Masked>
    void exp_pass(const float* s, const float* t, const float* m, float* grad, float* scratch, std::size_t n) {
        const Vec shift_a(shift_a_), shift_b(shift_b_);
        for (std::size_t j = 0; j < n; j += kVecWidth) {
            const Vec sv = Vec::load_unaligned(s + j), tv = Vec::load_unaligned(t + j);
            if (Soft) {
                Vec wa = tv, wb = kOne - tv;
                if (Masked) {
                    const Vec mv = Vec::load_unaligned(m + j);
                    wa *= mv;
                    wb *= mv;
                }
                // A weight of 0 zeroes its term; the exp itself is clamped finite (e^88), so 0·e = 0.
                const Vec a = wa * simd::exp_vec_or_zero(-sv - shift_a);
                const Vec b = wb * simd::exp_vec_or_zero(sv - shift_b);
                a.store_unaligned(scratch + j);
                b.store_unaligned(grad + j);
                sum_a_.add(a);
                sum_b_.add(b);
            } else {
                const auto positive = tv > kHalf;
                Vec y = xsimd::select(positive, -sv - shift_a, sv - shift_b);
                if (Masked) y = xsimd::select(Vec::load_unaligned(m + j) > kHalf, y, kMinusInfinity);
                const Vec e = simd::exp_vec_or_zero(y);
                e.store_unaligned(grad + j);
                sum_a_.add(xsimd::select(positive, e, kZero));
                sum_b_.add(xsimd::select(positive, kZero, e));
            }
        }
    }

    // The row's loss; sets the gradient's coefficients (scale: the reduction's factor).
    double finish(double scale) {
        const double sum_a = sum_a_.total() + std::exp(-static_cast<double>(shift_a_));
        const double sum_b = sum_b_.total() + std::exp(-static_cast<double>(shift_b_));
        coefficient_a_ = static_cast<float>(scale / sum_a);
        coefficient_b_ = static_cast<float>(scale / sum_b);
        return shift_a_ + std::log(sum_a) + shift_b_ + std::log(sum_b);
    }

    void grad_pass(const float* t, float* grad, const float* scratch, std::size_t n) const {
        const Vec ca(coefficient_a_), cb(coefficient_b_);
        for (std::size_t j = 0; j < n; j += kVecWidth) {
            const Vec g = Vec::load_unaligned(grad + j);
            if (Soft) {
                xsimd::fms(g, cb, Vec::load_unaligned(scratch + j) * ca).store_unaligned(grad + j);
            } else {
                const auto positive = Vec::load_unaligned(t + j) > kHalf;
                xsimd::select(positive, -(g * ca), g * cb).store_unaligned(grad + j);
            }
        }
    }

private:
    Vec max_a_ = kMinusInfinity, max_b_ = kMinusInfinity;
    float shift_a_ = 0, shift_b_ = 0;
    simd::DoubleSum sum_a_, sum_b_;
    float coefficient_a_ = 0, coefficient_b_ = 0;
};

template <bool Soft, bool Masked>
double zlpr_row(const float* s, const float* t, const float* m, float* grad, float* scratch, std::size_t n,
                double scale) {
    const std::size_t full = n - n % kVecWidth, tail = n - full;
    // The tail as one padded vector: mask 0 beyond the row, so the padding joins neither sum.
    alignas(64) float s_tail[kVecWidth] = {}, t_tail[kVecWidth] = {}, m_tail[kVecWidth] = {};
    alignas(64) float g_tail[kVecWidth] = {}, scratch_tail[kVecWidth] = {};
    for (std::size_t j = 0; j < tail; ++j) {
        s_tail[j] = s[full + j];
        t_tail[j] = t[full + j];
        m_tail[j] = Masked ? m[full + j] : 1.0f;
    }
    ZlprRow<Soft> row;
    row.template max_pass<Masked>(s, t, m, full);
    if (tail) row.template max_pass<true>(s_tail, t_tail, m_tail, kVecWidth);
    row.reduce_max();
    row.template exp_pass<Masked>(s, t, m, grad, scratch, full);
    if (tail) row.template exp_pass<true>(s_tail, t_tail, m_tail, g_tail, scratch_tail, kVecWidth);
    const double loss = row.finish(scale);
    row.grad_pass(t, grad, scratch, full);
    if (tail) {
        row.grad_pass(t_tail, g_tail, scratch_tail, kVecWidth);
        std::copy(g_tail, g_tail + tail, grad + full);
    }
    return loss;
}

template <bool Soft, bool Masked>
void zlpr_rows(const ZlprOptions& options, const float* logits, const float* labels, const float* mask, float* grad,
               double* row_losses, double scale) {
    const std::size_t classes = options.classes;
    for_row_blocks(options.rows, classes, [&](std::size_t begin, std::size_t end) {
        std::vector<float> scratch(Soft ? classes : 0);
        for (std::size_t r = begin; r < end; ++r) {
            const std::size_t offset = r * classes;
            row_losses[r] = zlpr_row<Soft, Masked>(logits + offset, labels + offset, Masked ? mask + offset : nullptr,
                                                   grad + offset, scratch.data(), classes, scale);
        }
    });
}

}  // namespace

double zlpr_f32(const ZlprOptions& options, const float* logits, const float* labels, const float* mask,
                float* grad, double* row_losses) {
    std::vector<double> own_losses(row_losses ? 0 : options.rows);
    double* losses = row_losses ? row_losses : own_losses.data();
    const double scale = reduction_scale(options.reduction, options.rows);
    if (options.soft) {
        if (mask) zlpr_rows<true, true>(options, logits, labels, mask, grad, losses, scale);
        else zlpr_rows<true, false>(options, logits, labels, mask, grad, losses, scale);
    } else {
        if (mask) zlpr_rows<false, true>(options, logits, labels, mask, grad, losses, scale);
        else zlpr_rows<false, false>(options, logits, labels, mask, grad, losses, scale);
    }
    return reduce_rows(options.reduction, losses, options.rows);
}

void zlpr_probability_f32(std::size_t count, const float* logits, float* out) {
    for (std::size_t i = 0; i < count; ++i) {
        // σ(2s) = 1/(1 + e^{−2s}), written so that neither branch overflows.
        const double x = 2.0 * logits[i];
        out[i] = static_cast<float>(x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)));
    }
}

}  // namespace kexue
