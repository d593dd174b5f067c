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
// Then onnxruntime-web (WASM EP), the peer transformers.js users run: its fused contrib operators
// MultiHeadAttention (non-causal, and causal through `unidirectional`) and GroupQueryAttention
// (always causal), each a hand-built single-node ONNX model (bench/onnx.mjs), against kx.attention
// without RoPE and with the same scale 1/√d, batch 1, 8 heads, d 64. onnxruntime-web fixes its
// thread count once per process (env.wasm.numThreads), so each thread count runs in a child
// process that holds both contenders (kexue with the same count); the outputs are compared before
// timing. --sizes 128,512 sets its lengths (default 128, 512, 2048); --stat min reports the fastest
// of the interleaved runs instead of the median (for a machine shared with other jobs).
//
// Then the padded-batch and sliding-window benchmarks (runMasks below).
//
// npm run bench -- attention --part tfjs | ort | masks
// One of the three parts alone.
//
// npm run bench -- attention --part threads
// kexue alone on the onnxruntime part's shapes (batch 1, 8 heads, d 64, scale 1/√d, causal and
// not; --sizes, default 512 and 2048): one thread against every core in one process, interleaved,
// medians of 15 runs. It separates kexue's own scaling from the shared process of the ort part.
//
// npm run bench -- attention --part decoding
// Only the decoding step: one new token (batch 1, 8 heads, dim 64, RoPE 'half') after a 4096-token
// KV cache, rotating the whole cache inside attention at every step (the cache holds raw keys)
// against a cache of rotated keys (cachedKeys 'rotated': kx.rope rotates the one new key with
// offset 4096, attention rotates only the query). Also run after the above.
//
// npm run bench -- attention --backend webgpu
// The WGSL kernels on the machine's WebGPU adapter: forward and backward, n = 1k … 16k, d 64 and
// 128, f32 and f16, GPU time and TFLOP/s, after a check against WASM (bench/attention_webgpu.mjs).
// Without an adapter from the default Vulkan drivers, it reruns itself with SwiftShader
// (VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json) when present, at small sizes.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { init } from 'kexue';
import { loadOnnxRuntimeWeb, loadTfjsWasm, onnxRuntimeWebVersion } from './peers.mjs';
import { singleNodeModel } from './onnx.mjs';
import { interleavedAsync, median, sizesArgument, statArgument, table, warmUpAsync } from './timing.mjs';
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

// `--part tfjs | ort | masks`: one part alone.
const PARTS = ['tfjs', 'ort', 'masks', 'threads', 'decoding'];
function partArgument() {
  const index = process.argv.indexOf('--part');
  if (index < 0) return null;
  const value = process.argv[index + 1];
  if (!PARTS.includes(value)) {
    throw new Error(`attention bench: --part must be one of ${PARTS.join(', ')}, received ${value}`);
  }
  return value;
}

export async function run(options = {}) {
  if (backendArgument() === 'webgpu') return runWebGpu(options);
  const part = partArgument();
  if (part === null || part === 'tfjs') await runWasm(options);
  if (part === null || part === 'ort') await runOrt(options);
  if (part === null || part === 'masks') await runMasks(options);
  if (part === null || part === 'threads') await runThreads();
  if (part === null || part === 'decoding') await runDecoding();
}

