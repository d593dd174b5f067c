// npm run bench -- gan-seeds [-- --seeds=8 --steps=900 --settings=torch-10,gan-10 --workers=2]
// Multi-seed WGAN-GP runs on ring8 (issue 19): single runs mislead in this regime, so each setting
// runs `seeds` seeds (0 … seeds−1) and reports the success rate, success = median distance of
// 2,500 samples to their nearest mode < 0.25 after `steps` generator steps. Fixed protocol:
// lr 1e-3, β1 0.5, β2 0.9, nCritic 5, batch 256, 2→256→256 ReLU networks. The settings differ in
// λ and in how the two networks are initialised:
//   torch  Mlp's default (PyTorch nn.Linear): W and b uniform ±1/√fan_in (the trainer's old init)
//   gan    gan_toy.py's (tflib): He-uniform hidden layers, Glorot output layer, zero biases
//   he-g   gan for the generator, torch for the critic
// The runs are spread over `workers` worker threads (one single-threaded module each; 2 = both
// cores), so a run's result does not depend on the worker count.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { init } from 'kexue';
import { table } from './timing.mjs';

const TORCH = { init: 'torch', outputInit: null, bias: 'uniform' };
const GAN = { init: 'he', outputInit: 'glorot', bias: 'zero' };

export const SETTINGS = {
  'torch-10': { lambda: 10, critic: TORCH, generator: TORCH, label: 'torch init (old default), λ 10' },
  'gan-10': { lambda: 10, critic: GAN, generator: GAN, label: 'gan_toy.py init (new default), λ 10' },
  'he-g-10': { lambda: 10, critic: TORCH, generator: GAN, label: 'gan_toy.py init, generator only, λ 10' },
  'torch-0.1': { lambda: 0.1, critic: TORCH, generator: TORCH, label: 'torch init, λ 0.1 (old toy preset)' },
  'gan-0.1': { lambda: 0.1, critic: GAN, generator: GAN, label: 'gan_toy.py init, λ 0.1' },
};

// One run: the metrics after `steps` generator steps (and at each third of the way, for the log).
export function seedRun(kx, { setting, seed, steps, hidden }) {
  const s = SETTINGS[setting];
  const gan = new kx.GanTrainer({
    dataset: 'ring8', preset: 'toy', lambda: s.lambda, lr: 1e-3, beta1: 0.5, beta2: 0.9, nCritic: 5, batch: 256, seed,
    critic: { hidden: [hidden, hidden], ...s.critic }, generator: { hidden: [hidden, hidden], ...s.generator },
  });
  const start = performance.now();
  gan.step(steps);
  const m = gan.evaluate();
  gan.dispose();
  return { setting, seed, seconds: (performance.now() - start) / 1000, ...m };
}

function parseArgs() {
  const args = {};
  for (const arg of process.argv.slice(2)) {
    const match = /^--([a-zA-Z]+)=(.*)$/.exec(arg);
    if (match) args[match[1]] = match[2];
  }
  return args;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (!isMainThread) {
  const kx = await init({ threads: 1 });
  parentPort.on('message', (job) => {
    if (job === null) process.exit(0);
    parentPort.postMessage(seedRun(kx, { ...job, ...workerData }));
  });
  parentPort.postMessage('ready');
}

export async function run() {
  const args = parseArgs();
  const seeds = Number(args.seeds ?? 8), steps = Number(args.steps ?? 900), hidden = Number(args.hidden ?? 256);
  const workers = Number(args.workers ?? 2);
  const settings = (args.settings ?? Object.keys(SETTINGS).join(',')).split(',');
  for (const s of settings) if (!(s in SETTINGS)) throw new Error(`unknown setting ${s}; known: ${Object.keys(SETTINGS)}`);
  // Seed-major order, so an interrupted sweep leaves every setting with as many seeds.
  const jobs = Array.from({ length: seeds }, (_, seed) => settings.map((setting) => ({ setting, seed }))).flat();
  const results = [];
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, () => new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { steps, hidden } });
    worker.on('error', reject);
    worker.on('exit', resolve);
    const next = () => worker.postMessage(jobs.length ? jobs.shift() : null);
    worker.on('message', (r) => {
      if (r !== 'ready') {
        results.push(r);
        process.stdout.write(`${r.setting} seed ${r.seed}: median distance ${r.medianDistance.toFixed(3)}, ` +
          `modes ${r.modes}, HQ ${(100 * r.highQuality).toFixed(1)}% (${r.seconds.toFixed(0)} s)\n`);
      }
      next();
    });
  })));
  const rows = settings.map((setting) => {
    const rs = results.filter((r) => r.setting === setting).sort((a, b) => a.seed - b.seed);
    const d = rs.map((r) => r.medianDistance);
    return [SETTINGS[setting].label, `${d.filter((x) => x < 0.25).length}/${rs.length}`, median(d).toFixed(3),
      `${Math.min(...d).toFixed(3)}–${Math.max(...d).toFixed(3)}`, median(rs.map((r) => r.modes)),
      `${(100 * median(rs.map((r) => r.highQuality))).toFixed(1)}%`];
  });
  console.log(`\nring8, ${steps} generator steps, seeds 0–${seeds - 1}; lr 1e-3, β 0.5/0.9, nCritic 5, batch 256, ` +
    `2→${hidden}→${hidden} ReLU; success = median distance < 0.25 (${workers} workers, ` +
    `${((performance.now() - start) / 1000).toFixed(0)} s)`);
  console.log(table(['setting', 'success', 'median of median dist.', 'range', 'median modes', 'median HQ'], rows));
}

if (isMainThread && process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await run();
