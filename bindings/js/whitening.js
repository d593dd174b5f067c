// BERT-whitening with β, γ, k (Su et al., arXiv 2103.15316; kexue.fm/archives/8069, 9079).
// The model is the affine map y = (x − βμ)·W_k, W_k = U[:, :k]·Λ[:k]^(−γ/2) (dim×k), fitted from
// float64 streaming statistics and applied with the SIMD GEMM. Options and model headers are read
// and checked by C++ (whitening_*_validate); this side checks the arrays against the resolved
// shapes and reads the plain-array parts of saved models.
import { Disposable } from './disposable.js';
import { deepFreeze, describe, exactView, requireFloat32Array, requireOptions, requireOptionsObject, resolvePlan, throwIfError, typedArrayKind }
  from './errors.js';
import { withHeap } from './heap.js';
import { defineSteps, hasControls, readControls, runSteps, withoutControls } from './progress.js';

// Rows per step of a fit or an add with { onProgress, signal }: about 2^20 floats (~10 ms).
const floatsPerStep = 2 ** 20;

// A numeric array (plain or typed) of the given length with finite entries, as a Float64Array.
// (Whether each value also fits float32, which the transform uses, C++ checks: whiteningModelRangeCheck.)
function finiteVector(fn, name, value, length) {
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`${fn}: ${name} must be an array of numbers, received ${describe(value)}`);
  }
  // A typed array is read through the built-in accessors (its own `length` may lie).
  const source = typedArrayKind(value) === undefined ? value : exactView(value);
  if (source.length !== length) {
    throw new RangeError(`${fn}: ${name} must have length ${length}, received length ${source.length}`);
  }
  const out = new Float64Array(length);
  for (let i = 0; i < length; ++i) {
    const entry = source[i];
    if (typeof entry !== 'number' || !Number.isFinite(entry)) {
      throw new RangeError(`${fn}: ${name}[${i}] must be a finite number, received ${describe(entry)}`);
    }
    out[i] = entry;
  }
  return out;
}

