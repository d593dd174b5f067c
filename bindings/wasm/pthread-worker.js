// The browser's pthread message loop, appended by scripts/postlink.mjs to a copy of the threaded
// module to make dist/kexue-mt.worker.mjs: one self-contained module worker (no import a bundler
// would have to rename, no nested `new Worker`, no .wasm URL: the compiled module and the shared
// memory arrive in the 'load' message). It follows Emscripten 3.1.6's worker.js, which Node
// still uses (dist/kexue-mt.worker.js).
let kexuePthread = {};
let kexueJsInitialized = false;

kexuePthread.instantiateWasm = (info, receiveInstance) => {
  const instance = new WebAssembly.Instance(kexuePthread.wasmModule, info);
  receiveInstance(instance);
  kexuePthread.wasmModule = null;
  return instance.exports;
};

self.onmessage = (e) => {
  const Module = kexuePthread;
  try {
    const cmd = e.data.cmd;
    if (cmd === 'load') {
      Module.wasmModule = e.data.wasmModule;
      Module.wasmMemory = e.data.wasmMemory;
      Module.buffer = Module.wasmMemory.buffer;
      Module.ENVIRONMENT_IS_PTHREAD = true;
      createKexueModule(Module).then((instance) => { kexuePthread = instance; });
    } else if (cmd === 'run') {
      Module.__performance_now_clock_drift = performance.now() - e.data.time;
      Module.__emscripten_thread_init(e.data.threadInfoStruct, 0, 0, 1);
      Module.establishStackSpace();
      Module.PThread.receiveObjectTransfer(e.data);
      Module.PThread.threadInit();
      if (!kexueJsInitialized) {
        Module.___embind_register_native_and_builtin_types();
        kexueJsInitialized = true;
      }
      try {
        const result = Module.invokeEntryPoint(e.data.start_routine, e.data.arg);
        if (Module.keepRuntimeAlive()) Module.PThread.setExitStatus(result);
        else Module.__emscripten_thread_exit(result);
      } catch (ex) {
        if (ex !== 'unwind') {
          if (ex instanceof Module.ExitStatus) {
            if (!Module.keepRuntimeAlive()) Module.__emscripten_thread_exit(ex.status);
          } else {
            throw ex;
          }
        }
      }
    } else if (cmd === 'cancel') {
      if (Module._pthread_self()) Module.__emscripten_thread_exit(-1);
    } else if (e.data.target === 'setimmediate') {
      // Node-only in Emscripten's worker.js.
    } else if (cmd === 'processThreadQueue') {
      if (Module._pthread_self()) Module._emscripten_current_thread_process_queued_calls();
    } else if (cmd === 'processProxyingQueue') {
      if (Module._pthread_self()) Module._emscripten_proxy_execute_queue(e.data.queue);
    } else {
      console.error(`kexue pthread worker: unknown command ${cmd}`);
    }
  } catch (ex) {
    if (Module.__emscripten_thread_crashed) Module.__emscripten_thread_crashed();
    throw ex;
  }
};
