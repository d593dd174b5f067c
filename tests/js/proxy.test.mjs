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

// Gaps between the ticks of a 10 ms interval while `work` runs.
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
    gaps.push(performance.now() - last);  // the gap still open when the work ended counts too
    return { result, gaps };
  } finally {
    clearInterval(timer);
  }
}

// The criterion as written: a timer keeps firing at ≤ 50 ms gaps, every gap, for the
// whole call. A shared CI machine can deschedule any thread for longer than that, so a run is
// repeated (up to `attempts` times, each the whole call) until one has no gap over 50 ms; a call
// that computed on this thread would block it for its whole duration (~1 s and more here) in
// every attempt. The message lists each attempt's worst gap.
async function assertResponsive(run, { attempts = 3, prepare = () => undefined } = {}) {
  const worst = [];
  let result;
  for (let attempt = 0; attempt < attempts; ++attempt) {
    const input = prepare();  // outside the measured time: it computes on this thread
    const measured = await timerGaps(() => run(input));
    result = measured.result;
    assert.ok(measured.gaps.length > 1, 'the timer never fired');
    worst.push(Math.max(...measured.gaps));
    if (worst[worst.length - 1] <= 50) return result;
  }
  assert.fail(`timer gaps over 50 ms in every attempt: worst gaps ${worst.map((g) => g.toFixed(1)).join(', ')} ms`);
  return result;
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
    let q;
    const result = await assertResponsive(([qq, k, v]) => kx.attention(qq, k, v, { seqQ, heads, dim, causal: true }), {
      prepare: () => [q = data(n, 5), data(n, 6), data(n, 7)],  // transferred: fresh inputs for each attempt
    });
    assert.equal(result.length, n);
    assert.ok(result.every(Number.isFinite));
    assert.equal(q.length, 0, 'transferred (detached) input');
  } finally {
    await kx.dispose();
  }
});

test('GanTrainer.step(n) in the proxy: progress, abort within one step, state consistent', { timeout: 180_000 }, async () => {
  const kx = await init({ proxy: true, backend: 'wasm', threads: 1 });
  try {
    const trainer = await new kx.GanTrainer(GAN);
    // The main thread stays responsive through a 60-step GAN run (progress asked, no abort).
    const before = trainer.steps;
    await assertResponsive(() => trainer.step(60, { onProgress: () => {} }));
    assert.ok(trainer.steps - before >= 60 && (trainer.steps - before) % 60 === 0);
    const afterRuns = trainer.steps;
    const progress = [];
    const stamps = [];
    const controller = new AbortController();
    const result = await trainer.step(1_000_000, {
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p.done);
        stamps.push(performance.now());
        if (p.done >= 5 && !controller.signal.aborted) controller.abort();
      },
    }).then(() => 'finished', (error) => error);
    assert.equal(result.name, 'AbortError');
    assert.match(result.message, /^GanTrainer\.step: aborted \(\d+ of 1000000 done\)$/);
    // abort() ran after step `atAbort`, while the worker computed the next one: it stops there
    // (one more is tolerated for a busy machine delaying the progress message).
    const atAbort = afterRuns + progress.find((done) => done >= 5);
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

test('every long call takes { onProgress, signal } in the proxy: fits, statistics, diffusion training and sampling', { timeout: 180_000 }, async () => {
  const kx = await init({ proxy: true, backend: 'wasm', threads: 1 });
  const local = await init({ backend: 'wasm', threads: 1 });
  try {
    // Whitening.fit: progress in rows; the model equals the local one to float64 rounding.
    const rows = 20000, dim = 64;
    const x = data(rows * dim, 11);
    const seen = [];
    const w = await kx.Whitening.fit(x, { rows, dim, k: 8, onProgress: (p) => seen.push(p) });
    assert.ok(seen.length >= 1 && seen[seen.length - 1].done === rows && seen.every((p) => p.total === rows));
    const lw = local.Whitening.fit(x, { rows, dim, k: 8 });
    w.eigenvalues.forEach((e, i) => assert.ok(Math.abs(e - lw.eigenvalues[i]) <= 1e-9 * Math.abs(lw.eigenvalues[i])));
    lw.dispose();
    await w.dispose();
    // Aborted fits and adds leave nothing behind (13 steps of 2^20 floats: the abort, sent at the
    // first progress report, reaches the worker long before the last step).
    const bigRows = 400000, bigDim = 32;
    const big = data(bigRows * bigDim, 12);
    const controller = new AbortController();
    const stopEarly = (c) => (p) => { if (p.done < p.total) c.abort(); };
    await assert.rejects(kx.Whitening.fit(big, { rows: bigRows, dim: bigDim, signal: controller.signal, onProgress: stopEarly(controller) }),
      { name: 'AbortError', message: /^Whitening\.fit: aborted \(\d+ of 400000 done\)$/ });
    const stats = await new kx.WhiteningStats(bigDim);
    const second = new AbortController();
    await assert.rejects(stats.add(big, bigRows, { signal: second.signal, onProgress: stopEarly(second) }), { name: 'AbortError' });
    assert.equal(stats.count, 0);
    await stats.add(x.subarray(0, 100 * bigDim), 100, { onProgress: () => {} });
    assert.equal(stats.count, 100);
    await stats.dispose();

    // DiffusionTrainer: step(n) and sample/evaluate stepped, equal to the local trainer.
    const options = { hidden: [16, 16], batch: 32, seed: 2 };
    const trainer = await new kx.DiffusionTrainer(options);
    const reference = new local.DiffusionTrainer(options);
    const steps = [];
    const trained = await trainer.step(20, { onProgress: (p) => steps.push(p.done) });
    assert.deepEqual(trained, reference.step(20));
    assert.equal(steps[steps.length - 1], 20);
    const timesteps = [];
    const samples = await trainer.sample(50, { sampler: 'ddim', steps: 20, seed: 3, onProgress: (p) => timesteps.push(p) });
    assert.deepEqual(samples, reference.sample(50, { sampler: 'ddim', steps: 20, seed: 3 }));
    assert.deepEqual(timesteps[timesteps.length - 1], { done: 20, total: 20 });
    assert.deepEqual(await trainer.evaluate(200, { sampler: 'ddim', steps: 10, signal: new AbortController().signal }),
      reference.evaluate(200, { sampler: 'ddim', steps: 10 }));
    // 1000 timesteps over 4000 rows (~1 ms each): the abort, at the first report (~50 ms in),
    // reaches the worker long before the last step.
    const stop = new AbortController();
    await assert.rejects(kx.diffusion.ddpmSample(trainer, { rows: 4000, signal: stop.signal, onProgress: stopEarly(stop) }),
      { name: 'AbortError', message: /^diffusion\.ddpmSample: aborted \(\d+ of 1000 done\)$/ });
    // After an abort the trainer samples as before.
    assert.deepEqual(await trainer.sample(5, { seed: 1, sampler: 'ddim', steps: 5 }), reference.sample(5, { seed: 1, sampler: 'ddim', steps: 5 }));
    const halt = new AbortController();
    await assert.rejects(trainer.step(100000, { signal: halt.signal, onProgress: stopEarly(halt) }), { name: 'AbortError' });
    assert.ok(trainer.steps > 20 && trainer.steps < 100020);
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