// One decoding step after `cached` tokens, both cache conventions side by side (README "Two KV
// cache conventions"). Times include the copies into the heap and the JS checks of k and v, which
// are O(cache) in both.
async function runDecoding({ cached = 4096 } = {}) {
  const rows = [];
  for (const threads of [1, 'auto']) {
    const kx = await init({ threads, backend: 'wasm' });
    const seqK = cached + 1;
    const rope = { layout: 'half' };
    const q = randomArray(HEADS * DIM);
    const raw = randomArray(seqK * HEADS * DIM);  // the keys as projected, the newest last
    const v = randomArray(seqK * HEADS * DIM);
    const rotated = kx.rope(raw, { seq: seqK, heads: HEADS, dim: DIM, ...rope });  // the cache, built step by step
    const newKey = raw.subarray(cached * HEADS * DIM);
    const step = { seqQ: 1, seqK, heads: HEADS, dim: DIM, causal: true, scale: 'standard' };
    const contenders = {
      // The cache holds raw keys: attention rotates all 4097 of them (and the query).
      rerotate: () => kx.attention(q, raw, v, { ...step, rope }),
      // The cache holds rotated keys: rotate the new key once, append it, rotate only the query.
      rotated: async () => {
        rotated.set(kx.rope(newKey, { seq: 1, heads: HEADS, dim: DIM, offset: cached, ...rope }), cached * HEADS * DIM);
        return kx.attention(q, rotated, v, { ...step, rope: { ...rope, cachedKeys: 'rotated' } });
      },
    };
    const check = relativeError(await contenders.rotated(), await contenders.rerotate());
    if (!(check < 1e-5)) throw new Error(`attention bench: the two cache conventions disagree: ${check}`);
    for (const fn of Object.values(contenders)) await warmUpAsync(fn, { seconds: 0.6, minCalls: 3 });
    // Wall time, and the process's CPU time per call (every thread's), which a busy shared machine
    // distorts far less than wall time.
    const wall = { rerotate: [], rotated: [] };
    const cpu = { rerotate: [], rotated: [] };
    for (let r = 0; r < 41; ++r) {
      for (const [name, fn] of Object.entries(contenders)) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        await fn();
        const c = process.cpuUsage(c0);
        wall[name].push(performance.now() - t0);
        cpu[name].push((c.user + c.system) / 1000);
      }
    }
    const ms = Object.fromEntries(Object.entries(wall).map(([name, list]) => [name, median(list)]));
    const cpuMs = Object.fromEntries(Object.entries(cpu).map(([name, list]) => [name, median(list)]));
    rows.push([kx.threads, ms.rerotate.toFixed(2), ms.rotated.toFixed(2), (ms.rerotate / ms.rotated).toFixed(2) + '×',
      cpuMs.rerotate.toFixed(2), cpuMs.rotated.toFixed(2), (cpuMs.rerotate / cpuMs.rotated).toFixed(2) + '×',
      check.toExponential(1)]);
    kx.dispose();
  }
  process.stdout.write(`\none decoding step after a ${cached}-token KV cache (batch 1, ${HEADS} heads, dim ${DIM}, RoPE 'half', ` +
    'causal): wall and CPU ms, medians of interleaved runs; rerotate = raw-key cache rotated inside attention, ' +
    "rotated = kx.rope of the new key + attention with cachedKeys 'rotated'\n");
  process.stdout.write(table(['threads', 'rerotate', 'rotated', 'speed-up', 'rerotate CPU', 'rotated CPU', 'CPU ratio',
    'rel. diff'], rows) + '\n');
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

// ---- onnxruntime-web ------------------------------------------------------------------------------

const ORT_SIZES = [128, 512, 2048];

// The single-node models of one (n, causal): { name: modelBytes }, inputs [1, n, heads·dim] each
// (onnxruntime's BSNH, kexue's [batch, seq, heads, dim]), scale 1/√d written out.
function ortModels(n, causal) {
  const hidden = HEADS * DIM;
  const io = (name, type = 'float', shape = [1, n, hidden]) => ({ name, type, shape });
  const qkv = [io('query'), io('key'), io('value')];
  const scale = { float: 1 / Math.sqrt(DIM) };
  const models = {
    MultiHeadAttention: singleNodeModel({
      op: { type: 'MultiHeadAttention', domain: 'com.microsoft',
        attributes: { num_heads: HEADS, unidirectional: causal ? 1 : 0, scale } },
      inputs: qkv,
      outputs: [io('output')],
    }),
  };
  if (causal) {
    // GroupQueryAttention is causal by construction; no past KV (optional inputs left empty),
    // seqlens_k = total length − 1 per batch.
    models.GroupQueryAttention = singleNodeModel({
      op: { type: 'GroupQueryAttention', domain: 'com.microsoft',
        attributes: { num_heads: HEADS, kv_num_heads: HEADS, scale } },
      inputs: [...qkv, null, null, io('seqlens_k', 'int32', [1]), io('total_sequence_length', 'int32', [])],
      outputs: [io('output'), null, null],
    });
  }
  return models;
}

