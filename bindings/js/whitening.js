// BERT-whitening with β, γ, k (Su et al., arXiv 2103.15316; kexue.fm/archives/8069, 9079).
// The model is the affine map y = (x − βμ)·W_k, W_k = U[:, :k]·Λ[:k]^(−γ/2) (dim×k), fitted from
// float64 streaming statistics and applied with the SIMD GEMM.
import { Disposable } from './disposable.js';
import { describe, elementCount, requireBoolean, requireFloat32Array, requireOptions, requireSize } from './errors.js';
import { withHeap } from './heap.js';

const FORMAT = 'kexue-whitening';
const FORMAT_VERSION = 1;

function requireFiniteNumber(fn, name, value, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${fn}: ${name} must be a finite number, received ${describe(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${fn}: ${name} must be a finite number, received ${describe(value)}`);
  return value;
}

function requireDdof(fn, value) {
  if (value === undefined) return 0;
  if (value !== 0 && value !== 1) throw new RangeError(`${fn}: ddof must be 0 or 1, received ${describe(value)}`);
  return value;
}

function requireK(fn, k, dim) {
  if (k === undefined) return dim;
  requireSize(fn, 'k', k);
  if (k > dim) throw new RangeError(`${fn}: k must be between 1 and dim = ${dim}, received ${k}`);
  return k;
}

// A numeric array (plain or typed) of the given length with finite entries, as a Float64Array.
function finiteVector(fn, name, value, length) {
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`${fn}: ${name} must be an array of numbers, received ${describe(value)}`);
  }
  if (value.length !== length) {
    throw new RangeError(`${fn}: ${name} must have length ${length}, received length ${value.length}`);
  }
  const out = new Float64Array(length);
  for (let i = 0; i < length; ++i) {
    const entry = value[i];
    if (typeof entry !== 'number' || !Number.isFinite(entry)) {
      throw new RangeError(`${fn}: ${name}[${i}] must be a finite number, received ${describe(entry)}`);
    }
    out[i] = entry;
  }
  return out;
}

function firstNonFiniteRow(x, dim) {
  for (let i = 0; i < x.length; ++i) {
    if (!Number.isFinite(x[i])) return Math.floor(i / dim);
  }
  return -1;
}

// Builds the Whitening and WhiteningStats classes bound to one WASM module instance.
export function createWhiteningClasses(module) {
  class Whitening extends Disposable {
    #native;
    #state;

    // Internal: use Whitening.fit, WhiteningStats#finalize, Whitening.fromJSON or fromKernelBias.
    constructor(state) {
      const native = withHeap(module, (heap) => new module.WhiteningTransformNative(state.dim, state.k,
        heap.inputF64(state.kernel, 'the whitening kernel'), heap.inputF64(state.center, 'the whitening center')));
      super(() => native.delete());
      this.#native = native;
      this.#state = state;
    }

    /** Fits a model to rows×dim vectors in one call. */
    static fit(x, options) {
      const fn = 'Whitening.fit';
      if (options === undefined) throw new TypeError(`${fn}: options { rows, dim } are required, received undefined`);
      const { rows, dim, ...fitOptions } = requireOptions(fn, options);
      requireSize(fn, 'rows', rows);
      requireSize(fn, 'dim', dim);
      const stats = new WhiteningStats(dim);
      try {
        stats.add(x, rows, fn);
        return stats.finalize(fitOptions, fn);
      } finally {
        stats.dispose();
      }
    }

    static fromJSON(object) {
      const fn = 'Whitening.fromJSON';
      if (object === null || typeof object !== 'object' || Array.isArray(object)) {
        throw new TypeError(`${fn}: expected a whitening model object, received ${describe(object)}`);
      }
      if (object.format !== FORMAT) {
        throw new RangeError(`${fn}: format must be "${FORMAT}", received ${describe(object.format)}`);
      }
      if (object.version !== FORMAT_VERSION) {
        throw new RangeError(`${fn}: version must be ${FORMAT_VERSION}, received ${describe(object.version)}`);
      }
      const dim = requireSize(fn, 'dim', object.dim);
      const k = requireK(fn, object.k, dim);
      elementCount(fn, 'kernel', [['dim', dim], ['k', k]]);
      const nullable = (name, read) => (object[name] === null || object[name] === undefined ? null : read(object[name]));
      const state = {
        dim, k,
        kernel: finiteVector(fn, 'kernel', object.kernel, dim * k),
        center: finiteVector(fn, 'center', object.center, dim),
        beta: nullable('beta', (v) => requireFiniteNumber(fn, 'beta', v)),
        gamma: nullable('gamma', (v) => requireFiniteNumber(fn, 'gamma', v)),
        ddof: nullable('ddof', (v) => requireDdof(fn, v)),
        count: nullable('count', (v) => requireSize(fn, 'count', v)),
        mean: nullable('mean', (v) => finiteVector(fn, 'mean', v, dim)),
        eigenvalues: nullable('eigenvalues', (v) => finiteVector(fn, 'eigenvalues', v, dim)),
      };
      if (state.eigenvalues) {
        for (let i = 1; i < dim; ++i) {
          if (state.eigenvalues[i] > state.eigenvalues[i - 1]) {
            throw new RangeError(`${fn}: eigenvalues must be in descending order, but eigenvalues[${i}] = ` +
              `${state.eigenvalues[i]} > eigenvalues[${i - 1}] = ${state.eigenvalues[i - 1]}`);
          }
        }
      }
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
      const dim = kernel.length;
      const k = kernel[0].length;
      requireK(fn, k, dim);
      const flatKernel = new Float64Array(dim * k);
      kernel.forEach((row, i) => flatKernel.set(finiteVector(fn, `kernel[${i}]`, row, k), i * k));
      const biasRow = Array.isArray(bias) && bias.length === 1 && Array.isArray(bias[0]) ? bias[0] : bias;
      const center = finiteVector(fn, 'bias', biasRow, dim).map((b) => -b);
      return new Whitening({ dim, k, kernel: flatKernel, center, beta: null, gamma: null, ddof: null,
        count: null, mean: null, eigenvalues: null });
    }

    get dim() { return this.#state.dim; }
    get k() { return this.#state.k; }
    /** β, or null for a model imported from { kernel, bias }. */
    get beta() { return this.#state.beta; }
    get gamma() { return this.#state.gamma; }
    get ddof() { return this.#state.ddof; }
    /** Number of rows the model was fitted on (null when imported). */
    get count() { return this.#state.count; }
    /** μ as a Float32Array(dim), or null when imported. */
    get mean() { return this.#state.mean ? Float32Array.from(this.#state.mean) : null; }
    /** Eigenvalues of Σ_β, descending, as a Float64Array(dim), or null when imported. */
    get eigenvalues() { return this.#state.eigenvalues ? this.#state.eigenvalues.slice() : null; }
    /** W_k as a Float64Array(dim×k), row-major. */
    get kernel() { return this.#state.kernel.slice(); }

    /** y = (x − βμ)·W_k for rows×dim float32 rows → Float32Array(rows×k). */
    transform(x, options) {
      const fn = 'Whitening.transform';
      this.assertAlive(fn);
      if (options === undefined) throw new TypeError(`${fn}: options { rows } are required, received undefined`);
      const { rows, normalize } = requireOptions(fn, options);
      requireSize(fn, 'rows', rows);
      const doNormalize = requireBoolean(fn, 'normalize', normalize, false);
      const { dim, k } = this.#state;
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', dim]]);
      const badRow = firstNonFiniteRow(x, dim);
      if (badRow >= 0) throw new RangeError(`${fn}: row ${badRow} of x holds NaN or Infinity`);
      const outCount = elementCount(fn, 'the result', [['rows', rows], ['k', k]]);
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const yPtr = heap.alloc(outCount, 'the result');
        this.#native.apply(xPtr, rows, yPtr, doNormalize);
        return heap.read(yPtr, outCount);
      });
    }

    /** A plain object that JSON.stringify writes and Whitening.fromJSON reads back exactly. */
    toJSON() {
      this.assertAlive('Whitening.toJSON');
      const s = this.#state;
      const list = (array) => (array ? Array.from(array) : null);
      return {
        format: FORMAT, version: FORMAT_VERSION, dim: s.dim, k: s.k, beta: s.beta, gamma: s.gamma,
        ddof: s.ddof, count: s.count, mean: list(s.mean), eigenvalues: list(s.eigenvalues),
        center: list(s.center), kernel: list(s.kernel),
      };
    }

    /** The reference implementation's form: kernel dim×k and bias 1×dim (= −βμ), nested arrays. */
    toKernelBias() {
      this.assertAlive('Whitening.toKernelBias');
      const { dim, k, kernel, center } = this.#state;
      return {
        kernel: Array.from({ length: dim }, (_, i) => Array.from(kernel.subarray(i * k, (i + 1) * k))),
        bias: [Array.from(center, (c) => (c === 0 ? 0 : -c))],
      };
    }
  }

  class WhiteningStats extends Disposable {
    #native;
    #dim;

    /** Streaming float64 statistics (count, mean, centred second moment) of dim-wide rows. */
    constructor(dim) {
      const fn = 'WhiteningStats';
      requireSize(fn, 'dim', dim);
      elementCount(fn, 'the second-moment matrix', [['dim', dim], ['dim', dim], ['float64', 2]]);
      const native = new module.WhiteningStatsNative(dim);
      super(() => native.delete());
      this.#native = native;
      this.#dim = dim;
    }

    get dim() { return this.#dim; }
    get count() { this.assertAlive('WhiteningStats.count'); return this.#native.count(); }

    /** Adds rows×dim float32 rows; a row with NaN/Infinity is an error and nothing is added. */
    add(x, rows, fn = 'WhiteningStats.add') {
      this.assertAlive(fn);
      requireSize(fn, 'rows', rows);
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', this.#dim]]);
      const badRow = withHeap(module, (heap) => this.#native.add(heap.input(x, 'x'), rows));
      if (badRow >= 0) throw new RangeError(`${fn}: row ${badRow} of x holds NaN or Infinity`);
      return this;
    }

    /** Folds another accumulator (same dim) into this one, as if its rows had been added here. */
    merge(other) {
      const fn = 'WhiteningStats.merge';
      this.assertAlive(fn);
      if (!(other instanceof WhiteningStats)) {
        throw new TypeError(`${fn}: other must be a WhiteningStats, received ${describe(other)}`);
      }
      other.assertAlive(fn);
      if (other.dim !== this.#dim) {
        throw new RangeError(`${fn}: other must have dim = ${this.#dim}, received dim ${other.dim}`);
      }
      this.#native.merge(other.#native);
      return this;
    }

    /** Fits the model from the statistics gathered so far. */
    finalize(options, fn = 'WhiteningStats.finalize') {
      this.assertAlive(fn);
      const { beta, gamma, k, ddof } = requireOptions(fn, options);
      const dim = this.#dim;
      const b = requireFiniteNumber(fn, 'beta', beta, 1);
      const g = requireFiniteNumber(fn, 'gamma', gamma, 1);
      const kk = requireK(fn, k, dim);
      const dd = requireDdof(fn, ddof);
      const count = this.#native.count();
      if (count <= dd) {
        throw new RangeError(`${fn}: needs more than ddof = ${dd} rows, received ${count}`);
      }
      if (count < 2 && b === 1 && g > 0) {
        throw new RangeError(`${fn}: with beta = 1 and gamma > 0 at least 2 rows are needed ` +
          `(one row has zero variance about its mean), received ${count}`);
      }
      const state = withHeap(module, (heap) => {
        const meanPtr = heap.alloc(dim, 'the mean', 8);
        const eigPtr = heap.alloc(dim, 'the eigenvalues', 8);
        const centerPtr = heap.alloc(dim, 'the center', 8);
        const kernelPtr = heap.alloc(dim * kk, 'the kernel', 8);
        module.whiteningFit(this.#native, b, g, kk, dd, meanPtr, eigPtr, centerPtr, kernelPtr);
        return {
          dim, k: kk, beta: b, gamma: g, ddof: dd, count,
          mean: heap.readF64(meanPtr, dim), eigenvalues: heap.readF64(eigPtr, dim),
          center: heap.readF64(centerPtr, dim), kernel: heap.readF64(kernelPtr, dim * kk),
        };
      });
      if (!(state.eigenvalues[0] > 0) && g > 0) {
        throw new RangeError(`${fn}: the rows have zero spread about beta·mean, so gamma = ${g} > 0 ` +
          'would divide by zero; use more varied rows or gamma = 0');
      }
      return new Whitening(state);
    }
  }

  return { Whitening, WhiteningStats };
}
