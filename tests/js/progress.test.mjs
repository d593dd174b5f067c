// Progress and cancellation of the long calls in the local API (issue 16; bindings/js/progress.js):
// { onProgress, signal } on GanTrainer.step, DiffusionTrainer.step/sample/evaluate, the samplers,
// Whitening.fit and WhiteningStats.add. Stepped runs give the same results as one call; an abort
// from onProgress (or before the call) stops before the next step and leaves the object usable and
// consistent; bad controls are named TypeErrors. (The worker-backed API drives the same steps with
// its event loop free between them: tests/js/proxy.test.mjs.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init({ threads: 1 });

function data(n, seed) {
  let s = seed;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 2147483648 - 0.5; }
  return a;
}

const GAN = { dataset: 'ring8', preset: 'toy', batch: 16, nCritic: 1, critic: { hidden: [8] }, generator: { hidden: [8] }, seed: 3 };

test('GanTrainer.step(n, { onProgress, signal }): the same run, progress, abort keeps the finished steps', () => {
  const a = new kx.GanTrainer(GAN);
  const b = new kx.GanTrainer(GAN);
  const reports = [];
  assert.deepEqual(a.step(30, { onProgress: (p) => reports.push(p) }), b.step(30));
  assert.deepEqual(a.generatorParameters, b.generatorParameters);
  assert.deepEqual(reports[reports.length - 1], { done: 30, total: 30 });
  assert.ok(reports.every((p, i) => p.total === 30 && (i === 0 || p.done > reports[i - 1].done)));
  // Abort from onProgress (reports come at most every 50 ms): it stops before the next step.
  const controller = new AbortController();
  const slow = new kx.GanTrainer({ ...GAN, batch: 512, critic: { hidden: [64, 64] } });
  const start = slow.steps;
  assert.throws(() => slow.step(100000, { signal: controller.signal, onProgress: () => controller.abort(new Error('enough')) }),
    (error) => error.name === 'AbortError' && /^GanTrainer\.step: aborted \(\d+ of 100000 done\)$/.test(error.message) &&
      error.cause?.message === 'enough');
  assert.ok(slow.steps > start && slow.steps < start + 100000);
  // Still usable.
  assert.equal(Number.isFinite(slow.step().criticLoss), true);
  // An already aborted signal runs nothing.
  const before = a.steps;
  assert.throws(() => a.step(5, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal(a.steps, before);
  for (const t of [a, b, slow]) t.dispose();
});

test('bad controls are named TypeErrors; unknown options of step are refused', () => {
  const t = new kx.GanTrainer(GAN);
  assert.throws(() => t.step(2, { onProgress: 5 }), { name: 'TypeError', message: /^GanTrainer\.step: onProgress must be a function, received 5$/ });
  assert.throws(() => t.step(2, { signal: {} }), { name: 'TypeError', message: /^GanTrainer\.step: signal must be an AbortSignal/ });
  assert.throws(() => t.step(2, { onProgres: () => {} }), { name: 'TypeError', message: /unknown option 'onProgres'/ });
  assert.throws(() => t.step(0, { onProgress: () => {} }), { name: 'RangeError', message: /count must be a positive integer/ });
  assert.throws(() => kx.Whitening.fit(new Float32Array(4), { rows: 2, dim: 2, signal: 'stop' }), { name: 'TypeError', message: /Whitening\.fit: signal must be an AbortSignal/ });
  assert.equal(t.steps, 0);
  t.dispose();
});

test('DiffusionTrainer: step, sample and evaluate stepped equal the plain calls; abort keeps it usable', () => {
  const options = { hidden: [16, 16], batch: 32, seed: 2 };
  const a = new kx.DiffusionTrainer(options);
  const b = new kx.DiffusionTrainer(options);
  const reports = [];
  assert.deepEqual(a.step(15, { onProgress: (p) => reports.push(p.done) }), b.step(15));
  assert.equal(reports[reports.length - 1], 15);
  const sampleOptions = { sampler: 'ddim', steps: 25, seed: 4 };
  const timesteps = [];
  assert.deepEqual(a.sample(40, { ...sampleOptions, onProgress: (p) => timesteps.push(p) }), b.sample(40, sampleOptions));
  assert.deepEqual(timesteps[timesteps.length - 1], { done: 25, total: 25 });
  assert.deepEqual(a.evaluate(300, { sampler: 'ddpm', seed: 1, onProgress: () => {} }), b.evaluate(300, { sampler: 'ddpm', seed: 1 }));
  assert.deepEqual(a.evaluate(undefined, { sampler: 'ddim', steps: 5, signal: new AbortController().signal }),
    b.evaluate(undefined, { sampler: 'ddim', steps: 5 }));
  // The samplers of kx.diffusion, with the trainer or a JS predictor.
  assert.deepEqual(kx.diffusion.ddimSample(a, { rows: 10, steps: 10, seed: 5, onProgress: () => {} }),
    kx.diffusion.ddimSample(b, { rows: 10, steps: 10, seed: 5 }));
  const zero = (x) => new Float32Array(x.length);
  const seen = [];
  assert.deepEqual(kx.diffusion.ddpmSample(zero, { rows: 3, seed: 7, beta: [0.1, 0.2, 0.3], onProgress: (p) => seen.push(p.done) }),
    kx.diffusion.ddpmSample(zero, { rows: 3, seed: 7, beta: [0.1, 0.2, 0.3] }));
  assert.equal(seen[seen.length - 1], 3);
  // Aborts: a sampling run mid-way, a training run mid-way.
  const stop = new AbortController();
  let calls = 0;
  assert.throws(() => kx.diffusion.ddpmSample((x) => { if (++calls === 10) stop.abort(); return zero(x); }, { rows: 3, signal: stop.signal }),
    { name: 'AbortError', message: /^diffusion\.ddpmSample: aborted \(10 of 1000 done\)$/ });
  const halt = new AbortController();
  const start = a.steps;
  let n = 0;
  assert.throws(() => a.step(100000, { signal: halt.signal, onProgress: () => { if (++n === 1) halt.abort(); } }), { name: 'AbortError' });
  assert.ok(a.steps > start && a.steps < start + 100000);
  assert.equal(a.sample(4, { sampler: 'ddim', steps: 3 }).length, 8);
  assert.throws(() => a.sample(0, { onProgress: () => {} }), { name: 'RangeError', message: /DiffusionTrainer\.sample: n must be a positive integer/ });
  a.dispose();
  b.dispose();
});

test('Whitening.fit and WhiteningStats.add stepped: the same model to float64 rounding; an abort adds nothing', () => {
  const rows = 70000, dim = 32;  // 3 steps of 2^20 floats
  const x = data(rows * dim, 9);
  const reports = [];
  const w = kx.Whitening.fit(x, { rows, dim, k: 4, onProgress: (p) => reports.push(p) });
  const plain = kx.Whitening.fit(x, { rows, dim, k: 4 });
  assert.deepEqual(reports[reports.length - 1], { done: rows, total: rows });
  w.eigenvalues.forEach((e, i) => assert.ok(Math.abs(e - plain.eigenvalues[i]) <= 1e-9 * Math.abs(plain.eigenvalues[i]), `${e} ${plain.eigenvalues[i]}`));
  assert.equal(w.count, rows);
  w.dispose();
  plain.dispose();

  const stats = new kx.WhiteningStats(dim);
  stats.add(x.subarray(0, 10 * dim), 10);
  const controller = new AbortController();
  // Aborted at the first report (mid-way, or after the last step but before the merge).
  assert.throws(() => stats.add(x, rows, { signal: controller.signal, onProgress: () => controller.abort() }), { name: 'AbortError' });
  assert.equal(stats.count, 10, 'an aborted add adds nothing');
  // A bad row in a later step: refused by its row number in the caller's array, nothing added.
  const bad = x.slice();
  bad[(rows - 5) * dim + 3] = NaN;
  assert.throws(() => stats.add(bad, rows, { onProgress: () => {} }), { name: 'RangeError', message: new RegExp(`row ${rows - 5} of x holds NaN`) });
  assert.equal(stats.count, 10);
  assert.equal(stats.add(x, rows, { onProgress: () => {} }), stats);
  assert.equal(stats.count, 10 + rows);
  stats.dispose();
  const aborted = new AbortController();
  assert.throws(() => kx.Whitening.fit(x, { rows, dim, signal: aborted.signal, onProgress: () => aborted.abort() }), { name: 'AbortError' });
});
