// Builds what is stale, through CMake (which tracks staleness itself):
//   build/native  g++, host ISA, ASan+UBSan, GoogleTest       (tests only)
//   build/wasm    em++, WASM SIMD: dist/kexue.{js,wasm}, dist/kexue-mt.*, their relaxed-SIMD
//                 twins dist/kexue{,-mt}-relaxed.wasm, and the GoogleTest suite in WASM
// Usage: node scripts/build.mjs [--wasm-only] [--module-only]
//   --wasm-only    skip the native tree
//   --module-only  build only dist/kexue.{js,wasm} (what `npm start` and `npm pack` need)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './bootstrap.mjs';

// Emscripten 3.1.6 on Debian needs node-acorn from Debian's tree (NodeSource's node doesn't
// look there) for every optimizing link.
const env = { ...process.env, NODE_PATH: '/usr/share/nodejs' };
const JOBS = '2';

function run(command, args) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: ROOT, env });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
  }
}

function nodeExecutable() {
  return process.execPath;
}

export function buildNative() {
  const dir = path.join(ROOT, 'build', 'native');
  if (!existsSync(path.join(dir, 'CMakeCache.txt'))) {
    run('cmake', ['-S', '.', '-B', dir, '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DKEXUE_SANITIZE=ON']);
  }
  run('cmake', ['--build', dir, '-j', JOBS]);
}

export function buildWasm({ moduleOnly = false } = {}) {
  const dir = path.join(ROOT, 'build', 'wasm');
  if (!existsSync(path.join(dir, 'CMakeCache.txt'))) {
    // emcmake's default emulator passes a flag Node 20 rejects (--experimental-wasm-threads).
    run('emcmake', ['cmake', '-S', '.', '-B', dir, '-DCMAKE_BUILD_TYPE=Release',
      `-DCMAKE_CROSSCOMPILING_EMULATOR=${nodeExecutable()}`]);
  }
  run('cmake', ['--build', dir, '-j', JOBS,
    ...(moduleOnly ? ['--target', 'kexue', 'kexue_mt', 'kexue_relaxed', 'kexue_mt_relaxed'] : [])]);
}

export function build({ wasmOnly = false, moduleOnly = false } = {}) {
  buildWasm({ moduleOnly });
  if (!wasmOnly && !moduleOnly) buildNative();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = new Set(process.argv.slice(2));
  const { bootstrap } = await import('./bootstrap.mjs');
  if (!args.has('--no-bootstrap')) bootstrap();
  build({ wasmOnly: args.has('--wasm-only'), moduleOnly: args.has('--module-only') });
}
