// What the three attention kernels share (attention.wgsl forward, attention_dq.wgsl and
// attention_dkv.wgsl backward; kernels.js prepends this file to each): the workgroup → (tile,
// head, batch) decoding that lets one call span several dispatches, the rows' visible key ranges,
// the fused RoPE, and the sum across the LANES invocations that share one row.
//
// A call may be cut into pieces (backend.js: a piece's tensors each fit one storage binding); a
// kernel sees one piece: batch entries, query rows q_offset … q_offset + seq_q − 1 and keys
// k_offset … k_offset + seq_k − 1 of the whole call, its tensors copied to buffers of their own
// ("local" indices below count from the piece's first row and key; "global" ones from the call's).
//
// Row strides (in rows of DIM or DIM_V elements; a row is one (batch, position, head)):
//   q, out, dq, dOut   row (b, i, h)  at b·q_sb + i·q_ss + h·q_sh   ('bshd': q_ss = heads, q_sh = 1)
//   k, v, dk, dv       row (b, j, g)  at b·k_sb + j·k_ss + g·k_sh
// Everything else the kernels read shares one buffer, `aux` (u32 words; f32 values as their bits;
// WebGPU guarantees only 8 storage buffers per shader stage), at offsets and strides given in
// `params` (0 strides broadcast), all tables for the piece's local rows and keys:
//   c_i          f32 [batch|1, heads|1, rows|1] at scale_at     (attention_gpu.hpp: host-computed in
//                                                               f64 by WASM's rules)
//   RoPE         (cos, sin) f32 per query row [batch|1, rows, pairs] at rope_q_at, per key
//                [batch|1, keys, pairs] at rope_k_at (rope_keys = 0: a cache of rotated keys, not
//                turned again); WGSL sin/cos are only accurate to 2^-11
//   lengths      (Lq_b, Lk_b) u32 per batch entry at lengths_at (has_lengths)
//   ALiBi        slope_h f32 per head at alibi_at (alibi)
//   bias         f32 [batch|1, heads|1, rows|1, keys|1] at bias_at (has_bias); −∞ arrives as the
//                lowest f32 (WGSL may assume no infinities)
//   mask         bytes, 4 to a word, at byte mask_at (has_mask); nonzero = may attend
//   n_i          f32 like c_i at count_at (normalize 'relu2': P = relu(s)²/n_i)
//   sinks        z_h f32 per head at sink_at (has_sink: sinks, or zeros for smoothSoftmax)
// Per-row statistics share another buffer (`stats`, f32): the logsumexp of row (b, h, i) at
// (b·heads + h)·seq_q + i, and D_i (backward) row_dot_at further.
// The kernel that includes this file declares `params`, `aux`, `q`, `k` and `v`.

// Large negative stand-in for −∞ (a running max before any key; the logsumexp of a row that sees
// no key): exp(x − NO_SCORE) never overflows for the finite scores here, and rows compare against it.
const NO_SCORE: f32 = -3.0e38;

struct GroupCoords {
  tile: u32,   // the query tile (forward, dQ) or key tile (dK/dV)
  head: u32,   // the query head (forward, dQ) or kv head (dK/dV)
  batch: u32,  // within the piece
  valid: bool, // false past the last workgroup of the call (the grid is a rectangle)
}

// Workgroups are numbered linearly, group_base + x + y·num_workgroups.x: a dispatch is a 2D grid
// (maxComputeWorkgroupsPerDimension² groups), and a call with more is cut into several dispatches,
// each with its own group_base. Depends on uniform values only, so a workgroup returns as a whole.
fn group_coords(wid: vec3<u32>, nwg: vec3<u32>, heads: u32) -> GroupCoords {
  let linear = params.group_base + wid.x + wid.y * nwg.x;
  let tile = linear % params.tiles;
  let head = (linear / params.tiles) % heads;
  let batch = linear / params.tiles / heads;
  return GroupCoords(tile, head, batch, batch < params.batch);
}

fn aux_f32(at: u32) -> f32 {
  return bitcast<f32>(aux[at]);
}

// (Lq_b, Lk_b): the valid queries and keys of batch entry b (right padding).
fn batch_lengths(b: u32) -> vec2<u32> {
  if (params.has_lengths == 0u) {
    return vec2<u32>(params.seq_q_all, params.seq_k_all);
  }
  return vec2<u32>(aux[params.lengths_at + 2u * b], aux[params.lengths_at + 2u * b + 1u]);
}

// The local rows of batch entry b that are not padding: 0 … live_rows(b) − 1.
fn live_rows(b: u32) -> u32 {
  return u32(clamp(i32(batch_lengths(b).x) - i32(params.q_offset), 0, i32(params.seq_q)));
}

