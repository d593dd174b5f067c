// npm run bench -- diffusion
// One training step of the 2-D diffusion model (docs/math.md §7.11; kexue.fm/archives/9119):
// the default ε-predictor (2 + 16 → 64 → 64 → 64 → 2, ReLU), batch 256 of ring8, t ~ U{1..1000},
// x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with Fourier features of t/T, DDPM's simple loss and one Adam
// step. kexue runs the whole step in C++ (DiffusionTrainer.step); tfjs-wasm runs the same model,
// loss and Adam (tf.train.adam, tf.variableGrads), drawing t, ε and the batch with its own ops.
// Same process, interleaved runs after warm-up, medians. Then DDPM (1000 steps) and DDIM (50)
// sampling of 2,500 points with the trained model.
import { init } from 'kexue';
import { loadTfjsWasm, tfjsMlp } from './peers.mjs';
import { interleaved, table, warmUp } from './timing.mjs';

export async function run({ runs = 30, batch = 256 } = {}) {
  const tf = await loadTfjsWasm();
  const kxAuto = await init();
  const kx1 = await init({ threads: 1 });
  const trainers = [kxAuto, kx1].map((kx) => new kx.DiffusionTrainer({ seed: 1, batch }));
  const { hidden, embedding, schedule, lr, beta1, beta2 } = trainers[0].options;
  const sizes = [2 + embedding, ...hidden, 2];
  const T = schedule.steps;
  const { alphaBar } = kx1.diffusion.linearSchedule(schedule);

  // The same initial parameters (kexue's layout: W out×in, then b) as tfjs variables.
  const parameters = trainers[0].parameters;
  const { vars, apply } = tfjsMlp(tf, sizes, parameters);
  const ring = kx1.gan.sampleDataset('ring8', 65536, { seed: 2 });
  const ringT = tf.tensor2d(ring, [65536, 2]);
  const sqrtAb = tf.tensor1d(Float32Array.from(alphaBar, Math.sqrt));
  const sqrt1mAb = tf.tensor1d(Float32Array.from(alphaBar, (a) => Math.sqrt(1 - a)));
  const octaves = tf.tensor1d(Float32Array.from({ length: embedding / 2 }, (_, k) => Math.PI * 2 ** k));
  const optimizer = tf.train.adam(lr, beta1, beta2, 1e-8);
  const tfjsStep = () => tf.tidy(() => {
    const index = tf.randomUniform([batch], 0, 65536, 'int32');
    const x0 = tf.gather(ringT, index);
    const t = tf.randomUniform([batch], 1, T + 1, 'int32');
    const eps = tf.randomNormal([batch, 2]);
    const xt = tf.add(tf.mul(x0, tf.reshape(tf.gather(sqrtAb, t), [batch, 1])),
      tf.mul(eps, tf.reshape(tf.gather(sqrt1mAb, t), [batch, 1])));
    const angle = tf.mul(tf.reshape(tf.div(tf.cast(t, 'float32'), T), [batch, 1]), octaves);
    const input = tf.concat([xt, tf.sin(angle), tf.cos(angle)], 1);
    const loss = optimizer.minimize(() => tf.mean(tf.square(tf.sub(apply(input), eps))), true, vars);
    return loss.dataSync()[0];
  });
  const oursStep = (trainer) => () => trainer.step().loss;

  const contenders = {
    'kexue (threads auto)': oursStep(trainers[0]),
    'kexue (1 thread)': oursStep(trainers[1]),
    'tfjs-wasm': tfjsStep,
  };
  for (const fn of Object.values(contenders)) warmUp(fn, { seconds: 1, minCalls: 5 });
  const medians = interleaved(contenders, runs);
  const tfMs = medians['tfjs-wasm'];
  console.log(`\nDiffusion training step, ε-predictor ${sizes.join('→')}, ReLU, batch ${batch}, Adam; ` +
    `kexue threads auto = ${kxAuto.threads}; median of ${runs} interleaved runs`);
  console.log(table(['contender', 'ms / step', 'tfjs / this'],
    Object.entries(medians).map(([name, ms]) => [name, ms.toFixed(2), (tfMs / ms).toFixed(1) + '×'])));

  const rows = [];
  const trainer = trainers[1];
  trainer.step(2000);
  for (const [label, options] of [['DDPM, 1000 steps', { sampler: 'ddpm' }], ['DDIM, 50 steps', { sampler: 'ddim', steps: 50 }]]) {
    const start = performance.now();
    const m = trainer.evaluate(2500, options);
    rows.push([label, (performance.now() - start).toFixed(0), m.modes, (100 * m.highQuality).toFixed(1) + '%', m.medianDistance.toFixed(4)]);
  }
  console.log(`\nSampling 2,500 points after ${trainer.steps} steps (1 thread)`);
  console.log(table(['sampler', 'ms', 'modes', 'high quality', 'median distance'], rows));
  for (const t of trainers) t.dispose();
  tf.dispose([...vars, ringT, sqrtAb, sqrt1mAb, octaves]);
}
