// kx.attention / kx.attentionBackward with layout 'bhsd' and float16 tensors (issue 13, item 5):
// - 'bhsd' on the transposed tensors gives bit for bit the 'bshd' results, transposed, forward and
//   backward, and matches a float64 reference written here;
// - float16 q, k, v (Uint16Array bits; Float16Array where the engine has one) give bit for bit the
//   float32 call on the same values; float16 outputs are the float32 results rounded to nearest
//   even; outputType 'float32' returns float32 from float16 inputs and 'float16' the reverse;
// - the errors name the parameter (mixed element types, NaN bits, a bad layout or outputType,
//   lengths in the layout's order), and the module works afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { symmetricUniform as random } from '../helpers/random.js';

const kx = await init({ backend: 'wasm' });

const randomArray = (length, next) => Float32Array.from({ length }, () => next());

// [batch, seq, heads, width] ↔ [batch, heads, seq, width] (swap seq and heads to go back).
function swapSeqHeads(x, batch, seq, heads, width) {
  const out = new x.constructor(x.length);
  for (let b = 0; b < batch; ++b)
    for (let s = 0; s < seq; ++s)
      for (let h = 0; h < heads; ++h)
        for (let p = 0; p < width; ++p) out[((b * heads + h) * seq + s) * width + p] = x[((b * seq + s) * heads + h) * width + p];
  return out;
}

