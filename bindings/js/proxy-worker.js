// The worker side of init({ proxy: true }) (bindings/js/proxy.js is the page side): it loads kexue
// in this dedicated worker and serves calls on it by message, so that the page's thread never
// computes. The API is served generically: whatever the instance, its classes and their objects
// expose is described to the page once (methods, getters, statics), so this file does not follow
// every change of the facade. Stateful objects (Whitening, Mlp, GanTrainer, optimizers) stay here
// behind numeric handles until the page disposes them.
//
// Messages in:  { type: 'init', id, options }
//               { type: 'call', id, target, path, args, construct, progress, cancellable }
//               { type: 'abort', id }      (handled at once, between the steps of a long call)
// Messages out: { id, result, state } | { id, error: { name, message }, state } | { id, progress }
// `state` maps handles to fresh getter values, so that the page reads properties synchronously.
import { init } from './index.js';
import { runStepsAsync, stepsOf } from './progress.js';

const HANDLE = '__kexueHandle';
const handles = new Map(); // id → object; 0 is the instance
let nextHandle = 1;
const aborted = new Set();
let post;

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isClass(fn) {
  return typeof fn === 'function' && /^class\b/.test(Function.prototype.toString.call(fn));
}

// Methods and getters along the prototype chain (own data properties too, as getters).
function members(object) {
  const methods = [];
  const getters = [];
  const seen = new Set(['constructor']);
  for (let p = object; p && p !== Object.prototype && p !== Function.prototype; p = Object.getPrototypeOf(p)) {
    for (const key of Object.getOwnPropertyNames(p)) {
      if (seen.has(key)) continue;
      seen.add(key);
      const d = Object.getOwnPropertyDescriptor(p, key);
      if (d.get) getters.push(key);
      else if (typeof d.value === 'function') methods.push(key);
      else if (p === object) getters.push(key);
    }
  }
  return { methods, getters };
}

function describeFunction(fn) {
  if (!isClass(fn)) return { kind: 'function' };
  const statics = Object.getOwnPropertyNames(fn).filter((key) => typeof fn[key] === 'function');
  return { kind: 'class', statics };
}

// The instance: its functions, classes (with their static functions), namespaces (objects of
// functions, like kx.gan) and getters.
function describeInstance(kx) {
  const { methods, getters } = members(kx);
  const entries = {};
  for (const key of methods) entries[key] = describeFunction(kx[key]);
  for (const key of getters) {
    const value = kx[key];
    if (typeof value === 'function') entries[key] = describeFunction(value);
    else if (value && typeof value === 'object' && isPlainObject(value) &&
      Object.values(value).some((v) => typeof v === 'function')) {
      entries[key] = { kind: 'namespace', functions: Object.keys(value).filter((k) => typeof value[k] === 'function') };
    } else {
      entries[key] = { kind: 'getter' };
    }
  }
  return entries;
}

function snapshot(id) {
  const object = handles.get(id);
  if (!object) return {};
  const values = {};
  const getters = id === 0
    ? Object.entries(describeInstance(object)).filter(([, d]) => d.kind === 'getter').map(([k]) => k)
    : members(object).getters;
  for (const key of getters) {
    try {
      const value = object[key];
      if (typeof value !== 'function') values[key] = encode(value, false);
    } catch {
      // e.g. a disposed object's getters; the page then reads undefined
    }
  }
  return values;
}

// Results: data is copied (structured clone); an object with methods becomes a handle.
function encode(value, makeHandles = true) {
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (Array.isArray(value)) return value.map((v) => encode(v, makeHandles));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v, makeHandles)]));
  }
  if (!makeHandles) return undefined;
  const id = nextHandle++;
  handles.set(id, value);
  const { methods, getters } = members(value);
  return { [HANDLE]: id, methods, getters, state: snapshot(id) };
}

function decode(value) {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map(decode);
  if (typeof value[HANDLE] === 'number') {
    if (!handles.has(value[HANDLE])) throw new TypeError('kexue proxy: an argument is a disposed object');
    return handles.get(value[HANDLE]);
  }
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  return value;
}

