// LowRankOptimizer, multitask and clipGradients through the JS facade: the docs/math.md vectors (§3.8, §6B, §7.3), the
// equivalence with backpropagating into the factors of y = x·(W0 + A·B) (float64 JS reference),
// the random projection's expectation, state accounting, errors and heap stability.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init();
const f32 = (values) => Float32Array.from(values);

function assertClose(actual, expected, tolerance, what = 'value') {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; ++i) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance,
      `${what}[${i}] = ${actual[i]}, expected ${expected[i]} ± ${tolerance}`);
  }
}

const W0 = f32([1, 0, 2, 0, 1, -1]);
const A0 = f32([1, 2]);
const B0 = f32([0.5, -1, 0]);
const G = f32([1, 0, -1, 2, 1, 0]);

test('docs/math.md §3.8 LoRA-SGD step: factors, W and the exact η² decomposition', () => {
  const opt = new kx.LowRankOptimizer({ rows: 2, cols: 3, rank: 1, base: 'sgd', lr: 0.1, weight: W0, factors: { A: A0, B: B0 } });
  const before = opt.weight;
  opt.step(G);
  assertClose(opt.factors.A, [0.95, 2], 1e-7, 'A');
  assertClose(opt.factors.B, [0, -1.2, 0.1], 1e-7, 'B');
  assertClose(opt.weight, [1, -1.14, 2.095, 0, -1.4, -0.8], 1e-6, 'W');
  const first = [-0.525, -0.15, 0.1, -1, -0.4, 0.2];
  const second = [0.025, 0.01, -0.005, 0, 0, 0];
  assertClose(opt.weight.map((w, i) => w - before[i]), first.map((x, i) => x + second[i]), 1e-6, 'ΔW');
  opt.dispose();
});

test('docs/math.md §3.8 LoRA-Adam first step', () => {
  const opt = new kx.LowRankOptimizer({ rows: 2, cols: 3, rank: 1, lr: 0.01, weight: W0, factors: { A: A0, B: B0 } });
  const before = opt.weight;
  opt.step(G);
  assertClose(opt.factors.A, [0.9900000002, 2.0], 3e-7, 'A');
  assertClose(opt.factors.B, [0.49, -1.01, 0.0099999999], 3e-7, 'B');
  assertClose(opt.weight.map((w, i) => w - before[i]),
    [-0.01489999988, 9.99998475e-5, 0.009899999903, -0.01999999996, -0.0199999999, 0.0199999998], 5e-7, 'ΔW');
  opt.dispose();
});

test('docs/math.md §3.8 additive gradients: row sums and column sums', () => {
  const opt = new kx.LowRankOptimizer({ rows: 2, cols: 3, rank: 1, mode: 'additive', base: 'sgd', lr: 1, weight: W0 });
  opt.step(G);
  assertClose(opt.factors.A, [0, -3], 1e-7, 'A = −∂L/∂A');
  assertClose(opt.factors.B, [-3, -1, 1], 1e-7, 'B = −∂L/∂B');
  opt.dispose();
});

test('docs/math.md §3.8 GaLore Adam step (right projector, α = 0.25, eps default 1e-6)', () => {
  const opt = new kx.LowRankOptimizer({ rows: 3, cols: 2, rank: 1, mode: 'galore', lr: 0.01, scale: 0.25,
    weight: f32([1, 0, 0, 1, 1, 1]) });
  assert.equal(opt.config.eps, 1e-6);
  opt.step(f32([3, 1, 1, 3, 0, 0]));
  assertClose(opt.projector, [0.7071067812, 0.7071067812], 1e-7, 'P');
  assertClose(opt.weight, [0.9982322528, -0.001767747189, -0.001767747189, 0.9982322528, 1, 1], 1e-7, 'W');
  assert.equal(opt.factors, null);
  opt.dispose();
});

test('docs/math.md §3.8 LoRA with A fixed to the top left singular vector + SGD ≡ GaLore + SGD', () => {
  const weight = f32([1, 0, 0, 1, 1, 1]);
  const g = f32([3, 1, 1, 3, 0, 0]);
  const lora = new kx.LowRankOptimizer({ rows: 3, cols: 2, rank: 1, mode: 'fixed-a', base: 'sgd', lr: 0.1, weight,
    factors: { A: f32([Math.SQRT1_2, Math.SQRT1_2, 0]), B: f32([0, 0]) } });
  const galore = new kx.LowRankOptimizer({ rows: 3, cols: 2, rank: 1, mode: 'galore', base: 'sgd', lr: 0.1, weight });
  lora.step(g);
  galore.step(g);
  const expected = [-0.2, -0.2, -0.2, -0.2, 0, 0].map((d, i) => weight[i] + d);
  assertClose(lora.weight, expected, 1e-6, 'LoRA fixed-a');
  assertClose(galore.weight, expected, 1e-6, 'GaLore');
  lora.dispose();
  galore.dispose();
});

// ---- Equivalence with backprop into A and B (float64 reference of the network) ----

function rng(seed) {
  let state = seed >>> 0;
  const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return (state + 0.5) / 2 ** 32; };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
// C = A·B for row-major Float64Arrays (or Float32Arrays) with optional transposes.
function mm(a, b, m, k, n, { ta = false, tb = false } = {}) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; ++i) {
    for (let j = 0; j < n; ++j) {
      let s = 0;
      for (let p = 0; p < k; ++p) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  }
  return c;
}

