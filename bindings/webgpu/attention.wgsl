// Fused attention forward (docs/math.md §2), the WGSL twin of attention_forward in
// src/attention/attention.cpp: FlashAttention-2 tiling (Dao 2023, Algorithm 1), never a seqQ×seqK
// buffer.
//
// Layouts (row-major; strides in attention_common.wgsl):
//   q         [batch, seqQ, heads,   DIM]     elem_t (f32, or f16 with precision 'f16')
//   k         [batch, seqK, kvHeads, DIM]     elem_t
//   v         [batch, seqK, kvHeads, DIM_V]   elem_t
//   out       [batch, seqQ, heads,   DIM_V]   f32
//   stats     [batch, heads, seqQ]            f32, the logsumexp log Σ_j exp(s_ij) over the keys
//                                             row i sees (NO_SCORE for a row that sees none)
//   aux                                       c_i, RoPE (cos, sin), lengths, ALiBi, bias, mask
//                                             (attention_common.wgsl)
//
// One workgroup per (query tile, head, batch) (attention_common.wgsl: group_coords); BLOCK_Q rows
// per tile and LANES invocations per row. Rows are cut in quads (vec4: one workgroup-memory load
// feeds four multiply-adds); lane t owns quads t, t + LANES, t + 2·LANES, … of its row's rotated,
// pre-scaled q and of its unnormalised output; a score is the lanes' partial dot products summed
// by lane_sum (subgroup shuffles). The workgroup walks the keys in tiles of
// BLOCK_K rows, loading each K tile (rotated at load: RoPE fused) and V tile once into workgroup
// memory, where every row of the tile reads them; per chunk of CHUNK keys each row updates its
// running max m, running sum ℓ and output (online softmax). Loop bounds depend on uniform values
// only, so barriers and shuffles stay in uniform control flow; rows mask what they do not see.
//
// The host prepends the constants DIM, DIM_V, BLOCK_Q, BLOCK_K, LANES, CHUNK, `alias elem_t`,
// the uniform struct AttentionParams (kernels.js), rope_pair.wgsl, lane_sum and
// attention_common.wgsl.

@group(0) @binding(0) var<storage, read> q: array<elem_t>;
@group(0) @binding(1) var<storage, read> k: array<elem_t>;
@group(0) @binding(2) var<storage, read> v: array<elem_t>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@group(0) @binding(5) var<storage, read> aux: array<u32>;
@group(0) @binding(6) var<uniform> params: AttentionParams;

var<workgroup> k_tile: array<vec4<elem_t>, BLOCK_K * DIM4>;
var<workgroup> v_tile: array<vec4<elem_t>, BLOCK_K * DIM_V4>;