// In a child process: kexue and onnxruntime-web with `threads` threads each, side by side; prints
// one JSON line of rows { n, causal, op, ortMs, kexueMs, check }.
async function ortChild(threads, sizes, statistic) {
  const ort = await loadOnnxRuntimeWeb(threads);
  const kx = await init({ threads, backend: 'wasm' });
  const rows = [];
  for (const n of sizes) {
    const runs = n >= 2048 ? 5 : n >= 512 ? 9 : 21;
    const q = randomArray(n * HEADS * DIM);
    const k = randomArray(n * HEADS * DIM);
    const v = randomArray(n * HEADS * DIM);
    for (const causal of [false, true]) {
      const options = { seqQ: n, heads: HEADS, dim: DIM, causal, scale: 1 / Math.sqrt(DIM), backend: 'wasm' };
      const ours = await kx.attention(q, k, v, options);
      for (const [op, model] of Object.entries(ortModels(n, causal))) {
        // No spinning: onnxruntime's intra-op threads otherwise busy-wait after each run and take
        // the cores from kexue's pool in this shared process (at 2 threads on 2 cores kexue ran 3×
        // slower next to them).
        const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'],
          extra: { session: { intra_op: { allow_spinning: '0' } } } });
        const shape = [1, n, HEADS * DIM];
        // Fresh tensors per call, as a caller holding Float32Arrays would make them.
        const feeds = () => ({
          query: new ort.Tensor('float32', q, shape),
          key: new ort.Tensor('float32', k, shape),
          value: new ort.Tensor('float32', v, shape),
          ...(op === 'GroupQueryAttention' ? {
            seqlens_k: new ort.Tensor('int32', Int32Array.of(n - 1), [1]),
            total_sequence_length: new ort.Tensor('int32', Int32Array.of(n), []),
          } : {}),
        });
        const runOrt = async () => {
          const result = await session.run(feeds());
          const data = result.output.data;
          for (const tensor of Object.values(result)) tensor.dispose?.();
          return data;
        };
        // Same computation, same scale: the outputs agree before anything is timed.
        const check = relativeError(await runOrt(), ours);
        if (!(check < 1e-4)) throw new Error(`attention bench: onnxruntime ${op} and kexue disagree at n = ${n}, causal ${causal}: ${check}`);
        const contenders = { ort: runOrt, kexue: () => kx.attention(q, k, v, options) };
        for (const fn of Object.values(contenders)) await warmUpAsync(fn, { seconds: n >= 2048 ? 0.3 : 0.6, minCalls: 2 });
        const ms = await interleavedAsync(contenders, runs, { statistic, settleMs: threads > 1 ? 50 : 0 });
        rows.push({ n, causal, op, ortMs: ms.ort, kexueMs: ms.kexue, check });
        await session.release();
      }
    }
  }
  process.stdout.write(JSON.stringify(rows) + '\n');
}

