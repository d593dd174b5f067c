// Fused entropy-invariant attention against its double-precision reference: reference values
// computed with mpmath from kexue.fm/8823 and bert4keras' softmax_plus (d = 2, four keys), a grid of shapes on the kernel's tile edges (seq 1, 2,
// tile ± 1, 333; causal with seq_q < seq_k; GQA; dim_v ≠ dim; the three scales; RoPE on and off),
// the backward pass against finite differences of the reference and against the reference
// backward, and the "needle" experiment that shows why the log n scale exists.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/attention_reference.hpp"
#include "../helpers/tensors.hpp"

#include "attention/attention.hpp"
#include "core/parallel.hpp"

namespace kexue {
namespace {

using testing::expect_attention_matches_reference;
using testing::random_floats;
using testing::relative_error;
using testing::to_double;

// ---- mpmath reference values: d = 2, four keys --------------------------------------------------

const std::vector<float> kSpecQ{1, 0, 0, 1, 1, 1, 0.5f, -1};
const std::vector<float> kSpecK{1, 0, 0, 1, -1, 0, 1, 1};
const std::vector<float> kSpecV{1, 0, 0, 1, 1, 1, 2, -1};

// Rows of O (with kSpecV) and of P (with V = I₄, so O = P) for the given options.
struct SpecResult {
    std::vector<float> o, p;
};

SpecResult run_spec(const AttentionOptions& options) {
    SpecResult result{std::vector<float>(8), std::vector<float>(16)};
    std::vector<float> lse(4);
    attention_forward({1, 4, 4, 1, 1, 2, 2}, options, kSpecQ.data(), kSpecK.data(), kSpecV.data(), result.o.data(),
                      lse.data());
    std::vector<float> identity(16, 0.0f);
    for (int j = 0; j < 4; ++j) identity[j * 4 + j] = 1.0f;
    attention_forward({1, 4, 4, 1, 1, 2, 4}, options, kSpecQ.data(), kSpecK.data(), identity.data(), result.p.data(),
                      lse.data());
    return result;
}

void expect_row(const std::vector<float>& matrix, std::size_t width, std::size_t row, std::vector<double> want) {
    for (std::size_t c = 0; c < want.size(); ++c)
        EXPECT_NEAR(matrix[row * width + c], want[c], 2e-6) << "row " << row << " column " << c;
    for (std::size_t c = want.size(); c < width; ++c) EXPECT_EQ(matrix[row * width + c], 0.0f);
}

TEST(AttentionSpec, ScaleFactors) {
    AttentionOptions options;
    EXPECT_DOUBLE_EQ(attention_row_scale(options, 4, 2), 1 / std::sqrt(2.0));  // 'standard' by default
    options.scale = AttentionScale::entropy;
    options.n_min = 1;
    const double want[] = {0, 0.07856742013, 0.1245264147, 0.1571348403};
    for (std::size_t n = 1; n <= 4; ++n) EXPECT_NEAR(attention_row_scale(options, n, 2), want[n - 1], 1e-10);
    options.scale = AttentionScale::standard;
    EXPECT_DOUBLE_EQ(attention_row_scale(options, 4, 2), 1 / std::sqrt(2.0));
    options.scale = AttentionScale::entropy;
    options.clip_below_one = true;
    EXPECT_DOUBLE_EQ(attention_row_scale(options, 4, 2), 1 / std::sqrt(2.0));
    EXPECT_NEAR(attention_row_scale(options, 4096, 2), 12.0 / 9.0 / std::sqrt(2.0), 1e-12);
}

TEST(AttentionSpec, Standard) {
    AttentionOptions options;
    options.scale = AttentionScale::standard;
    const auto r = run_spec(options);
    expect_row(r.p, 4, 0, {0.3654723070, 0.1802029522, 0.08885243381, 0.3654723070});
    expect_row(r.o, 2, 0, {1.185269355, -0.09641692105});
    expect_row(r.p, 4, 3, {0.4287494426, 0.1484447042, 0.2114029266, 0.2114029266});
    expect_row(r.o, 2, 3, {1.062958222, 0.1484447042});
}

TEST(AttentionSpec, EntropyWithoutClamp) {
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    options.n_min = 1;
    const auto r = run_spec(options);
    expect_row(r.p, 4, 0, {0.2789469634, 0.2383849557, 0.2037211176, 0.2789469634});
    expect_row(r.o, 2, 0, {1.040562008, 0.1631591099});
    expect_row(r.p, 4, 2, {0.2563790022, 0.2563790022, 0.1872392379, 0.3000027578});
    expect_row(r.o, 2, 2, {1.043623756, 0.1436154823});
    expect_row(r.p, 4, 3, {0.2857801381, 0.2257708410, 0.2442245105, 0.2442245105});
    expect_row(r.o, 2, 3, {1.018453669, 0.2257708410});
}

TEST(AttentionSpec, EntropyWithDefaultClampNMin16) {
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    const auto r = run_spec(options);
    expect_row(r.p, 4, 0, {0.3064014298, 0.2237717197, 0.1634254206, 0.3064014298});
    expect_row(r.o, 2, 0, {1.082629710, 0.08079571053});
}

TEST(AttentionSpec, EntropyCausal) {
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    options.n_min = 1;
    options.causal = true;
    const auto r = run_spec(options);
    expect_row(r.p, 4, 0, {1});
    expect_row(r.o, 2, 0, {1, 0});
    expect_row(r.p, 4, 1, {0.4803682426, 0.5196317574});
    expect_row(r.o, 2, 1, {0.4803682426, 0.5196317574});
    expect_row(r.p, 4, 2, {0.3597719174, 0.3597719174, 0.2804561651});
    expect_row(r.o, 2, 2, {0.6402280826, 0.6402280826});
    expect_row(r.p, 4, 3, {0.2857801381, 0.2257708410, 0.2442245105, 0.2442245105});
    expect_row(r.o, 2, 3, {1.018453669, 0.2257708410});
}

// ---- the grid ------------------------------------------------------------------------------------

struct GridCase {
    AttentionShape shape;
    AttentionOptions options;
};

std::string describe(const GridCase& c) {
    std::ostringstream out;
    const auto& s = c.shape;
    out << "batch=" << s.batch << " seq_q=" << s.seq_q << " seq_k=" << s.seq_k << " heads=" << s.heads
        << " kv_heads=" << s.kv_heads << " dim=" << s.dim << " dim_v=" << s.dim_v << " causal=" << c.options.causal
        << " scale=";
    if (const double* fixed = std::get_if<double>(&c.options.scale)) out << *fixed;
    else out << enum_name(std::get<AttentionScale>(c.options.scale));
    out << " rope=" << c.options.rope.has_value();
    if (c.options.rope) out << " layout=" << enum_name(c.options.rope->layout);
    return out.str();
}

std::vector<GridCase> grid_cases() {
    const std::size_t query_tile = attention_query_tile(), key_tile = attention_key_tile();
    std::vector<std::size_t> seqs{1, 2, query_tile - 1, query_tile, query_tile + 1, key_tile - 1, key_tile + 1, 333};
    std::vector<GridCase> cases;
    // The two named scales and a fixed c_i = 0.3.
    const std::variant<AttentionScale, double> scales[] = {AttentionScale::entropy, AttentionScale::standard, 0.3};
    std::size_t variant = 0;
    auto add = [&](AttentionShape shape, bool causal) {
        GridCase c{shape, AttentionOptions{}};
        c.options.causal = causal;
        c.options.scale = scales[variant % 3];
        if (variant % 2 == 1) {
            c.options.rope = AttentionRope{};
            c.options.rope->layout = (variant / 2) % 2 == 0 ? RopeLayout::interleaved : RopeLayout::half;
        }
        c.options.n_min = variant % 4 == 0 ? 1.0 : 16.0;
        c.options.clip_below_one = variant % 5 == 3;
        ++variant;
        cases.push_back(c);
    };
    for (std::size_t seq : seqs) {
        for (bool causal : {false, true}) {
            add({1, seq, seq, 2, 2, 16, 16}, causal);      // plain multi-head
            add({2, seq, seq, 4, 2, 8, 5}, causal);        // GQA, dim_v < dim, odd dim_v
            add({1, seq, seq, 3, 1, 6, 17}, causal);       // MQA, dim_v > dim, dims off the vector width
        }
    }
    // Causal decoding after a KV cache (seq_q < seq_k), and non-causal with unequal lengths
    // (seq_q > seq_k puts the queries at negative RoPE positions).
    for (auto [seq_q, seq_k] : {std::pair<std::size_t, std::size_t>{1, 65}, {5, 70}, {33, 333}, {2, 3}}) {
        for (bool causal : {false, true}) {
            add({1, seq_q, seq_k, 4, 1, 16, 12}, causal);
            add({1, seq_q, seq_k, 2, 2, 10, 10}, causal);
        }
    }
    add({1, 40, 7, 2, 1, 8, 8}, false);
    add({1, 65, 31, 2, 2, 8, 3}, false);
    add({1, 65, 31, 2, 2, 8, 3}, false);
    // All three scales with RoPE on and off, on one shape that crosses both tiles.
    for (std::size_t s = 0; s < 6; ++s) add({1, 70, 90, 2, 1, 16, 16}, s % 2 == 0);
    // RoPE at negative query positions (seq_q > seq_k, not causal), partial rotary, both layouts.
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
        GridCase c{{1, 40, 7, 2, 1, 8, 8}, AttentionOptions{}};
        c.options.rope = AttentionRope{};
        c.options.rope->layout = layout;
        cases.push_back(c);
        c.shape = {2, 35, 66, 2, 2, 12, 4};
        c.options.rope->rotary_dim = 4;
        c.options.causal = true;
        cases.push_back(c);
    }
    // Large head dims (several vector widths, dim_v ≠ dim).
    GridCase wide{{1, 70, 70, 2, 1, 128, 96}, AttentionOptions{}};
    wide.options.rope = AttentionRope{};
    cases.push_back(wide);
    wide.options.causal = true;
    wide.options.rope->layout = RopeLayout::half;
    cases.push_back(wide);
    return cases;
}

// Scores spanning hundreds of nats: the running max must rescale the accumulator as new tiles
// raise it (FlashAttention's online softmax), and the row maxima sit in different key tiles.
TEST(AttentionGrid, LargeScoresStayStable) {
    const AttentionShape s{1, 100, 300, 2, 2, 16, 8};
    AttentionOptions options;
    options.scale = 1.0;  // a fixed c_i
    for (bool causal : {false, true}) {
        options.causal = causal;
        const auto q = random_floats(100 * 2 * 16, 51, 4.0f), k = random_floats(300 * 2 * 16, 52, 4.0f);
        const auto v = random_floats(300 * 2 * 8, 53), d_o = random_floats(100 * 2 * 8, 54);
        std::vector<float> o(d_o.size()), lse(2 * 100), dq(q.size()), dk(k.size()), dv(v.size());
        attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
        attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(),
                           dk.data(), dv.data());
        std::vector<double> o_ref(o.size()), lse_ref(lse.size()), dq_ref(q.size()), dk_ref(k.size()), dv_ref(v.size());
        attention_forward_reference(s, options, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                    o_ref.data(), lse_ref.data());
        attention_backward_reference(s, options, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                     to_double(d_o).data(), dq_ref.data(), dk_ref.data(), dv_ref.data());
        double max_lse = 0.0;
        for (double x : lse_ref) max_lse = std::max(max_lse, x);
        EXPECT_GT(max_lse, 100.0);  // the scores really are large
        EXPECT_LE(relative_error(o, o_ref), 1e-4);
        EXPECT_LE(relative_error(lse, lse_ref), 1e-5);
        EXPECT_LE(relative_error(dv, dv_ref), 1e-4);
        EXPECT_LE(relative_error(dq, dq_ref), 1e-4);
        EXPECT_LE(relative_error(dk, dk_ref), 1e-4);
    }
}

