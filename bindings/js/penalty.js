// kx.gan.penaltyInequality (src/gan/penalty_inequality.hpp; docs/math.md §7.12; kexue.fm/archives/
// 8796): both sides of the input- vs parameter-gradient penalty inequality per sample. C++ checks
// the options (penalty_inequality_validate); this side checks the JS type of x.
import { requireFinite, requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError } from './errors.js';
import { withHeap } from './heap.js';

export function createPenaltyInequality(module, nativeOf) {
  /**
   * For a kx.Mlp with one output f and x [rows, in]: { inputSide, parameterSide } (Float64Array(rows)),
   * inputSide = ‖∇_x f‖² Σ_t (1 + ‖h_t‖²)/(‖W_t‖² ‖∇_x h_t‖²) ≤ parameterSide = ‖∇_θ f‖².
   */
  return function penaltyInequality(mlp, x, options) {
    const fn = 'gan.penaltyInequality';
    const { native, sizes } = nativeOf(fn, 'mlp', mlp);
    requireOptionsObject(fn, options, 'rows');
    const mlpOptions = native.options();
    const { rows } = resolvePlan(fn, module.penaltyInequalityPlan(mlpOptions, options));
    requireFloat32Array(fn, 'x', x, [['rows', rows], ['in', sizes[0]]]);
    requireFinite(fn, 'x', x);
    const parameters = mlp.parameters;
    return withHeap(module, (heap) => {
      const pPtr = heap.input(parameters, 'parameters');
      const xPtr = heap.input(x, 'x');
      const lhsPtr = heap.alloc(rows, 'inputSide', 8);
      const rhsPtr = heap.alloc(rows, 'parameterSide', 8);
      throwIfError(fn, module.penaltyInequality(pPtr, xPtr, lhsPtr, rhsPtr, mlpOptions, options));
      return { inputSide: heap.readF64(lhsPtr, rows), parameterSide: heap.readF64(rhsPtr, rows) };
    });
  };
}
