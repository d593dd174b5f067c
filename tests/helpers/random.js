// Seeded random numbers for the demo page, the WebGPU parity suite and the tests that share it:
// mulberry32 (a 32-bit state, full period) and Box–Muller normals.

// A uniform generator in [0, 1).
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// A uniform generator in [−1, 1).
export function symmetricUniform(seed) {
  const next = mulberry32(seed);
  return () => 2 * next() - 1;
}

// Standard normal draws from a uniform generator (Box–Muller, both values used).
export function gaussian(next) {
  let spare = null;
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const u = Math.max(next(), 1e-12);
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
