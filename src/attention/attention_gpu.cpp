// The WebGPU kernels' side tables (attention_gpu.hpp), from the public rules of attention.hpp.
#include "attention/attention_gpu.hpp"

#include <algorithm>
#include <variant>

namespace kexue {

AttentionGpuTables attention_gpu_tables(const AttentionShape& shape, const AttentionOptions& options,
                                        const AttentionBuffers& buffers) {
    AttentionGpuTables tables;
    const bool entropy = std::holds_alternative<AttentionScale>(options.scale) &&
                         std::get<AttentionScale>(options.scale) == AttentionScale::entropy;
    const bool relu2 = options.normalize == AttentionNormalize::relu2;
    const bool lengths = options.seq_lens_q || options.seq_lens_k;
    if ((entropy || relu2) && shape.seq_q > 0) {
        // n_i varies with the row, with the batch entry when lengths or the mask do, and with the
        // head when the mask does.
        const bool per_batch = lengths || (options.mask && options.mask->shape[0] > 1);
        const bool per_head = options.mask && options.mask->shape[1] > 1;
        tables.scale_batch = per_batch ? shape.batch : 1;
        tables.scale_heads = per_head ? shape.heads : 1;
        tables.scale_rows = shape.seq_q;
        const std::size_t count = tables.scale_batch * tables.scale_heads * shape.seq_q;
        tables.row_scale.resize(count);
        if (relu2) tables.visible.resize(count);
        for (std::size_t b = 0; b < tables.scale_batch; ++b)
            for (std::size_t h = 0; h < tables.scale_heads; ++h)
                for (std::size_t i = 0; i < shape.seq_q; ++i) {
                    const std::size_t n = attention_visible_keys(shape, options, buffers, b, h, i);
                    const std::size_t at = (b * tables.scale_heads + h) * shape.seq_q + i;
                    tables.row_scale[at] =
                        static_cast<float>(attention_row_scale(options, std::max<std::size_t>(1, n), shape.dim));
                    if (relu2) tables.visible[at] = static_cast<float>(n);
                }
    } else {
        tables.row_scale.assign(1, static_cast<float>(attention_row_scale(options, 1, shape.dim)));
    }

    if (options.rope) {
        const AttentionRope& fused = *options.rope;
        RopeOptions rope;
        rope.base = fused.base;
        rope.layout = fused.layout;
        rope.rotary_dim = fused.rotary_dim;
        rope.scaling = fused.scaling;
        rope.inverse_frequencies = fused.inverse_frequencies;
        rope.float32_angles = fused.float32_angles;
        // Queries: rope.positionsQ (one row for all entries or one per entry), else attention_row's
        // positions, which depend on the batch entry's lengths.
        if (fused.positions_q) {
            rope.positions = fused.positions_q;
            rope.positions_per_batch = fused.positions_q_per_batch;
            tables.rope_q_batch = fused.positions_q_per_batch ? shape.batch : 1;
            if (shape.seq_q > 0) tables.rope_q = rope_cos_sin_table(RopeShape{shape.batch, shape.seq_q, 1, shape.dim}, rope);
        } else {
            tables.rope_q_batch = lengths ? shape.batch : 1;
            std::vector<double> positions(shape.seq_q);
            rope.positions_per_batch = false;
            for (std::size_t b = 0; b < tables.rope_q_batch; ++b) {
                for (std::size_t i = 0; i < shape.seq_q; ++i)
                    positions[i] = static_cast<double>(attention_row(shape, options, b, i).position);
                rope.positions = positions.data();
                const std::vector<float> rows = rope_cos_sin_table(RopeShape{1, shape.seq_q, 1, shape.dim}, rope);
                tables.rope_q.insert(tables.rope_q.end(), rows.begin(), rows.end());
            }
        }
        // Keys: none with a cache of rotated keys; rope.positionsK, else j.
        if (fused.cached_keys == RopeCachedKeys::unrotated && shape.seq_k > 0) {
            rope.positions = fused.positions_k;
            rope.positions_per_batch = fused.positions_k && fused.positions_k_per_batch;
            rope.position_offset = 0.0;
            tables.rope_k_batch = rope.positions_per_batch ? shape.batch : 1;
            tables.rope_k = rope_cos_sin_table(RopeShape{shape.batch, shape.seq_k, 1, shape.dim}, rope);
        }
    }

    if (lengths) {
        tables.lengths.resize(2 * shape.batch);
        for (std::size_t b = 0; b < shape.batch; ++b) {
            tables.lengths[2 * b] = static_cast<std::uint32_t>(attention_seq_len_q(shape, options, b));
            tables.lengths[2 * b + 1] = static_cast<std::uint32_t>(attention_seq_len_k(shape, options, b));
        }
    }
    if (options.alibi) {
        tables.alibi.resize(shape.heads);
        for (std::size_t h = 0; h < shape.heads; ++h)
            tables.alibi[h] = static_cast<float>(attention_alibi_slope(shape.heads, h));
    }
    if (attention_has_sink(options)) {
        tables.sinks.resize(shape.heads);
        for (std::size_t h = 0; h < shape.heads; ++h) tables.sinks[h] = static_cast<float>(attention_sink(options, h));
    }
    return tables;
}

}  // namespace kexue
