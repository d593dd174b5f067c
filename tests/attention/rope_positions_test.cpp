// Positions and rotary frequencies (issue 13, item 4): the context-extension rules against Hugging
// Face's formulas (rope_spectrum_reference, double) and its stored numbers
// (tests/conformance/transformers/rope-scaling-inv-freq.json, transformers'
// tests/utils/test_modeling_rope_utils.py); per-batch positions, offsets and the attention factor
// in rope_apply; and the fused RoPE of attention with positionsQ/positionsK, ropeScaling,
// inverseFrequencies and a cache of rotated keys, forward and backward against the reference, the
// reference backward against finite differences.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/attention_reference.hpp"
#include "../helpers/tensors.hpp"
#include "../helpers/validation.hpp"

#include "attention/attention.hpp"
#include "attention/rope.hpp"

namespace kexue {
namespace {

using testing::expect_attention_matches_reference;
using testing::random_floats;
using testing::relative_error;
using testing::to_double;

using testing::expect_error;

RopeScaling scaling_of(RopeScalingType type, double factor, double original = 0.0) {
    RopeScaling s;
    s.type = type;
    s.factor = factor;
    if (original > 0.0) s.original_max_position_embeddings = original;
    return s;
}

// ---- frequencies ----------------------------------------------------------------------------------

TEST(RopeSpectrum, MatchesHuggingFacesFormulas) {
    std::vector<RopeScaling> configs;
    for (double factor : {1.0, 2.0, 10.0, 32.0}) {
        configs.push_back(scaling_of(RopeScalingType::linear, factor));
        configs.push_back(scaling_of(RopeScalingType::ntk, factor));
        for (double original : {64.0, 2048.0, 8192.0}) {
            configs.push_back(scaling_of(RopeScalingType::yarn, factor, original));
            configs.push_back(scaling_of(RopeScalingType::llama3, factor, original));
        }
    }
    RopeScaling equal_betas = scaling_of(RopeScalingType::yarn, 4.0, 4096.0);  // low == high: HF adds 0.001
    equal_betas.beta_fast = equal_betas.beta_slow = 8.0;
    configs.push_back(equal_betas);
    RopeScaling llama = scaling_of(RopeScalingType::llama3, 8.0, 8192.0);
    llama.low_freq_factor = 2.0;
    llama.high_freq_factor = 3.0;
    configs.push_back(llama);
    RopeScaling explicit_factor = scaling_of(RopeScalingType::yarn, 4.0, 4096.0);
    explicit_factor.attention_factor = 0.75;
    configs.push_back(explicit_factor);
    for (const RopeScaling& s : configs)
        for (std::size_t dim : {4u, 6u, 64u, 128u})
            for (double base : {10000.0, 500000.0}) {
                SCOPED_TRACE(std::string(enum_name(*s.type)) + " factor " + std::to_string(s.factor) + " dim " +
                             std::to_string(dim) + " base " + std::to_string(base));
                ASSERT_FALSE(rope_frequency_rules("", dim, s, {}));
                const RopeSpectrum got = rope_spectrum(dim, base, s, {});
                const RopeSpectrum want = rope_spectrum_reference(dim, base, s);
                ASSERT_EQ(got.inverse_frequencies.size(), dim / 2);
                for (std::size_t i = 0; i < dim / 2; ++i)
                    EXPECT_NEAR(got.inverse_frequencies[i], want.inverse_frequencies[i],
                                1e-13 * want.inverse_frequencies[i])
                        << "i " << i;
                EXPECT_DOUBLE_EQ(got.attention_factor, want.attention_factor);
            }
}

// Spot values of HF's EXPECTED_INV_FREQ (5 significant digits; rotary dim 128, base 10000,
// original length 2048, factor 10); the JS test checks every entry of the stored file.
TEST(RopeSpectrum, HuggingFacesStoredNumbers) {
    struct Case {
        RopeScaling scaling;
        std::vector<std::pair<std::size_t, double>> values;
    };
    const std::vector<Case> cases{
        {scaling_of(RopeScalingType::yarn, 10, 2048), {{1, 0.86596}, {17, 0.083479}, {30, 0.0066143}, {40, 0.00043007}, {63, 0.000011548}}},
        // HF's dynamic NTK at seq_len 16384 = the static NTK base change with factor 10·8 − 9 = 71.
        {scaling_of(RopeScalingType::ntk, 71), {{1, 0.80931}, {17, 0.027413}, {30, 0.0017517}, {63, 0.0000016265}}},
        {[] {
             RopeScaling s = scaling_of(RopeScalingType::llama3, 10, 2048);
             s.low_freq_factor = 1;
             s.high_freq_factor = 4;
             return s;
         }(),
         {{1, 0.86596}, {30, 0.013335}, {40, 0.00034539}, {41, 0.00027384}, {63, 0.000011548}}},
    };
    for (const Case& c : cases) {
        const RopeSpectrum s = rope_spectrum(128, 10000.0, c.scaling, {});
        for (const auto& [i, want] : c.values)
            EXPECT_NEAR(s.inverse_frequencies[i], want, 6e-5 * want) << enum_name(*c.scaling.type) << " i " << i;
    }
    // YaRN's attention factor: 0.1·ln(s) + 1 (Peng et al. 2023, eq. 22) unless given.
    EXPECT_DOUBLE_EQ(rope_spectrum(128, 10000.0, scaling_of(RopeScalingType::yarn, 10, 2048), {}).attention_factor,
                     0.1 * std::log(10.0) + 1.0);
    EXPECT_EQ(rope_spectrum(128, 10000.0, scaling_of(RopeScalingType::llama3, 10, 2048), {}).attention_factor, 1.0);
    // Explicit frequencies pass through; no scaling is the plain schedule.
    const std::vector<double> explicit_theta{0.5, 0.25};
    EXPECT_EQ(rope_spectrum(4, 10000.0, std::nullopt, explicit_theta).inverse_frequencies, explicit_theta);
    EXPECT_EQ(rope_spectrum(4, 10000.0, std::nullopt, {}).inverse_frequencies, rope_frequencies(4, 10000.0));
    // 'ntk' keeps θ_0 = 1 and divides the lowest frequency by exactly the factor.
    const RopeSpectrum ntk = rope_spectrum(16, 10000.0, scaling_of(RopeScalingType::ntk, 8), {});
    EXPECT_DOUBLE_EQ(ntk.inverse_frequencies[0], 1.0);
    EXPECT_NEAR(ntk.inverse_frequencies[7], rope_frequencies(16, 10000.0)[7] / 8.0, 1e-18);
}

TEST(RopeSpectrum, EveryRule) {
    const std::vector<double> none;
    std::optional<RopeScaling> s = RopeScaling{};
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::type, "ropeScaling.type",
                 "ropeScaling.type must be one of 'linear', 'ntk', 'yarn', 'llama3', received undefined");
    s = scaling_of(RopeScalingType::linear, 0.5);
    expect_error(rope_frequency_rules("rope.", 8, s, none), ErrorKind::range, "rope.ropeScaling.factor",
                 "rope.ropeScaling.factor must be at least 1, received 0.5");
    s = scaling_of(RopeScalingType::ntk, 2);
    EXPECT_FALSE(rope_frequency_rules("", 4, s, none));
    expect_error(rope_frequency_rules("", 2, s, none), ErrorKind::range, "ropeScaling.type",
                 "ropeScaling.type 'ntk' needs rotaryDim > 2 (the base is raised to the power rotaryDim / "
                 "(rotaryDim - 2)), received rotaryDim = 2");
    s = scaling_of(RopeScalingType::yarn, 4);
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::type, "ropeScaling.originalMaxPositionEmbeddings",
                 "ropeScaling.originalMaxPositionEmbeddings is required (the training length, a number > 0, for "
                 "type 'yarn'), received undefined");
    s->original_max_position_embeddings = 0.0;
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::range, "ropeScaling.originalMaxPositionEmbeddings",
                 "ropeScaling.originalMaxPositionEmbeddings must be greater than 0, received 0");
    s->original_max_position_embeddings = 4096.0;
    s->beta_slow = -1.0;
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::range, "ropeScaling.betaSlow",
                 "ropeScaling.betaSlow must be greater than 0, received -1");
    s->beta_slow = 1.0;
    s->attention_factor = 0.0;
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::range, "ropeScaling.attentionFactor",
                 "ropeScaling.attentionFactor must be greater than 0, received 0");
    s = scaling_of(RopeScalingType::llama3, 8, 8192);
    s->high_freq_factor = 1.0;
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::range, "ropeScaling.highFreqFactor",
                 "ropeScaling.highFreqFactor must be greater than lowFreqFactor = 1, received 1");
    s->low_freq_factor = 0.0;
    expect_error(rope_frequency_rules("", 8, s, none), ErrorKind::range, "ropeScaling.lowFreqFactor",
                 "ropeScaling.lowFreqFactor must be greater than 0, received 0");
    // Explicit frequencies: rotaryDim / 2 finite numbers, not together with ropeScaling.
    expect_error(rope_frequency_rules("", 8, std::nullopt, {1.0, 0.5}), ErrorKind::range, "inverseFrequencies",
                 "inverseFrequencies must have length rotaryDim / 2 = 4, received length 2");
    expect_error(rope_frequency_rules("", 4, std::nullopt, {1.0, std::nan("")}), ErrorKind::range,
                 "inverseFrequencies[1]", "inverseFrequencies[1] must be a finite number, received NaN");
    expect_error(rope_frequency_rules("rope.", 4, scaling_of(RopeScalingType::linear, 2), {1.0, 0.5}),
                 ErrorKind::range, "rope.inverseFrequencies",
                 "rope.inverseFrequencies and rope.ropeScaling cannot both be given (explicit frequencies are final)");
    // rope_validate applies them with the resolved rotary dim, and offset with positions.
    RopeOptions options;
    options.inverse_frequencies = {1.0, 0.5};
    EXPECT_FALSE(rope_validate({1, 2, 1, 4}, options));
    expect_error(rope_validate({1, 2, 1, 8}, options), ErrorKind::range, "inverseFrequencies",
                 "inverseFrequencies must have length rotaryDim / 2 = 4, received length 2");
    const std::vector<double> positions{0.0, 1.0};
    options.positions = positions.data();
    options.position_offset = 3.0;
    expect_error(rope_validate({1, 2, 1, 4}, options), ErrorKind::range, "offset",
                 "offset must be 0 when positions are given (they hold every token's position), received 3");
    options.position_offset = 0.0;
    options.positions_per_batch = true;  // batch·seq = 4 positions are read
    const std::vector<double> per_batch{0.0, 1.0, 2.0, INFINITY};
    options.positions = per_batch.data();
    expect_error(rope_validate({2, 2, 1, 4}, options), ErrorKind::range, "positions[3]",
                 "positions[3] must be a finite number, received Infinity");
}

