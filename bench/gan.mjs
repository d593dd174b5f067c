// npm run bench -- gan
// One WGAN-GP critic step (loss and exact parameter gradient, the gradient penalty's second-order
// term included) for the critic 2→256→256→1, ReLU, batch 256, and one GN critic step
// (f/(‖∇f‖+|f|) on real and fake, Wasserstein loss), kexue against TensorFlow.js on its WASM
// backend with tf.grad inside the loss and tf.variableGrads around it. Same process, same
// parameters and data, interleaved runs after warm-up, medians. Then the GanTrainer's full
// generator step (nCritic = 5 critic steps + 1 generator step, Adam) for reference.
import { init } from 'kexue';
import { loadTfjsWasm, tfjsMlp } from './peers.mjs';
import { interleaved, table, warmUp } from './timing.mjs';

function lcg(seed) {
  let state = seed >>> 0;
  return () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
}

export async function run({ runs = 15, batch = 256, hidden = 256 } = {}) {
  const tf = await loadTfjsWasm(); // with tfjs-core's gradient kernels registered (bench/peers.mjs)
  const kxAuto = await init();
  const kx1 = await init({ threads: 1 });
  const sizes = [2, hidden, hidden, 1];
  const rand = lcg(7);
  const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const real = Float32Array.from({ length: batch * 2 }, normal);
  const fake = Float32Array.from({ length: batch * 2 }, normal);
  const interpolation = Float32Array.from({ length: batch }, rand);
  const critics = [kxAuto, kx1].map((kx) => new kx.Mlp({ sizes, activation: 'relu', seed: 3 }));
  const parameters = critics[0].parameters;
  critics[1].setParameters(parameters);
  const { vars, apply: mlp } = tfjsMlp(tf, sizes, parameters);
  const apply = (x) => tf.reshape(mlp(x), [-1]);  // the critic's scores [rows]
  const realT = tf.tensor2d(real, [batch, 2]), fakeT = tf.tensor2d(fake, [batch, 2]);
  const tT = tf.tensor2d(interpolation, [batch, 1]);
  const lambda = 10;

  const tfjsGp = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const xh = tf.add(tf.mul(tT, realT), tf.mul(tf.sub(1, tT), fakeT));
      const g = tf.grad((x) => tf.sum(apply(x)))(xh);
      const s = tf.sqrt(tf.add(tf.sum(tf.square(g), 1), 1e-12));
      const penalty = tf.mul(lambda, tf.mean(tf.square(tf.sub(s, 1))));
      return tf.add(tf.sub(tf.mean(apply(fakeT)), tf.mean(apply(realT))), penalty);
    }, vars);
    return [value.dataSync()[0], Object.values(grads).map((t) => t.dataSync())];
  });
  const tfjsGn = () => tf.tidy(() => {
    const both = tf.concat([fakeT, realT], 0);
    const sign = tf.concat([tf.fill([batch], 1 / batch), tf.fill([batch], -1 / batch)]);
    const { value, grads } = tf.variableGrads(() => {
      const f = apply(both);
      const g = tf.grad((x) => tf.sum(apply(x)))(both);
      const norm = tf.sqrt(tf.sum(tf.square(g), 1));
      return tf.sum(tf.mul(sign, tf.div(f, tf.add(norm, tf.abs(f)))));
    }, vars);
    return [value.dataSync()[0], Object.values(grads).map((t) => t.dataSync())];
  });
  const both = new Float32Array(4 * batch);
  both.set(fake);
  both.set(real, 2 * batch);
  const oursGp = (kx, critic) => () => kx.gan.criticLoss(critic, { real, fake, interpolation, rows: batch, lambda });
  const oursGn = (kx, critic) => () => {
    const r = kx.gan.normalizedCritic(critic, both, { rows: 2 * batch });
    // The Wasserstein loss needs weights ±1/m: the sum gradient is enough for timing, and the
    // value is formed here to check agreement with tfjs.
    let loss = 0;
    for (let i = 0; i < 2 * batch; ++i) loss += (i < batch ? 1 : -1) * r.value[i] / batch;
    return loss;
  };

  // Agreement first: the same loss from both sides.
  const [tfGpLoss, tfGpGrads] = tfjsGp();
  const ours = oursGp(kx1, critics[1])();
  let maxGradDiff = 0, maxGrad = 0;
  let offset = 0;
  for (const g of tfGpGrads) {
    for (let i = 0; i < g.length; ++i) {
      maxGradDiff = Math.max(maxGradDiff, Math.abs(g[i] - ours.grad[offset + i]));
      maxGrad = Math.max(maxGrad, Math.abs(g[i]));
    }
    offset += g.length;
  }
  const [tfGnLoss] = tfjsGn();
  const oursGnLoss = oursGn(kx1, critics[1])();
  console.log(`\nWGAN-GP critic step agreement: loss kexue ${ours.loss.toFixed(6)} vs tfjs ${tfGpLoss.toFixed(6)}; ` +
    `max |Δgrad| ${maxGradDiff.toExponential(2)} (max |grad| ${maxGrad.toExponential(2)})`);
  console.log(`GN critic loss agreement: kexue ${oursGnLoss.toFixed(6)} vs tfjs ${tfGnLoss.toFixed(6)}`);

  const contenders = {
    'GP kexue (threads auto)': oursGp(kxAuto, critics[0]),
    'GP kexue (1 thread)': oursGp(kx1, critics[1]),
    'GP tfjs-wasm': tfjsGp,
    'GN kexue (threads auto)': oursGn(kxAuto, critics[0]),
    'GN kexue (1 thread)': oursGn(kx1, critics[1]),
    'GN tfjs-wasm': tfjsGn,
  };
  for (const fn of Object.values(contenders)) warmUp(fn, { seconds: 1, minCalls: 3 });
  const medians = interleaved(contenders, runs);
  const rows = [];
  for (const kind of ['GP', 'GN']) {
    const tfMs = medians[`${kind} tfjs-wasm`];
    for (const name of [`${kind} kexue (threads auto)`, `${kind} kexue (1 thread)`, `${kind} tfjs-wasm`]) {
      rows.push([name, medians[name].toFixed(2), (tfMs / medians[name]).toFixed(1) + '×']);
    }
  }
  console.log(`\nCritic step (loss + exact parameter gradient), ${sizes.join('→')}, ReLU, batch ${batch}; ` +
    `kexue threads auto = ${kxAuto.threads}; median of ${runs} interleaved runs`);
  console.log(table(['contender', 'ms', 'tfjs / this'], rows));

  // The trainer's full generator step, entirely in C++ (one call).
  const trainerRows = [];
  for (const lipschitz of ['gp', 'gn']) {
    for (const [label, kx] of [['threads auto', kxAuto], ['1 thread', kx1]]) {
      const gan = new kx.GanTrainer({ lipschitz, seed: 1 });
      gan.step(3);
      const start = performance.now();
      const n = 10;
      gan.step(n);
      trainerRows.push([`${lipschitz} (${label})`, ((performance.now() - start) / n).toFixed(1)]);
      gan.dispose();
    }
  }
  console.log('\nGanTrainer.step(): 5 critic steps + 1 generator step, both 2→256→256→·, batch 256, Adam');
  console.log(table(['lipschitz', 'ms / generator step'], trainerRows));
  for (const c of critics) c.dispose();
  for (const v of vars) v.dispose();
  tf.dispose([realT, fakeT, tT]);
}
