// Attention backward, pass 1: dQ (docs/math.md §2.3), the WGSL twin of backward_dq_task in
// src/attention/attention.cpp (FlashAttention-2, Dao 2023, Algorithm 2, with dQ in a pass of its
// own). With P_ij = exp(s_ij − logsumexp_i) recomputed tile by tile from the forward's saved
// logsumexp and D_i = Σ_d dO_id·O_id:
//   dP_ij = dO_i · v_j,   dS_ij = P_ij (dP_ij − D_i),   dQ_i = c_i R_iᵀ Σ_j dS_ij (R_j k_j).
// Each row's dQ is owned by the LANES invocations of its row: no atomics, the same sums in the
// same order on every run.
//
// Layouts (row-major; strides in attention_common.wgsl; tensors as in attention.wgsl):
//   q, k, v          elem_t                    d_out [batch, seqQ, heads, DIM_V] f32
//   o                [batch, seqQ, heads, DIM_V] f32, the forward's output (read when D is not given)
//   stats            [2, batch, heads, seqQ]   f32: the forward's logsumexp, then (from row_dot_at)
//                                              D_i, written here (row_dot_given = 0) for the dK/dV
//                                              pass or given by the host (a call in pieces)
//   dq               [batch, seqQ, heads, DIM] f32: c_i Σ_j dS_ij (R_j k_j), still in the rotated
//                                              frame: with RoPE the host rotates it back by R_iᵀ
//                                              (rope.wgsl, sign −1) in a dispatch of its own, since
//                                              a rotation pair may span two lanes.
// One workgroup per (query tile, head, batch), BLOCK_Q rows × LANES invocations, K and V tiles in
// workgroup memory, rows in quads, as in the forward kernel.

@group(0) @binding(0) var<storage, read> q: array<elem_t>;
@group(0) @binding(1) var<storage, read> k: array<elem_t>;
@group(0) @binding(2) var<storage, read> v: array<elem_t>;
@group(0) @binding(3) var<storage, read> o: array<f32>;
@group(0) @binding(4) var<storage, read> d_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read> aux: array<u32>;
@group(0) @binding(8) var<uniform> params: AttentionParams;

var<workgroup> k_tile: array<vec4<elem_t>, BLOCK_K * DIM4>;
var<workgroup> v_tile: array<vec4<elem_t>, BLOCK_K * DIM_V4>;

@compute @workgroup_size(BLOCK_Q * LANES)
fn attention_dq(@builtin(workgroup_id) wid: vec3<u32>,
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

  let tile = tile_keys(b, i0, BLOCK_Q);
  let tile_lo = tile.x;
  let tile_hi = tile.y;
  var range = RowKeys(0, 0u, 0u);
  var q_part: array<vec4<elem_t>, QPL>;
  var do_part: array<vec4<f32>, VQPL>;
  var dq_acc: array<vec4<f32>, QPL>;
  var c = 0.0;
  var row_lse = 0.0;
  var dot_partial = 0.0;
  let stat = (b * params.heads + h) * params.seq_q + i;
  if (live) {
    range = row_keys(b, i);
    c = row_scale(b, h, i);
    for (var m = 0u; m < QPL; m++) {
      q_part[m] = vec4<elem_t>(load_q4(b, i, h, t + m * LANES) * c);
    }
    let base_v = q_row(b, i, h) * DIM_V;
    for (var m = 0u; m < VQPL; m++) {
      var x = vec4<f32>(0.0);
      var y = vec4<f32>(0.0);
      for (var e = 0u; e < 4u; e++) {
        let d = 4u * (t + m * LANES) + e;
        if (d < DIM_V) {
          x[e] = d_out[base_v + d];
          y[e] = o[base_v + d];
        }
      }
      do_part[m] = x;
      dot_partial += dot(x, y);
    }
    row_lse = stats[stat];
  }
  // D_i, summed across the row's lanes (all lanes take part: lane_sum is a subgroup operation).
  var row_d = lane_sum(dot_partial);
  if (live) {
    if (params.row_dot_given != 0u) {
      row_d = stats[params.row_dot_at + stat];
    } else if (t == 0u) {
      stats[params.row_dot_at + stat] = row_d;
    }
  }

  for (var j0 = tile_lo; j0 < tile_hi; j0 += BLOCK_K) {
    let cols = min(BLOCK_K, tile_hi - j0);
    workgroupBarrier();
    for (var e = lid; e < cols * DIM4; e += BLOCK_Q * LANES) {
      k_tile[e] = vec4<elem_t>(load_k4(b, j0 + e / DIM4, kh, e % DIM4));
    }
    for (var e = lid; e < cols * DIM_V4; e += BLOCK_Q * LANES) {
      v_tile[e] = load_v4(b, j0 + e / DIM_V4, kh, e % DIM_V4);
    }
    workgroupBarrier();

    for (var cc = 0u; cc < cols; cc++) {
      var s_partial = 0.0;
      let krow = cc * DIM4;
      for (var m = 0u; m < QPL; m++) {
        let d4 = t + m * LANES;
        if (d4 < DIM4) {
          s_partial += f32(dot(q_part[m], k_tile[krow + d4]));
        }
      }
      var dp_partial = 0.0;
      let vrow = cc * DIM_V4;
      for (var m = 0u; m < VQPL; m++) {
        let d4 = t + m * LANES;
        if (d4 < DIM_V4) {
          dp_partial += dot(do_part[m], vec4<f32>(v_tile[vrow + d4]));
        }
      }
      let s = lane_sum(s_partial);
      let dp = lane_sum(dp_partial);
      let j = j0 + cc;
      var ds = 0.0;
      if (j >= range.lo && j < range.hi) {
        let terms = logit_terms(b, h, i, j, range.position);
        if (terms != NO_SCORE) {
          let capped = softcap(s);
          ds = weight_and_gradient(capped + terms, capped, dp, row_d, row_lse).y;
        }
      }
      for (var m = 0u; m < QPL; m++) {
        let d4 = t + m * LANES;
        if (d4 < DIM4) {
          dq_acc[m] += ds * vec4<f32>(k_tile[krow + d4]);
        }
      }
    }
  }

  if (live) {
    let base = q_row(b, i, h) * DIM;
    for (var m = 0u; m < QPL; m++) {
      let x = dq_acc[m] * c;
      for (var e = 0u; e < 4u; e++) {
        let d = 4u * (t + m * LANES) + e;
        if (d < DIM) {
          dq[base + d] = x[e];
        }
      }
    }
  }
}
