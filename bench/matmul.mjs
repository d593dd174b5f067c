// npm run bench -- matmul
// kexue's kx.matmul against TensorFlow.js's WASM backend (XNNPACK, SIMD, one thread: it has no
// threads under Node) in the same process, from 128³ to 1024³ (to show where it peaks): median of
// RUNS interleaved runs after warm-up, GFLOP/s = 2n³/t. kexue runs on one thread (like for like) and
// on every core (its default in Node and on cross-origin-isolated pages), with the plain SIMD build
// and, where the engine runs it, the relaxed-SIMD build.
// kexue's time includes copying A and B into the WASM heap and C out (its API takes and returns
// Float32Arrays); tfjs's includes matMul and dataSync() on tensors created beforehand.
// --sizes 512,1024 picks the sizes; --stat min reports each contender's fastest run instead of the
// median (on a shared host whose cores are sometimes slowed by other guests, the fastest run is the
// better estimate of the code's own speed; the README quotes both). --order back-to-back times each
// contender's runs in a row instead of interleaved (see bench/timing.mjs backToBack).
import { init } from 'kexue';
import { loadTfjsWasm } from './peers.mjs';
import { backToBack, interleaved, orderArgument, sizesArgument, statArgument, table, warmUp } from './timing.mjs';

export async function run({ sizes = sizesArgument('matmul') ?? [128, 256, 384, 512, 768, 1024], runs = 9,
  statistic = statArgument('matmul'), order = orderArgument('matmul') } = {}) {
  const kx = await init({ relaxedSimd: false, backend: 'wasm' });
  const kx1 = await init({ threads: 1, relaxedSimd: false, backend: 'wasm' });
  // The relaxed-SIMD build (f32x4.relaxed_madd) where this engine runs it (Node 22+, Chrome 114+;
  // bench/run.mjs re-runs Node 20 with --experimental-wasm-relaxed-simd).
  const relaxed = await init({ relaxedSimd: true, backend: 'wasm' }).catch(() => null);
  const relaxed1 = relaxed && await init({ threads: 1, relaxedSimd: true, backend: 'wasm' });
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
      ...(relaxed && {
        relaxed1: () => relaxed1.matmul(a, b, { m: n, k: n, n }),
        relaxed: () => relaxed.matmul(a, b, { m: n, k: n, n }),
      }),
      tfjs: () => {
        const c = tf.matMul(ta, tb);
        c.dataSync();
        c.dispose();
      },
    };
    for (const fn of Object.values(contenders)) warmUp(fn);
    const ms = (order === 'back-to-back' ? backToBack : interleaved)(contenders, runs, { statistic });
    const flops = 2 * n ** 3;
    const gf = (t) => flops / (t * 1e6);
    rows.push([`${n}³`, gf(ms.tfjs).toFixed(1),
      gf(ms.kexue1).toFixed(1), (ms.tfjs / ms.kexue1).toFixed(2) + '×',
      gf(ms.kexue).toFixed(1), (ms.tfjs / ms.kexue).toFixed(2) + '×',
      ...(relaxed ? [gf(ms.relaxed1).toFixed(1), (ms.tfjs / ms.relaxed1).toFixed(2) + '×',
        gf(ms.relaxed).toFixed(1), (ms.tfjs / ms.relaxed).toFixed(2) + '×'] : [])]);
    ta.dispose();
    tb.dispose();
  }
  process.stdout.write(`matmul f32, GFLOP/s (${statistic} of ${runs} ${order} runs after warm-up); ` +
    `speed-up = tfjs time / kexue time\n`);
  process.stdout.write(table(['size', 'tfjs-wasm 1T', 'kexue 1T', 'speed-up 1T',
    `kexue ${kx.threads}T`, `speed-up ${kx.threads}T`,
    ...(relaxed ? ['relaxed 1T', 'speed-up', `relaxed ${relaxed.threads}T`, 'speed-up'] : [])], rows) + '\n');
  if (!relaxed) process.stdout.write('(no relaxed-SIMD columns: this engine does not run relaxed SIMD)\n');
  return rows;
}
