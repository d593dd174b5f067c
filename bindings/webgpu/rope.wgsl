// 1D RoPE alone (docs/math.md §1), the WGSL twin of rope_apply in src/attention/rope.cpp.
//
// Layouts (row-major, f32):
//   x, out  [batch, seq, heads, dim]
//   cs      [seq, rotary_pairs]   (cos, sin) of ±position_t·θ_p, computed on the host in f64
//                                 (the sign is − for the inverse rotation)
//
// One invocation per output element: out[e] = x[e]·c + x[partner]·s, partner the other element of
// its rotation pair. Elements past rotaryDim are copied. Workgroups are laid out in 2D
// (x + y·num_workgroups.x) so that tensors above 65535·64 elements fit the dispatch limits.
//
// The host (shaders.js) prepends `const WORKGROUP: u32;`, the uniform struct RopeParams generated
// from its field list (ROPE_PARAMS in shaders.js), and rope_pair.wgsl.

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(3) var<uniform> params: RopeParams;

@compute @workgroup_size(WORKGROUP)
fn rope(@builtin(workgroup_id) group: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
  let e = (group.y * groups.x + group.x) * WORKGROUP + lane;
  if (e >= params.count) {
    return;
  }
  let d = e % params.dim;
  let pairs = params.rotary_pairs;
  if (d >= 2u * pairs) {
    out[e] = x[e];
    return;
  }
  let t = (e / (params.dim * params.heads)) % params.seq;
  let pair = rope_pair(d, pairs, params.half != 0u);
  let r = cs[t * pairs + pair.p];
  out[e] = x[e] * r.x + x[e - d + pair.partner] * (pair.sign * r.y);
}
