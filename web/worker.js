// The demo page's Web Worker: every heavy call runs here, so the page never freezes.
// Protocol: the page posts { id, type, args }; the worker answers { id, result } or
// { id, error }, and { id, progress } along the way for long work. { type: 'stop' } asks the
// running long job to end after its current step (it then resolves with what it has).
//
// Import maps do not reach module workers, so the worker imports the package by the URL the
// page's import map gives 'kexue' (a bundler would resolve the bare name in both).
import { init } from '/kexue/bindings/js/index.js';
import { lowRankFinetune } from '/kexue/examples/lowrank-finetune.mjs';
// The seeded generator the tests' WebGPU parity suite draws from too (served from tests/helpers/).
import { gaussian, mulberry32 } from '/tests/helpers/random.js';

// 'auto': WebGPU where the browser has an adapter, WASM otherwise. Calls that must be fast on a
// CPU-only machine (the needle sweep) pin backend 'wasm' per call.
const kx = await init();
let stopRequested = false;

// ---- helpers ----

// Lets queued messages (a 'stop') through between steps of a long job.
const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

// ---- attention ----

// One head's attention weights for n tokens: with V = I (dimV = n), row i of the output is row i
// of the attention matrix P, so the page shows exactly what the fused kernel computes.
// Q and K are a shared direction plus noise, rotated by the fused RoPE: the weights then decay
// with |i − j|, RoPE's relative-position structure.
async function attentionWeights({ n, scale, causal, backend = 'wasm' }) {
  const dim = 32;
  const normal = gaussian(mulberry32(7));
  const shared = Float64Array.from({ length: dim }, normal);
  const q = new Float32Array(n * dim);
  const k = new Float32Array(n * dim);
  for (let i = 0; i < n * dim; ++i) {
    q[i] = shared[i % dim] + 0.5 * normal();
    k[i] = shared[i % dim] + 0.5 * normal();
  }
  const v = new Float32Array(n * n);
  for (let i = 0; i < n; ++i) v[i * n + i] = 1;
  const options = { seqQ: n, heads: 1, dim, dimV: n, causal, scale, rope: { base: 10000 }, backend };
  await kx.attention(q, k, v, options); // warm-up
  const start = performance.now();
  const weights = await kx.attention(q, k, v, options);
  const ms = performance.now() - start;
  let entropy = 0;
  for (let i = 0; i < n; ++i) {
    for (let j = 0; j < n; ++j) {
      const p = weights[i * n + j];
      if (p > 0) entropy -= p * Math.log(p);
    }
  }
  return { weights, ms, meanEntropy: entropy / n, ranOn: backend === 'webgpu' ? 'WebGPU' : 'WASM' };
}

// The backward pass of the heatmap's call: gradients of L = Σ out ∘ dOut (dOut seeded) w.r.t. q,
// k, v on the chosen backend, checked against WASM (the demo's "Backward pass" button).
async function attentionBackwardCheck({ n, scale, causal, backend = 'wasm' }) {
  const dim = 32;
  const normal = gaussian(mulberry32(11));
  const q = Float32Array.from({ length: n * dim }, normal);
  const k = Float32Array.from({ length: n * dim }, normal);
  const v = Float32Array.from({ length: n * dim }, normal);
  const dOut = Float32Array.from({ length: n * dim }, normal);
  const options = { seqQ: n, heads: 1, dim, causal, scale, rope: { base: 10000 } };
  const onBackend = { ...options, backend };
  await kx.attentionBackward(q, k, v, dOut, onBackend); // warm-up (pipelines, buffers)
  const start = performance.now();
  const grads = await kx.attentionBackward(q, k, v, dOut, onBackend);
  const ms = performance.now() - start;
  const reference = kx.attentionBackward(q, k, v, dOut, { ...options, backend: 'wasm' });
  let difference = 0;
  for (const name of ['dq', 'dk', 'dv']) {
    let error = 0;
    let size = 0;
    for (let i = 0; i < reference[name].length; ++i) {
      error = Math.max(error, Math.abs(grads[name][i] - reference[name][i]));
      size = Math.max(size, Math.abs(reference[name][i]));
    }
    difference = Math.max(difference, error / size);
  }
  const norm = (x) => Math.sqrt(x.reduce((sum, value) => sum + value * value, 0));
  return {
    ms, difference, ranOn: backend === 'webgpu' ? 'WebGPU' : 'WASM',
    norms: { dq: norm(grads.dq), dk: norm(grads.dk), dv: norm(grads.dv) },
  };
}