// ---- kx.rope: per-batch positions, offsets, scaling --------------------------------------------

TEST(RopePositions, PerBatchPositionsOffsetsAndScalingMatchReference) {
    const RopeShape shape{3, 5, 2, 12};
    const std::vector<float> x = random_floats(3 * 5 * 2 * 12, 7);
    std::vector<double> per_batch(15);
    for (std::size_t i = 0; i < per_batch.size(); ++i) per_batch[i] = 0.75 * static_cast<double>(i * i) - 20.0;
    RopeScaling yarn = scaling_of(RopeScalingType::yarn, 8, 64);
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half})
        for (int variant = 0; variant < 4; ++variant) {
            RopeOptions options;
            options.layout = layout;
            options.rotary_dim = 8;
            options.base = 500.0;
            if (variant == 0) options.scaling = yarn;
            if (variant == 1) options.scaling = scaling_of(RopeScalingType::llama3, 4, 32);
            if (variant == 2) options.inverse_frequencies = {1.5, 0.3, 0.01, -0.2};
            if (variant < 3) {
                options.positions = per_batch.data();
                options.positions_per_batch = true;
            } else {
                options.position_offset = 4095.0;  // a decoding step's new tokens
            }
            ASSERT_FALSE(rope_validate(shape, options));
            std::vector<float> y(x.size());
            rope_apply(shape, options, x.data(), y.data());
            const RopeSpectrum spectrum = rope_spectrum(8, 500.0, options.scaling, options.inverse_frequencies);
            std::vector<double> want = to_double(x);
            for (std::size_t b = 0; b < 3; ++b)
                for (std::size_t t = 0; t < 5; ++t)
                    for (std::size_t h = 0; h < 2; ++h) {
                        const double position = variant < 3 ? per_batch[b * 5 + t] : 4095.0 + static_cast<double>(t);
                        rope_rotate_vector_reference(want.data() + ((b * 5 + t) * 2 + h) * 12, 8, layout,
                                                     spectrum.inverse_frequencies.data(), spectrum.attention_factor,
                                                     position);
                    }
            SCOPED_TRACE("variant " + std::to_string(variant));
            EXPECT_LE(relative_error(y, want), 2e-6);
            // inverse is the transpose a·R_{−m} (the gradient), also with a ≠ 1: ⟨R x, x⟩ = ⟨x, Rᵀ x⟩.
            options.inverse = true;
            std::vector<float> back(x.size());
            rope_apply(shape, options, x.data(), back.data());
            double forward_dot = 0.0, transpose_dot = 0.0;
            for (std::size_t i = 0; i < x.size(); ++i) {
                forward_dot += static_cast<double>(y[i]) * x[i];
                transpose_dot += static_cast<double>(x[i]) * back[i];
            }
            EXPECT_NEAR(forward_dot, transpose_dot, 1e-4 * std::fabs(forward_dot) + 1e-4);
            // The GPU table holds the same rows (per-batch: batch·seq of them).
            options.inverse = false;
            const std::vector<float> table = rope_cos_sin_table(shape, options);
            ASSERT_EQ(table.size(), 2u * (variant < 3 ? 15u : 5u) * 4u);
            const std::size_t row = variant < 3 ? 2 * 5 + 4 : 4;  // (b 2, t 4) or token 4
            const double position = variant < 3 ? per_batch[14] : 4099.0;
            EXPECT_NEAR(table[2 * (row * 4 + 1)],
                        spectrum.attention_factor * std::cos(position * spectrum.inverse_frequencies[1]), 1e-6);
        }
}

