// The WebGPU backend in Node: the `webgpu` package (Dawn) on SwiftShader, the Vulkan driver in
// Debian's chromium package (no GPU needed). Parity with the WASM backend (the shared suite in
// tests/helpers/webgpu-parity-suite.js), backend selection and its errors, no n×n buffer, pipeline
// and buffer reuse, one submit per call, device loss, dispose, and a clean exit.
//
// Dawn reads VK_ICD_FILENAMES when it creates its instance, so it is set here, before the first
// init(). Test files run in their own processes (node --test), so this does not leak elsewhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const { init } = await import('../../bindings/js/index.js');
const { ATTENTION_CASES, PARITY_TOLERANCE, ROPE_CASES, attentionInputs, relativeError, runAttentionParity,
  runRopeParity } = await import('../helpers/webgpu-parity-suite.js');
const { create, globals } = await import('webgpu');

const INDEX_URL = new URL('../../bindings/js/index.js', import.meta.url).href;

// Every createBuffer / createComputePipeline / submit, on any device, from here on.
const calls = { buffers: [], pipelines: 0, submits: 0 };
{
  const { GPUDevice, GPUQueue } = globals;
  const { createBuffer, createComputePipeline } = GPUDevice.prototype;
  GPUDevice.prototype.createBuffer = function (descriptor) {
    calls.buffers.push(descriptor.size);
    return createBuffer.call(this, descriptor);
  };
  GPUDevice.prototype.createComputePipeline = function (descriptor) {
    calls.pipelines += 1;
    return createComputePipeline.call(this, descriptor);
  };
  const { submit } = GPUQueue.prototype;
  GPUQueue.prototype.submit = function (buffers) {
    calls.submits += 1;
    return submit.call(this, buffers);
  };
}

const kx = await init({ backend: 'webgpu' });
const wasm = await init({ backend: 'wasm' });
after(() => kx.dispose());

// Runs a module in a fresh Node process with `env` (added to this one's); returns { status, stdout, stderr }.
function runNode(source, env, timeout = 60_000) {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
    encoding: 'utf8', timeout, env: { ...process.env, ...env },
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

test('init({ backend: \'webgpu\' }) holds a SwiftShader device; init({ backend: \'wasm\' }) none', () => {
  assert.ok(existsSync(SWIFTSHADER_ICD), `${SWIFTSHADER_ICD} (Debian's chromium package) is needed`);
  assert.equal(kx.backend, 'webgpu');
  assert.equal(kx.adapterInfo.architecture, 'swiftshader');
  assert.equal(wasm.backend, 'wasm');
  assert.equal(wasm.adapterInfo, null);
});

test(`attention: WebGPU matches WASM on ${ATTENTION_CASES.length} configurations (rel. error ≤ ${PARITY_TOLERANCE})`,
  { timeout: 120_000 }, async () => {
    const results = await runAttentionParity(kx, wasm);
    assert.ok(results.length >= 20);
    for (const { name, relativeError: error, ok } of results) assert.ok(ok, `${name}: relative error ${error}`);
  });

test('attention on WebGPU against the float64 definition (RoPE, causal offset, GQA, entropy scale)', async () => {
  // softmax(c_i · R q · (R k)ᵀ) V for one case, computed here in float64.
  const index = ATTENTION_CASES.findIndex((c) => c.kvHeads === 1 && c.rope?.layout === 'half');
  const { q, k, v, options } = attentionInputs(index);
  const { seqQ, seqK, heads, dim } = options;
  const rotate = (row, position) => {
    const half = dim / 2;
    for (let p = 0; p < half; ++p) {
      const angle = position * 10000 ** (-2 * p / dim);
      const [x, y] = [row[p], row[p + half]];
      row[p] = x * Math.cos(angle) - y * Math.sin(angle);
      row[p + half] = x * Math.sin(angle) + y * Math.cos(angle);
    }
    return row;
  };
  const expected = new Float64Array(seqQ * heads * dim);
  for (let h = 0; h < heads; ++h) {
    for (let i = 0; i < seqQ; ++i) {
      const position = seqK - seqQ + i;
      const qRow = rotate(Array.from(q.subarray((i * heads + h) * dim, (i * heads + h + 1) * dim)), position);
      const visible = position + 1;
      const c = Math.log(Math.max(visible, 16)) / Math.log(512) / Math.sqrt(dim);
      const scores = [];
      for (let j = 0; j < visible; ++j) {
        const kRow = rotate(Array.from(k.subarray(j * dim, (j + 1) * dim)), j);
        scores.push(c * qRow.reduce((sum, x, d) => sum + x * kRow[d], 0));
      }
      const max = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - max));
      const total = weights.reduce((a, b) => a + b, 0);
      for (let j = 0; j < visible; ++j) {
        for (let d = 0; d < dim; ++d) expected[(i * heads + h) * dim + d] += weights[j] / total * v[j * dim + d];
      }
    }
  }
  const actual = await kx.attention(q, k, v, options);
  assert.ok(relativeError(actual, expected) < 1e-5, `relative error ${relativeError(actual, expected)}`);
});

