// kx.logsumexp, kx.losses and kx.ExponentiatedGradient through the JS facade: the vectors of
// docs/math.md §7.1, 7.2, 7.4, 7.5, 7.6 and 7.13, float64 JS references, every gradient against
// finite differences, ZLPR's stationary point, the bounds as properties on random inputs, every
// class of bad input (a named TypeError/RangeError, the module still usable), unknown options,
// and a heap that stays put over 1,000 calls.
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

function near(actual, expected, tolerance, what = 'value') {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} = ${actual}, expected ${expected} ± ${tolerance}`);
}

// Deterministic pseudo-random numbers (mulberry32), uniform in [0, 1), and normal by Box–Muller.
function rng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normals(count, scale, seed) {
  const u = rng(seed);
  return Float32Array.from({ length: count }, () => scale * Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
}

// float64 references of the formulas.
function lse(row) {
  const max = Math.max(...row);
  if (!Number.isFinite(max)) return max;
  return max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
}
function zlprRow(s, t) {
  const a = [0], b = [0];
  s.forEach((si, i) => {
    if (t[i] > 0) a.push(-si + Math.log(t[i]));
    if (t[i] < 1) b.push(si + Math.log(1 - t[i]));
  });
  return lse(a) + lse(b);
}

// Central differences of f at x[i] through the float32 API (step h on a float32 input).
function finiteDifference(f, x, i, h = 1e-2) {
  const plus = Float32Array.from(x);
  const minus = Float32Array.from(x);
  plus[i] += h;
  minus[i] -= h;
  return (f(plus) - f(minus)) / (plus[i] - minus[i]);
}

// ---- logsumexp ------------------------------------------------------------------------------------

test('§7.1 vectors: lse, softmax, large and −∞ entries, the bounds', () => {
  near(kx.logsumexp(f32([1, 2, 3]), { cols: 3 })[0], 3.40760596444438, 1e-6, 'lse([1, 2, 3])');
  assertClose(kx.logsumexp.grad(f32([1, 2, 3]), { cols: 3 }), [0.0900305731704, 0.244728471055, 0.665240955775], 1e-7, 'softmax');
  near(kx.logsumexp(f32([1000, 1000]), { cols: 2 })[0], 1000.69314718056, 1e-4, 'lse([1000, 1000])');
  assert.equal(kx.logsumexp(f32([-Infinity, 0]), { cols: 2 })[0], 0);
  const b = kx.logsumexp.bounds(f32([1, 2, 3]), { cols: 3, p: f32([0.2, 0.3, 0.5]) });
  assert.ok(b.value instanceof Float64Array);
  near(b.value[0], 3.40760596444438, 1e-12, 'value');
  near(b.maxPlusLogN[0], 4.09861228867, 1e-10, 'max + log n');
  near(b.meanPlusLogN[0], 3.09861228867, 1e-10, 'mean + log n');
  near(b.renyi[0], 3.26758402626, 1e-7, 'Σ p x − log Σ p²');
  near(b.shannon[0], 3.32965301406, 1e-7, 'Σ p x + H(p)');
  assert.deepEqual(Object.keys(kx.logsumexp.bounds(f32([1, 2, 3]), { cols: 3 })),
    ['value', 'max', 'maxPlusLogN', 'meanPlusLogN', 'tempered', 'temperedUpper']);
});

test('logsumexp: the ±∞ and NaN rules of §7.1, per row', () => {
  const x = f32([1, NaN, 3, 1, Infinity, 2, -Infinity, -Infinity, -Infinity, -Infinity, 0, 5]);
  const value = kx.logsumexp(x, { rows: 4, cols: 3 });
  assert.ok(Number.isNaN(value[0]));
  assert.equal(value[1], Infinity);
  assert.equal(value[2], -Infinity);
  near(value[3], lse([-Infinity, 0, 5]), 1e-6);
  const grad = kx.logsumexp.grad(x, { rows: 4, cols: 3 });
  assert.ok(grad.slice(0, 3).every(Number.isNaN));
  assert.deepEqual(Array.from(grad.slice(3, 6)), [0, 1, 0]);
  assertClose(grad.slice(6, 9), [1 / 3, 1 / 3, 1 / 3], 1e-7);
  assert.equal(grad[9], 0);
});

test('logsumexp and its gradient against float64 and finite differences, on random batches', () => {
  for (const cols of [1, 3, 4, 5, 17, 1000]) {
    const rows = 6;
    const x = normals(rows * cols, 5, cols);
    const value = kx.logsumexp(x, { rows, cols });
    const grad = kx.logsumexp.grad(x, { rows, cols });
    for (let r = 0; r < rows; ++r) {
      const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
      const want = lse(row);
      near(value[r], want, 2e-6 * Math.max(1, Math.abs(want)), `lse row ${r}, cols ${cols}`);
      assertClose(grad.subarray(r * cols, (r + 1) * cols), row.map((v) => Math.exp(v - want)), 2e-6, 'softmax');
    }
  }
  const x = normals(7, 2, 99);
  const grad = kx.logsumexp.grad(x, { cols: 7 });
  for (let i = 0; i < 7; ++i) near(grad[i], finiteDifference((y) => kx.logsumexp(y, { cols: 7 })[0], x, i), 5e-4, `∂lse/∂x[${i}]`);
});

test('logsumexp.bounds hold on random inputs (property test), with convexity and 1-Lipschitz', () => {
  const u = rng(7);
  for (let trial = 0; trial < 100; ++trial) {
    const rows = 2;
    const cols = 1 + (trial % 23);
    const scale = 10 ** (3 * u() - 2);
    const x = normals(rows * cols, scale, 1000 + trial);
    const p = new Float32Array(rows * cols);
    for (let r = 0; r < rows; ++r) {
      const w = Array.from({ length: cols }, () => -Math.log(1 - u()));
      const sum = w.reduce((a, b) => a + b, 0);
      w.forEach((v, j) => { p[r * cols + j] = v / sum; });
    }
    const options = { rows, cols, p, t: 1.001 + 3 * u(), tau: 0.05 + 5 * u() };
    const b = kx.logsumexp.bounds(x, options);
    for (let r = 0; r < rows; ++r) {
      const slack = 1e-12 * (1 + Math.abs(b.value[r]));
      if (cols > 1) assert.ok(b.max[r] < b.value[r], `max < lse (trial ${trial})`);
      assert.ok(b.value[r] <= b.maxPlusLogN[r] + slack, 'lse ≤ max + log n');
      assert.ok(b.meanPlusLogN[r] <= b.value[r] + slack, 'mean + log n ≤ lse');
      assert.ok(b.renyi[r] <= b.shannon[r] + slack, 'Rényi bound ≤ Shannon bound');
      assert.ok(b.shannon[r] <= b.value[r] + slack, 'Σ p x + H(p) ≤ lse');
      assert.ok(b.max[r] <= b.tempered[r] + slack && b.tempered[r] <= b.temperedUpper[r] + slack, 'tempered');
    }
    const y = normals(rows * cols, scale, 5000 + trial);
    const lambda = u();
    const mix = x.map((v, i) => lambda * v + (1 - lambda) * y[i]);
    const [lx, ly, lm] = [x, y, mix].map((v) => kx.logsumexp(v, { rows, cols }));
    for (let r = 0; r < rows; ++r) {
      const tolerance = 1e-5 * (1 + Math.abs(lx[r]) + Math.abs(ly[r]));
      assert.ok(lm[r] <= lambda * lx[r] + (1 - lambda) * ly[r] + tolerance, 'convex');
      let distance = 0;
      for (let j = 0; j < cols; ++j) distance = Math.max(distance, Math.abs(x[r * cols + j] - y[r * cols + j]));
      assert.ok(Math.abs(lx[r] - ly[r]) <= distance + tolerance, '1-Lipschitz in ‖·‖∞');
    }
  }
});

// ---- ZLPR -----------------------------------------------------------------------------------------

const S = f32([2, -1, 0.5]);

test('§7.2 vectors: hard (mask and index set), soft with its gradient, σ(2s)', () => {
  near(kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3 }).loss, 1.23105861638, 1e-6, 'hard, 0/1 mask');
  near(kx.losses.zlpr(S, [[0]], { classes: 3 }).loss, 1.23105861638, 1e-6, 'hard, index set');
  const soft = kx.losses.zlpr(S, f32([0.9, 0.1, 0.5]), { classes: 3, soft: true });
  near(soft.loss, 1.59156350389, 1e-6, 'soft');
  assertClose(soft.grad, [0.1835125527, -0.04579944731, 0.1060986635], 1e-6, 'soft gradient');
  assertClose(kx.losses.zlpr.probability(S), [0.98201379, 0.119202922, 0.7310585786], 1e-7, 'σ(2s)');
});

test('ZLPR: the gradient vanishes at s* = ½·logit(t), and σ(2s*) = t', () => {
  const t = f32([0.9, 0.1, 0.5, ...Array.from({ length: 29 }, rng(5))]);
  const s = t.map((ti) => 0.5 * Math.log(ti / (1 - ti)));
  assertClose(s.slice(0, 3), [1.098612289, -1.098612289, 0], 1e-6, 's*');
  const { grad } = kx.losses.zlpr(s, t, { classes: t.length, soft: true });
  assertClose(grad, new Array(t.length).fill(0), 2e-7, 'gradient at s*');
  assertClose(kx.losses.zlpr.probability(s), t, 1e-6, 'σ(2s*)');
});

test('ZLPR against float64 (hard, soft, masked, every reduction) and finite differences', () => {
  const rows = 3;
  const classes = 13;
  const s = normals(rows * classes, 3, 11);
  const u = rng(12);
  const soft = Float32Array.from({ length: rows * classes }, () => u());
  const hard = soft.map((v) => (v < 0.3 ? 1 : 0));
  const mask = Float32Array.from({ length: rows * classes }, () => (u() < 0.2 ? 0 : 1));
  for (const [labels, isSoft] of [[hard, false], [soft, true]]) {
    for (const withMask of [false, true]) {
      const wantRows = [];
      for (let r = 0; r < rows; ++r) {
        const keep = (j) => !withMask || mask[r * classes + j] === 1;
        const sr = [], tr = [];
        for (let j = 0; j < classes; ++j) if (keep(j)) { sr.push(s[r * classes + j]); tr.push(labels[r * classes + j]); }
        wantRows.push(zlprRow(sr, tr));
      }
      const base = { rows, classes, soft: isSoft, ...(withMask ? { mask } : {}) };
      const none = kx.losses.zlpr(s, labels, { ...base, reduction: 'none' });
      assert.ok(none.loss instanceof Float32Array);
      assertClose(none.loss, wantRows, 2e-5, 'row losses');
      near(kx.losses.zlpr(s, labels, base).loss, wantRows.reduce((a, b) => a + b) / rows, 2e-6 * rows, 'mean');
      const summed = kx.losses.zlpr(s, labels, { ...base, reduction: 'sum' });
      near(summed.loss, wantRows.reduce((a, b) => a + b), 2e-5, 'sum');
      for (let i = 0; i < s.length; i += 4) {
        const fd = finiteDifference((x) => kx.losses.zlpr(x, labels, { ...base, reduction: 'sum' }).loss, s, i);
        near(summed.grad[i], fd, 5e-4, `∂L/∂s[${i}] soft ${isSoft} mask ${withMask}`);
        if (withMask && mask[i] === 0) assert.equal(summed.grad[i], 0);
      }
    }
  }
});

test('ZLPR: index sets equal their 0/1 mask; repeats allowed; typed arrays accepted', () => {
  const s = normals(3 * 6, 2, 3);
  const mask = f32([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
  const a = kx.losses.zlpr(s, mask, { rows: 3, classes: 6 });
  const b = kx.losses.zlpr(s, [[0, 4], [], new Int32Array([5, 1, 5])], { rows: 3, classes: 6 });
  assert.equal(a.loss, b.loss);
  assert.deepEqual(a.grad, b.grad);
});

// ---- InfoNCE / FlatNCE ------------------------------------------------------------------------------

test('§7.5 vectors: InfoNCE, FlatNCE and its gradient', () => {
  const s = f32([2, 0.5, -1]);
  near(kx.losses.infoNCE(s, { rows: 1, cols: 3, targets: [0] }).loss, 0.241311296657, 1e-7, 'InfoNCE');
  const flat = kx.losses.flatNCE(s, { rows: 1, cols: 3, targets: [0] });
  near(flat.loss, -1.29858672202, 1e-6, 'FlatNCE');
  assertClose(flat.grad, [-1, 0.8175744762, 0.1824255238], 1e-7, 'FlatNCE gradient');
});

test('InfoNCE/FlatNCE against float64 and finite differences; chunks accumulate to the full batch', () => {
  const n = 9;
  const tau = 0.2;
  const sim = normals(n * n, 0.5, 21);
  for (const name of ['infoNCE', 'flatNCE']) {
    const full = kx.losses[name](sim, { rows: n, cols: n, temperature: tau, reduction: 'sum' });
    let want = 0;
    for (let r = 0; r < n; ++r) {
      const row = Array.from(sim.subarray(r * n, (r + 1) * n), (v) => v / tau);
      const others = row.filter((_, j) => j !== r);
      want += (name === 'infoNCE' ? lse(row) : lse(others)) - row[r];
    }
    near(full.loss, want, 2e-5, `${name} loss`);
    for (let i = 0; i < n * n; i += 7) {
      const fd = finiteDifference((x) => kx.losses[name](x, { rows: n, cols: n, temperature: tau, reduction: 'sum' }).loss, sim, i, 1e-3);
      near(full.grad[i], fd, 5e-3, `${name} ∂L/∂sim[${i}]`);
    }
    // Chunks of 4, 4, 1 rows with their global positives (gradient accumulation over a big batch).
    let total = 0;
    for (let begin = 0; begin < n; begin += 4) {
      const rows = Math.min(4, n - begin);
      const targets = Array.from({ length: rows }, (_, i) => begin + i);
      const part = kx.losses[name](sim.subarray(begin * n, (begin + rows) * n).slice(), { rows, cols: n, temperature: tau, reduction: 'sum', targets });
      total += part.loss;
      assert.deepEqual(part.grad, full.grad.slice(begin * n, (begin + rows) * n));
    }
    near(total, full.loss, 1e-9 * (1 + Math.abs(full.loss)), `${name} chunked`);
    const mean = kx.losses[name](sim, { rows: n, cols: n, temperature: tau });
    near(mean.loss, full.loss / n, 1e-9, `${name} mean`);
    assertClose(mean.grad, full.grad.map((g) => g / n), 1e-7, `${name} mean gradient`);
  }
});

// ---- GlobalPointer KL, flooding ---------------------------------------------------------------------

test('§7.13 vector, symmetry, the softmax form and finite differences', () => {
  const s = f32([1, -2]);
  const t = f32([0.5, 0.5]);
  const kl = kx.losses.globalPointerKL(s, t, { classes: 2 });
  near(kl.loss, 1.31244064666, 1e-9, 'D');
  assertClose(kl.grad, [0.206905214, -0.7657403727], 1e-7, '∂D/∂s');
  const swapped = kx.losses.globalPointerKL(t, s, { classes: 2 });
  near(swapped.loss, kl.loss, 1e-12);
  assert.deepEqual(swapped.grad, kl.gradT);
  const a = normals(2 * 6, 2, 31);
  const b = normals(2 * 6, 2, 32);
  for (const form of ['sigmoid', 'softmax']) {
    const r = kx.losses.globalPointerKL(a, b, { rows: 2, classes: 6, form, reduction: 'sum' });
    if (form === 'softmax') {
      let want = 0;
      for (let row = 0; row < 2; ++row) {
        const sa = Array.from(a.subarray(row * 6, row * 6 + 6));
        const sb = Array.from(b.subarray(row * 6, row * 6 + 6));
        const p = sa.map((v) => Math.exp(v - lse(sa)));
        const q = sb.map((v) => Math.exp(v - lse(sb)));
        want += p.reduce((acc, pi, i) => acc + pi * Math.log(pi / q[i]) + q[i] * Math.log(q[i] / pi), 0);
      }
      near(r.loss, want, 1e-9, 'KL(p‖q) + KL(q‖p)');
    }
    for (let i = 0; i < 12; i += 3) {
      near(r.grad[i], finiteDifference((x) => kx.losses.globalPointerKL(x, b, { rows: 2, classes: 6, form, reduction: 'sum' }).loss, a, i), 2e-4, `${form} ∂D/∂s`);
      near(r.gradT[i], finiteDifference((x) => kx.losses.globalPointerKL(a, x, { rows: 2, classes: 6, form, reduction: 'sum' }).loss, b, i), 2e-4, `${form} ∂D/∂t`);
    }
  }
});

test('§7.4 vectors: flooding around any loss', () => {
  const below = kx.losses.flooding({ loss: 0.3, grad: f32([1, -2]) }, 0.5);
  near(below.loss, 0.7, 1e-15);
  assert.deepEqual(Array.from(below.grad), [-1, 2]);
  const above = kx.losses.flooding({ loss: 0.8, grad: f32([1, -2]) }, 0.5);
  assert.equal(above.loss, 0.8);
  assert.deepEqual(Array.from(above.grad), [1, -2]);
  assert.deepEqual(Array.from(kx.losses.flooding({ loss: 0.5, grad: f32([3]) }, 0.5).grad).map(Math.abs), [0]);
  // Wrapping a loss: ZLPR below its flood level turns into gradient ascent; gradT is scaled too.
  const z = kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3 });
  const flooded = kx.losses.flooding(z, 2);
  near(flooded.loss, 4 - z.loss, 1e-12);
  assertClose(flooded.grad, Array.from(z.grad, (g) => -g), 0);
  const kl = kx.losses.flooding(kx.losses.globalPointerKL(f32([1, -2]), f32([0.5, 0.5]), { classes: 2 }), 2);
  assertClose(kl.gradT, Array.from(kx.losses.globalPointerKL(f32([1, -2]), f32([0.5, 0.5]), { classes: 2 }).gradT, (g) => -g), 0);
});

// ---- ExponentiatedGradient ---------------------------------------------------------------------------

test('§7.6 vectors: plain EG, and the meta step size over three steps', () => {
  const eg = new kx.ExponentiatedGradient({ weight: f32([1, 2]), lr: 0.1 });
  eg.step(f32([0.5, -1]));
  assertClose(eg.weight, [0.9512294245, 2.210341836], 1e-6, 'EG');
  assert.deepEqual(eg.options, { lr: 0.1, update: 'exponentiated', metaLr: 0, metaClip: 0 });
  eg[Symbol.dispose ?? Symbol.for('Symbol.dispose')]();
  assert.equal(eg.disposed, true);
  const meta = new kx.ExponentiatedGradient({ weight: f32([1, 2]), lr: 0.1, update: 'additive', metaLr: 0.5 });
  const steps = [
    [[0.5, -1], [1, 1], [0.95, 2.1]],
    [[0.4, 0.6], [1.105170918, 0.7408182207], [0.9057931633, 2.055550907]],
    [[0.2, -0.3], [1.150273799, 0.6770568745], [0.8827876873, 2.075862613]],
  ];
  for (const [g, nu, theta] of steps) {
    assert.equal(meta.step(f32(g)), meta);
    assertClose(meta.stepSizes, nu, 1e-6, 'ν');
    assertClose(meta.weight, theta, 1e-6, 'θ');
  }
  assert.equal(meta.steps, 3);
  meta.dispose();
  assert.throws(() => meta.step(f32([1, 1])), (e) => e instanceof TypeError && /ExponentiatedGradient.step: the object was disposed/.test(e.message));
  meta.dispose();  // twice is fine
});

test('ExponentiatedGradient: a non-finite gradient is refused and changes nothing', () => {
  const eg = new kx.ExponentiatedGradient({ weight: f32([1, 2]), lr: 0.1, update: 'additive', metaLr: 0.5 });
  eg.step(f32([0.5, -1]));
  const before = eg.weight;
  assert.throws(() => eg.step(f32([0.4, NaN])), (e) => e instanceof RangeError &&
    /ExponentiatedGradient.step: grad\[1\] must be finite, received NaN; the step was refused/.test(e.message));
  assert.deepEqual(eg.weight, before);
  eg.step(f32([0.4, 0.6]));
  assertClose(eg.weight, [0.9057931633, 2.055550907], 1e-6);
  eg.dispose();
});

// ---- bad input ---------------------------------------------------------------------------------------

test('each class of bad input gets a TypeError/RangeError naming the parameter; the module stays usable', () => {
  const x = f32([1, 2, 3, 4]);
  const sq = f32([1, 0, 0, 1]);
  const cases = [
    // logsumexp
    ['logsumexp', () => kx.logsumexp(x), TypeError, /options \{ rows, cols \} are required/],
    ['logsumexp', () => kx.logsumexp(x, { rows: 2 }), TypeError, /cols must be a positive integer, received undefined/],
    ['logsumexp', () => kx.logsumexp(x, { rows: 0, cols: 4 }), RangeError, /rows must be a positive integer, received 0/],
    ['logsumexp', () => kx.logsumexp(x, { rows: 2, cols: 3 }), RangeError, /x must have length rows\*cols = 6 for shape \[2, 3\], received length 4/],
    ['logsumexp', () => kx.logsumexp([1, 2], { cols: 2 }), TypeError, /x must be a Float32Array, received Array\(2\)/],
    ['logsumexp', () => kx.logsumexp(x, { cols: 4, axis: 1 }), TypeError, /unknown option 'axis'/],
    ['logsumexp.grad', () => kx.logsumexp.grad(x, { cols: 4, rowz: 1 }), TypeError, /unknown option 'rowz' \(did you mean 'rows'\?\)/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, t: 1 }), RangeError, /t must be greater than 1, received 1/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, tau: -1 }), RangeError, /tau must be greater than 0, received -1/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(f32([1, NaN]), { cols: 2 }), RangeError, /x\[1\] must be finite, received NaN/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, p: f32([0.5, 0.5, 0.5, -0.5]) }), RangeError, /p\[3\] must be a finite number ≥ 0/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, p: f32([0.5, 0.5, 0.5, 0.5]) }), RangeError, /p must be a distribution/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, p: f32([1]) }), RangeError, /p must have length cols = 4/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, p: [0.25, 0.25, 0.25, 0.25] }), TypeError, /p must be a Float32Array/],
    ['logsumexp.bounds', () => kx.logsumexp.bounds(x, { cols: 4, temperature: 2 }), TypeError, /unknown option 'temperature'/],
    // ZLPR
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0.5, 0]), { classes: 3 }), RangeError, /labels\[1\] must be 0 or 1 \(hard labels; pass soft: true/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 1.5, 0]), { classes: 3, soft: true }), RangeError, /labels\[1\] must be in \[0, 1\], received 1.5/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([-0.1, 0, 0]), { classes: 3, soft: true }), RangeError, /labels\[0\] must be in \[0, 1\], received -0.1/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([NaN, 0, 0]), { classes: 3, soft: true }), RangeError, /labels\[0\] must be in \[0, 1\], received NaN/],
    ['losses.zlpr', () => kx.losses.zlpr(f32([2, NaN, 0]), f32([1, 0, 0]), { classes: 3 }), RangeError, /logits\[1\] must be finite, received NaN/],
    ['losses.zlpr', () => kx.losses.zlpr(S, [[3]], { classes: 3 }), RangeError, /labels\[0\]\[0\] must be an integer in \[0, classes = 3\), received 3/],
    ['losses.zlpr', () => kx.losses.zlpr(S, [[0, -1]], { classes: 3 }), RangeError, /labels\[0\]\[1\] must be an integer in \[0, classes = 3\), received -1/],
    ['losses.zlpr', () => kx.losses.zlpr(S, [[0.5]], { classes: 3 }), RangeError, /labels\[0\]\[0\] must be an integer/],
    ['losses.zlpr', () => kx.losses.zlpr(S, [['0']], { classes: 3 }), TypeError, /labels\[0\]\[0\] must be an integer, received "0"/],
    ['losses.zlpr', () => kx.losses.zlpr(S, [[0], [1]], { classes: 3 }), RangeError, /labels must hold rows = 1 index sets, received 2/],
    ['losses.zlpr', () => kx.losses.zlpr(S, [5], { classes: 3 }), TypeError, /labels\[0\] must be an array of class indices, received 5/],
    ['losses.zlpr', () => kx.losses.zlpr(S, 'cat', { classes: 3 }), TypeError, /labels must be a Float32Array \[rows, classes\] or an array of index sets/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3, mask: f32([1, 2, 1]) }), RangeError, /mask\[1\] must be 0 \(left out\) or 1 \(counted\), received 2/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3, mask: f32([1, 1]) }), RangeError, /mask must have length rows\*classes = 3/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3, reduction: 'avg' }), RangeError, /reduction must be one of 'mean', 'sum', 'none', received "avg"/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3, soft: 1 }), TypeError, /soft must be a boolean, received 1/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0, 0]), { clases: 3 }), TypeError, /classes must be a positive integer, received undefined/],
    ['losses.zlpr', () => kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3, sof: true }), TypeError, /unknown option 'sof' \(did you mean 'soft'\?\)/],
    ['losses.zlpr.probability', () => kx.losses.zlpr.probability([1]), TypeError, /logits must be a Float32Array, received Array\(1\)/],
    // InfoNCE / FlatNCE
    ['losses.infoNCE', () => kx.losses.infoNCE(f32([1, 2, 3, 4, 5, 6]), { rows: 2, cols: 3 }), RangeError, /cols must be equal to rows = 2 \(the positive of row i is column i; pass targets/],
    ['losses.flatNCE', () => kx.losses.flatNCE(f32([1, 2, 3, 4, 5, 6]), { rows: 3, cols: 2 }), RangeError, /cols must be equal to rows = 3/],
    ['losses.flatNCE', () => kx.losses.flatNCE(f32([1]), { rows: 1, cols: 1 }), RangeError, /cols must be at least 2 \(FlatNCE needs a negative\), received 1/],
    ['losses.infoNCE', () => kx.losses.infoNCE(sq, { rows: 2, cols: 2, temperature: 0 }), RangeError, /temperature must be greater than 0, received 0/],
    ['losses.infoNCE', () => kx.losses.infoNCE(f32([1, NaN, 0, 1]), { rows: 2, cols: 2 }), RangeError, /sim\[1\] must be finite, received NaN/],
    ['losses.infoNCE', () => kx.losses.infoNCE(sq, { rows: 2, cols: 2, targets: [0, 2] }), RangeError, /targets\[1\] must be an integer in \[0, cols = 2\), received 2/],
    ['losses.flatNCE', () => kx.losses.flatNCE(sq, { rows: 2, cols: 2, targets: [0] }), RangeError, /targets must have length rows = 2, received length 1/],
    ['losses.flatNCE', () => kx.losses.flatNCE(sq, { rows: 2, cols: 2, targets: 0 }), TypeError, /targets must be an array of integers, received 0/],
    ['losses.infoNCE', () => kx.losses.infoNCE(sq, { rows: 2, cols: 2, temprature: 1 }), TypeError, /unknown option 'temprature' \(did you mean 'temperature'\?\)/],
    ['losses.flatNCE', () => kx.losses.flatNCE(sq, { rows: 2, cols: 2, target: [0, 1] }), TypeError, /unknown option 'target' \(did you mean 'targets'\?\)/],
    ['losses.infoNCE', () => kx.losses.infoNCE(sq, { rows: 2 }), TypeError, /cols must be a positive integer, received undefined/],
    // GlobalPointer KL
    ['losses.globalPointerKL', () => kx.losses.globalPointerKL(f32([1, 2]), f32([0, NaN]), { classes: 2 }), RangeError, /t\[1\] must be finite, received NaN/],
    ['losses.globalPointerKL', () => kx.losses.globalPointerKL(f32([1, 2]), f32([0]), { classes: 2 }), RangeError, /t must have length rows\*classes = 2/],
    ['losses.globalPointerKL', () => kx.losses.globalPointerKL(f32([1, 2]), f32([0, 1]), { classes: 2, form: 'kl' }), RangeError, /form must be one of 'sigmoid', 'softmax', received "kl"/],
    ['losses.globalPointerKL', () => kx.losses.globalPointerKL(f32([1, 2]), f32([0, 1]), { classes: 2, from: 'softmax' }), TypeError, /unknown option 'from' \(did you mean 'form'\?\)/],
    // flooding
    ['losses.flooding', () => kx.losses.flooding({ loss: NaN, grad: x }, 0.5), RangeError, /loss must be a finite number, received NaN/],
    ['losses.flooding', () => kx.losses.flooding({ loss: 1, grad: x }, Infinity), RangeError, /level must be a finite number, received Infinity/],
    ['losses.flooding', () => kx.losses.flooding({ loss: f32([1]), grad: x }, 0.5), TypeError, /result.loss must be a number/],
    ['losses.flooding', () => kx.losses.flooding({ loss: 1, grad: x }, '0.5'), TypeError, /level must be a finite number, received "0.5"/],
    ['losses.flooding', () => kx.losses.flooding(1, 0.5), TypeError, /result must be an object \{ loss, grad \}, received 1/],
    // ExponentiatedGradient
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient(), TypeError, /options \{ weight, lr \} are required/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: [1], lr: 0.1 }), TypeError, /weight must be a Float32Array, received Array\(1\)/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1]) }), TypeError, /lr must be a finite number, received undefined/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1]), lr: 0 }), RangeError, /lr must be greater than 0, received 0/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1]), lr: NaN }), RangeError, /lr must be a finite number, received NaN/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1]), lr: 1, metaLr: -1 }), RangeError, /metaLr must be at least 0, received -1/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1, -1]), lr: 1 }), RangeError, /weight\[1\] must be finite and ≥ 0 .*received -1/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1, NaN]), lr: 1, update: 'additive' }), RangeError, /weight\[1\] must be finite, received NaN/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([]), lr: 1 }), RangeError, /weight must be non-empty/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1]), lr: 1, update: 'mirror' }), RangeError, /update must be one of 'exponentiated', 'additive', received "mirror"/],
    ['ExponentiatedGradient', () => new kx.ExponentiatedGradient({ weight: f32([1]), lr: 1, metaLR: 1 }), TypeError, /unknown option 'metaLR' \(did you mean 'metaLr'\?\)/],
  ];
  for (const [fn, call, ErrorClass, pattern] of cases) {
    assert.throws(call, (error) => {
      assert.ok(error instanceof ErrorClass, `${pattern}: expected ${ErrorClass.name}, got ${error?.constructor?.name}: ${error?.message}`);
      assert.ok(error.message.startsWith(`${fn}: `), `${error.message} should start with ${fn}`);
      assert.match(error.message, pattern);
      return true;
    }, String(pattern));
    // The module stays usable after every error.
    near(kx.losses.zlpr(S, f32([1, 0, 0]), { classes: 3 }).loss, 1.23105861638, 1e-6);
  }
  const eg = new kx.ExponentiatedGradient({ weight: f32([1]), lr: 1 });
  assert.throws(() => eg.step(f32([1, 2])), (e) => e instanceof RangeError && /ExponentiatedGradient.step: grad must have length size = 1/.test(e.message));
  eg.dispose();
});

test('1,000 calls of each entry point do not grow the WASM heap', () => {
  const rows = 8;
  const classes = 50;
  const s = normals(rows * classes, 2, 1);
  const labels = s.map((v) => (v > 1 ? 1 : 0));
  const sim = normals(rows * rows, 1, 2);
  const calls = [
    () => kx.logsumexp(s, { rows, cols: classes }),
    () => kx.logsumexp.grad(s, { rows, cols: classes }),
    () => kx.logsumexp.bounds(s, { rows, cols: classes }),
    () => kx.losses.zlpr(s, labels, { rows, classes, reduction: 'none' }),
    () => kx.losses.zlpr(s, [[1], [], [2, 3], [4], [5], [6], [7], [8]], { rows, classes }),
    () => kx.losses.zlpr.probability(s),
    () => kx.losses.infoNCE(sim, { rows, cols: rows }),
    () => kx.losses.flatNCE(sim, { rows, cols: rows, targets: [0, 1, 2, 3, 4, 5, 6, 7] }),
    () => kx.losses.globalPointerKL(s, labels, { rows, classes }),
    () => kx.losses.flooding({ loss: 1, grad: s }, 2),
    () => new kx.ExponentiatedGradient({ weight: labels, lr: 0.1 }).step(s).dispose(),
    () => { try { kx.losses.zlpr(s, s, { rows, classes }); } catch { /* refused labels */ } },
  ];
  for (const call of calls) call();
  const before = kx.wasmHeapBytes;
  for (const call of calls) for (let i = 0; i < 1000; ++i) call();
  assert.equal(kx.wasmHeapBytes, before);
});

test('the single-threaded and the multithreaded modules agree', async () => {
  const single = await init({ threads: 1 });
  const multi = await init({ threads: 2 });
  const rows = 64;
  const classes = 2000;  // large enough for the threaded path
  const s = normals(rows * classes, 3, 5);
  const labels = s.map((v) => (v > 6 ? 1 : 0));
  const a = single.losses.zlpr(s, labels, { rows, classes });
  const b = multi.losses.zlpr(s, labels, { rows, classes });
  assert.equal(a.loss, b.loss);
  assert.deepEqual(a.grad, b.grad);
  const sim = normals(256 * 256, 1, 6);
  assert.deepEqual(single.losses.flatNCE(sim, { rows: 256, cols: 256 }), multi.losses.flatNCE(sim, { rows: 256, cols: 256 }));
  assert.deepEqual(single.logsumexp.grad(s, { rows, cols: classes }), multi.logsumexp.grad(s, { rows, cols: classes }));
});
