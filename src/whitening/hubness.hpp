// Hubness of a point cloud (docs/math.md §7.10; kexue.fm/archives/9147; arXiv 2206.06014): the
// k-occurrence N_k(j) of point j counts the other points whose k nearest neighbours (self excluded,
// ties broken by (distance, index)) include j; its skewness E[(N_k − k)³]/σ³ measures hubs (a few
// points in many neighbour lists). Cosine similarity by default (the metric of sentence
// embeddings, before and after whitening), or Euclidean distance (§7.10's vector).
// Shapes (row-major): x rows × dim; counts rows. O(rows² · dim) time, O(rows) extra memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "core/options.hpp"

namespace kexue {

enum class HubnessMetric { cosine, euclidean };

template <>
struct EnumNames<HubnessMetric> {
    static constexpr EnumEntry<HubnessMetric> entries[] = {{"cosine", HubnessMetric::cosine},
                                                           {"euclidean", HubnessMetric::euclidean}};
};

// The options of kx.hubness(x, { rows, dim, k, metric }).
struct HubnessOptions {
    std::size_t rows = 0;
    std::size_t dim = 0;
    std::size_t k = 10;
    HubnessMetric metric = HubnessMetric::cosine;
};

template <typename Visitor>
void visit_fields(HubnessOptions& o, Visitor&& field) {
    field("rows", o.rows, kRequired | kPositive);
    field("dim", o.dim, kRequired | kPositive);
    field("k", o.k, kPositive);
    field("metric", o.metric);
}

// rows ≥ 2, 1 ≤ k < rows, x in the heap.
Error hubness_validate(const HubnessOptions& options);
// x finite, and no zero row for cosine (its direction is undefined).
Error hubness_input_validate(const float* x, const HubnessOptions& options);

struct HubnessSummary {
    double skewness;  // NaN when every count is k (σ = 0)
    double max;       // the largest k-occurrence
};

// counts: rows k-occurrences (they sum to rows·k).
HubnessSummary hubness(const float* x, const HubnessOptions& options, std::int32_t* counts);

}  // namespace kexue