// Builds the Whitening and WhiteningStats classes bound to one WASM module instance.
export function createWhiteningClasses(module) {
  // An imported model's values within float32's range (C++: whitening_model_range_validate).
  function checkModelRange(fn, { options: { dim, k }, kernel, center, mean, eigenvalues }, kernelBias) {
    withHeap(module, (heap) => throwIfError(fn, module.whiteningModelRangeCheck(
      heap.inputF64(kernel, 'kernel'), heap.inputF64(center, 'center'), mean ? heap.inputF64(mean, 'mean') : 0,
      eigenvalues ? heap.inputF64(eigenvalues, 'eigenvalues') : 0, dim, k, kernelBias)));
  }

  class Whitening extends Disposable {
    #native;
    #state;

    // Internal: use Whitening.fit, WhiteningStats#finalize, Whitening.fromJSON or fromKernelBias.
    // state: { options (resolved by C++: dim, k, beta, gamma, ddof, count), mean, eigenvalues,
    // center, kernel }.
    constructor(state) {
      const { dim, k } = state.options;
      const native = withHeap(module, (heap) => new module.WhiteningTransformNative(dim, k,
        heap.inputF64(state.kernel, 'the whitening kernel'), heap.inputF64(state.center, 'the whitening center')));
      super(() => native.delete());
      this.#native = native;
      this.#state = { ...state, options: deepFreeze(state.options) };
    }

    /**
     * Fits a model to rows×dim vectors in one call. With { onProgress, signal } the rows are added
     * in steps of ~2^20 floats (progress in rows; the same model to float64 rounding), and an
     * abort leaves nothing behind.
     */
    static fit(x, options) {
      const fn = 'Whitening.fit';
      const controls = readControls(fn, options);
      if (hasControls(controls)) return runSteps(fn, Whitening.#fitSteps(x, withoutControls(options)), controls);
      requireOptionsObject(fn, options, 'rows, dim');
      const { rows, dim, ...whitening } = resolvePlan(fn, module.whiteningFitOptionsPlan(options));
      const stats = new WhiteningStats(dim);
      try {
        stats.add(x, rows, fn);
        return stats.finalize(whitening, fn);
      } finally {
        stats.dispose();
      }
    }

    static *#fitSteps(x, options) {
      const fn = 'Whitening.fit';
      requireOptionsObject(fn, options, 'rows, dim');
      const { rows, dim, ...whitening } = resolvePlan(fn, module.whiteningFitOptionsPlan(options));
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', dim]]);
      const stats = new WhiteningStats(dim);
      try {
        yield* addSteps(stats, exactView(x), rows, dim, fn);
        return stats.finalize(whitening, fn);
      } finally {
        stats.dispose();
      }
    }

    // The stepped form of fit, for the worker-backed API (bindings/js/progress.js).
    static {
      defineSteps(this, (name, x, options) => (name === 'fit' ? Whitening.#fitSteps(x, withoutControls(options)) : undefined));
    }

    static fromJSON(object) {
      const fn = 'Whitening.fromJSON';
      if (object === null || typeof object !== 'object' || Array.isArray(object)) {
        throw new TypeError(`${fn}: expected a whitening model object, received ${describe(object)}`);
      }
      const options = resolvePlan(fn, module.whiteningJsonPlan(object));
      const { dim, k } = options;
      const nullable = (name) => (object[name] === null || object[name] === undefined ? null : finiteVector(fn, name, object[name], dim));
      const state = {
        options,
        kernel: finiteVector(fn, 'kernel', object.kernel, dim * k),
        center: finiteVector(fn, 'center', object.center, dim),
        mean: nullable('mean'),
        eigenvalues: nullable('eigenvalues'),
      };
      if (state.eigenvalues) {
        withHeap(module, (heap) => throwIfError(fn, module.whiteningEigenvaluesCheck(heap.inputF64(state.eigenvalues, 'eigenvalues'), dim)));
      }
      checkModelRange(fn, state, false);
      return new Whitening(state);
    }

    /**
     * Imports the reference implementation's model (bojone/BERT-whitening compute_kernel_bias):
     * kernel dim×k (nested arrays, as numpy's tolist() gives) and bias 1×dim (or a flat dim
     * array); the transform is y = (x + bias)·kernel.
     */
    static fromKernelBias(object) {
      const fn = 'Whitening.fromKernelBias';
      if (object === null || typeof object !== 'object') {
        throw new TypeError(`${fn}: expected { kernel, bias }, received ${describe(object)}`);
      }
      const { kernel, bias } = object;
      if (!Array.isArray(kernel) || kernel.length === 0 || !Array.isArray(kernel[0])) {
        throw new TypeError(`${fn}: kernel must be a non-empty array of rows (dim×k), received ${describe(kernel)}`);
      }
      const options = resolvePlan(fn, module.whiteningModelPlan({ dim: kernel.length, k: kernel[0].length }));
      const { dim, k } = options;
      const flatKernel = new Float64Array(dim * k);
      kernel.forEach((row, i) => flatKernel.set(finiteVector(fn, `kernel[${i}]`, row, k), i * k));
      const biasRow = Array.isArray(bias) && bias.length === 1 && Array.isArray(bias[0]) ? bias[0] : bias;
      const center = finiteVector(fn, 'bias', biasRow, dim).map((b) => -b);
      const state = { options, kernel: flatKernel, center, mean: null, eigenvalues: null };
      checkModelRange(fn, state, true);
      return new Whitening(state);
    }

    /** The resolved options { dim, k, beta, gamma, ddof, count } (the last four null when imported). */
    get options() { return this.#state.options; }
    get dim() { return this.#state.options.dim; }
    get k() { return this.#state.options.k; }
    /** β, or null for a model imported from { kernel, bias }. */
    get beta() { return this.#state.options.beta; }
    get gamma() { return this.#state.options.gamma; }
    get ddof() { return this.#state.options.ddof; }
    /** Number of rows the model was fitted on (null when imported). */
    get count() { return this.#state.options.count; }
    /** μ as a Float32Array(dim), or null when imported. */
    get mean() { return this.#state.mean ? Float32Array.from(this.#state.mean) : null; }
    /** Eigenvalues of Σ_β, descending, as a Float64Array(dim), or null when imported. */
    get eigenvalues() { return this.#state.eigenvalues ? this.#state.eigenvalues.slice() : null; }
    /** W_k as a Float64Array(dim×k), row-major. */
    get kernel() { return this.#state.kernel.slice(); }

    /** y = (x − βμ)·W_k for rows×dim float32 rows → Float32Array(rows×k). */
    transform(x, options) {
      const fn = 'Whitening.transform';
      options = requireOptionsObject(fn, options, 'rows');
      this.assertAlive(fn);
      const { rows } = resolvePlan(fn, this.#native.plan(options));
      const { dim, k } = this.#state.options;
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', dim]]);
      const outCount = rows * k;
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const yPtr = heap.alloc(outCount, 'the result');
        throwIfError(fn, this.#native.apply(xPtr, yPtr, options));
        return heap.read(yPtr, outCount);
      });
    }

    /** A plain object that JSON.stringify writes and Whitening.fromJSON reads back exactly. */
    toJSON() {
      this.assertAlive('Whitening.toJSON');
      const s = this.#state;
      const list = (array) => (array ? Array.from(array) : null);
      return {
        ...module.whiteningJsonHeader(s.options),
        mean: list(s.mean), eigenvalues: list(s.eigenvalues), center: list(s.center), kernel: list(s.kernel),
      };
    }

    /** The reference implementation's form: kernel dim×k and bias 1×dim (= −βμ), nested arrays. */
    toKernelBias() {
      this.assertAlive('Whitening.toKernelBias');
      const { kernel, center } = this.#state;
      const { dim, k } = this.#state.options;
      return {
        kernel: Array.from({ length: dim }, (_, i) => Array.from(kernel.subarray(i * k, (i + 1) * k))),
        bias: [Array.from(center, (c) => (c === 0 ? 0 : -c))],
      };
    }
  }

  // Adds the rows of x (an exact view) to stats in steps, yielding { done, total } in rows.
  function* addSteps(stats, x, rows, dim, fn) {
    const step = Math.max(1, Math.floor(floatsPerStep / dim));
    for (let start = 0; start < rows; start += step) {
      const count = Math.min(step, rows - start);
      try {
        stats.add(x.subarray(start * dim, (start + count) * dim), count, fn);
      } catch (error) {
        // C++ numbers the rows of the part it was given; the caller's rows start at `start`.
        if (error instanceof RangeError) error.message = error.message.replace(/\brow (\d+) of x\b/, (_, i) => `row ${start + Number(i)} of x`);
        throw error;
      }
      yield { done: start + count, total: rows };
    }
  }

  const STATS_FORMAT = 'kexue-whitening-stats';

  class WhiteningStats extends Disposable {
    #native;
    #options;

    /** Streaming float64 statistics (count, mean, centred second moment) of dim-wide rows. */
    constructor(dim) {
      const fn = 'WhiteningStats';
      const options = deepFreeze(resolvePlan(fn, module.whiteningStatsPlan(dim)));
      const native = new module.WhiteningStatsNative(options.dim);
      super(() => native.delete());
      this.#native = native;
      this.#options = options;
      // The stepped form of add, for the worker-backed API (bindings/js/progress.js).
      defineSteps(this, (name, x, rows) => (name === 'add' ? this.#addSteps(x, rows) : undefined));
    }

    /** The resolved options { dim }. */
    get options() { return this.#options; }
    get dim() { return this.#options.dim; }
    get count() { this.assertAlive('WhiteningStats.count'); return this.#native.count(); }

    /**
     * Adds rows×dim float32 rows; a row with NaN/Infinity is an error and nothing is added. With
     * { onProgress, signal } the rows go in steps of ~2^20 floats into an accumulator of their own,
     * merged at the end: an abort (or a bad row) adds nothing.
     */
    add(x, rows, options) {
      // Internal callers (Whitening.fit) pass their function name for the messages.
      const fn = typeof options === 'string' ? options : 'WhiteningStats.add';
      if (typeof options !== 'string') {
        const controls = readControls(fn, options);
        if (hasControls(controls)) return runSteps(fn, this.#addSteps(x, rows), controls);
      }
      this.assertAlive(fn);
      throwIfError(fn, this.#native.addPlan(rows));
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', this.#options.dim]]);
      withHeap(module, (heap) => throwIfError(fn, this.#native.add(heap.input(x, 'x'), rows)));
      return this;
    }

    *#addSteps(x, rows) {
      const fn = 'WhiteningStats.add';
      this.assertAlive(fn);
      throwIfError(fn, this.#native.addPlan(rows));
      const dim = this.#options.dim;
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', dim]]);
      const part = new WhiteningStats(dim);
      try {
        yield* addSteps(part, exactView(x), rows, dim, fn);
        this.assertAlive(fn);
        this.merge(part);
        return this;
      } finally {
        part.dispose();
      }
    }


    /** Folds another accumulator (same dim) into this one, as if its rows had been added here. */
    merge(other) {
      const fn = 'WhiteningStats.merge';
      this.assertAlive(fn);
      if (!(other instanceof WhiteningStats)) {
        throw new TypeError(`${fn}: other must be a WhiteningStats, received ${describe(other)}`);
      }
      other.assertAlive(fn);
      throwIfError(fn, this.#native.merge(other.#native));
      return this;
    }

    /**
     * The float64 state as JSON: { format: 'kexue-whitening-stats', version: 1, dim, count, mean
     * (dim numbers), m2 (dim·dim numbers, row-major: Σ_i (x_i − μ)ᵀ(x_i − μ)) }. A job elsewhere
     * (numpy, Spark) produces the same from its sums: mean = Σx/N, m2 = Σxᵀx − N μᵀμ.
     */
    toJSON() {
      this.assertAlive('WhiteningStats.toJSON');
      const dim = this.#options.dim;
      return withHeap(module, (heap) => {
        const meanPtr = heap.alloc(dim, 'the mean', 8);
        const m2Ptr = heap.alloc(dim * dim, 'M2', 8);
        module.whiteningStatsMoments(this.#native, meanPtr, m2Ptr);
        return { format: STATS_FORMAT, version: 1, dim, count: this.#native.count(),
          mean: Array.from(heap.readF64(meanPtr, dim)), m2: Array.from(heap.readF64(m2Ptr, dim * dim)) };
      });
    }

    /** Restores toJSON's object (or a JSON string of it); merge() several to combine partial statistics. */
    static fromJSON(json) {
      const fn = 'WhiteningStats.fromJSON';
      const object = typeof json === 'string' ? JSON.parse(json) : json;
      if (object === null || typeof object !== 'object' || object.format !== STATS_FORMAT) {
        throw new TypeError(`${fn}: json must be an object with format '${STATS_FORMAT}', received ${describe(object?.format ?? object)}`);
      }
      if (object.version !== 1) throw new RangeError(`${fn}: version must be 1, received ${describe(object.version)}`);
      const stats = new WhiteningStats(object.dim);
      try {
        const dim = stats.dim;
        for (const [name, length] of [['mean', dim], ['m2', dim * dim]]) {
          const value = object[name];
          if (!(Array.isArray(value) || ArrayBuffer.isView(value)) || value.length !== length) {
            throw new RangeError(`${fn}: ${name} must be an array of ${length} numbers, received ${describe(value)}`);
          }
        }
        withHeap(module, (heap) => throwIfError(fn, module.whiteningStatsMergeMoments(stats.#native, object.count,
          heap.inputF64(Float64Array.from(object.mean), 'the mean'), heap.inputF64(Float64Array.from(object.m2), 'M2'))));
      } catch (error) {
        stats.dispose();
        throw error;
      }
      return stats;
    }

    /** Fits the model from the statistics gathered so far. */
    finalize(options, fn = 'WhiteningStats.finalize') {
      options = requireOptions(fn, options);
      this.assertAlive(fn);
      const { k } = resolvePlan(fn, module.whiteningFitPlan(this.#native, options));
      const dim = this.#options.dim;
      const state = withHeap(module, (heap) => {
        const meanPtr = heap.alloc(dim, 'the mean', 8);
        const eigPtr = heap.alloc(dim, 'the eigenvalues', 8);
        const centerPtr = heap.alloc(dim, 'the center', 8);
        const kernelPtr = heap.alloc(dim * k, 'the kernel', 8);
        const model = resolvePlan(fn, module.whiteningFit(this.#native, options, meanPtr, eigPtr, centerPtr, kernelPtr));
        return {
          options: model,
          mean: heap.readF64(meanPtr, dim), eigenvalues: heap.readF64(eigPtr, dim),
          center: heap.readF64(centerPtr, dim), kernel: heap.readF64(kernelPtr, dim * k),
        };
      });
      return new Whitening(state);
    }
  }

  return { Whitening, WhiteningStats };
}