function equivalence(base, lr) {
  const n = 6, m = 5, r = 2, batch = 8;
  const normal = rng(11);
  const draw = (count, sd) => Float64Array.from({ length: count }, () => Math.fround(sd * normal()));
  const w0 = draw(n * m, 1), x = draw(batch * n, 1), target = draw(batch * m, 1);
  const a = draw(n * r, 0.5), b = draw(r * m, 0.5);
  const opt = new kx.LowRankOptimizer({ rows: n, cols: m, rank: r, base, lr, weight: Float32Array.from(w0),
    factors: { A: Float32Array.from(a), B: Float32Array.from(b) } });
  const moments = { a: [new Float64Array(n * r), new Float64Array(n * r)], b: [new Float64Array(r * m), new Float64Array(r * m)] };
  const adam = (p, g, [mo, ve], t) => {
    for (let i = 0; i < p.length; ++i) {
      mo[i] = 0.9 * mo[i] + 0.1 * g[i];
      ve[i] = 0.999 * ve[i] + 0.001 * g[i] * g[i];
      p[i] -= lr * (mo[i] / (1 - 0.9 ** t)) / (Math.sqrt(ve[i] / (1 - 0.999 ** t)) + 1e-8);
    }
  };
  let worst = 0;
  for (let t = 1; t <= 20; ++t) {
    // Network: dY = (X·(W0 + A·B) − T)/batch; ∂L/∂A = Xᵀ(dY·Bᵀ), ∂L/∂B = (X·A)ᵀ·dY.
    const ab = mm(a, b, n, r, m);
    const dy = mm(x, w0.map((w, i) => w + ab[i]), batch, n, m).map((y, i) => (y - target[i]) / batch);
    const gradA = mm(x, mm(dy, b, batch, m, r, { tb: true }), n, batch, r, { ta: true });
    const gradB = mm(mm(x, a, batch, n, r), dy, r, batch, m, { ta: true });
    if (base === 'sgd') {
      gradA.forEach((g, i) => { a[i] -= lr * g; });
      gradB.forEach((g, i) => { b[i] -= lr * g; });
    } else {
      adam(a, gradA, moments.a, t);
      adam(b, gradB, moments.b, t);
    }
    // Optimizer: only G = Xᵀ·dY at its current W.
    const w = opt.weight;
    const dyOpt = mm(x, w, batch, n, m).map((y, i) => (y - target[i]) / batch);
    opt.step(Float32Array.from(mm(x, dyOpt, n, batch, m, { ta: true })));
    const want = mm(a, b, n, r, m).map((v, i) => v + w0[i]);
    const got = opt.weight;
    let diff = 0, norm = 0;
    for (let i = 0; i < want.length; ++i) { diff += (got[i] - want[i]) ** 2; norm += want[i] ** 2; }
    worst = Math.max(worst, Math.sqrt(diff / norm));
    assert.ok(Math.sqrt(diff / norm) <= 1e-5, `${base} step ${t}: relative difference ${Math.sqrt(diff / norm)}`);
  }
  opt.dispose();
  return worst;
}

test('LoRA fed only G equals backprop into A, B (SGD, 20 steps, ≤ 1e-5 relative)', () => { equivalence('sgd', 0.05); });
test('LoRA fed only G equals backprop into A, B (Adam, 20 steps, ≤ 1e-5 relative)', () => { equivalence('adam', 0.01); });

test("'random' mode: mean update over seeds approaches −2·lr·G", () => {
  const rows = 4, cols = 3, lr = 0.5, seeds = 3000;
  const g = f32([1, -2, 0.5, 0, 3, -1, 2, 1, 1, -0.5, 0, 2]);
  const weight = new Float32Array(rows * cols);
  const mean = new Float64Array(rows * cols);
  for (let seed = 0; seed < seeds; ++seed) {
    const opt = new kx.LowRankOptimizer({ rows, cols, rank: 2, mode: 'random', lr, seed, weight });
    opt.step(g);
    opt.weight.forEach((w, i) => { mean[i] += w / seeds; });
    opt.dispose();
  }
  // Sampling error: per-entry std below ~2.5·max|G|·lr, over 3000 draws ≈ 0.07.
  assertClose(mean, Array.from(g, (v) => -2 * lr * v), 0.2, 'mean ΔW');
  // Same seed, same update; the generator is fixed (xoshiro256**).
  const one = new kx.LowRankOptimizer({ rows, cols, rank: 2, mode: 'random', lr, seed: 5, weight });
  const two = new kx.LowRankOptimizer({ rows, cols, rank: 2, mode: 'random', lr, seed: 5, weight });
  assert.deepEqual(one.step(g).weight, two.step(g).weight);
  one.dispose();
  two.dispose();
});

test('stateFloats follows the documented formula of each mode', () => {
  const rows = 48, cols = 32, r = 4, weight = new Float32Array(rows * cols);
  const cases = [
    ['full', 'adam', 2 * rows * cols], ['full', 'sgd', 0],
    ['lora', 'adam', 3 * (rows + cols) * r], ['lora', 'sgd', (rows + cols) * r],
    ['fixed-a', 'adam', (rows + cols) * r + 2 * r * cols], ['fixed-b', 'adam', (rows + cols) * r + 2 * rows * r],
    ['random', 'sgd', (rows + cols) * r], ['additive', 'adam', 3 * (rows + cols) * r],
    ['galore', 'adam', Math.min(rows, cols) * r + 2 * Math.max(rows, cols) * r],
    ['galore', 'sgd', Math.min(rows, cols) * r],
  ];
  for (const [mode, base, floats] of cases) {
    const opt = new kx.LowRankOptimizer({ rows, cols, rank: mode === 'full' ? undefined : r, mode, base, lr: 0.01, weight });
    assert.equal(opt.stateFloats, floats, `${mode}/${base}`);
    opt.dispose();
  }
});

