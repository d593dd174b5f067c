// The WebGPU backend: finds an adapter and device, compiles the WGSL kernels beside this file
// (attention*.wgsl, rope.wgsl, composed with their uniform structs and shared snippets by
// kernels.js) once per configuration, keeps a pool of buffers reused across calls, and runs one
// submit per call — or one per piece when a call's tensors exceed one storage binding
// (attention_plan.js; docs/webgpu-tiling.md).
//
// Where the device comes from:
//   browsers  navigator.gpu (secure contexts only: https or http://127.0.0.1 / localhost)
//   Node      the optional `webgpu` npm package (Dawn; or the file KEXUE_WEBGPU_MODULE names). On
//             machines without a GPU, Dawn needs a
//             Vulkan driver, e.g. SwiftShader from Debian's chromium package:
//             VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
//   either    an explicit GPU object (init({ gpu })): anything with requestAdapter().
//
// Shapes beyond one dispatch are split: more workgroups than maxComputeWorkgroupsPerDimension² go
// to several dispatches, and tensors above maxStorageBufferBindingSize / maxBufferSize to pieces
// whose partial results the host combines (attention: exactly, through the logsumexp). What a
// device still cannot take (head dims whose K/V tile does not fit maxComputeWorkgroupStorageSize,
// one position of all heads above the binding limit) is reported by attentionUnsupported(); the
// facade then runs it on WASM (backend 'auto') or throws (backend 'webgpu'). Nothing fails
// silently.

import { KERNELS, kernelCode } from './kernels.js';
import { attentionPieces, attentionTiles, chunks, dispatchGrids } from './attention_plan.js';
import { toHalf } from './half.js';

// GPUBufferUsage / GPUMapMode flags (fixed by the WebGPU spec; Node's `webgpu` package does not
// install the globals unless asked to).
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const UNIFORM = 0x40;
const STORAGE = 0x80;

const runsOnNode = typeof process === 'object' && typeof process.versions?.node === 'string';

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
  // A variable, so that bundlers leave this optional import alone. KEXUE_WEBGPU_MODULE may name the
  // package's entry file elsewhere (scripts/gpu-bench.sh: a copy carried beside the repository).
  const name = process.env.KEXUE_WEBGPU_MODULE || 'webgpu';
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
  // f16 arithmetic (precision 'f16') and subgroup shuffles (several invocations per row) where the
  // adapter has them; the kernels work without either.
  const requiredFeatures = ['shader-f16', 'subgroups'].filter((name) => adapter.features?.has?.(name));
  const requiredLimits = {};
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension']) {
    if (typeof limits[name] === 'number') requiredLimits[name] = limits[name];
  }
  let device;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
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
    subgroupMinSize: raw.subgroupMinSize ?? 0,
    subgroupMaxSize: raw.subgroupMaxSize ?? 0,
    shaderF16: Boolean(device.features?.has?.('shader-f16')),
    subgroups: Boolean(device.features?.has?.('subgroups')),
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

// The names of the device limits the kernels plan with (init({ webgpu: { limits } }) may lower them).
export const PLANNED_LIMITS = Object.freeze(['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupsPerDimension']);

const ELEM_BYTES = { f32: 4, f16: 2 };

