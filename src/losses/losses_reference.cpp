// The double-precision xtensor twins; see losses_reference.hpp.
#include "losses/losses_reference.hpp"

#include <cmath>
#include <limits>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>

namespace kexue::reference {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// lse of each row of y, where −∞ entries are absent terms.
Vector row_lse(const Matrix& y) {
    const Vector max = xt::amax(y, {1});
    // A row of −∞ only: an empty sum, lse = −∞ (shift by 0 to avoid ∞ − ∞).
    const Vector shift = xt::where(xt::isinf(max), 0.0, max);
    const Vector sum = xt::sum(xt::exp(y - xt::view(shift, xt::all(), xt::newaxis())), {1});
    return shift + xt::log(sum);
}

// y with a column of zeros appended: lse([y, 0]).
Matrix with_zero_column(const Matrix& y) {
    Matrix out = xt::zeros<double>({y.shape(0), y.shape(1) + 1});
    xt::view(out, xt::all(), xt::range(0, y.shape(1))) = y;
    return out;
}

Matrix column(const Vector& v) { return xt::view(v, xt::all(), xt::newaxis()); }

}  // namespace

Vector logsumexp(const Matrix& x) {
    Vector out = row_lse(x);
    // +∞ beats the shift's ∞ − ∞; NaN propagates.
    const Vector max = xt::amax(x, {1});
    out = xt::where(xt::equal(max, kInfinity), kInfinity, out);
    const Vector nan_count = xt::sum(xt::cast<double>(xt::isnan(x)), {1});
    return xt::where(nan_count > 0, std::numeric_limits<double>::quiet_NaN(), out);
}

Matrix softmax(const Matrix& x) { return xt::exp(x - column(row_lse(x))); }

LossAndGrad zlpr(const Matrix& s, const Matrix& t, const Matrix& mask) {
    // lse([−s + log t, 0]) + lse([s + log(1 − t), 0]); log 0 = −∞ drops a term, as does the mask.
    const Matrix a = xt::where(mask > 0.5, -s + xt::log(t), -kInfinity);
    const Matrix b = xt::where(mask > 0.5, s + xt::log(1.0 - t), -kInfinity);
    const Vector lse_a = row_lse(with_zero_column(a)), lse_b = row_lse(with_zero_column(b));
    // ∂L/∂s_i = −e^{a_i − lse_a} + e^{b_i − lse_b}
    return {lse_a + lse_b, xt::exp(b - column(lse_b)) - xt::exp(a - column(lse_a)), {}};
}

namespace {

Matrix one_hot(const std::vector<std::size_t>& targets, std::size_t cols) {
    Matrix out = xt::zeros<double>({targets.size(), cols});
    for (std::size_t r = 0; r < targets.size(); ++r) out(r, targets[r]) = 1;
    return out;
}

}  // namespace

LossAndGrad info_nce(const Matrix& sim, const std::vector<std::size_t>& targets, double temperature) {
    const Matrix s = sim / temperature;
    const Matrix positive = one_hot(targets, s.shape(1));
    const Vector score_t = xt::sum(s * positive, {1});
    return {row_lse(s) - score_t, (softmax(s) - positive) / temperature, {}};
}

LossAndGrad flat_nce(const Matrix& sim, const std::vector<std::size_t>& targets, double temperature) {
    const Matrix s = sim / temperature;
    const Matrix positive = one_hot(targets, s.shape(1));
    const Vector score_t = xt::sum(s * positive, {1});
    const Matrix negatives = xt::where(positive > 0.5, -kInfinity, s);
    const Vector lse_negatives = row_lse(negatives);
    const Matrix grad = xt::exp(negatives - column(lse_negatives)) - positive;
    return {lse_negatives - score_t, grad / temperature, {}};
}

LossAndGrad global_pointer_kl(const Matrix& s, const Matrix& t, KlForm form) {
    const Matrix d = s - t;
    if (form == KlForm::sigmoid) {
        const Matrix ps = 1.0 / (1.0 + xt::exp(-s)), pt = 1.0 / (1.0 + xt::exp(-t));
        return {xt::sum((ps - pt) * d, {1}), ps * (1.0 - ps) * d + ps - pt, -(pt * (1.0 - pt) * d + ps - pt)};
    }
    const Matrix p = softmax(s), q = softmax(t);
    const Vector mean_p = xt::sum(p * d, {1}), mean_q = xt::sum(q * d, {1});
    return {xt::sum((p - q) * d, {1}), (p - q) + p * (d - column(mean_p)), -((p - q) + q * (d - column(mean_q)))};
}

}  // namespace kexue::reference
