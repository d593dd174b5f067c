// The fused attention's layouts and element types (attention.hpp: options.layout, input_type,
// output_type), forward and backward:
// - layout 'bhsd' reads and writes through strides: on the transposed tensors it gives bit for bit
//   the 'bshd' results, transposed, and both match the float64 reference;
// - float16 inputs are converted exactly while packing: the kernel on f16 bits gives bit for bit
//   the float32 kernel on the same values (their f32 conversions), and float16 outputs are those
//   float32 results rounded to nearest even; the backward pass in float16 matches the float64
//   reference within float16's precision.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "../helpers/tensors.hpp"

#include "attention/attention.hpp"
#include "core/float16.hpp"

namespace kexue {
namespace {

using testing::random_floats;
using testing::relative_error;
using testing::to_double;

// [batch, seq, heads, width] ↔ [batch, heads, seq, width] (the same function both ways, with
// seq and heads swapped).
template <typename T>
std::vector<T> swap_seq_heads(const std::vector<T>& x, std::size_t batch, std::size_t seq, std::size_t heads,
                              std::size_t width) {
    std::vector<T> out(x.size());
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t s = 0; s < seq; ++s)
            for (std::size_t h = 0; h < heads; ++h)
                for (std::size_t p = 0; p < width; ++p)
                    out[((b * heads + h) * seq + s) * width + p] = x[((b * seq + s) * heads + h) * width + p];
    return out;
}

std::vector<std::uint16_t> to_f16(const std::vector<float>& x) {
    std::vector<std::uint16_t> out(x.size());
    f32_to_f16_row(x.data(), out.data(), x.size());
    return out;
}

std::vector<float> from_f16(const std::vector<std::uint16_t>& x) {
    std::vector<float> out(x.size());
    f16_to_f32_row(x.data(), out.data(), x.size());
    return out;
}

struct Case {
    AttentionShape shape;
    bool causal;
    bool rope;
};

// Tile edges, GQA, dim_v ≠ dim, dims off the vector width, decoding after a cache.
std::vector<Case> cases() {
    const std::size_t tile = attention_query_tile();
    return {
        {{1, 5, 5, 2, 2, 8, 8}, false, false},
        {{2, tile + 1, tile + 1, 4, 2, 16, 12}, true, true},
        {{1, 3, tile + 5, 3, 1, 6, 17}, true, false},
        {{2, 70, 33, 2, 1, 12, 4}, false, true},
    };
}

struct Tensors {
    std::vector<float> q, k, v, d_o;
};

Tensors random_tensors(const AttentionShape& s, std::uint32_t seed) {
    return {random_floats(s.batch * s.seq_q * s.heads * s.dim, seed, 1.5f),
            random_floats(s.batch * s.seq_k * s.kv_heads * s.dim, seed + 1, 1.5f),
            random_floats(s.batch * s.seq_k * s.kv_heads * s.dim_v, seed + 2),
            random_floats(s.batch * s.seq_q * s.heads * s.dim_v, seed + 3)};
}

AttentionOptions options_for(const Case& c) {
    AttentionOptions options;
    options.scale = AttentionScale::standard;
    options.causal = c.causal;
    if (c.rope) options.rope = AttentionRope{};
    return options;
}

TEST(AttentionLayout, BhsdIsBshdTransposedBitForBit) {
    std::uint32_t seed = 1;
    for (const Case& c : cases()) {
        const AttentionShape& s = c.shape;
        SCOPED_TRACE(::testing::Message() << "seq_q=" << s.seq_q << " seq_k=" << s.seq_k << " heads=" << s.heads
                                        << " kv_heads=" << s.kv_heads << " causal=" << c.causal);
        const Tensors t = random_tensors(s, seed += 10);
        AttentionOptions bshd = options_for(c), bhsd = bshd;
        bhsd.layout = AttentionLayout::bhsd;

        std::vector<float> o(t.d_o.size()), lse(s.batch * s.heads * s.seq_q);
        attention_forward(s, bshd, t.q.data(), t.k.data(), t.v.data(), o.data(), lse.data());
        std::vector<float> dq(t.q.size()), dk(t.k.size()), dv(t.v.size());
        attention_backward(s, bshd, t.q.data(), t.k.data(), t.v.data(), o.data(), lse.data(), t.d_o.data(), dq.data(),
                           dk.data(), dv.data());

        const auto q_t = swap_seq_heads(t.q, s.batch, s.seq_q, s.heads, s.dim);
        const auto k_t = swap_seq_heads(t.k, s.batch, s.seq_k, s.kv_heads, s.dim);
        const auto v_t = swap_seq_heads(t.v, s.batch, s.seq_k, s.kv_heads, s.dim_v);
        const auto d_o_t = swap_seq_heads(t.d_o, s.batch, s.seq_q, s.heads, s.dim_v);
        std::vector<float> o_t(o.size()), lse_t(lse.size());
        attention_forward(s, bhsd, q_t.data(), k_t.data(), v_t.data(), o_t.data(), lse_t.data());
        std::vector<float> dq_t(dq.size()), dk_t(dk.size()), dv_t(dv.size());
        attention_backward(s, bhsd, q_t.data(), k_t.data(), v_t.data(), o_t.data(), lse_t.data(), d_o_t.data(),
                           dq_t.data(), dk_t.data(), dv_t.data());

        EXPECT_EQ(o_t, swap_seq_heads(o, s.batch, s.seq_q, s.heads, s.dim_v));
        EXPECT_EQ(lse_t, lse);  // [batch, heads, seq_q] in both layouts
        EXPECT_EQ(dq_t, swap_seq_heads(dq, s.batch, s.seq_q, s.heads, s.dim));
        EXPECT_EQ(dk_t, swap_seq_heads(dk, s.batch, s.seq_k, s.kv_heads, s.dim));
        EXPECT_EQ(dv_t, swap_seq_heads(dv, s.batch, s.seq_k, s.kv_heads, s.dim_v));

        // And against the float64 reference (which reads 'bshd').
        std::vector<double> o_ref(o.size()), dq_ref(dq.size()), dk_ref(dk.size()), dv_ref(dv.size());
        attention_forward_reference(s, bshd, to_double(t.q).data(), to_double(t.k).data(), to_double(t.v).data(),
                                    o_ref.data(), nullptr);
        attention_backward_reference(s, bshd, to_double(t.q).data(), to_double(t.k).data(), to_double(t.v).data(),
                                     to_double(t.d_o).data(), dq_ref.data(), dk_ref.data(), dv_ref.data());
        EXPECT_LE(relative_error(swap_seq_heads(o_t, s.batch, s.heads, s.seq_q, s.dim_v), o_ref), 1e-4);
        EXPECT_LE(relative_error(swap_seq_heads(dq_t, s.batch, s.heads, s.seq_q, s.dim), dq_ref), 1e-4);
        EXPECT_LE(relative_error(swap_seq_heads(dk_t, s.batch, s.kv_heads, s.seq_k, s.dim), dk_ref), 1e-4);
        EXPECT_LE(relative_error(swap_seq_heads(dv_t, s.batch, s.kv_heads, s.seq_k, s.dim_v), dv_ref), 1e-4);
    }
}

TEST(AttentionFloat16, InputsConvertExactlyAndOutputsRoundToNearest) {
    std::uint32_t seed = 100;
    for (const Case& c : cases()) {
        for (AttentionLayout layout : {AttentionLayout::bshd, AttentionLayout::bhsd}) {
            const AttentionShape& s = c.shape;
            SCOPED_TRACE(::testing::Message() << "seq_q=" << s.seq_q << " seq_k=" << s.seq_k << " layout="
                                            << enum_name(layout));
            const Tensors t = random_tensors(s, seed += 10);
            const auto q16 = to_f16(t.q), k16 = to_f16(t.k), v16 = to_f16(t.v);
            const auto q = from_f16(q16), k = from_f16(k16), v = from_f16(v16);  // the values f16 holds

            AttentionOptions f32 = options_for(c);
            f32.layout = layout;
            std::vector<float> want(t.d_o.size());
            attention_forward(s, f32, q.data(), k.data(), v.data(), want.data(), nullptr);

            AttentionOptions f16_in = f32;
            f16_in.input_type = ElementType::float16;
            f16_in.output_type = ElementType::float32;
            std::vector<float> got(want.size());
            attention_forward(s, f16_in, q16.data(), k16.data(), v16.data(), got.data(), nullptr);
            EXPECT_EQ(got, want);

            f16_in.output_type.reset();  // the input's type: float16
            EXPECT_EQ(f16_in.resolved_output_type(), ElementType::float16);
            std::vector<std::uint16_t> got16(want.size());
            attention_forward(s, f16_in, q16.data(), k16.data(), v16.data(), got16.data(), nullptr);
            EXPECT_EQ(got16, to_f16(want));

            // float32 inputs, float16 output.
            AttentionOptions f16_out = f32;
            f16_out.output_type = ElementType::float16;
            std::fill(got16.begin(), got16.end(), 0);
            attention_forward(s, f16_out, q.data(), k.data(), v.data(), got16.data(), nullptr);
            EXPECT_EQ(got16, to_f16(want));
        }
    }
}

TEST(AttentionFloat16, BackwardMatchesReferenceWithinHalfPrecision) {
    std::uint32_t seed = 200;
    for (const Case& c : cases()) {
        for (AttentionLayout layout : {AttentionLayout::bshd, AttentionLayout::bhsd}) {
            const AttentionShape& s = c.shape;
            SCOPED_TRACE(::testing::Message() << "seq_q=" << s.seq_q << " seq_k=" << s.seq_k << " layout="
                                            << enum_name(layout));
            const Tensors t = random_tensors(s, seed += 10);
            const auto q16 = to_f16(t.q), k16 = to_f16(t.k), v16 = to_f16(t.v), d_o16 = to_f16(t.d_o);
            const auto q = from_f16(q16), k = from_f16(k16), v = from_f16(v16), d_o = from_f16(d_o16);

            AttentionOptions options = options_for(c);
            options.layout = layout;
            options.input_type = ElementType::float16;  // and the output type with it
            const bool bhsd = layout == AttentionLayout::bhsd;
            auto in_layout = [&](std::vector<std::uint16_t> x, std::size_t seq, std::size_t heads, std::size_t width) {
                return bhsd ? swap_seq_heads(x, s.batch, seq, heads, width) : x;
            };
            auto to_bshd = [&](const std::vector<std::uint16_t>& x, std::size_t seq, std::size_t heads,
                               std::size_t width) {
                return from_f16(bhsd ? swap_seq_heads(x, s.batch, heads, seq, width) : x);
            };
            const auto q_in = in_layout(q16, s.seq_q, s.heads, s.dim), k_in = in_layout(k16, s.seq_k, s.kv_heads, s.dim);
            const auto v_in = in_layout(v16, s.seq_k, s.kv_heads, s.dim_v);
            const auto d_o_in = in_layout(d_o16, s.seq_q, s.heads, s.dim_v);
            std::vector<std::uint16_t> o(t.d_o.size()), dq(q.size()), dk(k.size()), dv(v.size());
            std::vector<float> lse(s.batch * s.heads * s.seq_q);
            attention_forward(s, options, q_in.data(), k_in.data(), v_in.data(), o.data(), lse.data());
            attention_backward(s, options, q_in.data(), k_in.data(), v_in.data(), o.data(), lse.data(), d_o_in.data(),
                               dq.data(), dk.data(), dv.data());

            AttentionOptions reference = options_for(c);
            std::vector<double> o_ref(o.size()), dq_ref(dq.size()), dk_ref(dk.size()), dv_ref(dv.size());
            attention_forward_reference(s, reference, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                        o_ref.data(), nullptr);
            attention_backward_reference(s, reference, to_double(q).data(), to_double(k).data(), to_double(v).data(),
                                         to_double(d_o).data(), dq_ref.data(), dk_ref.data(), dv_ref.data());
            // float16 keeps 11 significant bits (relative spacing 2^−10 ≈ 1e−3): the outputs are
            // rounded once, and the backward reads the rounded O.
            EXPECT_LE(relative_error(to_bshd(o, s.seq_q, s.heads, s.dim_v), o_ref), 1e-3);
            EXPECT_LE(relative_error(to_bshd(dq, s.seq_q, s.heads, s.dim), dq_ref), 4e-3);
            EXPECT_LE(relative_error(to_bshd(dk, s.seq_k, s.kv_heads, s.dim), dk_ref), 4e-3);
            EXPECT_LE(relative_error(to_bshd(dv, s.seq_k, s.kv_heads, s.dim_v), dv_ref), 1e-3);
        }
    }
}

}  // namespace
}  // namespace kexue
