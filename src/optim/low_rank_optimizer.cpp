// LoRA as an optimizer and GaLore; see low_rank_optimizer.hpp for the formulas and shapes.
#include "optim/low_rank_optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Dense>
#include <Eigen/SVD>

#include "core/gemm.hpp"
#include "core/simd.hpp"

namespace kexue {
namespace {

using MatrixXdRow = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

bool is_factor_mode(LowRankMode mode) {
    return mode == LowRankMode::LoRA || mode == LowRankMode::FixedA || mode == LowRankMode::FixedB ||
           mode == LowRankMode::Additive;
}

bool finite_nonnegative(double x) { return std::isfinite(x) && x >= 0; }

std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Makes the largest-|·| entry (the first, on ties) of the vector v[0], v[stride], … positive.
void fix_sign(double* v, std::size_t count, std::size_t stride) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < count; ++i) {
        if (std::abs(v[i * stride]) > std::abs(v[best * stride])) best = i;
    }
    if (v[best * stride] < 0) {
        for (std::size_t i = 0; i < count; ++i) v[i * stride] = -v[i * stride];
    }
}

// Orthonormal basis of the columns of y (rows×k, k ≤ rows), thin Q of Householder QR.
Eigen::MatrixXd orthonormal_columns(const Eigen::MatrixXd& y) {
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(y);
    return qr.householderQ() * Eigen::MatrixXd::Identity(y.rows(), y.cols());
}

std::vector<float> to_float(const Eigen::MatrixXd& m) {  // row-major copy
    std::vector<float> out(static_cast<std::size_t>(m.size()));
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
        for (Eigen::Index j = 0; j < m.cols(); ++j) out[i * m.cols() + j] = static_cast<float>(m(i, j));
    }
    return out;
}

Eigen::MatrixXd from_float(const std::vector<float>& x, std::size_t rows, std::size_t cols) {
    Eigen::MatrixXd m(rows, cols);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < cols; ++j) m(i, j) = x[i * cols + j];
    }
    return m;
}

}  // namespace

Xoshiro256::Xoshiro256(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Xoshiro256::next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Xoshiro256::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Xoshiro256::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1], so the log is finite
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * 3.14159265358979323846 * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
}

const char* low_rank_config_error(const LowRankConfig& c) {
    if (c.rows == 0 || c.cols == 0) return "rows and cols must be positive";
    const std::size_t min_dim = std::min(c.rows, c.cols);
    if (c.mode != LowRankMode::Full && (c.rank < 1 || c.rank > min_dim)) {
        return "rank must be between 1 and min(rows, cols)";
    }
    if (c.mode == LowRankMode::Additive && (c.rows % c.rank != 0 || c.cols % c.rank != 0)) {
        return "additive mode needs rank to divide rows and cols";
    }
    if (c.init == LowRankInit::LoRAGA) {
        if (c.mode != LowRankMode::LoRA && c.mode != LowRankMode::FixedA && c.mode != LowRankMode::FixedB) {
            return "init lora-ga applies to the lora, fixed-a and fixed-b modes";
        }
        if (2 * c.rank > min_dim) return "init lora-ga needs 2*rank <= min(rows, cols)";
    }
    if (c.mode == LowRankMode::RandomProj && c.base != LowRankBase::SGD) return "random mode is SGD only";
    if (!finite_nonnegative(c.lr)) return "lr must be finite and non-negative";
    if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) return "betas must be in [0, 1)";
    if (!finite_nonnegative(c.eps)) return "eps must be finite and non-negative";
    if (!finite_nonnegative(c.weight_decay)) return "weightDecay must be finite and non-negative";
    if (!std::isfinite(c.scale)) return "scale must be finite";
    if (c.update_proj_gap < 1) return "updateProjGap must be positive";
    return nullptr;
}

