// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, against the same
// server `npm start` uses. No browser is downloaded: playwright-core only drives the system one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serverUrl, startServer } from '../../../scripts/serve.mjs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// webgpu: pass --enable-unsafe-webgpu (SwiftShader WebGPU); page: the path to open, relative to the
// server's root (web/ is served at /, tests/browser/ at /tests/browser/: see scripts/serve.mjs).
export async function openDemo({ webgpu = true, page: pagePath = '' } = {}) {
  const server = await startServer({ port: 0 });
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'kexue-chromium-'));
  const args = [
    '--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic',
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args,
  });
  const page = context.pages()[0] ?? await context.newPage();
  const consoleErrors = [];
  const failedRequests = [];
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('requestfailed', (request) => failedRequests.push(request.url()));
  page.on('response', (response) => { if (response.status() >= 400) failedRequests.push(`${response.status()} ${response.url()}`); });
  const url = serverUrl(server);
  await page.goto(url + pagePath);
  return {
    page, url, consoleErrors, failedRequests,
    async close() {
      await context.close();
      await new Promise((resolve) => server.close(resolve));
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
