// Positions and rotary frequencies through the JS API (issue 13, item 4): kx.ropeFrequencies against
// Hugging Face's stored inverse frequencies (tests/conformance/transformers, a copy of
// transformers' test_modeling_rope_utils.py numbers) and a float64 JS transcription of HF's
// formulas; kx.rope with [batch, seq] positions, offset, ropeScaling and inverseFrequencies;
// kx.attention / kx.attentionBackward with rope.positionsQ / positionsK, ropeScaling and a cache
// of rotated keys (a decoding loop), against a float64 reference and finite differences; the
// errors, each naming its parameter, with the module still working afterwards.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { symmetricUniform } from '../helpers/random.js';

const kx = await init({ backend: 'wasm' });
const HF = JSON.parse(readFileSync(new URL('../conformance/transformers/rope-scaling-inv-freq.json', import.meta.url)));

function randomArray(length, seed) {
  const next = symmetricUniform(seed);
  return Float32Array.from({ length }, () => next());
}

function maxRelativeError(actual, expected) {
  let diff = 0;
  let scale = 1e-2;
  for (let i = 0; i < expected.length; ++i) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

// ---- float64 references ----

// HF's modeling_rope_utils.py written again in JS (default, linear, dynamic NTK in its static form,
// yarn, llama3), from the Python, not from the C++.
function spectrumReference(rotaryDim, base, scaling) {
  const d = rotaryDim;
  const plain = (b) => Array.from({ length: d / 2 }, (_, i) => 1 / b ** ((2 * i) / d));
  if (!scaling) return { inverseFrequencies: plain(base), attentionFactor: 1 };
  const { type, factor } = scaling;
  let attentionFactor = scaling.attentionFactor ?? 1;
  let theta;
  if (type === 'linear') theta = plain(base).map((t) => t / factor);
  else if (type === 'ntk') theta = plain(base * factor ** (d / (d - 2)));
  else if (type === 'yarn') {
    const L = scaling.originalMaxPositionEmbeddings;
    const correctionDim = (r) => (d * Math.log(L / (r * 2 * Math.PI))) / (2 * Math.log(base));
    const low = Math.max(Math.floor(correctionDim(scaling.betaFast ?? 32)), 0);
    let high = Math.min(Math.ceil(correctionDim(scaling.betaSlow ?? 1)), d - 1);
    if (low === high) high += 0.001;
    theta = plain(base).map((t, i) => {
      const extrapolation = 1 - Math.min(1, Math.max(0, (i - low) / (high - low)));
      return (t / factor) * (1 - extrapolation) + t * extrapolation;
    });
    attentionFactor = scaling.attentionFactor ?? 0.1 * Math.log(factor) + 1;
  } else if (type === 'llama3') {
    const L = scaling.originalMaxPositionEmbeddings;
    const lo = scaling.lowFreqFactor ?? 1;
    const hi = scaling.highFreqFactor ?? 4;
    theta = plain(base).map((t) => {
      const wavelength = (2 * Math.PI) / t;
      const scaled = wavelength > L / lo ? t / factor : t;
      if (wavelength < L / hi || wavelength > L / lo) return scaled;
      const smooth = (L / wavelength - lo) / (hi - lo);
      return ((1 - smooth) * scaled) / factor + smooth * scaled;
    });
  }
  return { inverseFrequencies: theta, attentionFactor };
}

// vector[offset … offset + rotaryDim) ← a·R_position, with explicit θ.
function rotate(vector, offset, layout, theta, factor, position) {
  const half = theta.length;
  for (let i = 0; i < half; ++i) {
    const angle = position * theta[i];
    const [a, b] = layout === 'half' ? [offset + i, offset + i + half] : [offset + 2 * i, offset + 2 * i + 1];
    const x = vector[a];
    const y = vector[b];
    vector[a] = factor * (x * Math.cos(angle) - y * Math.sin(angle));
    vector[b] = factor * (x * Math.sin(angle) + y * Math.cos(angle));
  }
}

// Attention with 'standard' scale, RoPE with positions (flat [seq] or [batch·seq]) and a spectrum.
function attentionReference(q, k, v, o) {
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim, causal = false, rope } = o;
  const { layout = 'interleaved', rotaryDim = dim, base = 10000, ropeScaling = null, inverseFrequencies,
    positionsQ, positionsK, cachedKeys = 'unrotated' } = rope;
  const spectrum = inverseFrequencies ? { inverseFrequencies: [...inverseFrequencies], attentionFactor: 1 }
    : spectrumReference(rotaryDim, base, ropeScaling);
  const at = (positions, seq, b, i, fallback) =>
    !positions ? fallback : positions.length === seq ? positions[i] : positions[b * seq + i];
  const out = new Float64Array(batch * seqQ * heads * dimV);
  const group = heads / kvHeads;
  for (let b = 0; b < batch; ++b) {
    for (let h = 0; h < heads; ++h) {
      const kh = Math.floor(h / group);
      const keys = Array.from({ length: seqK }, (_, j) => {
        const row = Float64Array.from(k.subarray(((b * seqK + j) * kvHeads + kh) * dim, ((b * seqK + j) * kvHeads + kh + 1) * dim));
        if (cachedKeys !== 'rotated') rotate(row, 0, layout, spectrum.inverseFrequencies, spectrum.attentionFactor, at(positionsK, seqK, b, j, j));
        return row;
      });
      for (let i = 0; i < seqQ; ++i) {
        const row = Float64Array.from(q.subarray(((b * seqQ + i) * heads + h) * dim, ((b * seqQ + i) * heads + h + 1) * dim));
        rotate(row, 0, layout, spectrum.inverseFrequencies, spectrum.attentionFactor, at(positionsQ, seqQ, b, i, seqK - seqQ + i));
        const visible = causal ? seqK - seqQ + i + 1 : seqK;
        const scores = keys.slice(0, visible).map((key) => key.reduce((s, x, d) => s + x * row[d], 0) / Math.sqrt(dim));
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const sum = weights.reduce((s, w) => s + w, 0);
        for (let j = 0; j < visible; ++j) {
          for (let d = 0; d < dimV; ++d) out[((b * seqQ + i) * heads + h) * dimV + d] += (weights[j] / sum) * v[((b * seqK + j) * kvHeads + kh) * dimV + d];
        }
      }
    }
  }
  return out;
}

