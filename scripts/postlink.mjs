// Post-link step for the threaded module (CMake runs it after linking kexue_mt):
//   dist/kexue-mt.mjs         PThread.allocateUnusedWorker → Module.startWorker (bindings/wasm/
//                             pthread-pre.js: a module worker bundlers follow), and the worker
//                             error handler → Module.workerFailed while a worker has not loaded.
//   dist/kexue-mt.worker.mjs  the browser's pthread worker: a copy of the module without its export,
//                             its .wasm URL and its `new Worker`, followed by bindings/wasm/
//                             pthread-worker.js.
// Emscripten 3.1.6 offers no hook for either, so the generated code is edited by exact match; a
// pattern that is not found exactly once fails the build (a new Emscripten needs a new look here).
// Usage: node scripts/postlink.mjs dist/kexue-mt.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function replaceOnce(text, pattern, replacement, what) {
  const matches = text.match(new RegExp(pattern.source, 'g')) ?? [];
  if (matches.length !== 1) {
    throw new Error(`postlink: expected one match of ${what} (${pattern}), found ${matches.length}`);
  }
  return text.replace(pattern, replacement);
}

export function patchThreadedModule(glue) {
  let out = glue;
  if (out.includes('Module["startWorker"]()')) return out; // already patched
  out = replaceOnce(out,
    /allocateUnusedWorker:function\(\)\{if\(!Module\["locateFile"\]\)\{PThread\.unusedWorkers\.push\(new Worker\(new URL\("kexue-mt\.worker\.js",import\.meta\.url\)\)\);return\}var pthreadMainJs=locateFile\("kexue-mt\.worker\.js"\);PThread\.unusedWorkers\.push\(new Worker\(pthreadMainJs\)\)\}/,
    'allocateUnusedWorker:function(){PThread.unusedWorkers.push(Module["startWorker"]())}',
    'PThread.allocateUnusedWorker');
  out = replaceOnce(out,
    /worker\.onerror=\(e=>\{var message="worker sent an error!";/,
    'worker.onerror=(e=>{if(!worker.loaded){Module["workerFailed"](worker,e);return}var message="worker sent an error!";',
    'the worker error handler');
  return out;
}

export function browserWorker(patchedGlue, loop) {
  let out = patchedGlue;
  out = replaceOnce(out, /\nexport default createKexueModule;\s*$/, '\n', 'the module export');
  out = replaceOnce(out, /new URL\("kexue-mt\.wasm",import\.meta\.url\)\.toString\(\)/, '"kexue-mt.wasm"', 'the .wasm URL');
  out = replaceOnce(out, /new Worker\(new URL\(["']\.\/kexue-mt\.worker\.mjs["'],\s*import\.meta\.url\),\s*\{\s*type:\s*["']module["']\s*\}\)/,
    'null', 'the module worker URL');
  return `${out}\n${loop}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist', 'kexue-mt.mjs'));
  const glue = patchThreadedModule(readFileSync(file, 'utf8'));
  writeFileSync(file, glue);
  const loop = readFileSync(path.join(ROOT, 'bindings', 'wasm', 'pthread-worker.js'), 'utf8');
  writeFileSync(path.join(path.dirname(file), 'kexue-mt.worker.mjs'), browserWorker(glue, loop));
}
