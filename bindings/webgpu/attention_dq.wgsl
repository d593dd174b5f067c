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
// workgroup memory, as in the forward kernel.

@group(0) @binding(0) var<storage, read> q: array<elem_t>;
@group(0) @binding(1) var<storage, read> k: array<elem_t>;
@group(0) @binding(2) var<storage, read> v: array<elem_t>;
@group(0) @binding(3) var<storage, read> o: array<f32>;
@group(0) @binding(4) var<storage, read> d_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> dq: array<f32>;
@group(0) @binding(7) var<storage, read> tables: array<f32>;
@group(0) @binding(8) var<uniform> params: AttentionParams;

var<workgroup> k_tile: array<elem_t, BLOCK_K * DIM>;
var<workgroup> v_tile: array<elem_t, BLOCK_K * DIM_V>;

const DPL: u32 = (DIM + LANES - 1u) / LANES;
const VPL: u32 = (DIM_V + LANES - 1u) / LANES;

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

  let tile_lo = row_keys(b, i0).x;
  let tile_hi = row_keys(b, min(i0 + BLOCK_Q, params.seq_q) - 1u).y;
  var range = vec2<u32>(0u, 0u);
  var q_part: array<elem_t, DPL>;
  var do_part: array<f32, VPL>;
  var dq_acc: array<f32, DPL>;
  var c = 0.0;
  var row_lse = 0.0;
  var dot_partial = 0.0;
  let stat = (b * params.heads + h) * params.seq_q + i;
  if (live) {
    range = row_keys(b, i);
    let base = q_row(b, i, h) * DIM;
    c = row_scale(b, i);
    for (var m = 0u; m < DPL; m++) {
      let d = t + m * LANES;
      if (d < DIM) {
        let r = rotation_q(d, i);
        q_part[m] = elem_t((f32(q[base + d]) * r.c + f32(q[base + r.partner]) * r.s) * c);
      }
    }
    let base_v = q_row(b, i, h) * DIM_V;
    for (var m = 0u; m < VPL; m++) {
      let d = t + m * LANES;
      if (d < DIM_V) {
        do_part[m] = d_out[base_v + d];
        dot_partial += do_part[m] * o[base_v + d];
      }
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
    for (var e = lid; e < cols * DIM; e += BLOCK_Q * LANES) {
      let j = j0 + e / DIM;
      let d = e % DIM;
      let base = k_row(b, j, kh) * DIM;
      let r = rotation_k(d, j);
      k_tile[e] = elem_t(f32(k[base + d]) * r.c + f32(k[base + r.partner]) * r.s);
    }
    for (var e = lid; e < cols * DIM_V; e += BLOCK_Q * LANES) {
      v_tile[e] = v[k_row(b, j0 + e / DIM_V, kh) * DIM_V + e % DIM_V];
    }
    workgroupBarrier();

    for (var cc = 0u; cc < cols; cc++) {
      var s_partial = 0.0;
      let krow = cc * DIM;
      for (var m = 0u; m < DPL; m++) {
        let d = t + m * LANES;
        if (d < DIM) {
          s_partial += f32(q_part[m] * k_tile[krow + d]);
        }
      }
      var dp_partial = 0.0;
      let vrow = cc * DIM_V;
      for (var m = 0u; m < VPL; m++) {
        let d = t + m * LANES;
        if (d < DIM_V) {
          dp_partial += do_part[m] * f32(v_tile[vrow + d]);
        }
      }
      let s = lane_sum(s_partial);
      let dp = lane_sum(dp_partial);
      let j = j0 + cc;
      let p = select(0.0, exp(s - row_lse), j >= range.x && j < range.y);
      let ds = p * (dp - row_d);
      for (var m = 0u; m < DPL; m++) {
        let d = t + m * LANES;
        if (d < DIM) {
          dq_acc[m] += ds * f32(k_tile[krow + d]);
        }
      }
    }
  }

  if (live) {
    let base = q_row(b, i, h) * DIM;
    for (var m = 0u; m < DPL; m++) {
      let d = t + m * LANES;
      if (d < DIM) {
        dq[base + d] = dq_acc[m] * c;
      }
    }
  }
}
