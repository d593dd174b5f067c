// Argument validation shared by every public function. Each check throws a TypeError (wrong kind
// of value) or RangeError (right kind, wrong value), and the message names the function, the
// parameter, what was expected and what was received, e.g.
//   "matmul: a must have length m*k = 6 for shape [2, 3], received length 5".

// The WASM heap is capped at 2 GiB (-sMAXIMUM_MEMORY); no single buffer can exceed it.
export const MAX_HEAP_BYTES = 2 ** 31;

// Typed arrays are read through the built-in accessors of %TypedArray%.prototype, never through
// `.length` or `.buffer` on the value: a subclass or Proxy can override those, and a length that
// lies would let HEAPF32.set copy more than the buffer the facade allocated (or less, leaving an
// earlier call's data in it). The built-in getters read the internal slots; the toStringTag getter
// returns undefined for anything that is not a typed array (a Proxy included) instead of throwing.
const TypedArrayPrototype = Object.getPrototypeOf(Float32Array.prototype);
const builtin = (name) => Object.getOwnPropertyDescriptor(TypedArrayPrototype, name).get;
const lengthGetter = builtin('length');
const byteOffsetOf = builtin('byteOffset');
const bufferOf = builtin('buffer');
const tagOf = builtin(Symbol.toStringTag);

/** The typed-array kind of `value` ('Float32Array', …), or undefined when it is not a typed array. */
export function typedArrayKind(value) {
  return tagOf.call(value);
}

/** The real element count of a typed array (0 once its buffer is detached). */
export function typedLength(array) {
  return lengthGetter.call(array);
}

/** A typed array's real length (built-in accessor); any other array's own length. */
export function lengthOf(value) {
  return tagOf.call(value) === undefined ? value.length : lengthGetter.call(value);
}

/**
 * A plain view of exactly the elements of a typed array, built from its real buffer, byte offset
 * and length: what is copied into the heap, whatever the array's own properties claim.
 */
export function exactView(array) {
  const kind = tagOf.call(array);
  if (kind === undefined) return array;
  const View = globalThis[kind];
  return new View(bufferOf.call(array), byteOffsetOf.call(array), lengthGetter.call(array));
}

export function describe(value) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typedArrayKind(value) !== undefined) return `${typedArrayKind(value)}(${typedLength(value)})`;
  if (ArrayBuffer.isView(value)) return `DataView(${value.byteLength})`;
  if (typeof value === 'function') return 'a function';
  return value.constructor?.name ? `${value.constructor.name} object` : 'object';
}

// The errors the C++ validators return (bindings/options.hpp, to_js_error) become the matching
// TypeError / RangeError here, prefixed with the public function's name.
export function throwIfError(fn, error) {
  if (error === undefined || error === null) return;
  const ErrorClass = error.name === 'TypeError' ? TypeError : RangeError;
  throw new ErrorClass(`${fn}: ${error.message}`);
}

// A `…Plan` binding's result: the resolved options, or the error thrown.
export function resolvePlan(fn, result) {
  throwIfError(fn, result.error);
  return result.options;
}

// Resolved options (a plan's result) as a read-only object, nested objects and arrays included.
export function deepFreeze(value) {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze(value[key]);
    Object.freeze(value);
  }
  return value;
}

// Renamed options keep working for one release: { eps: 'interpolation' } reads an `eps` the caller
// passed as `interpolation`, with one DeprecationWarning per function and old name. Passing both
// names is an error.
const warnedRenames = new Set();
export function renameDeprecated(fn, options, renames) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return options;
  let out = options;
  for (const [from, to] of Object.entries(renames)) {
    if (!Object.prototype.hasOwnProperty.call(options, from)) continue;
    if (options[to] !== undefined) {
      throw new TypeError(`${fn}: options '${from}' (deprecated) and '${to}' are the same option; pass only '${to}'`);
    }
    if (out === options) out = { ...options };
    out[to] = options[from];
    delete out[from];
    const key = `${fn}:${from}`;
    if (!warnedRenames.has(key)) {
      warnedRenames.add(key);
      const message = `${fn}: option '${from}' is deprecated and will be removed in the next release; use '${to}'`;
      if (typeof globalThis.process?.emitWarning === 'function') globalThis.process.emitWarning(message, 'DeprecationWarning');
      else console.warn(message);
    }
  }
  return out;
}

// Options that are required as a whole: "options { m, k, n } are required, received undefined".
export function requireOptionsObject(fn, options, fields) {
  if (options === undefined) {
    throw new TypeError(`${fn}: options { ${fields} } are required, received undefined`);
  }
  return requireOptions(fn, options);
}

