// LoRA as an optimizer, and GaLore (kexue.fm/archives/9590, 10226; LoRA arXiv 2106.09685;
// GaLore arXiv 2403.03507 and jiaweizzhao/GaLore). The network is not changed: the optimizer
// receives the full gradient G = ∂L/∂W of one weight matrix and keeps low-rank factors (or a
// low-rank projection) as its state, so the optimizer memory is O((rows+cols)·r), not O(rows·cols).
//
// The parts, one file each:
//   low_rank_optimizer   the options (field list, validator, mode-dependent defaults) and the
//                        optimizer's step for each mode (this file)
//   low_rank_kernels     the fused kernels G·Bᵀ, Aᵀ·G and W = base + s·A·B, and their GEMM twins
//   low_rank_svd         top-k singular vectors (exact or randomized subspace iteration, Eigen)
//   low_rank_draws       the random factor draws (Kaiming-uniform, N(0, 1/r))
//   adam                 the Adam update (shared with the GAN trainer)
//   low_rank_reference   the double-precision twin of each deterministic mode (xtensor), for tests
//
// Shapes (row-major, Su's convention Y = X·W with row vectors):
//   W, W0, G     rows×cols
//   A            rows×r   (input side)        B   r×cols
//   GaLore P     r×cols when rows ≥ cols (right projector), rows×r otherwise (left projector)
//
// Modes (one call of step(G)):
//   Full        plain full-rank SGD / Adam on W (the baseline; state O(rows·cols)).
//   LoRA        gA = s·G·Bᵀ, gB = s·Aᵀ·G from the pre-step factors; update A, B; W = W0' + s·A·B,
//               recomputed from W0' every step (no drift from accumulated increments).
//   FixedA/B    only B (resp. A) is trained; W = W0' + s·A·B.
//   RandomProj  Su's re-initialised LoRA: fresh U (rows×r), V (r×cols) with N(0, 1/r) entries
//               each step, W ← W − lr·(G·Vᵀ·V + U·Uᵀ·G); E[ΔW] = −2·lr·G. SGD only.
//   Additive    Δw_ij = u_i + v_j, and for r > 1 (r | rows, r | cols)
//               W = W0' + s·(A·[I_r … I_r] + [I_r; …; I_r]·B), i.e. w_ij = w0'_ij + s·(A[i, j mod r]
//               + B[i mod r, j]); gA = s·G·[I_r … I_r]ᵀ, gB = s·[I_r; …; I_r]ᵀ·G.
//   GaLore      P = top-r singular vectors of the current G, refreshed every update_proj_gap steps
//               (largest-|·| entry of each vector positive); R = project(G); Adam moments in the
//               projected shape, kept across refreshes; W ← W − lr·√(1−β2ᵗ)/(1−β1ᵗ)·α·back(N),
//               N = M/(√V + eps); with SGD, W ← W − lr·α·back(R). Decay after the update.
//
// Base optimizers: SGD, and Adam with bias correction (adam.hpp; GaLore folds the correction into
// the step size as above). Weight decay is decoupled (AdamW): p ← p − lr·wd·p on the trained
// parameters (the factors for the factor modes, W for Full/RandomProj/GaLore), applied before the
// gradient update except for GaLore.
//
// Inits (factor modes): ZeroB — the trained factor B starts at 0 and A is random (for FixedB, the
// trained A starts at 0 and the fixed B is random), W0' = W0; Symmetric — both random and
// W0' = W0 − s·A0·B0, so W starts at W0; LoRAGA — at the first step, G0 = U·Σ·Vh gives A0 = U[:, :r],
// B0 = Vh[r:2r, :], W0' = W0 − s·A0·B0 (arXiv 2407.05000). Random factors are Kaiming-uniform
// (low_rank_draws.hpp). Given factors replace the random draws (W0' = W0 for ZeroB, W0 − s·A0·B0 for
// Symmetric).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"
#include "core/random.hpp"

