// Denoising diffusion (src/diffusion/; docs/math.md §7.11; kexue.fm/archives/9119, 9181): the
// linear β schedule, forward noising, the DDPM and DDIM samplers, and a 2-D toy diffusion model
// trained in C++. Options are read and checked by C++ (diffusion_sample_validate, …) through each
// call's `…Plan` binding. This side keeps what C++ cannot see: the JS ε-predictor callback (the
// sampler advances one step per call, so the callback runs between steps), the JS types of the
// arrays and the user's dataset samples.
import { describe, requireFinite, requireFloat32Array, requireOptions, requireOptionsObject, resolvePlan,
  throwIfError } from './errors.js';
import { withHeap } from './heap.js';
import { ToyTrainer, nativeTrainer, readFloats, readModeMetrics } from './toy-data.js';
import { defineSteps, hasControls, readControls, runSteps, stepsOf, withoutControls } from './progress.js';

export function createDiffusionClasses(module) {
  // Runs the step-at-a-time sampler with a JS predictor (x, t) → ε: one timestep per next().
  function* callbackSteps(fn, predictor, options) {
    const { rows, dim } = resolvePlan(fn, module.diffusionSamplePlan(options));
    const count = rows * dim;
    const native = new module.DiffusionSamplerNative(options);
    try {
      const total = native.remaining();
      while (!native.done()) {
        const t = native.t();
        const x = withHeap(module, (heap) => {
          const xPtr = heap.alloc(count, 'x');
          native.x(xPtr);
          return heap.read(xPtr, count);
        });
        const eps = predictor(x, t);
        if (!(eps instanceof Float32Array) || eps.length !== count) {
          throw new TypeError(`${fn}: the predictor must return a Float32Array of rows*dim = ${count} numbers, ` +
            `received ${describe(eps)} at t = ${t}`);
        }
        withHeap(module, (heap) => throwIfError(fn, native.advance(heap.input(eps, 'eps'))));
        yield { done: total - native.remaining(), total };
      }
      return withHeap(module, (heap) => {
        const xPtr = heap.alloc(count, 'x');
        native.x(xPtr);
        return heap.read(xPtr, count);
      });
    } finally {
      native.delete();
    }
  }

  // The sampler with a JS predictor or a trainer; `options` without onProgress/signal.
  function sampleSteps(fn, sampler, predictor, options) {
    requireOptionsObject(fn, options, 'rows');
    if (options.sampler !== undefined) {
      throw new TypeError(`${fn}: unknown option 'sampler' (the function names the sampler)`);
    }
    if (predictor instanceof DiffusionTrainer) {
      // The trainer's model runs in C++ with its own schedule; rows becomes the sample count.
      const { rows, ...rest } = options;
      return stepsOf(predictor, 'sample', [rows, { ...rest, sampler }]);
    }
    if (typeof predictor !== 'function') {
      throw new TypeError(`${fn}: predictor must be a function (x, t) => Float32Array or a DiffusionTrainer, ` +
        `received ${describe(predictor)}`);
    }
    return callbackSteps(fn, predictor, { ...options, sampler });
  }

  function sample(fn, sampler, predictor, options) {
    const controls = readControls(fn, options);
    if (hasControls(controls)) return runSteps(fn, sampleSteps(fn, sampler, predictor, withoutControls(options)), controls);
    if (predictor instanceof DiffusionTrainer) {
      requireOptionsObject(fn, options, 'rows');
      if (options.sampler !== undefined) {
        throw new TypeError(`${fn}: unknown option 'sampler' (the function names the sampler)`);
      }
      const { rows, ...rest } = options;
      return predictor.sample(rows, { ...rest, sampler });
    }
    const steps = sampleSteps(fn, sampler, predictor, options);
    for (;;) {
      const { value, done } = steps.next();
      if (done) return value;
    }
  }

  const diffusion = {
    /**
     * DDPM's linear schedule β_t = betaStart + (betaEnd − betaStart)(t − 1)/(T − 1), t = 1..steps:
     * { beta: Float64Array(T), alphaBar: Float64Array(T + 1) } with ᾱ_0 = 1.
     */
    linearSchedule(options) {
      const fn = 'diffusion.linearSchedule';
      const { steps } = resolvePlan(fn, module.diffusionLinearSchedulePlan(requireOptions(fn, options)));
      return withHeap(module, (heap) => {
        const betaPtr = heap.alloc(steps, 'beta', 8);
        const alphaBarPtr = heap.alloc(steps + 1, 'alphaBar', 8);
        throwIfError(fn, module.diffusionLinearSchedule(options, betaPtr, alphaBarPtr));
        return { beta: heap.readF64(betaPtr, steps), alphaBar: heap.readF64(alphaBarPtr, steps + 1) };
      });
    },

    /** Forward noising x_t = √ᾱ_t x0 + √(1 − ᾱ_t) eps (rows×dim each). */
    addNoise(x0, eps, options) {
      const fn = 'diffusion.addNoise';
      requireOptionsObject(fn, options, 'rows, t');
      const { rows, dim } = resolvePlan(fn, module.diffusionAddNoisePlan(options));
      requireFloat32Array(fn, 'x0', x0, [['rows', rows], ['dim', dim]]);
      requireFloat32Array(fn, 'eps', eps, [['rows', rows], ['dim', dim]]);
      requireFinite(fn, 'x0', x0);
      requireFinite(fn, 'eps', eps);
      return withHeap(module, (heap) => {
        const x0Ptr = heap.input(x0, 'x0');
        const epsPtr = heap.input(eps, 'eps');
        const outPtr = heap.alloc(rows * dim, 'x_t');
        throwIfError(fn, module.diffusionAddNoise(x0Ptr, epsPtr, outPtr, options));
        return heap.read(outPtr, rows * dim);
      });
    },

    /**
     * DDPM ancestral sampling from x_T ~ N(0, I): predictor(x, t) → ε (Float32Array rows×dim) or a
     * DiffusionTrainer; variance 'beta' (σ² = β_t) or 'beta_tilde'. { onProgress, signal }: one
     * timestep at a time, progress { done, total } in timesteps.
     */
    ddpmSample(predictor, options) {
      return sample('diffusion.ddpmSample', 'ddpm', predictor, options);
    },

    /** DDIM sampling with η (0: deterministic) over all steps, `steps` evenly spaced ones, or `timesteps`. */
    ddimSample(predictor, options) {
      return sample('diffusion.ddimSample', 'ddim', predictor, options);
    },
  };
  // The stepped forms of the samplers, for the worker-backed API (bindings/js/progress.js).
  defineSteps(diffusion, (name, predictor, options) => (name === 'ddpmSample' || name === 'ddimSample'
    ? sampleSteps(`diffusion.${name}`, name === 'ddpmSample' ? 'ddpm' : 'ddim', predictor, withoutControls(options))
    : undefined));

  // One Adam step on a batch per step(), or `count` of them in one call: { loss (last step),
  // meanLoss (of the call) } (toy-data.js, ToyTrainer: progress, abort and the worker-backed form).
  // sample and evaluate run one timestep per next() when given { onProgress, signal }.
  class DiffusionTrainer extends ToyTrainer {
    constructor(options) {
      const fn = 'DiffusionTrainer';
      super(module, {
        name: fn, NativeClass: module.DiffusionTrainerNative, plan: (opts) => module.diffusionTrainerPlan(opts),
        stepFields: ['loss', 'meanLoss'],
        // A stepped run's mean loss: the same sum, in the same order, as C++'s step(count).
        foldSteps: (results) => {
          let sum = 0;
          for (const { loss } of results) sum += loss;
          return { loss: results[results.length - 1].loss, meanLoss: sum / results.length };
        },
        steppedForm: (trainer, name, [n, opts]) => {
          if (name !== 'sample' && name !== 'evaluate') return undefined;
          const method = `DiffusionTrainer.${name}`;
          trainer.assertAlive(method);
          return trainer.#sampled(method, n, withoutControls(opts), name === 'evaluate');
        },
      }, requireOptions(fn, options));
    }

    /**
     * n samples, Float32Array(n×2), with { sampler: 'ddpm' | 'ddim', variance, eta, steps, timesteps, seed }.
     * { onProgress, signal }: one timestep at a time.
     */
    sample(n, options) {
      const fn = 'DiffusionTrainer.sample';
      this.assertAlive(fn);
      const controls = readControls(fn, options);
      if (hasControls(controls)) return runSteps(fn, this.#sampled(fn, n, withoutControls(options), false), controls);
      throwIfError(fn, nativeTrainer(this).samplePlan(n, options).error);
      return readFloats(module, 2 * n, 'samples', (out) => throwIfError(fn, nativeTrainer(this).sample(n, options, out)));
    }

    /** The GAN's mode metrics of n (default 2,500) samples: { highQuality, modes, reverseKL, medianDistance }. */
    evaluate(n, options) {
      const fn = 'DiffusionTrainer.evaluate';
      this.assertAlive(fn);
      const controls = readControls(fn, options);
      if (hasControls(controls)) return runSteps(fn, this.#sampled(fn, n, withoutControls(options), true), controls);
      return readModeMetrics(module, (result) => throwIfError(fn, nativeTrainer(this).evaluate(n, options, result)));
    }

    // A sampling run stepped one timestep per next(); the samples (or, evaluating, their metrics).
    *#sampled(fn, n, options, evaluating) {
      const native = nativeTrainer(this);
      throwIfError(fn, native.samplingStart(n, options, evaluating));
      const id = native.samplingId();
      try {
        const total = native.samplingTotal();
        for (let more = total > 0; more;) {
          this.assertAlive(fn);
          if (native.samplingId() !== id) throw new Error(`${fn}: another sampling of this trainer started during this one`);
          more = native.samplingAdvance();
          yield { done: native.samplingCompleted(), total };
        }
        if (evaluating) return readModeMetrics(module, (result) => native.samplingMetrics(result));
        return readFloats(module, 2 * n, 'samples', (out) => native.samplingSamples(out));
      } finally {
        if (!this.disposed && native.samplingId() === id) native.samplingEnd();
      }
    }

    /** The model's ε_θ(x, t) for x (rows×2) at one timestep t in 1..T. */
    predict(x, options) {
      const fn = 'DiffusionTrainer.predict';
      this.assertAlive(fn);
      requireOptionsObject(fn, options, 'rows, t');
      const { rows } = resolvePlan(fn, nativeTrainer(this).predictPlan(options));
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['2', 2]]);
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const out = heap.alloc(2 * rows, 'eps');
        throwIfError(fn, nativeTrainer(this).predict(xPtr, out, options));
        return heap.read(out, 2 * rows);
      });
    }

    /** A Float32Array copy of the ε-predictor's parameters (layout of Mlp). */
    get parameters() {
      this.assertAlive('DiffusionTrainer.parameters');
      const native = nativeTrainer(this);
      return readFloats(module, native.parameterCount(), 'parameters', (out) => native.parameters(out));
    }
  }

  return { diffusion, DiffusionTrainer };
}
