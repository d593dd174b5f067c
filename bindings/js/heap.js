// Moving Float32Arrays in and out of the WASM heap for one call.
import { exactView, lengthOf } from './errors.js';
//
// Every call copies its inputs into freshly malloc'ed heap buffers, runs the kernel, copies the
// result out into a new Float32Array and frees everything (also when the kernel throws), so no
// view into the heap ever escapes and repeated calls reuse the same heap space.

export class HeapFrame {
  constructor(module) {
    this.module = module;
    this.pointers = [];
  }

  // Allocates `count` float32s (or `count` elements of `bytesPerElement`); returns the byte
  // address. Throws RangeError when the heap is full.
  alloc(count, what, bytesPerElement = 4) {
    const bytes = Math.max(8, count * bytesPerElement);
    const pointer = this.module._malloc(bytes);
    if (pointer === 0) {
      throw new RangeError(`kexue: out of WASM memory allocating ${what} (${bytes} bytes)`);
    }
    this.pointers.push(pointer);
    return pointer;
  }

  // Copies a Float32Array into a new heap buffer; returns its byte address.
  // The length and contents are read through the built-in typed-array accessors (errors.js,
  // exactView): an overridden `length` cannot size the buffer differently from what is copied.
  input(array, what) {
    const source = exactView(array);
    const pointer = this.alloc(lengthOf(source), what);
    // Read HEAPF32 after every malloc: growing the heap replaces the view.
    this.module.HEAPF32.set(source, pointer >>> 2);
    return pointer;
  }

  // Copies a Uint16Array (float16 bits) or a Float16Array into a new heap buffer of 16-bit
  // elements; returns its byte address. A Float16Array's bits are read through a Uint16Array view
  // of its buffer, so the values are not converted on the way.
  input16(array, what) {
    const source = exactView(array);
    const bits = new Uint16Array(source.buffer, source.byteOffset, source.length);
    const pointer = this.alloc(bits.length, what, 2);
    this.module.HEAPU16.set(bits, pointer >>> 1);
    return pointer;
  }

  // Copies a Float64Array (or array of numbers) into a new heap buffer of float64s.
  inputF64(array, what) {
    const source = exactView(array);
    const pointer = this.alloc(lengthOf(source), what, 8);
    this.module.HEAPF64.set(source, pointer >>> 3);
    return pointer;
  }

  // Copies a Uint8Array (bytes) into a new heap buffer; returns its byte address.
  inputBytes(array, what) {
    const source = exactView(array);
    const pointer = this.alloc(lengthOf(source), what, 1);
    this.module.HEAPU8.set(source, pointer);
    return pointer;
  }

  // A new Float32Array with a copy of `count` floats at `pointer`.
  read(pointer, count) {
    const start = pointer >>> 2;
    return this.module.HEAPF32.slice(start, start + count);
  }

  // A new Uint16Array with a copy of `count` 16-bit elements at `pointer`.
  read16(pointer, count) {
    const start = pointer >>> 1;
    return this.module.HEAPU16.slice(start, start + count);
  }

  // A new Float64Array with a copy of `count` doubles at `pointer`.
  readF64(pointer, count) {
    const start = pointer >>> 3;
    return this.module.HEAPF64.slice(start, start + count);
  }

  free() {
    for (const pointer of this.pointers) this.module._free(pointer);
    this.pointers.length = 0;
  }
}

// Runs `body(frame)` with a HeapFrame and frees the frame afterwards, whatever happens.
export function withHeap(module, body) {
  const frame = new HeapFrame(module);
  try {
    return body(frame);
  } finally {
    frame.free();
  }
}