// What local row i of batch entry b sees before the mask (attention.hpp, "Which keys a row sees";
// attention_row): its position p = Lk_b − Lq_b + i (global i), and the keys [begin, end) with
// begin = max(0, p − left), end = min(Lk_b, p + right + 1, and p + 1 with causal), as a local
// range [lo, hi) (empty for padding rows). The ranges move forward with the row.
struct RowKeys {
  position: i32,
  lo: u32,
  hi: u32,
}

fn row_keys(b: u32, i: u32) -> RowKeys {
  let lengths = batch_lengths(b);
  let global = params.q_offset + i;
  let position = i32(lengths.y) - i32(lengths.x) + i32(global);
  if (global >= lengths.x) {
    return RowKeys(position, 0u, 0u);
  }
  var begin = 0;
  var end = i32(lengths.y);
  if (params.window_left >= 0) {
    begin = max(begin, position - params.window_left);
  }
  if (params.window_right >= 0) {
    end = min(end, position + params.window_right + 1);
  }
  if (params.causal != 0u) {
    end = min(end, position + 1);
  }
  let lo = clamp(begin - i32(params.k_offset), 0, i32(params.seq_k));
  let hi = clamp(end - i32(params.k_offset), lo, i32(params.seq_k));
  return RowKeys(position, u32(lo), u32(hi));
}

// The keys the query rows i0 … i0 + BLOCK_Q − 1 see together, [x, y): from the first row's first to
// the last live row's last. Uniform values only (barriers stay in uniform control flow).
fn tile_keys(b: u32, i0: u32, rows: u32) -> vec2<u32> {
  let end = min(i0 + rows, live_rows(b));
  if (end <= i0) {
    return vec2<u32>(0u, 0u);
  }
  return vec2<u32>(row_keys(b, i0).lo, row_keys(b, end - 1u).hi);
}

// ---- Logit shaping and normalisation (attention.hpp, "Logit shaping"; docs/math.md §2.8, §2.9) ----
// x = c_i q·k is the scaled logit; s = cap·tanh(x/cap) with a softcap, then the bias, ALiBi and
// mask act on s; P = φ(s)·e^{−L}: softmax φ = exp, L = log(Σ e^s [+ e^{z_h}]); l2 φ = exp,
// L = ½ log Σ e^{2s}; relu2 φ = relu², L = log n_i.
const NORMALIZE_SOFTMAX: u32 = 0u;
const NORMALIZE_RELU2: u32 = 1u;
const NORMALIZE_L2: u32 = 2u;

fn softcap(x: f32) -> f32 {
  if (params.softcap > 0.0) {
    return params.softcap * tanh(x / params.softcap);
  }
  return x;
}

// ds/dx from s = softcap(x): 1 − (s/cap)² (1 without a softcap).
fn softcap_slope(s: f32) -> f32 {
  if (params.softcap > 0.0) {
    let t = s / params.softcap;
    return 1.0 - t * t;
  }
  return 1.0;
}

// P_ij and ∂loss/∂x_ij (before c_i) from the logit s (softcapped, terms added), its softcapped part
// `capped`, dP = dO_i·v_j, D_i and L_i (attention_score_gradient times the softcap's slope).
fn weight_and_gradient(s: f32, capped: f32, dp: f32, row_dot: f32, statistic: f32) -> vec2<f32> {
  var p: f32;
  var ds: f32;
  if (params.normalize == NORMALIZE_RELU2) {
    let r = max(s, 0.0);
    let inverse_n = exp(-statistic);
    p = r * r * inverse_n;
    ds = dp * 2.0 * r * inverse_n;
  } else {
    p = exp(s - statistic);
    if (params.normalize == NORMALIZE_L2) {
      ds = p * (dp - p * row_dot);
    } else {
      ds = p * (dp - row_dot);
    }
  }
  return vec2<f32>(p, ds * softcap_slope(capped));
}

// c_i of local row i of head h in batch entry b.
fn row_scale(b: u32, h: u32, i: u32) -> f32 {
  return aux_f32(params.scale_at + b * params.rs_sb + h * params.rs_sh + i * params.rs_si);
}

// n_i of that row (normalize 'relu2').
fn row_count(b: u32, h: u32, i: u32) -> f32 {
  return aux_f32(params.count_at + b * params.rs_sb + h * params.rs_sh + i * params.rs_si);
}

