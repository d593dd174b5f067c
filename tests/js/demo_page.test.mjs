// The demo page in a real browser (headless Debian Chromium through playwright-core), served by
// the server `npm start` uses: it loads with no console errors or failed requests, each section's
// main action (with small sizes) produces its result, every control is labelled and usable from
// the keyboard, and a screenshot of each section lands in test-results/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDemo } from './helpers/browser.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = path.join(ROOT, 'test-results');
mkdirSync(SHOTS, { recursive: true });

let demo;
before(async () => {
  demo = await openDemo();
  await demo.page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
});
after(async () => { await demo?.close(); });

const drawn = (id) => `Number(document.getElementById('${id}').dataset.drawn || 0)`;

test('the footer shows the version, backend, threads, WASM SIMD and cross-origin isolation', async () => {
  const { page } = demo;
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(await page.textContent('#version'), pkg.version);
  assert.match(await page.textContent('#backend'), /^backend: (wasm|webgpu)$/);
  assert.match(await page.textContent('#threads'), /^threads: [1-4]$/);
  assert.equal(await page.textContent('#simd'), 'WASM SIMD: yes');
  assert.equal(await page.textContent('#isolation'), 'cross-origin isolated: yes');
  assert.match(await page.textContent('#status'), /Ready/);
});

test('attention: the heatmap is the kernel\'s attention matrix, drawn from the keyboard', async () => {
  const { page } = demo;
  await page.focus('#heatmap-n');
  await page.selectOption('#heatmap-n', '32');
  await page.selectOption('#heatmap-scale', 'standard');
  await page.check('#heatmap-causal');
  await page.selectOption('#heatmap-backend', 'wasm');
  await page.focus('#heatmap-run');
  await page.keyboard.press('Enter');
  await page.waitForFunction(`${drawn('heatmap-canvas')} >= 1`);
  const text = await page.textContent('#heatmap-result');
  assert.match(text, /n = 32, standard scale, causal: [\d.]+ ms per call on WASM; mean row entropy [\d.]+ nats/);
  // Causal: the first row sees one key, so its entropy is 0 and the mean is below log 32.
  const entropy = Number(text.match(/entropy ([\d.]+)/)[1]);
  assert.ok(entropy > 0 && entropy < Math.log(32), text);
  // The canvas has pixels: the top-right corner (masked keys) is dark, the diagonal bright.
  const pixels = await page.evaluate(() => {
    const canvas = document.getElementById('heatmap-canvas');
    const ctx = canvas.getContext('2d');
    const r = devicePixelRatio;
    const sample = (x, y) => Array.from(ctx.getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data);
    return { corner: sample(52 + 300, 14 + 5), diagonal: sample(52 + 5, 14 + 5) };
  });
  assert.ok(pixels.diagonal[0] + pixels.diagonal[1] > pixels.corner[0] + pixels.corner[1], JSON.stringify(pixels));
  await page.locator('#heatmap-canvas').screenshot({ path: path.join(SHOTS, 'demo-attention-heatmap.png') });
});

test('attention: the heatmap runs on WebGPU (SwiftShader here) with the same weights as on WASM', async () => {
  const { page } = demo;
  assert.equal(await page.textContent('#backend'), 'backend: webgpu');
  const run = async (backend) => {
    await page.selectOption('#heatmap-n', '64');
    await page.selectOption('#heatmap-scale', 'entropy');
    await page.uncheck('#heatmap-causal');
    await page.selectOption('#heatmap-backend', backend);
    const before = await page.evaluate(drawn('heatmap-canvas'));
    await page.click('#heatmap-run');
    await page.waitForFunction(`${drawn('heatmap-canvas')} > ${before}`, null, { timeout: 60_000 });
    return page.textContent('#heatmap-result');
  };
  const gpu = await run('webgpu');
  const wasm = await run('wasm');
  assert.match(gpu, /on WebGPU/);
  assert.match(wasm, /on WASM/);
  const entropy = (text) => text.match(/entropy ([\d.]+) nats/)[1];
  assert.equal(entropy(gpu), entropy(wasm));
});

