// Every public API of the package, through its published entry point ('kexue' resolves to this
// package by its own name), type-checked against bindings/js/index.d.ts by tests/js/types.test.mjs
// (tsc --strict, with the default lib and with lib es2022 + esnext.disposable + dom) and then run
// against bindings/js/index.js. The two together keep the declarations and the code in step: an
// option renamed in the code but not in the types compiles here and is refused at run time
// ("unknown option"); one renamed in the types only does not compile.
//
// Each options object is written `satisfies Required<…Options>`, so an option added to the
// declarations must be used here before this file compiles again. Sizes are tiny: this checks
// the surface, the other suites check the numbers.
import initDefault, {
  Disposable, init, version,
  type Activation, type AdapterInfo, type AttentionBias, type AttentionGradients, type AttentionMask, type AttentionOptions, type AttentionWindow,
  type AttentionRopeOptions, type AttentionData, type AttentionElementType, type AttentionLayout, type Float16Data, type Backend, type ClipGradientsOptions, type CriticLossOptions,
  type CriticLossResult, type GanDataset, type GanMetrics, type GanNamespace, type GanPreset,
  type GanPresetName, type GanStepResult, type GanTrainer, type GanTrainerOptions,
  type GanTrainerResolvedOptions, type GpuLike, type InitOptions, type ModuleFile, type Kexue, type LowRankBase,
  type LowRankFactors, type LowRankInit, type LowRankMode, type LowRankOptimizer,
  type LowRankOptimizerOptions, type LowRankOptimizerResolvedOptions, type MatmulOptions,
  type MgdaOptions, type MgdaResult, type Mlp, type MlpInit, type MlpOptions, type MlpResolvedOptions,
  type Multitask, type NormalizedCriticOptions, type NormalizedCriticResult, type OneOf,
  type Penalty, type PrimaryAuxOptions, type PrimaryAuxResult, type Rope2dOptions,
  type RopeFrequencies, type RopeFrequenciesOptions, type RopeGpuOptions, type RopeLayout, type RopeOptions,
  type RopeScaling, type RowsOptions,
  type SampleDatasetOptions, type Whitening, type WhiteningFitOptions, type WhiteningJSON,
  type WhiteningResolvedOptions, type WhiteningStats, type WhiteningTransformOptions,
  type AddNoiseOptions, type DiffusionSampleOptions, type DiffusionSamplerOptions, type DiffusionSchedule,
  type DiffusionTrainer, type DiffusionTrainerOptions, type DiffusionTrainerResolvedOptions,
  type EpsilonPredictor, type LinearScheduleOptions,
  type Transformer, type TransformerOptions, type TransformerResolvedOptions, type TransformerCallOptions,
  type TransformerTrainOptions, type TransformerGenerateOptions, type FinetuneOptions, type FinetuneResolvedOptions,
  type TransformerTensor, type Tokens,
  type UnargmaxableOptions, type UnargmaxableResult,
} from 'kexue';

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`all-api: ${what}`);
}

async function rejects(promise: Promise<unknown>, pattern: RegExp, what: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    check(error instanceof Error && pattern.test(error.message), `${what}: ${String(error)}`);
    return;
  }
  check(false, `${what} resolved`);
}

const f32 = (length: number, seed = 1): Float32Array =>
  Float32Array.from({ length }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.5);

// ---- module exports and init ----

check(initDefault === init, 'default export is init');
const packageVersion: string = version;

// A GPU object without an adapter: 'auto' ends on WASM silently, 'webgpu' rejects saying why.
const noAdapter: GpuLike = { requestAdapter: async () => null };
// Every init option: the layout ones and proxy are exercised by node_host/bundlers/proxy tests.
const initOptions = { threads: 1, relaxedSimd: 'auto', backend: 'auto', gpu: noAdapter, webgpu: { lanes: 2, limits: { maxComputeWorkgroupsPerDimension: 1024 } } } satisfies Required<Omit<InitOptions, 'wasmPaths' | 'locateFile' | 'proxy'>>;
const layoutOptions = {
  wasmPaths: { 'kexue.wasm': 'https://cdn.example/kexue.wasm' },
  locateFile: (name: ModuleFile, directory: string) => `${directory}${name}`,
  proxy: { transfer: true },
} satisfies Required<Pick<InitOptions, 'wasmPaths' | 'locateFile' | 'proxy'>>;
check(typeof layoutOptions.locateFile('kexue.wasm', '/x/') === 'string', 'layout options');
const kxAuto: Kexue = await init(initOptions);
check(kxAuto.backend === 'wasm', 'auto without an adapter is wasm');
await rejects(init({ backend: 'webgpu', gpu: noAdapter }), /no WebGPU adapter/, "init({ backend: 'webgpu' })");
const kx: Kexue = await init({ threads: 'auto', backend: 'wasm' });

