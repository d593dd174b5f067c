// Issue 18: nothing a caller passes aborts, corrupts or silently poisons the module. Each
// reproducer of the issue is a test here: it gives a named TypeError/RangeError (or the right
// answer), and the module still works afterwards (a matmul afterwards is correct).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from 'kexue';
import { abortForTesting } from '../../bindings/js/guard.js';

const kx = await init({ threads: 1 });

function assertHealthy() {
  const c = kx.matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { m: 2, k: 2, n: 2 });
  assert.deepEqual([...c], [19, 22, 43, 50]);
}

// Throws the named class with a message naming `param`, and leaves the module working.
function refuses(fn, ErrorClass, param) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error?.name}: ${error?.message}`);
    if (param) assert.match(error.message, param);
    return true;
  });
  assertHealthy();
}

async function refusesAsync(fn, ErrorClass, param) {
  await assert.rejects(fn, (error) => {
    assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error?.name}: ${error?.message}`);
    if (param) assert.match(error.message, param);
    return true;
  });
  assertHealthy();
}

// --- 1. Large but legal calls are refused before any allocation, naming the bytes needed ---------

test('Mlp.inputGradient on a 550×550 grid of a [2, 256, 256, 1] network: refused or computed', () => {
  const mlp = new kx.Mlp({ sizes: [2, 256, 256, 1] });
  try {
    refuses(() => mlp.inputGradient(new Float32Array(6e5), { rows: 3e5 }), RangeError, /rows.*bytes.*2 GiB/);
    // A size that fits still works after the refusal.
    assert.equal(mlp.inputGradient(new Float32Array(20), { rows: 10 }).length, 20);
  } finally {
    mlp.dispose();
  }
});

test('new WhiteningStats(16384) is refused (dim² float64 statistics past the heap)', () => {
  refuses(() => new kx.WhiteningStats(16384), RangeError, /dim.*bytes/);
});

test('Whitening.fit at dim 12000 is refused before the statistics are allocated', () => {
  refuses(() => kx.Whitening.fit(new Float32Array(12000), { rows: 1, dim: 12000 }), RangeError, /dim.*bytes/);
});

test('GanTrainer: huge critic.hidden refused; evaluate(2**31 - 1) and sample(2**27) refused', () => {
  refuses(() => new kx.GanTrainer({ critic: { hidden: [30000, 30000] } }), RangeError, /critic\.hidden.*bytes/);
  refuses(() => new kx.GanTrainer({ critic: { hidden: [65536, 65536] } }), RangeError, /critic\.hidden/);
  const trainer = new kx.GanTrainer({ preset: 'toy', batch: 8, critic: { hidden: [8] }, generator: { hidden: [8] } });
  try {
    refuses(() => trainer.evaluate(2 ** 31 - 1), RangeError, /\bn\b.*bytes/);
    refuses(() => trainer.sample(2 ** 27), RangeError, /\bn\b.*bytes/);
    refuses(() => trainer.sample(2 ** 32), RangeError, /\bn\b/);
    assert.equal(trainer.sample(3).length, 6);
  } finally {
    trainer.dispose();
  }
});

test('32-bit size products: a [1, 65536, 1] Mlp at 65536 rows is refused, not wrapped', () => {
  const mlp = new kx.Mlp({ sizes: [1, 65536, 1] });
  try {
    refuses(() => mlp.forward(new Float32Array(65536), { rows: 65536 }), RangeError, /rows.*bytes/);
    const y = mlp.forward(new Float32Array([0, 1]), { rows: 2 });
    assert.ok(Number.isFinite(y[0]) && Number.isFinite(y[1]));
  } finally {
    mlp.dispose();
  }
  const critic = new kx.Mlp({ sizes: [2, 4096, 1] });
  try {
    refuses(() => critic.forward(new Float32Array(2 * 2 ** 19), { rows: 2 ** 19 }), RangeError, /rows.*bytes/);
  } finally {
    critic.dispose();
  }
});

test('attention with seqK = 2**21 keys: the right answer or a named RangeError, never an abort', async () => {
  const seqK = 2 ** 21;
  const q = new Float32Array([0.5]);
  const k = new Float32Array(seqK).fill(0.25);
  const v = new Float32Array(seqK).fill(3);
  try {
    const out = await kx.attention(q, k, v, { heads: 1, seqQ: 1, seqK, dim: 1 });
    assert.ok(Math.abs(out[0] - 3) < 1e-4, `attention gave ${out[0]}`);
  } catch (error) {
    assert.ok(error instanceof RangeError, `${error?.name}: ${error?.message}`);
  }
  assertHealthy();
});

