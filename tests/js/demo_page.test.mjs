// The demo page in a real browser: it loads the package by name, prints a matmul result computed
// by the WASM module, times a larger one on request, and reports its environment in the footer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDemo } from './helpers/browser.mjs';

let demo;
before(async () => { demo = await openDemo(); });
after(async () => { await demo?.close(); });

test('the page prints kx.matmul\'s result', async () => {
  const { page } = demo;
  await page.waitForFunction(() => document.getElementById('matmul-result').textContent.includes('58'));
  const text = await page.textContent('#matmul-result');
  assert.match(text, /58\s+64/);
  assert.match(text, /139\s+154/);
  assert.match(await page.textContent('#status'), /Ready/);
});

test('the footer shows the version, WASM SIMD and cross-origin isolation', async () => {
  const { page } = demo;
  const pkg = JSON.parse(await (await import('node:fs/promises')).readFile(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(await page.textContent('#version'), pkg.version);
  assert.equal(await page.textContent('#simd'), 'WASM SIMD: yes');
  assert.equal(await page.textContent('#isolation'), 'cross-origin isolated: yes');
});

test('the timing form runs from the keyboard and reports GFLOP/s', async () => {
  const { page } = demo;
  await page.focus('#speed-size');
  await page.selectOption('#speed-size', '128');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'speed-run');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /GFLOP\/s/.test(document.getElementById('speed-result').textContent));
  const text = await page.textContent('#speed-result');
  const gflops = Number(text.match(/([\d.]+) GFLOP\/s/)[1]);
  assert.ok(gflops > 0, text);
});

test('no console errors and no failed requests', () => {
  assert.deepEqual(demo.consoleErrors, []);
  assert.deepEqual(demo.failedRequests, []);
});