const threads: number = kx.threads;
const heapBytes: number = kx.wasmHeapBytes;
const where: 'wasm' | 'webgpu' = kx.backend;
const adapter: AdapterInfo | null = kx.adapterInfo;
const gpuBuffers: number[] = kx.gpuBufferSizes;
check(kx.version === packageVersion && threads >= 1 && heapBytes > 0 && where === 'wasm' && adapter === null &&
  gpuBuffers.length === 0, 'instance properties');

// ---- Disposable ----

let released = 0;
class Handle extends Disposable {
  constructor() {
    super(() => { released += 1; });
  }

  use(): number {
    this.assertAlive('Handle.use');
    return 1;
  }
}
const handle = new Handle();
check(handle.use() === 1 && !handle.disposed, 'Disposable subclass');
handle[Symbol.dispose]();
handle.dispose();
check(handle.disposed && released === 1, 'dispose runs release once');

// ---- matmul ----

const matmulOptions = { m: 3, k: 2, n: 3, transposeA: true, transposeB: true } satisfies Required<MatmulOptions>;
const c: Float32Array = kx.matmul(f32(6), f32(6, 2), matmulOptions);
check(c.length === 9, 'matmul');

// ---- BERT-whitening ----

const xw = new Float32Array([3, 3, 1, 1, 2, 3, 2, 1]);
const fitOptions = { beta: 1, gamma: 1, k: 2, ddof: 1 } satisfies Required<WhiteningFitOptions>;
const w: Whitening = kx.Whitening.fit(xw, { rows: 4, dim: 2, ...fitOptions });
const transformOptions = { rows: 4, normalize: true } satisfies Required<WhiteningTransformOptions>;
const yw: Float32Array = w.transform(xw, transformOptions);
const wOptions: WhiteningResolvedOptions = w.options;
const wFacts: [number, number, number | null, number | null, 0 | 1 | null, number | null] =
  [w.dim, w.k, w.beta, w.gamma, w.ddof, w.count];
const wMean: Float32Array | null = w.mean;
const wEigen: Float64Array | null = w.eigenvalues;
const wKernel: Float64Array = w.kernel;
const json: WhiteningJSON = w.toJSON();
const again: Whitening = kx.Whitening.fromJSON(JSON.parse(JSON.stringify(w)) as WhiteningJSON);
const { kernel, bias }: { kernel: number[][]; bias: number[][] } = w.toKernelBias();
const imported: Whitening = kx.Whitening.fromKernelBias({ kernel, bias });
const importedFlat: Whitening = kx.Whitening.fromKernelBias({ kernel, bias: bias[0] });
check(yw.length === 8 && wOptions.k === 2 && wFacts[0] === 2 && wMean !== null && wEigen !== null &&
  wKernel.length === 4 && json.format === 'kexue-whitening' && imported.beta === null && again.k === 2, 'whitening');
check(w instanceof kx.Whitening && !(w instanceof kx.WhiteningStats), 'instanceof a class of the instance');

const stats: WhiteningStats = new kx.WhiteningStats(2);
const other = new kx.WhiteningStats(2).add(xw, 4);
const sameStats: WhiteningStats = stats.add(xw, 4).merge(other);
const model: Whitening = stats.finalize({ beta: 0, gamma: 0, k: 1 });
const statsOptions: { readonly dim: number } = stats.options;
check(sameStats === stats && stats.count === 8 && stats.dim === 2 && statsOptions.dim === 2 &&
  model.k === 1 && stats.finalize().k === 2, 'whitening stats');
for (const d of [w, again, imported, importedFlat, model, stats, other]) d.dispose();

// ---- RoPE and attention ----

