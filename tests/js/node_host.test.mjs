// kexue is a quiet guest in a Node process: loading it installs no process-wide handlers, so the
// host's own uncaught errors exit as they would without kexue (code 1, the host's stack only) and
// a host that handles 'unhandledRejection' keeps running. Checked with the single-threaded and
// the threaded module, and with the Node < 20.16 path (no process.getBuiltinModule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const INDEX = new URL('../../bindings/js/index.js', import.meta.url).href;

// Line 1 imports kexue and initialises it (or does nothing), so that both variants of a script
// keep the same line numbers and their stderr can be compared as is.
function script(withKexue, threads, body) {
  const prelude = withKexue
    ? `import { init } from ${JSON.stringify(INDEX)}; const kx = await init({ threads: ${JSON.stringify(threads)}, backend: "wasm" }); if (kx.matmul(new Float32Array([1]), new Float32Array([2]), { m: 1, k: 1, n: 1 })[0] !== 2) throw new Error('matmul');`
    : 'const kx = await null;';
  return `${prelude}\n${body}\n`;
}

function run(dir, name, source, nodeArgs = []) {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  const result = spawnSync(process.execPath, [...nodeArgs, file], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const THROW_SYNC = `function hostCode() { throw new Error('the host failed'); }\nhostCode();`;
const THROW_ASYNC = `setTimeout(function hostTimer() { throw new Error('the host failed later'); }, 10);`;
const REJECTION = `process.on('unhandledRejection', (reason) => { console.log('logged: ' + reason.message); });
Promise.reject(new Error('a rejected host promise'));
setTimeout(() => console.log('still running'), 50);`;

const OLD_NODE = ['--import', 'data:text/javascript,delete process.getBuiltinModule;'];

for (const [label, threads, nodeArgs] of [['threads 1', 1, []], ["threads 'auto' (threaded module)", 'auto', []],
  ['threaded module, Node without process.getBuiltinModule', 'auto', OLD_NODE],
  ['threads 1, Node without process.getBuiltinModule', 1, OLD_NODE]]) {
  test(`a host's uncaught error after init() exits as without kexue (${label})`, { timeout: 120_000 }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kexue-host-'));
    try {
      for (const body of [THROW_SYNC, THROW_ASYNC]) {
        const bare = run(dir, 'bare.mjs', script(false, threads, body), nodeArgs);
        const guest = run(dir, 'guest.mjs', script(true, threads, body), nodeArgs);
        assert.equal(bare.status, 1);
        assert.equal(guest.status, 1, guest.stderr);
        assert.match(guest.stderr, /the host failed/);
        assert.ok(guest.stderr.length < 2048, `stderr is ${guest.stderr.length} bytes:\n${guest.stderr.slice(0, 500)}`);
        assert.doesNotMatch(guest.stderr, /dist\/kexue|GROWABLE_HEAP|emscripten|ExitStatus/i);
        // The same report, apart from the script's name.
        assert.equal(guest.stderr.replaceAll('guest.mjs', 'bare.mjs').replace(/^[^\n]*\n/, ''),
          bare.stderr.replace(/^[^\n]*\n/, ''));
        assert.equal(guest.stdout, '');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`a host that handles unhandledRejection keeps running after init() (${label})`, { timeout: 120_000 }, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kexue-host-'));
    try {
      const guest = run(dir, 'guest.mjs', script(true, threads, REJECTION), nodeArgs);
      assert.equal(guest.status, 0, guest.stderr);
      assert.equal(guest.stdout, 'logged: a rejected host promise\nstill running\n');
      assert.equal(guest.stderr, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('init() reports its threads and exits by itself under Node without process.getBuiltinModule', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kexue-host-'));
  try {
    const out = run(dir, 'threads.mjs', script(true, 'auto', 'console.log(kx.threads > 1 ? "threads" : "one");'), OLD_NODE);
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout, 'threads\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('init({ wasmPaths, locateFile }) says where the files are; bad values are refused by name', { timeout: 60_000 }, async () => {
  const { init } = await import(INDEX);
  const { copyFileSync } = await import('node:fs');
  const dist = new URL('../../dist/', import.meta.url);
  const dir = mkdtempSync(path.join(tmpdir(), 'kexue-paths-'));
  try {
    copyFileSync(new URL('kexue.wasm', dist), path.join(dir, 'kexue.wasm'));
    // A prefix (a path or a file: URL under Node).
    const kx = await init({ threads: 1, backend: 'wasm', wasmPaths: `${dir}/` });
    assert.deepEqual(Array.from(kx.matmul(new Float32Array([2]), new Float32Array([3]), { m: 1, k: 1, n: 1 })), [6]);
    await assert.rejects(init({ threads: 1, backend: 'wasm', wasmPaths: { 'kexue.wasm': path.join(dir, 'missing.wasm') } }),
      /missing\.wasm|Aborted/);
    // A function sees every file the threaded module loads.
    const asked = [];
    const mt = await init({
      threads: 2, backend: 'wasm',
      locateFile: (name, directory) => { asked.push(name); return new URL(name, pathToFileURL(directory + '/')); },
    });
    assert.equal(mt.threads, 2);
    assert.ok(asked.includes('kexue-mt.wasm') && asked.includes('kexue-mt.worker.js'), asked.join());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(init({ wasmPaths: 5 }), { name: 'TypeError', message: /init: wasmPaths must be a URL prefix/ });
  await assert.rejects(init({ wasmPaths: { 'foo.wasm': 'x' } }), { name: 'RangeError', message: /init: wasmPaths has an unknown file name "foo.wasm"/ });
  await assert.rejects(init({ wasmPaths: { 'kexue.wasm': 1 } }), { name: 'TypeError', message: /init: wasmPaths\["kexue.wasm"\] must be a string/ });
  await assert.rejects(init({ locateFile: 'dist/' }), { name: 'TypeError', message: /init: locateFile must be a function/ });
});
