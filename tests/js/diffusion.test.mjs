// kx.diffusion and kx.DiffusionTrainer through the JS facade (docs/math.md §7.11): the schedule
// and step vectors, DDIM with η = 1 over all steps against DDPM in distribution (moments of many
// samples, a JS ε-predictor callback), η = 0 deterministic, the toy model learning ring8, and bad
// input (β outside (0, 1), step subsequences not increasing, NaN) as named errors with the module
// still usable afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init();
const f32 = (values) => Float32Array.from(values);

function near(actual, expected, tolerance, what = 'value') {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} = ${actual}, expected ${expected} ± ${tolerance}`);
}

function moments(x) {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = sum / x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) ** 2;
  return { mean, variance: sq / x.length };
}

test('linearSchedule: DDPM defaults and ᾱ (§7.11)', () => {
  const { beta, alphaBar } = kx.diffusion.linearSchedule();
  assert.ok(beta instanceof Float64Array);
  assert.equal(beta.length, 1000);
  assert.equal(alphaBar.length, 1001);
  assert.equal(beta[0], 1e-4);
  near(beta[999], 0.02, 1e-15, 'β_T');
  assert.equal(alphaBar[0], 1);
  const short = kx.diffusion.linearSchedule({ steps: 2, betaStart: 0.1, betaEnd: 0.2 });
  near(short.alphaBar[1], 0.9, 1e-15, 'ᾱ_1');
  near(short.alphaBar[2], 0.72, 1e-15, 'ᾱ_2');
});

test('§7.11 vectors through the samplers (T = 2, one sample, a constant ε callback)', () => {
  const beta = [0.1, 0.2];
  // DDIM η = 0 from x_2 = 1 with ε = 0.5 then ε = 0.2 at t = 1: compare x_1 through timesteps [2]
  // (one step 2 → 0 is a different jump), so check x̂_0's last step with the step vectors instead.
  const eps = (value) => () => f32([value]);
  // Two steps with ε = 0.5 then 0.2 from the sampler's own x_2: recompute by hand.
  let x2 = null;
  const out = kx.diffusion.ddimSample((x, t) => {
    if (t === 2) x2 = x[0];
    return f32([t === 2 ? 0.5 : 0.2]);
  }, { rows: 1, dim: 1, beta, seed: 3 });
  const ab1 = 0.9, ab2 = 0.72;
  const x0hat = (x2 - Math.sqrt(1 - ab2) * 0.5) / Math.sqrt(ab2);
  const x1 = Math.sqrt(ab1) * x0hat + Math.sqrt(1 - ab1) * 0.5;
  near(out[0], (x1 - Math.sqrt(1 - ab1) * 0.2) / Math.sqrt(ab1), 1e-5, 'x_0');
  // With x_2 = 1 the vector is x̂_0 = 0.866706519746, x_1 = 0.980343882603.
  near((1 - Math.sqrt(1 - ab2) * 0.5) / Math.sqrt(ab2), 0.866706519746, 1e-12, 'x̂_0');
  near(Math.sqrt(ab1) * 0.866706519746 + Math.sqrt(1 - ab1) * 0.5, 0.980343882603, 1e-11, 'x_1');
  // DDPM's last step adds no noise: the same callback and seed give the same x_0 twice.
  const a = kx.diffusion.ddpmSample(eps(0.5), { rows: 1, dim: 1, beta, seed: 5 });
  const b = kx.diffusion.ddpmSample(eps(0.5), { rows: 1, dim: 1, beta, seed: 5 });
  assert.deepEqual(a, b);
});

test('addNoise: x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε', () => {
  const out = kx.diffusion.addNoise(f32([2, 0]), f32([-1, 1]), { rows: 1, t: 2, beta: [0.1, 0.2] });
  near(out[0], Math.sqrt(0.72) * 2 - Math.sqrt(0.28), 1e-6);
  near(out[1], Math.sqrt(0.28), 1e-6);
});

// The exact ε-predictor of data N(0, s²): E[ε | x_t] = √(1 − ᾱ) x_t/(ᾱ s² + 1 − ᾱ).
function gaussianPredictor(alphaBar, s) {
  return (x, t) => {
    const ab = alphaBar[t];
    const c = Math.sqrt(1 - ab) / (ab * s * s + 1 - ab);
    return x.map((v) => c * v);
  };
}

test('DDIM with η = 1 over all steps equals DDPM (β̃) in distribution; both reach N(0, s²)', () => {
  const { alphaBar } = kx.diffusion.linearSchedule();
  const predictor = gaussianPredictor(alphaBar, 0.5);
  const rows = 4000, dim = 2;
  const ddpm = moments(kx.diffusion.ddpmSample(predictor, { rows, dim, variance: 'beta_tilde', seed: 1 }));
  const ddim = moments(kx.diffusion.ddimSample(predictor, { rows, dim, eta: 1, seed: 2 }));
  // 8,000 values: the mean's standard error is 0.0056, the variance's ~1.6%.
  near(ddpm.mean, 0, 0.03, 'DDPM mean');
  near(ddim.mean, 0, 0.03, 'DDIM mean');
  near(ddpm.variance, 0.25, 0.02, 'DDPM variance');
  near(ddim.variance, 0.25, 0.02, 'DDIM variance');
});

test('DDIM with η = 0 is deterministic given x_T; `steps` visits S timesteps, `timesteps` exactly those', () => {
  const seen = [];
  const run = (record) => kx.diffusion.ddimSample((x, t) => {
    if (record) seen.push(t);
    return x.map((v) => 0.1 * v);
  }, { rows: 3, steps: 10, seed: 9 });
  assert.deepEqual(run(true), run(false));
  assert.deepEqual(seen, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  const custom = [];
  kx.diffusion.ddimSample((x, t) => { custom.push(t); return new Float32Array(x.length); }, { rows: 1, timesteps: [1, 10, 500] });
  assert.deepEqual(custom, [500, 10, 1]);
  // η > 0 draws noise: different seeds give different samples.
  const noisy = (seed) => kx.diffusion.ddimSample((x) => new Float32Array(x.length), { rows: 2, steps: 5, eta: 1, seed });
  assert.notDeepEqual(noisy(1), noisy(2));
});

test('bad input: named errors, and the module still works', () => {
  const zero = (x) => new Float32Array(x.length);
  const cases = [
    ['β = 1', () => kx.diffusion.ddpmSample(zero, { rows: 1, beta: [0.1, 1] }), RangeError, /diffusion\.ddpmSample: beta\[1\] must be a finite number in \(0, 1\), received 1/],
    ['β = 0', () => kx.diffusion.linearSchedule({ betaStart: 0 }), RangeError, /betaStart must be a finite number in \(0, 1\)/],
    ['β NaN', () => kx.diffusion.ddimSample(zero, { rows: 1, beta: [NaN] }), RangeError, /beta\[0\] must be a finite number/],
    ['β empty', () => kx.diffusion.ddimSample(zero, { rows: 1, beta: [] }), RangeError, /beta must be a non-empty array/],
    ['timesteps not increasing', () => kx.diffusion.ddimSample(zero, { rows: 1, timesteps: [1, 5, 5] }), RangeError, /timesteps\[2\] must be greater than timesteps\[1\] = 5 \(timesteps must be strictly increasing\), received 5/],
    ['timesteps beyond T', () => kx.diffusion.ddimSample(zero, { rows: 1, timesteps: [1, 1001] }), RangeError, /timesteps\[1\] must be an integer in \[1, T = 1000\]/],
    ['steps beyond T', () => kx.diffusion.ddimSample(zero, { rows: 1, steps: 2000 }), RangeError, /steps must be at most/],
    ['steps and timesteps', () => kx.diffusion.ddimSample(zero, { rows: 1, steps: 2, timesteps: [1, 2] }), RangeError, /not both/],
    ['η > 1', () => kx.diffusion.ddimSample(zero, { rows: 1, eta: 2 }), RangeError, /eta must be a finite number in \[0, 1\]/],
    ['η with DDPM', () => kx.diffusion.ddpmSample(zero, { rows: 1, eta: 0.5 }), RangeError, /eta applies to the DDIM sampler only/],
    ['rows missing', () => kx.diffusion.ddpmSample(zero), TypeError, /options \{ rows \} are required/],
    ['unknown option', () => kx.diffusion.ddimSample(zero, { rows: 1, stpes: 3 }), TypeError, /unknown option 'stpes' \(did you mean 'steps'\?\)/],
    ['not a predictor', () => kx.diffusion.ddpmSample(3, { rows: 1 }), TypeError, /predictor must be a function/],
    ['predictor returns NaN', () => kx.diffusion.ddpmSample((x) => x.map(() => NaN), { rows: 1 }), RangeError, /ε at t = 1000 holds NaN/],
    ['predictor returns wrong length', () => kx.diffusion.ddpmSample(() => new Float32Array(1), { rows: 1 }), TypeError, /Float32Array of rows\*dim = 2/],
    ['addNoise t > T', () => kx.diffusion.addNoise(f32([0, 0]), f32([0, 0]), { rows: 1, t: 1001 }), RangeError, /t must be at most/],
    ['addNoise NaN', () => kx.diffusion.addNoise(f32([NaN, 0]), f32([0, 0]), { rows: 1, t: 1 }), RangeError, /x0\[0\] must be finite/],
    ['trainer embedding odd', () => new kx.DiffusionTrainer({ embedding: 3 }), RangeError, /DiffusionTrainer: embedding must be an even positive integer/],
    ['trainer schedule β', () => new kx.DiffusionTrainer({ schedule: { betaEnd: 1.5 } }), RangeError, /schedule\.betaEnd must be a finite number in \(0, 1\)/],
    ['trainer unknown option', () => new kx.DiffusionTrainer({ hiden: [2] }), TypeError, /unknown option 'hiden' \(did you mean 'hidden'\?\)/],
  ];
  for (const [what, call, ErrorClass, pattern] of cases) {
    assert.throws(call, (error) => error instanceof ErrorClass && pattern.test(error.message), what);
  }
  // A throwing callback leaves nothing behind: the module still samples.
  assert.throws(() => kx.diffusion.ddpmSample(() => { throw new Error('boom'); }, { rows: 1 }), /boom/);
  assert.equal(kx.diffusion.ddimSample(zero, { rows: 2, steps: 3 }).length, 4);
  const trainer = new kx.DiffusionTrainer({ hidden: [8], batch: 4 });
  assert.throws(() => trainer.sample(2, { sampler: 'ddpm', steps: 3 }), /steps applies to the DDIM sampler only/);
  assert.throws(() => trainer.sample(2, { rows: 2 }), /rows/);
  assert.throws(() => trainer.predict(f32([0, 0]), { rows: 1, t: 0 }), /t must be a positive integer/);
  assert.throws(() => trainer.step(0), /count must be a positive integer/);
  assert.equal(trainer.sample(3, { sampler: 'ddim', steps: 4 }).length, 6);
  trainer.dispose();
});

test('DiffusionTrainer: options, predict as a callback, ddpm/ddimSample with a trainer', () => {
  const trainer = new kx.DiffusionTrainer({ hidden: [16], batch: 8, schedule: { steps: 50 }, seed: 3 });
  assert.equal(trainer.options.schedule.steps, 50);
  assert.equal(trainer.options.activation, 'relu');
  assert.equal(trainer.options.dataset, 'ring8');
  const { loss } = trainer.step(3);
  assert.ok(Number.isFinite(loss));
  assert.equal(trainer.steps, 3);
  // The native path and the callback path are the same sampler: identical samples for one seed.
  const native = kx.diffusion.ddimSample(trainer, { rows: 5, steps: 10, seed: 4 });
  const { beta } = kx.diffusion.linearSchedule({ steps: 50 });
  const callback = kx.diffusion.ddimSample((x, t) => trainer.predict(x, { rows: 5, t }), { rows: 5, steps: 10, seed: 4, beta });
  assert.deepEqual(native, callback);
  assert.deepEqual(kx.diffusion.ddpmSample(trainer, { rows: 4, seed: 1 }), trainer.sample(4, { seed: 1 }));
  trainer.dispose();
});

test('DiffusionTrainer learns ring8 (CI size: median distance halves, ≥ 6 of 8 modes)', () => {
  const trainer = new kx.DiffusionTrainer({ dataset: 'ring8', seed: 1 });
  const ddim = { sampler: 'ddim', steps: 50 };
  const before = trainer.evaluate(1000, ddim);
  trainer.step(3000);
  const after = trainer.evaluate(1000, ddim);
  assert.ok(after.medianDistance < before.medianDistance / 2, `median ${before.medianDistance} → ${after.medianDistance}`);
  assert.ok(after.modes >= 6, `modes ${after.modes}`);
  trainer.dispose();
});