const layout: RopeLayout = 'half';
const ropeOptions = {
  batch: 1, seq: 3, heads: 2, dim: 4, base: 500, layout, positions: [0, 2.5, 1e6], rotaryDim: 2,
  inverse: true, backend: 'wasm', offset: 0, ropeScaling: null, inverseFrequencies: new Float32Array([0.5]),
} satisfies Required<RopeOptions>;
const xr = f32(24);
const rotated: Float32Array = kx.rope(xr, ropeOptions);
const { backend: _wasm, ...ropeCommon } = ropeOptions;
const ropeAuto = { ...ropeCommon, backend: 'auto' } satisfies Required<RopeGpuOptions>;
const rotatedAuto: Float32Array = await kx.rope(xr, ropeAuto);    // WASM: this instance has no device
await rejects(kx.rope(xr, { ...ropeCommon, backend: 'webgpu' }), /backend 'webgpu' is unavailable/, "rope backend 'webgpu'");
const someBackend: Backend = threads > 0 ? 'wasm' : 'auto';
const either: Float32Array | Promise<Float32Array> = kx.rope(xr, { ...ropeCommon, backend: someBackend });
check(rotated.length === 24 && rotatedAuto.every((value, i) => value === rotated[i]) && (await either).length === 24, 'rope');

const rope2dOptions = {
  batch: 1, height: 2, width: 2, heads: 1, dim: 4, base: 10000, layout: 'interleaved', mode: 'tie',
  positions: new Float64Array([0, 0, 1, 0, 0, 1, 1, 1]), inverse: false, backend: 'wasm',
} satisfies Required<Rope2dOptions>;
const rotated2d: Float32Array = kx.rope2d(f32(16), rope2dOptions);
const rotated2dAuto: Promise<Float32Array> = kx.rope2d(f32(16), { ...rope2dOptions, backend: 'auto' });
check(rotated2d.length === 16 && (await rotated2dAuto).length === 16, 'rope2d');

const fusedRope = {
  base: 10000, layout: 'half', rotaryDim: 2, inverseFrequencies: [1], positionsQ: [5, 6], positionsK: new Float64Array(3),
  ropeScaling: null, cachedKeys: 'unrotated',
} satisfies Required<AttentionRopeOptions>;
const yarn = { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 4096, lowFreqFactor: 1, highFreqFactor: 4,
  betaFast: 32, betaSlow: 1, attentionFactor: 1.1 } satisfies Required<RopeScaling>;
const spectrum: RopeFrequencies = kx.ropeFrequencies({ rotaryDim: 8, base: 10000, ropeScaling: yarn } satisfies Required<RopeFrequenciesOptions>);
const scaledRope = {
  layout: 'half', rotaryDim: 2, positionsQ: [5, 6], cachedKeys: 'rotated',
  ropeScaling: { type: 'llama3', factor: 8, originalMaxPositionEmbeddings: 8192 },
} satisfies AttentionRopeOptions;
check(spectrum.inverseFrequencies instanceof Float64Array && spectrum.inverseFrequencies.length === 4 &&
  spectrum.attentionFactor === 1.1, 'ropeFrequencies');
