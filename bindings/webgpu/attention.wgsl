// Fused entropy-invariant attention forward (docs/math.md §2), the WGSL twin of attention_forward in
// src/attention/attention.cpp: FlashAttention-2 tiling, never a seqQ×seqK buffer.
//
// Layouts (row-major, f32):
//   q         [batch, seqQ, heads,   DIM]
//   k         [batch, seqK, kvHeads, DIM]
//   v         [batch, seqK, kvHeads, DIM_V]
//   out       [batch, seqQ, heads,   DIM_V]
//   row_scale [seqQ]                        c_i, computed on the host in f64 (log is inexact in WGSL)
//   rope_cs   [positions, rotary_pairs]     (cos, sin) of position·θ_p, positions first_position … seqK−1,
//                                           computed on the host in f64 (WGSL sin/cos are only
//                                           accurate to 2^-11 on [−π, π], unspecified beyond)
//
// One workgroup per (query tile, head, batch) = (workgroup_id.x, .y, .z); one invocation per query
// row, holding its rotated and pre-scaled q row, its running max m, running sum l and unnormalised
// output row in private memory. The workgroup walks the keys in tiles of BLOCK_K rows, loads each
// K tile (rotated at load: RoPE fused) and V tile once into workgroup memory, and every row reads
// them from there: each key/value float fetched from global memory serves BLOCK_Q rows.
//
// The host (shaders.js) prepends the specialisation constants of one pipeline
//   const DIM: u32; const DIM_V: u32; const BLOCK_Q: u32 (= workgroup size); const BLOCK_K: u32;
// (private arrays need const sizes, so they cannot be override constants), the uniform struct
// AttentionParams generated from its field list (ATTENTION_PARAMS in shaders.js), and
// rope_pair.wgsl.

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> row_scale: array<f32>;
@group(0) @binding(5) var<storage, read> rope_cs: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> params: AttentionParams;

var<workgroup> k_tile: array<f32, BLOCK_K * DIM>;
var<workgroup> v_tile: array<f32, BLOCK_K * DIM_V>;

// Element d of a row rotated at `position` is x[d]·c + x[partner]·s.
struct Rotation {
  partner: u32,
  c: f32,
  s: f32,
}

fn rotation(d: u32, position: i32) -> Rotation {
  let pairs = params.rotary_pairs;
  if (params.rope == 0u || d >= 2u * pairs) {
    return Rotation(d, 1.0, 0.0);
  }
  let pair = rope_pair(d, pairs, params.rope_half != 0u);
  let cs = rope_cs[u32(position - params.first_position) * pairs + pair.p];
  return Rotation(pair.partner, cs.x, pair.sign * cs.y);
}

// Keys query row i sees (docs/math.md §2: all of them, or with causal those at positions ≤ i + shift).
fn visible_keys(i: u32) -> u32 {
  if (params.causal == 0u) {
    return params.seq_k;
  }
  return u32(max(0, min(i32(params.seq_k), i32(i) + params.shift + 1)));
}

@compute @workgroup_size(BLOCK_Q)
fn attention_forward(@builtin(workgroup_id) tile: vec3<u32>,
                     @builtin(local_invocation_index) lane: u32) {
  let h = tile.y;
  let b = tile.z;
  let kh = h / params.group;
  let i0 = tile.x * BLOCK_Q;
  let i = i0 + lane;
  let live = i < params.seq_q;

  // Keys past the last row's position are masked for every row of the tile (causal). Computed
  // from uniform values only, so the barriers below stay in uniform control flow.
  let key_end = visible_keys(min(i0 + BLOCK_Q, params.seq_q) - 1u);
  var visible = 0u;
  if (live) {
    visible = visible_keys(i);
  }

  // The rotated query row, times its scale c_i (folded in once instead of per score).
  var q_row: array<f32, DIM>;
  if (live) {
    let base = ((b * params.seq_q + i) * params.heads + h) * DIM;
    let position = i32(i) + params.shift;
    let c = row_scale[i];
    for (var d = 0u; d < DIM; d++) {
      let r = rotation(d, position);
      q_row[d] = (q[base + d] * r.c + q[base + r.partner] * r.s) * c;
    }
  }

  var acc: array<f32, DIM_V>;
  var scores: array<f32, BLOCK_K>;
  var running_max = -3.0e38;
  var running_sum = 0.0;

  for (var j0 = 0u; j0 < key_end; j0 += BLOCK_K) {
    let cols = min(BLOCK_K, key_end - j0);
    workgroupBarrier();  // every row is done with the previous tile
    for (var e = lane; e < cols * DIM; e += BLOCK_Q) {
      let j = j0 + e / DIM;
      let d = e % DIM;
      let base = ((b * params.seq_k + j) * params.kv_heads + kh) * DIM;
      let r = rotation(d, i32(j));
      k_tile[e] = k[base + d] * r.c + k[base + r.partner] * r.s;
    }
    for (var e = lane; e < cols * DIM_V; e += BLOCK_Q) {
      let j = j0 + e / DIM_V;
      v_tile[e] = v[((b * params.seq_k + j) * params.kv_heads + kh) * DIM_V + e % DIM_V];
    }
    workgroupBarrier();

    // Columns of this tile the row sees (a prefix: the causal mask is a staircase).
    var live_cols = 0u;
    if (visible > j0) {
      live_cols = min(cols, visible - j0);
    }
    if (live_cols > 0u) {
      var tile_max = running_max;
      for (var c = 0u; c < live_cols; c++) {
        var score = 0.0;
        for (var d = 0u; d < DIM; d++) {
          score += q_row[d] * k_tile[c * DIM + d];
        }
        scores[c] = score;
        tile_max = max(tile_max, score);
      }
      // Online softmax: rescale what was summed under the old max.
      let correction = exp(running_max - tile_max);
      running_sum *= correction;
      for (var d = 0u; d < DIM_V; d++) {
        acc[d] *= correction;
      }
      for (var c = 0u; c < live_cols; c++) {
        let p = exp(scores[c] - tile_max);
        running_sum += p;
        for (var d = 0u; d < DIM_V; d++) {
          acc[d] += p * v_tile[c * DIM_V + d];
        }
      }
      running_max = tile_max;
    }
  }

  if (live) {
    let base = ((b * params.seq_q + i) * params.heads + h) * DIM_V;
    // Rows that see no key (seqK = 0) give zeros.
    let inverse_sum = select(0.0, 1.0 / running_sum, running_sum > 0.0);
    for (var d = 0u; d < DIM_V; d++) {
      out[base + d] = acc[d] * inverse_sum;
    }
  }
}
