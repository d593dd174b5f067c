// The double-precision twin of LowRankOptimizer (low_rank_optimizer.hpp), written with xtensor
// expressions straight from the formulas, for the tests to compare the float32 SIMD optimizer with.
// Every mode is covered: the random draws (Kaiming-uniform factors, the random projection's U and
// V) come from the same seeded generator and are rounded to float as the optimizer's are, and the
// SVDs (GaLore's projector, LoRA-GA's factors) are exact (Eigen JacobiSVD), which the optimizer's
// are for min(rows, cols) ≤ 64.
//
// Also the reference Adam (Kingma & Ba 2015, Algorithm 1 as written: m̂ = m/(1 − β1ᵗ),
// v̂ = v/(1 − β2ᵗ), p ← (1 − lr·wd)·p − lr·m̂/(√v̂ + eps)) in double, which the tests use when they
// backpropagate into the factors of y = x·(W0 + A·B).
#pragma once

#include <cstddef>
#include <cstdint>

#include <xtensor/xtensor.hpp>

#include "optim/adam.hpp"
#include "optim/low_rank_optimizer.hpp"

namespace kexue {

using MatrixD = xt::xtensor<double, 2>;

// A (m×k) · B (k×n).
MatrixD matmul_reference(const MatrixD& a, const MatrixD& b);

// Adam over `count` doubles (p, g row-major buffers, e.g. an Eigen row-major matrix's data()).
class AdamReference {
public:
    AdamReference(std::size_t count, const AdamOptions& options);
    void step(double* parameters, const double* gradient);

private:
    AdamOptions options_;
    xt::xtensor<double, 1> m_, v_;
    std::int64_t t_ = 0;
};

class LowRankReference {
public:
    // The same arguments as LowRankOptimizer's (float buffers: the optimizer's exact inputs).
    LowRankReference(const LowRankConfig& config, const float* w0, const float* a0 = nullptr,
                     const float* b0 = nullptr);

    // One update from G (rows×cols floats). The caller refuses non-finite gradients beforehand.
    void step(const float* grad);

    const MatrixD& weight() const { return w_; }
    const MatrixD& a() const { return a_; }
    const MatrixD& b() const { return b_; }
    const MatrixD& projector() const { return p_; }

private:
    void recompute_weight();
    // SGD or Adam with decoupled decay, on one parameter matrix and its moments.
    void update(MatrixD& p, const MatrixD& g, MatrixD& m, MatrixD& v) const;

    LowRankConfig config_;
    Xoshiro256 rng_;
    MatrixD w_, w0p_, a_, b_, p_, ma_, va_, mb_, vb_;
    bool pending_lora_ga_ = false;
    std::int64_t t_ = 0;
};

}  // namespace kexue
