// npm run bench -- gan-long [-- --dataset=ring8 --lipschitz=gp --steps=20000 --hidden=128 --batch=128 --eps=0.1 (gran)
//                               --init=torch (both networks as PyTorch's nn.Linear, the trainer's default before issue 19)]
// Long GanTrainer runs (not a test): evaluates the PacGAN/VEEGAN metrics on 2,500 samples every
// `every` generator steps and reports the first step (and wall time) at which ≥ 7/8 (ring8) or
// ≥ 24/25 (grid25) modes with ≥ 80% high-quality samples hold, and the final metrics.
// Without --dataset/--lipschitz it runs the four combinations ring8/grid25 × gp/gn in turn.
import { init } from 'kexue';
import { table } from './timing.mjs';

function parseArgs() {
  const args = {};
  for (const arg of process.argv.slice(2)) {
    const match = /^--([a-zA-Z]+)=(.*)$/.exec(arg);
    if (match) args[match[1]] = match[2];
  }
  return args;
}

export async function longRun(kx, { dataset, lipschitz, steps, hidden, batch, every, seed, preset, eps, init }) {
  // GraN's ε has no default (--eps, 0.1 unless given); the other methods take none.
  const options = { dataset, lipschitz, preset, batch, seed, eps: lipschitz === 'gran' ? eps ?? 0.1 : undefined,
    critic: { hidden: [hidden, hidden] }, generator: { hidden: [hidden, hidden] } };
  if (init === 'torch') {
    for (const net of [options.critic, options.generator]) Object.assign(net, { init: 'torch', outputInit: null, bias: 'uniform' });
  }
  const gan = new kx.GanTrainer(options);
  const targetModes = dataset === 'ring8' ? 7 : 24;
  let first = null;
  const start = performance.now();
  const log = [];
  for (let done = 0; done < steps; done += every) {
    gan.step(every);
    const m = gan.evaluate();
    const seconds = (performance.now() - start) / 1000;
    log.push({ step: done + every, seconds, ...m });
    if (!first && m.modes >= targetModes && m.highQuality >= 0.8) first = { step: done + every, seconds };
    process.stdout.write(`${dataset} ${lipschitz} step ${done + every} ${seconds.toFixed(0)} s: ` +
      `HQ ${(100 * m.highQuality).toFixed(1)}%, modes ${m.modes}, reverse KL ${m.reverseKL.toFixed(3)}, ` +
      `median distance ${m.medianDistance.toFixed(4)}\n`);
  }
  const resolved = gan.options;
  gan.dispose();
  return { options: resolved, first, final: log[log.length - 1], log };
}

export async function run() {
  const args = parseArgs();
  const kx = await init({ threads: Number(args.threads ?? 1) });
  const common = {
    steps: Number(args.steps ?? 20000), hidden: Number(args.hidden ?? 128), batch: Number(args.batch ?? 128),
    every: Number(args.every ?? 500), seed: Number(args.seed ?? 1), preset: args.preset ?? 'toy',
    eps: args.eps === undefined ? undefined : Number(args.eps), init: args.init,
  };
  const datasets = args.dataset ? [args.dataset] : ['ring8', 'grid25'];
  const methods = args.lipschitz ? [args.lipschitz] : ['gp', 'gn'];
  const rows = [];
  for (const dataset of datasets) {
    for (const lipschitz of methods) {
      const r = await longRun(kx, { ...common, dataset, lipschitz });
      const o = r.options;
      rows.push([dataset, lipschitz, `lr ${o.lr} β ${o.beta1}/${o.beta2} λ ${lipschitz === 'gp' ? o.lambda : '-'} ` +
        `nCritic ${o.nCritic} batch ${o.batch} 2→${o.critic.hidden.join('→')}`,
        r.first ? `${r.first.step} (${r.first.seconds.toFixed(0)} s)` : 'not reached',
        `${r.final.step} (${r.final.seconds.toFixed(0)} s)`,
        `${(100 * r.final.highQuality).toFixed(1)}%`, r.final.modes, r.final.reverseKL.toFixed(3),
        r.final.medianDistance.toFixed(4)]);
    }
  }
  console.log(`\nLong runs (seed ${common.seed}, ${kx.threads} thread(s)); target: ≥ 7/8 (≥ 24/25) modes with ≥ 80% HQ`);
  console.log(table(['dataset', 'method', 'hyperparameters', 'target first held at step', 'steps (wall)', 'HQ',
    'modes', 'rev. KL', 'median dist.'], rows));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await run();