test('a 12000×12000 LoRA is refused before its copies are allocated; 6000×6000 works', () => {
  // The facade's gradient buffer and weight copy plus W and W0' are 4 × 576 MB: past the heap.
  refuses(() => new kx.LowRankOptimizer({ rows: 12000, cols: 12000, rank: 8, lr: 0.01, mode: 'lora', weight: new Float32Array(12000 * 12000) }),
    RangeError, /^LowRankOptimizer: rows needs \d+ bytes for the weight, its copies and state/);
  refuses(() => new kx.LowRankOptimizer({ rows: 11000, cols: 11000, rank: 8, lr: 0.01, mode: 'full', base: 'adam', weight: new Float32Array(11000 * 11000) }),
    RangeError, /rows needs \d+ bytes/);
  const ok = new kx.LowRankOptimizer({ rows: 6000, cols: 6000, rank: 8, lr: 0.01, mode: 'lora', weight: new Float32Array(6000 * 6000) });
  ok.step(new Float32Array(6000 * 6000).fill(1e-3));
  assert.equal(ok.steps, 1);
  ok.dispose();
  assertHealthy();
});

test('hubness of 2**26 one-dimensional rows is refused (32 bytes of workspace a row)', () => {
  refuses(() => kx.hubness(new Float32Array(2 ** 26).fill(1), { rows: 2 ** 26, dim: 1, k: 1, metric: 'euclidean' }),
    RangeError, /^hubness: rows needs \d+ bytes for x, the counts and the per-row workspaces/);
});

test("GanTrainer's penalty sides budget their double-precision workspaces (a [6000, 6000] critic)", () => {
  refuses(() => new kx.GanTrainer({ lipschitz: 'input-side', batch: 4, critic: { hidden: [6000, 6000] }, generator: { hidden: [8] } }),
    RangeError, /^GanTrainer: critic\.hidden needs \d+ bytes for the critic's parameters, gradient and Adam moments and the penalty side's/);
});

test('unargmaxable and penaltyInequality budget their workspaces before allocating', () => {
  refuses(() => kx.unargmaxable(new Float32Array(2 * 30000), { classes: 2, dim: 30000 }), RangeError, /^unargmaxable: dim needs \d+ bytes/);
  const wide = new kx.Mlp({ sizes: [6000, 6000, 1] });
  try {
    refuses(() => kx.gan.penaltyInequality(wide, new Float32Array(6000), { rows: 1, norm: 'frobenius' }), RangeError, /^gan\.penaltyInequality: rows needs \d+ bytes/);
  } finally {
    wide.dispose();
  }
});

test('thousands of refused GanTrainer constructors in a row leave the module working', () => {
  for (let i = 0; i < 3000; ++i) {
    assert.throws(() => new kx.GanTrainer({ critic: { hidden: [30000, 30000] } }), RangeError);
  }
  assertHealthy();
});

// --- 4. Silent wrong answers become errors -----------------------------------------------------

test('LowRankOptimizer: eps 0 is refused (a zero gradient entry would give 0/0 = NaN)', () => {
  for (const mode of ['full', 'lora', 'galore']) {
    refuses(() => new kx.LowRankOptimizer({
      rows: 4, cols: 4, rank: 2, lr: 0.01, mode, base: mode === 'full' ? 'adam' : undefined,
      eps: 0, weight: new Float32Array(16),
    }), RangeError, /eps/);
  }
});

test('LowRankOptimizer: lr 1e30 is refused (the update overflows float32)', () => {
  refuses(() => new kx.LowRankOptimizer({ rows: 4, cols: 4, rank: 2, lr: 1e30, weight: new Float32Array(16) }),
    RangeError, /lr/);
});

test('sparse size arrays are refused: sizes [2, , 1], critic.hidden [4, , 4]', () => {
  // eslint-disable-next-line no-sparse-arrays
  refuses(() => new kx.Mlp({ sizes: [2, , 1] }), TypeError, /sizes/);
  // eslint-disable-next-line no-sparse-arrays
  refuses(() => new kx.GanTrainer({ critic: { hidden: [4, , 4] } }), TypeError, /critic\.hidden/);
});