test('inits: zero-b starts at W0 with B = 0; symmetric starts at W0 with both factors random; lora-ga', () => {
  const rows = 6, cols = 5, weight = Float32Array.from({ length: 30 }, (_, i) => i / 10);
  const zero = new kx.LowRankOptimizer({ rows, cols, rank: 2, lr: 0.01, weight, seed: 3 });
  assert.deepEqual(zero.weight, weight);
  assert.ok(zero.factors.B.every((v) => v === 0));
  assert.ok(zero.factors.A.some((v) => v !== 0));
  const sym = new kx.LowRankOptimizer({ rows, cols, rank: 2, lr: 0.01, weight, init: 'symmetric', scale: 2 });
  assertClose(sym.weight, weight, 1e-6, 'symmetric W');
  assert.ok(sym.factors.B.some((v) => v !== 0));
  const ga = new kx.LowRankOptimizer({ rows, cols, rank: 2, lr: 0.01, base: 'sgd', weight, init: 'lora-ga' });
  ga.step(Float32Array.from({ length: 30 }, (_, i) => Math.sin(i)));
  // A0 = U[:, :r] has orthonormal columns.
  const { A } = ga.factors;
  for (let p = 0; p < 2; ++p) {
    for (let q = 0; q < 2; ++q) {
      let dot = 0;
      for (let i = 0; i < rows; ++i) dot += A[i * 2 + p] * A[i * 2 + q];
      // One SGD step moved A by lr·‖G·Bᵀ‖, so orthonormal to about 1e-2.
      assert.ok(Math.abs(dot - (p === q ? 1 : 0)) < 0.05, `AᵀA[${p}][${q}] = ${dot}`);
    }
  }
  for (const o of [zero, sym, ga]) o.dispose();
});

test('every mode trains a linear layer towards a low-rank target', () => {
  const rows = 16, cols = 12, batch = 64;
  const normal = rng(2);
  const w0 = Float32Array.from({ length: rows * cols }, () => 0.3 * normal());
  const u = Float32Array.from({ length: rows }, () => normal());
  const v = Float32Array.from({ length: cols }, () => normal());
  const target = w0.map((w, k) => w + 0.5 * u[Math.floor(k / cols)] * v[k % cols]);
  const x = Float64Array.from({ length: batch * rows }, () => normal());
  const y = mm(x, target, batch, rows, cols);
  const lossAndGrad = (w) => {
    const diff = mm(x, w, batch, rows, cols).map((p, i) => p - y[i]);
    const loss = diff.reduce((s, d) => s + d * d, 0) / (2 * batch);
    return [loss, Float32Array.from(mm(x, diff.map((d) => d / batch), rows, batch, cols, { ta: true }))];
  };
  const settings = [['full', 'adam', 0.02], ['lora', 'adam', 0.02], ['fixed-a', 'adam', 0.05], ['fixed-b', 'adam', 0.05],
    ['random', 'sgd', 0.02], ['additive', 'adam', 0.02], ['galore', 'adam', 0.05]];
  for (const [mode, base, lr] of settings) {
    const opt = new kx.LowRankOptimizer({ rows, cols, rank: mode === 'additive' ? 4 : 2, mode, base, lr, weight: w0, seed: 1, updateProjGap: 10 });
    const [initial] = lossAndGrad(opt.weight);
    let loss = initial;
    for (let s = 0; s < 100; ++s) {
      const [l, g] = lossAndGrad(opt.weight);
      loss = l;
      opt.step(g);
    }
    // A fixed random factor confines the update to a random r-dim subspace on one side, so those
    // modes only go part of the way to a target outside it.
    const bound = mode.startsWith('fixed') ? 0.9 : 0.7;
    assert.ok(loss < bound * initial, `${mode}: loss ${initial} → ${loss}`);
    assert.equal(opt.steps, 100);
    opt.dispose();
  }
});

// ---- Errors ----

