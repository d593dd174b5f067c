// LoRA as an optimizer and GaLore: the options and the step of each mode; see
// low_rank_optimizer.hpp for the formulas and shapes.
#include "optim/low_rank_optimizer.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "core/validate.hpp"
#include "optim/adam.hpp"
#include "optim/low_rank_draws.hpp"
#include "optim/low_rank_kernels.hpp"
#include "optim/low_rank_svd.hpp"

namespace kexue {
namespace {

bool is_factor_mode(LowRankMode mode) {
    return mode == LowRankMode::LoRA || mode == LowRankMode::FixedA || mode == LowRankMode::FixedB ||
           mode == LowRankMode::Additive;
}

// "'lora'", the way messages quote a mode.
std::string quoted(LowRankMode mode) { return std::string("'") + enum_name(mode) + "'"; }
// "\"galore\"", the way JS's describe() writes a received string.
template <typename E>
std::string received(E value) { return std::string("\"") + enum_name(value) + "\""; }

}  // namespace

LowRankConfig low_rank_resolve(LowRankConfig c) {
    if (c.base == LowRankBase::Auto) c.base = c.mode == LowRankMode::RandomProj ? LowRankBase::SGD : LowRankBase::Adam;
    if (std::isnan(c.eps)) c.eps = c.mode == LowRankMode::GaLore ? 1e-6 : 1e-8;
    if (c.mode == LowRankMode::Full) c.rank = 1;
    return c;
}

Error low_rank_validate(const LowRankConfig& raw) {
    if (Error e = positive("rows", raw.rows)) return e;
    if (Error e = positive("cols", raw.cols)) return e;
    const std::size_t min_dim = std::min(raw.rows, raw.cols);
    // Full ignores the rank, but one given must still make sense.
    if (raw.mode != LowRankMode::Full) {
        if (Error e = positive("rank", raw.rank)) return e;
    }
    if (raw.rank > min_dim) {
        return range_error("rank", "between 1 and min(rows, cols) = " + js_number(std::uint64_t(min_dim)),
                           js_number(std::uint64_t(raw.rank)));
    }
    const LowRankConfig c = low_rank_resolve(raw);
    if (c.mode == LowRankMode::Additive && (c.rows % c.rank != 0 || c.cols % c.rank != 0)) {
        return range_error_text("rank", "mode " + quoted(c.mode) + " needs rank to divide rows = " +
                                            js_number(std::uint64_t(c.rows)) + " and cols = " +
                                            js_number(std::uint64_t(c.cols)) + ", received rank " +
                                            js_number(std::uint64_t(c.rank)));
    }
    if (c.mode == LowRankMode::RandomProj && c.base != LowRankBase::SGD) {
        return range_error_text("base", "mode " + quoted(c.mode) + " (W ← W − lr·(G·VᵀV + U·UᵀG)) supports base '" +
                                            enum_name(LowRankBase::SGD) + "' only, received " + received(c.base));
    }
    if (Error e = finite_in("lr", c.lr, '[', 0, INFINITY, ']')) return e;
    if (Error e = learning_rate_at_most("lr", c.lr)) return e;
    if (Error e = finite_in("beta1", c.beta1, '[', 0, 1, ')')) return e;
    if (Error e = finite_in("beta2", c.beta2, '[', 0, 1, ')')) return e;
    // eps > 0: Adam divides m by √v + eps, and a zero gradient entry has m = v = 0 (0/0 = NaN).
    if (Error e = finite_in("eps", c.eps, '(', 0, INFINITY, ']')) return e;
    if (Error e = finite_in("weightDecay", c.weight_decay, '[', 0, INFINITY, ']')) return e;
    if (Error e = finite("scale", c.scale)) return e;
    if (Error e = positive("updateProjGap", c.update_proj_gap)) return e;
    if (c.init == LowRankInit::LoRAGA) {
        if (c.mode != LowRankMode::LoRA && c.mode != LowRankMode::FixedA && c.mode != LowRankMode::FixedB) {
            return range_error_text("init", "init '" + std::string(enum_name(c.init)) + "' applies to modes " +
                                                quoted(LowRankMode::LoRA) + ", " + quoted(LowRankMode::FixedA) +
                                                " and " + quoted(LowRankMode::FixedB) + ", received mode " +
                                                received(c.mode));
        }
        if (2 * c.rank > min_dim) {
            return range_error_text("rank", "init '" + std::string(enum_name(c.init)) +
                                                "' needs 2*rank <= min(rows, cols) = " +
                                                js_number(std::uint64_t(min_dim)) + ", received rank " +
                                                js_number(std::uint64_t(c.rank)));
        }
    }
    // W, W0' and a gradient buffer (the JS facade's) are rows×cols each; full Adam adds two moments
    // but has no W0'. The factor-sized state is at most as large.
    const std::uint64_t copies = c.mode == LowRankMode::Full && c.base == LowRankBase::Adam ? 4 : 3;
    if (Error e = buffer_fits("the weight", {{"rows", c.rows}, {"cols", c.cols}, {"copies", copies}})) return e;
    // The whole construction and step, in 64 bits (issue 18: a 12000×12000 LoRA passed the check
    // above and aborted): the facade's gradient buffer and its copy of the initial weight, the
    // weight-sized state (W; W0' for the factor modes; W and two moments for full Adam), and the
    // factor-sized buffers (A, B, their gradients and moments, GaLore's projector and projected
    // state, the randomized SVD's and LoRA-GA's workspaces: a bound of 16 floats per row or column
    // and per rank + oversampling column).
    const bool factor = is_factor_mode(c.mode);
    const std::uint64_t state = c.mode == LowRankMode::Full && c.base == LowRankBase::Adam ? 3 : factor ? 2 : 1;
    const std::uint64_t floats = saturating_sum(
        {checked_product({c.rows, c.cols, state + 2}),
         checked_product({saturating_sum({c.rows, c.cols}), saturating_sum({c.rank, 16}), 16})});
    return heap_budget("rows", checked_product({floats, 4}),
                       "the weight, its copies and state, and the factor-sized buffers");
}

Error low_rank_factors_validate(const LowRankConfig& raw) {
    const LowRankConfig c = low_rank_resolve(raw);
    if (!is_factor_mode(c.mode)) {
        return range_error_text("factors", "factors apply to modes " + quoted(LowRankMode::LoRA) + ", " +
                                               quoted(LowRankMode::FixedA) + ", " + quoted(LowRankMode::FixedB) +
                                               ", " + quoted(LowRankMode::Additive) + ", received mode " +
                                               received(c.mode));
    }
    if (c.init == LowRankInit::LoRAGA) {
        return range_error_text("factors", "factors cannot be given with init '" + std::string(enum_name(c.init)) +
                                               "' (it computes them from the first gradient)");
    }
    return {};
}

std::size_t low_rank_state_floats(const LowRankConfig& config) {
    const LowRankConfig c = low_rank_resolve(config);
    const std::size_t n = c.rows, m = c.cols, r = c.rank;
    const bool adam = c.base == LowRankBase::Adam;
    switch (c.mode) {
        case LowRankMode::Full: return adam ? 2 * n * m : 0;
        case LowRankMode::LoRA:
        case LowRankMode::Additive: return (n + m) * r * (adam ? 3 : 1);
        case LowRankMode::FixedA: return (n + m) * r + (adam ? 2 * r * m : 0);
        case LowRankMode::FixedB: return (n + m) * r + (adam ? 2 * n * r : 0);
        case LowRankMode::RandomProj: return (n + m) * r;
        case LowRankMode::GaLore: return std::min(n, m) * r + (adam ? 2 * std::max(n, m) * r : 0);
    }
    return 0;
}

LowRankOptimizer::LowRankOptimizer(const LowRankConfig& config, const float* w0, const float* a0,
                                   const float* b0)
    : config_(low_rank_resolve(config)), rng_(config.seed), w_(w0, w0 + config.rows * config.cols) {
    assert(!low_rank_validate(config_));
    assert(!(a0 && b0) || !low_rank_factors_validate(config_));
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    const bool adam = config_.base == LowRankBase::Adam;
    switch (config_.mode) {
        case LowRankMode::Full:
            if (adam) {
                ma_.assign(n * m, 0.0f);
                va_.assign(n * m, 0.0f);
            }
            break;
        case LowRankMode::RandomProj:
            u_.assign(n * r, 0.0f);
            v_.assign(r * m, 0.0f);
            ga_.assign(n * r, 0.0f);
            gb_.assign(r * m, 0.0f);
            break;
        case LowRankMode::GaLore: {
            right_projection_ = n >= m;
            const std::size_t projected = r * std::max(n, m);
            p_.assign(r * std::min(n, m), 0.0f);
            ga_.assign(projected, 0.0f);
            if (adam) {
                ma_.assign(projected, 0.0f);
                va_.assign(projected, 0.0f);
            }
            break;
        }
        default: init_factors(w0, a0, b0);
    }
}

bool LowRankOptimizer::has_factors() const { return is_factor_mode(config_.mode); }

void LowRankOptimizer::init_factors(const float* w0, const float* a0, const float* b0) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    const bool adam = config_.base == LowRankBase::Adam;
    a_.assign(n * r, 0.0f);
    b_.assign(r * m, 0.0f);
    ga_.assign(n * r, 0.0f);
    gb_.assign(r * m, 0.0f);
    const bool train_a = config_.mode != LowRankMode::FixedA;
    const bool train_b = config_.mode != LowRankMode::FixedB;
    if (adam && train_a) {
        ma_.assign(n * r, 0.0f);
        va_.assign(n * r, 0.0f);
    }
    if (adam && train_b) {
        mb_.assign(r * m, 0.0f);
        vb_.assign(r * m, 0.0f);
    }
    w0p_.assign(w0, w0 + n * m);
    if (config_.init == LowRankInit::LoRAGA) {
        pending_lora_ga_ = true;  // the factors come from the first gradient
        return;
    }
    if (a0 && b0) {
        std::copy(a0, a0 + n * r, a_.begin());
        std::copy(b0, b0 + r * m, b_.begin());
    } else if (config_.mode != LowRankMode::Additive) {
        // Kaiming-uniform as peft: fan_in = rows for A, r for B.
        const bool symmetric = config_.init == LowRankInit::Symmetric;
        if (symmetric || config_.mode != LowRankMode::FixedB) kaiming_uniform(rng_, n, a_.data(), a_.size());
        if (symmetric || config_.mode == LowRankMode::FixedB) kaiming_uniform(rng_, r, b_.data(), b_.size());
    }
    if (config_.init == LowRankInit::Symmetric) {
        // W0' = W0 − s·A0·B0, so W starts at W0: evaluate s·A0·B0 with a zero base first.
        std::fill(w0p_.begin(), w0p_.end(), 0.0f);
        recompute_weight();
        for (std::size_t i = 0; i < n * m; ++i) w0p_[i] = w0[i] - w_[i];
    }
    recompute_weight();
}