const attentionOptions = {
  batch: 1, seqQ: 2, seqK: 3, heads: 2, kvHeads: 1, dim: 4, dimV: 2, causal: true, scale: 'entropy',
  baseLen: 512, nMin: 16, clipBelowOne: true, rope: fusedRope, backend: 'wasm',
  seqLensQ: [2], seqLensK: new Int32Array([3]), window: { left: 2, right: null } satisfies Required<AttentionWindow>,
  alibi: true, bias: { data: f32(12, 4), shape: [1, 2, 2, 3] } satisfies AttentionBias,
  mask: { data: new Uint8Array([1, 1, 0]), shape: [1, 1, 1, 3] } satisfies AttentionMask,
  softcap: 30, sinks: new Float32Array([0.5, -1]), smoothSoftmax: false, normalize: 'softmax', precision: 'f32',
  layout: 'bshd' satisfies AttentionLayout, outputType: 'float32' satisfies AttentionElementType,
} satisfies Required<AttentionOptions>;
const q = f32(16, 1);
const k = f32(12, 2);
const v = f32(6, 3);
const out: Float32Array = await kx.attention(q, k, v, attentionOptions);
const grads: AttentionGradients = kx.attentionBackward(q, k, v, new Float32Array(out.length).fill(1e-3), attentionOptions);
const standard = await kx.attention(q, k, v, { ...attentionOptions, scale: 'standard', rope: true, causal: false });
const fixed = await kx.attention(q, k, v, { ...attentionOptions, scale: 0.5, rope: null, clipBelowOne: false });
const relu2 = await kx.attention(q, k, v, { ...attentionOptions, sinks: null, softcap: null, normalize: 'relu2' });
const smooth = await kx.attention(q, k, v, { ...attentionOptions, sinks: [0, 0], normalize: 'softmax' });
const dSinks: Float32Array | undefined = grads.dSinks;
const gradsAuto: Promise<AttentionGradients> = kx.attentionBackward(q, k, v, new Float32Array(out.length).fill(1e-3), { ...attentionOptions, backend: 'auto' });
check((await gradsAuto).dq.length === 16, 'attentionBackward with backend auto');
const scaled = await kx.attention(q, k, v, { ...attentionOptions, rope: scaledRope });
const booleanMask = await kx.attention(q, k, v, { ...attentionOptions, mask: { data: [true, false, true], shape: [1, 1, 1, 3] } });
check(booleanMask.length === 8, 'attention with a mask of booleans');
// Options kept in a variable: their strings widen to `string`, which the types accept.
const stored = { seqQ: 2, seqK: 3, heads: 2, kvHeads: 1, dim: 4, dimV: 2, scale: 'standard', rope: { layout: 'half' } };
const fromStored = await kx.attention(q, k, v, stored);
check(out.length === 8 && grads.dq.length === 16 && grads.dk.length === 12 && grads.dv.length === 6 &&
  standard.length === 8 && fixed.length === 8 && fromStored.length === 8 && relu2.length === 8 &&
  smooth.length === 8 && dSinks?.length === 2 && scaled.length === 8, 'attention');
// float16 tensors (Uint16Array bits; a Float16Array where the engine has one), PyTorch's layout.
const f16 = (n: number) => new Uint16Array(n).fill(0x3c00);  // 1.0
const halfOptions = { seqQ: 2, seqK: 3, heads: 2, kvHeads: 1, dim: 4, dimV: 2, layout: 'bhsd' } as const;
const outHalf: Float16Data = await kx.attention(f16(16), f16(12), f16(6), halfOptions);
const outHalfToF32: Float32Array = await kx.attention(f16(16), f16(12), f16(6), { ...halfOptions, outputType: 'float32' });
const outF32ToHalf: Float16Data = await kx.attention(q, k, v, { ...halfOptions, outputType: 'float16' });
const gradsHalf: AttentionGradients<Float16Data> = kx.attentionBackward(f16(16), f16(12), f16(6), f16(8), halfOptions);
const anyType: AttentionData = await kx.attention(q, k, v, { ...halfOptions, outputType: 'float16' as AttentionElementType });
check(outHalf.length === 8 && outHalfToF32.length === 8 && outF32ToHalf.length === 8 && gradsHalf.dk.length === 12 &&
  anyType.length === 8 && Math.abs(outHalfToF32[0] - 1) < 1e-6, 'attention in float16');

// ---- MLP and GAN ----

const activation: Activation = 'tanh';
const mlpInit: MlpInit = 'he';
const mlpOptions = { sizes: [2, 8, 1], activation, init: mlpInit, outputInit: 'glorot', bias: 'zero', seed: 3 } satisfies Required<MlpOptions>;
const critic: Mlp = new kx.Mlp(mlpOptions);
const criticOptions: MlpResolvedOptions = critic.options;
const rows = 3;
const rowsOptions = { rows } satisfies Required<RowsOptions>;
const xg = f32(rows * 2, 4);
const params: Float32Array = critic.parameters;
critic.setParameters(params);
const d: Float32Array = critic.forward(xg, rowsOptions);
const dx: Float32Array = critic.inputGradient(xg, rowsOptions);
check(critic.sizes.length === 3 && critic.activation === 'tanh' && critic.inputSize === 2 && critic.outputSize === 1 &&
  critic.parameterCount === params.length && criticOptions.seed === 3 && d.length === rows && dx.length === rows * 2, 'mlp');

