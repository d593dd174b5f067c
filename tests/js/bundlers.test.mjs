// The packed tarball in fresh app folders, built by Vite (`vite build`, no config) and esbuild
// (the loader flags the README gives; for the worker-backed API, the proxy worker as a second
// entry point), each app being the README's snippet plus a workload
// (kx.attention, kx.Whitening); headless Chromium loads every build with and without COOP/COEP
// and with and without WebGPU. Results equal Node's, thread counts are as expected, and the
// console has no errors and no warnings but Chromium's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_PATH } from './helpers/browser.mjs';
import { serveFolder } from './helpers/static.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const env = { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' };

// A README code block, found by its first line.
function readmeBlock(firstLine) {
  const block = [...README.matchAll(/```(?:js|sh)\n([\s\S]*?)```/g)].map((m) => m[1])
    .find((b) => b.startsWith(firstLine));
  assert.ok(block, `README has a block starting with ${firstLine}`);
  return block;
}

// What each app computes after the README's snippet has made `kx`; Node computes the same.
const WORKLOAD = `
export function data(n, seed) {
  let s = seed;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 2147483648 - 0.5; }
  return a;
}
export async function run(kx) {
  const seqQ = 64, heads = 2, dim = 16, n = seqQ * heads * dim;
  const out = await kx.attention(data(n, 1), data(n, 2), data(n, 3), { seqQ, heads, dim, causal: true });
  const x = data(200 * 8, 4);
  const w = kx.Whitening.fit(x, { rows: 200, dim: 8, k: 4 });
  const y = w.transform(x, { rows: 200 });
  w.dispose();
  return { threads: kx.threads, backend: kx.backend, relaxedSimd: kx.relaxedSimd, attention: Array.from(out), whitened: Array.from(y) };
}
`;
const HARNESS = `
import { run } from './workload.js';
globalThis.kexueResult = await run(kx);
`;
// The worker-backed API (init({ proxy: true })), after the README's snippet: the page's thread
// must keep its timers during a 4096-token attention and a GAN run; abort and progress work. The
// timer criterion is the issue's, every gap ≤ 50 ms; a shared CI machine can deschedule the page
// for longer, so the measured run is repeated (up to 3 times, each in full) until one has no gap
// over 50 ms; a call computing on the page's thread would block it for seconds in every attempt.
const PROXY_HARNESS = `
import { data } from './workload.js';
const GAN = { dataset: 'ring8', preset: 'toy', batch: 256, nCritic: 5, critic: { hidden: [64, 64] }, generator: { hidden: [64, 64] }, seed: 3 };
async function timed(work) {
  let last = performance.now();
  const gaps = [];
  const timer = setInterval(() => { const now = performance.now(); gaps.push(now - last); last = now; }, 10);
  try {
    const result = await work();
    gaps.push(performance.now() - last);
    return { result, worst: Math.max(...gaps), ticks: gaps.length };
  } finally {
    clearInterval(timer);
  }
}
async function measure() {
  const small = 64 * 2 * 16;
  const attention = Array.from(await kx.attention(data(small, 1), data(small, 2), data(small, 3), { seqQ: 64, heads: 2, dim: 16, causal: true }));
  const x = data(200 * 8, 4);
  const w = await kx.Whitening.fit(x, { rows: 200, dim: 8, k: 4 });
  const whitened = Array.from(await w.transform(x, { rows: 200 }));
  await w.dispose();
  const seqQ = 4096, heads = 8, dim = 64, n = seqQ * heads * dim;
  const worst = [];
  let first;
  for (let attempt = 0; attempt < 3; ++attempt) {
    const q = data(n, 5), k = data(n, 6), v = data(n, 7);  // outside the measured time
    const run = await timed(async () => {
      const out = await kx.attention(q, k, v, { seqQ, heads, dim, causal: true });
      const trainer = await new kx.GanTrainer(GAN);
      const controller = new AbortController();
      const progress = [];
      const stopped = await trainer.step(1000000, { signal: controller.signal, onProgress: ({ done }) => {
        progress.push(done);
        if (done >= 5) controller.abort();
      } }).catch((error) => error.name);
      const steps = trainer.steps;
      await trainer.dispose();
      return { bigFinite: out.length === n && out.every(Number.isFinite), stopped, steps, atAbort: progress.find((d) => d >= 5) };
    });
    first ??= run.result;
    worst.push(run.worst);
    if (run.worst <= 50 && run.ticks > 1) break;
  }
  const result = { threads: kx.threads, backend: kx.backend, relaxedSimd: kx.relaxedSimd, attention, whitened, worst, ...first };
  await kx.dispose();
  return result;
}
globalThis.kexueResult = await measure();
`;
const INDEX_HTML = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>app</title></head>' +
  '<body><script type="module" src="./main.js"></script></body></html>\n';

