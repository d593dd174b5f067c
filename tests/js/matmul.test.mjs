// kx.matmul through the whole stack (JS facade → Embind → xsimd GEMM in WASM) against a float64
// reference computed here, plus the error contract and heap stability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init } from 'kexue';

const kx = await init();

// Deterministic pseudo-random floats in [-1, 1) (mulberry32).
function randomFloats(count, seed) {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; ++i) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function referenceMatmul(a, b, { m, k, n, transposeA = false, transposeB = false }) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; ++i) {
    for (let j = 0; j < n; ++j) {
      let sum = 0;
      for (let p = 0; p < k; ++p) {
        const aip = transposeA ? a[p * m + i] : a[i * k + p];
        const bpj = transposeB ? b[j * k + p] : b[p * n + j];
        sum += aip * bpj;
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

function relativeError(got, want) {
  let maxDiff = 0;
  let maxRef = 1;
  for (let i = 0; i < want.length; ++i) {
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  return maxDiff / maxRef;
}

test('version matches package.json', async () => {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(kx.version, pkg.version);
});

test('init() returns the same instance', async () => {
  assert.equal(await init(), kx);
});

test('a known 2×3 · 3×2 product', () => {
  const c = kx.matmul(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8, 9, 10, 11, 12]),
    { m: 2, k: 3, n: 2 });
  assert.ok(c instanceof Float32Array);
  assert.deepEqual(Array.from(c), [58, 64, 139, 154]);
});

test('matches a float64 reference on edge sizes, all four transpose combinations', () => {
  // 1, tile−1, tile, tile+1 around the 4×8 WASM register tile, odd primes, and sizes that cross
  // the 256-deep and 64-row cache blocks.
  const shapes = [[1, 1, 1], [3, 7, 7], [4, 8, 8], [5, 9, 9], [13, 31, 17], [65, 257, 33], [100, 300, 129]];
  for (const [m, k, n] of shapes) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const options = { m, k, n, transposeA, transposeB };
        const a = randomFloats(m * k, m * 1000 + k);
        const b = randomFloats(k * n, n * 1000 + k + 7);
        const err = relativeError(kx.matmul(a, b, options), referenceMatmul(a, b, options));
        assert.ok(err <= 1e-5, `relative error ${err} for ${JSON.stringify(options)}`);
      }
    }
  }
});

test('outputs are fresh arrays, not views into the WASM heap', () => {
  const a = new Float32Array([2]);
  const first = kx.matmul(a, new Float32Array([3]), { m: 1, k: 1, n: 1 });
  const second = kx.matmul(a, new Float32Array([5]), { m: 1, k: 1, n: 1 });
  assert.equal(first[0], 6);
  assert.equal(second[0], 10);
  assert.notEqual(first.buffer, second.buffer);
  assert.equal(first.buffer.byteLength, 4);
});

