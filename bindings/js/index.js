// kexue — the JavaScript facade over the WASM module.
//
// Shapes are row-major. Inputs are Float32Arrays; outputs are new Float32Arrays (never views into
// the WASM heap). Every public function validates its arguments here and throws a TypeError or
// RangeError naming the parameter; the C++ side behind the Embind boundary only computes.
import { describe, requireFloat32Array, requireOptions, requireOptionsObject, resolvePlan, throwIfError } from './errors.js';
import { createAttentionFunctions } from './attention.js';
import { withHeap } from './heap.js';
import { PLANNED_LIMITS, WebGpuBackend, acquireDevice } from '../webgpu/backend.js';
import { version } from './version.js';
import { DeadInstanceState, guardModule, registerInstanceModule } from './guard.js';
import { createGanClasses } from './gan.js';
import { createMlpClass } from './mlp.js';
import { createLossFunctions } from './losses.js';
import { createDiffusionClasses } from './diffusion.js';
import { createPenaltyInequality } from './penalty.js';
import { createHubness } from './hubness.js';
import { createUnargmaxable } from './unargmaxable.js';
import { createOptimClasses } from './optim.js';
import { createTransformerClass } from './transformer.js';
import { createWhiteningClasses } from './whitening.js';

export { version };
export { Disposable } from './disposable.js';

class Kexue {
  #module;
  #gpu;
  #gpuReason;
  #onDispose;