std::size_t low_rank_state_floats(const LowRankConfig& c) {
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

void lora_factor_gradients_reference(const float* g, const float* a, const float* b, std::size_t rows,
                                     std::size_t cols, std::size_t r, float* ga, float* gb) {
    if (ga) gemm_f32({rows, cols, r, false, true}, g, b, ga);  // G·Bᵀ
    if (gb) gemm_f32({r, rows, cols, true, false}, a, g, gb);  // Aᵀ·G
}

void lora_factor_gradients(const float* g, const float* a, const float* b, std::size_t rows, std::size_t cols,
                           std::size_t r, float* ga, float* gb) {
    using simd::Vec;
    constexpr std::size_t W = simd::kVecWidth;
    const std::size_t vec_end = cols - cols % W;
    if (gb) std::fill(gb, gb + r * cols, 0.0f);
    std::vector<Vec> acc(ga ? r : 0);
    std::vector<float> tail(ga ? r : 0);
    for (std::size_t i = 0; i < rows; ++i) {
        const float* gi = g + i * cols;
        const float* ai = gb ? a + i * r : nullptr;
        for (auto& v : acc) v = Vec(0.0f);
        for (auto& t : tail) t = 0;
        for (std::size_t j = 0; j < vec_end; j += W) {
            const Vec gv = Vec::load_unaligned(gi + j);
            for (std::size_t k = 0; k < r; ++k) {
                if (ga) acc[k] = xsimd::fma(gv, Vec::load_unaligned(b + k * cols + j), acc[k]);
                if (gb) {
                    float* out = gb + k * cols + j;
                    xsimd::fma(Vec(ai[k]), gv, Vec::load_unaligned(out)).store_unaligned(out);
                }
            }
        }
        for (std::size_t j = vec_end; j < cols; ++j) {
            for (std::size_t k = 0; k < r; ++k) {
                if (ga) tail[k] += gi[j] * b[k * cols + j];
                if (gb) gb[k * cols + j] += ai[k] * gi[j];
            }
        }
        if (ga) {
            for (std::size_t k = 0; k < r; ++k) ga[i * r + k] = xsimd::hadd(acc[k]) + tail[k];
        }
    }
}

void low_rank_update_reference(const float* base, const float* a, const float* b, std::size_t rows,
                               std::size_t cols, std::size_t r, float scale, float* out) {
    std::vector<float> scaled_a(a, a + rows * r);
    for (auto& x : scaled_a) x *= scale;
    if (base != out) std::copy(base, base + rows * cols, out);
    gemm_f32({rows, r, cols}, scaled_a.data(), b, out, true);
}

void low_rank_update(const float* base, const float* a, const float* b, std::size_t rows, std::size_t cols,
                     std::size_t r, float scale, float* out) {
    using simd::Vec;
    constexpr std::size_t W = simd::kVecWidth;
    const std::size_t vec_end = cols - cols % W;
    std::vector<float> sa(r);
    for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t k = 0; k < r; ++k) sa[k] = scale * a[i * r + k];
        const float* base_row = base + i * cols;
        float* out_row = out + i * cols;
        for (std::size_t j = 0; j < vec_end; j += W) {
            Vec v = Vec::load_unaligned(base_row + j);
            for (std::size_t k = 0; k < r; ++k) v = xsimd::fma(Vec(sa[k]), Vec::load_unaligned(b + k * cols + j), v);
            v.store_unaligned(out_row + j);
        }
        for (std::size_t j = vec_end; j < cols; ++j) {
            float v = base_row[j];
            for (std::size_t k = 0; k < r; ++k) v += sa[k] * b[k * cols + j];
            out_row[j] = v;
        }
    }
}

