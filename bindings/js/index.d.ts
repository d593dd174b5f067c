/** kexue: Su Jianlin's deep-learning techniques in WebAssembly SIMD. Shapes are row-major. */

// Symbol.dispose is declared by lib "esnext.disposable" (TypeScript 5.2+), which the default lib
// of a project may lack; without it `[Symbol.dispose]` below fails with TS2550. Declaring the
// member here lets these declarations compile with any lib. It is the same declaration as the
// lib's: property declarations of `unique symbol` type on one merged interface share one symbol,
// so the two merge without conflict where the lib has it (tests/js/types.test.mjs checks both).
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

/**
 * One of the names in `T`. Any string is accepted by the type, so that an options object kept in
 * a variable (whose string properties TypeScript widens to `string`) can be passed as it is; an
 * unknown name throws at run time (RangeError naming the option). Editors still offer the names.
 */
export type OneOf<T extends string> = T | (string & {});

export declare const version: string;

/** Base of every stateful object: dispose() (or `using`) frees its WASM memory. */
export declare class Disposable {
  /**
   * `release` frees the native state once, on dispose() or (a safety net, not a schedule) when
   * the object is garbage-collected; it must not capture the object itself.
   */
  constructor(release: () => void);
  /** True after dispose(). */
  readonly disposed: boolean;
  /** Frees the native state; later calls are no-ops. */
  dispose(): void;
  [Symbol.dispose](): void;
  /** Throws TypeError "`fn`: the object was disposed" once disposed (for methods of subclasses). */
  assertAlive(fn: string): void;
}

// ---- matmul ----

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

// ---- BERT-whitening ----

export interface WhiteningFitOptions {
  /** Centre about beta·mean. Default 1. */
  beta?: number;
  /** Eigenvalue exponent −gamma/2 (1: fully whitened, 0: rotation only). Default 1. */
  gamma?: number;
  /** Output dimension, 1…dim. Default dim. */
  k?: number;
  /** 0: divide by N (the article); 1: by N − 1 (np.cov). Default 0. */
  ddof?: number;
}

export interface WhiteningTransformOptions {
  rows: number;
  /** Divide each output row by its norm. Default false. */
  normalize?: boolean;
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

/** The resolved options a Whitening was fitted with (null for a model imported from { kernel, bias }). */
export interface WhiteningResolvedOptions {
  readonly dim: number;
  readonly k: number;
  readonly beta: number | null;
  readonly gamma: number | null;
  readonly ddof: 0 | 1 | null;
  /** Rows the statistics were fitted on (null for an imported model). */
  readonly count: number | null;
}

/**
 * A fitted BERT-whitening model: y = (x − beta·mean)·W_k. Made by Whitening.fit,
 * WhiteningStats#finalize, Whitening.fromJSON or Whitening.fromKernelBias (not by `new`).
 */
declare class Whitening extends Disposable {
  private constructor();
  /** Fits a model to rows×dim vectors (x: Float32Array(rows·dim)) in one call. */
  static fit(x: Float32Array, options: { rows: number; dim: number } & WhiteningFitOptions & CallControls): Whitening;
  /** Reads back what toJSON() wrote (JSON.parse(JSON.stringify(w))), exactly. */
  static fromJSON(object: WhiteningJSON): Whitening;
  /** Imports bojone/BERT-whitening's form: kernel dim×k, bias 1×dim (or a flat dim array); y = (x + bias)·kernel. */
  static fromKernelBias(object: { kernel: readonly (readonly number[])[]; bias: readonly (readonly number[])[] | readonly number[] }): Whitening;
  /** The resolved options. */
  readonly options: WhiteningResolvedOptions;
  readonly dim: number;
  readonly k: number;
  readonly beta: number | null;
  readonly gamma: number | null;
  readonly ddof: 0 | 1 | null;
  /** Rows the model was fitted on (null when imported). */
  readonly count: number | null;
  /** Float32Array(dim), or null for a model imported from { kernel, bias }. */
  readonly mean: Float32Array | null;
  /** Float64Array(dim), descending, or null when imported. */
  readonly eigenvalues: Float64Array | null;
  /** W_k, Float64Array(dim × k), row-major. */
  readonly kernel: Float64Array;
  /** rows×dim → Float32Array(rows×k); normalize divides each row by its norm. */
  transform(x: Float32Array, options: WhiteningTransformOptions): Float32Array;
  /** A plain object that JSON.stringify writes and Whitening.fromJSON reads back exactly. */
  toJSON(): WhiteningJSON;
  /** The reference implementation's form: kernel dim×k, bias 1×dim (= −beta·mean). */
  toKernelBias(): { kernel: number[][]; bias: number[][] };
}

/** Streaming float64 statistics for fitting a Whitening in chunks; mergeable. */
declare class WhiteningStats extends Disposable {
  constructor(dim: number);
  /** The resolved options. */
  readonly options: { readonly dim: number };
  readonly dim: number;
  /** Rows added so far. */
  readonly count: number;
  /** Adds rows×dim float32 rows; a row with NaN/Infinity is an error and nothing is added. */
  add(x: Float32Array, rows: number, options?: CallControls): this;
  /** Folds another accumulator (same dim) into this one, as if its rows had been added here. */
  merge(other: WhiteningStats): this;
  /** Fits the model from the statistics gathered so far. */
  finalize(options?: WhiteningFitOptions): Whitening;
  /** The float64 state (count, mean, centred second moment), in the format WhiteningStats.fromJSON reads. */
  toJSON(): WhiteningStatsJSON;
  /** Restores toJSON's object or string (or partial statistics computed elsewhere in that format). */
  static fromJSON(json: WhiteningStatsJSON | string): WhiteningStats;
}

/** WhiteningStats#toJSON: m2 = Σ_i (x_i − μ)ᵀ(x_i − μ), row-major dim × dim. */
export interface WhiteningStatsJSON {
  format: 'kexue-whitening-stats';
  version: 1;
  dim: number;
  count: number;
  mean: number[];
  m2: number[];
}

// ---- RoPE and attention ----

export type RopeLayout = 'interleaved' | 'half';

/** Where kx.attention (and kx.rope with a backend) runs. */
export type Backend = 'auto' | 'wasm' | 'webgpu';

/** A context-extension rule of the RoPE frequencies (docs/math.md §1.7). */
export type RopeScalingType = 'linear' | 'ntk' | 'yarn' | 'llama3';

/**
 * Hugging Face's `rope_scaling` in camelCase. Fields a type does not use are ignored, so a model's
 * config can be copied as it is.
 */
export interface RopeScaling {
  /** 'linear' (θ/factor), 'ntk' (static NTK-aware base change), 'yarn' (NTK-by-parts + attention factor), 'llama3'. */
  type: OneOf<RopeScalingType>;
  /** The context extension factor, ≥ 1. */
  factor: number;
  /** The training length; required by 'yarn' and 'llama3'. */
  originalMaxPositionEmbeddings?: number;
  /** 'llama3'. Default 1. */
  lowFreqFactor?: number;
  /** 'llama3'. Default 4 (greater than lowFreqFactor). */
  highFreqFactor?: number;
  /** 'yarn'. Default 32. */
  betaFast?: number;
  /** 'yarn'. Default 1. */
  betaSlow?: number;
  /** Multiplies the rotated dims (HF scales cos and sin by it). Default: 'yarn' 0.1·ln(factor) + 1, others 1. */
  attentionFactor?: number;
}

/** The frequency options shared by kx.rope and the RoPE inside kx.attention. */
export interface RopeFrequencyOptions {
  /** Default 10000. */
  base?: number;
  /** Context extension of the frequencies; not together with inverseFrequencies. */
  ropeScaling?: null | RopeScaling;
  /** θ_i of each of the rotaryDim / 2 pairs, given explicitly (base and ropeScaling then unused). */
  inverseFrequencies?: ArrayLike<number>;
}

export interface RopeFrequenciesOptions {
  /** Rotated dims (even). */
  rotaryDim: number;
  /** Default 10000. */
  base?: number;
  ropeScaling?: null | RopeScaling;
}

export interface RopeFrequencies {
  /** θ_i, i = 0 … rotaryDim/2 − 1. */
  inverseFrequencies: Float64Array;
  /** The factor a that multiplies the rotated dims. */
  attentionFactor: number;
}

export interface RopeOptions extends RopeFrequencyOptions {
  batch?: number;
  seq: number;
  heads?: number;
  /** Head dim; must be even. */
  dim: number;
  /** 'interleaved' (pairs 2i, 2i+1; RoFormer, default) or 'half' (rotate-half; GPT-NeoX/LLaMA). */
  layout?: OneOf<RopeLayout>;
  /**
   * Position of each token: [seq] shared by the batch entries or [batch, seq] (flat, entry b's
   * token t at b·seq + t); real values allowed. Default offset + 0, 1, 2, …
   */
  positions?: ArrayLike<number>;
  /** Token t sits at offset + t when positions are not given (new keys of a decoding step). Default 0. */
  offset?: number;
  /** Rotate only the first rotaryDim dims (even, ≤ dim). Default dim. */
  rotaryDim?: number;
  /** Rotate by −position: the transpose (the gradient; the inverse when attentionFactor is 1). Default false. */
  inverse?: boolean;
  /**
   * 'wasm' (default): synchronous, returns a Float32Array. 'webgpu' or 'auto': runs on the
   * instance's WebGPU device ('auto': WASM when it has none) and returns a Promise.
   */
  backend?: 'wasm';
}

export interface RopeGpuOptions extends Omit<RopeOptions, 'backend'> {
  backend: 'webgpu' | 'auto';
}

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The adapter's smallest and largest subgroup sizes (0 when unknown). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  /** Whether the device has `shader-f16` (precision 'f16') and `subgroups` (several invocations per attention row). */
  shaderF16: boolean;
  subgroups: boolean;
}

