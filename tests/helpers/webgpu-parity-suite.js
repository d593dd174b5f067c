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
  // Padded batches, windows, ALiBi, bias and mask (attention.hpp, "Which keys a row sees"): a bias
  // or mask given as { shape } gets seeded data (a bias with −∞ entries when withInfinity).
  { batch: 3, seqQ: 20, seqK: 40, heads: 2, dim: 8, causal: true, seqLensQ: [20, 7, 1], seqLensK: [40, 25, 9] },
  { batch: 2, seqQ: 12, seqK: 70, heads: 2, dim: 8, causal: true, rope: true, scale: 'entropy', seqLensQ: [12, 4], seqLensK: [70, 19] },
  { batch: 2, seqQ: 70, heads: 2, dim: 16, window: { left: 9, right: 3 }, seqLensK: [70, 50] },
  { seqQ: 65, seqK: 130, heads: 4, kvHeads: 2, dim: 8, causal: true, window: { left: 31 }, alibi: true, rope: { layout: 'half' } },
  { seqQ: 40, heads: 6, dim: 8, alibi: true, causal: true, scale: 'entropy' },
  { batch: 2, seqQ: 33, seqK: 47, heads: 3, dim: 8, bias: { shape: [2, 1, 33, 47] }, mask: { shape: [2, 3, 1, 47] }, scale: 'entropy' },
  { seqQ: 17, seqK: 29, heads: 2, dim: 8, causal: true, bias: { shape: [1, 2, 1, 29], withInfinity: true }, mask: { shape: [1, 1, 17, 29] } },
  { batch: 2, seqQ: 66, heads: 1, dim: 12, window: { right: 5 }, seqLensQ: [66, 30], mask: { shape: [2, 1, 66, 66] }, scale: 'entropy', nMin: 2 },
  // Logit shaping and normalisations (attention.hpp, "Logit shaping"), alone and with the above.
  { seqQ: 40, seqK: 70, heads: 2, dim: 8, causal: true, softcap: 2 },
  { batch: 2, seqQ: 33, heads: 4, kvHeads: 2, dim: 8, sinks: [0.5, -1, 2, 0], scale: 'entropy' },
  { batch: 2, seqQ: 20, seqK: 30, heads: 2, dim: 8, sinks: [3, -2], causal: true, seqLensQ: [20, 5], seqLensK: [30, 5] },
  { seqQ: 20, seqK: 30, heads: 2, dim: 8, smoothSoftmax: true, window: { left: 4 }, softcap: 4 },
  { seqQ: 65, heads: 2, dim: 16, causal: true, normalize: 'relu2', mask: { shape: [1, 2, 65, 65] } },
  { batch: 2, seqQ: 50, seqK: 60, heads: 2, dim: 8, normalize: 'relu2', seqLensK: [60, 17], rope: true },
  { seqQ: 50, seqK: 60, heads: 2, dim: 8, normalize: 'l2', softcap: 3, alibi: true },
  { seqQ: 70, heads: 1, dim: 4, normalize: 'l2', causal: true, bias: { shape: [1, 1, 70, 70] } },
  // RoPE positions, frequency scaling and a cache of rotated keys (attention.hpp, "Fused RoPE").
  { batch: 2, seqQ: 5, seqK: 70, heads: 2, dim: 16, causal: true, rope: { layout: 'half', cachedKeys: 'rotated' } },
  { batch: 2, seqQ: 9, seqK: 33, heads: 2, dim: 8, causal: true, seqLensQ: [9, 3], seqLensK: [33, 12],
    rope: { positionsQ: Array.from({ length: 18 }, (_, i) => 100 + 3 * i), positionsK: Array.from({ length: 33 }, (_, j) => 2 * j - 5) } },
  { batch: 2, seqQ: 20, heads: 2, dim: 8, rope: { positionsK: Array.from({ length: 40 }, (_, j) => j % 20 + 0.5 * Math.floor(j / 20)) } },
  { seqQ: 48, seqK: 80, heads: 2, dim: 16, causal: true, rope: { layout: 'half', ropeScaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 32 } } },
  { seqQ: 40, heads: 2, dim: 16, rope: { ropeScaling: { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 16 } } },
  { seqQ: 33, heads: 1, dim: 12, rope: { rotaryDim: 8, ropeScaling: { type: 'ntk', factor: 2 } }, scale: 'entropy' },
  { seqQ: 30, heads: 2, dim: 8, causal: true, rope: { inverseFrequencies: [1, 0.25, 0.01, 0.0001] } },
];

