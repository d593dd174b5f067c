// RoPE (1D and 2D) and entropy-invariant attention: the JS side of src/attention/.
//
// Layouts (row-major):
//   rope / rope2d   x   [batch, seq, heads, dim]            (rope2d: seq = height·width)
//   attention       q   [batch, seqQ, heads,   dim]
//                   k   [batch, seqK, kvHeads, dim]
//                   v   [batch, seqK, kvHeads, dimV]
//                   out [batch, seqQ, heads,   dimV]         dq, dk, dv like q, k, v
//                   (layout 'bhsd': [batch, heads, seq, …] for all of them, PyTorch's order)
//
// Element types of attention: q, k, v are Float32Arrays, or float16 — a Float16Array where the JS
// engine has one, else a Uint16Array of IEEE 754 binary16 bits — converted to float32 inside the
// kernel as it packs its tiles. out (and dOut, dq, dk, dv) have options.outputType ('float32' or
// 'float16'; default: the inputs' type). A float16 result is an array of the kind of q when q is
// float16, else a Float16Array where the engine has one and a Uint16Array otherwise.
//
// The options are read, checked and completed by C++ (the field lists and validators in
// src/attention/rope.hpp and attention.hpp, through the `…Plan` bindings); this side checks only
// what C++ cannot see: the JS types and lengths of the arrays it copies into the heap (lengths from
// the resolved plan), NaN inside q, k, v and dOut (and NaN, +Infinity inside bias.data), the
// element type of q, k, v (float32 or float16), and the JS-only `backend` option. `bias` and `mask`
// cross as { shape } to C++ and as heap addresses of their data.
import { describe, exactView, requireChoice, requireFinite, requireFloat32Array, requireOptionsObject, requireTypedArray,
  resolvePlan, throwIfError, typedArrayKind, typedLength } from './errors.js';
import { withHeap } from './heap.js';

const BACKENDS = ['auto', 'wasm', 'webgpu'];

// Positions as a Float64Array of `length` numbers (an array or any typed array; bigints become
// numbers). Whether they are finite is the C++ validator's rule (rope_validate).
function requirePositions(fn, name, value, length, meaning) {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`${fn}: ${name} must be an array or typed array of numbers, received ${describe(value)}`);
  }
  if (ArrayBuffer.isView(value)) value = exactView(value);  // its own `length` may lie (errors.js)
  if (value.length !== length) {
    throw new RangeError(`${fn}: ${name} must have length ${meaning} = ${length}, received length ${value.length}`);
  }
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

// ---- element types ----------------------------------------------------------------------------

const FLOAT16_KINDS = ['Float16Array', 'Uint16Array'];
const hasFloat16Array = () => typeof globalThis.Float16Array === 'function';

// 'float32' for a Float32Array, 'float16' for a Float16Array or Uint16Array, else undefined.
function elementTypeOf(value) {
  const kind = typedArrayKind(value);
  if (kind === 'Float32Array') return 'float32';
  return FLOAT16_KINDS.includes(kind) ? 'float16' : undefined;
}

// A tensor of `type` with the element count of `dims`.
function requireTensor(fn, name, value, dims, type) {
  if (type === 'float32') return requireFloat32Array(fn, name, value, dims);
  return requireTypedArray(fn, name, value, dims, FLOAT16_KINDS,
    'a Float16Array or a Uint16Array of float16 bits (the element type of q, or outputType)');
}

// "name[i] must be finite": element i of `array` is NaN or ±Infinity (float16 bits are when all
// five exponent bits are set; the bits are shown).
function nonFiniteError(fn, name, array, i) {
  const view = exactView(array);
  if (typedArrayKind(array) !== 'Uint16Array') return new RangeError(`${fn}: ${name}[${i}] must be finite, received ${view[i]}`);
  const bits = view[i];
  const value = bits & 0x3ff ? NaN : bits & 0x8000 ? -Infinity : Infinity;
  return new RangeError(`${fn}: ${name}[${i}] must be finite, received ${value} (float16 bits 0x${bits.toString(16)})`);
}

// No NaN or ±Infinity, checked in JS (the WebGPU path, which copies nothing into the heap).
function requireFiniteTensor(fn, name, array) {
  if (typedArrayKind(array) !== 'Uint16Array') return requireFinite(fn, name, array);
  const bits = exactView(array);
  for (let i = 0; i < bits.length; ++i) if ((bits[i] & 0x7c00) === 0x7c00) throw nonFiniteError(fn, name, array, i);
}

// The dims of a [batch, seq, heads, width] tensor in the plan's layout, for messages and lengths.
function tensorDims(plan, seqName, headsName, widthName) {
  const dims = { batch: plan.batch, [seqName]: plan[seqName], [headsName]: plan[headsName], [widthName]: plan[widthName] };
  const order = plan.layout === 'bhsd' ? ['batch', headsName, seqName, widthName] : ['batch', seqName, headsName, widthName];
  return order.map((dimName) => [dimName, dims[dimName]]);
}