export interface Rope2dOptions {
  batch?: number;
  height: number;
  width: number;
  heads?: number;
  /** Head dim; must be a multiple of 4. */
  dim: number;
  /** Default 10000. */
  base?: number;
  layout?: OneOf<RopeLayout>;
  /** 'split' (first half of dim turns with x, second with y; default) or 'tie' (RoPE-Tie). */
  mode?: OneOf<'split' | 'tie'>;
  /** (x0, y0, x1, y1, …), one pair per token. Default: token t at (t % width, floor(t / width)). */
  positions?: ArrayLike<number>;
  /** Rotate by −position (the gradient). Default false. */
  inverse?: boolean;
  /** 'wasm' (default): synchronous. 'webgpu' or 'auto': on the instance's WebGPU device, a Promise. */
  backend?: 'wasm';
}

export interface Rope2dGpuOptions extends Omit<Rope2dOptions, 'backend'> {
  backend: 'webgpu' | 'auto';
}

/** RoPE fused into attention: rotates Q and K (pass them un-rotated, or K rotated with cachedKeys 'rotated'). */
export interface AttentionRopeOptions extends RopeFrequencyOptions {
  /** Default 'interleaved'. */
  layout?: OneOf<RopeLayout>;
  /** Rotate only the first rotaryDim dims (even, ≤ dim). Default dim. */
  rotaryDim?: number;
  /** Position of each query row: [seqQ] or [batch, seqQ] (flat). Default seqK − seqQ + i. */
  positionsQ?: ArrayLike<number>;
  /** Position of each key: [seqK] or [batch, seqK] (flat). Default j. Not with cachedKeys 'rotated'. */
  positionsK?: ArrayLike<number>;
  /**
   * 'unrotated' (default): k is rotated inside the kernel. 'rotated': k holds keys rotated when they
   * were cached (kx.rope with offset or positions); only the queries are rotated, and dk is w.r.t. k as given.
   */
  cachedKeys?: OneOf<'unrotated' | 'rotated'>;
}

/**
 * A sliding window around a query's position p: keys p − left … p + right, both ends inclusive.
 * A side left out (or null) is unbounded; with causal, right is cut to 0. onnxruntime's
 * local_window_size w is { left: w − 1, right: 0 } with causal (Mistral's window).
 */
export interface AttentionWindow {
  left?: number | null;
  right?: number | null;
}

/**
 * An additive bias read from the caller's buffer (never expanded): shape [batch|1, heads|1,
 * seqQ|1, seqK|1] (each dim that size or 1), data row-major float32. −Infinity removes a key
 * (NaN and +Infinity are refused); a bias never changes n_i of the entropy scale.
 */
export interface AttentionBias {
  data: Float32Array;
  shape: readonly number[];
}

/**
 * A boolean mask, broadcast like AttentionBias: nonzero / true = may attend. Bytes (Uint8Array,
 * Int8Array, Uint8ClampedArray) or an Array of booleans or 0/1. A masked key leaves n_i.
 */
export interface AttentionMask {
  data: Uint8Array | Int8Array | Uint8ClampedArray | readonly boolean[] | readonly number[];
  shape: readonly number[];
}

export interface AttentionOptions {
  batch?: number;
  /** Query rows (0 allowed). */
  seqQ: number;
  /** Default seqQ. With causal, query i sits at position seqK − seqQ + i. */
  seqK?: number;
  /**
   * Right-padded batches: batch b's valid queries are its first seqLensQ[b] rows (the rest output
   * zeros), and query i sits at position seqLensK[b] − seqLensQ[b] + i. Length batch; entries ≤ seqQ.
   */
  seqLensQ?: null | ArrayLike<number>;
  /** Batch b's valid keys are its first seqLensK[b] (length batch; entries ≤ seqK). */
  seqLensK?: null | ArrayLike<number>;
  /** A sliding window (cost grows as seqQ·window, not seqQ·seqK). Default null (off). */
  window?: null | AttentionWindow;
  /** ALiBi (Press et al.): −slope_h·|p − j| added to the logits, the standard slopes. Default false. */
  alibi?: boolean;
  /** An additive bias after the scale. Default null (off). */
  bias?: null | AttentionBias;
  /** A boolean mask. Default null (off). */
  mask?: null | AttentionMask;
  heads: number;
  /** heads must be a multiple of kvHeads (grouped-query attention). Default heads. */
  kvHeads?: number;
  dim: number;
  /** Value/output head dim. Default dim. */
  dimV?: number;
  causal?: boolean;
  /**
   * 'standard' (1/√dim; default, as PyTorch and onnxruntime), 'entropy' (log_baseLen(max(n_i, nMin))/√dim:
   * for models trained with it, or run beyond their training length) or a fixed number.
   */
  scale?: OneOf<'entropy' | 'standard'> | number;
  /** Default 512; must be > 1. */
  baseLen?: number;
  /** Default 16; must be ≥ 1. */
  nMin?: number;
  /** c_i = max(1, log_baseLen n_i)/√dim: never softer than a model trained at baseLen. Default false. */
  clipBelowOne?: boolean;
  /** Fused RoPE of Q and K (true: the defaults). Default null (off). */
  rope?: null | boolean | AttentionRopeOptions;
  /**
   * Logit softcap c > 0 (Gemma 2): s = c·tanh(x/c) of the scaled logit x, before the
   * normalisation (onnxruntime GroupQueryAttention's order). Default null (off).
   */
  softcap?: null | number;
  /**
   * Attention sinks (onnxruntime's head_sink): one finite logit per query head, added to every
   * row's softmax denominator as e^{sinks[h]} (a key with a zero value). Needs normalize 'softmax';
   * kx.attentionBackward then also returns dSinks. Default null (none).
   */
  sinks?: null | Float32Array | Float64Array | readonly number[];
  /** Smooth softmax (onnxruntime's smooth_softmax): +1 in the denominator, a sink of 0 in every head. Default false. */
  smoothSoftmax?: boolean;
  /**
   * How a row's weights are normalised: 'softmax' (default); 'relu2': relu(s)²/n_i (GAU,
   * kexue.fm/archives/8934), n_i the keys the row sees; 'l2': e^{s}/√Σe^{2s} (kexue.fm/archives/9105).
   */
  normalize?: OneOf<'softmax' | 'relu2' | 'l2'>;
  /**
   * Where the seq and heads axes of q, k, v, out (and dOut, dq, dk, dv) sit: 'bshd' (default,
   * [batch, seq, heads, dim]; onnxruntime's BSNH) or 'bhsd' ([batch, heads, seq, dim]; PyTorch's).
   * Read through strides, not transposed. bias and mask shapes stay [batch, heads, seqQ, seqK].
   */
  layout?: OneOf<AttentionLayout>;
  /**
   * Element type of out (and of dOut, dq, dk, dv in the backward pass): 'float32' or 'float16'.
   * Default (null or absent): the type of q, k, v.
   */
  outputType?: null | OneOf<AttentionElementType>;
  /**
   * kx.attention: 'auto' (default) the instance's backend (kx.backend), and WASM for what the
   * device cannot take. 'wasm': WASM. 'webgpu': rejects with an Error when the instance has no
   * usable device, and with a RangeError naming the reason for a shape it cannot take.
   * kx.attentionBackward: 'wasm' (default, synchronous); 'webgpu' or 'auto' run it on the GPU and
   * return a Promise.
   */
  backend?: OneOf<Backend>;
  /**
   * The GPU's multiplication precision: 'f16' stores q, k, v in f16 and multiplies q·k in f16
   * (statistics and sums in f32) where the adapter has shader-f16, f32 otherwise. Default 'f32'
   * (f16 for f16 inputs). WASM always computes in f32.
   */
  precision?: OneOf<'f32' | 'f16'>;
}