// ---- attention with positions, scaling and rotated keys ------------------------------------------

struct PositionCase {
    AttentionShape shape;
    AttentionOptions options;
    std::vector<double> positions_q, positions_k;  // owned here; the options point into them
    std::string name;
};

std::vector<PositionCase> position_cases() {
    std::vector<PositionCase> cases;
    const AttentionShape shapes[] = {
        {2, 70, 90, 4, 2, 16, 12},  // crosses both tiles, GQA
        {3, 1, 65, 2, 1, 8, 8},     // a decoding step (one query) after 64 cached keys
        {2, 5, 7, 2, 2, 12, 5},
    };
    int variant = 0;
    for (const AttentionShape& shape : shapes)
        for (bool causal : {false, true})
            for (int kind = 0; kind < 6; ++kind) {
                PositionCase c;
                c.shape = shape;
                c.options.causal = causal;
                c.options.scale = AttentionScale::standard;
                c.options.rope = AttentionRope{};
                AttentionRope& rope = *c.options.rope;
                rope.layout = variant % 2 ? RopeLayout::half : RopeLayout::interleaved;
                if (variant % 3 == 2) rope.rotary_dim = shape.dim - 4;
                const std::size_t rotary_dim = rope.rotary_dim ? rope.rotary_dim : shape.dim;
                const bool q_per_batch = kind % 2 == 0;
                const std::size_t nq = (q_per_batch ? shape.batch : 1) * shape.seq_q;
                const std::size_t nk = (kind == 1 ? shape.batch : 1) * shape.seq_k;
                // Left-padded rows start later; positions may be fractional or negative.
                for (std::size_t i = 0; i < nq; ++i)
                    c.positions_q.push_back(static_cast<double>(shape.seq_k) - static_cast<double>(shape.seq_q) +
                                            static_cast<double>(i % shape.seq_q) - 3.0 * static_cast<double>(i / shape.seq_q) +
                                            (kind == 4 ? 0.5 : 0.0));
                for (std::size_t j = 0; j < nk; ++j)
                    c.positions_k.push_back(static_cast<double>(j % shape.seq_k) - 3.0 * static_cast<double>(j / shape.seq_k));
                c.name = "shape " + std::to_string(shape.seq_q) + "x" + std::to_string(shape.seq_k) + " causal " +
                         std::to_string(causal) + " kind " + std::to_string(kind);
                switch (kind) {
                    case 0:  // per-batch query positions, shared key positions, YaRN
                        rope.scaling = scaling_of(RopeScalingType::yarn, 8, 32);
                        break;
                    case 1:  // shared query positions, per-batch key positions, llama3
                        rope.scaling = scaling_of(RopeScalingType::llama3, 4, 16);
                        break;
                    case 2:  // explicit frequencies
                        for (std::size_t i = 0; i < rotary_dim / 2; ++i)
                            rope.inverse_frequencies.push_back(1.0 / (1.0 + static_cast<double>(i * i)));
                        break;
                    case 3:  // 'ntk' and 'linear' at default positions (no positions arrays)
                        rope.scaling = scaling_of(variant % 2 ? RopeScalingType::ntk : RopeScalingType::linear, 3);
                        c.positions_q.clear();
                        c.positions_k.clear();
                        break;
                    case 4:  // rotated cached keys, fractional query positions
                        rope.cached_keys = RopeCachedKeys::rotated;
                        rope.scaling = scaling_of(RopeScalingType::yarn, 4, 64);
                        c.positions_k.clear();
                        break;
                    case 5:  // rotated cached keys at default query positions
                        rope.cached_keys = RopeCachedKeys::rotated;
                        c.positions_q.clear();
                        c.positions_k.clear();
                        break;
                }
                ++variant;
                cases.push_back(std::move(c));
            }
    for (PositionCase& c : cases) {
        AttentionRope& rope = *c.options.rope;
        if (!c.positions_q.empty()) {
            rope.positions_q = c.positions_q.data();
            rope.positions_q_per_batch = c.positions_q.size() != c.shape.seq_q;
        }
        if (!c.positions_k.empty()) {
            rope.positions_k = c.positions_k.data();
            rope.positions_k_per_batch = c.positions_k.size() != c.shape.seq_k;
        }
    }
    return cases;
}

