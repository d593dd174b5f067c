// npm run bench -- attention --backend webgpu        (or: node bench/attention_webgpu.mjs [--out DIR] [--quick])
//
// kexue's WGSL attention kernels on the machine's WebGPU adapter (Node: the `webgpu` package, Dawn
// on Vulkan), self-contained: it needs dist/ (the WASM modules, for the reference), bindings/ and
// the `webgpu` package, nothing else (no tfjs, no build tools).
//   1. The adapter: its info, features (shader-f16, subgroups) and limits, and the tiles the
//      kernels chose for it (docs/webgpu-tiling.md).
//   2. Correctness before timing: forward and backward on WebGPU against WASM on small shapes
//      (tile edges, causal, GQA, RoPE; f32 within 1e-4, f16 within 2e-2 of the f32 result); any
//      failure is reported and the run exits non-zero after the timings are skipped.
//   3. Timing: forward and backward (forward + dQ + dK/dV, as kx.attentionBackward runs them) at
//      n = 1024 … 16384, d = 64 and 128, f32 and f16 (where the adapter has shader-f16), batch 1,
//      16 heads, non-causal, scale 1/√d. GPU time only: the kernels are encoded `r` times in one
//      submit and the time of r2 repeats minus that of r1 (fixed costs cancel) is divided by
//      r2 − r1, median of 3 (calls of 50 ms or more: the best of two single calls). TFLOP/s = 4·n²·d·heads / t forward (QKᵀ and PV), 2.5× that backward
//      (the FLOPs FlashAttention-2's papers count: dQ, dK, dV and the recomputed S and dP; the
//      recomputed forward pass is not counted).
// Results go to stdout and, with --out DIR, to DIR/attention-webgpu.json and .txt. Sizes are cut
// to n ≤ 1024 on CPU emulation (SwiftShader), where the figures mean nothing for a real GPU; a
// time budget (KEXUE_BENCH_SECONDS, default 200) skips the largest sizes when exceeded.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from '../bindings/js/index.js';
import { WebGpuBackend, acquireDevice } from '../bindings/webgpu/backend.js';
import { attentionTiles } from '../bindings/webgpu/attention_plan.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const HEADS = 16;
const BUDGET_SECONDS = Number(process.env.KEXUE_BENCH_SECONDS ?? 200);

function argument(name) {
  const index = process.argv.indexOf(name);
  return index < 0 ? undefined : process.argv[index + 1];
}