const gan: GanNamespace = kx.gan;
const penalty: Penalty = 'one-sided';
const criticLossOptions = {
  real: f32(rows * 2, 5), fake: f32(rows * 2, 6), interpolation: new Float32Array([0, 0.5, 1]), rows, lambda: 10, penalty,
} satisfies Required<Omit<CriticLossOptions, 'eps'>>; // eps: the deprecated name of interpolation
const lossD: CriticLossResult = gan.criticLoss(critic, criticLossOptions);
const lossG: { loss: number; grad: Float32Array } = gan.generatorLoss(critic, criticLossOptions.fake, rowsOptions);
const normalizedOptions = { rows, variant: 'gran', eps: 0.1 } satisfies Required<Omit<NormalizedCriticOptions, 'epsilon'>>; // epsilon: deprecated name of eps
const normalized: NormalizedCriticResult = gan.normalizedCritic(critic, xg, normalizedOptions);
const gn = gan.normalizedCritic(critic, xg, { rows, variant: 'gn' });
const dataset: GanDataset = 'grid25';
const sampleOptions = { seed: 2 } satisfies Required<SampleDatasetOptions>;
const points: Float32Array = gan.sampleDataset(dataset, 5, sampleOptions);
const presetName: GanPresetName = 'toy';
const preset: GanPreset = gan.presets[presetName];
check(Number.isFinite(lossD.loss + lossD.penalty) && lossD.gradNorms.length === rows && lossD.grad.length === params.length &&
  Number.isFinite(lossG.loss) && lossG.grad.length === rows * 2 && normalized.value.length === rows &&
  normalized.paramGrad.length === params.length && normalized.inputGrad.length === rows * 2 && gn.value.length === rows &&
  points.length === 10 && preset.lambda === 0.1 && preset.lr > 0 && preset.beta1 >= 0 && preset.beta2 > 0 && preset.nCritic > 0, 'gan');
critic.dispose();

const trainerOptions = {
  dataset: 'ring8', preset: 'toy', lipschitz: 'gran', lambda: 0.1, penalty: 'two-sided', eps: 0.1, nCritic: 1,
  lr: 1e-3, beta1: 0.5, beta2: 0.9, batch: 8, critic: { hidden: [8], activation: 'relu' },
  generator: { latent: 2, hidden: [8], activation: 'leaky_relu', init: 'torch', outputInit: null, bias: 'uniform' }, seed: 1,
} satisfies Required<Omit<GanTrainerOptions, 'epsilon'>>; // epsilon: deprecated name of eps
const trainer: GanTrainer = new kx.GanTrainer(trainerOptions);
const first: GanStepResult = trainer.step();
const later: GanStepResult = trainer.step(2);
const samples: Float32Array = trainer.sample(4);
const metrics: GanMetrics = trainer.evaluate(100);
const resolved: GanTrainerResolvedOptions = trainer.options;
check(Number.isFinite(first.criticLoss + first.generatorLoss + first.gradNorm + later.criticLoss) && trainer.steps === 3 &&
  samples.length === 8 && metrics.modes >= 0 && metrics.highQuality >= 0 && !Number.isNaN(metrics.medianDistance) &&
  typeof metrics.reverseKL === 'number' && resolved.eps === 0.1 && resolved.critic.hidden[0] === 8 &&
  resolved.generator.latent === 2 && trainer.criticParameters.length > 0 && trainer.generatorParameters.length > 0, 'gan trainer');
trainer.dispose();
const own = new kx.GanTrainer({ dataset: points, batch: 4, critic: { hidden: [4] }, generator: { hidden: [4] } });
check(own.options.dataset === 'samples', 'own samples');
own.dispose();
new kx.GanTrainer().dispose();

// ---- optimizers ----