namespace kexue {

enum class LowRankMode { Full, LoRA, FixedA, FixedB, RandomProj, Additive, GaLore };
// Auto is not a name: it is the default, 'adam', or 'sgd' for mode 'random' (low_rank_resolve).
enum class LowRankBase { SGD, Adam, Auto };
enum class LowRankInit { ZeroB, Symmetric, LoRAGA };

template <>
struct EnumNames<LowRankMode> {
    static constexpr EnumEntry<LowRankMode> entries[] = {
        {"full", LowRankMode::Full},       {"lora", LowRankMode::LoRA},           {"fixed-a", LowRankMode::FixedA},
        {"fixed-b", LowRankMode::FixedB},  {"random", LowRankMode::RandomProj},   {"additive", LowRankMode::Additive},
        {"galore", LowRankMode::GaLore}};
};
template <>
struct EnumNames<LowRankBase> {
    static constexpr EnumEntry<LowRankBase> entries[] = {{"sgd", LowRankBase::SGD}, {"adam", LowRankBase::Adam}};
};
template <>
struct EnumNames<LowRankInit> {
    static constexpr EnumEntry<LowRankInit> entries[] = {
        {"zero-b", LowRankInit::ZeroB}, {"symmetric", LowRankInit::Symmetric}, {"lora-ga", LowRankInit::LoRAGA}};
};

struct LowRankConfig {
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::size_t rank = 1;  // unused by Full (resolved to 1)
    LowRankMode mode = LowRankMode::LoRA;
    LowRankBase base = LowRankBase::Auto;
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    // NaN: the mode's default, 1e-6 for GaLore (its reference AdamW), 1e-8 otherwise. The JS
    // reader refuses non-finite numbers, so NaN only ever means "not given".
    double eps = std::numeric_limits<double>::quiet_NaN();
    double weight_decay = 0;
    double scale = 1;  // LoRA s (W = W0' + s·A·B), GaLore α; unused by Full and RandomProj
    std::size_t update_proj_gap = 200;
    LowRankInit init = LowRankInit::ZeroB;
    std::uint64_t seed = 0;
};

// The options of kx.LowRankOptimizer, by the names the JS API uses. `weight` and `factors` (the
// arrays) are the JS facade's.
template <typename Visitor>
void visit_fields(LowRankConfig& c, Visitor&& field) {
    field("rows", c.rows, kRequired | kPositive);
    field("cols", c.cols, kRequired | kPositive);
    field("rank", c.rank, kPositive);
    field("mode", c.mode);
    field("base", c.base);
    field("lr", c.lr, kRequired);
    field("beta1", c.beta1);
    field("beta2", c.beta2);
    field("eps", c.eps);
    field("weightDecay", c.weight_decay);
    field("scale", c.scale);
    field("updateProjGap", c.update_proj_gap, kPositive);
    field("init", c.init);
    field("seed", c.seed);
}

// The one place where defaults that depend on the mode are filled in: base Auto → 'sgd' for
// RandomProj, 'adam' otherwise; eps NaN → 1e-6 for GaLore, 1e-8 otherwise; rank → 1 for Full.
LowRankConfig low_rank_resolve(LowRankConfig config);

// The first rule the configuration breaks (after low_rank_resolve), or none: rows, cols ≥ 1;
// rank in [1, min(rows, cols)]; r dividing rows and cols for Additive; RandomProj with SGD only;
// lr, eps, weightDecay ≥ 0 and β in [0, 1), all finite; scale finite; updateProjGap ≥ 1; LoRA-GA
// only for LoRA/FixedA/FixedB and with 2r ≤ min(rows, cols); the weight and the optimizer's copies
// of it within the heap.
Error low_rank_validate(const LowRankConfig& config);

// When starting factors are given: only the factor modes take them, and not with LoRA-GA.
Error low_rank_factors_validate(const LowRankConfig& config);

// Floats of optimizer state the mode keeps (factors or projector, moments, per-step random
// factors). The weight W and the frozen base W0' are not counted: they are the model's weights.
//   Full        Adam 2·n·m, SGD 0
//   LoRA        (n+m)·r, ×3 with Adam (moments of A and B)
//   FixedA      (n+m)·r + 2·r·m with Adam          FixedB   (n+m)·r + 2·n·r with Adam
//   RandomProj  (n+m)·r (the current step's U and V)
//   Additive    (n+m)·r, ×3 with Adam
//   GaLore      min(n,m)·r (P) + 2·max(n,m)·r with Adam
std::size_t low_rank_state_floats(const LowRankConfig& config);

class LowRankOptimizer {
public:
    // w0: rows×cols. a0 (rows×r) and b0 (r×cols) are optional starting factors (both or neither)
    // for the factor modes. The configuration must pass low_rank_validate (and, with factors,
    // low_rank_factors_validate); it is resolved here (low_rank_resolve).
    LowRankOptimizer(const LowRankConfig& config, const float* w0, const float* a0 = nullptr,
                     const float* b0 = nullptr);

    // One update from the full gradient G (rows×cols). Returns −1, or the index of the first NaN
    // or ±∞ entry of G, in which case nothing changed (the step is refused).
    long step(const float* grad);

    // The resolved configuration.
    const LowRankConfig& config() const { return config_; }
    const std::vector<float>& weight() const { return w_; }
    // Factors (empty where the mode has none; GaLore's projector is projector()).
    const std::vector<float>& a() const { return a_; }
    const std::vector<float>& b() const { return b_; }
    const std::vector<float>& projector() const { return p_; }
    bool has_factors() const;
    std::size_t state_floats() const { return low_rank_state_floats(config_); }
    std::int64_t steps() const { return t_; }

private:
    void init_factors(const float* w0, const float* a0, const float* b0);
    void init_lora_ga(const float* grad);
    void step_factors(const float* grad);
    void step_full(const float* grad);
    void step_random(const float* grad);
    void step_galore(const float* grad);
    void refresh_projector(const float* grad);
    void recompute_weight();
    // p ← p − lr·g (SGD) or Adam (adam.hpp) at step t_, with decoupled decay first, over `count`
    // entries; m and v are Adam's moments (untouched by SGD).
    void update(float* p, const float* g, float* m, float* v, std::size_t count) const;

    LowRankConfig config_;
    Xoshiro256 rng_;
    std::vector<float> w_, w0p_, a_, b_, p_;
    std::vector<float> ma_, va_, mb_, vb_;  // Adam moments (Full and GaLore use ma_/va_)
    std::vector<float> ga_, gb_;            // scratch: factor gradients / projected gradient
    std::vector<float> u_, v_;              // RandomProj's per-step factors
    bool right_projection_ = false;
    bool pending_lora_ga_ = false;
    std::int64_t t_ = 0;
};

}  // namespace kexue
