// Padded batches, sliding windows, ALiBi, additive bias and boolean mask in the fused attention
// (issue 13, item 1): the per-row rules of attention.hpp (attention_row, n_i, the ALiBi slopes)
// checked by hand, the kernel against its double-precision reference on tile edges with every
// option, the reference backward against finite differences with each option, the equivalences
// the conventions promise (a window is a banded mask, ALiBi is a bias, seqLensK is a shorter call),
// and attention at the float32 edge (logits up to 3e38, issue 18).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/attention_reference.hpp"
#include "../helpers/tensors.hpp"

#include "attention/attention.hpp"

namespace kexue {
namespace {

using testing::expect_attention_matches_reference;
using testing::random_floats;
using testing::relative_error;
using testing::to_double;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<std::uint8_t> random_mask(std::size_t count, std::uint32_t seed, double keep) {
    std::mt19937 rng(seed);
    std::bernoulli_distribution dist(keep);
    std::vector<std::uint8_t> out(count);
    for (auto& x : out) x = dist(rng) ? 1 : 0;
    return out;
}

std::size_t product(const std::vector<std::size_t>& d) {
    std::size_t n = 1;
    for (std::size_t x : d) n *= x;
    return n;
}

// ---- the per-row rules ---------------------------------------------------------------------------

TEST(AttentionRows, PaddingPositionsWindowsAndCausal) {
    const AttentionShape shape{2, 4, 6, 1, 1, 4, 4};
    AttentionOptions options;
    options.seq_lens_q = std::vector<std::size_t>{4, 2};
    options.seq_lens_k = std::vector<std::size_t>{6, 3};
    // Batch 0: query i at 6 − 4 + i; batch 1: at 3 − 2 + i, rows 2 and 3 are padding.
    EXPECT_EQ(attention_row(shape, options, 0, 0).position, 2);
    EXPECT_EQ(attention_row(shape, options, 1, 1).position, 2);
    EXPECT_TRUE(attention_row(shape, options, 1, 2).empty());
    EXPECT_TRUE(attention_row(shape, options, 1, 3).empty());
    AttentionRow row = attention_row(shape, options, 1, 0);
    EXPECT_EQ(row.begin, 0u);
    EXPECT_EQ(row.end, 3u);  // every valid key, not causal

    options.causal = true;
    row = attention_row(shape, options, 1, 0);  // position 1 sees keys 0, 1
    EXPECT_EQ(row.begin, 0u);
    EXPECT_EQ(row.end, 2u);

    // onnxruntime's local_window_size 2 = left 1: position p sees p − 1 … p.
    options.window = AttentionWindow{1, std::nullopt};
    row = attention_row(shape, options, 0, 3);  // position 5
    EXPECT_EQ(row.begin, 4u);
    EXPECT_EQ(row.end, 6u);
    // Both ends inclusive, not causal: position 2 with left 0, right 2 sees 2, 3, 4.
    options.causal = false;
    options.window = AttentionWindow{0, 2};
    row = attention_row(shape, options, 0, 0);
    EXPECT_EQ(row.begin, 2u);
    EXPECT_EQ(row.end, 5u);
    // A window beyond the keys is cut to them; left 0, right 0 sees the key at its own position.
    options.window = AttentionWindow{100, 100};
    EXPECT_EQ(attention_row(shape, options, 0, 0).begin, 0u);
    EXPECT_EQ(attention_row(shape, options, 0, 0).end, 6u);
    options.window = AttentionWindow{0, 0};
    EXPECT_EQ(attention_row(shape, options, 1, 1).begin, 2u);
    EXPECT_EQ(attention_row(shape, options, 1, 1).end, 3u);

    // More queries than keys, not causal: the first query sits at a negative position and a right
    // window of 0 leaves it nothing.
    const AttentionShape wide{1, 5, 2, 1, 1, 4, 4};
    AttentionOptions w;
    w.window = AttentionWindow{std::nullopt, 0};
    EXPECT_EQ(attention_row(wide, w, 0, 0).position, -3);
    EXPECT_TRUE(attention_row(wide, w, 0, 0).empty());
    EXPECT_EQ(attention_row(wide, w, 0, 4).end, 2u);
}

TEST(AttentionRows, VisibleKeysCountTheMask) {
    const AttentionShape shape{1, 2, 4, 2, 1, 4, 4};
    AttentionOptions options;
    options.mask = AttentionBroadcast{{1, 2, 1, 4}};  // per head, shared by the rows
    const std::vector<std::uint8_t> mask{1, 0, 1, 1,   // head 0
                                         0, 0, 0, 1};  // head 1
    const AttentionBuffers buffers{nullptr, mask.data()};
    EXPECT_EQ(attention_visible_keys(shape, options, buffers, 0, 0, 0), 3u);
    EXPECT_EQ(attention_visible_keys(shape, options, buffers, 0, 1, 1), 1u);
    options.causal = true;  // row 0 at position 2 sees keys 0 … 2
    EXPECT_EQ(attention_visible_keys(shape, options, buffers, 0, 0, 0), 2u);
    EXPECT_EQ(attention_visible_keys(shape, options, buffers, 0, 1, 0), 0u);
    // Without a mask, n_i is the range's length.
    EXPECT_EQ(attention_visible_keys(shape, AttentionOptions{}, {}, 0, 1, 1), 4u);
}

TEST(AttentionRows, BroadcastStrides) {
    const AttentionStrides full = attention_strides({{2, 3, 4, 5}});
    EXPECT_EQ(full.at(1, 2, 3, 4), 119u);
    const AttentionStrides key_padding = attention_strides({{2, 1, 1, 5}});
    EXPECT_EQ(key_padding.at(1, 2, 3, 4), 9u);
    const AttentionStrides per_row = attention_strides({{1, 1, 4, 1}});
    EXPECT_EQ(per_row.at(1, 2, 3, 4), 3u);
}

// The tables a port of these rules reads (the WebGPU kernel's attentionGpuTables).
TEST(AttentionRows, RowKeysAndSlopesTables) {
    const AttentionShape shape{2, 3, 4, 2, 1, 4, 4};
    AttentionOptions options;
    options.causal = true;
    options.seq_lens_q = std::vector<std::size_t>{3, 1};
    options.seq_lens_k = std::vector<std::size_t>{4, 2};
    options.window = AttentionWindow{std::size_t{1}, std::nullopt};
    const std::vector<std::int32_t> keys = attention_row_keys(shape, options);
    const std::vector<std::int32_t> want{1, 0, 2, 2, 1, 3, 3, 2, 4,    // batch 0: positions 1, 2, 3
                                         1, 0, 2, 2, 0, 0, 3, 0, 0};   // batch 1: position 1, then padding
    EXPECT_EQ(keys, want);
    EXPECT_TRUE(attention_alibi_slopes(shape, options).empty());
    options.alibi = true;
    EXPECT_EQ(attention_alibi_slopes(shape, options), (std::vector<float>{0.0625f, 0.00390625f}));
}

// Press et al.'s get_slopes(n) values (github.com/ofirpress/attention_with_linear_biases).
TEST(AttentionRows, AlibiSlopes) {
    for (std::size_t h = 0; h < 8; ++h) EXPECT_DOUBLE_EQ(attention_alibi_slope(8, h), std::exp2(-1.0 - h));
    const double six[] = {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125};
    for (std::size_t h = 0; h < 6; ++h) EXPECT_DOUBLE_EQ(attention_alibi_slope(6, h), six[h]);
    const double twelve_tail[] = {std::exp2(-0.5), std::exp2(-1.5), std::exp2(-2.5), std::exp2(-3.5)};
    for (std::size_t h = 8; h < 12; ++h) EXPECT_DOUBLE_EQ(attention_alibi_slope(12, h), twelve_tail[h - 8]);
    EXPECT_DOUBLE_EQ(attention_alibi_slope(1, 0), std::exp2(-8.0));
    EXPECT_DOUBLE_EQ(attention_alibi_slope(3, 2), std::exp2(-2.0));
}

// ---- kernel against reference --------------------------------------------------------------------

struct MaskCase {
    std::string name;
    AttentionShape shape;
    AttentionOptions options;
    std::vector<float> bias;
    std::vector<std::uint8_t> mask;
};

struct Results {
    std::vector<float> o, lse, dq, dk, dv;
};

Results run_kernel(const MaskCase& c, const std::vector<float>& q, const std::vector<float>& k,
                   const std::vector<float>& v, const std::vector<float>& d_o) {
    const AttentionShape& s = c.shape;
    const AttentionBuffers buffers{c.bias.empty() ? nullptr : c.bias.data(), c.mask.empty() ? nullptr : c.mask.data()};
    Results r{std::vector<float>(d_o.size(), 7.0f), std::vector<float>(s.batch * s.heads * s.seq_q, 7.0f),
              std::vector<float>(q.size(), 7.0f), std::vector<float>(k.size(), 7.0f), std::vector<float>(v.size(), 7.0f)};
    attention_forward(s, c.options, q.data(), k.data(), v.data(), r.o.data(), r.lse.data(), buffers);
    attention_backward(s, c.options, q.data(), k.data(), v.data(), r.o.data(), r.lse.data(), d_o.data(), r.dq.data(),
                       r.dk.data(), r.dv.data(), buffers);
    return r;
}

void check_against_reference(const MaskCase& c, double tolerance = 1e-4) {
    SCOPED_TRACE(c.name);
    const AttentionBuffers buffers{c.bias.empty() ? nullptr : c.bias.data(), c.mask.empty() ? nullptr : c.mask.data()};
    expect_attention_matches_reference(c.shape, c.options, tolerance, buffers, static_cast<std::uint32_t>(c.name.size()));
}

std::vector<MaskCase> mask_cases() {
    const std::size_t t = attention_query_tile();
    std::vector<MaskCase> cases;
    // Shapes on the tile edges: batch 2 (lengths differ per entry), GQA 4:2, dim_v ≠ dim.
    for (std::size_t seq : {std::size_t{1}, t - 1, t, t + 1, 2 * t + 3}) {
        const AttentionShape shape{2, seq, seq, 4, 2, 8, 5};
        for (int variant = 0; variant < 12; ++variant) {
            MaskCase c{"", shape, AttentionOptions{}, {}, {}};
            std::ostringstream name;
            name << "seq=" << seq << " variant=" << variant;
            AttentionOptions& o = c.options;
            o.causal = variant % 2 == 1;
            o.scale = variant % 3 == 0 ? std::variant<AttentionScale, double>(AttentionScale::standard)
                                       : std::variant<AttentionScale, double>(AttentionScale::entropy);
            o.n_min = 1.0;  // so that n_i changes c_i at these lengths
            const std::size_t short_len = seq / 2;
            switch (variant / 2) {
                case 0:  // right-padded batch: entry 1 has half the queries and keys
                    o.seq_lens_q = std::vector<std::size_t>{seq, short_len};
                    o.seq_lens_k = std::vector<std::size_t>{seq, short_len};
                    name << " seqLens";
                    break;
                case 1:  // a window, Mistral's form under causal, both sides otherwise
                    o.window = AttentionWindow{std::size_t{5}, o.causal ? std::nullopt : std::optional<std::size_t>{3}};
                    name << " window";
                    break;
                case 2:  // ALiBi with RoPE
                    o.alibi = true;
                    o.rope = AttentionRope{};
                    name << " alibi+rope";
                    break;
                case 3: {  // a full bias with −∞ entries
                    o.bias = AttentionBroadcast{{2, 4, seq, seq}};
                    c.bias = random_floats(product(o.bias->shape), 77 + variant);
                    for (std::size_t i = 0; i < c.bias.size(); i += 7) c.bias[i] = -std::numeric_limits<float>::infinity();
                    name << " bias";
                    break;
                }
                case 4: {  // a key-padding mask [batch, 1, 1, seqK] and a per-head bias [1, heads, seqQ, seqK]
                    o.mask = AttentionBroadcast{{2, 1, 1, seq}};
                    c.mask = random_mask(product(o.mask->shape), 91 + variant, 0.7);
                    o.bias = AttentionBroadcast{{1, 4, seq, seq}};
                    c.bias = random_floats(product(o.bias->shape), 93 + variant, 2.0f);
                    name << " keyPaddingMask+bias";
                    break;
                }
                default: {  // a full mask (rows with no key included), window and lengths at once
                    o.mask = AttentionBroadcast{{2, 4, seq, seq}};
                    c.mask = random_mask(product(o.mask->shape), 95 + variant, 0.5);
                    if (seq > 2)
                        for (std::size_t j = 0; j < seq; ++j) c.mask[seq + j] = 0;  // row 1 of head 0 sees nothing
                    o.window = AttentionWindow{std::size_t{t / 2}, std::size_t{2}};
                    o.seq_lens_k = std::vector<std::size_t>{seq, std::max<std::size_t>(short_len, 1)};
                    o.seq_lens_q = std::vector<std::size_t>{std::max<std::size_t>(short_len, 1), std::max<std::size_t>(short_len, 1)};
                    name << " mask+window+seqLens";
                }
            }
            c.name = name.str();
            cases.push_back(c);
        }
    }
    // Decoding: one query per batch entry after caches of different lengths, with a window.
    MaskCase decode{"decode", {3, 1, 150, 4, 1, 16, 16}, AttentionOptions{}, {}, {}};
    decode.options.causal = true;
    decode.options.seq_lens_q = std::vector<std::size_t>{1, 1, 0};
    decode.options.seq_lens_k = std::vector<std::size_t>{150, 70, 0};
    decode.options.window = AttentionWindow{std::size_t{64}, std::nullopt};
    decode.options.rope = AttentionRope{};
    cases.push_back(decode);
    // Windows much smaller than the tiles and far from the diagonal tiles.
    MaskCase band{"band", {1, 300, 300, 2, 2, 8, 8}, AttentionOptions{}, {}, {}};
    band.options.window = AttentionWindow{std::size_t{0}, std::size_t{0}};
    cases.push_back(band);
    band.options.window = AttentionWindow{std::size_t{70}, std::size_t{130}};
    band.options.alibi = true;
    cases.push_back(band);
    return cases;
}

TEST(AttentionMask, KernelMatchesReferenceWithEveryOption) {
    // The band cases sum dK over up to 200 query rows in float32: a looser bound.
    for (const MaskCase& c : mask_cases()) check_against_reference(c, c.name == "band" ? 3e-4 : 1e-4);
}

// ---- outputs the conventions fix -----------------------------------------------------------------

TEST(AttentionMask, PaddedRowsAndKeysGiveZerosAndNoGradient) {
    MaskCase c{"padded", {2, 5, 7, 2, 1, 4, 3}, AttentionOptions{}, {}, {}};
    c.options.seq_lens_q = std::vector<std::size_t>{3, 5};
    c.options.seq_lens_k = std::vector<std::size_t>{4, 0};  // entry 1 has no keys at all
    const AttentionShape& s = c.shape;
    const auto q = random_floats(s.batch * s.seq_q * s.heads * s.dim, 1), k = random_floats(s.batch * s.seq_k * s.dim, 2);
    const auto v = random_floats(s.batch * s.seq_k * s.dim_v, 3), d_o = random_floats(s.batch * s.seq_q * s.heads * s.dim_v, 4);
    const Results r = run_kernel(c, q, k, v, d_o);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t i = 0; i < 5; ++i) {
            const bool padded = b == 1 || i >= 3;
            for (std::size_t h = 0; h < 2; ++h) {
                for (std::size_t p = 0; p < 3; ++p) {
                    const float x = r.o[((b * 5 + i) * 2 + h) * 3 + p];
                    if (padded) EXPECT_EQ(x, 0.0f);
                    else EXPECT_NE(x, 0.0f);
                }
                for (std::size_t p = 0; p < 4 && padded; ++p) EXPECT_EQ(r.dq[((b * 5 + i) * 2 + h) * 4 + p], 0.0f);
                if (padded) {
                    EXPECT_EQ(r.lse[(b * 2 + h) * 5 + i], -std::numeric_limits<float>::infinity());
                }
            }
        }
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t j = 0; j < 7; ++j)
            if (b == 1 || j >= 4) {
                for (std::size_t p = 0; p < 4; ++p) EXPECT_EQ(r.dk[(b * 7 + j) * 4 + p], 0.0f);
                for (std::size_t p = 0; p < 3; ++p) EXPECT_EQ(r.dv[(b * 7 + j) * 3 + p], 0.0f);
            }
}

