// kx.Transformer benchmarks and experiments (README "A transformer in the page"):
//   npm run bench -- transformer-speed          one training step of 4 layers, dModel 256, 4 heads,
//                                               seq 256, batch 8 against the same model written with
//                                               tfjs-wasm ops and tf.variableGrads + tf.train.adam;
//                                               the share of attention / GEMM / the rest; activation
//                                               memory; generation tokens/s at context 1024
//   npm run bench -- transformer-extrapolation  train at seq 64, per-token loss at 64 … 1024 for
//                                               {standard, entropy} × training positions {0…n−1, random,
//                                               equal-mean} (evaluated at 0…n−1)
//   npm run bench -- transformer-finetune       pretrain on entries A–L, fine-tune on M–Z with full
//                                               AdamW, LoRA and GaLore at two ranks and ladder
//                                               side-tuning (r = 8): curves, loss, memory; SEEDS seeds
//                                               (default 3), each pretraining its own base
//   npm run bench -- transformer --part probe   the counting probe of kexue.fm/archives/9105 (n identical
//                                               tokens, target i + 1 at position i) for softmax, relu2,
//                                               l2 and softmax with a boundary token, over seeds
//                                               (bench/transformer_probe.mjs); about 10 s
//   npm run bench -- transformer --part gau     GAU (block 'gau', arXiv 2202.10447; kexue.fm/archives/8934,
//                                               9052) against the standard block at similar parameter
//                                               count: held-out loss after N steps and tokens/s, 3 seeds
//   npm run bench -- transformer [--part speed|extrapolation|finetune|probe|gau]   all parts, or one
// The text is the Devil's Dictionary from Debian's dict-devil package (scripts/corpus.mjs).
import { init } from '../bindings/js/index.js';
import { corpusBytes, corpusSplit, loadCorpus } from '../scripts/corpus.mjs';
import { loadTfjsWasm } from './peers.mjs';
import { lineChart } from './plot.mjs';
import { PROBE_SETTINGS, trainProbe } from './transformer_probe.mjs';
import { median, table } from './timing.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// --plot DIR: the extrapolation and probe parts also draw their results as SVG line charts in DIR
// (the README's figures are docs/bench/transformer-*.svg).
function writePlot(name, chart) {
  const at = process.argv.indexOf('--plot');
  if (at < 0) return;
  const dir = process.argv[at + 1];
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), lineChart(chart));
  log(`(plot: ${path.join(dir, name)})`);
}

const log = (line = '') => process.stdout.write(line + '\n');
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;

// Rows of `length` tokens at evenly spaced offsets of `bytes` (deterministic evaluation windows).
function windows(bytes, count, length) {
  const out = new Uint8Array(count * length);
  const stride = Math.floor((bytes.length - length) / count);
  for (let r = 0; r < count; ++r) out.set(bytes.subarray(r * stride, r * stride + length), r * length);
  return out;
}

// ---- throughput against tfjs-wasm ----------------------------------------------------------------

