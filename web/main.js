// The demo page: the UI thread. It imports the package by name (through the import map) for its
// version, and runs every computation in web/worker.js so that the page never freezes.
import { version } from 'kexue';
import { COLORS, heatmap, histogram, linePlot, scatter } from './plot.js';

const $ = (id) => document.getElementById(id);

function wasmSimdSupported() {
  // The smallest module using a v128 instruction: validates only where WASM SIMD exists.
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
    10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
  return WebAssembly.validate(bytes);
}

// ---- the worker and its request/response protocol ----

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map();
let nextId = 1;
let readyResolve;
const ready = new Promise((resolve) => { readyResolve = resolve; });

worker.onmessage = ({ data }) => {
  if (data.ready) {
    readyResolve(data);
    return;
  }
  const request = pending.get(data.id);
  if (!request) return;
  if (data.progress !== undefined) {
    request.onProgress?.(data.progress);
    return;
  }
  pending.delete(data.id);
  if (data.error !== undefined) request.reject(new Error(data.error));
  else request.resolve(data.result);
};
worker.onerror = (event) => showError(`the worker failed: ${event.message}`);

function call(type, args, { onProgress, transfer = [] } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, type, args }, transfer);
  });
}

// Each section has its own status line (#status-<section>), so a message appears where its
// action was taken; the page-level #status only reports loading.
function statusLine(section) {
  return $(section ? `status-${section}` : 'status');
}

function setStatus(section, message) {
  const line = statusLine(section);
  line.classList.remove('error');
  line.textContent = message;
}

function showError(message, section) {
  statusLine(section).textContent = message;
  statusLine(section).classList.add('error');
}

// Runs an async UI action with its button disabled; errors go to its section's status line.
async function busy(button, action) {
  const section = button.closest('section')?.id;
  // A new action clears its section's last message ("done" must not describe the next run).
  setStatus(section, '');
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await action();
  } catch (error) {
    showError(error.message, section);
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

// ---- attention ----

function setUpAttention(capabilities) {
  const backendSelect = $('heatmap-backend');
  const webgpuOption = backendSelect.querySelector('option[value="webgpu"]');
  if (capabilities.webgpu) {
    backendSelect.value = 'webgpu';
    $('backend-note').textContent = 'WebGPU: the WGSL kernel (a CPU emulation such as SwiftShader is slow; the result is the same).';
  } else {
    webgpuOption.disabled = true;
    $('backend-note').textContent = `WebGPU unavailable: ${capabilities.webgpuReason}`;
  }

  $('heatmap-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('heatmap-run'), async () => {
      const n = Number($('heatmap-n').value);
      const scale = $('heatmap-scale').value;
      const causal = $('heatmap-causal').checked;
      const backend = backendSelect.value;
      const { weights, ms, meanEntropy, ranOn } = await call('attentionWeights', { n, scale, causal, backend });
      heatmap($('heatmap-canvas'), weights, n, n,
        { label: `attention weights of one head, n = ${n}, ${scale} scale${causal ? ', causal' : ''}` });
      $('heatmap-result').textContent = `n = ${n}, ${scale} scale${causal ? ', causal' : ''}: ` +
        `${ms.toFixed(2)} ms per call on ${ranOn}; mean row entropy ${meanEntropy.toFixed(3)} nats`;
    });
  });

  $('backward-run').addEventListener('click', () => {
    busy($('backward-run'), async () => {
      const n = Number($('heatmap-n').value);
      const scale = $('heatmap-scale').value;
      const causal = $('heatmap-causal').checked;
      const backend = backendSelect.value;
      const { ms, difference, ranOn, norms } = await call('attentionBackwardCheck', { n, scale, causal, backend });
      $('backward-result').textContent = `backward pass, n = ${n}, d = 32: ${ms.toFixed(2)} ms on ${ranOn}; ` +
        `‖dq‖ ${norms.dq.toFixed(3)}, ‖dk‖ ${norms.dk.toFixed(3)}, ‖dv‖ ${norms.dv.toFixed(3)}; ` +
        `largest relative difference from WASM ${difference.toExponential(1)}`;
    });
  });

  let needleRunning = false;
  $('needle-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (needleRunning) return;
    needleRunning = true;
    $('needle-stop').disabled = false;
    const max = Number($('needle-max').value);
    const lengths = [];
    for (let n = 128; n <= max; n *= 2) lengths.push(n);
    busy($('needle-run'), async () => {
      try {
        const result = await call('needle', { lengths }, { onProgress: drawNeedle });
        drawNeedle(result);
        setStatus('attention', result.stopped ? 'Needle experiment stopped.' : 'Needle experiment done.');
      } finally {
        needleRunning = false;
        $('needle-stop').disabled = true;
      }
    });
  });
  $('needle-stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));
}

