// npm run bench -- matmul
// kexue's kx.matmul against TensorFlow.js's WASM backend (XNNPACK, SIMD, one thread) in the same
// process, at 256³, 512³ and 1024³: median of RUNS interleaved runs after warm-up, GFLOP/s = 2n³/t.
// kexue's time includes copying A and B into the WASM heap and C out (its API takes and returns
// Float32Arrays); tfjs's includes matMul and dataSync() on tensors created beforehand.
import { init } from 'kexue';
import { loadTfjsWasm } from './peers.mjs';
import { interleaved, table, warmUp } from './timing.mjs';

export async function run({ sizes = [256, 512, 1024], runs = 9 } = {}) {
  const kx = await init();
  const tf = await loadTfjsWasm();
  const rows = [];
  for (const n of sizes) {
    const a = new Float32Array(n * n).map(() => Math.random() - 0.5);
    const b = new Float32Array(n * n).map(() => Math.random() - 0.5);
    const ta = tf.tensor2d(a, [n, n]);
    const tb = tf.tensor2d(b, [n, n]);
    const contenders = {
      kexue: () => kx.matmul(a, b, { m: n, k: n, n }),
      tfjs: () => {
        const c = tf.matMul(ta, tb);
        c.dataSync();
        c.dispose();
      },
    };
    for (const fn of Object.values(contenders)) warmUp(fn);
    const ms = interleaved(contenders, runs);
    const flops = 2 * n ** 3;
    const gf = (t) => flops / (t * 1e6);
    rows.push([`${n}³`, ms.kexue.toFixed(2), gf(ms.kexue).toFixed(1), ms.tfjs.toFixed(2), gf(ms.tfjs).toFixed(1),
      (ms.tfjs / ms.kexue).toFixed(2) + '×']);
    ta.dispose();
    tb.dispose();
  }
  process.stdout.write(`matmul, f32, one thread, median of ${runs} interleaved runs after warm-up\n`);
  process.stdout.write(table(['size', 'kexue ms', 'kexue GFLOP/s', 'tfjs-wasm ms', 'tfjs-wasm GFLOP/s', 'speed-up'], rows) + '\n');
  return rows;
}