test('attention: the backward pass runs on WebGPU (SwiftShader here) and agrees with WASM', async () => {
  const { page } = demo;
  await page.selectOption('#heatmap-n', '64');
  await page.selectOption('#heatmap-scale', 'entropy');
  await page.check('#heatmap-causal');
  await page.selectOption('#heatmap-backend', 'webgpu');
  await page.click('#backward-run');
  await page.waitForFunction(() => /backward pass/.test(document.getElementById('backward-result').textContent), null,
    { timeout: 120_000 });
  const text = await page.textContent('#backward-result');
  assert.match(text, /on WebGPU/);
  const difference = Number(text.match(/difference from WASM ([\d.e+-]+)/)[1]);
  assert.ok(difference <= 1e-4, text);
});

test('attention: the needle experiment shows entropy scaling holding its weight', async () => {
  const { page } = demo;
  await page.selectOption('#needle-max', '1024');
  await page.click('#needle-run');
  await page.waitForFunction(() => /done|stopped/.test(document.getElementById('status-attention').textContent)
    && document.querySelectorAll('#needle-table tbody tr').length === 4, null, { timeout: 120_000 });
  const rows = await page.$$eval('#needle-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells, (td) => td.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), ['128', '256', '512', '1024']);
  const weight = (cell) => Number(cell.split(' ')[0]);
  const standardDrop = weight(rows[0][1]) - weight(rows[3][1]);
  const entropyDrop = weight(rows[0][2]) - weight(rows[3][2]);
  assert.ok(standardDrop > 0.1, `standard: ${rows[0][1]} → ${rows[3][1]}`);
  assert.ok(Math.abs(entropyDrop) < standardDrop / 2, `entropy: ${rows[0][2]} → ${rows[3][2]}`);
  assert.ok(await page.evaluate(drawn('needle-weight')) >= 1);
  await page.locator('#attention').screenshot({ path: path.join(SHOTS, 'demo-attention.png') });
});

test('attention: a long needle run can be stopped', async () => {
  const { page } = demo;
  await page.selectOption('#needle-max', '8192');
  // Start and press Stop in one task: the whole sweep takes well under a second here, so a
  // separate click could come after it ended.
  await page.evaluate(() => {
    document.getElementById('needle-run').click();
    document.getElementById('needle-stop').click();
  });
  await page.waitForFunction(() => /Needle experiment (stopped|done)/.test(document.getElementById('status-attention').textContent),
    null, { timeout: 120_000 });
  assert.match(await page.textContent('#status-attention'), /Needle experiment stopped/);
  const count = await page.$$eval('#needle-table tbody tr', (trs) => trs.length);
  assert.ok(count < 7, `stopped after ${count} of 7 lengths`);
  assert.equal(await page.$eval('#needle-stop', (b) => b.disabled), true);
});

test('whitening: fit, refit from the keyboard, and download the model', async () => {
  const { page } = demo;
  await page.selectOption('#whitening-rows', '1000');
  await page.click('#whitening-synthetic');
  await page.waitForFunction(() => /fitted in/.test(document.getElementById('whitening-summary').textContent));
  const first = await page.textContent('#whitening-summary');
  const [, raw, white] = first.match(/mean pairwise cosine ([-\d.]+) raw → ([-\d.]+) whitened/).map(Number);
  assert.ok(raw > 0.5, first);             // anisotropic raw embeddings
  assert.ok(Math.abs(white) < 0.05, first); // whitened: cosines centred on 0

  // γ and k from the keyboard: a rotation plus truncation keeps cosines close to the raw ones.
  await page.focus('#whitening-beta');
  for (let i = 0; i < 10; ++i) await page.keyboard.press('ArrowLeft');
  await page.focus('#whitening-gamma');
  for (let i = 0; i < 10; ++i) await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => /β = 0, γ = 0, k = 64/.test(document.getElementById('whitening-summary').textContent));
  assert.match(await page.textContent('#whitening-hubness'),
    /hubness \(cosine 10-NN of \d+ rows\): skewness of the k-occurrence -?[\d.]+ raw → -?[\d.]+ whitened/);
  const second = await page.textContent('#whitening-summary');
  const kept = Number(second.match(/→ ([-\d.]+) whitened/)[1]);
  assert.ok(Math.abs(kept - raw) < 0.02, second);
  assert.ok(await page.evaluate(drawn('whitening-spectrum')) >= 1);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#whitening-download')]);
  const model = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(model.format, 'kexue-whitening');
  assert.equal(model.dim, 64);
  assert.equal(model.beta, 0);
  await page.locator('#whitening').screenshot({ path: path.join(SHOTS, 'demo-whitening.png') });
});

