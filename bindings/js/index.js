// kexue — the JavaScript facade over the WASM module.
//
// Shapes are row-major. Inputs are Float32Arrays; outputs are new Float32Arrays (never views into
// the WASM heap). Every public function validates its arguments here and throws a TypeError or
// RangeError naming the parameter; the C++ side behind the Embind boundary only computes.
import createKexueModule from '../../dist/kexue.js';
import { requireBoolean, requireFloat32Array, requireOptions, requireSize, elementCount } from './errors.js';
import { withHeap } from './heap.js';
import { version } from './version.js';

export { version };
export { Disposable } from './disposable.js';

class Kexue {
  #module;

  constructor(module) {
    this.#module = module;
  }

  /** The package version string. */
  get version() {
    return version;
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

let instance = null;

/**
 * Loads the WASM module (once; later calls return the same instance).
 * Works in Node 20+ and in browsers (the .wasm is found next to dist/kexue.js).
 */
export async function init(options) {
  requireOptions('init', options);
  if (!instance) {
    instance = createKexueModule().then((module) => new Kexue(module));
    instance.catch(() => { instance = null; });
  }
  return instance;
}

export default init;
