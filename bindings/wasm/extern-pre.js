// Prepended outside Emscripten's module factory (--extern-pre-js).
// Emscripten 3.1.6's ES-module output still calls CommonJS's `require` and `__dirname` when it runs
// under Node, and neither exists in ES module scope. Recreate both from import.meta.url; in
// browsers and workers they stay undefined and the glue never touches them.
// Synchronously, without top-level await: bundlers that emit classic scripts or IIFE workers
// (Vite's default worker format) refuse a module with top-level await. process.getBuiltinModule
// exists from Node 20.16 / 22.3; on older Node, pre.js takes `require` from the facade
// (Module.nodeRequire) or from the pthread worker's CommonJS scope.
var kexueRunsOnNode = typeof process === 'object' && typeof process.versions === 'object' &&
  typeof process.versions.node === 'string';
var require = kexueRunsOnNode && typeof process.getBuiltinModule === 'function'
  ? process.getBuiltinModule('node:module').createRequire(import.meta.url)
  : undefined;
var __dirname = require
  ? require('node:path').dirname(require('node:url').fileURLToPath(import.meta.url))
  : undefined;