TEST(AttentionPositions, ForwardAndBackwardMatchReference) {
    for (const PositionCase& c : position_cases()) {
        SCOPED_TRACE(c.name);
        ASSERT_FALSE(attention_validate(c.shape, c.options));
        expect_attention_matches_reference(c.shape, c.options);
    }
}

// Positions given explicitly as the defaults reproduce the default call exactly (same cos/sin);
// a shift of every position leaves the output unchanged (RoPE is relative, kexue.fm/8265).
TEST(AttentionPositions, DefaultsAndShiftInvariance) {
    const AttentionShape s{2, 9, 20, 2, 1, 8, 8};
    const auto q = random_floats(2 * 9 * 2 * 8, 1), k = random_floats(2 * 20 * 8, 2), v = random_floats(2 * 20 * 8, 3);
    AttentionOptions options;
    options.causal = true;
    options.rope = AttentionRope{};
    std::vector<float> plain(2 * 9 * 2 * 8), given(plain.size()), shifted(plain.size());
    attention_forward(s, options, q.data(), k.data(), v.data(), plain.data(), nullptr);
    std::vector<double> pq(9), pk(20), pq_shift(18), pk_shift(40);
    for (std::size_t i = 0; i < 9; ++i) pq[i] = 11.0 + static_cast<double>(i);
    for (std::size_t j = 0; j < 20; ++j) pk[j] = static_cast<double>(j);
    options.rope->positions_q = pq.data();
    options.rope->positions_k = pk.data();
    attention_forward(s, options, q.data(), k.data(), v.data(), given.data(), nullptr);
    EXPECT_EQ(given, plain);
    // Per batch entry a different shift (left padding by 0 and 100 tokens).
    for (std::size_t b = 0; b < 2; ++b) {
        for (std::size_t i = 0; i < 9; ++i) pq_shift[b * 9 + i] = pq[i] + 100.0 * static_cast<double>(b);
        for (std::size_t j = 0; j < 20; ++j) pk_shift[b * 20 + j] = pk[j] + 100.0 * static_cast<double>(b);
    }
    options.rope->positions_q = pq_shift.data();
    options.rope->positions_q_per_batch = true;
    options.rope->positions_k = pk_shift.data();
    options.rope->positions_k_per_batch = true;
    attention_forward(s, options, q.data(), k.data(), v.data(), shifted.data(), nullptr);
    for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(shifted[i], plain[i], 2e-5) << i;
}

