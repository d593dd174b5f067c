// The relaxed-SIMD build (dist/kexue*-relaxed.wasm, scripts/relaxed-simd.mjs): picked by
// init({ relaxedSimd }) through WebAssembly.validate of a probe module, and equal to the plain build
// within float tolerance on every kernel that runs through the micro-kernel it changes (the GEMM and
// the attention, hence the MLP, the GAN critics and trainer, the whitening transform).
//
// Node 20 runs relaxed SIMD only with --experimental-wasm-relaxed-simd (Node 22+ by default), so the
// comparisons run in a child process with the flag where this Node needs it; the kernel suites
// (matmul, attention) are run there once more, on the relaxed build, against their float64
// references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from 'kexue';
import { codeSection, findPattern, PRESTANDARD_FMA, STANDARD_MADD } from '../../scripts/relaxed-simd.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);
const nativeRelaxed = WebAssembly.validate(PROBE);

// The flags a child node needs to run relaxed SIMD, or null when this node cannot at all.
function relaxedFlags() {
  if (nativeRelaxed) return [];
  const check = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e',
    `process.exit(WebAssembly.validate(new Uint8Array(${JSON.stringify([...PROBE])})) ? 0 : 1)`]);
  return check.status === 0 ? ['--experimental-wasm-relaxed-simd'] : null;
}
const flags = relaxedFlags();
// A child `node --test` inside this runner would report to it (NODE_TEST_CONTEXT), not to stdout.
const { NODE_TEST_CONTEXT, ...childEnv } = { ...process.env, XDG_RUNTIME_DIR: '/tmp' };

test('the shipped relaxed .wasm files hold standard relaxed_madd and none of the draft opcode', () => {
  for (const name of ['kexue-relaxed.wasm', 'kexue-mt-relaxed.wasm']) {
    const bytes = new Uint8Array(readFileSync(path.join(ROOT, 'dist', name)));
    const { start, end } = codeSection(bytes);
    assert.equal(findPattern(bytes, PRESTANDARD_FMA, start, end).length, 0, name);
    assert.ok(findPattern(bytes, STANDARD_MADD, start, end).length > 0, name);
  }
});

test('init({ relaxedSimd }) follows WebAssembly.validate of the probe, and refuses bad values', async () => {
  const auto = await init({ threads: 1, backend: 'wasm' });
  assert.equal(auto.relaxedSimd, nativeRelaxed);
  const plain = await init({ threads: 1, relaxedSimd: false, backend: 'wasm' });
  assert.equal(plain.relaxedSimd, false);
  if (!nativeRelaxed) {
    await assert.rejects(init({ threads: 1, relaxedSimd: true }), /relaxedSimd: true needs an engine with relaxed SIMD/);
  }
  await assert.rejects(init({ relaxedSimd: 'yes' }), (e) => e instanceof TypeError && /relaxedSimd must be 'auto', true or false/.test(e.message));
  assert.deepEqual([...plain.matmul(new Float32Array([2]), new Float32Array([3]), { m: 1, k: 1, n: 1 })], [6]);
});