// The same pre-RMSNorm model in tfjs ops: RoPE (interleaved), causal softmax attention with the
// 1/√d scale, tanh-GELU FFN, tied head, mean cross-entropy; parameters copied from a kx.Transformer.
export function tfjsModel(tf, t) {
  const o = t.options;
  const params = t.parameters;
  const vars = {};
  for (const { name, shape, offset } of t.tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    vars[name] = tf.variable(tf.tensor(params.slice(offset, offset + size), shape), true, name);
  }
  const { dModel: d, heads: h, keySize: dk, normEps } = o;
  const dv = d / h;
  const base = o.attention.rope.base;
  const maskCache = new Map();
  const ropeCache = new Map();
  const rms = (x, g) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), normEps))), g);
  // RoPE as y = x∘cos + (x·P)∘sin with P the fixed pair rotation (x0, x1) → (−x1, x0): one small
  // product instead of split/stack, which tfjs-wasm runs slowly (Unpack/SplitV).
  const rotation = (() => {
    const p = new Float32Array(dk * dk);
    for (let i = 0; i < dk; i += 2) {
      p[(i + 1) * dk + i] = -1;  // y[i] = −x[i+1]
      p[i * dk + i + 1] = 1;     // y[i+1] = x[i]
    }
    return tf.keep(tf.tensor(p, [dk, dk]));
  })();
  const rope = (x, b, seq, heads) => {
    if (!ropeCache.has(seq)) {
      const c = new Float32Array(seq * dk);
      const sn = new Float32Array(seq * dk);
      for (let p = 0; p < seq; ++p) {
        for (let i = 0; i < dk / 2; ++i) {
          const angle = p * Math.pow(base, -2 * i / dk);
          c[p * dk + 2 * i] = c[p * dk + 2 * i + 1] = Math.cos(angle);
          sn[p * dk + 2 * i] = sn[p * dk + 2 * i + 1] = Math.sin(angle);
        }
      }
      ropeCache.set(seq, [tf.keep(tf.tensor(c, [seq, 1, dk])), tf.keep(tf.tensor(sn, [seq, 1, dk]))]);
    }
    const [cos, sin] = ropeCache.get(seq);
    const x4 = tf.reshape(x, [b, seq, heads, dk]);
    const turned = tf.reshape(tf.matMul(tf.reshape(x, [b * seq * heads, dk]), rotation), [b, seq, heads, dk]);
    return tf.add(tf.mul(x4, cos), tf.mul(turned, sin));
  };
  const gelu = (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(0.7978845608028654, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x))))))));
  const loss = (inputs, targets, b, seq) => {
    if (!maskCache.has(seq)) {
      const m = new Float32Array(seq * seq);
      for (let i = 0; i < seq; ++i) for (let j = i + 1; j < seq; ++j) m[i * seq + j] = -1e9;
      maskCache.set(seq, tf.keep(tf.tensor(m, [seq, seq])));
    }
    const mask = maskCache.get(seq);
    const n = b * seq;
    // The lookup as a one-hot product: tfjs-wasm has no gradient kernel for gather (UnsortedSegmentSum).
    let x = tf.matMul(tf.cast(tf.oneHot(inputs, o.vocab), 'float32'), vars['embedding.weight']);
    for (let l = 0; l < o.layers; ++l) {
      const p = (k) => vars[`layers.${l}.${k}`];
      const a = rms(x, p('attn_norm.weight'));
      const q = tf.transpose(rope(tf.matMul(a, p('attn.wq')), b, seq, h), [0, 2, 1, 3]);
      const k = tf.transpose(rope(tf.matMul(a, p('attn.wk')), b, seq, h), [0, 2, 1, 3]);
      const v = tf.transpose(tf.reshape(tf.matMul(a, p('attn.wv')), [b, seq, h, dv]), [0, 2, 1, 3]);
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dk)), mask);
      const att = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [n, d]);
      x = tf.add(x, tf.matMul(att, p('attn.wo')));
      const f = rms(x, p('ffn_norm.weight'));
      x = tf.add(x, tf.matMul(gelu(tf.matMul(f, p('ffn.w1'))), p('ffn.w2')));
    }
    const logits = tf.matMul(rms(x, vars['final_norm.weight']), vars['embedding.weight'], false, true);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(targets, o.vocab), tf.logSoftmax(logits)), -1)));
  };
  const optimizer = tf.train.adam(o.optimizer.lr, o.optimizer.beta1, o.optimizer.beta2, o.optimizer.eps);
  return {
    // One step: the loss, its gradients by tf.variableGrads (tf.grads over the variables), Adam.
    step(tokens, b, seq) {
      const inputs = new Int32Array(b * seq);
      const targets = new Int32Array(b * seq);
      for (let r = 0; r < b; ++r) {
        for (let i = 0; i < seq; ++i) {
          inputs[r * seq + i] = tokens[r * (seq + 1) + i];
          targets[r * seq + i] = tokens[r * (seq + 1) + i + 1];
        }
      }
      const inT = tf.tensor1d(inputs, 'int32');
      const tgT = tf.tensor1d(targets, 'int32');
      const { value, grads } = tf.variableGrads(() => loss(inT, tgT, b, seq), Object.values(vars));
      optimizer.applyGradients(grads);
      const result = value.dataSync()[0];
      tf.dispose([inT, tgT, value, ...Object.values(grads)]);
      return result;
    },
  };
}

