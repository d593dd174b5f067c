// RoPE (1D and 2D) and entropy-invariant attention: the JS side of src/attention/.
//
// Layouts (row-major):
//   rope / rope2d   x   [batch, seq, heads, dim]            (rope2d: seq = height·width)
//   attention       q   [batch, seqQ, heads,   dim]
//                   k   [batch, seqK, kvHeads, dim]
//                   v   [batch, seqK, kvHeads, dimV]
//                   out [batch, seqQ, heads,   dimV]         dq, dk, dv like q, k, v
//
// The WASM modules are built without C++ exceptions, so every rule the core enforces
// (attention_validate, rope_apply) is checked here first, buffer lengths included.
import { describe, elementCount, requireBoolean, requireChoice, requireFinite, requireFloat32Array, requireOptions, requireSize } from './errors.js';
import { withHeap } from './heap.js';

const LAYOUTS = ['interleaved', 'half'];
const BACKENDS = ['auto', 'wasm', 'webgpu'];
const MODES_2D = ['split', 'tie'];


// A finite number, optionally above a bound (exclusive or inclusive).
function requireNumber(fn, name, value, fallback, { above, atLeast } = {}) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${fn}: ${name} must be a finite number, received ${describe(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${fn}: ${name} must be a finite number, received ${describe(value)}`);
  if (above !== undefined && !(value > above)) {
    throw new RangeError(`${fn}: ${name} must be greater than ${above}, received ${value}`);
  }
  if (atLeast !== undefined && !(value >= atLeast)) {
    throw new RangeError(`${fn}: ${name} must be at least ${atLeast}, received ${value}`);
  }
  return value;
}

// A count that may be zero (seqK = 0: rows that see no key give zeros).
function requireCount(fn, name, value, fallback) {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${fn}: ${name} must be a non-negative integer, received ${describe(value)}`);
  if (!Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) {
    throw new RangeError(`${fn}: ${name} must be a non-negative integer, received ${describe(value)}`);
  }
  return value;
}

function optionalSize(fn, name, value, fallback) {
  return value === undefined ? fallback : requireSize(fn, name, value);
}

// Positions as a Float64Array of `length` finite numbers (an array or any typed array).
function requirePositions(fn, name, value, length, meaning) {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    throw new TypeError(`${fn}: ${name} must be an array or typed array of numbers, received ${describe(value)}`);
  }
  if (value.length !== length) {
    throw new RangeError(`${fn}: ${name} must have length ${meaning} = ${length}, received length ${value.length}`);
  }
  const out = new Float64Array(length);
  for (let i = 0; i < length; ++i) {
    const entry = typeof value[i] === 'bigint' ? Number(value[i]) : value[i];
    if (typeof entry !== 'number' || !Number.isFinite(entry)) {
      throw new RangeError(`${fn}: ${name}[${i}] must be a finite number, received ${describe(value[i])}`);
    }
    out[i] = entry;
  }
  return out;
}


function requireEvenDim(fn, name, value, why) {
  if (value % 2 !== 0) throw new RangeError(`${fn}: ${name} must be even (${why}), received ${value}`);
}