export type AttentionLayout = 'bshd' | 'bhsd';

/** 'float32' (Float32Array) or 'float16' (Float16Array, or a Uint16Array of binary16 bits). */
export type AttentionElementType = 'float32' | 'float16';

/**
 * The standard Float16Array (ES2025: Chrome/Edge 135+, Firefox 129+, Safari 18.2+, Node 24+),
 * described structurally so that these declarations compile with libs that lack it.
 */
export interface Float16ArrayLike extends ArrayBufferView {
  readonly length: number;
  readonly [Symbol.toStringTag]: 'Float16Array';
  [index: number]: number;
}

/**
 * float16 tensors of kx.attention: a Float16Array where the JS engine has one, otherwise a
 * Uint16Array holding IEEE 754 binary16 bits (converted to float32 inside the kernel). A float16
 * result is of the kind of q when q is float16, else a Float16Array where the engine has one and a
 * Uint16Array otherwise.
 */
export type Float16Data = Float16ArrayLike | Uint16Array;

/** float32 or float16 attention tensors (q, k, v share one element type). */
export type AttentionData = Float32Array | Float16Data;

/** Options whose output is float32: float32 inputs without outputType 'float16'. */
export type AttentionOptionsF32 = AttentionOptions & { outputType?: null | 'float32' };

export interface AttentionGradients<T extends AttentionData = Float32Array> {
  dq: T;
  dk: T;
  dv: T;
  /** ∂L/∂sinks [heads] (float32): present when the options have sinks. */
  dSinks?: Float32Array;
}

// ---- MLP and GAN ----

export type Activation = 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid' | 'softplus' | 'gelu' | 'linear' | 'sau_relu' | 'sau_leaky_relu';

export type GanDataset = 'ring8' | 'grid25' | 'swissroll';

export type GanPresetName = 'paper' | 'toy';

export type Penalty = 'two-sided' | 'one-sided';

export interface MlpOptions {
  /** [in, hidden…, out], at least 2 positive entries. */
  sizes: readonly number[];
  /** Hidden activation (the output is linear). Default 'relu'; leaky_relu has slope 0.2, gelu is the tanh form. */
  activation?: OneOf<Activation>;
  /**
   * Weights of the hidden layers, uniform in ±bound: 'torch' (default, PyTorch nn.Linear) 1/√fan_in,
   * 'he' √(6/fan_in), 'glorot' √(6/(fan_in + fan_out)).
   */
  init?: OneOf<MlpInit>;
  /** Weights of the output layer; null or absent: as `init`. */
  outputInit?: OneOf<MlpInit> | null;
  /** Biases: 'uniform' (default, ±1/√fan_in as PyTorch) or 'zero'. */
  bias?: OneOf<MlpBias>;
  /** Seed of the initialisation. Default 0. */
  seed?: number;
}

export type MlpInit = 'torch' | 'he' | 'glorot';

export type MlpBias = 'uniform' | 'zero';

/** How a network is initialised (kx.Mlp, GanTrainer critic/generator). */
export interface MlpInitOptions {
  init?: OneOf<MlpInit>;
  outputInit?: OneOf<MlpInit> | null;
  bias?: OneOf<MlpBias>;
}

export interface MlpResolvedInitOptions {
  readonly init: MlpInit;
  readonly outputInit: MlpInit | null;
  readonly bias: MlpBias;
}

export interface MlpResolvedOptions extends MlpResolvedInitOptions {
  readonly sizes: readonly number[];
  readonly activation: Activation;
  readonly seed: number;
}

export interface RowsOptions {
  rows: number;
}

/** Dense MLP; parameters laid out per layer as W (out×in, row-major) then b. */
declare class Mlp extends Disposable {
  constructor(options: MlpOptions);
  /** The resolved options. */
  readonly options: MlpResolvedOptions;
  readonly sizes: number[];
  readonly activation: Activation;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly parameterCount: number;
  /** A copy. */
  readonly parameters: Float32Array;
  setParameters(parameters: Float32Array): void;
  /** x: rows×in → rows×out. */
  forward(x: Float32Array, options: RowsOptions): Float32Array;
  /** ∇_x of each row's scalar output: rows×in (networks with one output). */
  inputGradient(x: Float32Array, options: RowsOptions): Float32Array;
}

export interface CriticLossOptions {
  real: Float32Array;
  fake: Float32Array;
  /** Per-row interpolation weight ε in [0, 1] of x̂ = ε real + (1 − ε) fake; drawn with Math.random when omitted. */
  interpolation?: Float32Array;
  /** @deprecated The old name of `interpolation`; removed in the next release. */
  eps?: Float32Array;
  rows: number;
  /** Default 10; ≥ 0. */
  lambda?: number;
  /** Default 'two-sided' (λ(s−1)²); 'one-sided' is λ max(0, s−1)². */
  penalty?: OneOf<Penalty>;
}

export interface CriticLossResult {
  loss: number;
  penalty: number;
  /** ‖∇_x D(x̂_i)‖ per row. */
  gradNorms: Float32Array;
  /** ∇_w L_D, layout of Mlp.parameters. */
  grad: Float32Array;
}

export interface NormalizedCriticOptions {
  rows: number;
  /** 'gn' f/(‖∇f‖ + |f|) (default) or 'gran' f‖∇f‖/(‖∇f‖² + eps). */
  variant?: OneOf<'gn' | 'gran'>;
  /** GraN's ε (> 0), required with variant 'gran'. */
  eps?: number;
  /** @deprecated The old name of `eps`; removed in the next release. */
  epsilon?: number;
}

export interface NormalizedCriticResult {
  value: Float32Array;
  /** Gradient of the sum of values w.r.t. the parameters. */
  paramGrad: Float32Array;
  /** ∇_x of each row's value, rows×in. */
  inputGrad: Float32Array;
}

export interface GanPreset {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly nCritic: number;
  readonly lambda: number;
}

export interface SampleDatasetOptions {
  /** Default 0. */
  seed?: number;
}

export interface GanNamespace {
  /** WGAN-GP critic loss and its exact parameter gradient (second order included). */
  criticLoss(critic: Mlp, options: CriticLossOptions): CriticLossResult;
  /** −mean D(fake) and ∂/∂fake (rows×in). */
  generatorLoss(critic: Mlp, fake: Float32Array, options: RowsOptions): { loss: number; grad: Float32Array };
  normalizedCritic(critic: Mlp, x: Float32Array, options: NormalizedCriticOptions): NormalizedCriticResult;
  /** n points (n×2) of a built-in toy dataset, drawn as the trainer draws its real batches. */
  sampleDataset(name: OneOf<GanDataset>, n: number, options?: SampleDatasetOptions): Float32Array;
  readonly presets: Readonly<Record<GanPresetName, GanPreset>>;
}

export interface GanTrainerOptions {
  /** 'ring8' (default), 'grid25', 'swissroll', or n×2 samples. */
  dataset?: OneOf<GanDataset> | Float32Array;
  /** 'paper' (default: lr 1e-4, β1 0, β2 0.9, λ 10) or 'toy' (lr 1e-3, β1 0.5, λ 0.1); explicit options win. */
  preset?: OneOf<GanPresetName>;
  /**
   * Default 'gp'. 'input-side' / 'parameter-side': a side of the penalty inequality
   * (kexue.fm/archives/8796) as the critic's penalty, weighted by lambda, at x̂.
   */
  lipschitz?: OneOf<'gp' | 'gn' | 'gran' | 'none' | 'input-side' | 'parameter-side'>;
  lambda?: number;
  penalty?: OneOf<Penalty>;
  /** GraN's ε (> 0), required with lipschitz 'gran'. */
  eps?: number;
  /** @deprecated The old name of `eps`; removed in the next release. */
  epsilon?: number;
  nCritic?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  batch?: number;
  /** Initialisation default: gan_toy.py's { init 'he', outputInit 'glorot', bias 'zero' }. */
  critic?: { hidden?: readonly number[]; activation?: OneOf<Activation> } & MlpInitOptions;
  generator?: { latent?: number; hidden?: readonly number[]; activation?: OneOf<Activation> } & MlpInitOptions;
  seed?: number;
}

/** GanTrainer#options: the preset and the defaults applied. */
export interface GanTrainerResolvedOptions {
  /** 'samples' when the dataset was a Float32Array. */
  readonly dataset: GanDataset | 'samples';
  readonly preset: GanPresetName;
  readonly lipschitz: 'gp' | 'gn' | 'gran' | 'none' | 'input-side' | 'parameter-side';
  readonly lambda: number;
  readonly penalty: Penalty;
  readonly eps: number | null;
  readonly nCritic: number;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly batch: number;
  readonly seed: number;
  readonly critic: { readonly hidden: readonly number[]; readonly activation: Activation } & MlpResolvedInitOptions;
  readonly generator: { readonly latent: number; readonly hidden: readonly number[]; readonly activation: Activation } &
    MlpResolvedInitOptions;
}

