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
// Small per-row inputs share one buffer (`tables`, f32; WebGPU guarantees only 8 storage buffers
// per shader stage):
//   tables[b·rs_sb + i]                          c_i of local row i (computed on the host in f64
//                                                as WASM computes it)
//   tables[rope_q_at + 2(i·rotary_pairs + p)]    (cos, sin) of local query row i's pair p
//   tables[rope_k_at + 2(j·rotary_pairs + p)]    (cos, sin) of local key j's pair p
// host-computed in f64 (WGSL sin/cos are only accurate to 2^-11). Per-row statistics share
// another (`stats`, f32): the logsumexp of row (b, h, i) at (b·heads + h)·seq_q + i, and D_i
// (backward) row_dot_at further.
// The kernel that includes this file declares `params`, `tables`, `q`, `k` and `v`.

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

// The keys local row i (< seq_q) sees, as a local range [x, y): all of them, or under causal those
// at global positions ≤ its own, q_offset + i + shift (docs/math.md §2).
fn row_keys(b: u32, i: u32) -> vec2<u32> {
  let seq_k = i32(params.seq_k);
  var hi = seq_k;
  if (params.causal != 0u) {
    hi = clamp(i32(params.q_offset + i) + params.shift + 1 - i32(params.k_offset), 0, seq_k);
  }
  return vec2<u32>(0u, u32(hi));
}

// Element d of a rotated row (rope_pair.wgsl) is x[d]·c + x[partner]·s.
struct Rotation {
  partner: u32,
  c: f32,
  s: f32,
}

fn rotation(at: u32, pair: RopePair) -> Rotation {
  return Rotation(pair.partner, tables[at], pair.sign * tables[at + 1u]);
}

// c_i of local row i of batch entry b.
fn row_scale(b: u32, i: u32) -> f32 {
  return tables[b * params.rs_sb + i];
}

// The rotation of element d of local query row i / local key j (identity without RoPE or past
// rotaryDim).
fn rotation_q(d: u32, i: u32) -> Rotation {
  let pairs = params.rotary_pairs;
  if (params.rope == 0u || d >= 2u * pairs) {
    return Rotation(d, 1.0, 0.0);
  }
  let pair = rope_pair(d, pairs, params.rope_half != 0u);
  return rotation(params.rope_q_at + 2u * (i * pairs + pair.p), pair);
}

fn rotation_k(d: u32, j: u32) -> Rotation {
  let pairs = params.rotary_pairs;
  if (params.rope == 0u || d >= 2u * pairs) {
    return Rotation(d, 1.0, 0.0);
  }
  let pair = rope_pair(d, pairs, params.rope_half != 0u);
  return rotation(params.rope_k_at + 2u * (j * pairs + pair.p), pair);
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
      let r = rotation_q(d, i);
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
      let r = rotation_k(d, j);
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