function seeded(length, seed) {
  let state = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; ++i) {
    state = (state * 1664525 + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

function relativeError(actual, expected) {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; ++i) {
    error = Math.max(error, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return actual.length === expected.length ? error / Math.max(scale, 1e-30) : Infinity;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const lines = [];
function say(text = '') {
  lines.push(text);
  process.stdout.write(text + '\n');
}

// Correctness on small shapes: [{ name, precision, error, tolerance, ok }].
async function verify(kx, wasm) {
  const cases = [
    { seqQ: 130, seqK: 130, heads: 4, dim: 64 },
    { seqQ: 129, seqK: 200, heads: 4, kvHeads: 2, dim: 128, causal: true },
    { seqQ: 65, seqK: 97, heads: 2, dim: 128, causal: true, rope: { layout: 'half' } },
    { batch: 2, seqQ: 64, seqK: 64, heads: 2, dim: 64, dimV: 32, rope: true, scale: 'standard' },
  ];
  const results = [];
  let seed = 1;
  for (const shape of cases) {
    const { batch = 1, seqQ, seqK, heads, kvHeads = heads, dim, dimV = dim } = shape;
    const q = seeded(batch * seqQ * heads * dim, seed++);
    const k = seeded(batch * seqK * kvHeads * dim, seed++);
    const v = seeded(batch * seqK * kvHeads * dimV, seed++);
    const dOut = seeded(batch * seqQ * heads * dimV, seed++);
    const expected = await wasm.attention(q, k, v, shape);
    const expectedGrads = wasm.attentionBackward(q, k, v, dOut, shape);
    const f32 = await kx.attention(q, k, v, { ...shape, backend: 'webgpu', precision: 'f32' });
    const f32Grads = await kx.attentionBackward(q, k, v, dOut, { ...shape, backend: 'webgpu', precision: 'f32' });
    const name = JSON.stringify(shape).replace(/"/g, '');
    const check = (what, precision, error, tolerance) => results.push({ name: `${what} ${name}`, precision, error, tolerance, ok: error <= tolerance });
    check('forward', 'f32', relativeError(f32, expected), 1e-4);
    check('backward', 'f32', Math.max(...['dq', 'dk', 'dv'].map((g) => relativeError(f32Grads[g], expectedGrads[g]))), 1e-4);
    if (kx.adapterInfo.shaderF16) {
      const f16 = await kx.attention(q, k, v, { ...shape, backend: 'webgpu', precision: 'f16' });
      const f16Grads = await kx.attentionBackward(q, k, v, dOut, { ...shape, backend: 'webgpu', precision: 'f16' });
      check('forward', 'f16', relativeError(f16, f32), 2e-2);
      check('backward', 'f16', Math.max(...['dq', 'dk', 'dv'].map((g) => relativeError(f16Grads[g], f32Grads[g]))), 2e-2);
    }
  }
  return results;
}

export async function run() {
  const started = performance.now();
  const out = argument('--out');
  const quick = process.argv.includes('--quick');
  let kx;
  try {
    kx = await init({ backend: 'webgpu' });
  } catch (error) {
    if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
      say(`${error.message}\nretrying with VK_ICD_FILENAMES=${SWIFTSHADER_ICD} (SwiftShader, CPU)`);
      const { spawnSync } = await import('node:child_process');
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
        stdio: 'inherit', env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      });
      if (child.status !== 0) throw new Error('attention bench: the WebGPU run on SwiftShader failed');
      return;
    }
    throw error;
  }
  const wasm = await init({ backend: 'wasm' });
  const info = kx.adapterInfo;
  const software = /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info.architecture} ${info.device} ${info.description}`);
  const report = { adapter: info, node: process.version, platform: `${process.platform}-${process.arch}`, verification: [], timings: [], skipped: [] };
  say(`WebGPU adapter: ${JSON.stringify(info)}`);

  const results = await verify(kx, wasm);
  report.verification = results;
  say('\ncorrectness before timing (max-norm relative error; f32 against WASM, f16 against the f32 result):');
  for (const r of results) say(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.precision} ${r.error.toExponential(2)} (≤ ${r.tolerance})  ${r.name}`);
  if (!info.shaderF16) say('  (no f16 checks: this adapter has no shader-f16)');
  kx.dispose();
  const failed = results.filter((r) => !r.ok).length;
  if (failed) {
    say(`\n${failed} check(s) failed: no timings.`);
    finish(report, out, started);
    process.exitCode = 1;
    return;
  }

  // Timing on a backend of our own (GPU time only: WebGpuBackend.timeAttention).
  const backend = new WebGpuBackend(await acquireDevice());
  report.limits = backend.limits;
  const sizes = software || quick ? [256, 512] : [1024, 2048, 4096, 8192, 16384];
  const precisions = backend.info.shaderF16 ? ['f32', 'f16'] : ['f32'];
  for (const dim of [64, 128]) {
    for (const precision of precisions) {
      const tiles = attentionTiles(backend.limits, backend.info, { dim, dimV: dim, elemBytes: precision === 'f16' ? 2 : 4 });
      say(`tiles d ${dim} ${precision}: ${JSON.stringify(tiles)}`);
    }
  }
  say(`\nattention on WebGPU, batch 1, ${HEADS} heads, non-causal, scale 1/√d; GPU time per call (ms) and TFLOP/s\n`);
  const header = ['n', 'd', 'precision', 'forward ms', 'forward TFLOP/s', 'backward ms', 'backward TFLOP/s'];
  const rows = [];
  for (const n of sizes) {
    for (const dim of [64, 128]) {
      for (const precision of precisions) {
        const elapsed = (performance.now() - started) / 1000;
        if (elapsed > BUDGET_SECONDS) {
          report.skipped.push({ n, dim, precision, reason: `time budget of ${BUDGET_SECONDS} s spent` });
          continue;
        }
        const options = { batch: 1, seqQ: n, seqK: n, heads: HEADS, kvHeads: HEADS, dim, dimV: dim, causal: false, rope: null, window: null };
        const q = seeded(n * HEADS * dim, 11);
        const k = seeded(n * HEADS * dim, 12);
        const v = seeded(n * HEADS * dim, 13);
        const dOut = seeded(n * HEADS * dim, 14);
        const tables = {
          rowScale: new Float32Array([1 / Math.sqrt(dim)]), scaleDims: [1, 1, 1], ropeQ: null, ropeQBatch: 1, ropeK: null,
          lengths: null, alibi: null, bias: null, mask: null,
        };
        const row = { n, dim, precision };
        for (const backward of [false, true]) {
          const time = (repeats) => backend.timeAttention(q, k, v, dOut, options, tables, { precision, backward, repeats });
          await time(1); // compile, size, warm up
          const single = await time(1);
          let ms;
          if (single >= 50) {
            // Long calls: the fixed costs (submit, wait: ~0.1 ms) do not matter; best of two.
            ms = Math.min(single, await time(1));
          } else {
            // Enough repeats for ~0.2 s of work; (t(1 + extra) − t(1)) / extra, median of 3.
            const extra = Math.max(2, Math.min(50, Math.round(200 / Math.max(single, 0.5))));
            const samples = [];
            for (let trial = 0; trial < 3; ++trial) {
              const t1 = await time(1);
              const t2 = await time(1 + extra);
              samples.push((t2 - t1) / extra);
            }
            ms = Math.max(median(samples), 1e-6);
          }
          const flops = 4 * n * n * dim * HEADS * (backward ? 2.5 : 1);
          row[backward ? 'backwardMs' : 'forwardMs'] = ms;
          row[backward ? 'backwardTflops' : 'forwardTflops'] = flops / (ms * 1e9);
        }
        report.timings.push(row);
        rows.push([n, dim, precision, row.forwardMs.toFixed(3), row.forwardTflops.toFixed(2), row.backwardMs.toFixed(3),
          row.backwardTflops.toFixed(2)]);
        say(rows.at(-1).join('  '));
      }
    }
  }
  backend.dispose();
  say('\n' + table(header, rows));
  if (report.skipped.length) say(`skipped (time budget): ${report.skipped.map((s) => `n ${s.n} d ${s.dim} ${s.precision}`).join(', ')}`);
  if (software) say('NOTE: CPU emulation (SwiftShader): these figures say nothing about a real GPU.');
  finish(report, out, started);
}

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function finish(report, out, started) {
  report.seconds = (performance.now() - started) / 1000;
  say(`\ntotal ${report.seconds.toFixed(1)} s`);
  if (!out) return;
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'attention-webgpu.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(out, 'attention-webgpu.txt'), lines.join('\n') + '\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