// ---- frequencies ----

test('ropeFrequencies: Hugging Face\'s stored inverse frequencies (5 significant digits) and its formulas', () => {
  for (const c of HF.cases) {
    const got = kx.ropeFrequencies({ rotaryDim: c.rotaryDim, base: c.base, ropeScaling: c.scaling });
    assert.ok(got.inverseFrequencies instanceof Float64Array);
    assert.equal(got.inverseFrequencies.length, c.invFreq.length, c.name);
    c.invFreq.forEach((want, i) => {
      assert.ok(Math.abs(got.inverseFrequencies[i] - want) <= 6e-5 * want, `${c.name} [${i}]: ${got.inverseFrequencies[i]} vs ${want}`);
    });
  }
  const configs = [
    null,
    { type: 'linear', factor: 4 },
    { type: 'ntk', factor: 8 },
    { type: 'yarn', factor: 16, originalMaxPositionEmbeddings: 4096 },
    { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 2048, betaFast: 16, betaSlow: 2, attentionFactor: 1.25 },
    { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 8192 },
    { type: 'llama3', factor: 32, originalMaxPositionEmbeddings: 8192, lowFreqFactor: 2, highFreqFactor: 8 },
  ];
  for (const ropeScaling of configs) {
    for (const [rotaryDim, base] of [[64, 10000], [128, 500000], [6, 10000]]) {
      const got = kx.ropeFrequencies({ rotaryDim, base, ropeScaling });
      const want = spectrumReference(rotaryDim, base, ropeScaling);
      want.inverseFrequencies.forEach((w, i) => assert.ok(Math.abs(got.inverseFrequencies[i] - w) <= 1e-12 * w,
        `${JSON.stringify(ropeScaling)} d ${rotaryDim} [${i}]`));
      assert.ok(Math.abs(got.attentionFactor - want.attentionFactor) < 1e-15, JSON.stringify(ropeScaling));
    }
  }
});

