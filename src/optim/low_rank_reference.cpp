// The double-precision twin of LowRankOptimizer; see low_rank_reference.hpp. Plain formulas over
// whole matrices: no fused kernels, no in-place tricks, no float rounding after the inputs.
#include "optim/low_rank_reference.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <xtensor/xadapt.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xview.hpp>

#include "optim/low_rank_draws.hpp"

namespace kexue {
namespace {

using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

MatrixD from_float(const float* x, std::size_t rows, std::size_t cols) {
    MatrixD out = xt::zeros<double>({rows, cols});
    std::copy(x, x + rows * cols, out.begin());
    return out;
}

// The exact thin SVD G = U·Σ·Vᵀ with each singular vector's largest-|·| entry (the first, on ties)
// positive, as the optimizer's convention. u: rows×k, v: cols×k.
void exact_top_singular_vectors(const MatrixD& g, std::size_t k, MatrixD& u, MatrixD& v) {
    const Eigen::Map<const RowMajorD> gm(g.data(), static_cast<Eigen::Index>(g.shape(0)),
                                         static_cast<Eigen::Index>(g.shape(1)));
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(gm, Eigen::ComputeThinU | Eigen::ComputeThinV);
    auto fixed = [k](const Eigen::MatrixXd& vectors) {
        MatrixD out = xt::zeros<double>({static_cast<std::size_t>(vectors.rows()), k});
        for (std::size_t j = 0; j < k; ++j) {
            Eigen::Index best = 0;
            for (Eigen::Index i = 1; i < vectors.rows(); ++i) {
                if (std::abs(vectors(i, j)) > std::abs(vectors(best, j))) best = i;
            }
            const double sign = vectors(best, j) < 0 ? -1.0 : 1.0;
            for (Eigen::Index i = 0; i < vectors.rows(); ++i) out(i, j) = sign * vectors(i, j);
        }
        return out;
    };
    u = fixed(svd.matrixU());
    v = fixed(svd.matrixV());
}

}  // namespace

MatrixD matmul_reference(const MatrixD& a, const MatrixD& b) {
    // C[i, j] = Σ_p A[i, p]·B[p, j], as a broadcast product m×k×n summed over its middle axis.
    return xt::sum(xt::view(a, xt::all(), xt::all(), xt::newaxis()) * xt::view(b, xt::newaxis(), xt::all(), xt::all()),
                   {1});
}

AdamReference::AdamReference(std::size_t count, const AdamOptions& options)
    : options_(options), m_(xt::zeros<double>({count})), v_(xt::zeros<double>({count})) {}

void AdamReference::step(double* parameters, const double* gradient) {
    ++t_;
    const std::size_t count = m_.size();
    auto p = xt::adapt(parameters, count, xt::no_ownership(), std::array<std::size_t, 1>{count});
    const auto g = xt::adapt(gradient, count, xt::no_ownership(), std::array<std::size_t, 1>{count});
    const double b1 = options_.beta1, b2 = options_.beta2, t = static_cast<double>(t_);
    m_ = b1 * m_ + (1 - b1) * g;
    v_ = b2 * v_ + (1 - b2) * g * g;
    p = (1 - options_.lr * options_.weight_decay) * p -
        options_.lr * (m_ / (1 - std::pow(b1, t))) / (xt::sqrt(v_ / (1 - std::pow(b2, t))) + options_.eps);
}

LowRankReference::LowRankReference(const LowRankConfig& config, const float* w0, const float* a0, const float* b0)
    : config_(low_rank_resolve(config)), rng_(config.seed) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    w_ = from_float(w0, n, m);
    w0p_ = w_;
    const bool factor_mode = config_.mode == LowRankMode::LoRA || config_.mode == LowRankMode::FixedA ||
                             config_.mode == LowRankMode::FixedB || config_.mode == LowRankMode::Additive;
    if (config_.mode == LowRankMode::Full) {
        ma_ = va_ = xt::zeros<double>({n, m});
    } else if (config_.mode == LowRankMode::GaLore) {
        const std::size_t projected_rows = n >= m ? n : r, projected_cols = n >= m ? r : m;
        ma_ = va_ = xt::zeros<double>({projected_rows, projected_cols});
    }
    if (!factor_mode) return;
    a_ = xt::zeros<double>({n, r});
    b_ = xt::zeros<double>({r, m});
    ma_ = va_ = a_;
    mb_ = vb_ = b_;
    if (config_.init == LowRankInit::LoRAGA) {
        pending_lora_ga_ = true;
        return;
    }
    if (a0 && b0) {
        a_ = from_float(a0, n, r);
        b_ = from_float(b0, r, m);
    } else if (config_.mode != LowRankMode::Additive) {
        // The optimizer's draws, in its order, rounded to float as its factors are.
        const bool symmetric = config_.init == LowRankInit::Symmetric;
        std::vector<float> draws(std::max(n * r, r * m));
        if (symmetric || config_.mode != LowRankMode::FixedB) {
            kaiming_uniform(rng_, n, draws.data(), n * r);
            a_ = from_float(draws.data(), n, r);
        }
        if (symmetric || config_.mode == LowRankMode::FixedB) {
            kaiming_uniform(rng_, r, draws.data(), r * m);
            b_ = from_float(draws.data(), r, m);
        }
    }
    if (config_.init == LowRankInit::Symmetric) w0p_ = w_ - config_.scale * matmul_reference(a_, b_);
    recompute_weight();
}

