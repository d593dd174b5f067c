// RoPE (1D and 2D) and entropy-invariant attention: the JS side of src/attention/.
//
// Layouts (row-major):
//   rope / rope2d   x   [batch, seq, heads, dim]            (rope2d: seq = height·width)
//   attention       q   [batch, seqQ, heads,   dim]
//                   k   [batch, seqK, kvHeads, dim]
//                   v   [batch, seqK, kvHeads, dimV]
//                   out [batch, seqQ, heads,   dimV]         dq, dk, dv like q, k, v
//
// The options are read, checked and completed by C++ (the field lists and validators in
// src/attention/rope.hpp and attention.hpp, through the `…Plan` bindings); this side checks only
// what C++ cannot see: the JS types and lengths of the arrays it copies into the heap (lengths from
// the resolved plan), NaN inside q, k, v and dOut (and NaN, +Infinity inside bias.data), and the
// JS-only `backend` and `precision` options (where a call runs, and the GPU's multiplication
// precision). `bias` and `mask` cross as { shape } to C++ and as heap addresses of their data.
//
// Backends: kx.attention returns a Promise and runs on WebGPU when the instance holds a device
// (default 'auto'). kx.rope, kx.rope2d and kx.attentionBackward are synchronous on WASM by default;
// backend 'webgpu' or 'auto' makes them return a Promise and run on the GPU. Every check above
// runs first, on every backend, so bad input gets the same error wherever the call would run.
import { describe, exactView, requireChoice, requireFinite, requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError,
  typedArrayKind, typedLength } from './errors.js';
import { withHeap } from './heap.js';

const BACKENDS = ['auto', 'wasm', 'webgpu'];
const PRECISIONS = ['f32', 'f16'];

// The GPU's multiplication precision: 'f16' multiplies q·k in f16 (softmax statistics and sums in
// f32) where the adapter has shader-f16, f32 otherwise. WASM always computes in f32. The default
// follows the inputs' element type (f16 inputs: 'f16').
function requirePrecision(fn, options, q) {
  const byInput = q instanceof Uint16Array || (typeof Float16Array === 'function' && q instanceof Float16Array) ? 'f16' : 'f32';
  return requireChoice(fn, 'precision', options.precision, PRECISIONS, byInput);
}

// Positions as a Float64Array (an array or any typed array; bigints become numbers) of one of the
// `lengths`, each [length, meaning]: `seq` positions shared by the batch entries, or
// `batch*seq`, a row per entry. Whether they are finite is the C++ validator's rule.
function requirePositions(fn, name, value, ...lengths) {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`${fn}: ${name} must be an array or typed array of numbers, received ${describe(value)}`);
  }
  if (ArrayBuffer.isView(value)) value = exactView(value);  // its own `length` may lie (errors.js)
  const allowed = lengths.filter(([length], i) => lengths.findIndex(([other]) => other === length) === i);
  if (!allowed.some(([length]) => value.length === length)) {
    const expected = allowed.map(([length, meaning]) => `${meaning} = ${length}`).join(' or ');
    throw new RangeError(`${fn}: ${name} must have length ${expected}, received length ${value.length}`);
  }
  const length = value.length;
  const out = new Float64Array(length);
  for (let i = 0; i < length; ++i) {
    const entry = typeof value[i] === 'bigint' ? Number(value[i]) : value[i];
    if (typeof entry !== 'number') {
      throw new TypeError(`${fn}: ${name}[${i}] must be a finite number, received ${describe(value[i])}`);
    }
    out[i] = entry;
  }
  return out;
}

// q, k, v of the resolved shape, without NaN or ±Infinity; returns the output's element count.
function checkAttentionInputs(fn, plan, q, k, v) {
  const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = plan;
  requireFloat32Array(fn, 'q', q, [['batch', batch], ['seqQ', seqQ], ['heads', heads], ['dim', dim]]);
  requireFloat32Array(fn, 'k', k, [['batch', batch], ['seqK', seqK], ['kvHeads', kvHeads], ['dim', dim]]);
  requireFloat32Array(fn, 'v', v, [['batch', batch], ['seqK', seqK], ['kvHeads', kvHeads], ['dimV', dimV]]);
  requireFinite(fn, 'q', q);
  requireFinite(fn, 'k', k);
  requireFinite(fn, 'v', v);
  return batch * seqQ * heads * dimV;
}

