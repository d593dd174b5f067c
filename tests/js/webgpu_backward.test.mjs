// The WebGPU backend beyond the forward pass, in Node on SwiftShader (see webgpu.test.mjs): the
// backward pass (attention_dq.wgsl, attention_dkv.wgsl) and rope2d against WASM on every parity
// case, with 1, 2 and 4 invocations per row; determinism; calls split across dispatches and pieces
// (forced small limits) equal to unsplit ones; f16 against f32 where the adapter has shader-f16;
// bad input gives WASM's errors; a device lost mid-call falls back to WASM with one warning.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const { init } = await import('../../bindings/js/index.js');
const { ATTENTION_CASES, PARITY_TOLERANCE, ROPE2D_CASES, attentionInputs, relativeError, runAttentionBackwardParity,
  runAttentionParity, runRope2dParity } = await import('../helpers/webgpu-parity-suite.js');
const { create, globals } = await import('webgpu');

// Every dispatch and submit, on any device, from here on.
const calls = { dispatches: 0, submits: 0 };
{
  const { GPUComputePassEncoder, GPUQueue } = globals;
  const { dispatchWorkgroups } = GPUComputePassEncoder.prototype;
  GPUComputePassEncoder.prototype.dispatchWorkgroups = function (...args) {
    calls.dispatches += 1;
    return dispatchWorkgroups.apply(this, args);
  };
  const { submit } = GPUQueue.prototype;
  GPUQueue.prototype.submit = function (buffers) {
    calls.submits += 1;
    return submit.call(this, buffers);
  };
}

const kx = await init({ backend: 'webgpu' });
const wasm = await init({ backend: 'wasm' });
const instances = [kx];
after(() => instances.forEach((instance) => instance.dispose()));

async function instance(webgpu) {
  const created = await init({ backend: 'webgpu', webgpu });
  instances.push(created);
  return created;
}

const seeded = (seed) => (i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9;

test(`attentionBackward on WebGPU matches WASM on ${ATTENTION_CASES.length} configurations (rel. error ≤ ${PARITY_TOLERANCE})`,
  { timeout: 600_000 }, async () => {
    const results = await runAttentionBackwardParity(kx, wasm);
    assert.equal(results.length, ATTENTION_CASES.length);
    for (const { name, relativeError: error, ok } of results) assert.ok(ok, `${name}: relative error ${error}`);
  });

test('attentionBackward with backend \'webgpu\' or \'auto\' returns a Promise; without one it stays synchronous WASM', async () => {
  const { q, k, v, options } = attentionInputs(2);
  const dOut = new Float32Array(q.length).fill(0.5);
  const sync = kx.attentionBackward(q, k, v, dOut, options);
  assert.ok(sync.dq instanceof Float32Array, 'synchronous by default');
  const onGpu = kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu' });
  const onAuto = kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'auto' });
  assert.ok(onGpu instanceof Promise && onAuto instanceof Promise);
  for (const result of [await onGpu, await onAuto]) {
    for (const name of ['dq', 'dk', 'dv']) assert.ok(relativeError(result[name], sync[name]) <= PARITY_TOLERANCE, name);
  }
  // 'auto' on a WASM instance resolves to WASM's answer.
  assert.deepEqual(await wasm.attentionBackward(q, k, v, dOut, { ...options, backend: 'auto' }), sync);
});

test('1, 2 and 4 invocations per row (subgroup sums) agree with WASM, forward and backward', { timeout: 600_000 }, async () => {
  // Odd dims (5, 7), partial RoPE in both layouts, GQA, dimV ≠ dim, tile edges.
  const cases = [3, 5, 13, 15, 21, 23];
  for (const lanes of [1, 2, 4]) {
    const gpu = await instance({ lanes });
    const forward = await runAttentionParity(gpu, wasm, cases);
    const backward = await runAttentionBackwardParity(gpu, wasm, cases);
    for (const { name, relativeError: error, ok } of [...forward, ...backward]) {
      assert.ok(ok, `lanes ${lanes}, ${name}: relative error ${error}`);
    }
    gpu.dispose();
  }
});

