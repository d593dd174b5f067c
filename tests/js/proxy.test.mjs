// init({ proxy: true }): kexue in a dedicated worker (here Node's worker_threads; the browser is
// covered by tests/js/bundlers.test.mjs). The same API with every call a Promise, handles for
// stateful objects, errors unchanged, the calling thread free during long calls, GanTrainer.step
// with progress and cancellation, and a process that exits by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { init } from '../../bindings/js/index.js';

const INDEX = new URL('../../bindings/js/index.js', import.meta.url).href;
// About 20 ms a step on one thread of a 2-core CI machine: long enough that an abort sent after a
// progress report reaches the worker within the next step.
const GAN = { dataset: 'ring8', preset: 'toy', batch: 256, nCritic: 5, critic: { hidden: [64, 64] }, generator: { hidden: [64, 64] }, seed: 3 };
const SMALL_GAN = { dataset: 'ring8', preset: 'toy', batch: 32, nCritic: 1, critic: { hidden: [16] }, generator: { hidden: [16] }, seed: 3 };

function data(n, seed) {
  let s = seed;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 2147483648 - 0.5; }
  return a;
}

// Gaps between the ticks of a 10 ms interval while `work` runs. The calling thread counts as
// responsive when 95 % of the gaps are at most 50 ms and none exceeds 250 ms: CI machines are
// shared, and a call computing on this thread would stop the timer for its whole duration.
async function timerGaps(work) {
  let last = performance.now();
  const gaps = [];
  const timer = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 10);
  try {
    const result = await work();
    return { result, gaps };
  } finally {
    clearInterval(timer);
  }
}

function assertResponsive(gaps) {
  assert.ok(gaps.length > 0, 'the timer never fired');
  const sorted = [...gaps].sort((a, b) => a - b);
  const p95 = sorted[Math.floor(0.95 * (sorted.length - 1))];
  const worst = sorted[sorted.length - 1];
  assert.ok(p95 <= 50 && worst <= 250, `timer gaps: 95th percentile ${p95.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`);
}

test('the proxied instance: same results, handles, getters, errors, dispose', { timeout: 120_000 }, async () => {
  const local = await init({ backend: 'wasm' });
  const kx = await init({ proxy: true, backend: 'wasm' });
  try {
    assert.equal(kx.version, local.version);
    assert.equal(kx.threads, local.threads);
    assert.equal(kx.backend, 'wasm');
    const a = data(6, 1);
    const b = data(6, 2);
    assert.deepEqual(await kx.matmul(a, b, { m: 2, k: 3, n: 2 }), local.matmul(a, b, { m: 2, k: 3, n: 2 }));
    const q = data(4 * 2 * 8, 3);
    const options = { seqQ: 4, heads: 2, dim: 8, causal: true, rope: { layout: 'half' } };
    assert.deepEqual(await kx.attention(q, q, q, options), await local.attention(q, q, q, options));
    assert.deepEqual(await kx.rope(q, { seq: 4, heads: 2, dim: 8 }), local.rope(q, { seq: 4, heads: 2, dim: 8 }));

    const x = data(40 * 4, 4);
    const w = await kx.Whitening.fit(x, { rows: 40, dim: 4, k: 2 });
    const lw = local.Whitening.fit(x, { rows: 40, dim: 4, k: 2 });
    assert.equal(w.dim, 4);
    assert.equal(w.k, 2);
    assert.deepEqual(w.eigenvalues, lw.eigenvalues);
    assert.deepEqual(await w.transform(x, { rows: 40 }), lw.transform(x, { rows: 40 }));
    const saved = await w.toJSON();
    assert.deepEqual(saved, lw.toJSON());
    const again = await kx.Whitening.fromJSON(saved);
    assert.equal(again.k, 2);

    const stats = await new kx.WhiteningStats(4);
    await stats.add(x, 40);
    assert.equal(stats.count, 40);
    const other = await new kx.WhiteningStats(4);
    await other.add(x, 40);
    await stats.merge(other); // a handle as an argument
    assert.equal(stats.count, 80);
    const model = await stats.finalize({ beta: 0, gamma: 0 });
    assert.equal(model.dim, 4);

    // Errors keep their class and message; the worker keeps serving.
    await assert.rejects(kx.matmul(a, b, { m: 2, k: 3, n: 2, casual: true }), { name: 'TypeError', message: /matmul: unknown option 'casual'/ });
    await assert.rejects(kx.Whitening.fit(x, { rows: 40, dim: 4, k: 9 }), { name: 'RangeError', message: /^Whitening\.fit: k/ });
    assert.throws(() => kx.GanTrainer(SMALL_GAN), TypeError);

    for (const handle of [w, again, stats, other, model]) await handle.dispose();
    assert.equal(w.disposed, true);
    await assert.rejects(w.transform(x, { rows: 40 }), /disposed/);
    lw.dispose();
  } finally {
    await kx.dispose();
  }
  await assert.rejects(kx.matmul(new Float32Array(1), new Float32Array(1), { m: 1, k: 1, n: 1 }), /ended by dispose/);
  await assert.rejects(init({ proxy: 'yes' }), { name: 'TypeError', message: /init: proxy must be a boolean or \{ transfer \}/ });
  await assert.rejects(init({ proxy: true, locateFile: () => 'x' }), { name: 'TypeError', message: /init: locateFile cannot be used with proxy/ });
});

