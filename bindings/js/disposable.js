// The lifetime protocol of every stateful object (an optimizer, a fitted model, …): it owns
// memory in the WASM heap, released by dispose() or `using` (Symbol.dispose). A forgotten object is
// still released when it is garbage collected, through a FinalizationRegistry; that is a safety
// net, not a schedule, so call dispose() when done.

const registry = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry((release) => release())
  : null;

// Symbol.dispose exists natively from Node 22 / recent browsers; on older runtimes use the
// well-known registered symbol so `obj[Symbol.for('nodejs.dispose')]` style polyfills still work.
export const disposeSymbol = Symbol.dispose ?? Symbol.for('Symbol.dispose');

export class Disposable {
  #release;
  #disposed = false;

  // `release` frees the native state; it must not capture `this` (or the object never dies).
  constructor(release) {
    this.#release = release;
    registry?.register(this, release, this);
  }

  get disposed() {
    return this.#disposed;
  }

  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    registry?.unregister(this);
    this.#release();
  }

  [disposeSymbol]() {
    this.dispose();
  }

  // Call at the top of every method: using a disposed object is an error, not a crash.
  assertAlive(fn) {
    if (this.#disposed) throw new TypeError(`${fn}: the object was disposed`);
  }
}