test('LowRankOptimizer rejects bad options with the promised errors', () => {
  const weight = new Float32Array(12);
  const make = (extra) => () => new kx.LowRankOptimizer({ rows: 3, cols: 4, rank: 2, lr: 0.01, weight, ...extra });
  assert.throws(make({ rank: 0 }), { name: 'RangeError', message: /LowRankOptimizer: rank must be a positive integer, received 0/ });
  assert.throws(make({ rank: 4 }), { name: 'RangeError', message: /rank must be between 1 and min\(rows, cols\) = 3, received 4/ });
  assert.throws(make({ rank: 1.5 }), { name: 'RangeError', message: /rank/ });
  assert.throws(make({ rank: '2' }), { name: 'TypeError', message: /rank must be a positive integer/ });
  assert.throws(make({ mode: 'dora' }), { name: 'RangeError', message: /mode must be one of 'full', 'lora', .*received "dora"/ });
  assert.throws(make({ mode: 3 }), { name: 'TypeError', message: /mode must be one of/ });
  assert.throws(make({ base: 'rmsprop' }), { name: 'RangeError', message: /base must be one of 'sgd', 'adam'/ });
  assert.throws(make({ mode: 'random', base: 'adam' }), { name: 'RangeError', message: /mode 'random' .* supports base 'sgd' only/ });
  assert.throws(make({ mode: 'additive', rank: 2, rows: 3 }), { name: 'RangeError', message: /needs rank to divide rows = 3/ });
  assert.throws(make({ init: 'lora-ga', rank: 2 }), { name: 'RangeError', message: /2\*rank <= min\(rows, cols\) = 3/ });
  assert.throws(make({ init: 'pissa' }), { name: 'RangeError', message: /init must be one of/ });
  assert.throws(make({ lr: undefined }), { name: 'TypeError', message: /lr must be a finite number, received undefined/ });
  assert.throws(make({ lr: -1 }), { name: 'RangeError', message: /lr must be a finite number in \[0, Infinity\]/ });
  assert.throws(make({ beta2: 1 }), { name: 'RangeError', message: /beta2 .*\[0, 1\)/ });
  assert.throws(make({ seed: -1 }), { name: 'RangeError', message: /seed/ });
  assert.throws(make({ weight: new Float32Array(11) }), { name: 'RangeError', message: /weight must have length rows\*cols = 12 for shape \[3, 4\], received length 11/ });
  assert.throws(make({ weight: [0, 1] }), { name: 'TypeError', message: /weight must be a Float32Array, received Array\(2\)/ });
  assert.throws(make({ weight: Float32Array.from({ length: 12 }, (_, i) => (i === 7 ? NaN : 0)) }), { name: 'RangeError', message: /weight\[7\] must be finite, received NaN/ });
  assert.throws(make({ factors: { A: new Float32Array(5), B: new Float32Array(8) } }), { name: 'RangeError', message: /factors\.A must have length rows\*rank = 6/ });
  assert.throws(make({ mode: 'galore', factors: { A: new Float32Array(6), B: new Float32Array(8) } }), { name: 'RangeError', message: /factors apply to modes/ });
  assert.throws(make({ rnak: 2 }), { name: 'TypeError', message: /unknown option 'rnak' \(did you mean 'rank'\?\)/ });
  assert.throws(() => new kx.LowRankOptimizer(), { name: 'TypeError', message: /options .* are required/ });
});

test('LowRankOptimizer.options: the resolved options, the mode-dependent defaults filled in by C++', () => {
  const weight = new Float32Array(12);
  const names = ['rows', 'cols', 'rank', 'mode', 'base', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'scale',
    'updateProjGap', 'init', 'seed'];
  const lora = new kx.LowRankOptimizer({ rows: 3, cols: 4, rank: 2, lr: 0.01, weight });
  assert.deepEqual(Object.keys(lora.options), names);
  assert.deepEqual({ ...lora.options }, { rows: 3, cols: 4, rank: 2, mode: 'lora', base: 'adam', lr: 0.01, beta1: 0.9,
    beta2: 0.999, eps: 1e-8, weightDecay: 0, scale: 1, updateProjGap: 200, init: 'zero-b', seed: 0 });
  assert.ok(Object.isFrozen(lora.options));
  assert.equal(lora.config, lora.options, 'config is the deprecated name of options');
  const galore = new kx.LowRankOptimizer({ rows: 3, cols: 4, rank: 1, mode: 'galore', lr: 0.01, weight });
  assert.equal(galore.options.eps, 1e-6);
  const given = new kx.LowRankOptimizer({ rows: 3, cols: 4, rank: 1, mode: 'galore', lr: 0.01, eps: 1e-3, weight });
  assert.equal(given.options.eps, 1e-3);
  const random = new kx.LowRankOptimizer({ rows: 3, cols: 4, rank: 1, mode: 'random', lr: 0.01, weight });
  assert.equal(random.options.base, 'sgd');
  const full = new kx.LowRankOptimizer({ rows: 3, cols: 4, mode: 'full', lr: 0.01, weight, seed: 2 ** 40 });
  assert.equal(full.options.rank, 1);
  assert.equal(full.rank, 1);
  assert.equal(full.options.seed, 2 ** 40);
  // The options read back construct the same optimizer.
  const again = new kx.LowRankOptimizer({ ...lora.options, weight });
  assert.deepEqual(again.options, lora.options);
  for (const o of [lora, galore, given, random, full, again]) o.dispose();
});