@compute @workgroup_size(BLOCK_Q * LANES)
fn attention_forward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let g = group_coords(wid, nwg, params.heads);
  if (!g.valid) {
    return;
  }
  let h = g.head;
  let b = g.batch;
  let kh = h / params.group;
  let t = lid % LANES;
  let i0 = g.tile * BLOCK_Q;
  let i = i0 + lid / LANES;
  let live = i < params.seq_q;

  // The keys of the tile's rows: from the first row's first to the last row's last (ranges move
  // forward with the row). Uniform values only.
  let tile = tile_keys(b, i0, BLOCK_Q);
  let tile_lo = tile.x;
  let tile_hi = tile.y;
  var range = RowKeys(0, 0u, 0u);
  if (live) {
    range = row_keys(b, i);
  }

  // This lane's quads of the rotated query row times c_i (folded in once instead of per score).
  var q_part: array<vec4<elem_t>, QPL>;
  if (live) {
    let c = row_scale(b, h, i);
    for (var m = 0u; m < QPL; m++) {
      q_part[m] = vec4<elem_t>(load_q4(b, i, h, t + m * LANES) * c);
    }
  }

  var acc: array<vec4<f32>, VQPL>;
  var scores: array<f32, CHUNK>;
  var running_max = NO_SCORE;
  var running_sum = 0.0;
  // A sink z_h is one more term of the softmax: m starts at z_h and ℓ at 1.
  if (params.has_sink != 0u) {
    running_max = aux_f32(params.sink_at + h);
    running_sum = 1.0;
  }
  let relu2 = params.normalize == NORMALIZE_RELU2;
  let l2 = params.normalize == NORMALIZE_L2;

  for (var j0 = tile_lo; j0 < tile_hi; j0 += BLOCK_K) {
    let cols = min(BLOCK_K, tile_hi - j0);
    workgroupBarrier();  // every row is done with the previous tile
    for (var e = lid; e < cols * DIM4; e += BLOCK_Q * LANES) {
      k_tile[e] = vec4<elem_t>(load_k4(b, j0 + e / DIM4, kh, e % DIM4));
    }
    for (var e = lid; e < cols * DIM_V4; e += BLOCK_Q * LANES) {
      v_tile[e] = load_v4(b, j0 + e / DIM_V4, kh, e % DIM_V4);
    }
    workgroupBarrier();

    for (var c0 = 0u; c0 < cols; c0 += CHUNK) {
      let n = min(CHUNK, cols - c0);
      var chunk_max = running_max;
      for (var c = 0u; c < n; c++) {
        var partial = 0.0;
        let row = (c0 + c) * DIM4;
        for (var m = 0u; m < QPL; m++) {
          let d4 = t + m * LANES;
          if (d4 < DIM4) {
            partial += f32(dot(q_part[m], k_tile[row + d4]));
          }
        }
        let score = lane_sum(partial);
        let j = j0 + c0 + c;
        var logit = NO_SCORE;
        if (j >= range.lo && j < range.hi) {
          let terms = logit_terms(b, h, i, j, range.position);
          if (terms != NO_SCORE) {
            logit = softcap(score) + terms;
            chunk_max = max(chunk_max, logit);
          }
        }
        scores[c] = logit;
      }
      // Online softmax (and l2): rescale what was summed under the old max (1 when it did not
      // move); relu2 has no running state.
      var correction = 1.0;
      if (!relu2) {
        correction = exp(running_max - chunk_max);
        running_sum *= select(correction, correction * correction, l2);
      }
      for (var m = 0u; m < VQPL; m++) {
        acc[m] *= correction;
      }
      for (var c = 0u; c < n; c++) {
        var p = 0.0;
        if (scores[c] != NO_SCORE) {
          if (relu2) {
            let r = max(scores[c], 0.0);
            p = r * r;
          } else {
            p = exp(scores[c] - chunk_max);
            running_sum += select(p, p * p, l2);
          }
        }
        let row = (c0 + c) * DIM_V4;
        for (var m = 0u; m < VQPL; m++) {
          let d4 = t + m * LANES;
          if (d4 < DIM_V4) {
            acc[m] += p * vec4<f32>(v_tile[row + d4]);
          }
        }
      }
      if (!relu2) {
        running_max = chunk_max;
      }
    }
  }

  if (live) {
    // O_i = acc_i · e^{−L_i}: L = m + log ℓ (softmax), m + ½ log ℓ (l2), log n_i (relu2); a row that
    // sees nothing (ℓ = 0 or n_i = 0) gets zeros and L = −∞ (NO_SCORE).
    var inverse_sum = 0.0;
    var statistic = NO_SCORE;
    if (relu2) {
      let count = row_count(b, h, i);
      if (count > 0.0) {
        inverse_sum = 1.0 / count;
        statistic = log(count);
      }
    } else if (running_sum > 0.0) {
      inverse_sum = select(1.0 / running_sum, inverseSqrt(running_sum), l2);
      statistic = running_max + select(1.0, 0.5, l2) * log(running_sum);
    }
    let base = q_row(b, i, h) * DIM_V;
    for (var m = 0u; m < VQPL; m++) {
      let x = acc[m] * inverse_sum;
      for (var c = 0u; c < 4u; c++) {
        let d = 4u * (t + m * LANES) + c;
        if (d < DIM_V) {
          out[base + d] = x[c];
        }
      }
    }
    if (t == 0u) {
      stats[(b * params.heads + h) * params.seq_q + i] = statistic;
    }
  }
}
