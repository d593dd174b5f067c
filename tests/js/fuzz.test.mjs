// A seeded fuzz of every public entry point with bad and extreme inputs (issue 18): wrong types
// and lengths, sizes near and past 2³¹, sparse arrays, typed-array subclasses and Proxies whose
// length lies, NaN / denormal / huge values, objects disposed mid-call, and thousands of refused
// calls in a row, on the single- and the multi-threaded module. Each case must end in a named
// TypeError/RangeError (its message starts with the function's name) or a result, never an abort
// (the dead-instance error), a hang, a NaN from moderate finite input, or heap growth.
//
// CI size (in `npm test`): KEXUE_FUZZ_CASES (default 3,000) cases per module. The long run:
// `npm run fuzz` (node tests/js/fuzz.test.mjs --long: 100,000 cases per module), or set
// KEXUE_FUZZ_CASES / KEXUE_FUZZ_SEED. A failure prints the seed and case number to replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init } from 'kexue';
import { mulberry32 } from '../helpers/random.js';

const LONG = process.argv.includes('--long');
const CASES = Number(process.env.KEXUE_FUZZ_CASES ?? (LONG ? 100000 : 3000));
const SEED = Number(process.env.KEXUE_FUZZ_SEED ?? 20260618);

// --- the generator -------------------------------------------------------------------------------

function makeRandom(seed) {
  const next = mulberry32(seed);
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
  };
  return r;
}

// Sizes: mostly small and legal, sometimes at or past the limits, sometimes not a size at all.
const EXTREME_SIZES = [0, -1, -0, 1.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 65536,
  1 << 20, '4', null, {}, [], true, 4n];
function size(r, legal = [1, 2, 3, 4, 5, 8]) {
  return r.chance(0.8) ? r.pick(legal) : r.pick(EXTREME_SIZES);
}

class LyingLong extends Float32Array {
  get length() { return super.length + 1024; }
}
class LyingShort extends Float32Array {
  get length() { return 1; }
}

// Values: moderate (so that a NaN in the result is a bug), or extreme (denormal, huge, NaN).
function values(r, n, extreme) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    out[i] = extreme && r.chance(0.2)
      ? r.pick([NaN, Infinity, -Infinity, 1e-40, -1e-45, 3e38, -3e38, 0, -0])
      : (r.next() * 2 - 1) * 4;
  }
  return out;
}

// An array argument meant to hold `n` floats: usually right, sometimes wrong in one way.
function array(r, n, state) {
  const count = Number.isSafeInteger(n) && n > 0 && n < 1 << 16 ? n : 4;
  const kind = r.int(14);
  if (kind < 9) {
    const extreme = r.chance(0.15);
    if (extreme) state.extreme = true;
    return values(r, count, extreme);
  }
  state.extreme = true;
  switch (kind) {
    case 9: return values(r, count + r.pick([-1, 1, 7]), false);
    case 10: { const a = new LyingLong(count); a.set(values(r, count, false)); return a; }
    case 11: return new LyingShort(count);
    case 12: return new Proxy(values(r, count, false), { get: (t, p) => (p === 'length' ? count * 4 : Reflect.get(t, p)) });
    default: return r.pick([new Float64Array(count), Array.from({ length: count }, () => 1), null, undefined, 'x',
      new Float32Array(values(r, count + 2, false).buffer, 4, count), new Float32Array(0)]);
  }
}

// A size list, sometimes sparse or holding a non-size.
function sizeList(r, length) {
  const list = Array.from({ length }, () => size(r));
  if (r.chance(0.1)) delete list[r.int(length)];
  return list;
}

// Products of sizes in the harness itself: a non-number size (a string, a BigInt) is passed on
// to the library as it is, and the arrays then get a placeholder length.
const mul = (...xs) => (xs.every((x) => typeof x === 'number') ? xs.reduce((a, b) => a * b, 1) : 4);

// --- the entry points ----------------------------------------------------------------------------

