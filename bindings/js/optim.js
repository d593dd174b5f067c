// Optimizers on the gradients a model already produces (src/optim/):
//   LowRankOptimizer   LoRA as an optimizer (kexue.fm/archives/9590, 10226) and GaLore
//                      (arXiv 2403.03507): low-rank optimizer state for one rows×cols weight, fed
//                      the full gradient G; plus 'full' Adam/SGD as the baseline.
//   multitask          per-task gradient normalisation, MGDA, primary + auxiliary (kexue.fm 8870,
//                      8896, 8907).
//   clipGradients      clipping by global norm, min(1, γ/‖g‖) or γ/(‖g‖ + γ) (kexue.fm 7469).
// The options are read and checked by C++ (src/optim/*: the field lists and validators; see
// bindings/optim_bindings.cpp): each call asks its `…Plan` binding first, which returns the resolved
// options or the error thrown here. This file checks only what C++ cannot see: the JS type and
// length of the array arguments (weight, factors, grads) and the NaN/±Infinity inside them.
import { Disposable } from './disposable.js';
import { describe, exactView, requireFinite, requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError, typedArrayKind,
  typedLength } from './errors.js';
import { withHeap } from './heap.js';

// The array-valued options of LowRankOptimizer, which the facade copies into the heap itself; C++
// knows their names (so a misspelt one still gets a "did you mean").
function requireFactors(fn, factors, rows, cols, rank) {
  if (factors === null || typeof factors !== 'object' || Array.isArray(factors)) {
    throw new TypeError(`${fn}: factors must be an object { A, B }, received ${describe(factors)}`);
  }
  const { A, B } = factors;
  requireFloat32Array(fn, 'factors.A', A, [['rows', rows], ['rank', rank]]);
  requireFloat32Array(fn, 'factors.B', B, [['rank', rank], ['cols', cols]]);
  requireFinite(fn, 'factors.A', A);
  requireFinite(fn, 'factors.B', B);
  return { A, B };
}

// An array of Float32Arrays (of one common length unless sameLength is false), all finite. Returns
// the length of the first (0 for an empty list, which C++ refuses by name).
function requireGradientList(fn, name, grads, { sameLength = true } = {}) {
  if (!Array.isArray(grads)) {
    throw new TypeError(`${fn}: ${name} must be an array of Float32Arrays, received ${describe(grads)}`);
  }
  // Lengths through the built-in accessor: a subclass's `length` may lie (errors.js, typedLength).
  grads.forEach((g, i) => {
    if (typedArrayKind(g) !== 'Float32Array') {
      throw new TypeError(`${fn}: ${name}[${i}] must be a Float32Array, received ${describe(g)}`);
    }
    if (sameLength && typedLength(g) !== typedLength(grads[0])) {
      throw new RangeError(`${fn}: ${name}[${i}] must have the length of ${name}[0] = ${typedLength(grads[0])}, received length ${typedLength(g)}`);
    }
    requireFinite(fn, `${name}[${i}]`, g);
  });
  return grads.length > 0 ? typedLength(grads[0]) : 0;
}

// Copies equal-length Float32Arrays into one tasks×size heap buffer (its size checked by the plan).
function stackInput(module, heap, grads, what) {
  const size = typedLength(grads[0]);
  const pointer = heap.alloc(grads.length * size, what);
  grads.forEach((g, i) => module.HEAPF32.set(exactView(g), (pointer >>> 2) + i * size));
  return pointer;
}