export interface GanMetrics {
  /** Share of samples within 3σ of their nearest mode. */
  highQuality: number;
  /** Modes with at least one high-quality sample. */
  modes: number;
  /** KL(histogram of high-quality samples over modes ‖ uniform); NaN without high-quality samples. */
  reverseKL: number;
  medianDistance: number;
}

export interface GanStepResult {
  criticLoss: number;
  generatorLoss: number;
  gradNorm: number;
}

/** A WGAN on 2-D toy data, trained in C++ (one WASM call per step()). */
declare class GanTrainer extends Disposable {
  constructor(options?: GanTrainerOptions);
  /** The resolved options (preset and defaults applied). */
  readonly options: GanTrainerResolvedOptions;
  /** Generator steps taken. */
  readonly steps: number;
  /** Copies, in the layout of Mlp.parameters. */
  readonly criticParameters: Float32Array;
  readonly generatorParameters: Float32Array;
  /** One generator step (after nCritic critic steps), or `count` of them. */
  step(count?: number, options?: CallControls): GanStepResult;
  /** n generated points, Float32Array(n×2). */
  sample(n: number): Float32Array;
  /** Mode metrics of n (default 2,500) samples. */
  evaluate(n?: number): GanMetrics;
}

// ---- optimizers ----

export type LowRankMode = 'full' | 'lora' | 'fixed-a' | 'fixed-b' | 'random' | 'additive' | 'galore';

export type LowRankBase = 'sgd' | 'adam';

export type LowRankInit = 'zero-b' | 'symmetric' | 'lora-ga';

export interface LowRankFactors {
  /** rows×rank */
  A: Float32Array;
  /** rank×cols */
  B: Float32Array;
}

export interface LowRankOptimizerOptions {
  rows: number;
  cols: number;
  /** 1…min(rows, cols); not needed for mode 'full'. 'additive' needs rank | rows and rank | cols. */
  rank?: number;
  /** Default 'lora'. 'full' is plain full-rank Adam/SGD (the baseline). */
  mode?: OneOf<LowRankMode>;
  /** Default 'adam' ('sgd' for, and only for, mode 'random'). */
  base?: OneOf<LowRankBase>;
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
  init?: OneOf<LowRankInit>;
  /** Seeds the random factors / projections (xoshiro256**). Default 0. */
  seed?: number;
  /** W0, rows×cols. */
  weight: Float32Array;
  /** Starting factors for 'lora', 'fixed-a', 'fixed-b', 'additive'. */
  factors?: LowRankFactors;
}

/** LowRankOptimizer#options: every option but the arrays, defaults filled in. */
export interface LowRankOptimizerResolvedOptions {
  readonly rows: number;
  readonly cols: number;
  readonly rank: number;
  readonly mode: LowRankMode;
  readonly base: LowRankBase;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly scale: number;
  readonly updateProjGap: number;
  readonly init: LowRankInit;
  readonly seed: number;
}

/** LoRA / GaLore / full Adam as an optimizer of one rows×cols weight, fed its full gradient. */
declare class LowRankOptimizer extends Disposable {
  constructor(options: LowRankOptimizerOptions);
  /** The resolved options. */
  readonly options: LowRankOptimizerResolvedOptions;
  /** @deprecated The same object as `options`. */
  readonly config: LowRankOptimizerResolvedOptions;
  readonly rows: number;
  readonly cols: number;
  readonly rank: number;
  readonly mode: LowRankMode;
  /** Steps taken (refused steps are not counted). */
  readonly steps: number;
  /** One update from the full gradient (rows×cols). @throws RangeError for NaN/±Infinity (W unchanged). */
  step(grad: Float32Array): this;
  /** Current W (copy). */
  readonly weight: Float32Array;
  /** Factor copies for the factor modes, else null. */
  readonly factors: LowRankFactors | null;
  /** GaLore's projector (copy), else null. */
  readonly projector: Float32Array | null;
  /** Floats of optimizer state (not counting W and the frozen W0'). */
  readonly stateFloats: number;
}

export interface MgdaResult {
  direction: Float32Array;
  /** α on the simplex, one per task. */
  weights: Float64Array;
  /** Major cycles of Wolfe's method (points added to the support); 0 for ≤ 2 tasks. */
  iterations: number;
  /** Duality gap ‖u‖² − min_i⟨g_i, u⟩ ≥ 0 (in double, from the Gram matrix); 0 at the optimum. */
  gap: number;
}

export interface PrimaryAuxResult {
  direction: Float32Array;
  /** λ ≥ 0, one per auxiliary task. */
  weights: Float64Array;
}

export interface MgdaOptions {
  /** Major cycles of Wolfe's active-set method (3 tasks or more). Default 200. */
  maxIterations?: number;
  /** Stop once the duality gap is at most tolerance·max_i ‖g_i‖². Default 1e-12. */
  tolerance?: number;
}

export interface PrimaryAuxOptions {
  /** Sweeps over λ. Default 200. */
  maxSweeps?: number;
  /** Convergence tolerance. Default 1e-12. */
  tolerance?: number;
}

export interface Multitask {
  /** Σ g_i/‖g_i‖, zero-norm terms skipped. */
  normalizedSum(grads: readonly Float32Array[]): Float32Array;
  /** Min-norm point of the convex hull (2 tasks closed form; more: Wolfe's exact active-set method). */
  mgda(grads: readonly Float32Array[], options?: MgdaOptions): MgdaResult;
  /** g0 + Σ λ_i g_i with λ ≥ 0 minimising the norm. */
  primaryAux(g0: Float32Array, auxGrads: readonly Float32Array[], options?: PrimaryAuxOptions): PrimaryAuxResult;
}

export interface ClipGradientsOptions {
  /** γ > 0. */
  maxNorm: number;
  /** 'min' g·min(1, γ/‖g‖) (default) or 'smooth' g·γ/(‖g‖ + γ). */
  form?: OneOf<'min' | 'smooth'>;
}

// ---- the instance ----

