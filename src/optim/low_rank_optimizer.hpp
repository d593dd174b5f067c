// LoRA as an optimizer, and GaLore (kexue.fm/archives/9590, 10226; LoRA arXiv 2106.09685;
// GaLore arXiv 2403.03507 and jiaweizzhao/GaLore). The network is not changed: the optimizer
// receives the full gradient G = ∂L/∂W of one weight matrix and keeps low-rank factors (or a
// low-rank projection) as its state, so the optimizer memory is O((rows+cols)·r), not O(rows·cols).
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
// Base optimizers: SGD, and Adam with bias correction (m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ),
// p ← p − lr·m̂/(√v̂ + eps); GaLore folds the correction into the step size as above). Weight decay
// is decoupled (AdamW): p ← p − lr·wd·p on the trained parameters (the factors for the factor
// modes, W for Full/RandomProj/GaLore), applied before the gradient update except for GaLore.
//
// Inits (factor modes): ZeroB — the trained factor B starts at 0 and A is random (for FixedB, the
// trained A starts at 0 and the fixed B is random), W0' = W0; Symmetric — both random and
// W0' = W0 − s·A0·B0, so W starts at W0; LoRAGA — at the first step, G0 = U·Σ·Vh gives A0 = U[:, :r],
// B0 = Vh[r:2r, :], W0' = W0 − s·A0·B0. Random factors are Kaiming-uniform, U(−1/√fan_in, 1/√fan_in)
// with fan_in = rows for A and r for B (as peft). Given factors replace the random draws (W0' = W0
// for ZeroB, W0 − s·A0·B0 for Symmetric).
//
// Random numbers: xoshiro256** seeded through splitmix64 (the same integer stream on every
// platform), normals by Box–Muller in double (log/sin/cos from the platform's libm, so native and
// WASM draws can differ in the last bits of a double, which float32 factors almost never see).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kexue {

enum class LowRankMode { Full, LoRA, FixedA, FixedB, RandomProj, Additive, GaLore };
enum class LowRankBase { SGD, Adam };
enum class LowRankInit { ZeroB, Symmetric, LoRAGA };

struct LowRankConfig {
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::size_t rank = 1;  // unused by Full
    LowRankMode mode = LowRankMode::LoRA;
    LowRankBase base = LowRankBase::Adam;
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0;
    double scale = 1;  // LoRA s (W = W0' + s·A·B), GaLore α; unused by Full and RandomProj
    std::size_t update_proj_gap = 200;
    LowRankInit init = LowRankInit::ZeroB;
    std::uint64_t seed = 0;
};

// nullptr when the configuration is usable, otherwise why not (rank out of [1, min(rows, cols)],
// r not dividing rows and cols for Additive, 2r > min(rows, cols) for LoRA-GA, Adam with
// RandomProj, non-positive gap, β outside [0, 1), negative lr/eps/decay, …).
const char* low_rank_config_error(const LowRankConfig& config);

// Floats of optimizer state the mode keeps (factors or projector, moments, per-step random
// factors). The weight W and the frozen base W0' are not counted: they are the model's weights.
//   Full        Adam 2·n·m, SGD 0
//   LoRA        (n+m)·r, ×3 with Adam (moments of A and B)
//   FixedA      (n+m)·r + 2·r·m with Adam          FixedB   (n+m)·r + 2·n·r with Adam
//   RandomProj  (n+m)·r (the current step's U and V)
//   Additive    (n+m)·r, ×3 with Adam
//   GaLore      min(n,m)·r (P) + 2·max(n,m)·r with Adam
std::size_t low_rank_state_floats(const LowRankConfig& config);

// xoshiro256** with splitmix64 seeding; normal() is Box–Muller in double (both outputs used).
class Xoshiro256 {
public:
    explicit Xoshiro256(std::uint64_t seed);
    std::uint64_t next();
    double uniform();  // [0, 1), 53 bits
    double normal();
private:
    std::uint64_t s_[4];
    double spare_ = 0;
    bool has_spare_ = false;
};

class LowRankOptimizer {
public:
    // w0: rows×cols. a0 (rows×r) and b0 (r×cols) are optional starting factors (both or neither)
    // for the factor modes. The configuration must pass low_rank_config_error.
    LowRankOptimizer(const LowRankConfig& config, const float* w0, const float* a0 = nullptr,
                     const float* b0 = nullptr);

    // One update from the full gradient G (rows×cols). Returns −1, or the index of the first NaN
    // or ±∞ entry of G, in which case nothing changed (the step is refused).
    long step(const float* grad);

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
    // p ← p − lr·g (SGD) or Adam with bias correction at step t_, with decoupled decay first, over
    // `count` entries; m and v are Adam's moments (untouched by SGD).
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

// The two factor gradients of LoRA in one pass over G (the step is memory-bound on G):
//   ga (rows×r) = G·Bᵀ   and   gb (r×cols) = Aᵀ·G,   G rows×cols, A rows×r, B r×cols.
// Either output may be null (not computed; its factor may then be null too). SIMD over cols;
// lora_factor_gradients_reference is its twin through the GEMM.
void lora_factor_gradients(const float* g, const float* a, const float* b, std::size_t rows, std::size_t cols,
                           std::size_t r, float* ga, float* gb);
void lora_factor_gradients_reference(const float* g, const float* a, const float* b, std::size_t rows,
                                     std::size_t cols, std::size_t r, float* ga, float* gb);

// out = base + scale·A·B (rows×cols), A rows×r, B r×cols, in one pass over out; base may be out
// (an in-place update). low_rank_update_reference is its GEMM twin (base must not alias a or b).
void low_rank_update(const float* base, const float* a, const float* b, std::size_t rows, std::size_t cols,
                     std::size_t r, float scale, float* out);
void low_rank_update_reference(const float* base, const float* a, const float* b, std::size_t rows,
                               std::size_t cols, std::size_t r, float scale, float* out);

// Top-k singular vectors of a rows×cols float matrix (k ≤ min(rows, cols)), with the
// largest-|·| entry of each vector positive. left: rows×k (columns are the vectors); right: k×cols
// (rows are the vectors). Exact (Eigen BDCSVD in double) when min(rows, cols) ≤ 64 or k + 8 ≥
// min(rows, cols); otherwise a randomized subspace iteration (Halko, Martinsson & Tropp 2011:
// oversampling 8, 6 power iterations with QR re-orthonormalisation) finished by an exact SVD of the
// small projected matrix. Either output may be null.
void top_singular_vectors(const float* g, std::size_t rows, std::size_t cols, std::size_t k,
                          Xoshiro256& rng, float* left, float* right);

}  // namespace kexue
