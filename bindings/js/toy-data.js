// The `dataset` option of the trainers on 2-D toy data (GanTrainer, DiffusionTrainer): a built-in
// name ('ring8', 'grid25', 'swissroll'), which C++ reads with the other options, or the user's own
// n×2 samples, which stay on this side until they are copied into the heap.
import { exactView, requireFinite, typedArrayKind } from './errors.js';
import { withHeap } from './heap.js';

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

// The native trainer built from its resolved options and the samples (if any).
export function createToyTrainer(module, NativeClass, resolved, points) {
  return withHeap(module, (heap) => new NativeClass(resolved,
    points ? heap.input(points, 'dataset') : 0, points ? points.length / 2 : 0));
}

// The trainer's `.options`: 'samples' stands for the user's own points.
export function toyTrainerOptions(resolved, points) {
  return points ? { ...resolved, dataset: 'samples' } : resolved;
}