export function createOptimClasses(module) {
  class LowRankOptimizer extends Disposable {
    #native;
    #gradPointer;
    #options;

    /**
     * One optimizer per rows×cols weight (row-major, used as y = x·W). See README "LoRA as an
     * optimizer" for the modes and the memory each keeps.
     */
    constructor(options) {
      const fn = 'LowRankOptimizer';
      requireOptionsObject(fn, options, 'rows, cols, rank, lr, weight');
      // Every option but the arrays is read, resolved (the mode's defaults) and checked by C++.
      const resolved = resolvePlan(fn, module.lowRankOptimizerPlan(options));
      const { rows, cols, rank } = resolved;
      const weight = requireFloat32Array(fn, 'weight', options.weight, [['rows', rows], ['cols', cols]]);
      requireFinite(fn, 'weight', weight);
      const factors = options.factors === undefined ? null : requireFactors(fn, options.factors, rows, cols, rank);

      const gradPointer = module._malloc(rows * cols * 4);
      if (gradPointer === 0) throw new RangeError(`${fn}: out of WASM memory allocating the gradient buffer (${rows * cols * 4} bytes)`);
      let created;
      try {
        created = withHeap(module, (heap) => module.LowRankOptimizerNative.create(resolved, heap.input(weight, 'weight'),
          factors ? heap.input(factors.A, 'factors.A') : 0, factors ? heap.input(factors.B, 'factors.B') : 0));
        throwIfError(fn, created.error);
      } catch (error) {
        module._free(gradPointer);
        throw error;
      }
      const native = created.optimizer;
      super(() => {
        native.delete();
        module._free(gradPointer);
      });
      this.#native = native;
      this.#gradPointer = gradPointer;
      this.#options = Object.freeze(native.options());
    }

    /** The resolved options (defaults filled in, 'base' and 'eps' as the mode sets them). */
    get options() { return this.#options; }
    /** @deprecated Use `options` (the same object). */
    get config() { return this.#options; }
    get rows() { return this.#options.rows; }
    get cols() { return this.#options.cols; }
    get rank() { return this.#options.rank; }
    get mode() { return this.#options.mode; }

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
      const { rows, cols } = this.#options;
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
      const count = this.#options.rows * this.#options.cols;
      return withHeap(module, (heap) => {
        const pointer = heap.alloc(count, 'the weight');
        this.#native.readWeight(pointer);
        return heap.read(pointer, count);
      });
    }

    /** { A (rows×rank), B (rank×cols) } copies for 'lora', 'fixed-a', 'fixed-b', 'additive'; else null. */
    get factors() {
      this.assertAlive('LowRankOptimizer.factors');
      const { rows, cols, rank } = this.#options;
      if (!this.#native.hasFactors()) return null;
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
      const count = this.#native.projectorFloats();
      if (count === 0) return null;
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
      const size = requireGradientList(fn, 'grads', grads);
      const tasks = grads.length;
      throwIfError(fn, module.multitaskNormalizedSumPlan(tasks, size).error);
      return withHeap(module, (heap) => {
        const input = stackInput(module, heap, grads, 'grads');
        const out = heap.alloc(size, 'the direction');
        throwIfError(fn, module.multitaskNormalizedSum(input, tasks, size, out).error);
        return heap.read(out, size);
      });
    },

    /**
     * MGDA min-norm direction u = Σ α_i g_i with α on the simplex: two tasks in closed form, more
     * exactly by Wolfe's active-set method on the Gram matrix. → { direction, weights (α),
     * iterations, gap }, gap = ‖u‖² − min_i⟨g_i, u⟩ ≥ 0 (0 at the optimum).
     */
    mgda(grads, options) {
      const fn = 'multitask.mgda';
      const size = requireGradientList(fn, 'grads', grads);
      const tasks = grads.length;
      const resolved = resolvePlan(fn, module.multitaskMgdaPlan(options, tasks, size));
      return withHeap(module, (heap) => {
        const input = stackInput(module, heap, grads, 'grads');
        const out = heap.alloc(size, 'the direction');
        const weights = heap.alloc(tasks, 'the weights', 8);
        const result = module.multitaskMgda(input, tasks, size, out, weights, resolved);
        throwIfError(fn, result.error);
        return { direction: heap.read(out, size), weights: heap.readF64(weights, tasks), iterations: result.iterations,
          gap: result.gap };
      });
    },

    /**
     * Primary gradient g0 plus auxiliary ones: u = g0 + Σ λ_i g_i minimising ‖u‖² over λ ≥ 0.
     * → { direction, weights (λ, one per auxiliary task) }.
     */
    primaryAux(g0, auxGrads, options) {
      const fn = 'multitask.primaryAux';
      if (typedArrayKind(g0) !== 'Float32Array') throw new TypeError(`${fn}: g0 must be a Float32Array, received ${describe(g0)}`);
      requireFinite(fn, 'g0', g0);
      requireGradientList(fn, 'auxGrads', auxGrads);
      const size = typedLength(g0);
      if (auxGrads.length > 0 && typedLength(auxGrads[0]) !== size) {
        throw new RangeError(`${fn}: auxGrads[0] must have the length of g0 = ${size}, received length ${typedLength(auxGrads[0])}`);
      }
      const tasks = auxGrads.length;
      const resolved = resolvePlan(fn, module.multitaskPrimaryAuxPlan(options, tasks, size));
      return withHeap(module, (heap) => {
        const primary = heap.input(g0, 'g0');
        const aux = stackInput(module, heap, auxGrads, 'auxGrads');
        const out = heap.alloc(size, 'the direction');
        const weights = heap.alloc(tasks, 'the weights', 8);
        throwIfError(fn, module.multitaskPrimaryAux(primary, aux, tasks, size, out, weights, resolved).error);
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
    requireOptionsObject(fn, options, 'maxNorm');
    const total = grads.reduce((sum, g) => sum + typedLength(g), 0);
    const resolved = resolvePlan(fn, module.clipGradientsPlan(options, grads.length, total));
    return withHeap(module, (heap) => {
      const pointer = heap.alloc(total, 'grads');
      let offset = pointer >>> 2;
      for (const g of grads) {
        module.HEAPF32.set(exactView(g), offset);
        offset += typedLength(g);
      }
      const result = module.clipGradients(pointer, grads.length, total, resolved);
      throwIfError(fn, result.error);
      let start = pointer;
      const out = grads.map((g) => {
        const copy = heap.read(start, typedLength(g));
        start += typedLength(g) * 4;
        return copy;
      });
      return { grads: out, norm: result.norm };
    });
  }

  return { LowRankOptimizer, multitask, clipGradients };
}