TEST(AttentionGrid, ForwardAndBackwardMatchReference) {
    for (const GridCase& c : grid_cases()) {
        SCOPED_TRACE(describe(c));
        expect_attention_matches_reference(c.shape, c.options);
    }
}

// ---- backward against finite differences -----------------------------------------------------------

// L = Σ dO ∘ O(q, k, v) in double; its central differences against the reference backward.
TEST(AttentionBackward, ReferenceMatchesFiniteDifferences) {
    for (bool rope : {false, true}) {
        for (bool causal : {false, true}) {
            const AttentionShape s{1, 3, 5, 2, 1, 4, 3};
            AttentionOptions options;
            options.n_min = 1;  // so c_i differs per row under causal
            options.causal = causal;
            if (rope) {
                options.rope = AttentionRope{};
                options.rope->layout = causal ? RopeLayout::half : RopeLayout::interleaved;
            }
            auto q = to_double(random_floats(s.seq_q * s.heads * s.dim, 11));
            auto k = to_double(random_floats(s.seq_k * s.dim, 12));
            auto v = to_double(random_floats(s.seq_k * s.dim_v, 13));
            const auto d_o = to_double(random_floats(s.seq_q * s.heads * s.dim_v, 14));
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
                testing::expect_central_differences(loss, x, grad, 1e-7, name,
                                                    " rope=" + std::to_string(rope) + " causal=" + std::to_string(causal));
            };
            check(q, dq, "dq");
            check(k, dk, "dk");
            check(v, dv, "dv");
        }
    }
}