void LowRankOptimizer::init_lora_ga(const float* grad) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    std::vector<float> left(n * 2 * r), right(2 * r * m);
    top_singular_vectors(grad, n, m, 2 * r, rng_, left.data(), right.data());
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < r; ++j) a_[i * r + j] = left[i * 2 * r + j];
    }
    std::copy(right.begin() + r * m, right.end(), b_.begin());
    // W0' = W0 − s·A0·B0 with W0 the current weight.
    low_rank_update(w0p_.data(), a_.data(), b_.data(), n, m, r, static_cast<float>(-config_.scale), w0p_.data());
    pending_lora_ga_ = false;
}

void LowRankOptimizer::recompute_weight() {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    const float s = static_cast<float>(config_.scale);
    if (config_.mode == LowRankMode::Additive) {
        for (std::size_t i = 0; i < n; ++i) {
            const float* a_row = &a_[i * r];
            const float* b_row = &b_[(i % r) * m];
            for (std::size_t j = 0; j < m; ++j) {
                w_[i * m + j] = w0p_[i * m + j] + s * (a_row[j % r] + b_row[j]);
            }
        }
        return;
    }
    low_rank_update(w0p_.data(), a_.data(), b_.data(), n, m, r, s, w_.data());
}

void LowRankOptimizer::update(float* p, const float* g, float* m, float* v, std::size_t count) const {
    if (config_.base == LowRankBase::SGD) {
        const float lr = static_cast<float>(config_.lr);
        const float decay = static_cast<float>(1.0 - config_.lr * config_.weight_decay);
        for (std::size_t i = 0; i < count; ++i) p[i] = p[i] * decay - lr * g[i];
        return;
    }
    const AdamOptions adam{config_.lr, config_.beta1, config_.beta2, config_.eps, config_.weight_decay};
    adam_update(p, g, m, v, count, adam_step<float>(adam, t_));  // float arithmetic: see adam.hpp
}