// seqLensK[b] = L gives batch entry b what a call with seqK = L gives (right padding is ignored),
// and with causal the queries sit at L − Lq + i.
TEST(AttentionMask, SeqLensEqualShorterCalls) {
    const AttentionShape s{2, 6, 9, 2, 1, 8, 8};
    AttentionOptions options;
    options.causal = true;
    options.scale = AttentionScale::entropy;
    options.n_min = 1.0;
    options.rope = AttentionRope{};
    options.seq_lens_q = std::vector<std::size_t>{6, 3};
    options.seq_lens_k = std::vector<std::size_t>{9, 5};
    const auto q = random_floats(2 * 6 * 2 * 8, 5), k = random_floats(2 * 9 * 8, 6), v = random_floats(2 * 9 * 8, 7);
    std::vector<float> o(2 * 6 * 2 * 8), lse(2 * 2 * 6);
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
    // Entry 1 alone: 3 queries, 5 keys.
    AttentionOptions alone = options;
    alone.seq_lens_q.reset();
    alone.seq_lens_k.reset();
    const std::vector<float> q1(q.begin() + 6 * 2 * 8, q.begin() + (6 + 3) * 2 * 8);
    const std::vector<float> k1(k.begin() + 9 * 8, k.begin() + (9 + 5) * 8), v1(v.begin() + 9 * 8, v.begin() + (9 + 5) * 8);
    std::vector<float> o1(3 * 2 * 8);
    attention_forward({1, 3, 5, 2, 1, 8, 8}, alone, q1.data(), k1.data(), v1.data(), o1.data(), nullptr);
    for (std::size_t x = 0; x < o1.size(); ++x) EXPECT_NEAR(o[6 * 2 * 8 + x], o1[x], 1e-6) << x;
}