test('GAN: training on ring8 shows samples, curves and metrics, and stops on request', async () => {
  const { page } = demo;
  await page.selectOption('#gan-dataset', 'ring8');
  await page.selectOption('#gan-lipschitz', 'gp');
  await page.selectOption('#gan-hidden', '64');
  await page.click('#gan-run');
  await page.waitForFunction(() => {
    const m = /^step (\d+)/.exec(document.getElementById('gan-metrics').textContent);
    return m && Number(m[1]) >= 100;
  }, null, { timeout: 120_000 });
  await page.click('#gan-stop');
  await page.waitForFunction(() => /GAN training stopped/.test(document.getElementById('status-gan').textContent), null, { timeout: 60_000 });
  const text = await page.textContent('#gan-metrics');
  assert.match(text, /modes captured \d+ \/ 8, high-quality [\d.]+%, reverse KL [\d.]+, median distance to a mode [\d.]+/);
  assert.ok(await page.evaluate(drawn('gan-samples')) >= 2);
  assert.ok(await page.evaluate(drawn('gan-curves')) >= 2);
  assert.match(await page.getAttribute('#gan-samples', 'aria-label'), /generated samples at step \d+/);
  await page.locator('#gan').screenshot({ path: path.join(SHOTS, 'demo-gan.png') });
});

test('Diffusion: training on ring8 shows DDIM previews and metrics, stops, then samples with DDPM and DDIM', async () => {
  const { page } = demo;
  await page.selectOption('#diffusion-dataset', 'ring8');
  await page.click('#diffusion-run');
  await page.waitForFunction(() => {
    const m = /^step (\d+)/.exec(document.getElementById('diffusion-metrics').textContent);
    return m && Number(m[1]) >= 300;
  }, null, { timeout: 120_000 });
  await page.click('#diffusion-stop');
  await page.waitForFunction(() => /Diffusion training stopped/.test(document.getElementById('status-diffusion').textContent), null, { timeout: 60_000 });
  assert.match(await page.textContent('#diffusion-metrics'),
    /DDIM, 20 steps: modes captured \d+ \/ 8, high-quality [\d.]+%, reverse KL [\d.NaN]+, median distance to a mode [\d.]+/);
  assert.ok(await page.evaluate(drawn('diffusion-curves')) >= 2);
  for (const [sampler, name] of [['ddpm', 'DDPM, 1000 steps'], ['ddim-10', 'DDIM, 10 steps']]) {
    await page.selectOption('#diffusion-sampler', sampler);
    await page.click('#diffusion-sample');
    await page.waitForFunction((n) => document.getElementById('status-diffusion').textContent.includes(`with ${n}`), name, { timeout: 120_000 });
    assert.match(await page.textContent('#diffusion-metrics'), new RegExp(`^${name} after \\d+ steps: modes captured \\d+ / 8`));
    assert.match(await page.getAttribute('#diffusion-samples', 'aria-label'), new RegExp(`^${name} samples at step \\d+`));
  }
  assert.ok(await page.evaluate(drawn('diffusion-samples')) >= 2);
  await page.locator('#diffusion').screenshot({ path: path.join(SHOTS, 'demo-diffusion.png') });
});