test('LowRankOptimizer: every rule through the API names its parameter; the module works afterwards', () => {
  const weight = new Float32Array(12);
  const base = { rows: 3, cols: 4, rank: 2, lr: 0.01, weight };
  const cases = [
    [{ rows: 0 }, RangeError, /^LowRankOptimizer: rows must be a positive integer, received 0$/],
    [{ rows: '3' }, TypeError, /^LowRankOptimizer: rows must be a positive integer, received "3"$/],
    [{ rows: undefined }, TypeError, /^LowRankOptimizer: rows must be a positive integer, received undefined$/],
    [{ cols: 2.5 }, RangeError, /^LowRankOptimizer: cols must be a positive integer, received 2\.5$/],
    [{ rank: 4, mode: 'full' }, RangeError, /^LowRankOptimizer: rank must be between 1 and min\(rows, cols\) = 3, received 4$/],
    [{ rank: 2, mode: 'additive' }, RangeError, /^LowRankOptimizer: mode 'additive' needs rank to divide rows = 3 and cols = 4, received rank 2$/],
    [{ mode: 'random', base: 'adam' }, RangeError, /^LowRankOptimizer: mode 'random' \(W ← W − lr·\(G·VᵀV \+ U·UᵀG\)\) supports base 'sgd' only, received "adam"$/],
    [{ base: 2 }, TypeError, /^LowRankOptimizer: base must be one of 'sgd', 'adam', received 2$/],
    [{ lr: '0.1' }, TypeError, /^LowRankOptimizer: lr must be a finite number, received "0\.1"$/],
    [{ lr: Infinity }, RangeError, /^LowRankOptimizer: lr must be a finite number, received Infinity$/],
    [{ lr: -1 }, RangeError, /^LowRankOptimizer: lr must be a finite number in \[0, Infinity\], received -1$/],
    [{ beta1: 1 }, RangeError, /^LowRankOptimizer: beta1 must be a finite number in \[0, 1\), received 1$/],
    [{ beta2: -0.1 }, RangeError, /^LowRankOptimizer: beta2 must be a finite number in \[0, 1\), received -0\.1$/],
    [{ eps: -1e-9 }, RangeError, /^LowRankOptimizer: eps must be a finite number in \(0, Infinity\], received -1e-9$/],
    [{ weightDecay: -1 }, RangeError, /^LowRankOptimizer: weightDecay must be a finite number in \[0, Infinity\], received -1$/],
    [{ scale: NaN }, RangeError, /^LowRankOptimizer: scale must be a finite number, received NaN$/],
    [{ updateProjGap: 0 }, RangeError, /^LowRankOptimizer: updateProjGap must be a positive integer, received 0$/],
    [{ init: 'lora-ga', rank: 1, mode: 'galore' }, RangeError, /^LowRankOptimizer: init 'lora-ga' applies to modes 'lora', 'fixed-a' and 'fixed-b', received mode "galore"$/],
    [{ init: null }, TypeError, /^LowRankOptimizer: init must be one of 'zero-b', 'symmetric', 'lora-ga', received null$/],
    [{ seed: 1.5 }, RangeError, /^LowRankOptimizer: seed must be a non-negative integer, received 1\.5$/],
    [{ seed: 2 ** 53 }, RangeError, /^LowRankOptimizer: seed must be a non-negative integer at most 9007199254740991, received 9007199254740992$/],
    [{ factors: { A: new Float32Array(6), B: new Float32Array(8) }, init: 'lora-ga', rank: 1 }, RangeError, /^LowRankOptimizer: factors cannot be given with init 'lora-ga' \(it computes them from the first gradient\)$/],
    [{ factors: [new Float32Array(6)] }, TypeError, /^LowRankOptimizer: factors must be an object \{ A, B \}, received Array\(1\)$/],
    [{ factors: { A: new Float32Array(6), B: new Float64Array(8) } }, TypeError, /^LowRankOptimizer: factors\.B must be a Float32Array, received Float64Array\(8\)$/],
    [{ factors: { A: new Float32Array(6), B: new Float32Array(8).fill(NaN) } }, RangeError, /^LowRankOptimizer: factors\.B\[0\] must be finite, received NaN$/],
    [{ weights: weight }, TypeError, /^LowRankOptimizer: unknown option 'weights' \(did you mean 'weight'\?\)$/],
    [{ updateProjectionGap: 5 }, TypeError, /^LowRankOptimizer: unknown option 'updateProjectionGap' \(did you mean 'updateProjGap'\?\)$/],
    [{ rows: 32768, cols: 32768, weight: undefined }, RangeError, /^LowRankOptimizer: the weight of shape rows=32768 × cols=32768 × copies=3 needs 3221225472 floats \(12884901888 bytes\), more than the 2 GiB WASM heap can hold$/],
  ];
  for (const [extra, ErrorClass, message] of cases) {
    assert.throws(() => new kx.LowRankOptimizer({ ...base, ...extra }), (error) => {
      assert.ok(error instanceof ErrorClass, `${JSON.stringify(Object.keys(extra))}: ${error}`);
      assert.match(error.message, message);
      return true;
    });
  }
  assert.throws(() => new kx.LowRankOptimizer(null), { name: 'TypeError', message: /^LowRankOptimizer: options must be an object, received null$/ });
  assert.throws(() => new kx.LowRankOptimizer([]), { name: 'TypeError', message: /options must be an object, received Array\(0\)/ });
  // Still usable, and no heap was leaked by the refusals.
  const bytes = kx.wasmHeapBytes;
  for (let i = 0; i < 200; ++i) {
    for (const [extra] of cases) {
      try { new kx.LowRankOptimizer({ ...base, ...extra }); } catch { /* refused */ }
    }
  }
  assert.equal(kx.wasmHeapBytes, bytes);
  const opt = new kx.LowRankOptimizer({ ...base, base: 'sgd', factors: { A: f32([1, 0, 0, 1, 1, 1]), B: new Float32Array(8) } });
  opt.step(new Float32Array(12).fill(1));
  assert.equal(opt.steps, 1);
  opt.dispose();
});

