'use strict';
// The CommonJS entry (package.json "exports" → "require"): require('kexue') in CommonJS code and
// in TypeScript projects that emit CommonJS. The package itself is ES modules (the WASM glue
// locates its files through import.meta.url), so init() imports it; everything else is reached
// through the instance init() resolves to, exactly as with `import { init } from 'kexue'`.
//   const { init } = require('kexue');
//   init().then((kx) => kx.matmul(a, b, { m, k, n }));

/** The package version string. */
const version = require('../../package.json').version;

/** Loads the WASM module (see index.js); resolves to the same instance as the ESM init(). */
function init(options) {
  return import('./index.js').then((kexue) => kexue.init(options));
}

module.exports = { init, version, default: init };