test('LoRA as an optimizer: the worked example runs with the chosen rank', async () => {
  const { page } = demo;
  await page.selectOption('#lowrank-rank', '2');
  await page.selectOption('#lowrank-steps', '100');
  await page.click('#lowrank-run');
  await page.waitForFunction(() => document.querySelectorAll('#lowrank-table tbody tr').length === 3, null, { timeout: 60_000 });
  const rows = await page.$$eval('#lowrank-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells, (td) => td.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), ['full Adam', 'LoRA r=2', 'GaLore r=2']);
  // State: full Adam 2·rows·cols; LoRA r=2 and GaLore r=2 far less.
  assert.equal(Number(rows[0][2]), 2 * 128 * 96);
  assert.ok(Number(rows[1][2]) < Number(rows[0][2]) / 5 && Number(rows[2][2]) < Number(rows[0][2]) / 5, JSON.stringify(rows));
  // Every run lowered the loss from its start (214.6, not a docs/math.md vector: it follows from the example's seed).
  for (const row of rows) assert.ok(Number(row[1]) < 100, JSON.stringify(row));
  assert.ok(await page.evaluate(drawn('lowrank-curves')) >= 1);
  // The status line of the action sits inside its own section (it used to appear above the first).
  await page.waitForFunction(() => /Fine-tuning done: 3 × 100 steps/.test(document.getElementById('status-lowrank').textContent), null, { timeout: 30_000 });
  assert.ok(await page.$eval('#status-lowrank', (p) => p.closest('section')?.id === 'lowrank'));
  assert.doesNotMatch(await page.textContent('#status'), /Fine-tuning/);
  await page.locator('#lowrank').screenshot({ path: path.join(SHOTS, 'demo-lowrank.png') });
});

test('transformer: trains live on the Devil\'s Dictionary with samples, stops, measures loss against length, fine-tunes with LoRA, GaLore and a ladder', async () => {
  const { page } = demo;
  await page.selectOption('#transformer-steps', '3000');
  await page.click('#transformer-run');
  // A sample appears as it learns (every 100 steps); then Stop ends the run after its current step.
  await page.waitForFunction(() => document.getElementById('transformer-sample').textContent.includes('▸'), null, { timeout: 120_000 });
  assert.ok(await page.evaluate(drawn('transformer-curves')) >= 1);
  await page.click('#transformer-stop');
  await page.waitForFunction(() => /Training stopped at step \d+/.test(document.getElementById('status-transformer').textContent), null, { timeout: 60_000 });
  const status = await page.textContent('#status-transformer');
  const step = Number(/step (\d+)/.exec(status)[1]);
  assert.ok(step >= 100 && step < 3000, status);
  await page.click('#transformer-extrapolate');
  await page.waitForFunction(() => /Loss against length: 64: /.test(document.getElementById('status-transformer').textContent), null, { timeout: 60_000 });
  assert.match(await page.textContent('#status-transformer'), /512: \d\.\d{3}/);
  assert.ok(await page.evaluate(drawn('transformer-lengths')) >= 1);
  await page.click('#transformer-finetune');
  await page.waitForFunction(() => document.querySelectorAll('#transformer-table tbody tr').length === 4, null, { timeout: 120_000 });
  const rows = await page.$$eval('#transformer-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.cells, (td) => td.textContent)));
  assert.deepEqual(rows.map((r) => r[0]), ['full AdamW', 'LoRA r=4', 'GaLore r=4', 'ladder d/8']);
  for (const row of rows) assert.ok(Number(row[2]) < Number(row[1]), `fine-tuning lowers the loss on the text: ${row}`);
  assert.ok(Number(rows[1][3]) < Number(rows[0][3]) / 4, `LoRA's optimizer memory: ${rows}`);
  assert.ok(Number(rows[3][3]) < Number(rows[0][3]) / 4, `the ladder's optimizer memory: ${rows}`);
  await page.locator('#transformer').screenshot({ path: path.join(SHOTS, 'demo-transformer.png') });
  // Talking heads (the Heads select): 100 steps train to the end and sample.
  await page.selectOption('#transformer-heads', 'talking');
  await page.selectOption('#transformer-steps', '100');
  await page.click('#transformer-run');
  await page.waitForFunction(() => /Training finished at step 100, loss \d+\.\d+ nats\/byte \(talking heads\)/.test(document.getElementById('status-transformer').textContent), null, { timeout: 120_000 });
  const talking = await page.textContent('#status-transformer');
  const loss = Number(/loss (\d+\.\d+)/.exec(talking)[1]);
  assert.ok(loss < 3.5, `talking heads learn in 100 steps (byte entropy of uniform text: 5.5): ${talking}`);
  assert.match(await page.textContent('#transformer-sample'), /▸/);
});

// A 2-D float32 .npy file (format 1.0) of rows×dim values.
function npyBuffer(values, rows, dim) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]);
}

test('whitening: a .npy file the user picks is fitted', async () => {
  const { page } = demo;
  const rows = 300, dim = 16;
  // Rows on a common offset plus noise: raw cosines near 1.
  const values = Float32Array.from({ length: rows * dim }, (_, i) => 3 + Math.sin(i * 12.9898) * 0.5);
  await page.setInputFiles('#whitening-file', { name: 'emb.npy', mimeType: 'application/octet-stream', buffer: npyBuffer(values, rows, dim) });
  await page.waitForFunction(() => /loaded emb\.npy/.test(document.getElementById('status-whitening').textContent)
    && /k = 16: fitted/.test(document.getElementById('whitening-summary').textContent), null, { timeout: 60_000 });
  assert.equal(await page.getAttribute('#whitening-k', 'max'), '16');
  // A file that is not .npy gets a clear error in the section's status line, and the page stays usable.
  await page.setInputFiles('#whitening-file', { name: 'bad.npy', mimeType: 'application/octet-stream', buffer: Buffer.from('hello') });
  await page.waitForFunction(() => /not a NumPy \.npy file/.test(document.getElementById('status-whitening').textContent), null, { timeout: 30_000 });
});