// ---- edge cases and errors ------------------------------------------------------------------------

TEST(AttentionEdges, NoKeysGiveZerosNotNaN) {
    const AttentionShape s{1, 3, 0, 2, 1, 4, 4};
    const auto q = random_floats(3 * 2 * 4, 21);
    std::vector<float> o(3 * 2 * 4, 7.0f), lse(6), dq(q.size(), 7.0f);
    attention_forward(s, AttentionOptions{}, q.data(), nullptr, nullptr, o.data(), lse.data());
    for (float x : o) EXPECT_EQ(x, 0.0f);
    for (float x : lse) EXPECT_TRUE(std::isinf(x) && x < 0);
    attention_backward(s, AttentionOptions{}, q.data(), nullptr, nullptr, o.data(), lse.data(), o.data(), dq.data(),
                       nullptr, nullptr);
    for (float x : dq) EXPECT_EQ(x, 0.0f);
}

// No queries: nothing to write forward; backward leaves zero gradients for K and V.
TEST(AttentionEdges, NoQueriesGiveZeroKeyGradients) {
    const AttentionShape s{1, 0, 5, 2, 1, 4, 3};
    const auto k = random_floats(5 * 4, 28), v = random_floats(5 * 3, 29);
    std::vector<float> dk(k.size(), 7.0f), dv(v.size(), 7.0f);
    attention_forward(s, AttentionOptions{}, nullptr, k.data(), v.data(), nullptr, nullptr);
    attention_backward(s, AttentionOptions{}, nullptr, k.data(), v.data(), nullptr, nullptr, nullptr, nullptr,
                       dk.data(), dv.data());
    for (float x : dk) EXPECT_EQ(x, 0.0f);
    for (float x : dv) EXPECT_EQ(x, 0.0f);
}

