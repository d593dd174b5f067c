// Attention backward, pass 2: dK and dV (docs/math.md §2.3), the WGSL twin of backward_dkv_task in
// src/attention/attention.cpp. With P, dS and D as in attention_dq.wgsl:
//   dV_j = Σ_i P_ij dO_i,   dK_j = R_jᵀ Σ_i dS_ij (c_i R_i q_i),
// summed over every query row and every query head of the key's group (grouped-query attention).
// One workgroup per (key tile, kv head, batch): BLOCK_K key rows × LANES invocations, each key's
// dK and dV owned by its row's lanes (no atomics; a fixed order of summation). The workgroup walks
// the query heads of the group and their query tiles of BLOCK_Q rows, skipping the tiles none of
// whose rows sees a key of this tile; each tile's rotated, scaled queries, dO rows, logsumexp and
// D are loaded once into workgroup memory.
//
// Layouts (row-major; strides in attention_common.wgsl):
//   q, k, v                  elem_t, as in attention.wgsl
//   d_out, stats             f32, as in attention_dq.wgsl (D written by that pass)
//   dk [batch, seqK, kvHeads, DIM] f32, in the rotated frame (Σ_i dS_ij c_i R_i q_i): with RoPE
//                                  the host rotates it back by R_jᵀ (rope.wgsl, sign −1)
//   dv [batch, seqK, kvHeads, DIM_V] f32

@group(0) @binding(0) var<storage, read> q: array<elem_t>;
@group(0) @binding(1) var<storage, read> k: array<elem_t>;
@group(0) @binding(2) var<storage, read> v: array<elem_t>;
@group(0) @binding(3) var<storage, read> d_out: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dk: array<f32>;
@group(0) @binding(6) var<storage, read_write> dv: array<f32>;
@group(0) @binding(7) var<storage, read> aux: array<u32>;
@group(0) @binding(8) var<uniform> params: AttentionParams;

var<workgroup> q_tile: array<vec4<elem_t>, BLOCK_Q * DIM4>;
var<workgroup> do_tile: array<vec4<f32>, BLOCK_Q * DIM_V4>;
var<workgroup> lse_tile: array<f32, BLOCK_Q>;
var<workgroup> d_tile: array<f32, BLOCK_Q>;
var<workgroup> row_tile: array<RowKeys, BLOCK_Q>;

@compute @workgroup_size(BLOCK_K * LANES)
fn attention_dkv(@builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let g = group_coords(wid, nwg, params.kv_heads);
  if (!g.valid) {
    return;
  }
  let kh = g.head;
  let b = g.batch;
  let t = lid % LANES;
  let j0 = g.tile * BLOCK_K;
  let j = j0 + lid / LANES;
  let live = j < params.seq_k;
  let j_end = min(j0 + BLOCK_K, params.seq_k);  // the tile's keys: j0 … j_end − 1

  var k_part: array<vec4<elem_t>, QPL>;
  var v_part: array<vec4<f32>, VQPL>;
  var dk_acc: array<vec4<f32>, QPL>;
  var dv_acc: array<vec4<f32>, VQPL>;
  if (live) {
    for (var m = 0u; m < QPL; m++) {
      k_part[m] = vec4<elem_t>(load_k4(b, j, kh, t + m * LANES));
    }
    for (var m = 0u; m < VQPL; m++) {
      v_part[m] = vec4<f32>(load_v4(b, j, kh, t + m * LANES));
    }
  }

  let tiles_q = (params.seq_q + BLOCK_Q - 1u) / BLOCK_Q;
  for (var h = kh * params.group; h < (kh + 1u) * params.group; h++) {
    for (var qt = 0u; qt < tiles_q; qt++) {
      let i0 = qt * BLOCK_Q;
      let rows = min(BLOCK_Q, params.seq_q - i0);
      // Skip the tile when no row sees a key here (ranges move forward with the row).
      let seen = tile_keys(b, i0, rows);
      if (seen.x >= j_end || seen.y <= j0) {
        continue;
      }
      workgroupBarrier();
      for (var e = lid; e < rows * DIM4; e += BLOCK_K * LANES) {
        let i = i0 + e / DIM4;
        q_tile[e] = vec4<elem_t>(load_q4(b, i, h, e % DIM4) * row_scale(b, h, i));
      }
      for (var e = lid; e < rows * DIM_V4; e += BLOCK_K * LANES) {
        let base = q_row(b, i0 + e / DIM_V4, h) * DIM_V;
        var x = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
          let d = 4u * (e % DIM_V4) + c;
          if (d < DIM_V) {
            x[c] = d_out[base + d];
          }
        }
        do_tile[e] = x;
      }
      for (var r = lid; r < rows; r += BLOCK_K * LANES) {
        let stat = (b * params.heads + h) * params.seq_q + i0 + r;
        lse_tile[r] = stats[stat];
        d_tile[r] = stats[params.row_dot_at + stat];
        row_tile[r] = row_keys(b, i0 + r);
      }
      workgroupBarrier();

      for (var r = 0u; r < rows; r++) {
        var s_partial = 0.0;
        let qrow = r * DIM4;
        for (var m = 0u; m < QPL; m++) {
          let d4 = t + m * LANES;
          if (d4 < DIM4) {
            s_partial += f32(dot(q_tile[qrow + d4], k_part[m]));
          }
        }
        var dp_partial = 0.0;
        let orow = r * DIM_V4;
        for (var m = 0u; m < VQPL; m++) {
          let d4 = t + m * LANES;
          if (d4 < DIM_V4) {
            dp_partial += dot(do_tile[orow + d4], v_part[m]);
          }
        }
        let s = lane_sum(s_partial);
        let dp = lane_sum(dp_partial);
        let row = row_tile[r];
        var p = 0.0;
        var ds = 0.0;
        if (live && j >= row.lo && j < row.hi) {
          let terms = logit_terms(b, h, i0 + r, j, row.position);
          if (terms != NO_SCORE) {
            let capped = softcap(s);
            let weight = weight_and_gradient(capped + terms, capped, dp, d_tile[r], lse_tile[r]);
            p = weight.x;
            ds = weight.y;
          }
        }
        for (var m = 0u; m < VQPL; m++) {
          let d4 = t + m * LANES;
          if (d4 < DIM_V4) {
            dv_acc[m] += p * do_tile[orow + d4];
          }
        }
        for (var m = 0u; m < QPL; m++) {
          let d4 = t + m * LANES;
          if (d4 < DIM4) {
            dk_acc[m] += ds * vec4<f32>(q_tile[qrow + d4]);
          }
        }
      }
    }
  }

  if (live) {
    let base = k_row(b, j, kh) * DIM;
    for (var m = 0u; m < QPL; m++) {
      for (var c = 0u; c < 4u; c++) {
        let d = 4u * (t + m * LANES) + c;
        if (d < DIM) {
          dk[base + d] = dk_acc[m][c];
        }
      }
    }
    let base_v = k_row(b, j, kh) * DIM_V;
    for (var m = 0u; m < VQPL; m++) {
      for (var c = 0u; c < 4u; c++) {
        let d = 4u * (t + m * LANES) + c;
        if (d < DIM_V) {
          dv[base_v + d] = dv_acc[m][c];
        }
      }
    }
  }
}
