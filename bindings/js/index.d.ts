/** kexue: Su Jianlin's deep-learning techniques in WebAssembly SIMD. Shapes are row-major. */

export declare const version: string;

export interface MatmulOptions {
  /** Rows of op(A) and of the result. */
  m: number;
  /** Columns of op(A), rows of op(B). */
  k: number;
  /** Columns of op(B) and of the result. */
  n: number;
  /** `a` is stored k×m and used transposed. Default false. */
  transposeA?: boolean;
  /** `b` is stored n×k and used transposed. Default false. */
  transposeB?: boolean;
}

export interface Kexue {
  /** The package version string. */
  readonly version: string;
  /** Threads the kernels use (1 on the single-threaded module). */
  readonly threads: number;
  /** Bytes currently reserved by the WASM heap (grows on demand, never shrinks). */
  readonly wasmHeapBytes: number;
  /**
   * C = op(A)·op(B) in float32. `a` holds m×k (k×m when transposeA), `b` holds k×n (n×k when
   * transposeB), row-major. Returns a new Float32Array of m×n.
   * @throws TypeError for a non-Float32Array input or a non-number size;
   *         RangeError for a wrong length, a non-positive or non-integer size, or a shape that
   *         does not fit the 2 GiB WASM heap.
   */
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Float32Array;
}

export interface InitOptions {
  /**
   * 'auto' (default): every core, up to 4, where shared WASM memory is available (Node, and
   * cross-origin-isolated pages); one thread elsewhere. 1: the single-threaded module.
   * n > 1: n threads (at most 4); throws where shared memory is unavailable.
   */
  threads?: 'auto' | number;
}

/** Loads the WASM module; later calls with the same options resolve to the same instance. */
export declare function init(options?: InitOptions): Promise<Kexue>;
export default init;

/** Base of every stateful object: dispose() (or `using`) frees its WASM memory. */
export declare class Disposable {
  protected constructor(release: () => void);
  readonly disposed: boolean;
  dispose(): void;
  [Symbol.dispose](): void;
}