long LowRankOptimizer::step(const float* grad) {
    // x − x is 0 for finite x and NaN for NaN/±∞: one branch-free (vectorisable) pass, and the
    // index is searched only when something is off.
    const std::size_t count = config_.rows * config_.cols;
    float probe = 0;
    for (std::size_t i = 0; i < count; ++i) probe += grad[i] - grad[i];
    if (probe != 0 || std::isnan(probe)) {
        for (std::size_t i = 0; i < count; ++i) {
            if (!std::isfinite(grad[i])) return static_cast<long>(i);
        }
    }
    switch (config_.mode) {
        case LowRankMode::Full: step_full(grad); break;
        case LowRankMode::RandomProj: step_random(grad); break;
        case LowRankMode::GaLore: step_galore(grad); break;
        default: step_factors(grad);
    }
    return -1;
}

void LowRankOptimizer::step_full(const float* grad) {
    ++t_;
    // Straight from the caller's gradient, without a copy.
    update(w_.data(), grad, ma_.data(), va_.data(), w_.size());
}

void LowRankOptimizer::step_factors(const float* grad) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    if (pending_lora_ga_) init_lora_ga(grad);
    ++t_;
    const bool train_a = config_.mode != LowRankMode::FixedA;
    const bool train_b = config_.mode != LowRankMode::FixedB;
    const double s = config_.scale;
    if (config_.mode == LowRankMode::Additive) {
        // gA[i, k] = s·Σ_{j ≡ k (mod r)} G[i, j];  gB[k, j] = s·Σ_{i ≡ k (mod r)} G[i, j].
        std::vector<double> sum_a(n * r, 0.0), sum_b(r * m, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < m; ++j) {
                const double g = grad[i * m + j];
                sum_a[i * r + j % r] += g;
                sum_b[(i % r) * m + j] += g;
            }
        }
        for (std::size_t i = 0; i < n * r; ++i) ga_[i] = static_cast<float>(s * sum_a[i]);
        for (std::size_t i = 0; i < r * m; ++i) gb_[i] = static_cast<float>(s * sum_b[i]);
    } else {
        // Both from the pre-step factors: gA = s·G·Bᵀ (n×r), gB = s·Aᵀ·G (r×m), one pass over G.
        lora_factor_gradients(grad, a_.data(), b_.data(), n, m, r, train_a ? ga_.data() : nullptr,
                              train_b ? gb_.data() : nullptr);
        if (s != 1) {
            if (train_a) for (auto& x : ga_) x = static_cast<float>(s * x);
            if (train_b) for (auto& x : gb_) x = static_cast<float>(s * x);
        }
    }
    if (train_a) update(a_.data(), ga_.data(), ma_.data(), va_.data(), a_.size());
    if (train_b) update(b_.data(), gb_.data(), mb_.data(), vb_.data(), b_.size());
    recompute_weight();
}

