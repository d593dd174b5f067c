// The WebGPU backend: finds an adapter and device, compiles the WGSL kernels beside this file
// (attention.wgsl, rope.wgsl, composed with their uniform structs and shared snippets by
// kernels.js) once per configuration, keeps a pool of buffers reused across calls, and runs one
// submit per call.
//
// Where the device comes from:
//   browsers  navigator.gpu (secure contexts only: https or http://127.0.0.1 / localhost)
//   Node      the optional `webgpu` npm package (Dawn). On machines without a GPU, Dawn needs a
//             Vulkan driver, e.g. SwiftShader from Debian's chromium package:
//             VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
//   either    an explicit GPU object (init({ gpu })): anything with requestAdapter().
//
// Shapes a device cannot take (a tensor above maxStorageBufferBindingSize or maxBufferSize, more
// workgroups than maxComputeWorkgroupsPerDimension, head dims whose K/V tile does not fit
// maxComputeWorkgroupStorageSize) are reported by attentionUnsupported(); the facade then runs
// them on WASM (backend 'auto') or throws (backend 'webgpu'). Nothing fails silently.

import { KERNELS, kernelCode } from './kernels.js';

// GPUBufferUsage / GPUMapMode flags (fixed by the WebGPU spec; Node's `webgpu` package does not
// install the globals unless asked to).
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const UNIFORM = 0x40;
const STORAGE = 0x80;

const runsOnNode = typeof process === 'object' && typeof process.versions?.node === 'string';

// Query rows per workgroup (one invocation each) and key rows per K/V tile, at most.
const BLOCK_Q_MAX = 64;
const BLOCK_K_MAX = 32;
const BLOCK_K_MIN = 4;
// The RoPE kernel's workgroup size.
const ROPE_WORKGROUP = 64;

function describeError(error) {
  return error instanceof Error ? error.message : String(error);
}

// The Node `webgpu` package's GPU object (one per process), or an Error saying why there is none.
// It must stay referenced while its devices live: if it is garbage-collected, dawn.node frees the
// instance its devices still poll, and the process dies at random in ProcessEvents (mutex abort,
// "futex facility returned an unexpected error code", segfault).
let nodeGpuObject = null;

async function nodeGpu() {
  if (nodeGpuObject) return nodeGpuObject;
  const name = 'webgpu'; // a variable, so that bundlers leave this optional import alone
  let webgpu;
  try {
    webgpu = await import(name);
  } catch (error) {
    throw new Error("no WebGPU in this Node process: there is no navigator.gpu and the optional 'webgpu' " +
      `package could not be loaded (${describeError(error)}); install it with \`npm install webgpu\``);
  }
  try {
    nodeGpuObject = webgpu.create([]);
    return nodeGpuObject;
  } catch (error) {
    throw new Error(`no WebGPU in this Node process: the 'webgpu' package failed to start (${describeError(error)})`);
  }
}

/**
 * Finds an adapter and requests a device with the adapter's own limits for buffer sizes and
 * workgroups. Resolves to { adapter, device, info } or rejects with an Error that says why:
 * no navigator.gpu (or no `webgpu` package in Node), no adapter, or the device request failed.
 */
export async function acquireDevice({ gpu } = {}) {
  let source = gpu;
  if (source === undefined || source === null) {
    source = globalThis.navigator?.gpu;
    if (!source) {
      if (!runsOnNode) {
        throw new Error('no WebGPU: navigator.gpu is undefined (this browser has no WebGPU, it is disabled, ' +
          'or the page is not a secure context: serve it over https or from http://127.0.0.1)');
      }
      source = await nodeGpu();
    }
  }
  let adapter;
  try {
    adapter = await source.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    throw new Error(`no WebGPU adapter: requestAdapter() failed (${describeError(error)})`);
  }
  if (!adapter) {
    throw new Error('no WebGPU adapter: requestAdapter() returned null (no usable GPU or driver' +
      (runsOnNode ? '; without a GPU, Dawn can use SwiftShader: ' +
        'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json)' : ')'));
  }
  const limits = adapter.limits;
  const requiredLimits = {};
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension']) {
    if (typeof limits[name] === 'number') requiredLimits[name] = limits[name];
  }
  let device;
  try {
    device = await adapter.requestDevice({ requiredLimits });
  } catch (error) {
    throw new Error(`WebGPU device request failed: ${describeError(error)}`);
  }
  if (!device) throw new Error('WebGPU device request failed: requestDevice() returned null');
  const raw = adapter.info ?? {};
  const info = {
    vendor: raw.vendor ?? '',
    architecture: raw.architecture ?? '',
    device: raw.device ?? '',
    description: raw.description ?? '',
  };
  return { gpu: source, adapter, device, info };
}

