// npm run bench -- losses
// Forward + backward of two losses from Float32Arrays to { loss, grad } Float32Arrays:
//   ZLPR (multi-label softmax + CE, hard labels) at batch 256 × 10,000 classes;
//   FlatNCE on a 4096 × 4096 similarity matrix (temperature 0.05, positives on the diagonal);
// kexue (one fused row kernel each, float32 SIMD with sums in double) against the same
// computation in tfjs-backend-wasm written the way a tfjs user would (bert4keras'
// multilabel_categorical_crossentropy; FlatNCE as lse over the negatives minus the positive),
// differentiated by tf.valueAndGrad. Same process, medians of interleaved runs after warm-up; the
// ratio is tfjs time / kexue time (above 1: kexue faster). Both sides include copying the inputs
// in and the gradient out.
import { init } from 'kexue';
import { loadTfjsWasm } from './peers.mjs';
import { interleaved, table, warmUp } from './timing.mjs';

function randomNormals(count, scale, seed) {
  let state = seed >>> 0;
  const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return (state + 0.5) / 2 ** 32; };
  const out = new Float32Array(count);
  for (let i = 0; i < count; ++i) out[i] = scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

export async function run({ batch = 256, classes = 10_000, n = 4096, temperature = 0.05, runs = 11,
  threads = [1, 'auto'] } = {}) {
  const tf = await loadTfjsWasm();

  // ZLPR: ~5 positives per row.
  const logits = randomNormals(batch * classes, 3, 1);
  const labels = new Float32Array(batch * classes);
  for (let r = 0; r < batch; ++r) for (let k = 0; k < 5; ++k) labels[r * classes + ((r * 7919 + k * 1543) % classes)] = 1;
  const labelsTensor = tf.tensor2d(labels, [batch, classes]);
  const zlprTf = tf.valueAndGrad((s) => {
    const y = labelsTensor;
    // bert4keras: scores of negatives and (sign-flipped) positives, the other side pushed to −1e12.
    const flipped = tf.mul(tf.sub(1, tf.mul(2, y)), s);
    const neg = tf.sub(flipped, tf.mul(y, 1e12));
    const pos = tf.sub(flipped, tf.mul(tf.sub(1, y), 1e12));
    const zeros = tf.zeros([batch, 1]);
    const lossNeg = tf.logSumExp(tf.concat([neg, zeros], 1), 1);
    const lossPos = tf.logSumExp(tf.concat([pos, zeros], 1), 1);
    return tf.mean(tf.add(lossNeg, lossPos));
  });
  const tfjsZlpr = () => {
    const { value, grad } = tf.tidy(() => zlprTf(tf.tensor2d(logits, [batch, classes])));
    const out = { loss: value.dataSync()[0], grad: grad.dataSync() };
    value.dispose();
    grad.dispose();
    return out;
  };

  // FlatNCE on an n × n similarity matrix (cosines of random unit vectors: values in [−1, 1]).
  const sim = randomNormals(n * n, 0.1, 2);
  for (let i = 0; i < n; ++i) sim[i * n + i] = 0.8;
  const eye = tf.eye(n);
  const eyeBig = tf.mul(eye, 1e12);
  const flatTf = tf.valueAndGrad((x) => {
    const s = tf.div(x, temperature);
    const positive = tf.sum(tf.mul(s, eye), 1);
    return tf.mean(tf.sub(tf.logSumExp(tf.sub(s, eyeBig), 1), positive));
  });
  const tfjsFlat = () => {
    const { value, grad } = tf.tidy(() => flatTf(tf.tensor2d(sim, [n, n])));
    const out = { loss: value.dataSync()[0], grad: grad.dataSync() };
    value.dispose();
    grad.dispose();
    return out;
  };

  const results = [];
  for (const threadOption of threads) {
    const kx = await init({ threads: threadOption, backend: 'wasm' });
    const kxZlpr = () => kx.losses.zlpr(logits, labels, { rows: batch, classes });
    const kxFlat = () => kx.losses.flatNCE(sim, { rows: n, cols: n, temperature });
    // The two sides compute the same thing.
    const [a, b] = [kxZlpr(), tfjsZlpr()];
    const [c, d] = [kxFlat(), tfjsFlat()];
    const maxDiff = (x, y) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
    const agreement = {
      zlpr: `loss ${Math.abs(a.loss - b.loss).toExponential(1)}, grad ${maxDiff(a.grad, b.grad).toExponential(1)}`,
      flat: `loss ${Math.abs(c.loss - d.loss).toExponential(1)}, grad ${maxDiff(c.grad, d.grad).toExponential(1)}`,
    };
    for (const fn of [kxZlpr, tfjsZlpr, kxFlat, tfjsFlat]) warmUp(fn, { seconds: 1, minCalls: 3 });
    const zlprMs = interleaved({ kexue: kxZlpr, tfjs: tfjsZlpr }, runs);
    const flatMs = interleaved({ kexue: kxFlat, tfjs: tfjsFlat }, runs);
    results.push({ threads: kx.threads, zlprMs, flatMs, agreement });
  }
  labelsTensor.dispose();
  eye.dispose();
  eyeBig.dispose();

  process.stdout.write(`Losses, forward + backward from Float32Arrays (median ms of ${runs} interleaved runs after ` +
    'warm-up; ratio = tfjs-wasm ms / kexue ms; tfjs-wasm runs one thread under Node)\n');
  const rowsOut = [];
  for (const r of results) {
    rowsOut.push([`ZLPR ${batch} × ${classes}`, r.threads, r.zlprMs.tfjs.toFixed(1), r.zlprMs.kexue.toFixed(1),
      (r.zlprMs.tfjs / r.zlprMs.kexue).toFixed(2) + '×', r.agreement.zlpr]);
    rowsOut.push([`FlatNCE ${n} × ${n}`, r.threads, r.flatMs.tfjs.toFixed(1), r.flatMs.kexue.toFixed(1),
      (r.flatMs.tfjs / r.flatMs.kexue).toFixed(2) + '×', r.agreement.flat]);
  }
  process.stdout.write(table(['loss', 'kexue threads', 'tfjs-wasm ms', 'kexue ms', 'ratio', '|kexue − tfjs|'], rowsOut) + '\n');
  return results;
}
