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