test('the calling thread stays responsive during a 4096-token attention; transfer moves inputs', { timeout: 180_000 }, async () => {
  const kx = await init({ proxy: { transfer: true }, backend: 'wasm' });
  try {
    const seqQ = 4096, heads = 8, dim = 64, n = seqQ * heads * dim;
    const q = data(n, 5);
    const k = data(n, 6);
    const v = data(n, 7);
    const { result, gaps } = await timerGaps(() => kx.attention(q, k, v, { seqQ, heads, dim, causal: true }));
    assert.equal(result.length, n);
    assert.ok(result.every(Number.isFinite));
    assert.equal(q.length, 0, 'transferred (detached) input');
    assertResponsive(gaps);
  } finally {
    await kx.dispose();
  }
});

test('GanTrainer.step(n) in the proxy: progress, abort within one step, state consistent', { timeout: 180_000 }, async () => {
  const kx = await init({ proxy: true, backend: 'wasm', threads: 1 });
  try {
    const trainer = await new kx.GanTrainer(GAN);
    const progress = [];
    const stamps = [];
    const controller = new AbortController();
    const { result, gaps } = await timerGaps(() => trainer.step(1_000_000, {
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p.done);
        stamps.push(performance.now());
        if (p.done >= 5 && !controller.signal.aborted) controller.abort();
      },
    }).then(() => 'finished', (error) => error));
    assertResponsive(gaps);
    assert.equal(result.name, 'AbortError');
    // abort() ran after step `atAbort`, while the worker computed the next one: it stops there
    // (one more is tolerated for a busy machine delaying the progress message).
    const atAbort = progress.find((done) => done >= 5);
    assert.ok(trainer.steps >= atAbort && trainer.steps <= atAbort + 2, `steps ${trainer.steps}, abort at ${atAbort}`);
    const progressGaps = stamps.slice(1).map((t, i) => t - stamps[i]);
    assert.ok(Math.max(...progressGaps) <= 150, `progress gaps up to ${Math.max(...progressGaps).toFixed(0)} ms`);
    // Still usable, and equal to a local trainer run for the same number of steps.
    const steps = trainer.steps;
    const local = await init({ backend: 'wasm', threads: 1 });
    const reference = new local.GanTrainer(GAN);
    reference.step(steps);
    assert.deepEqual(trainer.generatorParameters, reference.generatorParameters);
    const last = await trainer.step(3, { onProgress: () => {} });
    assert.deepEqual(last, reference.step(3));
    assert.equal(trainer.steps, steps + 3);
    // An already aborted signal: nothing runs.
    await assert.rejects(trainer.step(5, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(trainer.steps, steps + 3);
    reference.dispose();
    await trainer.dispose();
  } finally {
    await kx.dispose();
  }
});

test('a Node script using the proxy exits by itself', { timeout: 60_000 }, () => {
  const out = spawnSync(process.execPath, ['--input-type=module', '--eval',
    `import { init } from ${JSON.stringify(INDEX)};
     const kx = await init({ proxy: true, backend: 'wasm' });
     console.log((await kx.matmul(new Float32Array([2]), new Float32Array([3]), { m: 1, k: 1, n: 1 }))[0]);`],
  { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout, '6\n');
});
