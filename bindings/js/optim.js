// Optimizers on the gradients a model already produces (src/optim/):
//   LowRankOptimizer   LoRA as an optimizer (kexue.fm/archives/9590, 10226) and GaLore
//                      (arXiv 2403.03507): low-rank optimizer state for one rows×cols weight, fed
//                      the full gradient G; plus 'full' Adam/SGD as the baseline.
//   multitask          per-task gradient normalisation, MGDA, primary + auxiliary (kexue.fm 8870,
//                      8896, 8907).
//   clipGradients      clipping by global norm, min(1, γ/‖g‖) or γ/(‖g‖ + γ) (kexue.fm 7469).
// Every argument is validated here: the WASM module has no exceptions.
import { Disposable } from './disposable.js';
import { describe, elementCount, requireChoice, requireFinite, requireFloat32Array, requireOptions, requireSize } from './errors.js';
import { withHeap } from './heap.js';

// The index of each name is its C++ enum value (src/optim/low_rank_optimizer.hpp).
const MODES = ['full', 'lora', 'fixed-a', 'fixed-b', 'random', 'additive', 'galore'];
const BASES = ['sgd', 'adam'];
const INITS = ['zero-b', 'symmetric', 'lora-ga'];
const FACTOR_MODES = new Set(['lora', 'fixed-a', 'fixed-b', 'additive']);
const CLIP_FORMS = ['min', 'smooth'];
const OPTION_NAMES = new Set(['rows', 'cols', 'rank', 'mode', 'base', 'lr', 'beta1', 'beta2', 'eps',
  'weightDecay', 'scale', 'updateProjGap', 'init', 'seed', 'weight', 'factors']);


// A finite number in [min, max) / [min, max] (bounds optional), or the fallback when undefined.
function requireNumber(fn, name, value, { fallback, min = -Infinity, max = Infinity, maxOpen = false, minOpen = false } = {}) {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') {
    throw new TypeError(`${fn}: ${name} must be a finite number, received ${describe(value)}`);
  }
  const below = minOpen ? value <= min : value < min;
  const above = maxOpen ? value >= max : value > max;
  if (!Number.isFinite(value) || below || above) {
    const range = `${minOpen ? '(' : '['}${min}, ${max}${maxOpen ? ')' : ']'}`;
    throw new RangeError(`${fn}: ${name} must be a finite number in ${range}, received ${describe(value)}`);
  }
  return value;
}


// A non-empty array of Float32Arrays of one common length, all finite.
function requireGradientList(fn, name, grads, { sameLength = true } = {}) {
  if (!Array.isArray(grads)) {
    throw new TypeError(`${fn}: ${name} must be an array of Float32Arrays, received ${describe(grads)}`);
  }
  if (grads.length === 0) throw new RangeError(`${fn}: ${name} must not be empty`);
  grads.forEach((g, i) => {
    if (!(g instanceof Float32Array)) {
      throw new TypeError(`${fn}: ${name}[${i}] must be a Float32Array, received ${describe(g)}`);
    }
    if (sameLength && g.length !== grads[0].length) {
      throw new RangeError(`${fn}: ${name}[${i}] must have the length of ${name}[0] = ${grads[0].length}, received length ${g.length}`);
    }
    if (sameLength && g.length === 0) throw new RangeError(`${fn}: ${name}[${i}] must not be empty`);
    requireFinite(fn, `${name}[${i}]`, g);
  });
  return grads;
}

// Copies equal-length Float32Arrays into one tasks×size heap buffer.
function stackInput(module, heap, grads, what) {
  const size = grads[0].length;
  elementCount('multitask', what, [['tasks', grads.length], ['size', size]]);
  const pointer = heap.alloc(grads.length * size, what);
  grads.forEach((g, i) => module.HEAPF32.set(g, (pointer >>> 2) + i * size));
  return pointer;
}

