// kx.Mlp, kx.gan and kx.GanTrainer through the whole stack: the docs/math.md §5.4 and §6A vectors, the
// critic gradients against central finite differences of a float64 JS evaluation, the error
// contract, heap stability, reproducible seeded training and a CI-sized run that learns ring8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init } from 'kexue';

const kx = await init();
const SPEC_PARAMETERS = new Float32Array([1, -1, 0.5, 2, 0, 0.1, 1, -2, 0.3]);
const ACTIVATIONS = ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'softplus', 'gelu'];

function assertClose(got, want, tol, label) {
  assert.equal(got.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; ++i) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])), `${label}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

function lcg(seed) {
  let state = seed >>> 0;
  return () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return state / 2 ** 32; };
}

function specCritic(activation) {
  const critic = new kx.Mlp({ sizes: [2, 2, 1], activation });
  critic.setParameters(SPEC_PARAMETERS);
  return critic;
}

// ---- A float64 reference MLP in plain JS: D(x) and ∇_x D(x) for one sample. ----
function phi(activation, z) {
  switch (activation) {
    case 'relu': return z > 0 ? [z, 1] : [0, 0];
    case 'leaky_relu': return z > 0 ? [z, 1] : [0.2 * z, 0.2];
    case 'tanh': { const t = Math.tanh(z); return [t, 1 - t * t]; }
    case 'sigmoid': { const s = 1 / (1 + Math.exp(-z)); return [s, s * (1 - s)]; }
    case 'softplus': { const s = 1 / (1 + Math.exp(-z)); return [Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))), s]; }
    case 'gelu': {
      const c = Math.sqrt(2 / Math.PI), u = c * (z + 0.044715 * z ** 3), t = Math.tanh(u);
      return [0.5 * z * (1 + t), 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)];
    }
    default: return [z, 1];
  }
}

function referenceCritic(sizes, activation, w, x) {
  const L = sizes.length - 1;
  const hs = [Array.from(x)], derivs = [];
  let offset = 0;
  const layers = [];
  for (let l = 1; l <= L; ++l) {
    const n = sizes[l], m = sizes[l - 1];
    const W = w.slice(offset, offset + n * m), b = w.slice(offset + n * m, offset + n * m + n);
    offset += n * m + n;
    layers.push({ W, n, m });
    const h = hs[l - 1], z = [];
    for (let i = 0; i < n; ++i) { let s = b[i]; for (let j = 0; j < m; ++j) s += W[i * m + j] * h[j]; z.push(s); }
    if (l < L) { const d = z.map((v) => phi(activation, v)); hs.push(d.map((p) => p[0])); derivs.push(d.map((p) => p[1])); } else hs.push(z);
  }
  let a = [1];
  for (let l = L; l >= 1; --l) {
    const { W, n, m } = layers[l - 1];
    const e = l < L ? a.map((v, i) => v * derivs[l - 1][i]) : a;
    const next = new Array(m).fill(0);
    for (let i = 0; i < n; ++i) for (let j = 0; j < m; ++j) next[j] += W[i * m + j] * e[i];
    a = next;
  }
  return { value: hs[L][0], grad: a };
}

function referenceCriticLoss(sizes, activation, w, real, fake, eps, rows, lambda) {
  const p = sizes[0];
  let loss = 0;
  for (let i = 0; i < rows; ++i) {
    const xr = real.slice(i * p, (i + 1) * p), xf = fake.slice(i * p, (i + 1) * p);
    const xh = xr.map((v, j) => eps[i] * v + (1 - eps[i]) * xf[j]);
    const g = referenceCritic(sizes, activation, w, xh).grad;
    const s = Math.sqrt(g.reduce((acc, v) => acc + v * v, 0) + 1e-12);
    loss += referenceCritic(sizes, activation, w, xf).value - referenceCritic(sizes, activation, w, xr).value + lambda * (s - 1) ** 2;
  }
  return loss / rows;
}

function referenceNormalized(sizes, activation, w, x, variant, epsilon) {
  const { value: f, grad } = referenceCritic(sizes, activation, w, x);
  const g = Math.hypot(...grad);
  if (variant === 'gn') return g + Math.abs(f) === 0 ? 0 : f / (g + Math.abs(f));
  return (f * g) / (g * g + epsilon);
}

// ---- docs/math.md vectors (§5.4, §6A) ----
test('Mlp: layout, seeded initialisation, forward and inputGradient (docs/math.md §5.4(b) network)', () => {
  const a = new kx.Mlp({ sizes: [3, 5, 2], activation: 'tanh', seed: 7 });
  const b = new kx.Mlp({ sizes: [3, 5, 2], activation: 'tanh', seed: 7 });
  const c = new kx.Mlp({ sizes: [3, 5, 2], activation: 'tanh', seed: 8 });
  assert.equal(a.parameterCount, 3 * 5 + 5 + 5 * 2 + 2);
  assert.deepEqual(a.parameters, b.parameters);
  assert.notDeepEqual(a.parameters, c.parameters);
  assert.deepEqual(a.sizes, [3, 5, 2]);
  assert.equal(a.activation, 'tanh');
  const out = a.forward(new Float32Array(6), { rows: 2 });
  assert.equal(out.length, 4);
  for (const m of [a, b, c]) m.dispose();

  const critic = specCritic('tanh');
  assert.deepEqual(critic.parameters, SPEC_PARAMETERS);
  assertClose(critic.forward(new Float32Array([1, 0, 0, 1]), { rows: 2 }), [-0.01250497804, -2.402498029], 1e-6, 'D');
  assertClose(critic.inputGradient(new Float32Array([0.25, 0.75]), { rows: 1 }), [0.6671591864, -1.263601919], 1e-6, 'grad');
  critic.dispose();
});

test('gan.criticLoss: docs/math.md §5.4 (a) linear, (b) tanh and (c) ReLU vectors', () => {
  const linear = new kx.Mlp({ sizes: [2, 1], activation: 'linear' });
  linear.setParameters(new Float32Array([3, 4, 0]));
  const a = kx.gan.criticLoss(linear, { real: new Float32Array([1, 0]), fake: new Float32Array([0, 1]), interpolation: new Float32Array([0.3]), rows: 1 });
  assertClose([a.loss, a.penalty, a.gradNorms[0]], [161, 160, 5], 1e-6, '(a) loss, penalty, norm');
  assertClose(a.grad, [47, 65, 0], 1e-6, '(a) grad');
  linear.dispose();

  const args = { real: new Float32Array([1, 0]), fake: new Float32Array([0, 1]), interpolation: new Float32Array([0.25]), rows: 1 };
  const tanh = specCritic('tanh');
  const b = kx.gan.criticLoss(tanh, args);
  assertClose([b.loss, b.penalty, b.gradNorms[0]], [-0.5503329503, 1.839660101, 1.428912590], 2e-6, '(b)');
  assertClose(b.grad, [4.836162452, 0.7729154587, -1.006639221, -2.729387505, 8.425072032, -4.590287810,
    7.592543381, -1.137517787, 0], 2e-6, '(b) grad');
  const b0 = kx.gan.criticLoss(tanh, { ...args, lambda: 0 });
  assertClose(b.grad.map((v, i) => v - b0.grad[i]), [5.256136794, 0.352941117, -2.429794746, -2.612941428,
    8.425072032, -5.896997257, 9.115731693, -1.570920157, 0], 2e-6, '(b) penalty grad');
  const gen = kx.gan.generatorLoss(tanh, new Float32Array([0, 1]), { rows: 1 });
  assertClose([gen.loss, ...gen.grad], [2.402498029, -0.3617513029, 0.6528664965], 2e-6, '(b) generator');
  tanh.dispose();

  const relu = specCritic('relu');
  const c = kx.gan.criticLoss(relu, args);
  const c0 = kx.gan.criticLoss(relu, { ...args, lambda: 0 });
  assertClose([c.gradNorms[0], c.penalty], [4.123105626, 97.53788749], 2e-6, '(c)');
  assertClose(c.grad.map((v, i) => v - c0.grad[i]), [0, 0, 30.298575, 121.1943, 0, 0, 0, -128.7689437, 0], 2e-6, '(c) penalty grad');
  relu.dispose();
});

test('gan.normalizedCritic: docs/math.md §6A vectors', () => {
  const linear = new kx.Mlp({ sizes: [2, 1], activation: 'linear' });
  linear.setParameters(new Float32Array([3, 4, 0]));
  const x = new Float32Array([1, 1]);
  const gn = kx.gan.normalizedCritic(linear, x, { rows: 1 });
  assertClose(gn.value, [0.5833333333], 1e-6, 'GN linear');
  assertClose(gn.inputGrad, [0.1041666667, 0.1388888889], 1e-6, 'GN linear ∇x');
  assertClose(kx.gan.normalizedCritic(linear, x, { rows: 1, variant: 'gran', eps: 1 }).value, [1.346153846], 1e-6, 'GraN linear');
  linear.dispose();

  const tanh = specCritic('tanh');
  const point = new Float32Array([0.3, -0.2]);
  const r = kx.gan.normalizedCritic(tanh, point, { rows: 1, variant: 'gn' });
  assertClose(r.value, [0.1839582231], 1e-6, 'GN tanh');
  assertClose(r.paramGrad, [0.04111190027, -0.00163721718, -0.09689945134, 0.000515367286, 0.1336325778,
    -0.3145257309, 0.04138499628, 0.04193781440, 0.1416354418], 1e-6, 'GN tanh ∇θ');
  assertClose(r.inputGrad, [-0.02363028770, -0.7626840396], 1e-6, 'GN tanh ∇x');
  assertClose(kx.gan.normalizedCritic(tanh, point, { rows: 1, variant: 'gran', eps: 0.01 }).value, [0.2253255270], 1e-6, 'GraN 0.01');
  assertClose(kx.gan.normalizedCritic(tanh, point, { rows: 1, variant: 'gran', eps: 1 }).value, [0.2156711311], 1e-6, 'GraN 1');
  tanh.dispose();

  // 0/0: an all-zero critic gives f̂ = 0 and zero gradients.
  const zero = new kx.Mlp({ sizes: [2, 3, 1] });
  zero.setParameters(new Float32Array(zero.parameterCount));
  const z = kx.gan.normalizedCritic(zero, new Float32Array([0.5, -1]), { rows: 1 });
  assert.deepEqual([...z.value, ...z.paramGrad, ...z.inputGrad], new Array(1 + zero.parameterCount + 2).fill(0));
  zero.dispose();
});

// ---- Finite differences of a float64 JS evaluation, every activation ----
test('criticLoss and normalizedCritic gradients match central differences (float64 JS reference), every activation', () => {
  const sizes = [2, 6, 5, 1], rows = 4;
  const rand = lcg(3);
  const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  for (const activation of ACTIVATIONS) {
    const critic = new kx.Mlp({ sizes, activation, seed: 5 });
    const w32 = Float32Array.from({ length: critic.parameterCount }, () => 0.8 * normal());
    critic.setParameters(w32);
    const w = Array.from(w32);
    const real = Float32Array.from({ length: rows * 2 }, normal), fake = Float32Array.from({ length: rows * 2 }, normal);
    const eps = Float32Array.from({ length: rows }, rand);
    const lambda = 2.5;
    const { grad, loss } = kx.gan.criticLoss(critic, { real, fake, interpolation: eps, rows, lambda });
    const ref = (params) => referenceCriticLoss(sizes, activation, params, Array.from(real), Array.from(fake), Array.from(eps), rows, lambda);
    assert.ok(Math.abs(loss - ref(w)) < 1e-4 * (1 + Math.abs(loss)), `${activation}: loss ${loss} vs ${ref(w)}`);
    const h = 1e-5;
    const x = Float32Array.from({ length: rows * 2 }, normal);
    const gn = kx.gan.normalizedCritic(critic, x, { rows });
    const gran = kx.gan.normalizedCritic(critic, x, { rows, variant: 'gran', eps: 0.5 });
    const sumNormalized = (params, variant, points = Array.from(x)) => {
      let s = 0;
      for (let i = 0; i < rows; ++i) s += referenceNormalized(sizes, activation, params, points.slice(2 * i, 2 * i + 2), variant, 0.5);
      return s;
    };
    for (let i = 0; i < w.length; ++i) {
      const wp = [...w], wm = [...w];
      wp[i] += h; wm[i] -= h;
      const fd = (ref(wp) - ref(wm)) / (2 * h);
      assert.ok(Math.abs(grad[i] - fd) <= 2e-3 * (1 + Math.abs(fd)), `${activation} criticLoss ∂/∂w[${i}]: ${grad[i]} vs ${fd}`);
      for (const [variant, result] of [['gn', gn], ['gran', gran]]) {
        const fdn = (sumNormalized(wp, variant) - sumNormalized(wm, variant)) / (2 * h);
        assert.ok(Math.abs(result.paramGrad[i] - fdn) <= 2e-3 * (1 + Math.abs(fdn)), `${activation} ${variant} ∂/∂w[${i}]: ${result.paramGrad[i]} vs ${fdn}`);
      }
    }
    for (let i = 0; i < x.length; ++i) {
      const xp = Array.from(x), xm = Array.from(x);
      xp[i] += h; xm[i] -= h;
      for (const [variant, result] of [['gn', gn], ['gran', gran]]) {
        const fdx = (sumNormalized(w, variant, xp) - sumNormalized(w, variant, xm)) / (2 * h);
        assert.ok(Math.abs(result.inputGrad[i] - fdx) <= 2e-3 * (1 + Math.abs(fdx)), `${activation} ${variant} ∂/∂x[${i}]: ${result.inputGrad[i]} vs ${fdx}`);
      }
    }
    critic.dispose();
  }
});

// ---- Errors ----
test('bad input gets TypeError / RangeError naming the parameter, and the module stays usable', () => {
  const throwsWith = (fn, cls, re) => assert.throws(fn, (e) => e instanceof cls && re.test(e.message), String(re));
  throwsWith(() => new kx.Mlp(), TypeError, /Mlp: options \{ sizes \} are required/);
  throwsWith(() => new kx.Mlp({ sizes: [2] }), RangeError, /Mlp: sizes must have at least 2 entries, received 1/);
  throwsWith(() => new kx.Mlp({ sizes: 3 }), TypeError, /Mlp: sizes must be an array/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 0, 1] }), RangeError, /Mlp: sizes\[1\] must be a positive integer, received 0/);
  throwsWith(() => new kx.Mlp({ sizes: [2, -3, 1] }), RangeError, /sizes\[1\] must be a positive integer/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 1.5] }), RangeError, /sizes\[1\]/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 1], activation: 'swish' }), RangeError, /Mlp: activation must be one of .*received "swish"/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 1], seed: -1 }), RangeError, /seed must be a non-negative integer/);

  const critic = specCritic('tanh');
  const real = new Float32Array([1, 0]), fake = new Float32Array([0, 1]);
  throwsWith(() => critic.forward(new Float32Array(3), { rows: 1 }), RangeError, /Mlp.forward: x must have length rows\*in = 2/);
  throwsWith(() => critic.forward([1, 2], { rows: 1 }), TypeError, /x must be a Float32Array/);
  throwsWith(() => critic.forward(new Float32Array(2)), TypeError, /options \{ rows \} are required/);
  throwsWith(() => critic.setParameters(new Float32Array(8)), RangeError, /parameters must have length parameterCount = 9/);
  throwsWith(() => critic.setParameters(new Float32Array(9).fill(NaN)), RangeError, /parameters\[0\] must be finite/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, interpolation: new Float32Array([1.5]), rows: 1 }), RangeError, /gan.criticLoss: interpolation\[0\] must be in \[0, 1\], received 1.5/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, interpolation: new Float32Array([-0.1]), rows: 1 }), RangeError, /interpolation\[0\] must be in \[0, 1\]/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, interpolation: new Float32Array([0.5, 0.5]), rows: 1 }), RangeError, /interpolation must have length rows = 1/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, lambda: -1 }), RangeError, /gan.criticLoss: lambda must be a finite number ≥ 0, received -1/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake: new Float32Array(4), rows: 1 }), RangeError, /fake must have length rows\*in = 2/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, penalty: 'both' }), RangeError, /penalty must be one of/);
  throwsWith(() => kx.gan.criticLoss({}, { real, fake, rows: 1 }), TypeError, /gan.criticLoss: critic must be a kx.Mlp/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, variant: 'gran', eps: 0 }), RangeError, /eps must be a finite number > 0, received 0/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, variant: 'gran', eps: -1 }), RangeError, /eps must be a finite number > 0/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, variant: 'gran' }), TypeError, /eps is required/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, variant: 'wgan' }), RangeError, /variant must be one of 'gn', 'gran'/);
  throwsWith(() => kx.gan.normalizedCritic(critic, new Float32Array(3), { rows: 1 }), RangeError, /x must have length rows\*in = 2/);
  const vector = new kx.Mlp({ sizes: [2, 2] });
  throwsWith(() => kx.gan.criticLoss(vector, { real, fake, rows: 1 }), RangeError, /critic must have one output/);
  throwsWith(() => vector.inputGradient(real, { rows: 1 }), RangeError, /one output/);
  vector.dispose();
  throwsWith(() => vector.forward(real, { rows: 1 }), TypeError, /disposed/);
  throwsWith(() => kx.gan.criticLoss(vector, { real, fake, rows: 1 }), TypeError, /disposed/);

  throwsWith(() => new kx.GanTrainer({ dataset: 'moons' }), RangeError, /GanTrainer: dataset must be one of 'ring8', 'grid25', 'swissroll'/);
  throwsWith(() => new kx.GanTrainer({ dataset: new Float32Array(3) }), RangeError, /dataset samples must be a Float32Array of n×2/);
  throwsWith(() => new kx.GanTrainer({ lipschitz: 'sn' }), RangeError, /lipschitz must be one of/);
  throwsWith(() => new kx.GanTrainer({ lipschitz: 'gran' }), TypeError, /eps is required/);
  throwsWith(() => new kx.GanTrainer({ lipschitz: 'gran', eps: 0 }), RangeError, /eps must be a finite number > 0/);
  throwsWith(() => new kx.GanTrainer({ lambda: -0.5 }), RangeError, /GanTrainer: lambda must be a finite number ≥ 0/);
  throwsWith(() => new kx.GanTrainer({ beta1: 1 }), RangeError, /beta1 must be a finite number in \[0, 1\)/);
  throwsWith(() => new kx.GanTrainer({ lr: 0 }), RangeError, /lr must be a finite number > 0/);
  throwsWith(() => new kx.GanTrainer({ batch: 0 }), RangeError, /batch must be a positive integer/);
  throwsWith(() => new kx.GanTrainer({ critic: { hidden: [8, 0] } }), RangeError, /critic.hidden\[1\] must be a positive integer/);
  throwsWith(() => new kx.GanTrainer({ generator: { activation: 'relu6' } }), RangeError, /generator.activation must be one of/);
  throwsWith(() => new kx.GanTrainer({ preset: 'fast' }), RangeError, /preset must be one of 'paper', 'toy'/);

  // Still usable.
  assertClose(critic.forward(real, { rows: 1 }), [-0.01250497804], 1e-6, 'after errors');
  critic.dispose();
});

// ---- Options by name (read and checked by C++): every rule, unknown names, holes, renamed options ----
test('every option rule through the API: the message names the parameter, and the module still works', () => {
  const throwsWith = (fn, cls, re) => assert.throws(fn, (e) => e instanceof cls && re.test(e.message) || assert.fail(`${e?.constructor?.name}: ${e?.message} (wanted ${re})`));
  // Unknown options, with the nearest known name.
  throwsWith(() => new kx.Mlp({ sizes: [2, 1], activaton: 'relu' }), TypeError, /^Mlp: unknown option 'activaton' \(did you mean 'activation'\?\)$/);
  const critic = specCritic('tanh');
  const real = new Float32Array([1, 0]), fake = new Float32Array([0, 1]);
  throwsWith(() => critic.forward(real, { rows: 1, row: 1 }), TypeError, /Mlp.forward: unknown option 'row' \(did you mean 'rows'\?\)/);
  throwsWith(() => critic.inputGradient(real, { rows: 1, rowz: 1 }), TypeError, /Mlp.inputGradient: unknown option 'rowz'/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, lamda: 1 }), TypeError, /gan.criticLoss: unknown option 'lamda' \(did you mean 'lambda'\?\)/);
  throwsWith(() => kx.gan.generatorLoss(critic, fake, { rows: 1, lambda: 1 }), TypeError, /gan.generatorLoss: unknown option 'lambda'/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, varient: 'gn' }), TypeError, /gan.normalizedCritic: unknown option 'varient' \(did you mean 'variant'\?\)/);
  throwsWith(() => kx.gan.sampleDataset('ring8', 4, { sed: 1 }), TypeError, /gan.sampleDataset: unknown option 'sed' \(did you mean 'seed'\?\)/);
  throwsWith(() => new kx.GanTrainer({ ncritic: 3 }), TypeError, /GanTrainer: unknown option 'ncritic' \(did you mean 'nCritic'\?\)/);
  throwsWith(() => new kx.GanTrainer({ critic: { hiden: [4] } }), TypeError, /GanTrainer: unknown option 'critic.hiden' \(did you mean 'critic.hidden'\?\)/);
  throwsWith(() => new kx.GanTrainer({ generator: { latnet: 3 } }), TypeError, /unknown option 'generator.latnet' \(did you mean 'generator.latent'\?\)/);

  // Holes in arrays are refused, not read as 0 or undefined.
  // eslint-disable-next-line no-sparse-arrays
  throwsWith(() => new kx.Mlp({ sizes: [2, , 1] }), TypeError, /Mlp: sizes\[1\] must be a value \(the array has a hole\)/);
  // eslint-disable-next-line no-sparse-arrays
  throwsWith(() => new kx.GanTrainer({ critic: { hidden: [8, , 8] } }), TypeError, /GanTrainer: critic.hidden\[1\] must be a value/);

  // Mlp: JS types, sizes beyond a 32-bit heap, 64-bit parameter counts, the seed.
  throwsWith(() => new kx.Mlp({ sizes: [2, 1], activation: 3 }), TypeError, /activation must be one of 'relu', 'leaky_relu', .*received 3/);
  throwsWith(() => new kx.Mlp({ sizes: [2, '3', 1] }), TypeError, /sizes\[1\] must be a positive integer, received "3"/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 2 ** 32 + 1] }), RangeError, /sizes\[1\] must be a positive integer at most 4294967295/);
  throwsWith(() => new kx.Mlp({ sizes: [65536, 65536] }), RangeError, /Mlp: parameters of shape count=4295032832 needs 4295032832 floats .*more than the 2 GiB WASM heap/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 1], seed: 2 ** 53 }), RangeError, /seed must be a non-negative integer at most 9007199254740991/);
  throwsWith(() => new kx.Mlp({ sizes: [2, 1], seed: 1.5 }), RangeError, /seed must be a non-negative integer, received 1.5/);
  throwsWith(() => new kx.Mlp(null), TypeError, /Mlp: options must be an object, received null/);
  throwsWith(() => critic.forward(real, { rows: 0 }), RangeError, /Mlp.forward: rows must be a positive integer, received 0/);
  throwsWith(() => critic.forward(real, { rows: 2 ** 30 }), RangeError, /Mlp.forward: rows needs \d+ bytes for the inputs, the outputs and the workspaces, more than the 2 GiB WASM heap can hold/);
  throwsWith(() => critic.inputGradient(real, { rows: -1 }), RangeError, /rows must be a positive integer, received -1/);

  // The critic calls.
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, lambda: '10' }), TypeError, /lambda must be a finite number, received "10"/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, lambda: Infinity }), RangeError, /lambda must be a finite number, received Infinity/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, penalty: true }), TypeError, /penalty must be one of 'two-sided', 'one-sided', received boolean true/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, interpolation: new Float32Array([NaN]) }), RangeError, /interpolation\[0\] must be in \[0, 1\], received NaN/);
  throwsWith(() => kx.gan.criticLoss(critic, { real, fake, rows: 1, interpolation: [0.5] }), TypeError, /interpolation must be a Float32Array/);
  throwsWith(() => kx.gan.criticLoss(critic), TypeError, /gan.criticLoss: options \{ rows \} are required/);
  throwsWith(() => kx.gan.generatorLoss(critic, fake, { rows: 0 }), RangeError, /gan.generatorLoss: rows must be a positive integer, received 0/);
  throwsWith(() => kx.gan.generatorLoss(critic, fake), TypeError, /options \{ rows \} are required/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, variant: 'gn', eps: -1 }), RangeError, /eps must be a finite number > 0, received -1/);
  throwsWith(() => kx.gan.normalizedCritic(critic, real, { rows: 1, variant: 'gran', eps: 'small' }), TypeError, /eps must be a finite number, received "small"/);
  throwsWith(() => kx.gan.sampleDataset('ring8', 2.5), RangeError, /gan.sampleDataset: n must be a positive integer, received 2.5/);
  throwsWith(() => kx.gan.sampleDataset(8, 4), TypeError, /name must be one of 'ring8', 'grid25', 'swissroll', received 8/);
  throwsWith(() => kx.gan.sampleDataset('ring8', 2 ** 29), RangeError, /samples of shape n=536870912 × 2=2 needs/);
  throwsWith(() => kx.gan.sampleDataset('ring8', 4, { seed: -1 }), RangeError, /seed must be a non-negative integer, received -1/);
  throwsWith(() => kx.gan.sampleDataset('ring8', 4, 5), TypeError, /options must be an object, received 5/);

  // The trainer: each rule, nested names, positional counts.
  throwsWith(() => new kx.GanTrainer({ beta2: 0.9999999, lr: -1 }), RangeError, /GanTrainer: lr must be a finite number > 0, received -1/);
  throwsWith(() => new kx.GanTrainer({ beta2: 1.5 }), RangeError, /beta2 must be a finite number in \[0, 1\), received 1.5/);
  throwsWith(() => new kx.GanTrainer({ nCritic: 0 }), RangeError, /nCritic must be a positive integer, received 0/);
  throwsWith(() => new kx.GanTrainer({ generator: { latent: 0 } }), RangeError, /generator.latent must be a positive integer, received 0/);
  throwsWith(() => new kx.GanTrainer({ generator: { hidden: [0] } }), RangeError, /generator.hidden\[0\] must be a positive integer, received 0/);
  throwsWith(() => new kx.GanTrainer({ critic: { activation: 'swish' } }), RangeError, /critic.activation must be one of/);
  throwsWith(() => new kx.GanTrainer({ critic: [8] }), TypeError, /critic must be an object, received Array\(1\)/);
  throwsWith(() => new kx.GanTrainer({ lipschitz: 2 }), TypeError, /lipschitz must be one of 'gp', 'gn', 'gran', 'none', 'input-side', 'parameter-side', received 2/);
  throwsWith(() => new kx.GanTrainer({ penalty: 'both' }), RangeError, /penalty must be one of 'two-sided', 'one-sided'/);
  throwsWith(() => new kx.GanTrainer({ seed: -1 }), RangeError, /seed must be a non-negative integer/);
  throwsWith(() => new kx.GanTrainer({ critic: { hidden: [2 ** 20, 2 ** 20] } }), RangeError, /GanTrainer: critic.hidden needs \d+ bytes for the critic's parameters, gradient and Adam moments, more than the 2 GiB WASM heap can hold/);
  throwsWith(() => new kx.GanTrainer({ batch: 2 ** 24 }), RangeError, /GanTrainer: batch needs \d+ bytes .*more than the 2 GiB WASM heap can hold/);
  throwsWith(() => new kx.GanTrainer({ dataset: new Float32Array([0, NaN]) }), RangeError, /dataset\[1\] must be finite/);
  throwsWith(() => new kx.GanTrainer(7), TypeError, /GanTrainer: options must be an object/);
  const trainer = new kx.GanTrainer({ batch: 8, critic: { hidden: [4] }, generator: { hidden: [4] } });
  throwsWith(() => trainer.step(0), RangeError, /GanTrainer.step: count must be a positive integer, received 0/);
  throwsWith(() => trainer.step('2'), TypeError, /count must be a positive integer, received "2"/);
  throwsWith(() => trainer.sample(0), RangeError, /GanTrainer.sample: n must be a positive integer, received 0/);
  throwsWith(() => trainer.sample(), TypeError, /GanTrainer.sample: n must be a positive integer, received undefined/);
  throwsWith(() => trainer.sample(2 ** 29), RangeError, /GanTrainer.sample: samples of shape n=536870912/);
  throwsWith(() => trainer.evaluate(1.5), RangeError, /GanTrainer.evaluate: n must be a positive integer, received 1.5/);
  assert.equal(trainer.steps, 0);
  trainer.step();
  assert.equal(trainer.sample(3).length, 6);
  trainer.dispose();

  // Still usable.
  assertClose(critic.forward(real, { rows: 1 }), [-0.01250497804], 1e-6, 'after errors');
  assert.equal(kx.gan.sampleDataset('grid25', 3).length, 6);
  critic.dispose();
});

test('renamed options: the old names (eps → interpolation, epsilon → eps) still work, both at once is an error', () => {
  const critic = specCritic('tanh');
  const real = new Float32Array([1, 0]), fake = new Float32Array([0, 1]), t = new Float32Array([0.25]);
  assert.deepEqual(kx.gan.criticLoss(critic, { real, fake, eps: t, rows: 1 }), kx.gan.criticLoss(critic, { real, fake, interpolation: t, rows: 1 }));
  assert.throws(() => kx.gan.criticLoss(critic, { real, fake, eps: t, interpolation: t, rows: 1 }),
    { name: 'TypeError', message: /gan.criticLoss: options 'eps' \(deprecated\) and 'interpolation' are the same option/ });
  // The old name's errors read with the new name.
  assert.throws(() => kx.gan.criticLoss(critic, { real, fake, eps: new Float32Array([2]), rows: 1 }), { name: 'RangeError', message: /interpolation\[0\] must be in \[0, 1\]/ });
  const x = new Float32Array([0.3, -0.2]);
  assert.deepEqual(kx.gan.normalizedCritic(critic, x, { rows: 1, variant: 'gran', epsilon: 0.01 }),
    kx.gan.normalizedCritic(critic, x, { rows: 1, variant: 'gran', eps: 0.01 }));
  assert.throws(() => kx.gan.normalizedCritic(critic, x, { rows: 1, variant: 'gran', epsilon: 0 }), { name: 'RangeError', message: /eps must be a finite number > 0, received 0/ });
  const options = { lipschitz: 'gran', batch: 8, critic: { hidden: [4] }, generator: { hidden: [4] }, seed: 2 };
  const old = new kx.GanTrainer({ ...options, epsilon: 0.2 }), renamed = new kx.GanTrainer({ ...options, eps: 0.2 });
  assert.equal(old.options.eps, 0.2);
  assert.equal('epsilon' in old.options, false);
  assert.deepEqual(old.step(2), renamed.step(2));
  old.dispose();
  renamed.dispose();
  assert.throws(() => new kx.GanTrainer({ eps: 1, epsilon: 1 }), { name: 'TypeError', message: /GanTrainer: options 'epsilon' \(deprecated\) and 'eps'/ });
  critic.dispose();
});

test('.options: resolved by C++ and frozen; presets come from C++', () => {
  const mlp = new kx.Mlp({ sizes: [3, 4, 1] });
  assert.deepEqual(mlp.options, { sizes: [3, 4, 1], activation: 'relu', init: 'torch', outputInit: null, bias: 'uniform', seed: 0 });
  assert.ok(Object.isFrozen(mlp.options) && Object.isFrozen(mlp.options.sizes));
  mlp.dispose();
  assert.deepEqual(JSON.parse(JSON.stringify(kx.gan.presets)), {
    paper: { lr: 1e-4, beta1: 0, beta2: 0.9, nCritic: 5, lambda: 10 },
    toy: { lr: 1e-3, beta1: 0.5, beta2: 0.9, nCritic: 5, lambda: 0.1 },
  });
  assert.ok(Object.isFrozen(kx.gan.presets.toy));
  const t = new kx.GanTrainer({ preset: 'toy', lipschitz: 'gn', penalty: 'one-sided', lambda: 3, batch: 8, critic: { hidden: [4] }, generator: { latent: 3, hidden: [5] }, seed: 9 });
  assert.deepEqual(t.options, {
    dataset: 'ring8', preset: 'toy', lipschitz: 'gn', lambda: 3, penalty: 'one-sided', eps: null, nCritic: 5, lr: 1e-3,
    beta1: 0.5, beta2: 0.9, batch: 8, critic: { hidden: [4], activation: 'relu', init: 'he', outputInit: 'glorot', bias: 'zero' },
    generator: { latent: 3, hidden: [5], activation: 'relu', init: 'he', outputInit: 'glorot', bias: 'zero' }, seed: 9,
  });
  assert.ok(Object.isFrozen(t.options.generator.hidden));
  t.dispose();
  const user = new kx.GanTrainer({ dataset: new Float32Array([0, 0, 1, 1]), batch: 8, critic: { hidden: [4] }, generator: { hidden: [4] } });
  assert.equal(user.options.dataset, 'samples');
  user.dispose();
});

test('Mlp init options: bounds by formula, zero biases, the output layer apart; GanTrainer passes them on', () => {
  const sizes = [8, 32, 16, 2];
  const layers = (mlp) => {
    const p = mlp.parameters, out = [];
    let at = 0;
    for (let l = 1; l < sizes.length; ++l) {
      const w = p.subarray(at, at + sizes[l] * sizes[l - 1]);
      at += w.length;
      out.push({ w, b: p.subarray(at, at + sizes[l]), fanIn: sizes[l - 1], fanOut: sizes[l] });
      at += sizes[l];
    }
    return out;
  };
  const maxAbs = (a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const bound = { torch: (i) => 1 / Math.sqrt(i), he: (i) => Math.sqrt(6 / i), glorot: (i, o) => Math.sqrt(6 / (i + o)) };
  for (const init of ['torch', 'he', 'glorot']) {
    for (const bias of ['uniform', 'zero']) {
      const mlp = new kx.Mlp({ sizes, init, bias, seed: 3 });
      assert.deepEqual([mlp.options.init, mlp.options.outputInit, mlp.options.bias], [init, null, bias]);
      for (const { w, b, fanIn, fanOut } of layers(mlp)) {
        const limit = Math.fround(bound[init](fanIn, fanOut));
        assert.ok(maxAbs(w) <= limit && maxAbs(w) > 0.8 * limit, `${init} ${fanIn}→${fanOut}: max |w| ${maxAbs(w)}, bound ${limit}`);
        if (bias === 'zero') assert.ok(b.every((x) => x === 0));
        else assert.ok(maxAbs(b) <= Math.fround(1 / Math.sqrt(fanIn)) && maxAbs(b) > 0);
      }
      mlp.dispose();
    }
  }
  const torch = new kx.Mlp({ sizes, seed: 3 }), explicit = new kx.Mlp({ sizes, seed: 3, init: 'torch', bias: 'uniform' });
  assert.deepEqual(torch.parameters, explicit.parameters);
  const mixed = new kx.Mlp({ sizes, init: 'he', outputInit: 'glorot', bias: 'zero' });
  const [, , last] = layers(mixed);
  assert.ok(maxAbs(last.w) <= Math.fround(Math.sqrt(6 / 18)) && maxAbs(last.w) > Math.sqrt(6 / 16) * 0.5);
  for (const m of [torch, explicit, mixed]) m.dispose();
  assert.throws(() => new kx.Mlp({ sizes, init: 'kaiming' }), { name: 'RangeError', message: /Mlp: init must be one of 'torch', 'he', 'glorot', received "kaiming"/ });
  assert.throws(() => new kx.Mlp({ sizes, bias: 'none' }), { name: 'RangeError', message: /Mlp: bias must be one of 'uniform', 'zero'/ });
  assert.throws(() => new kx.Mlp({ sizes, outputinit: 'he' }), { name: 'TypeError', message: /unknown option 'outputinit' \(did you mean 'outputInit'\?\)/ });
  // The trainer: gan_toy.py's init by default, any other by option, and the same draws as kx.Mlp.
  const small = { batch: 8, critic: { hidden: [16] }, generator: { hidden: [16] }, seed: 2 };
  const t = new kx.GanTrainer({ ...small, critic: { hidden: [16], init: 'torch', outputInit: null, bias: 'uniform' } });
  assert.deepEqual([t.options.critic.init, t.options.critic.outputInit, t.options.critic.bias], ['torch', null, 'uniform']);
  assert.deepEqual([t.options.generator.init, t.options.generator.outputInit, t.options.generator.bias], ['he', 'glorot', 'zero']);
  const g = t.generatorParameters;
  assert.ok(g.subarray(32, 48).every((x) => x === 0), 'zero hidden biases');
  assert.ok(maxAbs(g.subarray(0, 32)) <= Math.fround(Math.sqrt(3)) && maxAbs(g.subarray(0, 32)) > 1);
  t.dispose();
  assert.throws(() => new kx.GanTrainer({ ...small, generator: { init: 'lecun' } }), { name: 'RangeError', message: /generator\.init must be one of/ });
  assert.equal(kx.Mlp.name, 'Mlp');
});

test('no heap growth over many calls', () => {
  const critic = new kx.Mlp({ sizes: [2, 32, 32, 1], activation: 'gelu', seed: 1 });
  const rows = 64;
  const rand = lcg(1);
  const real = Float32Array.from({ length: rows * 2 }, rand), fake = Float32Array.from({ length: rows * 2 }, rand);
  const eps = Float32Array.from({ length: rows }, rand);
  const run = () => {
    kx.gan.criticLoss(critic, { real, fake, interpolation: eps, rows });
    kx.gan.normalizedCritic(critic, real, { rows, variant: 'gran', eps: 0.1 });
    critic.forward(real, { rows });
    critic.inputGradient(real, { rows });
    critic.setParameters(critic.parameters);
    try { kx.gan.criticLoss(critic, { real, fake, interpolation: eps, rows, lambda: -1 }); } catch { /* expected */ }
  };
  for (let i = 0; i < 50; ++i) run();
  const before = kx.wasmHeapBytes;
  for (let i = 0; i < 400; ++i) run();  // 2,400 calls
  for (let i = 0; i < 100; ++i) {
    const t = new kx.GanTrainer({ batch: 8, critic: { hidden: [8] }, generator: { hidden: [8] }, seed: i });
    t.step();
    t.sample(10);
    t.dispose();
  }
  assert.equal(kx.wasmHeapBytes, before);
  critic.dispose();
});

// ---- Trainer ----
const small = { batch: 32, nCritic: 2, critic: { hidden: [16, 16] }, generator: { hidden: [16, 16] } };

test('GanTrainer: a seed reproduces the run; options resolve presets', () => {
  for (const lipschitz of ['gp', 'gn', 'gran', 'none']) {
    const make = (seed) => new kx.GanTrainer({ ...small, preset: 'toy', lipschitz, eps: 0.1, seed });
    const a = make(4), b = make(4), c = make(5);
    let ra, rb;
    for (let i = 0; i < 3; ++i) { ra = a.step(); rb = b.step(); c.step(); }
    assert.deepEqual(ra, rb);
    assert.ok(Number.isFinite(ra.criticLoss) && Number.isFinite(ra.generatorLoss) && Number.isFinite(ra.gradNorm));
    assert.deepEqual(a.generatorParameters, b.generatorParameters);
    assert.deepEqual(a.criticParameters, b.criticParameters);
    assert.notDeepEqual(a.generatorParameters, c.generatorParameters);
    assert.equal(a.sample(7).length, 14);
    a.evaluate(100);
    assert.deepEqual(a.step(2), b.step(2));
    assert.equal(a.steps, 5);
    for (const t of [a, b, c]) t.dispose();
  }
  const t = new kx.GanTrainer({ preset: 'toy', lr: 5e-4, batch: 8, critic: { hidden: [4] }, generator: { hidden: [4] } });
  assert.equal(t.options.lr, 5e-4);
  assert.equal(t.options.beta1, 0.5);
  assert.equal(t.options.lambda, 0.1);
  assert.equal(t.options.nCritic, 5);
  t.dispose();
  const paper = new kx.GanTrainer({ batch: 8, critic: { hidden: [4] }, generator: { hidden: [4] } });
  assert.deepEqual([paper.options.lr, paper.options.beta1, paper.options.beta2, paper.options.lambda, paper.options.nCritic],
    [1e-4, 0, 0.9, 10, 5]);
  paper.dispose();
  const user = new kx.GanTrainer({ dataset: new Float32Array([0, 0, 1, 1]), batch: 8, critic: { hidden: [4] }, generator: { hidden: [4] } });
  user.step();
  const m = user.evaluate(50);
  assert.ok(Number.isNaN(m.highQuality) && Number.isFinite(m.medianDistance));
  user.dispose();
});

// CI-sized: 300 generator steps of 2→64→64 networks at batch 64 with the toy preset (a few seconds
// in WASM). The full-size runs are in the README and bench/gan.mjs.
for (const lipschitz of ['gp', 'gn']) {
  test(`GanTrainer learns ring8 (${lipschitz}, toy preset, seed 1, 300 steps)`, () => {
    const gan = new kx.GanTrainer({ dataset: 'ring8', preset: 'toy', lipschitz, batch: 64,
      critic: { hidden: [64, 64] }, generator: { hidden: [64, 64] }, seed: 1 });
    const start = gan.evaluate();
    gan.step(300);
    const end = gan.evaluate();
    assert.ok(end.medianDistance < start.medianDistance / 2, `median distance ${start.medianDistance} → ${end.medianDistance}`);
    assert.ok(end.modes >= 4, `modes ${end.modes}`);
    assert.ok(end.highQuality > 0, `highQuality ${end.highQuality}`);
    gan.dispose();
  });
}

// Issue 19: PyTorch's nn.Linear init (Mlp's 'torch') shrinks the signal by √6 per layer (weight
// variance 1/(3 fan_in), half of it through each ReLU), so the 2→256→256→2 generator starts as a
// blob of radius ~0.07 around a point; gan_toy.py's init (He hidden, Glorot output) keeps the
// latent's scale, and the first samples spread over the ring's scale. Deterministic, every seed.
test('GanTrainer: the default init starts the generator at the data scale, the old torch init as a blob', () => {
  const torch = { init: 'torch', outputInit: null, bias: 'uniform' };
  const spread = (generator, seed) => {
    const gan = new kx.GanTrainer({ dataset: 'ring8', batch: 8, critic: { hidden: [8] }, generator: { hidden: [256, 256], ...generator }, seed });
    const x = gan.sample(2000);
    gan.dispose();
    let mx = 0, my = 0;
    for (let i = 0; i < 2000; ++i) { mx += x[2 * i] / 2000; my += x[2 * i + 1] / 2000; }
    let s = 0;
    for (let i = 0; i < 2000; ++i) s += ((x[2 * i] - mx) ** 2 + (x[2 * i + 1] - my) ** 2) / 2000;
    return Math.sqrt(s);  // RMS distance to the samples' mean
  };
  for (let seed = 0; seed < 8; ++seed) {
    const now = spread({}, seed), before = spread(torch, seed);
    assert.ok(now > 0.5 && now < 5, `seed ${seed}: default init spread ${now}`);
    assert.ok(before < 0.2, `seed ${seed}: torch init spread ${before}`);
  }
});

test('gan.sampleDataset: seeded draws around the documented modes', () => {
  const ring = kx.gan.sampleDataset('ring8', 4000, { seed: 5 });
  assert.deepEqual(ring, kx.gan.sampleDataset('ring8', 4000, { seed: 5 }));
  assert.notDeepEqual(ring, kx.gan.sampleDataset('ring8', 4000, { seed: 6 }));
  const hits = new Array(8).fill(0);
  for (let i = 0; i < 4000; ++i) {
    const [x, y] = [ring[2 * i], ring[2 * i + 1]];
    assert.ok(Math.abs(Math.hypot(x, y) - 1) < 0.06, `ring8 point ${i} at radius ${Math.hypot(x, y)}`);
    hits[((Math.round(Math.atan2(y, x) / (Math.PI / 4)) % 8) + 8) % 8] += 1;
  }
  for (const count of hits) assert.ok(count > 400 && count < 600, `mode counts ${hits}`);
  const grid = kx.gan.sampleDataset('grid25', 1000);
  for (let i = 0; i < 2000; ++i) assert.ok(Math.abs(grid[i] - 2 * Math.round(grid[i] / 2)) < 0.3 && Math.abs(grid[i]) < 4.3);
  assert.throws(() => kx.gan.sampleDataset('moons', 10), { name: 'RangeError', message: /gan.sampleDataset: name must be one of/ });
  assert.throws(() => kx.gan.sampleDataset('ring8', 0), { name: 'RangeError', message: /n must be a positive integer, received 0/ });
});