// 2D RoPE: both modes and layouts, given positions, inverse, batch and heads.
export const ROPE2D_CASES = [
  { height: 3, width: 5, dim: 8 },
  { batch: 2, height: 4, width: 3, heads: 3, dim: 16, layout: 'half', mode: 'tie' },
  { height: 2, width: 2, dim: 8, mode: 'split', inverse: true, positions: [0, 0, 1.5, -2, 1e5, 3, 7, 7] },
  { height: 8, width: 9, heads: 2, dim: 32, layout: 'half', base: 100 },
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

/** The inputs of attention case `index`: { q, k, v, options } (a bias or mask with its data). */
export function attentionInputs(index) {
  const options = { ...ATTENTION_CASES[index] };
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = options;
  const next = random(1000 + index);
  const inputs = {
    q: randomArray(batch * seqQ * heads * dim, next, 2),
    k: randomArray(batch * seqK * kvHeads * dim, next, 2),
    v: randomArray(batch * seqK * kvHeads * dimV, next),
  };
  const count = (shape) => shape.reduce((a, b) => a * b, 1);
  if (options.bias) {
    const { shape, withInfinity } = options.bias;
    const data = randomArray(count(shape), next, 3);
    if (withInfinity) for (let e = 0; e < data.length; e += 3) data[e] = -Infinity;
    options.bias = { shape, data };
  }
  if (options.mask) {
    const { shape } = options.mask;
    options.mask = { shape, data: Uint8Array.from({ length: count(shape) }, () => (next() > -0.6 ? 1 : 0)) };
  }
  return { options, ...inputs };
}

/** Runs every attention case (or those of `cases`) on both instances: [{ name, relativeError, ok }]. */
export async function runAttentionParity(gpu, wasm, cases = ATTENTION_CASES.map((_, index) => index)) {
  const results = [];
  for (const index of cases) {
    const { q, k, v, options } = attentionInputs(index);
    const onGpu = await gpu.attention(q, k, v, { ...options, backend: 'webgpu' });
    const onWasm = await wasm.attention(q, k, v, { ...options, backend: 'wasm' });
    const error = relativeError(onGpu, onWasm);
    results.push({ name: describeCase(ATTENTION_CASES[index]), relativeError: error, ok: error <= PARITY_TOLERANCE });
  }
  return results;
}

/**
 * Every attention case's backward pass on both instances (dOut seeded): [{ name, relativeError, ok }],
 * the error the largest of dq's, dk's, dv's (and dSinks' with sinks).
 */
export async function runAttentionBackwardParity(gpu, wasm, cases = ATTENTION_CASES.map((_, index) => index)) {
  const results = [];
  for (const index of cases) {
    const { q, k, v, options } = attentionInputs(index);
    const { batch = 1, seqQ, heads, dim, dimV = dim } = options;
    const dOut = randomArray(batch * seqQ * heads * dimV, random(3000 + index));
    const onGpu = await gpu.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu' });
    const onWasm = wasm.attentionBackward(q, k, v, dOut, { ...options, backend: 'wasm' });
    const names = ['dq', 'dk', 'dv', ...(onWasm.dSinks ? ['dSinks'] : [])];
    const error = Math.max(...names.map((name) => relativeError(onGpu[name] ?? [], onWasm[name])));
    results.push({ name: `backward ${describeCase(ATTENTION_CASES[index])}`, relativeError: error, ok: error <= PARITY_TOLERANCE });
  }
  return results;
}

/** kx.rope2d with backend 'webgpu' against the synchronous WASM call: [{ name, relativeError, ok }]. */
export async function runRope2dParity(gpu, wasm) {
  const results = [];
  for (let index = 0; index < ROPE2D_CASES.length; ++index) {
    const options = ROPE2D_CASES[index];
    const { batch = 1, height, width, heads = 1, dim } = options;
    const x = randomArray(batch * height * width * heads * dim, random(4000 + index));
    const onGpu = await gpu.rope2d(x, { ...options, backend: 'webgpu' });
    const onWasm = wasm.rope2d(x, options);
    const error = relativeError(onGpu, onWasm);
    results.push({ name: `rope2d ${describeCase(options)}`, relativeError: error, ok: error <= PARITY_TOLERANCE });
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
