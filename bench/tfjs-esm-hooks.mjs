// Module resolve hook for the benchmarks: tfjs-core registers its gradient functions only from
// its ES-module build (dist/register_all_gradients.js), whose relative imports omit the ".js"
// extension (or name a directory) as Node's ESM resolver does not allow. Retry those imports
// with ".js" (or "/index.js"). The gradients land
// in tfjs's global registry, which the CommonJS build that `import('@tensorflow/tfjs-core')` loads
// shares (both keep their engine and registries on globalThis).
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const insideTfjsCore = context.parentURL?.includes('/@tensorflow/tfjs-core/dist/');
    if (insideTfjsCore && specifier.startsWith('.')) {
      try {
        return await nextResolve(`${specifier}.js`, context);
      } catch {
        return nextResolve(`${specifier}/index.js`, context);
      }
    }
    throw error;
  }
}
