// npm run bench [-- NAME ...]   runs the named side-by-side benchmarks (all when none is named).
// The WASM module is built first if stale.
import { build } from '../scripts/build.mjs';

const BENCHMARKS = {
  matmul: () => import('./matmul.mjs'),
  whitening: () => import('./whitening.mjs'),
  lowrank: () => import('./lowrank.mjs'),
};

const names = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
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