// The "needle" experiment (attention issue; docs/math.md §2.6): d = 64, 48 queries; each query's own key
// (at a random position) equals the query, the other n − 1 keys are N(0, 1). The weight on the
// matching key comes from the library: V is one-hot on the needle positions (dimV = 48), so
// out[c][c] = P(query c → its needle). The row entropy is computed here in float64 from the
// same logits.
async function needle({ lengths, queries = 48 }, progress) {
  const dim = 64;
  const rows = [];
  stopRequested = false;
  for (const n of lengths) {
    const normal = gaussian(mulberry32(n));
    const q = Float32Array.from({ length: queries * dim }, normal);
    const k = Float32Array.from({ length: n * dim }, normal);
    const positions = new Set();
    const next = mulberry32(n + 1);
    while (positions.size < queries) positions.add(Math.floor(next() * n));
    const needles = [...positions];
    const v = new Float32Array(n * queries);
    needles.forEach((p, c) => {
      k.set(q.subarray(c * dim, (c + 1) * dim), p * dim);
      v[p * queries + c] = 1;
    });
    const row = { n };
    for (const scale of ['standard', 'entropy']) {
      const out = await kx.attention(q, k, v, { seqQ: queries, seqK: n, heads: 1, dim, dimV: queries, scale, backend: 'wasm' });
      let weight = 0;
      for (let c = 0; c < queries; ++c) weight += out[c * queries + c];
      row[scale] = { weight: weight / queries, entropy: meanEntropy(q, k, n, dim, queries, scale) };
    }
    rows.push(row);
    progress({ rows });
    await yieldToMessages();
    if (stopRequested) break;
  }
  return { rows, stopped: stopRequested };
}

function meanEntropy(q, k, n, dim, queries, scale) {
  const c = scale === 'standard' ? 1 / Math.sqrt(dim) : Math.log(Math.max(n, 16)) / Math.log(512) / Math.sqrt(dim);
  const logits = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < queries; ++i) {
    let max = -Infinity;
    for (let j = 0; j < n; ++j) {
      let dot = 0;
      for (let d = 0; d < dim; ++d) dot += q[i * dim + d] * k[j * dim + d];
      logits[j] = c * dot;
      max = Math.max(max, logits[j]);
    }
    let z = 0;
    let weighted = 0;
    for (let j = 0; j < n; ++j) {
      const e = Math.exp(logits[j] - max);
      z += e;
      weighted += e * (logits[j] - max);
    }
    total += Math.log(z) - weighted / z; // H = log Z − E_P[logit]
  }
  return total / queries;
}

// ---- whitening ----

const whitening = { x: null, rows: 0, dim: 0, stats: null, model: null, source: '' };

// Embeddings like a pre-trained encoder's: a large common mean (so raw cosines are all high,
// the anisotropy Su's post starts from) plus a few dominant directions.
function syntheticEmbeddings(rows, dim, seed = 3) {
  const normal = gaussian(mulberry32(seed));
  const mean = Float64Array.from({ length: dim }, () => 1.5 * normal());
  const mixing = Float64Array.from({ length: dim * dim }, normal);
  const spread = Float64Array.from({ length: dim }, (_, i) => 2 / (1 + i) ** 0.9);
  const x = new Float32Array(rows * dim);
  const z = new Float64Array(dim);
  for (let r = 0; r < rows; ++r) {
    for (let i = 0; i < dim; ++i) z[i] = normal() * spread[i];
    for (let j = 0; j < dim; ++j) {
      let s = mean[j];
      for (let i = 0; i < dim; ++i) s += z[i] * mixing[i * dim + j] / Math.sqrt(dim);
      x[r * dim + j] = s;
    }
  }
  return x;
}

