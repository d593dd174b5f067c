// Prepended inside the threaded module's factory (--pre-js), after pre.js. scripts/postlink.mjs
// rewires Emscripten's PThread.allocateUnusedWorker to Module.startWorker and its worker error
// handler to Module.workerFailed.
//
// Where a pthread worker comes from:
//   Node      Emscripten's CommonJS worker script, dist/kexue-mt.worker.js (worker_threads).
//   browsers  the module worker dist/kexue-mt.worker.mjs (the module and a pthread message loop in
//             one file, written by scripts/postlink.mjs), started as
//             new Worker(new URL('./…', import.meta.url), { type: 'module' }): the form Vite,
//             webpack 5, Rollup plugins and Parcel follow (they bundle the worker and rewrite the
//             URL). Emscripten 3.1.6 writes a classic worker whose script imports the fixed name
//             './kexue-mt.mjs', which bundlers rename.
//   init({ wasmPaths | locateFile }) (CDNs, esbuild): the URL given there. A worker script must be
//             same-origin, so a cross-origin one is started through a same-origin blob: module
//             that imports it (the server must allow CORS, as module scripts always need).
Module['startWorker'] = function () {
  var worker, url;
  if (ENVIRONMENT_IS_NODE) {
    url = locateFile('kexue-mt.worker.js');
    worker = new Worker(url);
  } else if (!Module['locateFile']) {
    url = new URL('kexue-mt.worker.mjs', _scriptDir).href;
    worker = new URL(url).origin === location.origin
      ? new Worker(new URL('./kexue-mt.worker.mjs', EMSCRIPTEN$IMPORT$META.url), { type: 'module' })
      : kexueCrossOriginWorker(url); // the package itself imported from a CDN
  } else {
    url = new URL(locateFile('kexue-mt.worker.mjs'), location.href).href;
    worker = new URL(url).origin === location.origin ? new Worker(url, { type: 'module' }) : kexueCrossOriginWorker(url);
  }
  worker.kexueUrl = url;
  return worker;
};

function kexueCrossOriginWorker(url) {
  var source = 'import ' + JSON.stringify(url) + ';\n';
  return new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
}

// A worker that fails before it has loaded the module (a 404, a bundler that renamed it, a CSP
// that forbids it) would leave the module's ready promise pending forever: reject it instead,
// saying which script failed, and stop the other workers.
Module['workerFailed'] = function (worker, event) {
  var detail = event && event.message ? ': ' + event.message : '';
  PThread.unusedWorkers.concat(PThread.runningWorkers).forEach(function (w) { w.terminate(); });
  readyPromiseReject(new Error('kexue: the pthread worker ' + worker.kexueUrl + ' could not be started' + detail +
    " (with a bundler that does not follow new URL('…', import.meta.url), pass its URL in " +
    "init({ wasmPaths: { 'kexue-mt.worker.mjs': url } }))"));
};