// The options shared by attention and attentionBackward, checked and completed with defaults.
function attentionConfig(fn, options) {
  if (options === undefined) {
    throw new TypeError(`${fn}: options { seqQ, heads, dim } are required, received undefined`);
  }
  const o = requireOptions(fn, options);
  const batch = optionalSize(fn, 'batch', o.batch, 1);
  const seqQ = requireCount(fn, 'seqQ', o.seqQ);
  const seqK = requireCount(fn, 'seqK', o.seqK, seqQ);
  const heads = requireSize(fn, 'heads', o.heads);
  const kvHeads = optionalSize(fn, 'kvHeads', o.kvHeads, heads);
  if (heads % kvHeads !== 0) {
    throw new RangeError(`${fn}: heads must be a multiple of kvHeads = ${kvHeads} (grouped-query attention), ` +
      `received heads = ${heads}`);
  }
  const dim = requireSize(fn, 'dim', o.dim);
  const dimV = optionalSize(fn, 'dimV', o.dimV, dim);
  const causal = requireBoolean(fn, 'causal', o.causal, false);
  if (causal && seqQ > seqK) {
    throw new RangeError(`${fn}: causal attention needs seqQ <= seqK (query i sits at position ` +
      `seqK - seqQ + i), received seqQ = ${seqQ}, seqK = ${seqK}`);
  }

  let scale = 'entropy';
  let fixedScale = 1;
  if (typeof o.scale === 'number') {
    if (!Number.isFinite(o.scale)) {
      throw new RangeError(`${fn}: scale must be 'entropy', 'standard' or a finite number, received ${o.scale}`);
    }
    scale = 'fixed';
    fixedScale = o.scale;
  } else if (o.scale !== undefined) {
    scale = requireChoice(fn, 'scale', o.scale, ['entropy', 'standard'], 'entropy');
  }
  const baseLen = requireNumber(fn, 'baseLen', o.baseLen, 512, { above: 1 });
  const nMin = requireNumber(fn, 'nMin', o.nMin, 16, { atLeast: 1 });
  const clipBelowOne = requireBoolean(fn, 'clipBelowOne', o.clipBelowOne, false);

  let rope = false;
  let ropeBase = 10000;
  let ropeHalf = false;
  let ropeRotaryDim = dim;
  if (o.rope !== undefined && o.rope !== null && o.rope !== false) {
    const r = o.rope === true ? {} : o.rope;
    if (typeof r !== 'object' || Array.isArray(r)) {
      throw new TypeError(`${fn}: rope must be null, true or an object { base, layout, rotaryDim }, received ${describe(o.rope)}`);
    }
    rope = true;
    requireEvenDim(fn, 'dim', dim, 'RoPE rotates pairs of dims');
    ropeBase = requireNumber(fn, 'rope.base', r.base, 10000, { above: 0 });
    ropeHalf = requireChoice(fn, 'rope.layout', r.layout, LAYOUTS, 'interleaved') === 'half';
    ropeRotaryDim = optionalSize(fn, 'rope.rotaryDim', r.rotaryDim, dim);
    requireEvenDim(fn, 'rope.rotaryDim', ropeRotaryDim, 'RoPE rotates pairs of dims');
    if (ropeRotaryDim > dim) {
      throw new RangeError(`${fn}: rope.rotaryDim must be at most dim = ${dim}, received ${ropeRotaryDim}`);
    }
  }
  return {
    shape: { batch, seqQ, seqK, heads, kvHeads, dim, dimV },
    native: { scale, fixedScale, baseLen, nMin, clipBelowOne, causal, rope, ropeBase, ropeHalf, ropeRotaryDim },
  };
}

function checkAttentionInputs(fn, shape, q, k, v) {
  const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = shape;
  requireFloat32Array(fn, 'q', q, [['batch', batch], ['seqQ', seqQ], ['heads', heads], ['dim', dim]]);
  requireFloat32Array(fn, 'k', k, [['batch', batch], ['seqK', seqK], ['kvHeads', kvHeads], ['dim', dim]]);
  requireFloat32Array(fn, 'v', v, [['batch', batch], ['seqK', seqK], ['kvHeads', kvHeads], ['dimV', dimV]]);
  requireFinite(fn, 'q', q);
  requireFinite(fn, 'k', k);
  requireFinite(fn, 'v', v);
  return {
    out: elementCount(fn, 'the output', [['batch', batch], ['seqQ', seqQ], ['heads', heads], ['dimV', dimV]]),
    logsumexp: batch * heads * seqQ,
  };
}

// ---- host-side tables for the WebGPU kernels (f64 math, like the C++ plan; WGSL log, sin and cos
// are too coarse for 1e-4 parity at large arguments) ----

// c_i per query row [seqQ] (attention_row_scale in src/attention/attention.cpp).
function rowScales(shape, native) {
  const { seqQ, seqK, dim } = shape;
  const out = new Float32Array(seqQ);
  const inverseSqrtDim = 1 / Math.sqrt(dim);
  const shift = seqK - seqQ;
  for (let i = 0; i < seqQ; ++i) {
    if (native.scale === 'fixed') out[i] = native.fixedScale;
    else if (native.scale === 'standard') out[i] = inverseSqrtDim;
    else {
      const visible = native.causal ? Math.min(seqK, i + shift + 1) : seqK;
      let factor = Math.log(Math.max(visible, native.nMin)) / Math.log(native.baseLen);
      if (native.clipBelowOne) factor = Math.max(1, factor);
      out[i] = factor * inverseSqrtDim;
    }
  }
  return out;
}

// (cos, sin) of sign·position·θ_p for each position in `positions` and pair p < rotaryDim/2.
function ropeTable(positions, rotaryDim, base, sign = 1) {
  const pairs = rotaryDim / 2;
  const frequencies = Float64Array.from({ length: pairs }, (_, p) => base ** (-2 * p / rotaryDim));
  const table = new Float32Array(2 * positions.length * pairs);
  for (let t = 0; t < positions.length; ++t) {
    for (let p = 0; p < pairs; ++p) {
      const angle = sign * positions[t] * frequencies[p];
      table[2 * (t * pairs + p)] = Math.cos(angle);
      table[2 * (t * pairs + p) + 1] = Math.sin(angle);
    }
  }
  return table;
}