test(`rope with backend 'webgpu' matches WASM on ${ROPE_CASES.length} configurations (positions, inverse, layouts)`,
  async () => {
    for (const { name, relativeError: error, ok } of await runRopeParity(kx, wasm)) assert.ok(ok, `${name}: ${error}`);
    // Without a per-call backend, rope stays synchronous (WASM) even on a WebGPU instance.
    assert.ok(kx.rope(new Float32Array(4), { seq: 1, dim: 4 }) instanceof Float32Array);
    assert.ok(kx.rope(new Float32Array(4), { seq: 1, dim: 4, backend: 'webgpu' }) instanceof Promise);
  });

test('rope on WebGPU beyond 65535 workgroups in x (a 2D grid): 4.3M elements', { timeout: 60_000 }, async () => {
  const seq = 4200, heads = 8, dim = 128;
  const x = Float32Array.from({ length: seq * heads * dim }, (_, i) => Math.sin(i));
  const options = { seq, heads, dim, layout: 'half' };
  assert.deepEqual(await kx.rope(x, { ...options, backend: 'webgpu' }), kx.rope(x, options));
});

test('empty shapes on WebGPU: seqK = 0 gives zeros, seqQ = 0 an empty result', async () => {
  const zeros = await kx.attention(new Float32Array(8), new Float32Array(0), new Float32Array(0),
    { seqQ: 2, seqK: 0, heads: 1, dim: 4, backend: 'webgpu' });
  assert.deepEqual(Array.from(zeros), new Array(8).fill(0));
  const empty = await kx.attention(new Float32Array(0), new Float32Array(4), new Float32Array(4),
    { seqQ: 0, seqK: 1, heads: 1, dim: 4, backend: 'webgpu' });
  assert.equal(empty.length, 0);
});

test('no n×n buffer: attention with n = 4096 asks for O(n·d) bytes only', { timeout: 120_000 }, async () => {
  const n = 4096;
  const dim = 8;
  const options = { seqQ: n, heads: 1, dim, causal: true, rope: true };
  const q = Float32Array.from({ length: n * dim }, (_, i) => Math.sin(i));
  const k = Float32Array.from({ length: n * dim }, (_, i) => Math.cos(i));
  const v = Float32Array.from({ length: n * dim }, (_, i) => Math.sin(3 * i));
  const before = calls.buffers.length;
  const out = await kx.attention(q, k, v, { ...options, backend: 'webgpu' });
  const sizes = calls.buffers.slice(before);
  assert.ok(sizes.length > 0, 'the call created its buffers');
  const largest = Math.max(...sizes);
  // q, k, v, out: n·d floats = 128 KiB each; the side buffer the RoPE table (n·d floats, one for
  // queries and keys at the same positions) and c_i; an n×n f32 buffer would be 64 MiB.
  assert.ok(largest <= n * dim * 4 + 1024, `largest buffer ${largest} bytes`);
  assert.ok(sizes.reduce((a, b) => a + b, 0) < n * n * 4 / 16, `total ${sizes} bytes`);
  // Spot-check the last rows against WASM.
  const reference = await wasm.attention(q, k, v, options);
  assert.ok(relativeError(out.subarray(-64 * dim), reference.subarray(-64 * dim)) <= PARITY_TOLERANCE);
});