function drawNeedle({ rows }) {
  const series = (key, field) => rows.map((row) => [row.n, row[key][field]]);
  linePlot($('needle-weight'), {
    series: [
      { name: 'standard 1/√d', color: COLORS[1], points: series('standard', 'weight') },
      { name: 'entropy log₅₁₂n/√d', color: COLORS[0], points: series('entropy', 'weight') },
    ],
    xLog: true, yMin: 0, yMax: 1, xLabel: 'n (keys)', yLabel: 'weight on the needle',
    label: 'weight on the matching key against n: ' + rows.map((r) =>
      `n ${r.n}: standard ${r.standard.weight.toFixed(3)}, entropy ${r.entropy.weight.toFixed(3)}`).join('; '),
  });
  linePlot($('needle-entropy'), {
    series: [
      { name: 'standard', color: COLORS[1], points: series('standard', 'entropy') },
      { name: 'entropy', color: COLORS[0], points: series('entropy', 'entropy') },
    ],
    xLog: true, yMin: 0, xLabel: 'n (keys)', yLabel: 'row entropy (nats)',
    label: 'row entropy against n',
  });
  $('needle-table').tBodies[0].replaceChildren(...rows.map((row) => {
    const tr = document.createElement('tr');
    for (const text of [String(row.n),
      `${row.standard.weight.toFixed(3)} (${row.standard.entropy.toFixed(2)})`,
      `${row.entropy.weight.toFixed(3)} (${row.entropy.entropy.toFixed(2)})`]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  }));
}

// ---- whitening ----

function setUpWhitening() {
  const sliders = ['beta', 'gamma', 'k'].map((name) => $(`whitening-${name}`));
  let before = null;
  let downloadUrl = null;

  async function refit() {
    for (const slider of sliders) $(`${slider.id}-value`).textContent = slider.value;
    const [beta, gamma, k] = sliders.map((slider) => Number(slider.value));
    const fit = await call('whiteningRefit', { beta, gamma, k });
    const lambda = Array.from(fit.eigenvalues);
    linePlot($('whitening-spectrum'), {
      series: [{ name: 'eigenvalues', points: lambda.map((v, i) => [i + 1, Math.max(v, 1e-12)]) }],
      yLog: true, xLabel: 'index', yLabel: 'eigenvalue',
      label: `eigenvalue spectrum, largest ${lambda[0].toPrecision(3)}, smallest ${lambda.at(-1).toPrecision(3)}`,
    });
    const mean = (values) => values.reduce((s, v) => s + v, 0) / values.length;
    histogram($('whitening-cosines'), {
      series: [{ name: 'raw', color: COLORS[1], values: before }, { name: `whitened (k = ${fit.k})`, color: COLORS[0], values: fit.after }],
      min: -1, max: 1, xLabel: 'pairwise cosine',
      label: `pairwise cosines: raw mean ${mean(before).toFixed(3)}, whitened mean ${mean(fit.after).toFixed(3)}`,
    });
    $('whitening-summary').textContent = `β = ${beta}, γ = ${gamma}, k = ${fit.k}: fitted in ${fit.fitMs.toFixed(1)} ms; ` +
      `mean pairwise cosine ${mean(before).toFixed(3)} raw → ${mean(fit.after).toFixed(3)} whitened`;
    const h = fit.hubness;
    $('whitening-hubness').textContent = h
      ? `hubness (cosine ${h.k}-NN of ${h.rows} rows): skewness of the k-occurrence ${h.before.toFixed(2)} raw → ` +
        `${h.after.toFixed(2)} whitened; largest k-occurrence ${h.maxBefore} → ${h.maxAfter}`
      : 'hubness: not defined for these rows (a zero vector)';
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([fit.json], { type: 'application/json' }));
    const link = $('whitening-download');
    link.href = downloadUrl;
    link.classList.remove('disabled');
    link.removeAttribute('aria-disabled');
  }

  async function load(args, transfer) {
    const loaded = await call('whiteningLoad', args, { transfer });
    before = loaded.before;
    const k = $('whitening-k');
    k.max = String(loaded.dim);
    k.value = String(loaded.dim);
    for (const slider of sliders) slider.disabled = false;
    setStatus('whitening', `Whitening: loaded ${loaded.source}.`);
    await refit();
  }

  $('whitening-load').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('whitening-synthetic'), () => load({ source: 'synthetic', rows: Number($('whitening-rows').value),
      dim: Number($('whitening-dim').value) }));
  });
  $('whitening-file').addEventListener('change', async () => {
    const file = $('whitening-file').files[0];
    if (!file) return;
    const buffer = await file.arrayBuffer();
    busy($('whitening-synthetic'), () => load({ source: 'file', buffer, name: file.name }, [buffer]));
  });
  // Refit when a slider settles (change fires on release and on each keyboard step).
  let refitting = Promise.resolve();
  for (const slider of sliders) {
    slider.addEventListener('input', () => { $(`${slider.id}-value`).textContent = slider.value; });
    slider.addEventListener('change', () => {
      refitting = refitting.then(refit).catch((error) => showError(error.message, 'whitening'));
    });
  }
  $('whitening-download').addEventListener('click', (event) => {
    if ($('whitening-download').classList.contains('disabled')) event.preventDefault();
  });
}

