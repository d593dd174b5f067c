// kx.unargmaxable (docs/math.md §7.18; kexue.fm/archives/9046; Grivas et al., ACL 2022): Su's
// vector, biases and ties, a float64 brute-force check in 2-D (the classes that win at sampled
// inputs, and the strict vertices of the convex hull), a planted interior class in a wider head,
// single- and multi-threaded modules, and bad input as named errors with the module still usable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { gaussian, mulberry32 } from '../helpers/random.js';

const single = await init({ threads: 1 });
const multi = await init({ threads: 2 });

test("Su's vector: (1, 1) at the centre of the square of the other four never wins", () => {
  const weight = new Float32Array([1, 2, 2, 1, 1, 0, 0, 1, 1, 1]);
  for (const kx of [single, multi]) {
    const result = kx.unargmaxable(weight, { classes: 5, dim: 2 });
    assert.deepEqual([...result.indices], [4]);
    assert.equal(result.withinRounding.length, 0);
    assert.equal(result.screened + result.programmes, 5);
    // A bias of 0.5 makes it win at z = 0; −0.5 keeps it inside.
    assert.deepEqual([...kx.unargmaxable(weight, { classes: 5, dim: 2, bias: new Float32Array([0, 0, 0, 0, 0.5]) }).indices], []);
    assert.deepEqual([...kx.unargmaxable(weight, { classes: 5, dim: 2, bias: new Float32Array([0, 0, 0, 0, -0.5]) }).indices], [4]);
  }
});

test('ties are not wins: equal rows with equal biases never win, a higher bias breaks the tie', () => {
  const weight = new Float32Array([1, 0, 1, 0, -1, 0]);
  assert.deepEqual([...single.unargmaxable(weight, { classes: 3, dim: 2 }).indices], [0, 1]);
  assert.deepEqual([...single.unargmaxable(weight, { classes: 3, dim: 2, bias: new Float32Array([0.25, 0, 0]) }).indices], [1]);
  assert.deepEqual([...single.unargmaxable(new Float32Array([3, 4]), { classes: 1, dim: 2 }).indices], []);
});

// Float64 brute force in 2-D: the winners at many sampled z (a subset of the argmaxable classes),
// and the strict hull vertices (exactly the argmaxable classes without bias).
function hullVertices(w, n) {
  const idx = [...Array(n).keys()].sort((a, b) => w[2 * a] - w[2 * b] || w[2 * a + 1] - w[2 * b + 1]);
  const cross = (o, a, b) => (w[2 * a] - w[2 * o]) * (w[2 * b + 1] - w[2 * o + 1]) - (w[2 * a + 1] - w[2 * o + 1]) * (w[2 * b] - w[2 * o]);
  const chain = (points) => {
    const h = [];
    for (const p of points) {
      while (h.length >= 2 && cross(h[h.length - 2], h[h.length - 1], p) <= 0) h.pop();
      h.push(p);
    }
    return h.slice(0, -1);
  };
  return new Set([...chain(idx), ...chain([...idx].reverse())]);
}

test('2-D heads: the argmaxable classes are the strict hull vertices, and every sampled winner is one', () => {
  const next = mulberry32(17);
  const normal = gaussian(next);
  for (const n of [12, 80, 300]) {
    // Integer points: exact cross products in float64; distinct, so no duplicated vertex.
    const seen = new Set();
    const w = new Float32Array(2 * n);
    for (let i = 0; i < n;) {
      const x = Math.floor(next() * 61) - 30, y = Math.floor(next() * 61) - 30;
      if (seen.has(`${x},${y}`)) continue;
      seen.add(`${x},${y}`);
      w[2 * i] = x;
      w[2 * i + 1] = y;
      ++i;
    }
    const vertices = hullVertices(w, n);
    const result = multi.unargmaxable(w, { classes: n, dim: 2 });
    const never = new Set(result.indices);
    for (let i = 0; i < n; ++i) assert.equal(!never.has(i), vertices.has(i), `n ${n}, class ${i}`);
    // With a bias: winners at sampled z are argmaxable.
    const bias = Float32Array.from({ length: n }, () => 20 * normal());
    const biased = new Set(multi.unargmaxable(w, { classes: n, dim: 2, bias }).indices);
    for (let s = 0; s < 20000; ++s) {
      const r = Math.exp(8 * next() - 4);
      const z0 = r * normal(), z1 = r * normal();
      let best = 0, bestLogit = -Infinity;
      for (let i = 0; i < n; ++i) {
        const logit = w[2 * i] * z0 + w[2 * i + 1] * z1 + bias[i];
        if (logit > bestLogit) { bestLogit = logit; best = i; }
      }
      assert.ok(!biased.has(best), `class ${best} won at a sampled z but was reported unargmaxable`);
    }
  }
});

