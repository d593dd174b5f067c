// The WGSL of each kernel, composed from parts that are each written once:
//   - a uniform struct is a field list here; both its WGSL `struct` text and the packing of its
//     values into the uniform buffer are generated from that list (as onnxruntime-web's WebGPU
//     ops do), so the shader and the host cannot disagree on a field's order, type or offset;
//   - WGSL shared by two kernels (rope_pair.wgsl: RoPE's pairing of dims) is a file of its own,
//     prepended to every kernel that lists it.
// A kernel's code = its specialisation constants + its uniform struct + its snippets + its file.

import { wgslSources } from './shaders.js';

/** WGSL scalar types a uniform field may have (4 bytes each, so offsets are 4·index). */
const SCALARS = {
  u32: { array: Uint32Array, min: 0, max: 2 ** 32 - 1, integer: true },
  i32: { array: Int32Array, min: -(2 ** 31), max: 2 ** 31 - 1, integer: true },
  f32: { array: Float32Array, min: -Infinity, max: Infinity, integer: false },
};

// Uniform buffers are sized in multiples of 16 bytes here (the alignment of a vec4, and what
// every backend's binding-size checks accept); the generated struct carries the padding.
const UNIFORM_ALIGN_WORDS = 4;

export class UniformStruct {
  /** [name, type, comment?] per field, in layout order; `name` is the WGSL name and the pack key. */
  constructor(name, fields) {
    this.name = name;
    this.fields = fields.map(([field, type, comment = '']) => {
      if (!SCALARS[type]) throw new Error(`UniformStruct ${name}: field ${field} has unsupported type ${type}`);
      return { name: field, type, comment };
    });
    const padding = (UNIFORM_ALIGN_WORDS - (this.fields.length % UNIFORM_ALIGN_WORDS)) % UNIFORM_ALIGN_WORDS;
    this.words = this.fields.length + padding;
    this.padding = padding;
  }

  /** The WGSL declaration of the struct. */
  get wgsl() {
    const lines = this.fields.map(({ name, type, comment }) => {
      const member = `  ${name}: ${type},`;
      return comment ? `${member.padEnd(24)} // ${comment}` : member;
    });
    for (let i = 0; i < this.padding; ++i) lines.push(`  pad${i}: u32,`);
    return `struct ${this.name} {\n${lines.join('\n')}\n}\n`;
  }

  /**
   * The uniform buffer's bytes for { field: value } (booleans become 0/1). Every field must be
   * given, and nothing else: a mismatch is a bug in the caller, reported as such.
   */
  pack(values) {
    const buffer = new ArrayBuffer(this.words * 4);
    const views = Object.fromEntries(Object.entries(SCALARS).map(([type, { array }]) => [type, new array(buffer)]));
    for (const name of Object.keys(values)) {
      if (!this.fields.some((field) => field.name === name)) throw new Error(`${this.name}.pack: unknown field ${name}`);
    }
    this.fields.forEach(({ name, type }, index) => {
      const raw = values[name];
      const value = typeof raw === 'boolean' ? Number(raw) : raw;
      const { min, max, integer } = SCALARS[type];
      if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
        throw new Error(`${this.name}.pack: field ${name} must be a ${type}, received ${String(raw)}`);
      }
      views[type][index] = value;
    });
    return buffer;
  }
}