// The rotated cache: rotating K once (rope_apply with the attention's rope settings) and passing it
// with cachedKeys 'rotated' gives the output of the un-rotated call, and its dK is R dK_unrotated.
// A decoding loop that rotates one new key per step (offset = its position) builds the same cache.
TEST(AttentionPositions, RotatedCacheEqualsRotatingInside) {
    const AttentionShape s{1, 3, 40, 4, 2, 16, 8};
    const auto q = random_floats(3 * 4 * 16, 4), k = random_floats(40 * 2 * 16, 5), v = random_floats(40 * 2 * 8, 6);
    const auto d_o = random_floats(3 * 4 * 8, 7);
    AttentionOptions options;
    options.causal = true;
    options.rope = AttentionRope{};
    options.rope->layout = RopeLayout::half;
    options.rope->scaling = scaling_of(RopeScalingType::yarn, 4, 16);

    RopeOptions rope;
    rope.layout = RopeLayout::half;
    rope.scaling = options.rope->scaling;
    std::vector<float> rotated(k.size());
    for (std::size_t t = 0; t < 40; ++t) {  // one key per step, as a decoding loop appends them
        rope.position_offset = static_cast<double>(t);
        rope_apply({1, 1, 2, 16}, rope, k.data() + t * 32, rotated.data() + t * 32);
    }
    std::vector<float> all_at_once(k.size());
    rope.position_offset = 0.0;
    rope_apply({1, 40, 2, 16}, rope, k.data(), all_at_once.data());
    EXPECT_EQ(rotated, all_at_once);

    std::vector<float> o(3 * 4 * 8), o_cached(o.size()), lse(4 * 3), lse_cached(lse.size());
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
    AttentionOptions cached = options;
    cached.rope->cached_keys = RopeCachedKeys::rotated;
    attention_forward(s, cached, q.data(), rotated.data(), v.data(), o_cached.data(), lse_cached.data());
    for (std::size_t i = 0; i < o.size(); ++i) EXPECT_NEAR(o_cached[i], o[i], 1e-5) << i;

    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size()), dq_c(q.size()), dk_c(k.size()), dv_c(v.size());
    attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(),
                       dk.data(), dv.data());
    attention_backward(s, cached, q.data(), rotated.data(), v.data(), o_cached.data(), lse_cached.data(), d_o.data(),
                       dq_c.data(), dk_c.data(), dv_c.data());
    for (std::size_t i = 0; i < dq.size(); ++i) EXPECT_NEAR(dq_c[i], dq[i], 1e-5) << i;
    for (std::size_t i = 0; i < dv.size(); ++i) EXPECT_NEAR(dv_c[i], dv[i], 1e-5) << i;
    // dK w.r.t. the rotated keys, taken back through the rotation's transpose, is dK w.r.t. the raw
    // keys: dK_raw = (a R)ᵀ dK_rotated.
    rope.inverse = true;
    std::vector<float> back(k.size());
    rope_apply({1, 40, 2, 16}, rope, dk_c.data(), back.data());
    for (std::size_t i = 0; i < dk.size(); ++i) EXPECT_NEAR(back[i], dk[i], 1e-5) << i;
}