test('a 2000 × 32 Gaussian head with planted interior classes', () => {
  const normal = gaussian(mulberry32(5));
  const classes = 2000, dim = 32;
  const weight = Float32Array.from({ length: classes * dim }, normal);
  for (let j = 0; j < dim; ++j) {
    let mean = 0;
    for (let i = 100; i < 150; ++i) mean += weight[i * dim + j];
    weight[7 * dim + j] = mean / 50;            // the mean of 50 rows: deep inside the hull
    weight[9 * dim + j] = 0.1 * weight[11 * dim + j];  // a short copy of a row
  }
  for (const kx of [single, multi]) {
    const result = kx.unargmaxable(weight, { classes, dim });
    assert.deepEqual([...result.indices], [7, 9]);
    assert.equal(result.withinRounding.length, 0);
    assert.ok(result.screened > 0.95 * classes, `screened ${result.screened}`);
  }
});

test('bad input: named errors, and the module still works', () => {
  const w = new Float32Array([1, 0, 0, 1]);
  const cases = [
    [() => single.unargmaxable(w, { classes: 0, dim: 2 }), RangeError, /unargmaxable: classes must be a positive integer, received 0/],
    [() => single.unargmaxable(w, { classes: 2, dim: 3 }), RangeError, /unargmaxable: weight must have length classes\*dim = 6/],
    [() => single.unargmaxable(new Float32Array([1, NaN, 0, 1]), { classes: 2, dim: 2 }), RangeError, /row 0 of weight holds NaN or Infinity/],
    [() => single.unargmaxable(w, { classes: 2, dim: 2, bias: new Float32Array([0, Infinity]) }), RangeError, /bias\[1\] is NaN or Infinity/],
    [() => single.unargmaxable(w, { classes: 2, dim: 2, bias: new Float32Array(3) }), RangeError, /bias must have length classes = 2/],
    [() => single.unargmaxable(w, { classes: 2, dim: 2, bias: [0, 1] }), TypeError, /bias must be a Float32Array/],
    [() => single.unargmaxable([1, 0, 0, 1], { classes: 2, dim: 2 }), TypeError, /weight must be a Float32Array/],
    [() => single.unargmaxable(w, { classes: 2, dim: 2, dims: 2 }), TypeError, /unknown option 'dims' \(did you mean 'dim'\?\)/],
    [() => single.unargmaxable(w, { classes: '2', dim: 2 }), TypeError, /classes/],
    [() => single.unargmaxable(w), TypeError, /options \{ classes, dim \} are required/],
    [() => single.unargmaxable(w, { classes: 2, dim: 65536 }), RangeError, /weight must have length|bytes/],
    [() => single.unargmaxable(w, { classes: 2, dim: 30000 }), RangeError, /unargmaxable: dim needs \d+ bytes .* 2 GiB/],
  ];
  for (const [call, ErrorClass, pattern] of cases) {
    assert.throws(call, (e) => e instanceof ErrorClass && pattern.test(e.message), String(pattern));
  }
  assert.deepEqual([...single.unargmaxable(new Float32Array([1, 0, -1, 0, 0, 0]), { classes: 3, dim: 2 }).indices], [2]);
});