void LowRankOptimizer::step_random(const float* grad) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    ++t_;
    const double sd = 1.0 / std::sqrt(static_cast<double>(r));  // N(0, 1/r) keeps E = −2·lr·G
    normal_draws(rng_, sd, u_.data(), u_.size());
    normal_draws(rng_, sd, v_.data(), v_.size());
    // Both products from the pre-step G, then W ← (1 − lr·wd)·W − lr·(G·Vᵀ)·V − lr·U·(Uᵀ·G).
    lora_factor_gradients(grad, u_.data(), v_.data(), n, m, r, ga_.data(), gb_.data());  // G·Vᵀ, Uᵀ·G
    const float lr = static_cast<float>(config_.lr);
    for (auto& x : ga_) x *= -lr;
    for (auto& x : gb_) x *= -lr;
    if (config_.weight_decay > 0) {
        const float decay = static_cast<float>(1.0 - config_.lr * config_.weight_decay);
        for (auto& x : w_) x *= decay;
    }
    low_rank_update(w_.data(), ga_.data(), v_.data(), n, m, r, 1.0f, w_.data());
    low_rank_update(w_.data(), u_.data(), gb_.data(), n, m, r, 1.0f, w_.data());
}

void LowRankOptimizer::refresh_projector(const float* grad) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    if (right_projection_) {
        top_singular_vectors(grad, n, m, r, rng_, nullptr, p_.data());  // P = Vh[:r, :]  r×m
    } else {
        top_singular_vectors(grad, n, m, r, rng_, p_.data(), nullptr);  // P = U[:, :r]   n×r
    }
}

void LowRankOptimizer::step_galore(const float* grad) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    if (t_ % static_cast<std::int64_t>(config_.update_proj_gap) == 0) refresh_projector(grad);
    // R = G·Pᵀ (n×r) or Pᵀ·G (r×m).
    if (right_projection_) {
        lora_factor_gradients(grad, nullptr, p_.data(), n, m, r, ga_.data(), nullptr);
    } else {
        lora_factor_gradients(grad, p_.data(), nullptr, n, m, r, nullptr, ga_.data());
    }
    ++t_;
    float coefficient;
    if (config_.base == LowRankBase::Adam) {
        // The reference AdamW: eps outside the sqrt, bias correction folded into the step size.
        adam_normalized_moments(ga_.data(), ma_.data(), va_.data(), ga_.size(), static_cast<float>(config_.beta1),
                                static_cast<float>(config_.beta2), static_cast<float>(config_.eps));
        const double t = static_cast<double>(t_);
        const double step_size = config_.lr * std::sqrt(1.0 - std::pow(config_.beta2, t)) /
                                 (1.0 - std::pow(config_.beta1, t));
        coefficient = static_cast<float>(-step_size * config_.scale);
    } else {
        coefficient = static_cast<float>(-config_.lr * config_.scale);
    }
    for (auto& x : ga_) x *= coefficient;
    if (right_projection_) {
        low_rank_update(w_.data(), ga_.data(), p_.data(), n, m, r, 1.0f, w_.data());  // W += N·P
    } else {
        low_rank_update(w_.data(), p_.data(), ga_.data(), n, m, r, 1.0f, w_.data());  // W += P·N
    }
    if (config_.weight_decay > 0) {
        const float decay = static_cast<float>(1.0 - config_.lr * config_.weight_decay);
        for (auto& x : w_) x *= decay;
    }
}

}  // namespace kexue