export async function speed() {
  const tf = await loadTfjsWasm();
  const corpus = corpusBytes(loadCorpus());
  const shape = { batch: 8, seq: 256 };
  const options = {
    vocab: 256, dModel: 256, layers: 4, heads: 4, keySize: 64, ffn: 1024, maxSeq: 1024, norm: 'pre-rms',
    attention: { scale: 'standard', rope: { base: 10000 } }, optimizer: { lr: 1e-3, beta1: 0.9, beta2: 0.95, clipNorm: 0 }, seed: 1,
  };
  const batches = Array.from({ length: 4 }, (_, i) => windows(corpus.subarray(i * 50000), shape.batch, shape.seq + 1));
  const tokensPerStep = shape.batch * shape.seq;
  log(`\n## transformer-speed: one training step, 4 layers, dModel 256, 4 heads, seq ${shape.seq}, batch ${shape.batch} (${tokensPerStep} tokens)`);
  const rows = [];
  let tfjsMs = null;
  let reference = null;
  for (const threads of [1, 'auto']) {
    const kx = await init({ threads, backend: 'wasm' });
    const t = new kx.Transformer(options);
    if (threads === 1) {
      // The tfjs model starts from the same parameters: the first losses must agree.
      const model = tfjsModel(tf, t);
      const lossTfjs = model.step(batches[0], shape.batch, shape.seq);
      const lossKexue = t.trainStep(batches[0], shape);
      reference = { lossTfjs, lossKexue };
      const times = [];
      for (let i = 1; i < 3; ++i) {
        const start = performance.now();
        model.step(batches[i], shape.batch, shape.seq);
        times.push(performance.now() - start);
      }
      tfjsMs = median(times);
      rows.push(['tfjs-wasm 4.22 (tf.variableGrads + tf.train.adam), 1 thread', tfjsMs.toFixed(0), (tokensPerStep / tfjsMs * 1000).toFixed(0), '1.0×', '', '', '']);
    } else {
      t.trainStep(batches[0], shape);
    }
    const times = [];
    const shares = [];
    for (let i = 1; i < 4; ++i) {
      t.trainStep(batches[i], shape);
      const s = t.lastStepTimes;
      times.push(s.totalMs);
      shares.push(s);
    }
    const ms = median(times);
    const share = (key) => `${(100 * mean(shares.map((s) => s[key] / s.totalMs))).toFixed(0)}%`;
    rows.push([`kexue kx.Transformer, ${kx.threads} thread${kx.threads > 1 ? 's' : ''}`, ms.toFixed(0), (tokensPerStep / ms * 1000).toFixed(0),
      `${(tfjsMs / ms).toFixed(1)}×`, share('attentionMs'), share('gemmMs'),
      `${(100 * mean(shares.map((s) => 1 - (s.attentionMs + s.gemmMs) / s.totalMs))).toFixed(0)}%`]);
    if (threads === 'auto') {
      // Generation with the KV cache at context 1024: a 960-token prompt, then 64 tokens.
      const prompt = corpus.subarray(0, 960);
      t.generate(prompt, { maxTokens: 64, temperature: 0 });
      const start = performance.now();
      t.generate(prompt, { maxTokens: 64, temperature: 0 });
      const total = performance.now() - start;
      const prefill = t.evaluate(corpus.subarray(0, 961), { seq: 960 }) && t.lastStepTimes.totalMs;
      log(`generation (KV cache, ${kx.threads} threads): prompt 960 + 64 tokens in ${total.toFixed(0)} ms; ` +
        `decode ≈ ${(63 / ((total - prefill) / 1000)).toFixed(0)} tokens/s at context 960–1024 (prefill ≈ ${prefill.toFixed(0)} ms)`);
      const act = t.activationBytes(shape);
      const parameterBytes = 4 * t.parameterCount;
      log(`activation memory per step (${shape.batch}×${shape.seq}): ${(act / 2 ** 20).toFixed(1)} MiB; parameters ${(parameterBytes / 2 ** 20).toFixed(1)} MiB ` +
        `(+ gradients, AdamW moments: ×4 in all); at batch 1 the 2 GiB heap holds seq ≈ ` +
        `${Math.floor((2 ** 31 - 4 * parameterBytes) / (act / tokensPerStep)).toLocaleString('en')} tokens of activations for this model`);
    }
    t.dispose();
  }
  log(`first-step loss on the same parameters and batch: kexue ${reference.lossKexue.toFixed(5)}, tfjs ${reference.lossTfjs.toFixed(5)}\n`);
  log(table(['contender', 'ms/step', 'tokens/s', 'vs tfjs', 'attention', 'GEMM', 'rest'], rows));
}

// ---- length extrapolation --------------------------------------------------------------------

