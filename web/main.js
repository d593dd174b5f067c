// The demo page: imports the package by name and calls it.
import { init } from 'kexue';

const $ = (id) => document.getElementById(id);

function formatMatrix(values, rows, cols) {
  const lines = [];
  for (let i = 0; i < rows; ++i) {
    lines.push(Array.from(values.subarray(i * cols, (i + 1) * cols), (x) => String(x).padStart(4)).join(' '));
  }
  return lines.join('\n      ');
}

function wasmSimdSupported() {
  // The smallest module using a v128 instruction: validates only where WASM SIMD exists.
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
    10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
  return WebAssembly.validate(bytes);
}

async function main() {
  $('simd').textContent = `WASM SIMD: ${wasmSimdSupported() ? 'yes' : 'no'}`;
  $('isolation').textContent = `cross-origin isolated: ${globalThis.crossOriginIsolated ? 'yes' : 'no'}`;

  const kx = await init();
  $('version').textContent = kx.version;

  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([7, 8, 9, 10, 11, 12]);
  const c = kx.matmul(a, b, { m: 2, k: 3, n: 2 });
  $('matmul-result').textContent = `A·B = [${formatMatrix(c, 2, 2)}]`;
  $('status').textContent = 'Ready: the WASM module is loaded.';

  $('speed-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const n = Number($('speed-size').value);
    const x = new Float32Array(n * n).map(() => Math.random() - 0.5);
    const y = new Float32Array(n * n).map(() => Math.random() - 0.5);
    const options = { m: n, k: n, n };
    for (let i = 0; i < 3; ++i) kx.matmul(x, y, options); // warm-up
    const times = [];
    for (let i = 0; i < 5; ++i) {
      const start = performance.now();
      kx.matmul(x, y, options);
      times.push(performance.now() - start);
    }
    times.sort((p, q) => p - q);
    const median = times[2];
    const gflops = (2 * n ** 3) / (median * 1e6);
    $('speed-result').textContent =
      `${n}×${n}×${n}: median ${median.toFixed(2)} ms over 5 runs, ${gflops.toFixed(1)} GFLOP/s`;
  });
}

main().catch((error) => {
  $('status').textContent = `Failed to start: ${error.message}`;
  $('status').classList.add('error');
  throw error;
});