const rowsW = 4;
const colsW = 3;
const factors: LowRankFactors = { A: f32(rowsW, 7), B: f32(colsW, 8) };
const mode: LowRankMode = 'lora';
const base: LowRankBase = 'adam';
const initMode: LowRankInit = 'zero-b';
const optimizerOptions = {
  rows: rowsW, cols: colsW, rank: 1, mode, base, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, scale: 1,
  updateProjGap: 10, init: initMode, seed: 0, weight: f32(rowsW * colsW, 9), factors,
} satisfies Required<LowRankOptimizerOptions>;
const opt: LowRankOptimizer = new kx.LowRankOptimizer(optimizerOptions);
const same: LowRankOptimizer = opt.step(f32(rowsW * colsW, 10));
const optOptions: LowRankOptimizerResolvedOptions = opt.options;
const optFactors: LowRankFactors | null = opt.factors;
check(same === opt && opt.steps === 1 && opt.weight.length === 12 && optFactors !== null && opt.projector === null &&
  opt.stateFloats > 0 && opt.rows === 4 && opt.cols === 3 && opt.rank === 1 && opt.mode === 'lora' &&
  optOptions.updateProjGap === 10 && opt.config.lr === 0.01, 'low-rank optimizer');
opt.dispose();
const galore = new kx.LowRankOptimizer({ rows: rowsW, cols: colsW, rank: 1, mode: 'galore', lr: 0.01, weight: f32(12) });
galore.step(f32(12, 11));
check(galore.projector !== null && galore.factors === null, 'galore');
galore.dispose();

const multitask: Multitask = kx.multitask;
const g0 = f32(5, 12);
const g1 = f32(5, 13);
const g2 = f32(5, 14);
const g3 = f32(5, 15);
const direction: Float32Array = multitask.normalizedSum([g1, g2]);
const mgdaOptions = { maxIterations: 50, tolerance: 0 } satisfies Required<MgdaOptions>;
const mgda: MgdaResult = multitask.mgda([g1, g2, g3], mgdaOptions);
const auxOptions = { maxSweeps: 50, tolerance: 1e-12 } satisfies Required<PrimaryAuxOptions>;
const aux: PrimaryAuxResult = multitask.primaryAux(g0, [g1, g2], auxOptions);
const clipOptions = { maxNorm: 1, form: 'smooth' } satisfies Required<ClipGradientsOptions>;
const clipped: { grads: Float32Array[]; norm: number } = kx.clipGradients([g1, f32(2, 16)], clipOptions);
check(direction.length === 5 && mgda.direction.length === 5 && mgda.weights.length === 3 && mgda.iterations >= 0 && mgda.gap >= 0 &&
  aux.direction.length === 5 && aux.weights.length === 2 && clipped.grads.length === 2 && clipped.norm > 0, 'multitask, clipping');

// ---- diffusion ----

const scheduleOptions = { steps: 4, betaStart: 0.01, betaEnd: 0.2 } satisfies Required<LinearScheduleOptions>;
const schedule: DiffusionSchedule = kx.diffusion.linearSchedule(scheduleOptions);
const noiseOptions = { rows: 1, dim: 2, t: 2, beta: schedule.beta } satisfies Required<AddNoiseOptions>;
const noised: Float32Array = kx.diffusion.addNoise(f32(2, 20), f32(2, 21), noiseOptions);
const zeroPredictor: EpsilonPredictor = (x) => new Float32Array(x.length);
const ddpmOptions = { rows: 2, dim: 2, beta: schedule.beta, variance: 'beta_tilde', seed: 1 } satisfies DiffusionSamplerOptions;
const ddimOptions = { rows: 2, dim: 2, beta: schedule.beta, eta: 0.5, timesteps: [1, 3], seed: 1 } satisfies DiffusionSamplerOptions;
const ddpmSamples: Float32Array = kx.diffusion.ddpmSample(zeroPredictor, ddpmOptions);
const ddimSamples: Float32Array = kx.diffusion.ddimSample(zeroPredictor, { ...ddimOptions, timesteps: undefined, steps: 2 });
const diffusionOptions = {
  dataset: 'ring8', schedule: scheduleOptions, hidden: [4], activation: 'relu', embedding: 4, lr: 1e-3,
  beta1: 0.9, beta2: 0.999, batch: 4, seed: 2,
} satisfies Required<DiffusionTrainerOptions>;
const diffusionTrainer: DiffusionTrainer = new kx.DiffusionTrainer(diffusionOptions);
const diffusionResolved: DiffusionTrainerResolvedOptions = diffusionTrainer.options;
const diffusionStep: { loss: number; meanLoss: number } = diffusionTrainer.step(2);
const diffusionSampleOptions = { sampler: 'ddim', variance: 'beta', eta: 0, steps: 2, timesteps: undefined, seed: 3 } satisfies DiffusionSampleOptions;
const diffusionSamples: Float32Array = diffusionTrainer.sample(3, diffusionSampleOptions);
const diffusionMetrics: GanMetrics = diffusionTrainer.evaluate(10, { sampler: 'ddpm' });
const epsilon: Float32Array = diffusionTrainer.predict(f32(2, 22), { rows: 1, t: 1 });
const viaTrainer: Float32Array = kx.diffusion.ddimSample(diffusionTrainer, { rows: 2, steps: 2 });
check(schedule.alphaBar.length === 5 && noised.length === 2 && ddpmSamples.length === 4 && ddimSamples.length === 4 &&
  diffusionResolved.schedule.steps === 4 && Number.isFinite(diffusionStep.loss) && diffusionSamples.length === 6 &&
  diffusionTrainer.steps === 2 && diffusionTrainer.parameters.length > 0 && Number.isFinite(diffusionMetrics.medianDistance) &&
  epsilon.length === 2 && viaTrainer.length === 4, 'diffusion');