// L = Σ dO ∘ O in double; central differences against the reference backward, with positions,
// scaling and the rotated cache (where dK is w.r.t. the given keys).
TEST(AttentionPositions, ReferenceBackwardMatchesFiniteDifferences) {
    for (int kind = 0; kind < 3; ++kind) {
        const AttentionShape s{2, 3, 5, 2, 1, 4, 3};
        AttentionOptions options;
        options.n_min = 1;
        options.causal = kind != 1;
        options.rope = AttentionRope{};
        std::vector<double> pq{2.0, 3.5, 4.0, -1.0, 0.0, 7.0}, pk{0.0, 1.0, 2.0, 3.0, 9.0};
        options.rope->positions_q = pq.data();
        options.rope->positions_q_per_batch = true;
        if (kind == 0) {
            options.rope->scaling = scaling_of(RopeScalingType::yarn, 16, 8);
            options.rope->positions_k = pk.data();
        } else if (kind == 1) {
            options.rope->layout = RopeLayout::half;
            options.rope->scaling = scaling_of(RopeScalingType::llama3, 8, 4);
            options.rope->positions_k = pk.data();
        } else {
            options.rope->cached_keys = RopeCachedKeys::rotated;
            options.rope->inverse_frequencies = {0.7, 0.2};
        }
        ASSERT_FALSE(attention_validate(s, options));
        auto q = to_double(random_floats(2 * 3 * 2 * 4, 21));
        auto k = to_double(random_floats(2 * 5 * 4, 22));
        auto v = to_double(random_floats(2 * 5 * 3, 23));
        const auto d_o = to_double(random_floats(2 * 3 * 2 * 3, 24));
        std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
        attention_backward_reference(s, options, q.data(), k.data(), v.data(), d_o.data(), dq.data(), dk.data(),
                                     dv.data());
        auto loss = [&]() {
            std::vector<double> o(d_o.size());
            attention_forward_reference(s, options, q.data(), k.data(), v.data(), o.data(), nullptr);
            double sum = 0.0;
            for (std::size_t i = 0; i < o.size(); ++i) sum += o[i] * d_o[i];
            return sum;
        };
        auto check = [&](std::vector<double>& x, const std::vector<double>& grad, const char* name) {
            testing::expect_central_differences(loss, x, grad, 1e-7, name, " kind " + std::to_string(kind));
        };
        check(q, dq, "dq");
        check(k, dk, "dk");
        check(v, dv, "dv");
    }
}