export interface Kexue {
  readonly Mlp: typeof Mlp;
  readonly gan: GanNamespace;
  readonly GanTrainer: typeof GanTrainer;
  /** LoRA / GaLore / full Adam as an optimizer of one weight matrix, fed its full gradient. */
  readonly LowRankOptimizer: typeof LowRankOptimizer;
  readonly multitask: Multitask;
  /** Clipping by global norm; returns new arrays and the norm before clipping. */
  clipGradients(grads: readonly Float32Array[], options: ClipGradientsOptions): { grads: Float32Array[]; norm: number };
  readonly Whitening: typeof Whitening;
  readonly WhiteningStats: typeof WhiteningStats;
  /** The package version string. */
  readonly version: string;
  /** Threads the kernels use (1 on the single-threaded module). */
  readonly threads: number;
  /** true on the relaxed-SIMD build (f32x4.relaxed_madd in the matrix products), false on the plain one. */
  readonly relaxedSimd: boolean;
  /** Bytes currently reserved by the WASM heap (grows on demand, never shrinks). */
  readonly wasmHeapBytes: number;
  /** What kx.attention runs on: 'webgpu' while a WebGPU device is held, else 'wasm'. */
  readonly backend: 'wasm' | 'webgpu';
  /** The WebGPU adapter's info, or null when this instance has no device. */
  readonly adapterInfo: AdapterInfo | null;
  /** Sizes in bytes of every GPU buffer the WebGPU backend created (for memory checks). */
  readonly gpuBufferSizes: number[];
  /**
   * Releases the WebGPU device and drops the instance from init()'s cache. The instance stays
   * usable on WASM (backend 'webgpu' per call then rejects); the shared WASM module is kept.
   */
  dispose(): void;
  /**
   * C = op(A)·op(B) in float32. `a` holds m×k (k×m when transposeA), `b` holds k×n (n×k when
   * transposeB), row-major. Returns a new Float32Array of m×n.
   * @throws TypeError for a non-Float32Array input or a non-number size;
   *         RangeError for a wrong length, a non-positive or non-integer size, or a shape that
   *         does not fit the 2 GiB WASM heap.
   */
  matmul(a: Float32Array, b: Float32Array, options: MatmulOptions): Float32Array;
  /** 1D RoPE of x [batch, seq, heads, dim]; returns a new Float32Array. */
  rope(x: Float32Array, options: RopeOptions): Float32Array;
  /** 1D RoPE on the instance's WebGPU device ('auto': on WASM when it has none). */
  rope(x: Float32Array, options: RopeGpuOptions): Promise<Float32Array>;
  /** A backend only known at run time: a Float32Array for 'wasm', else a Promise of one. */
  rope(x: Float32Array, options: Omit<RopeOptions, 'backend'> & { backend?: OneOf<Backend> }): Float32Array | Promise<Float32Array>;
  /** 2D RoPE of x [batch, height·width, heads, dim]; returns a new Float32Array. */
  rope2d(x: Float32Array, options: Rope2dOptions): Float32Array;
  /** 2D RoPE on the instance's WebGPU device ('auto': on WASM when it has none). */
  rope2d(x: Float32Array, options: Rope2dGpuOptions): Promise<Float32Array>;
  /** A backend only known at run time: a Float32Array for 'wasm', else a Promise of one. */
  rope2d(x: Float32Array, options: Omit<Rope2dOptions, 'backend'> & { backend?: OneOf<Backend> }): Float32Array | Promise<Float32Array>;
  /** θ_i and the attention factor of a RoPE configuration (ropeScaling as Hugging Face computes it). */
  ropeFrequencies(options: RopeFrequenciesOptions): RopeFrequencies;
  /**
   * Fused, tiled entropy-invariant attention. q [batch, seqQ, heads, dim], k [batch, seqK, kvHeads,
   * dim], v [batch, seqK, kvHeads, dimV]; resolves to out [batch, seqQ, heads, dimV] (layout
   * 'bhsd': [batch, heads, seq, …] throughout). q, k, v are float32 or float16 (Float16Data), all
   * three alike; out has options.outputType, by default theirs.
   * Rejects with TypeError/RangeError on bad input.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptionsF32): Promise<Float32Array>;
  attention(q: Float16Data, k: Float16Data, v: Float16Data,
    options: AttentionOptions & { outputType?: null | 'float16' }): Promise<Float16Data>;
  attention(q: AttentionData, k: AttentionData, v: AttentionData,
    options: AttentionOptions & { outputType: 'float32' }): Promise<Float32Array>;
  attention(q: AttentionData, k: AttentionData, v: AttentionData,
    options: AttentionOptions & { outputType: 'float16' }): Promise<Float16Data>;
  attention(q: AttentionData, k: AttentionData, v: AttentionData, options: AttentionOptions): Promise<AttentionData>;
  /**
   * Gradients w.r.t. the un-rotated q, k, v given dOut (shape of out), same options as attention;
   * synchronous on WASM (backend 'wasm', the default). dOut and the gradients have the output's
   * element type (options.outputType, default that of q).
   */
  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array,
    options: AttentionOptionsF32 & { backend?: 'wasm' }): AttentionGradients;
  attentionBackward(q: Float16Data, k: Float16Data, v: Float16Data, dOut: Float16Data,
    options: AttentionOptions & { outputType?: null | 'float16'; backend?: 'wasm' }): AttentionGradients<Float16Data>;
  attentionBackward(q: AttentionData, k: AttentionData, v: AttentionData, dOut: Float32Array,
    options: AttentionOptions & { outputType: 'float32'; backend?: 'wasm' }): AttentionGradients;
  attentionBackward(q: AttentionData, k: AttentionData, v: AttentionData, dOut: Float16Data,
    options: AttentionOptions & { outputType: 'float16'; backend?: 'wasm' }): AttentionGradients<Float16Data>;
  /** The backward pass on the instance's WebGPU device ('auto': on WASM when it has none). */
  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array,
    options: AttentionOptionsF32 & { backend: 'webgpu' | 'auto' }): Promise<AttentionGradients>;
  attentionBackward(q: AttentionData, k: AttentionData, v: AttentionData, dOut: AttentionData,
    options: AttentionOptions & { backend: 'webgpu' | 'auto' }): Promise<AttentionGradients<AttentionData>>;
  /** A backend or element type only known at run time. */
  attentionBackward(q: AttentionData, k: AttentionData, v: AttentionData, dOut: AttentionData,
    options: AttentionOptions): AttentionGradients<AttentionData> | Promise<AttentionGradients<AttentionData>>;
}

/** A GPU object: navigator.gpu, or `create([])` of the `webgpu` package. */
export interface GpuLike {
  requestAdapter(options?: object): Promise<unknown>;
}

export interface InitOptions {
  /**
   * 'auto' (default): every core, up to 4, where shared WASM memory is available (Node, and
   * cross-origin-isolated pages); one thread elsewhere. 1: the single-threaded module.
   * n > 1: n threads (at most 4); throws where shared memory is unavailable.
   */
  threads?: OneOf<'auto'> | number;
  /**
   * 'auto' (default): the relaxed-SIMD build (dist/kexue*-relaxed.wasm) where WebAssembly.validate
   * accepts relaxed SIMD (Chrome/Edge 114+, Node 22+), the plain SIMD build elsewhere. true: the
   * relaxed build or an Error; false: always the plain build.
   */
  relaxedSimd?: OneOf<'auto'> | boolean;
  /**
   * Where kx.attention runs. 'auto' (default): WebGPU when navigator.gpu (browsers) or the
   * optional `webgpu` package (Node) yields an adapter and a device, else WASM, silently.
   * 'webgpu': rejects with an Error saying why when there is none. 'wasm': never touches WebGPU.
   */
  backend?: OneOf<Backend>;
  /** A GPU object to take the adapter from instead of navigator.gpu / the `webgpu` package. */
  gpu?: GpuLike;
  /**
   * The WebGPU kernels' plan (docs/webgpu-tiling.md): `limits` lowers device limits they plan with
   * (smaller pieces and dispatches); `lanes` fixes the invocations per attention row. A new
   * instance each time.
   */
  webgpu?: {
    limits?: Partial<Record<'maxStorageBufferBindingSize' | 'maxBufferSize' | 'maxComputeWorkgroupStorageSize' |
      'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxComputeWorkgroupsPerDimension', number>>;
    lanes?: 1 | 2 | 4 | 8;
  };
  /**
   * Where the .wasm files and the thread worker are when they are not next to dist/kexue*.mjs
   * (CDNs, esbuild): a URL prefix, or a map of file names to URLs (names left out are found as
   * without it). Under Node, paths or file: URLs.
   */
  wasmPaths?: string | { [name in ModuleFile]?: string };
  /** Emscripten's hook for any other layout: the URL of file `name`, given its default directory. */
  locateFile?: (name: ModuleFile, directory: string) => string | { readonly href: string };
  /**
   * Run kexue in a dedicated Worker; init() then resolves to Remote<Kexue> (every call a Promise).
   * { transfer: true } moves typed-array arguments instead of copying them (they are detached).
   */
  proxy?: boolean | { transfer?: boolean };
}

/**
 * Progress and cancellation of a long call (GanTrainer.step(n), DiffusionTrainer.step/sample/
 * evaluate, diffusion.ddpmSample/ddimSample, Whitening.fit, WhiteningStats.add), in its options; in
 * the worker-backed API, in the last (options) argument of any call or after it.
 */
export interface CallControls {
  /** { done, total } (steps, timesteps or rows), at most every ~50 ms and after the last step. */
  onProgress?: (progress: { done: number; total: number }) => void;
  /**
   * Stops before the next step (AbortError; finished steps stay, a fit or an add is discarded).
   * Locally the call runs on this thread, so only an abort from onProgress (or before the call)
   * is seen; with init({ proxy: true }) any code can abort. A proxied call not yet started rejects.
   */
  signal?: { readonly aborted: boolean; addEventListener(type: 'abort', listener: () => void, options?: object): void; removeEventListener(type: 'abort', listener: () => void): void };
}

type RemoteData = ArrayBufferView | ArrayBuffer | string | number | boolean | bigint | symbol | null | undefined;
// A handle may stand for an object argument of the local API (merge(other), ddpmSample(trainer), …);
// data and option objects (with their onProgress callbacks) cross as they are.
type RemoteArg<T> = T extends { dispose(): void } ? T | Remote<T> : T;
type RemoteArgs<A extends unknown[]> = [...{ [I in keyof A]: RemoteArg<A[I]> }, CallControls?];

/**
 * An object of the proxied instance (init({ proxy: true })): functions and methods return
 * Promises, constructors resolve to handles (`await new kx.GanTrainer(…)`), getters read the values
 * of the last call, data is as is.
 */
export type Remote<T> = T extends RemoteData ? T
  : T extends readonly (infer U)[] ? Remote<U>[]
  : T extends (...args: infer A) => infer R ? (...args: RemoteArgs<A>) => Promise<Remote<Awaited<R>>>
  : T extends object ? RemoteObject<T>
  : T;

type RemoteObject<T> = {
  [K in keyof T]: T[K] extends abstract new (...args: infer A) => infer I
    ? (new (...args: RemoteArgs<A>) => Promise<Remote<I>>) & { [S in Exclude<keyof T[K], 'prototype'>]: Remote<T[K][S]> }
    : Remote<T[K]>;
};

