// WhiteningStats.toJSON / fromJSON: a round trip, partial statistics merged from JSON equal the
// one-shot statistics (as a numpy/Spark job would hand them over), and malformed JSON refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init();
const rows = 40, dim = 4;
const x = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i * 0.37) * (1 + (i % dim)));

test('toJSON → fromJSON round-trips exactly; partials merged from JSON give the one-shot model', () => {
  const whole = new kx.WhiteningStats(dim).add(x, rows);
  const json = whole.toJSON();
  assert.equal(json.format, 'kexue-whitening-stats');
  assert.equal(json.count, rows);
  assert.equal(json.m2.length, dim * dim);
  const restored = kx.WhiteningStats.fromJSON(JSON.stringify(json));
  assert.deepEqual(restored.toJSON(), json);
  // Partial statistics "from elsewhere": two halves, each as JSON, merged.
  const a = new kx.WhiteningStats(dim).add(x.subarray(0, 20 * dim), 20);
  const b = new kx.WhiteningStats(dim).add(x.subarray(20 * dim), 20);
  const merged = kx.WhiteningStats.fromJSON(a.toJSON()).merge(kx.WhiteningStats.fromJSON(b.toJSON()));
  const m = merged.toJSON();
  assert.equal(m.count, rows);
  m.mean.forEach((v, i) => assert.ok(Math.abs(v - json.mean[i]) < 1e-12));
  m.m2.forEach((v, i) => assert.ok(Math.abs(v - json.m2[i]) < 1e-9 * (1 + Math.abs(json.m2[i]))));
  // From raw sums, as numpy would produce them: mean = Σx/N, m2 = Σxᵀx − N μᵀμ.
  const sum = new Array(dim).fill(0), outer = new Array(dim * dim).fill(0);
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < dim; ++i) {
      sum[i] += x[r * dim + i];
      for (let j = 0; j < dim; ++j) outer[i * dim + j] += x[r * dim + i] * x[r * dim + j];
    }
  }
  const mean = sum.map((s) => s / rows);
  const m2 = outer.map((v, k) => v - rows * mean[Math.floor(k / dim)] * mean[k % dim]);
  const fromSums = kx.WhiteningStats.fromJSON({ format: 'kexue-whitening-stats', version: 1, dim, count: rows, mean, m2 });
  const w1 = whole.finalize(), w2 = fromSums.finalize();
  w1.eigenvalues.forEach((v, i) => assert.ok(Math.abs(v - w2.eigenvalues[i]) < 1e-9 * (1 + Math.abs(v))));
  for (const o of [whole, restored, a, b, merged, fromSums, w1, w2]) o.dispose();
});

test('malformed JSON: named errors', () => {
  const good = new kx.WhiteningStats(2).add(new Float32Array([1, 2, 3, 5]), 2).toJSON();
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, format: 'other' }), TypeError);
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, version: 2 }), /version must be 1/);
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, mean: [1] }), /mean must be an array of 2 numbers/);
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, m2: [1, 2, 3, 1] }), /m2 must be symmetric/);
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, m2: [-1, 0, 0, 1] }), /m2\[0\] must be ≥ 0/);
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, mean: [NaN, 0] }), /mean\[0\] must be a finite number/);
  assert.throws(() => kx.WhiteningStats.fromJSON({ ...good, count: 0 }), /count must be a positive integer/);
  assert.equal(kx.WhiteningStats.fromJSON(good).count, 2);
});