// Right-padded batches (seqLensQ/seqLensK): the default query positions are per batch entry
// (Lk_b − Lq_b + i), padding rows included, and explicit positions replace them; with ropeScaling,
// a window and ALiBi, forward and backward against the reference.
TEST(AttentionPositions, PaddedBatchesMatchReference) {
    const AttentionShape s{3, 6, 70, 2, 1, 8, 8};
    const auto q = random_floats(3 * 6 * 2 * 8, 61), k = random_floats(3 * 70 * 8, 62), v = random_floats(3 * 70 * 8, 63);
    const auto d_o = random_floats(3 * 6 * 2 * 8, 64);
    std::vector<double> pq(3 * 6);
    for (std::size_t i = 0; i < pq.size(); ++i) pq[i] = 40.0 + static_cast<double>(i % 6) + 0.25 * static_cast<double>(i / 6);
    for (int variant = 0; variant < 4; ++variant) {
        AttentionOptions options;
        options.scale = AttentionScale::standard;
        options.causal = variant != 2;
        options.seq_lens_q = std::vector<std::size_t>{6, 2, 4};
        options.seq_lens_k = std::vector<std::size_t>{70, 9, 40};
        options.rope = AttentionRope{};
        options.rope->scaling = scaling_of(RopeScalingType::yarn, 4, 16);
        if (variant == 1) {
            options.rope->positions_q = pq.data();
            options.rope->positions_q_per_batch = true;
        }
        if (variant == 2) options.window = AttentionWindow{std::size_t{5}, std::size_t{3}};
        if (variant == 3) {
            options.alibi = true;
            options.rope->cached_keys = RopeCachedKeys::rotated;
        }
        SCOPED_TRACE("variant " + std::to_string(variant));
        ASSERT_FALSE(attention_validate(s, options));
        std::vector<float> o(d_o.size()), lse(3 * 2 * 6);
        attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
        std::vector<double> o_ref(o.size());
        attention_forward_reference(s, options, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                    o_ref.data(), nullptr);
        EXPECT_LE(relative_error(o, o_ref), 1e-4);
        std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
        attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(),
                           dk.data(), dv.data());
        std::vector<double> dq_ref(q.size()), dk_ref(k.size()), dv_ref(v.size());
        attention_backward_reference(s, options, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                     to_double(d_o).data(), dq_ref.data(), dk_ref.data(), dv_ref.data());
        EXPECT_LE(relative_error(dq, dq_ref), 1e-4);
        EXPECT_LE(relative_error(dk, dk_ref), 1e-4);
        EXPECT_LE(relative_error(dv, dv_ref), 1e-4);
    }
}

