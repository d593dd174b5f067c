// BERT-whitening with the β, γ, k hyperparameters (Su et al., arXiv 2103.15316; kexue.fm/archives
// 8069 and 9079).
//
// Shapes (row-major): x is rows×dim (one sentence vector per row); the model is the affine map
//   y = (x − βμ) · W_k,   W_k = U[:, :k] · Λ[:k]^(−γ/2)   (dim×k),
// where U Λ Uᵀ is the eigendecomposition of the second moment about βμ,
//   Σ_β = (1/(N − ddof)) Σ_i (x_i − βμ)ᵀ(x_i − βμ) = (M2 + N(1 − β)² μᵀμ) / (N − ddof),
// with M2 = Σ_i (x_i − μ)ᵀ(x_i − μ) the centred second moment.
#pragma once

#include <cstddef>
#include <vector>

namespace kexue {

// Streaming, mergeable statistics of a set of row vectors, in float64: count N, mean μ (dim) and
// centred second moment M2 (dim×dim, symmetric, stored in full). Chunks are combined with Chan,
// Golub & LeVeque's pairwise update, so add() in any chunking and merge() of accumulators fed with
// disjoint parts give the one-shot statistics up to float64 rounding.
class WhiteningStats {
public:
    explicit WhiteningStats(std::size_t dim);

    // Adds rows×dim float32 rows. Returns −1, or the index of the first row holding NaN or ±∞,
    // in which case nothing was added.
    long add(const float* x, std::size_t rows);

    // Folds another accumulator of the same dim into this one.
    void merge(const WhiteningStats& other);

    std::size_t dim() const { return dim_; }
    std::size_t count() const { return count_; }
    const std::vector<double>& mean() const { return mean_; }
    const std::vector<double>& centred_second_moment() const { return m2_; }

private:
    void add_finite_rows(const float* x, std::size_t rows);
    void merge_chunk(std::size_t chunk_count, const std::vector<double>& chunk_mean,
                     const std::vector<double>& chunk_m2);

    std::size_t dim_;
    std::size_t count_ = 0;
    std::vector<double> mean_;
    std::vector<double> m2_;
};

struct WhiteningOptions {
    double beta = 1.0;
    double gamma = 1.0;
    std::size_t k = 0;            // 0 means dim
    std::size_t ddof = 0;         // 0: divide by N (the article); 1: by N − 1 (np.cov, the reference code)
    double eigenvalue_floor = 1e-12;  // eigenvalues below floor·λ_max are raised to it before ^(−γ/2)
};

struct WhiteningFit {
    std::size_t dim = 0;
    std::size_t k = 0;
    std::vector<double> mean;         // μ (dim)
    std::vector<double> eigenvalues;  // of Σ_β, descending, unclamped (dim)
    std::vector<double> center;       // βμ (dim)
    std::vector<double> kernel;       // W_k (dim×k, row-major)
};

// Requires stats.count() > ddof; the caller validates k ∈ [1, dim].
WhiteningFit whitening_fit(const WhiteningStats& stats, const WhiteningOptions& options);

// The fitted affine map, kept in float32 for the SIMD GEMM: y = x·W_k − (βμ)·W_k.
class WhiteningTransform {
public:
    WhiteningTransform(std::size_t dim, std::size_t k, const double* kernel, const double* center);

    // x: rows×dim → y: rows×k; with `normalize`, each output row is divided by max(‖y‖, 1e-8)
    // (the reference code's transform_and_normalize).
    void apply(const float* x, std::size_t rows, float* y, bool normalize) const;

    std::size_t dim() const { return dim_; }
    std::size_t k() const { return k_; }

private:
    std::size_t dim_;
    std::size_t k_;
    std::vector<float> kernel_;  // dim×k
    std::vector<float> offset_;  // −(βμ)·W_k, computed in float64 (k)
};

}  // namespace kexue
