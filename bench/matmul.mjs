// npm run bench -- matmul
// kexue's kx.matmul against TensorFlow.js's WASM backend (XNNPACK, SIMD, one thread: it has no
// threads under Node) in the same process, at 256³, 512³ and 1024³: median of RUNS interleaved runs
// after warm-up, GFLOP/s = 2n³/t. kexue runs twice: on one thread (like for like) and on every core
// (its default in Node and on cross-origin-isolated pages).
// kexue's time includes copying A and B into the WASM heap and C out (its API takes and returns
// Float32Arrays); tfjs's includes matMul and dataSync() on tensors created beforehand.
import { init } from 'kexue';
import { loadTfjsWasm } from './peers.mjs';
import { interleaved, table, warmUp } from './timing.mjs';

export async function run({ sizes = [256, 512, 1024], runs = 9 } = {}) {
  const kx = await init();
  const kx1 = await init({ threads: 1 });
  const tf = await loadTfjsWasm();
  const rows = [];
  for (const n of sizes) {
    const a = new Float32Array(n * n).map(() => Math.random() - 0.5);
    const b = new Float32Array(n * n).map(() => Math.random() - 0.5);
    const ta = tf.tensor2d(a, [n, n]);
    const tb = tf.tensor2d(b, [n, n]);
    const contenders = {
      kexue1: () => kx1.matmul(a, b, { m: n, k: n, n }),
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
    rows.push([`${n}³`, gf(ms.tfjs).toFixed(1),
      gf(ms.kexue1).toFixed(1), (ms.tfjs / ms.kexue1).toFixed(2) + '×',
      gf(ms.kexue).toFixed(1), (ms.tfjs / ms.kexue).toFixed(2) + '×']);
    ta.dispose();
    tb.dispose();
  }
  process.stdout.write(`matmul f32, GFLOP/s (median of ${runs} interleaved runs after warm-up); ` +
    `speed-up = tfjs time / kexue time\n`);
  process.stdout.write(table(['size', 'tfjs-wasm 1T', 'kexue 1T', 'speed-up 1T',
    `kexue ${kx.threads}T`, `speed-up ${kx.threads}T`], rows) + '\n');
  return rows;
}