test('pipelines are compiled once per configuration, buffers are reused, one submit per call', async () => {
  const { q, k, v, options } = attentionInputs(5);
  await kx.attention(q, k, v, options); // compiled and sized by the parity run already, or now
  const pipelines = calls.pipelines;
  const buffers = calls.buffers.length;
  const submits = calls.submits;
  for (let i = 0; i < 5; ++i) await kx.attention(q, k, v, options);
  assert.equal(calls.pipelines, pipelines, 'no new pipeline');
  assert.equal(calls.buffers.length, buffers, 'no new buffer');
  assert.equal(calls.submits, submits + 5, 'one submit per call');
  // Concurrent calls share the pooled buffers safely (they are serialised).
  const results = await Promise.all([0, 1, 2].map(() => kx.attention(q, k, v, options)));
  for (const r of results) assert.deepEqual(r, results[0]);
});

test('per-call backend: \'wasm\' on a WebGPU instance, \'webgpu\' on a WASM instance rejects', async () => {
  const { q, k, v, options } = attentionInputs(2);
  const onWasm = await kx.attention(q, k, v, { ...options, backend: 'wasm' });
  assert.ok(relativeError(onWasm, await wasm.attention(q, k, v, options)) === 0);
  await assert.rejects(wasm.attention(q, k, v, { ...options, backend: 'webgpu' }),
    (e) => e instanceof Error && /attention: backend 'webgpu' is unavailable: .*init\(\{ backend: 'wasm' \}\)/.test(e.message));
  await assert.rejects(kx.attention(q, k, v, { ...options, backend: 'gpu' }),
    (e) => e instanceof RangeError && /attention: backend must be one of 'auto', 'wasm', 'webgpu', received "gpu"/.test(e.message));
  await assert.rejects(wasm.rope(new Float32Array(4), { seq: 1, dim: 4, backend: 'webgpu' }), /rope: backend 'webgpu' is unavailable/);
  // The backward pass runs on WebGPU too now (webgpu_backward.test.mjs); a bad backend name is refused.
  const pending = kx.attentionBackward(q, k, v, onWasm, { ...options, backend: 'webgpu' });
  assert.ok(pending instanceof Promise);
  const grads = await pending;
  assert.ok(relativeError(grads.dq, wasm.attentionBackward(q, k, v, onWasm, options).dq) <= PARITY_TOLERANCE);
  assert.throws(() => kx.attentionBackward(q, k, v, onWasm, { ...options, backend: 'gpu' }),
    (e) => e instanceof RangeError && /attentionBackward: backend must be one of 'auto', 'wasm', 'webgpu', received "gpu"/.test(e.message));
});

test('shapes beyond the device limits: \'auto\' runs them on WASM, \'webgpu\' says which limit', async () => {
  // dim + dimV = 4096 floats per key row: 4 rows need 64 KiB of workgroup memory (SwiftShader: 32 KiB).
  const options = { seqQ: 2, heads: 1, dim: 2048, dimV: 2048 };
  const q = new Float32Array(2 * 2048).fill(0.01);
  const v = Float32Array.from({ length: 2 * 2048 }, (_, i) => i % 7);
  const auto = await kx.attention(q, q, v, options);
  assert.deepEqual(auto, await wasm.attention(q, q, v, options));
  await assert.rejects(kx.attention(q, q, v, { ...options, backend: 'webgpu' }),
    (e) => e instanceof RangeError && /cannot run this shape: .*workgroup memory/.test(e.message));
});