test('step refuses a wrong length or a non-finite gradient and leaves W unchanged', () => {
  const weight = Float32Array.from({ length: 12 }, (_, i) => i);
  for (const mode of ['full', 'lora', 'galore', 'random', 'additive']) {
    const opt = new kx.LowRankOptimizer({ rows: 3, cols: 4, rank: 1, mode, lr: 0.1, weight });
    opt.step(Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)));
    const before = opt.weight;
    assert.throws(() => opt.step(new Float32Array(11)), { name: 'RangeError', message: /LowRankOptimizer\.step: grad must have length rows\*cols = 12/ });
    assert.throws(() => opt.step(new Float64Array(12)), { name: 'TypeError', message: /grad must be a Float32Array, received Float64Array\(12\)/ });
    const bad = new Float32Array(12).fill(1);
    bad[5] = Infinity;
    assert.throws(() => opt.step(bad), { name: 'RangeError', message: /grad\[5\] is Infinity; .*refused and the weight is unchanged/ });
    bad[5] = 1;
    bad[9] = NaN;
    assert.throws(() => opt.step(bad), { name: 'RangeError', message: /grad\[9\] is NaN/ });
    assert.deepEqual(opt.weight, before, mode);
    assert.equal(opt.steps, 1);
    opt.step(new Float32Array(12).fill(0.5)); // still usable
    assert.equal(opt.steps, 2);
    opt.dispose();
    assert.throws(() => opt.step(bad), { name: 'TypeError', message: /LowRankOptimizer\.step: the object was disposed/ });
    assert.throws(() => opt.weight, { name: 'TypeError', message: /disposed/ });
  }
});

// ---- Multi-task and clipping ----

test('docs/math.md §6B multitask vectors', () => {
  assertClose(kx.multitask.normalizedSum([f32([1, 0]), f32([0, 2])]), [1, 1], 1e-7, 'normalizedSum');
  assertClose(kx.multitask.normalizedSum([f32([0, 0]), f32([3, 4])]), [0.6, 0.8], 1e-7, 'zero-norm skipped');
  const two = kx.multitask.mgda([f32([1, 0]), f32([0, 2])]);
  assertClose(two.weights, [0.8, 0.2], 1e-12, 'α');
  assertClose(two.direction, [0.8, 0.4], 1e-7, 'u');
  const three = kx.multitask.mgda([f32([1, 0]), f32([0, 1]), f32([-1, 0.5])]);
  // The exact min-norm point (docs/math.md §6B): α = [9/17, 0, 8/17], u = [1/17, 4/17], gap 0 to rounding.
  assertClose(three.weights, [9 / 17, 0, 8 / 17], 1e-12, 'α');
  assertClose(three.direction, [1 / 17, 4 / 17], 1e-7, 'u');
  assert.ok(three.gap >= 0 && three.gap <= 1e-12, `gap ${three.gap}`);
  assert.ok(three.iterations >= 1 && three.iterations <= 3, `iterations ${three.iterations}`);
  assert.equal(two.gap <= 1e-12, true);
  // More tasks: the KKT conditions ⟨g_i, u⟩ ≥ ‖u‖², with equality where α_i > 0.
  const rand = (() => { let x = 7; return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1; })();
  const many = Array.from({ length: 7 }, () => f32(Array.from({ length: 4 }, () => rand() + 0.3)));
  const r = kx.multitask.mgda(many);
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
  const uu = dot(r.direction, r.direction);
  assert.ok(Math.abs(r.weights.reduce((a, b) => a + b, 0) - 1) < 1e-14);
  for (let i = 0; i < many.length; ++i) {
    const gu = dot(many[i], r.direction);
    assert.ok(gu >= uu - 1e-6, `⟨g_${i}, u⟩ ${gu} < ‖u‖² ${uu}`);
    if (r.weights[i] > 1e-9) assert.ok(Math.abs(gu - uu) < 1e-6, `support ${i}: ${gu} vs ${uu}`);
  }
  assert.ok(r.gap <= 1e-12 * Math.max(...many.map((g) => dot(g, g))), `gap ${r.gap}`);
  const aux = kx.multitask.primaryAux(f32([1, 1]), [f32([-1, 0.5])]);
  assertClose(aux.weights, [0.4], 1e-12, 'λ');
  assertClose(aux.direction, [0.6, 1.2], 1e-7, 'u');
});

test('docs/math.md §7.3 clipping vectors, global norm over several tensors', () => {
  const hard = kx.clipGradients([f32([3, 4])], { maxNorm: 1 });
  assert.equal(hard.norm, 5);
  assertClose(hard.grads[0], [0.6, 0.8], 1e-7, 'min form');
  const smooth = kx.clipGradients([f32([3, 4])], { maxNorm: 1, form: 'smooth' });
  assertClose(smooth.grads[0], [0.5, 0.6666666667], 1e-7, 'smooth form');
  const split = kx.clipGradients([f32([3]), f32([4, 0])], { maxNorm: 2.5 });
  assertClose(split.grads[0], [1.5], 1e-7, 'first tensor');
  assertClose(split.grads[1], [2, 0], 1e-7, 'second tensor');
  const input = f32([0.1, 0.2]);
  const unchanged = kx.clipGradients([input], { maxNorm: 10 });
  assert.deepEqual(unchanged.grads[0], input);
  assert.notEqual(unchanged.grads[0], input); // a copy
  assert.deepEqual(kx.clipGradients([f32([0, 0])], { maxNorm: 1, form: 'smooth' }).grads[0], f32([0, 0]));
});