// A window is the banded mask it describes; ALiBi is the bias −slope·|p − j|; a −∞ bias removes a
// key like a false mask entry does under the standard scale, but not from n_i (entropy scale).
TEST(AttentionMask, WindowIsABandedMaskAndAlibiIsABias) {
    const AttentionShape s{1, 70, 70, 3, 3, 8, 8};
    const auto q = random_floats(70 * 3 * 8, 8), k = random_floats(70 * 3 * 8, 9), v = random_floats(70 * 3 * 8, 10);
    auto run = [&](const AttentionOptions& options, const AttentionBuffers& buffers) {
        std::vector<float> o(q.size());
        attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), nullptr, buffers);
        return o;
    };
    AttentionOptions window;
    window.scale = AttentionScale::entropy;
    window.n_min = 1.0;
    window.window = AttentionWindow{std::size_t{4}, std::size_t{9}};
    AttentionOptions masked = window;
    masked.window.reset();
    masked.mask = AttentionBroadcast{{1, 1, 70, 70}};
    std::vector<std::uint8_t> band(70 * 70, 0);
    for (long i = 0; i < 70; ++i)
        for (long j = 0; j < 70; ++j) band[i * 70 + j] = j >= i - 4 && j <= i + 9;
    const auto a = run(window, {}), b = run(masked, {nullptr, band.data()});
    for (std::size_t x = 0; x < a.size(); ++x) EXPECT_NEAR(a[x], b[x], 2e-6) << x;

    AttentionOptions alibi;
    alibi.alibi = true;
    alibi.causal = true;
    AttentionOptions biased = alibi;
    biased.alibi = false;
    biased.bias = AttentionBroadcast{{1, 3, 70, 70}};
    std::vector<float> terms(3 * 70 * 70);
    for (std::size_t h = 0; h < 3; ++h)
        for (std::size_t i = 0; i < 70; ++i)
            for (std::size_t j = 0; j < 70; ++j)
                terms[(h * 70 + i) * 70 + j] =
                    static_cast<float>(-attention_alibi_slope(3, h) * std::fabs(static_cast<double>(i) - static_cast<double>(j)));
    const auto c = run(alibi, {}), d = run(biased, {terms.data(), nullptr});
    for (std::size_t x = 0; x < c.size(); ++x) EXPECT_NEAR(c[x], d[x], 2e-6) << x;

    // −∞ in the bias where the band mask is 0.
    std::vector<float> minus(70 * 70);
    for (std::size_t x = 0; x < minus.size(); ++x) minus[x] = band[x] ? 0.0f : -std::numeric_limits<float>::infinity();
    AttentionOptions bias_band;
    bias_band.scale = AttentionScale::standard;
    bias_band.bias = AttentionBroadcast{{1, 1, 70, 70}};
    AttentionOptions mask_band = masked;
    mask_band.scale = AttentionScale::standard;
    const auto e = run(bias_band, {minus.data(), nullptr}), f = run(mask_band, {nullptr, band.data()});
    for (std::size_t x = 0; x < e.size(); ++x) EXPECT_NEAR(e[x], f[x], 2e-6) << x;
    // Entropy scale: the mask shrinks n_i (c_i smaller), the −∞ bias does not.
    bias_band.scale = mask_band.scale = AttentionScale::entropy;
    bias_band.n_min = mask_band.n_min = 1.0;
    const auto g = run(bias_band, {minus.data(), nullptr}), h = run(mask_band, {nullptr, band.data()});
    double differs = 0.0;
    for (std::size_t x = 0; x < g.size(); ++x) differs = std::max(differs, std::fabs(static_cast<double>(g[x]) - h[x]));
    EXPECT_GT(differs, 1e-3);
    AttentionOptions full_scale = window;
    full_scale.window.reset();
    full_scale.scale = std::log(70.0) / std::log(512.0) / std::sqrt(8.0);  // c_i with n_i = 70
    full_scale.bias = bias_band.bias;
    const auto i70 = run(full_scale, {minus.data(), nullptr});
    for (std::size_t x = 0; x < g.size(); ++x) EXPECT_NEAR(g[x], i70[x], 2e-6) << x;
}

