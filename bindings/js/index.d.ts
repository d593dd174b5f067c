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

export type RopeLayout = 'interleaved' | 'half';

export interface RopeOptions {
  batch?: number;
  seq: number;
  heads?: number;
  /** Head dim; must be even. */
  dim: number;
  /** Default 10000. */
  base?: number;
  /** 'interleaved' (pairs 2i, 2i+1; RoFormer, default) or 'half' (rotate-half; GPT-NeoX/LLaMA). */
  layout?: RopeLayout;
  /** Position of each token (length seq; real values allowed). Default 0, 1, 2, … */
  positions?: ArrayLike<number>;
  /** Rotate only the first rotaryDim dims (even, ≤ dim). Default dim. */
  rotaryDim?: number;
  /** Rotate by −position: the inverse rotation, i.e. the gradient. Default false. */
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

/** Where kx.attention runs. */
export type Backend = 'auto' | 'wasm' | 'webgpu';

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

export interface Rope2dOptions {
  batch?: number;
  height: number;
  width: number;
  heads?: number;
  /** Head dim; must be a multiple of 4. */
  dim: number;
  base?: number;
  layout?: RopeLayout;
  /** 'split' (first half of dim turns with x, second with y; default) or 'tie' (RoPE-Tie). */
  mode?: 'split' | 'tie';
  /** (x0, y0, x1, y1, …), one pair per token. Default: token t at (t % width, floor(t / width)). */
  positions?: ArrayLike<number>;
  inverse?: boolean;
}

export interface AttentionOptions {
  batch?: number;
  seqQ: number;
  /** Default seqQ. With causal, query i sits at position seqK − seqQ + i. */
  seqK?: number;
  heads: number;
  /** heads must be a multiple of kvHeads (grouped-query attention). Default heads. */
  kvHeads?: number;
  dim: number;
  /** Value/output head dim. Default dim. */
  dimV?: number;
  causal?: boolean;
  /** 'entropy' (log_baseLen(max(n_i, nMin))/√dim; default), 'standard' (1/√dim) or a fixed number. */
  scale?: 'entropy' | 'standard' | number;
  /** Default 512; must be > 1. */
  baseLen?: number;
  /** Default 16; must be ≥ 1. */
  nMin?: number;
  /** c_i = max(1, log_baseLen n_i)/√dim: never softer than a model trained at baseLen. Default false. */
  clipBelowOne?: boolean;
  /** Fused RoPE of Q and K (pass them un-rotated). Default null (off). */
  rope?: null | boolean | { base?: number; layout?: RopeLayout; rotaryDim?: number };
  /**
   * kx.attention only. 'auto' (default): the instance's backend (kx.backend), and WASM for shapes
   * beyond the device's limits. 'wasm': WASM. 'webgpu': rejects with an Error when the instance
   * has no usable device, and with a RangeError when the shape is beyond its limits.
   * kx.attentionBackward always runs on WASM (it accepts 'auto' and 'wasm').
   */
  backend?: Backend;
}

export interface AttentionGradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

export type Activation = 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid' | 'softplus' | 'gelu' | 'linear';

export interface MlpOptions {
  /** [in, hidden…, out], at least 2 positive entries. */
  sizes: number[];
  /** Hidden activation (the output is linear). Default 'relu'; leaky_relu has slope 0.2, gelu is the tanh form. */
  activation?: Activation;
  /** Seed of the initialisation (PyTorch nn.Linear's uniform ±1/sqrt(fan_in)). Default 0. */
  seed?: number;
}

/** Dense MLP; parameters laid out per layer as W (out×in, row-major) then b. */
export interface Mlp extends Disposable {
  readonly sizes: number[];
  readonly activation: Activation;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly parameterCount: number;
  /** A copy. */
  readonly parameters: Float32Array;
  setParameters(parameters: Float32Array): void;
  /** x: rows×in → rows×out. */
  forward(x: Float32Array, options: { rows: number }): Float32Array;
  /** ∇_x of each row's scalar output: rows×in. */
  inputGradient(x: Float32Array, options: { rows: number }): Float32Array;
}

export interface MlpConstructor {
  new (options: MlpOptions): Mlp;
}

export interface CriticLossOptions {
  real: Float32Array;
  fake: Float32Array;
  /** Per-sample interpolation ε in [0, 1]; drawn with Math.random when omitted. */
  eps?: Float32Array;
  rows: number;
  /** Default 10; ≥ 0. */
  lambda?: number;
  /** Default 'two-sided' (λ(s−1)²); 'one-sided' is λ max(0, s−1)². */
  penalty?: 'two-sided' | 'one-sided';
}

export interface CriticLossResult {
  loss: number;
  penalty: number;
  /** ‖∇_x D(x̂_i)‖ per row. */
  gradNorms: Float32Array;
  /** ∇_w L_D, layout of Mlp.parameters. */
  grad: Float32Array;
}

export interface NormalizedCriticResult {
  value: Float32Array;
  /** Gradient of the sum of values w.r.t. the parameters. */
  paramGrad: Float32Array;
  /** ∇_x of each row's value, rows×in. */
  inputGrad: Float32Array;
}

export interface GanNamespace {
  criticLoss(critic: Mlp, options: CriticLossOptions): CriticLossResult;
  generatorLoss(critic: Mlp, fake: Float32Array, options: { rows: number }): { loss: number; grad: Float32Array };
  normalizedCritic(critic: Mlp, x: Float32Array,
    options: { rows: number; variant?: 'gn' | 'gran'; epsilon?: number }): NormalizedCriticResult;
  /** n points (n×2) of a built-in toy dataset, drawn as the trainer draws its real batches. */
  sampleDataset(name: 'ring8' | 'grid25' | 'swissroll', n: number, options?: { seed?: number }): Float32Array;
  readonly presets: Record<'paper' | 'toy', { lr: number; beta1: number; beta2: number; nCritic: number; lambda: number }>;
}

export interface GanTrainerOptions {
  /** 'ring8' (default), 'grid25', 'swissroll', or n×2 samples. */
  dataset?: 'ring8' | 'grid25' | 'swissroll' | Float32Array;
  /** 'paper' (default: lr 1e-4, β1 0, β2 0.9, λ 10) or 'toy' (lr 1e-3, β1 0.5, λ 0.1); explicit options win. */
  preset?: 'paper' | 'toy';
  lipschitz?: 'gp' | 'gn' | 'gran' | 'none';
  lambda?: number;
  penalty?: 'two-sided' | 'one-sided';
  /** GraN's ε (> 0), required with lipschitz 'gran'. */
  epsilon?: number;
  nCritic?: number;
  lr?: number;
  beta1?: number;
  beta2?: number;
  batch?: number;
  critic?: { hidden?: number[]; activation?: Activation };
  generator?: { latent?: number; hidden?: number[]; activation?: Activation };
  seed?: number;
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

export interface GanTrainer extends Disposable {
  readonly options: Readonly<Required<Omit<GanTrainerOptions, 'dataset' | 'epsilon'>>> & { dataset: string; epsilon?: number };
  readonly steps: number;
  readonly criticParameters: Float32Array;
  readonly generatorParameters: Float32Array;
  step(count?: number): { criticLoss: number; generatorLoss: number; gradNorm: number };
  sample(n: number): Float32Array;
  evaluate(n?: number): GanMetrics;
}

export interface GanTrainerConstructor {
  new (options?: GanTrainerOptions): GanTrainer;
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
  readonly Mlp: MlpConstructor;
  readonly gan: GanNamespace;
  readonly GanTrainer: GanTrainerConstructor;
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
  /** 2D RoPE of x [batch, height·width, heads, dim]; returns a new Float32Array. */
  rope2d(x: Float32Array, options: Rope2dOptions): Float32Array;
  /**
   * Fused, tiled entropy-invariant attention. q [batch, seqQ, heads, dim], k [batch, seqK, kvHeads,
   * dim], v [batch, seqK, kvHeads, dimV]; resolves to out [batch, seqQ, heads, dimV].
   * Rejects with TypeError/RangeError on bad input.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, options: AttentionOptions): Promise<Float32Array>;
  /** Gradients w.r.t. the un-rotated q, k, v given dOut (shape of out), same options as attention. */
  attentionBackward(q: Float32Array, k: Float32Array, v: Float32Array, dOut: Float32Array,
    options: AttentionOptions): AttentionGradients;
}

export interface InitOptions {
  /**
   * 'auto' (default): every core, up to 4, where shared WASM memory is available (Node, and
   * cross-origin-isolated pages); one thread elsewhere. 1: the single-threaded module.
   * n > 1: n threads (at most 4); throws where shared memory is unavailable.
   */
  threads?: 'auto' | number;
  /**
   * Where kx.attention runs. 'auto' (default): WebGPU when navigator.gpu (browsers) or the
   * optional `webgpu` package (Node) yields an adapter and a device, else WASM, silently.
   * 'webgpu': rejects with an Error saying why when there is none. 'wasm': never touches WebGPU.
   */
  backend?: Backend;
  /** A GPU object (navigator.gpu, or `create([])` of the `webgpu` package) to use instead. */
  gpu?: { requestAdapter(options?: object): Promise<unknown> };
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
