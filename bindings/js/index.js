// kexue — the JavaScript facade over the WASM module.
//
// Shapes are row-major. Inputs are Float32Arrays; outputs are new Float32Arrays (never views into
// the WASM heap). Every public function validates its arguments here and throws a TypeError or
// RangeError naming the parameter; the C++ side behind the Embind boundary only computes.
import { describe, elementCount, requireBoolean, requireFloat32Array, requireOptions, requireSize } from './errors.js';
import { withHeap } from './heap.js';
import { version } from './version.js';
import { createOptimClasses } from './optim.js';
import { createWhiteningClasses } from './whitening.js';

export { version };
export { Disposable } from './disposable.js';

class Kexue {
  #module;

  constructor(module) {
    this.#module = module;
    const { Whitening, WhiteningStats } = createWhiteningClasses(module);
    /** BERT-whitening model class: Whitening.fit, fromJSON, fromKernelBias. */
    this.Whitening = Whitening;
    /** Streaming, mergeable statistics for fitting a Whitening in chunks. */
    this.WhiteningStats = WhiteningStats;
    const { LowRankOptimizer, multitask, clipGradients } = createOptimClasses(module);
    /** LoRA / GaLore / full Adam as an optimizer of one weight matrix, fed its full gradient. */
    this.LowRankOptimizer = LowRankOptimizer;
    /** Multi-task gradient combination: normalizedSum, mgda, primaryAux. */
    this.multitask = multitask;
    /** Gradient clipping by global norm, { grads, norm } = clipGradients(grads, { maxNorm, form }). */
    this.clipGradients = clipGradients;
  }

  /** The package version string. */
  get version() {
    return version;
  }

  /** Threads the kernels use (1 on the single-threaded module). */
  get threads() {
    return this.#module.threadCount();
  }

  /** Bytes currently reserved by the WASM heap (it grows on demand and never shrinks). */
  get wasmHeapBytes() {
    return this.#module.HEAPU8.length;
  }

  /**
   * C = op(A) · op(B).
   * a: m×k (k×m when transposeA), b: k×n (n×k when transposeB), result m×n; all row-major.
   */
  matmul(a, b, options) {
    const fn = 'matmul';
    if (options === undefined) {
      throw new TypeError(`${fn}: options { m, k, n } are required, received undefined`);
    }
    const { m, k, n, transposeA, transposeB } = requireOptions(fn, options);
    requireSize(fn, 'm', m);
    requireSize(fn, 'k', k);
    requireSize(fn, 'n', n);
    const tA = requireBoolean(fn, 'transposeA', transposeA, false);
    const tB = requireBoolean(fn, 'transposeB', transposeB, false);
    requireFloat32Array(fn, 'a', a, tA ? [['k', k], ['m', m]] : [['m', m], ['k', k]]);
    requireFloat32Array(fn, 'b', b, tB ? [['n', n], ['k', k]] : [['k', k], ['n', n]]);
    const outCount = elementCount(fn, 'the result', [['m', m], ['n', n]]);

    const module = this.#module;
    return withHeap(module, (heap) => {
      const aPtr = heap.input(a, 'a');
      const bPtr = heap.input(b, 'b');
      const cPtr = heap.alloc(outCount, 'the result');
      module.matmulF32(aPtr, bPtr, cPtr, m, k, n, tA, tB);
      return heap.read(cPtr, outCount);
    });
  }
}

const runsOnNode = typeof process === 'object' && typeof process.versions?.node === 'string';

// The pthreads module needs shared WASM memory: always there in Node, and in browsers only on
// cross-origin-isolated pages (COOP: same-origin + COEP: require-corp).
function threadsAvailable() {
  return typeof SharedArrayBuffer === 'function' && (runsOnNode || globalThis.crossOriginIsolated === true);
}

function parseThreads(value) {
  if (value === undefined || value === 'auto') return 'auto';
  if (typeof value !== 'number') {
    throw new TypeError(`init: threads must be 'auto' or a positive integer, received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`init: threads must be 'auto' or a positive integer, received ${describe(value)}`);
  }
  return value;
}

async function createInstance(threads) {
  const useThreads = threads === 'auto' ? threadsAvailable() : threads > 1;
  if (useThreads && !threadsAvailable()) {
    throw new Error(`init: threads = ${threads} needs SharedArrayBuffer, which this page does not ` +
      'have: serve it with the headers Cross-Origin-Opener-Policy: same-origin and ' +
      'Cross-Origin-Embedder-Policy: require-corp, or use threads: 1');
  }
  const { default: createKexueModule } = useThreads
    ? await import('../../dist/kexue-mt.mjs')
    : await import('../../dist/kexue.mjs');
  const module = await createKexueModule();
  if (useThreads) {
    module.unrefWorkers();
    if (threads !== 'auto') module.setThreadCount(Math.min(threads, module.maxThreadCount()));
  }
  return new Kexue(module);
}

const instances = new Map();

/**
 * Loads the WASM module; later calls with the same options return the same instance.
 * Works in Node 20+ and in browsers (the .wasm is found next to dist/kexue*.mjs).
 *   threads: 'auto' (default) uses every core (up to 4) where shared memory is available — Node,
 *            and cross-origin-isolated pages — and one thread elsewhere; 1 forces the
 *            single-threaded module; n > 1 asks for n threads (at most 4).
 */
export async function init(options) {
  const { threads: threadsOption } = requireOptions('init', options);
  const threads = parseThreads(threadsOption);
  const key = String(threads);
  if (!instances.has(key)) {
    const pending = createInstance(threads);
    instances.set(key, pending);
    pending.catch(() => instances.delete(key));
  }
  return instances.get(key);
}

export default init;
