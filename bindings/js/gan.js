// MLP with exact second-order gradients (src/nn/), WGAN-GP and gradient-normalized critics, and
// a toy-data GAN trainer (src/gan/). Parameter layout, as in C++: for each layer in order, W
// (out×in, row-major) then b.
import { Disposable } from './disposable.js';
import { describe, elementCount, requireChoice, requireFinite, requireFloat32Array, requireOptions, requireSize } from './errors.js';
import { withHeap } from './heap.js';

export const ACTIVATIONS = ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'softplus', 'gelu', 'linear'];
const DATASETS = ['ring8', 'grid25', 'swissroll'];
const LIPSCHITZ = ['gp', 'gn', 'gran', 'none'];

// The paper's settings (Gulrajani et al. 2017, Algorithm 1) and a toy preset that learns the 2-D
// mixtures much faster: β1 = 0.5 and λ = 0.1 as in the authors' gan_toy.py ("Smaller lambda makes
// things faster for toy tasks"), with lr 1e-3 (ours; gan_toy.py uses 1e-4).
export const GAN_PRESETS = Object.freeze({
  paper: Object.freeze({ lr: 1e-4, beta1: 0, beta2: 0.9, nCritic: 5, lambda: 10 }),
  toy: Object.freeze({ lr: 1e-3, beta1: 0.5, beta2: 0.9, nCritic: 5, lambda: 0.1 }),
});

function requireNumber(fn, name, value, fallback, { min = -Infinity, max = Infinity, minExclusive = false,
  maxExclusive = false, range } = {}) {
  if (value === undefined) {
    if (fallback === undefined) throw new TypeError(`${fn}: ${name} is required (a number${range ? ` ${range}` : ''}), received undefined`);
    return fallback;
  }
  if (typeof value !== 'number') throw new TypeError(`${fn}: ${name} must be a number${range ? ` ${range}` : ''}, received ${describe(value)}`);
  const below = minExclusive ? value <= min : value < min;
  const above = maxExclusive ? value >= max : value > max;
  if (!Number.isFinite(value) || below || above) {
    throw new RangeError(`${fn}: ${name} must be a finite number${range ? ` ${range}` : ''}, received ${describe(value)}`);
  }
  return value;
}


function requireSeed(fn, value) {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw new TypeError(`${fn}: seed must be a non-negative integer, received ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${fn}: seed must be a non-negative integer (at most 2^53 − 1), received ${describe(value)}`);
  }
  return value;
}

function requireSizeList(fn, name, value, minLength) {
  if (!Array.isArray(value)) {
    throw new TypeError(`${fn}: ${name} must be an array of positive integers, received ${describe(value)}`);
  }
  if (value.length < minLength) {
    throw new RangeError(`${fn}: ${name} must have at least ${minLength} entries, received ${value.length}`);
  }
  value.forEach((size, i) => requireSize(fn, `${name}[${i}]`, size));
  return [...value];
}