test('the backward pass is deterministic: the same bits on every run', async () => {
  const { q, k, v, options } = attentionInputs(23);
  const dOut = Float32Array.from({ length: q.length }, (_, i) => seeded(3)(i));
  const first = await kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu' });
  for (let run = 0; run < 3; ++run) {
    assert.deepEqual(await kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu' }), first);
  }
});

test(`rope2d with backend 'webgpu' matches WASM on ${ROPE2D_CASES.length} configurations (modes, layouts, positions, inverse)`,
  async () => {
    for (const { name, relativeError: error, ok } of await runRope2dParity(kx, wasm)) assert.ok(ok, `${name}: ${error}`);
    const x = new Float32Array(8).fill(1);
    assert.ok(kx.rope2d(x, { height: 1, width: 2, dim: 4 }) instanceof Float32Array, 'synchronous by default');
    assert.ok(kx.rope2d(x, { height: 1, width: 2, dim: 4, backend: 'webgpu' }) instanceof Promise);
  });

test('split calls equal unsplit ones: pieces over batch, queries and keys, several dispatches per kernel', { timeout: 600_000 }, async () => {
  // 2 KiB per buffer, 3 workgroups per grid dimension: every case below needs pieces (whole batch
  // entries, or query and key chunks whose partial results are combined through the logsumexp)
  // and more than 9 workgroups (several dispatches).
  const small = await instance({ limits: { maxStorageBufferBindingSize: 2048, maxComputeWorkgroupsPerDimension: 3 } });
  const cases = [
    { batch: 3, seqQ: 20, seqK: 28, heads: 2, dim: 8, causal: true },                       // whole batch entries
    { seqQ: 70, seqK: 150, heads: 4, kvHeads: 2, dim: 8, causal: true, rope: { layout: 'half' } }, // query × key chunks
    { batch: 2, seqQ: 90, seqK: 40, heads: 2, dim: 6, dimV: 4, rope: true },                // negative positions
    { seqQ: 33, heads: 1, dim: 16, scale: 'standard' },
  ];
  for (const options of cases) {
    const { batch = 1, seqQ, seqK = seqQ, heads, kvHeads = heads, dim, dimV = dim } = options;
    const q = Float32Array.from({ length: batch * seqQ * heads * dim }, (_, i) => seeded(1)(i));
    const k = Float32Array.from({ length: batch * seqK * kvHeads * dim }, (_, i) => seeded(2)(i));
    const v = Float32Array.from({ length: batch * seqK * kvHeads * dimV }, (_, i) => seeded(3)(i));
    const dOut = Float32Array.from({ length: batch * seqQ * heads * dimV }, (_, i) => seeded(4)(i));
    const call = { ...options, backend: 'webgpu' };
    const before = { ...calls };
    const split = await small.attention(q, k, v, call);
    const splitGrads = await small.attentionBackward(q, k, v, dOut, call);
    assert.ok(calls.submits - before.submits > 2, `${JSON.stringify(options)}: pieces (${calls.submits - before.submits} submits)`);
    assert.ok(calls.dispatches - before.dispatches > calls.submits - before.submits, 'several dispatches per submit');
    const whole = await kx.attention(q, k, v, call);
    const wholeGrads = await kx.attentionBackward(q, k, v, dOut, call);
    assert.ok(relativeError(split, whole) <= 1e-6, `${JSON.stringify(options)} out: ${relativeError(split, whole)}`);
    for (const name of ['dq', 'dk', 'dv']) {
      const error = relativeError(splitGrads[name], wholeGrads[name]);
      assert.ok(error <= 1e-6, `${JSON.stringify(options)} ${name}: ${error}`);
    }
  }
  // RoPE alone in pieces of whole positions, and 2D RoPE.
  const x = Float32Array.from({ length: 2 * 50 * 3 * 8 }, (_, i) => seeded(5)(i));
  const ropeOptions = { batch: 2, seq: 50, heads: 3, dim: 8, layout: 'half', backend: 'webgpu' };
  assert.ok(relativeError(await small.rope(x, ropeOptions), kx.rope(x, { ...ropeOptions, backend: 'wasm' })) <= 1e-6);
  const positions = Array.from({ length: 2 * 50 }, (_, i) => 1.5 * i - 7); // one row per batch entry
  assert.ok(relativeError(await small.rope(x, { ...ropeOptions, positions }),
    kx.rope(x, { ...ropeOptions, positions, backend: 'wasm' })) <= 1e-6);
  const grid = { batch: 2, height: 5, width: 10, heads: 3, dim: 8, mode: 'tie', backend: 'webgpu' };
  assert.ok(relativeError(await small.rope2d(x, grid), kx.rope2d(x, { ...grid, backend: 'wasm' })) <= 1e-6);
});

test('init({ webgpu }) refuses what it cannot use', async () => {
  await assert.rejects(init({ webgpu: 1 }), { name: 'TypeError', message: /init: webgpu must be an object/ });
  await assert.rejects(init({ webgpu: { lanes: 3 } }), { name: 'RangeError', message: 'init: webgpu.lanes must be 1, 2, 4 or 8, received 3' });
  await assert.rejects(init({ webgpu: { limits: { maxFoo: 1 } } }), { name: 'TypeError', message: /unknown limit 'maxFoo'/ });
  await assert.rejects(init({ webgpu: { limits: { maxBufferSize: 0 } } }), { name: 'RangeError', message: /maxBufferSize must be a positive integer/ });
  await assert.rejects(init({ webgpu: { tiles: 1 } }), { name: 'TypeError', message: /unknown option 'webgpu\.tiles'/ });
});

test('precision \'f16\': against f32 within 2e-2 where the adapter has shader-f16; f32 where it has not', { timeout: 300_000 }, async (t) => {
  const { q, k, v, options } = attentionInputs(23);
  const dOut = Float32Array.from({ length: q.length }, (_, i) => seeded(6)(i));
  const f32 = await kx.attention(q, k, v, { ...options, backend: 'webgpu', precision: 'f32' });
  const f32Grads = await kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu', precision: 'f32' });
  const f16 = await kx.attention(q, k, v, { ...options, backend: 'webgpu', precision: 'f16' });
  const f16Grads = await kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu', precision: 'f16' });
  await assert.rejects(kx.attention(q, k, v, { ...options, precision: 'f64' }),
    { name: 'RangeError', message: "attention: precision must be one of 'f32', 'f16', received \"f64\"" });
  if (!kx.adapterInfo.shaderF16) {
    // Without shader-f16 the call runs in f32: the same result.
    assert.deepEqual(f16, f32);
    t.diagnostic(`skipped the f16 tolerance check: adapter ${kx.adapterInfo.description} has no shader-f16`);
    t.skip(`adapter ${kx.adapterInfo.description} has no shader-f16`);
    return;
  }
  // f16 rounds q, k, v to 11 significant bits and multiplies q·k in f16: a relative error of ~1e-3
  // per product; 2e-2 of the largest entry bounds what inputs of magnitude ≤ 2 give.
  assert.ok(relativeError(f16, f32) <= 2e-2, `out: ${relativeError(f16, f32)}`);
  for (const name of ['dq', 'dk', 'dv']) {
    assert.ok(relativeError(f16Grads[name], f32Grads[name]) <= 2e-2, `${name}: ${relativeError(f16Grads[name], f32Grads[name])}`);
  }
});

test('bad input on the GPU path gives the same errors as on WASM', async () => {
  const q = new Float32Array(8).fill(0.1);
  const shape = { seqQ: 2, heads: 1, dim: 4 };
  // [q, k, v, dOut, options, whether kx.attention (no dOut) refuses it too]
  const bad = [
    [q, q, q, new Float32Array(3), shape, false],
    [q, q, q, q, { ...shape, seqQ: -1 }],
    [q, q, q, q, { ...shape, dim: 3, rope: true }],
    [q, q, q, q, { ...shape, causal: true, seqK: 1 }],
    [q, q, q, q, { ...shape, scale: NaN }],
    [q, q, q, q, { ...shape, casual: true }],
    [q, new Float32Array(7), q, q, shape],
    [q, q, q, Float32Array.from(q, () => NaN), shape, false],
    [q, q, q, q, { ...shape, precision: 'half' }],
  ];
  for (const args of bad) {
    const options = args[4];
    let expected;
    try {
      kx.attentionBackward(...args.slice(0, 4), { ...options, backend: 'wasm' });
    } catch (error) {
      expected = error;
    }
    assert.ok(expected, `WASM refuses ${JSON.stringify(options)}`);
    for (const backend of ['webgpu', 'auto']) {
      assert.throws(() => kx.attentionBackward(...args.slice(0, 4), { ...options, backend }),
        (error) => error.constructor === expected.constructor && error.message === expected.message, `${backend}: ${expected.message}`);
      if (args[5] !== false) {
        await assert.rejects(kx.attention(...args.slice(0, 3), { ...options, backend }),
          (error) => error.constructor === expected.constructor && /^attention: /.test(error.message));
      }
    }
  }
  for (const options of [{ height: 1, width: 2, dim: 6 }, { height: 0, width: 2, dim: 4 }, { height: 1, width: 2, dim: 4, mode: 'x' }]) {
    let expected;
    try {
      kx.rope2d(new Float32Array(8), options);
    } catch (error) {
      expected = error;
    }
    assert.throws(() => kx.rope2d(new Float32Array(8), { ...options, backend: 'webgpu' }),
      (error) => error.constructor === expected.constructor && error.message === expected.message);
  }
  // The instance still works afterwards.
  const { q: q2, k, v, options } = attentionInputs(1);
  const out = await kx.attention(q2, k, v, { ...options, backend: 'webgpu' });
  assert.ok(relativeError(out, await wasm.attention(q2, k, v, options)) <= PARITY_TOLERANCE);
});

test('a device lost during attentionBackward: that call is recomputed on WASM, with one warning', async () => {
  const real = create([]);
  let device = null;
  const gpu = {
    async requestAdapter(options) {
      const adapter = await real.requestAdapter(options);
      return {
        limits: adapter.limits,
        info: adapter.info,
        features: adapter.features,
        requestDevice: async (descriptor) => (device = await adapter.requestDevice(descriptor)),
      };
    },
  };
  const lost = await init({ backend: 'webgpu', gpu });
  const { q, k, v, options } = attentionInputs(13);
  const dOut = Float32Array.from({ length: q.length }, (_, i) => seeded(7)(i));
  const expected = wasm.attentionBackward(q, k, v, dOut, options);
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  try {
    const pending = lost.attentionBackward(q, k, v, dOut, { ...options, backend: 'auto' });
    device.destroy(); // mid-call, not through kx.dispose()
    assert.deepEqual(await pending, expected);
    assert.equal(lost.backend, 'wasm');
    assert.deepEqual(await lost.attentionBackward(q, k, v, dOut, { ...options, backend: 'auto' }), expected);
    assert.deepEqual(await lost.rope2d(new Float32Array(8).fill(1), { height: 1, width: 2, dim: 4, backend: 'auto' }),
      wasm.rope2d(new Float32Array(8).fill(1), { height: 1, width: 2, dim: 4 }));
    await assert.rejects(lost.attentionBackward(q, k, v, dOut, { ...options, backend: 'webgpu' }), /the WebGPU device was lost/);
  } finally {
    console.warn = warn;
    lost.dispose();
  }
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /kexue: the WebGPU device was lost .*; attention now runs on WASM/);
});