// The additive terms of logit (b, h, local row i, local key j) for a row at `position`: the bias and
// ALiBi's −slope_h·|p − j|; NO_SCORE when the mask or a −∞ bias removes the key.
fn logit_terms(b: u32, h: u32, i: u32, j: u32, position: i32) -> f32 {
  if (params.has_mask != 0u) {
    let at = params.mask_at + b * params.mask_sb + h * params.mask_sh + i * params.mask_si + j * params.mask_sj;
    if (((aux[at / 4u] >> (8u * (at % 4u))) & 0xffu) == 0u) {
      return NO_SCORE;
    }
  }
  var terms = 0.0;
  if (params.has_bias != 0u) {
    let bias = aux_f32(params.bias_at + b * params.bias_sb + h * params.bias_sh + i * params.bias_si + j * params.bias_sj);
    if (bias < NO_SCORE) {
      return NO_SCORE;
    }
    terms = bias;
  }
  if (params.alibi != 0u) {
    terms -= aux_f32(params.alibi_at + h) * f32(abs(position - i32(params.k_offset + j)));
  }
  return terms;
}

// Element d of a rotated row (rope_pair.wgsl) is x[d]·c + x[partner]·s.
struct Rotation {
  partner: u32,
  c: f32,
  s: f32,
}

fn rotation(at: u32, pair: RopePair) -> Rotation {
  return Rotation(pair.partner, aux_f32(at), pair.sign * aux_f32(at + 1u));
}

// The rotation of element d of local query row i / local key j (identity without RoPE or past
// rotaryDim).
fn rotation_q(d: u32, b: u32, i: u32) -> Rotation {
  let pairs = params.rotary_pairs;
  if (params.rope == 0u || d >= 2u * pairs) {
    return Rotation(d, 1.0, 0.0);
  }
  let pair = rope_pair(d, pairs, params.rope_half != 0u);
  return rotation(params.rope_q_at + b * params.rq_sb + 2u * (i * pairs + pair.p), pair);
}

fn rotation_k(d: u32, b: u32, j: u32) -> Rotation {
  let pairs = params.rotary_pairs;
  if (params.rope_keys == 0u || d >= 2u * pairs) {
    return Rotation(d, 1.0, 0.0);
  }
  let pair = rope_pair(d, pairs, params.rope_half != 0u);
  return rotation(params.rope_k_at + b * params.rk_sb + 2u * (j * pairs + pair.p), pair);
}

fn q_row(b: u32, i: u32, h: u32) -> u32 {
  return b * params.q_sb + i * params.q_ss + h * params.q_sh;
}

fn k_row(b: u32, j: u32, g: u32) -> u32 {
  return b * params.k_sb + j * params.k_ss + g * params.k_sh;
}

// Rows are handled in quads of 4 dims (vec4 loads from workgroup memory feed 4 multiply-adds each);
// DIM4 = ⌈DIM/4⌉ quads per q/k row, DIM_V4 per v/out row; lane t of a row owns quads
// t, t + LANES, … (QPL of q/k, VQPL of v/out). Dims past DIM in the last quad are zero.
const DIM4: u32 = (DIM + 3u) / 4u;
const DIM_V4: u32 = (DIM_V + 3u) / 4u;
const QPL: u32 = (DIM4 + LANES - 1u) / LANES;
const VQPL: u32 = (DIM_V4 + LANES - 1u) / LANES;

// Quad d4 of local query row i (head h, batch b), rotated (zeros past DIM or past the last quad).
fn load_q4(b: u32, i: u32, h: u32, d4: u32) -> vec4<f32> {
  var x = vec4<f32>(0.0);
  let base = q_row(b, i, h) * DIM;
  for (var c = 0u; c < 4u; c++) {
    let d = 4u * d4 + c;
    if (d < DIM) {
      let r = rotation_q(d, b, i);
      x[c] = f32(q[base + d]) * r.c + f32(q[base + r.partner]) * r.s;
    }
  }
  return x;
}

// Quad d4 of local key j (kv head g, batch b), rotated.
fn load_k4(b: u32, j: u32, g: u32, d4: u32) -> vec4<f32> {
  var x = vec4<f32>(0.0);
  let base = k_row(b, j, g) * DIM;
  for (var c = 0u; c < 4u; c++) {
    let d = 4u * d4 + c;
    if (d < DIM) {
      let r = rotation_k(d, b, j);
      x[c] = f32(k[base + d]) * r.c + f32(k[base + r.partner]) * r.s;
    }
  }
  return x;
}

// Quad d4 of local value row j.
fn load_v4(b: u32, j: u32, g: u32, d4: u32) -> vec4<elem_t> {
  var x = vec4<elem_t>(0.0);
  let base = k_row(b, j, g) * DIM_V;
  for (var c = 0u; c < 4u; c++) {
    let d = 4u * d4 + c;
    if (d < DIM_V) {
      x[c] = v[base + d];
    }
  }
  return x;
}
