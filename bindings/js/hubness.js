// kx.hubness (src/whitening/hubness.hpp; docs/math.md §7.10; kexue.fm/archives/9147): k-occurrence
// counts of a point cloud's k-NN graph and their skewness. C++ checks the options and the values
// (hubness_validate, hubness_input_validate); this side checks the JS type of x.
import { requireFloat32Array, requireOptionsObject, resolvePlan, throwIfError } from './errors.js';
import { withHeap } from './heap.js';

export function createHubness(module) {
  /** { counts: Int32Array(rows), skewness, max, k } of x [rows, dim] (cosine k-NN by default). */
  return function hubness(x, options) {
    const fn = 'hubness';
    requireOptionsObject(fn, options, 'rows, dim');
    const { rows, dim, k } = resolvePlan(fn, module.hubnessPlan(options));
    requireFloat32Array(fn, 'x', x, [['rows', rows], ['dim', dim]]);
    return withHeap(module, (heap) => {
      const xPtr = heap.input(x, 'x');
      const countsPtr = heap.alloc(rows, 'counts');
      const resultPtr = heap.alloc(2, 'the result', 8);
      throwIfError(fn, module.hubness(xPtr, countsPtr, resultPtr, options));
      const counts = module.HEAP32.slice(countsPtr >>> 2, (countsPtr >>> 2) + rows);
      const [skewness, max] = heap.readF64(resultPtr, 2);
      return { counts, skewness, max, k };
    });
  };
}