async function runOrt({ ortSizes = sizesArgument('attention') ?? ORT_SIZES } = {}) {
  const rows = [];
  for (const threads of [1, 2]) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--ort-child', String(threads), ortSizes.join(','),
      statArgument('attention')],
      { encoding: 'utf8', maxBuffer: 1 << 22, stdio: ['ignore', 'pipe', 'inherit'] });
    if (child.status !== 0) throw new Error(`attention bench: the onnxruntime child (${threads} threads) failed`);
    for (const row of JSON.parse(child.stdout.trim().split('\n').pop())) {
      const flops = 4 * row.n * row.n * DIM * HEADS * (row.causal ? 0.5 : 1);
      const gf = (t) => (flops / (t * 1e6)).toFixed(1);
      rows.push([row.n, row.causal ? 'yes' : 'no', row.op, threads, `${row.ortMs.toFixed(2)} (${gf(row.ortMs)})`,
        `${row.kexueMs.toFixed(2)} (${gf(row.kexueMs)})`, (row.ortMs / row.kexueMs).toFixed(2) + '×',
        row.check.toExponential(1)]);
    }
  }
  process.stdout.write(`\nattention forward vs onnxruntime-web ${onnxRuntimeWebVersion()} (WASM EP), batch 1, ${HEADS} heads, dim ${DIM}, ` +
    `scale 1/√d, no RoPE: ms (effective GFLOP/s = 4·n²·d·heads / t, halved when causal); ratio = ort / kexue ` +
    `(${statArgument('attention')} of interleaved runs after warm-up, both with the same thread count in one process); rel. diff = max-norm ` +
    'difference of the outputs\n');
  process.stdout.write(table(['n', 'causal', 'onnxruntime op', 'threads', 'ort', 'kexue', 'ratio', 'rel. diff'], rows) + '\n');
}

if (process.argv[2] === '--ort-child') {
  await ortChild(Number(process.argv[3]), process.argv[4].split(',').map(Number), process.argv[5] ?? 'median');
}

// Padded batches and sliding windows (issue 13): the work the kernel skips.
//   padded batch: batch 4 of lengths 512, 1024, 1536, 2048 padded to 2048, one call with
//     seqLensQ/seqLensK, against the four rows run one by one at their own lengths (the same
//     answers), and against the padded call without lengths (what ignoring the padding costs);
//   window: n = 8192, causal, a window of 256 keys (left 255) against full causal attention:
//     about n/2 / 256 = 16× less work.
// GFLOP/s are effective (the useful FLOPs: 4·L²·d·heads per row, halved under causal, 4·n·w·d·heads
// for the window).
async function runThreads({ sizes = sizesArgument('attention') ?? [512, 2048] } = {}) {
  const kx1 = await init({ threads: 1, backend: 'wasm' });
  const kx = await init({ backend: 'wasm' });
  const rows = [];
  for (const n of sizes) {
    const q = randomArray(n * HEADS * DIM), k = randomArray(n * HEADS * DIM), v = randomArray(n * HEADS * DIM);
    for (const causal of [false, true]) {
      const options = { seqQ: n, heads: HEADS, dim: DIM, causal, scale: 1 / Math.sqrt(DIM), backend: 'wasm' };
      const contenders = { one: () => kx1.attention(q, k, v, options), all: () => kx.attention(q, k, v, options) };
      for (const fn of Object.values(contenders)) await warmUpAsync(fn);
      const ms = await interleavedAsync(contenders, 15);
      rows.push([n, causal ? 'yes' : 'no', ms.one.toFixed(2), ms.all.toFixed(2), `${(ms.one / ms.all).toFixed(2)}×`]);
    }
  }
  process.stdout.write(`\nkexue alone, batch 1, ${HEADS} heads, d ${DIM}: ms (median of 15 interleaved runs)\n` +
    table(['n', 'causal', '1 thread', `${kx.threads} threads`, 'speed-up'], rows) + '\n');
}