test('Whitening models with values beyond float32 are refused', () => {
  const model = { ...kx.Whitening.fit(new Float32Array([1, 2, 3, 5, 4, 1]), { rows: 3, dim: 2 }).toJSON() };
  const w = kx.Whitening.fromJSON(model);
  w.dispose();
  refuses(() => kx.Whitening.fromJSON({ ...model, kernel: [1e39, 0, 0, 1] }), RangeError, /kernel/);
  refuses(() => kx.Whitening.fromJSON({ ...model, center: [0, -1e39] }), RangeError, /center/);
  refuses(() => kx.Whitening.fromKernelBias({ kernel: [[1, 0], [0, 1e39]], bias: [0, 0] }), RangeError, /kernel/);
});

test('the float32-range rule of imported models is C++\'s, with one message for every array', () => {
  const model = { ...kx.Whitening.fit(new Float32Array([1, 2, 3, 5, 4, 1]), { rows: 3, dim: 2 }).toJSON() };
  const range = '(|x| ≤ 3.4028234663852886e+38), received ';
  refuses(() => kx.Whitening.fromJSON({ ...model, kernel: [1, 0, 0, 1e39] }), RangeError,
    new RegExp(`^Whitening\\.fromJSON: kernel\\[3\\] must be within the float32 range ${range.replace(/[()|+.]/g, '\\$&')}1e\\+39$`));
  refuses(() => kx.Whitening.fromJSON({ ...model, mean: [0, 4e38] }), RangeError, /^Whitening\.fromJSON: mean\[1\] must be within the float32 range/);
  refuses(() => kx.Whitening.fromJSON({ ...model, eigenvalues: [1e300, 1] }), RangeError, /eigenvalues\[0\] must be within the float32 range/);
  refuses(() => kx.Whitening.fromKernelBias({ kernel: [[1, 0], [0, 1e39]], bias: [0, 0] }), RangeError,
    /^Whitening\.fromKernelBias: kernel\[1\]\[1\] must be within the float32 range .*received 1e\+39$/);
  refuses(() => kx.Whitening.fromKernelBias({ kernel: [[1, 0], [0, 1]], bias: [[0, -5e38]] }), RangeError,
    /^Whitening\.fromKernelBias: bias\[1\] must be within the float32 range .*received -5e\+38$/);
  // At the edge: FLT_MAX itself is accepted.
  kx.Whitening.fromKernelBias({ kernel: [[3.4028234663852886e38, 0], [0, 1]], bias: [0, 0] }).dispose();
});

test('NaN and Infinity inputs are refused by Mlp.forward, gan.* and rope2d as elsewhere', () => {
  const mlp = new kx.Mlp({ sizes: [2, 4, 1] });
  try {
    refuses(() => mlp.forward(new Float32Array([0, NaN]), { rows: 1 }), RangeError, /x\[1\].*finite/);
    refuses(() => mlp.inputGradient(new Float32Array([Infinity, 0]), { rows: 1 }), RangeError, /x\[0\].*finite/);
    refuses(() => kx.gan.generatorLoss(mlp, new Float32Array([NaN, 0]), { rows: 1 }), RangeError, /fake\[0\]/);
    refuses(() => kx.gan.criticLoss(mlp, { rows: 1, real: new Float32Array([0, -Infinity]), fake: new Float32Array(2) }),
      RangeError, /real\[1\]/);
    refuses(() => kx.gan.normalizedCritic(mlp, new Float32Array([NaN, 1]), { rows: 1 }), RangeError, /x\[0\]/);
  } finally {
    mlp.dispose();
  }
});

test('NaN and Infinity inputs are refused by rope and rope2d', () => {
  refuses(() => kx.rope2d(new Float32Array([1, 2, NaN, 4]), { height: 1, width: 1, dim: 4 }), RangeError, /x\[2\]/);
  refuses(() => kx.rope(new Float32Array([1, Infinity]), { seq: 1, dim: 2 }), RangeError, /x\[1\]/);
});

test('attention refuses NaN inputs', async () => {
  await refusesAsync(() => kx.attention(new Float32Array([NaN]), new Float32Array([1]), new Float32Array([1]),
    { heads: 1, seqQ: 1, seqK: 1, dim: 1 }), RangeError, /q/);
});

