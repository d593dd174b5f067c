// Runs the WebGPU ↔ WASM parity suite (tests/helpers/webgpu-parity-suite.js, shared with the Node
// tests: attention forward and backward, RoPE, 2D RoPE) in the page, through the package as a web app imports it. The outcome is shown and published as
// window.kexueParity = { backend, adapter, webgpuError, results, done } for headless drivers.
import { init } from 'kexue';
import { PARITY_TOLERANCE, runAttentionBackwardParity, runAttentionParity, runRope2dParity, runRopeParity } from '../helpers/webgpu-parity-suite.js';

const status = document.getElementById('status');
const output = document.getElementById('results');
const report = { backend: null, adapter: null, webgpuError: null, results: [], error: null, done: false };
window.kexueParity = report;

try {
  const kx = await init(); // backend 'auto'
  const wasm = await init({ backend: 'wasm' });
  report.backend = kx.backend;
  report.adapter = kx.adapterInfo;
  if (kx.backend !== 'webgpu') {
    // What 'webgpu' says when 'auto' fell back.
    try {
      await init({ backend: 'webgpu' });
    } catch (error) {
      report.webgpuError = error.message;
    }
    status.textContent = `No WebGPU here: attention runs on WASM (${report.webgpuError ?? 'no reason given'}).`;
  } else {
    status.textContent = `Running on ${kx.adapterInfo.description || kx.adapterInfo.architecture || 'WebGPU'}…`;
    report.results = [...await runAttentionParity(kx, wasm), ...await runAttentionBackwardParity(kx, wasm),
      ...await runRopeParity(kx, wasm), ...await runRope2dParity(kx, wasm)];
    const failed = report.results.filter((r) => !r.ok).length;
    output.textContent = report.results
      .map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.relativeError.toExponential(2)}  ${r.name}`).join('\n');
    status.textContent = `${report.results.length - failed} of ${report.results.length} configurations within ` +
      `${PARITY_TOLERANCE} of WASM (kx.backend = '${kx.backend}').`;
  }
} catch (error) {
  report.error = String(error?.stack ?? error);
  status.textContent = `Error: ${error?.message ?? error}`;
}
report.done = true;