test('multitask and clipGradients errors', () => {
  assert.throws(() => kx.multitask.normalizedSum([]), { name: 'RangeError', message: /multitask\.normalizedSum: grads must not be empty/ });
  assert.throws(() => kx.multitask.normalizedSum(f32([1])), { name: 'TypeError', message: /grads must be an array of Float32Arrays/ });
  assert.throws(() => kx.multitask.mgda([f32([1, 0]), f32([1])]), { name: 'RangeError', message: /grads\[1\] must have the length of grads\[0\] = 2, received length 1/ });
  assert.throws(() => kx.multitask.mgda([f32([1, NaN])]), { name: 'RangeError', message: /grads\[0\]\[1\] must be finite, received NaN/ });
  assert.throws(() => kx.multitask.mgda([f32([1, 0])], { maxIterations: 0 }), { name: 'RangeError', message: /maxIterations/ });
  assert.throws(() => kx.multitask.primaryAux([1, 1], [f32([1, 1])]), { name: 'TypeError', message: /g0 must be a Float32Array/ });
  assert.throws(() => kx.multitask.primaryAux(f32([1, 1]), [f32([1, 1, 1])]), { name: 'RangeError', message: /auxGrads\[0\] must have the length of g0 = 2/ });
  assert.throws(() => kx.clipGradients([f32([1])]), { name: 'TypeError', message: /clipGradients: options \{ maxNorm \} are required/ });
  assert.throws(() => kx.clipGradients([f32([1])], { maxNorm: 0 }), { name: 'RangeError', message: /maxNorm must be a finite number in \(0, Infinity\]/ });
  assert.throws(() => kx.clipGradients([f32([1])], { maxNorm: 1, form: 'max' }), { name: 'RangeError', message: /form must be one of 'min', 'smooth'/ });
  assert.throws(() => kx.clipGradients([f32([Infinity])], { maxNorm: 1 }), { name: 'RangeError', message: /grads\[0\]\[0\] must be finite, received Infinity/ });
});

test('multitask and clipGradients: every rule names its parameter, unknown options suggest the name; usable afterwards', () => {
  const g = [f32([1, 0]), f32([0, 1]), f32([-1, 0.5])];
  const cases = [
    ['multitask.normalizedSum', () => kx.multitask.normalizedSum([new Float32Array(0), new Float32Array(0)]), RangeError, /^multitask\.normalizedSum: grads\[0\] must not be empty$/],
    ['multitask.normalizedSum', () => kx.multitask.normalizedSum([f32([1]), [1]]), TypeError, /^multitask\.normalizedSum: grads\[1\] must be a Float32Array, received Array\(1\)$/],
    ['multitask.mgda', () => kx.multitask.mgda([]), RangeError, /^multitask\.mgda: grads must not be empty$/],
    ['multitask.mgda', () => kx.multitask.mgda(g, { maxIterations: 1.5 }), RangeError, /^multitask\.mgda: maxIterations must be a positive integer, received 1\.5$/],
    ['multitask.mgda', () => kx.multitask.mgda(g, { maxIterations: '3' }), TypeError, /^multitask\.mgda: maxIterations must be a positive integer, received "3"$/],
    ['multitask.mgda', () => kx.multitask.mgda(g, { tolerance: -1 }), RangeError, /^multitask\.mgda: tolerance must be a finite number in \[0, Infinity\], received -1$/],
    ['multitask.mgda', () => kx.multitask.mgda(g, { tolerance: NaN }), RangeError, /^multitask\.mgda: tolerance must be a finite number, received NaN$/],
    ['multitask.mgda', () => kx.multitask.mgda(g, { maxIteration: 3 }), TypeError, /^multitask\.mgda: unknown option 'maxIteration' \(did you mean 'maxIterations'\?\)$/],
    ['multitask.mgda', () => kx.multitask.mgda(g, null), TypeError, /^multitask\.mgda: options must be an object, received null$/],
    ['multitask.primaryAux', () => kx.multitask.primaryAux(f32([1, 1]), []), RangeError, /^multitask\.primaryAux: auxGrads must not be empty$/],
    ['multitask.primaryAux', () => kx.multitask.primaryAux(new Float32Array(0), [new Float32Array(0)]), RangeError, /^multitask\.primaryAux: g0 must not be empty$/],
    ['multitask.primaryAux', () => kx.multitask.primaryAux(f32([1, 1]), [f32([1, 1])], { maxSweeps: 0 }), RangeError, /^multitask\.primaryAux: maxSweeps must be a positive integer, received 0$/],
    ['multitask.primaryAux', () => kx.multitask.primaryAux(f32([1, 1]), [f32([1, 1])], { tolerance: -1e-3 }), RangeError, /^multitask\.primaryAux: tolerance must be a finite number in \[0, Infinity\], received -0\.001$/],
    ['multitask.primaryAux', () => kx.multitask.primaryAux(f32([1, 1]), [f32([1, 1])], { maxSweep: 3 }), TypeError, /^multitask\.primaryAux: unknown option 'maxSweep' \(did you mean 'maxSweeps'\?\)$/],
    ['multitask.primaryAux', () => kx.multitask.primaryAux(f32([1, NaN]), [f32([1, 1])]), RangeError, /^multitask\.primaryAux: g0\[1\] must be finite, received NaN$/],
    ['clipGradients', () => kx.clipGradients([], { maxNorm: 1 }), RangeError, /^clipGradients: grads must not be empty$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], {}), TypeError, /^clipGradients: maxNorm must be a finite number, received undefined$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], { maxNorm: '1' }), TypeError, /^clipGradients: maxNorm must be a finite number, received "1"$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], { maxNorm: Infinity }), RangeError, /^clipGradients: maxNorm must be a finite number, received Infinity$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], { maxNorm: -2 }), RangeError, /^clipGradients: maxNorm must be a finite number in \(0, Infinity\], received -2$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], { maxNorm: 1, form: 0 }), TypeError, /^clipGradients: form must be one of 'min', 'smooth', received 0$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], { maxNorm: 1, fom: 'min' }), TypeError, /^clipGradients: unknown option 'fom' \(did you mean 'form'\?\)$/],
    ['clipGradients', () => kx.clipGradients([f32([1])], 1), TypeError, /^clipGradients: options must be an object, received 1$/],
  ];
  const bytes = kx.wasmHeapBytes;
  for (let round = 0; round < 100; ++round) {
    for (const [fn, call, ErrorClass, message] of cases) {
      assert.throws(call, (error) => {
        assert.ok(error instanceof ErrorClass, `${fn}: ${error}`);
        assert.match(error.message, message);
        return true;
      });
    }
  }
  assert.equal(kx.wasmHeapBytes, bytes);
  // Options given by name work, and everything still computes.
  // Wolfe's method needs one major cycle here; a huge tolerance stops it at the start point (the
  // shortest g_i, here g_1 with its gap 1 − (−1) = 2), maxIterations caps the cycles.
  const loose = kx.multitask.mgda(g, { maxIterations: 3, tolerance: 1e9 });
  assert.equal(loose.iterations, 0);
  assert.deepEqual([...loose.weights], [1, 0, 0]);
  assert.equal(loose.gap, 2);
  const few = kx.multitask.mgda(g, { maxIterations: 1, tolerance: 0 });
  assert.equal(few.iterations, 1);
  assert.ok(few.gap <= 1e-12);
  const converged = kx.multitask.primaryAux(f32([1, 1]), [f32([-1, 0.5]), f32([0, -1])], { maxSweeps: 500, tolerance: 0 });
  assert.ok(converged.weights.every((w) => w >= 0));
  assertClose(kx.clipGradients([f32([3, 4])], { maxNorm: 1, form: 'min' }).grads[0], [0.6, 0.8], 1e-7, 'clip');
  assertClose(kx.multitask.normalizedSum([f32([1, 0]), f32([0, 2])]), [1, 1], 1e-7, 'normalizedSum');
});