// Each returns [name, () => result]; the state records whether the inputs were extreme.
function cases(kx, r, state) {
  return [
    () => {
      const m = size(r), k = size(r), n = size(r);
      return ['matmul', () => kx.matmul(array(r, mul(m, k), state), array(r, mul(k, n), state),
        r.chance(0.05) ? r.pick([undefined, null, { m, k, n, casual: 1 }]) : { m, k, n, transposeA: r.chance(0.2) })];
    },
    () => ['Mlp', () => {
      const sizes = r.chance(0.9) ? [size(r), size(r), 1] : sizeList(r, r.int(5));
      const mlp = new kx.Mlp({ sizes, activation: r.pick(['relu', 'tanh', 'relu', 'sigmoid?']) });
      try {
        const rows = size(r);
        const x = array(r, mul(rows, sizes[0]), state);
        let options = { rows };
        if (r.chance(0.1)) { state.extreme = true; options = { get rows() { mlp.dispose(); return rows; } }; }
        return r.chance(0.5) ? mlp.forward(x, options) : mlp.inputGradient(x, options);
      } finally {
        mlp.dispose();
      }
    }],
    () => ['gan', () => {
      const critic = new kx.Mlp({ sizes: [2, r.pick([3, 4]), 1] });
      try {
        const rows = size(r);
        const which = r.int(3);
        if (which === 0) return kx.gan.generatorLoss(critic, array(r, mul(rows, 2), state), { rows });
        if (which === 1) {
          return kx.gan.criticLoss(critic, { rows, real: array(r, mul(rows, 2), state), fake: array(r, mul(rows, 2), state),
            interpolation: r.chance(0.5) ? undefined : array(r, rows, state), lambda: r.pick([10, 0, -1, NaN]) });
        }
        return kx.gan.normalizedCritic(critic, array(r, mul(rows, 2), state), { rows, variant: r.pick(['gn', 'gran']), eps: r.pick([0.1, 0, undefined]) });
      } finally {
        critic.dispose();
      }
    }],
    () => ['gan.sampleDataset', () => kx.gan.sampleDataset(r.pick(['ring8', 'grid25', 'swissroll', 'moons']), size(r, [1, 10, 100]))],
    () => ['GanTrainer', () => {
      const hidden = r.chance(0.9) ? [r.pick([4, 8])] : sizeList(r, 2);
      const trainerOptions = { preset: 'toy', batch: size(r, [4, 8]), critic: { hidden }, generator: { hidden: [4] },
        lr: r.pick([1e-3, 1e-3, 0, 1e30, -1]) };
      const trainer = new kx.GanTrainer(trainerOptions);
      state.note = trainerOptions;
      try {
        const which = r.int(3);
        if (which === 0) return trainer.step(r.pick([1, 2, 0, -1, 1.5, undefined]));
        if (which === 1) return trainer.sample(size(r, [1, 5, 100]));
        return trainer.evaluate(size(r, [10, 50]));
      } finally {
        trainer.dispose();
      }
    }],
    () => ['Whitening', () => {
      const rows = size(r, [3, 4, 8]), dim = size(r, [2, 3]);
      const w = kx.Whitening.fit(array(r, mul(rows, dim), state), { rows, dim, k: r.chance(0.8) ? undefined : size(r), ddof: r.pick([0, 1, 2, '1']) });
      try {
        const n = size(r);
        return w.transform(array(r, mul(n, dim), state), { rows: n, normalize: r.chance(0.5) });
      } finally {
        w.dispose();
      }
    }],
    () => ['WhiteningStats', () => {
      const stats = new kx.WhiteningStats(size(r, [2, 3, 4]));
      try {
        const rows = size(r);
        stats.add(array(r, mul(rows, stats.dim), state), rows);
        return stats.count;
      } finally {
        stats.dispose();
      }
    }],
    () => ['LowRankOptimizer', () => {
      const rows = size(r, [4, 8]), cols = size(r, [4, 8]);
      const opt = new kx.LowRankOptimizer({ rows, cols, rank: size(r, [1, 2]), lr: r.pick([0.01, 0, 1e30, -1]),
        mode: r.pick(['lora', 'galore', 'full', 'nope']), eps: r.pick([undefined, 1e-8, 0]), weight: array(r, mul(rows, cols), state) });
      try {
        return opt.step(array(r, mul(rows, cols), state));
      } finally {
        opt.dispose();
      }
    }],
    () => {
      const n = size(r, [2, 5, 16]);
      const grads = Array.from({ length: r.pick([1, 2, 3]) }, () => array(r, n, state));
      return ['multitask/clip', () => r.pick([
        () => kx.multitask.normalizedSum(grads),
        () => kx.multitask.mgda(grads),
        () => kx.clipGradients(grads, { maxNorm: r.pick([1, 0, -1, NaN]) }),
      ])()];
    },
    () => {
      const rows = size(r), cols = size(r);
      return ['logsumexp/losses', () => r.pick([
        () => kx.logsumexp(array(r, mul(rows, cols), state), { rows, cols }),
        () => kx.losses.zlpr(array(r, mul(rows, cols), state), array(r, mul(rows, cols), state), { rows, classes: cols }),
        () => kx.losses.infoNCE(array(r, mul(rows, cols), state), { rows, cols }),
        () => kx.losses.globalPointerKL(array(r, mul(rows, cols), state), array(r, mul(rows, cols), state), { rows, classes: cols }),
      ])()];
    },
    () => {
      const seq = size(r), dim = r.pick([2, 4, 8, 3]);
      return ['rope', () => (r.chance(0.5)
        ? kx.rope(array(r, mul(seq, dim), state), { seq, dim })
        : kx.rope2d(array(r, mul(seq, dim), state), { height: seq, width: 1, dim }))];
    },
    () => {
      const seqQ = size(r), seqK = size(r), dim = size(r, [1, 2, 4]);
      return ['attention', () => kx.attention(array(r, mul(seqQ, dim), state), array(r, mul(seqK, dim), state),
        array(r, mul(seqK, dim), state), { heads: 1, seqQ, seqK, dim })];
    },
    // float16 tensors, layouts and output types, forward and backward (issue 13's attention I/O).
    () => {
      const seqQ = size(r), seqK = size(r), heads = r.pick([1, 2]), dim = size(r, [1, 2, 4]);
      const half = (n) => halfArray(r, n, state);
      const tensor = (n) => (r.chance(0.8) ? half(n) : array(r, n, state));
      const options = { seqQ, seqK, heads, dim, layout: r.pick(['bshd', 'bhsd', 'bhsd', 'sbhd']),
        outputType: r.pick([undefined, null, 'float32', 'float16', 'float64']), causal: r.chance(0.3) && seqQ <= seqK };
      const q = tensor(mul(seqQ, heads, dim)), k = tensor(mul(seqK, heads, dim)), v = tensor(mul(seqK, heads, dim));
      if (r.chance(0.5)) return ['attention float16', () => kx.attention(q, k, v, options)];
      const dOut = options.outputType === 'float32' || (!(q instanceof Uint16Array) && options.outputType !== 'float16')
        ? array(r, mul(seqQ, heads, dim), state) : half(mul(seqQ, heads, dim));
      return ['attentionBackward float16', () => kx.attentionBackward(q, k, v, dOut, options)];
    },
    // The transformer's block, normalisation, talking heads and separate targets (issue 15), and ladder side-tuning.
    () => ['Transformer', () => {
      const block = r.pick(['transformer', 'gau', 'gau', 'lstm']);
      const vocab = r.pick([8, 8, 1, 2 ** 31]);
      const options = { vocab, dModel: r.pick([8, 8, 6, 0]), layers: r.pick([1, 2]), heads: block === 'gau' ? r.pick([1, 1, 2]) : 2,
        block, maxSeq: 16, attention: { normalize: r.pick(['softmax', 'relu2', 'l2', 'softmax2']),
          talkingHeads: r.pick([undefined, false, true, true, 1]) }, seed: r.int(100) };
      state.note = options;
      const t = new kx.Transformer(options);
      try {
        const seq = size(r, [1, 2, 4, 8]);
        const rows = r.pick([1, 2]);
        const tokens = Int32Array.from({ length: Number.isSafeInteger(mul(rows, seq)) && mul(rows, seq) < 4096 ? mul(rows, seq) : 4 },
          () => (r.chance(0.95) ? r.int(8) : r.pick([-1, 8, 2 ** 31 - 1])));
        const targets = r.chance(0.5) ? undefined : Int32Array.from({ length: r.chance(0.9) ? tokens.length : tokens.length + 1 },
          () => (r.chance(0.9) ? r.int(8) : r.pick([-1, -2, 8])));
        // Ladder side-tuning over the model: reductions that divide dModel or not, side heads.
        if (r.chance(0.3)) {
          t.finetune({ method: 'ladder', reduction: r.pick([1, 2, 4, 3, 0, -1]), ...(r.chance(0.3) ? { sideHeads: r.pick([1, 2, 3]) } : {}) });
        }
        const which = r.int(2);
        if (which === 0) return t.trainStep(tokens, { batch: rows, seq, targets });
        return t.evaluate(tokens, { seq, targets });
      } finally {
        t.dispose();
      }
    }],
  ];
}