// A 2-D float32/float64 little-endian C-order .npy file → { x, rows, dim }.
function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error('not a NumPy .npy file (bad magic string)');
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1]?.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (descr !== '<f4' && descr !== '<f8') throw new Error(`dtype ${descr} is not supported (float32 or float64 only)`);
  if (fortran !== 'False') throw new Error('Fortran-order arrays are not supported');
  if (!shape || shape.length !== 2) throw new Error(`expected a 2-D array, got shape (${shape})`);
  const [rows, dim] = shape;
  const offset = start + headerLength;
  const count = rows * dim;
  const size = descr === '<f4' ? 4 : 8;
  if (buffer.byteLength < offset + count * size) throw new Error('the file is truncated');
  const copy = buffer.slice(offset, offset + count * size);
  const x = descr === '<f4' ? new Float32Array(copy) : Float32Array.from(new Float64Array(copy));
  return { x, rows, dim };
}

function pairwiseCosines(y, rows, dim, limit = 300) {
  const m = Math.min(rows, limit);
  const norms = new Float64Array(m);
  for (let i = 0; i < m; ++i) {
    let s = 0;
    for (let d = 0; d < dim; ++d) s += y[i * dim + d] ** 2;
    norms[i] = Math.sqrt(s) || 1;
  }
  const out = new Float32Array((m * (m - 1)) / 2);
  let p = 0;
  for (let i = 0; i < m; ++i) {
    for (let j = i + 1; j < m; ++j) {
      let s = 0;
      for (let d = 0; d < dim; ++d) s += y[i * dim + d] * y[j * dim + d];
      out[p++] = s / (norms[i] * norms[j]);
    }
  }
  return out;
}

function whiteningLoad({ source, rows, dim, buffer, name }) {
  whitening.stats?.dispose();
  whitening.model?.dispose();
  whitening.model = null;
  if (source === 'file') {
    Object.assign(whitening, parseNpy(buffer), { source: name });
  } else {
    Object.assign(whitening, { x: syntheticEmbeddings(rows, dim), rows, dim, source: `synthetic ${rows} × ${dim}` });
  }
  whitening.stats = new kx.WhiteningStats(whitening.dim).add(whitening.x, whitening.rows);
  return { rows: whitening.rows, dim: whitening.dim, source: whitening.source,
    before: pairwiseCosines(whitening.x, whitening.rows, whitening.dim) };
}

function whiteningRefit({ beta, gamma, k }) {
  if (!whitening.stats) throw new Error('load embeddings first');
  const kk = Math.min(Math.max(1, k), whitening.dim);
  const start = performance.now();
  const model = whitening.stats.finalize({ beta, gamma, k: kk });
  const fitMs = performance.now() - start;
  whitening.model?.dispose();
  whitening.model = model;
  const sample = Math.min(whitening.rows, 300);
  const y = model.transform(whitening.x.subarray(0, sample * whitening.dim), { rows: sample });
  // Hubness (kexue.fm/archives/9147) of the same sample's cosine 10-NN graph, before and after.
  const hub = (x, dim) => {
    try {
      return kx.hubness(x, { rows: sample, dim, k: Math.min(10, sample - 1) });
    } catch {
      return null;  // a zero row (cosine undefined) or too few rows
    }
  };
  const hubBefore = hub(whitening.x.subarray(0, sample * whitening.dim), whitening.dim);
  const hubAfter = hub(y, kk);
  return { k: kk, fitMs, eigenvalues: model.eigenvalues, after: pairwiseCosines(y, sample, kk),
    json: JSON.stringify(model),
    hubness: hubBefore && hubAfter ? { rows: sample, k: hubBefore.k, before: hubBefore.skewness, after: hubAfter.skewness,
      maxBefore: hubBefore.max, maxAfter: hubAfter.max } : null };
}