/** The uniforms of the attention kernels (attention.wgsl, attention_dq.wgsl, attention_dkv.wgsl). */
export const ATTENTION_PARAMS = new UniformStruct('AttentionParams', [
  ['batch', 'u32', 'batch entries in this piece'],
  ['seq_q', 'u32', 'query rows in this piece'],
  ['seq_k', 'u32', 'keys in this piece'],
  ['heads', 'u32'],
  ['kv_heads', 'u32'],
  ['group', 'u32', 'heads / kv_heads (grouped-query attention)'],
  ['tiles', 'u32', 'query tiles (forward, dQ) or key tiles (dK/dV) per head'],
  ['group_base', 'u32', 'linear index of this dispatch\'s first workgroup'],
  ['q_offset', 'u32', 'global index of the piece\'s first query row'],
  ['k_offset', 'u32', 'global index of the piece\'s first key'],
  ['seq_q_all', 'u32', 'the call\'s seqQ and seqK (the lengths without seqLensQ/seqLensK)'],
  ['seq_k_all', 'u32'],
  ['causal', 'u32'],
  ['window_left', 'i32', 'window: keys p − left … p + right; −1: unbounded'],
  ['window_right', 'i32'],
  ['rope', 'u32'],
  ['rope_half', 'u32', "1: layout 'half', 0: 'interleaved' (rope_pair.wgsl)"],
  ['rotary_pairs', 'u32', 'rotaryDim / 2'],
  ['q_sb', 'u32', 'row strides of q, out, dq, dOut (attention_common.wgsl)'],
  ['q_ss', 'u32'],
  ['q_sh', 'u32'],
  ['k_sb', 'u32', 'row strides of k, v, dk, dv'],
  ['k_ss', 'u32'],
  ['k_sh', 'u32'],
  ['scale_at', 'u32', 'c_i in aux, and its strides over (batch, head, row)'],
  ['rs_sb', 'u32'],
  ['rs_sh', 'u32'],
  ['rs_si', 'u32'],
  ['rope_q_at', 'u32', 'the queries\' (cos, sin) in aux, and their stride per batch entry'],
  ['rq_sb', 'u32'],
  ['rope_keys', 'u32', '0: keys come rotated (rope.cachedKeys \'rotated\')'],
  ['rope_k_at', 'u32', 'the keys\' (cos, sin) in aux, and their stride per batch entry'],
  ['rk_sb', 'u32'],
  ['has_lengths', 'u32', 'seqLensQ / seqLensK: (Lq_b, Lk_b) per batch entry in aux'],
  ['lengths_at', 'u32'],
  ['alibi', 'u32', 'ALiBi: slope_h per head in aux'],
  ['alibi_at', 'u32'],
  ['has_bias', 'u32', 'bias in aux, and its strides over (batch, head, row, key)'],
  ['bias_at', 'u32'],
  ['bias_sb', 'u32'],
  ['bias_sh', 'u32'],
  ['bias_si', 'u32'],
  ['bias_sj', 'u32'],
  ['has_mask', 'u32', 'mask bytes in aux (a byte offset), and their strides'],
  ['mask_at', 'u32'],
  ['mask_sb', 'u32'],
  ['mask_sh', 'u32'],
  ['mask_si', 'u32'],
  ['mask_sj', 'u32'],
  ['softcap', 'f32', 'cap > 0: s = cap·tanh(x/cap); 0: none'],
  ['normalize', 'u32', "0 'softmax', 1 'relu2', 2 'l2'"],
  ['count_at', 'u32', "relu2's n_i in aux (laid out like c_i)"],
  ['has_sink', 'u32', 'sinks / smoothSoftmax: z_h per head in aux'],
  ['sink_at', 'u32'],
  ['row_dot_at', 'u32', 'first element of D in stats (after the logsumexp)'],
  ['row_dot_given', 'u32', 'dQ pass: 1 reads D from stats, 0 computes and writes it'],
]);

/** rope.wgsl's uniforms. */
export const ROPE_PARAMS = new UniformStruct('RopeParams', [
  ['count', 'u32', 'batch·seq·heads·dim'],
  ['base', 'u32', 'index of this dispatch\'s first element'],
  ['seq', 'u32'],
  ['heads', 'u32'],
  ['dim', 'u32'],
  ['seg_pairs', 'u32', 'rotation pairs per segment'],
  ['segments', 'u32', '1 (1D RoPE, 2D tie) or 2 (2D split)'],
  ['half', 'u32', "1: layout 'half', 0: 'interleaved' (rope_pair.wgsl)"],
  ['t_div', 'u32', "rows per position step: heads ('bshd') or 1 ('bhsd')"],
  ['table_sb', 'u32', 'table rows per batch entry: seq, or 0 when all share one'],
  ['sign', 'f32', '+1, or −1 for the inverse rotation'],
]);

