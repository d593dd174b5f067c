// kexue — the JavaScript facade over the WASM module.
//
// Shapes are row-major. Inputs are Float32Arrays; outputs are new Float32Arrays (never views into
// the WASM heap). Every public function validates its arguments here and throws a TypeError or
// RangeError naming the parameter; the C++ side behind the Embind boundary only computes.
import { describe, requireFloat32Array, requireOptions, requireOptionsObject, resolvePlan, throwIfError } from './errors.js';
import { createAttentionFunctions } from './attention.js';
import { withHeap } from './heap.js';
import { WebGpuBackend, acquireDevice } from '../webgpu/backend.js';
import { version } from './version.js';
import { createGanClasses } from './gan.js';
import { createLossFunctions } from './losses.js';
import { createOptimClasses } from './optim.js';
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
    this.#gpu = gpu;
    this.#gpuReason = gpuReason;
    this.#onDispose = onDispose;
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
    const { Mlp, gan, GanTrainer } = createGanClasses(module);
    /** Dense MLP with exact first- and second-order gradients (forward, inputGradient). */
    this.Mlp = Mlp;
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
    const { rope, rope2d, attention, attentionBackward } = createAttentionFunctions(module, () => {
      const why = this.#gpu ? this.#gpu.unavailable : this.#gpuReason;
      return why ? { backend: null, reason: why } : { backend: this.#gpu, reason: null };
    });
    /** 1D RoPE (interleaved or half layout) of x [batch, seq, heads, dim]. */
    this.rope = rope;
    /** 2D RoPE ('split' or 'tie') of x [batch, height·width, heads, dim]. */
    this.rope2d = rope2d;
    /** Fused entropy-invariant attention; resolves to out [batch, seqQ, heads, dimV]. */
    this.attention = attention;
    /** { dq, dk, dv } of the attention call with the same options, from dOut. */
    this.attentionBackward = attentionBackward;
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

async function createModule(threads) {
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
  return module;
}

// One WASM module per threads option, shared by the instances of every backend.
const modules = new Map();

function moduleFor(threads) {
  const key = String(threads);
  if (!modules.has(key)) {
    const pending = createModule(threads);
    modules.set(key, pending);
    pending.catch(() => modules.delete(key));
  }
  return modules.get(key);
}

async function createInstance(threads, backend, gpu, onDispose) {
  const module = await moduleFor(threads);
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
  });
  return new Kexue(module, { gpu: webgpu, onDispose });
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
 *   gpu:     a GPU object to take the adapter from instead of navigator.gpu / the `webgpu` package.
 */
export async function init(options) {
  const { threads: threadsOption, backend: backendOption, gpu } = requireOptions('init', options);
  const threads = parseThreads(threadsOption);
  const backend = parseBackend(backendOption);
  if (gpu !== undefined && (gpu === null || typeof gpu.requestAdapter !== 'function')) {
    throw new TypeError(`init: gpu must be a GPU object (with requestAdapter()), received ${describe(gpu)}`);
  }
  // An explicit GPU object makes a new instance every time (it cannot be a cache key).
  if (gpu !== undefined) return createInstance(threads, backend, gpu, null);
  const key = `${threads}/${backend}`;
  if (!instances.has(key)) {
    const pending = createInstance(threads, backend, undefined, () => {
      if (instances.get(key) === pending) instances.delete(key);
    });
    instances.set(key, pending);
    pending.catch(() => instances.delete(key));
  }
  return instances.get(key);
}

export default init;
