// attention_gpu_tables (attention_gpu.hpp): the WebGPU kernels' c_i, RoPE rows, lengths and ALiBi
// slopes follow the rules the WASM kernels use (attention_row, attention_visible_keys,
// attention_row_scale, attention_alibi_slope).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "attention/attention_gpu.hpp"

namespace kexue {
namespace {

TEST(AttentionGpuTables, FixedScaleIsOneNumber) {
    const AttentionShape shape{2, 3, 5, 2, 1, 4, 4};
    AttentionOptions options;  // 'standard'
    const AttentionGpuTables tables = attention_gpu_tables(shape, options, {});
    ASSERT_EQ(tables.row_scale.size(), 1u);
    EXPECT_FLOAT_EQ(tables.row_scale[0], 0.5f);
    EXPECT_EQ(tables.scale_batch * tables.scale_heads * tables.scale_rows, 1u);
    EXPECT_TRUE(tables.rope_q.empty() && tables.rope_k.empty() && tables.lengths.empty() && tables.alibi.empty());
}

TEST(AttentionGpuTables, EntropyScaleCountsWhatEachRowSees) {
    const AttentionShape shape{2, 3, 5, 2, 1, 4, 4};
    AttentionOptions options;
    options.scale = AttentionScale::entropy;
    options.n_min = 1;
    options.causal = true;
    options.seq_lens_q = std::vector<std::size_t>{3, 2};
    options.seq_lens_k = std::vector<std::size_t>{5, 3};
    // A per-head mask that hides key 0 from head 1.
    options.mask = AttentionBroadcast{{1, 2, 1, 5}};
    const std::vector<std::uint8_t> mask{1, 1, 1, 1, 1, 0, 1, 1, 1, 1};
    AttentionBuffers buffers;
    buffers.mask = mask.data();
    const AttentionGpuTables tables = attention_gpu_tables(shape, options, buffers);
    ASSERT_EQ(tables.scale_batch, 2u);
    ASSERT_EQ(tables.scale_heads, 2u);
    ASSERT_EQ(tables.scale_rows, 3u);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t h = 0; h < 2; ++h)
            for (std::size_t i = 0; i < 3; ++i) {
                const std::size_t n = attention_visible_keys(shape, options, buffers, b, h, i);
                EXPECT_FLOAT_EQ(tables.row_scale[(b * 2 + h) * 3 + i],
                                static_cast<float>(attention_row_scale(options, n == 0 ? 1 : n, 4)))
                    << b << ' ' << h << ' ' << i;
            }
    ASSERT_EQ(tables.lengths, (std::vector<std::uint32_t>{3, 5, 2, 3}));
}

TEST(AttentionGpuTables, RopeRowsAtEachQuerysPositionAndAlibiSlopes) {
    const AttentionShape shape{2, 2, 4, 3, 3, 4, 4};
    AttentionOptions options;
    options.rope = AttentionRope{};
    options.rope->rotary_dim = 4;
    options.seq_lens_q = std::vector<std::size_t>{2, 1};
    options.seq_lens_k = std::vector<std::size_t>{4, 2};
    options.alibi = true;
    const AttentionGpuTables tables = attention_gpu_tables(shape, options, {});
    ASSERT_EQ(tables.rope_q_batch, 2u);
    ASSERT_EQ(tables.rope_q.size(), 2u * 2u * 2u * 2u);  // [batch, seq_q, pairs, (cos, sin)]
    // Batch 1, row 0 sits at 2 − 1 + 0 = 1: pair 0 turns by 1 rad, pair 1 by 0.01.
    const std::size_t at = (1 * 2 + 0) * 4;
    EXPECT_FLOAT_EQ(tables.rope_q[at], static_cast<float>(std::cos(1.0)));
    EXPECT_FLOAT_EQ(tables.rope_q[at + 1], static_cast<float>(std::sin(1.0)));
    EXPECT_FLOAT_EQ(tables.rope_q[at + 2], static_cast<float>(std::cos(0.01)));
    // Batch 0, row 1 at 4 − 2 + 1 = 3; keys at 0 … 3.
    EXPECT_FLOAT_EQ(tables.rope_q[4], static_cast<float>(std::cos(3.0)));
    ASSERT_EQ(tables.rope_k.size(), 4u * 2u * 2u);
    EXPECT_FLOAT_EQ(tables.rope_k[3 * 4 + 1], static_cast<float>(std::sin(3.0)));
    ASSERT_EQ(tables.alibi.size(), 3u);
    for (std::size_t h = 0; h < 3; ++h) EXPECT_FLOAT_EQ(tables.alibi[h], static_cast<float>(attention_alibi_slope(3, h)));
}

}  // namespace
}  // namespace kexue