// ---- kx.rope ----

test('rope: [batch, seq] positions, offset, ropeScaling and inverseFrequencies against the float64 rotation', () => {
  const [batch, seq, heads, dim] = [3, 4, 2, 10];
  const x = randomArray(batch * seq * heads * dim, 1);
  const perBatch = Float64Array.from({ length: batch * seq }, (_, i) => 0.5 * i * i - 7);
  const cases = [
    { positions: perBatch, ropeScaling: { type: 'yarn', factor: 8, originalMaxPositionEmbeddings: 32 } },
    { positions: [3, 1, 4, 1], ropeScaling: { type: 'llama3', factor: 4, originalMaxPositionEmbeddings: 16 }, layout: 'half' },
    { offset: 4093, inverseFrequencies: [1, 0.25, -0.5], rotaryDim: 6 },
    { positions: Array.from(perBatch), ropeScaling: { type: 'ntk', factor: 3 }, layout: 'half', rotaryDim: 8 },
  ];
  for (const c of cases) {
    const options = { batch, seq, heads, dim, base: 500, ...c };
    const y = kx.rope(x, options);
    const rotaryDim = c.rotaryDim ?? dim;
    const spectrum = c.inverseFrequencies ? { inverseFrequencies: c.inverseFrequencies, attentionFactor: 1 }
      : spectrumReference(rotaryDim, 500, c.ropeScaling);
    const want = Float64Array.from(x);
    for (let b = 0; b < batch; ++b) {
      for (let t = 0; t < seq; ++t) {
        const position = !c.positions ? c.offset + t : c.positions.length === seq ? c.positions[t] : c.positions[b * seq + t];
        for (let h = 0; h < heads; ++h) {
          rotate(want, ((b * seq + t) * heads + h) * dim, c.layout ?? 'interleaved', spectrum.inverseFrequencies, spectrum.attentionFactor, position);
        }
      }
    }
    assert.ok(maxRelativeError(y, want) < 3e-6, JSON.stringify(c).slice(0, 80));
  }
  // [batch, seq] positions equal one call per batch entry with its row.
  const entry = (b) => x.subarray(b * seq * heads * dim, (b + 1) * seq * heads * dim);
  const whole = kx.rope(x, { batch, seq, heads, dim, positions: perBatch });
  for (let b = 0; b < batch; ++b) {
    const one = kx.rope(entry(b), { seq, heads, dim, positions: perBatch.subarray(b * seq, (b + 1) * seq) });
    assert.deepEqual(whole.subarray(b * seq * heads * dim, (b + 1) * seq * heads * dim), one);
  }
  // offset t equals positions t, t + 1, …
  assert.deepEqual(kx.rope(x, { batch, seq, heads, dim, offset: 17 }), kx.rope(x, { batch, seq, heads, dim, positions: [17, 18, 19, 20] }));
});

// ---- kx.attention ----

const SHAPE = { batch: 2, seqQ: 5, seqK: 70, heads: 4, kvHeads: 2, dim: 16, dimV: 8, scale: 'standard' };

function inputs(shape, seed) {
  const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = shape;
  return {
    q: randomArray(batch * seqQ * heads * dim, seed),
    k: randomArray(batch * seqK * kvHeads * dim, seed + 1),
    v: randomArray(batch * seqK * kvHeads * dimV, seed + 2),
  };
}

