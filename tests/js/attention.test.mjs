// kx.rope, kx.rope2d, kx.attention, kx.attentionBackward through the WASM module: docs/math.md §1.6 and
// §2.5 vectors, a float64 JS reference (forward) and central finite differences of it (backward),
// the errors the facade promises, and heap stability over many calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { symmetricUniform } from '../helpers/random.js';
// Max-norm relative error ‖a − b‖∞ / ‖b‖∞, shared with the WebGPU parity suite.
import { relativeError } from '../helpers/webgpu-parity-suite.js';

// The WASM kernel's tests: pinned to WASM even where 'auto' would find a WebGPU adapter.
const kx = await init({ backend: 'wasm' });

function assertClose(actual, expected, tolerance, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; ++i) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= tolerance * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (error ${error})`);
  }
}

const random = symmetricUniform; // seeded uniform in [−1, 1)

function randomArray(length, next) {
  return Float32Array.from({ length }, () => next());
}

// ---- float64 references ----

// Rotates vector[offset … offset + rotaryDim) by R_position in place.
function rotateReference(vector, offset, rotaryDim, layout, base, position) {
  const half = rotaryDim / 2;
  for (let i = 0; i < half; ++i) {
    const angle = position * base ** (-2 * i / rotaryDim);
    const [a, b] = layout === 'half' ? [offset + i, offset + i + half] : [offset + 2 * i, offset + 2 * i + 1];
    const x = vector[a];
    const y = vector[b];
    vector[a] = x * Math.cos(angle) - y * Math.sin(angle);
    vector[b] = x * Math.sin(angle) + y * Math.cos(angle);
  }
}

function attentionReference(q, k, v, o) {
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim, causal = false,
    scale = 'standard', baseLen = 512, nMin = 16, clipBelowOne = false, rope = null } = o;
  const out = new Float64Array(batch * seqQ * heads * dimV);
  const group = heads / kvHeads;
  const offset = seqK - seqQ;
  const qRow = new Float64Array(dim);
  const kRows = Array.from({ length: seqK }, () => new Float64Array(dim));
  for (let b = 0; b < batch; ++b) {
    for (let h = 0; h < heads; ++h) {
      const kh = Math.floor(h / group);
      for (let j = 0; j < seqK; ++j) {
        for (let c = 0; c < dim; ++c) kRows[j][c] = k[((b * seqK + j) * kvHeads + kh) * dim + c];
        if (rope) rotateReference(kRows[j], 0, rope.rotaryDim ?? dim, rope.layout ?? 'interleaved', rope.base ?? 10000, j);
      }
      for (let i = 0; i < seqQ; ++i) {
        for (let c = 0; c < dim; ++c) qRow[c] = q[((b * seqQ + i) * heads + h) * dim + c];
        if (rope) rotateReference(qRow, 0, rope.rotaryDim ?? dim, rope.layout ?? 'interleaved', rope.base ?? 10000, offset + i);
        const visible = causal ? offset + i + 1 : seqK;
        if (visible === 0) continue;
        let c;
        if (typeof scale === 'number') c = scale;
        else if (scale === 'standard') c = 1 / Math.sqrt(dim);
        else {
          const ratio = Math.log(Math.max(visible, nMin)) / Math.log(baseLen);
          c = (clipBelowOne ? Math.max(1, ratio) : ratio) / Math.sqrt(dim);
        }
        const scores = new Float64Array(visible);
        let max = -Infinity;
        for (let j = 0; j < visible; ++j) {
          let dot = 0;
          for (let d = 0; d < dim; ++d) dot += qRow[d] * kRows[j][d];
          scores[j] = c * dot;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < visible; ++j) sum += (scores[j] = Math.exp(scores[j] - max));
        const base = ((b * seqQ + i) * heads + h) * dimV;
        for (let j = 0; j < visible; ++j) {
          const p = scores[j] / sum;
          for (let d = 0; d < dimV; ++d) out[base + d] += p * v[((b * seqK + j) * kvHeads + kh) * dimV + d];
        }
      }
    }
  }
  return out;
}

// ---- RoPE ----

test('rope reproduces docs/math.md §1.6 (both layouts, m = 1 and m = 0)', () => {
  const x = new Float32Array([1, 2, 3, 4]);
  assertClose(kx.rope(x, { seq: 1, dim: 4, positions: [1] }),
    [-1.142639664, 1.922075597, 2.959850668, 4.029799502], 1e-6, 'interleaved m=1');
  assertClose(kx.rope(x, { seq: 1, dim: 4, positions: [1], layout: 'half' }),
    [-1.984110649, 1.959900668, 2.462377902, 4.019799668], 1e-6, 'half m=1');
  assertClose(kx.rope(x, { seq: 1, dim: 4 }), x, 0, 'm=0 (default position of token 0)');
  assertClose(kx.rope(x, { seq: 1, dim: 4, layout: 'half' }), x, 0, 'half m=0');
});

test('rope: ⟨R_m q, R_n k⟩ depends only on n − m (docs/math.md §1.6)', () => {
  const q = new Float32Array([1, 2, 3, 4]);
  const k = new Float32Array([0.5, -1, 2, 0.25]);
  for (const [layout, expected] of [['interleaved', 5.659235114], ['half', -3.160111731]]) {
    for (const [m, n] of [[5, 3], [12, 10], [0, -2]]) {
      const rq = kx.rope(q, { seq: 1, dim: 4, positions: [m], layout });
      const rk = kx.rope(k, { seq: 1, dim: 4, positions: [n], layout });
      const dot = rq.reduce((sum, value, i) => sum + value * rk[i], 0);
      assert.ok(Math.abs(dot - expected) < 1e-5, `${layout} (${m}, ${n}): ${dot} vs ${expected}`);
    }
  }
});

test('rope: batches, heads, positions (also fractional), partial rotary and inverse', () => {
  const next = random(7);
  const batch = 2, seq = 3, heads = 2, dim = 8, rotaryDim = 4;
  const positions = [0.5, -3, 1e6];
  const x = randomArray(batch * seq * heads * dim, next);
  for (const layout of ['interleaved', 'half']) {
    const y = kx.rope(x, { batch, seq, heads, dim, rotaryDim, positions: Float64Array.from(positions), layout, base: 500 });
    const expected = Float64Array.from(x);
    for (let b = 0; b < batch; ++b) {
      for (let t = 0; t < seq; ++t) {
        for (let h = 0; h < heads; ++h) {
          rotateReference(expected, ((b * seq + t) * heads + h) * dim, rotaryDim, layout, 500, positions[t]);
        }
      }
    }
    assertClose(y, expected, 2e-6, `rope ${layout}`);
    const back = kx.rope(y, { batch, seq, heads, dim, rotaryDim, positions, layout, base: 500, inverse: true });
    assertClose(back, x, 2e-6, `inverse ${layout}`);
  }
});

test('rope2d reproduces docs/math.md §1.6 (split, tie) and the default grid positions', () => {
  const v = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
  assertClose(kx.rope2d(v, { height: 1, width: 1, dim: 8, positions: [2, 3] }),
    [-2.234741690, 0.07700375373, 2.919405353, 4.059196027, -5.796682531, -5.234354939, 6.756886235, 8.206368771],
    1e-6, 'split');
  assertClose(kx.rope2d(v, { height: 1, width: 1, dim: 8, positions: [2, 3], mode: 'tie' }),
    [-2.234741690, 0.07700375373, 1.683928641, 4.707906576, 4.879008033, 6.098793373, 6.975968536, 8.020963969],
    1e-6, 'tie');

  // A 3×4 grid: token t sits at (t % 4, floor(t / 4)).
  const next = random(11);
  const height = 3, width = 4, heads = 2, dim = 8;
  const x = randomArray(height * width * heads * dim, next);
  const positions = [];
  for (let t = 0; t < height * width; ++t) positions.push(t % width, Math.floor(t / width));
  for (const mode of ['split', 'tie']) {
    for (const layout of ['interleaved', 'half']) {
      const byGrid = kx.rope2d(x, { height, width, heads, dim, mode, layout });
      const byPositions = kx.rope2d(x, { height, width, heads, dim, mode, layout, positions });
      assert.deepEqual(byGrid, byPositions, `${mode} ${layout}`);
      assertClose(kx.rope2d(byGrid, { height, width, heads, dim, mode, layout, inverse: true }), x, 2e-6, 'inverse');
    }
  }
});

test('rope2d split: ⟨R_{1,4} q, R_{3,1} k⟩ = −9.918008495 (docs/math.md §1.6)', () => {
  const q = new Float32Array([1, -1, 2, 0.5, 0, 3, -2, 1]);
  const k = new Float32Array([0.5, 2, -1, 1, 1, 1, 0.25, -3]);
  const rq = kx.rope2d(q, { height: 1, width: 1, dim: 8, positions: [1, 4] });
  const rk = kx.rope2d(k, { height: 1, width: 1, dim: 8, positions: [3, 1] });
  const dot = rq.reduce((sum, value, i) => sum + value * rk[i], 0);
  assert.ok(Math.abs(dot + 9.918008495) < 1e-5, String(dot));
});

// ---- attention: docs/math.md §2.5 ----

const SPEC_Q = new Float32Array([1, 0, 0, 1, 1, 1, 0.5, -1]);
const SPEC_K = new Float32Array([1, 0, 0, 1, -1, 0, 1, 1]);
const SPEC_V = new Float32Array([1, 0, 0, 1, 1, 1, 2, -1]);
const SPEC_SHAPE = { seqQ: 4, heads: 1, dim: 2 };

test('attention reproduces docs/math.md §2.5', async () => {
  const row = (out, i) => [out[2 * i], out[2 * i + 1]];
  const standard = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC_SHAPE, scale: 'standard' });
  assertClose(row(standard, 0), [1.185269355, -0.09641692105], 1e-6, 'standard row 0');
  assertClose(row(standard, 3), [1.062958222, 0.1484447042], 1e-6, 'standard row 3');
  // 'standard' is the default (every peer's); 'entropy' is one option away.
  assert.deepEqual(await kx.attention(SPEC_Q, SPEC_K, SPEC_V, SPEC_SHAPE), standard);
  const entropy = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC_SHAPE, scale: 'entropy', nMin: 1 });
  assertClose(row(entropy, 0), [1.040562008, 0.1631591099], 1e-6, 'EI row 0');
  assertClose(row(entropy, 2), [1.043623756, 0.1436154823], 1e-6, 'EI row 2');
  const clamped = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC_SHAPE, scale: 'entropy' });
  assertClose(row(clamped, 0), [1.082629710, 0.08079571053], 1e-6, 'EI n_min 16 row 0');
  const causal = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC_SHAPE, scale: 'entropy', nMin: 1, causal: true });
  assertClose(causal, [1, 0, 0.4803682426, 0.5196317574, 0.6402280826, 0.6402280826, 1.018453669, 0.2257708410],
    1e-6, 'EI causal');
});

// ---- attention vs the float64 reference ----

const GRID = [
  { seqQ: 1, heads: 1, dim: 8, scale: 'entropy' },
  { seqQ: 2, heads: 2, dim: 4, causal: true, rope: {}, scale: 'entropy' },
  { seqQ: 65, heads: 2, kvHeads: 1, dim: 16, rope: { layout: 'half', base: 500 }, scale: 'entropy' },
  { seqQ: 63, seqK: 130, heads: 4, kvHeads: 2, dim: 8, dimV: 12, causal: true, rope: {}, scale: 'entropy' },
  { batch: 2, seqQ: 33, heads: 3, dim: 6, dimV: 5, scale: 'standard' },
  { seqQ: 20, seqK: 70, heads: 2, dim: 8, scale: 0.3, causal: true },
  { seqQ: 40, heads: 1, dim: 8, clipBelowOne: true, baseLen: 16, causal: true, rope: { rotaryDim: 4 }, scale: 'entropy' },
  // The default scale ('standard').
  { seqQ: 65, seqK: 70, heads: 2, kvHeads: 1, dim: 16, causal: true, rope: { layout: 'half' } },
];

test('attention equals a float64 reference over shapes, scales, GQA, causal offsets and RoPE', async () => {
  const next = random(3);
  for (const options of GRID) {
    const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = options;
    const q = randomArray(batch * seqQ * heads * dim, next);
    const k = randomArray(batch * seqK * kvHeads * dim, next);
    const v = randomArray(batch * seqK * kvHeads * dimV, next);
    const out = await kx.attention(q, k, v, options);
    const error = relativeError(out, attentionReference(q, k, v, options));
    assert.ok(error <= 1e-4, `${JSON.stringify(options)}: relative error ${error}`);
  }
});

test('attention: rows that see no key (seqK = 0) give zeros', async () => {
  const out = await kx.attention(new Float32Array(6), new Float32Array(0), new Float32Array(0),
    { seqQ: 3, seqK: 0, heads: 1, dim: 2 });
  assert.deepEqual(out, new Float32Array(6));
});

test('attentionBackward equals central differences of the float64 reference', () => {
  const next = random(5);
  for (const options of [
    { seqQ: 5, heads: 2, kvHeads: 1, dim: 4, dimV: 3, causal: true, rope: {}, scale: 'entropy', nMin: 1 },
    { seqQ: 3, seqK: 6, heads: 1, dim: 6, scale: 'standard', rope: { layout: 'half' } },
  ]) {
    const { seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = options;
    const q = randomArray(seqQ * heads * dim, next);
    const k = randomArray(seqK * kvHeads * dim, next);
    const v = randomArray(seqK * kvHeads * dimV, next);
    const dOut = randomArray(seqQ * heads * dimV, next);
    const loss = (qq, kk, vv) => attentionReference(qq, kk, vv, options).reduce((s, o, i) => s + o * dOut[i], 0);
    const grads = kx.attentionBackward(q, k, v, dOut, options);
    const inputs = { q, k, v };
    for (const [name, gradient] of [['q', grads.dq], ['k', grads.dk], ['v', grads.dv]]) {
      const expected = new Float64Array(gradient.length);
      for (let i = 0; i < expected.length; ++i) {
        const plus = { ...inputs, [name]: Float64Array.from(inputs[name]) };
        const minus = { ...inputs, [name]: Float64Array.from(inputs[name]) };
        const h = 1e-5;
        plus[name][i] += h;
        minus[name][i] -= h;
        expected[i] = (loss(plus.q, plus.k, plus.v) - loss(minus.q, minus.k, minus.v)) / (2 * h);
      }
      const error = relativeError(gradient, expected);
      assert.ok(error < 1e-4, `${JSON.stringify(options)} d${name}: relative error ${error}`);
    }
  }
});

test('attention gives the same result on one thread and on the threaded module', async () => {
  const single = await init({ threads: 1, backend: 'wasm' });
  const next = random(9);
  const options = { seqQ: 200, heads: 4, kvHeads: 2, dim: 32, causal: true, rope: {} };
  const q = randomArray(200 * 4 * 32, next);
  const k = randomArray(200 * 2 * 32, next);
  const v = randomArray(200 * 2 * 32, next);
  assertClose(await single.attention(q, k, v, options), await kx.attention(q, k, v, options), 1e-6, 'out');
  const dOut = randomArray(200 * 4 * 32, next);
  const a = single.attentionBackward(q, k, v, dOut, options);
  const b = kx.attentionBackward(q, k, v, dOut, options);
  assertClose(a.dk, b.dk, 1e-5, 'dk');
});

// ---- errors ----

test('bad input gets a TypeError or RangeError naming the parameter, and the module stays usable', async () => {
  const x = new Float32Array(4);
  assert.throws(() => kx.rope(new Float32Array(5), { seq: 1, dim: 5 }), { name: 'RangeError', message: /rope: dim must be even.*received 5/ });
  assert.throws(() => kx.rope(x, { seq: 1, dim: 4, rotaryDim: 6 }), { name: 'RangeError', message: /rotaryDim must be at most dim = 4, received 6/ });
  assert.throws(() => kx.rope(x, { seq: 1, dim: 4, layout: 'rotate' }), { name: 'RangeError', message: /layout must be one of 'interleaved', 'half', received "rotate"/ });
  assert.throws(() => kx.rope(x, { seq: 1, dim: 4, base: 0 }), { name: 'RangeError', message: /base must be greater than 0, received 0/ });
  assert.throws(() => kx.rope(x, { seq: 2, dim: 4 }), { name: 'RangeError', message: /x must have length batch\*seq\*heads\*dim = 8 .*received length 4/ });
  assert.throws(() => kx.rope(x, { seq: 1, dim: 4, positions: [NaN] }), { name: 'RangeError', message: /positions\[0\] must be a finite number/ });
  assert.throws(() => kx.rope(x, { seq: 1, dim: 4, positions: [1, 2] }), { name: 'RangeError', message: /positions must have length seq = 1, received length 2/ });
  assert.throws(() => kx.rope([1, 2, 3, 4], { seq: 1, dim: 4 }), { name: 'TypeError', message: /x must be a Float32Array, received Array\(4\)/ });
  assert.throws(() => kx.rope2d(new Float32Array(6), { height: 1, width: 1, dim: 6 }), { name: 'RangeError', message: /rope2d: dim must be a multiple of 4.*received 6/ });
  assert.throws(() => kx.rope2d(x, { height: 1, width: 1, dim: 4, mode: 'mixed' }), { name: 'RangeError', message: /mode must be one of 'split', 'tie'/ });
  assert.throws(() => kx.rope2d(x, { height: 1, width: 1, dim: 4, positions: [1] }), { name: 'RangeError', message: /positions must have length 2\*height\*width = 2/ });

  const q = new Float32Array(8);
  const shape = { seqQ: 2, heads: 2, dim: 2 };
  await assert.rejects(kx.attention(q, q, q, { ...shape, heads: 3, kvHeads: 2 }), { name: 'RangeError', message: /attention: heads must be a multiple of kvHeads = 2.*received heads = 3/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, seqK: 1, causal: true }), { name: 'RangeError', message: /causal attention needs seqQ <= seqK.*seqQ = 2, seqK = 1/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, baseLen: 1 }), { name: 'RangeError', message: /baseLen must be greater than 1, received 1/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, nMin: 0.5 }), { name: 'RangeError', message: /nMin must be at least 1, received 0.5/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, dim: 1, heads: 4, rope: {} }), { name: 'RangeError', message: /dim must be even \(RoPE.*received 1/ });
  await assert.rejects(kx.attention(q, q, new Float32Array(7), shape), { name: 'RangeError', message: /v must have length batch\*seqK\*kvHeads\*dimV = 8 .*received length 7/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, scale: 'log' }), { name: 'RangeError', message: /scale must be one of 'entropy', 'standard'/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, scale: Infinity }), { name: 'RangeError', message: /scale must be .*finite number, received Infinity/ });
  await assert.rejects(kx.attention(q, q, q), { name: 'TypeError', message: /options \{ seqQ, heads, dim \} are required/ });
  await assert.rejects(kx.attention(q, q, q, { ...shape, rope: 'yes' }), { name: 'TypeError', message: /rope must be null, true or an object/ });
  await assert.rejects(kx.attention(Float32Array.from([NaN, 0, 0, 0, 0, 0, 0, 0]), q, q, shape), { name: 'RangeError', message: /q\[0\] must be finite, received NaN/ });
  assert.throws(() => kx.attentionBackward(q, q, q, new Float32Array(3), shape), { name: 'RangeError', message: /attentionBackward: dOut must have length .* = 8 .*received length 3/ });
  assert.throws(() => kx.attentionBackward(q, q, q, q, { ...shape, seqQ: -1 }), { name: 'RangeError', message: /seqQ must be a non-negative integer, received -1/ });

  // Still usable.
  const out = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC_SHAPE, scale: 'standard' });
  assertClose([out[0], out[1]], [1.185269355, -0.09641692105], 1e-6, 'after errors');
});

// Every rule of rope_validate, rope2d_validate and attention_validate (src/attention/), and every
// JS type check of the option reader, through the public API: the error class, the function's
// name, the parameter's name and the message.
test('rope and rope2d: every rule through the API names its parameter', async () => {
  const x = new Float32Array(8);
  const rope = (options, array = x) => () => kx.rope(array, options);
  const cases = [
    [rope({ seq: 0, dim: 8 }), 'RangeError', 'rope: seq must be a positive integer, received 0'],
    [rope({ seq: 1.5, dim: 8 }), 'RangeError', 'rope: seq must be a positive integer, received 1.5'],
    [rope({ seq: '1', dim: 8 }), 'TypeError', 'rope: seq must be a positive integer, received "1"'],
    [rope({ dim: 8 }), 'TypeError', 'rope: seq must be a positive integer, received undefined'],
    [rope({ seq: 1, dim: 8, batch: 0 }), 'RangeError', 'rope: batch must be a positive integer, received 0'],
    [rope({ seq: 1, dim: 8, heads: -2 }), 'RangeError', 'rope: heads must be a positive integer, received -2'],
    [rope({ seq: 1 }), 'TypeError', 'rope: dim must be a positive integer, received undefined'],
    [rope({ seq: 1, dim: 7 }), 'RangeError', 'rope: dim must be even (RoPE rotates pairs of dims), received 7'],
    [rope({ seq: 1, dim: 8, base: -1 }), 'RangeError', 'rope: base must be greater than 0, received -1'],
    [rope({ seq: 1, dim: 8, base: NaN }), 'RangeError', 'rope: base must be a finite number, received NaN'],
    [rope({ seq: 1, dim: 8, base: '10' }), 'TypeError', 'rope: base must be a finite number, received "10"'],
    [rope({ seq: 1, dim: 8, layout: 3 }), 'TypeError', "rope: layout must be one of 'interleaved', 'half', received 3"],
    [rope({ seq: 1, dim: 8, rotaryDim: 0 }), 'RangeError', 'rope: rotaryDim must be a positive integer, received 0'],
    [rope({ seq: 1, dim: 8, rotaryDim: 5 }), 'RangeError', 'rope: rotaryDim must be even (RoPE rotates pairs of dims), received 5'],
    [rope({ seq: 1, dim: 8, rotaryDim: 10 }), 'RangeError', 'rope: rotaryDim must be at most dim = 8, received 10'],
    [rope({ seq: 1, dim: 8, inverse: 1 }), 'TypeError', 'rope: inverse must be a boolean, received 1'],
    [rope({ seq: 2, dim: 4, positions: [0, Infinity] }), 'RangeError', 'rope: positions[1] must be a finite number, received Infinity'],
    [rope({ seq: 2, dim: 4, positions: [0, 'a'] }), 'TypeError', 'rope: positions[1] must be a finite number, received "a"'],
    [rope({ seq: 2, dim: 4, positions: 3 }), 'TypeError', 'rope: positions must be an array or typed array of numbers, received 3'],
    [rope({ seq: 1, dim: 8, backend: 'gpu' }), 'RangeError', "rope: backend must be one of 'auto', 'wasm', 'webgpu', received \"gpu\""],
    [rope({ seq: 1, dim: 8 }, new Float64Array(8)), 'TypeError', 'rope: x must be a Float32Array, received Float64Array(8)'],
    [rope({ seq: 1, dim: 8, bsae: 2 }), 'TypeError', "rope: unknown option 'bsae' (did you mean 'base'?)"],
    [rope({ seq: 1, dim: 8, positons: [1] }), 'TypeError', "rope: unknown option 'positons' (did you mean 'positions'?)"],
    [rope(null), 'TypeError', 'rope: options must be an object, received null'],
    [rope(undefined), 'TypeError', 'rope: options { seq, dim } are required, received undefined'],
    [rope({ seq: 2 ** 20, dim: 1024 }), 'RangeError',
      'rope: x of shape batch=1 × seq=1048576 × heads=1 × dim=1024 needs 1073741824 floats (4294967296 bytes), more than the 2 GiB WASM heap can hold'],
  ];
  const rope2d = (options, array = x) => () => kx.rope2d(array, options);
  cases.push(
    [rope2d({ height: 0, width: 2, dim: 4 }), 'RangeError', 'rope2d: height must be a positive integer, received 0'],
    [rope2d({ height: 1, width: 2.5, dim: 4 }), 'RangeError', 'rope2d: width must be a positive integer, received 2.5'],
    [rope2d({ height: 1, dim: 4 }), 'TypeError', 'rope2d: width must be a positive integer, received undefined'],
    [rope2d({ height: 1, width: 2, dim: 4, batch: 0 }), 'RangeError', 'rope2d: batch must be a positive integer, received 0'],
    [rope2d({ height: 1, width: 2, dim: 4, heads: 0 }), 'RangeError', 'rope2d: heads must be a positive integer, received 0'],
    [rope2d({ height: 1, width: 2, dim: 2 }), 'RangeError', 'rope2d: dim must be a multiple of 4 (two rotary halves of even size), received 2'],
    [rope2d({ height: 1, width: 2, dim: 4, base: 0 }), 'RangeError', 'rope2d: base must be greater than 0, received 0'],
    [rope2d({ height: 1, width: 2, dim: 4, layout: 'rotate' }), 'RangeError', "rope2d: layout must be one of 'interleaved', 'half', received \"rotate\""],
    [rope2d({ height: 1, width: 2, dim: 4, mode: true }), 'TypeError', "rope2d: mode must be one of 'split', 'tie', received boolean true"],
    [rope2d({ height: 1, width: 2, dim: 4, inverse: 'no' }), 'TypeError', 'rope2d: inverse must be a boolean, received "no"'],
    [rope2d({ height: 1, width: 2, dim: 4, positions: [0, 0, NaN, 1] }), 'RangeError', 'rope2d: positions[2] must be a finite number, received NaN'],
    [rope2d({ height: 1, width: 2, dim: 4 }, new Float32Array(7)), 'RangeError',
      'rope2d: x must have length batch*height*width*heads*dim = 8 for shape [1, 1, 2, 1, 4], received length 7'],
    [rope2d({ height: 1, width: 2, dim: 4, mdoe: 'tie' }), 'TypeError', "rope2d: unknown option 'mdoe' (did you mean 'mode'?)"],
    [rope2d({ height: 1, width: 2, dim: 4, backend: 'wasm' }), 'TypeError', "rope2d: unknown option 'backend' (known options: batch, height, width, heads, dim, base, layout, mode, inverse, positions)"],
    [rope2d(undefined), 'TypeError', 'rope2d: options { height, width, dim } are required, received undefined'],
  );
  for (const [call, name, message] of cases) assert.throws(call, { name, message }, message);
  // Still usable, and the accepted spellings of the same call agree.
  const y = kx.rope(new Float32Array([1, 2, 3, 4]), { seq: 1, dim: 4, positions: [1] });
  assertClose(y, [-1.142639664, 1.922075597, 2.959850668, 4.029799502], 1e-6, 'after errors');
  assert.deepEqual(kx.rope(x, { seq: 1, dim: 8, positions: new BigInt64Array([3n]) }), kx.rope(x, { seq: 1, dim: 8, positions: [3] }));
  assert.deepEqual(kx.rope(x, { seq: 1, dim: 8, rotaryDim: 8 }), kx.rope(x, { seq: 1, dim: 8 }));
});

test('attention and attentionBackward: every rule through the API names its parameter', async () => {
  const q = new Float32Array(16);
  const shape = { seqQ: 2, heads: 2, dim: 4 };
  const cases = [
    [{ ...shape, batch: 0 }, 'RangeError', 'batch must be a positive integer, received 0'],
    [{ ...shape, seqQ: -1 }, 'RangeError', 'seqQ must be a non-negative integer, received -1'],
    [{ heads: 2, dim: 4 }, 'TypeError', 'seqQ must be a non-negative integer, received undefined'],
    [{ ...shape, seqK: 0.5 }, 'RangeError', 'seqK must be a non-negative integer, received 0.5'],
    [{ ...shape, seqK: null }, 'TypeError', 'seqK must be a non-negative integer, received null'],
    [{ ...shape, heads: 0 }, 'RangeError', 'heads must be a positive integer, received 0'],
    [{ ...shape, kvHeads: 0 }, 'RangeError', 'kvHeads must be a positive integer, received 0'],
    [{ ...shape, kvHeads: 3 }, 'RangeError', 'heads must be a multiple of kvHeads = 3 (grouped-query attention), received heads = 2'],
    [{ ...shape, dim: 0 }, 'RangeError', 'dim must be a positive integer, received 0'],
    [{ ...shape, dimV: 0 }, 'RangeError', 'dimV must be a positive integer, received 0'],
    [{ ...shape, seqK: 1, causal: true }, 'RangeError',
      'causal attention needs seqQ <= seqK (query i sits at position seqK - seqQ + i), received seqQ = 2, seqK = 1'],
    [{ ...shape, causal: 'yes' }, 'TypeError', 'causal must be a boolean, received "yes"'],
    [{ ...shape, scale: true }, 'TypeError', "scale must be one of 'entropy', 'standard' or a finite number, received boolean true"],
    [{ ...shape, scale: 'log' }, 'RangeError', "scale must be one of 'entropy', 'standard' or a finite number, received \"log\""],
    [{ ...shape, scale: -Infinity }, 'RangeError', "scale must be one of 'entropy', 'standard' or a finite number, received -Infinity"],
    [{ ...shape, baseLen: 0.5 }, 'RangeError', 'baseLen must be greater than 1, received 0.5'],
    [{ ...shape, nMin: 0 }, 'RangeError', 'nMin must be at least 1, received 0'],
    [{ ...shape, clipBelowOne: 1 }, 'TypeError', 'clipBelowOne must be a boolean, received 1'],
    [{ ...shape, rope: 1 }, 'TypeError', 'rope must be null, true or an object { base, layout, rotaryDim }, received 1'],
    [{ ...shape, dim: 3, rope: true }, 'RangeError', 'dim must be even (RoPE rotates pairs of dims), received 3'],
    [{ ...shape, rope: { base: 0 } }, 'RangeError', 'rope.base must be greater than 0, received 0'],
    [{ ...shape, rope: { layout: 'rotate' } }, 'RangeError', "rope.layout must be one of 'interleaved', 'half', received \"rotate\""],
    [{ ...shape, rope: { rotaryDim: 3 } }, 'RangeError', 'rope.rotaryDim must be even (RoPE rotates pairs of dims), received 3'],
    [{ ...shape, rope: { rotaryDim: 6 } }, 'RangeError', 'rope.rotaryDim must be at most dim = 4, received 6'],
    [{ ...shape, rope: { layot: 'half' } }, 'TypeError', "unknown option 'rope.layot' (did you mean 'rope.layout'?)"],
    [{ ...shape, casual: true }, 'TypeError', "unknown option 'casual' (did you mean 'causal'?)"],
    [{ ...shape, seqLen: 2 }, 'TypeError', "unknown option 'seqLen' (did you mean 'seqLensQ'?)"],
    [{ ...shape, seqQ: 2 ** 16, heads: 64, dim: 256 }, 'RangeError',
      'q of shape batch=1 × seqQ=65536 × heads=64 × dim=256 needs 1073741824 floats (4294967296 bytes), more than the 2 GiB WASM heap can hold'],
    [{ ...shape, backend: 'cpu' }, 'RangeError', "backend must be one of 'auto', 'wasm', 'webgpu', received \"cpu\""],
    [[1, 2], 'TypeError', 'options must be an object, received Array(2)'],
  ];
  for (const [options, name, text] of cases) {
    await assert.rejects(kx.attention(q, q, q, options), { name, message: `attention: ${text}` }, text);
    assert.throws(() => kx.attentionBackward(q, q, q, q, options), { name, message: `attentionBackward: ${text}` }, text);
  }
  // The arrays, checked in JS with the lengths of the resolved shape (kvHeads = heads, dimV = dim).
  await assert.rejects(kx.attention(q, new Float32Array(8), q, shape),
    { name: 'RangeError', message: 'attention: k must have length batch*seqK*kvHeads*dim = 16 for shape [1, 2, 2, 4], received length 8' });
  await assert.rejects(kx.attention(q, q, new Float32Array(8), shape),
    { name: 'RangeError', message: 'attention: v must have length batch*seqK*kvHeads*dimV = 16 for shape [1, 2, 2, 4], received length 8' });
  assert.equal((await kx.attention(q, q, new Float32Array(8), { ...shape, dimV: 2 })).length, 8);
  await assert.rejects(kx.attention(q, q, Float32Array.from(q, (_, i) => (i === 5 ? Infinity : 0)), shape),
    { name: 'RangeError', message: 'attention: v[5] must be finite, received Infinity' });
  await assert.rejects(kx.attention([0], q, q, shape), { name: 'TypeError', message: 'attention: q must be a Float32Array, received Array(1)' });
  assert.throws(() => kx.attentionBackward(q, q, q, Float32Array.from(q, () => NaN), shape),
    { name: 'RangeError', message: 'attentionBackward: dOut[0] must be finite, received NaN' });

  // Still usable; rope: true, {} and { rotaryDim: dim } are the same call, and false and null are no RoPE.
  const next = random(17);
  const x = randomArray(16, next);
  const y = randomArray(16, next);
  const withRope = await kx.attention(x, y, y, { ...shape, rope: true });
  assert.deepEqual(await kx.attention(x, y, y, { ...shape, rope: {} }), withRope);
  assert.deepEqual(await kx.attention(x, y, y, { ...shape, rope: { rotaryDim: 4, base: 10000, layout: 'interleaved' } }), withRope);
  const without = await kx.attention(x, y, y, shape);
  assert.deepEqual(await kx.attention(x, y, y, { ...shape, rope: false }), without);
  assert.deepEqual(await kx.attention(x, y, y, { ...shape, rope: null }), without);
  assert.notDeepEqual(withRope, without);
  // The defaults kvHeads = heads, seqK = seqQ, dimV = dim, scale 'standard' written out give the same result.
  assert.deepEqual(await kx.attention(x, y, y, { ...shape, seqK: 2, kvHeads: 2, dimV: 4, scale: 'standard', baseLen: 512, nMin: 16 }), without);
  const out = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC_SHAPE, scale: 'standard' });
  assertClose([out[0], out[1]], [1.185269355, -0.09641692105], 1e-6, 'after errors');
});

test('many calls leave the WASM heap size unchanged', async () => {
  const next = random(13);
  const options = { seqQ: 64, heads: 2, dim: 16, causal: true, rope: {} };
  const q = randomArray(64 * 2 * 16, next);
  const call = async () => {
    await kx.attention(q, q, q, options);
    kx.attentionBackward(q, q, q, q, options);
    kx.rope(q, { seq: 64, heads: 2, dim: 16 });
    kx.rope2d(q, { height: 8, width: 8, heads: 2, dim: 16 });
  };
  for (let i = 0; i < 20; ++i) await call();
  const before = kx.wasmHeapBytes;
  for (let i = 0; i < 1000; ++i) await call();
  assert.equal(kx.wasmHeapBytes, before);
});
