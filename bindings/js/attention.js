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
// element type of q, k, v (float32 or float16), and the JS-only `backend` and `precision` options
// (where a call runs, and the GPU's multiplication precision). `bias` and `mask` cross as
// { shape } to C++ and as heap addresses of their data.
//
// Backends: kx.attention returns a Promise and runs on WebGPU when the instance holds a device
// (default 'auto'). kx.rope, kx.rope2d and kx.attentionBackward are synchronous on WASM by default;
// backend 'webgpu' or 'auto' makes them return a Promise and run on the GPU. Every check above
// runs first, on every backend, so bad input gets the same error wherever the call would run.
import { describe, exactView, requireChoice, requireFinite, requireFloat32Array, requireOptionsObject, requireTypedArray,
  resolvePlan, throwIfError, typedArrayKind, typedLength } from './errors.js';
import { withHeap } from './heap.js';
import { halfBits, halfValue } from '../webgpu/half.js';

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
    kind16,
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

// ---- the WebGPU kernels' tensors --------------------------------------------------------------
// The WGSL kernels read and write float32 [batch, seq, heads, width] tensors. Other layouts and
// element types are converted on the host around the call: O(n·d) work next to the kernel's
// O(n²·d), exact for float16 → float32, and rounded to nearest even for float32 → float16 as the
// WASM kernels' write_row does (core/float16.hpp), so both backends return the same results. The
// conversions are the WebGPU backend's own (bindings/webgpu/half.js).

// x [batch, a, b, width] → [batch, b, a, width].
function swapMiddleAxes(x, batch, a, b, width) {
  const out = new Float32Array(x.length);
  for (let n = 0; n < batch; ++n) {
    for (let i = 0; i < a; ++i) {
      for (let j = 0; j < b; ++j) {
        const from = ((n * a + i) * b + j) * width;
        out.set(x.subarray(from, from + width), ((n * b + j) * a + i) * width);
      }
    }
  }
  return out;
}

// A q, k, v or dOut as the kernels read it: float32, [batch, seq, heads, width]. `dims` names the
// plan's fields for seq, heads and width.
function toGpuTensor(x, plan, [seqName, headsName, widthName]) {
  let out;
  const kind = typedArrayKind(x);
  if (kind === 'Float32Array') out = exactView(x);
  else if (kind === 'Uint16Array') out = Float32Array.from(exactView(x), halfValue);
  else out = new Float32Array(exactView(x));  // a Float16Array converts exactly
  if (plan.layout !== 'bhsd') return out;
  return swapMiddleAxes(out, plan.batch, plan[headsName], plan[seqName], plan[widthName]);
}

// A float32 [batch, seq, heads, width] result of the kernels in the call's layout and output type.
function fromGpuTensor(x, plan, io, [seqName, headsName, widthName]) {
  const out = plan.layout === 'bhsd' ? swapMiddleAxes(x, plan.batch, plan[seqName], plan[headsName], plan[widthName]) : x;
  if (io.outputType === 'float32') return out;
  if (io.kind16 === 'Float16Array') return new globalThis.Float16Array(out);
  return Uint16Array.from(out, halfBits);
}

