// RoPE alone (docs/math.md §1), the WGSL twin of rope_apply and rope2d_apply in
// src/attention/rope.cpp; the attention backward pass also uses it to turn dQ and dK back by Rᵀ.
//
// Layouts (row-major, f32):
//   x, out  [batch, seq, heads, dim] (t_div = heads) or [batch, heads, seq, dim] (t_div = 1)
//   cs      [batch|1, seq, segments · seg_pairs]  (cos, sin) of each token's angle per pair,
//           computed on the host in f64; table_sb = seq when each batch entry has its own rows
//
// Dims are rotated in `segments` consecutive blocks of 2·seg_pairs dims, each paired as
// rope_pair.wgsl pairs a RoPE of 2·seg_pairs dims: 1D RoPE is one block of rotaryDim dims; 2D RoPE
// 'split' two blocks of dim/2 (x, then y); 'tie' one block of dim whose pairs take x or y angles
// from the table. Elements past the blocks are copied. `sign` multiplies every sin: −1 is the
// inverse rotation (the gradient).
//
// One invocation per output element: out[e] = x[e]·c + x[partner]·s. Workgroups are laid out in 2D
// (x + y·num_workgroups.x), and a tensor beyond one dispatch's grid is cut into dispatches that
// start at element `base`.
//
// The host prepends `const WORKGROUP: u32;`, the uniform struct RopeParams generated from its field
// list (ROPE_PARAMS in kernels.js), and rope_pair.wgsl.

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(3) var<uniform> params: RopeParams;

@compute @workgroup_size(WORKGROUP)
fn rope(@builtin(workgroup_id) group: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
  let e = params.base + (group.y * groups.x + group.x) * WORKGROUP + lane;
  if (e >= params.count) {
    return;
  }
  let d = e % params.dim;
  let width = 2u * params.seg_pairs;
  if (d >= width * params.segments) {
    out[e] = x[e];
    return;
  }
  let row = e / params.dim;
  let t = (row / params.t_div) % params.seq;
  let batch = row / (params.seq * params.heads);
  let segment = d / width;
  let pair = rope_pair(d % width, params.seg_pairs, params.half != 0u);
  let r = cs[(batch * params.table_sb + t) * params.seg_pairs * params.segments + segment * params.seg_pairs + pair.p];
  out[e] = x[e] * r.x + x[e - d + segment * width + pair.partner] * (params.sign * pair.sign * r.y);
}