// ---- GAN ----

const GAN_RANGES = { ring8: 1.6, grid25: 5.5, swissroll: 2.2 };

// Trains until stopped (or maxSteps), posting the samples over the real ones, the critic's value
// on a grid (for the contour), the losses and the mode metrics every `chunk` generator steps.
async function ganTrain({ dataset, lipschitz, hidden, batch = 256, chunk = 25, maxSteps = 100000, seed = 1 }, progress) {
  stopRequested = false;
  // GraN needs its ε (no default); 0.1 is what the package's tests train with.
  const eps = lipschitz === 'gran' ? 0.1 : undefined;
  const trainer = new kx.GanTrainer({ dataset, lipschitz, eps, preset: 'toy', batch, seed, critic: { hidden, activation: 'relu' }, generator: { latent: 2, hidden, activation: 'relu' } });
  const critic = new kx.Mlp({ sizes: [2, ...hidden, 1], activation: 'relu' });
  const range = GAN_RANGES[dataset];
  const real = kx.gan.sampleDataset(dataset, 1000, { seed });
  const gridSize = 48;
  const grid = new Float32Array(gridSize * gridSize * 2);
  for (let r = 0; r < gridSize; ++r) {
    for (let c = 0; c < gridSize; ++c) {
      grid[2 * (r * gridSize + c)] = -range + (2 * range * (c + 0.5)) / gridSize;
      grid[2 * (r * gridSize + c) + 1] = -range + (2 * range * (r + 0.5)) / gridSize;
    }
  }
  const history = [];
  const start = performance.now();
  let last = null;
  try {
    const snapshot = (losses) => {
      critic.setParameters(trainer.criticParameters);
      const metrics = trainer.evaluate();
      last = { step: trainer.steps, seconds: (performance.now() - start) / 1000, ...losses, ...metrics };
      history.push(last);
      progress({ range, real, fake: trainer.sample(1000), field: critic.forward(grid, { rows: gridSize * gridSize }),
        gridSize, history, modeCount: dataset === 'ring8' ? 8 : dataset === 'grid25' ? 25 : 0 });
    };
    snapshot({ criticLoss: NaN, generatorLoss: NaN, gradNorm: NaN });
    while (!stopRequested && trainer.steps < maxSteps) {
      snapshot(trainer.step(chunk));
      await yieldToMessages();
    }
    return { stopped: stopRequested, last };
  } finally {
    critic.dispose();
    trainer.dispose();
  }
}

// ---- diffusion ----

// The model of the last run stays here, so that "Sample" can run another sampler on it.
let diffusionModel = null;

const SAMPLERS = {
  ddpm: { sampler: 'ddpm' },
  'ddim-50': { sampler: 'ddim', steps: 50 },
  'ddim-20': { sampler: 'ddim', steps: 20 },
  'ddim-10': { sampler: 'ddim', steps: 10 },
};

// Trains until stopped (or maxSteps), posting DDIM-20 samples, the loss and the mode metrics
// every `chunk` steps.
async function diffusionTrain({ dataset, chunk = 100, maxSteps = 20000, seed = 1 }, progress) {
  stopRequested = false;
  diffusionModel?.trainer.dispose();
  const trainer = new kx.DiffusionTrainer({ dataset, seed });
  diffusionModel = { trainer, dataset };
  const range = GAN_RANGES[dataset];
  const real = kx.gan.sampleDataset(dataset, 1000, { seed });
  const preview = SAMPLERS['ddim-20'];
  const history = [];
  const start = performance.now();
  let last = null;
  const snapshot = (loss) => {
    const metrics = trainer.evaluate(1000, { ...preview, seed: 7 });
    last = { step: trainer.steps, seconds: (performance.now() - start) / 1000, loss, ...metrics };
    history.push(last);
    progress({ range, real, fake: trainer.sample(1000, preview), history, sampler: 'DDIM, 20 steps',
      modeCount: dataset === 'ring8' ? 8 : dataset === 'grid25' ? 25 : 0 });
  };
  snapshot(NaN);
  while (!stopRequested && trainer.steps < maxSteps) {
    snapshot(trainer.step(chunk).meanLoss);
    await yieldToMessages();
  }
  return { stopped: stopRequested, last };
}

