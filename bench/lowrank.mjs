// npm run bench -- lowrank
// One optimizer step on a 768×768 weight with r = 8, from the full gradient G already in a
// Float32Array (what a model hands the optimizer), in each LowRankOptimizer mode, against full
// Adam in kexue (mode 'full') and a tfjs-backend-wasm Adam step (tf.train.adam applyGradients on a
// tf.variable, the gradient uploaded from the same Float32Array). Same process, medians of
// interleaved runs after warm-up; the state memory of each.
import { init } from 'kexue';
import { loadTfjsWasm } from './peers.mjs';
import { interleaved, table, warmUp } from './timing.mjs';

export async function run({ rows = 768, cols = 768, rank = 8, runs = 31, threads = [1, 'auto'] } = {}) {
  const tf = await loadTfjsWasm();
  let seed = 7;
  const uniform = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 - 0.5; };
  const weight = Float32Array.from({ length: rows * cols }, () => 0.05 * uniform());
  const grad = Float32Array.from({ length: rows * cols }, () => 0.01 * uniform());

  // tfjs: Adam on a variable (state: two moment tensors of rows×cols).
  const variable = tf.variable(tf.tensor2d(weight, [rows, cols]));
  const tfAdam = tf.train.adam(1e-3);
  const tfjsStep = () => {
    tf.tidy(() => tfAdam.applyGradients({ [variable.name]: tf.tensor2d(grad, [rows, cols]) }));
    variable.dataSync(); // wait for the update, as a step feeding the next forward pass would
  };

  const modes = [
    ['full', { mode: 'full' }],
    ['lora', { mode: 'lora' }],
    ['fixed-a', { mode: 'fixed-a' }],
    ['fixed-b', { mode: 'fixed-b' }],
    ['random (sgd)', { mode: 'random' }],
    ['additive', { mode: 'additive' }],
    ['galore', { mode: 'galore' }],
    ['galore, refresh', { mode: 'galore', updateProjGap: 1 }],
  ];
  const results = [];
  for (const threadOption of threads) {
    const kx = await init({ threads: threadOption });
    const optimizers = modes.map(([name, options]) => [name, new kx.LowRankOptimizer({
      rows, cols, rank, lr: 1e-3, weight, seed: 1, ...options })]);
    const contenders = { tfjs: tfjsStep };
    for (const [name, opt] of optimizers) contenders[name] = () => opt.step(grad);
    for (const fn of Object.values(contenders)) warmUp(fn, { seconds: 0.3, minCalls: 3 });
    const ms = interleaved(contenders, runs);
    results.push({ threads: kx.threads, ms, floats: Object.fromEntries(optimizers.map(([n, o]) => [n, o.stateFloats])) });
    for (const [, opt] of optimizers) opt.dispose();
  }
  variable.dispose();
  tfAdam.dispose();

  const mib = (floats) => (floats * 4 / 2 ** 20).toFixed(2);
  const header = ['step', 'state floats', 'MiB'];
  for (const r of results) header.push(`ms ${r.threads}T`, `vs full ${r.threads}T`, `vs tfjs ${r.threads}T`);
  const rowsOut = [];
  rowsOut.push(['tfjs-wasm Adam', String(2 * rows * cols), mib(2 * rows * cols),
    ...results.flatMap((r) => [r.ms.tfjs.toFixed(3), (r.ms.tfjs / r.ms.full).toFixed(2) + '×', '1.00×'])]);
  for (const [name] of modes) {
    const floats = results[0].floats[name];
    rowsOut.push([name, String(floats), mib(floats), ...results.flatMap((r) => [
      r.ms[name].toFixed(3), (r.ms[name] / r.ms.full).toFixed(2) + '×', (r.ms[name] / r.ms.tfjs).toFixed(2) + '×'])]);
  }
  process.stdout.write(`LowRankOptimizer step, ${rows}×${cols} weight, r = ${rank}, from a Float32Array gradient ` +
    `(median ms of ${runs} interleaved runs after warm-up; ratios are time / time of full Adam in kexue ` +
    `and / time of the tfjs-wasm Adam step; 'galore, refresh' recomputes the projector every step, ` +
    `'galore' every 200 steps)\n`);
  process.stdout.write(table(header, rowsOut) + '\n');
  return results;
}
