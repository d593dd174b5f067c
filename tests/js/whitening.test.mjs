// kx.Whitening / kx.WhiteningStats through the whole stack: the docs/math.md §4.5 vectors, the properties that
// define BERT-whitening, exact round-trips of both serialized forms, and the error contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init } from 'kexue';

const kx = await init();
const X = new Float32Array([3, 3, 1, 1, 2, 3, 2, 1]); // N = 4, d = 2, μ = [2, 2]

function assertClose(got, want, tol, label) {
  assert.equal(got.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; ++i) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol, `${label}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

// Deterministic anisotropic data with an offset (so β matters).
function anisotropic(rows, dim, seed) {
  let state = seed;
  const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
  const normal = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  const mixing = Array.from({ length: dim * dim }, () => normal() / Math.sqrt(dim));
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; ++i) {
    const z = Array.from({ length: dim }, (_, j) => normal() * (1 + 3 * j / dim));
    for (let j = 0; j < dim; ++j) {
      let sum = 0.5 + 0.1 * j;
      for (let p = 0; p < dim; ++p) sum += z[p] * mixing[p * dim + j];
      out[i * dim + j] = sum;
    }
  }
  return out;
}

test('docs/math.md §4.5 vectors for every (β, γ, k, ddof) row', () => {
  const rows = [
    [{ beta: 1, gamma: 1, k: 2 }, [1.309016994, 0.1909830056],
      [1.203001910, 0.7434960689, -1.203001910, -0.7434960689, 0.7434960689, -1.203001910, -0.7434960689, 1.203001910]],
    [{ beta: 1, gamma: 1, k: 1 }, [1.309016994, 0.1909830056], [1.203001910, -1.203001910, 0.7434960689, -0.7434960689]],
    [{ beta: 0, gamma: 0, k: 2 }, [9.256939094, 0.2430609057],
      [4.241007331, 0.1177149997, 1.413669110, 0.03923833323, 3.553791942, -0.6087387220, 2.100884499, 0.7656920550]],
    [{ beta: 0.5, gamma: 0.5, k: 2 }, [3.270690633, 0.2293093674],
      [2.096055693, 0.3371250280, 0, 0, 1.615410488, -0.7655066431, 0.4806452052, 1.102631671]],
    [{ beta: 1, gamma: 1, k: 2, ddof: 1 }, [1.745355992, 0.2546440075],
      [1.041830215, 0.6438864833, -1.041830215, -0.6438864833, 0.6438864833, -1.041830215, -0.6438864833, 1.041830215]],
  ];
  for (const [options, eigenvalues, output] of rows) {
    const w = kx.Whitening.fit(X, { rows: 4, dim: 2, ...options });
    const label = JSON.stringify(options);
    assertClose(w.eigenvalues, eigenvalues, 1e-8, `${label} eigenvalues`);
    assertClose(w.transform(X, { rows: 4 }), output, 4e-6, `${label} output`);
    assert.equal(w.k, options.k);
    assert.equal(w.dim, 2);
    assertClose(w.mean, [2, 2], 0, `${label} mean`);
    w.dispose();
  }
});

test('β = γ = 1, k = dim: whitened rows have identity covariance', () => {
  const rows = 3000, dim = 12;
  const x = anisotropic(rows, dim, 7);
  const w = kx.Whitening.fit(x, { rows, dim });
  const y = w.transform(x, { rows });
  for (let a = 0; a < dim; ++a) {
    for (let b = 0; b < dim; ++b) {
      let ma = 0, mb = 0, cov = 0;
      for (let i = 0; i < rows; ++i) { ma += y[i * dim + a]; mb += y[i * dim + b]; }
      ma /= rows; mb /= rows;
      for (let i = 0; i < rows; ++i) cov += (y[i * dim + a] - ma) * (y[i * dim + b] - mb);
      assert.ok(Math.abs(cov / rows - (a === b ? 1 : 0)) < 2e-3, `cov[${a}][${b}] = ${cov / rows}`);
    }
  }
});

test('β = γ = 0, k = dim preserves norms and cosines; normalize gives unit rows', () => {
  const rows = 200, dim = 10;
  const x = anisotropic(rows, dim, 3);
  const w = kx.Whitening.fit(x, { rows, dim, beta: 0, gamma: 0 });
  const y = w.transform(x, { rows });
  const dot = (v, i, j) => { let s = 0; for (let c = 0; c < dim; ++c) s += v[i * dim + c] * v[j * dim + c]; return s; };
  for (let i = 0; i + 1 < rows; i += 9) {
    assert.ok(Math.abs(Math.sqrt(dot(y, i, i)) - Math.sqrt(dot(x, i, i))) < 1e-4 * Math.sqrt(dot(x, i, i)));
    const cosIn = dot(x, i, i + 1) / Math.sqrt(dot(x, i, i) * dot(x, i + 1, i + 1));
    const cosOut = dot(y, i, i + 1) / Math.sqrt(dot(y, i, i) * dot(y, i + 1, i + 1));
    assert.ok(Math.abs(cosIn - cosOut) < 1e-5);
  }
  const unit = w.transform(x, { rows, normalize: true });
  for (let i = 0; i < rows; i += 17) assert.ok(Math.abs(dot(unit, i, i) - 1) < 1e-5);
});

test('chunked and merged statistics give the one-shot fit', () => {
  const rows = 700, dim = 9;
  const x = anisotropic(rows, dim, 11);
  const oneShot = kx.Whitening.fit(x, { rows, dim, beta: 0.8, gamma: 0.6, k: 5 });
  const left = new kx.WhiteningStats(dim);
  const right = new kx.WhiteningStats(dim);
  left.add(x.subarray(0, 300 * dim), 300).add(x.subarray(300 * dim, 450 * dim), 150);
  right.add(x.subarray(450 * dim), rows - 450);
  left.merge(right);
  assert.equal(left.count, rows);
  const merged = left.finalize({ beta: 0.8, gamma: 0.6, k: 5 });
  const rel = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / Math.max(...b.map(Math.abs));
  assert.ok(rel(merged.eigenvalues, oneShot.eigenvalues) <= 1e-10);
  assert.ok(rel(merged.toJSON().mean, oneShot.toJSON().mean) <= 1e-10);
  assert.ok(rel(merged.kernel, oneShot.kernel) <= 1e-8);
});

test('toJSON / fromJSON and { kernel, bias } round-trips are exact', () => {
  const rows = 100, dim = 6;
  const x = anisotropic(rows, dim, 5);
  const w = kx.Whitening.fit(x, { rows, dim, beta: 0.5, gamma: 0.7, k: 4, ddof: 1 });
  const json = JSON.parse(JSON.stringify(w));
  const restored = kx.Whitening.fromJSON(json);
  assert.deepEqual(restored.toJSON(), w.toJSON());
  assert.deepEqual(Array.from(restored.transform(x, { rows })), Array.from(w.transform(x, { rows })));
  assert.equal(restored.beta, 0.5);
  assert.equal(restored.gamma, 0.7);

  const kb = w.toKernelBias();
  assert.equal(kb.kernel.length, dim);
  assert.equal(kb.kernel[0].length, 4);
  assert.equal(kb.bias[0].length, dim);
  const imported = kx.Whitening.fromKernelBias(JSON.parse(JSON.stringify(kb)));
  assert.deepEqual(imported.toKernelBias(), kb);
  assert.deepEqual(Array.from(imported.transform(x, { rows })), Array.from(w.transform(x, { rows })));
  assert.equal(imported.beta, null);
  assert.equal(imported.eigenvalues, null);
});

test('bad input gets TypeError/RangeError naming the parameter; the module stays usable', () => {
  const cases = [
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, k: 3 }), RangeError, /Whitening.fit: k must be between 1 and dim = 2, received 3/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, k: 0 }), RangeError, /k must be a positive integer, received 0/],
    [() => kx.Whitening.fit(X, { rows: 3, dim: 2 }), RangeError, /x must have length rows\*dim = 6 for shape \[3, 2\], received length 8/],
    [() => kx.Whitening.fit(new Float32Array([1, 2, 3, NaN, 5, 6]), { rows: 3, dim: 2 }), RangeError, /row 1 of x holds NaN or Infinity/],
    [() => kx.Whitening.fit(new Float32Array([1, 2, 3, 4, Infinity, 6]), { rows: 3, dim: 2 }), RangeError, /row 2 of x holds NaN or Infinity/],
    [() => kx.Whitening.fit(new Float32Array([1, 2]), { rows: 1, dim: 2 }), RangeError, /beta = 1 and gamma > 0 at least 2 rows are needed/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, ddof: 2 }), RangeError, /ddof must be 0 or 1, received 2/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, beta: 'one' }), TypeError, /beta must be a finite number, received "one"/],
    [() => kx.Whitening.fit([1, 2], { rows: 1, dim: 2 }), TypeError, /x must be a Float32Array, received Array\(2\)/],
    [() => kx.Whitening.fit(X), TypeError, /options \{ rows, dim \} are required/],
    [() => new kx.WhiteningStats(0), RangeError, /WhiteningStats: dim must be a positive integer, received 0/],
    [() => new kx.WhiteningStats(2).merge(new kx.WhiteningStats(3)), RangeError, /other must have dim = 2, received dim 3/],
    [() => new kx.WhiteningStats(2).merge({}), TypeError, /other must be a WhiteningStats/],
    [() => kx.Whitening.fromJSON({ format: 'x' }), RangeError, /format must be "kexue-whitening"/],
    [() => kx.Whitening.fromJSON(null), TypeError, /expected a whitening model object, received null/],
    [() => kx.Whitening.fromKernelBias({ kernel: [[1, 2]], bias: [0] }), RangeError, /k must be between 1 and dim = 1, received 2/],
  ];
  for (const [call, ErrorClass, pattern] of cases) {
    assert.throws(call, (e) => e instanceof ErrorClass && pattern.test(e.message) || assert.fail(`${e?.constructor?.name}: ${e?.message}`));
  }
  // A tampered and a truncated model.
  const w = kx.Whitening.fit(X, { rows: 4, dim: 2 });
  const json = w.toJSON();
  assert.throws(() => kx.Whitening.fromJSON({ ...json, kernel: json.kernel.slice(0, 3) }),
    (e) => e instanceof RangeError && /kernel must have length 4, received length 3/.test(e.message));
  assert.throws(() => kx.Whitening.fromJSON({ ...json, center: [1, NaN] }),
    (e) => e instanceof RangeError && /center\[1\] must be a finite number, received NaN/.test(e.message));
  assert.throws(() => kx.Whitening.fromJSON({ ...json, eigenvalues: [1, 2] }),
    (e) => e instanceof RangeError && /descending/.test(e.message));
  assert.throws(() => w.transform(new Float32Array([1, NaN]), { rows: 1 }),
    (e) => e instanceof RangeError && /row 0 of x holds NaN/.test(e.message));
  assert.equal(kx.Whitening.fit(X, { rows: 4, dim: 2 }).transform(X, { rows: 4 }).length, 8);
});

test('options by name (read and checked by C++): every rule, unknown names, .options, and the module still works', () => {
  const cases = [
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, gama: 1 }), TypeError, /^Whitening.fit: unknown option 'gama' \(did you mean 'gamma'\?\)$/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, k: 2.5 }), RangeError, /k must be a positive integer, received 2.5/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 0 }), RangeError, /Whitening.fit: dim must be a positive integer, received 0/],
    [() => kx.Whitening.fit(X, { rows: 4 }), TypeError, /Whitening.fit: dim must be a positive integer, received undefined/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, gamma: Infinity }), RangeError, /gamma must be a finite number, received Infinity/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2, ddof: -1 }), RangeError, /ddof must be a non-negative integer, received -1/],
    [() => kx.Whitening.fit(X, { rows: 4, dim: 2 ** 15 }), RangeError, /the second-moment matrix of shape dim=32768 × dim=32768 needs 1073741824 doubles/],
    [() => kx.Whitening.fit(X, 'rows'), TypeError, /Whitening.fit: options must be an object, received "rows"/],
    [() => kx.Whitening.fit(new Float32Array([1, 2, 1, 2]), { rows: 2, dim: 2 }), RangeError, /Whitening.fit: the rows have zero spread about beta·mean, so gamma = 1 > 0 would divide by zero/],
    [() => kx.Whitening.fit(new Float32Array([1, 2]), { rows: 1, dim: 2, beta: 0, gamma: 0, ddof: 1 }), RangeError, /needs more than ddof = 1 rows, received 1/],
    [() => new kx.WhiteningStats(1.5), RangeError, /WhiteningStats: dim must be a positive integer, received 1.5/],
    [() => new kx.WhiteningStats(), TypeError, /WhiteningStats: dim must be a positive integer, received undefined/],
    [() => new kx.WhiteningStats(2).add(X, 0), RangeError, /WhiteningStats.add: rows must be a positive integer, received 0/],
    [() => new kx.WhiteningStats(2).add(X, '4'), TypeError, /WhiteningStats.add: rows must be a positive integer, received "4"/],
    [() => new kx.WhiteningStats(2).add(new Float32Array([1, Infinity]), 1), RangeError, /WhiteningStats.add: row 0 of x holds NaN or Infinity/],
    [() => new kx.WhiteningStats(2).add(X, 4).finalize({ k: 3 }), RangeError, /WhiteningStats.finalize: k must be between 1 and dim = 2, received 3/],
    [() => new kx.WhiteningStats(2).add(X, 4).finalize({ kk: 1 }), TypeError, /WhiteningStats.finalize: unknown option 'kk' \(did you mean 'k'\?\)/],
    [() => new kx.WhiteningStats(2).add(X, 4).finalize({ rows: 4 }), TypeError, /unknown option 'rows'/],
    [() => kx.Whitening.fromJSON({ format: 'kexue-whitening', version: 2 }), RangeError, /Whitening.fromJSON: version must be 1, received 2/],
    [() => kx.Whitening.fromJSON({ format: 'kexue-whitening', version: 1, dim: 2, k: 2, ddof: 3 }), RangeError, /ddof must be 0 or 1, received 3/],
    [() => kx.Whitening.fromJSON({ format: 'kexue-whitening', version: 1, dim: 2, k: 2, count: 0 }), RangeError, /count must be a positive integer, received 0/],
    [() => kx.Whitening.fromJSON({ format: 'kexue-whitening', version: 1, dim: 2, k: 2, kernell: [] }), TypeError, /unknown option 'kernell' \(did you mean 'kernel'\?\)/],
    [() => kx.Whitening.fromKernelBias({ kernel: [[]], bias: [0] }), RangeError, /Whitening.fromKernelBias: k must be a positive integer, received 0/],
  ];
  for (const [call, ErrorClass, pattern] of cases) {
    assert.throws(call, (e) => e instanceof ErrorClass && pattern.test(e.message) || assert.fail(`${e?.constructor?.name}: ${e?.message} (wanted ${pattern})`));
  }
  const w = kx.Whitening.fit(X, { rows: 4, dim: 2, beta: 0.5, k: 1 });
  assert.throws(() => w.transform(X, { rows: 4, normalise: true }), { name: 'TypeError', message: /^Whitening.transform: unknown option 'normalise' \(did you mean 'normalize'\?\)$/ });
  assert.throws(() => w.transform(X, { rows: 4, normalize: 1 }), { name: 'TypeError', message: /normalize must be a boolean, received 1/ });
  assert.throws(() => w.transform(X, { rows: 0 }), { name: 'RangeError', message: /Whitening.transform: rows must be a positive integer, received 0/ });
  assert.throws(() => w.transform(X), { name: 'TypeError', message: /options \{ rows \} are required/ });
  // .options: resolved by C++ (k = dim by default) and frozen; toJSON's header is the same.
  assert.deepEqual(w.options, { dim: 2, k: 1, beta: 0.5, gamma: 1, ddof: 0, count: 4 });
  assert.ok(Object.isFrozen(w.options));
  const json = w.toJSON();
  assert.deepEqual(Object.keys(json), ['format', 'version', 'dim', 'k', 'beta', 'gamma', 'ddof', 'count', 'mean', 'eigenvalues', 'center', 'kernel']);
  assert.deepEqual(kx.Whitening.fromJSON(json).options, w.options);
  const full = kx.Whitening.fit(X, { rows: 4, dim: 2 });
  assert.equal(full.options.k, 2);
  const imported = kx.Whitening.fromKernelBias(full.toKernelBias());
  assert.deepEqual(imported.options, { dim: 2, k: 2, beta: null, gamma: null, ddof: null, count: null });
  const stats = new kx.WhiteningStats(3);
  assert.deepEqual(stats.options, { dim: 3 });
  assert.equal(stats.dim, 3);
  assert.equal(stats.count, 0);
  for (const o of [w, full, imported, stats]) o.dispose();
  // Still usable.
  assert.equal(kx.Whitening.fit(X, { rows: 4, dim: 2 }).transform(X, { rows: 4 }).length, 8);
});

test('disposed objects refuse use; many fits do not grow the heap', () => {
  const w = kx.Whitening.fit(X, { rows: 4, dim: 2 });
  w.dispose();
  w.dispose(); // idempotent
  assert.throws(() => w.transform(X, { rows: 4 }), (e) => e instanceof TypeError && /disposed/.test(e.message));
  const x = anisotropic(64, 16, 9);
  for (let i = 0; i < 20; ++i) kx.Whitening.fit(x, { rows: 64, dim: 16 }).dispose();
  const before = kx.wasmHeapBytes;
  for (let i = 0; i < 500; ++i) {
    const model = kx.Whitening.fit(x, { rows: 64, dim: 16, k: 8 });
    model.transform(x, { rows: 64, normalize: true });
    model[Symbol.dispose ?? Symbol.for('Symbol.dispose')]();
  }
  assert.equal(kx.wasmHeapBytes, before);
});