export async function extrapolation() {
  const kx = await init();
  const bytes = corpusBytes(loadCorpus());
  const split = Math.floor(bytes.length * 0.9);
  const train = bytes.subarray(0, split);
  const heldOut = bytes.subarray(split);
  const steps = Number(process.env.STEPS ?? 600);
  // Training is stochastic (initialisation, batches, random positions): each setting runs with
  // several seeds, and the table shows the mean and the range over them.
  const seeds = Array.from({ length: Number(process.env.SEEDS ?? 3) }, (_, i) => i + 1);
  const lengths = [64, 128, 256, 512, 1024];
  const model = { vocab: 256, dModel: 64, layers: 2, heads: 4, ffn: 256, maxSeq: 1024 };
  log(`\n## transformer-extrapolation: 2 layers, dModel 64, 4 heads (keySize 16), RoPE, trained ${steps} steps at seq 64, batch 16;` +
    ` mean per-token loss (nats/byte) on the last 10% of the text (${heldOut.length} bytes), evaluated at positions 0…n−1;` +
    ` seeds ${seeds.join(', ')}: mean (min–max)`);
  const rows = [];
  const series = [];
  for (const scale of ['standard', 'entropy']) {
    for (const positions of ['sequential', 'random', 'equal-mean']) {
      const losses = lengths.map(() => []);
      let seconds = 0;
      for (const seed of seeds) {
        const t = new kx.Transformer({
          ...model, attention: { scale, baseLen: 64, nMin: 1, rope: { base: 10000 } }, optimizer: { lr: 3e-3 }, seed,
        });
        const start = performance.now();
        await t.train(train, { steps, batch: 16, seq: 64, positions, positionRange: 1024, seed });
        seconds += (performance.now() - start) / 1000;
        lengths.forEach((n, i) => {
          const count = Math.max(4, Math.floor(16384 / n));
          losses[i].push(mean(t.evaluate(windows(heldOut, count, n + 1), { seq: n })));
        });
        t.dispose();
      }
      const cells = losses.map((values) => seeds.length === 1 ? values[0].toFixed(3)
        : `${mean(values).toFixed(3)} (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})`);
      const label = { sequential: '0…n−1', random: 'random in [0, 1024)', 'equal-mean': 'equal-mean (Exp(64) stretch)' }[positions];
      rows.push([scale, label, ...cells, `${(seconds / seeds.length).toFixed(0)} s`]);
      series.push({ name: `${scale}, ${label}`, ys: losses.map(mean), low: losses.map((v) => Math.min(...v)),
        high: losses.map((v) => Math.max(...v)) });
    }
  }
  log(table(['scale', 'training positions', ...lengths.map((n) => `n=${n}`), 'train time / seed'], rows));
  writePlot('transformer-extrapolation.svg', {
    title: `Trained at 64 tokens: held-out loss by evaluation length (${seeds.length} seeds, range as bars)`,
    xLabel: 'evaluation length n (positions 0…n−1)', yLabel: 'loss (nats/byte)', xs: lengths, series, logX: true,
  });
}

// ---- fine-tuning -------------------------------------------------------------------------------