// q, k, v of the resolved shape and one element type. Returns the input and output element
// types, the output's element count, how to copy a tensor into the heap — refusing NaN and
// ±Infinity there, with a SIMD scan of the copy (core/finite.hpp: an element-by-element JS loop
// cost 0.4 ms per 2^18 floats, a tenth of a short call) — and how to read a result.
function checkAttentionInputs(fn, plan, q, k, v) {
  const inputType = elementTypeOf(q) ?? 'float32';  // anything else is refused as "not a Float32Array"
  requireTensor(fn, 'q', q, tensorDims(plan, 'seqQ', 'heads', 'dim'), inputType);
  requireTensor(fn, 'k', k, tensorDims(plan, 'seqK', 'kvHeads', 'dim'), inputType);
  requireTensor(fn, 'v', v, tensorDims(plan, 'seqK', 'kvHeads', 'dimV'), inputType);
  const outputType = plan.outputType ?? inputType;
  const kind16 = inputType === 'float16' ? typedArrayKind(q) : hasFloat16Array() ? 'Float16Array' : 'Uint16Array';
  return {
    inputType,
    outputType,
    outCount: plan.batch * plan.seqQ * plan.heads * plan.dimV,
    // The heap's copy of a result of the output type, as a new array.
    read(heap, pointer, count) {
      if (outputType === 'float32') return heap.read(pointer, count);
      const bits = heap.read16(pointer, count);
      return kind16 === 'Float16Array' ? new globalThis.Float16Array(bits.buffer) : bits;
    },
    // Copies a q, k, v or dOut into the heap and checks that it is finite; returns the address.
    input(heap, array, name) {
      const type = elementTypeOf(array);
      const pointer = type === 'float32' ? heap.input(array, name) : heap.input16(array, name);
      const count = typedLength(array);
      const first = heap.module.firstNonFinite(pointer, count, type);
      if (first < count) throw nonFiniteError(fn, name, array, first);
      return pointer;
    },
    bytes: outputType === 'float32' ? 4 : 2,
  };
}