// float16 bits: moderate values (magnitudes 2^-4 … 2^3), or with a small chance NaN, ±Infinity,
// subnormals and the largest finite; sometimes a plain Array (refused as the wrong type).
function halfArray(r, n, state) {
  const count = Number.isSafeInteger(n) && n > 0 && n < 1 << 16 ? n : 4;
  if (r.chance(0.03)) {
    state.extreme = true;
    return Array.from({ length: count }, () => 1);
  }
  const extreme = r.chance(0.1);
  if (extreme) state.extreme = true;
  return Uint16Array.from({ length: count }, () => (extreme && r.chance(0.3)
    ? r.pick([0x7e00, 0x7c00, 0xfc00, 0x0001, 0x7bff, 0x8000])
    : ((r.chance(0.5) ? 0x8000 : 0) | ((11 + r.int(8)) << 10) | r.int(1024))));
}

// --- the properties ------------------------------------------------------------------------------

function finiteResult(value) {
  if (value === null || value === undefined || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return !Number.isNaN(value);
  // float16 results come as Uint16Array bits (Node has no Float16Array): NaN is exponent 31 with a
  // non-zero mantissa.
  if (value instanceof Uint16Array) return !value.some((h) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
  if (ArrayBuffer.isView(value)) return !Array.prototype.some.call(value, Number.isNaN);
  if (Array.isArray(value)) return value.every(finiteResult);
  // reverseKL is NaN by definition when no sample is of high quality (README, GanTrainer.evaluate).
  if (typeof value === 'object') return Object.entries(value).every(([key, v]) => key === 'reverseKL' || finiteResult(v));
  return true;
}

function assertHealthy(kx) {
  const c = kx.matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { m: 2, k: 2, n: 2 });
  assert.deepEqual([...c], [19, 22, 43, 50]);
}

async function fuzz(threads, caseCount, seed) {
  const kx = await init({ threads });
  const started = Date.now();
  const outcomes = { ok: 0, TypeError: 0, RangeError: 0 };
  for (let i = 0; i < caseCount; ++i) {
    const r = makeRandom(seed + i * 7919);
    const state = { extreme: false };
    const all = cases(kx, r, state);
    const make = all[i % all.length];
    let name = '?';
    try {
      const [caseName, run] = make();
      name = caseName;
      const result = await run();
      outcomes.ok += 1;
      if (!state.extreme && !finiteResult(result)) {
        assert.fail(`case ${i} (seed ${seed}, ${name}): NaN from moderate finite input${state.note ? ` (${JSON.stringify(state.note)})` : ''}: ${JSON.stringify(result, (k, v) => (ArrayBuffer.isView(v) ? Array.from(v) : v)).slice(0, 300)}`);
      }
    } catch (error) {
      if (error?.code === 'ERR_ASSERTION') throw error;
      const named = (error instanceof TypeError || error instanceof RangeError) && /^[\w.]+: /.test(error.message);
      if (!named) assert.fail(`case ${i} (seed ${seed}, ${name}): ${error?.name}: ${error?.message ?? error}`);
      outcomes[error.name] += 1;
    }
    if (i % 200 === 199) assertHealthy(kx);
  }
  assertHealthy(kx);
  return { outcomes, ms: Date.now() - started, kx };
}

for (const threads of [1, 2]) {
  test(`fuzz: ${CASES} cases on the ${threads === 1 ? 'single' : 'multi'}-threaded module (seed ${SEED})`, async () => {
    // Two warm-up rounds size the heap (the multi-threaded module's per-thread workspaces settle on
    // the second; measured: flat over 8 more rounds); a further round of the same cases must not grow it.
    const warm = Math.min(CASES, 300);
    const { kx } = await fuzz(threads, warm, SEED);
    await fuzz(threads, warm, SEED);
    const heapBefore = kx.wasmHeapBytes;
    const { outcomes, ms } = await fuzz(threads, warm, SEED);
    assert.equal(kx.wasmHeapBytes, heapBefore, 'the heap grew on a repeated round of the same cases');
    const rest = await fuzz(threads, CASES, SEED + 1);
    const total = { ok: outcomes.ok + rest.outcomes.ok, TypeError: outcomes.TypeError + rest.outcomes.TypeError,
      RangeError: outcomes.RangeError + rest.outcomes.RangeError };
    console.log(`fuzz threads=${threads}: ${CASES + warm} cases in ${((ms + rest.ms) / 1000).toFixed(1)} s ` +
      `(+ ${2 * warm} warm-up), outcomes ${JSON.stringify(total)}`);
    assert.ok(total.ok > 0 && total.TypeError > 0 && total.RangeError > 0);
  });
}

test('thousands of refused calls in a row leave the heap as it was', async () => {
  const kx = await init({ threads: 1 });
  const mlp = new kx.Mlp({ sizes: [2, 3, 1] });
  const refused = () => {
    assert.throws(() => kx.matmul(new Float32Array(3), new Float32Array(4), { m: 2, k: 2, n: 2 }), RangeError);
    assert.throws(() => mlp.forward(new Float32Array(2), { rows: 2 ** 31 }), RangeError);
    assert.throws(() => new kx.GanTrainer({ critic: { hidden: [30000, 30000] } }), RangeError);
    assert.throws(() => new kx.Mlp({ sizes: [2, 'x'] }), TypeError);
    assert.throws(() => kx.Whitening.fit(new Float32Array(4), { rows: 2, dim: 2, casual: 1 }), TypeError);
  };
  for (let i = 0; i < 200; ++i) refused();
  const heap = kx.wasmHeapBytes;
  for (let i = 0; i < 4000; ++i) refused();
  assert.equal(kx.wasmHeapBytes, heap);
  mlp.dispose();
  assertHealthy(kx);
});
