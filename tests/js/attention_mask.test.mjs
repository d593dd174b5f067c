// kx.attention / kx.attentionBackward with padded batches (seqLensQ, seqLensK), sliding windows,
// ALiBi, an additive bias and a boolean mask ({ data, shape }), through the WASM module: a float64
// JS reference written from the README's conventions (not from the C++), central differences of
// it for the backward pass, the equivalences the conventions promise, every error named by its
// parameter, and attention at the float32 edge.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { symmetricUniform } from '../helpers/random.js';

const kx = await init({ backend: 'wasm' });

const random = symmetricUniform;
const randomArray = (length, next) => Float32Array.from({ length }, () => next());

function maxError(actual, expected) {
  let worst = 0;
  for (let i = 0; i < expected.length; ++i) {
    if (!Number.isFinite(expected[i]) || !Number.isFinite(actual[i])) {
      if (actual[i] !== expected[i]) return Infinity;
      continue;
    }
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  return worst;
}

// Press et al.'s get_slopes(n), as in github.com/ofirpress/attention_with_linear_biases.
function alibiSlopes(n) {
  const powerOf2 = (m) => {
    const start = 2 ** (-(2 ** -(Math.log2(m) - 3)));
    return Array.from({ length: m }, (_, i) => start * start ** i);
  };
  if (Number.isInteger(Math.log2(n))) return powerOf2(n);
  const closest = 2 ** Math.floor(Math.log2(n));
  return powerOf2(closest).concat(alibiSlopes(2 * closest).filter((_, i) => i % 2 === 0).slice(0, n - closest));
}

// ---- the float64 reference, from the README's conventions --------------------------------------

// Batch b holds Lq = seqLensQ[b] queries and Lk = seqLensK[b] keys; query i sits at p = Lk − Lq + i
// (also for RoPE) and sees keys max(0, p − left) … min(Lk − 1, p + right, p if causal) that the
// mask admits; n_i counts them (the bias never does). s = c_i q·k + bias − slope·|p − j|.
function reference(q, k, v, o) {
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim, causal = false,
    scale = 'standard', baseLen = 512, nMin = 16, seqLensQ = null, seqLensK = null, window = null,
    alibi = false, bias = null, mask = null } = o;
  const out = new Float64Array(batch * seqQ * heads * dimV);
  const slopes = alibi ? alibiSlopes(heads) : null;
  const at = (shape, data, b, h, i, j) => {
    const [d0, d1, d2, d3] = shape;
    return data[(((d0 === 1 ? 0 : b) * d1 + (d1 === 1 ? 0 : h)) * d2 + (d2 === 1 ? 0 : i)) * d3 + (d3 === 1 ? 0 : j)];
  };
  for (let b = 0; b < batch; ++b) {
    const lq = seqLensQ ? seqLensQ[b] : seqQ, lk = seqLensK ? seqLensK[b] : seqK;
    for (let h = 0; h < heads; ++h) {
      const g = Math.floor(h / (heads / kvHeads));
      for (let i = 0; i < lq; ++i) {
        const p = lk - lq + i;
        const visible = [];
        for (let j = 0; j < lk; ++j) {
          if (window?.left != null && j < p - window.left) continue;
          if (window?.right != null && j > p + window.right) continue;
          if (causal && j > p) continue;
          if (mask && !at(mask.shape, mask.data, b, h, i, j)) continue;
          visible.push(j);
        }
        if (visible.length === 0) continue;
        let c;
        if (typeof scale === 'number') c = scale;
        else if (scale === 'standard') c = 1 / Math.sqrt(dim);
        else c = Math.log(Math.max(visible.length, nMin)) / Math.log(baseLen) / Math.sqrt(dim);
        const logits = visible.map((j) => {
          let dot = 0;
          for (let e = 0; e < dim; ++e) dot += q[((b * seqQ + i) * heads + h) * dim + e] * k[((b * seqK + j) * kvHeads + g) * dim + e];
          let s = c * dot;
          if (bias) s += at(bias.shape, bias.data, b, h, i, j);
          if (alibi) s -= slopes[h] * Math.abs(p - j);
          return s;
        });
        const max = Math.max(...logits);
        if (max === -Infinity) continue;
        const weights = logits.map((s) => Math.exp(s - max));
        const sum = weights.reduce((x, y) => x + y, 0);
        for (let e = 0; e < dimV; ++e) {
          let acc = 0;
          visible.forEach((j, n) => { acc += weights[n] * v[((b * seqK + j) * kvHeads + g) * dimV + e]; });
          out[((b * seqQ + i) * heads + h) * dimV + e] = acc / sum;
        }
      }
    }
  }
  return out;
}

