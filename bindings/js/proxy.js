// init({ proxy: true }): kexue in a dedicated Worker (onnxruntime-web's env.wasm.proxy), so that
// no call computes on the calling thread and a page never freezes. The instance this resolves to
// has the same members as init()'s, except that every call returns a Promise:
//   const kx = await init({ proxy: true });
//   const out = await kx.matmul(a, b, { m, k, n });
//   const w = await kx.Whitening.fit(x, { rows, dim });     // a handle to the model in the worker
//   const y = await w.transform(x, { rows });  w.dim;       // getters read synchronously
//   const t = await new kx.GanTrainer({ dataset: 'ring8' }); // constructors resolve to handles
//   await t.step(2000, { onProgress: ({ done, total }) => …, signal });
//   await w.dispose(); await t.dispose(); await kx.dispose(); // kx.dispose() ends the worker
// Getters (kx.threads, w.dim, t.steps, …) hold the values of the last call that touched the object.
// Arguments are copied to the worker (structured clone), or moved without a copy with
// init({ proxy: { transfer: true } }) (the caller's typed arrays are then detached). Objects stay
// in the worker until dispose(). Long calls take { onProgress, signal } in their last (options)
// argument: GanTrainer.step(n) reports { done, total } at least every ~50 ms and stops within one
// step of signal.abort(), leaving `steps` exact; any call whose signal aborts before it starts
// rejects without running. The worker file is found by new Worker(new URL('./proxy-worker.js',
// import.meta.url), { type: 'module' }), which Vite and webpack bundle.
const HANDLE = '__kexueHandle';
const runsOnNode = typeof process === 'object' && typeof process.versions?.node === 'string';

function startWorker() {
  if (runsOnNode) {
    // Node: worker_threads, names in variables so that bundlers leave this path alone.
    const name = 'node:worker_threads';
    const file = './proxy-worker.js';
    return import(/* @vite-ignore */ name).then(({ Worker }) => {
      // Without --input-type (for `node --input-type=module --eval …` hosts): the worker is a file.
      const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
      const worker = new Worker(new URL(file, import.meta.url), { execArgv });
      return {
        post: (message, transfer) => worker.postMessage(message, transfer),
        listen: (onMessage, onError) => { worker.on('message', onMessage); worker.on('error', onError); },
        busy: (busy) => (busy ? worker.ref() : worker.unref()),
        terminate: () => worker.terminate(),
      };
    });
  }
  const worker = new Worker(new URL('./proxy-worker.js', import.meta.url), { type: 'module' });
  return Promise.resolve({
    post: (message, transfer) => worker.postMessage(message, transfer),
    listen: (onMessage, onError) => {
      worker.onmessage = (event) => onMessage(event.data);
      worker.onerror = (event) => onError(new Error(`kexue: the proxy worker failed${event.message ? `: ${event.message}` : ''}`));
    },
    busy: () => {},
    terminate: () => worker.terminate(),
  });
}

function rebuildError({ name, message }) {
  const ErrorClass = { TypeError, RangeError }[name] ?? Error;
  const error = new ErrorClass(message);
  if (!(name in { TypeError: 1, RangeError: 1 })) error.name = name;
  return error;
}

class Connection {
  #port;
  #pending = new Map();
  #nextId = 1;
  #failure = null;
  #transfer;
  handleIds = new WeakMap(); // handle object → id
  states = new Map();        // id → getter values

  constructor(port, transfer) {
    this.#port = port;
    this.#transfer = transfer;
    port.listen((message) => this.#receive(message), (error) => this.#fail(error));
    port.busy(false);
  }

  #fail(error) {
    this.#failure = error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#port.busy(false);
  }

  #receive({ id, result, error, state, progress }) {
    const pending = this.#pending.get(id);
    if (!pending) return;
    if (progress) {
      pending.onProgress?.(progress);
      return;
    }
    for (const [handle, values] of Object.entries(state ?? {})) {
      if (this.states.has(Number(handle))) Object.assign(this.states.get(Number(handle)), values);
    }
    this.#pending.delete(id);
    pending.cleanup?.();
    if (this.#pending.size === 0) this.#port.busy(false);
    if (error) pending.reject(rebuildError(error));
    else pending.resolve(result);
  }

