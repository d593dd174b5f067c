// Progress and cancellation of long calls (issue 16): `{ onProgress, signal }` in a call's options.
//
// A long operation is written once, as a generator that does one step per next() and yields
// { done, total } after it; its return value is the call's result. Two drivers run it:
//   runSteps       the local API: synchronously, checking signal.aborted before every step and
//                  calling onProgress at most every ~50 ms (and after the last step);
//   runStepsAsync  the proxy worker (bindings/js/proxy-worker.js): the same, with a turn of the
//                  worker's event loop between steps, so that an 'abort' message from the page gets
//                  in even where no shared memory carries the flag.
// Objects, classes and namespaces that have such operations register them (defineSteps) as one
// function (name, ...args) → generator or undefined, so the worker needs no list of them; the
// registry is private, nothing is added to the public objects. An abort stops before the next step: what the
// finished steps did stays (GanTrainer.steps counts them), and an operation whose result would be
// half-built (Whitening.fit, WhiteningStats.add) builds it aside and discards it.
import { describe } from './errors.js';

const registry = new WeakMap();

/** Registers the stepped forms of `target`'s long operations: (name, ...args) → generator | undefined. */
export function defineSteps(target, steps) {
  registry.set(target, steps);
}

/** The stepped form of `target[name](...args)`, or undefined. */
export function stepsOf(target, name, args) {
  return registry.get(target)?.(name, ...args);
}

const PROGRESS_INTERVAL_MS = 50;

/**
 * The controls of a call, read once: onProgress (a function) and signal (an AbortSignal or
 * anything with a boolean `aborted`), both optional.
 */
export function readControls(fn, options) {
  if (options === null || typeof options !== 'object') return { onProgress: undefined, signal: undefined };
  const { onProgress, signal } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TypeError(`${fn}: onProgress must be a function, received ${describe(onProgress)}`);
  }
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean')) {
    throw new TypeError(`${fn}: signal must be an AbortSignal, received ${describe(signal)}`);
  }
  return { onProgress, signal };
}

/** The options of a call that takes no others (GanTrainer.step(count, { onProgress, signal })). */
export function requireControlsOnly(fn, options) {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${fn}: options must be an object { onProgress, signal }, received ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'onProgress' && key !== 'signal') {
      throw new TypeError(`${fn}: unknown option '${key}' (the options are onProgress, signal)`);
    }
  }
  return options;
}

/** Whether a call asked for progress or cancellation. */
export function hasControls({ onProgress, signal }) {
  return onProgress !== undefined || signal !== undefined;
}

/** The options without onProgress and signal (what C++ reads by name), or undefined. */
export function withoutControls(options) {
  if (options === null || typeof options !== 'object') return options;
  if (!('onProgress' in options) && !('signal' in options)) return options;
  const { onProgress, signal, ...rest } = options;
  return rest;
}

/** An Error named 'AbortError' (like fetch's), with the signal's reason as its cause. */
export function abortError(fn, signal, done, total) {
  const error = new Error(`${fn}: aborted (${done} of ${total} done)`);
  error.name = 'AbortError';
  if (signal?.reason !== undefined) error.cause = signal.reason;
  return error;
}

function reporter(onProgress) {
  let last = performance.now();
  return (progress) => {
    if (!onProgress) return;
    const now = performance.now();
    if (now - last >= PROGRESS_INTERVAL_MS || progress.done === progress.total) {
      last = now;
      onProgress({ done: progress.done, total: progress.total });
    }
  };
}

/** Runs a stepped operation on this thread (see above); returns its result. */
export function runSteps(fn, steps, { onProgress, signal }) {
  const report = reporter(onProgress);
  let progress = { done: 0, total: 0 };
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(fn, signal, progress.done, progress.total);
      const { value, done } = steps.next();
      if (done) return value;
      progress = value;
      report(progress);
    }
  } finally {
    steps.return?.();  // a generator stopped early runs its finally blocks (temporary objects)
  }
}

/** The same, yielding to the event loop through `pause()` between steps. */
export async function runStepsAsync(fn, steps, { onProgress, signal }, pause) {
  const report = reporter(onProgress);
  let progress = { done: 0, total: 0 };
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(fn, signal, progress.done, progress.total);
      const { value, done } = steps.next();
      if (done) return value;
      progress = value;
      report(progress);
      await pause();
    }
  } finally {
    steps.return?.();
  }
}