// The table for fused RoPE: positions min(0, seqK − seqQ) … seqK − 1. The last one is kept: a
// model calls attention with the same shape again and again.
let lastRopeTable = { key: '', table: null };

function attentionRopeTable(shape, native) {
  const first = Math.min(0, shape.seqK - shape.seqQ);
  const key = `${first} ${shape.seqK} ${native.ropeRotaryDim} ${native.ropeBase}`;
  if (lastRopeTable.key !== key) {
    const positions = Float64Array.from({ length: shape.seqK - first }, (_, t) => first + t);
    lastRopeTable = { key, table: ropeTable(positions, native.ropeRotaryDim, native.ropeBase) };
  }
  return lastRopeTable.table;
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

  /**
   * 1D RoPE of every [dim] vector of x [batch, seq, heads, dim]; token t sits at positions[t]
   * (default t). inverse: rotate by −position (the gradient of the rotation).
   */
  function rope(x, options) {
    const fn = 'rope';
    if (options === undefined) throw new TypeError(`${fn}: options { seq, dim } are required, received undefined`);
    const o = requireOptions(fn, options);
    const batch = optionalSize(fn, 'batch', o.batch, 1);
    const seq = requireSize(fn, 'seq', o.seq);
    const heads = optionalSize(fn, 'heads', o.heads, 1);
    const dim = requireSize(fn, 'dim', o.dim);
    requireEvenDim(fn, 'dim', dim, 'RoPE rotates pairs of dims');
    const base = requireNumber(fn, 'base', o.base, 10000, { above: 0 });
    const layout = requireChoice(fn, 'layout', o.layout, LAYOUTS, 'interleaved');
    const rotaryDim = optionalSize(fn, 'rotaryDim', o.rotaryDim, dim);
    requireEvenDim(fn, 'rotaryDim', rotaryDim, 'RoPE rotates pairs of dims');
    if (rotaryDim > dim) throw new RangeError(`${fn}: rotaryDim must be at most dim = ${dim}, received ${rotaryDim}`);
    const positions = requirePositions(fn, 'positions', o.positions, seq, 'seq');
    const inverse = requireBoolean(fn, 'inverse', o.inverse, false);
    const backend = requireChoice(fn, 'backend', o.backend, BACKENDS, 'wasm');
    requireFloat32Array(fn, 'x', x, [['batch', batch], ['seq', seq], ['heads', heads], ['dim', dim]]);

    // RoPE alone is synchronous on WASM (the default); backend 'webgpu' or 'auto' returns a Promise.
    if (backend !== 'wasm') {
      let gpu;
      try {
        gpu = pickGpu(fn, backend, (g) => g.ropeUnsupported(x.length, seq, rotaryDim));
      } catch (error) {
        return Promise.reject(error);
      }
      if (!gpu) return Promise.resolve(rope(x, { ...o, backend: 'wasm' }));
      const table = ropeTable(positions ?? Float64Array.from({ length: seq }, (_, t) => t), rotaryDim, base,
        inverse ? -1 : 1);
      return gpu.rope(x, { seq, heads, dim, half: layout === 'half', rotaryDim }, table).catch(async (error) => {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        return rope(x, { ...o, backend: 'wasm' }); // the device was lost mid-call
      });
    }

    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const positionsPtr = positions ? heap.inputF64(positions, 'positions') : 0;
      module.ropeApply(xPtr, xPtr, batch, seq, heads, dim, base, layout === 'half', rotaryDim, positionsPtr, inverse);
      return heap.read(xPtr, x.length);
    });
  }

  /**
   * 2D RoPE of x [batch, height·width, heads, dim] (dim a multiple of 4). Token t defaults to
   * (x, y) = (t % width, floor(t / width)); positions gives (x0, y0, x1, y1, …) instead.
   * mode 'split': the first dim/2 dims turn with x, the rest with y; 'tie': RoPE-Tie (SPEC §1.5).
   */
  function rope2d(x, options) {
    const fn = 'rope2d';
    if (options === undefined) throw new TypeError(`${fn}: options { height, width, dim } are required, received undefined`);
    const o = requireOptions(fn, options);
    const batch = optionalSize(fn, 'batch', o.batch, 1);
    const height = requireSize(fn, 'height', o.height);
    const width = requireSize(fn, 'width', o.width);
    const heads = optionalSize(fn, 'heads', o.heads, 1);
    const dim = requireSize(fn, 'dim', o.dim);
    if (dim % 4 !== 0) {
      throw new RangeError(`${fn}: dim must be a multiple of 4 (two rotary halves of even size), received ${dim}`);
    }
    const base = requireNumber(fn, 'base', o.base, 10000, { above: 0 });
    const layout = requireChoice(fn, 'layout', o.layout, LAYOUTS, 'interleaved');
    const mode = requireChoice(fn, 'mode', o.mode, MODES_2D, 'split');
    const seq = height * width;
    const positions = requirePositions(fn, 'positions', o.positions, 2 * seq, '2*height*width');
    const inverse = requireBoolean(fn, 'inverse', o.inverse, false);
    requireFloat32Array(fn, 'x', x, [['batch', batch], ['height', height], ['width', width], ['heads', heads], ['dim', dim]]);

    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const positionsPtr = positions ? heap.inputF64(positions, 'positions') : 0;
      module.rope2dApply(xPtr, xPtr, batch, seq, heads, dim, base, layout === 'half', mode === 'tie',
        positionsPtr, width, inverse);
      return heap.read(xPtr, x.length);
    });
  }

  /**
   * O = softmax(c_i · Q Kᵀ) V, fused and tiled; never forms the seqQ×seqK score matrix.
   * Returns a Promise (the WebGPU backend shares this call) of out [batch, seqQ, heads, dimV].
   */
  async function attention(q, k, v, options) {
    const fn = 'attention';
    const { shape, native } = attentionConfig(fn, options);
    const backend = requireChoice(fn, 'backend', options.backend, BACKENDS, 'auto');
    const sizes = checkAttentionInputs(fn, shape, q, k, v);
    const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = shape;
    // Empty shapes (seqQ = 0, or seqK = 0: zeros) need no kernel; WASM answers them.
    const gpu = pickGpu(fn, backend, (g) => g.attentionUnsupported(shape));
    if (gpu && sizes.out > 0 && seqK > 0) {
      try {
        return await gpu.attention(q, k, v, shape, native, rowScales(shape, native),
          native.rope ? attentionRopeTable(shape, native) : null);
      } catch (error) {
        if (backend === 'webgpu' || !await gpu.failedFromLoss()) throw error;
        // The device was lost mid-call: this call, and the later ones, run on WASM.
      }
    }
    return withHeap(module, (heap) => {
      const qPtr = heap.input(q, 'q');
      const kPtr = heap.input(k, 'k');
      const vPtr = heap.input(v, 'v');
      const oPtr = heap.alloc(sizes.out, 'the output');
      module.attentionForward(qPtr, kPtr, vPtr, oPtr, 0, batch, seqQ, seqK, heads, kvHeads, dim, dimV, native);
      return heap.read(oPtr, sizes.out);
    });
  }

  /**
   * Gradients of L w.r.t. the un-rotated q, k, v, given dOut = ∂L/∂out (shape of out), with the
   * options of the forward call. Recomputes the forward pass, then P tile by tile.
   */
  function attentionBackward(q, k, v, dOut, options) {
    const fn = 'attentionBackward';
    const { shape, native } = attentionConfig(fn, options);
    if (requireChoice(fn, 'backend', options.backend, BACKENDS, 'auto') === 'webgpu') {
      throw new RangeError(`${fn}: backend must be 'auto' or 'wasm' (the backward pass runs on WASM), received 'webgpu'`);
    }
    const sizes = checkAttentionInputs(fn, shape, q, k, v);
    const { batch, seqQ, seqK, heads, kvHeads, dim, dimV } = shape;
    requireFloat32Array(fn, 'dOut', dOut, [['batch', batch], ['seqQ', seqQ], ['heads', heads], ['dimV', dimV]]);
    requireFinite(fn, 'dOut', dOut);
    return withHeap(module, (heap) => {
      const qPtr = heap.input(q, 'q');
      const kPtr = heap.input(k, 'k');
      const vPtr = heap.input(v, 'v');
      const dOutPtr = heap.input(dOut, 'dOut');
      const oPtr = heap.alloc(sizes.out, 'the output');
      const lsePtr = heap.alloc(sizes.logsumexp, 'the logsumexp');
      module.attentionForward(qPtr, kPtr, vPtr, oPtr, lsePtr, batch, seqQ, seqK, heads, kvHeads, dim, dimV, native);
      const dqPtr = heap.alloc(q.length, 'dq');
      const dkPtr = heap.alloc(k.length, 'dk');
      const dvPtr = heap.alloc(v.length, 'dv');
      module.attentionBackward(qPtr, kPtr, vPtr, oPtr, lsePtr, dOutPtr, dqPtr, dkPtr, dvPtr,
        batch, seqQ, seqK, heads, kvHeads, dim, dimV, native);
      return { dq: heap.read(dqPtr, q.length), dk: heap.read(dkPtr, k.length), dv: heap.read(dvPtr, v.length) };
    });
  }

  return { rope, rope2d, attention, attentionBackward };
}