test('attention: rope.positionsQ / positionsK (one row or one per batch entry) and ropeScaling against the float64 reference', async () => {
  const { q, k, v } = inputs(SHAPE, 10);
  const { batch, seqQ, seqK } = SHAPE;
  // Left padding by 0 and 9 tokens: entry 1's positions start 9 later.
  const positionsQ = Float64Array.from({ length: batch * seqQ }, (_, i) => seqK - seqQ + (i % seqQ) - 9 * Math.floor(i / seqQ));
  const positionsK = Float64Array.from({ length: batch * seqK }, (_, i) => (i % seqK) - 9 * Math.floor(i / seqK));
  const ropes = [
    { positionsQ, positionsK, ropeScaling: { type: 'yarn', factor: 8, originalMaxPositionEmbeddings: 32 } },
    { positionsQ: positionsQ.subarray(0, seqQ), positionsK, layout: 'half', ropeScaling: { type: 'llama3', factor: 4, originalMaxPositionEmbeddings: 16 } },
    { positionsQ, positionsK: Array.from(positionsK.subarray(0, seqK)), inverseFrequencies: new Float32Array([1, 0.5, 0.25, 0.125, 0.0625, 0.03125]), rotaryDim: 12 },
    { ropeScaling: { type: 'ntk', factor: 4 } },
  ];
  for (const causal of [false, true]) {
    for (const rope of ropes) {
      const options = { ...SHAPE, causal, rope };
      const out = await kx.attention(q, k, v, options);
      const error = maxRelativeError(out, attentionReference(q, k, v, options));
      assert.ok(error < 2e-5, `causal ${causal} ${Object.keys(rope)}: ${error}`);
    }
  }
});

test('attention: positions shared by every row equal the defaults; a common shift changes nothing', async () => {
  const shape = { ...SHAPE, causal: true };
  const { q, k, v } = inputs(shape, 20);
  const { seqQ, seqK } = shape;
  const plain = await kx.attention(q, k, v, { ...shape, rope: true });
  const given = await kx.attention(q, k, v, {
    ...shape, rope: { positionsQ: Array.from({ length: seqQ }, (_, i) => seqK - seqQ + i), positionsK: Array.from({ length: seqK }, (_, j) => j) },
  });
  assert.deepEqual(given, plain);
  const shifted = await kx.attention(q, k, v, {
    ...shape, rope: { positionsQ: Array.from({ length: seqQ }, (_, i) => 1000 + seqK - seqQ + i), positionsK: Array.from({ length: seqK }, (_, j) => 1000 + j) },
  });
  assert.ok(maxRelativeError(shifted, plain) < 1e-5);
});

// The decoding loop of the README: each step rotates only its new key (kx.rope with offset) and
// appends it to a cache of rotated keys; attention rotates only the query (cachedKeys 'rotated').
test('attention: a decoding loop over a cache of rotated keys equals re-rotating the whole cache', async () => {
  const [heads, kvHeads, dim, steps] = [4, 2, 16, 12];
  const rope = { layout: 'half', ropeScaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 8 } };
  const keys = randomArray(steps * kvHeads * dim, 30);
  const values = randomArray(steps * kvHeads * dim, 31);
  const queries = randomArray(steps * heads * dim, 32);
  const cache = new Float32Array(steps * kvHeads * dim);
  for (let t = 0; t < steps; ++t) {
    const row = kvHeads * dim;
    const newKey = kx.rope(keys.subarray(t * row, (t + 1) * row), { seq: 1, heads: kvHeads, dim, offset: t, ...rope });
    cache.set(newKey, t * row);
    const q = queries.subarray(t * heads * dim, (t + 1) * heads * dim);
    const options = { seqQ: 1, seqK: t + 1, heads, kvHeads, dim, scale: 'standard', causal: true };
    const cached = await kx.attention(q, cache.subarray(0, (t + 1) * row), values.subarray(0, (t + 1) * row),
      { ...options, rope: { ...rope, cachedKeys: 'rotated' } });
    const rerotated = await kx.attention(q, keys.subarray(0, (t + 1) * row), values.subarray(0, (t + 1) * row), { ...options, rope });
    assert.ok(maxRelativeError(cached, rerotated) < 1e-5, `step ${t}`);
  }
});