// rope.positionsQ / rope.positionsK (arrays the facade copies into the heap; C++ reads the rest of
// rope) of the resolved shape as Float64Arrays, or null.
function attentionPositions(fn, plan, rope) {
  const { batch, seqQ, seqK } = plan;
  const { positionsQ, positionsK } = rope !== null && typeof rope === 'object' ? rope : {};
  return {
    q: requirePositions(fn, 'rope.positionsQ', positionsQ, [seqQ, 'seqQ'], [batch * seqQ, 'batch*seqQ']),
    k: requirePositions(fn, 'rope.positionsK', positionsK, [seqK, 'seqK'], [batch * seqK, 'batch*seqK']),
  };
}

// Copies the positions into the heap: { positionsQ, positionsQCount, positionsK, positionsKCount }
// (addresses, 0 when absent, and lengths), read by the attention bindings with the other buffers.
function heapPositions(heap, positions) {
  return {
    positionsQ: positions.q ? heap.inputF64(positions.q, 'rope.positionsQ') : 0, positionsQCount: positions.q?.length ?? 0,
    positionsK: positions.k ? heap.inputF64(positions.k, 'rope.positionsK') : 0, positionsKCount: positions.k?.length ?? 0,
  };
}

// `bias` and `mask` come as { data, shape }: C++ reads and checks the shape (the options object
// goes there without `data`), this side checks the data it copies. Returns the options for C++ and
// the two data arrays (undefined when absent).
function splitTensorOptions(options) {
  let forCpp = options;
  const data = {};
  for (const name of ['bias', 'mask']) {
    const value = options[name];
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value)) {
      const { data: array, ...rest } = value;
      data[name] = array;
      forCpp = { ...forCpp, [name]: rest };
    }
  }
  return { forCpp, data };
}

const product = (dims) => dims.reduce((a, b) => a * b, 1);

// bias.data: a Float32Array of the shape's element count; NaN and +Infinity refused, −Infinity
// allowed (a key removed, as by a false mask entry, except that n_i still counts it).
function requireBias(fn, data, shape) {
  const count = product(shape);
  if (typedArrayKind(data) !== 'Float32Array') {
    throw new TypeError(`${fn}: bias.data must be a Float32Array, received ${describe(data)}`);
  }
  if (typedLength(data) !== count) {
    throw new RangeError(`${fn}: bias.data must have length ${shape.join('*')} = ${count} for bias.shape ` +
      `[${shape.join(', ')}], received length ${typedLength(data)}`);
  }
  const view = exactView(data);
  for (let i = 0; i < count; ++i) {
    if (Number.isNaN(view[i]) || view[i] === Infinity) {
      throw new RangeError(`${fn}: bias.data[${i}] must be a number or -Infinity, received ${view[i]}`);
    }
  }
  return view;
}

// mask.data: 1 (or any nonzero byte, or true) means "may attend". A Uint8Array, Int8Array or
// Uint8ClampedArray is taken as it is; an Array of booleans or 0/1 is converted.
function requireMask(fn, data, shape) {
  const count = product(shape);
  const kind = typedArrayKind(data);
  const bytes = kind === 'Uint8Array' || kind === 'Int8Array' || kind === 'Uint8ClampedArray';
  if (!bytes && !Array.isArray(data)) {
    throw new TypeError(`${fn}: mask.data must be a Uint8Array (or an Array of booleans), received ${describe(data)}`);
  }
  const length = bytes ? typedLength(data) : data.length;
  if (length !== count) {
    throw new RangeError(`${fn}: mask.data must have length ${shape.join('*')} = ${count} for mask.shape ` +
      `[${shape.join(', ')}], received length ${length}`);
  }
  if (bytes) return new Uint8Array(exactView(data).buffer, exactView(data).byteOffset, count);
  const out = new Uint8Array(count);
  for (let i = 0; i < count; ++i) {
    const x = data[i];
    if (x === true || x === 1) out[i] = 1;
    else if (x !== false && x !== 0) {
      throw new TypeError(`${fn}: mask.data[${i}] must be a boolean, 0 or 1, received ${describe(x)}`);
    }
  }
  return out;
}

// The bias and mask data checked against the resolved plan (null when the option is off).
function checkTensorData(fn, plan, data) {
  return {
    bias: plan.bias ? requireBias(fn, data.bias, plan.bias.shape) : null,
    mask: plan.mask ? requireMask(fn, data.mask, plan.mask.shape) : null,
  };
}

