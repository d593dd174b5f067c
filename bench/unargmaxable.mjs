// npm run bench -- unargmaxable: kx.unargmaxable on softmax heads of the size the issue names
// (32,768 classes × 512 dims): a Gaussian head (every class argmaxable: all screen), and the same
// head with a few planted interior classes (their linear programmes), on 1 thread and on every
// thread up to 4. There is no peer: no JS/WASM library answers this question.
import { init } from '../bindings/js/index.js';
import { gaussian, mulberry32 } from '../tests/helpers/random.js';

function head(classes, dim, seed) {
  const normal = gaussian(mulberry32(seed));
  return Float32Array.from({ length: classes * dim }, normal);
}

export async function run() {
  const sizes = process.argv.includes('--small') ? [[4096, 128]] : [[4096, 512], [32768, 512]];
  console.log('kx.unargmaxable: seconds (classes decided by the screen / by linear programmes / unargmaxable)');
  for (const threads of [1, 'auto']) {
    const kx = await init({ threads, backend: 'wasm' });
    for (const [classes, dim] of sizes) {
      const weight = head(classes, dim, 1);
      let start = performance.now();
      const plain = kx.unargmaxable(weight, { classes, dim });
      const plainSeconds = (performance.now() - start) / 1000;
      // Planted: two rows scaled to 5 % (inside the hull of the others), one the mean of 64 rows.
      const planted = weight.slice();
      for (let j = 0; j < dim; ++j) {
        planted[5 * dim + j] *= 0.05;
        planted[7 * dim + j] *= 0.05;
        let mean = 0;
        for (let i = 100; i < 164; ++i) mean += weight[i * dim + j];
        planted[9 * dim + j] = mean / 64;
      }
      start = performance.now();
      const found = kx.unargmaxable(planted, { classes, dim });
      const plantedSeconds = (performance.now() - start) / 1000;
      console.log(`${classes} × ${dim}, ${kx.threads} thread(s): Gaussian ${plainSeconds.toFixed(2)} s ` +
        `(${plain.screened}/${plain.programmes}/${plain.indices.length}); 3 planted ${plantedSeconds.toFixed(2)} s ` +
        `(${found.screened}/${found.programmes}/${found.indices.length}: [${[...found.indices]}])`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