diffusionTrainer.dispose();

// ---- the transformer ----
const transformerOptions = {
  vocab: 256, dModel: 8, layers: 1, heads: 2, kvHeads: 1, keySize: 4, ffn: 16, block: 'transformer', gau: { expansion: 16, keySize: 8 },
  norm: 'pre-rms', objective: 'causal',
  maskRate: 0.15, attention: { scale: 'entropy', baseLen: 16, nMin: 1, rope: { base: 10000 }, normalize: 'l2' }, maxSeq: 32, initStd: 0.02,
  normEps: 1e-5, optimizer: { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, clipNorm: 1, flooding: null }, seed: 1,
} satisfies Required<TransformerOptions>;
const transformer: Transformer = new kx.Transformer(transformerOptions);
const transformerResolved: TransformerResolvedOptions = transformer.options;
const bytes: Tokens = kx.Transformer.encodeBytes('abcdefghi');
// With targets the tokens are rows of seq inputs (here: the next bytes as the labels).
const callOptions = { batch: 1, seq: 8, positions: 'random', positionRange: 16, seed: 0, targets: bytes.subarray(1, 9) } satisfies Required<TransformerCallOptions>;
const loss: number = transformer.trainStep(bytes.subarray(0, 8), callOptions);
const perToken: Float32Array = transformer.evaluate(bytes, { seq: 8, positions: Float64Array.from({ length: 8 }, (_, i) => i) });
const generateOptions = { maxTokens: 4, temperature: 0.5, topK: 3, seed: 2 } satisfies Required<TransformerGenerateOptions>;
const sampled: Int32Array = transformer.generate(bytes.subarray(0, 2), generateOptions);
const text: string = kx.Transformer.decodeBytes(sampled);
const trainOptions = {
  steps: 2, batch: 1, seq: 8, positions: 'sequential', positionRange: 32, onProgress: (p: { step: number }) => void p.step,
  signal: new AbortController().signal,
} satisfies Required<TransformerTrainOptions>;
const trained: { losses: Float32Array } = await transformer.train(bytes, trainOptions);
const finetuneOptions = {
  method: 'lora', rank: 2, targets: ['wq', 'wv'], lr: 1e-3, scale: 1, updateProjGap: 10, weightDecay: 0, reduction: 8, sideHeads: 0,
} satisfies Required<FinetuneOptions>;
const tuned: { options: FinetuneResolvedOptions; optimizerBytes: number; trainedParameters: number } = transformer.finetune(finetuneOptions);
const tensorsList: readonly TransformerTensor[] = transformer.tensors;
const file: Uint8Array = transformer.save();
// Block 'gau': one Gated Attention Unit per layer (single-head).
const gauModel: Transformer = new kx.Transformer({ vocab: 256, dModel: 8, layers: 2, heads: 1, block: 'gau', gau: { expansion: 16, keySize: 8 } });
const gauTuned = gauModel.finetune({ method: 'lora', rank: 2, targets: ['wu', 'wz'] });
check(gauModel.options.block === 'gau' && gauModel.options.gau.keySize === 8 && gauTuned.trainedParameters > 0, 'gau block');
gauModel.dispose();
// Talking heads: a heads×heads Pl and Pw per layer, a target of 'full' fine-tuning.
const talkingModel: Transformer = new kx.Transformer({ vocab: 256, dModel: 8, layers: 1, heads: 2, attention: { talkingHeads: true } });
const talkingTuned = talkingModel.finetune({ method: 'full', targets: ['talking'] });
check(talkingModel.options.attention.talkingHeads && talkingTuned.trainedParameters === 8, 'talking heads');
talkingModel.dispose();
// Ladder side-tuning: the backbone frozen, a side network of width dModel/reduction.
const ladderModel: Transformer = new kx.Transformer({ vocab: 256, dModel: 16, layers: 1, heads: 2 });
const ladderTuned = ladderModel.finetune({ method: 'ladder', reduction: 2, sideHeads: 1, lr: 1e-2 });
const sideHeads: number = ladderTuned.options.sideHeads;
check(sideHeads === 1 && ladderModel.finetuning?.method === 'ladder' && ladderModel.finetuning.reduction === 2, 'ladder');
ladderModel.dispose();
const reloaded: Transformer = kx.Transformer.load(file);
check(Number.isFinite(loss) && perToken.length === 8 && sampled.length === 4 && typeof text === 'string' &&
  trained.losses.length === 2 && tuned.options.method === 'lora' && transformer.finetuning?.rank === 2 &&
  tensorsList[0].name === 'embedding.weight' && transformer.parameters.length === transformer.parameterCount &&
  reloaded.steps === transformer.steps && transformerResolved.keySize === 4 && transformerResolved.attention.normalize === 'l2' && transformer.optimizerBytes > 0 &&
  transformer.trainedParameters > 0 && transformer.lastStepTimes.totalMs >= 0 && transformer.activationBytes({ batch: 1, seq: 8 }) > 0, 'transformer');