test('every attention option runs on WebGPU: \'webgpu\' takes it, \'auto\' runs it there, both equal WASM', async () => {
  // Formerly WASM-only (padding, windows, ALiBi, bias, mask; logit shaping and normalisations; RoPE
  // positions, scaling and rotated caches): each now runs in the WGSL kernels, forward and backward
  // (the parity suite covers them on tile edges; here each alone, through both backends).
  const options = { batch: 2, seqQ: 8, heads: 2, dim: 4, causal: true };
  const q = Float32Array.from({ length: 2 * 8 * 2 * 4 }, (_, i) => Math.sin(i));
  for (const extra of [{ seqLensK: [8, 5], seqLensQ: [8, 3] }, { window: { left: 2 } }, { alibi: true },
    { bias: { data: Float32Array.from({ length: 8 }, (_, j) => -j / 4), shape: [1, 1, 1, 8] } },
    { mask: { data: new Uint8Array([1, 0, 1, 1, 1, 1, 0, 1]), shape: [1, 1, 1, 8] } },
    { softcap: 5 }, { sinks: [0.5, -0.5] }, { smoothSoftmax: true }, { normalize: 'l2' }, { normalize: 'relu2' },
    { rope: { positionsQ: [3, 4, 5, 6, 7, 8, 9, 10], positionsK: [0, 1, 2, 3, 4, 5, 6, 7] } },
    { rope: { cachedKeys: 'rotated', ropeScaling: { type: 'linear', factor: 2 } } }]) {
    const call = { ...options, ...extra };
    const expected = await wasm.attention(q, q, q, call);
    const submits = calls.submits;
    const onGpu = await kx.attention(q, q, q, { ...call, backend: 'webgpu' });
    const onAuto = await kx.attention(q, q, q, call);
    assert.equal(calls.submits, submits + 2, `${JSON.stringify(extra)} ran on the GPU both times`);
    assert.ok(relativeError(onGpu, expected) <= PARITY_TOLERANCE, JSON.stringify(extra));
    assert.deepEqual(onAuto, onGpu);
  }
});

test('init errors: bad backend option; a GPU without adapter; a failing device request', async () => {
  await assert.rejects(init({ backend: 'cuda' }), (e) => e instanceof RangeError && /init: backend must be 'auto', 'wasm' or 'webgpu', received "cuda"/.test(e.message));
  await assert.rejects(init({ backend: 1 }), TypeError);
  await assert.rejects(init({ gpu: {} }), (e) => e instanceof TypeError && /init: gpu must be a GPU object/.test(e.message));
  const noAdapter = { requestAdapter: async () => null };
  const auto = await init({ backend: 'auto', gpu: noAdapter });
  assert.equal(auto.backend, 'wasm');
  const { q, k, v, options } = attentionInputs(0);
  assert.deepEqual(await auto.attention(q, k, v, options), await wasm.attention(q, k, v, options));
  await assert.rejects(auto.attention(q, k, v, { ...options, backend: 'webgpu' }), /no WebGPU adapter: requestAdapter\(\) returned null/);
  await assert.rejects(init({ backend: 'webgpu', gpu: noAdapter }),
    (e) => e instanceof Error && /^init: backend 'webgpu' is unavailable: no WebGPU adapter: requestAdapter\(\) returned null/.test(e.message));
  const failingDevice = {
    requestAdapter: async () => ({ limits: {}, info: {}, requestDevice: async () => { throw new Error('limits exceeded'); } }),
  };
  await assert.rejects(init({ backend: 'webgpu', gpu: failingDevice }), /init: backend 'webgpu' is unavailable: WebGPU device request failed: limits exceeded/);
  assert.equal((await init({ gpu: failingDevice })).backend, 'wasm');
});