// ---- GAN ----

function setUpGan() {
  let running = false;
  $('gan-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (running) return;
    running = true;
    $('gan-stop').disabled = false;
    const dataset = $('gan-dataset').value;
    const lipschitz = $('gan-lipschitz').value;
    const width = Number($('gan-hidden').value);
    busy($('gan-run'), async () => {
      try {
        const result = await call('ganTrain', { dataset, lipschitz, hidden: [width, width] }, { onProgress: drawGan });
        setStatus('gan', `GAN training ${result.stopped ? 'stopped' : 'finished'} at step ${result.last.step}.`);
      } finally {
        running = false;
        $('gan-stop').disabled = true;
      }
    });
  });
  $('gan-stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));
}

function drawGan({ range, real, fake, field, gridSize, history, modeCount }) {
  const last = history.at(-1);
  scatter($('gan-samples'), {
    range: [-range, range],
    field: { values: field, size: gridSize },
    series: [{ name: 'generated', color: '#e8590c', points: fake, radius: 1.5 }, { name: 'real', color: '#1d2330', points: real, radius: 1 }],
    label: `generated samples at step ${last.step}: ${(100 * last.highQuality).toFixed(1)}% high quality` +
      (modeCount ? `, ${last.modes} of ${modeCount} modes` : ''),
  });
  const trained = history.filter((h) => Number.isFinite(h.criticLoss));
  linePlot($('gan-curves'), {
    series: [
      { name: 'median distance to a mode', color: COLORS[0], points: history.map((h) => [h.step, h.medianDistance]) },
      { name: 'high-quality share', color: COLORS[2], points: history.map((h) => [h.step, h.highQuality]) },
      { name: 'critic loss', color: COLORS[1], points: trained.map((h) => [h.step, h.criticLoss]) },
    ],
    xLabel: 'generator step', label: `training curves up to step ${last.step}`,
  });
  const rate = last.seconds > 0 ? (last.step / last.seconds).toFixed(0) : '–';
  $('gan-metrics').textContent = `step ${last.step} (${rate} steps/s): ` +
    (modeCount ? `modes captured ${last.modes} / ${modeCount}, ` : '') +
    `high-quality ${(100 * last.highQuality).toFixed(1)}%, reverse KL ${last.reverseKL.toFixed(3)}, ` +
    `median distance to a mode ${last.medianDistance.toFixed(3)}`;
}

// ---- diffusion ----