void top_singular_vectors(const float* g, std::size_t rows, std::size_t cols, std::size_t k,
                          Xoshiro256& rng, float* left, float* right) {
    const std::size_t min_dim = std::min(rows, cols);
    constexpr std::size_t kOversample = 8;
    constexpr int kPowerIterations = 6;
    Eigen::MatrixXd u, v;  // rows×k and cols×k
    if (min_dim <= 64 || k + kOversample >= min_dim) {
        const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> gm(
            g, rows, cols);
        Eigen::BDCSVD<Eigen::MatrixXd> svd(gm.cast<double>(), Eigen::ComputeThinU | Eigen::ComputeThinV);
        u = svd.matrixU().leftCols(k);
        v = svd.matrixV().leftCols(k);
    } else {
        // Randomized range finder on G (float GEMMs), re-orthonormalised in double after every
        // product so the power iterations keep the small singular directions.
        const std::size_t kk = k + kOversample;
        std::vector<float> omega(cols * kk), y(rows * kk), z(cols * kk);
        for (auto& x : omega) x = static_cast<float>(rng.normal());
        gemm_f32({rows, cols, kk, false, false}, g, omega.data(), y.data());
        Eigen::MatrixXd q = orthonormal_columns(from_float(y, rows, kk));
        for (int it = 0; it < kPowerIterations; ++it) {
            const std::vector<float> qf = to_float(q);
            gemm_f32({cols, rows, kk, true, false}, g, qf.data(), z.data());  // Gᵀ·Q
            const std::vector<float> zf = to_float(orthonormal_columns(from_float(z, cols, kk)));
            gemm_f32({rows, cols, kk, false, false}, g, zf.data(), y.data());  // G·Z
            q = orthonormal_columns(from_float(y, rows, kk));
        }
        const std::vector<float> qf = to_float(q);
        std::vector<float> small(kk * cols);
        gemm_f32({kk, rows, cols, true, false}, qf.data(), g, small.data());  // Qᵀ·G
        Eigen::BDCSVD<Eigen::MatrixXd> svd(from_float(small, kk, cols), Eigen::ComputeThinU | Eigen::ComputeThinV);
        u = q * svd.matrixU().leftCols(k);
        v = svd.matrixV().leftCols(k);
    }
    for (std::size_t i = 0; i < k; ++i) {
        fix_sign(u.col(i).data(), rows, 1);
        fix_sign(v.col(i).data(), cols, 1);
    }
    if (left) {
        for (std::size_t i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < k; ++j) left[i * k + j] = static_cast<float>(u(i, j));
        }
    }
    if (right) {
        for (std::size_t i = 0; i < k; ++i) {
            for (std::size_t j = 0; j < cols; ++j) right[i * cols + j] = static_cast<float>(v(j, i));
        }
    }
}

LowRankOptimizer::LowRankOptimizer(const LowRankConfig& config, const float* w0, const float* a0,
                                   const float* b0)
    : config_(config), rng_(config.seed), w_(w0, w0 + config.rows * config.cols) {
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
        const double bound_a = 1.0 / std::sqrt(static_cast<double>(n));
        const double bound_b = 1.0 / std::sqrt(static_cast<double>(r));
        const bool symmetric = config_.init == LowRankInit::Symmetric;
        const bool random_a = symmetric || config_.mode != LowRankMode::FixedB;
        const bool random_b = symmetric || config_.mode == LowRankMode::FixedB;
        if (random_a) {
            for (auto& x : a_) x = static_cast<float>(bound_a * (2 * rng_.uniform() - 1));
        }
        if (random_b) {
            for (auto& x : b_) x = static_cast<float>(bound_b * (2 * rng_.uniform() - 1));
        }
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
    const float lr = static_cast<float>(config_.lr);
    const float decay = static_cast<float>(1.0 - config_.lr * config_.weight_decay);
    if (config_.base == LowRankBase::SGD) {
        for (std::size_t i = 0; i < count; ++i) p[i] = p[i] * decay - lr * g[i];
        return;
    }
    const double t = static_cast<double>(t_);
    const float b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
    const float step = static_cast<float>(config_.lr / (1.0 - std::pow(config_.beta1, t)));
    const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(config_.beta2, t)));
    const float eps = static_cast<float>(config_.eps);
    for (std::size_t i = 0; i < count; ++i) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
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
    for (auto& x : u_) x = static_cast<float>(sd * rng_.normal());
    for (auto& x : v_) x = static_cast<float>(sd * rng_.normal());
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
        const float b1 = static_cast<float>(config_.beta1), b2 = static_cast<float>(config_.beta2);
        const float eps = static_cast<float>(config_.eps);
        for (std::size_t i = 0; i < ga_.size(); ++i) {
            const float g = ga_[i];
            ma_[i] = b1 * ma_[i] + (1 - b1) * g;
            va_[i] = b2 * va_[i] + (1 - b2) * g * g;
            ga_[i] = ma_[i] / (std::sqrt(va_[i]) + eps);
        }
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