  // Handles in the arguments become references; typed arrays are listed for transfer if asked.
  #encode(value, transfers) {
    if (value === null || typeof value !== 'object') {
      if (typeof value === 'function') throw new TypeError('kexue proxy: functions cannot be sent to the worker');
      return value;
    }
    if (this.handleIds.has(value)) return { [HANDLE]: this.handleIds.get(value) };
    if (ArrayBuffer.isView(value)) {
      if (this.#transfer && !transfers.includes(value.buffer)) transfers.push(value.buffer);
      return value;
    }
    if (Array.isArray(value)) return value.map((v) => this.#encode(v, transfers));
    if (value instanceof ArrayBuffer) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.#encode(v, transfers)]));
  }

  request(message, { onProgress, signal } = {}) {
    if (this.#failure) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(signal.reason ?? abortError());
    const id = this.#nextId++;
    const transfers = [];
    const body = { ...message, id };
    if (message.args) body.args = this.#encode(message.args, transfers);
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, onProgress };
      if (signal) {
        // Shared memory (Node, cross-origin-isolated pages) lets the worker see the abort between
        // two steps even while it computes; the message is the fallback.
        const flag = typeof SharedArrayBuffer === 'function' && (runsOnNode || globalThis.crossOriginIsolated === true)
          ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
        if (flag) body.abortFlag = flag;
        const onAbort = () => {
          if (flag) Atomics.store(flag, 0, 1);
          this.#port.post({ type: 'abort', id });
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.#pending.set(id, entry);
      this.#port.busy(true);
      this.#port.post(body, transfers);
    });
  }

  terminate() {
    this.#fail(new Error('kexue: the proxy worker was ended by dispose()'));
    return this.#port.terminate();
  }
}

function abortError() {
  const error = new Error('This operation was aborted');
  error.name = 'AbortError';
  return error;
}

// { onProgress, signal } are taken out of a trailing options object (they cannot cross).
function splitControls(args) {
  const last = args[args.length - 1];
  if (!last || typeof last !== 'object' || ArrayBuffer.isView(last) || Array.isArray(last) ||
    !('onProgress' in last || 'signal' in last)) {
    return { args, controls: {} };
  }
  const { onProgress, signal, ...rest } = last;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TypeError('kexue proxy: onProgress must be a function');
  }
  const trimmed = args.slice(0, -1);
  if (Object.keys(rest).length > 0) trimmed.push(rest);
  return { args: trimmed, controls: { onProgress, signal } };
}

function remoteCall(connection, target, path, construct = false) {
  return async (...rawArgs) => {
    const { args, controls } = splitControls(rawArgs);
    const result = await connection.request({
      type: 'call', target, path, args, construct,
      progress: typeof controls.onProgress === 'function', cancellable: controls.signal !== undefined,
    }, controls);
    return materialize(connection, result);
  };
}

// A handle (an object living in the worker) as an object of async methods and synchronous getters.
function materialize(connection, value) {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => materialize(connection, v));
  if (typeof value[HANDLE] !== 'number') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialize(connection, v)]));
  }
  const id = value[HANDLE];
  const state = { ...value.state };
  connection.states.set(id, state);
  const handle = {};
  for (const name of value.methods) handle[name] = remoteCall(connection, id, [name]);
  for (const name of value.getters) {
    Object.defineProperty(handle, name, { enumerable: true, get: () => state[name] });
  }
  connection.handleIds.set(handle, id);
  return handle;
}

/** Starts the worker, loads kexue there with `options`, and resolves to the remote instance. */
export async function initProxy(options, { transfer = false } = {}) {
  const connection = new Connection(await startWorker(), transfer);
  const state = {}; // the instance's getters, refreshed by every reply
  connection.states.set(0, state);
  const { entries } = await connection.request({ type: 'init', options }).catch(async (error) => {
    await connection.terminate();
    throw error;
  });
  const kx = {};
  for (const [name, entry] of Object.entries(entries)) {
    if (entry.kind === 'getter') {
      Object.defineProperty(kx, name, { enumerable: true, get: () => state[name] });
    } else if (entry.kind === 'namespace') {
      kx[name] = Object.fromEntries(entry.functions.map((f) => [f, remoteCall(connection, 0, [name, f])]));
    } else if (entry.kind === 'class') {
      const construct = remoteCall(connection, 0, [name], true);
      // `new kx.GanTrainer(options)` resolves to the handle (a constructor may return an object).
      const RemoteClass = function (...args) {
        if (!new.target) throw new TypeError(`Class constructor ${name} cannot be invoked without 'new'`);
        return construct(...args);
      };
      Object.defineProperty(RemoteClass, 'name', { value: name });
      for (const s of entry.statics) RemoteClass[s] = remoteCall(connection, 0, [name, s]);
      kx[name] = RemoteClass;
    } else if (name === 'dispose') {
      const dispose = remoteCall(connection, 0, ['dispose']);
      kx.dispose = async () => {
        await dispose();
        await connection.terminate();
      };
    } else {
      kx[name] = remoteCall(connection, 0, [name]);
    }
  }
  return kx;
}