void LowRankReference::recompute_weight() {
    const double s = config_.scale;
    if (config_.mode == LowRankMode::Additive) {
        // w_ij = w0'_ij + s·(A[i, j mod r] + B[i mod r, j]): A repeated along the columns, B down the rows.
        const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
        xt::xtensor<double, 3> a_tiled = xt::broadcast(xt::view(a_, xt::all(), xt::newaxis(), xt::all()),
                                                       std::array<std::size_t, 3>{n, m / r, r});
        xt::xtensor<double, 3> b_tiled = xt::broadcast(xt::view(b_, xt::newaxis(), xt::all(), xt::all()),
                                                       std::array<std::size_t, 3>{n / r, r, m});
        w_ = w0p_ + s * (xt::reshape_view(a_tiled, {n, m}) + xt::reshape_view(b_tiled, {n, m}));
        return;
    }
    w_ = w0p_ + s * matmul_reference(a_, b_);
}

void LowRankReference::update(MatrixD& p, const MatrixD& g, MatrixD& m, MatrixD& v) const {
    const double lr = config_.lr, decay = 1 - config_.lr * config_.weight_decay;
    if (config_.base == LowRankBase::SGD) {
        p = decay * p - lr * g;
        return;
    }
    const double b1 = config_.beta1, b2 = config_.beta2, t = static_cast<double>(t_);
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    p = decay * p - lr * (m / (1 - std::pow(b1, t))) / (xt::sqrt(v / (1 - std::pow(b2, t))) + config_.eps);
}

void LowRankReference::step(const float* grad) {
    const std::size_t n = config_.rows, m = config_.cols, r = config_.rank;
    const MatrixD g = from_float(grad, n, m);
    const double s = config_.scale, lr = config_.lr, decay = 1 - config_.lr * config_.weight_decay;
    switch (config_.mode) {
        case LowRankMode::Full:
            ++t_;
            update(w_, g, ma_, va_);
            return;
        case LowRankMode::RandomProj: {
            ++t_;
            const double sd = 1.0 / std::sqrt(static_cast<double>(r));
            std::vector<float> u(n * r), v(r * m);
            normal_draws(rng_, sd, u.data(), u.size());
            normal_draws(rng_, sd, v.data(), v.size());
            const MatrixD ud = from_float(u.data(), n, r), vd = from_float(v.data(), r, m);
            // W ← (1 − lr·wd)·W − lr·(G·Vᵀ·V + U·Uᵀ·G)
            w_ = decay * w_ - lr * (matmul_reference(matmul_reference(g, xt::transpose(vd)), vd) +
                                    matmul_reference(ud, matmul_reference(xt::transpose(ud), g)));
            return;
        }
        case LowRankMode::GaLore: {
            const bool right = n >= m;
            if (t_ % static_cast<std::int64_t>(config_.update_proj_gap) == 0) {
                MatrixD u, v;
                exact_top_singular_vectors(g, r, u, v);
                p_ = right ? MatrixD(xt::transpose(v)) : u;  // r×m or n×r
            }
            // R = G·Pᵀ (n×r) or Pᵀ·G (r×m); W ← W + c·back(N), back(N) = N·P or P·N.
            const MatrixD projected = right ? matmul_reference(g, xt::transpose(p_))
                                            : matmul_reference(xt::transpose(p_), g);
            ++t_;
            MatrixD direction;
            double coefficient;
            if (config_.base == LowRankBase::Adam) {
                const double b1 = config_.beta1, b2 = config_.beta2, t = static_cast<double>(t_);
                ma_ = b1 * ma_ + (1 - b1) * projected;
                va_ = b2 * va_ + (1 - b2) * projected * projected;
                direction = ma_ / (xt::sqrt(va_) + config_.eps);
                coefficient = -lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)) * s;
            } else {
                direction = projected;
                coefficient = -lr * s;
            }
            w_ += coefficient * (right ? matmul_reference(direction, p_) : matmul_reference(p_, direction));
            w_ *= decay;
            return;
        }
        default: break;
    }
    if (pending_lora_ga_) {
        // A0 = U[:, :r], B0 = Vh[r:2r, :], W0' = W0 − s·A0·B0.
        MatrixD u, v;
        exact_top_singular_vectors(g, 2 * r, u, v);
        a_ = xt::view(u, xt::all(), xt::range(0, r));
        b_ = xt::transpose(xt::view(v, xt::all(), xt::range(r, 2 * r)));
        w0p_ = w0p_ - s * matmul_reference(a_, b_);
        pending_lora_ga_ = false;
    }
    ++t_;
    MatrixD ga, gb;
    if (config_.mode == LowRankMode::Additive) {
        // gA[i, k] = s·Σ_{j ≡ k (mod r)} G[i, j];  gB[k, j] = s·Σ_{i ≡ k (mod r)} G[i, j].
        ga = s * xt::sum(xt::reshape_view(g, {n, m / r, r}), {1});
        gb = s * xt::sum(xt::reshape_view(g, {n / r, r, m}), {0});
    } else {
        ga = s * matmul_reference(g, xt::transpose(b_));  // from the pre-step factors
        gb = s * matmul_reference(xt::transpose(a_), g);
    }
    if (config_.mode != LowRankMode::FixedA) update(a_, ga, ma_, va_);
    if (config_.mode != LowRankMode::FixedB) update(b_, gb, mb_, vb_);
    recompute_weight();
}

}  // namespace kexue
