// logsumexp, the losses and exponentiated gradient (src/losses/, src/optim/exponentiated_gradient.hpp):
//   kx.logsumexp(x, { rows, cols })           stable lse of each row (kexue.fm/archives/9070)
//   kx.logsumexp.grad(x, { rows, cols })      its gradient, the softmax of each row
//   kx.logsumexp.bounds(x, { rows, cols, p, t, tau })   the bounds of 9070, in double
//   kx.losses.zlpr                            multi-label softmax + CE, hard/soft/masked (7359, 9064)
//   kx.losses.infoNCE / flatNCE               over a similarity matrix, ∂L/∂sim (8586)
//   kx.losses.globalPointerKL                 GlobalPointer's symmetric KL (9039)
//   kx.losses.flooding                        |L − b| + b around any of them (7643)
//   kx.ExponentiatedGradient                  EG and a meta-learned step size (8968)
// Options are read and checked by C++ (bindings/losses_bindings.cpp); so are the values inside the
// arrays (NaN, labels outside [0, 1], indices out of range), in the same pass that copies them.
// Here: the JS types and lengths of the array arguments, which C++ cannot see.
import { Disposable } from './disposable.js';
import { describe, exactView, lengthOf, requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError, typedArrayKind,
  typedLength } from './errors.js';
import { withHeap } from './heap.js';

// A compute binding returns the reduced loss (a number) or an error object.
function lossOrThrow(fn, result) {
  if (typeof result !== 'number') throwIfError(fn, result);
  return result;
}

// An array of integers (Array or typed array) of a given length, as a Float64Array: the values
// (integer? in range?) are checked by C++ so that its messages name the offending entry.
function integerArray(fn, name, value, length, lengthName) {
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`${fn}: ${name} must be an array of integers, received ${describe(value)}`);
  }
  const source = typedArrayKind(value) === undefined ? value : exactView(value);
  if (lengthOf(source) !== length) {
    throw new RangeError(`${fn}: ${name} must have length ${lengthName} = ${length}, received length ${lengthOf(source)}`);
  }
  const out = new Float64Array(length);
  for (let i = 0; i < length; ++i) {
    const v = source[i];
    if (typeof v !== 'number') {
      throw new TypeError(`${fn}: ${name}[${i}] must be an integer, received ${describe(v)}`);
    }
    out[i] = v;
  }
  return out;
}