// The stand-in AbortSignal of a proxied call: `aborted` reads the page's flag each time.
class RemoteSignal {
  #isAborted;
  constructor(isAborted) { this.#isAborted = isAborted; }
  get aborted() { return this.#isAborted(); }
}

function abortError(what) {
  const error = new Error(`${what} was aborted`);
  error.name = 'AbortError';
  return error;
}

// Lets 'abort' messages in between two steps (setImmediate in Node, a message turn in browsers:
// neither is clamped like nested timers).
const channel = typeof setImmediate === 'function' ? null : new MessageChannel();
function yieldToEvents() {
  if (!channel) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });
}

async function call({ id, target, path, args, construct, progress, cancellable, abortFlag }) {
  // The page sets abortFlag (shared memory, where it exists) the moment signal.abort() runs, and
  // also sends an 'abort' message, which arrives at the next turn of this worker's event loop.
  const isAborted = () => aborted.has(id) || (abortFlag !== undefined && Atomics.load(abortFlag, 0) === 1);
  if (isAborted()) throw abortError('the call');
  let owner = handles.get(target);
  if (owner === undefined) throw new TypeError('kexue proxy: the object was disposed');
  for (const key of path.slice(0, -1)) owner = owner[key];
  const name = path[path.length - 1];
  const decoded = decode(args);
  if (construct) return new owner[name](...decoded);
  if (typeof owner[name] !== 'function') throw new TypeError(`kexue proxy: ${path.join('.')} is not a function`);
  // A long operation (GanTrainer.step(n), Whitening.fit, the samplers, …) asked for progress or
  // cancellation: its stepped form, with a turn of this worker's event loop between steps so that
  // an 'abort' message gets in (bindings/js/progress.js).
  const steps = progress || cancellable ? stepsOf(owner, name, decoded) : undefined;
  if (steps) {
    const controls = {
      onProgress: progress ? (value) => post({ id, progress: value }) : undefined,
      signal: { get aborted() { return isAborted(); } },
    };
    const fn = target === 0 ? path.join('.') : `${owner.constructor?.name ?? 'object'}.${name}`;
    return runStepsAsync(fn, steps, controls, yieldToEvents);
  }
  // Calls that take { onProgress, signal } themselves (Transformer.train): the page's controls
  // could not cross, so they are stood in for here, in the options object they came from.
  const last = decoded[decoded.length - 1];
  if ((progress || cancellable) && last !== null && typeof last === 'object' && isPlainObject(last)) {
    if (progress) last.onProgress = (value) => post({ id, progress: value });
    // A class instance, not a plain object: the facade snapshots plain option objects (a getter
    // would be read once).
    if (cancellable) last.signal = new RemoteSignal(isAborted);
  }
  return owner[name](...decoded);
}

let queue = Promise.resolve();

function receive(message) {
  if (message.type === 'abort') {
    aborted.add(message.id);
    return;
  }
  // One call at a time, in the order sent (a call may use an object an earlier one created).
  queue = queue.then(async () => {
    const { id } = message;
    const touched = message.type === 'call' ? message.target : 0;
    try {
      let result;
      if (message.type === 'init') {
        handles.set(0, await init(message.options));
        result = { entries: describeInstance(handles.get(0)) };
      } else {
        result = encode(await call(message));
      }
      post({ id, result, state: { 0: snapshot(0), [touched]: snapshot(touched) } });
      // A disposed object's handle goes once its last state (disposed: true) is sent.
      if (message.type === 'call' && touched !== 0 && message.path.length === 1 && message.path[0] === 'dispose') {
        handles.delete(touched);
      }
    } catch (error) {
      post({
        id,
        error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) },
        state: handles.has(0) ? { 0: snapshot(0), [touched]: snapshot(touched) } : {},
      });
    } finally {
      aborted.delete(id);
    }
  });
}

if (typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope) {
  post = (message) => self.postMessage(message);
  self.onmessage = (event) => receive(event.data);
} else {
  // Node's worker_threads (a variable name, so that bundlers leave this import alone).
  const name = 'node:worker_threads';
  import(/* @vite-ignore */ name).then(({ parentPort }) => {
    post = (message) => parentPort.postMessage(message);
    parentPort.on('message', receive);
  });
}