// With n_min = 1 a causal first row sees one key with c = 0: the output is that key's value.
TEST(AttentionEdges, SingleVisibleKeyWithZeroScale) {
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    options.n_min = 1;
    options.causal = true;
    const auto q = random_floats(2 * 4, 22), k = random_floats(2 * 4, 23), v = random_floats(2 * 3, 24);
    std::vector<float> o(2 * 3);
    attention_forward({1, 2, 2, 1, 1, 4, 3}, options, q.data(), k.data(), v.data(), o.data(), nullptr);
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(o[c], v[c]);
}

TEST(AttentionEdges, ResultDoesNotDependOnTheCallOrderOfTiles) {
    // The same rows computed as part of a long batch and alone agree exactly (tasks are independent).
    const AttentionShape s{2, 70, 70, 2, 1, 8, 8};
    const auto q = random_floats(2 * 70 * 2 * 8, 25), k = random_floats(2 * 70 * 8, 26), v = random_floats(2 * 70 * 8, 27);
    std::vector<float> o(q.size()), o_first(70 * 2 * 8);
    attention_forward(s, AttentionOptions{}, q.data(), k.data(), v.data(), o.data(), nullptr);
    attention_forward({1, 70, 70, 2, 1, 8, 8}, AttentionOptions{}, q.data(), k.data(), v.data(), o_first.data(),
                      nullptr);
    EXPECT_TRUE(std::equal(o_first.begin(), o_first.end(), o.begin()));
}

// Each output row is written by exactly one task, with no atomics: the thread count cannot change
// a single bit of the forward or the backward.
TEST(AttentionEdges, ThreadCountDoesNotChangeResults) {
    const AttentionShape s{1, 100, 130, 4, 2, 16, 8};
    AttentionOptions options;
    options.causal = true;
    options.rope = AttentionRope{};
    const auto q = random_floats(100 * 4 * 16, 41), k = random_floats(130 * 2 * 16, 42);
    const auto v = random_floats(130 * 2 * 8, 43), d_o = random_floats(100 * 4 * 8, 44);
    auto run = [&](std::size_t threads) {
        set_thread_count(threads);
        std::vector<float> o(d_o.size()), lse(4 * 100), dq(q.size()), dk(k.size()), dv(v.size());
        attention_forward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data());
        attention_backward(s, options, q.data(), k.data(), v.data(), o.data(), lse.data(), d_o.data(), dq.data(),
                           dk.data(), dv.data());
        return std::vector<std::vector<float>>{o, lse, dq, dk, dv};
    };
    const std::size_t saved = thread_count();
    const auto serial = run(1);
    const auto threaded = run(max_thread_count());
    set_thread_count(saved);
    EXPECT_EQ(serial, threaded);
}