// Samples the last trained model with the chosen sampler and scores 2,500 samples.
function diffusionSample({ sampler }) {
  if (!diffusionModel) throw new Error('train a model first');
  const { trainer, dataset } = diffusionModel;
  const options = SAMPLERS[sampler];
  const start = performance.now();
  const fake = trainer.sample(1000, options);
  const ms = performance.now() - start;
  const metrics = trainer.evaluate(2500, options);
  return { range: GAN_RANGES[dataset], real: kx.gan.sampleDataset(dataset, 1000, { seed: 1 }), fake, ms, metrics,
    step: trainer.steps, modeCount: dataset === 'ring8' ? 8 : dataset === 'grid25' ? 25 : 0 };
}

// ---- LoRA as an optimizer ----

// The package's worked example (examples/lowrank-finetune.mjs): a linear layer fine-tuned from
// W0 towards W0 + (a rank-4 change) by full Adam, LoRA and GaLore, each fed only ∂L/∂W.
function lowRank({ rank, lr, steps }) {
  const runs = [
    { name: 'full Adam', options: { mode: 'full', lr } },
    { name: `LoRA r=${rank}`, options: { mode: 'lora', rank, lr } },
    { name: `GaLore r=${rank}`, options: { mode: 'galore', rank, lr, updateProjGap: 50 } },
  ];
  const start = performance.now();
  const result = lowRankFinetune(kx, { runs, steps });
  return { ...result, ms: performance.now() - start };
}

// ---- the transformer ----

let transformer = null;  // { model, corpus, pretrained }

async function corpusOf({ source, text }) {
  if (source === 'pasted') return kx.Transformer.encodeBytes(text);
  const response = await fetch('/corpus/devils-dictionary.txt');
  if (!response.ok) throw new Error('the corpus is not served here (install Debian\'s dict-devil and use npm start), or paste a text');
  return new Uint8Array(await response.arrayBuffer());
}

// Trains a 2-layer byte-level model in chunks of 10 steps (train() with an AbortSignal that the
// page's Stop sets), reporting the loss curve and a sample every 100 steps.
async function transformerTrain({ source, text, scale, talkingHeads, positions, steps }, progress) {
  stopRequested = false;
  transformer?.model.dispose();
  const corpus = await corpusOf({ source, text });
  if (corpus.length < 80) throw new Error('the text must hold at least 80 bytes');
  const model = new kx.Transformer({
    vocab: 256, dModel: 64, layers: 2, heads: 4, maxSeq: 512,
    attention: { scale, baseLen: 64, rope: { base: 10000 }, talkingHeads }, optimizer: { lr: 3e-3 }, seed: 1,
  });
  transformer = { model, corpus, pretrained: null };
  const curve = [];
  let sample = '';
  const start = performance.now();
  const controller = new AbortController();
  while (model.steps < steps && !stopRequested) {
    try {
      const { losses } = await model.train(corpus, {
        steps: Math.min(10, steps - model.steps), batch: 8, seq: 64, positions, positionRange: 512,
        onProgress: () => { if (stopRequested) controller.abort(); }, signal: controller.signal,
      });
      losses.forEach((loss) => curve.push([curve.length + 1, loss]));
    } catch (error) {
      if (error.name !== 'AbortError') throw error;
    }
    if (model.steps % 100 === 0 || stopRequested || model.steps >= steps) {
      const at = Math.floor((model.steps * 7919) % Math.max(1, corpus.length - 32));
      const prompt = corpus.subarray(at, at + 24);
      sample = kx.Transformer.decodeBytes(prompt) + '▸' +
        kx.Transformer.decodeBytes(model.generate(prompt, { maxTokens: 120, temperature: 0.8, topK: 20, seed: model.steps }));
    }
    progress({ curve, sample, step: model.steps, seconds: (performance.now() - start) / 1000 });
    await yieldToMessages();
  }
  transformer.pretrained = model.save();
  return { stopped: stopRequested, step: model.steps, loss: curve.at(-1)?.[1], sample, bytes: transformer.pretrained.length,
    talkingHeads: model.options.attention.talkingHeads };
}