test('Whitening.fit on rows of scale 1e-39 refuses clearly instead of returning NaN', () => {
  const x = new Float32Array([1, 2, 3, 5, 4, 1, 0, 2].map((v) => v * 1e-39));
  refuses(() => kx.Whitening.fit(x, { rows: 4, dim: 2 }), RangeError, /Whitening\.fit: the rows' spread is too small/);
  // The remedy the message gives works: scaled rows fit and transform to finite values.
  const scaled = x.map((v) => v * 1e39);
  const w = kx.Whitening.fit(scaled, { rows: 4, dim: 2 });
  assert.ok(w.transform(scaled, { rows: 4 }).every(Number.isFinite));
  w.dispose();
});

// --- 5. Error classes ----------------------------------------------------------------------------

test('a string where a number belongs is a TypeError (ddof: "1", scale: "0.5")', () => {
  refuses(() => kx.Whitening.fit(new Float32Array(8), { rows: 4, dim: 2, ddof: '1' }), TypeError, /ddof/);
  refuses(() => new kx.LowRankOptimizer({ rows: 4, cols: 4, rank: 2, lr: 0.1, scale: '0.5', weight: new Float32Array(16) }),
    TypeError, /scale/);
});

// --- 3. Typed arrays read through the built-in accessors ------------------------------------------

class LyingArray extends Float32Array {
  get length() { return 4; }
}

test('a Float32Array subclass whose length lies cannot overflow the heap buffer', () => {
  const a = new LyingArray(1 << 16).fill(1);
  refuses(() => kx.matmul(a, new Float32Array(4), { m: 2, k: 2, n: 2 }), RangeError, /a must have length/);
  // A short array claiming the right length cannot leak an earlier call's data.
  kx.matmul(new Float32Array([11, 22, 33, 44]), new Float32Array([1, 0, 0, 1]), { m: 2, k: 2, n: 2 });
  const short = new LyingArray(1);
  refuses(() => kx.matmul(short, new Float32Array([1, 0, 0, 1]), { m: 2, k: 2, n: 2 }), RangeError, /a must have length/);
});

test('a Proxy around a Float32Array is refused with a TypeError', () => {
  const proxy = new Proxy(new Float32Array(4), { get: (t, p) => (p === 'length' ? 1 << 20 : Reflect.get(t, p)) });
  refuses(() => kx.matmul(proxy, new Float32Array(4), { m: 2, k: 2, n: 2 }), TypeError, /a must be a Float32Array/);
});

test('an object disposed during its own call (from an option getter) fails with a "disposed" TypeError', () => {
  const mlp = new kx.Mlp({ sizes: [2, 3, 1] });
  const options = { get rows() { mlp.dispose(); return 1; } };
  refuses(() => mlp.forward(new Float32Array(2), options), TypeError, /disposed/);
  assert.equal(mlp.disposed, true);

  const critic = new kx.Mlp({ sizes: [2, 3, 1] });
  refuses(() => kx.gan.generatorLoss(critic, new Float32Array(2), { get rows() { critic.dispose(); return 1; } }),
    TypeError, /disposed/);

  const w = kx.Whitening.fit(new Float32Array([1, 2, 3, 5, 4, 1]), { rows: 3, dim: 2 });
  refuses(() => w.transform(new Float32Array(2), { get rows() { w.dispose(); return 1; } }), TypeError, /disposed/);
});

test('a disposed object says so with a TypeError on every call', () => {
  const mlp = new kx.Mlp({ sizes: [2, 3, 1] });
  mlp.dispose();
  refuses(() => mlp.forward(new Float32Array(2), { rows: 1 }), TypeError, /Mlp\.forward: the object was disposed/);
  refuses(() => mlp.parameters, TypeError, /disposed/);
  refuses(() => kx.gan.generatorLoss(mlp, new Float32Array(2), { rows: 1 }), TypeError, /disposed/);
});

// --- 5. The CLI: one line per user error, non-zero exit, strict shapes and numbers --------------

const CLI = fileURLToPath(new URL('../../bindings/js/cli/kexue.mjs', import.meta.url));
const cliDir = mkdtempSync(path.join(tmpdir(), 'kexue-robust-'));
test.after(() => rmSync(cliDir, { recursive: true, force: true }));

function npyWithShape(shapeText, floats, headerLengthOverride) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 12 + dict.length + 1;
  const padding = (64 - (unpadded % 64)) % 64;
  const header = Buffer.alloc(unpadded + padding);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]).copy(header);
  header.writeUInt32LE(headerLengthOverride ?? dict.length + padding + 1, 8);
  header.write(dict + ' '.repeat(padding) + '\n', 12, 'latin1');
  return Buffer.concat([header, Buffer.from(new Float32Array(floats).buffer)]);
}

