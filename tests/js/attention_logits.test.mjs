// kx.attention and kx.attentionBackward with logit shaping (softcap, sinks, smoothSoftmax) and the
// softmax / relu2 / l2 normalisations (src/attention/attention.hpp, docs/math.md §2.8, §2.9): the
// mpmath vectors of tests/vectors/t_attn_logits.py, a float64 JS reference over shapes on the
// kernel's tile edges (causal, GQA), central differences of it for the backward pass (dSinks
// included), and every new rule through the API with the parameter it names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { symmetricUniform } from '../helpers/random.js';
import { relativeError } from '../helpers/webgpu-parity-suite.js';

const kx = await init({ backend: 'wasm' });

function assertClose(actual, expected, tolerance, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; ++i) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= tolerance * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]} (error ${error})`);
  }
}

const randomArray = (length, next) => Float32Array.from({ length }, () => next());

// The float64 definition (attention.hpp, "Logit shaping"), without RoPE: x = c·q·k,
// s = softcap·tanh(x/softcap) + bias (the bias after the softcap), then P = φ(s)·e^{−L} per
// normalisation, with the sink z_h counted in the softmax denominator. A causal left window
// (`window: { left }`) and a full-shape bias [batch, heads, seqQ, seqK] are the masking options
// covered here (attention_mask.test.mjs has the rest).
function reference(q, k, v, o) {
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim, causal = false,
    scale = 'standard', baseLen = 512, nMin = 16, softcap = null, sinks = null, smoothSoftmax = false,
    normalize = 'softmax', window = null, bias = null } = o;
  const out = new Float64Array(batch * seqQ * heads * dimV);
  const group = heads / kvHeads;
  for (let b = 0; b < batch; ++b) {
    for (let h = 0; h < heads; ++h) {
      const g = Math.floor(h / group);
      const sink = sinks ? sinks[h] : smoothSoftmax ? 0 : null;
      for (let i = 0; i < seqQ; ++i) {
        const end = causal ? seqK - seqQ + i + 1 : seqK;
        const begin = window ? Math.max(0, seqK - seqQ + i - window.left) : 0;
        const n = end - begin;
        if (n <= 0) continue;
        const c = typeof scale === 'number' ? scale : scale === 'standard' ? 1 / Math.sqrt(dim)
          : Math.log(Math.max(n, nMin)) / Math.log(baseLen) / Math.sqrt(dim);
        const s = new Float64Array(n);
        for (let t = 0; t < n; ++t) {
          const j = begin + t;
          let dot = 0;
          for (let d = 0; d < dim; ++d) dot += q[((b * seqQ + i) * heads + h) * dim + d] * k[((b * seqK + j) * kvHeads + g) * dim + d];
          s[t] = (softcap ? softcap * Math.tanh(c * dot / softcap) : c * dot) +
            (bias ? bias.data[((b * heads + h) * seqQ + i) * seqK + j] : 0);
        }
        let p;
        if (normalize === 'relu2') {
          p = s.map((x) => Math.max(x, 0) ** 2 / n);
        } else {
          const m = Math.max(...s, sink ?? -Infinity);
          const factor = normalize === 'l2' ? 2 : 1;
          let sum = s.reduce((acc, x) => acc + Math.exp(factor * (x - m)), 0);
          if (sink !== null && normalize === 'softmax') sum += Math.exp(sink - m);
          const statistic = m + Math.log(sum) / factor;
          p = s.map((x) => Math.exp(x - statistic));
        }
        for (let t = 0; t < n; ++t) {
          for (let d = 0; d < dimV; ++d) out[((b * seqQ + i) * heads + h) * dimV + d] += p[t] * v[((b * seqK + begin + t) * kvHeads + g) * dimV + d];
        }
      }
    }
  }
  return out;
}

// ---- mpmath vectors: docs/math.md §2.8, §2.9 (tests/vectors/t_attn_logits.py) ----

const SPEC = { seqQ: 4, heads: 1, dim: 2, scale: 'standard' };
const SPEC_Q = new Float32Array([1, 0, 0, 1, 1, 1, 0.5, -1]);
const SPEC_K = new Float32Array([1, 0, 0, 1, -1, 0, 1, 1]);
const SPEC_V = new Float32Array([1, 0, 0, 1, 1, 1, 2, -1]);
const SPEC_G = new Float32Array([0.3, -0.2, 1, 0.5, -0.7, 0.4, 0.2, 0.9]);
const IDENTITY = Float32Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? 1 : 0));

test('logit shaping and normalisations reproduce docs/math.md §2.8, §2.9 (rows 0 and 3 of P and O)', async () => {
  const cases = [
    [{ softcap: 0.5 }, [0.3275830457, 0.2100926905, 0.1347412181, 0.3275830457], [1.117490355, 0.01725086294],
      [0.3904786195, 0.1847032998, 0.2124090403, 0.2124090403], [1.02770574, 0.1847032998]],
    [{ sinks: [0.7] }, [0.2681609425, 0.132221765, 0.06519441265, 0.2681609425], [0.8696772402, -0.07074476486],
      [0.2669230164, 0.09241599937, 0.1316113824, 0.1316113824], [0.6617571636, 0.09241599937]],
    [{ smoothSoftmax: true }, [0.3096690331, 0.1526881049, 0.07528572407, 0.3096690331], [1.004292823, -0.08169520409],
      [0.3295378211, 0.1140949457, 0.1624847822, 0.1624847822], [0.8169921678, 0.1140949457]],
    [{ normalize: 'relu2' }, [0.125, 0, 0, 0.125], [0.375, -0.125], [0.03125, 0, 0, 0], [0.03125, 0]],
    [{ normalize: 'l2' }, [0.6590621257, 0.3249628999, 0.1602290318, 0.6590621257], [2.137415409, -0.173870194],
      [0.7890650371, 0.2731957512, 0.3890632653, 0.3890632653], [1.956254833, 0.2731957512]],
    [{ normalize: 'l2', softcap: 0.5 }, [0.6225121499, 0.3992430444, 0.256051241, 0.6225121499], [2.123587691, 0.03278213546],
      [0.7421562355, 0.3510530381, 0.4037114604, 0.4037114604], [1.953290617, 0.3510530381]],
  ];
  for (const [extra, p0, o0, p3, o3] of cases) {
    const options = { ...SPEC, ...extra };
    const what = JSON.stringify(extra);
    const p = await kx.attention(SPEC_Q, SPEC_K, IDENTITY, { ...options, dimV: 4 });
    const o = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, options);
    assertClose(p.slice(0, 4), p0, 2e-6, `${what} P row 0`);
    assertClose(p.slice(12, 16), p3, 2e-6, `${what} P row 3`);
    assertClose(o.slice(0, 2), o0, 4e-6, `${what} O row 0`);
    assertClose(o.slice(6, 8), o3, 4e-6, `${what} O row 3`);
  }
});

test('attentionBackward with a sink reproduces the mpmath gradients, dSinks included', () => {
  const grads = kx.attentionBackward(SPEC_Q, SPEC_K, SPEC_V, SPEC_G, { ...SPEC, sinks: new Float32Array([0.7]) });
  assertClose(grads.dq, [0.1123401637, 0.05512483302, 0.07837665669, 0.06666798049, -0.2886666797, -0.125745794,
    -0.1518316749, -0.02186019175], 1e-5, 'dq');
  assertClose(grads.dk, [0.01190635495, 0.0280073152, 0.1343479843, 0.05614983286, 0.04824966727, -0.006901791253,
    -0.2158990412, -0.09336745462], 1e-5, 'dk');
  assertClose(grads.dv, [0.1247739584, 0.3245422028, 0.1764907013, 0.2583736727, 0.1374681727, 0.1858427525,
    0.08839801247, 0.3445836927], 1e-5, 'dv');
  assert.ok(grads.dSinks instanceof Float32Array);
  assertClose(grads.dSinks, [-0.213145337059], 1e-5, 'dSinks');
  // Without sinks there is nothing to differentiate: no dSinks (smoothSoftmax's sink is the constant 0).
  assert.equal(kx.attentionBackward(SPEC_Q, SPEC_K, SPEC_V, SPEC_G, { ...SPEC, smoothSoftmax: true }).dSinks, undefined);
  assert.equal(kx.attentionBackward(SPEC_Q, SPEC_K, SPEC_V, SPEC_G, SPEC).dSinks, undefined);
});

// ---- against the float64 reference ----

const VARIANTS = [
  { softcap: 1.5 },
  { sinks: [0.4, -0.6, 1.1, 0] },
  { smoothSoftmax: true },
  { normalize: 'relu2' },
  { normalize: 'l2' },
  { normalize: 'l2', softcap: 2 },
  { normalize: 'relu2', softcap: 2 },
  { sinks: new Float32Array([0.4, -0.6, 1.1, 0]), softcap: 3 },
];

test('attention with each option equals the float64 reference on the tile edges (causal, GQA)', async () => {
  const next = symmetricUniform(31);
  for (const variant of VARIANTS) {
    for (const shape of [
      { seqQ: 65, heads: 4, kvHeads: 2, dim: 8, dimV: 5, causal: true, scale: 'standard' },
      { seqQ: 63, seqK: 129, heads: 4, dim: 12, nMin: 1 },
      { batch: 2, seqQ: 3, seqK: 70, heads: 4, kvHeads: 1, dim: 6, causal: true },
    ]) {
      const options = { ...shape, ...variant };
      const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = options;
      const q = randomArray(batch * seqQ * heads * dim, () => 2 * next());
      const k = randomArray(batch * seqK * kvHeads * dim, () => 2 * next());
      const v = randomArray(batch * seqK * kvHeads * dimV, next);
      const error = relativeError(await kx.attention(q, k, v, options), reference(q, k, v, options));
      assert.ok(error < 1e-5, `${JSON.stringify(options)}: relative error ${error}`);
    }
  }
});

test('attentionBackward with each option equals central differences of the float64 reference', () => {
  const next = symmetricUniform(37);
  for (const variant of VARIANTS) {
    const options = { seqQ: 3, seqK: 5, heads: 4, kvHeads: 2, dim: 4, dimV: 3, causal: true, nMin: 1, ...variant };
    const { seqQ, seqK, heads, kvHeads, dim, dimV } = options;
    const inputs = {
      q: randomArray(seqQ * heads * dim, () => 2 * next()),
      k: randomArray(seqK * kvHeads * dim, () => 2 * next()),
      v: randomArray(seqK * kvHeads * dimV, next),
    };
    const dOut = randomArray(seqQ * heads * dimV, next);
    const loss = (x, sinks) => reference(x.q, x.k, x.v, { ...options, sinks }).reduce((s, o, i) => s + o * dOut[i], 0);
    const grads = kx.attentionBackward(inputs.q, inputs.k, inputs.v, dOut, options);
    const h = 1e-5;
    for (const [name, gradient] of [['q', grads.dq], ['k', grads.dk], ['v', grads.dv]]) {
      const expected = gradient.map((_, i) => {
        const plus = { ...inputs, [name]: Float64Array.from(inputs[name]) };
        const minus = { ...inputs, [name]: Float64Array.from(inputs[name]) };
        plus[name][i] += h;
        minus[name][i] -= h;
        return (loss(plus, options.sinks) - loss(minus, options.sinks)) / (2 * h);
      });
      const error = relativeError(gradient, Float64Array.from(expected));
      assert.ok(error < 1e-4, `${JSON.stringify(variant)} d${name}: relative error ${error}`);
    }
    if (options.sinks) {
      const expected = Array.from(options.sinks, (_, i) => {
        const plus = Float64Array.from(options.sinks);
        const minus = Float64Array.from(options.sinks);
        plus[i] += h;
        minus[i] -= h;
        return (loss(inputs, plus) - loss(inputs, minus)) / (2 * h);
      });
      const error = relativeError(grads.dSinks, Float64Array.from(expected));
      assert.ok(error < 1e-4, `${JSON.stringify(variant)} dSinks: relative error ${error}`);
    } else {
      assert.equal(grads.dSinks, undefined);
    }
  }
});

test('each option with a causal window and a bias (added after the softcap) equals the float64 reference, backward included', async () => {
  const next = symmetricUniform(43);
  for (const variant of VARIANTS) {
    const shape = { batch: 2, seqQ: 5, seqK: 9, heads: 4, kvHeads: 2, dim: 4, dimV: 3, causal: true, window: { left: 3 } };
    const bias = { data: randomArray(2 * 4 * 5 * 9, next), shape: [2, 4, 5, 9] };
    const options = { ...shape, bias, ...variant };
    const inputs = {
      q: randomArray(2 * 5 * 4 * 4, () => 2 * next()),
      k: randomArray(2 * 9 * 2 * 4, () => 2 * next()),
      v: randomArray(2 * 9 * 2 * 3, next),
    };
    const error = relativeError(await kx.attention(inputs.q, inputs.k, inputs.v, options), reference(inputs.q, inputs.k, inputs.v, options));
    assert.ok(error < 1e-5, `${JSON.stringify(variant)} forward: relative error ${error}`);
    const dOut = randomArray(2 * 5 * 4 * 3, next);
    const grads = kx.attentionBackward(inputs.q, inputs.k, inputs.v, dOut, options);
    const loss = (x) => reference(x.q, x.k, x.v, options).reduce((sum, o, i) => sum + o * dOut[i], 0);
    const h = 1e-5;
    const expected = grads.dq.map((_, i) => {
      const plus = { ...inputs, q: Float64Array.from(inputs.q) };
      const minus = { ...inputs, q: Float64Array.from(inputs.q) };
      plus.q[i] += h;
      minus.q[i] -= h;
      return (loss(plus) - loss(minus)) / (2 * h);
    });
    const gradError = relativeError(grads.dq, Float64Array.from(expected));
    assert.ok(gradError < 1e-4, `${JSON.stringify(variant)} dq: relative error ${gradError}`);
  }
});

test('smoothSoftmax equals sinks of 0, and a sink far below the scores equals no sink', async () => {
  const next = symmetricUniform(41);
  const shape = { seqQ: 70, heads: 2, dim: 8, causal: true };
  const q = randomArray(70 * 2 * 8, next);
  const k = randomArray(70 * 2 * 8, next);
  assert.deepEqual(await kx.attention(q, k, k, { ...shape, smoothSoftmax: true }), await kx.attention(q, k, k, { ...shape, sinks: [0, 0] }));
  assert.deepEqual(await kx.attention(q, k, k, { ...shape, sinks: [-1000, -1000] }), await kx.attention(q, k, k, shape));
  // normalize: 'softmax' written out is the default.
  assert.deepEqual(await kx.attention(q, k, k, { ...shape, normalize: 'softmax', softcap: null, sinks: null }), await kx.attention(q, k, k, shape));
});

test('rows that see no key give zeros with every option', async () => {
  for (const variant of VARIANTS) {
    const out = await kx.attention(new Float32Array(2 * 4 * 2), new Float32Array(0), new Float32Array(0),
      { seqQ: 2, seqK: 0, heads: 4, dim: 2, ...variant });
    assert.deepEqual(out, new Float32Array(16), JSON.stringify(variant));
  }
});

// ---- errors ----

test('softcap, sinks, smoothSoftmax and normalize: every rule names its parameter, and the module stays usable', async () => {
  const q = new Float32Array(16);
  const shape = { seqQ: 2, heads: 2, dim: 4 };
  const cases = [
    [{ ...shape, softcap: 0 }, 'RangeError', 'softcap must be greater than 0, received 0'],
    [{ ...shape, softcap: -30 }, 'RangeError', 'softcap must be greater than 0, received -30'],
    [{ ...shape, softcap: Infinity }, 'RangeError', 'softcap must be a finite number, received Infinity'],
    [{ ...shape, softcap: '50' }, 'TypeError', 'softcap must be a finite number, received "50"'],
    [{ ...shape, sinks: [1, 2, 3] }, 'RangeError', 'sinks must be one logit per query head, heads = 2, received length 3'],
    [{ ...shape, sinks: new Float32Array(0) }, 'RangeError', 'sinks must be one logit per query head, heads = 2, received length 0'],
    [{ ...shape, sinks: new Float32Array([0, NaN]) }, 'RangeError', 'sinks[1] must be a finite number, received NaN'],
    [{ ...shape, sinks: [-Infinity, 0] }, 'RangeError', 'sinks[0] must be a finite number, received -Infinity'],
    [{ ...shape, sinks: [0, '1'] }, 'TypeError', 'sinks[1] must be a finite number, received "1"'],
    [{ ...shape, sinks: 0.5 }, 'TypeError', 'sinks must be an array, received 0.5'],
    [{ ...shape, sinks: [0, 0], smoothSoftmax: true }, 'RangeError',
      'smoothSoftmax and sinks cannot be combined (smoothSoftmax is a sink of 0 in every head)'],
    [{ ...shape, smoothSoftmax: 1 }, 'TypeError', 'smoothSoftmax must be a boolean, received 1'],
    [{ ...shape, normalize: 'relu' }, 'RangeError', "normalize must be one of 'softmax', 'relu2', 'l2', received \"relu\""],
    [{ ...shape, normalize: 2 }, 'TypeError', "normalize must be one of 'softmax', 'relu2', 'l2', received 2"],
    [{ ...shape, sinks: [0, 0], normalize: 'l2' }, 'RangeError',
      "sinks needs normalize 'softmax' (a sink is a logit in the softmax denominator), received normalize 'l2'"],
    [{ ...shape, smoothSoftmax: true, normalize: 'relu2' }, 'RangeError',
      "smoothSoftmax needs normalize 'softmax' (a sink is a logit in the softmax denominator), received normalize 'relu2'"],
    [{ ...shape, softCap: 30 }, 'TypeError', "unknown option 'softCap' (did you mean 'softcap'?)"],
    [{ ...shape, sink: [0, 0] }, 'TypeError', "unknown option 'sink' (did you mean 'sinks'?)"],
    [{ ...shape, normalise: 'l2' }, 'TypeError', "unknown option 'normalise' (did you mean 'normalize'?)"],
  ];
  for (const [options, name, text] of cases) {
    await assert.rejects(kx.attention(q, q, q, options), { name, message: `attention: ${text}` }, text);
    assert.throws(() => kx.attentionBackward(q, q, q, q, options), { name, message: `attentionBackward: ${text}` }, text);
  }
  const out = await kx.attention(SPEC_Q, SPEC_K, SPEC_V, { ...SPEC, sinks: [0.7] });
  assertClose(out.slice(0, 2), [0.8696772402, -0.07074476486], 4e-6, 'after errors');
});
