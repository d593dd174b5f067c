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
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/options.hpp"

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

    // Folds statistics given as (count, mean μ, centred second moment M2) into this one — the state
    // WhiteningStats.toJSON writes, or a partial computed elsewhere (whitening_moments_validate).
    void merge_moments(std::size_t count, const std::vector<double>& mean, const std::vector<double>& m2) {
        merge_chunk(count, mean, m2);
    }

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

// Statistics to merge (WhiteningStats.fromJSON): count ≥ 1, mean of dim finite numbers, m2 of
// dim × dim finite numbers, symmetric (to 1e-9 relative) with a non-negative diagonal.
Error whitening_moments_validate(std::size_t dim, std::size_t count, const double* mean, const double* m2);

// The options of `new kx.WhiteningStats(dim)`.
struct WhiteningStatsOptions {
    std::size_t dim = 0;
};

template <typename Visitor>
void visit_fields(WhiteningStatsOptions& o, Visitor&& field) {
    field("dim", o.dim, kRequired | kPositive);
}

// dim ≥ 1 and the float64 dim×dim second moment fits in the heap.
Error whitening_stats_validate(const WhiteningStatsOptions& options);
// WhiteningStats.add(x, rows): rows ≥ 1 and x (rows×dim) fits. The values are checked by
// finite_rows (core/validate.hpp) once they are in memory.
Error whitening_add_validate(std::size_t dim, std::size_t rows);

// WhiteningStats.merge(other): the same dim.
Error whitening_merge_validate(const WhiteningStats& stats, const WhiteningStats& other);

struct WhiteningOptions {
    double beta = 1.0;
    double gamma = 1.0;
    std::size_t k = 0;            // 0 means dim
    std::size_t ddof = 0;         // 0: divide by N (the article); 1: by N − 1 (np.cov, the reference code)
    double eigenvalue_floor = 1e-12;  // eigenvalues below floor·λ_max are raised to it before ^(−γ/2) (not an option)
};

// The options of WhiteningStats.finalize (and of Whitening.fit, after rows and dim).
template <typename Visitor>
void visit_fields(WhiteningOptions& o, Visitor&& field) {
    field("beta", o.beta);
    field("gamma", o.gamma);
    field("k", o.k, kPositive);
    field("ddof", o.ddof);
}

// β, γ finite; k ∈ [1, dim] (0 = dim); ddof ∈ {0, 1}; the dim×k float64 kernel fits.
Error whitening_options_validate(std::size_t dim, const WhiteningOptions& options);

// The options of Whitening.fit(x, { rows, dim, ...WhiteningOptions }).
struct WhiteningFitOptions {
    std::size_t rows = 0;
    std::size_t dim = 0;
    WhiteningOptions whitening;
};

template <typename Visitor>
void visit_fields(WhiteningFitOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("dim", o.dim, kRequired | kPositive);
    visit_fields(o.whitening, field);
}

Error whitening_fit_options_validate(const WhiteningFitOptions& options);

// The options of Whitening.transform(x, { rows, normalize }).
struct WhiteningTransformOptions {
    std::size_t rows = 0;
    bool normalize = false;
};

template <typename Visitor>
void visit_fields(WhiteningTransformOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("normalize", o.normalize);
}

// rows ≥ 1; x (rows×dim) and the result (rows×k) fit.
Error whitening_transform_validate(std::size_t dim, std::size_t k, const WhiteningTransformOptions& options);

// What describes a fitted or imported model besides its arrays: `.options` of a Whitening and the
// header of its JSON form. beta, gamma, ddof and count are null for a model imported from the
// reference code's { kernel, bias }.
struct WhiteningModelInfo {
    std::size_t dim = 0;
    std::size_t k = 0;  // 0 means dim
    std::optional<double> beta;
    std::optional<double> gamma;
    std::optional<std::size_t> ddof;
    std::optional<std::size_t> count;
};

template <typename Visitor>
void visit_fields(WhiteningModelInfo& o, Visitor&& field) {
    field("dim", o.dim, kRequired | kPositive);
    field("k", o.k, kPositive);
    field("beta", o.beta);
    field("gamma", o.gamma);
    field("ddof", o.ddof);
    field("count", o.count, kPositive);
}

// dim ≥ 1, k ∈ [1, dim] (0 = dim), ddof ∈ {0, 1} and count ≥ 1 when given, the kernel fits.
Error whitening_model_validate(const WhiteningModelInfo& model);

// The JSON form (Whitening#toJSON): { format: "kexue-whitening", version: 1, ...WhiteningModelInfo,
// mean, eigenvalues, center, kernel }; the arrays are read by the JS facade.
constexpr const char* kWhiteningFormat = "kexue-whitening";
constexpr double kWhiteningFormatVersion = 1;

struct WhiteningJsonHeader {
    std::optional<std::string> format;
    std::optional<double> version;
};

template <typename Visitor>
void visit_fields(WhiteningJsonHeader& o, Visitor&& field) {
    field("format", o.format);
    field("version", o.version);
}

// format and version are this package's (checked before the model's fields, so that a file of
// another kind is refused as such).
Error whitening_json_validate(const WhiteningJsonHeader& header);
// Eigenvalues (dim) of a saved model are in descending order.
Error whitening_eigenvalues_validate(const double* eigenvalues, std::size_t dim);
// An imported model's arrays (kernel dim×k, center dim; mean, eigenvalues dim or nullptr) within
// float32's range: the transform and the mean getter run in float32. kernel_bias: the model came
// from fromKernelBias, whose kernel is dim rows of k ("kernel[i][j]") and whose center is −bias.
Error whitening_model_range_validate(std::size_t dim, std::size_t k, const double* kernel, const double* center,
                                     const double* mean, const double* eigenvalues, bool kernel_bias);

struct WhiteningFit {
    std::size_t dim = 0;
    std::size_t k = 0;
    std::vector<double> mean;         // μ (dim)
    std::vector<double> eigenvalues;  // of Σ_β, descending, unclamped (dim)
    std::vector<double> center;       // βμ (dim)
    std::vector<double> kernel;       // W_k (dim×k, row-major)
};

// The options are valid for the statistics: whitening_options_validate, more than ddof rows, and
// at least 2 rows when β = 1 and γ > 0 (one row has zero variance about its mean).
Error whitening_fit_validate(const WhiteningStats& stats, const WhiteningOptions& options);

// Requires whitening_fit_validate.
WhiteningFit whitening_fit(const WhiteningStats& stats, const WhiteningOptions& options);

// After the fit: γ > 0 needs a positive spread about βμ (λ_max > 0), or W_k would divide by zero.
Error whitening_spread_validate(const WhiteningFit& fit, const WhiteningOptions& options);

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
