// A module-resolution hook for the benchmarks: tfjs-core's ES build imports its own files without
// the ".js" extension, which Node's ESM loader refuses. Retrying with ".js" lets us load
// tfjs-core/dist/register_all_gradients.js, the gradient kernels that only the full
// @tensorflow/tfjs bundle registers (its CommonJS build, the one Node loads, has none).
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    const missing = error?.code === 'ERR_MODULE_NOT_FOUND' || error?.code === 'ERR_UNSUPPORTED_DIR_IMPORT';
    if (missing && specifier.startsWith('.') && !specifier.endsWith('.js')) {
      try {
        return await next(`${specifier}.js`, context);
      } catch {
        return next(`${specifier}/index.js`, context);
      }
    }
    throw error;
  }
}
