// npm run bench -- attention
// kexue's fused attention (kx.attention / kx.attentionBackward) against the same computation in
// TensorFlow.js's WASM backend, in the same process: batch 1, 8 heads, dim 64, RoPE on (rotate-half
// layout in both), entropy-invariant scale (log_512 max(n_i, 16) / √64 per row), n = 128, 512,
// 2048, causal and not. tfjs runs in two forms — the natural batched one (matMul on rank-4
// tensors) and per-head 2-D matMuls — and the ratio is taken against the faster.
// Effective GFLOP/s = 4·n²·d·heads / t (halved when causal), the FLOPs of QKᵀ and PV.
// Times include kexue's copies into and out of the WASM heap and tfjs's dataSync().
// Then the backward pass (kexue vs tf.grads of the per-head form), and the peak WASM heap of a
// fresh kexue instance for one forward call, up to n = 16384 (a child process per size).
//
// npm run bench -- attention --backend webgpu
// The WGSL kernels on the machine's WebGPU adapter: forward and backward, n = 1k … 16k, d 64 and
// 128, f32 and f16, GPU time and TFLOP/s, after a check against WASM (bench/attention_webgpu.mjs).
// Without an adapter from the default Vulkan drivers, it reruns itself with SwiftShader
// (VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json) when present, at small sizes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { init } from 'kexue';
import { loadTfjsWasm } from './peers.mjs';
import { interleavedAsync, table, warmUpAsync } from './timing.mjs';
// Max-norm relative error, the one the WebGPU parity suite uses.
import { relativeError } from '../tests/helpers/webgpu-parity-suite.js';

const HEADS = 8;
const DIM = 64;
const BASE_LEN = 512;
const N_MIN = 16;

function randomArray(length) {
  return Float32Array.from({ length }, () => Math.random() * 2 - 1);
}

// The tfjs contenders for one (n, causal): returns { batched, perHead, backward, dispose }.
function tfjsAttention(tf, n, causal, q, k, v, dOut) {
  const half = DIM / 2;
  const angles = new Float32Array(n * DIM);
  for (let t = 0; t < n; ++t) {
    for (let i = 0; i < half; ++i) {
      const angle = t * 10000 ** (-2 * i / DIM);
      angles[t * DIM + i] = angle;
      angles[t * DIM + half + i] = angle;
    }
  }
  const anglesTensor = tf.tensor3d(angles, [n, 1, DIM]);
  const cos = tf.cos(anglesTensor);
  const sin = tf.sin(anglesTensor);
  anglesTensor.dispose();
  // Per-row entropy scale c_i, and the causal mask as an additive bias (constants of the model).
  const scale = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    const visible = causal ? i + 1 : n;
    scale[i] = Math.log(Math.max(visible, N_MIN)) / Math.log(BASE_LEN) / Math.sqrt(DIM);
  }
  const scaleTensor = tf.tensor2d(scale, [n, 1]);
  let mask = null;
  if (causal) {
    const bias = new Float32Array(n * n);
    for (let i = 0; i < n; ++i) for (let j = i + 1; j < n; ++j) bias[i * n + j] = -1e9;
    mask = tf.tensor2d(bias, [n, n]);
  }
  const tq = tf.tensor3d(q, [n, HEADS, DIM]);
  const tk = tf.tensor3d(k, [n, HEADS, DIM]);
  const tv = tf.tensor3d(v, [n, HEADS, DIM]);
  const tdo = tf.tensor3d(dOut, [n, HEADS, DIM]);

  // x [n, heads, dim] → x·cos + rotate_half(x)·sin
  const rope = (x) => {
    const [x1, x2] = tf.split(x, 2, 2);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 2), sin));
  };
  const scores = (qh, kh) => {
    const s = tf.mul(tf.matMul(qh, kh, false, true), scaleTensor);
    return mask ? tf.add(s, mask) : s;
  };
  const batchedForward = (x, y, z) => {
    const qr = tf.reshape(tf.transpose(rope(x), [1, 0, 2]), [1, HEADS, n, DIM]);
    const kr = tf.reshape(tf.transpose(rope(y), [1, 0, 2]), [1, HEADS, n, DIM]);
    const vt = tf.reshape(tf.transpose(z, [1, 0, 2]), [1, HEADS, n, DIM]);
    const out = tf.matMul(tf.softmax(scores(qr, kr)), vt);
    return tf.transpose(tf.reshape(out, [HEADS, n, DIM]), [1, 0, 2]);
  };
  const perHeadForward = (x, y, z) => {
    const qs = tf.unstack(rope(x), 1);
    const ks = tf.unstack(rope(y), 1);
    const vs = tf.unstack(z, 1);
    return tf.stack(qs.map((qh, h) => tf.matMul(tf.softmax(scores(qh, ks[h])), vs[h])), 1);
  };
  const gradients = tf.grads((x, y, z) => perHeadForward(x, y, z));
  const read = (result) => {
    const list = Array.isArray(result) ? result : [result];
    const data = list.map((t) => t.dataSync());
    tf.dispose(list);
    return data;
  };
  return {
    batched: () => read(tf.tidy(() => batchedForward(tq, tk, tv)))[0],
    perHead: () => read(tf.tidy(() => perHeadForward(tq, tk, tv)))[0],
    backward: () => read(tf.tidy(() => gradients([tq, tk, tv], tdo))),
    dispose: () => tf.dispose([cos, sin, scaleTensor, mask, tq, tk, tv, tdo].filter(Boolean)),
  };
}

