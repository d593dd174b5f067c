// The WebGPU ↔ WASM parity suite, shared by tests/js/webgpu.test.mjs (Node, the `webgpu` package)
// and tests/browser/webgpu-parity.html (Chromium, navigator.gpu): the same configurations, the
// same seeded inputs, the same tolerance. A plain ES module that runs in both (its one import is
// the seeded random module beside it); it receives the kexue instances.
//   gpu   an instance whose attention runs on WebGPU (kx.backend === 'webgpu')
//   wasm  an instance created with init({ backend: 'wasm' })
import { symmetricUniform } from './random.js';

/** Max-norm relative error ‖gpu − wasm‖∞ / ‖wasm‖∞ allowed per configuration. */
export const PARITY_TOLERANCE = 1e-4;

// Tile edges (the kernel's query tile is 64 rows, its key tile ≤ 32), causal offsets (seqQ < seqK),
// seqQ > seqK (negative query positions under RoPE), GQA/MQA, dimV ≠ dim, every scale mode,
// RoPE off / interleaved / half / partial rotaryDim / other bases, batch > 1.
export const ATTENTION_CASES = [
  { seqQ: 1, heads: 1, dim: 4 }, // the default scale ('standard')
  { seqQ: 64, heads: 2, dim: 16, scale: 'entropy' },
  { seqQ: 65, heads: 1, dim: 8, causal: true, scale: 'entropy' },
  { seqQ: 63, seqK: 97, heads: 2, dim: 32, causal: true, scale: 'entropy' },
  { seqQ: 1, seqK: 130, heads: 2, dim: 16, causal: true }, // the default scale ('standard')
  { batch: 2, seqQ: 33, heads: 4, kvHeads: 2, dim: 8, causal: true, scale: 'entropy' },
  { seqQ: 17, seqK: 40, heads: 6, kvHeads: 1, dim: 16, dimV: 8, scale: 'entropy' },
  { seqQ: 20, seqK: 31, heads: 2, dim: 8, dimV: 24, scale: 'entropy' },
  { seqQ: 50, heads: 2, dim: 32, scale: 'standard' },
  { seqQ: 40, seqK: 70, heads: 1, dim: 8, scale: 0.7, causal: true },
  { seqQ: 128, heads: 1, dim: 16, causal: true, clipBelowOne: true, baseLen: 64, scale: 'entropy' },
  { seqQ: 30, seqK: 90, heads: 2, dim: 8, nMin: 4, baseLen: 32, causal: true, scale: 'entropy' },
  { seqQ: 64, heads: 2, dim: 32, causal: true, rope: true, scale: 'entropy' },
  { seqQ: 48, seqK: 100, heads: 2, kvHeads: 1, dim: 16, causal: true, rope: { layout: 'half' }, scale: 'entropy' },
  { seqQ: 31, heads: 1, dim: 16, rope: { rotaryDim: 8, base: 500 }, scale: 'entropy' },
  { seqQ: 70, seqK: 129, heads: 2, dim: 24, dimV: 16, causal: true, rope: { layout: 'half', rotaryDim: 12 }, scale: 'entropy' },
  { seqQ: 90, seqK: 20, heads: 2, dim: 8, rope: true, scale: 'entropy' },
  { seqQ: 100, seqK: 3, heads: 1, dim: 4, dimV: 2, scale: 'entropy' },
  { seqQ: 96, heads: 1, dim: 64, causal: true, rope: { layout: 'half' }, scale: 'entropy' },
  { batch: 3, seqQ: 10, seqK: 45, heads: 2, dim: 8, scale: 'standard', rope: { base: 100 } },
  { seqQ: 32, seqK: 64, heads: 1, dim: 16, scale: 4 },
  { seqQ: 13, seqK: 29, heads: 3, dim: 5, dimV: 7, causal: true, scale: 'entropy' },
  { seqQ: 130, heads: 1, dim: 8, clipBelowOne: true, scale: 'entropy' },
  { batch: 2, seqQ: 65, heads: 2, kvHeads: 1, dim: 64, causal: true, rope: { layout: 'interleaved', rotaryDim: 32 }, scale: 'entropy' },
];

export const ROPE_CASES = [
  { seq: 5, dim: 8 },
  { batch: 2, seq: 7, heads: 3, dim: 16, layout: 'half' },
  { batch: 3, seq: 5, heads: 2, dim: 8, rotaryDim: 6, positions: [0.5, -3, 1e6, 2, 7], inverse: true },
  { seq: 130, heads: 2, dim: 64, layout: 'half', rotaryDim: 32, base: 500 },
];

const random = symmetricUniform; // seeded uniform in [−1, 1)

function randomArray(length, next, amplitude = 1) {
  return Float32Array.from({ length }, () => amplitude * next());
}

export function relativeError(actual, expected) {
  if (actual.length !== expected.length) return Infinity;
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; ++i) {
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return error / Math.max(scale, 1e-30);
}

export function describeCase(options) {
  return JSON.stringify(options).replace(/"/g, '');
}

/** The inputs of attention case `index`: { q, k, v, options }. */
export function attentionInputs(index) {
  const options = ATTENTION_CASES[index];
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = options;
  const next = random(1000 + index);
  return {
    options,
    q: randomArray(batch * seqQ * heads * dim, next, 2),
    k: randomArray(batch * seqK * kvHeads * dim, next, 2),
    v: randomArray(batch * seqK * kvHeads * dimV, next),
  };
}

/** Runs every attention case on both instances: [{ name, relativeError, ok }]. */
export async function runAttentionParity(gpu, wasm) {
  const results = [];
  for (let index = 0; index < ATTENTION_CASES.length; ++index) {
    const { q, k, v, options } = attentionInputs(index);
    const onGpu = await gpu.attention(q, k, v, { ...options, backend: 'webgpu' });
    const onWasm = await wasm.attention(q, k, v, { ...options, backend: 'wasm' });
    const error = relativeError(onGpu, onWasm);
    results.push({ name: describeCase(options), relativeError: error, ok: error <= PARITY_TOLERANCE });
  }
  return results;
}

/** kx.rope with backend 'webgpu' against the synchronous WASM call: [{ name, relativeError, ok }]. */
export async function runRopeParity(gpu, wasm) {
  const results = [];
  for (let index = 0; index < ROPE_CASES.length; ++index) {
    const options = ROPE_CASES[index];
    const { batch = 1, seq, heads = 1, dim } = options;
    const x = randomArray(batch * seq * heads * dim, random(2000 + index));
    const onGpu = await gpu.rope(x, { ...options, backend: 'webgpu' });
    const onWasm = wasm.rope(x, options);
    const error = relativeError(onGpu, onWasm);
    results.push({ name: `rope ${describeCase(options)}`, relativeError: error, ok: error <= PARITY_TOLERANCE });
  }
  return results;
}