TEST(AttentionPositions, Validation) {
    const AttentionShape s{2, 3, 4, 2, 1, 8, 8};
    AttentionOptions options;
    options.rope = AttentionRope{};
    const std::vector<double> pq{0, 1, NAN}, pk{0, 1, 2, 3, 4, 5, 6, -INFINITY};
    options.rope->positions_q = pq.data();
    expect_error(attention_validate(s, options), ErrorKind::range, "rope.positionsQ[2]",
                 "rope.positionsQ[2] must be a finite number, received NaN");
    options.rope->positions_q = nullptr;
    options.rope->positions_k = pk.data();
    options.rope->positions_k_per_batch = true;
    expect_error(attention_validate(s, options), ErrorKind::range, "rope.positionsK[7]",
                 "rope.positionsK[7] must be a finite number, received -Infinity");
    options.rope->positions_k_per_batch = false;  // only the first seqK = 4 are read
    EXPECT_FALSE(attention_validate(s, options));
    options.rope->cached_keys = RopeCachedKeys::rotated;
    expect_error(attention_validate(s, options), ErrorKind::range, "rope.positionsK",
                 "rope.positionsK cannot be given with rope.cachedKeys 'rotated' (the keys were rotated at their "
                 "positions before they were cached)");
    options.rope->positions_k = nullptr;
    EXPECT_FALSE(attention_validate(s, options));
    options.rope->scaling = scaling_of(RopeScalingType::llama3, 2);
    expect_error(attention_validate(s, options), ErrorKind::type, "rope.ropeScaling.originalMaxPositionEmbeddings",
                 "rope.ropeScaling.originalMaxPositionEmbeddings is required (the training length, a number > 0, "
                 "for type 'llama3'), received undefined");
    options.rope->scaling.reset();
    options.rope->rotary_dim = 4;
    options.rope->inverse_frequencies = {1, 2, 3, 4};
    expect_error(attention_validate(s, options), ErrorKind::range, "rope.inverseFrequencies",
                 "rope.inverseFrequencies must have length rotaryDim / 2 = 2, received length 4");
}

// The GPU's table carries the scaled frequencies and the attention factor.
TEST(AttentionPositions, GpuTableCarriesTheSpectrum) {
    const AttentionShape s{1, 2, 3, 1, 1, 4, 4};
    AttentionOptions options;
    options.rope = AttentionRope{};
    options.rope->scaling = scaling_of(RopeScalingType::yarn, 10, 16);
    const RopeSpectrum spectrum = rope_spectrum(4, 10000.0, options.rope->scaling, {});
    const std::vector<float> table = attention_rope_table(s, options);
    ASSERT_EQ(table.size(), 2u * 3u * 2u);  // positions 0 … 2, 2 pairs
    EXPECT_FLOAT_EQ(table[2 * (2 * 2 + 1)], static_cast<float>(spectrum.attention_factor *
                                                               std::cos(2.0 * spectrum.inverse_frequencies[1])));
    EXPECT_FLOAT_EQ(table[2 * (2 * 2 + 1) + 1], static_cast<float>(spectrum.attention_factor *
                                                                   std::sin(2.0 * spectrum.inverse_frequencies[1])));
}

}  // namespace
}  // namespace kexue
