// kx.Mlp: a dense network with exact first- and second-order passes (src/nn/mlp.hpp), the critic
// and generator of kx.gan. Parameter layout, as in C++: for each layer in order, W (out×in,
// row-major) then b. Options are read and checked by C++ (mlp_validate, mlp_batch_validate); this
// side checks the arrays against the resolved shapes and owns the object's lifetime.
import { Disposable } from './disposable.js';
import { deepFreeze, describe, requireFinite, requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError } from './errors.js';
import { withHeap } from './heap.js';

// Builds the Mlp class bound to one WASM module instance, and `nativeOf`, which gives the critic
// calls of kx.gan the network behind an Mlp.
export function createMlpClass(module) {
  const natives = new WeakMap();  // Mlp → { native, sizes }

  // The native network of `mlp`, refusing anything that is not a live kx.Mlp.
  function nativeOf(fn, name, mlp) {
    const entry = mlp instanceof Mlp ? natives.get(mlp) : undefined;
    if (!entry) throw new TypeError(`${fn}: ${name} must be a kx.Mlp, received ${describe(mlp)}`);
    mlp.assertAlive(fn);
    return entry;
  }

  class Mlp extends Disposable {
    #native;
    #options;

    /**
     * A dense network: sizes [in, hidden…, out] (at least 2), hidden activation (default 'relu'),
     * linear output; parameters initialised as PyTorch's nn.Linear from a seeded stream.
     */
    constructor(options) {
      const fn = 'Mlp';
      requireOptionsObject(fn, options, 'sizes');
      const resolved = deepFreeze(resolvePlan(fn, module.mlpPlan(options)));
      const native = new module.MlpNative(resolved);
      super(() => native.delete());
      natives.set(this, { native, sizes: resolved.sizes });
      this.#native = native;
      this.#options = resolved;
    }

    /** The resolved options { sizes, activation, seed }. */
    get options() { return this.#options; }
    get sizes() { return [...this.#options.sizes]; }
    get activation() { return this.#options.activation; }
    get inputSize() { return this.#options.sizes[0]; }
    get outputSize() { return this.#options.sizes[this.#options.sizes.length - 1]; }
    get parameterCount() {
      this.assertAlive('Mlp.parameterCount');
      return this.#native.parameterCount();
    }

    /** A Float32Array copy: for each layer, W (out×in, row-major) then b. */
    get parameters() {
      this.assertAlive('Mlp.parameters');
      const count = this.#native.parameterCount();
      return withHeap(module, (heap) => {
        const pointer = heap.alloc(count, 'parameters');
        this.#native.getParameters(pointer);
        return heap.read(pointer, count);
      });
    }

    setParameters(parameters) {
      const fn = 'Mlp.setParameters';
      this.assertAlive(fn);
      requireFloat32Array(fn, 'parameters', parameters, [['parameterCount', this.#native.parameterCount()]]);
      requireFinite(fn, 'parameters', parameters);
      withHeap(module, (heap) => this.#native.setParameters(heap.input(parameters, 'parameters')));
    }

    /** x: rows×in → outputs rows×out (Float32Array(rows) for a critic). */
    forward(x, options) {
      const fn = 'Mlp.forward';
      // Options are read once (a getter that disposes this object runs here), then liveness.
      options = requireOptionsObject(fn, options, 'rows');
      this.assertAlive(fn);
      const { rows } = resolvePlan(fn, this.#native.forwardPlan(options));
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', this.inputSize]]);
      requireFinite(fn, 'x', x);
      const outCount = rows * this.outputSize;
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const out = heap.alloc(outCount, 'the output');
        throwIfError(fn, this.#native.forward(xPtr, out, options));
        return heap.read(out, outCount);
      });
    }

    /** ∇_x of each row's output (out = 1), rows×in. */
    inputGradient(x, options) {
      const fn = 'Mlp.inputGradient';
      // Options are read once (a getter that disposes this object runs here), then liveness.
      options = requireOptionsObject(fn, options, 'rows');
      this.assertAlive(fn);
      const { rows } = resolvePlan(fn, this.#native.inputGradientPlan(options));
      requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', this.inputSize]]);
      requireFinite(fn, 'x', x);
      const count = rows * this.inputSize;
      return withHeap(module, (heap) => {
        const xPtr = heap.input(x, 'x');
        const out = heap.alloc(count, 'the gradient');
        throwIfError(fn, this.#native.inputGradient(xPtr, out, options));
        return heap.read(out, count);
      });
    }
  }

  return { Mlp, nativeOf };
}