test('each class of bad input gets a TypeError/RangeError naming the parameter', () => {
  const a = new Float32Array(6);
  const b = new Float32Array(6);
  const ok = { m: 2, k: 3, n: 2 };
  const cases = [
    // [description, call, error class, message pattern]
    ['missing options', () => kx.matmul(a, b), TypeError, /options \{ m, k, n \} are required/],
    ['options not an object', () => kx.matmul(a, b, 5), TypeError, /options must be an object, received 5/],
    ['a not a Float32Array', () => kx.matmul([1, 2, 3, 4, 5, 6], b, ok), TypeError, /a must be a Float32Array, received Array\(6\)/],
    ['b a Float64Array', () => kx.matmul(a, new Float64Array(6), ok), TypeError, /b must be a Float32Array, received Float64Array\(6\)/],
    ['a wrong length', () => kx.matmul(new Float32Array(5), b, ok), RangeError, /a must have length m\*k = 6 for shape \[2, 3\], received length 5/],
    ['b wrong length for transposeB', () => kx.matmul(a, new Float32Array(7), { ...ok, transposeB: true }), RangeError, /b must have length n\*k = 6 for shape \[2, 3\], received length 7/],
    ['m zero', () => kx.matmul(a, b, { ...ok, m: 0 }), RangeError, /m must be a positive integer, received 0/],
    ['k negative', () => kx.matmul(a, b, { ...ok, k: -3 }), RangeError, /k must be a positive integer, received -3/],
    ['n non-integer', () => kx.matmul(a, b, { ...ok, n: 2.5 }), RangeError, /n must be a positive integer, received 2.5/],
    ['n NaN', () => kx.matmul(a, b, { ...ok, n: NaN }), RangeError, /n must be a positive integer, received NaN/],
    ['m a string', () => kx.matmul(a, b, { ...ok, m: '2' }), TypeError, /m must be a positive integer, received "2"/],
    ['m missing', () => kx.matmul(a, b, { k: 3, n: 2 }), TypeError, /m must be a positive integer, received undefined/],
    ['an unknown option, with the nearest name', () => kx.matmul(a, b, { ...ok, tranposeB: true }), TypeError, /unknown option 'tranposeB' \(did you mean 'transposeB'\?\)/],
    ['an unknown option far from every name', () => kx.matmul(a, b, { ...ok, threads: 2 }), TypeError, /unknown option 'threads' \(known options: m, k, n, transposeA, transposeB\)/],
    ['m Infinity', () => kx.matmul(a, b, { ...ok, m: Infinity }), RangeError, /m must be a positive integer, received Infinity/],
    ['transposeA not boolean', () => kx.matmul(a, b, { ...ok, transposeA: 1 }), TypeError, /transposeA must be a boolean, received 1/],
    ['product overflows 32-bit memory', () => kx.matmul(a, b, { m: 65536, k: 65536, n: 2 }), RangeError, /a of shape m=65536 × k=65536 needs 4294967296 floats .* more than the 2 GiB WASM heap/],
    ['result overflows memory', () => kx.matmul(new Float32Array(40000), new Float32Array(40000), { m: 40000, k: 1, n: 40000 }), RangeError, /the result of shape m=40000 × n=40000 needs 1600000000 floats/],
  ];
  for (const [description, call, ErrorClass, pattern] of cases) {
    assert.throws(call, (error) => {
      assert.ok(error instanceof ErrorClass, `${description}: expected ${ErrorClass.name}, got ${error?.constructor?.name}: ${error?.message}`);
      assert.match(error.message, /^matmul: /, description);
      assert.match(error.message, pattern, description);
      return true;
    }, description);
    // The module stays usable after every error.
    assert.deepEqual(Array.from(kx.matmul(new Float32Array([1, 2]), new Float32Array([3, 4]), { m: 1, k: 2, n: 1 })), [11]);
  }
});

test('10,000 calls do not grow the WASM heap', () => {
  const a = randomFloats(64 * 32, 1);
  const b = randomFloats(32 * 48, 2);
  const options = { m: 64, k: 32, n: 48 };
  for (let i = 0; i < 100; ++i) kx.matmul(a, b, options);
  const before = kx.wasmHeapBytes;
  for (let i = 0; i < 10_000; ++i) kx.matmul(a, b, options);
  assert.equal(kx.wasmHeapBytes, before);
});

test('a request larger than free WASM memory is a RangeError, and the module stays usable', () => {
  // a (800 MB) and the result (1.6 GB) each pass the per-buffer check but cannot both fit in the
  // 2 GiB heap, so the allocation of the result fails.
  const m = 200_000_000;
  const a = new Float32Array(m);
  assert.throws(() => kx.matmul(a, new Float32Array(2), { m, k: 1, n: 2 }),
    (error) => error instanceof RangeError && /out of WASM memory allocating the result/.test(error.message));
  assert.deepEqual(Array.from(kx.matmul(new Float32Array([2]), new Float32Array([4]), { m: 1, k: 1, n: 1 })), [8]);
});

test('init validates its options', async () => {
  await assert.rejects(init(5), (e) => e instanceof TypeError && /init: options must be an object, received 5/.test(e.message));
  await assert.rejects(init({ threads: 0 }), (e) => e instanceof RangeError && /init: threads must be 'auto' or a positive integer, received 0/.test(e.message));
  await assert.rejects(init({ threads: 'many' }), (e) => e instanceof TypeError && /init: threads must be 'auto' or a positive integer, received "many"/.test(e.message));
});

test('the single-threaded and the multithreaded modules agree with the reference', async () => {
  const single = await init({ threads: 1 });
  const multi = await init({ threads: 2 });
  assert.equal(single.threads, 1);
  assert.equal(multi.threads, 2);
  // Large enough to take the threaded path (≥ 2^20 multiply-adds), both strip directions.
  for (const options of [{ m: 210, k: 97, n: 130 }, { m: 37, k: 129, n: 523, transposeA: true }]) {
    const a = randomFloats(options.m * options.k, 5);
    const b = randomFloats(options.k * options.n, 6);
    const want = referenceMatmul(a, b, options);
    assert.ok(relativeError(single.matmul(a, b, options), want) <= 1e-5);
    assert.ok(relativeError(multi.matmul(a, b, options), want) <= 1e-5);
  }
});