function setUpDiffusion() {
  let running = false;
  const samplerName = () => $('diffusion-sampler').selectedOptions[0].textContent;
  $('diffusion-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (running) return;
    running = true;
    $('diffusion-stop').disabled = false;
    $('diffusion-sample').disabled = true;
    const dataset = $('diffusion-dataset').value;
    busy($('diffusion-run'), async () => {
      try {
        const result = await call('diffusionTrain', { dataset }, { onProgress: drawDiffusion });
        setStatus('diffusion', `Diffusion training ${result.stopped ? 'stopped' : 'finished'} at step ${result.last.step}; ` +
          'choose a sampler and press Sample.');
      } finally {
        running = false;
        $('diffusion-stop').disabled = true;
        $('diffusion-sample').disabled = false;
      }
    });
  });
  $('diffusion-stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));
  $('diffusion-sample').addEventListener('click', () => {
    const sampler = $('diffusion-sampler').value;
    busy($('diffusion-sample'), async () => {
      const { range, real, fake, ms, metrics, step, modeCount } = await call('diffusionSample', { sampler });
      drawDiffusionSamples({ range, real, fake, step, modeCount, metrics, sampler: samplerName() });
      $('diffusion-metrics').textContent = `${samplerName()} after ${step} steps: ` + metricsText(metrics, modeCount);
      setStatus('diffusion', `Sampled 1,000 points with ${samplerName()} in ${ms.toFixed(0)} ms.`);
    });
  });
}

function metricsText(m, modeCount) {
  return (modeCount ? `modes captured ${m.modes} / ${modeCount}, ` : '') +
    `high-quality ${(100 * m.highQuality).toFixed(1)}%, reverse KL ${m.reverseKL.toFixed(3)}, ` +
    `median distance to a mode ${m.medianDistance.toFixed(3)}`;
}

function drawDiffusionSamples({ range, real, fake, step, modeCount, metrics, sampler }) {
  scatter($('diffusion-samples'), {
    range: [-range, range],
    series: [{ name: 'sampled', color: '#e8590c', points: fake, radius: 1.5 }, { name: 'real', color: '#1d2330', points: real, radius: 1 }],
    label: `${sampler} samples at step ${step}: ${(100 * metrics.highQuality).toFixed(1)}% high quality` +
      (modeCount ? `, ${metrics.modes} of ${modeCount} modes` : ''),
  });
}

function drawDiffusion({ range, real, fake, history, modeCount, sampler }) {
  const last = history.at(-1);
  drawDiffusionSamples({ range, real, fake, step: last.step, modeCount, metrics: last, sampler });
  const trained = history.filter((h) => Number.isFinite(h.loss));
  linePlot($('diffusion-curves'), {
    series: [
      { name: 'median distance to a mode', color: COLORS[0], points: history.map((h) => [h.step, Math.min(h.medianDistance, 2)]) },
      { name: 'high-quality share', color: COLORS[2], points: history.map((h) => [h.step, h.highQuality]) },
      { name: 'loss', color: COLORS[1], points: trained.map((h) => [h.step, h.loss]) },
    ],
    xLabel: 'step', label: `diffusion training curves up to step ${last.step}`,
  });
  const rate = last.seconds > 0 ? (last.step / last.seconds).toFixed(0) : '–';
  $('diffusion-metrics').textContent = `step ${last.step} (${rate} steps/s), ${sampler}: ` + metricsText(last, modeCount);
}

// ---- LoRA as an optimizer ----