export async function finetune() {
  const kx = await init();
  const { first, second } = corpusSplit(loadCorpus());
  const a = corpusBytes(first);
  const b = corpusBytes(second);
  const bTrain = b.subarray(0, Math.floor(b.length * 0.9));
  const bHeld = windows(b.subarray(Math.floor(b.length * 0.9)), 64, 65);
  const pretrainSteps = Number(process.env.PRETRAIN_STEPS ?? 600);
  const steps = Number(process.env.STEPS ?? 200);
  // Seed s pretrains its own base model (seed: s) and fine-tunes copies of it (the loaded copies keep
  // the seed, which draws their training windows and the ladder's side network).
  const seeds = Array.from({ length: Number(process.env.SEEDS ?? 3) }, (_, i) => i + 1);
  const options = { vocab: 256, dModel: 64, layers: 2, heads: 4, ffn: 256, maxSeq: 256, attention: { scale: 'standard' }, optimizer: { lr: 3e-3 } };
  const held = (t) => mean(t.evaluate(bHeld, { seq: 64 }));
  const spread = (values, digits = 3) => (values.length === 1 ? values[0].toFixed(digits)
    : `${mean(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`);
  log(`\n## transformer-finetune: 2 layers, dModel 64, pretrained ${pretrainSteps} steps on entries A–L; ${steps} steps on M–Z ` +
    `(batch 16, seq 64); held-out loss on the last 10% of M–Z (nats/byte) after each quarter of the run; ` +
    `seeds ${seeds.join(', ')}: mean (min–max)`);
  // [method, rank or ladder reduction, lr]
  const runs = [['full', undefined, 1e-3], ['lora', 2, 1e-2], ['lora', 8, 1e-2], ['galore', 2, 1e-2], ['galore', 8, 1e-2],
    ['ladder', 8, 1e-2]];
  const results = runs.map(() => ({ curves: [[], [], [], []], seconds: [], optimizerBytes: 0, trained: 0 }));
  const before = [];
  let fullMoments = 0;
  for (const seed of seeds) {
    const base = new kx.Transformer({ ...options, seed });
    await base.train(a, { steps: pretrainSteps, batch: 16, seq: 64 });
    const pretrained = base.save();
    before.push(held(base));
    fullMoments = base.optimizerBytes;
    for (const [r, [method, size, lr]] of runs.entries()) {
      const t = kx.Transformer.load(pretrained);
      const info = method === 'ladder'
        ? t.finetune({ method, reduction: size, lr })
        : t.finetune({ method, ...(size ? { rank: size } : {}), lr, targets: method === 'full' ? [] : ['wq', 'wk', 'wv', 'wo', 'w1', 'w2'], updateProjGap: 50 });
      const start = performance.now();
      for (let q = 0; q < 4; ++q) {
        await t.train(bTrain, { steps: Math.max(1, Math.round(steps / 4)), batch: 16, seq: 64 });
        results[r].curves[q].push(held(t));
      }
      results[r].seconds.push((performance.now() - start) / 1000);
      results[r].optimizerBytes = info.optimizerBytes;
      results[r].trained = info.trainedParameters;
      t.dispose();
    }
    base.dispose();
  }
  log(`before fine-tuning: ${spread(before)}; AdamW on the whole model would keep ${(fullMoments / 2 ** 20).toFixed(2)} MiB of moments`);
  const rows = runs.map(([method, size], r) => [
    method + (size ? (method === 'ladder' ? ` d/${size}` : ` r=${size}`) : ''),
    ...results[r].curves.map((values) => spread(values)),
    `${(results[r].optimizerBytes / 1024).toFixed(0)} KiB`, results[r].trained.toLocaleString('en'),
    `${mean(results[r].seconds).toFixed(0)} s`]);
  log(table(['method', '25%', '50%', '75%', '100%', 'optimizer state', 'trained params', 'time / seed'], rows));
}

// ---- the counting probe (kexue.fm/archives/9105) ----------------------------------------------------

export async function probe() {
  const kx = await init({ threads: 1 });
  const lengths = (process.env.PROBE_N ?? '16,32').split(',').map(Number);
  const steps = Number(process.env.STEPS ?? 1000);
  const seeds = Array.from({ length: Number(process.env.SEEDS ?? 5) }, (_, i) => i + 1);
  const checkpoints = [0, 100, 250, 500, steps].filter((s, i, all) => s <= steps && all.indexOf(s) === i);
  log(`\n## transformer probe (kexue.fm/archives/9105): n identical tokens, target i + 1 at position i; ` +
    `2 layers, dModel 32, 2 heads, ffn 64, RoPE, causal; AdamW lr 3e-3, batch 1, ${steps} steps; seeds ${seeds.join(', ')}`);
  log('accuracy: greedy count predictions right, over the n positions; solved: seeds at 100%; loss: mean per-token ' +
    'cross-entropy (nats; the uniform guess over n counts is log n)');
  for (const n of lengths) {
    const rows = [];
    const curveRows = [];
    const start = performance.now();
    for (const setting of PROBE_SETTINGS) {
      const runs = seeds.map((seed) => trainProbe(kx, { n, ...setting, seed, steps, checkpoints }));
      const accuracies = runs.map((r) => r.accuracy);
      const losses = runs.map((r) => r.loss);
      rows.push([setting.name, `${(100 * mean(accuracies)).toFixed(1)}%`,
        `${(100 * Math.min(...accuracies)).toFixed(1)}–${(100 * Math.max(...accuracies)).toFixed(1)}%`,
        `${runs.filter((r) => r.accuracy === 1).length}/${runs.length}`,
        mean(losses).toFixed(3), Math.max(...losses).toFixed(3)]);
      curveRows.push([setting.name, ...checkpoints.map((_, c) => mean(runs.map((r) => r.curve[c])).toFixed(3))]);
    }
    const seconds = (performance.now() - start) / 1000;
    log(`\nn = ${n} (vocab ${n + 2}; log n = ${Math.log(n).toFixed(3)}, chance accuracy ${(100 / n).toFixed(1)}%), ${seconds.toFixed(0)} s`);
    log(table(['attention', 'accuracy (mean)', 'accuracy (min–max)', 'solved', 'final loss (mean)', 'final loss (max)'], rows));
    log(`\nmean loss over seeds at step`);
    log(table(['attention', ...checkpoints.map(String)], curveRows));
    writePlot(`transformer-probe-${n}.svg`, {
      title: `Counting ${n} identical tokens: training loss (mean of ${seeds.length} seeds)`,
      xLabel: 'step', yLabel: 'loss (nats)', xs: checkpoints,
      series: curveRows.map(([name, ...values]) => ({ name, ys: values.map(Number) })),
    });
  }
}