/** The files init() loads besides the modules: .wasm files and the thread workers (Node's is .js). */
export type ModuleFile = 'kexue.wasm' | 'kexue-mt.wasm' | 'kexue-mt.worker.mjs' | 'kexue-mt.worker.js'
  | 'kexue-relaxed.wasm' | 'kexue-mt-relaxed.wasm';

/** Runs kexue in a dedicated Worker: the same API, every call a Promise. A new worker each call. */
export declare function init(options: InitOptions & { proxy: true | { transfer?: boolean } }): Promise<Remote<Kexue>>;
/** Loads the WASM module; later calls with the same options resolve to the same instance. */
export declare function init(options?: InitOptions): Promise<Kexue>;
export default init;

// Types only: these classes are reached through an instance (kx.Whitening, new kx.Mlp(…)),
// each bound to that instance's WASM module; the package exports no value of these names.
export type { Whitening, WhiteningStats, Mlp, GanTrainer, LowRankOptimizer };

// ---- logsumexp, losses, exponentiated gradient (bindings/js/losses.js; docs/math.md §7) ----------

/** How a batched loss reduces its rows; the gradient is that of the returned loss. */
export type Reduction = 'mean' | 'sum' | 'none';

export interface LogsumexpOptions {
  /** Rows of the batch (default 1). */
  rows?: number;
  /** Entries per row: lse runs along this, the last axis. */
  cols: number;
}

export interface LogsumexpBoundsOptions extends LogsumexpOptions {
  /** A distribution: cols entries shared by every row, or rows·cols; enables shannon and renyi. */
  p?: Float32Array;
  /** Rényi order of the p-bound, t > 1 (default 2: Σ p x − log Σ p²). */
  t?: number;
  /** Temperature τ > 0 of the tempered lse τ·lse(x/τ) (default 1). */
  tau?: number;
}

/** Each a Float64Array(rows). */
export interface LogsumexpBounds {
  value: Float64Array;
  max: Float64Array;
  maxPlusLogN: Float64Array;
  meanPlusLogN: Float64Array;
  tempered: Float64Array;
  temperedUpper: Float64Array;
  /** Σ p x − Σ p log p (only with p). */
  shannon?: Float64Array;
  /** Σ p x − log(Σ p^t)/(t − 1) (only with p). */
  renyi?: Float64Array;
}

export interface Logsumexp {
  /** lse of each row of x [rows, cols] → Float32Array(rows); NaN rows give NaN, ±∞ as in §7.1. */
  (x: Float32Array, options: LogsumexpOptions): Float32Array;
  /** ∂lse/∂x: the softmax of each row → Float32Array(rows·cols). */
  grad(x: Float32Array, options: LogsumexpOptions): Float32Array;
  /** The bounds of kexue.fm/archives/9070, per row, in double. */
  bounds(x: Float32Array, options: LogsumexpBoundsOptions): LogsumexpBounds;
}

/** { loss, grad }: loss a number, or Float32Array(rows) with reduction 'none'. */
export interface LossResult {
  loss: number | Float32Array;
  grad: Float32Array;
}

export interface ZlprOptions {
  rows?: number;
  classes: number;
  /** false (default): labels are 0/1; true: targets in [0, 1], never clipped. */
  soft?: boolean;
  /** [rows, classes] of 0 (class left out of both sums, gradient 0) or 1 (counted). */
  mask?: Float32Array;
  reduction?: Reduction;
}

export interface Zlpr {
  /** labels: Float32Array [rows, classes], or rows index sets of the positive classes. */
  (logits: Float32Array, labels: Float32Array | ArrayLike<number>[], options: ZlprOptions): LossResult;
  /** The calibrated probability σ(2s), elementwise. */
  probability(logits: Float32Array): Float32Array;
}

export interface ContrastiveOptions {
  rows: number;
  /** Must equal rows unless targets are given. */
  cols: number;
  /** The positive column of each row (default: the diagonal). */
  targets?: ArrayLike<number>;
  /** τ > 0: scores are sim/τ (default 1). */
  temperature?: number;
  reduction?: Reduction;
}

export interface GlobalPointerKlOptions {
  rows?: number;
  classes: number;
  /** 'sigmoid' (default, GlobalPointer's multi-label logits) or 'softmax'. */
  form?: 'sigmoid' | 'softmax';
  reduction?: Reduction;
}

export interface Losses {
  zlpr: Zlpr;
  /** InfoNCE over sim [rows, cols]; grad = ∂L/∂sim. */
  infoNCE(sim: Float32Array, options: ContrastiveOptions): LossResult;
  /** FlatNCE (Su's form lse_{j≠t}(s_j) − s_t, may be negative); grad = ∂L/∂sim. */
  flatNCE(sim: Float32Array, options: ContrastiveOptions): LossResult;
  /** Symmetric KL between s and t [rows, classes]; gradT = ∂D/∂t. */
  globalPointerKL(s: Float32Array, t: Float32Array, options: GlobalPointerKlOptions): LossResult & { gradT: Float32Array };
  /**
   * |L − b| + b; every Float32Array field multiplied by sign(L − b). The loss must be the reduced
   * batch loss (a number; a per-row Float32Array throws a TypeError).
   */
  flooding<T extends { loss: number | Float32Array }>(result: T, level: number): T & { loss: number };
}

export interface ExponentiatedGradientOptions {
  /** θ_0; ≥ 0 for the 'exponentiated' update. */
  weight: Float32Array;
  /** η > 0. */
  lr: number;
  /** 'exponentiated' (default): θ·exp(−η ν g); 'additive': θ − η ν g. */
  update?: 'exponentiated' | 'additive';
  /** γ ≥ 0 of ν ← ν·exp(γ g_{t−1} g_t) (default 0: ν = 1). */
  metaLr?: number;
  /** c > 0 clamps γ g_{t−1} g_t to [−c, c]; 0 (default): no clamp. */
  metaClip?: number;
}

export interface ExponentiatedGradient extends Disposable {
  /** The resolved options (without the weight). */
  readonly options: Readonly<Omit<Required<ExponentiatedGradientOptions>, 'weight'>>;
  readonly size: number;
  readonly steps: number;
  /** Copy of θ. */
  readonly weight: Float32Array;
  /** Copy of ν. */
  readonly stepSizes: Float32Array;
  /** One update; a non-finite gradient throws a RangeError and changes nothing. */
  step(grad: Float32Array): this;
}

export interface Kexue {
  /** Stable logsumexp along the last axis, its gradient and its bounds. */
  readonly logsumexp: Logsumexp;
  /** ZLPR, InfoNCE, FlatNCE, GlobalPointer KL, flooding: values and gradients. */
  readonly losses: Losses;
  /** Exponentiated gradient with a meta-learned per-coordinate step size. */
  readonly ExponentiatedGradient: new (options: ExponentiatedGradientOptions) => ExponentiatedGradient;
}

// ---- diffusion (bindings/js/diffusion.js; docs/math.md §7.11) ----------------------------------

export interface LinearScheduleOptions {
  /** T (default 1000). */
  steps?: number;
  /** β_1 in (0, 1) (default 1e-4). */
  betaStart?: number;
  /** β_T in (0, 1) (default 0.02). */
  betaEnd?: number;
}

export interface DiffusionSchedule {
  /** β_1..β_T. */
  beta: Float64Array;
  /** ᾱ_0..ᾱ_T, ᾱ_0 = 1. */
  alphaBar: Float64Array;
}

export interface AddNoiseOptions {
  rows: number;
  /** Coordinates per row (default 2). */
  dim?: number;
  /** 0..T. */
  t: number;
  /** β_1..β_T, each in (0, 1) (default: linearSchedule()). */
  beta?: ArrayLike<number>;
}

/** Options of DiffusionTrainer.sample/evaluate: the trainer's schedule, 2-D. */
export interface DiffusionSampleOptions {
  /** 'ddpm' (default) or 'ddim'. */
  sampler?: 'ddpm' | 'ddim';
  /** DDPM's σ_t²: 'beta' (default) or 'beta_tilde' ((1 − ᾱ_{t−1})/(1 − ᾱ_t)·β_t). */
  variance?: 'beta' | 'beta_tilde';
  /** DDIM only: η in [0, 1] (default 0, deterministic). */
  eta?: number;
  /** DDIM only: S evenly spaced steps τ_i = 1 + ⌊(i − 1)T/S⌋ (default: all T). */
  steps?: number;
  /** DDIM only: an explicit strictly increasing subsequence of 1..T. */
  timesteps?: ArrayLike<number>;
  /** Of x_T and the noise draws (default 0). */
  seed?: number;
}

export interface DiffusionSamplerOptions extends Omit<DiffusionSampleOptions, 'sampler'> {
  rows: number;
  /** Coordinates per sample (default 2). */
  dim?: number;
  /** β_1..β_T (default: linearSchedule()). */
  beta?: ArrayLike<number>;
}