  constructor(module, { gpu = null, gpuReason = null, onDispose = null } = {}) {
    this.#module = module;
    registerInstanceModule(this, module);
    this.#gpu = gpu;
    this.#gpuReason = gpuReason;
    this.#onDispose = onDispose;
    const { Whitening, WhiteningStats } = createWhiteningClasses(module);
    /** BERT-whitening model class: Whitening.fit, fromJSON, fromKernelBias. */
    this.Whitening = Whitening;
    /** Streaming, mergeable statistics for fitting a Whitening in chunks. */
    this.WhiteningStats = WhiteningStats;
    /** k-occurrence counts and their skewness (hubness) of a point cloud's k-NN graph. */
    this.hubness = createHubness(module);
    /** The classes of a softmax layer that no input makes the argmax (exact, by linear programmes). */
    this.unargmaxable = createUnargmaxable(module);
    const { LowRankOptimizer, multitask, clipGradients } = createOptimClasses(module);
    /** LoRA / GaLore / full Adam as an optimizer of one weight matrix, fed its full gradient. */
    this.LowRankOptimizer = LowRankOptimizer;
    /** Multi-task gradient combination: normalizedSum, mgda, primaryAux. */
    this.multitask = multitask;
    /** Gradient clipping by global norm, { grads, norm } = clipGradients(grads, { maxNorm, form }). */
    this.clipGradients = clipGradients;
    const { Mlp, nativeOf } = createMlpClass(module);
    const { gan, GanTrainer } = createGanClasses(module, nativeOf);
    /** Dense MLP with exact first- and second-order gradients (forward, inputGradient). */
    this.Mlp = Mlp;
    // §7.12's inequality joins the gan namespace (bindings/js/penalty.js).
    gan.penaltyInequality = createPenaltyInequality(module, nativeOf);
    /** WGAN-GP and gradient-normalized critic objectives: criticLoss, generatorLoss, normalizedCritic. */
    this.gan = gan;
    /** WGAN trainer on 2-D toy data (ring8, grid25, swissroll or your samples), with mode metrics. */
    this.GanTrainer = GanTrainer;
    const { logsumexp, losses, ExponentiatedGradient } = createLossFunctions(module);
    /** Stable logsumexp of each row; .grad (softmax) and .bounds (kexue.fm/archives/9070). */
    this.logsumexp = logsumexp;
    /** Losses with their gradients: zlpr (+ .probability), infoNCE, flatNCE, globalPointerKL, flooding. */
    this.losses = losses;
    /** Exponentiated gradient for non-negative weights, with a meta-learned per-coordinate step size. */
    this.ExponentiatedGradient = ExponentiatedGradient;
    const { diffusion, DiffusionTrainer } = createDiffusionClasses(module);
    /** DDPM/DDIM: linearSchedule, addNoise, ddpmSample, ddimSample (kexue.fm/archives/9119, 9181). */
    this.diffusion = diffusion;
    /** A 2-D diffusion model (an Mlp ε-predictor) trained on the GAN's toy data, with mode metrics. */
    this.DiffusionTrainer = DiffusionTrainer;
    const { rope, ropeFrequencies, rope2d, attention, attentionBackward } = createAttentionFunctions(module, () => {
      const why = this.#gpu ? this.#gpu.unavailable : this.#gpuReason;
      return why ? { backend: null, reason: why } : { backend: this.#gpu, reason: null };
    });
    /** 1D RoPE (interleaved or half layout) of x [batch, seq, heads, dim]. */
    this.rope = rope;
    /** θ_i and the attention factor of a RoPE configuration (ropeScaling: linear, ntk, yarn, llama3). */
    this.ropeFrequencies = ropeFrequencies;
    /** 2D RoPE ('split' or 'tie') of x [batch, height·width, heads, dim]. */
    this.rope2d = rope2d;
    /** Fused entropy-invariant attention; resolves to out [batch, seqQ, heads, dimV]. */
    this.attention = attention;
    /** { dq, dk, dv } of the attention call with the same options, from dOut. */
    this.attentionBackward = attentionBackward;
    const { Transformer } = createTransformerClass(module);
    /** A small transformer trained, fine-tuned (full, LoRA, GaLore), sampled and saved in the page. */
    this.Transformer = Transformer;
  }

  /** What kx.attention runs on by default: 'webgpu' while a WebGPU device is held, else 'wasm'. */
  get backend() {
    return this.#gpu && !this.#gpu.unavailable ? 'webgpu' : 'wasm';
  }

  /** { vendor, architecture, device, description } of the WebGPU adapter, or null on WASM. */
  get adapterInfo() {
    return this.#gpu ? this.#gpu.info : null;
  }

  /** Sizes in bytes of every GPU buffer the WebGPU backend has created ([] on WASM). */
  get gpuBufferSizes() {
    return this.#gpu ? this.#gpu.requestedBufferSizes : [];
  }

  /**
   * Releases the WebGPU device (buffers, pipelines) and drops this instance from init()'s cache.
   * The instance stays usable: later calls run on WASM ('webgpu' per call then throws). The WASM
   * module is shared with other instances of the same threads option and is not freed.
   */
  dispose() {
    this.#gpu?.dispose();
    this.#onDispose?.();
    this.#onDispose = null;
  }

  /** The package version string. */
  get version() {
    return version;
  }

  /**
   * true when this instance runs the relaxed-SIMD build (dist/kexue*-relaxed.wasm: its matrix
   * products use f32x4.relaxed_madd, which the engine may fuse), false on the plain one.
   */
  get relaxedSimd() {
    return this.#module.kexueRelaxedSimd === true;
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
    const module = this.#module;
    requireOptionsObject(fn, options, 'm, k, n');
    // The shape is read and checked by C++ (gemm_validate); only the arrays are checked here.
    const { m, k, n, transposeA: tA, transposeB: tB } = resolvePlan(fn, module.matmulPlan(options));
    requireFloat32Array(fn, 'a', a, tA ? [['k', k], ['m', m]] : [['m', m], ['k', k]]);
    requireFloat32Array(fn, 'b', b, tB ? [['n', n], ['k', k]] : [['k', k], ['n', n]]);
    const outCount = m * n;

    return withHeap(module, (heap) => {
      const aPtr = heap.input(a, 'a');
      const bPtr = heap.input(b, 'b');
      const cPtr = heap.alloc(outCount, 'the result');
      throwIfError(fn, module.matmulF32(aPtr, bPtr, cPtr, options));
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

const BACKENDS = ['auto', 'wasm', 'webgpu'];

function parseBackend(value) {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string') {
    throw new TypeError(`init: backend must be 'auto', 'wasm' or 'webgpu', received ${describe(value)}`);
  }
  if (!BACKENDS.includes(value)) {
    throw new RangeError(`init: backend must be 'auto', 'wasm' or 'webgpu', received ${describe(value)}`);
  }
  return value;
}

// The files init() loads besides the modules themselves, and where they are found by default:
// next to dist/kexue*.mjs, through `new URL('…', import.meta.url)` literals in the modules (which
// Vite, webpack 5, Rollup and Parcel follow and rewrite). kexue-mt.worker.js is Node's pthread
// worker, kexue-mt.worker.mjs the browsers' one.
const MODULE_FILES = ['kexue.wasm', 'kexue-mt.wasm', 'kexue-mt.worker.mjs', 'kexue-mt.worker.js',
  'kexue-relaxed.wasm', 'kexue-mt-relaxed.wasm'];

function parseWasmPaths(value) {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`init: wasmPaths must be a URL prefix (a string) or an object mapping file names to URLs, received ${describe(value)}`);
  }
  for (const [name, url] of Object.entries(value)) {
    if (!MODULE_FILES.includes(name)) {
      throw new RangeError(`init: wasmPaths has an unknown file name ${JSON.stringify(name)} (known: ${MODULE_FILES.join(', ')})`);
    }
    if (typeof url !== 'string') {
      throw new TypeError(`init: wasmPaths[${JSON.stringify(name)}] must be a string, received ${describe(url)}`);
    }
  }
  return { ...value };
}

// Emscripten's Module.locateFile from init({ wasmPaths, locateFile }): a prefix (onnxruntime-web's
// env.wasm.wasmPaths, tfjs's setWasmPaths), a map of file names (files a bundler renamed), or a
// function (name, defaultDirectory) → URL. Names a map leaves out are found where they would be
// without it. Under Node the glue reads files, so file: URLs become paths.
function moduleLocator({ wasmPaths, locateFile }) {
  if (wasmPaths === undefined && locateFile === undefined) return undefined;
  const locate = (name, directory) => {
    let url;
    if (locateFile !== undefined) url = locateFile(name, directory);
    else if (typeof wasmPaths === 'string') url = wasmPaths + name;
    else url = wasmPaths[name];
    if (url === undefined || url === null) url = directory + name;
    url = typeof url === 'object' && typeof url.href === 'string' ? url.href : String(url);
    if (runsOnNode && url.startsWith('file:')) url = decodeURIComponent(new URL(url).pathname);
    return url;
  };
  // A map that names the plain .wasm but not its relaxed twin comes from a bundle that copied only
  // the plain one (the esbuild recipe before relaxed SIMD): relaxedSimd 'auto' then keeps to the
  // plain build instead of fetching a file that is not there.
  locate.omitsRelaxed = (useThreads) => typeof wasmPaths === 'object' && locateFile === undefined &&
    (useThreads ? 'kexue-mt.wasm' : 'kexue.wasm') in wasmPaths &&
    !((useThreads ? 'kexue-mt-relaxed.wasm' : 'kexue-relaxed.wasm') in wasmPaths);
  return locate;
}

// Node before 20.16 has no process.getBuiltinModule, which the modules use to get `require`
// synchronously (bindings/wasm/extern-pre.js); hand them one. The name is a variable so that
// bundlers leave this Node-only import alone.
async function nodeRequireForOldNode() {
  if (!runsOnNode || typeof process.getBuiltinModule === 'function') return undefined;
  const name = 'node:module';
  const { createRequire } = await import(/* @vite-ignore */ name);
  return createRequire(import.meta.url);
}

// The relaxed-SIMD twins (dist/kexue-relaxed.wasm, dist/kexue-mt-relaxed.wasm): the same modules,
// loaded by the same glue, with the matrix products' mul+add pairs as f32x4.relaxed_madd (see
// scripts/relaxed-simd.mjs). The literal URLs are what bundlers follow and copy.
function relaxedWasmUrl(useThreads) {
  return useThreads
    ? new URL('../../dist/kexue-mt-relaxed.wasm', import.meta.url)
    : new URL('../../dist/kexue-relaxed.wasm', import.meta.url);
}

// A module whose one function is f32x4.relaxed_madd (opcode 0xfd 0x85 0x02) on its three v128
// parameters: the engines that validate it run relaxed SIMD (Chrome/Edge 114+, Node 22+; Node 20
// with --experimental-wasm-relaxed-simd). The plain build needs only SIMD128.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,             // magic, version 1
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 v128 v128) → v128
  0x03, 0x02, 0x01, 0x00,                                     // one function of that type
  0x0a, 0x0d, 0x01, 0x0b, 0x00,                               // code: one body, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b, // local.get 0 1 2, relaxed_madd, end
]);

