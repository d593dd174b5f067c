// The composition of the WGSL kernels (bindings/webgpu/kernels.js), without a GPU: each uniform
// struct's WGSL text and its packing come from one field list and agree on every offset; the
// kernels declare no uniform struct or RoPE pairing of their own; every field is read by its
// kernel. Compiling the composed code and running it is tests/js/webgpu*.test.mjs's job.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ATTENTION_PARAMS, KERNELS, ROPE_PARAMS, UniformStruct, kernelCode } from '../../bindings/webgpu/kernels.js';

const wgslFile = (name) => readFileSync(new URL(`../../bindings/webgpu/${name}`, import.meta.url), 'utf8');

// The members of `struct name { … }` in WGSL text: [[member, type], …] in order.
function structMembers(code, name) {
  const body = code.match(new RegExp(`struct ${name} \\{([^}]*)\\}`))?.[1];
  assert.ok(body, `struct ${name} in the composed code`);
  return [...body.replace(/\/\/.*$/gm, '').matchAll(/(\w+)\s*:\s*(\w+)\s*,/g)].map((m) => [m[1], m[2]]);
}

test('a uniform struct: WGSL members and packed words follow the one field list, padded to 16 bytes', () => {
  const struct = new UniformStruct('Example', [['a', 'u32', 'first'], ['b', 'i32'], ['c', 'f32'], ['d', 'u32'], ['e', 'u32']]);
  assert.deepEqual(structMembers(struct.wgsl, 'Example'),
    [['a', 'u32'], ['b', 'i32'], ['c', 'f32'], ['d', 'u32'], ['e', 'u32'], ['pad0', 'u32'], ['pad1', 'u32'], ['pad2', 'u32']]);
  assert.match(struct.wgsl, /a: u32,\s+\/\/ first/);
  const bytes = struct.pack({ a: 7, b: -3, c: 0.5, d: true, e: false });
  assert.equal(bytes.byteLength, 32);
  const view = new DataView(bytes);
  assert.equal(view.getUint32(0, true), 7);
  assert.equal(view.getInt32(4, true), -3);
  assert.equal(view.getFloat32(8, true), 0.5);
  assert.equal(view.getUint32(12, true), 1);
  assert.equal(view.getUint32(16, true), 0);
});

test('packing refuses a missing, unknown or out-of-range field (a caller bug, not silently zero)', () => {
  const struct = new UniformStruct('Example', [['a', 'u32'], ['b', 'i32']]);
  assert.throws(() => struct.pack({ a: 1 }), /Example\.pack: field b must be a i32, received undefined/);
  assert.throws(() => struct.pack({ a: 1, b: 2, c: 3 }), /Example\.pack: unknown field c/);
  assert.throws(() => struct.pack({ a: -1, b: 0 }), /field a must be a u32, received -1/);
  assert.throws(() => struct.pack({ a: 1.5, b: 0 }), /field a must be a u32/);
  assert.throws(() => struct.pack({ a: 0, b: 2 ** 31 }), /field b must be a i32/);
  assert.throws(() => new UniformStruct('Bad', [['v', 'vec2<f32>']]), /unsupported type/);
});

test('each kernel: constants, its generated struct and its snippets composed once; no copies in the files', async () => {
  const snippetFiles = new Set(Object.values(KERNELS).flatMap((kernel) => kernel.snippets));
  for (const [name, kernel] of Object.entries(KERNELS)) {
    const file = wgslFile(kernel.file);
    // What the kernel reads: its file and the snippets it lists (rope_pair.wgsl aside).
    const own = [file, ...kernel.snippets.filter((s) => s !== 'rope_pair.wgsl').map(wgslFile)].join('\n');
    assert.doesNotMatch(file, /^\s*struct \w*Params\b/m, `${kernel.file} declares no uniform struct of its own`);
    assert.doesNotMatch(file, /fn rope_pair\b|struct RopePair\b/, `${kernel.file} has no copy of rope_pair.wgsl`);
    assert.match(file, new RegExp(`var<uniform> params: ${kernel.uniforms.name};`));
    assert.match(own, /rope_pair\(/, `${kernel.file} uses rope_pair`);
    assert.match(file, new RegExp(`fn ${kernel.entryPoint}\\(`));
    // A function of a shared snippet is defined there only.
    for (const snippet of snippetFiles) {
      for (const [, fn] of wgslFile(snippet).matchAll(/^fn (\w+)\(/gm)) {
        assert.doesNotMatch(file, new RegExp(`^fn ${fn}\\(`, 'm'), `${kernel.file} has no copy of ${snippet}'s ${fn}`);
      }
    }

    const code = await kernelCode(kernel, { ONE: 1, TWO: 2 });
    assert.match(code, /^const ONE: u32 = 1u;\nconst TWO: u32 = 2u;\n/, name);
    assert.equal(code.match(new RegExp(`struct ${kernel.uniforms.name} \\{`, 'g')).length, 1);
    assert.equal(code.match(/fn rope_pair\(/g).length, 1);
    assert.deepEqual(structMembers(code, kernel.uniforms.name).slice(0, kernel.uniforms.fields.length),
      kernel.uniforms.fields.map((field) => [field.name, field.type]));
    // A field no kernel reads is a field the two sides no longer agree on.
    for (const field of kernel.uniforms.fields) {
      const readers = Object.values(KERNELS).filter((other) => other.uniforms === kernel.uniforms)
        .map((other) => [wgslFile(other.file), ...other.snippets.map(wgslFile)].join('\n'));
      assert.ok(readers.some((text) => new RegExp(`params\\.${field.name}\\b`).test(text)),
        `a kernel of ${kernel.uniforms.name} reads params.${field.name}`);
    }
  }
});

test('the attention kernels: f16 and subgroups enabled only when asked for; one lane_sum', async () => {
  const f32 = await kernelCode(KERNELS.attention, { LANES: 1 });
  assert.doesNotMatch(f32, /enable (f16|subgroups);/);
  assert.match(f32, /alias elem_t = f32;/);
  const f16 = await kernelCode(KERNELS.attentionDq, { LANES: 4 }, { elem: 'f16' });
  assert.match(f16, /^enable f16;\nenable subgroups;\n/);
  assert.match(f16, /alias elem_t = f16;/);
  assert.equal(f16.match(/fn lane_sum\(/g).length, 1);
  assert.match(f16, /subgroupShuffleXor/);
  assert.doesNotMatch(await kernelCode(KERNELS.rope, { WORKGROUP: 64 }), /elem_t|lane_sum/);
});

test('the attention and RoPE uniforms keep their 16-byte-multiple sizes', () => {
  const attention = Object.fromEntries(ATTENTION_PARAMS.fields.map(({ name, type }) => [name, type === 'i32' ? -1 : 1]));
  assert.equal(ATTENTION_PARAMS.pack(attention).byteLength % 16, 0);
  assert.equal(ATTENTION_PARAMS.pack(attention).byteLength, Math.ceil(ATTENTION_PARAMS.fields.length / 4) * 16);
  assert.equal(ROPE_PARAMS.pack({
    count: 8, base: 0, seq: 2, heads: 1, dim: 4, seg_pairs: 2, segments: 1, half: true, t_div: 1, table_sb: 0, sign: -1,
  }).byteLength, 48);
});