// Runs in the child: every micro-kernel user on both builds, one thread and threaded.
const COMPARE = `
import { init } from 'kexue';
function rand(count, seed) {
  let s = seed >>> 0; const out = new Float32Array(count);
  for (let i = 0; i < count; ++i) { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61); out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1; }
  return out;
}
function maxRel(a, b) {
  let diff = 0, scale = 1e-30;
  for (let i = 0; i < a.length; ++i) { diff = Math.max(diff, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
  if (a.length !== b.length) return Infinity;
  return diff / scale;
}
async function run(kx) {
  const out = {};
  for (const [m, k, n, tA, tB] of [[1, 1, 1], [3, 5, 7], [4, 8, 8], [5, 9, 17, true], [33, 257, 31, false, true], [130, 300, 70, true, true], [256, 256, 256]]) {
    out['matmul ' + [m, k, n, !!tA, !!tB]] = kx.matmul(rand(m * k, m + k), rand(k * n, k + n), { m, k, n, transposeA: !!tA, transposeB: !!tB });
  }
  const shape = { batch: 2, seqQ: 65, seqK: 70, heads: 4, kvHeads: 2, dim: 16, causal: true, rope: {} };
  const q = rand(2 * 65 * 4 * 16, 1), kk = rand(2 * 70 * 2 * 16, 2), v = rand(2 * 70 * 2 * 16, 3), dOut = rand(2 * 65 * 4 * 16, 4);
  out.attention = await kx.attention(q, kk, v, { ...shape, backend: 'wasm' });
  const g = kx.attentionBackward(q, kk, v, dOut, shape);
  out.dq = g.dq; out.dk = g.dk; out.dv = g.dv;
  const mlp = new kx.Mlp({ sizes: [2, 64, 64, 1], activation: 'relu', seed: 3 });
  const x = rand(2 * 100, 5);
  out['mlp forward'] = mlp.forward(x, { rows: 100 });
  out['mlp inputGradient'] = mlp.inputGradient(x, { rows: 100 });
  const loss = kx.gan.criticLoss(mlp, { real: rand(200, 6), fake: rand(200, 7), interpolation: rand(100, 8).map(Math.abs), rows: 100, lambda: 10 });
  out['criticLoss grad'] = loss.grad; out['criticLoss loss'] = [loss.loss];
  const w = kx.Whitening.fit(rand(300 * 24, 9), { rows: 300, dim: 24, k: 8 });
  out['whitening transform'] = w.transform(rand(50 * 24, 10), { rows: 50 });
  const trainer = new kx.GanTrainer({ dataset: 'ring8', seed: 1, generator: { hidden: [32, 32] }, critic: { hidden: [32, 32] } });
  trainer.step(3);
  out['GanTrainer sample'] = trainer.sample(64);
  mlp.dispose(); w.dispose(); trainer.dispose();
  return out;
}
const report = [];
for (const threads of [1, 'auto']) {
  const plain = await init({ threads, relaxedSimd: false, backend: 'wasm' });
  const relaxed = await init({ threads, relaxedSimd: true, backend: 'wasm' });
  if (plain.relaxedSimd || !relaxed.relaxedSimd) throw new Error('wrong builds loaded');
  const a = await run(plain), b = await run(relaxed);
  for (const name of Object.keys(a)) report.push({ threads, name, rel: maxRel(b[name], a[name]) });
}
process.stdout.write(JSON.stringify(report));
process.exit(0);
`;

test('the relaxed build equals the plain one within float tolerance on every micro-kernel user', { skip: flags === null && 'this Node cannot run relaxed SIMD' }, () => {
  const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', COMPARE],
    { cwd: ROOT, encoding: 'utf8', timeout: 240_000, env: childEnv });
  assert.equal(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout);
  assert.ok(report.length >= 30);
  console.log(report.map(({ threads, name, rel }) => `${threads} ${name}: ${rel.toExponential(1)}`).join('\n'));
  for (const { threads, name, rel } of report) {
    // Fused or not, each product differs by rounding only: relative to the largest entry, a few
    // float32 ulps per accumulated term (the GAN trainer's three Adam steps amplify this a little).
    const tolerance = name.startsWith('GanTrainer') ? 1e-3 : 2e-5;
    assert.ok(rel <= tolerance, `${name}, threads ${threads}: relative difference ${rel}`);
  }
});

test('the kernel suites pass on the relaxed build (matmul, attention)', { skip: flags === null && 'this Node cannot run relaxed SIMD' }, () => {
  const child = spawnSync(process.execPath, [...flags, '--test', 'tests/js/matmul.test.mjs', 'tests/js/attention.test.mjs'],
    { cwd: ROOT, encoding: 'utf8', timeout: 480_000, env: childEnv });
  assert.equal(child.status, 0, child.stdout.slice(-4000) + child.stderr.slice(-2000));
  assert.match(child.stdout, /# fail 0/);
});

// A wasmPaths map that names the plain .wasm but not its relaxed twin (a bundle that copied only the
// plain file): 'auto' keeps to the plain build and fetches nothing else; naming the twin loads it.
const WASM_PATHS = `
import { init } from 'kexue';
const dist = new URL('./dist/', 'file://' + process.cwd() + '/').href;
const plainOnly = await init({ threads: 1, backend: 'wasm', wasmPaths: { 'kexue.wasm': dist + 'kexue.wasm' } });
const both = await init({ threads: 1, backend: 'wasm',
  wasmPaths: { 'kexue.wasm': dist + 'kexue.wasm', 'kexue-relaxed.wasm': dist + 'kexue-relaxed.wasm' } });
const prefix = await init({ threads: 1, backend: 'wasm', wasmPaths: dist });
process.stdout.write(JSON.stringify([plainOnly.relaxedSimd, both.relaxedSimd, prefix.relaxedSimd]));
process.exit(0);
`;

test('relaxedSimd \'auto\' with a wasmPaths map that leaves out the relaxed twin keeps to the plain build', { skip: flags === null && 'this Node cannot run relaxed SIMD' }, () => {
  const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', WASM_PATHS],
    { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: childEnv });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stderr, '', 'no warning: nothing was fetched that the map left out');
  assert.deepEqual(JSON.parse(child.stdout), [false, true, true]);
});
