// The validators of the whitening entry points (whitening.hpp), called directly: each error names
// its parameter, with the text the JS API throws after "<function>: ".
#include <gtest/gtest.h>

#include "../helpers/validation.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "core/validate.hpp"
#include "whitening/whitening.hpp"

namespace kexue {
namespace {

using testing::expect_error;
using testing::field_names;



WhiteningStats stats_of(std::size_t rows) {
    WhiteningStats stats(2);
    const std::vector<float> x{3, 3, 1, 1, 2, 3, 2, 1};
    stats.add(x.data(), rows);
    return stats;
}

TEST(WhiteningValidate, StatsAddMerge) {
    EXPECT_EQ(field_names(WhiteningStatsOptions{}), (std::vector<std::string>{"dim"}));
    EXPECT_FALSE(whitening_stats_validate({768}));
    expect_error(whitening_stats_validate({0}), ErrorKind::range, "dim", "dim must be a positive integer, received 0");
    expect_error(whitening_stats_validate({1 << 15}), ErrorKind::range, "the second-moment matrix",
                 "the second-moment matrix of shape dim=32768 × dim=32768 needs 1073741824 doubles (8589934592 "
                 "bytes), more than the 2 GiB WASM heap can hold");
    // dim 16384: M2 alone is exactly the heap; the fit needs 5 dim² doubles (issue 18).
    expect_error(whitening_stats_validate({16384}), ErrorKind::range, "dim",
                 "dim needs 10737418240 bytes for the second moment, Σ, the eigendecomposition and the kernel "
                 "(5 dim² doubles), more than the 2 GiB WASM heap can hold");
    ASSERT_TRUE(whitening_stats_validate({8192}));
    EXPECT_FALSE(whitening_stats_validate({7000}));
    EXPECT_FALSE(whitening_add_validate(2, 4));
    expect_error(whitening_add_validate(2, 0), ErrorKind::range, "rows", "rows must be a positive integer, received 0");
    ASSERT_TRUE(whitening_add_validate(1 << 16, 1 << 16));
    EXPECT_FALSE(whitening_merge_validate(WhiteningStats(2), WhiteningStats(2)));
    expect_error(whitening_merge_validate(WhiteningStats(2), WhiteningStats(3)), ErrorKind::range, "other",
                 "other must have dim = 2, received dim 3");
}

TEST(WhiteningValidate, FitOptions) {
    EXPECT_EQ(field_names(WhiteningOptions{}), (std::vector<std::string>{"beta", "gamma", "k", "ddof"}));
    EXPECT_EQ(field_names(WhiteningFitOptions{}),
              (std::vector<std::string>{"rows", "dim", "beta", "gamma", "k", "ddof"}));
    EXPECT_FALSE(whitening_options_validate(2, {}));
    expect_error(whitening_options_validate(2, {1, 1, 3, 0}), ErrorKind::range, "k",
                 "k must be between 1 and dim = 2, received 3");
    expect_error(whitening_options_validate(2, {1, 1, 0, 2}), ErrorKind::range, "ddof",
                 "ddof must be 0 or 1, received 2");
    expect_error(whitening_options_validate(2, {std::numeric_limits<double>::infinity(), 1, 0, 0}), ErrorKind::range,
                 "beta", "beta must be a finite number, received Infinity");
    expect_error(whitening_options_validate(2, {1, std::nan(""), 0, 0}), ErrorKind::range, "gamma",
                 "gamma must be a finite number, received NaN");
    WhiteningFitOptions fit;
    fit.rows = 4;
    fit.dim = 2;
    EXPECT_FALSE(whitening_fit_options_validate(fit));
    fit.rows = 0;
    expect_error(whitening_fit_options_validate(fit), ErrorKind::range, "rows",
                 "rows must be a positive integer, received 0");
    fit.rows = 4;
    fit.whitening.k = 3;
    expect_error(whitening_fit_options_validate(fit), ErrorKind::range, "k",
                 "k must be between 1 and dim = 2, received 3");
}

TEST(WhiteningValidate, FitNeedsEnoughRowsAndSpread) {
    EXPECT_FALSE(whitening_fit_validate(stats_of(4), {}));
    expect_error(whitening_fit_validate(stats_of(1), {}), ErrorKind::range, "rows",
                 "with beta = 1 and gamma > 0 at least 2 rows are needed (one row has zero variance about its "
                 "mean), received 1");
    EXPECT_FALSE(whitening_fit_validate(stats_of(1), {0, 0, 0, 0}));
    expect_error(whitening_fit_validate(stats_of(1), {0, 0, 0, 1}), ErrorKind::range, "rows",
                 "needs more than ddof = 1 rows, received 1");
    expect_error(whitening_fit_validate(stats_of(4), {1, 1, 5, 0}), ErrorKind::range, "k",
                 "k must be between 1 and dim = 2, received 5");

    // Two equal rows: zero spread about their mean.
    WhiteningStats same(2);
    const std::vector<float> x{1, 2, 1, 2};
    same.add(x.data(), 2);
    const WhiteningOptions whiten;
    const WhiteningFit fit = whitening_fit(same, whiten);
    expect_error(whitening_spread_validate(fit, whiten), ErrorKind::range, "gamma",
                 "the rows have zero spread about beta·mean, so gamma = 1 > 0 would divide by zero; use more "
                 "varied rows or gamma = 0");
    EXPECT_FALSE(whitening_spread_validate(whitening_fit(same, {1, 0, 0, 0}), {1, 0, 0, 0}));

    // Rows of scale 1e-39 (denormal float32): W = U·Λ^(−1/2) reaches ~1e39, past float32 (issue 18).
    WhiteningStats tiny(2);
    std::vector<float> small{1, 2, 3, 5, 4, 1, 0, 2};
    for (float& v : small) v *= 1e-39f;
    tiny.add(small.data(), 4);
    const Error e = whitening_spread_validate(whitening_fit(tiny, whiten), whiten);
    EXPECT_EQ(e.kind, ErrorKind::range);
    EXPECT_EQ(e.parameter, "x");
    EXPECT_NE(e.text.find("too small for a float32 model"), std::string::npos) << e.text;
    EXPECT_FALSE(whitening_spread_validate(whitening_fit(tiny, {1, 0, 0, 0}), {1, 0, 0, 0}));
}

TEST(WhiteningValidate, TransformAndRows) {
    EXPECT_EQ(field_names(WhiteningTransformOptions{}), (std::vector<std::string>{"rows", "normalize"}));
    EXPECT_FALSE(whitening_transform_validate(768, 256, {1000, true}));
    expect_error(whitening_transform_validate(2, 2, {0, false}), ErrorKind::range, "rows",
                 "rows must be a positive integer, received 0");
    const float finite[] = {1, 2, 3, 4};
    EXPECT_FALSE(finite_rows("x", finite, 2, 2));
    const float holes[] = {1, 2, 3, std::numeric_limits<float>::quiet_NaN(), 5, 6};
    expect_error(finite_rows("x", holes, 3, 2), ErrorKind::range, "x", "row 1 of x holds NaN or Infinity");
}

TEST(WhiteningValidate, ModelsAndJson) {
    EXPECT_EQ(field_names(WhiteningModelInfo{}),
              (std::vector<std::string>{"dim", "k", "beta", "gamma", "ddof", "count"}));
    EXPECT_EQ(field_names(WhiteningJsonHeader{}), (std::vector<std::string>{"format", "version"}));
    WhiteningModelInfo model;
    model.dim = 1;
    model.k = 2;
    expect_error(whitening_model_validate(model), ErrorKind::range, "k", "k must be between 1 and dim = 1, received 2");
    model.k = 1;
    EXPECT_FALSE(whitening_model_validate(model));  // imported: beta, gamma, ddof, count null
    model.ddof = 3;
    expect_error(whitening_model_validate(model), ErrorKind::range, "ddof", "ddof must be 0 or 1, received 3");
    model.ddof = 1;
    model.count = 0;
    expect_error(whitening_model_validate(model), ErrorKind::range, "count",
                 "count must be a positive integer, received 0");
    model.count = 5;

    WhiteningJsonHeader header;
    expect_error(whitening_json_validate(header), ErrorKind::range, "format",
                 "format must be \"kexue-whitening\", received undefined");
    header.format = "x";
    expect_error(whitening_json_validate(header), ErrorKind::range, "format",
                 "format must be \"kexue-whitening\", received \"x\"");
    header.format = kWhiteningFormat;
    header.version = 2;
    expect_error(whitening_json_validate(header), ErrorKind::range, "version", "version must be 1, received 2");
    header.version = kWhiteningFormatVersion;
    EXPECT_FALSE(whitening_json_validate(header));

    const double descending[] = {3, 2, 2, 1};
    EXPECT_FALSE(whitening_eigenvalues_validate(descending, 4));
    const double rising[] = {1, 2};
    expect_error(whitening_eigenvalues_validate(rising, 2), ErrorKind::range, "eigenvalues",
                 "eigenvalues must be in descending order, but eigenvalues[1] = 2 > eigenvalues[0] = 1");
}

TEST(WhiteningValidate, ImportedModelValuesWithinFloat32) {
    // One rule (core/validate.hpp float32_range), checked in C++ for fromJSON and fromKernelBias.
    const std::vector<double> kernel{1, 0, 0, 1}, center{0, 0}, huge_kernel{1, 0, 0, 1e39}, huge_center{0, -1e39};
    EXPECT_FALSE(whitening_model_range_validate(2, 2, kernel.data(), center.data(), nullptr, nullptr, false));
    expect_error(whitening_model_range_validate(2, 2, huge_kernel.data(), center.data(), nullptr, nullptr, false),
                 ErrorKind::range, "kernel[3]",
                 "kernel[3] must be within the float32 range (|x| ≤ 3.4028234663852886e+38), received 1e+39");
    expect_error(whitening_model_range_validate(2, 2, huge_kernel.data(), center.data(), nullptr, nullptr, true),
                 ErrorKind::range, "kernel[1][1]",
                 "kernel[1][1] must be within the float32 range (|x| ≤ 3.4028234663852886e+38), received 1e+39");
    EXPECT_EQ(whitening_model_range_validate(2, 2, kernel.data(), huge_center.data(), nullptr, nullptr, false).parameter,
              "center[1]");
    // fromKernelBias's center is −bias: the message names and shows the bias as given.
    expect_error(whitening_model_range_validate(2, 2, kernel.data(), huge_center.data(), nullptr, nullptr, true),
                 ErrorKind::range, "bias[1]",
                 "bias[1] must be within the float32 range (|x| ≤ 3.4028234663852886e+38), received 1e+39");
    EXPECT_EQ(whitening_model_range_validate(2, 2, kernel.data(), center.data(), huge_center.data(), nullptr, false).parameter,
              "mean[1]");
    EXPECT_EQ(whitening_model_range_validate(2, 2, kernel.data(), center.data(), nullptr, huge_center.data(), false).parameter,
              "eigenvalues[1]");
    EXPECT_FALSE(float32_range("x", 3.4028234663852886e38));
    EXPECT_TRUE(float32_range("x", -3.5e38));
}

}  // namespace
}  // namespace kexue
