// A dead WASM instance is recovered, never silently reused (issue 18). If the module aborts
// (RuntimeError "Aborted(…)", a trap such as "memory access out of bounds", or a raw number thrown
// for an uncaught C++ exception), its memory and stack may be corrupt: every later call through it
// throws one clear error, init() drops it from its caches and loads a fresh one, and objects made
// by the old instance say they are gone (their release is a no-op, since their memory went with it).
//
// The guard is a Proxy over the Emscripten module: every function read from it (module-level
// bindings, Embind classes and their static functions, malloc/free) and every method of an object
// an Embind class constructs checks the instance is alive first, and turns an abort it sees into
// the clear error. Emscripten's onAbort hook (set when the module is created) marks it dead too.

export class DeadInstanceState {
  reason = null;
  listeners = [];

  get dead() {
    return this.reason !== null;
  }

  kill(reason) {
    if (this.reason !== null) return;
    this.reason = reason || 'aborted';
    for (const listener of this.listeners.splice(0)) {
      try { listener(); } catch { /* a cache eviction cannot fail usefully */ }
    }
  }

  error() {
    return new Error(`kexue: the WASM instance aborted (${this.reason}); call init() again`);
  }
}

// An error that means the instance itself is gone, not a refused call.
function isAbort(error) {
  if (typeof error === 'number') return true;  // an uncaught C++ exception's pointer
  if (typeof WebAssembly === 'object' && error instanceof WebAssembly.RuntimeError) return true;
  return error instanceof Error && /^Aborted\(/.test(error.message);
}

function describeAbort(error) {
  if (typeof error === 'number') return `an uncaught C++ exception (${error})`;
  return error?.message ? String(error.message).slice(0, 200) : String(error);
}

export function guardModule(module, state) {
  const call = (fn, thisArg, args, construct) => {
    if (state.dead) throw state.error();
    let result;
    try {
      result = construct ? Reflect.construct(fn, args) : Reflect.apply(fn, thisArg, args);
    } catch (error) {
      if (state.dead || isAbort(error)) {
        state.kill(describeAbort(error));
        throw state.error();
      }
      throw error;
    }
    return guardValue(result);
  };

  // Objects made by Embind (class instances, { optimizer } results): their methods are guarded.
  const guardedObjects = new WeakMap();
  function guardValue(value) {
    if (value === null || typeof value !== 'object' || !('$$' in value || 'optimizer' in value)) return value;
    if (guardedObjects.has(value)) return guardedObjects.get(value);
    const proxy = new Proxy(value, {
      get(target, prop) {
        const member = Reflect.get(target, prop, target);
        if (typeof member !== 'function') return prop === 'optimizer' ? guardValue(member) : member;
        // Releasing an object of a dead instance does nothing: its memory is gone with it.
        if (prop === 'delete') return () => (state.dead ? undefined : call(member, target, [], false));
        return (...args) => call(member, target, args.map(unwrap), false);
      },
    });
    guardedObjects.set(value, proxy);
    originals.set(proxy, value);
    return proxy;
  }
  // Embind checks the objects it is passed (merge(other), whiteningFit(stats, …)) by their own
  // internals, so guarded objects are passed as themselves.
  const originals = new WeakMap();
  const unwrap = (arg) => (arg !== null && typeof arg === 'object' && originals.has(arg) ? originals.get(arg) : arg);

  const guardedFunctions = new Map();
  return new Proxy(module, {
    get(target, prop) {
      if (prop === 'then') return undefined;  // the guard is never mistaken for a promise
      if (state.dead && prop !== 'delete') throw state.error();
      const member = Reflect.get(target, prop, target);
      if (typeof member !== 'function') return member;
      if (!guardedFunctions.has(prop)) {
        guardedFunctions.set(prop, new Proxy(member, {
          apply: (fn, thisArg, args) => call(fn, thisArg === undefined ? undefined : target, args.map(unwrap), false),
          construct: (fn, args) => call(fn, undefined, args.map(unwrap), true),
          get: (fn, name) => {
            const staticMember = Reflect.get(fn, name, fn);
            return typeof staticMember === 'function' ? (...args) => call(staticMember, fn, args.map(unwrap), false) : staticMember;
          },
        }));
      }
      return guardedFunctions.get(prop);
    },
  });
}

// Test-only: the module behind an instance, for abortForTesting (not part of the public API).
const instanceModules = new WeakMap();
export function registerInstanceModule(instance, module) {
  instanceModules.set(instance, module);
}

/** Test-only: aborts the WASM module behind `kx` (tests of the dead-instance recovery). */
export function abortForTesting(kx) {
  instanceModules.get(kx).abortForTesting();
}