let relaxedSimdValidates;
function relaxedSimdAvailable() {
  relaxedSimdValidates ??= typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_PROBE);
  return relaxedSimdValidates;
}

function parseRelaxedSimd(value) {
  if (value === undefined || value === 'auto') return 'auto';
  if (typeof value !== 'boolean') {
    throw new TypeError(`init: relaxedSimd must be 'auto', true or false, received ${describe(value)}`);
  }
  return value;
}

// The bytes of the relaxed .wasm, handed to the glue as Module.wasmBinary (so the glue's own
// lookup of the plain .wasm, and of the pthread worker, stay as they are).
async function relaxedWasmBinary(useThreads, locate) {
  const name = useThreads ? 'kexue-mt-relaxed.wasm' : 'kexue-relaxed.wasm';
  const fallback = relaxedWasmUrl(useThreads);
  let url = locate ? locate(name, new URL('.', fallback).href) : fallback.href;
  if (runsOnNode) {
    const fsName = 'node:fs/promises';
    const { readFile } = await import(/* @vite-ignore */ fsName);
    if (String(url).startsWith('file:')) url = decodeURIComponent(new URL(url).pathname);
    return new Uint8Array(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`init: could not fetch ${url} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

async function loadModule(useThreads, locate, state, relaxed) {
  const { default: createKexueModule } = useThreads
    ? await import('../../dist/kexue-mt.mjs')
    : await import('../../dist/kexue.mjs');
  const moduleOptions = {};
  const nodeRequire = await nodeRequireForOldNode();
  if (nodeRequire) moduleOptions.nodeRequire = nodeRequire;
  if (locate) moduleOptions.locateFile = locate;
  if (relaxed) moduleOptions.wasmBinary = await relaxedWasmBinary(useThreads, locate);
  // Emscripten calls onAbort before it throws "Aborted(…)": the instance is dead from then on.
  moduleOptions.onAbort = (what) => state.kill(`Aborted(${what ?? ''})`);
  const module = await createKexueModule(moduleOptions);
  module.kexueRelaxedSimd = relaxed;
  return guardModule(module, state);
}

// relaxedSimd 'auto' takes the relaxed build where the engine validates it and falls back to the
// plain one, with a warning, if it cannot be loaded (a bundle that left the file out).
async function loadModuleWithSimd(useThreads, locate, state, relaxedSimd) {
  const relaxed = relaxedSimd === 'auto'
    ? relaxedSimdAvailable() && !locate?.omitsRelaxed(useThreads) : relaxedSimd;
  if (relaxed && !relaxedSimdAvailable()) {
    throw new Error('init: relaxedSimd: true needs an engine with relaxed SIMD (Chrome/Edge 114+, ' +
      'Node 22+, or Node 20 with --experimental-wasm-relaxed-simd); use relaxedSimd: \'auto\' or false');
  }
  if (!relaxed || relaxedSimd !== 'auto') return loadModule(useThreads, locate, state, relaxed);
  try {
    return await loadModule(useThreads, locate, state, true);
  } catch (error) {
    if (state.dead) throw error;
    console.warn(`${error.message}; kexue runs its plain SIMD build`);
    return loadModule(useThreads, locate, state, false);
  }
}

async function createModule(threads, locate, state, relaxedSimd) {
  const useThreads = threads === 'auto' ? threadsAvailable() : threads > 1;
  if (useThreads && !threadsAvailable()) {
    throw new Error(`init: threads = ${threads} needs SharedArrayBuffer, which this page does not ` +
      'have: serve it with the headers Cross-Origin-Opener-Policy: same-origin and ' +
      'Cross-Origin-Embedder-Policy: require-corp, or use threads: 1');
  }
  let module;
  try {
    module = await loadModuleWithSimd(useThreads, locate, state, relaxedSimd);
  } catch (error) {
    // threads 'auto' asked for threads only because shared memory exists; if the threaded module
    // cannot start (its worker script is missing from a bundle), one thread still works.
    if (!useThreads || threads !== 'auto') throw error;
    console.warn(`${error.message}; kexue runs on one thread`);
    return loadModuleWithSimd(false, locate, state, relaxedSimd);
  }
  if (useThreads) {
    module.unrefWorkers();
    if (threads !== 'auto') module.setThreadCount(Math.min(threads, module.maxThreadCount()));
  }
  return module;
}

// One WASM module per threads option (and file locations), shared by the instances of every
// backend.
const modules = new Map();

function moduleFor(threads, relaxedSimd, locations) {
  // A locateFile function cannot be a cache key: each init() with one loads its own module.
  const state = new DeadInstanceState();
  if (locations.locateFile !== undefined) {
    return { module: createModule(threads, moduleLocator(locations), state, relaxedSimd), state };
  }
  const key = `${threads}/${relaxedSimd}/${JSON.stringify(locations.wasmPaths ?? null)}`;
  if (!modules.has(key)) {
    const pending = createModule(threads, moduleLocator(locations), state, relaxedSimd);
    const entry = { module: pending, state };
    modules.set(key, entry);
    pending.catch(() => modules.delete(key));
    // A module that aborted is dropped: the next init() loads a fresh one.
    state.listeners.push(() => { if (modules.get(key) === entry) modules.delete(key); });
  }
  return modules.get(key);
}

async function createInstance(threads, relaxedSimd, backend, gpu, locations, onDispose, webgpuOptions = {}) {
  const { module: pending, state } = moduleFor(threads, relaxedSimd, locations);
  const module = await pending;
  // An instance on a module that aborted leaves init()'s cache with it.
  if (onDispose) state.listeners.push(onDispose);
  if (backend === 'wasm') {
    return new Kexue(module, { gpuReason: "this instance was created with init({ backend: 'wasm' })", onDispose });
  }
  let acquired;
  try {
    acquired = await acquireDevice({ gpu });
  } catch (error) {
    if (backend === 'webgpu') throw new Error(`init: backend 'webgpu' is unavailable: ${error.message}`);
    return new Kexue(module, { gpuReason: error.message, onDispose }); // 'auto': WASM, silently
  }
  const webgpu = new WebGpuBackend(acquired, {
    // Reported once (a device is lost once); attention then runs on WASM.
    onLost: (reason) => console.warn(`kexue: ${reason}; attention now runs on WASM`),
    ...webgpuOptions,
  });
  return new Kexue(module, { gpu: webgpu, onDispose });
}

// init's `webgpu` option: { limits: { name: positive integer }, lanes: 1 | 2 | 4 | 8 }.
function parseWebgpuOptions(value) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`init: webgpu must be an object ({ limits, lanes }), received ${describe(value)}`);
  }
  const out = {};
  for (const [name, entry] of Object.entries(value)) {
    if (name === 'lanes') {
      if (![1, 2, 4, 8].includes(entry)) throw new RangeError(`init: webgpu.lanes must be 1, 2, 4 or 8, received ${describe(entry)}`);
      out.lanes = entry;
    } else if (name === 'limits') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        throw new TypeError(`init: webgpu.limits must be an object, received ${describe(entry)}`);
      }
      out.limits = {};
      for (const [limit, number] of Object.entries(entry)) {
        if (!PLANNED_LIMITS.includes(limit)) {
          throw new TypeError(`init: webgpu.limits has an unknown limit '${limit}' (known: ${PLANNED_LIMITS.join(', ')})`);
        }
        if (!Number.isInteger(number) || number < 1) {
          throw new RangeError(`init: webgpu.limits.${limit} must be a positive integer, received ${describe(number)}`);
        }
        out.limits[limit] = number;
      }
    } else {
      throw new TypeError(`init: unknown option 'webgpu.${name}' (known: limits, lanes)`);
    }
  }
  return out;
}

const instances = new Map();

/**
 * Loads the WASM module; later calls with the same options return the same instance.
 * Works in Node 20+ and in browsers (the .wasm is found next to dist/kexue*.mjs).
 *   threads: 'auto' (default) uses every core (up to 4) where shared memory is available — Node,
 *            and cross-origin-isolated pages — and one thread elsewhere; 1 forces the
 *            single-threaded module; n > 1 asks for n threads (at most 4).
 *   backend: where kx.attention runs. 'auto' (default): WebGPU when navigator.gpu (browsers) or the
 *            optional `webgpu` package (Node) gives an adapter and a device, WASM otherwise,
 *            silently. 'webgpu': throws an Error saying why when there is no WebGPU. 'wasm': never
 *            touches WebGPU. kx.backend says which one the instance got.
 *   relaxedSimd: 'auto' (default) loads the relaxed-SIMD build (dist/kexue*-relaxed.wasm, fused
 *            multiply-adds in the matrix products) where WebAssembly.validate accepts relaxed SIMD,
 *            the plain SIMD build elsewhere; true requires it (throws where it is missing); false
 *            always loads the plain build. kx.relaxedSimd says which one the instance runs.
 *   gpu:     a GPU object to take the adapter from instead of navigator.gpu / the `webgpu` package.
 *   webgpu:  { limits, lanes } for the WebGPU kernels: `limits` lowers device limits they plan
 *            with ({ maxStorageBufferBindingSize, maxBufferSize, maxComputeWorkgroupStorageSize,
 *            maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX,
 *            maxComputeWorkgroupsPerDimension }: smaller pieces and dispatches, e.g. to test the
 *            splits or leave memory to other work); `lanes` (1, 2, 4, 8) fixes the invocations per
 *            attention row (docs/webgpu-tiling.md). A new instance each time.
 *   wasmPaths: where the .wasm files and the pthread worker live when they are not next to
 *            dist/kexue*.mjs (a CDN, a bundler that does not follow new URL('…', import.meta.url)):
 *            a URL prefix ('https://cdn.example/kexue@0.1.0/dist/') or a map of file names
 *            ('kexue.wasm', 'kexue-mt.wasm', 'kexue-mt.worker.mjs', 'kexue-mt.worker.js',
 *            'kexue-relaxed.wasm', 'kexue-mt-relaxed.wasm') to URLs.
 *   locateFile: (name, defaultDirectory) => URL, for any other layout (Emscripten's hook).
 *   proxy:   true or { transfer: true }: run kexue in a dedicated Worker; every call of the
 *            instance returned then resolves asynchronously (see proxy.js). A new worker each time.
 */
export async function init(options) {
  const {
    threads: threadsOption, relaxedSimd: relaxedSimdOption, backend: backendOption, gpu, wasmPaths: wasmPathsOption,
    locateFile, proxy, webgpu: webgpuOption,
  } = requireOptions('init', options);
  const webgpuOptions = parseWebgpuOptions(webgpuOption);
  const threads = parseThreads(threadsOption);
  const relaxedSimd = parseRelaxedSimd(relaxedSimdOption);
  const backend = parseBackend(backendOption);
  if (gpu !== undefined && (gpu === null || typeof gpu.requestAdapter !== 'function')) {
    throw new TypeError(`init: gpu must be a GPU object (with requestAdapter()), received ${describe(gpu)}`);
  }
  const wasmPaths = parseWasmPaths(wasmPathsOption);
  if (locateFile !== undefined && typeof locateFile !== 'function') {
    throw new TypeError(`init: locateFile must be a function (name, directory) => URL, received ${describe(locateFile)}`);
  }
  const locations = { wasmPaths, locateFile };
  if (proxy !== undefined && proxy !== false) {
    if (proxy !== true && (proxy === null || typeof proxy !== 'object' || Array.isArray(proxy))) {
      throw new TypeError(`init: proxy must be a boolean or { transfer }, received ${describe(proxy)}`);
    }
    if (gpu !== undefined || locateFile !== undefined || webgpuOption !== undefined) {
      const name = gpu !== undefined ? 'gpu' : locateFile !== undefined ? 'locateFile' : 'webgpu';
      throw new TypeError(`init: ${name} cannot be used with proxy (it cannot be sent to a worker)`);
    }
    const { initProxy } = await import('./proxy.js');
    const remote = { threads, relaxedSimd, backend };
    if (wasmPaths !== undefined) remote.wasmPaths = wasmPaths;
    return initProxy(remote, { transfer: proxy.transfer === true });
  }
  // An explicit GPU object or locateFile function makes a new instance every time (neither can be
  // a cache key).
  if (gpu !== undefined || locateFile !== undefined || webgpuOption !== undefined) {
    return createInstance(threads, relaxedSimd, backend, gpu, locations, null, webgpuOptions);
  }
  const key = `${threads}/${relaxedSimd}/${backend}/${JSON.stringify(wasmPaths ?? null)}`;
  if (!instances.has(key)) {
    const pending = createInstance(threads, relaxedSimd, backend, undefined, locations, () => {
      if (instances.get(key) === pending) instances.delete(key);
    });
    instances.set(key, pending);
    pending.catch(() => instances.delete(key));
  }
  return instances.get(key);
}

export default init;