// ---- backward against finite differences, one option at a time -------------------------------------

TEST(AttentionMask, ReferenceBackwardMatchesFiniteDifferences) {
    std::vector<MaskCase> cases;
    const AttentionShape s{2, 3, 5, 2, 1, 4, 3};
    auto base = [&](const char* name) {
        MaskCase c{name, s, AttentionOptions{}, {}, {}};
        c.options.n_min = 1.0;
        return c;
    };
    MaskCase lens = base("seqLens");
    lens.options.seq_lens_q = std::vector<std::size_t>{3, 2};
    lens.options.seq_lens_k = std::vector<std::size_t>{5, 3};
    lens.options.causal = true;
    cases.push_back(lens);
    MaskCase window = base("window");
    window.options.window = AttentionWindow{std::size_t{1}, std::size_t{1}};
    window.options.rope = AttentionRope{};
    cases.push_back(window);
    MaskCase alibi = base("alibi");
    alibi.options.alibi = true;
    alibi.options.causal = true;
    cases.push_back(alibi);
    MaskCase bias = base("bias");
    bias.options.bias = AttentionBroadcast{{2, 1, 3, 5}};
    bias.bias = random_floats(30, 41);
    bias.bias[3] = -std::numeric_limits<float>::infinity();
    cases.push_back(bias);
    MaskCase mask = base("mask");
    mask.options.mask = AttentionBroadcast{{1, 2, 3, 5}};
    mask.mask = random_mask(30, 42, 0.6);
    for (std::size_t j = 0; j < 5; ++j) mask.mask[5 + j] = 0;  // head 0, row 1 sees nothing
    cases.push_back(mask);
    for (const MaskCase& c : cases) {
        SCOPED_TRACE(c.name);
        const AttentionBuffers buffers{c.bias.empty() ? nullptr : c.bias.data(), c.mask.empty() ? nullptr : c.mask.data()};
        auto q = to_double(random_floats(2 * 3 * 2 * 4, 11)), k = to_double(random_floats(2 * 5 * 4, 12));
        auto v = to_double(random_floats(2 * 5 * 3, 13));
        const auto d_o = to_double(random_floats(2 * 3 * 2 * 3, 14));
        std::vector<double> dq(q.size()), dk(k.size()), dv(v.size());
        attention_backward_reference(s, c.options, q.data(), k.data(), v.data(), d_o.data(), dq.data(), dk.data(),
                                     dv.data(), buffers);
        auto loss = [&]() {
            std::vector<double> o(d_o.size());
            attention_forward_reference(s, c.options, q.data(), k.data(), v.data(), o.data(), nullptr, buffers);
            double sum = 0.0;
            for (std::size_t i = 0; i < o.size(); ++i) sum += o[i] * d_o[i];
            return sum;
        };
        auto check = [&](std::vector<double>& x, const std::vector<double>& grad, const char* name) {
            testing::expect_central_differences(loss, x, grad, 1e-7, name);
        };
        check(q, dq, "dq");
        check(k, dk, "dk");
        check(v, dv, "dv");
        // And the float kernel agrees with the reference on the same case.
        check_against_reference(c);
    }
}

