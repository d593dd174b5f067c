#include "whitening/whitening.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <string>

#include <Eigen/Dense>

#include "core/gemm.hpp"
#include "whitening/symmetric_eigen.hpp"
#include "core/parallel.hpp"
#include "core/validate.hpp"

namespace kexue {
namespace {

using RowMajorMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows per chunk when add() is handed many rows: bounds the float64 scratch to 256×dim.
constexpr std::size_t kChunkRows = 256;

bool row_is_finite(const float* row, std::size_t dim) {
    for (std::size_t j = 0; j < dim; ++j)
        if (!std::isfinite(row[j])) return false;
    return true;
}

}  // namespace

WhiteningStats::WhiteningStats(std::size_t dim) : dim_(dim), mean_(dim, 0.0), m2_(dim * dim, 0.0) {}

long WhiteningStats::add(const float* x, std::size_t rows) {
    for (std::size_t i = 0; i < rows; ++i)
        if (!row_is_finite(x + i * dim_, dim_)) return static_cast<long>(i);

    // Large inputs: one accumulator per thread over a contiguous share of the rows, merged in
    // order afterwards (the pairwise update makes the split invisible up to float64 rounding).
    const std::size_t parts = std::min(thread_count(), rows / (4 * kChunkRows) + 1);
    if (parts > 1) {
        std::vector<WhiteningStats> partial(parts, WhiteningStats(dim_));
        const std::size_t share = (rows + parts - 1) / parts;
        parallel_for(parts, [&](std::size_t part) {
            const std::size_t begin = part * share;
            if (begin < rows) partial[part].add_finite_rows(x + begin * dim_, std::min(share, rows - begin));
        });
        for (const WhiteningStats& part : partial) merge(part);
        return -1;
    }
    add_finite_rows(x, rows);
    return -1;
}

void WhiteningStats::add_finite_rows(const float* x, std::size_t rows) {
    RowMajorMatrixXd centred;
    std::vector<double> chunk_mean(dim_), chunk_m2(dim_ * dim_);
    for (std::size_t start = 0; start < rows; start += kChunkRows) {
        const std::size_t count = std::min(kChunkRows, rows - start);
        const float* chunk = x + start * dim_;
        std::fill(chunk_mean.begin(), chunk_mean.end(), 0.0);
        for (std::size_t i = 0; i < count; ++i)
            for (std::size_t j = 0; j < dim_; ++j) chunk_mean[j] += chunk[i * dim_ + j];
        for (double& value : chunk_mean) value /= static_cast<double>(count);

        centred.resize(static_cast<Eigen::Index>(count), static_cast<Eigen::Index>(dim_));
        for (std::size_t i = 0; i < count; ++i)
            for (std::size_t j = 0; j < dim_; ++j)
                centred(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) =
                    static_cast<double>(chunk[i * dim_ + j]) - chunk_mean[j];
        // M2 of the chunk = Xcᵀ Xc, through Eigen's blocked symmetric rank-k update.
        Eigen::Map<RowMajorMatrixXd> m2(chunk_m2.data(), static_cast<Eigen::Index>(dim_),
                                        static_cast<Eigen::Index>(dim_));
        m2.setZero();
        m2.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
        m2.triangularView<Eigen::StrictlyUpper>() = m2.transpose();
        merge_chunk(count, chunk_mean, chunk_m2);
    }
}

Error whitening_moments_validate(std::size_t dim, std::size_t count, const double* mean, const double* m2) {
    if (Error e = positive("count", count)) return e;
    for (std::size_t j = 0; j < dim; ++j) {
        if (Error e = finite("mean[" + std::to_string(j) + "]", mean[j])) return e;
    }
    for (std::size_t i = 0; i < dim; ++i) {
        for (std::size_t j = 0; j < dim; ++j) {
            const double a = m2[i * dim + j], b = m2[j * dim + i];
            if (Error e = finite("m2[" + std::to_string(i * dim + j) + "]", a)) return e;
            if (i == j && a < 0) {
                return range_error("m2[" + std::to_string(i * dim + j) + "]", "≥ 0 (a diagonal entry of M2)", js_number(a));
            }
            if (std::abs(a - b) > 1e-9 * (std::abs(a) + std::abs(b)) + 1e-300) {
                return range_error_text("m2", "m2 must be symmetric: m2[" + std::to_string(i * dim + j) + "] = " +
                                                  js_number(a) + " but m2[" + std::to_string(j * dim + i) + "] = " +
                                                  js_number(b));
            }
        }
    }
    return {};
}

void WhiteningStats::merge(const WhiteningStats& other) {
    merge_chunk(other.count_, other.mean_, other.m2_);
}

// Chan et al.'s pairwise combination: with δ = μ_b − μ_a and n = n_a + n_b,
//   μ = μ_a + δ·n_b/n,   M2 = M2_a + M2_b + δᵀδ·n_a·n_b/n.
void WhiteningStats::merge_chunk(std::size_t chunk_count, const std::vector<double>& chunk_mean,
                                 const std::vector<double>& chunk_m2) {
    if (chunk_count == 0) return;
    if (count_ == 0) {
        count_ = chunk_count;
        mean_ = chunk_mean;
        m2_ = chunk_m2;
        return;
    }
    const double n_a = static_cast<double>(count_), n_b = static_cast<double>(chunk_count);
    const double n = n_a + n_b;
    std::vector<double> delta(dim_);
    for (std::size_t j = 0; j < dim_; ++j) delta[j] = chunk_mean[j] - mean_[j];
    const double weight = n_a * n_b / n;
    for (std::size_t i = 0; i < dim_; ++i)
        for (std::size_t j = 0; j < dim_; ++j)
            m2_[i * dim_ + j] += chunk_m2[i * dim_ + j] + delta[i] * delta[j] * weight;
    for (std::size_t j = 0; j < dim_; ++j) mean_[j] += delta[j] * (n_b / n);
    count_ += chunk_count;
}

Error whitening_stats_validate(const WhiteningStatsOptions& options) {
    if (Error e = positive("dim", options.dim)) return e;
    if (Error e = buffer_fits("the second-moment matrix", {{"dim", options.dim}, {"dim", options.dim}}, 8)) return e;
    // Statistics that can never be finalized are refused up front. The peak is the fit's: the
    // second moment M2, Σ_β, the eigensolver's matrix (it tridiagonalises a copy in place and
    // keeps the eigenvectors there) and its workspace, 4 dim² doubles, plus the dim×dim kernel.
    // add() needs 2 dim² (M2 and the chunk's), less.
    const std::uint64_t square = checked_product({options.dim, options.dim});
    return heap_budget("dim", checked_product({square, 5, 8}),
                       "the second moment, Σ, the eigendecomposition and the kernel (5 dim² doubles)");
}

Error whitening_add_validate(std::size_t dim, std::size_t rows) {
    if (Error e = positive("rows", rows)) return e;
    return buffer_fits("x", {{"rows", rows}, {"dim", dim}});
}

Error whitening_merge_validate(const WhiteningStats& stats, const WhiteningStats& other) {
    if (other.dim() == stats.dim()) return {};
    return range_error_text("other", "other must have dim = " + js_number(std::uint64_t(stats.dim())) +
                                         ", received dim " + js_number(std::uint64_t(other.dim())));
}

namespace {

Error k_validate(std::size_t dim, std::size_t k) {
    if (k <= dim) return {};
    return range_error("k", "between 1 and dim = " + js_number(std::uint64_t(dim)), js_number(std::uint64_t(k)));
}

Error ddof_validate(std::size_t ddof) {
    if (ddof <= 1) return {};
    return range_error("ddof", "0 or 1", js_number(std::uint64_t(ddof)));
}

Error kernel_fits(std::size_t dim, std::size_t k) {
    return buffer_fits("the kernel", {{"dim", dim}, {"k", k == 0 ? dim : k}}, 8);
}

}  // namespace

Error whitening_options_validate(std::size_t dim, const WhiteningOptions& options) {
    if (Error e = finite("beta", options.beta)) return e;
    if (Error e = finite("gamma", options.gamma)) return e;
    if (Error e = k_validate(dim, options.k)) return e;
    if (Error e = ddof_validate(options.ddof)) return e;
    return kernel_fits(dim, options.k);
}

Error whitening_fit_options_validate(const WhiteningFitOptions& options) {
    if (Error e = whitening_add_validate(options.dim, options.rows)) return e;
    if (Error e = whitening_stats_validate({options.dim})) return e;
    return whitening_options_validate(options.dim, options.whitening);
}

Error whitening_fit_validate(const WhiteningStats& stats, const WhiteningOptions& options) {
    if (Error e = whitening_options_validate(stats.dim(), options)) return e;
    const std::uint64_t count = stats.count();
    if (count <= options.ddof) {
        return range_error_text("rows", "needs more than ddof = " + js_number(std::uint64_t(options.ddof)) +
                                            " rows, received " + js_number(count));
    }
    if (count < 2 && options.beta == 1 && options.gamma > 0) {
        return range_error_text("rows", "with beta = 1 and gamma > 0 at least 2 rows are needed (one row has zero "
                                        "variance about its mean), received " + js_number(count));
    }
    return {};
}

Error whitening_spread_validate(const WhiteningFit& fit, const WhiteningOptions& options) {
    if (options.gamma > 0 && (fit.eigenvalues.empty() || !(fit.eigenvalues[0] > 0))) {
        return range_error_text("gamma", "the rows have zero spread about beta·mean, so gamma = " +
                                             js_number(options.gamma) +
                                             " > 0 would divide by zero; use more varied rows or gamma = 0");
    }
    // W = U·Λ^(−γ/2) grows as the data shrinks: rows of scale 1e-39 give |w| ≈ 1e39, past float32,
    // and the float32 transform would write Infinity and NaN (issue 18). Refused with the remedy.
    double largest = 0;
    for (const double w : fit.kernel) largest = std::max(largest, std::fabs(w));
    if (largest <= kFloat32Max) return {};
    return range_error_text("x", "the rows' spread is too small for a float32 model: the kernel reaches |w| = " +
                                     js_number(largest) + ", past the float32 range (" + js_number(kFloat32Max) +
                                     "); multiply the rows by a constant (whitening only rescales) or use gamma = 0");
}

Error whitening_model_range_validate(std::size_t dim, std::size_t k, const double* kernel, const double* center,
                                     const double* mean, const double* eigenvalues, bool kernel_bias) {
    const auto index = [](std::size_t i) { return "[" + js_number(std::uint64_t(i)) + "]"; };
    for (std::size_t i = 0; i < dim * k; ++i) {
        const std::string name = kernel_bias ? "kernel" + index(i / k) + index(i % k) : "kernel" + index(i);
        if (Error e = float32_range(name, kernel[i])) return e;
    }
    for (std::size_t i = 0; i < dim; ++i) {
        if (Error e = float32_range((kernel_bias ? "bias" : "center") + index(i), kernel_bias ? -center[i] : center[i])) {
            return e;
        }
        if (mean) {
            if (Error e = float32_range("mean" + index(i), mean[i])) return e;
        }
        if (eigenvalues) {
            if (Error e = float32_range("eigenvalues" + index(i), eigenvalues[i])) return e;
        }
    }
    return {};
}

Error whitening_transform_validate(std::size_t dim, std::size_t k, const WhiteningTransformOptions& options) {
    if (Error e = positive("rows", options.rows)) return e;
    if (Error e = buffer_fits("x", {{"rows", options.rows}, {"dim", dim}})) return e;
    return buffer_fits("the result", {{"rows", options.rows}, {"k", k}});
}

Error whitening_model_validate(const WhiteningModelInfo& model) {
    if (Error e = positive("dim", model.dim)) return e;
    if (Error e = k_validate(model.dim, model.k)) return e;
    if (model.beta) {
        if (Error e = finite("beta", *model.beta)) return e;
    }
    if (model.gamma) {
        if (Error e = finite("gamma", *model.gamma)) return e;
    }
    if (model.ddof) {
        if (Error e = ddof_validate(*model.ddof)) return e;
    }
    if (model.count) {
        if (Error e = positive("count", *model.count)) return e;
    }
    return kernel_fits(model.dim, model.k);
}

Error whitening_json_validate(const WhiteningJsonHeader& header) {
    if (header.format != std::optional<std::string>(kWhiteningFormat)) {
        return range_error("format", std::string("\"") + kWhiteningFormat + "\"",
                           header.format ? "\"" + *header.format + "\"" : "undefined");
    }
    if (header.version != std::optional<double>(kWhiteningFormatVersion)) {
        return range_error("version", js_number(kWhiteningFormatVersion),
                           header.version ? js_number(*header.version) : "undefined");
    }
    return {};
}

Error whitening_eigenvalues_validate(const double* eigenvalues, std::size_t dim) {
    for (std::size_t i = 1; i < dim; ++i) {
        if (eigenvalues[i] > eigenvalues[i - 1]) {
            const std::string at = "eigenvalues[" + std::to_string(i) + "]";
            const std::string before = "eigenvalues[" + std::to_string(i - 1) + "]";
            return range_error_text("eigenvalues", "eigenvalues must be in descending order, but " + at + " = " +
                                                       js_number(eigenvalues[i]) + " > " + before + " = " +
                                                       js_number(eigenvalues[i - 1]));
        }
    }
    return {};
}

WhiteningFit whitening_fit(const WhiteningStats& stats, const WhiteningOptions& options) {
    const std::size_t dim = stats.dim();
    const std::size_t k = options.k == 0 ? dim : options.k;
    assert(k <= dim && stats.count() > options.ddof);  // whitening_fit_validate
    const auto d = static_cast<Eigen::Index>(dim);
    const double n = static_cast<double>(stats.count());
    const double shift = 1.0 - options.beta;

    // Σ_β = (M2 + N(1 − β)² μᵀμ) / (N − ddof): the second moment about βμ (kexue.fm/archives/9079).
    Eigen::Map<const RowMajorMatrixXd> m2(stats.centred_second_moment().data(), d, d);
    Eigen::Map<const Eigen::VectorXd> mu(stats.mean().data(), d);
    const Eigen::MatrixXd sigma =
        (m2 + n * shift * shift * (mu * mu.transpose())) / (n - static_cast<double>(options.ddof));

    // All eigenvalues (descending) and the k leading eigenvectors (whitening/symmetric_eigen.hpp:
    // tridiagonalisation, inverse iteration for the k vectors only, Eigen's solver as fallback).
    const SymmetricEigenTop eigen = symmetric_eigen_top(sigma, k);

    WhiteningFit fit;
    fit.dim = dim;
    fit.k = k;
    fit.mean = stats.mean();
    fit.eigenvalues.resize(dim);
    fit.center.resize(dim);
    fit.kernel.assign(dim * k, 0.0);
    for (std::size_t j = 0; j < dim; ++j) {
        fit.eigenvalues[j] = eigen.values(static_cast<Eigen::Index>(j));
        fit.center[j] = options.beta * fit.mean[j];
    }
    const double lambda_max = std::max(fit.eigenvalues[0], 0.0);
    const double floor = options.eigenvalue_floor * lambda_max;
    for (std::size_t col = 0; col < k; ++col) {
        const auto source = static_cast<Eigen::Index>(col);
        const Eigen::MatrixXd& vectors = eigen.vectors;
        // Deterministic signs: the largest-magnitude entry of each eigenvector is positive.
        Eigen::Index largest = 0;
        vectors.col(source).cwiseAbs().maxCoeff(&largest);
        const double sign = vectors(largest, source) < 0 ? -1.0 : 1.0;
        const double lambda = std::max(fit.eigenvalues[col], floor);
        // λ^(−γ/2); a zero spectrum (floor 0) with γ > 0 is rejected by the caller.
        const double scale = options.gamma == 0.0 ? 1.0 : std::pow(lambda, -options.gamma / 2.0);
        for (std::size_t row = 0; row < dim; ++row)
            fit.kernel[row * k + col] = sign * vectors(static_cast<Eigen::Index>(row), source) * scale;
    }
    return fit;
}

WhiteningTransform::WhiteningTransform(std::size_t dim, std::size_t k, const double* kernel,
                                       const double* center)
    : dim_(dim), k_(k), kernel_(dim * k), offset_(k) {
    for (std::size_t i = 0; i < dim * k; ++i) kernel_[i] = static_cast<float>(kernel[i]);
    for (std::size_t col = 0; col < k; ++col) {
        double sum = 0.0;
        for (std::size_t row = 0; row < dim; ++row) sum += center[row] * kernel[row * k + col];
        offset_[col] = static_cast<float>(-sum);
    }
}

void WhiteningTransform::apply(const float* x, std::size_t rows, float* y, bool normalize) const {
    // y starts as the offset row, then the GEMM accumulates x·W_k onto it.
    for (std::size_t i = 0; i < rows; ++i) std::copy(offset_.begin(), offset_.end(), y + i * k_);
    gemm_f32({rows, dim_, k_}, x, kernel_.data(), y, /*accumulate=*/true);
    if (!normalize) return;
    for (std::size_t i = 0; i < rows; ++i) {
        float* row = y + i * k_;
        double norm = 0.0;
        for (std::size_t j = 0; j < k_; ++j) norm += static_cast<double>(row[j]) * row[j];
        const float inverse = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-8));
        for (std::size_t j = 0; j < k_; ++j) row[j] *= inverse;
    }
}

}  // namespace kexue