export function createLossFunctions(module) {
  const boundNames = module.logsumexpBoundNames();

  /** lse of each row of x [rows, cols] → Float32Array(rows). */
  function logsumexp(x, options) {
    const fn = 'logsumexp';
    requireOptionsObject(fn, options, 'rows, cols');
    const { rows, cols } = resolvePlan(fn, module.logsumexpPlan(options));
    requireFloat32Array(fn, 'x', x, [['rows', rows], ['cols', cols]]);
    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const outPtr = heap.alloc(rows, 'the result');
      throwIfError(fn, module.logsumexpF32(xPtr, outPtr, options));
      return heap.read(outPtr, rows);
    });
  }

  /** ∂lse/∂x = softmax of each row of x [rows, cols] → Float32Array(rows·cols). */
  logsumexp.grad = function grad(x, options) {
    const fn = 'logsumexp.grad';
    requireOptionsObject(fn, options, 'rows, cols');
    const { rows, cols } = resolvePlan(fn, module.logsumexpPlan(options));
    requireFloat32Array(fn, 'x', x, [['rows', rows], ['cols', cols]]);
    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const gradPtr = heap.alloc(rows * cols, 'the gradient');
      throwIfError(fn, module.logsumexpGradF32(xPtr, gradPtr, options));
      return heap.read(gradPtr, rows * cols);
    });
  };

  /**
   * The quantities of the lse bounds per row, each a Float64Array(rows): value, max, maxPlusLogN,
   * meanPlusLogN, tempered (τ·lse(x/τ)), temperedUpper, and with a distribution p (cols entries
   * shared by every row, or rows·cols) shannon and renyi (order t).
   */
  logsumexp.bounds = function bounds(x, options) {
    const fn = 'logsumexp.bounds';
    requireOptionsObject(fn, options, 'rows, cols');
    const { rows, cols } = resolvePlan(fn, module.logsumexpBoundsPlan(options));
    requireFloat32Array(fn, 'x', x, [['rows', rows], ['cols', cols]]);
    const { p } = options;
    let pRows = 0;
    if (p !== undefined) {
      if (typedArrayKind(p) !== 'Float32Array') throw new TypeError(`${fn}: p must be a Float32Array, received ${describe(p)}`);
      const pLength = typedLength(p);
      if (pLength !== cols && pLength !== rows * cols) {
        throw new RangeError(`${fn}: p must have length cols = ${cols} (one distribution for every row) or ` +
          `rows*cols = ${rows * cols}, received length ${pLength}`);
      }
      pRows = pLength / cols;
    }
    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const pPtr = p === undefined ? 0 : heap.input(p, 'p');
      const outPtr = heap.alloc(boundNames.length * rows, 'the bounds', 8);
      throwIfError(fn, module.logsumexpBounds(xPtr, pPtr, pRows, outPtr, options));
      const all = heap.readF64(outPtr, boundNames.length * rows);
      const out = {};
      boundNames.forEach((name, k) => {
        if (p === undefined && (name === 'shannon' || name === 'renyi')) return;
        out[name] = all.slice(k * rows, (k + 1) * rows);
      });
      return out;
    });
  };

  // The reduced loss, or with reduction 'none' the row losses as a Float32Array(rows).
  function allocRowLosses(heap, reduction, rows) {
    return reduction === 'none' ? heap.alloc(rows, 'the row losses', 8) : 0;
  }
  function readLoss(heap, reduction, rowsPtr, rows, reduced) {
    return reduction === 'none' ? Float32Array.from(heap.readF64(rowsPtr, rows)) : reduced;
  }

  /**
   * ZLPR multi-label loss of logits [rows, classes]; labels: 0/1 Float32Array [rows, classes],
   * targets in [0, 1] with soft: true, or an array of rows index sets. → { loss, grad }.
   */
  function zlpr(logits, labels, options) {
    const fn = 'losses.zlpr';
    requireOptionsObject(fn, options, 'rows, classes');
    const { rows, classes, reduction } = resolvePlan(fn, module.zlprPlan(options));
    const dims = [['rows', rows], ['classes', classes]];
    requireFloat32Array(fn, 'logits', logits, dims);
    let indexSets = null;
    if (labels instanceof Float32Array) {
      requireFloat32Array(fn, 'labels', labels, dims);
    } else if (Array.isArray(labels)) {
      if (labels.length !== rows) {
        throw new RangeError(`${fn}: labels must hold rows = ${rows} index sets, received ${labels.length}`);
      }
      indexSets = labels.map((set, r) => {
        if (!Array.isArray(set) && !(ArrayBuffer.isView(set) && !(set instanceof DataView))) {
          throw new TypeError(`${fn}: labels[${r}] must be an array of class indices, received ${describe(set)}`);
        }
        return integerArray(fn, `labels[${r}]`, set, set.length, 'its length');
      });
    } else {
      throw new TypeError(`${fn}: labels must be a Float32Array [rows, classes] or an array of index sets, ` +
        `received ${describe(labels)}`);
    }
    const { mask } = options;
    if (mask !== undefined) requireFloat32Array(fn, 'mask', mask, dims);
    return withHeap(module, (heap) => {
      const logitsPtr = heap.input(logits, 'logits');
      let labelsPtr;
      if (indexSets) {
        const offsets = new Uint32Array(rows + 1);
        indexSets.forEach((set, r) => { offsets[r + 1] = offsets[r] + set.length; });
        const offsetsPtr = heap.alloc(rows + 1, 'the label offsets');
        module.HEAPU32.set(offsets, offsetsPtr >>> 2);
        const flat = new Float64Array(offsets[rows]);
        indexSets.forEach((set, r) => flat.set(set, offsets[r]));
        const indicesPtr = heap.inputF64(flat, 'the label indices');
        labelsPtr = heap.alloc(rows * classes, 'labels');
        throwIfError(fn, module.zlprLabelsFromIndexSets(offsetsPtr, indicesPtr, labelsPtr, options));
      } else {
        labelsPtr = heap.input(labels, 'labels');
      }
      const maskPtr = mask === undefined ? 0 : heap.input(mask, 'mask');
      const gradPtr = heap.alloc(rows * classes, 'the gradient');
      const rowsPtr = allocRowLosses(heap, reduction, rows);
      const reduced = lossOrThrow(fn, module.zlprF32(logitsPtr, labelsPtr, maskPtr, gradPtr, rowsPtr, options));
      return { loss: readLoss(heap, reduction, rowsPtr, rows, reduced), grad: heap.read(gradPtr, rows * classes) };
    });
  }

  /** The calibrated probability σ(2s) of ZLPR logits, elementwise. */
  zlpr.probability = function probability(logits) {
    const fn = 'losses.zlpr.probability';
    if (typedArrayKind(logits) !== 'Float32Array') {
      throw new TypeError(`${fn}: logits must be a Float32Array, received ${describe(logits)}`);
    }
    return withHeap(module, (heap) => {
      const inPtr = heap.input(logits, 'logits');
      const outPtr = heap.alloc(typedLength(logits), 'the result');
      module.zlprProbabilityF32(inPtr, outPtr, typedLength(logits));
      return heap.read(outPtr, typedLength(logits));
    });
  };

  function contrastive(name, kind) {
    const fn = `losses.${name}`;
    return (sim, options) => {
      requireOptionsObject(fn, options, 'rows, cols');
      const { rows, cols, reduction } = resolvePlan(fn, module.contrastivePlan(options, kind));
      requireFloat32Array(fn, 'sim', sim, [['rows', rows], ['cols', cols]]);
      const targets = options.targets === undefined ? null : integerArray(fn, 'targets', options.targets, rows, 'rows');
      return withHeap(module, (heap) => {
        const simPtr = heap.input(sim, 'sim');
        const targetsPtr = targets ? heap.inputF64(targets, 'targets') : 0;
        const gradPtr = heap.alloc(rows * cols, 'the gradient');
        const rowsPtr = allocRowLosses(heap, reduction, rows);
        const reduced = lossOrThrow(fn, module.contrastiveF32(kind, simPtr, targetsPtr, gradPtr, rowsPtr, options));
        return { loss: readLoss(heap, reduction, rowsPtr, rows, reduced), grad: heap.read(gradPtr, rows * cols) };
      });
    };
  }

  /** GlobalPointer's symmetric KL between logits s and t [rows, classes] → { loss, grad, gradT }. */
  function globalPointerKL(s, t, options) {
    const fn = 'losses.globalPointerKL';
    requireOptionsObject(fn, options, 'rows, classes');
    const { rows, classes, reduction } = resolvePlan(fn, module.globalPointerKlPlan(options));
    const dims = [['rows', rows], ['classes', classes]];
    requireFloat32Array(fn, 's', s, dims);
    requireFloat32Array(fn, 't', t, dims);
    return withHeap(module, (heap) => {
      const sPtr = heap.input(s, 's');
      const tPtr = heap.input(t, 't');
      const gradSPtr = heap.alloc(rows * classes, 'the gradient');
      const gradTPtr = heap.alloc(rows * classes, 'the gradient of t');
      const rowsPtr = allocRowLosses(heap, reduction, rows);
      const reduced = lossOrThrow(fn, module.globalPointerKlF32(sPtr, tPtr, gradSPtr, gradTPtr, rowsPtr, options));
      return {
        loss: readLoss(heap, reduction, rowsPtr, rows, reduced),
        grad: heap.read(gradSPtr, rows * classes),
        gradT: heap.read(gradTPtr, rows * classes),
      };
    });
  }

  /**
   * Flooding at level b of a { loss, grad, … } result: loss |L − b| + b, and every Float32Array
   * field (grad, gradT) multiplied by sign(L − b) (new arrays; the input is not changed).
   */
  function flooding(result, level) {
    const fn = 'losses.flooding';
    if (result === null || typeof result !== 'object' || Array.isArray(result) || ArrayBuffer.isView(result)) {
      throw new TypeError(`${fn}: result must be an object { loss, grad }, received ${describe(result)}`);
    }
    if (typeof result.loss !== 'number') {
      throw new TypeError(`${fn}: result.loss must be a number (the reduced loss: flooding acts on the ` +
        `batch's loss, not on reduction 'none'), received ${describe(result.loss)}`);
    }
    if (typeof level !== 'number') throw new TypeError(`${fn}: level must be a finite number, received ${describe(level)}`);
    const flooded = module.flooding(result.loss, level);
    throwIfError(fn, flooded.error);
    const out = { ...result, loss: flooded.loss };
    for (const [key, value] of Object.entries(result)) {
      if (value instanceof Float32Array) out[key] = value.map((g) => g * flooded.sign);
    }
    return out;
  }

  class ExponentiatedGradient extends Disposable {
    #native;
    #gradPointer;
    #options;
    #size;

    /**
     * { weight: Float32Array, lr, update = 'exponentiated' | 'additive', metaLr = 0, metaClip = 0 }:
     * θ ← θ·exp(−η ν g) (θ ≥ 0) or θ − η ν g, with ν learned by ν ← ν·exp(γ g_{t−1} g_t).
     */
    constructor(options) {
      const fn = 'ExponentiatedGradient';
      requireOptionsObject(fn, options, 'weight, lr');
      const { weight } = options;
      if (typedArrayKind(weight) !== 'Float32Array') {
        throw new TypeError(`${fn}: weight must be a Float32Array, received ${describe(weight)}`);
      }
      const size = typedLength(weight);
      const resolved = resolvePlan(fn, module.exponentiatedGradientPlan(options, size));
      const gradPointer = module._malloc(size * 4);
      if (gradPointer === 0) throw new RangeError(`${fn}: out of WASM memory allocating the gradient buffer (${size * 4} bytes)`);
      let native;
      try {
        native = withHeap(module, (heap) => {
          const weightPtr = heap.input(weight, 'weight');
          throwIfError(fn, module.exponentiatedGradientCheckWeight(weightPtr, size, options));
          return new module.ExponentiatedGradientNative(options, size, weightPtr);
        });
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
      this.#options = Object.freeze(resolved);
      this.#size = size;
    }

    /** The resolved options (defaults filled in; the weight is read through .weight). */
    get options() { return this.#options; }
    get size() { return this.#size; }

    /** Steps taken (refused steps are not counted). */
    get steps() {
      this.assertAlive('ExponentiatedGradient.steps');
      return this.#native.steps();
    }

    /** The current θ as a new Float32Array. */
    get weight() {
      this.assertAlive('ExponentiatedGradient.weight');
      return withHeap(module, (heap) => {
        const out = heap.alloc(this.#size, 'the weight');
        this.#native.readWeight(out);
        return heap.read(out, this.#size);
      });
    }

    /** The per-coordinate step sizes ν as a new Float32Array (all 1 while metaLr = 0). */
    get stepSizes() {
      this.assertAlive('ExponentiatedGradient.stepSizes');
      return withHeap(module, (heap) => {
        const out = heap.alloc(this.#size, 'the step sizes');
        this.#native.readStepSizes(out);
        return heap.read(out, this.#size);
      });
    }

    /** One update from ∂L/∂θ. A gradient holding NaN/±Infinity is refused and changes nothing. */
    step(grad) {
      const fn = 'ExponentiatedGradient.step';
      this.assertAlive(fn);
      requireFloat32Array(fn, 'grad', grad, [['size', this.#size]]);
      module.HEAPF32.set(grad, this.#gradPointer >>> 2);
      const bad = this.#native.step(this.#gradPointer);
      if (bad >= 0) {
        throw new RangeError(`${fn}: grad[${bad}] must be finite, received ${grad[bad]}; the step was refused ` +
          'and the weight is unchanged');
      }
      return this;
    }
  }

  const losses = {
    zlpr,
    infoNCE: contrastive('infoNCE', 'infoNCE'),
    flatNCE: contrastive('flatNCE', 'flatNCE'),
    globalPointerKL,
    flooding,
  };
  return { logsumexp, losses, ExponentiatedGradient };
}