async function runMasks({ window = 256, windowN = 8192 } = {}) {
  const kx = await init({ backend: 'wasm' });
  const kx1 = await init({ threads: 1, backend: 'wasm' });
  const lengths = [512, 1024, 1536, 2048];
  const batch = lengths.length, n = Math.max(...lengths);
  const rows = [];
  for (const causal of [false, true]) {
    const q = randomArray(batch * n * HEADS * DIM), k = randomArray(batch * n * HEADS * DIM), v = randomArray(batch * n * HEADS * DIM);
    const base = { batch, seqQ: n, heads: HEADS, dim: DIM, causal, rope: { layout: 'half' } };
    const padded = { ...base, seqLensQ: lengths, seqLensK: lengths };
    const row = (x, b, L) => x.subarray(b * n * HEADS * DIM, (b * n + L) * HEADS * DIM);
    const oneByOne = (module) => async () => {
      for (const [b, L] of lengths.entries()) {
        await module.attention(row(q, b, L), row(k, b, L), row(v, b, L), { ...base, batch: 1, seqQ: L });
      }
    };
    // Same answers: row b of the padded call is row b alone.
    const together = await kx.attention(q, k, v, padded);
    for (const [b, L] of lengths.entries()) {
      const alone = await kx.attention(row(q, b, L), row(k, b, L), row(v, b, L), { ...base, batch: 1, seqQ: L });
      const error = relativeError(row(together, b, L), alone);
      if (!(error < 1e-6)) throw new Error(`attention bench: padded row ${b} differs from the row alone: ${error}`);
    }
    for (const [threads, module] of [[1, kx1], [kx.threads, kx]]) {
      const contenders = {
        seqLens: () => module.attention(q, k, v, padded),
        oneByOne: oneByOne(module),
        unmasked: () => module.attention(q, k, v, base),
      };
      for (const fn of Object.values(contenders)) await warmUpAsync(fn, { seconds: 0, minCalls: 1 });
      const ms = await interleavedAsync(contenders, 3);
      const flops = lengths.reduce((sum, L) => sum + 4 * L * L * DIM * HEADS, 0) * (causal ? 0.5 : 1);
      const gf = (t) => (flops / (t * 1e6)).toFixed(1);
      rows.push([causal ? 'yes' : 'no', threads, `${ms.seqLens.toFixed(0)} (${gf(ms.seqLens)})`,
        `${ms.oneByOne.toFixed(0)} (${gf(ms.oneByOne)})`, (ms.oneByOne / ms.seqLens).toFixed(2) + '×',
        ms.unmasked.toFixed(0), (ms.unmasked / ms.seqLens).toFixed(2) + '×']);
    }
  }
  process.stdout.write(`\npadded batch: batch ${batch}, lengths ${lengths.join(', ')} (padded to ${n}), ${HEADS} heads, dim ${DIM}, ` +
    'RoPE: ms (effective GFLOP/s on the valid rows), median of 3 interleaved runs\n');
  process.stdout.write(table(['causal', 'threads', 'seqLensQ/K', 'rows one by one', 'ratio', 'padded, no lengths', 'ratio'], rows) + '\n');

  const q = randomArray(windowN * HEADS * DIM), k = randomArray(windowN * HEADS * DIM), v = randomArray(windowN * HEADS * DIM);
  const causal = { seqQ: windowN, heads: HEADS, dim: DIM, causal: true, rope: { layout: 'half' } };
  const windowed = { ...causal, window: { left: window - 1 } };
  const windowRows = [];
  for (const [threads, module] of [[1, kx1], [kx.threads, kx]]) {
    const contenders = { window: () => module.attention(q, k, v, windowed), full: () => module.attention(q, k, v, causal) };
    for (const fn of Object.values(contenders)) await warmUpAsync(fn, { seconds: 0, minCalls: 1 });
    const ms = await interleavedAsync(contenders, 3);
    const windowFlops = 4 * windowN * window * DIM * HEADS, fullFlops = 2 * windowN * windowN * DIM * HEADS;
    windowRows.push([threads, `${ms.window.toFixed(0)} (${(windowFlops / (ms.window * 1e6)).toFixed(1)})`,
      `${ms.full.toFixed(0)} (${(fullFlops / (ms.full * 1e6)).toFixed(1)})`, (ms.full / ms.window).toFixed(1) + '×',
      (fullFlops / windowFlops).toFixed(1) + '×']);
  }
  process.stdout.write(`\nsliding window: n = ${windowN}, causal, window ${window} (left ${window - 1}), ${HEADS} heads, dim ${DIM}, ` +
    'RoPE: ms (effective GFLOP/s), median of 3 interleaved runs\n');
  process.stdout.write(table(['threads', `window ${window}`, 'full causal', 'speed-up', 'FLOP ratio'], windowRows) + '\n');
}

if (process.argv[2] === '--heap-probe') {
  await heapProbe(Number(process.argv[3]), 'auto');
}