// What the kernels used to throw for is now the validator's (attention_validate_test.cpp tests every
// rule with its parameter name); the same cases here, through the validator.
TEST(AttentionEdges, RejectsInvalidInput) {
    const AttentionShape ok{1, 2, 2, 2, 1, 4, 4};
    AttentionOptions options;
    EXPECT_FALSE(attention_validate(ok, options));
    AttentionShape bad = ok;
    bad.heads = 3;
    bad.kv_heads = 2;
    EXPECT_EQ(attention_validate(bad, options).parameter, "heads");
    bad = ok;
    bad.seq_q = 3;
    options.causal = true;
    EXPECT_EQ(attention_validate(bad, options).parameter, "causal");
    options = AttentionOptions{};
    options.base_len = 1.0;
    EXPECT_EQ(attention_validate(ok, options).parameter, "baseLen");
    options = AttentionOptions{};
    options.n_min = 0.5;
    EXPECT_EQ(attention_validate(ok, options).parameter, "nMin");
    options = AttentionOptions{};
    options.rope = AttentionRope{};
    bad = ok;
    bad.dim = 3;
    bad.dim_v = 3;
    EXPECT_EQ(attention_validate(bad, options).parameter, "dim");
    bad = ok;
    bad.dim = 0;
    EXPECT_EQ(attention_validate(bad, AttentionOptions{}).parameter, "dim");
}

// ---- the needle experiment -------------------------------------------------------------------------

// d = 64; 48 queries q ~ N(0, I); each query's own key equals the query and the other n − 1 keys
// are N(0, I). The mean attention weight on the matching key, read off the output with V = one-hot
// columns (V[j][c] = [j == c], keys 0 … 47 being the queries themselves).
double needle_weight(std::size_t n, AttentionScale scale) {
    constexpr std::size_t kDim = 64, kQueries = 48;
    const auto q = random_floats(kQueries * kDim, 31);
    auto k = random_floats(n * kDim, 32 + static_cast<std::uint32_t>(n));
    std::copy(q.begin(), q.end(), k.begin());
    std::vector<float> v(n * kQueries, 0.0f);
    for (std::size_t c = 0; c < kQueries; ++c) v[c * kQueries + c] = 1.0f;
    AttentionOptions options;
    options.scale = scale;
    std::vector<float> o(kQueries * kQueries);
    attention_forward({1, kQueries, n, 1, 1, kDim, kQueries}, options, q.data(), k.data(), v.data(), o.data(),
                      nullptr);
    double sum = 0.0;
    for (std::size_t c = 0; c < kQueries; ++c) sum += o[c * kQueries + c];
    return sum / kQueries;
}

TEST(AttentionNeedle, EntropyScaleDoesNotDiluteWithLength) {
    const double entropy_512 = needle_weight(512, AttentionScale::entropy);
    const double entropy_8192 = needle_weight(8192, AttentionScale::entropy);
    const double standard_512 = needle_weight(512, AttentionScale::standard);
    const double standard_8192 = needle_weight(8192, AttentionScale::standard);
    RecordProperty("entropy_512", std::to_string(entropy_512));
    RecordProperty("entropy_8192", std::to_string(entropy_8192));
    RecordProperty("standard_512", std::to_string(standard_512));
    RecordProperty("standard_8192", std::to_string(standard_8192));
    // At n = base_len the two scales coincide.
    EXPECT_NEAR(entropy_512, standard_512, 1e-5);
    EXPECT_LE(std::fabs(entropy_8192 - entropy_512), 0.2 * entropy_512)
        << "entropy: " << entropy_512 << " -> " << entropy_8192;
    EXPECT_LT(standard_8192, 0.5 * standard_512) << "standard: " << standard_512 << " -> " << standard_8192;
}

}  // namespace
}  // namespace kexue
