// float32 → float16 bits (IEEE 754 binary16, round to nearest, ties to even; overflow → ±∞) and
// back, for the WebGPU kernels' f16 inputs (precision 'f16') and for float16 tensors of kx.attention
// on the GPU path (bindings/js/attention.js). Float16Array is not in every engine yet.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function halfBits(value) {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // ∞, NaN
  let e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let m = mantissa >>> shift;
    if (rest > half || (rest === half && (m & 1))) m += 1;
    return sign | m;
  }
  const rest = mantissa & 0x1fff;
  let m = mantissa >>> 13;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
    m += 1;
    if (m === 0x400) {
      m = 0;
      e += 1;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** The value of float16 bits h (exact: every float16 is a float32). */
export function halfValue(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The f16 bits of every element of `values`, padded to an even count (storage buffers hold whole words). */
export function toHalf(values) {
  const out = new Uint16Array(values.length + (values.length & 1));
  for (let i = 0; i < values.length; ++i) out[i] = halfBits(values[i]);
  return out;
}