test('every control has a label and is reachable with Tab', async () => {
  const { page } = demo;
  const unlabelled = await page.$$eval('input, select, button, a.button', (controls) => controls
    .filter((c) => !(c.labels?.length || c.getAttribute('aria-label') || c.textContent.trim()))
    .map((c) => c.id));
  assert.deepEqual(unlabelled, []);
  // Walk the tab order from the top and collect every focusable control reached.
  await page.evaluate(() => document.activeElement?.blur());
  const reached = new Set();
  for (let i = 0; i < 90; ++i) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.id);
    if (id) reached.add(id);
  }
  const focusable = await page.$$eval('input:not([disabled]), select:not([disabled]), button:not([disabled]), a.button:not(.disabled)',
    (controls) => controls.map((c) => c.id));
  const missed = focusable.filter((id) => !reached.has(id));
  assert.deepEqual(missed, []);
});

// The README's screenshot (docs/demo-page.png is a copy of this one): every section run once with
// presentable settings.
test('a full-page screenshot with every section shown', async () => {
  const { page } = demo;
  const waitDrawn = async (id, before) => page.waitForFunction(`${drawn(id)} > ${before}`, null, { timeout: 120_000 });
  let before = await page.evaluate(drawn('heatmap-canvas'));
  await page.selectOption('#heatmap-n', '128');
  await page.selectOption('#heatmap-scale', 'entropy');
  await page.check('#heatmap-causal');
  await page.selectOption('#heatmap-backend', 'wasm');
  await page.click('#heatmap-run');
  await waitDrawn('heatmap-canvas', before);

  await page.selectOption('#needle-max', '8192');
  await page.click('#needle-run');
  await page.waitForFunction(() => document.querySelectorAll('#needle-table tbody tr').length === 7
    && !document.getElementById('needle-run').disabled, null, { timeout: 120_000 });

  before = await page.evaluate(drawn('whitening-cosines'));
  await page.selectOption('#whitening-rows', '4000');
  await page.click('#whitening-synthetic');
  await waitDrawn('whitening-cosines', before);
  for (const id of ['#whitening-beta', '#whitening-gamma']) {
    await page.focus(id);
    await page.keyboard.press('End');
  }
  await page.waitForFunction(() => /β = 1, γ = 1, k = 64/.test(document.getElementById('whitening-summary').textContent));

  await page.selectOption('#gan-dataset', 'ring8');
  await page.selectOption('#gan-lipschitz', 'gp');
  await page.selectOption('#gan-hidden', '128');
  await page.click('#gan-run');
  await page.waitForFunction(() => Number((/^step (\d+)/.exec(document.getElementById('gan-metrics').textContent) || [0, 0])[1]) >= 500,
    null, { timeout: 180_000 });
  await page.click('#gan-stop');
  await page.waitForFunction(() => !document.getElementById('gan-run').disabled, null, { timeout: 60_000 });

  before = await page.evaluate(drawn('lowrank-curves'));
  await page.selectOption('#lowrank-rank', '4');
  await page.selectOption('#lowrank-steps', '300');
  await page.click('#lowrank-run');
  await waitDrawn('lowrank-curves', before);
  await page.screenshot({ path: path.join(SHOTS, 'demo-page.png'), fullPage: true });
});

test('no console errors and no failed requests', () => {
  assert.deepEqual(demo.consoleErrors, []);
  assert.deepEqual(demo.failedRequests, []);
});

test('without WebGPU the backend switch is greyed out with the reason, and attention runs on WASM', async () => {
  const plain = await openDemo({ webgpu: false });
  try {
    const { page } = plain;
    await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 60_000 });
    assert.equal(await page.textContent('#backend'), 'backend: wasm');
    assert.equal(await page.$eval('#heatmap-backend option[value="webgpu"]', (o) => o.disabled), true);
    assert.match(await page.textContent('#backend-note'), /WebGPU unavailable: .*WebGPU/);
    await page.selectOption('#heatmap-n', '32');
    await page.click('#heatmap-run');
    await page.waitForFunction(`${drawn('heatmap-canvas')} >= 1`);
    assert.match(await page.textContent('#heatmap-result'), /on WASM/);
    assert.deepEqual(plain.consoleErrors, []);
  } finally {
    await plain.close();
  }
});
