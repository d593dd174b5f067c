// Layouts and float16 tensors on the WebGPU backend (Dawn on SwiftShader, as in webgpu.test.mjs):
// the WGSL kernels read float32 [batch, seq, heads, dim] tensors, and the facade converts around
// them (bindings/js/attention.js, "the WebGPU kernels' tensors"). The results must be WASM's:
// float32 within the parity tolerance, float16 rounded as the WASM kernel rounds (write_row,
// core/float16.hpp), forward and backward, and on the GPU (one submit per call).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const { init } = await import('../../bindings/js/index.js');
const { halfBits: float16Bits, halfValue: float16Value } = await import('../../bindings/webgpu/half.js');
const { PARITY_TOLERANCE, relativeError } = await import('../helpers/webgpu-parity-suite.js');
const { globals } = await import('webgpu');

const calls = { submits: 0 };
{
  const { submit } = globals.GPUQueue.prototype;
  globals.GPUQueue.prototype.submit = function (buffers) {
    calls.submits += 1;
    return submit.call(this, buffers);
  };
}

const kx = await init({ backend: 'webgpu' });
const wasm = await init({ backend: 'wasm' });
after(() => kx.dispose());

// Deterministic float16 bits of magnitude 0.25…2 (exponents 13–15), random signs and mantissas.
function halfBits(count, seed) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 8);
  return Uint16Array.from({ length: count }, () => {
    const r = next();
    return ((r & 1) << 15) | ((13 + (r >> 1) % 3) << 10) | ((r >> 3) & 0x3ff);
  });
}
const values = (bits) => Float32Array.from(bits, float16Value);

// The largest |a − b| over the largest |b|, of float16 bits or floats.
function relativeHalfError(a, b) {
  const x = a instanceof Uint16Array ? values(a) : a;
  const y = b instanceof Uint16Array ? values(b) : b;
  return relativeError(x, y);
}

test('the float16 conversions (bindings/webgpu/half.js) round to nearest even, as the WASM kernel does: every float16, every midpoint, overflow, subnormals', async () => {
  // Every finite float16 maps back to its own bits.
  for (let h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) === 0x7c00) continue;
    assert.equal(float16Bits(float16Value(h)), h, `0x${h.toString(16)}`);
  }
  // Against the WASM kernel's rounding: attention with one key returns v itself (P = 1), written as
  // float16 by write_row. The values: midpoints between neighbours (ties), points just off them,
  // subnormals, the overflow edge 65504…65520, and random float32s of every scale.
  const probes = [65504, 65519.99, 65520, 1e5, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -26, 1e-9, 6.1e-5];
  for (let h = 0; h < 0x7bff; h += 97) {
    const mid = (float16Value(h) + float16Value(h + 1)) / 2;
    probes.push(mid, -mid, Math.fround(mid * (1 + 2 ** -20)), Math.fround(mid * (1 - 2 ** -20)));
  }
  let s = 7;
  for (let i = 0; i < 2000; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    probes.push((s / 2 ** 32 - 0.5) * 2 ** ((i % 60) - 30));
  }
  const v = Float32Array.from(probes);
  const options = { seqQ: 1, seqK: 1, heads: 1, dim: 1, dimV: v.length, outputType: 'float16', backend: 'wasm' };
  const fromWasm = await wasm.attention(new Float32Array([1]), new Float32Array([1]), v, options);
  const bits = fromWasm instanceof Uint16Array ? fromWasm : new Uint16Array(fromWasm.buffer);
  for (let i = 0; i < v.length; ++i) assert.equal(float16Bits(v[i]), bits[i], `${v[i]}`);
});

test("layout 'bhsd' and float16 tensors run on WebGPU, forward and backward, with WASM's results", async () => {
  const shape = { batch: 2, seqQ: 9, seqK: 11, heads: 4, kvHeads: 2, dim: 8, dimV: 4, causal: true, rope: {} };
  const qBits = halfBits(2 * 9 * 4 * 8, 1), kBits = halfBits(2 * 11 * 2 * 8, 2), vBits = halfBits(2 * 11 * 2 * 4, 3);
  const dBits = halfBits(2 * 9 * 4 * 4, 4);
  const cases = [
    { name: "float32, layout 'bhsd'", q: values(qBits), k: values(kBits), v: values(vBits), dOut: values(dBits), extra: { layout: 'bhsd' } },
    { name: 'float16 bits, bshd', q: qBits, k: kBits, v: vBits, dOut: dBits, extra: {} },
    { name: "float16 bits, layout 'bhsd', float32 output", q: qBits, k: kBits, v: vBits, dOut: values(dBits),
      extra: { layout: 'bhsd', outputType: 'float32' } },
    { name: "float32 in, float16 out, layout 'bhsd', sinks", q: values(qBits), k: values(kBits), v: values(vBits), dOut: dBits,
      extra: { layout: 'bhsd', outputType: 'float16', sinks: [0.5, -1, 0, 2] } },
  ];
  for (const { name, q, k, v, dOut, extra } of cases) {
    const options = { ...shape, ...extra };
    const half = extra.outputType === 'float16' || (q instanceof Uint16Array && extra.outputType !== 'float32');
    // float16 results: both backends round their float32 results, which differ by ~1e-7; a value
    // near a rounding midpoint may then land one float16 ulp (2^-10 relative) apart.
    const tolerance = half ? 2e-3 : PARITY_TOLERANCE;
    const expected = await wasm.attention(q, k, v, options);
    const submits = calls.submits;
    const onGpu = await kx.attention(q, k, v, { ...options, backend: 'webgpu' });
    assert.ok(calls.submits > submits, `${name}: ran on the GPU`);
    assert.equal(onGpu.constructor, expected.constructor, name);
    assert.equal(onGpu.length, expected.length, name);
    assert.ok(relativeHalfError(onGpu, expected) <= tolerance, `${name}: forward ${relativeHalfError(onGpu, expected)}`);

    const wasmGrads = wasm.attentionBackward(q, k, v, dOut, options);
    const gpuGrads = await kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu' });
    for (const key of ['dq', 'dk', 'dv']) {
      assert.equal(gpuGrads[key].constructor, wasmGrads[key].constructor, `${name}: ${key}`);
      const error = relativeHalfError(gpuGrads[key], wasmGrads[key]);
      assert.ok(error <= (half ? 4e-3 : PARITY_TOLERANCE), `${name}: ${key} ${error}`);
    }
    // dSinks is float32 on both, but the WASM kernel forms D_i = dO·O from the float16-rounded O
    // (docs/math.md §2.11) and the GPU from its float32 O: they agree to float16's precision.
    if (extra.sinks) {
      const error = relativeError(gpuGrads.dSinks, wasmGrads.dSinks);
      assert.ok(error <= (half ? 4e-3 : PARITY_TOLERANCE), `${name}: dSinks ${error}`);
    }
  }
});

test('float16 input with NaN bits is refused on the GPU path with the WASM message', async () => {
  const q = halfBits(16, 5);
  q[3] = 0x7e00;
  const options = { seqQ: 4, heads: 1, dim: 4 };
  const onWasm = await wasm.attention(q, q, q, options).catch((e) => e);
  const onGpu = await kx.attention(q, q, q, { ...options, backend: 'webgpu' }).catch((e) => e);
  assert.ok(onWasm instanceof RangeError && onGpu instanceof RangeError);
  assert.equal(onGpu.message, onWasm.message);
});