const Q_DIMS = ['seqQ', 'heads', 'dim'];
const K_DIMS = ['seqK', 'kvHeads', 'dim'];
const V_DIMS = ['seqK', 'kvHeads', 'dimV'];
const O_DIMS = ['seqQ', 'heads', 'dimV'];

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
   * Returns a Promise (the WebGPU backend shares this call) of out [batch, seqQ, heads, dimV]
   * ([batch, heads, seqQ, dimV] with layout 'bhsd'), of options.outputType.
   */
  async function attention(q, k, v, options) {
    const fn = 'attention';
    requireOptionsObject(fn, options, 'seqQ, heads, dim');
    const { forCpp, data } = splitTensorOptions(options);
    const plan = resolvePlan(fn, module.attentionPlan(forCpp));
    const positions = attentionPositions(fn, plan, options.rope);
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'auto');
    const precision = requirePrecision(fn, options, q);
    const io = checkAttentionInputs(fn, plan, q, k, v);
    const { outCount } = io;
    const tensors = checkTensorData(fn, plan, data);
    // Empty shapes (seqQ = 0, or seqK = 0: zeros) need no kernel; WASM answers them.
    const gpu = pickGpu(fn, backend, (g) => g.attentionUnsupported(plan, g.precision(precision)));
    if (gpu && outCount > 0 && plan.seqK > 0) {
      for (const [name, x] of [['q', q], ['k', k], ['v', v]]) requireFiniteTensor(fn, name, x);
      try {
        const tables = attentionGpuTables(fn, plan, forCpp, tensors, positions);
        const { out } = await gpu.attention(toGpuTensor(q, plan, Q_DIMS), toGpuTensor(k, plan, K_DIMS),
          toGpuTensor(v, plan, V_DIMS), plan, tables, { precision });
        return fromGpuTensor(out, plan, io, O_DIMS);
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
      const buffers = { ...heapTensors(heap, tensors), ...heapPositions(heap, positions) };
      throwIfError(fn, module.attentionForward(qPtr, kPtr, vPtr, oPtr, 0, buffers, io.inputType, forCpp));
      return io.read(heap, oPtr, outCount);
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
    const io = checkAttentionInputs(fn, plan, q, k, v);
    const { outCount } = io;
    const { batch, seqQ, heads } = plan;
    // dOut = ∂L/∂out has the output's shape and element type.
    requireTensor(fn, 'dOut', dOut, tensorDims(plan, 'seqQ', 'heads', 'dimV'), io.outputType);
    const tensors = checkTensorData(fn, plan, data);

    if (backend !== 'wasm') {
      // The WASM path finds NaN/±Infinity in its heap copies; the GPU path copies nothing there, so
      // they are looked for here, synchronously, as every other check (the same error either way).
      for (const [name, x] of [['q', q], ['k', k], ['v', v], ['dOut', dOut]]) requireFiniteTensor(fn, name, x);
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
      return gpu.attentionBackward(toGpuTensor(q, plan, Q_DIMS), toGpuTensor(k, plan, K_DIMS), toGpuTensor(v, plan, V_DIMS),
        toGpuTensor(dOut, plan, O_DIMS), plan, tables, { precision })
        .then((grads) => {
          const converted = { dq: fromGpuTensor(grads.dq, plan, io, Q_DIMS), dk: fromGpuTensor(grads.dk, plan, io, K_DIMS),
            dv: fromGpuTensor(grads.dv, plan, io, V_DIMS) };
          if (grads.dSinks) converted.dSinks = grads.dSinks;
          return converted;
        }, async (error) => {
          if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
          return onWasm(); // the device was lost mid-call: this call, and the later ones, run on WASM
        });
    }

    return withHeap(module, (heap) => {
      const qPtr = io.input(heap, q, 'q');
      const kPtr = io.input(heap, k, 'k');
      const vPtr = io.input(heap, v, 'v');
      const dOutPtr = io.input(heap, dOut, 'dOut');
      const oPtr = heap.alloc(io.outCount, 'the output', io.bytes);
      const lsePtr = heap.alloc(batch * heads * seqQ, 'the logsumexp');
      const buffers = { ...heapTensors(heap, tensors), ...heapPositions(heap, positions) };
      throwIfError(fn, module.attentionForward(qPtr, kPtr, vPtr, oPtr, lsePtr, buffers, io.inputType, forCpp));
      const dqPtr = heap.alloc(typedLength(q), 'dq', io.bytes);
      const dkPtr = heap.alloc(typedLength(k), 'dk', io.bytes);
      const dvPtr = heap.alloc(typedLength(v), 'dv', io.bytes);
      // ∂L/∂sinks, one per head, when the call has sinks (attention.hpp: −Σ_i e^{z_h − L_i} D_i).
      const dSinksPtr = plan.sinks ? heap.alloc(heads, 'dSinks') : 0;
      throwIfError(fn, module.attentionBackward(qPtr, kPtr, vPtr, oPtr, lsePtr, dOutPtr, dqPtr, dkPtr, dvPtr, dSinksPtr,
        buffers, io.inputType, forCpp));
      const grads = { dq: io.read(heap, dqPtr, typedLength(q)), dk: io.read(heap, dkPtr, typedLength(k)), dv: io.read(heap, dvPtr, typedLength(v)) };
      if (plan.sinks) grads.dSinks = heap.read(dSinksPtr, heads);
      return grads;
    });
  }

  return { rope, ropeFrequencies, rope2d, attention, attentionBackward };
}