// Why the WebGPU kernel cannot take this call's arrays (it reads float32 tensors), or null. The
// options it cannot take (layout 'bhsd', outputType 'float16', …) are the plan's wasmOnly.
function wasmOnlyReason(io) {
  return io.inputType !== 'float32' ? 'float16 tensors run on WASM only' : null;
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

  // The WebGPU kernel's c_i per query row and fused-RoPE (cos, sin) table, computed by C++ as the
  // WASM kernels compute them. The last ones are kept: a model calls attention with the same
  // options again and again.
  let lastGpuTables = { key: '', tables: null };
  function attentionGpuTables(fn, plan, options) {
    const key = JSON.stringify(plan);
    if (lastGpuTables.key !== key) {
      const tables = module.attentionGpuTables(options);
      throwIfError(fn, tables.error);
      lastGpuTables = { key, tables };
    }
    return lastGpuTables.tables;
  }

  /**
   * 1D RoPE of every [dim] vector of x [batch, seq, heads, dim]; token t sits at positions[t]
   * (default t). inverse: rotate by −position (the gradient of the rotation).
   */
  function rope(x, options) {
    const fn = 'rope';
    requireOptionsObject(fn, options, 'seq, dim');
    const plan = resolvePlan(fn, module.ropePlan(options));
    const { batch, seq, heads, dim, rotaryDim } = plan;
    const positions = requirePositions(fn, 'positions', options.positions, seq, 'seq');
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
        gpu = pickGpu(fn, backend, (g) => g.ropeUnsupported(x.length, seq, rotaryDim));
        if (gpu) {
          table = withHeap(module, (heap) => {
            const result = module.ropeTable(positions ? heap.inputF64(positions, 'positions') : 0, options);
            throwIfError(fn, result.error);
            return result.table;
          });
        }
      } catch (error) {
        return Promise.reject(error);
      }
      if (!gpu) return Promise.resolve(rope(x, { ...options, backend: 'wasm' }));
      return gpu.rope(x, plan, table).catch(async (error) => {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        return rope(x, { ...options, backend: 'wasm' }); // the device was lost mid-call
      });
    }

    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const positionsPtr = positions ? heap.inputF64(positions, 'positions') : 0;
      throwIfError(fn, module.ropeApply(xPtr, xPtr, positionsPtr, options));
      return heap.read(xPtr, x.length);
    });
  }

  /**
   * 2D RoPE of x [batch, height·width, heads, dim] (dim a multiple of 4). Token t defaults to
   * (x, y) = (t % width, floor(t / width)); positions gives (x0, y0, x1, y1, …) instead.
   * mode 'split': the first dim/2 dims turn with x, the rest with y; 'tie': RoPE-Tie (docs/math.md §1.5).
   */
  function rope2d(x, options) {
    const fn = 'rope2d';
    requireOptionsObject(fn, options, 'height, width, dim');
    const { batch, height, width, heads, dim } = resolvePlan(fn, module.rope2dPlan(options));
    const positions = requirePositions(fn, 'positions', options.positions, 2 * height * width, '2*height*width');
    requireFloat32Array(fn, 'x', x, [['batch', batch], ['height', height], ['width', width], ['heads', heads], ['dim', dim]]);
    requireFinite(fn, 'x', x);
    x = exactView(x);

    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const positionsPtr = positions ? heap.inputF64(positions, 'positions') : 0;
      throwIfError(fn, module.rope2dApply(xPtr, xPtr, positionsPtr, options));
      return heap.read(xPtr, x.length);
    });
  }

  /**
   * O = softmax(c_i · Q Kᵀ) V, fused and tiled; never forms the seqQ×seqK score matrix.
   * Returns a Promise (the WebGPU backend shares this call) of out [batch, seqQ, heads, dimV]
   * ([batch, heads, seqQ, dimV] with layout 'bhsd'), of options.outputType.
   */
  async function attention(q, k, v, options) {
    const fn = 'attention';
    requireOptionsObject(fn, options, 'seqQ, heads, dim');
    const { forCpp, data } = splitTensorOptions(options);
    const planned = module.attentionPlan(forCpp);
    const plan = resolvePlan(fn, planned);
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'auto');
    const io = checkAttentionInputs(fn, plan, q, k, v);
    const { outCount } = io;
    const tensors = checkTensorData(fn, plan, data);
    // Empty shapes (seqQ = 0, or seqK = 0: zeros) need no kernel; WASM answers them.
    const gpu = pickGpu(fn, backend, (g) => (planned.wasmOnly
      ? 'the WebGPU kernel does not implement seqLensQ, seqLensK, window, alibi, bias, mask, layout \'bhsd\' or float16 yet'
      : wasmOnlyReason(io) ?? g.attentionUnsupported(plan)));
    if (gpu && outCount > 0 && plan.seqK > 0) {
      for (const [name, x] of [['q', q], ['k', k], ['v', v]]) requireFiniteTensor(fn, name, x);
      try {
        const { rowScale, ropeTable } = attentionGpuTables(fn, plan, forCpp);
        return await gpu.attention(q, k, v, plan, rowScale, ropeTable);
      } catch (error) {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        // The device was lost mid-call: this call, and the later ones, run on WASM.
      }
    }
    return withHeap(module, (heap) => {
      const qPtr = io.input(heap, q, 'q');
      const kPtr = io.input(heap, k, 'k');
      const vPtr = io.input(heap, v, 'v');
      const oPtr = heap.alloc(outCount, 'the output', io.bytes);
      throwIfError(fn, module.attentionForward(qPtr, kPtr, vPtr, oPtr, 0, heapTensors(heap, tensors), io.inputType, forCpp));
      return io.read(heap, oPtr, outCount);
    });
  }

  /**
   * Gradients of L w.r.t. the un-rotated q, k, v, given dOut = ∂L/∂out (shape of out), with the
   * options of the forward call. Recomputes the forward pass, then P tile by tile.
   */
  function attentionBackward(q, k, v, dOut, options) {
    const fn = 'attentionBackward';
    requireOptionsObject(fn, options, 'seqQ, heads, dim');
    const { forCpp, data } = splitTensorOptions(options);
    const plan = resolvePlan(fn, module.attentionPlan(forCpp));
    if (requireChoice(fn, 'backend', options.backend, BACKENDS, 'auto') === 'webgpu') {
      throw new RangeError(`${fn}: backend must be 'auto' or 'wasm' (the backward pass runs on WASM), received 'webgpu'`);
    }
    const io = checkAttentionInputs(fn, plan, q, k, v);
    const { batch, seqQ, heads } = plan;
    // dOut = ∂L/∂out has the output's shape and element type.
    requireTensor(fn, 'dOut', dOut, tensorDims(plan, 'seqQ', 'heads', 'dimV'), io.outputType);
    const tensors = checkTensorData(fn, plan, data);
    return withHeap(module, (heap) => {
      const qPtr = io.input(heap, q, 'q');
      const kPtr = io.input(heap, k, 'k');
      const vPtr = io.input(heap, v, 'v');
      const dOutPtr = io.input(heap, dOut, 'dOut');
      const oPtr = heap.alloc(io.outCount, 'the output', io.bytes);
      const lsePtr = heap.alloc(batch * heads * seqQ, 'the logsumexp');
      const buffers = heapTensors(heap, tensors);
      throwIfError(fn, module.attentionForward(qPtr, kPtr, vPtr, oPtr, lsePtr, buffers, io.inputType, forCpp));
      const dqPtr = heap.alloc(typedLength(q), 'dq', io.bytes);
      const dkPtr = heap.alloc(typedLength(k), 'dk', io.bytes);
      const dvPtr = heap.alloc(typedLength(v), 'dv', io.bytes);
      throwIfError(fn, module.attentionBackward(qPtr, kPtr, vPtr, oPtr, lsePtr, dOutPtr, dqPtr, dkPtr, dvPtr, buffers,
        io.inputType, forCpp));
      return { dq: io.read(heap, dqPtr, typedLength(q)), dk: io.read(heap, dkPtr, typedLength(k)), dv: io.read(heap, dvPtr, typedLength(v)) };
    });
  }

  return { rope, rope2d, attention, attentionBackward };
}