test('a lost device: reported once, later calls run on WASM', async () => {
  // A GPU object that hands out the package's real adapter, remembering the device it creates.
  const real = create([]);
  let device = null;
  const gpu = {
    async requestAdapter(options) {
      const adapter = await real.requestAdapter(options);
      return {
        limits: adapter.limits,
        info: adapter.info,
        requestDevice: async (descriptor) => (device = await adapter.requestDevice(descriptor)),
      };
    },
  };
  const lost = await init({ backend: 'webgpu', gpu });
  const { q, k, v, options } = attentionInputs(1);
  const expected = await wasm.attention(q, k, v, options);
  assert.ok(relativeError(await lost.attention(q, k, v, options), expected) <= PARITY_TOLERANCE);
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  try {
    device.destroy(); // not through kx.dispose(): the backend sees a lost device
    await device.lost;
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(lost.backend, 'wasm');
    assert.deepEqual(await lost.attention(q, k, v, options), expected);
    assert.deepEqual(await lost.attention(q, k, v, options), expected);
    await assert.rejects(lost.attention(q, k, v, { ...options, backend: 'webgpu' }), /the WebGPU device was lost/);
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /kexue: the WebGPU device was lost .*; attention now runs on WASM/);
  lost.dispose();

  // Lost while a call is in flight: that call is recomputed on WASM too.
  const again = await init({ backend: 'webgpu', gpu });
  assert.equal(again.backend, 'webgpu');
  console.warn = () => {};
  try {
    const pending = again.attention(q, k, v, options);
    device.destroy();
    assert.deepEqual(await pending, expected);
    assert.equal(again.backend, 'wasm');
  } finally {
    console.warn = warn;
    again.dispose();
  }
});

test('dispose() releases the device: the instance falls back to WASM, init() makes a new one', async () => {
  const first = await init({ backend: 'webgpu', threads: 1 });
  assert.equal(await init({ backend: 'webgpu', threads: 1 }), first, 'cached per (threads, backend)');
  const { q, k, v, options } = attentionInputs(3);
  const expected = await wasm.attention(q, k, v, options);
  first.dispose();
  first.dispose(); // idempotent
  assert.equal(first.backend, 'wasm');
  assert.ok(relativeError(await first.attention(q, k, v, options), expected) <= 1e-6);
  await assert.rejects(first.attention(q, k, v, { ...options, backend: 'webgpu' }), /released by kx\.dispose\(\)/);
  const second = await init({ backend: 'webgpu', threads: 1 });
  assert.notEqual(second, first);
  assert.equal(second.backend, 'webgpu');
  assert.ok(relativeError(await second.attention(q, k, v, options), expected) <= PARITY_TOLERANCE);
  second.dispose();
});

test('Node exits cleanly after dispose(); \'auto\' without an adapter is WASM, \'webgpu\' says why', () => {
  const withGpu = runNode(`
    import { init } from ${JSON.stringify(INDEX_URL)};
    const kx = await init();
    const out = await kx.attention(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]),
      new Float32Array([1, 2, 3, 4]), { seqQ: 2, heads: 1, dim: 2, scale: 0 });
    console.log(kx.backend, Array.from(out).join(','));
    kx.dispose();
  `, {});
  assert.equal(withGpu.status, 0, withGpu.stderr);
  assert.equal(withGpu.stdout.trim(), 'webgpu 2,3,2,3');

  // A Vulkan loader that finds no driver: Dawn offers no adapter.
  const noAdapter = runNode(`
    import { init } from ${JSON.stringify(INDEX_URL)};
    const kx = await init();
    console.log(kx.backend);
    try { await init({ backend: 'webgpu' }); } catch (error) { console.log(error.message); }
  `, { VK_ICD_FILENAMES: '/nonexistent/icd.json' });
  assert.equal(noAdapter.status, 0, noAdapter.stderr);
  const [backend, message] = noAdapter.stdout.trim().split('\n');
  assert.equal(backend, 'wasm');
  assert.match(message, /^init: backend 'webgpu' is unavailable: no WebGPU adapter: requestAdapter\(\) returned null/);
});

test('the WGSL sources are loaded from beside backend.js', () => {
  for (const name of ['attention.wgsl', 'rope.wgsl', 'rope_pair.wgsl']) {
    assert.ok(existsSync(fileURLToPath(new URL(`../../bindings/webgpu/${name}`, import.meta.url))), name);
  }
});