// The per-token loss of the trained model at lengths 64 … 512 (it trained at 64).
function transformerExtrapolate() {
  if (!transformer) throw new Error('train a model first');
  const { model, corpus } = transformer;
  const rows = [];
  for (const n of [64, 128, 256, 512]) {
    if (corpus.length < n + 1) break;
    const count = Math.max(1, Math.min(8, Math.floor((corpus.length - n - 1) / 997) + 1));
    const tokens = new Uint8Array(count * (n + 1));
    for (let r = 0; r < count; ++r) tokens.set(corpus.subarray(r * 997, r * 997 + n + 1), r * (n + 1));
    const losses = model.evaluate(tokens, { seq: n });
    rows.push([n, losses.reduce((s, x) => s + x, 0) / losses.length]);
  }
  return { rows };
}

// Fine-tunes copies of the trained model on the pasted text with full AdamW, LoRA and GaLore (rank
// 4) and a ladder side network (width dModel/8) for 60 steps each: the loss on that text before and after, and the optimizer memory.
async function transformerFinetune({ text }) {
  if (!transformer?.pretrained) throw new Error('train a model first');
  const corpus = kx.Transformer.encodeBytes(text);
  if (corpus.length < 66) throw new Error('paste at least 66 bytes of text');
  const rows = [];
  const windows = new Uint8Array(4 * 65);
  for (let r = 0; r < 4; ++r) {
    const at = Math.floor(r * (corpus.length - 65) / 4);
    windows.set(corpus.subarray(at, at + 65), r * 65);
  }
  const mean = (x) => x.reduce((s, v) => s + v, 0) / x.length;
  for (const [name, options] of [['full AdamW', { method: 'full', lr: 1e-3 }], ['LoRA r=4', { method: 'lora', rank: 4, lr: 1e-2 }],
    ['GaLore r=4', { method: 'galore', rank: 4, lr: 1e-2 }], ['ladder d/8', { method: 'ladder', reduction: 8, lr: 1e-2 }]]) {
    const model = kx.Transformer.load(transformer.pretrained);
    const before = mean(model.evaluate(windows, { seq: 64 }));
    const { optimizerBytes } = model.finetune(options);
    await model.train(corpus, { steps: 60, batch: 4, seq: 64 });
    rows.push({ name, before, after: mean(model.evaluate(windows, { seq: 64 })), optimizerBytes });
    model.dispose();
  }
  return { rows };
}

// ---- capabilities ----

async function capabilities() {
  if (kx.backend === 'webgpu') return { backend: 'webgpu', webgpu: true, webgpuReason: '' };
  // Ask for WebGPU explicitly to learn why 'auto' chose WASM (the error says why).
  let webgpuReason = 'unknown';
  try {
    await init({ backend: 'webgpu' });
  } catch (error) {
    webgpuReason = error.message;
  }
  return { backend: kx.backend, webgpu: false, webgpuReason };
}

// ---- dispatch ----

const handlers = { capabilities, lowRank, transformerTrain, transformerExtrapolate, transformerFinetune, ganTrain, diffusionTrain, diffusionSample, attentionWeights, attentionBackwardCheck, needle, whiteningLoad, whiteningRefit };

self.onmessage = async ({ data }) => {
  const { id, type, args } = data;
  if (type === 'stop') {
    stopRequested = true;
    return;
  }
  try {
    const result = await handlers[type](args, (progress) => self.postMessage({ id, progress }));
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: `${error.name}: ${error.message}` });
  }
};

self.postMessage({ ready: true, version: kx.version, threads: kx.threads });
