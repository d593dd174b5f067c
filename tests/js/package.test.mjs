// The published package: `npm pack` carries the built WASM, and the tarball installed into a
// fresh project works (ESM import, a matmul, a whitening fit, the CLI via npx) and type-checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('npm pack → install in a fresh project → import, compute, type-check', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kexue-pack-'));
  try {
    const env = { ...process.env, npm_config_loglevel: 'error', npm_config_update_notifier: 'false' };
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir],
      { cwd: ROOT, encoding: 'utf8', env }));
    const files = packed[0].files.map((f) => f.path);
    for (const required of ['dist/kexue.mjs', 'dist/kexue.wasm', 'dist/kexue-mt.mjs', 'dist/kexue-mt.wasm',
      'dist/kexue-mt.worker.js', 'dist/kexue-relaxed.wasm', 'dist/kexue-mt-relaxed.wasm', 'dist/package.json',
      'bindings/js/index.js', 'bindings/js/index.d.ts',
      'bindings/js/cli/kexue.mjs', 'bindings/webgpu/backend.js', 'bindings/webgpu/attention.wgsl',
      'bindings/webgpu/rope.wgsl', 'bindings/webgpu/shaders.js', 'bindings/webgpu/kernels.js', 'bindings/webgpu/rope_pair.wgsl', 'dist/kexue-mt.worker.mjs', 'bindings/js/index.cjs',
      'bindings/js/index.d.cts', 'bindings/js/proxy.js', 'bindings/js/proxy-worker.js', 'LICENSE']) {
      assert.ok(files.includes(required), `${required} missing from the tarball`);
    }
    const project = path.join(dir, 'app');
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(dir, packed[0].filename)],
      { cwd: project, env, stdio: 'pipe' });
    writeFileSync(path.join(project, 'main.mjs'), `
      import { init } from 'kexue';
      const kx = await init();
      const c = kx.matmul(new Float32Array([1, 2, 3, 4, 5, 6]), new Float32Array([7, 8, 9, 10, 11, 12]), { m: 2, k: 3, n: 2 });
      const w = kx.Whitening.fit(new Float32Array([3, 3, 1, 1, 2, 3, 2, 1]), { rows: 4, dim: 2 });
      const o = await kx.attention(new Float32Array([1, 0, 0, 1]), new Float32Array([1, 0, 0, 1]), new Float32Array([1, 2, 3, 4]), { seqQ: 2, heads: 1, dim: 2, scale: 0 });
      console.log(JSON.stringify({ c: Array.from(c), ev: w.eigenvalues[0].toFixed(6), version: kx.version, o: Array.from(o) }));
      w.dispose();
    `);
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: project, encoding: 'utf8' }));
    assert.deepEqual(out.c, [58, 64, 139, 154]);
    assert.equal(out.ev, '1.309017');
    assert.deepEqual(out.o, [2, 3, 2, 3]);
    const help = spawnSync('npx', ['--offline', 'kexue', '--help'], { cwd: project, encoding: 'utf8', env });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /kexue whiten fit/);
    const versionOut = spawnSync('npx', ['--offline', 'kexue', '--version'], { cwd: project, encoding: 'utf8', env });
    assert.equal(versionOut.status, 0, versionOut.stderr);
    assert.equal(versionOut.stdout, `${out.version}\n`);

    // CommonJS: the README's block, as written; the examples are exported for reuse.
    const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const cjs = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith('// CommonJS: main.cjs'));
    assert.ok(cjs, 'README has the CommonJS block');
    writeFileSync(path.join(project, 'main.cjs'), cjs +
      "require.resolve('kexue/examples/lowrank-finetune.mjs');\n" +
      "if (require('kexue/package.json').repository.url !== 'git+https://github.com/kexue-js/kexue.git') throw new Error('repository');\n");
    const fromCjs = spawnSync(process.execPath, ['main.cjs'], { cwd: project, encoding: 'utf8' });
    assert.equal(fromCjs.status, 0, fromCjs.stderr);
    assert.equal(fromCjs.stdout, `${out.version} 11\n`);
    assert.equal(fromCjs.stderr, '');
    const example = spawnSync(process.execPath, ['--input-type=module', '-e',
      "const m = await import('kexue/examples/lowrank-finetune.mjs'); console.log(typeof m.lowRankFinetune);"],
    { cwd: project, encoding: 'utf8' });
    assert.equal(example.stdout, 'function\n', example.stderr);

    writeFileSync(path.join(project, 'check.ts'), `
      import { init, type Kexue, type Whitening } from 'kexue';
      const kx: Kexue = await init({ threads: 1 });
      const c: Float32Array = kx.matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 });
      const w: Whitening = kx.Whitening.fit(c, { rows: 2, dim: 2, beta: 0, gamma: 0 });
      const y: Float32Array = w.transform(c, { rows: 2, normalize: true });
      w.dispose();
      const o: Float32Array = await kx.attention(c, c, c, { seqQ: 2, heads: 1, dim: 2, causal: true, rope: { layout: 'half' }, backend: 'auto' });
      const gpuKx: Kexue = await init({ backend: 'wasm' });
      const where: 'wasm' | 'webgpu' = gpuKx.backend;
      const rq: Promise<Float32Array> = gpuKx.rope(c, { seq: 1, dim: 4, backend: 'webgpu' });
      rq.catch(() => {});
      gpuKx.dispose();
      const g: { dq: Float32Array } = kx.attentionBackward(c, c, c, o, { seqQ: 2, heads: 1, dim: 2, scale: 0.5 });
      const r: Float32Array = kx.rope2d(c, { height: 1, width: 1, dim: 4, mode: 'tie' });
      const remote = await init({ proxy: true, threads: 1 });
      const rc: Float32Array = await remote.matmul(c, c, { m: 2, k: 2, n: 2 });
      const rw = await remote.Whitening.fit(rc, { rows: 2, dim: 2 });
      const rdim: number = rw.dim;
      const rt = await new remote.GanTrainer({ dataset: 'ring8' });
      const rs: { criticLoss: number } = await rt.step(2, { onProgress: ({ done, total }) => void (done + total) });
      const rsteps: number = rt.steps;
      await rw.dispose(); await rt.dispose(); await remote.dispose();
      export { y, g, r, where, rdim, rs, rsteps };
    `);
    // A CommonJS TypeScript file: 'kexue' resolves through the "require" condition (index.d.cts).
    writeFileSync(path.join(project, 'check.cts'), `
      import { init, version } from 'kexue';
      import type { Kexue } from 'kexue';
      async function main(): Promise<number> {
        const kx: Kexue = await init({ threads: 1, wasmPaths: { 'kexue.wasm': './kexue.wasm' } });
        const c: Float32Array = kx.matmul(new Float32Array(4), new Float32Array(4), { m: 2, k: 2, n: 2 });
        const v: string = version;
        return c.length + v.length;
      }
      export = main;
    `);
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, lib: ['es2022', 'esnext.disposable'], types: [] },
      files: ['check.ts', 'check.cts'],
    }));
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project],
      { cwd: project, encoding: 'utf8' });
    assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