export function requireOptions(fn, options) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${fn}: options must be an object, received ${describe(options)}`);
  }
  return snapshotOptions(options);
}

// Options are read once, here, before anything is allocated: a plain copy of the caller's object
// (own enumerable properties; nested plain objects and arrays copied, holes kept so that C++ still
// refuses sparse arrays; typed arrays and class instances kept as they are). A getter therefore runs
// once, before any allocation, and the C++ re-read of the same options sees the same values; a
// getter that disposes the object being called is caught by the assertAlive that follows.
const MAX_COPIED_ARRAY = 1 << 16;
export function snapshotOptions(value, depth = 0) {
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (Array.isArray(value)) {
    const n = value.length;
    if (n > MAX_COPIED_ARRAY) return value;
    const out = new Array(n);
    for (let i = 0; i < n; ++i) {
      if (Object.prototype.hasOwnProperty.call(value, i)) out[i] = snapshotOptions(value[i], depth + 1);
    }
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, key, { value: snapshotOptions(value[key], depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

// A size: a positive integer (a count of rows, columns, heads, …).
export function requireSize(fn, name, value) {
  if (typeof value !== 'number') {
    throw new TypeError(`${fn}: ${name} must be a positive integer, received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${fn}: ${name} must be a positive integer, received ${describe(value)}`);
  }
  if (value > 2 ** 31 - 1) {
    throw new RangeError(`${fn}: ${name} must be at most ${2 ** 31 - 1}, received ${value}`);
  }
  return value;
}

export function requireBoolean(fn, name, value, fallback) {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new TypeError(`${fn}: ${name} must be a boolean, received ${describe(value)}`);
  }
  return value;
}

// A Float32Array holding a row-major tensor of the given shape. `dims` names each extent
// (e.g. [['m', 2], ['k', 3]]) so the message can say "m*k = 6 for shape [2, 3]".
export function requireFloat32Array(fn, name, value, dims) {
  return requireTypedArray(fn, name, value, dims, ['Float32Array']);
}

// A typed array of one of `kinds` ('Float32Array', 'Uint16Array', …) with the element count of the
// shape `dims` ([[name, extent], …]); `expected` words the kinds in the message (default the first).
export function requireTypedArray(fn, name, value, dims, kinds, expected = `a ${kinds[0]}`) {
  if (!kinds.includes(typedArrayKind(value))) {
    throw new TypeError(`${fn}: ${name} must be ${expected}, received ${describe(value)}`);
  }
  const expectedLength = elementCount(fn, name, dims);
  const length = typedLength(value);
  if (length !== expectedLength) {
    const formula = dims.map(([dimName]) => dimName).join('*');
    const shape = dims.map(([, extent]) => extent).join(', ');
    throw new RangeError(`${fn}: ${name} must have length ${formula} = ${expectedLength} for shape ` +
      `[${shape}], received length ${length}`);
  }
  return value;
}

// The element count of a shape, refusing shapes whose float32 buffer cannot fit in the heap.
export function elementCount(fn, name, dims) {
  let count = 1;
  for (const [, extent] of dims) count *= extent;
  if (count * 4 > MAX_HEAP_BYTES) {
    const formula = dims.map(([dimName, extent]) => `${dimName}=${extent}`).join(' × ');
    throw new RangeError(`${fn}: ${name} of shape ${formula} needs ${count} floats ` +
      `(${count * 4} bytes), more than the 2 GiB WASM heap can hold`);
  }
  return count;
}

// One of a list of strings; `fallback` when undefined (a required choice passes no fallback).
export function requireChoice(fn, name, value, choices, fallback) {
  const list = choices.map((c) => `'${c}'`).join(', ');
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string') {
    throw new TypeError(`${fn}: ${name} must be one of ${list}, received ${describe(value)}`);
  }
  if (!choices.includes(value)) {
    throw new RangeError(`${fn}: ${name} must be one of ${list}, received ${describe(value)}`);
  }
  return value;
}

// Refuses NaN and ±Infinity in an array, naming the first bad element.
export function requireFinite(fn, name, array) {
  const view = exactView(array);
  const n = typedArrayKind(array) === undefined ? array.length : typedLength(array);
  for (let i = 0; i < n; ++i) {
    const x = view[i];
    if (x - x !== 0) throw new RangeError(`${fn}: ${name}[${i}] must be finite, received ${x}`);
  }
}