function setUpLowRank() {
  $('lowrank-form').addEventListener('submit', (event) => {
    event.preventDefault();
    busy($('lowrank-run'), async () => {
      const rank = Number($('lowrank-rank').value);
      const lr = Number($('lowrank-lr').value);
      const steps = Number($('lowrank-steps').value);
      const result = await call('lowRank', { rank, lr, steps });
      const names = Object.keys(result.curves);
      linePlot($('lowrank-curves'), {
        series: names.map((name, i) => ({ name, color: COLORS[i], points: Array.from(result.curves[name], (loss, s) => [s, loss]) })),
        yLog: true, xLabel: 'step', yLabel: 'loss',
        label: 'loss curves: ' + names.map((n) => `${n} ends at ${result.finalLoss[n].toExponential(2)}`).join(', '),
      });
      $('lowrank-table').tBodies[0].replaceChildren(...names.map((name) => {
        const tr = document.createElement('tr');
        const floats = result.stateFloats[name];
        for (const text of [name, result.finalLoss[name].toExponential(2), String(floats), (floats * 4 / 1024).toFixed(1)]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }));
      setStatus('lowrank', `Fine-tuning done: 3 × ${steps} steps in ${(result.ms / 1000).toFixed(2)} s.`);
    });
  });
}

// ---- the transformer ----

function setUpTransformer() {
  const form = $('transformer-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const args = {
      source: $('transformer-source').value, text: $('transformer-text').value, scale: $('transformer-scale').value,
      talkingHeads: $('transformer-heads').value === 'talking',
      positions: $('transformer-positions').value, steps: Number($('transformer-steps').value),
    };
    $('transformer-stop').disabled = false;
    $('transformer-extrapolate').disabled = true;
    $('transformer-finetune').disabled = true;
    busy($('transformer-run'), async () => {
      try {
        const result = await call('transformerTrain', args, { onProgress: drawTransformer });
        setStatus('transformer', `Training ${result.stopped ? 'stopped' : 'finished'} at step ${result.step}, loss ` +
          `${result.loss?.toFixed(3)} nats/byte${result.talkingHeads ? ' (talking heads)' : ''}; saved as ` +
          `${(result.bytes / 1024).toFixed(0)} KiB of safetensors.`);
        $('transformer-extrapolate').disabled = false;
        $('transformer-finetune').disabled = false;
      } finally {
        $('transformer-stop').disabled = true;
      }
    });
  });
  $('transformer-stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));
  $('transformer-extrapolate').addEventListener('click', () => {
    busy($('transformer-extrapolate'), async () => {
      const { rows } = await call('transformerExtrapolate');
      linePlot($('transformer-lengths'), {
        series: [{ name: `per-token loss (${$('transformer-scale').value} scale)`, color: COLORS[0], points: rows }],
        xLabel: 'length n (trained at 64)', yLabel: 'nats/byte',
        label: 'loss against length: ' + rows.map(([n, l]) => `n=${n}: ${l.toFixed(3)}`).join(', '),
      });
      setStatus('transformer', 'Loss against length: ' + rows.map(([n, l]) => `${n}: ${l.toFixed(3)}`).join(', ') + '.');
    });
  });
  $('transformer-finetune').addEventListener('click', () => {
    busy($('transformer-finetune'), async () => {
      const { rows } = await call('transformerFinetune', { text: $('transformer-text').value });
      $('transformer-table').tBodies[0].replaceChildren(...rows.map((row) => {
        const tr = document.createElement('tr');
        for (const text of [row.name, row.before.toFixed(3), row.after.toFixed(3), (row.optimizerBytes / 1024).toFixed(1)]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }));
      setStatus('transformer', 'Fine-tuned with ' + rows.map((r) => `${r.name} (${(r.optimizerBytes / 1024).toFixed(1)} KiB)`).join(', ') + '.');
    });
  });
}

function drawTransformer({ curve, sample, step, seconds }) {
  linePlot($('transformer-curves'), {
    series: [{ name: 'training loss', color: COLORS[1], points: curve }],
    xLabel: 'step', yLabel: 'nats/byte',
    label: `training loss up to step ${step}: ${curve.at(-1)?.[1].toFixed(3)} (${(step / Math.max(seconds, 1e-3)).toFixed(1)} steps/s)`,
  });
  $('transformer-sample').textContent = sample;
}

// ---- start ----

async function main() {
  $('version').textContent = version;
  $('simd').textContent = `WASM SIMD: ${wasmSimdSupported() ? 'yes' : 'no'}`;
  $('isolation').textContent = `cross-origin isolated: ${globalThis.crossOriginIsolated ? 'yes' : 'no'}`;
  const info = await ready;
  const capabilities = await call('capabilities');
  $('backend').textContent = `backend: ${capabilities.backend}`;
  $('threads').textContent = `threads: ${info.threads}`;
  setUpAttention(capabilities);
  setUpWhitening();
  setUpGan();
  setUpDiffusion();
  setUpLowRank();
  setUpTransformer();
  $('status').textContent = 'Ready: the WASM module is loaded in a worker.';
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  showError(`Failed to start: ${error.message}`);
  throw error;
});