// Central differences of kx.attention (float32, step 1e-2) against kx.attentionBackward: the
// gradients w.r.t. the un-rotated q and k with positions and scaling, and w.r.t. the given k with
// cachedKeys 'rotated'. (The native suite checks the float64 reference against differences at 1e-7.)
test('attentionBackward with positions, ropeScaling and cachedKeys \'rotated\' matches finite differences', async () => {
  const shape = { batch: 2, seqQ: 3, seqK: 4, heads: 2, kvHeads: 1, dim: 4, dimV: 2, scale: 'standard', causal: true };
  const ropes = [
    { positionsQ: [1, 2, 3, 5, 6, 7], positionsK: [0, 1, 2, 3], ropeScaling: { type: 'yarn', factor: 16, originalMaxPositionEmbeddings: 4 } },
    { positionsQ: [2.5, 3, 9], layout: 'half', ropeScaling: { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 4 } },
    { positionsQ: [1, 2, 3, 5, 6, 7], cachedKeys: 'rotated', inverseFrequencies: [0.9, 0.3] },
  ];
  for (const rope of ropes) {
    const options = { ...shape, rope };
    const { q, k, v } = inputs(shape, 40);
    const dOut = randomArray(2 * 3 * 2 * 2, 43);
    const grads = kx.attentionBackward(q, k, v, dOut, options);
    const loss = async () => (await kx.attention(q, k, v, options)).reduce((s, o, i) => s + o * dOut[i], 0);
    for (const [name, x, grad] of [['q', q, grads.dq], ['k', k, grads.dk], ['v', v, grads.dv]]) {
      for (let i = 0; i < x.length; ++i) {
        const saved = x[i];
        x[i] = saved + 1e-2;
        const up = await loss();
        x[i] = saved - 1e-2;
        const down = await loss();
        x[i] = saved;
        const numeric = (up - down) / 2e-2;
        assert.ok(Math.abs(grad[i] - numeric) <= 2e-3 + 2e-2 * Math.abs(numeric), `${Object.keys(rope)} d${name}[${i}]: ${grad[i]} vs ${numeric}`);
      }
    }
  }
});

// ---- errors ----

