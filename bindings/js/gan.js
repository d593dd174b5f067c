// WGAN-GP and gradient-normalized critics on a kx.Mlp, and a toy-data GAN trainer (src/gan/).
// Options are read and checked by C++ (wgan_critic_loss_validate, normalized_critic_validate,
// gan_trainer_validate, …): each call asks its `…Plan` binding for the resolved options, checks
// its arrays against them, and passes the same options to the compute binding. This side keeps
// what C++ cannot see: the JS types of the arrays, the user's dataset samples, Math.random draws.
import { deepFreeze, renameDeprecated, requireFinite, requireFloat32Array, requireOptions, requireOptionsObject,
  resolvePlan, throwIfError } from './errors.js';
import { withHeap } from './heap.js';
import { ToyTrainer, nativeTrainer, readFloats, readModeMetrics } from './toy-data.js';

// Builds the gan namespace and GanTrainer bound to one WASM module instance; `nativeOf` comes from
// createMlpClass (mlp.js).
export function createGanClasses(module, nativeOf) {
  // The paper's settings and the toy preset, as C++ defines them (gan_preset_options).
  const presets = deepFreeze(module.ganPresets());

  const gan = {
    /**
     * WGAN-GP critic loss L_D = mean(D(fake) − D(real)) + λ mean((‖∇D(x̂)‖ − 1)²),
     * x̂ = t·real + (1 − t)·fake, and its exact parameter gradient. interpolation: the t of each row,
     * Float32Array(rows) in [0, 1] (drawn with Math.random when omitted; `eps` is its deprecated name).
     */
    criticLoss(critic, options) {
      const fn = 'gan.criticLoss';
      // Options are read once, before the critic's liveness is checked (a getter may dispose it).
      const opts = renameDeprecated(fn, requireOptionsObject(fn, options, 'rows'), { eps: 'interpolation' });
      const { native, sizes } = nativeOf(fn, 'critic', critic);
      const { rows } = resolvePlan(fn, native.criticLossPlan(opts));
      const p = sizes[0];
      requireFloat32Array(fn, 'real', opts.real, [['rows', rows], ['in', p]]);
      requireFloat32Array(fn, 'fake', opts.fake, [['rows', rows], ['in', p]]);
      requireFinite(fn, 'real', opts.real);
      requireFinite(fn, 'fake', opts.fake);
      const interpolation = opts.interpolation === undefined
        ? Float32Array.from({ length: rows }, () => Math.random())
        : requireFloat32Array(fn, 'interpolation', opts.interpolation, [['rows', rows]]);
      const count = native.parameterCount();
      return withHeap(module, (heap) => {
        const realPtr = heap.input(opts.real, 'real');
        const fakePtr = heap.input(opts.fake, 'fake');
        const interpolationPtr = heap.input(interpolation, 'interpolation');
        const gradPtr = heap.alloc(count, 'the gradient');
        const normsPtr = heap.alloc(rows, 'the gradient norms');
        const resultPtr = heap.alloc(2, 'the result', 8);
        throwIfError(fn, native.criticLoss(realPtr, fakePtr, interpolationPtr, gradPtr, normsPtr, resultPtr, opts));
        const [loss, penalty] = heap.readF64(resultPtr, 2);
        return { loss, penalty, gradNorms: heap.read(normsPtr, rows), grad: heap.read(gradPtr, count) };
      });
    },

    /** WGAN generator loss L_G = −mean D(fake) and ∂L_G/∂fake (rows×in). */
    generatorLoss(critic, fake, options) {
      const fn = 'gan.generatorLoss';
      options = requireOptionsObject(fn, options, 'rows');
      const { native, sizes } = nativeOf(fn, 'critic', critic);
      const { rows } = resolvePlan(fn, native.generatorLossPlan(options));
      requireFloat32Array(fn, 'fake', fake, [['rows', rows], ['in', sizes[0]]]);
      requireFinite(fn, 'fake', fake);
      const count = rows * sizes[0];
      return withHeap(module, (heap) => {
        const fakePtr = heap.input(fake, 'fake');
        const gradPtr = heap.alloc(count, 'the gradient');
        const resultPtr = heap.alloc(1, 'the result', 8);
        throwIfError(fn, native.generatorLoss(fakePtr, gradPtr, resultPtr, options));
        return { loss: heap.readF64(resultPtr, 1)[0], grad: heap.read(gradPtr, count) };
      });
    },

    /**
     * Gradient-normalized critic per row: 'gn' f/(‖∇f‖ + |f|) or 'gran' f‖∇f‖/(‖∇f‖² + eps)
     * (eps > 0, required for 'gran'; `epsilon` is its deprecated name); paramGrad is the gradient of
     * the sum of values, inputGrad each row's ∇_x f̂ (rows×in), both exact (second order).
     */
    normalizedCritic(critic, x, options) {
      const fn = 'gan.normalizedCritic';
      const opts = renameDeprecated(fn, requireOptionsObject(fn, options, 'rows'), { epsilon: 'eps' });
      const { native, sizes } = nativeOf(fn, 'critic', critic);
      const { rows } = resolvePlan(fn, native.normalizedCriticPlan(opts));
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', sizes[0]]]);
      requireFinite(fn, 'x', x);
      const count = native.parameterCount();
      const inputCount = rows * sizes[0];
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const valuePtr = heap.alloc(rows, 'the values');
        const paramPtr = heap.alloc(count, 'the parameter gradient');
        const inputPtr = heap.alloc(inputCount, 'the input gradient');
        throwIfError(fn, native.normalizedCritic(xPtr, valuePtr, paramPtr, inputPtr, opts));
        return { value: heap.read(valuePtr, rows), paramGrad: heap.read(paramPtr, count), inputGrad: heap.read(inputPtr, inputCount) };
      });
    },

    /**
     * n points (Float32Array n×2) of a built-in toy dataset, drawn as the trainer draws its real
     * batches: 'ring8', 'grid25' or 'swissroll'; seed (default 0) makes the draw reproducible.
     */
    sampleDataset(name, n, options) {
      const fn = 'gan.sampleDataset';
      throwIfError(fn, module.ganDatasetSamplePlan(name, n, options));
      return withHeap(module, (heap) => {
        const out = heap.alloc(2 * n, 'samples');
        throwIfError(fn, module.ganDatasetSample(name, n, options, out));
        return heap.read(out, 2 * n);
      });
    },

    /** What each preset sets: { paper: { lr, beta1, beta2, nCritic, lambda }, toy: { … } }. */
    presets,
  };

  // One generator step (after nCritic critic steps) per step(), or `count` of them in one call
  // (toy-data.js, ToyTrainer: progress, abort and the worker-backed form).
  class GanTrainer extends ToyTrainer {
    constructor(options) {
      const fn = 'GanTrainer';
      super(module, { name: fn, NativeClass: module.GanTrainerNative, plan: (opts) => module.ganTrainerPlan(opts),
        stepFields: ['criticLoss', 'generatorLoss', 'gradNorm'] },
      renameDeprecated(fn, requireOptions(fn, options), { epsilon: 'eps' }));
    }

    /** n generated points, Float32Array(n×2). */
    sample(n) {
      const fn = 'GanTrainer.sample';
      this.assertAlive(fn);
      throwIfError(fn, nativeTrainer(this).samplePlan(n));
      return readFloats(module, 2 * n, 'samples', (out) => throwIfError(fn, nativeTrainer(this).sample(n, out)));
    }

    /** Mode metrics of n (default 2,500) samples: { highQuality, modes, reverseKL, medianDistance }. */
    evaluate(n) {
      const fn = 'GanTrainer.evaluate';
      this.assertAlive(fn);
      return readModeMetrics(module, (result) => throwIfError(fn, nativeTrainer(this).evaluate(n, result)));
    }

    /** Float32Array copies of the current parameters (layout of Mlp). */
    get criticParameters() { return this.#parameters('GanTrainer.criticParameters', false); }
    get generatorParameters() { return this.#parameters('GanTrainer.generatorParameters', true); }

    #parameters(fn, generator) {
      this.assertAlive(fn);
      const native = nativeTrainer(this);
      return readFloats(module, native.parameterCount(generator), 'parameters', (out) => native.parameters(generator, out));
    }
  }

  return { gan, GanTrainer };
}