// One reusable buffer per role, grown (never shrunk) to the largest size asked for.
class BufferPool {
  #device;
  #slots = new Map();
  /** Every size passed to createBuffer, in bytes (tests check that no n×n buffer appears). */
  requested = [];

  constructor(device) {
    this.#device = device;
  }

  get(role, bytes, usage) {
    const size = Math.max(256, Math.ceil(bytes / 256) * 256);
    const slot = this.#slots.get(role);
    if (slot && slot.size >= size) return slot.buffer;
    slot?.buffer.destroy();
    const buffer = this.#device.createBuffer({ label: `kexue ${role}`, size, usage });
    this.requested.push(size);
    this.#slots.set(role, { buffer, size });
    return buffer;
  }

  destroy() {
    for (const { buffer } of this.#slots.values()) buffer.destroy();
    this.#slots.clear();
  }
}

export class WebGpuBackend {
  #device;
  #keepAlive;
  #pool;
  #pipelines = new Map();
  #queue = Promise.resolve();
  #disposed = false;
  #lostReason = null;
  #lost;
  #onLost;

  /** { vendor, architecture, device, description } of the adapter. */
  info;
  /** The device limits the kernels respect. */
  limits;

  constructor({ gpu, adapter, device, info }, { onLost } = {}) {
    this.#device = device;
    this.#onLost = onLost;
    this.#keepAlive = [gpu, adapter]; // see nodeGpu()
    this.#pool = new BufferPool(device);
    this.info = Object.freeze(info);
    const l = device.limits;
    this.limits = Object.freeze({
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    });
    this.#lost = device.lost.then((lost) => {
      if (this.#disposed) return;
      this.#lostReason = `the WebGPU device was lost (${lost?.reason ?? 'unknown'}${lost?.message ? `: ${lost.message}` : ''})`;
      this.#pool.destroy();
      onLost?.(this.#lostReason);
    });
  }

  /** Null while the device is usable, else why not (disposed or lost). */
  get unavailable() {
    if (this.#disposed) return 'the WebGPU device was released by kx.dispose()';
    return this.#lostReason;
  }

  /**
   * After a failed call: resolves to true when the device is (or within `ms` turns out to be)
   * lost or disposed. A destroyed device rejects mapAsync before its `lost` promise settles.
   */
  async failedFromLoss(ms = 100) {
    if (this.unavailable) return true;
    let timer;
    await Promise.race([this.#lost, new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
    clearTimeout(timer);
    return this.unavailable !== null;
  }

  /** Sizes in bytes of every GPU buffer this backend has created. */
  get requestedBufferSizes() {
    return this.#pool.requested.slice();
  }

  // One pipeline per key: `kernel` (one of KERNELS) specialised by `constants`.
  async #pipeline(key, kernel, constants) {
    let pending = this.#pipelines.get(key);
    if (!pending) {
      pending = (async () => {
        const code = await kernelCode(kernel, constants);
        this.#device.pushErrorScope('validation');
        let pipeline = null;
        let failure = null;
        try {
          const module = this.#device.createShaderModule({ label: `kexue ${key}`, code });
          // Not createComputePipelineAsync: dawn.node (webgpu 0.6) aborts in it ("futex facility
          // returned an unexpected error code"); browsers compile off-thread either way.
          pipeline = this.#device.createComputePipeline({
            label: `kexue ${key}`,
            layout: 'auto',
            compute: { module, entryPoint: kernel.entryPoint },
          });
        } catch (error) {
          failure = error;
        }
        const error = await this.#device.popErrorScope();
        if (failure || error) {
          const reason = `the WGSL kernel ${kernel.file} (${key}) did not compile: ${(error ?? failure).message}`;
          // Backend 'auto' then runs this call and the later ones on WASM (failedFromLoss() is
          // true), with one warning (onLost); 'webgpu' calls throw.
          if (this.#lostReason === null) {
            this.#lostReason = reason;
            this.#onLost?.(reason);
          }
          throw new Error(`kexue: ${reason}`);
        }
        return pipeline;
      })();
      this.#pipelines.set(key, pending);
      pending.catch(() => this.#pipelines.delete(key));
    }
    return pending;
  }

  // Tile sizes for one (dim, dimV) on this device, or null when a K/V tile of BLOCK_K_MIN rows
  // does not fit workgroup memory.
  #attentionTiles(dim, dimV) {
    const l = this.limits;
    const blockQ = Math.min(BLOCK_Q_MAX, l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX);
    const blockK = Math.min(BLOCK_K_MAX, Math.floor(l.maxComputeWorkgroupStorageSize / (4 * (dim + dimV))));
    return blockK >= BLOCK_K_MIN ? { blockQ, blockK } : null;
  }