transformer.dispose();
reloaded.dispose();
// ---- unargmaxable classes ----
const unargmaxableOptions = { classes: 5, dim: 2, bias: new Float32Array(5) } satisfies Required<UnargmaxableOptions>;
const never: UnargmaxableResult = kx.unargmaxable(new Float32Array([1, 2, 2, 1, 1, 0, 0, 1, 1, 1]), unargmaxableOptions);
const neverIndices: Int32Array = never.indices;
check(neverIndices.length === 1 && neverIndices[0] === 4 && never.withinRounding.length === 0 &&
  never.screened + never.programmes === 5, 'unargmaxable');

// ---- types only: what the declarations must refuse (never called) ----

export function refusedByTheTypes(x: Float32Array): void {
  // @ts-expect-error Whitening has no public constructor (Whitening.fit, fromJSON, …)
  new kx.Whitening();
  // @ts-expect-error n is required
  kx.matmul(x, x, { m: 1, k: 1 });
  // @ts-expect-error an unknown option in an object literal
  kx.matmul(x, x, { m: 1, k: 1, n: 1, transpose: true });
  // @ts-expect-error the interpolation weights are a Float32Array, not a number (old name or new)
  kx.gan.criticLoss(critic, { real: x, fake: x, rows: 1, interpolation: 0.5 });
  // @ts-expect-error GraN's ε is a number
  kx.gan.normalizedCritic(critic, x, { rows: 1, variant: 'gran', eps: '0.1' });
  // @ts-expect-error a number where a choice is expected
  kx.rope(x, { seq: 1, dim: 2, layout: 1 });
  // @ts-expect-error the resolved options are read-only
  opt.options.lr = 1;
  // @ts-expect-error a transformer needs its sizes
  new kx.Transformer({ vocab: 256 });
  // @ts-expect-error tokens are integers, not a Float32Array
  new kx.Transformer(transformerOptions).trainStep(x, { seq: 1 });
  // @ts-expect-error rope with backend 'webgpu' is a Promise
  const sync: Float32Array = kx.rope(x, { seq: 1, dim: 2, backend: 'webgpu' });
  const name: OneOf<'a' | 'b'> = 'any string';
  void [sync, name];
}

kxAuto.dispose();
kx.dispose();
console.log('all-api: ok');