test('errors name the parameter; the module works afterwards', async () => {
  const x = new Float32Array(2 * 3 * 4);
  const rope = (options) => () => kx.rope(x, { batch: 2, seq: 3, dim: 4, ...options });
  const cases = [
    [rope({ positions: [1, 2] }), 'RangeError', 'rope: positions must have length seq = 3 or batch*seq = 6, received length 2'],
    [rope({ positions: [0, 1, 2, 3, 4, NaN] }), 'RangeError', 'rope: positions[5] must be a finite number, received NaN'],
    [rope({ positions: [0, 1, 2], offset: 2 }), 'RangeError', 'rope: offset must be 0 when positions are given (they hold every token\'s position), received 2'],
    [rope({ ropeScaling: { type: 'dynamic', factor: 2 } }), 'RangeError', 'rope: ropeScaling.type must be one of \'linear\', \'ntk\', \'yarn\', \'llama3\', received "dynamic"'],
    [rope({ ropeScaling: { factor: 2 } }), 'TypeError', 'rope: ropeScaling.type must be one of \'linear\', \'ntk\', \'yarn\', \'llama3\', received undefined'],
    [rope({ ropeScaling: { type: 'yarn', factor: 2, betaFst: 1 } }), 'TypeError', 'rope: unknown option \'ropeScaling.betaFst\' (did you mean \'ropeScaling.betaFast\'?)'],
    [rope({ ropeScaling: { type: 'yarn', factor: 2 } }), 'TypeError', 'rope: ropeScaling.originalMaxPositionEmbeddings is required (the training length, a number > 0, for type \'yarn\'), received undefined'],
    [rope({ ropeScaling: { type: 'linear', factor: 0.5 } }), 'RangeError', 'rope: ropeScaling.factor must be at least 1, received 0.5'],
    [rope({ inverseFrequencies: [1] }), 'RangeError', 'rope: inverseFrequencies must have length rotaryDim / 2 = 2, received length 1'],
    [rope({ inverseFrequencies: [1, Infinity] }), 'RangeError', 'rope: inverseFrequencies[1] must be a finite number, received Infinity'],
    [rope({ inverseFrequencies: [1, 2], ropeScaling: { type: 'linear', factor: 2 } }), 'RangeError', 'rope: inverseFrequencies and ropeScaling cannot both be given (explicit frequencies are final)'],
    [() => kx.ropeFrequencies({ rotaryDim: 3 }), 'RangeError', 'ropeFrequencies: rotaryDim must be even (RoPE rotates pairs of dims), received 3'],
    [() => kx.ropeFrequencies({ rotaryDim: 2, ropeScaling: { type: 'ntk', factor: 2 } }), 'RangeError',
      'ropeFrequencies: ropeScaling.type \'ntk\' needs rotaryDim > 2 (the base is raised to the power rotaryDim / (rotaryDim - 2)), received rotaryDim = 2'],
    [() => kx.ropeFrequencies({ dim: 4 }), 'TypeError', 'ropeFrequencies: rotaryDim must be a positive integer, received undefined'],
  ];
  for (const [call, name, message] of cases) assert.throws(call, { name, message }, message);

  const shape = { batch: 2, seqQ: 2, seqK: 3, heads: 1, dim: 4 };
  const q = new Float32Array(16);
  const kv = new Float32Array(24);
  const attention = (rope) => kx.attention(q, kv, kv, { ...shape, rope });
  const rejections = [
    [attention({ positionsQ: [1, 2, 3] }), 'RangeError', 'attention: rope.positionsQ must have length seqQ = 2 or batch*seqQ = 4, received length 3'],
    [attention({ positionsK: [0, 1, 2, 3] }), 'RangeError', 'attention: rope.positionsK must have length seqK = 3 or batch*seqK = 6, received length 4'],
    [attention({ positionsQ: [0, Infinity] }), 'RangeError', 'attention: rope.positionsQ[1] must be a finite number, received Infinity'],
    [attention({ positionsK: 'abc' }), 'TypeError', 'attention: rope.positionsK must be an array or typed array of numbers, received "abc"'],
    [attention({ positionsK: [0, 1, 2], cachedKeys: 'rotated' }), 'RangeError',
      'attention: rope.positionsK cannot be given with rope.cachedKeys \'rotated\' (the keys were rotated at their positions before they were cached)'],
    [attention({ cachedKeys: 'yes' }), 'RangeError', 'attention: rope.cachedKeys must be one of \'unrotated\', \'rotated\', received "yes"'],
    [attention({ ropeScaling: { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 64, highFreqFactor: 0.5 } }), 'RangeError',
      'attention: rope.ropeScaling.highFreqFactor must be greater than lowFreqFactor = 1, received 0.5'],
    [attention({ positionQ: [1, 2] }), 'TypeError', 'attention: unknown option \'rope.positionQ\' (did you mean \'rope.positionsQ\'?)'],
  ];
  for (const [promise, name, message] of rejections) await assert.rejects(promise, { name, message }, message);
  assert.throws(() => kx.attentionBackward(q, kv, kv, new Float32Array(16), { ...shape, rope: { positionsQ: [1] } }),
    { name: 'RangeError', message: 'attentionBackward: rope.positionsQ must have length seqQ = 2 or batch*seqQ = 4, received length 1' });

  // Still working.
  const out = await kx.attention(new Float32Array(16).fill(0.5), Float32Array.from({ length: 24 }, (_, i) => i % 5), kv.fill(1),
    { ...shape, rope: { positionsQ: [4, 5] } });
  assert.ok(out.every((value) => Math.abs(value - 1) < 1e-6));
});