// Builds Mlp, the gan namespace and GanTrainer bound to one WASM module instance.
export function createGanClasses(module) {
  const natives = new WeakMap();  // Mlp → { native, sizes }

  function nativeOf(fn, name, mlp) {
    const entry = mlp instanceof Mlp ? natives.get(mlp) : undefined;
    if (!entry) throw new TypeError(`${fn}: ${name} must be a kx.Mlp, received ${describe(mlp)}`);
    mlp.assertAlive(fn);
    return entry;
  }

  function requireCritic(fn, critic) {
    const entry = nativeOf(fn, 'critic', critic);
    if (entry.sizes[entry.sizes.length - 1] !== 1) {
      throw new RangeError(`${fn}: critic must have one output (sizes ending in 1), received sizes [${entry.sizes.join(', ')}]`);
    }
    return entry;
  }

  function requireRows(fn, options) {
    if (options === undefined) throw new TypeError(`${fn}: options { rows } are required, received undefined`);
    const opts = requireOptions(fn, options);
    requireSize(fn, 'rows', opts.rows);
    return opts;
  }

  class Mlp extends Disposable {
    #sizes;
    #activation;

    /**
     * A dense network: sizes [in, hidden…, out] (at least 2), hidden activation (default 'relu'),
     * linear output; parameters initialised as PyTorch's nn.Linear from a seeded stream.
     */
    constructor(options) {
      const fn = 'Mlp';
      if (options === undefined) throw new TypeError(`${fn}: options { sizes } are required, received undefined`);
      const { sizes, activation, seed } = requireOptions(fn, options);
      const checkedSizes = requireSizeList(fn, 'sizes', sizes, 2);
      const checkedActivation = requireChoice(fn, 'activation', activation, ACTIVATIONS, 'relu');
      const checkedSeed = requireSeed(fn, seed);
      let count = 0;
      for (let l = 1; l < checkedSizes.length; ++l) count += checkedSizes[l] * checkedSizes[l - 1] + checkedSizes[l];
      elementCount(fn, 'parameters', [['count', count]]);
      const native = withHeap(module, (heap) => {
        const pointer = heap.alloc(checkedSizes.length, 'sizes');
        module.HEAPU32.set(checkedSizes, pointer >>> 2);
        return new module.MlpNative(pointer, checkedSizes.length, checkedActivation, checkedSeed);
      });
      super(() => native.delete());
      natives.set(this, { native, sizes: checkedSizes });
      this.#sizes = checkedSizes;
      this.#activation = checkedActivation;
    }

    get sizes() { return [...this.#sizes]; }
    get activation() { return this.#activation; }
    get inputSize() { return this.#sizes[0]; }
    get outputSize() { return this.#sizes[this.#sizes.length - 1]; }
    get parameterCount() {
      this.assertAlive('Mlp.parameterCount');
      return natives.get(this).native.parameterCount();
    }

    /** A Float32Array copy: for each layer, W (out×in, row-major) then b. */
    get parameters() {
      this.assertAlive('Mlp.parameters');
      const { native } = natives.get(this);
      const count = native.parameterCount();
      return withHeap(module, (heap) => {
        const pointer = heap.alloc(count, 'parameters');
        native.getParameters(pointer);
        return heap.read(pointer, count);
      });
    }

    setParameters(parameters) {
      const fn = 'Mlp.setParameters';
      this.assertAlive(fn);
      const { native } = natives.get(this);
      requireFloat32Array(fn, 'parameters', parameters, [['parameterCount', native.parameterCount()]]);
      requireFinite(fn, 'parameters', parameters);
      withHeap(module, (heap) => native.setParameters(heap.input(parameters, 'parameters')));
    }

    /** x: rows×in → outputs rows×out (Float32Array(rows) for a critic). */
    forward(x, options) {
      const fn = 'Mlp.forward';
      this.assertAlive(fn);
      const { rows } = requireRows(fn, options);
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', this.inputSize]]);
      const outCount = rows * this.outputSize;
      const { native } = natives.get(this);
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const out = heap.alloc(outCount, 'the output');
        native.forward(xPtr, rows, out);
        return heap.read(out, outCount);
      });
    }

    /** ∇_x of each row's output (out = 1), rows×in. */
    inputGradient(x, options) {
      const fn = 'Mlp.inputGradient';
      this.assertAlive(fn);
      if (this.outputSize !== 1) {
        throw new RangeError(`${fn}: needs a network with one output, received sizes [${this.#sizes.join(', ')}]`);
      }
      const { rows } = requireRows(fn, options);
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', this.inputSize]]);
      const count = rows * this.inputSize;
      const { native } = natives.get(this);
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const out = heap.alloc(count, 'the gradient');
        native.inputGradient(xPtr, rows, out);
        return heap.read(out, count);
      });
    }
  }

  const gan = {
    /**
     * WGAN-GP critic loss L_D = mean(D(fake) − D(real)) + λ mean((‖∇D(x̂)‖ − 1)²), x̂ = ε real + (1 − ε) fake,
     * and its exact parameter gradient. eps: Float32Array(rows) in [0, 1] (drawn with Math.random when omitted).
     */
    criticLoss(critic, options) {
      const fn = 'gan.criticLoss';
      const { native, sizes } = requireCritic(fn, critic);
      const { real, fake, eps, rows, lambda, penalty } = requireRows(fn, options);
      const p = sizes[0];
      requireFloat32Array(fn, 'real', real, [['rows', rows], ['in', p]]);
      requireFloat32Array(fn, 'fake', fake, [['rows', rows], ['in', p]]);
      let epsilon;
      if (eps === undefined) {
        epsilon = Float32Array.from({ length: rows }, () => Math.random());
      } else {
        epsilon = requireFloat32Array(fn, 'eps', eps, [['rows', rows]]);
        for (let i = 0; i < rows; ++i) {
          if (!(epsilon[i] >= 0 && epsilon[i] <= 1)) {
            throw new RangeError(`${fn}: eps[${i}] must be in [0, 1], received ${epsilon[i]}`);
          }
        }
      }
      const lam = requireNumber(fn, 'lambda', lambda, 10, { min: 0, range: '≥ 0' });
      const side = requireChoice(fn, 'penalty', penalty, ['two-sided', 'one-sided'], 'two-sided');
      const count = native.parameterCount();
      return withHeap(module, (heap) => {
        const realPtr = heap.input(real, 'real');
        const fakePtr = heap.input(fake, 'fake');
        const epsPtr = heap.input(epsilon, 'eps');
        const gradPtr = heap.alloc(count, 'the gradient');
        const normsPtr = heap.alloc(rows, 'the gradient norms');
        const resultPtr = heap.alloc(2, 'the result', 8);
        native.criticLoss(realPtr, fakePtr, epsPtr, rows, lam, side === 'one-sided', gradPtr, normsPtr, resultPtr);
        const [loss, pen] = heap.readF64(resultPtr, 2);
        return { loss, penalty: pen, gradNorms: heap.read(normsPtr, rows), grad: heap.read(gradPtr, count) };
      });
    },

    /** WGAN generator loss L_G = −mean D(fake) and ∂L_G/∂fake (rows×in). */
    generatorLoss(critic, fake, options) {
      const fn = 'gan.generatorLoss';
      const { native, sizes } = requireCritic(fn, critic);
      const { rows } = requireRows(fn, options);
      requireFloat32Array(fn, 'fake', fake, [['rows', rows], ['in', sizes[0]]]);
      const count = rows * sizes[0];
      return withHeap(module, (heap) => {
        const fakePtr = heap.input(fake, 'fake');
        const gradPtr = heap.alloc(count, 'the gradient');
        const loss = native.generatorLoss(fakePtr, rows, gradPtr);
        return { loss, grad: heap.read(gradPtr, count) };
      });
    },

    /**
     * Gradient-normalized critic per row: 'gn' f/(‖∇f‖ + |f|) or 'gran' f‖∇f‖/(‖∇f‖² + epsilon)
     * (epsilon > 0, required for 'gran'); paramGrad is the gradient of the sum of values, inputGrad
     * each row's ∇_x f̂ (rows×in), both exact (second order).
     */
    normalizedCritic(critic, x, options) {
      const fn = 'gan.normalizedCritic';
      const { native, sizes } = requireCritic(fn, critic);
      const { rows, variant, epsilon } = requireRows(fn, options);
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', sizes[0]]]);
      const kind = requireChoice(fn, 'variant', variant, ['gn', 'gran'], 'gn');
      const eps = kind === 'gran'
        ? requireNumber(fn, 'epsilon', epsilon, undefined, { min: 0, minExclusive: true, range: '> 0' })
        : 0;
      const count = native.parameterCount();
      const inputCount = rows * sizes[0];
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const valuePtr = heap.alloc(rows, 'the values');
        const paramPtr = heap.alloc(count, 'the parameter gradient');
        const inputPtr = heap.alloc(inputCount, 'the input gradient');
        native.normalizedCritic(xPtr, rows, kind === 'gran', eps, valuePtr, paramPtr, inputPtr);
        return { value: heap.read(valuePtr, rows), paramGrad: heap.read(paramPtr, count), inputGrad: heap.read(inputPtr, inputCount) };
      });
    },

    /**
     * n points (Float32Array n×2) of a built-in toy dataset, drawn as the trainer draws its real
     * batches: 'ring8', 'grid25' or 'swissroll'; seed (default 0) makes the draw reproducible.
     */
    sampleDataset(name, n, options) {
      const fn = 'gan.sampleDataset';
      requireChoice(fn, 'name', name, DATASETS);
      requireSize(fn, 'n', n);
      elementCount(fn, 'samples', [['n', n], ['2', 2]]);
      const seed = requireSeed(fn, requireOptions(fn, options).seed);
      return withHeap(module, (heap) => {
        const out = heap.alloc(2 * n, 'samples');
        module.ganDatasetSample(DATASETS.indexOf(name), n, seed, out);
        return heap.read(out, 2 * n);
      });
    },

    presets: GAN_PRESETS,
  };

  class GanTrainer extends Disposable {
    #native;
    #options;

    constructor(options) {
      const fn = 'GanTrainer';
      const opts = requireOptions(fn, options);
      const preset = requireChoice(fn, 'preset', opts.preset, Object.keys(GAN_PRESETS), 'paper');
      const defaults = GAN_PRESETS[preset];
      let dataset = opts.dataset === undefined ? 'ring8' : opts.dataset;
      let points = null;
      if (dataset instanceof Float32Array) {
        if (dataset.length < 2 || dataset.length % 2 !== 0) {
          throw new RangeError(`${fn}: dataset samples must be a Float32Array of n×2 coordinates (n ≥ 1), received length ${dataset.length}`);
        }
        requireFinite(fn, 'dataset', dataset);
        points = dataset;
        dataset = 'samples';
      } else {
        requireChoice(fn, 'dataset', dataset, DATASETS);
      }
      const lipschitz = requireChoice(fn, 'lipschitz', opts.lipschitz, LIPSCHITZ, 'gp');
      const lambda = requireNumber(fn, 'lambda', opts.lambda, defaults.lambda, { min: 0, range: '≥ 0' });
      const penalty = requireChoice(fn, 'penalty', opts.penalty, ['two-sided', 'one-sided'], 'two-sided');
      const epsilon = lipschitz === 'gran'
        ? requireNumber(fn, 'epsilon', opts.epsilon, undefined, { min: 0, minExclusive: true, range: '> 0' })
        : 1;
      const nCritic = opts.nCritic === undefined ? defaults.nCritic : requireSize(fn, 'nCritic', opts.nCritic);
      const lr = requireNumber(fn, 'lr', opts.lr, defaults.lr, { min: 0, minExclusive: true, range: '> 0' });
      const beta1 = requireNumber(fn, 'beta1', opts.beta1, defaults.beta1, { min: 0, max: 1, maxExclusive: true, range: 'in [0, 1)' });
      const beta2 = requireNumber(fn, 'beta2', opts.beta2, defaults.beta2, { min: 0, max: 1, maxExclusive: true, range: 'in [0, 1)' });
      const batch = opts.batch === undefined ? 256 : requireSize(fn, 'batch', opts.batch);
      const critic = requireOptions(`${fn}: critic`, opts.critic);
      const generator = requireOptions(`${fn}: generator`, opts.generator);
      const criticHidden = critic.hidden === undefined ? [256, 256] : requireSizeList(fn, 'critic.hidden', critic.hidden, 0);
      const generatorHidden = generator.hidden === undefined ? [256, 256] : requireSizeList(fn, 'generator.hidden', generator.hidden, 0);
      const criticActivation = requireChoice(fn, 'critic.activation', critic.activation, ACTIVATIONS, 'relu');
      const generatorActivation = requireChoice(fn, 'generator.activation', generator.activation, ACTIVATIONS, 'relu');
      const latent = generator.latent === undefined ? 2 : requireSize(fn, 'generator.latent', generator.latent);
      const seed = requireSeed(fn, opts.seed);
      const config = [
        dataset === 'samples' ? 3 : DATASETS.indexOf(dataset), LIPSCHITZ.indexOf(lipschitz), lambda,
        penalty === 'one-sided' ? 1 : 0, epsilon, nCritic, lr, beta1, beta2, batch, latent, seed,
        ACTIVATIONS.indexOf(criticActivation), ACTIVATIONS.indexOf(generatorActivation),
        criticHidden.length, generatorHidden.length, ...criticHidden, ...generatorHidden,
      ];
      const native = withHeap(module, (heap) => new module.GanTrainerNative(heap.inputF64(config, 'the configuration'),
        points ? heap.input(points, 'dataset') : 0, points ? points.length / 2 : 0));
      super(() => native.delete());
      this.#native = native;
      this.#options = Object.freeze({ dataset, lipschitz, lambda, penalty, epsilon: lipschitz === 'gran' ? epsilon : undefined,
        nCritic, lr, beta1, beta2, batch, seed, preset,
        critic: Object.freeze({ hidden: criticHidden, activation: criticActivation }),
        generator: Object.freeze({ latent, hidden: generatorHidden, activation: generatorActivation }) });
    }

    /** The resolved options (preset and defaults applied). */
    get options() { return this.#options; }
    get steps() {
      this.assertAlive('GanTrainer.steps');
      return this.#native.steps();
    }

    /** One generator step (after nCritic critic steps), or `count` of them in one call. */
    step(count) {
      const fn = 'GanTrainer.step';
      this.assertAlive(fn);
      const n = count === undefined ? 1 : requireSize(fn, 'count', count);
      return withHeap(module, (heap) => {
        const result = heap.alloc(3, 'the result', 8);
        this.#native.step(n, result);
        const [criticLoss, generatorLoss, gradNorm] = heap.readF64(result, 3);
        return { criticLoss, generatorLoss, gradNorm };
      });
    }

    /** n generated points, Float32Array(n×2). */
    sample(n) {
      const fn = 'GanTrainer.sample';
      this.assertAlive(fn);
      requireSize(fn, 'n', n);
      elementCount(fn, 'samples', [['n', n], ['2', 2]]);
      return withHeap(module, (heap) => {
        const out = heap.alloc(2 * n, 'samples');
        this.#native.sample(n, out);
        return heap.read(out, 2 * n);
      });
    }

    /** Mode metrics of n (default 2,500) samples: { highQuality, modes, reverseKL, medianDistance }. */
    evaluate(n) {
      const fn = 'GanTrainer.evaluate';
      this.assertAlive(fn);
      const count = n === undefined ? 2500 : requireSize(fn, 'n', n);
      return withHeap(module, (heap) => {
        const result = heap.alloc(4, 'the result', 8);
        this.#native.evaluate(count, result);
        const [highQuality, modes, reverseKL, medianDistance] = heap.readF64(result, 4);
        return { highQuality, modes, reverseKL, medianDistance };
      });
    }

    /** Float32Array copies of the current parameters (layout of Mlp). */
    get criticParameters() { return this.#parameters('GanTrainer.criticParameters', false); }
    get generatorParameters() { return this.#parameters('GanTrainer.generatorParameters', true); }

    #parameters(fn, generator) {
      this.assertAlive(fn);
      const count = this.#native.parameterCount(generator);
      return withHeap(module, (heap) => {
        const out = heap.alloc(count, 'parameters');
        this.#native.parameters(generator, out);
        return heap.read(out, count);
      });
    }
  }

  return { Mlp, gan, GanTrainer };
}
