// Prepended inside Emscripten's module factory (--pre-js).
// Node before 20.16 has no process.getBuiltinModule (see extern-pre.js): take `require` from the
// facade, or, in a pthread worker, from the CommonJS worker script's global `require`.
// (EMSCRIPTEN$IMPORT$META is how Emscripten's JS optimizer lets `import.meta` through; it writes
// `import.meta` back after optimizing.)
// The GoogleTest binary is linked with this file but without extern-pre.js (it is CommonJS and
// has its own require): kexueRunsOnNode is then not defined.
if (typeof kexueRunsOnNode != 'undefined' && kexueRunsOnNode && !require) {
  require = Module['nodeRequire'] || (typeof globalThis.require == 'function' ? globalThis.require : undefined);
  if (require) __dirname = require('path').dirname(require('url').fileURLToPath(EMSCRIPTEN$IMPORT$META.url));
}
delete Module['nodeRequire'];
// Under Node 18+ the glue sees the global fetch() and tries to fetch the .wasm by file path, which
// fails ("Failed to parse URL"). Hide fetch there so the glue reads the file with fs instead, and
// give it a plain path (not a file:// URL, which fs.readFileSync would mangle) to read.
var fetch = (typeof process == 'object' && process.versions && process.versions.node)
  ? undefined : globalThis.fetch;
if (typeof fetch == 'undefined' && typeof __dirname == 'string' && !Module['locateFile'])
  Module['locateFile'] = function (path) { return __dirname + '/' + path; };

// The pthreads build keeps a pool of Web Workers (worker_threads under Node). Idle, they must not
// keep Node's event loop alive, or a script that used kexue would never exit.
Module['unrefWorkers'] = function () {
  if (typeof PThread == 'undefined') return;
  PThread.unusedWorkers.concat(PThread.runningWorkers).forEach(function (worker) {
    if (worker && typeof worker.unref == 'function') worker.unref();
  });
};