function inputs(o, seed) {
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = o;
  const next = random(seed);
  return {
    q: randomArray(batch * seqQ * heads * dim, next),
    k: randomArray(batch * seqK * kvHeads * dim, next),
    v: randomArray(batch * seqK * kvHeads * dimV, next),
  };
}

function maskOf(shape, seed, keep = 0.6) {
  const next = random(seed);
  return Uint8Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (next() * 0.5 + 0.5 < keep ? 1 : 0));
}

function biasOf(shape, seed) {
  const next = random(seed);
  const data = randomArray(shape.reduce((a, b) => a * b, 1), next);
  for (let i = 0; i < data.length; i += 5) data[i] = -Infinity;
  return data;
}

test('attention with every new option equals the float64 reference', async () => {
  const base = { batch: 2, seqQ: 70, seqK: 75, heads: 4, kvHeads: 2, dim: 8, dimV: 6 };
  const cases = [
    { seqLensQ: [70, 20], seqLensK: [75, 33] },
    { seqLensQ: [70, 20], seqLensK: new Int32Array([75, 33]), causal: true, scale: 'entropy', nMin: 1 },
    { window: { left: 7 }, causal: true },
    { window: { left: 3, right: 10 }, scale: 'entropy', nMin: 1 },
    { window: { right: 0 } },
    { alibi: true, causal: true },
    { alibi: true, window: { left: 20, right: 20 } },
    { bias: { data: biasOf([2, 4, 70, 75], 3), shape: [2, 4, 70, 75] } },
    { bias: { data: biasOf([1, 4, 1, 75], 4), shape: [1, 4, 1, 75] }, causal: true },
    { mask: { data: maskOf([2, 1, 1, 75], 5), shape: [2, 1, 1, 75] }, scale: 'entropy', nMin: 1 },
    { mask: { data: maskOf([1, 4, 70, 75], 6, 0.3), shape: [1, 4, 70, 75] }, causal: true, scale: 'entropy', nMin: 1 },
    { mask: { data: Array.from(maskOf([2, 1, 70, 1], 7), Boolean), shape: [2, 1, 70, 1] } },
    { mask: { data: new Int8Array(maskOf([2, 4, 70, 75], 8)), shape: [2, 4, 70, 75] },
      bias: { data: biasOf([2, 1, 70, 75], 9), shape: [2, 1, 70, 75] }, alibi: true, window: { left: 30, right: 2 },
      seqLensQ: [50, 70], seqLensK: [75, 70], scale: 'entropy', nMin: 1 },
  ];
  for (const [index, extra] of cases.entries()) {
    const o = { ...base, ...extra };
    const { q, k, v } = inputs(o, 100 + index);
    const out = await kx.attention(q, k, v, o);
    assert.ok(maxError(out, reference(q, k, v, o)) < 2e-5, `case ${index}: ${JSON.stringify(extra, (key, x) => (ArrayBuffer.isView(x) ? '…' : x))}`);
  }
});

