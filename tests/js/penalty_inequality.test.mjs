// kx.gan.penaltyInequality (docs/math.md §7.12; kexue.fm/archives/8796): §7.12's tight vector, the
// inequality as a property on random networks and inputs, and bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init();

test('§7.12 vector: W = [[3, 4]], x = [1, 2], f = Wx: both sides 6 (spectral)', () => {
  const mlp = new kx.Mlp({ sizes: [2, 1] });
  mlp.setParameters(new Float32Array([3, 4, 0]));
  const { inputSide, parameterSide } = kx.gan.penaltyInequality(mlp, new Float32Array([1, 2]), { rows: 1 });
  assert.ok(Math.abs(inputSide[0] - 6) < 1e-6 && Math.abs(parameterSide[0] - 6) < 1e-6, `${inputSide} ${parameterSide}`);
  // Frobenius norms: ‖I‖² = 2 halves the input side.
  const frobenius = kx.gan.penaltyInequality(mlp, new Float32Array([1, 2]), { rows: 1, norm: 'frobenius' });
  assert.ok(Math.abs(frobenius.inputSide[0] - 3) < 1e-6);
  mlp.dispose();
});

test('the inequality holds on random networks and inputs (every activation, both norms)', () => {
  let checked = 0;
  for (const activation of ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'softplus', 'gelu', 'sau_relu', 'sau_leaky_relu']) {
    for (let seed = 1; seed <= 5; ++seed) {
      const sizes = [1 + (seed % 3), 3 + seed, 2 + (seed % 4), 1];
      const mlp = new kx.Mlp({ sizes, activation, seed });
      const rows = 16;
      const x = Float32Array.from({ length: rows * sizes[0] }, (_, i) => 3 * Math.sin(seed * 13.1 + i * 1.7));
      for (const norm of ['spectral', 'frobenius']) {
        const { inputSide, parameterSide } = kx.gan.penaltyInequality(mlp, x, { rows, norm });
        for (let r = 0; r < rows; ++r) {
          assert.ok(inputSide[r] >= 0 && inputSide[r] <= parameterSide[r] * (1 + 1e-9), `${activation} seed ${seed} row ${r}: ${inputSide[r]} > ${parameterSide[r]}`);
          ++checked;
        }
      }
      mlp.dispose();
    }
  }
  assert.equal(checked, 8 * 5 * 2 * 16);
});

test('bad input: named errors, and the call still works afterwards', () => {
  const mlp = new kx.Mlp({ sizes: [2, 3, 1] });
  const two = new kx.Mlp({ sizes: [2, 3, 2] });
  const x = new Float32Array([0.5, -1]);
  assert.throws(() => kx.gan.penaltyInequality(two, x, { rows: 1 }), /gan\.penaltyInequality: .*one output/);
  assert.throws(() => kx.gan.penaltyInequality({}, x, { rows: 1 }), TypeError);
  assert.throws(() => kx.gan.penaltyInequality(mlp, x), /options \{ rows \} are required/);
  assert.throws(() => kx.gan.penaltyInequality(mlp, x, { rows: 1, norm: 'nuclear' }), /norm must be one of 'frobenius', 'spectral'/);
  assert.throws(() => kx.gan.penaltyInequality(mlp, x, { rows: 1, nrm: 'spectral' }), /unknown option 'nrm' \(did you mean 'norm'\?\)/);
  assert.throws(() => kx.gan.penaltyInequality(mlp, new Float32Array(3), { rows: 1 }), RangeError);
  assert.throws(() => kx.gan.penaltyInequality(mlp, new Float32Array([NaN, 0]), { rows: 1 }), /x\[0\] must be finite/);
  assert.equal(kx.gan.penaltyInequality(mlp, x, { rows: 1 }).inputSide.length, 1);
  mlp.dispose();
  two.dispose();
});

test("GanTrainer trains with either side: lipschitz 'input-side' and 'parameter-side'", () => {
  // Against a plain Wasserstein critic from the same seed, the penalised side of the trained
  // critic is smaller on ring8 points; runs are reproducible and stay finite.
  const base = { preset: 'toy', lambda: 1, batch: 32, nCritic: 2, critic: { hidden: [16, 16], activation: 'tanh' },
    generator: { hidden: [16] }, seed: 4 };
  const points = kx.gan.sampleDataset('ring8', 64, { seed: 1 });
  for (const [lipschitz, side] of [['input-side', 'inputSide'], ['parameter-side', 'parameterSide']]) {
    const a = new kx.GanTrainer({ ...base, lipschitz });
    const b = new kx.GanTrainer({ ...base, lipschitz });
    const plain = new kx.GanTrainer({ ...base, lipschitz: 'none' });
    assert.equal(a.options.lipschitz, lipschitz);
    let ra, rb;
    for (let i = 0; i < 30; ++i) { ra = a.step(); rb = b.step(); plain.step(); }
    assert.deepEqual(ra, rb);
    assert.ok(Number.isFinite(ra.criticLoss) && Number.isFinite(ra.generatorLoss));
    const measure = (trainer) => {
      const critic = new kx.Mlp({ sizes: [2, 16, 16, 1], activation: 'tanh' });
      critic.setParameters(trainer.criticParameters);
      const values = kx.gan.penaltyInequality(critic, points, { rows: 64 })[side];
      critic.dispose();
      return values.reduce((s, v) => s + v, 0);
    };
    assert.ok(measure(a) < measure(plain), `${lipschitz}: ${measure(a)} vs ${measure(plain)}`);
    for (const t of [a, b, plain]) t.dispose();
  }
  assert.throws(() => new kx.GanTrainer({ lipschitz: 'input' }), { name: 'RangeError', message: /lipschitz must be one of .*'input-side', 'parameter-side'/ });
});
