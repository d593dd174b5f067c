// kx.unargmaxable (src/whitening/unargmaxable.hpp; docs/math.md §7.19; kexue.fm/archives/9046;
// Grivas et al., ACL 2022): which classes of a softmax layer W z + b can never be the argmax, by an
// exact linear programme per class after a screen that proves most classes at once. C++ checks the
// options and the values (NaN, Infinity); this side checks the JS types of weight and bias.
import { requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError } from './errors.js';
import { withHeap } from './heap.js';

// Bits of the per-class status written by C++ (kUnargmaxable, kDecidedByProgramme, kWithinRounding).
const UNARGMAXABLE = 1;
const WITHIN_ROUNDING = 4;

export function createUnargmaxable(module) {
  /**
   * The classes of weight [classes, dim] (and bias [classes]) that no input makes the strict
   * argmax: { indices: Int32Array (ascending), withinRounding: Int32Array, screened, programmes }.
   */
  return function unargmaxable(weight, options) {
    const fn = 'unargmaxable';
    requireOptionsObject(fn, options, 'classes, dim');
    const bias = options.bias;  // read once: a getter cannot hand C++ a different array later
    const { classes, dim } = resolvePlan(fn, module.unargmaxablePlan(options));
    requireFloat32Array(fn, 'weight', weight, [['classes', classes], ['dim', dim]]);
    if (bias !== undefined) requireFloat32Array(fn, 'bias', bias, [['classes', classes]]);
    return withHeap(module, (heap) => {
      const weightPtr = heap.input(weight, 'weight');
      const biasPtr = bias === undefined ? 0 : heap.input(bias, 'bias');
      const statusPtr = heap.alloc(classes, 'the status', 1);
      const summaryPtr = heap.alloc(4, 'the summary', 8);
      throwIfError(fn, module.unargmaxable(weightPtr, biasPtr, statusPtr, summaryPtr, { classes, dim }));
      const status = module.HEAPU8.slice(statusPtr, statusPtr + classes);
      const [count, screened, programmes, rounding] = heap.readF64(summaryPtr, 4);
      const indices = new Int32Array(count);
      const withinRounding = new Int32Array(rounding);
      for (let i = 0, a = 0, b = 0; i < classes; ++i) {
        if (status[i] & UNARGMAXABLE) indices[a++] = i;
        if (status[i] & WITHIN_ROUNDING) withinRounding[b++] = i;
      }
      return { indices, withinRounding, screened, programmes };
    });
  };
}
