// npm run bench -- whitening
// Fit BERT-whitening on 10,000 × 768 anisotropic synthetic embeddings and transform them to
// k = 256: kexue (float64 streaming statistics, Eigen's eigensolver, SIMD GEMM) against what a
// TensorFlow.js user must do (covariance with tfjs-wasm matMul, then a plain-JS symmetric
// eigensolver, since tfjs has none, then a tfjs matMul for the transform). Same process, medians.
// Then a streaming fit of 200,000 × 768 through the CLI: wall time and peak memory.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from 'kexue';
import { npyHeader } from '../bindings/js/npy.js';
import { loadTfjsWasm } from './peers.mjs';
import { symmetricEigen } from './symmetric_eigen.mjs';
import { median, table } from './timing.mjs';

// Rows with a decaying spectrum and a common offset, like sentence embeddings.
function syntheticEmbeddings(rows, dim, seed = 1) {
  let state = seed >>> 0;
  const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
  const normal = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  const factors = 64;
  const mixing = Float32Array.from({ length: factors * dim }, () => normal());
  const scales = Float32Array.from({ length: factors }, (_, f) => 3 / (1 + f));
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; ++i) {
    const row = out.subarray(i * dim, (i + 1) * dim);
    for (let j = 0; j < dim; ++j) row[j] = 0.3 + 0.05 * normal();
    for (let f = 0; f < factors; ++f) {
      const z = normal() * scales[f];
      for (let j = 0; j < dim; ++j) row[j] += z * mixing[f * dim + j] * 0.1;
    }
  }
  return out;
}

function time(fn) {
  const start = performance.now();
  const result = fn();
  return [performance.now() - start, result];
}

export async function run({ rows = 10_000, dim = 768, k = 256, runs = 3, cliRows = 200_000 } = {}) {
  const kx = await init();
  const tf = await loadTfjsWasm();
  const x = syntheticEmbeddings(rows, dim);

  const ours = () => {
    const [fitMs, model] = time(() => kx.Whitening.fit(x, { rows, dim, k }));
    const [transformMs] = time(() => model.transform(x, { rows }));
    const top = model.eigenvalues[0];
    model.dispose();
    return { fitMs, transformMs, top };
  };
  const tfjsPath = () => {
    // matMul(a, b, transposeA = true) takes 8–15 s in tfjs-wasm here; an explicit transpose
    // is the fast form, so that is what is timed.
    const [covMs, cov] = time(() => tf.tidy(() => {
      const xs = tf.tensor2d(x, [rows, dim]);
      const centred = tf.sub(xs, tf.mean(xs, 0, true));
      return tf.div(tf.matMul(tf.transpose(centred), centred), rows).dataSync();
    }));
    const [eigMs, eig] = time(() => symmetricEigen(Float64Array.from(cov), dim));
    const mean = tf.tidy(() => tf.mean(tf.tensor2d(x, [rows, dim]), 0).dataSync());
    const kernel = new Float32Array(dim * k);
    for (let r = 0; r < dim; ++r) {
      for (let c = 0; c < k; ++c) kernel[r * k + c] = eig.vectors[r * dim + c] / Math.sqrt(eig.values[c]);
    }
    const [transformMs] = time(() => tf.tidy(() => {
      const xs = tf.tensor2d(x, [rows, dim]);
      return tf.matMul(tf.sub(xs, tf.tensor1d(mean)), tf.tensor2d(kernel, [dim, k])).dataSync();
    }));
    return { fitMs: covMs + eigMs, covMs, eigMs, transformMs, top: eig.values[0] };
  };

  ours(); // warm-up: V8 tiers the WASM up to its optimizing compiler
  tfjsPath();
  const oursRuns = [];
  const tfjsRuns = [];
  for (let r = 0; r < runs; ++r) {
    oursRuns.push(ours());
    tfjsRuns.push(tfjsPath());
  }
  const med = (list, key) => median(list.map((entry) => entry[key]));
  const topAgreement = Math.abs(oursRuns[0].top - tfjsRuns[0].top) / tfjsRuns[0].top;
  process.stdout.write(`whitening fit on ${rows} × ${dim} and transform to k = ${k}; median of ${runs} ` +
    `interleaved runs after warm-up; kexue threads: ${kx.threads}\n`);
  process.stdout.write(table(['step', 'tfjs-wasm + JS eigh ms', 'kexue ms', 'speed-up'], [
    ['fit', med(tfjsRuns, 'fitMs').toFixed(0), med(oursRuns, 'fitMs').toFixed(0),
      (med(tfjsRuns, 'fitMs') / med(oursRuns, 'fitMs')).toFixed(2) + '×'],
    ['  (tfjs covariance / JS eigh)', `${med(tfjsRuns, 'covMs').toFixed(0)} / ${med(tfjsRuns, 'eigMs').toFixed(0)}`, '', ''],
    ['transform', med(tfjsRuns, 'transformMs').toFixed(0), med(oursRuns, 'transformMs').toFixed(0),
      (med(tfjsRuns, 'transformMs') / med(oursRuns, 'transformMs')).toFixed(2) + '×'],
  ]) + '\n');
  process.stdout.write(`largest eigenvalue, relative difference between the two paths: ${topAgreement.toExponential(1)}\n`);

  if (cliRows > 0) runCliStreaming(cliRows, dim);
}

// Writes a cliRows × dim float32 .npy in chunks and times `kexue whiten fit` on it.
function runCliStreaming(cliRows, dim) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kexue-bench-'));
  try {
    const file = path.join(dir, 'emb.npy');
    const fd = openSync(file, 'w');
    const write = (data) => writeSync(fd, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    write(npyHeader(cliRows, dim));
    const chunk = 10_000;
    for (let start = 0; start < cliRows; start += chunk) write(syntheticEmbeddings(Math.min(chunk, cliRows - start), dim, start + 1));
    closeSync(fd);
    const cli = fileURLToPath(new URL('../bindings/js/cli/kexue.mjs', import.meta.url));
    const args = [process.execPath, cli, 'whiten', 'fit', '--in', file, '--out', path.join(dir, 'model.json'), '--k', '256'];
    const hasTime = existsSync('/usr/bin/time');
    const start = performance.now();
    const result = hasTime
      ? spawnSync('/usr/bin/time', ['-f', '%M', ...args], { encoding: 'utf8' })
      : spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
    const seconds = (performance.now() - start) / 1000;
    if (result.status !== 0) throw new Error(`CLI failed: ${result.stderr}`);
    const peak = hasTime ? `${(Number(result.stderr.trim().split('\n').pop()) / 1024).toFixed(0)} MB peak RSS` : 'peak memory not measured (no /usr/bin/time)';
    const fileMb = (cliRows * dim * 4) / 2 ** 20;
    process.stdout.write(`CLI streaming fit, ${cliRows} × ${dim} float32 (${fileMb.toFixed(0)} MB file): ` +
      `${seconds.toFixed(1)} s, ${peak}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