test('attentionBackward with every new option matches central differences of the reference', () => {
  const o = {
    batch: 2, seqQ: 3, seqK: 5, heads: 2, kvHeads: 1, dim: 4, dimV: 3, scale: 'entropy', nMin: 1, causal: true,
    seqLensQ: [3, 2], seqLensK: [5, 4], window: { left: 2 }, alibi: true,
    bias: { data: Float32Array.from({ length: 2 * 1 * 3 * 5 }, (_, i) => (i === 4 ? -Infinity : Math.sin(i))), shape: [2, 1, 3, 5] },
    mask: { data: Uint8Array.from({ length: 2 * 3 * 5 }, (_, i) => (i % 7 === 3 ? 0 : 1)), shape: [1, 2, 3, 5] },
  };
  const { q, k, v } = inputs(o, 21);
  const next = random(22);
  const dOut = randomArray(2 * 3 * 2 * 3, next);
  const { dq, dk, dv } = kx.attentionBackward(q, k, v, dOut, o);
  const loss = (qq, kk, vv) => reference(qq, kk, vv, o).reduce((sum, x, i) => sum + x * dOut[i], 0);
  for (const [name, x, grad] of [['dq', q, dq], ['dk', k, dk], ['dv', v, dv]]) {
    const x64 = Float64Array.from(x);
    for (let i = 0; i < x.length; ++i) {
      const saved = x64[i], step = 1e-5;
      x64[i] = saved + step;
      const args = (y) => (name === 'dq' ? [y, k, v] : name === 'dk' ? [q, y, v] : [q, k, y]);
      const up = loss(...args(x64));
      x64[i] = saved - step;
      const down = loss(...args(x64));
      x64[i] = saved;
      assert.ok(Math.abs(grad[i] - (up - down) / (2 * step)) < 2e-4, `${name}[${i}]: ${grad[i]} vs ${(up - down) / (2 * step)}`);
    }
  }
});

test('conventions: padding is a shorter call, a window a banded mask, ALiBi a bias, onnxruntime\'s local window', async () => {
  // Batch entry 1 with seqLensQ 2, seqLensK 5 equals that entry alone with seqQ 2, seqK 5 (causal:
  // its queries at positions 3 and 4), and its padded rows are zeros.
  const o = { batch: 2, seqQ: 4, seqK: 6, heads: 2, dim: 4, causal: true, rope: true, seqLensQ: [4, 2], seqLensK: [6, 5] };
  const { q, k, v } = inputs(o, 31);
  const out = await kx.attention(q, k, v, o);
  const alone = await kx.attention(q.slice(4 * 8, 6 * 8), k.slice(6 * 8, 11 * 8), v.slice(6 * 8, 11 * 8),
    { seqQ: 2, seqK: 5, heads: 2, dim: 4, causal: true, rope: true });
  assert.ok(maxError(out.slice(4 * 8, 6 * 8), alone) < 1e-6);
  assert.ok(out.slice(6 * 8).every((x) => x === 0), 'padded query rows are zeros');

  const shape = { seqQ: 40, heads: 3, dim: 8 };
  const x = inputs(shape, 32);
  const band = new Uint8Array(40 * 40);
  for (let i = 0; i < 40; ++i) for (let j = 0; j < 40; ++j) band[i * 40 + j] = j >= i - 4 && j <= i ? 1 : 0;
  const windowed = await kx.attention(x.q, x.k, x.v, { ...shape, causal: true, window: { left: 4 } });
  const masked = await kx.attention(x.q, x.k, x.v, { ...shape, mask: { data: band, shape: [1, 1, 40, 40] } });
  assert.ok(maxError(windowed, masked) < 1e-6);

  const slopes = alibiSlopes(3);
  const terms = new Float32Array(3 * 40 * 40);
  for (let h = 0; h < 3; ++h) for (let i = 0; i < 40; ++i) for (let j = 0; j < 40; ++j) terms[(h * 40 + i) * 40 + j] = -slopes[h] * Math.abs(i - j);
  const alibi = await kx.attention(x.q, x.k, x.v, { ...shape, alibi: true });
  const biased = await kx.attention(x.q, x.k, x.v, { ...shape, bias: { data: terms, shape: [1, 3, 40, 40] } });
  assert.ok(maxError(alibi, biased) < 1e-6);
});