// The piece of a typed array holding rows [start, start + count) of `width` elements each.
function rows(array, start, count, width) {
  return array.subarray(start * width, (start + count) * width);
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
  #lanes;

  /** { vendor, architecture, device, description, subgroupMinSize, subgroupMaxSize, shaderF16, subgroups } of the adapter. */
  info;
  /** The device limits the kernels respect (lowered by init({ webgpu: { limits } })). */
  limits;

  /**
   * `limits` lowers the device limits the kernels plan for (tests force splits with it); `lanes`
   * fixes the invocations per attention row (1, 2, 4 or 8; bounded by the subgroup size).
   */
  constructor({ gpu, adapter, device, info }, { onLost, limits = {}, lanes } = {}) {
    this.#device = device;
    this.#onLost = onLost;
    this.#lanes = lanes;
    this.#keepAlive = [gpu, adapter]; // see nodeGpu()
    this.#pool = new BufferPool(device);
    this.info = Object.freeze({ ...info });
    const l = device.limits;
    this.limits = Object.freeze(Object.fromEntries(PLANNED_LIMITS.map((name) =>
      [name, Math.min(l[name], limits[name] ?? Infinity)])));
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

  /** The precision a call asking for `requested` ('f16' or 'f32') gets: f16 needs shader-f16. */
  precision(requested) {
    return requested === 'f16' && this.info.shaderF16 ? 'f16' : 'f32';
  }

  // One pipeline per key: `kernel` (one of KERNELS) specialised by `constants` and `options`
  // (kernelCode's { elem }).
  async #pipeline(kernel, constants, options = {}) {
    const key = `${kernel.entryPoint} ${options.elem ?? 'f32'} ${JSON.stringify(constants)}`;
    let pending = this.#pipelines.get(key);
    if (!pending) {
      pending = (async () => {
        const code = await kernelCode(kernel, constants, options);
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

  #features() {
    return { subgroups: this.info.subgroups, subgroupMinSize: this.info.subgroupMinSize };
  }

  // The attention kernels' tiles for (dim, dimV) at `precision` (attention_plan.js).
  #attentionTiles(dim, dimV, precision = 'f32') {
    return attentionTiles(this.limits, this.#features(), { dim, dimV, elemBytes: ELEM_BYTES[precision], lanes: this.#lanes });
  }

  get #maxBytes() {
    return Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
  }

  #attentionPieces(plan, precision) {
    return attentionPieces({ ...plan, rotaryPairs: plan.rope ? plan.rope.rotaryDim / 2 : 0 }, this.#maxBytes,
      ELEM_BYTES[precision], auxBytes(plan));
  }

  /**
   * Null if attention with these resolved options (attentionPlan) runs on this device, else why
   * it cannot: long sequences, many heads and large batches are split, so what is left is a K/V
   * tile that does not fit workgroup memory, or one position of all heads above the binding limit.
   */
  attentionUnsupported(options, precision = 'f32') {
    const missing = missingAttentionOption(options);
    if (missing) return `the WebGPU kernel does not implement ${missing} yet (backend 'auto' runs such calls on WASM)`;
    const { dim, dimV } = options;
    const tiles = this.#attentionTiles(dim, dimV, precision);
    if (tiles.error) return tiles.error;
    return this.#attentionPieces(options, precision).error ?? null;
  }

  /**
   * Null if RoPE runs on this device, else the reason it cannot: x is cut into pieces of whole
   * tokens, so only one token (heads·dim floats, `tokenElements`) or one table row (rotaryDim
   * floats) above the storage binding limit is refused.
   */
  ropeUnsupported(tokenElements, rotaryDim) {
    const max = this.#maxBytes;
    for (const [name, bytes] of [['one token of x', tokenElements * 4], ['one row of the RoPE table', rotaryDim * 4]]) {
      if (bytes > max) return `${name} needs ${bytes} bytes, above this device's storage buffer limit of ${max} bytes`;
    }
    return null;
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

  /**
   * Encodes `steps` in one compute pass, copies `reads` to one readback buffer, submits once and
   * resolves to a Float32Array per read. A step is { kernel, pipeline, role, entries: [[buffer,
   * bytes], …] (its bindings but the last, the uniforms), groups (workgroups, numbered linearly),
   * params(base) (the uniform values of the dispatch whose first workgroup is `base`) }; it gets
   * as many dispatches as the grid limit asks (dispatchGrids), each with its own uniform buffer.
   * A read is [buffer, count] (f32 elements from offset 0).
   */
  async #submit(steps, reads) {
    const device = this.#device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const step of steps) {
      const grids = step.groups === undefined ? [{ base: 0, x: step.grid[0], y: step.grid[1] }]
        : dispatchGrids(step.groups, this.limits.maxComputeWorkgroupsPerDimension);
      grids.forEach((grid, index) => {
        const params = this.#uniform(`${step.role} params ${index}`, step.kernel.uniforms, step.params(grid.base));
        const bindGroup = device.createBindGroup({
          layout: step.pipeline.getBindGroupLayout(0),
          entries: [...step.entries, params].map(([buffer, size], binding) => ({ binding, resource: { buffer, offset: 0, size } })),
        });
        pass.setPipeline(step.pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(grid.x, grid.y, 1);
      });
    }
    pass.end();
    const offsets = [];
    let total = 0;
    for (const [, count] of reads) {
      offsets.push(total);
      total += Math.max(count, 1) * 4;
    }
    const readback = this.#pool.get('readback', total, MAP_READ | COPY_DST);
    reads.forEach(([buffer, count], index) => {
      if (count > 0) encoder.copyBufferToBuffer(buffer, 0, readback, offsets[index], count * 4);
    });
    device.queue.submit([encoder.finish()]);
    const validation = await device.popErrorScope();
    const memory = await device.popErrorScope();
    if (validation || memory) {
      throw new Error(`kexue: WebGPU ${validation ? 'validation' : 'out-of-memory'} error: ${(validation ?? memory).message}`);
    }
    await readback.mapAsync(1 /* GPUMapMode.READ */, 0, total);
    const mapped = readback.getMappedRange(0, total);
    const results = reads.map(([, count], index) => new Float32Array(mapped, offsets[index], count).slice());
    readback.unmap();
    return results;
  }

  // Uploads `data` into the pooled buffer of `role`; returns [buffer, bytes] for a binding.
  #upload(role, data) {
    const bytes = Math.max(data.byteLength, 4);
    const buffer = this.#pool.get(role, bytes, STORAGE | COPY_DST);
    if (data.byteLength > 0) this.#device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return [buffer, Math.ceil(bytes / 4) * 4];
  }

  // A pooled storage buffer of `role` for `count` f32 results (read back or passed to the next step).
  #output(role, count) {
    const bytes = Math.max(count, 1) * 4;
    return [this.#pool.get(role, bytes, STORAGE | COPY_SRC | COPY_DST), bytes];
  }

  // Packs `values` as the uniform struct `struct` (kernels.js) into the pooled buffer of `role`.
  #uniform(role, struct, values) {
    const data = struct.pack(values);
    const buffer = this.#pool.get(role, data.byteLength, UNIFORM | COPY_DST);
    this.#device.queue.writeBuffer(buffer, 0, data);
    return [buffer, data.byteLength];
  }

  // The pipelines and tiles of the attention kernels for one call.
  async #attentionKernels(plan, precision, backward) {
    const { dim, dimV } = plan;
    const tiles = this.#attentionTiles(dim, dimV, precision);
    const { lanes, blockQ, blockK, dkvBlockQ, chunk } = tiles;
    const elem = precision;
    const forward = await this.#pipeline(KERNELS.attention,
      { DIM: dim, DIM_V: dimV, BLOCK_Q: blockQ, BLOCK_K: blockK, LANES: lanes, CHUNK: chunk }, { elem });
    if (!backward) return { tiles, forward };
    const dq = await this.#pipeline(KERNELS.attentionDq,
      { DIM: dim, DIM_V: dimV, BLOCK_Q: blockQ, BLOCK_K: blockK, LANES: lanes }, { elem });
    const dkv = await this.#pipeline(KERNELS.attentionDkv,
      { DIM: dim, DIM_V: dimV, BLOCK_Q: dkvBlockQ, BLOCK_K: blockQ, LANES: lanes }, { elem });
    const rope = plan.rope ? await this.#pipeline(KERNELS.rope, { WORKGROUP: ROPE_WORKGROUP }) : null;
    return { tiles, forward, dq, dkv, rope };
  }

  // The inputs of one piece of an attention call (rows of the call's tensors; see
  // attention_plan.js) uploaded, and its uniform values: { buffers, params(tiles, base, extra) }.
  // `tables` are attention_gpu.hpp's (attentionGpuTables) plus { bias, mask } ({ data, shape } or
  // null) of the call.
  #attentionPiece(plan, precision, tensors, tables, piece) {
    const { seqQ, seqK, heads, kvHeads, dim, dimV, causal, rope, window } = plan;
    const { b0, nb, i0, nq, j0, nk } = piece;
    // Batch entries b0 … b0 + nb − 1; with nb > 1 the piece holds whole sequences (nq = seqQ).
    const qStart = (b0 * seqQ + i0) * heads;
    const qRows = ((nb - 1) * seqQ + nq) * heads;
    const kStart = (b0 * seqK + j0) * kvHeads;
    const kRows = ((nb - 1) * seqK + nk) * kvHeads;
    const input = (array) => (precision === 'f16' ? toHalf(array) : array);
    const aux = packAux(plan, tables, piece);
    const buffers = {
      q: this.#upload('q', input(rows(tensors.q, qStart, qRows, dim))),
      k: this.#upload('k', input(rows(tensors.k, kStart, kRows, dim))),
      v: this.#upload('v', input(rows(tensors.v, kStart, kRows, dimV))),
      aux: this.#upload('aux', aux.words),
    };
    if (tensors.dOut) buffers.dOut = this.#upload('d out', rows(tensors.dOut, qStart, qRows, dimV));
    if (tensors.dOut && rope) {
      // rope.wgsl's tables for turning dq and dk back.
      buffers.ropeQ = this.#upload('rope q', aux.ropeQ);
      buffers.ropeK = this.#upload('rope k', aux.ropeK);
      buffers.ropeQBatchRows = aux.ropeQBatched ? nq : 0;
      buffers.ropeKBatchRows = aux.ropeKBatched ? nk : 0;
      buffers.rotateKeys = aux.params.rope_keys;
    }
    const statCount = nb * heads * nq;
    const params = (tiles, base, extra = {}) => ({
      batch: nb, seq_q: nq, seq_k: nk, heads, kv_heads: kvHeads, group: heads / kvHeads, tiles, group_base: base,
      q_offset: i0, k_offset: j0, seq_q_all: seqQ, seq_k_all: seqK, causal: Boolean(causal),
      window_left: window?.left ?? -1, window_right: window?.right ?? -1,
      rope: Boolean(rope), rope_half: rope?.layout === 'half', rotary_pairs: rope ? rope.rotaryDim / 2 : 0,
      q_sb: nq * heads, q_ss: heads, q_sh: 1, k_sb: nk * kvHeads, k_ss: kvHeads, k_sh: 1,
      ...aux.params, row_dot_at: statCount, row_dot_given: false, ...extra,
    });
    return { buffers, params };
  }

  // The forward step of a piece: out [nb, nq, heads, dimV] and the logsumexp [nb, heads, nq] (at
  // the start of outputs.stats).
  #forwardStep(kernels, piece, { buffers, params }, outputs) {
    const { blockQ } = kernels.tiles;
    const tiles = Math.ceil(piece.nq / blockQ);
    const b = buffers;
    return {
      kernel: KERNELS.attention, pipeline: kernels.forward, role: 'attention',
      entries: [b.q, b.k, b.v, outputs.out, outputs.stats, b.aux],
      groups: tiles * piece.heads * piece.nb, params: (base) => params(tiles, base),
    };
  }

  // RoPE's inverse of x (a piece's dq or dk in the rotated frame) into `out`, by the piece's table.
  #unrotateStep(kernels, role, plan, x, out, table, { nb, seq, heads, tableRows = 0 }) {
    const { rope, dim } = plan;
    const count = nb * seq * heads * dim;
    return {
      kernel: KERNELS.rope, pipeline: kernels.rope, role,
      entries: [x, out, table], groups: Math.ceil(count / ROPE_WORKGROUP),
      params: (base) => ({
        count, base: base * ROPE_WORKGROUP, seq, heads, dim, seg_pairs: rope.rotaryDim / 2, segments: 1,
        half: rope.layout === 'half', t_div: heads, table_sb: tableRows, sign: -1,
      }),
    };
  }

  // The pieces of a call: [{ b0, nb, i0, nq, j0, nk, heads }], grouped by (batch chunk, query chunk).
  #pieces(plan, precision) {
    const { batch, seqQ, seqK, heads } = plan;
    const { batchChunk, qChunk, kChunk } = this.#attentionPieces(plan, precision);
    const out = [];
    for (const b of chunks(batch, batchChunk)) {
      for (const i of chunks(seqQ, qChunk)) {
        out.push(chunks(seqK, kChunk).map((j) => ({
          b0: b.start, nb: b.count, i0: i.start, nq: i.count, j0: j.start, nk: j.count, heads,
        })));
      }
    }
    return out;
  }

  /**
   * Attention forward on the GPU. `options` are the resolved options of the call (attentionPlan:
   * { batch, seqQ, seqK, heads, kvHeads, dim, dimV, causal, rope: { layout, rotaryDim } | null, … },
   * validated by C++); `tables` = attention_gpu.hpp's side tables (attentionGpuTables: c_i, RoPE rows,
   * lengths, ALiBi slopes, computed by C++ as the WASM kernel computes them) and the call's { bias,
   * mask } ({ data, shape } or null).
   * `precision` 'f16' multiplies q·k in f16 (where the device has shader-f16). Resolves to
   * { out, lse } (lse [batch, heads, seqQ], filled only when the call was cut over its keys).
   */
  attention(q, k, v, options, tables, { precision = 'f32' } = {}) {
    return this.#serial(() => this.#attentionForward({ q, k, v }, options, tables, this.precision(precision)));
  }

  // The forward pass in pieces; the logsumexp is read back only when needed (pieces over keys, or
  // `withLse` for the backward pass in pieces).
  async #attentionForward(tensors, plan, tables, precision, withLse = false) {
    const { batch, seqQ, heads, dimV } = plan;
    const kernels = await this.#attentionKernels(plan, precision, false);
    const out = new Float32Array(batch * seqQ * heads * dimV);
    const lse = new Float32Array(batch * heads * seqQ);
    for (const keyPieces of this.#pieces(plan, precision)) {
      const { b0, nb, i0, nq } = keyPieces[0];
      // Partial results over the keys of each piece, combined through their logsumexp:
      // out = Σ_c e^{lse_c − lse} out_c, lse = log Σ_c e^{lse_c}.
      let accOut = null;
      let accLse = null;
      for (const piece of keyPieces) {
        const inputs = this.#attentionPiece(plan, precision, tensors, tables, piece);
        const outputs = { out: this.#output('out', nb * nq * heads * dimV), stats: this.#output('stats', nb * heads * nq) };
        const needLse = withLse || keyPieces.length > 1;
        const reads = [[outputs.out[0], nb * nq * heads * dimV]];
        if (needLse) reads.push([outputs.stats[0], nb * heads * nq]);
        const [partOut, partLse] = await this.#submit([this.#forwardStep(kernels, piece, inputs, outputs)], reads);
        if (accOut === null) {
          accOut = partOut;
          accLse = partLse;
        } else {
          combinePartials(accOut, accLse, partOut, partLse, { nb, nq, heads, dimV });
        }
      }
      out.set(accOut, (b0 * seqQ + i0) * heads * dimV);
      if (!accLse) continue;
      for (let b = 0; b < nb; ++b) {
        for (let h = 0; h < heads; ++h) {
          lse.set(accLse.subarray((b * heads + h) * nq, (b * heads + h + 1) * nq), ((b0 + b) * heads + h) * seqQ + i0);
        }
      }
    }
    return { out, lse };
  }

  /**
   * Attention backward on the GPU: { dq, dk, dv } from dOut, recomputing the forward pass's output
   * and logsumexp first (in the same submit when the call is one piece). Arguments as attention().
   */
  attentionBackward(q, k, v, dOut, options, tables, { precision = 'f32' } = {}) {
    return this.#serial(async () => {
      precision = this.precision(precision);
      const tensors = { q, k, v, dOut };
      const pieces = this.#pieces(options, precision);
      if (pieces.length === 1 && pieces[0].length === 1) return this.#backwardWhole(tensors, options, tables, precision);
      return this.#backwardInPieces(tensors, options, tables, precision, pieces);
    });
  }

  // The backward steps of one piece (dQ, dK/dV, and RoPE's inverse on dq and dk): outputs dq, dk, dv.
  #backwardSteps(kernels, plan, piece, inputs, stats, rowDotGiven) {
    const { heads, kvHeads, dim, dimV, rope } = plan;
    const { nb, nq, nk } = piece;
    const { blockQ } = kernels.tiles;
    const b = inputs.buffers;
    const dq = this.#output('dq', nb * nq * heads * dim);
    const dk = this.#output('dk', nb * nk * kvHeads * dim);
    const dv = this.#output('dv', nb * nk * kvHeads * dimV);
    const dqRotated = rope ? this.#output('dq rotated', nb * nq * heads * dim) : dq;
    // A cache of rotated keys is not turned: dK is w.r.t. the given, rotated K.
    const dkRotated = rope && b.rotateKeys ? this.#output('dk rotated', nb * nk * kvHeads * dim) : dk;
    const qTiles = Math.ceil(nq / blockQ);
    const kTiles = Math.ceil(nk / blockQ);
    const steps = [
      {
        kernel: KERNELS.attentionDq, pipeline: kernels.dq, role: 'attention dq',
        entries: [b.q, b.k, b.v, stats.out, b.dOut, stats.stats, dqRotated, b.aux],
        groups: qTiles * heads * nb, params: (base) => inputs.params(qTiles, base, { row_dot_given: rowDotGiven }),
      },
      {
        kernel: KERNELS.attentionDkv, pipeline: kernels.dkv, role: 'attention dkv',
        entries: [b.q, b.k, b.v, b.dOut, stats.stats, dkRotated, dv, b.aux],
        groups: kTiles * kvHeads * nb, params: (base) => inputs.params(kTiles, base),
      },
    ];
    if (rope) {
      steps.push(this.#unrotateStep(kernels, 'unrotate dq', plan, dqRotated, dq, b.ropeQ, { nb, seq: nq, heads, tableRows: b.ropeQBatchRows }));
      if (b.rotateKeys) {
        steps.push(this.#unrotateStep(kernels, 'unrotate dk', plan, dkRotated, dk, b.ropeK,
          { nb, seq: nk, heads: kvHeads, tableRows: b.ropeKBatchRows }));
      }
    }
    return { steps, dq, dk, dv };
  }

  // One piece: forward, dQ (which also computes D), dK/dV and the inverse rotations in one submit.
  async #backwardWhole(tensors, plan, tables, precision) {
    const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = plan;
    const kernels = await this.#attentionKernels(plan, precision, true);
    const piece = { b0: 0, nb: batch, i0: 0, nq: seqQ, j0: 0, nk: seqK, heads };
    const inputs = this.#attentionPiece(plan, precision, tensors, tables, piece);
    // stats: the logsumexp (forward), then D (dQ pass).
    const stats = { out: this.#output('out', batch * seqQ * heads * dimV), stats: this.#output('stats', 2 * batch * heads * seqQ) };
    const forward = this.#forwardStep(kernels, piece, inputs, stats);
    const { steps, dq, dk, dv } = this.#backwardSteps(kernels, plan, piece, inputs, stats, false);
    const statCount = batch * heads * seqQ;
    const reads = [
      [dq[0], batch * seqQ * heads * dim], [dk[0], batch * seqK * kvHeads * dim], [dv[0], batch * seqK * kvHeads * dimV],
    ];
    if (plan.sinks) reads.push([stats.stats[0], 2 * statCount]);
    const [dqOut, dkOut, dvOut, statsOut] = await this.#submit([forward, ...steps], reads);
    const grads = { dq: dqOut, dk: dkOut, dv: dvOut };
    if (plan.sinks) grads.dSinks = sinkGradients(tables.sinks, statsOut.subarray(0, statCount), statsOut.subarray(statCount), plan);
    return grads;
  }

  // Several pieces: the forward pass in pieces (out, lse combined on the host), D = rowsum(dO ∘ O)
  // on the host, then per piece the dQ and dK/dV contributions of its queries × keys, summed
  // in a fixed order (deterministic).
  async #backwardInPieces(tensors, plan, tables, precision, pieces) {
    const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = plan;
    const { out, lse } = await this.#attentionForward(tensors, plan, tables, precision, true);
    const rowDot = new Float32Array(batch * heads * seqQ);
    for (let b = 0; b < batch; ++b) {
      for (let i = 0; i < seqQ; ++i) {
        for (let h = 0; h < heads; ++h) {
          const base = ((b * seqQ + i) * heads + h) * dimV;
          let sum = 0;
          for (let d = 0; d < dimV; ++d) sum += out[base + d] * tensors.dOut[base + d];
          rowDot[(b * heads + h) * seqQ + i] = sum;
        }
      }
    }
    const kernels = await this.#attentionKernels(plan, precision, true);
    const dq = new Float32Array(batch * seqQ * heads * dim);
    const dk = new Float32Array(batch * seqK * kvHeads * dim);
    const dv = new Float32Array(batch * seqK * kvHeads * dimV);
    // [nb, heads, nq] rows of a [batch, heads, seqQ] statistic.
    const statRows = (stat, { b0, nb, i0, nq }) => {
      const part = new Float32Array(nb * heads * nq);
      for (let b = 0; b < nb; ++b) {
        for (let h = 0; h < heads; ++h) {
          const from = ((b0 + b) * heads + h) * seqQ + i0;
          part.set(stat.subarray(from, from + nq), (b * heads + h) * nq);
        }
      }
      return part;
    };
    const add = (target, offset, part) => {
      for (let e = 0; e < part.length; ++e) target[offset + e] += part[e];
    };
    for (const keyPieces of pieces) {
      for (const piece of keyPieces) {
        const { b0, nb, i0, nq, j0, nk } = piece;
        const inputs = this.#attentionPiece(plan, precision, tensors, tables, piece);
        const given = new Float32Array(2 * nb * heads * nq);
        given.set(statRows(lse, piece));
        given.set(statRows(rowDot, piece), nb * heads * nq);
        const stats = { out: this.#output('out', 1), stats: this.#upload('stats given', given) };
        const outputs = this.#backwardSteps(kernels, plan, piece, inputs, stats, true);
        const [dqPart, dkPart, dvPart] = await this.#submit(outputs.steps, [
          [outputs.dq[0], nb * nq * heads * dim], [outputs.dk[0], nb * nk * kvHeads * dim],
          [outputs.dv[0], nb * nk * kvHeads * dimV],
        ]);
        add(dq, (b0 * seqQ + i0) * heads * dim, dqPart);
        add(dk, (b0 * seqK + j0) * kvHeads * dim, dkPart);
        add(dv, (b0 * seqK + j0) * kvHeads * dimV, dvPart);
      }
    }
    const grads = { dq, dk, dv };
    if (plan.sinks) grads.dSinks = sinkGradients(tables.sinks, lse, rowDot, plan);
    return grads;
  }

  /**
   * For benchmarks: the GPU time of the attention kernels alone, without the uploads and
   * readbacks of a call. Uploads q, k, v (and dOut) once, then encodes the forward pass (or, with
   * `backward`, forward + dQ + dK/dV, as attentionBackward runs them) `repeats` times in one
   * submit and waits for the queue; resolves to the milliseconds that took. Benchmarks take the
   * difference of two repeat counts, which cancels the fixed submit and wait costs. The call must
   * be one piece (no split).
   */
  timeAttention(q, k, v, dOut, options, tables, { precision = 'f32', backward = false, repeats = 1 } = {}) {
    return this.#serial(async () => {
      precision = this.precision(precision);
      const pieces = this.#pieces(options, precision);
      if (pieces.length !== 1 || pieces[0].length !== 1) throw new Error('timeAttention: this shape needs pieces');
      const { batch, seqQ, seqK, heads, dimV } = options;
      const kernels = await this.#attentionKernels(options, precision, backward);
      const piece = pieces[0][0];
      const inputs = this.#attentionPiece(options, precision, { q, k, v, dOut: backward ? dOut : undefined }, tables, piece);
      const stats = { out: this.#output('out', batch * seqQ * heads * dimV), stats: this.#output('stats', 2 * batch * heads * seqQ) };
      let steps = [this.#forwardStep(kernels, piece, inputs, stats)];
      if (backward) steps = [...steps, ...this.#backwardSteps(kernels, options, piece, inputs, stats, false).steps];
      // Compile and size everything first.
      await this.#submit(steps, [[stats.stats[0], 1]]);
      const device = this.#device;
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let r = 0; r < repeats; ++r) {
        for (const step of steps) {
          // One grid per step is enough for benchmark shapes; the uniforms were written above.
          const grids = dispatchGrids(step.groups, this.limits.maxComputeWorkgroupsPerDimension);
          if (grids.length !== 1) throw new Error('timeAttention: this shape needs several dispatches');
          const params = this.#uniform(`${step.role} params 0`, step.kernel.uniforms, step.params(0));
          pass.setPipeline(step.pipeline);
          pass.setBindGroup(0, device.createBindGroup({
            layout: step.pipeline.getBindGroupLayout(0),
            entries: [...step.entries, params].map(([buffer, size], binding) => ({ binding, resource: { buffer, offset: 0, size } })),
          }));
          pass.dispatchWorkgroups(grids[0].x, grids[0].y, 1);
        }
      }
      pass.end();
      const start = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    });
  }

  // x rotated by `table` ((cos, ±sin) per position and pair) with rope.wgsl, in pieces of whole
  // positions when x exceeds one binding.
  #ropeApply(x, table, { batch, seq, heads, dim, segPairs, segments, half }) {
    return this.#serial(async () => {
      const kernel = KERNELS.rope;
      const pipeline = await this.#pipeline(kernel, { WORKGROUP: ROPE_WORKGROUP });
      const result = new Float32Array(x.length);
      // Pieces of whole tokens (all heads of a position), each within one binding. The table has a
      // row per position t of `seq` (seq may count every batch entry's tokens: per-batch positions).
      const tokens = x.length / (heads * dim);
      const pairs = segPairs * segments;
      const tokenBytes = Math.max(heads * dim * 4, pairs * 8);
      const perPiece = Math.max(1, Math.floor(this.#maxBytes / tokenBytes));
      const pieces = chunks(tokens, perPiece);
      for (const { start, count: pieceTokens } of pieces) {
        const count = pieceTokens * heads * dim;
        const xPiece = x.subarray(start * heads * dim, (start + pieceTokens) * heads * dim);
        let pieceTable = table;
        if (pieces.length > 1) {
          pieceTable = new Float32Array(pieceTokens * pairs * 2);
          for (let r = 0; r < pieceTokens; ++r) {
            const t = (start + r) % seq;
            pieceTable.set(table.subarray(t * pairs * 2, (t + 1) * pairs * 2), r * pairs * 2);
          }
        }
        const input = this.#upload('rope x', xPiece);
        const output = this.#output('rope out', count);
        const cs = this.#upload('rope table', pieceTable);
        const [piece] = await this.#submit([{
          kernel, pipeline, role: 'rope', entries: [input, output, cs], groups: Math.ceil(count / ROPE_WORKGROUP),
          params: (base) => ({
            count, base: base * ROPE_WORKGROUP, seq: pieces.length === 1 ? seq : pieceTokens, heads, dim,
            seg_pairs: segPairs, segments, half: Boolean(half), t_div: heads, table_sb: 0, sign: 1,
          }),
        }], [[output[0], count]]);
        result.set(piece, start * heads * dim);
      }
      return result;
    });
  }

  /**
   * RoPE of x [batch, seq, heads, dim] with the (cos, ±sin) table [seq, rotaryDim / 2]; `options`
   * are the resolved options of the call (ropePlan: { seq, heads, dim, layout, rotaryDim, … }).
   */
  rope(x, { batch, seq, heads, dim, layout, rotaryDim }, table) {
    return this.#ropeApply(x, table, { batch, seq, heads, dim, segPairs: rotaryDim / 2, segments: 1, half: layout === 'half' });
  }

  /**
   * 2D RoPE of x [batch, height·width, heads, dim] with the table [height·width, dim / 2] of
   * rope2d_cos_sin_table; `options` are the resolved options (rope2dPlan).
   */
  rope2d(x, { batch, height, width, heads, dim, layout, mode }, table) {
    const split = mode === 'split';
    return this.#ropeApply(x, table, {
      batch, seq: height * width, heads, dim, segPairs: split ? dim / 4 : dim / 2, segments: split ? 2 : 1,
      half: layout === 'half',
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

// Folds the partial attention (out, lse) of more keys into (accOut, accLse), row by row:
// [nb, nq, heads, dimV] and [nb, heads, nq]. Rows that saw no key have lse ≤ NO_SCORE (−3e38).
function combinePartials(accOut, accLse, partOut, partLse, { nb, nq, heads, dimV }) {
  for (let b = 0; b < nb; ++b) {
    for (let h = 0; h < heads; ++h) {
      for (let i = 0; i < nq; ++i) {
        const s = (b * heads + h) * nq + i;
        const a = accLse[s];
        const p = partLse[s];
        if (p <= -1e38) continue;
        const m = Math.max(a, p);
        const wa = a <= -1e38 ? 0 : Math.exp(a - m);
        const wp = Math.exp(p - m);
        const total = wa + wp;
        const base = ((b * nq + i) * heads + h) * dimV;
        for (let d = 0; d < dimV; ++d) accOut[base + d] = (accOut[base + d] * wa + partOut[base + d] * wp) / total;
        accLse[s] = m + Math.log(total);
      }
    }
  }
}

// Bytes per batch entry of a piece's aux buffer (attention_common.wgsl), for attentionPieces: what
// grows with its query rows, its keys, and their pairs (a bias or mask over both).
function auxBytes(plan) {
  const { heads, rope, bias, mask, seqLensQ, seqLensK, alibi } = plan;
  const pairs = rope ? rope.rotaryDim / 2 : 0;
  let fixed = 64 + (alibi ? heads * 4 : 0) + (seqLensQ || seqLensK ? plan.batch * 8 : 0);
  let perQuery = heads * 4 + pairs * 8;
  let perKey = pairs * 8;
  let perPair = 0;
  for (const [tensor, bytes] of [[bias, 4], [mask, 1]]) {
    if (!tensor) continue;
    const [, h, q, k] = tensor.shape;
    const per = h * bytes;
    if (q > 1 && k > 1) perPair += per;
    else if (q > 1) perQuery += per;
    else if (k > 1) perKey += per;
    else fixed += per;
  }
  return { fixed, perQuery, perKey, perPair };
}

// The piece's slice of a [batch|1, heads|1, seqQ|1, seqK|1] tensor (broadcast dims stay 1):
// { data, shape } in the piece's local indices (the tensor itself when the piece is the whole call).
function sliceBroadcast(data, shape, { b0, nb, i0, nq, j0, nk }, plan) {
  const [B, H, Q, K] = shape;
  const whole = (B === 1 || (b0 === 0 && nb === plan.batch)) && (Q === 1 || (i0 === 0 && nq === plan.seqQ)) &&
    (K === 1 || (j0 === 0 && nk === plan.seqK));
  if (whole) return { data, shape };
  const local = [B > 1 ? nb : 1, H, Q > 1 ? nq : 1, K > 1 ? nk : 1];
  const out = new data.constructor(local[0] * local[1] * local[2] * local[3]);
  let at = 0;
  for (let b = 0; b < local[0]; ++b) {
    for (let h = 0; h < H; ++h) {
      for (let i = 0; i < local[2]; ++i) {
        const gb = B > 1 ? b0 + b : 0;
        const gi = Q > 1 ? i0 + i : 0;
        const from = ((gb * H + h) * Q + gi) * K + (K > 1 ? j0 : 0);
        out.set(data.subarray(from, from + local[3]), at);
        at += local[3];
      }
    }
  }
  return { data: out, shape: local };
}

// Element strides of a [b, h, i, j] tensor of `shape` (0 where broadcast).
function broadcastStrides([B, H, Q, K]) {
  return { sb: B > 1 ? H * Q * K : 0, sh: H > 1 ? Q * K : 0, si: Q > 1 ? K : 0, sj: K > 1 ? 1 : 0 };
}

const LOWEST_F32 = -3.4028234663852886e38;
const NORMALIZE = { softmax: 0, relu2: 1, l2: 2 };

// The aux buffer of one piece (attention_common.wgsl) and its offsets and strides: { words
// (Uint32Array), params, ropeQ, ropeK, ropeQBatched }.
function packAux(plan, tables, piece) {
  const { heads, rope } = plan;
  const { b0, nb, i0, nq, j0, nk } = piece;
  const pairs = rope ? rope.rotaryDim / 2 : 0;
  const sections = [];
  let words = 0;
  const add = (array) => {
    const at = words;
    sections.push([at, array]);
    words += Math.ceil(array.byteLength / 4);
    return at;
  };
  const params = {};
  // c_i [batch|1, heads|1, rows|1].
  const [SB, SH, SI] = tables.scaleDims;
  const scale = sliceBroadcast(tables.rowScale, [SB, SH, SI, 1], { b0, nb, i0, nq, j0: 0, nk: 1 }, { ...plan, seqK: 1 });
  const [sb, , si] = scale.shape;
  params.scale_at = add(scale.data);
  // relu2's n_i, laid out like c_i.
  params.count_at = tables.visible
    ? add(sliceBroadcast(tables.visible, [SB, SH, SI, 1], { b0, nb, i0, nq, j0: 0, nk: 1 }, { ...plan, seqK: 1 }).data)
    : 0;
  params.rs_si = si > 1 ? 1 : 0;
  params.rs_sh = SH > 1 ? si : 0;
  params.rs_sb = sb > 1 ? SH * si : 0;
  // RoPE rows of the piece's queries (per batch entry when their positions differ) and keys.
  // The piece's rows of a [batch|1, seq, pairs] (cos, sin) table.
  const tableRows = (table, batched, seq, start, count) => {
    const width = 2 * pairs;
    if (!batched) return rows(table, start, count, width);
    const out = new Float32Array(nb * count * width);
    for (let b = 0; b < nb; ++b) out.set(rows(table, (b0 + b) * seq + start, count, width), b * count * width);
    return out;
  };
  const ropeQBatched = Boolean(rope) && tables.ropeQBatch > 1;
  const ropeKBatched = Boolean(tables.ropeK) && tables.ropeKBatch > 1;
  const ropeQ = rope ? tableRows(tables.ropeQ, ropeQBatched, plan.seqQ, i0, nq) : new Float32Array(0);
  const ropeK = tables.ropeK ? tableRows(tables.ropeK, ropeKBatched, plan.seqK, j0, nk) : new Float32Array(0);
  params.rope_q_at = add(ropeQ);
  params.rq_sb = ropeQBatched ? nq * 2 * pairs : 0;
  params.rope_keys = Boolean(tables.ropeK);
  // Self-attention at the default positions: the keys' rows are the queries' (stored once).
  const sameRows = ropeQ.length === ropeK.length && !ropeQBatched && !ropeKBatched && i0 === j0 &&
    ropeQ.every((value, index) => value === ropeK[index]);
  params.rope_k_at = sameRows ? params.rope_q_at : add(ropeK);
  params.rk_sb = ropeKBatched ? nk * 2 * pairs : 0;
  params.has_lengths = Boolean(tables.lengths);
  params.lengths_at = tables.lengths ? add(tables.lengths.subarray(2 * b0, 2 * (b0 + nb))) : 0;
  params.alibi = Boolean(tables.alibi);
  params.alibi_at = tables.alibi ? add(tables.alibi) : 0;
  params.has_sink = Boolean(tables.sinks);
  params.sink_at = tables.sinks ? add(tables.sinks) : 0;
  params.softcap = plan.softcap ?? 0;
  params.normalize = NORMALIZE[plan.normalize ?? 'softmax'];
  for (const [name, key, tensor] of [['bias', 'bias', tables.bias], ['mask', 'mask', tables.mask]]) {
    params[`has_${name}`] = Boolean(tensor);
    const local = tensor ? sliceBroadcast(tensor.data, tensor.shape, piece, plan) : null;
    let data = local?.data ?? new Uint8Array(0);
    if (name === 'bias' && local && data.includes(-Infinity)) {
      data = data.map((x) => (x === -Infinity ? LOWEST_F32 : x)); // WGSL may assume no infinities
    }
    const at = add(data);
    const strides = broadcastStrides(local?.shape ?? [1, 1, 1, 1]);
    // The mask is read by byte.
    params[`${key}_at`] = name === 'mask' ? 4 * at : at;
    params[`${key}_sb`] = strides.sb;
    params[`${key}_sh`] = strides.sh;
    params[`${key}_si`] = strides.si;
    params[`${key}_sj`] = strides.sj;
  }
  const buffer = new ArrayBuffer(Math.max(words, 1) * 4);
  const bytes = new Uint8Array(buffer);
  for (const [at, array] of sections) bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), at * 4);
  return { words: new Uint32Array(buffer), params, ropeQ, ropeK, ropeQBatched, ropeKBatched };
}

// The first option of a resolved attention plan the WGSL kernels do not implement, or null: the
// one list of what runs on WASM only ('auto' falls back, 'webgpu' rejects naming it). Empty now.
export function missingAttentionOption(plan) {
  return null;
}

// ∂L/∂z_h = −Σ_{b,i} e^{z_h − L_i} D_i over the rows of head h (attention.hpp): the sink's weight
// times its dS = P_sink (0 − D_i); lse and D are [batch, heads, seqQ].
function sinkGradients(sinks, lse, rowDot, { batch, heads, seqQ }) {
  const out = new Float32Array(heads);
  for (let h = 0; h < heads; ++h) {
    let sum = 0;
    for (let b = 0; b < batch; ++b) {
      for (let i = 0; i < seqQ; ++i) {
        const at = (b * heads + h) * seqQ + i;
        if (lse[at] > -1e38) sum += Math.exp(sinks[h] - lse[at]) * rowDot[at];
      }
    }
    out[h] = -sum;
  }
  return out;
}
