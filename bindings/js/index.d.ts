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

export interface WhiteningFitOptions {
  /** Centre about beta·mean. Default 1. */
  beta?: number;
  /** Eigenvalue exponent −gamma/2 (1: fully whitened, 0: rotation only). Default 1. */
  gamma?: number;
  /** Output dimension, 1…dim. Default dim. */
  k?: number;
  /** 0: divide by N (the article); 1: by N − 1 (np.cov). Default 0. */
  ddof?: 0 | 1;
}

export interface WhiteningJSON {
  format: 'kexue-whitening';
  version: 1;
  dim: number;
  k: number;
  beta: number | null;
  gamma: number | null;
  ddof: 0 | 1 | null;
  count: number | null;
  mean: number[] | null;
  eigenvalues: number[] | null;
  center: number[];
  kernel: number[];
}

/** A fitted BERT-whitening model: y = (x − beta·mean)·W_k. */
export interface Whitening extends Disposable {
  readonly dim: number;
  readonly k: number;
  readonly beta: number | null;
  readonly gamma: number | null;
  readonly ddof: 0 | 1 | null;
  readonly count: number | null;
  /** Float32Array(dim), or null for a model imported from { kernel, bias }. */
  readonly mean: Float32Array | null;
  /** Float64Array(dim), descending, or null when imported. */
  readonly eigenvalues: Float64Array | null;
  /** W_k, Float64Array(dim × k), row-major. */
  readonly kernel: Float64Array;
  /** rows×dim → Float32Array(rows×k); normalize divides each row by its norm. */
  transform(x: Float32Array, options: { rows: number; normalize?: boolean }): Float32Array;
  toJSON(): WhiteningJSON;
  /** The reference implementation's form: kernel dim×k, bias 1×dim (= −beta·mean). */
  toKernelBias(): { kernel: number[][]; bias: number[][] };
}

export interface WhiteningConstructor {
  fit(x: Float32Array, options: { rows: number; dim: number } & WhiteningFitOptions): Whitening;
  fromJSON(object: WhiteningJSON): Whitening;
  fromKernelBias(object: { kernel: number[][]; bias: number[][] | number[] }): Whitening;
}

/** Streaming float64 statistics for fitting a Whitening in chunks; mergeable. */
export interface WhiteningStats extends Disposable {
  readonly dim: number;
  readonly count: number;
  add(x: Float32Array, rows: number): this;
  merge(other: WhiteningStats): this;
  finalize(options?: WhiteningFitOptions): Whitening;
}

export type LowRankMode = 'full' | 'lora' | 'fixed-a' | 'fixed-b' | 'random' | 'additive' | 'galore';

export interface LowRankOptimizerOptions {
  rows: number;
  cols: number;
  /** 1…min(rows, cols); not needed for mode 'full'. 'additive' needs rank | rows and rank | cols. */
  rank?: number;
  /** Default 'lora'. 'full' is plain full-rank Adam/SGD (the baseline). */
  mode?: LowRankMode;
  /** Default 'adam' ('sgd' for, and only for, mode 'random'). */
  base?: 'sgd' | 'adam';
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8 (1e-6 for 'galore', as its reference AdamW). */
  eps?: number;
  /** Decoupled weight decay, on the factors (factor modes) or on W. Default 0. */
  weightDecay?: number;
  /** LoRA s in W = W0' + s·A·B, GaLore α. Default 1. */
  scale?: number;
  /** GaLore projector refresh period T. Default 200. */
  updateProjGap?: number;
  /** Default 'zero-b'. */
  init?: 'zero-b' | 'symmetric' | 'lora-ga';
  /** Seeds the random factors / projections (xoshiro256**). Default 0. */
  seed?: number;
  /** W0, rows×cols. */
  weight: Float32Array;
  /** Starting factors A (rows×rank), B (rank×cols) for 'lora', 'fixed-a', 'fixed-b', 'additive'. */
  factors?: { A: Float32Array; B: Float32Array };
}

export interface LowRankOptimizer extends Disposable {
  readonly config: Readonly<Required<Omit<LowRankOptimizerOptions, 'weight' | 'factors'>>>;
  readonly rows: number;
  readonly cols: number;
  readonly rank: number;
  readonly mode: LowRankMode;
  readonly steps: number;
  /** One update from the full gradient (rows×cols). @throws RangeError for NaN/±Infinity (W unchanged). */
  step(grad: Float32Array): this;
  /** Current W (copy). */
  readonly weight: Float32Array;
  /** Factor copies for the factor modes, else null. */
  readonly factors: { A: Float32Array; B: Float32Array } | null;
  /** GaLore's projector (copy), else null. */
  readonly projector: Float32Array | null;
  /** Floats of optimizer state (not counting W and the frozen W0'). */
  readonly stateFloats: number;
}

export interface Multitask {
  normalizedSum(grads: Float32Array[]): Float32Array;
  mgda(grads: Float32Array[], options?: { maxIterations?: number; tolerance?: number }):
    { direction: Float32Array; weights: Float64Array; iterations: number };
  primaryAux(g0: Float32Array, auxGrads: Float32Array[], options?: { maxSweeps?: number; tolerance?: number }):
    { direction: Float32Array; weights: Float64Array };
}

export interface Kexue {
  /** LoRA / GaLore / full Adam as an optimizer of one weight matrix, fed its full gradient. */
  readonly LowRankOptimizer: new (options: LowRankOptimizerOptions) => LowRankOptimizer;
  readonly multitask: Multitask;
  /** Clipping by global norm: 'min' g·min(1, γ/‖g‖) (default) or 'smooth' g·γ/(‖g‖ + γ). */
  clipGradients(grads: Float32Array[], options: { maxNorm: number; form?: 'min' | 'smooth' }):
    { grads: Float32Array[]; norm: number };
  readonly Whitening: WhiteningConstructor;
  readonly WhiteningStats: new (dim: number) => WhiteningStats;
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