test('no WASM heap growth over thousands of calls', () => {
  const weight = new Float32Array(64 * 48);
  const g = Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i));
  const warm = () => {
    const opt = new kx.LowRankOptimizer({ rows: 64, cols: 48, rank: 4, lr: 0.01, weight });
    opt.step(g);
    void opt.weight;
    void opt.factors;
    opt.dispose();
    kx.multitask.mgda([g, g.map((v) => -v), g.map((v, i) => v * i)]);
    kx.clipGradients([g, g], { maxNorm: 1 });
    try { kx.multitask.normalizedSum([g, new Float32Array(3)]); } catch { /* error path */ }
  };
  for (let i = 0; i < 50; ++i) warm();
  const bytes = kx.wasmHeapBytes;
  for (let i = 0; i < 2000; ++i) warm();
  assert.equal(kx.wasmHeapBytes, bytes);
});

test('the fine-tuning example runs and its optimizers learn the low-rank change', async () => {
  const { lowRankFinetune, defaultRuns } = await import('../../examples/lowrank-finetune.mjs');
  const result = lowRankFinetune(kx, { rows: 32, cols: 24, batch: 64, steps: 60, runs: defaultRuns(0.03) });
  for (const [name, curve] of Object.entries(result.curves)) {
    assert.equal(curve.length, 61);
    assert.ok(curve[60] < 0.2 * curve[0], `${name}: ${curve[0]} → ${curve[60]}`);
  }
  assert.deepEqual(result.stateFloats, { 'full Adam': 2 * 32 * 24, 'LoRA r=4': 3 * 56 * 4, 'GaLore r=4': 24 * 4 + 2 * 32 * 4 });
});

test('the single-threaded module gives the same results', async () => {
  const kx1 = await init({ threads: 1 });
  const run = (k) => {
    const opt = new k.LowRankOptimizer({ rows: 40, cols: 30, rank: 3, mode: 'galore', lr: 0.01, updateProjGap: 2,
      weight: Float32Array.from({ length: 1200 }, (_, i) => Math.sin(i)) });
    for (let s = 0; s < 4; ++s) opt.step(Float32Array.from({ length: 1200 }, (_, i) => Math.cos(i * (s + 1))));
    const w = opt.weight;
    opt.dispose();
    return w;
  };
  assertClose(run(kx1), run(kx), 1e-6, 'W');
  const spec = new kx1.LowRankOptimizer({ rows: 2, cols: 3, rank: 1, base: 'sgd', lr: 0.1, weight: W0, factors: { A: A0, B: B0 } });
  assertClose(spec.step(G).weight, [1, -1.14, 2.095, 0, -1.4, -0.8], 1e-6, 'W');
  spec.dispose();
});