// One forward call on a fresh instance in this process: prints { ms, heapBytes } as JSON.
async function heapProbe(n, threads) {
  const kx = await init({ threads, backend: 'wasm' });
  const q = randomArray(n * HEADS * DIM);
  const k = randomArray(n * HEADS * DIM);
  const v = randomArray(n * HEADS * DIM);
  const start = performance.now();
  await kx.attention(q, k, v, { seqQ: n, heads: HEADS, dim: DIM, scale: 'entropy', rope: { layout: 'half' } });
  const ms = performance.now() - start;
  process.stdout.write(JSON.stringify({ ms, heapBytes: kx.wasmHeapBytes }) + '\n');
}

function probeInChild(n) {
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--heap-probe', String(n)],
    { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (result.status !== 0) return { error: (result.stderr || '').split('\n').slice(-3).join(' ') };
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

function backendArgument() {
  const index = process.argv.indexOf('--backend');
  if (index < 0) return 'wasm';
  const value = process.argv[index + 1];
  if (value !== 'wasm' && value !== 'webgpu') {
    throw new Error(`attention bench: --backend must be 'wasm' or 'webgpu', received ${value}`);
  }
  return value;
}

export async function run(options = {}) {
  return backendArgument() === 'webgpu' ? runWebGpu(options) : runWasm(options);
}

// The WebGPU benchmark is a module of its own (bench/attention_webgpu.mjs), self-contained so that
// scripts/gpu-bench.sh can run it on a GPU machine with nothing but dist/, bindings/ and the
// `webgpu` package.
async function runWebGpu() {
  const { run: runOnGpu } = await import('./attention_webgpu.mjs');
  await runOnGpu();
}

async function runWasm({ sizes = [128, 512, 2048], probeSizes = [2048, 16384] } = {}) {
  const kx = await init({ backend: 'wasm' });
  const kx1 = await init({ threads: 1, backend: 'wasm' });
  const tf = await loadTfjsWasm();
  const forwardRows = [];
  const backwardRows = [];
  for (const n of sizes) {
    const runs = n >= 2048 ? 3 : n >= 512 ? 7 : 15;
    const q = randomArray(n * HEADS * DIM);
    const k = randomArray(n * HEADS * DIM);
    const v = randomArray(n * HEADS * DIM);
    const dOut = randomArray(n * HEADS * DIM);
    for (const causal of [false, true]) {
      const options = { seqQ: n, heads: HEADS, dim: DIM, causal, scale: 'entropy', rope: { layout: 'half' } };
      const peer = tfjsAttention(tf, n, causal, q, k, v, dOut);
      // Same work: the outputs agree.
      const ours = await kx.attention(q, k, v, options);
      const check = Math.max(relativeError(peer.perHead(), ours), relativeError(peer.batched(), ours));
      if (!(check < 1e-3)) throw new Error(`attention bench: tfjs and kexue disagree at n = ${n}: ${check}`);

      const forward = {
        kexue1: () => kx1.attention(q, k, v, options),
        kexue: () => kx.attention(q, k, v, options),
        tfjsPerHead: peer.perHead,
        tfjsBatched: peer.batched,
      };
      for (const fn of Object.values(forward)) await warmUpAsync(fn, { seconds: n >= 2048 ? 0 : 0.6, minCalls: 1 });
      const ms = await interleavedAsync(forward, runs);
      const flops = 4 * n * n * DIM * HEADS * (causal ? 0.5 : 1);
      const gf = (t) => (flops / (t * 1e6)).toFixed(1);
      const tfBest = Math.min(ms.tfjsPerHead, ms.tfjsBatched);
      forwardRows.push([n, causal ? 'yes' : 'no',
        `${ms.tfjsBatched.toFixed(1)} (${gf(ms.tfjsBatched)})`, `${ms.tfjsPerHead.toFixed(1)} (${gf(ms.tfjsPerHead)})`,
        `${ms.kexue1.toFixed(1)} (${gf(ms.kexue1)})`, (tfBest / ms.kexue1).toFixed(2) + '×',
        `${ms.kexue.toFixed(1)} (${gf(ms.kexue)})`, (tfBest / ms.kexue).toFixed(2) + '×']);

      const backward = {
        kexue1: () => kx1.attentionBackward(q, k, v, dOut, options),
        kexue: () => kx.attentionBackward(q, k, v, dOut, options),
        tfjs: peer.backward,
      };
      for (const fn of Object.values(backward)) await warmUpAsync(fn, { seconds: n >= 2048 ? 0 : 0.6, minCalls: 1 });
      const msB = await interleavedAsync(backward, runs);
      backwardRows.push([n, causal ? 'yes' : 'no', msB.tfjs.toFixed(1), msB.kexue1.toFixed(1),
        (msB.tfjs / msB.kexue1).toFixed(2) + '×', msB.kexue.toFixed(1), (msB.tfjs / msB.kexue).toFixed(2) + '×']);
      peer.dispose();
    }
  }
  const T = kx.threads;
  process.stdout.write(`\nattention forward, batch 1, ${HEADS} heads, dim ${DIM}, RoPE, entropy scale: ms (effective GFLOP/s); ` +
    'ratio = best tfjs form / kexue (median of interleaved runs after warm-up)\n');
  process.stdout.write(table(['n', 'causal', 'tfjs batched', 'tfjs per-head', 'kexue 1T', 'ratio 1T',
    `kexue ${T}T`, `ratio ${T}T`], forwardRows) + '\n');
  process.stdout.write('\nattention backward (dq, dk, dv; includes the forward recomputation): ms; ' +
    'tfjs = tf.grads of the per-head form\n');
  process.stdout.write(table(['n', 'causal', 'tfjs', 'kexue 1T', 'ratio 1T', `kexue ${T}T`, `ratio ${T}T`], backwardRows) + '\n');

  const probeRows = probeSizes.map((n) => {
    const probe = probeInChild(n);
    if (probe.error) return [n, 'failed', probe.error];
    return [n, (probe.heapBytes / 2 ** 20).toFixed(0), (probe.ms / 1000).toFixed(2)];
  });
  process.stdout.write('\nkexue forward on a fresh instance (non-causal, every core): peak WASM heap\n');
  process.stdout.write(table(['n', 'heap MiB', 'seconds'], probeRows) + '\n');
}

if (process.argv[2] === '--heap-probe') {
  await heapProbe(Number(process.argv[3]), 'auto');
}
