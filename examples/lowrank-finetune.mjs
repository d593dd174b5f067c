// Fine-tune a linear layer y = x·W with kexue's LowRankOptimizer: full Adam vs LoRA r = 4 vs
// GaLore r = 4, from a "pretrained" W0 towards a target W* = W0 + (a rank-4 change). The model
// never changes: each optimizer only sees the full gradient G = ∂L/∂W.
//
//   node examples/lowrank-finetune.mjs [--lr=0.01]   prints the loss curves and the optimizer memory
//
// lowRankFinetune(kx, options) is exported for reuse (e.g. by the demo page): it returns
// { steps, curves: { name: Float64Array(loss per step) }, stateFloats: { name: n }, finalLoss }.
import { init } from '../bindings/js/index.js';

// Deterministic normal draws (an LCG and Box–Muller), so the figures are reproducible.
function normalGenerator(seed) {
  let state = seed >>> 0;
  const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return (state + 0.5) / 2 ** 32; };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

// The three optimizers compared, all Adam(0.9, 0.999) with the same learning rate.
export function defaultRuns(lr = 0.01) {
  return [
    { name: 'full Adam', options: { mode: 'full', lr } },
    { name: 'LoRA r=4', options: { mode: 'lora', rank: 4, lr } },
    { name: 'GaLore r=4', options: { mode: 'galore', rank: 4, lr, updateProjGap: 50 } },
  ];
}

export function lowRankFinetune(kx, {
  rows = 128, cols = 96, changeRank = 4, batch = 256, steps = 300, seed = 1, runs = defaultRuns(),
} = {}) {
  const normal = normalGenerator(seed);
  const w0 = Float32Array.from({ length: rows * cols }, () => normal() / Math.sqrt(rows));
  // W* = W0 + U·V with U rows×changeRank, V changeRank×cols: the fine-tuning task is low-rank.
  const u = Float32Array.from({ length: rows * changeRank }, () => normal() / Math.sqrt(rows));
  const v = Float32Array.from({ length: changeRank * cols }, () => normal());
  const delta = kx.matmul(u, v, { m: rows, k: changeRank, n: cols });
  const target = w0.map((w, i) => w + delta[i]);
  const x = Float32Array.from({ length: batch * rows }, () => normal());
  const y = kx.matmul(x, target, { m: batch, k: rows, n: cols });

  // L = ½‖x·W − y‖²/batch, G = xᵀ(x·W − y)/batch, both with the library's GEMM.
  const lossAndGradient = (w) => {
    const residual = kx.matmul(x, w, { m: batch, k: rows, n: cols });
    let loss = 0;
    for (let i = 0; i < residual.length; ++i) {
      residual[i] -= y[i];
      loss += residual[i] * residual[i];
      residual[i] /= batch;
    }
    const grad = kx.matmul(x, residual, { m: rows, k: batch, n: cols, transposeA: true });
    return [loss / (2 * batch), grad];
  };

  const curves = {};
  const stateFloats = {};
  const finalLoss = {};
  for (const { name, options } of runs) {
    const opt = new kx.LowRankOptimizer({ rows, cols, weight: w0, seed, ...options });
    try {
      const curve = new Float64Array(steps + 1);
      for (let s = 0; s < steps; ++s) {
        const [loss, grad] = lossAndGradient(opt.weight);
        curve[s] = loss;
        opt.step(grad);
      }
      curve[steps] = lossAndGradient(opt.weight)[0];
      curves[name] = curve;
      stateFloats[name] = opt.stateFloats;
      finalLoss[name] = curve[steps];
    } finally {
      opt.dispose();
    }
  }
  return { rows, cols, steps, curves, stateFloats, finalLoss };
}

const isMain = typeof process === 'object' && process.argv[1] &&
  import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const kx = await init();
  const lrArg = process.argv.find((arg) => arg.startsWith('--lr='));
  const lr = lrArg ? Number(lrArg.slice(5)) : 0.01;
  const result = lowRankFinetune(kx, { runs: defaultRuns(lr) });
  const names = Object.keys(result.curves);
  const checkpoints = [0, 10, 25, 50, 100, 200, result.steps];
  console.log(`Linear layer ${result.rows}×${result.cols}, target = W0 + rank-4 change; loss ½‖xW − y‖²/batch; Adam lr = ${lr}`);
  console.log(['step'.padStart(6), ...names.map((n) => n.padStart(12))].join(' '));
  for (const s of checkpoints) {
    console.log([String(s).padStart(6), ...names.map((n) => result.curves[n][s].toExponential(3).padStart(12))].join(' '));
  }
  console.log(['floats'.padStart(6), ...names.map((n) => String(result.stateFloats[n]).padStart(12))].join(' '));
  console.log(['KiB'.padStart(6), ...names.map((n) => (result.stateFloats[n] * 4 / 1024).toFixed(1).padStart(12))].join(' '));
}