test('rows that see no key give zeros; a −Infinity bias counts in n_i, a false mask entry does not', async () => {
  const o = { seqQ: 3, seqK: 4, heads: 1, dim: 2, scale: 'entropy', nMin: 1 };
  const { q, k, v } = inputs(o, 41);
  const noneInRow1 = Uint8Array.from([1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
  const out = await kx.attention(q, k, v, { ...o, mask: { data: noneInRow1, shape: [1, 1, 3, 4] } });
  assert.deepEqual(Array.from(out.slice(2, 4)), [0, 0]);
  const grads = kx.attentionBackward(q, k, v, new Float32Array(6).fill(1), { ...o, mask: { data: noneInRow1, shape: [1, 1, 3, 4] } });
  assert.deepEqual(Array.from(grads.dq.slice(2, 4)), [0, 0]);
  assert.ok(grads.dq.every(Number.isFinite) && grads.dk.every(Number.isFinite) && grads.dv.every(Number.isFinite));
  const minus = Float32Array.from(noneInRow1, (x) => (x ? 0 : -Infinity));
  const viaBias = await kx.attention(q, k, v, { ...o, bias: { data: minus, shape: [1, 1, 3, 4] } });
  assert.deepEqual(Array.from(viaBias.slice(2, 4)), [0, 0]);
  // Row 0 sees 3 keys through the mask (n = 3) but 4 through the bias (n = 4): different c_0.
  assert.ok(maxError(out.slice(0, 2), viaBias.slice(0, 2)) > 1e-4);
  const standard = { ...o, scale: 'standard' };
  const a = await kx.attention(q, k, v, { ...standard, mask: { data: noneInRow1, shape: [1, 1, 3, 4] } });
  const b = await kx.attention(q, k, v, { ...standard, bias: { data: minus, shape: [1, 1, 3, 4] } });
  assert.ok(maxError(a, b) < 1e-7);
});

test('attention at the float32 edge: logits of ±3e38 give the exact one-hot answer and finite gradients', async () => {
  const o = { seqQ: 2, seqK: 3, heads: 1, dim: 1, scale: 1 };
  const q = new Float32Array([1, -1]), k = new Float32Array([3e38, -3e38, 1e38]), v = new Float32Array([1, 2, 4]);
  assert.deepEqual(Array.from(await kx.attention(q, k, v, o)), [1, 2]);
  const { dq, dk, dv } = kx.attentionBackward(q, k, v, new Float32Array([1, 1]), o);
  assert.deepEqual(Array.from(dv), [1, 1, 0]);
  assert.ok([...dq, ...dk].every(Number.isFinite));
  // q·k = 9e76 overflows float32: the logit saturates, the answer stays the right key's value.
  const huge = await kx.attention(new Float32Array([3e38]), new Float32Array([3e38, 1]), new Float32Array([5, 7]),
    { seqQ: 1, seqK: 2, heads: 1, dim: 1, scale: 1 });
  assert.deepEqual(Array.from(huge), [5]);
});

test('bad masks, biases, lengths and windows are refused naming the parameter; the module still works', async () => {
  const o = { batch: 2, seqQ: 3, seqK: 4, heads: 2, dim: 2 };
  const { q, k, v } = inputs(o, 51);
  const full = [2, 2, 3, 4];
  const cases = [
    [{ seqLensK: [4, 5] }, RangeError, 'attention: seqLensK[1] must be at most seqK = 4, received 5'],
    [{ seqLensK: [4, -1] }, RangeError, 'attention: seqLensK[1] must be a non-negative integer, received -1'],
    [{ seqLensK: [4] }, RangeError, 'attention: seqLensK must be an array of batch = 2 lengths, received length 1'],
    [{ seqLensQ: [3, 1.5] }, RangeError, 'attention: seqLensQ[1] must be a non-negative integer, received 1.5'],
    [{ seqLensQ: 3 }, TypeError, 'attention: seqLensQ must be an array, received 3'],
    [{ seqLensQ: [3, 3], seqLensK: [4, 2], causal: true }, RangeError,
      'attention: causal attention needs seqLensQ[b] <= seqLensK[b] (query i sits at position seqLensK[b] - seqLensQ[b] + i), received seqLensQ[1] = 3, seqLensK[1] = 2'],
    [{ window: { left: -1 } }, RangeError, 'attention: window.left must be a non-negative integer, received -1'],
    [{ window: { right: 2.5 } }, RangeError, 'attention: window.right must be a non-negative integer, received 2.5'],
    [{ window: { lft: 3 } }, TypeError, "attention: unknown option 'window.lft' (did you mean 'window.left'?)"],
    [{ window: 3 }, TypeError, 'attention: window must be null, true or an object { left, right }, received 3'],
    [{ alibi: 1 }, TypeError, 'attention: alibi must be a boolean, received 1'],
    [{ bias: { data: new Float32Array(2 * 3 * 3 * 4), shape: [2, 3, 3, 4] } }, RangeError,
      'attention: bias.shape must be 4 dims broadcasting over [batch, heads, seqQ, seqK] = [2, 2, 3, 4] (each that size or 1), received [2, 3, 3, 4]'],
    [{ bias: { data: new Float32Array(12), shape: [3, 4] } }, RangeError,
      'attention: bias.shape must be 4 dims broadcasting over [batch, heads, seqQ, seqK] = [2, 2, 3, 4] (each that size or 1), received [3, 4]'],
    [{ bias: { data: new Float32Array(48) } }, TypeError, 'attention: bias.shape must be an array, received undefined'],
    [{ bias: { data: new Float32Array(47), shape: full } }, RangeError,
      'attention: bias.data must have length 2*2*3*4 = 48 for bias.shape [2, 2, 3, 4], received length 47'],
    [{ bias: { data: new Float64Array(48), shape: full } }, TypeError, 'attention: bias.data must be a Float32Array, received Float64Array(48)'],
    [{ bias: { shape: full } }, TypeError, 'attention: bias.data must be a Float32Array, received undefined'],
    [{ bias: { data: new Float32Array(48).fill(NaN), shape: full } }, RangeError, 'attention: bias.data[0] must be a number or -Infinity, received NaN'],
    [{ bias: { data: new Float32Array(48).fill(Infinity), shape: full } }, RangeError, 'attention: bias.data[0] must be a number or -Infinity, received Infinity'],
    [{ bias: { data: new Float32Array(48), shape: full, dtype: 'f32' } }, TypeError, "attention: unknown option 'bias.dtype' (known options: shape)"],
    [{ mask: { data: new Float32Array(48), shape: full } }, TypeError,
      'attention: mask.data must be a Uint8Array (or an Array of booleans), received Float32Array(48)'],
    [{ mask: { data: new Uint8Array(4), shape: [2, 1, 3, 4] } }, RangeError,
      'attention: mask.data must have length 2*1*3*4 = 24 for mask.shape [2, 1, 3, 4], received length 4'],
    [{ mask: { data: [true, 2, false, true], shape: [1, 1, 1, 4] } }, TypeError, 'attention: mask.data[1] must be a boolean, 0 or 1, received 2'],
    [{ mask: { data: new Uint8Array(4), shape: [1, 1, 1, 5] } }, RangeError,
      'attention: mask.shape must be 4 dims broadcasting over [batch, heads, seqQ, seqK] = [2, 2, 3, 4] (each that size or 1), received [1, 1, 1, 5]'],
    [{ msk: {} }, TypeError, "attention: unknown option 'msk' (did you mean 'mask'?)"],
  ];
  for (const [extra, name, message] of cases) {
    await assert.rejects(kx.attention(q, k, v, { ...o, ...extra }), (error) => {
      assert.equal(error.constructor, name, message);
      assert.equal(error.message, message);
      return true;
    });
    assert.throws(() => kx.attentionBackward(q, k, v, new Float32Array(2 * 3 * 2 * 2), { ...o, ...extra }),
      (error) => error.constructor === name && error.message === message.replace('attention:', 'attentionBackward:'));
  }
  // The module still works, with every option at once.
  const out = await kx.attention(q, k, v, { ...o, seqLensK: [4, 2], window: { left: 1, right: 1 }, alibi: true,
    bias: { data: new Float32Array(4), shape: [1, 1, 1, 4] }, mask: { data: [1, 1, 1, 0], shape: [1, 1, 1, 4] } });
  assert.ok(out.every(Number.isFinite));
});

test('null and false switch the new options off; the caller\'s bias is read, not written', async () => {
  const o = { seqQ: 2, heads: 1, dim: 2 };
  const { q, k, v } = inputs(o, 61);
  await kx.attention(q, k, v, { ...o, window: null, bias: null, mask: null, seqLensK: null, seqLensQ: null, alibi: false });
  // A bias given as { data, shape } is not copied elsewhere: the caller's array is read, not kept.
  const data = new Float32Array(4);
  await kx.attention(q, k, v, { ...o, bias: { data, shape: [1, 1, 2, 2] } });
  assert.deepEqual(Array.from(data), [0, 0, 0, 0]);
});
