// Prepended outside Emscripten's module factory (--extern-pre-js).
// Emscripten 3.1.6's ES-module output still calls CommonJS's `require` and `__dirname` when it runs
// under Node, and neither exists in ES module scope. Recreate both from import.meta.url; in
// browsers and workers they stay undefined and the glue never touches them.
const kexueRunsOnNode = typeof process === 'object' && typeof process.versions === 'object' &&
  typeof process.versions.node === 'string';
const require = kexueRunsOnNode
  ? (await import('node:module')).createRequire(import.meta.url)
  : undefined;
const __dirname = kexueRunsOnNode
  ? require('node:path').dirname(require('node:url').fileURLToPath(import.meta.url))
  : undefined;