/** An ε-predictor: x (rows×dim) at timestep t → ε (Float32Array rows×dim). */
export type EpsilonPredictor = (x: Float32Array, t: number) => Float32Array;

export interface DiffusionNamespace {
  linearSchedule(options?: LinearScheduleOptions): DiffusionSchedule;
  /** x_t = √ᾱ_t x0 + √(1 − ᾱ_t) eps. */
  addNoise(x0: Float32Array, eps: Float32Array, options: AddNoiseOptions): Float32Array;
  /** DDPM ancestral sampling; a DiffusionTrainer predictor samples with its own model and schedule. */
  ddpmSample(predictor: EpsilonPredictor | DiffusionTrainer, options: DiffusionSamplerOptions & CallControls): Float32Array;
  /** DDIM sampling with η and a step subsequence. */
  ddimSample(predictor: EpsilonPredictor | DiffusionTrainer, options: DiffusionSamplerOptions & CallControls): Float32Array;
}

export interface DiffusionTrainerOptions {
  /** 'ring8' (default), 'grid25', 'swissroll', or n×2 samples. */
  dataset?: OneOf<GanDataset> | Float32Array;
  schedule?: LinearScheduleOptions;
  /** Hidden layers of the ε-predictor (default [64, 64, 64]). */
  hidden?: readonly number[];
  /** Default 'relu'. */
  activation?: OneOf<Activation>;
  /** Time-embedding width E, even (default 16). */
  embedding?: number;
  /** Adam (default 3e-3, 0.9, 0.999). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  batch?: number;
  seed?: number;
}

export interface DiffusionTrainerResolvedOptions {
  readonly dataset: GanDataset | 'samples';
  readonly schedule: Readonly<Required<LinearScheduleOptions>>;
  readonly hidden: readonly number[];
  readonly activation: Activation;
  readonly embedding: number;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly batch: number;
  readonly seed: number;
}

/** A 2-D diffusion model (Mlp ε-predictor with a time embedding) trained in C++ on toy data. */
declare class DiffusionTrainer extends Disposable {
  constructor(options?: DiffusionTrainerOptions);
  readonly options: DiffusionTrainerResolvedOptions;
  /** Adam steps taken. */
  readonly steps: number;
  /** A copy, in the layout of Mlp.parameters. */
  readonly parameters: Float32Array;
  /** One step on a batch, or `count` of them. */
  step(count?: number, options?: CallControls): { loss: number; meanLoss: number };
  /** n samples, Float32Array(n×2). */
  sample(n: number, options?: DiffusionSampleOptions & CallControls): Float32Array;
  /** The GAN's mode metrics of n (default 2,500) samples. */
  evaluate(n?: number, options?: DiffusionSampleOptions & CallControls): GanMetrics;
  /** ε_θ(x, t), Float32Array(rows×2). */
  predict(x: Float32Array, options: { rows: number; t: number }): Float32Array;
}

export type { DiffusionTrainer };

export interface Kexue {
  /** DDPM/DDIM: linearSchedule, addNoise, ddpmSample, ddimSample (kexue.fm/archives/9119, 9181). */
  readonly diffusion: DiffusionNamespace;
  /** A 2-D diffusion model trained in C++ on the GAN's toy data. */
  readonly DiffusionTrainer: typeof DiffusionTrainer;
}

// ---- the penalty inequality (bindings/js/penalty.js; docs/math.md §7.12) ----

export interface PenaltyInequalityOptions {
  rows: number;
  /** Matrix norm of W_t and ∇_x h_t: 'spectral' (default, the tighter) or 'frobenius'. */
  norm?: 'spectral' | 'frobenius';
}

export interface GanNamespace {
  /**
   * Per sample of x [rows, in], for an Mlp with one output: inputSide = ‖∇_x f‖² Σ_t (1 + ‖h_t‖²)/(‖W_t‖²
   * ‖∇_x h_t‖²) ≤ parameterSide = ‖∇_θ f‖² (kexue.fm/archives/8796), each a Float64Array(rows).
   */
  penaltyInequality(mlp: Mlp, x: Float32Array, options: PenaltyInequalityOptions): { inputSide: Float64Array; parameterSide: Float64Array };
}

// ---- hubness (bindings/js/hubness.js; docs/math.md §7.10) ----

export interface HubnessOptions {
  rows: number;
  dim: number;
  /** Neighbours per point, 1 ≤ k < rows (default 10). */
  k?: number;
  /** 'cosine' (default) or 'euclidean'. */
  metric?: 'cosine' | 'euclidean';
}

export interface HubnessResult {
  /** k-occurrence N_k of each point (they sum to rows·k). */
  counts: Int32Array;
  /** Skewness of the counts (NaN when all equal k). */
  skewness: number;
  max: number;
  k: number;
}

export interface Kexue {
  /** Hubness of x [rows, dim]: k-occurrence counts and their skewness (kexue.fm/archives/9147). */
  hubness(x: Float32Array, options: HubnessOptions): HubnessResult;
}

// ---- the transformer (bindings/js/transformer.js; src/model/; docs/math.md §8) ----

/** Where the normalisation sits: pre-RMSNorm, post-LayerNorm, or post-LayerNorm with DeepNorm's α/β. */
export type TransformerNorm = 'pre-rms' | 'post-ln' | 'deepnorm';
export type TransformerObjective = 'causal' | 'masked';
/**
 * What each layer is: 'transformer' (attention + GELU FFN, default) or 'gau', one Gated Attention
 * Unit (Hua et al. 2022, arXiv 2202.10447; kexue.fm/archives/8934, 9052).
 */
export type TransformerBlock = 'transformer' | 'gau';

/** The sizes of a GAU layer (block 'gau'). */
export interface TransformerGauOptions {
  /** e, the width of U and V (and of the attention's values); default 2·dModel. */
  expansion?: number;
  /** s, the width of the shared Z that Q and K are scaled and offset from; default min(128, dModel). */
  keySize?: number;
}
export type TransformerPositions = 'sequential' | 'random' | 'equal-mean';
export type FinetuneMethod = 'full' | 'lora' | 'galore' | 'ladder';
/** The weight matrices fine-tuning can target ('embedding' and 'norms' with method 'full' only). */
/**
 * Block 'gau': 'wu', 'wv', 'wz', 'wo' (and 'scaleOffset', the γ and β of Q and K, with 'full').
 * With attention.talkingHeads, 'talking' (the mixing matrices) is a target of 'full' only.
 */
export type FinetuneTarget = 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'wu' | 'wz' | 'embedding' | 'norms' | 'scaleOffset' | 'talking';
/** An integer token array: bytes (Uint8Array), Int32Array, … or an array of integers. */
export type Tokens = Int32Array | Uint8Array | Uint16Array | Int16Array | Int8Array | readonly number[];

export interface TransformerAttentionOptions {
  /** 'standard' 1/√keySize (default), 'entropy' log(n)/log(baseLen)/√keySize, or a number. */
  scale?: OneOf<'entropy' | 'standard'> | number;
  /** The length at which the entropy scale equals 1/√keySize (default 512). */
  baseLen?: number;
  /** Floor on n in the entropy scale (default 1). */
  nMin?: number;
  /** RoPE (default { base: 10000 }); false or null: no position information at all. */
  rope?: boolean | null | { base?: number };
  /**
   * How a row's weights are normalised: 'softmax' (default), 'relu2' (GAU's relu²(s)/n,
   * kexue.fm/archives/8934) or 'l2' (unit-L2-norm rows, kexue.fm/archives/9105). Saved with the model.
   */
  normalize?: OneOf<'softmax' | 'relu2' | 'l2'>;
  /**
   * Talking-heads attention (Shazeer et al. 2020, arXiv 2003.02436): two learned heads×heads
   * matrices per layer (tensors `layers.{l}.attn.talking_logits` and `…talking_weights`, from the
   * identity) mix the heads' logits before the normalisation and their weights after it. Runs on a
   * materialised path that keeps two [batch, heads, seq, seq] matrices per layer (activationBytes
   * counts them). Not with block 'gau'. Default false; saved with the model.
   */
  talkingHeads?: boolean;
}

export interface TransformerOptimizerOptions {
  /** AdamW: lr (default 1e-3), beta1 (0.9), beta2 (0.95), eps (1e-8), weightDecay (0, matrices only). */
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global-norm clipping (default 1; 0 turns it off). */
  clipNorm?: number;
  /** Flooding level b: train on |L − b| + b (kexue.fm/archives/7643); null: off. */
  flooding?: number | null;
}

export interface TransformerOptions {
  vocab: number;
  dModel: number;
  layers: number;
  heads: number;
  /** Key/value heads (grouped-query attention); default heads. */
  kvHeads?: number;
  /** Query/key width per head; default dModel/heads (values are always dModel/heads wide). */
  keySize?: number;
  /** FFN hidden width; default 4·dModel. */
  ffn?: number;
  /** 'transformer' (default) or 'gau' (heads must then be 1; kvHeads, keySize and ffn are unused). */
  block?: OneOf<TransformerBlock>;
  /** Block 'gau': e and s. */
  gau?: TransformerGauOptions;
  norm?: OneOf<TransformerNorm>;
  /** 'causal' (next token, default) or 'masked' (vocab − 1 is the mask id). */
  objective?: OneOf<TransformerObjective>;
  /** Fraction of tokens masked by the masked objective (default 0.15). */
  maskRate?: number;
  attention?: TransformerAttentionOptions;
  /** The longest sequence and the KV cache's length (default 1024). */
  maxSeq?: number;
  /** σ of the normal initialisation (default 0.02; DeepNorm uses its own). */
  initStd?: number;
  normEps?: number;
  optimizer?: TransformerOptimizerOptions;
  seed?: number;
}

export interface TransformerResolvedOptions {
  readonly vocab: number;
  readonly dModel: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly keySize: number;
  readonly ffn: number;
  readonly block: TransformerBlock;
  /** Resolved for block 'gau'; for 'transformer' unused (as given, default 0 and 0). */
  readonly gau: { readonly expansion: number; readonly keySize: number };
  readonly norm: TransformerNorm;
  readonly objective: TransformerObjective;
  readonly maskRate: number;
  readonly attention: { readonly scale: 'entropy' | 'standard' | number; readonly baseLen: number; readonly nMin: number; readonly rope: { readonly base: number } | null; readonly normalize: 'softmax' | 'relu2' | 'l2'; readonly talkingHeads: boolean };
  readonly maxSeq: number;
  readonly initStd: number;
  readonly normEps: number;
  readonly optimizer: { readonly lr: number; readonly beta1: number; readonly beta2: number; readonly eps: number; readonly weightDecay: number; readonly clipNorm: number; readonly flooding: number | null };
  readonly seed: number;
}

export interface TransformerCallOptions {
  /** Rows of seq + 1 tokens (seq for the masked objective); default: as many as the tokens hold. */
  batch?: number;
  seq: number;
  /** RoPE positions: 'sequential' (0…seq−1, default), 'random', 'equal-mean', or seq / batch·seq numbers. */
  positions?: OneOf<TransformerPositions> | ArrayLike<number>;
  /** 'random' positions are drawn from [0, positionRange) (default maxSeq). */
  positionRange?: number;
  /** evaluate(): the seed of the masked objective's masks and of random positions. */
  seed?: number;
  /**
   * Causal objective: batch·seq target ids, target i predicted at input i from inputs 0…i (−1: not
   * predicted); the tokens are then rows of seq inputs instead of seq + 1.
   */
  targets?: Tokens;
}

export interface TransformerTrainOptions extends Omit<TransformerCallOptions, 'seed' | 'targets'> {
  steps: number;
  onProgress?: (progress: { step: number; steps: number; loss: number }) => void;
  signal?: { readonly aborted: boolean; readonly reason?: unknown };
}

export interface TransformerGenerateOptions {
  /** Tokens to sample (default 64; prompt + maxTokens ≤ maxSeq). */
  maxTokens?: number;
  /** Softmax temperature (default 1; 0: greedy). */
  temperature?: number;
  /** Sample among the k most likely tokens (0: all, the default). */
  topK?: number;
  seed?: number;
}

export interface FinetuneOptions {
  /**
   * 'full' (AdamW), 'lora' (default) or 'galore' (a LowRankOptimizer per targeted matrix), or
   * 'ladder': ladder side-tuning (Sung et al. 2022, arXiv 2206.06522): the whole backbone frozen, a
   * side network of width dModel/reduction trained with AdamW (block 'transformer' only; no targets).
   */
  method?: OneOf<FinetuneMethod>;
  /** Rank of LoRA / GaLore (default 8). */
  rank?: number;
  /** Matrix kinds of every layer; empty (default): all matrices ('full': every parameter). */
  targets?: readonly OneOf<FinetuneTarget>[];
  lr?: number;
  /** LoRA's s in W = W0 + s·A·B, GaLore's α (default 1). */
  scale?: number;
  /** GaLore's projector refresh interval (default 50). */
  updateProjGap?: number;
  weightDecay?: number;
  /** Ladder: the side network's width is dModel/reduction (default 8, the paper's); a divisor of dModel. */
  reduction?: number;
  /** Ladder: the side network's heads (default: the most, at most `heads`, that keep a head ≥ 8 wide). */
  sideHeads?: number;
}

export interface FinetuneResolvedOptions {
  readonly method: FinetuneMethod;
  readonly rank: number;
  readonly targets: readonly string[];
  readonly lr: number;
  readonly scale: number;
  readonly updateProjGap: number;
  readonly weightDecay: number;
  readonly reduction: number;
  /** Resolved for 'ladder'; 0 for the other methods. */
  readonly sideHeads: number;
}

export interface TransformerTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset into `parameters`. */
  readonly offset: number;
}