function cliFails(args, pattern) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  assert.notEqual(result.status, 0, `exit code 0 for ${args.join(' ')}`);
  const lines = result.stderr.split('\n').filter((line) => line.startsWith('kexue:'));
  assert.equal(lines.length, 1, result.stderr);
  // (A JS stack frame names a file: or node: location; the WebGPU adapter's own warning does not.)
  assert.doesNotMatch(result.stderr, /\n\s+at .*\((file:|node:)/, `a stack trace: ${result.stderr}`);
  assert.match(lines[0], pattern);
}

test('CLI: a directory, a 2e1 shape, a 2**31 header length and --k "" are one-line errors', () => {
  const out = path.join(cliDir, 'model.json');
  cliFails(['whiten', 'fit', '--in', cliDir, '--out', out], /EISDIR|directory/);
  const sci = path.join(cliDir, 'sci.npy');
  writeFileSync(sci, npyWithShape('(2e1, 4)', new Array(80).fill(1)));
  cliFails(['whiten', 'fit', '--in', sci, '--out', out], /shape \(2e1, 4\)/);
  const huge = path.join(cliDir, 'huge.npy');
  writeFileSync(huge, npyWithShape('(2, 2)', [1, 2, 3, 4], 2 ** 31));
  cliFails(['whiten', 'fit', '--in', huge, '--out', out], /truncated .npy header/);
  const good = path.join(cliDir, 'good.npy');
  writeFileSync(good, npyWithShape('(4, 2)', [1, 2, 3, 5, 4, 1, 0, 2]));
  cliFails(['whiten', 'fit', '--in', good, '--out', out, '--k', ''], /--k must be a non-negative integer, received ""/);
  cliFails(['whiten', 'fit', '--in', good, '--out', out, '--beta', '0x10'], /--beta must be a number/);
  cliFails(['whiten', 'fit', '--in', path.join(cliDir, 'missing.npy'), '--out', out], /ENOENT|no such file/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(cliDir).filter((name) => name.includes('.tmp-')), []);
});

test('issue 18 reproducers: normalizedSum on two 2**27-float arrays; `kexue whiten fit` on a (2, 12000) .npy', () => {
  const a = new Float32Array(2 ** 27), b = new Float32Array(2 ** 27);
  refuses(() => kx.multitask.normalizedSum([a, b]), RangeError, /^multitask\.normalizedSum: grads needs \d+ bytes/);
  const wide = path.join(cliDir, 'wide.npy');
  writeFileSync(wide, npyWithShape('(2, 12000)', new Array(24000).fill(0).map((_, i) => Math.sin(i))));
  const out = path.join(cliDir, 'wide-model.json');
  cliFails(['whiten', 'fit', '--in', wide, '--out', out], /dim.*bytes.*2 GiB/);
  assert.equal(existsSync(out), false, 'no model written');
});

// --- 2. A dead instance is recovered, never silently reused (last: it kills the shared module) ---

test('after an abort every call says the instance aborted; init() gives a fresh, working one', async () => {
  const old = await init({ threads: 1 });
  assert.equal(old, kx);
  const mlp = new old.Mlp({ sizes: [2, 3, 1] });
  const trainer = new old.GanTrainer({ preset: 'toy', batch: 4, critic: { hidden: [4] }, generator: { hidden: [4] } });
  const dead = /^kexue: the WASM instance aborted \(.*\); call init\(\) again$/;
  const isDead = (error) => error instanceof Error && dead.test(error.message);
  assert.throws(() => abortForTesting(old), isDead);
  assert.throws(() => old.matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 }), isDead);
  assert.throws(() => mlp.forward(new Float32Array(2), { rows: 1 }), isDead);
  assert.throws(() => trainer.step(), isDead);
  assert.throws(() => new old.Mlp({ sizes: [2, 1] }), isDead);
  await assert.rejects(() => old.attention(new Float32Array(1), new Float32Array(1), new Float32Array(1),
    { heads: 1, seqQ: 1, seqK: 1, dim: 1 }), isDead);
  // Releasing objects of the dead instance is harmless (their memory went with it).
  mlp.dispose();
  trainer.dispose();

  const fresh = await init({ threads: 1 });
  assert.notEqual(fresh, old);
  const c = fresh.matmul(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { m: 2, k: 2, n: 2 });
  assert.deepEqual([...c], [19, 22, 43, 50]);
  const net = new fresh.Mlp({ sizes: [2, 3, 1] });
  assert.equal(net.forward(new Float32Array(2), { rows: 1 }).length, 1);
  net.dispose();
  assert.throws(() => old.matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 }), isDead);
});