/** Each kernel: its file, entry point, uniform struct and the shared snippets it uses. */
const ATTENTION_SNIPPETS = Object.freeze(['rope_pair.wgsl', 'attention_common.wgsl']);
export const KERNELS = Object.freeze({
  attention: Object.freeze({ file: 'attention.wgsl', entryPoint: 'attention_forward', uniforms: ATTENTION_PARAMS,
    snippets: ATTENTION_SNIPPETS }),
  attentionDq: Object.freeze({ file: 'attention_dq.wgsl', entryPoint: 'attention_dq', uniforms: ATTENTION_PARAMS,
    snippets: ATTENTION_SNIPPETS }),
  attentionDkv: Object.freeze({ file: 'attention_dkv.wgsl', entryPoint: 'attention_dkv', uniforms: ATTENTION_PARAMS,
    snippets: ATTENTION_SNIPPETS }),
  rope: Object.freeze({ file: 'rope.wgsl', entryPoint: 'rope', uniforms: ROPE_PARAMS,
    snippets: Object.freeze(['rope_pair.wgsl']) }),
});

// lane_sum(x): the sum of x over the LANES invocations that share a row (consecutive invocation
// indices, so one subgroup holds whole rows when LANES divides the subgroup size): a butterfly of
// subgroupShuffleXor, log2(LANES) steps; the identity when a row has one invocation.
function laneSum(lanes) {
  if (lanes === 1) return 'fn lane_sum(x: f32) -> f32 {\n  return x;\n}\n';
  return 'fn lane_sum(x: f32) -> f32 {\n  var s = x;\n' +
    '  for (var offset = LANES / 2u; offset > 0u; offset >>= 1u) {\n' +
    '    s += subgroupShuffleXor(s, offset);\n  }\n  return s;\n}\n';
}

// The .wgsl files, inlined as strings at build time (scripts/shaders.mjs writes shaders.js): no
// fetch and no computed URL, which bundlers could not follow.
async function loadWgsl(name) {
  const text = wgslSources[name];
  if (text === undefined) throw new Error(`kexue: no WGSL kernel named ${name}`);
  return text;
}

// Each file is loaded once per page or process (a failed load is retried on the next call).
const sources = new Map();

function source(name) {
  if (!sources.has(name)) {
    const pending = loadWgsl(name);
    sources.set(name, pending);
    pending.catch(() => sources.delete(name));
  }
  return sources.get(name);
}

/**
 * The complete WGSL of `kernel` (one of KERNELS) specialised by `constants` ({ NAME: u32 }):
 * private arrays need const sizes, so these are `const` declarations rather than overrides.
 * `elem` ('f32' or 'f16': the type of the attention kernels' q, k, v, `alias elem_t`) and LANES
 * (the invocations per row: above 1 the kernel uses subgroup shuffles) choose the `enable`
 * directives.
 */
export async function kernelCode(kernel, constants, { elem = 'f32' } = {}) {
  const lanes = constants.LANES ?? 1;
  const enables = [];
  if (elem === 'f16') enables.push('enable f16;\n');
  if (lanes > 1) enables.push('enable subgroups;\n');
  const header = Object.entries(constants).map(([name, value]) => `const ${name}: u32 = ${value}u;\n`).join('');
  const parts = await Promise.all([...kernel.snippets, kernel.file].map(source));
  const attention = kernel.uniforms === ATTENTION_PARAMS;
  return [enables.join('') + header, attention ? `alias elem_t = ${elem};\n` + laneSum(lanes) : '',
    kernel.uniforms.wgsl, ...parts].join('\n');
}