// Copies the bias and mask into the heap: { bias, mask } addresses for the C++ call (0 when off).
function heapTensors(heap, tensors) {
  return {
    bias: tensors.bias ? heap.input(tensors.bias, 'bias.data') : 0,
    mask: tensors.mask ? heap.inputBytes(tensors.mask, 'mask.data') : 0,
  };
}

const noWebGpu = () => ({ backend: null, reason: "this instance was created with init({ backend: 'wasm' })" });

/**
 * Builds rope, rope2d, attention and attentionBackward bound to one WASM module instance.
 * `webgpu()` returns { backend, reason }: the instance's usable WebGpuBackend, or null and why
 * there is none (none requested, no adapter, lost, disposed).
 */
export function createAttentionFunctions(module, webgpu = noWebGpu) {
  // The usable GPU backend for a call asking for `requested`, or null for WASM; throws when
  // 'webgpu' was asked for and cannot be had. `unsupported(gpu)` says why a shape cannot run there.
  function pickGpu(fn, requested, unsupported) {
    if (requested === 'wasm') return null;
    const { backend, reason } = webgpu();
    const why = backend ? unsupported(backend) : reason;
    if (!why) return backend;
    if (requested === 'webgpu') {
      if (backend) throw new RangeError(`${fn}: backend 'webgpu' cannot run this shape: ${why}`);
      throw new Error(`${fn}: backend 'webgpu' is unavailable: ${why}`);
    }
    return null;
  }

  // What the WebGPU kernels read besides q, k, v (attention_gpu.hpp, computed by C++ by the rules
  // the WASM kernels follow), with the call's bias and mask data. The last tables are kept when
  // they cannot depend on the mask's or the positions' data: a model calls attention with the
  // same options again and again.
  let lastGpuTables = { key: '', tables: null };
  function attentionGpuTables(fn, plan, options, tensors, positions) {
    const key = plan.mask || positions.q || positions.k ? null : JSON.stringify(plan);
    let tables = key !== null && lastGpuTables.key === key ? lastGpuTables.tables : null;
    if (!tables) {
      tables = withHeap(module, (heap) => module.attentionGpuTables(
        { ...heapTensors(heap, tensors), ...heapPositions(heap, positions) }, options));
      throwIfError(fn, tables.error);
      if (key !== null) lastGpuTables = { key, tables };
    }
    return {
      ...tables,
      bias: tensors.bias ? { data: tensors.bias, shape: plan.bias.shape } : null,
      mask: tensors.mask ? { data: tensors.mask, shape: plan.mask.shape } : null,
    };
  }

  /**
   * 1D RoPE of every [dim] vector of x [batch, seq, heads, dim]; token t sits at positions[t]
   * (positions [seq]) or batch entry b's token t at positions[b*seq + t] (positions [batch, seq]),
   * default offset + t. inverse: rotate by −position (the gradient of the rotation).
   */
  function rope(x, options) {
    const fn = 'rope';
    requireOptionsObject(fn, options, 'seq, dim');
    const plan = resolvePlan(fn, module.ropePlan(options));
    const { batch, seq, heads, dim, rotaryDim } = plan;
    const positions = requirePositions(fn, 'positions', options.positions, [seq, 'seq'], [batch * seq, 'batch*seq']);
    const positionsCount = positions ? positions.length : 0;
    // Per-batch positions: the GPU kernel's table gets a row per (entry, token), which it indexes
    // as a sequence of batch·seq tokens.
    const gpuSeq = positionsCount > seq ? batch * seq : seq;
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'wasm');
    requireFloat32Array(fn, 'x', x, [['batch', batch], ['seq', seq], ['heads', heads], ['dim', dim]]);
    requireFinite(fn, 'x', x);
    // From here on x is a plain view of exactly its elements: its own `length` may lie (errors.js).
    x = exactView(x);

    // RoPE alone is synchronous on WASM (the default); backend 'webgpu' or 'auto' returns a Promise.
    if (backend !== 'wasm') {
      let gpu;
      let table;
      try {
        gpu = pickGpu(fn, backend, (g) => g.ropeUnsupported(heads * dim, rotaryDim));
        if (gpu) {
          table = withHeap(module, (heap) => {
            const result = module.ropeTable(positions ? heap.inputF64(positions, 'positions') : 0, positionsCount, options);
            throwIfError(fn, result.error);
            return result.table;
          });
        }
      } catch (error) {
        return Promise.reject(error);
      }
      if (!gpu) return Promise.resolve(rope(x, { ...options, backend: 'wasm' }));
      return gpu.rope(x, { ...plan, seq: gpuSeq }, table).catch(async (error) => {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        return rope(x, { ...options, backend: 'wasm' }); // the device was lost mid-call
      });
    }

    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const positionsPtr = positions ? heap.inputF64(positions, 'positions') : 0;
      throwIfError(fn, module.ropeApply(xPtr, xPtr, positionsPtr, positionsCount, options));
      return heap.read(xPtr, x.length);
    });
  }

  /**
   * The rotation's spectrum: θ_i for the rotaryDim / 2 pairs (base^(−2i/rotaryDim) changed by
   * ropeScaling) and the attention factor that multiplies the rotated dims (YaRN; else 1).
   */
  function ropeFrequencies(options) {
    const fn = 'ropeFrequencies';
    requireOptionsObject(fn, options, 'rotaryDim');
    const result = module.ropeFrequencies(options);
    throwIfError(fn, result.error);
    return { inverseFrequencies: result.inverseFrequencies, attentionFactor: result.attentionFactor };
  }

  /**
   * 2D RoPE of x [batch, height·width, heads, dim] (dim a multiple of 4). Token t defaults to
   * (x, y) = (t % width, floor(t / width)); positions gives (x0, y0, x1, y1, …) instead.
   * mode 'split': the first dim/2 dims turn with x, the rest with y; 'tie': RoPE-Tie (docs/math.md §1.5).
   */
  function rope2d(x, options) {
    const fn = 'rope2d';
    requireOptionsObject(fn, options, 'height, width, dim');
    const plan = resolvePlan(fn, module.rope2dPlan(options));
    const { batch, height, width, heads, dim } = plan;
    const positions = requirePositions(fn, 'positions', options.positions, [2 * height * width, '2*height*width']);
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'wasm');
    requireFloat32Array(fn, 'x', x, [['batch', batch], ['height', height], ['width', width], ['heads', heads], ['dim', dim]]);
    requireFinite(fn, 'x', x);
    x = exactView(x);

    // Synchronous on WASM (the default); backend 'webgpu' or 'auto' returns a Promise.
    if (backend !== 'wasm') {
      let gpu;
      let table;
      try {
        gpu = pickGpu(fn, backend, (g) => g.ropeUnsupported(heads * dim, dim));
        if (gpu) {
          table = withHeap(module, (heap) => {
            const result = module.rope2dTable(positions ? heap.inputF64(positions, 'positions') : 0, options);
            throwIfError(fn, result.error);
            return result.table;
          });
        }
      } catch (error) {
        return Promise.reject(error);
      }
      if (!gpu) return Promise.resolve(rope2d(x, { ...options, backend: 'wasm' }));
      return gpu.rope2d(x, plan, table).catch(async (error) => {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        return rope2d(x, { ...options, backend: 'wasm' }); // the device was lost mid-call
      });
    }

    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const positionsPtr = positions ? heap.inputF64(positions, 'positions') : 0;
      throwIfError(fn, module.rope2dApply(xPtr, xPtr, positionsPtr, options));
      return heap.read(xPtr, x.length);
    });
  }

  /**
   * O = softmax(c_i · Q Kᵀ) V, fused and tiled; never forms the seqQ×seqK score matrix.
   * Returns a Promise (the WebGPU backend shares this call) of out [batch, seqQ, heads, dimV].
   */
  async function attention(q, k, v, options) {
    const fn = 'attention';
    requireOptionsObject(fn, options, 'seqQ, heads, dim');
    const { forCpp, data } = splitTensorOptions(options);
    const plan = resolvePlan(fn, module.attentionPlan(forCpp));
    const positions = attentionPositions(fn, plan, options.rope);
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'auto');
    const precision = requirePrecision(fn, options, q);
    const outCount = checkAttentionInputs(fn, plan, q, k, v);
    const tensors = checkTensorData(fn, plan, data);
    // Empty shapes (seqQ = 0, or seqK = 0: zeros) need no kernel; WASM answers them.
    const gpu = pickGpu(fn, backend, (g) => g.attentionUnsupported(plan, g.precision(precision)));
    if (gpu && outCount > 0 && plan.seqK > 0) {
      try {
        const tables = attentionGpuTables(fn, plan, forCpp, tensors, positions);
        const { out } = await gpu.attention(exactView(q), exactView(k), exactView(v), plan, tables, { precision });
        return out;
      } catch (error) {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        // The device was lost mid-call: this call, and the later ones, run on WASM.
      }
    }
    return withHeap(module, (heap) => {
      const qPtr = heap.input(q, 'q');
      const kPtr = heap.input(k, 'k');
      const vPtr = heap.input(v, 'v');
      const oPtr = heap.alloc(outCount, 'the output');
      const buffers = { ...heapTensors(heap, tensors), ...heapPositions(heap, positions) };
      throwIfError(fn, module.attentionForward(qPtr, kPtr, vPtr, oPtr, 0, buffers, forCpp));
      return heap.read(oPtr, outCount);
    });
  }

  /**
   * Gradients of L w.r.t. the un-rotated q, k, v, given dOut = ∂L/∂out (shape of out), with the
   * options of the forward call. Recomputes the forward pass, then P tile by tile. Synchronous on
   * WASM (the default); backend 'webgpu' or 'auto' returns a Promise and runs on the GPU.
   */
  function attentionBackward(q, k, v, dOut, options) {
    const fn = 'attentionBackward';
    requireOptionsObject(fn, options, 'seqQ, heads, dim');
    const { forCpp, data } = splitTensorOptions(options);
    const plan = resolvePlan(fn, module.attentionPlan(forCpp));
    const positions = attentionPositions(fn, plan, options.rope);
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'wasm');
    const precision = requirePrecision(fn, options, q);
    const outCount = checkAttentionInputs(fn, plan, q, k, v);
    const { batch, seqQ, heads, dimV } = plan;
    requireFloat32Array(fn, 'dOut', dOut, [['batch', batch], ['seqQ', seqQ], ['heads', heads], ['dimV', dimV]]);
    requireFinite(fn, 'dOut', dOut);
    const tensors = checkTensorData(fn, plan, data);

    if (backend !== 'wasm') {
      const onWasm = () => attentionBackward(q, k, v, dOut, { ...options, backend: 'wasm' });
      let gpu;
      let tables;
      try {
        gpu = pickGpu(fn, backend, (g) => g.attentionUnsupported(plan, g.precision(precision)));
        // Empty shapes need no kernel (zeros); WASM answers them.
        if (gpu && outCount > 0 && plan.seqK > 0) tables = attentionGpuTables(fn, plan, forCpp, tensors, positions);
        else gpu = null;
      } catch (error) {
        return Promise.reject(error);
      }
      if (!gpu) return Promise.resolve().then(onWasm);
      return gpu.attentionBackward(exactView(q), exactView(k), exactView(v), exactView(dOut), plan, tables, { precision })
        .catch(async (error) => {
          if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
          return onWasm(); // the device was lost mid-call: this call, and the later ones, run on WASM
        });
    }

    return withHeap(module, (heap) => {
      const qPtr = heap.input(q, 'q');
      const kPtr = heap.input(k, 'k');
      const vPtr = heap.input(v, 'v');
      const dOutPtr = heap.input(dOut, 'dOut');
      const oPtr = heap.alloc(outCount, 'the output');
      const lsePtr = heap.alloc(batch * heads * seqQ, 'the logsumexp');
      const buffers = { ...heapTensors(heap, tensors), ...heapPositions(heap, positions) };
      throwIfError(fn, module.attentionForward(qPtr, kPtr, vPtr, oPtr, lsePtr, buffers, forCpp));
      const dqPtr = heap.alloc(typedLength(q), 'dq');
      const dkPtr = heap.alloc(typedLength(k), 'dk');
      const dvPtr = heap.alloc(typedLength(v), 'dv');
      // ∂L/∂sinks, one per head, when the call has sinks (attention.hpp: −Σ_i e^{z_h − L_i} D_i).
      const dSinksPtr = plan.sinks ? heap.alloc(heads, 'dSinks') : 0;
      throwIfError(fn, module.attentionBackward(qPtr, kPtr, vPtr, oPtr, lsePtr, dOutPtr, dqPtr, dkPtr, dvPtr, dSinksPtr,
        buffers, forCpp));
      const grads = { dq: heap.read(dqPtr, typedLength(q)), dk: heap.read(dkPtr, typedLength(k)), dv: heap.read(dvPtr, typedLength(v)) };
      if (plan.sinks) grads.dSinks = heap.read(dSinksPtr, heads);
      return grads;
    });
  }

  return { rope, ropeFrequencies, rope2d, attention, attentionBackward };
}