export function createOptimClasses(module) {
  class LowRankOptimizer extends Disposable {
    #native;
    #gradPointer;
    #config;

    /**
     * One optimizer per rows×cols weight (row-major, used as y = x·W). See README "LoRA as an
     * optimizer" for the modes and the memory each keeps.
     */
    constructor(options) {
      const fn = 'LowRankOptimizer';
      if (options === undefined) {
        throw new TypeError(`${fn}: options { rows, cols, rank, lr, weight } are required, received undefined`);
      }
      requireOptions(fn, options);
      for (const key of Object.keys(options)) {
        if (!OPTION_NAMES.has(key)) throw new TypeError(`${fn}: unknown option ${JSON.stringify(key)}`);
      }
      const rows = requireSize(fn, 'rows', options.rows);
      const cols = requireSize(fn, 'cols', options.cols);
      const mode = requireChoice(fn, 'mode', options.mode, MODES, 'lora');
      const minDim = Math.min(rows, cols);
      let rank = 1;
      if (mode !== 'full' || options.rank !== undefined) {
        rank = requireSize(fn, 'rank', options.rank);
        if (rank > minDim) {
          throw new RangeError(`${fn}: rank must be between 1 and min(rows, cols) = ${minDim}, received ${rank}`);
        }
      }
      if (mode === 'full') rank = 1;
      if (mode === 'additive' && (rows % rank !== 0 || cols % rank !== 0)) {
        throw new RangeError(`${fn}: mode 'additive' needs rank to divide rows = ${rows} and cols = ${cols}, received rank ${rank}`);
      }
      const base = requireChoice(fn, 'base', options.base, BASES, mode === 'random' ? 'sgd' : 'adam');
      if (mode === 'random' && base !== 'sgd') {
        throw new RangeError(`${fn}: mode 'random' (W ← W − lr·(G·VᵀV + U·UᵀG)) supports base 'sgd' only, received ${describe(base)}`);
      }
      const lr = requireNumber(fn, 'lr', options.lr, { min: 0 });
      const beta1 = requireNumber(fn, 'beta1', options.beta1, { fallback: 0.9, min: 0, max: 1, maxOpen: true });
      const beta2 = requireNumber(fn, 'beta2', options.beta2, { fallback: 0.999, min: 0, max: 1, maxOpen: true });
      const eps = requireNumber(fn, 'eps', options.eps, { fallback: mode === 'galore' ? 1e-6 : 1e-8, min: 0 });
      const weightDecay = requireNumber(fn, 'weightDecay', options.weightDecay, { fallback: 0, min: 0 });
      const scale = requireNumber(fn, 'scale', options.scale, { fallback: 1 });
      const updateProjGap = options.updateProjGap === undefined ? 200 : requireSize(fn, 'updateProjGap', options.updateProjGap);
      const init = requireChoice(fn, 'init', options.init, INITS, 'zero-b');
      if (init === 'lora-ga') {
        if (!['lora', 'fixed-a', 'fixed-b'].includes(mode)) {
          throw new RangeError(`${fn}: init 'lora-ga' applies to modes 'lora', 'fixed-a' and 'fixed-b', received mode ${describe(mode)}`);
        }
        if (2 * rank > minDim) {
          throw new RangeError(`${fn}: init 'lora-ga' needs 2*rank <= min(rows, cols) = ${minDim}, received rank ${rank}`);
        }
      }
      let seed = 0;
      if (options.seed !== undefined) {
        if (typeof options.seed !== 'number') throw new TypeError(`${fn}: seed must be a non-negative integer, received ${describe(options.seed)}`);
        if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
          throw new RangeError(`${fn}: seed must be an integer in [0, 2^53), received ${describe(options.seed)}`);
        }
        seed = options.seed;
      }
      const weight = requireFloat32Array(fn, 'weight', options.weight, [['rows', rows], ['cols', cols]]);
      requireFinite(fn, 'weight', weight);
      let factors = null;
      if (options.factors !== undefined) {
        if (!FACTOR_MODES.has(mode)) {
          throw new RangeError(`${fn}: factors apply to modes ${[...FACTOR_MODES].map((m) => `'${m}'`).join(', ')}, received mode ${describe(mode)}`);
        }
        if (init === 'lora-ga') throw new RangeError(`${fn}: factors cannot be given with init 'lora-ga' (it computes them from the first gradient)`);
        const { A, B } = requireOptions(fn, options.factors);
        requireFloat32Array(fn, 'factors.A', A, [['rows', rows], ['rank', rank]]);
        requireFloat32Array(fn, 'factors.B', B, [['rank', rank], ['cols', cols]]);
        requireFinite(fn, 'factors.A', A);
        requireFinite(fn, 'factors.B', B);
        factors = { A, B };
      }
      elementCount(fn, 'the weight', [['rows', rows], ['cols', cols], ['copies', mode === 'full' && base === 'adam' ? 4 : 3]]);

      const gradPointer = module._malloc(rows * cols * 4);
      if (gradPointer === 0) throw new RangeError(`${fn}: out of WASM memory allocating the gradient buffer (${rows * cols * 4} bytes)`);
      let native;
      try {
        native = withHeap(module, (heap) => new module.LowRankOptimizerNative(rows, cols, rank,
          MODES.indexOf(mode), BASES.indexOf(base), lr, beta1, beta2, eps, weightDecay, scale, updateProjGap,
          INITS.indexOf(init), seed, heap.input(weight, 'weight'),
          factors ? heap.input(factors.A, 'factors.A') : 0, factors ? heap.input(factors.B, 'factors.B') : 0));
      } catch (error) {
        module._free(gradPointer);
        throw error;
      }
      super(() => {
        native.delete();
        module._free(gradPointer);
      });
      this.#native = native;
      this.#gradPointer = gradPointer;
      this.#config = Object.freeze({ rows, cols, rank, mode, base, lr, beta1, beta2, eps, weightDecay, scale,
        updateProjGap, init, seed });
    }

    /** The resolved options (defaults filled in). */
    get config() { return this.#config; }
    get rows() { return this.#config.rows; }
    get cols() { return this.#config.cols; }
    get rank() { return this.#config.rank; }
    get mode() { return this.#config.mode; }

    /** Steps taken (refused steps are not counted). */
    get steps() {
      this.assertAlive('LowRankOptimizer.steps');
      return this.#native.steps();
    }

    /**
     * One update from the full gradient G (Float32Array rows×cols). A gradient holding NaN or
     * ±Infinity is refused with a RangeError naming the index; the weight is then unchanged.
     */
    step(grad) {
      const fn = 'LowRankOptimizer.step';
      this.assertAlive(fn);
      const { rows, cols } = this.#config;
      requireFloat32Array(fn, 'grad', grad, [['rows', rows], ['cols', cols]]);
      module.HEAPF32.set(grad, this.#gradPointer >>> 2);
      // The core scans G for NaN/±∞ before touching any state and refuses the step (one pass in
      // WASM instead of a second one here).
      const bad = this.#native.step(this.#gradPointer);
      if (bad >= 0) {
        throw new RangeError(`${fn}: grad[${bad}] is ${grad[bad]}; the gradient must be finite, so the step was refused and the weight is unchanged`);
      }
      return this;
    }

    /** The current W as a new Float32Array(rows×cols). */
    get weight() {
      this.assertAlive('LowRankOptimizer.weight');
      const count = this.#config.rows * this.#config.cols;
      return withHeap(module, (heap) => {
        const pointer = heap.alloc(count, 'the weight');
        this.#native.readWeight(pointer);
        return heap.read(pointer, count);
      });
    }

    /** { A (rows×rank), B (rank×cols) } copies for 'lora', 'fixed-a', 'fixed-b', 'additive'; else null. */
    get factors() {
      this.assertAlive('LowRankOptimizer.factors');
      const { rows, cols, rank, mode } = this.#config;
      if (!FACTOR_MODES.has(mode)) return null;
      return withHeap(module, (heap) => {
        const a = heap.alloc(rows * rank, 'A');
        const b = heap.alloc(rank * cols, 'B');
        this.#native.readA(a);
        this.#native.readB(b);
        return { A: heap.read(a, rows * rank), B: heap.read(b, rank * cols) };
      });
    }

    /**
     * GaLore's projector P: rank×cols (rows ≥ cols, right projector) or rows×rank, as a new
     * Float32Array; null for the other modes.
     */
    get projector() {
      this.assertAlive('LowRankOptimizer.projector');
      const { rows, cols, rank, mode } = this.#config;
      if (mode !== 'galore') return null;
      const count = rank * Math.min(rows, cols);
      return withHeap(module, (heap) => {
        const pointer = heap.alloc(count, 'the projector');
        this.#native.readProjector(pointer);
        return heap.read(pointer, count);
      });
    }

    /** Floats of optimizer state (factors/projector and moments; not W or the frozen W0'). */
    get stateFloats() {
      this.assertAlive('LowRankOptimizer.stateFloats');
      return this.#native.stateFloats();
    }
  }

  const multitask = Object.freeze({
    /** Σ g_i/‖g_i‖ over the tasks' gradients (zero-norm terms skipped) → Float32Array. */
    normalizedSum(grads) {
      const fn = 'multitask.normalizedSum';
      requireGradientList(fn, 'grads', grads);
      const size = grads[0].length;
      return withHeap(module, (heap) => {
        const input = stackInput(module, heap, grads, 'grads');
        const out = heap.alloc(size, 'the direction');
        module.multitaskNormalizedSum(input, grads.length, size, out);
        return heap.read(out, size);
      });
    },

    /**
     * MGDA min-norm direction u = Σ α_i g_i with α on the simplex: two tasks in closed form, more
     * by Frank–Wolfe with exact line search from uniform α. → { direction, weights (α), iterations }.
     */
    mgda(grads, options) {
      const fn = 'multitask.mgda';
      requireGradientList(fn, 'grads', grads);
      const { maxIterations, tolerance } = requireOptions(fn, options);
      const iterations = maxIterations === undefined ? 200 : requireSize(fn, 'maxIterations', maxIterations);
      const tol = requireNumber(fn, 'tolerance', tolerance, { fallback: 0, min: 0 });
      const size = grads[0].length;
      const tasks = grads.length;
      return withHeap(module, (heap) => {
        const input = stackInput(module, heap, grads, 'grads');
        const out = heap.alloc(size, 'the direction');
        const weights = heap.alloc(tasks, 'the weights', 8);
        const ran = module.multitaskMgda(input, tasks, size, out, weights, iterations, tol);
        return { direction: heap.read(out, size), weights: heap.readF64(weights, tasks), iterations: ran };
      });
    },

    /**
     * Primary gradient g0 plus auxiliary ones: u = g0 + Σ λ_i g_i minimising ‖u‖² over λ ≥ 0.
     * → { direction, weights (λ, one per auxiliary task) }.
     */
    primaryAux(g0, auxGrads, options) {
      const fn = 'multitask.primaryAux';
      if (!(g0 instanceof Float32Array)) throw new TypeError(`${fn}: g0 must be a Float32Array, received ${describe(g0)}`);
      if (g0.length === 0) throw new RangeError(`${fn}: g0 must not be empty`);
      requireFinite(fn, 'g0', g0);
      requireGradientList(fn, 'auxGrads', auxGrads);
      if (auxGrads[0].length !== g0.length) {
        throw new RangeError(`${fn}: auxGrads[0] must have the length of g0 = ${g0.length}, received length ${auxGrads[0].length}`);
      }
      const { maxSweeps, tolerance } = requireOptions(fn, options);
      const sweeps = maxSweeps === undefined ? 200 : requireSize(fn, 'maxSweeps', maxSweeps);
      const tol = requireNumber(fn, 'tolerance', tolerance, { fallback: 1e-12, min: 0 });
      const size = g0.length;
      const tasks = auxGrads.length;
      return withHeap(module, (heap) => {
        const primary = heap.input(g0, 'g0');
        const aux = stackInput(module, heap, auxGrads, 'auxGrads');
        const out = heap.alloc(size, 'the direction');
        const weights = heap.alloc(tasks, 'the weights', 8);
        module.multitaskPrimaryAux(primary, aux, tasks, size, out, weights, sweeps, tol);
        return { direction: heap.read(out, size), weights: heap.readF64(weights, tasks) };
      });
    },
  });

  /**
   * Clips a list of gradient tensors by their global L2 norm γ = maxNorm:
   *   form 'min' (default): g·min(1, γ/‖g‖);  'smooth': g·γ/(‖g‖ + γ).
   * → { grads (new Float32Arrays, same shapes), norm (the norm before clipping) }.
   */
  function clipGradients(grads, options) {
    const fn = 'clipGradients';
    requireGradientList(fn, 'grads', grads, { sameLength: false });
    if (options === undefined) throw new TypeError(`${fn}: options { maxNorm } are required, received undefined`);
    const { maxNorm, form } = requireOptions(fn, options);
    const gamma = requireNumber(fn, 'maxNorm', maxNorm, { min: 0, minOpen: true });
    const clipForm = requireChoice(fn, 'form', form, CLIP_FORMS, 'min');
    const total = grads.reduce((sum, g) => sum + g.length, 0);
    elementCount(fn, 'grads', [['total', total]]);
    return withHeap(module, (heap) => {
      const pointer = heap.alloc(total, 'grads');
      let offset = pointer >>> 2;
      for (const g of grads) {
        module.HEAPF32.set(g, offset);
        offset += g.length;
      }
      const norm = module.clipGradients(pointer, total, gamma, CLIP_FORMS.indexOf(clipForm));
      let start = pointer;
      const out = grads.map((g) => {
        const copy = heap.read(start, g.length);
        start += g.length * 4;
        return copy;
      });
      return { grads: out, norm };
    });
  }

  return { LowRankOptimizer, multitask, clipGradients };
}