// IEEE binary16 bits ↔ numbers, written from the definition (round to nearest, ties to even).
function toHalfBits(value) {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {  // subnormal: m·2^−24
    const m = a * 2 ** 24, floor = Math.floor(m), rest = m - floor;
    return sign | (rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor);
  }
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent -= 1;
  if (2 ** (exponent + 1) <= a) exponent += 1;
  const m = (a / 2 ** exponent - 1) * 1024, floor = Math.floor(m), rest = m - floor;
  const mantissa = rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return sign | (((exponent + 15) << 10) + mantissa);  // a carry out of the mantissa bumps the exponent
}
function fromHalfBits(h) {
  const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
const toHalf = (x) => Uint16Array.from(x, toHalfBits);
const fromHalf = (bits) => Float64Array.from(bits, fromHalfBits);

// O = softmax(s) V with s = q·k/√dim (+ causal, GQA) in float64, 'bshd'; and its gradients by
// the chain rule written out.
function reference(q, k, v, dOut, { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim, causal = false }) {
  const out = new Float64Array(batch * seqQ * heads * dimV);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const scale = 1 / Math.sqrt(dim), group = heads / kvHeads;
  for (let b = 0; b < batch; ++b)
    for (let h = 0; h < heads; ++h)
      for (let i = 0; i < seqQ; ++i) {
        const g = Math.floor(h / group), qi = ((b * seqQ + i) * heads + h) * dim, oi = ((b * seqQ + i) * heads + h) * dimV;
        const visible = causal ? seqK - seqQ + i + 1 : seqK;
        const s = [];
        for (let j = 0; j < visible; ++j) {
          let dot = 0;
          for (let p = 0; p < dim; ++p) dot += q[qi + p] * k[((b * seqK + j) * kvHeads + g) * dim + p];
          s.push(dot * scale);
        }
        const max = Math.max(...s), e = s.map((x) => Math.exp(x - max)), total = e.reduce((a, x) => a + x, 0);
        const prob = e.map((x) => x / total);
        for (let j = 0; j < visible; ++j)
          for (let p = 0; p < dimV; ++p) out[oi + p] += prob[j] * v[((b * seqK + j) * kvHeads + g) * dimV + p];
        if (!dOut) continue;
        // dP_j = dO·v_j, dS_j = P_j (dP_j − Σ P dP), dq = Σ dS_j k_j·scale, dk_j += dS_j q·scale, dv_j += P_j dO.
        const dP = prob.map((_, j) => {
          let dot = 0;
          for (let p = 0; p < dimV; ++p) dot += dOut[oi + p] * v[((b * seqK + j) * kvHeads + g) * dimV + p];
          return dot;
        });
        const d = prob.reduce((a, x, j) => a + x * dP[j], 0);
        for (let j = 0; j < visible; ++j) {
          const dS = prob[j] * (dP[j] - d), kj = ((b * seqK + j) * kvHeads + g) * dim, vj = ((b * seqK + j) * kvHeads + g) * dimV;
          for (let p = 0; p < dim; ++p) {
            dq[qi + p] += dS * k[kj + p] * scale;
            dk[kj + p] += dS * q[qi + p] * scale;
          }
          for (let p = 0; p < dimV; ++p) dv[vj + p] += prob[j] * dOut[oi + p];
        }
      }
  return { out, dq, dk, dv };
}

function relativeError(got, want) {
  let error = 0, scale = 1e-2;
  for (let i = 0; i < want.length; ++i) {
    error = Math.max(error, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return error / scale;
}

const CASES = [
  { batch: 1, seqQ: 5, heads: 2, dim: 8 },
  { batch: 2, seqQ: 70, heads: 4, kvHeads: 2, dim: 16, dimV: 12, causal: true },
  { batch: 1, seqQ: 3, seqK: 67, heads: 3, kvHeads: 1, dim: 6, dimV: 10, causal: true, rope: { layout: 'half' } },
];

function inputs(shape, seed) {
  const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = shape;
  const next = random(seed);
  return {
    q: randomArray(batch * seqQ * heads * dim, next),
    k: randomArray(batch * seqK * kvHeads * dim, next),
    v: randomArray(batch * seqK * kvHeads * dimV, next),
    dOut: randomArray(batch * seqQ * heads * dimV, next),
  };
}

test("layout 'bhsd' is 'bshd' transposed, bit for bit, forward and backward", async () => {
  for (const [index, shape] of CASES.entries()) {
    const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = shape;
    const { q, k, v, dOut } = inputs(shape, 10 + index);
    const options = { ...shape, scale: 'standard' };
    const out = await kx.attention(q, k, v, options);
    const grads = kx.attentionBackward(q, k, v, dOut, options);
    const qt = swapSeqHeads(q, batch, seqQ, heads, dim), kt = swapSeqHeads(k, batch, seqK, kvHeads, dim);
    const vt = swapSeqHeads(v, batch, seqK, kvHeads, dimV), dOutT = swapSeqHeads(dOut, batch, seqQ, heads, dimV);
    const bhsd = { ...options, layout: 'bhsd' };
    assert.deepEqual(await kx.attention(qt, kt, vt, bhsd), swapSeqHeads(out, batch, seqQ, heads, dimV));
    const gradsT = kx.attentionBackward(qt, kt, vt, dOutT, bhsd);
    assert.deepEqual(gradsT.dq, swapSeqHeads(grads.dq, batch, seqQ, heads, dim));
    assert.deepEqual(gradsT.dk, swapSeqHeads(grads.dk, batch, seqK, kvHeads, dim));
    assert.deepEqual(gradsT.dv, swapSeqHeads(grads.dv, batch, seqK, kvHeads, dimV));
    if (!shape.rope) {
      const want = reference(q, k, v, dOut, shape);
      assert.ok(relativeError(swapSeqHeads(await kx.attention(qt, kt, vt, bhsd), batch, heads, seqQ, dimV), want.out) < 1e-5);
      assert.ok(relativeError(swapSeqHeads(gradsT.dq, batch, heads, seqQ, dim), want.dq) < 1e-4);
      assert.ok(relativeError(swapSeqHeads(gradsT.dk, batch, kvHeads, seqK, dim), want.dk) < 1e-4);
      assert.ok(relativeError(swapSeqHeads(gradsT.dv, batch, kvHeads, seqK, dimV), want.dv) < 1e-4);
    }
  }
});

test('float16 inputs (Uint16Array bits) give the float32 results on the same values; float16 outputs round them', async () => {
  for (const [index, shape] of CASES.entries()) {
    for (const layout of ['bshd', 'bhsd']) {
      const { q, k, v } = inputs(shape, 20 + index);
      const [q16, k16, v16] = [q, k, v].map(toHalf);
      const [q32, k32, v32] = [q16, k16, v16].map((bits) => Float32Array.from(fromHalf(bits)));
      const options = { ...shape, layout };
      const want = await kx.attention(q32, k32, v32, options);
      const half = await kx.attention(q16, k16, v16, options);
      assert.ok(half instanceof Uint16Array, 'float16 in, float16 out, of the kind of q');
      assert.deepEqual(half, toHalf(want));
      const single = await kx.attention(q16, k16, v16, { ...options, outputType: 'float32' });
      assert.ok(single instanceof Float32Array);
      assert.deepEqual(single, want);
      const fromSingle = await kx.attention(q32, k32, v32, { ...options, outputType: 'float16' });
      assert.ok(fromSingle instanceof (typeof globalThis.Float16Array === 'function' ? globalThis.Float16Array : Uint16Array));
      if (fromSingle instanceof Uint16Array) assert.deepEqual(fromSingle, half);
    }
  }
});

test('float16 backward: dOut and the gradients in the output type, close to the float64 reference', async () => {
  for (const [index, shape] of CASES.entries()) {
    if (shape.rope) continue;  // the reference here has no RoPE (the C++ suite covers it)
    const { q, k, v, dOut } = inputs(shape, 30 + index);
    const [q16, k16, v16, dOut16] = [q, k, v, dOut].map(toHalf);
    const want = reference(fromHalf(q16), fromHalf(k16), fromHalf(v16), fromHalf(dOut16), shape);
    const grads = kx.attentionBackward(q16, k16, v16, dOut16, shape);
    for (const name of ['dq', 'dk', 'dv']) {
      assert.ok(grads[name] instanceof Uint16Array, name);
      // float16 keeps 11 significant bits: the outputs, and the O the backward reads, are rounded.
      assert.ok(relativeError(fromHalf(grads[name]), want[name]) < 4e-3, `${name}: ${relativeError(fromHalf(grads[name]), want[name])}`);
    }
    // float32 gradients from float16 inputs take a float32 dOut.
    const single = kx.attentionBackward(q16, k16, v16, Float32Array.from(fromHalf(dOut16)), { ...shape, outputType: 'float32' });
    for (const name of ['dq', 'dk', 'dv']) {
      assert.ok(single[name] instanceof Float32Array);
      assert.ok(relativeError(single[name], want[name]) < 1e-4, name);
    }
  }
});

test('Float16Array tensors where the engine has them', async (t) => {
  if (typeof globalThis.Float16Array !== 'function') {
    t.skip('this JS engine has no Float16Array (Node < 24); Uint16Array bits are tested above');
    return;
  }
  const shape = CASES[1];
  const { q, k, v } = inputs(shape, 40);
  const [q16, k16, v16] = [q, k, v].map((x) => globalThis.Float16Array.from(x));
  const out = await kx.attention(q16, k16, v16, shape);
  assert.ok(out instanceof globalThis.Float16Array);
  const want = await kx.attention(Float32Array.from(q16), Float32Array.from(k16), Float32Array.from(v16), shape);
  assert.deepEqual(Array.from(out), Array.from(globalThis.Float16Array.from(want)));
});

test('errors name the parameter; the module works afterwards', async () => {
  const shape = { seqQ: 2, heads: 2, dim: 4 };
  const f32 = new Float32Array(16).fill(0.5), f16 = new Uint16Array(16).fill(0x3800);
  const cases = [
    [[f16, f32, f16, shape], 'TypeError',
      'k must be a Float16Array or a Uint16Array of float16 bits (the element type of q, or outputType), received Float32Array(16)'],
    [[f32, f16, f32, shape], 'TypeError', 'k must be a Float32Array, received Uint16Array(16)'],
    [[f16, f16, Uint16Array.from(f16, (x, i) => (i === 3 ? 0x7e00 : x)), shape], 'RangeError',
      'v[3] must be finite, received NaN (float16 bits 0x7e00)'],
    [[f16, Uint16Array.from(f16, (x, i) => (i === 1 ? 0xfc00 : x)), f16, shape], 'RangeError',
      'k[1] must be finite, received -Infinity (float16 bits 0xfc00)'],
    [[f32, f32, f32, { ...shape, layout: 'bsdh' }], 'RangeError', "layout must be one of 'bshd', 'bhsd', received \"bsdh\""],
    [[f32, f32, f32, { ...shape, layout: 1 }], 'TypeError', "layout must be one of 'bshd', 'bhsd', received 1"],
    [[f32, f32, f32, { ...shape, outputType: 'half' }], 'RangeError',
      "outputType must be one of 'float32', 'float16', received \"half\""],
    [[f32, f32, f32, { ...shape, outputTyp: 'float16' }], 'TypeError', "unknown option 'outputTyp' (did you mean 'outputType'?)"],
    // Lengths are checked in the layout's order.
    [[f32, f32, new Float32Array(8), { ...shape, layout: 'bhsd' }], 'RangeError',
      'v must have length batch*kvHeads*seqK*dimV = 16 for shape [1, 2, 2, 4], received length 8'],
    [[new Int16Array(16), f32, f32, shape], 'TypeError', 'q must be a Float32Array, received Int16Array(16)'],
  ];
  for (const [args, name, text] of cases) {
    await assert.rejects(kx.attention(...args), { name, message: `attention: ${text}` }, text);
  }
  // dOut has the output's type: float16 here, float32 with outputType 'float32'.
  assert.throws(() => kx.attentionBackward(f16, f16, f16, f32, shape), {
    name: 'TypeError',
    message: 'attentionBackward: dOut must be a Float16Array or a Uint16Array of float16 bits (the element type of q, or outputType), received Float32Array(16)',
  });
  assert.throws(() => kx.attentionBackward(f16, f16, f16, f16, { ...shape, outputType: 'float32' }), {
    name: 'TypeError', message: 'attentionBackward: dOut must be a Float32Array, received Uint16Array(16)',
  });
  // The resolved options show the defaults.
  const out = await kx.attention(f16, f16, f16, shape);
  assert.deepEqual(Array.from(out, fromHalfBits), new Array(16).fill(0.5));
});

test('float16 calls leave the WASM heap size unchanged', async () => {
  const options = { seqQ: 64, heads: 2, dim: 16, causal: true, layout: 'bhsd' };
  const x = toHalf(randomArray(64 * 2 * 16, random(7)));
  const call = async () => {
    await kx.attention(x, x, x, options);
    kx.attentionBackward(x, x, x, x, options);
  };
  for (let i = 0; i < 10; ++i) await call();
  const before = kx.wasmHeapBytes;
  for (let i = 0; i < 200; ++i) await call();
  assert.equal(kx.wasmHeapBytes, before);
});
