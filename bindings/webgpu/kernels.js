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

/** attention.wgsl's uniforms. */
export const ATTENTION_PARAMS = new UniformStruct('AttentionParams', [
  ['seq_q', 'u32'],
  ['seq_k', 'u32'],
  ['heads', 'u32'],
  ['kv_heads', 'u32'],
  ['group', 'u32', 'heads / kv_heads (grouped-query attention)'],
  ['causal', 'u32'],
  ['rope', 'u32'],
  ['rope_half', 'u32', "1: layout 'half', 0: 'interleaved' (rope_pair.wgsl)"],
  ['rotary_pairs', 'u32', 'rotaryDim / 2'],
  ['shift', 'i32', 'query i sits at position i + shift = seqK − seqQ + i'],
  ['first_position', 'i32', 'first row of rope_cs: min(0, shift)'],
]);

/** rope.wgsl's uniforms. */
export const ROPE_PARAMS = new UniformStruct('RopeParams', [
  ['count', 'u32', 'batch·seq·heads·dim'],
  ['seq', 'u32'],
  ['heads', 'u32'],
  ['dim', 'u32'],
  ['rotary_pairs', 'u32', 'rotaryDim / 2'],
  ['half', 'u32', "1: layout 'half', 0: 'interleaved' (rope_pair.wgsl)"],
]);

/** Each kernel: its file, entry point, uniform struct and the shared snippets it uses. */
export const KERNELS = Object.freeze({
  attention: Object.freeze({ file: 'attention.wgsl', entryPoint: 'attention_forward', uniforms: ATTENTION_PARAMS,
    snippets: Object.freeze(['rope_pair.wgsl']) }),
  rope: Object.freeze({ file: 'rope.wgsl', entryPoint: 'rope', uniforms: ROPE_PARAMS,
    snippets: Object.freeze(['rope_pair.wgsl']) }),
});

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
 */
export async function kernelCode(kernel, constants) {
  const header = Object.entries(constants).map(([name, value]) => `const ${name}: u32 = ${value}u;\n`).join('');
  const parts = await Promise.all([...kernel.snippets, kernel.file].map(source));
  return [header, kernel.uniforms.wgsl, ...parts].join('\n');
}
