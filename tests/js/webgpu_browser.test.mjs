// The WebGPU backend in headless Chromium (SwiftShader WebGPU, --enable-unsafe-webgpu): the parity
// suite shared with the Node tests runs inside tests/browser/webgpu-parity.html, which imports the
// package by name through an import map as a web app would; the demo page's init() picks WebGPU; and
// without WebGPU, 'auto' is WASM while 'webgpu' says why.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ATTENTION_CASES, ROPE2D_CASES, ROPE_CASES } from '../helpers/webgpu-parity-suite.js';
import { openDemo } from './helpers/browser.mjs';

async function parityReport(page) {
  await page.waitForFunction(() => window.kexueParity?.done === true, null, { timeout: 1_500_000 });
  return page.evaluate(() => window.kexueParity);
}

test('Chromium: the parity suite (forward, backward, RoPE, 2D RoPE) passes on WebGPU inside the page', { timeout: 1_600_000 }, async () => {
  const demo = await openDemo({ page: 'tests/browser/webgpu-parity.html' });
  try {
    const report = await parityReport(demo.page);
    assert.equal(report.error, null);
    assert.equal(report.backend, 'webgpu');
    assert.ok(report.adapter, 'adapter info');
    assert.equal(report.results.length, 2 * ATTENTION_CASES.length + ROPE_CASES.length + ROPE2D_CASES.length);
    for (const { name, relativeError, ok } of report.results) assert.ok(ok, `${name}: relative error ${relativeError}`);
    assert.match(await demo.page.textContent('#status'), /within 0\.0001 of WASM \(kx\.backend = 'webgpu'\)/);
    assert.deepEqual(demo.consoleErrors, []);
    assert.deepEqual(demo.failedRequests, []);
  } finally {
    await demo.close();
  }
});

// init() in the demo page's module graph: the instance its own init() call gets.
async function demoAttention(page) {
  await page.waitForFunction(() => /Ready/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 120_000 });
  return page.evaluate(async () => {
    const { init } = await import('kexue');
    const kx = await init();
    const out = await kx.attention(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]),
      new Float32Array([1, 2, 3, 4]), { seqQ: 2, heads: 1, dim: 2, scale: 0 });
    let webgpuError = null;
    try {
      await init({ backend: 'webgpu' });
    } catch (error) {
      webgpuError = error.message;
    }
    return { backend: kx.backend, out: Array.from(out), webgpuError };
  });
}

test('Chromium: the demo page\'s attention runs on WebGPU with --enable-unsafe-webgpu', { timeout: 180_000 }, async () => {
  const demo = await openDemo();
  try {
    const { backend, out, webgpuError } = await demoAttention(demo.page);
    assert.equal(backend, 'webgpu');
    assert.deepEqual(out, [2, 3, 2, 3]);
    assert.equal(webgpuError, null);
  } finally {
    await demo.close();
  }
});

test('Chromium without WebGPU: \'auto\' runs attention on WASM, \'webgpu\' throws the reason', { timeout: 180_000 }, async () => {
  const demo = await openDemo({ webgpu: false });
  try {
    const { backend, out, webgpuError } = await demoAttention(demo.page);
    assert.equal(backend, 'wasm');
    assert.deepEqual(out, [2, 3, 2, 3]);
    assert.match(webgpuError, /^init: backend 'webgpu' is unavailable: no WebGPU(: navigator\.gpu is undefined| adapter: requestAdapter\(\) returned null)/);
  } finally {
    await demo.close();
  }
});
