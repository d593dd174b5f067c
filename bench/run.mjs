// npm run bench [-- NAME ...]   runs the named side-by-side benchmarks (all when none is named).
// The WASM module is built first if stale. Options with a value (--backend webgpu) are read by the
// benchmarks themselves from process.argv (--part tfjs|ort|masks and --sizes 128,512: the attention bench's).
import { build } from '../scripts/build.mjs';

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
};

const OPTIONS_WITH_VALUE = ['--backend', '--part', '--sizes', '--stat'];
const names = process.argv.slice(2).filter((arg, i, args) => !arg.startsWith('-') && !OPTIONS_WITH_VALUE.includes(args[i - 1]));
for (const name of names) {
  if (!(name in BENCHMARKS)) {
    process.stderr.write(`unknown benchmark "${name}"; available: ${Object.keys(BENCHMARKS).join(', ')}\n`);
    process.exit(2);
  }
}
build({ moduleOnly: true });
for (const name of names.length ? names : Object.keys(BENCHMARKS)) {
  const { run } = await BENCHMARKS[name]();
  await run();
}
