// What the WebGPU attention kernels (bindings/webgpu/attention*.wgsl) read besides the tensors,
// computed here by the rules the WASM kernels follow (attention.hpp), so that the two backends
// cannot drift apart: the per-row scale c_i, the fused RoPE's (cos, sin) per query row and key,
// the valid lengths of each batch entry, the ALiBi slopes, relu²'s n_i and the sink logits. The kernels then only compare and add.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention/attention.hpp"

namespace kexue {

struct AttentionGpuTables {
    // c_i of query row i of head h in batch entry b, [scale_batch, scale_heads, scale_rows] with
    // each dim either its full size or 1 (the same for all): a fixed or 'standard' scale is one
    // number; 'entropy' varies with the row (and the batch entry with seqLensQ/seqLensK, the head
    // with a per-head mask, since n_i counts the keys the mask admits).
    std::vector<float> row_scale;
    std::size_t scale_batch = 1, scale_heads = 1, scale_rows = 1;
    // n_i, the keys each row sees (the mask counted), laid out like row_scale; normalize 'relu2' only.
    std::vector<float> visible;
    // (a·cos, a·sin) per pair of the fused RoPE (a: YaRN's attention factor, else 1), interleaved:
    // rope_q [rope_q_batch, seq_q, pairs, 2] at each query's position (rope.positionsQ, else
    // attention_row's), rope_k [rope_k_batch, seq_k, pairs, 2] at each key's (rope.positionsK, else
    // j). Empty without RoPE; rope_k empty with a cache of rotated keys (keys are not rotated).
    std::vector<float> rope_q, rope_k;
    std::size_t rope_q_batch = 1, rope_k_batch = 1;
    // (Lq_b, Lk_b) per batch entry, [batch, 2]; empty without seqLensQ/seqLensK.
    std::vector<std::uint32_t> lengths;
    // slope_h per head with alibi, else empty.
    std::vector<float> alibi;
    // The sink logit z_h per head (sinks, or 0 with smoothSoftmax), else empty.
    std::vector<float> sinks;
};

// The tables of a call that passes attention_validate; `buffers.mask` is read for n_i when the call
// has a mask and the entropy scale.
AttentionGpuTables attention_gpu_tables(const AttentionShape& shape, const AttentionOptions& options,
                                        const AttentionBuffers& buffers);

}  // namespace kexue