// Chromium's own warning when navigator.gpu exists but no adapter does (headless without
// --enable-unsafe-webgpu, blocklisted GPUs); it is printed by the browser, not by kexue.
const BROWSER_WARNINGS = [/^No available adapters\.$/];

function maxDifference(a, b) {
  assert.equal(a.length, b.length);
  return a.reduce((worst, x, i) => Math.max(worst, Math.abs(x - b[i])), 0);
}

test('bindings/webgpu/shaders.js is generated from the current .wgsl files', () => {
  const check = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'shaders.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});

test('the shipped modules have no top-level await and start module workers by literal URLs', async () => {
  // esbuild refuses top-level await in IIFE output, as Vite does for its default worker format.
  const { transform } = await import('esbuild');
  for (const name of ['kexue.mjs', 'kexue-mt.mjs', 'kexue-mt.worker.mjs']) {
    const text = readFileSync(path.join(ROOT, 'dist', name), 'utf8');
    await assert.doesNotReject(transform(text, { format: 'iife', logLevel: 'silent' }), `${name} as an IIFE`);
    await assert.rejects(transform(`${text}\nawait 0;`, { format: 'iife', logLevel: 'silent' }), /[Tt]op-level await/);
  }
  const glue = readFileSync(path.join(ROOT, 'dist', 'kexue-mt.mjs'), 'utf8');
  assert.match(glue, /new Worker\(new URL\("\.\/kexue-mt\.worker\.mjs",import\.meta\.url\),\{type:"module"\}\)/);
  assert.match(glue, /new URL\("kexue-mt\.wasm",import\.meta\.url\)/);
  assert.match(readFileSync(path.join(ROOT, 'dist', 'kexue.mjs'), 'utf8'), /new URL\("kexue\.wasm",import\.meta\.url\)/);
  const worker = readFileSync(path.join(ROOT, 'dist', 'kexue-mt.worker.mjs'), 'utf8');
  assert.doesNotMatch(worker, /new Worker\(new URL|\.wasm",import\.meta|\bexport\b|\bimport\s*\(/);
});

test('Vite and esbuild bundle the packed package; Chromium runs each build', { timeout: 300_000 }, async () => {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--no-bootstrap', '--module-only'],
    { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  const dir = mkdtempSync(path.join(tmpdir(), 'kexue-bundlers-'));
  const servers = [];
  let browser = null;
  try {
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir],
      { cwd: ROOT, encoding: 'utf8', env }));
    const tarball = path.join(dir, packed[0].filename);

    // The reference: the same workload in Node, from this checkout, on WASM.
    writeFileSync(path.join(dir, 'workload.mjs'), WORKLOAD);
    const { run } = await import(pathToFileURL(path.join(dir, 'workload.mjs')).href);
    const { init } = await import(pathToFileURL(path.join(ROOT, 'bindings', 'js', 'index.js')).href);
    const reference = await run(await init({ backend: 'wasm' }));

    const apps = {
      vite: { snippet: readmeBlock('// main.js, built with `vite build`'), out: 'dist' },
      esbuild: { snippet: readmeBlock('// main.js, built with esbuild'), out: 'dist' },
      proxy: { snippet: readmeBlock('// main.js, the worker-backed API (built with `vite build`)'), out: 'dist', harness: PROXY_HARNESS },
      esbuildProxy: { snippet: readmeBlock('// main.js, the worker-backed API built with esbuild'), out: 'dist', harness: PROXY_HARNESS },
    };
    for (const [name, app] of Object.entries(apps)) {
      app.dir = path.join(dir, name);
      mkdirSync(app.dir);
      writeFileSync(path.join(app.dir, 'package.json'), JSON.stringify({ name: `${name}-app`, private: true, type: 'module' }));
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], { cwd: app.dir, env, stdio: 'pipe' });
      writeFileSync(path.join(app.dir, 'main.js'), app.snippet + (app.harness ?? HARNESS));
      writeFileSync(path.join(app.dir, 'workload.js'), WORKLOAD);
      writeFileSync(path.join(app.dir, 'index.html'), INDEX_HTML);
    }
    for (const app of [apps.vite, apps.proxy]) {
      const vite = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'],
        { cwd: app.dir, encoding: 'utf8', env });
      assert.equal(vite.status, 0, vite.stdout + vite.stderr);
    }
    // The README's esbuild command lines, as written (`esbuild` is this project's devDependency).
    for (const [app, block] of [[apps.esbuild, '# esbuild:'], [apps.esbuildProxy, '# esbuild, the worker-backed API']]) {
      const command = readmeBlock(block).split('\n').find((line) => line.startsWith('esbuild ')).split(/\s+/);
      const esbuild = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'esbuild'), [...command.slice(1), '--log-level=warning'],
        { cwd: app.dir, encoding: 'utf8', env });
      assert.equal(esbuild.status, 0, esbuild.stdout + esbuild.stderr);
      assert.equal(esbuild.stderr, '', 'esbuild warnings');
      writeFileSync(path.join(app.dir, 'dist', 'index.html'), INDEX_HTML);
    }

    for (const webgpu of [false, true]) {
      const args = ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic'];
      if (webgpu) args.push('--enable-unsafe-webgpu');
      browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args });
      for (const [name, app] of Object.entries(apps)) {
        for (const isolated of [false, true]) {
          // The proxy's long run: once per bundler, cross-origin isolated (threads in the worker), on WASM.
          const proxied = app.harness === PROXY_HARNESS;
          if (proxied && (webgpu || !isolated)) continue;
          const label = `${name}, ${isolated ? '' : 'not '}cross-origin isolated, WebGPU ${webgpu ? 'on' : 'off'}`;
          const server = await serveFolder(path.join(app.dir, app.out), { isolated });
          servers.push(server);
          const page = await browser.newPage();
          const messages = [];
          const workers = [];
          page.on('console', (m) => {
            if (m.type() === 'error' || (m.type() === 'warning' && !BROWSER_WARNINGS.some((re) => re.test(m.text())))) {
              messages.push(`${m.type()}: ${m.text()}`);
            }
          });
          page.on('pageerror', (error) => messages.push(`pageerror: ${error.stack ?? error}`));
          page.on('worker', (worker) => workers.push(worker.url()));
          await page.goto(server.url);
          await page.waitForFunction(() => globalThis.kexueResult, null, { timeout: 120_000 })
            .catch((error) => { throw new Error(`${label}: ${error.message}\n${messages.join('\n')}`); });
          const result = await page.evaluate(() => ({ ...globalThis.kexueResult, hc: navigator.hardwareConcurrency }));
          await page.close();
          await server.close();
          servers.pop();
          assert.deepEqual(messages, [], label);
          assert.equal(result.backend, webgpu ? 'webgpu' : 'wasm', label);
          assert.equal(result.threads, isolated ? Math.min(4, result.hc) : 1, label);
          // Chromium validates relaxed SIMD: every bundle carries the relaxed .wasm and runs it.
          assert.equal(result.relaxedSimd, true, `${label}: relaxed SIMD build`);
          if (proxied) {
            assert.ok(workers.some((url) => /proxy-worker/.test(url)), `${label}: workers ${workers}`);
            // Responsive: in one of the attempts, no gap of the 10 ms timer over 50 ms.
            assert.ok(result.worst.at(-1) <= 50,
              `${label}: timer gaps over 50 ms in every attempt, worst gaps ${result.worst.map((g) => g.toFixed(1)).join(', ')} ms`);
            assert.equal(result.bigFinite, true);
            assert.equal(result.stopped, 'AbortError');
            assert.ok(result.steps >= result.atAbort && result.steps <= result.atAbort + 2, `${label}: ${result.steps} steps, abort at ${result.atAbort}`);
          } else if (isolated && result.threads > 1) {
            assert.ok(workers.length >= 1 && workers.every((url) => /kexue-mt\.worker[-.]/.test(url)), `${label}: workers ${workers}`);
          } else {
            assert.deepEqual(workers, [], label);
          }
          assert.ok(maxDifference(result.attention, reference.attention) <= (webgpu ? 1e-5 : 1e-6), `${label}: attention`);
          assert.ok(maxDifference(result.whitened, reference.whitened) <= 1e-5, `${label}: whitening`);
        }
      }
      await browser.close();
      browser = null;
    }
  } finally {
    await browser?.close();
    for (const server of servers) await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
