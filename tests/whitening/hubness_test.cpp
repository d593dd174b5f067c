// docs/math.md §7.10: the hubness vector, the count identity, a hub, and the validators.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/random.hpp"
#include "whitening/hubness.hpp"
#include "whitening/whitening.hpp"

namespace kexue {
namespace {

TEST(Hubness, Section710Vector) {
    const std::vector<float> x{0, 0, 1, 0, 0, 1, -1, 0, 0, -1, 0.1f, 0.1f};
    HubnessOptions o;
    o.rows = 6;
    o.dim = 2;
    o.metric = HubnessMetric::euclidean;
    std::vector<std::int32_t> counts(6);
    o.k = 1;
    hubness(x.data(), o, counts.data());
    EXPECT_EQ(counts, (std::vector<std::int32_t>{3, 0, 0, 0, 0, 3}));
    o.k = 2;
    hubness(x.data(), o, counts.data());
    EXPECT_EQ(counts, (std::vector<std::int32_t>{5, 2, 0, 0, 0, 5}));
}

TEST(Hubness, CountsSumToRowsTimesKAndHubsSkewRight) {
    // A Gaussian cloud in 50 dimensions with one point at the mean: it is in many neighbour lists.
    Xoshiro256 rng(3);
    const std::size_t n = 300, dim = 50;
    std::vector<float> x(n * dim);
    for (auto& v : x) v = static_cast<float>(rng.normal());
    for (std::size_t d = 0; d < dim; ++d) x[d] = 0.01f * static_cast<float>(d % 2 ? 1 : -1);
    HubnessOptions o;
    o.rows = n;
    o.dim = dim;
    o.k = 10;
    o.metric = HubnessMetric::euclidean;
    std::vector<std::int32_t> counts(n);
    const HubnessSummary s = hubness(x.data(), o, counts.data());
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0), int(n * 10));
    EXPECT_GT(counts[0], 50);
    EXPECT_GT(s.skewness, 1.0);
    EXPECT_EQ(s.max, counts[0]);
}

TEST(Hubness, Validators) {
    HubnessOptions o;
    o.rows = 1;
    o.dim = 2;
    EXPECT_EQ(hubness_validate(o).parameter, "rows");
    o.rows = 5;
    o.k = 5;
    EXPECT_EQ(hubness_validate(o).parameter, "k");
    EXPECT_EQ(hubness_validate(o).text, "k must be less than rows = 5, received 5");
    o.k = 2;
    EXPECT_FALSE(hubness_validate(o));
    // 2²⁶ rows of one float fit as x, not with 32 bytes of workspace a row.
    o.rows = std::size_t(1) << 26;
    o.dim = 1;
    EXPECT_EQ(hubness_validate(o).parameter, "rows");
    o.rows = 5;
    o.dim = 2;
    const std::vector<float> x{1, 0, 0, 0, 1, 1, NAN, 0, 2, 2};
    EXPECT_EQ(hubness_input_validate(x.data(), o).text, "row 3 of x holds NaN or Infinity");
    std::vector<float> zero{1, 0, 0, 0, 1, 1, 3, 0, 2, 2};
    EXPECT_EQ(hubness_input_validate(zero.data(), o).parameter, "x");
    o.metric = HubnessMetric::euclidean;
    EXPECT_FALSE(hubness_input_validate(zero.data(), o));
}

// WhiteningStats.fromJSON's validator (the JSON format sits next to WhiteningStats in the README).
TEST(WhiteningMoments, Validator) {
    const std::vector<double> mean{1, 2}, m2{2, 1, 1, 3};
    EXPECT_FALSE(whitening_moments_validate(2, 5, mean.data(), m2.data()));
    EXPECT_EQ(whitening_moments_validate(2, 0, mean.data(), m2.data()).parameter, "count");
    const std::vector<double> asym{2, 1, 0.5, 3}, negative{-1, 0, 0, 3}, nan_mean{NAN, 0};
    EXPECT_EQ(whitening_moments_validate(2, 5, mean.data(), asym.data()).parameter, "m2");
    EXPECT_EQ(whitening_moments_validate(2, 5, mean.data(), negative.data()).parameter, "m2[0]");
    EXPECT_EQ(whitening_moments_validate(2, 5, nan_mean.data(), m2.data()).parameter, "mean[0]");
    // Merging a state into an empty accumulator restores it exactly.
    WhiteningStats stats(2);
    stats.merge_moments(5, mean, m2);
    EXPECT_EQ(stats.count(), 5u);
    EXPECT_EQ(stats.mean(), mean);
    EXPECT_EQ(stats.centred_second_moment(), m2);
}

}  // namespace
}  // namespace kexue
