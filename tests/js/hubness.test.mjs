// kx.hubness (docs/math.md §7.10; kexue.fm/archives/9147): the §7.10 vector, hubness before and
// after whitening, and bad input as named errors with the module still usable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init();

test('§7.10 vector (Euclidean): hubs [3, 0, 0, 0, 0, 3] for k = 1, [5, 2, 0, 0, 0, 5] for k = 2', () => {
  const x = new Float32Array([0, 0, 1, 0, 0, 1, -1, 0, 0, -1, 0.1, 0.1]);
  assert.deepEqual([...kx.hubness(x, { rows: 6, dim: 2, k: 1, metric: 'euclidean' }).counts], [3, 0, 0, 0, 0, 3]);
  const two = kx.hubness(x, { rows: 6, dim: 2, k: 2, metric: 'euclidean' });
  assert.deepEqual([...two.counts], [5, 2, 0, 0, 0, 5]);
  assert.equal(two.k, 2);
  assert.equal(two.max, 5);
});

test('anisotropic embeddings: cosine hubness before and after whitening (counts sum to rows·k)', () => {
  // A shared offset and a few dominant directions make cosine neighbourhoods crowd (anisotropy).
  const rows = 400, dim = 32;
  let seed = 7;
  const u = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const x = new Float32Array(rows * dim);
  for (let i = 0; i < rows; ++i) {
    for (let d = 0; d < dim; ++d) x[i * dim + d] = 3 + normal() * (d < 3 ? 4 : 0.3);
  }
  const before = kx.hubness(x, { rows, dim, k: 10 });
  assert.equal(before.counts.reduce((s, c) => s + c, 0), rows * 10);
  const whitening = kx.Whitening.fit(x, { rows, dim });
  const after = kx.hubness(whitening.transform(x, { rows }), { rows, dim, k: 10 });
  whitening.dispose();
  assert.equal(after.counts.reduce((s, c) => s + c, 0), rows * 10);
  assert.ok(Number.isFinite(before.skewness) && Number.isFinite(after.skewness));
});

test('bad input: named errors, and the module still works', () => {
  const x = new Float32Array([1, 0, 0, 1, 1, 1]);
  const cases = [
    [() => kx.hubness(x, { rows: 3, dim: 2, k: 3 }), RangeError, /hubness: k must be less than rows = 3, received 3/],
    [() => kx.hubness(x.subarray(0, 2), { rows: 1, dim: 2, k: 1 }), RangeError, /rows must be at least 2/],
    [() => kx.hubness(new Float32Array([1, 0, NaN, 1, 1, 1]), { rows: 3, dim: 2, k: 1 }), RangeError, /row 1 of x holds NaN or Infinity/],
    [() => kx.hubness(new Float32Array([1, 0, 0, 0, 1, 1]), { rows: 3, dim: 2, k: 1 }), RangeError, /row 1 of x is zero/],
    [() => kx.hubness(x, { rows: 3, dim: 2, metric: 'l1' }), RangeError, /metric must be one of 'cosine', 'euclidean'/],
    [() => kx.hubness(x, { rows: 3, dim: 2, kk: 1 }), TypeError, /unknown option 'kk' \(did you mean 'k'\?\)/],
    [() => kx.hubness(x), TypeError, /options \{ rows, dim \} are required/],
    [() => kx.hubness([1, 2], { rows: 1, dim: 2 }), Error, /rows|Float32Array/],
  ];
  for (const [call, ErrorClass, pattern] of cases) assert.throws(call, (e) => e instanceof ErrorClass && pattern.test(e.message), String(pattern));
  assert.deepEqual([...kx.hubness(new Float32Array([1, 0, 0, 1, 1, 1]), { rows: 3, dim: 2, k: 1 }).counts].reduce((a, b) => a + b), 3);
});
