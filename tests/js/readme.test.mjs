// The README's examples run as written: the "Using it" block (which loads the module) followed by
// each self-contained technique block, in a fresh Node process importing the package by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1]);

function runExample(source, env = {}, timeout = 120_000) {
  // Inside the package root, so that `import … from 'kexue'` resolves to this package.
  const file = path.join(ROOT, `.readme-example-${process.pid}.mjs`);
  writeFileSync(file, source);
  try {
    return spawnSync(process.execPath, [file], { encoding: 'utf8', cwd: ROOT, timeout, env: { ...process.env, ...env } });
  } finally {
    rmSync(file, { force: true });
  }
}

const usingIt = blocks.find((block) => block.includes("import { init } from 'kexue'"));

test('README: the "Using it" example runs', () => {
  assert.ok(usingIt, 'README has a block importing init from kexue');
  const result = runExample(usingIt);
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the attention example runs and prints nothing', () => {
  const block = blocks.find((b) => b.includes('kx.attentionBackward('));
  assert.ok(block, 'README has an attention example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (out.length !== seq * heads * dim || !out.every(Number.isFinite)) throw new Error('out');\n" +
    "if (next.length !== heads * dim || dq.length !== q.length || rotated2d.length !== patches.length) throw new Error('shapes');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the positions / rotary scaling / rotated-cache example runs', () => {
  const block = blocks.find((b) => b.includes("cachedKeys: 'rotated'"));
  assert.ok(block, 'README has a decoding loop over rotated keys');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (decoded.length !== nHeads * headDim || !decoded.every(Number.isFinite)) throw new Error('decoded');\n" +
    "if (batched.length !== 2 * prompt * nHeads * headDim || !batched.every(Number.isFinite)) throw new Error('batched');\n" +
    "if (inverseFrequencies.length !== headDim / 2 || Math.abs(attentionFactor - (0.1 * Math.log(4) + 1)) > 1e-12) throw new Error('spectrum');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the padded-batch, window, mask and bias example runs; padded rows are zeros', () => {
  const block = blocks.find((b) => b.includes('seqLensK: lengths'));
  assert.ok(block, 'README has the padded-batch example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "for (const x of [padded, windowed, masked, grads.dq, grads.dk, grads.dv]) if (!x.every(Number.isFinite)) throw new Error('finite');\n" +
    "if (!padded.slice((1 * len + 3) * h * d, 2 * len * h * d).every((x) => x === 0)) throw new Error('padded rows');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the logit-shaping example runs', () => {
  const block = blocks.find((b) => b.includes('smoothSoftmax: true'));
  assert.ok(block, 'README has a logit-shaping example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "for (const out of [capped, sunk, smooth, gau, unit]) if (out.length !== n * h * d || !out.every(Number.isFinite)) throw new Error('out');\n" +
    "if (dSinks.length !== h || dq.length !== q.length) throw new Error('gradients');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the layouts and float16 example runs; its comments on the array types hold', () => {
  const block = blocks.find((b) => b.includes("layout: 'bhsd'"));
  assert.ok(block, 'README has the layouts and float16 example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (!(out16 instanceof Uint16Array) || out16.length !== B * H * S * D) throw new Error('out16');\n" +
    "if (!(out32 instanceof Float32Array) || !out32.every(Number.isFinite)) throw new Error('out32');\n" +
    "if (!(dq16 instanceof Uint16Array) || dq16.length !== q16.length) throw new Error('dq16');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the WebGPU example runs (on SwiftShader when Debian\'s chromium is installed)', { timeout: 420_000 }, () => {
  const attention = blocks.find((b) => b.includes('kx.attentionBackward('));
  const block = blocks.find((b) => b.includes("init({ backend: 'auto' })"));
  assert.ok(block, 'README has a WebGPU example');
  const result = runExample(`${usingIt}\n${attention}\n${block}\n` +
    "if (onGpu.length !== out.length || ropeGpu.length !== q.length) throw new Error('shapes');\n" +
    "if (gradsGpu.dq.length !== heads * dim || half.length !== heads * dim) throw new Error('gpu backward / f16');\n" +
    // SwiftShader emulates the GPU on the CPU: the example's forward pass at n = 1024, the backward
    // step and their pipeline compiles take a minute or more on a loaded 2-core machine.
    "console.log(where);\n", { VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json', XDG_RUNTIME_DIR: '/tmp' }, 400_000);
  assert.equal(result.status, 0, result.stderr.slice(-2000));
  const expected = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json') ? 'webgpu' : 'wasm';
  assert.equal(result.stdout.trim().split('\n').pop(), expected);
});

test('README: the losses example runs and what its comments say holds', () => {
  const block = blocks.find((b) => b.includes('kx.losses.zlpr('));
  assert.ok(block, 'README has a losses example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "const close = (a, b, tol) => Math.abs(a - b) <= tol;\n" +
    "if (!close(lse[0], 3.40760596444438, 1e-6) || !close(lse[1], 1000.69314718056, 1e-4)) throw new Error('lse ' + lse);\n" +
    "if (!close(softmax[0] + softmax[1] + softmax[2], 1, 1e-6) || softmax[5] !== 0) throw new Error('softmax');\n" +
    "if (!(bounds.max[0] < bounds.value[0] && bounds.value[0] <= bounds.maxPlusLogN[0] && bounds.renyi[0] <= bounds.shannon[0] && bounds.shannon[0] <= bounds.value[0])) throw new Error('bounds');\n" +
    "if (!Number.isFinite(loss) || grad.length !== 24 || !Number.isFinite(soft.loss) || masked.grad.slice(18).some((g) => g !== 0)) throw new Error('zlpr');\n" +
    "if (probability.length !== 24 || !Number.isFinite(info.loss)) throw new Error('info');\n" +
    "if (chunk.grad.some((g, i) => g !== flat.grad[32 + i])) throw new Error('chunk');\n" +
    "if (flooded.gradT.length !== 24 || !theta.every((v) => v >= 0)) throw new Error('kl/eg');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the diffusion example runs and what its comments say holds', () => {
  const block = blocks.find((b) => b.includes('kx.diffusion.ddpmSample('));
  assert.ok(block, 'README has a diffusion example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "const sd = (x) => { const m = x.reduce((s, v) => s + v, 0) / x.length; return Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length); };\n" +
    "if (Math.abs(sd(ddpm) - 0.5) > 0.05 || Math.abs(sd(ddim) - 0.43) > 0.05) throw new Error('std ' + sd(ddpm) + ' ' + sd(ddim));\n" +
    "if (xt.length !== 2 || samples.length !== 1000 || same.length !== 1000) throw new Error('shapes');\n" +
    "if (!(metrics.modes >= 0) || !Number.isFinite(metrics.medianDistance)) throw new Error('metrics');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the SAU activation example runs', () => {
  const block = blocks.find((b) => b.includes("activation: 'sau_leaky_relu'"));
  assert.ok(block, 'README has a SAU example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (value.length !== 1 || !Number.isFinite(value[0])) throw new Error('value');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the penalty inequality example runs and its comment holds', () => {
  const block = blocks.find((b) => b.includes('kx.gan.penaltyInequality('));
  assert.ok(block, 'README has a penalty inequality example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (!(sides.inputSide[0] <= sides.parameterSide[0] && sides.inputSide[1] <= sides.parameterSide[1])) throw new Error('inequality');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the hubness example runs', () => {
  const block = blocks.find((b) => b.includes('kx.hubness('));
  assert.ok(block, 'README has a hubness example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (before.counts.length !== rows || after.counts.reduce((s, c) => s + c, 0) !== rows * 10) throw new Error('counts');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the transformer example runs and what its comments say holds', () => {
  const block = blocks.find((b) => b.includes('kx.Transformer.encodeBytes('));
  assert.ok(block, 'README has a transformer example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (losses.length !== 60 || !(losses[59] < losses[0])) throw new Error('losses ' + losses[0] + ' ' + losses[59]);\n" +
    "if (perToken.length !== 64 || typeof sample !== 'string' || !Number.isFinite(loss) || !(optimizerBytes > 0)) throw new Error('results');\n" +
    "if (!(bytes instanceof Uint8Array)) throw new Error('bytes');\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the unargmaxable example runs and its comments hold', () => {
  const block = blocks.find((b) => b.includes('kx.unargmaxable('));
  assert.ok(block, 'README has an unargmaxable example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (indices.length !== 1 || indices[0] !== 4 || lifted.indices.length !== 0) throw new Error('unargmaxable ' + indices);\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the penalty-side training example trains', () => {
  const block = blocks.find((b) => b.includes("lipschitz: 'parameter-side'"));
  assert.ok(block, 'README has a penalty-side training example');
  const result = runExample(`${usingIt}\n${block}\n`);
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});

test('README: the progress and cancellation example stops with an AbortError', () => {
  const block = blocks.find((b) => b.includes('progressTrainer'));
  assert.ok(block, 'README has a progress example');
  const result = runExample(`${usingIt}\n${block}\n`);
  assert.equal(result.status, 0, result.stderr.slice(-2000));
  const [name, steps] = result.stdout.trim().split('\n').pop().split(' ');
  assert.equal(name, 'AbortError');
  assert.ok(Number(steps) >= 20, result.stdout);
});

test('README: the counting-probe example runs; softmax stays at log n, l2 counts', () => {
  const block = blocks.find((b) => b.includes('probeLoss'));
  assert.ok(block, 'README has the counting-probe example');
  const result = runExample(`${usingIt}\n${block}\n` +
    "if (!(probeLoss.softmax > Math.log(16) - 0.01)) throw new Error('softmax ' + probeLoss.softmax);\n" +
    "if (!(probeLoss.l2 < 1)) throw new Error('l2 ' + probeLoss.l2);\n");
  assert.equal(result.status, 0, result.stderr.slice(-2000));
});