// ---- the float32 edge (issue 18) -----------------------------------------------------------------

// Logits up to ±3e38 after scaling: the softmax is one-hot on the largest, exactly, and the
// backward pass stays finite (exactly zero through the keys of weight 0).
TEST(AttentionFloatEdge, HugeLogitsAreExact) {
    // dim 1, scale 1: s_j = q·k_j.
    const AttentionShape s{1, 2, 3, 1, 1, 1, 1};
    AttentionOptions options;
    options.scale = 1.0;
    const std::vector<float> q{1.0f, -1.0f};
    const std::vector<float> k{3e38f, -3e38f, 1e38f};
    const std::vector<float> v{1.0f, 2.0f, 4.0f};
    std::vector<float> o(2), lse(2), dq(2), dk(3), dv(3);
    const std::vector<float> d_o{1.0f, 1.0f};
    for (bool causal : {false, true}) {
        options.causal = causal;
        const AttentionShape shape = causal ? AttentionShape{1, 2, 3, 1, 1, 1, 1} : s;
        attention_forward(shape, options, q.data(), k.data(), v.data(), o.data(), lse.data());
        // Row 0 (q = 1): logits 3e38, −3e38, 1e38 → all weight on key 0. Row 1 (q = −1): key 1.
        // Under causal row 0 sits at position 1 and sees keys 0, 1 only; row 1 sees all three.
        EXPECT_EQ(o[0], 1.0f);
        EXPECT_EQ(o[1], 2.0f);
        EXPECT_FLOAT_EQ(lse[0], 3e38f);
        EXPECT_FLOAT_EQ(lse[1], 3e38f);
        attention_backward(shape, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(),
                           dk.data(), dv.data());
        for (float x : dq) EXPECT_TRUE(std::isfinite(x));
        for (float x : dk) EXPECT_TRUE(std::isfinite(x));
        EXPECT_EQ(dv[0], 1.0f);
        EXPECT_EQ(dv[1], 1.0f);
        EXPECT_EQ(dv[2], 0.0f);
        EXPECT_EQ(dq[0], 0.0f);  // one-hot P: dS = P(dP − D) = 0
        EXPECT_EQ(dq[1], 0.0f);
    }
}

