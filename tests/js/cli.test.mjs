// The `kexue whiten` CLI on .npy files written here (float32 and float64), against the library
// called directly, plus the failure modes: wrong dtype, truncated file, no output left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from 'kexue';

const CLI = fileURLToPath(new URL('../../bindings/js/cli/kexue.mjs', import.meta.url));
const kx = await init();
const dir = mkdtempSync(path.join(tmpdir(), 'kexue-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function npyBytes(values, rows, dim, descr) {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  const unpadded = 10 + dict.length + 1;
  const padding = (64 - (unpadded % 64)) % 64;
  const header = Buffer.alloc(unpadded + padding);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(header);
  header.writeUInt16LE(dict.length + padding + 1, 8);
  header.write(dict + ' '.repeat(padding) + '\n', 10, 'latin1');
  return Buffer.concat([header, Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

function readNpyFloat32(file) {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const text = bytes.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(text, /'descr': '<f4'/);
  const [rows, dim] = /'shape': \((\d+), (\d+)\)/.exec(text).slice(1).map(Number);
  const data = bytes.subarray(10 + headerLength);
  return { rows, dim, values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

function runCli(...args) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

function data(rows, dim) {
  const x = new Float32Array(rows * dim);
  for (let i = 0; i < x.length; ++i) x[i] = Math.sin(i * 0.37) * (1 + (i % dim)) + (i % 3);
  return x;
}

for (const dtype of ['float32', 'float64']) {
  test(`fit and apply round-trip on a ${dtype} .npy file`, () => {
    const rows = 300, dim = 8;
    const x = data(rows, dim);
    const input = path.join(dir, `emb-${dtype}.npy`);
    writeFileSync(input, dtype === 'float32' ? npyBytes(x, rows, dim, '<f4') : npyBytes(Float64Array.from(x), rows, dim, '<f8'));
    const modelFile = path.join(dir, `model-${dtype}.json`);
    const fit = runCli('whiten', 'fit', '--in', input, '--out', modelFile, '--beta', '0.5', '--gamma', '0.8', '--k', '5', '--ddof', '1');
    assert.equal(fit.status, 0, fit.stderr);
    assert.equal(fit.stdout, '');
    const model = kx.Whitening.fromJSON(JSON.parse(readFileSync(modelFile, 'utf8')));
    const direct = kx.Whitening.fit(x, { rows, dim, beta: 0.5, gamma: 0.8, k: 5, ddof: 1 });
    assert.equal(model.k, 5);
    assert.equal(model.count, rows);
    const maxDiff = (a, b) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    assert.ok(maxDiff(model.eigenvalues, direct.eigenvalues) <= 1e-9 * direct.eigenvalues[0]);

    const output = path.join(dir, `white-${dtype}.npy`);
    const apply = runCli('whiten', 'apply', '--model', modelFile, '--in', input, '--out', output, '--normalize');
    assert.equal(apply.status, 0, apply.stderr);
    const written = readNpyFloat32(output);
    assert.equal(written.rows, rows);
    assert.equal(written.dim, 5);
    assert.ok(maxDiff(written.values, model.transform(x, { rows, normalize: true })) <= 1e-6);
    model.dispose();
    direct.dispose();
  });
}

test('a wrong dtype and a truncated file are clear errors that leave no output behind', () => {
  const ints = path.join(dir, 'ints.npy');
  writeFileSync(ints, npyBytes(new Int32Array(6), 3, 2, '<i4'));
  const out = path.join(dir, 'never.json');
  const wrong = runCli('whiten', 'fit', '--in', ints, '--out', out);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /dtype <i4 is not supported; expected float32 \('<f4'\) or float64 \('<f8'\)/);

  const full = npyBytes(data(50, 4), 50, 4, '<f4');
  const truncated = path.join(dir, 'truncated.npy');
  writeFileSync(truncated, full.subarray(0, full.length - 10));
  const cut = runCli('whiten', 'fit', '--in', truncated, '--out', out);
  assert.equal(cut.status, 1);
  assert.match(cut.stderr, /file is truncated: shape \(50, 4\) float32 needs \d+ bytes, the file has \d+/);

  // apply with a model of another width is refused before anything is written.
  const modelFile = path.join(dir, 'model-dim4.json');
  const good = path.join(dir, 'good.npy');
  writeFileSync(good, full);
  assert.equal(runCli('whiten', 'fit', '--in', good, '--out', modelFile).status, 0);
  const other = path.join(dir, 'dim8.npy');
  writeFileSync(other, npyBytes(data(10, 8), 10, 8, '<f4'));
  const mismatch = runCli('whiten', 'apply', '--model', modelFile, '--in', other, '--out', path.join(dir, 'never.npy'));
  assert.equal(mismatch.status, 1);
  assert.match(mismatch.stderr, /has dim 8, but the model expects dim 4/);

  assert.equal(existsSync(out), false);
  assert.equal(existsSync(path.join(dir, 'never.npy')), false);
  assert.deepEqual(readdirSync(dir).filter((name) => name.includes('.tmp-')), []);
});

test('usage errors print the usage and exit 1', () => {
  const result = runCli('whiten', 'transform');
  assert.equal(result.status, 1);
  assert.match(result.stderr, /unknown command "whiten transform"/);
  assert.match(result.stderr, /usage:/);
});

test('whiten stats prints the hubness of the cosine k-NN graph before and after whitening', () => {
  const rows = 120, dim = 8;
  const values = Float32Array.from({ length: rows * dim }, (_, i) => 2 + Math.sin(i * 12.9898) * (i % dim < 2 ? 3 : 0.3));
  const file = path.join(dir, 'stats.npy');
  writeFileSync(file, npyBytes(values, rows, dim, '<f4'));
  const result = runCli('whiten', 'stats', '--in', file, '--k', '5', '--sample', '100');
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.rows, rows);
  assert.equal(report.sample, 100);
  assert.equal(report.k, 5);
  assert.ok(Number.isFinite(report.hubness.raw.skewness) && Number.isFinite(report.hubness.whitened.skewness));
  const missing = runCli('whiten', 'stats');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /whiten stats needs --in/);
});

test('whiten fit --workers 3 merges per-worker statistics into the one-pass model', () => {
  const rows = 301, dim = 6;
  const values = Float32Array.from({ length: rows * dim }, (_, i) => Math.cos(i * 0.61) * (1 + (i % dim)));
  const file = path.join(dir, 'workers.npy');
  writeFileSync(file, npyBytes(values, rows, dim, '<f4'));
  const one = path.join(dir, 'one.json'), three = path.join(dir, 'three.json');
  assert.equal(runCli('whiten', 'fit', '--in', file, '--out', one).status, 0);
  const result = runCli('whiten', 'fit', '--in', file, '--out', three, '--workers', '3');
  assert.equal(result.status, 0, result.stderr);
  const a = JSON.parse(readFileSync(one, 'utf8')), b = JSON.parse(readFileSync(three, 'utf8'));
  assert.equal(b.count, rows);
  a.eigenvalues.forEach((v, i) => assert.ok(Math.abs(v - b.eigenvalues[i]) < 1e-9 * (1 + Math.abs(v)), `eigenvalue ${i}`));
  const bad = runCli('whiten', 'fit', '--in', file, '--out', three, '--workers', '0');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--workers must be a positive integer/);
});