  // Null if every tensor of the call fits one storage binding, else the limit it breaks.
  #bufferLimit(tensors) {
    const max = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    for (const [name, count] of tensors) {
      if (count * 4 > max) {
        return `${name} needs ${count * 4} bytes, above this device's storage buffer limit of ${max} bytes`;
      }
    }
    return null;
  }

  /** Null if attention of these resolved options' shape runs on this device, else why it cannot. */
  attentionUnsupported(options) {
    const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = options;
    if (!this.#attentionTiles(dim, dimV)) {
      return `dim + dimV = ${dim + dimV} floats per key row do not fit ${BLOCK_K_MIN} rows in this device's ` +
        `${this.limits.maxComputeWorkgroupStorageSize} bytes of workgroup memory`;
    }
    const { blockQ } = this.#attentionTiles(dim, dimV);
    const maxGroups = this.limits.maxComputeWorkgroupsPerDimension;
    for (const [name, count] of [['seqQ / blockQ', Math.ceil(seqQ / blockQ)], ['heads', heads], ['batch', batch]]) {
      if (count > maxGroups) return `${name} = ${count} workgroups exceed maxComputeWorkgroupsPerDimension = ${maxGroups}`;
    }
    return this.#bufferLimit([
      ['q', batch * seqQ * heads * dim], ['k', batch * seqK * kvHeads * dim],
      ['v', batch * seqK * kvHeads * dimV], ['the output', batch * seqQ * heads * dimV],
      ['the RoPE table', 2 * Math.max(seqQ, seqK) * dim],
    ]);
  }

  /** Null if RoPE of this many elements runs on this device, else the reason it cannot. */
  ropeUnsupported(count, seq, rotaryDim) {
    const groups = Math.ceil(count / ROPE_WORKGROUP);
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups > max * max) return `${count} elements exceed ${max}² workgroups of ${ROPE_WORKGROUP}`;
    return this.#bufferLimit([['x', count], ['the RoPE table', seq * rotaryDim]]);
  }

  // Calls run one after another: they share the pooled buffers.
  #serial(task) {
    const run = this.#queue.then(() => {
      const why = this.unavailable;
      if (why) throw new Error(`kexue: ${why}`);
      return task();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  // Encodes one dispatch plus the copy to the readback buffer, submits once, and reads back.
  async #run(pipeline, entries, groups, output, outBytes, count) {
    const device = this.#device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const readback = this.#pool.get('readback', outBytes, MAP_READ | COPY_DST);
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: entries.map(([buffer, size], binding) => ({ binding, resource: { buffer, offset: 0, size } })),
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...groups);
    pass.end();
    encoder.copyBufferToBuffer(output, 0, readback, 0, outBytes);
    device.queue.submit([encoder.finish()]);
    const validation = await device.popErrorScope();
    const memory = await device.popErrorScope();
    if (validation || memory) {
      throw new Error(`kexue: WebGPU ${validation ? 'validation' : 'out-of-memory'} error: ${(validation ?? memory).message}`);
    }
    await readback.mapAsync(1 /* GPUMapMode.READ */, 0, outBytes);
    const result = new Float32Array(count);
    result.set(new Float32Array(readback.getMappedRange(0, outBytes), 0, count));
    readback.unmap();
    return result;
  }

  // Uploads `data` into the pooled buffer of `role`; returns [buffer, bytes] for a binding.
  #upload(role, data) {
    const bytes = Math.max(data.byteLength, 4);
    const buffer = this.#pool.get(role, bytes, STORAGE | COPY_DST);
    if (data.byteLength > 0) this.#device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return [buffer, Math.ceil(bytes / 4) * 4];
  }

  // Packs `values` as the uniform struct `struct` (kernels.js) into the pooled buffer of `role`.
  #uniform(role, struct, values) {
    const data = struct.pack(values);
    const buffer = this.#pool.get(role, data.byteLength, UNIFORM | COPY_DST);
    this.#device.queue.writeBuffer(buffer, 0, data);
    return [buffer, data.byteLength];
  }

  /**
   * Attention forward on the GPU. `options` are the resolved options of the call (attentionPlan:
   * { batch, seqQ, seqK, heads, kvHeads, dim, dimV, causal, rope: { layout, rotaryDim } | null, … },
   * validated by C++); `rowScale` holds c_i per query row and `ropeTable` (cos, sin) per (position,
   * pair) from first position min(0, seqK − seqQ), both computed by C++ as the WASM kernel does.
   */
  attention(q, k, v, options, rowScale, ropeTable) {
    return this.#serial(async () => {
      const { batch, seqQ, seqK, heads, kvHeads, dim, dimV, causal, rope } = options;
      const { blockQ, blockK } = this.#attentionTiles(dim, dimV);
      const key = `attention d${dim} dv${dimV} q${blockQ} k${blockK}`;
      const kernel = KERNELS.attention;
      const pipeline = await this.#pipeline(key, kernel, { DIM: dim, DIM_V: dimV, BLOCK_Q: blockQ, BLOCK_K: blockK });
      const count = batch * seqQ * heads * dimV;
      const outBytes = count * 4;
      const output = this.#pool.get('out', outBytes, STORAGE | COPY_SRC);
      const shift = seqK - seqQ;
      const entries = [
        this.#upload('q', q), this.#upload('k', k), this.#upload('v', v), [output, outBytes],
        this.#upload('row scale', rowScale), this.#upload('rope table', ropeTable ?? new Float32Array(2)),
        this.#uniform('attention params', kernel.uniforms, {
          seq_q: seqQ, seq_k: seqK, heads, kv_heads: kvHeads, group: heads / kvHeads, causal: Boolean(causal),
          rope: Boolean(rope), rope_half: rope?.layout === 'half',
          rotary_pairs: rope ? rope.rotaryDim / 2 : 0, shift, first_position: Math.min(0, shift),
        }),
      ];
      return this.#run(pipeline, entries, [Math.ceil(seqQ / blockQ), heads, batch], output, outBytes, count);
    });
  }

  /**
   * RoPE of x [batch, seq, heads, dim] with the (cos, ±sin) table [seq, rotaryDim / 2]; `options`
   * are the resolved options of the call (ropePlan: { seq, heads, dim, layout, rotaryDim, … }).
   */
  rope(x, { seq, heads, dim, layout, rotaryDim }, table) {
    const half = layout === 'half';
    return this.#serial(async () => {
      const kernel = KERNELS.rope;
      const pipeline = await this.#pipeline(`rope w${ROPE_WORKGROUP}`, kernel, { WORKGROUP: ROPE_WORKGROUP });
      const count = x.length;
      const outBytes = count * 4;
      const output = this.#pool.get('rope out', outBytes, STORAGE | COPY_SRC);
      const entries = [
        this.#upload('rope x', x), [output, outBytes], this.#upload('rope table', table),
        this.#uniform('rope params', kernel.uniforms,
          { count, seq, heads, dim, rotary_pairs: rotaryDim / 2, half: Boolean(half) }),
      ];
      const groups = Math.ceil(count / ROPE_WORKGROUP);
      const x0 = Math.min(groups, this.limits.maxComputeWorkgroupsPerDimension);
      return this.#run(pipeline, entries, [x0, Math.ceil(groups / x0), 1], output, outBytes, count);
    });
  }

  /** Releases the device (and with it every buffer and pipeline). */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#pool.destroy();
    this.#pipelines.clear();
    this.#device.destroy();
  }
}