// Two equal huge logits split the weight; a row whose logits span ±3e38 across tiles keeps the
// running max right (the first tile's max far below the last one's, and the reverse).
TEST(AttentionFloatEdge, HugeLogitsAcrossTiles) {
    const std::size_t n = 2 * attention_key_tile() + 5;
    const AttentionShape s{1, 2, n, 1, 1, 1, 1};
    AttentionOptions options;
    options.scale = 1.0;
    std::vector<float> k(n, -3e38f), v(n, 0.0f);
    k[3] = 2e38f;
    v[3] = 1.0f;
    k[n - 1] = 2e38f;
    v[n - 1] = 3.0f;
    k[attention_key_tile() + 1] = 1e38f;
    v[attention_key_tile() + 1] = 100.0f;
    const std::vector<float> q{1.0f, -1.0f};
    std::vector<float> o(2), lse(2);
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
    EXPECT_FLOAT_EQ(o[0], 2.0f);  // half on v = 1, half on v = 3
    EXPECT_FLOAT_EQ(lse[0], 2e38f);
    EXPECT_EQ(o[1], 0.0f);  // −(−3e38) = 3e38 on every key of value 0
    std::vector<double> o_ref(2), lse_ref(2);
    attention_forward_reference(s, options, to_double(q).data(), to_double(k).data(), to_double(v).data(), o_ref.data(),
                                lse_ref.data());
    EXPECT_LE(relative_error(o, o_ref), 1e-6);

    // The backward pass recomputes P = exp(s − logsumexp) from a float32 logsumexp, whose rounding
    // at 2e38 (ulp 2e31) swallows log ℓ: with ties at the max P is off by up to the tie count
    // (docs/math.md), but every gradient stays finite; with a unique max it is exact.
    const std::vector<float> d_o{1.0f, -1.0f};
    std::vector<float> dq(2), dk(n), dv(n);
    attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(), dk.data(),
                       dv.data());
    for (float x : dq) EXPECT_TRUE(std::isfinite(x));
    for (float x : dk) EXPECT_TRUE(std::isfinite(x));
    for (float x : dv) EXPECT_TRUE(std::isfinite(x));
    k[3] = 1.5e38f;  // row 0's max is now unique, in the last tile
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
    EXPECT_EQ(o[0], 3.0f);
    attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(), dk.data(),
                       dv.data());
    EXPECT_EQ(dv[n - 1], 1.0f);
    EXPECT_EQ(dv[3], 0.0f);
    EXPECT_EQ(dv[attention_key_tile() + 1], 0.0f);
    EXPECT_EQ(dq[0], 0.0f);
}

// Logits that overflow float32 (q·k = 9e76) saturate at the largest float: finite, not NaN.
TEST(AttentionFloatEdge, OverflowingLogitsSaturate) {
    const AttentionShape s{1, 1, 2, 1, 1, 1, 1};
    AttentionOptions options;
    options.scale = 1.0;
    const std::vector<float> q{3e38f}, k{3e38f, 1.0f}, v{5.0f, 7.0f};
    std::vector<float> o(1), lse(1), dq(1), dk(2), dv(2);
    attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
    EXPECT_EQ(o[0], 5.0f);
    EXPECT_TRUE(std::isfinite(lse[0]));
    const std::vector<float> d_o{1.0f};
    attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(), dk.data(),
                       dv.data());
    EXPECT_TRUE(std::isfinite(dq[0]));
    EXPECT_EQ(dv[0], 1.0f);
    EXPECT_EQ(dv[1], 0.0f);
}

}  // namespace
}  // namespace kexue