// ---- GAU against the standard block -------------------------------------------------------------

// Two standard layers (attention + FFN) against four GAU layers (the paper stacks twice as many: a
// GAU layer at e = 2·dModel holds about half a standard layer's parameters), same width, optimizer,
// data and seeds; GAU once with Su's softmax + entropy scale (9052) and once with the paper's relu².
export async function gau() {
  const kx = await init({ threads: 1 });
  const bytes = corpusBytes(loadCorpus());
  const split = Math.floor(bytes.length * 0.9);
  const train = bytes.subarray(0, split);
  const held = windows(bytes.subarray(split), 64, 65);
  const steps = Number(process.env.STEPS ?? 150);
  const seeds = Array.from({ length: Number(process.env.SEEDS ?? 3) }, (_, i) => i + 1);
  const common = { vocab: 256, dModel: 64, maxSeq: 256, optimizer: { lr: 3e-3 } };
  const settings = [
    ['standard, 2 layers, 4 heads, ffn 256', { ...common, layers: 2, heads: 4, ffn: 256, attention: { scale: 'entropy', baseLen: 64 } }],
    ['gau, 4 layers, softmax + entropy', { ...common, layers: 4, heads: 1, block: 'gau', attention: { scale: 'entropy', baseLen: 64 } }],
    ['gau, 4 layers, relu2 (the paper)', { ...common, layers: 4, heads: 1, block: 'gau', attention: { scale: 'standard', normalize: 'relu2' } }],
  ];
  log(`\n## transformer gau: dModel 64, RoPE, causal, AdamW lr 3e-3, batch 16, seq 64, ${steps} steps, seeds ${seeds.join(', ')}, ` +
    `one thread; held-out loss: mean per-token loss (nats/byte) on 64 windows of the last 10% of the text`);
  const rows = [];
  for (const [name, options] of settings) {
    const losses = [];
    const rates = [];
    let parameters = 0;
    for (const seed of seeds) {
      const t = new kx.Transformer({ ...options, seed });
      parameters = t.parameterCount;
      const start = performance.now();
      await t.train(train, { steps, batch: 16, seq: 64 });
      rates.push((steps * 16 * 64) / ((performance.now() - start) / 1000));
      losses.push(mean(t.evaluate(held, { seq: 64 })));
      t.dispose();
    }
    rows.push([name, parameters.toLocaleString('en'), mean(losses).toFixed(3),
      `${Math.min(...losses).toFixed(3)}–${Math.max(...losses).toFixed(3)}`, Math.round(median(rates)).toLocaleString('en')]);
  }
  log(table(['block', 'parameters', 'held-out loss (mean)', 'held-out loss (min–max)', 'train tokens/s (median)'], rows));
}

const PARTS = {
  speed: () => speed(), extrapolation: () => extrapolation(), finetune: () => finetune(), probe: () => probe(), gau: () => gau(),
};

// All parts, or the one named by --part (npm run bench -- transformer --part probe).
export async function run() {
  const at = process.argv.indexOf('--part');
  const part = at >= 0 ? process.argv[at + 1] : undefined;
  if (part !== undefined && !(part in PARTS)) {
    throw new RangeError(`transformer: --part must be one of ${Object.keys(PARTS).join(', ')}, received ${JSON.stringify(part)}`);
  }
  for (const name of part ? [part] : Object.keys(PARTS)) await PARTS[name]();
}