/** A small transformer on kexue's kernels: trainStep, evaluate, generate, finetune, train, save/load. */
declare class Transformer extends Disposable {
  constructor(options: TransformerOptions);
  /** A model from a safetensors file written by save(). @throws RangeError naming what is wrong; nothing is created. */
  static load(bytes: Uint8Array | ArrayBuffer): Transformer;
  /** UTF-8 bytes of a string (byte-level tokens, vocab 256). */
  static encodeBytes(text: string): Uint8Array;
  /** The string of byte-level tokens. */
  static decodeBytes(tokens: Tokens): string;
  readonly options: TransformerResolvedOptions;
  readonly parameterCount: number;
  readonly steps: number;
  /** Bytes of optimizer state (AdamW's moments, the low-rank optimizers', or the ladder's side network's). */
  readonly optimizerBytes: number;
  /** Parameters being trained (LoRA: its factors; ladder: its side network). */
  readonly trainedParameters: number;
  readonly finetuning: FinetuneResolvedOptions | null;
  /** The tensors of `parameters` and of save()'s file: the model's, then, while a ladder is being trained, its side network's (`ladder.*`). */
  readonly tensors: readonly TransformerTensor[];
  /** Every parameter (copy), in the order of `tensors`. */
  readonly parameters: Float32Array;
  /**
   * Milliseconds of the last trainStep / evaluate / generate: total and the kernels' shares
   * (attentionMs: the fused kernel, or the talking-heads path with its products, not in gemmMs).
   */
  readonly lastStepTimes: { totalMs: number; gemmMs: number; attentionMs: number; ropeMs: number };
  /** Bytes of activations one trainStep of this shape keeps (with the ladder: its step's). */
  activationBytes(options: Omit<TransformerCallOptions, 'positions' | 'positionRange' | 'seed' | 'targets'>): number;
  /** One AdamW step; returns the mean loss before it. */
  trainStep(tokens: Tokens, options: TransformerCallOptions): number;
  /** Per-token loss, Float32Array(batch·seq). */
  evaluate(tokens: Tokens, options: TransformerCallOptions): Float32Array;
  /** Sampled tokens after the prompt (KV cache). */
  generate(prompt: Tokens, options?: TransformerGenerateOptions): Int32Array;
  /** From now on only the targets train, by `method`. */
  finetune(options?: FinetuneOptions): { options: FinetuneResolvedOptions; optimizerBytes: number; trainedParameters: number };
  /** `steps` steps on windows drawn from a corpus; rejects with the signal's reason when aborted. */
  train(tokens: Tokens, options: TransformerTrainOptions): Promise<{ losses: Float32Array }>;
  /** The safetensors file. */
  save(): Uint8Array;
}

export type { Transformer };

export interface Kexue {
  /** A small transformer trained, fine-tuned (full, LoRA, GaLore), sampled and saved in the page. */
  readonly Transformer: typeof Transformer;
}

// ---- unargmaxable classes (bindings/js/unargmaxable.js; docs/math.md §7.19) ----

export interface UnargmaxableOptions {
  classes: number;
  dim: number;
  /** b of the logits W z + b, Float32Array(classes); none: zero. */
  bias?: Float32Array;
}

export interface UnargmaxableResult {
  /** The classes no input makes the strict argmax, ascending (ties are not wins). */
  indices: Int32Array;
  /** Classes whose answer rests on margins within floating-point rounding. */
  withinRounding: Int32Array;
  /** Classes the screen proved argmaxable. */
  screened: number;
  /** Classes decided by a linear programme. */
  programmes: number;
}

export interface Kexue {
  /**
   * Which classes of a softmax layer (weight [classes, dim], optional bias) can never be the argmax:
   * an exact linear programme per class after a screen (kexue.fm/archives/9046; Grivas et al., ACL 2022).
   */
  unargmaxable(weight: Float32Array, options: UnargmaxableOptions): UnargmaxableResult;
}
