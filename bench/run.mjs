// npm run bench [-- NAME ...]   runs the named side-by-side benchmarks (all when none is named).
// The WASM module is built first if stale. Options with a value (--backend webgpu) are read by the
// benchmarks themselves from process.argv (the attention bench's --part tfjs|ort|masks|decoding
// and --sizes 128,512).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { build } from '../scripts/build.mjs';

// Node 20 runs relaxed SIMD only behind --experimental-wasm-relaxed-simd (Node 22+ by default):
// re-run under it so that the benchmarks can time the relaxed build beside the plain one.
const PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);
if (!WebAssembly.validate(PROBE) && !process.env.KEXUE_BENCH_NO_RELAXED &&
    !process.execArgv.includes('--experimental-wasm-relaxed-simd')) {
  const probe = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e', '0']);
  if (probe.status === 0) {
    const rerun = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', fileURLToPath(import.meta.url),
      ...process.argv.slice(2)], { stdio: 'inherit' });
    process.exit(rerun.status ?? 1);
  }
}

const BENCHMARKS = {
  matmul: () => import('./matmul.mjs'),
  whitening: () => import('./whitening.mjs'),
  attention: () => import('./attention.mjs'),
  gan: () => import('./gan.mjs'),
  'gan-long': () => import('./gan_long.mjs'),
  'gan-seeds': () => import('./gan_seeds.mjs'),
  lowrank: () => import('./lowrank.mjs'),
  losses: () => import('./losses.mjs'),
  diffusion: () => import('./diffusion.mjs'),
  'transformer-speed': () => import('./transformer.mjs').then((m) => ({ run: m.speed })),
  'transformer-extrapolation': () => import('./transformer.mjs').then((m) => ({ run: m.extrapolation })),
  'transformer-finetune': () => import('./transformer.mjs').then((m) => ({ run: m.finetune })),
  'transformer-probe': () => import('./transformer.mjs').then((m) => ({ run: m.probe })),
  // All of the above, or one: npm run bench -- transformer --part probe
  transformer: () => import('./transformer.mjs'),
  unargmaxable: () => import('./unargmaxable.mjs'),
};

const OPTIONS_WITH_VALUE = ['--backend', '--part', '--sizes', '--stat', '--order'];
const names = process.argv.slice(2).filter((arg, i, args) => !arg.startsWith('-') && !OPTIONS_WITH_VALUE.includes(args[i - 1]));
for (const name of names) {
  if (!(name in BENCHMARKS)) {
    process.stderr.write(`unknown benchmark "${name}"; available: ${Object.keys(BENCHMARKS).join(', ')}\n`);
    process.exit(2);
  }
}
// A copy of the package with dist/ built and no build tree (e.g. carried to a GPU machine by
// scripts/gpu-bench.sh) runs as it is: there may be no Emscripten there.
const ROOT = new URL('../', import.meta.url);
if (existsSync(new URL('build/wasm/CMakeCache.txt', ROOT)) || !existsSync(new URL('dist/kexue.mjs', ROOT))) {
  build({ moduleOnly: true });
} else {
  process.stdout.write('no build tree (build/wasm): using dist/ as it is\n');
}
// Run all: the 'transformer' entry is the transformer-* ones together, so it is left out.
for (const name of names.length ? names : Object.keys(BENCHMARKS).filter((n) => n !== 'transformer')) {
  const { run } = await BENCHMARKS[name]();
  await run();
}
