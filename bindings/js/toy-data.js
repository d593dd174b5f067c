// The trainers on 2-D toy data (GanTrainer, DiffusionTrainer): what they share (ToyTrainer), and
// their `dataset` option: a built-in name ('ring8', 'grid25', 'swissroll'), which C++ reads with the
// other options, or the user's own n×2 samples, which stay on this side until they are copied into
// the heap.
import { Disposable } from './disposable.js';
import { deepFreeze, exactView, requireFinite, resolvePlan, throwIfError, typedArrayKind } from './errors.js';
import { withHeap } from './heap.js';
import { defineSteps, hasControls, readControls, requireControlsOnly, runSteps } from './progress.js';

// { opts, points }: the options C++ reads (without the samples) and the samples, or null.
export function splitToyDataset(fn, opts) {
  if (typedArrayKind(opts.dataset) !== 'Float32Array') return { opts, points: null };
  // A plain copy of exactly its elements: its own `length` may lie (errors.js, exactView).
  const points = exactView(opts.dataset);
  if (points.length < 2 || points.length % 2 !== 0) {
    throw new RangeError(`${fn}: dataset samples must be a Float32Array of n×2 coordinates (n ≥ 1), received length ${points.length}`);
  }
  requireFinite(fn, 'dataset', points);
  return { opts: { ...opts, dataset: undefined }, points };
}

// What GanTrainer and DiffusionTrainer share: construction from options that C++ resolves (a
// user's dataset samples copied into the heap), `.options`, `.steps`, and `step(count)` — all steps
// in one native call, or, with { onProgress, signal }, one step per next() of its stepped form (the
// form the worker-backed API runs; progress.js). A subclass passes its step's result fields, and
// may pass how a stepped run folds its single-step results (`foldSteps`, default: the last) and
// the stepped forms of its other methods (`steppedForm(trainer, method, args)`). nativeTrainer(trainer)
// is the subclasses' handle on the native trainer (a WeakMap, so that nothing of it shows on the
// object).
const natives = new WeakMap();
export function nativeTrainer(trainer) { return natives.get(trainer); }

export class ToyTrainer extends Disposable {
  #module;
  #name;
  #stepFields;
  #foldSteps;
  #steppedForm;
  #options;

  // name: 'GanTrainer'; NativeClass: its Embind class; plan: the binding that resolves the options;
  // stepFields: the names of the float64 results step() writes, in order.
  constructor(module, { name, NativeClass, plan, stepFields, foldSteps = (results) => results[results.length - 1],
    steppedForm = () => undefined }, opts) {
    const split = splitToyDataset(name, opts);
    const resolved = resolvePlan(name, plan(split.opts));
    const { points } = split;
    const native = withHeap(module, (heap) => new NativeClass(resolved,
      points ? heap.input(points, 'dataset') : 0, points ? points.length / 2 : 0));
    super(() => native.delete());
    natives.set(this, native);
    this.#module = module;
    this.#name = name;
    this.#stepFields = stepFields;
    this.#foldSteps = foldSteps;
    this.#steppedForm = steppedForm;
    // `.options`: 'samples' stands for the user's own points.
    this.#options = deepFreeze(points ? { ...resolved, dataset: 'samples' } : resolved);
    defineSteps(this, (method, ...args) => (method === 'step' ? this.#stepped(args[0]) : this.#steppedForm(this, method, args)));
  }

  /** The resolved options (preset and defaults applied). */
  get options() { return this.#options; }

  get steps() {
    this.assertAlive(`${this.#name}.steps`);
    return natives.get(this).steps();
  }

  step(count, options) {
    const fn = `${this.#name}.step`;
    this.assertAlive(fn);
    const controls = readControls(fn, requireControlsOnly(fn, options));
    if (hasControls(controls)) return runSteps(fn, this.#stepped(count), controls);
    return this.#step(fn, count);
  }

  #step(fn, count) {
    const fields = this.#stepFields;
    return withHeap(this.#module, (heap) => {
      const result = heap.alloc(fields.length, 'the result', 8);
      throwIfError(fn, natives.get(this).step(count, result));
      const values = heap.readF64(result, fields.length);
      return Object.fromEntries(fields.map((field, i) => [field, values[i]]));
    });
  }

  *#stepped(count) {
    const fn = `${this.#name}.step`;
    throwIfError(fn, natives.get(this).stepPlan(count));
    const total = count === undefined ? 1 : count;
    const results = [];
    for (let done = 1; done <= total; ++done) {
      this.assertAlive(fn);
      results.push(this.#step(fn, 1));
      yield { done, total };
    }
    return this.#foldSteps(results);
  }
}

// The GAN's mode metrics, which `write(pointer)` puts into 4 float64s in the heap.
export function readModeMetrics(module, write) {
  return withHeap(module, (heap) => {
    const result = heap.alloc(4, 'the result', 8);
    write(result);
    const [highQuality, modes, reverseKL, medianDistance] = heap.readF64(result, 4);
    return { highQuality, modes, reverseKL, medianDistance };
  });
}

// A Float32Array of `count` numbers that `write(pointer)` puts into the heap (parameters, samples).
export function readFloats(module, count, what, write) {
  return withHeap(module, (heap) => {
    const out = heap.alloc(count, what);
    write(out);
    return heap.read(out, count);
  });
}
