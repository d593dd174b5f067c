// RoPE's pairing of dims (docs/math.md §1; RoFormer, arXiv 2104.09864), written once for attention.wgsl
// (RoPE fused into the Q and K loads) and rope.wgsl (RoPE alone): shaders.js prepends this file
// to both. Dim d < 2·pairs belongs to rotation pair p and turns together with its partner:
//   interleaved (RoFormer, GPT-J; the default)    pairs (2p, 2p + 1)
//   half (GPT-NeoX, LLaMA's rotate_half)          pairs (p, p + pairs)
// Rotating (x, y) by the pair's angle gives (x·c − y·s, x·s + y·c), so element d of the rotated
// row is x[d]·c + x[partner]·sign·s, with sign −1 for the pair's first element, +1 for its second.

struct RopePair {
  p: u32,        // the pair: its angle is position·θ_p, θ_p = base^(−2p/rotaryDim)
  partner: u32,  // the pair's other dim
  sign: f32,     // −1 for the first element of the pair, +1 for the second
}

fn rope_pair(d: u32, pairs: u32, half: bool) -> RopePair {
  if (half) {
    if (d < pairs) {
      return RopePair(d, d + pairs, -1.0);
    }
    return RopePair(d - pairs, d - pairs, 1.0);
  }
  return RopePair(d >> 1u, d ^ 1u, select(1.0, -1.0, (d & 1u) == 0u));
}
