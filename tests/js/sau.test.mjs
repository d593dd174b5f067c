// The SAU activations of kx.Mlp (docs/math.md §7.14; kexue.fm/archives/8718) through the JS API:
// the §7.14 vector in a one-unit network, input gradients and the WGAN-GP critic loss's parameter
// gradient (second order included) against finite differences, and GAN training with them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';

const kx = await init();

function near(actual, expected, tolerance, what = 'value') {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} = ${actual}, expected ${expected} ± ${tolerance}`);
}

// sizes [1, 1, 1] with W1 = 1, b1 = 0, W2 = 1, b2 = 0: the output is φ(x).
function unitNetwork(activation) {
  const mlp = new kx.Mlp({ sizes: [1, 1, 1], activation });
  mlp.setParameters(new Float32Array([1, 0, 1, 0]));
  return mlp;
}

test('§7.14 vector: ReLU ⊛ N(0, 1) at 1 = 1.08331547059, slope Φ(1); the leaky form 0.2z + 0.8·that', () => {
  const relu = unitNetwork('sau_relu');
  near(relu.forward(new Float32Array([1]), { rows: 1 })[0], 1.08331547059, 1e-6, 'sau_relu(1)');
  near(relu.inputGradient(new Float32Array([1]), { rows: 1 })[0], 0.841344746069, 1e-6, 'sau_relu\'(1)');
  assert.equal(relu.options.activation, 'sau_relu');
  const leaky = unitNetwork('sau_leaky_relu');
  near(leaky.forward(new Float32Array([1]), { rows: 1 })[0], 0.2 + 0.8 * 1.08331547059, 1e-6, 'sau_leaky_relu(1)');
  near(leaky.forward(new Float32Array([-30]), { rows: 1 })[0], -6, 1e-5, 'sau_leaky_relu(−30)');
  relu.dispose();
  leaky.dispose();
});

test('WGAN-GP critic loss with SAU activations: exact parameter gradient against finite differences', () => {
  for (const activation of ['sau_relu', 'sau_leaky_relu']) {
    const critic = new kx.Mlp({ sizes: [2, 6, 1], activation, seed: 4 });
    const rows = 3;
    const real = Float32Array.from({ length: 6 }, (_, i) => Math.sin(i + 1));
    const fake = Float32Array.from({ length: 6 }, (_, i) => Math.cos(2 * i));
    const interpolation = new Float32Array([0.2, 0.5, 0.9]);
    const options = { real, fake, interpolation, rows, lambda: 10 };
    const { grad } = kx.gan.criticLoss(critic, options);
    const p = critic.parameters;
    // Float32 differences: a loose tolerance, but the penalty's second-order terms (non-zero for
    // SAU, unlike ReLU) are far above it.
    for (const i of [0, 3, 7, 12, 15, 18, 20]) {
      const h = 1e-2;
      const plus = Float32Array.from(p), minus = Float32Array.from(p);
      plus[i] += h;
      minus[i] -= h;
      critic.setParameters(plus);
      const lp = kx.gan.criticLoss(critic, options).loss;
      critic.setParameters(minus);
      const lm = kx.gan.criticLoss(critic, options).loss;
      critic.setParameters(p);
      near(grad[i], (lp - lm) / (2 * h), 2e-3 * (1 + Math.abs(grad[i])), `${activation} ∂L/∂w[${i}]`);
    }
    critic.dispose();
  }
});

test('GanTrainer trains with SAU critics and generators', () => {
  const trainer = new kx.GanTrainer({ preset: 'toy', batch: 32, seed: 2,
    critic: { hidden: [16, 16], activation: 'sau_leaky_relu' }, generator: { hidden: [16], activation: 'sau_relu' } });
  const { criticLoss, gradNorm } = trainer.step(5);
  assert.ok(Number.isFinite(criticLoss) && Number.isFinite(gradNorm));
  assert.equal(trainer.options.critic.activation, 'sau_leaky_relu');
  trainer.dispose();
  assert.throws(() => new kx.Mlp({ sizes: [2, 1], activation: 'sau' }), /activation must be one of .*'sau_relu', 'sau_leaky_relu', received "sau"/);
});
