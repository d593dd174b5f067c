// Loads the peer libraries for side-by-side benchmarks from node_modules.
import { readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

// TensorFlow.js with its WASM backend (XNNPACK, SIMD; no threads under Node).
export async function loadTfjsWasm() {
  const tf = await import('@tensorflow/tfjs-core');
  // tfjs-core's main (CommonJS) build registers no gradient functions; tf.grad needs them.
  register('./tfjs-esm-hooks.mjs', import.meta.url);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  wasm.setWasmPaths(wasmDir + path.sep);
  await tf.setBackend('wasm');
  await tf.ready();
  return tf;
}

// onnxruntime-web's WASM execution provider (SIMD build) with `threads` intra-op threads. The count
// is fixed for the process at the first session (env.wasm.numThreads), so a benchmark that wants
// several counts runs one process per count.
export async function loadOnnxRuntimeWeb(threads = 1) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  return ort;
}

// The installed onnxruntime-web version, for the tables (its exports hide package.json).
export function onnxRuntimeWebVersion() {
  const file = path.join(path.dirname(require.resolve('onnxruntime-web')), '..', 'package.json');
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

// A kx.Mlp (ReLU hidden layers, linear output) as tfjs variables with kexue's parameter layout
// (per layer W [out × in], then b [out]: x·Wᵀ + b), for the side-by-side benches of the GAN critic
// and the diffusion ε-predictor. apply(x) gives the last layer's [rows, out].
export function tfjsMlp(tf, sizes, parameters) {
  const vars = [];
  let offset = 0;
  for (let l = 1; l < sizes.length; ++l) {
    const n = sizes[l], m = sizes[l - 1];
    vars.push(tf.variable(tf.tensor2d(parameters.slice(offset, offset + n * m), [n, m])));
    vars.push(tf.variable(tf.tensor1d(parameters.slice(offset + n * m, offset + n * m + n))));
    offset += n * m + n;
  }
  const apply = (x) => {
    let h = x;
    for (let l = 0; l < vars.length / 2; ++l) {
      const z = tf.add(tf.matMul(h, vars[2 * l], false, true), vars[2 * l + 1]);
      h = l < vars.length / 2 - 1 ? tf.relu(z) : z;
    }
    return h;
  };
  return { vars, apply };
}
