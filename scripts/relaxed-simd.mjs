// Rewrites the relaxed-SIMD FMA of a module linked by Emscripten 3.1.6 into the standard opcode.
//
// Why: Debian's clang 14 accepts -mrelaxed-simd and __builtin_wasm_fma_f32x4 but writes the
// pre-standard encoding of the instruction, 0xfd 0xaf 0x01 (LEB128 of 0xaf, which binaryen 108
// prints as f32x4.relaxed_fma); browsers and Node accept only the standard relaxed-SIMD proposal's
// f32x4.relaxed_madd, 0xfd 0x85 0x02 (LEB128 of 0x105), and reject the old one ("invalid simd
// opcode"). Newer clang writes the standard opcode, but then binaryen 108, which Emscripten 3.1.6
// runs on every link, cannot read the module. So the build keeps clang 14 and binaryen 108, and
// this step swaps the three bytes afterwards. Both encodings are three bytes long, so no size,
// offset or branch target changes; the operands are the same three v128 values on the stack, and
// relaxed_madd(a, b, c) = a·b + c (checked at run time by tests/js/relaxed-simd.test.mjs).
//
// Why the swap is sound: the byte pattern fd af 01 could also sit inside an immediate (a constant,
// an offset, a function index). binaryen's disassembler (wasm-dis, which decodes instruction by
// instruction) counts the FMA instructions of the code section; every one of them is exactly that
// pattern, and the pattern cannot overlap itself, so when the count of the pattern in the code
// section equals the count of instructions, no immediate holds it and every occurrence is an
// instruction. Any other pre-standard relaxed instruction (whose bytes would mean something else
// now) fails the step. The result must then validate in V8 with relaxed SIMD enabled.
//
// Usage: node scripts/relaxed-simd.mjs IN.wasm OUT.wasm [--glue RELAXED.mjs PLAIN.mjs [--threaded]]
//   --glue: fail unless the relaxed link's JS glue equals the plain module's once the file names
//   are aligned, so that the plain glue (dist/kexue*.mjs) can load OUT.wasm in its place;
//   --threaded: the plain glue went through scripts/postlink.mjs, so compare after the same edit.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { patchThreadedModule } from './postlink.mjs';

export const PRESTANDARD_FMA = [0xfd, 0xaf, 0x01];   // f32x4.fma of the 2021 relaxed-SIMD draft
export const STANDARD_MADD = [0xfd, 0x85, 0x02];     // f32x4.relaxed_madd (opcode 0x105)

function readLeb(bytes, offset) {
  let value = 0, shift = 0, byte;
  do {
    byte = bytes[offset++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return { value, offset };
}

// [start, end) of the code section's payload (section id 10).
export function codeSection(bytes) {
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new Error('not a WebAssembly module');
  let offset = 8;
  while (offset < bytes.length) {
    const id = bytes[offset];
    const { value: size, offset: start } = readLeb(bytes, offset + 1);
    if (id === 10) return { start, end: start + size };
    offset = start + size;
  }
  throw new Error('the module has no code section');
}

export function findPattern(bytes, pattern, start, end) {
  const at = [];
  for (let i = start; i + pattern.length <= end; ++i) {
    let match = true;
    for (let j = 0; j < pattern.length && match; ++j) match = bytes[i + j] === pattern[j];
    if (match) at.push(i);
  }
  return at;
}

// The relaxed instructions binaryen 108 decodes in the module, by name.
function relaxedInstructions(file) {
  const result = spawnSync('wasm-dis', [file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`wasm-dis ${file} failed: ${result.stderr}`);
  const counts = {};
  for (const line of result.stdout.split('\n')) {
    const match = /^\s*\((\w+x\d+\.relaxed_\w+|\w+x\d+\.q?fm[as]|i8x16\.relaxed_\w+)\b/.exec(line);
    if (match) counts[match[1]] = (counts[match[1]] ?? 0) + 1;
  }
  return counts;
}

// true when this V8 validates `bytes`, with relaxed SIMD switched on where it still is a flag
// (Node 20); on Node 22+ it is on by default and the flag may no longer exist.
function validatesWithRelaxedSimd(file) {
  if (WebAssembly.validate(readFileSync(file))) return true;
  const script = `process.exit(WebAssembly.validate(require('fs').readFileSync(${JSON.stringify(file)})) ? 0 : 1)`;
  const result = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e', script], { encoding: 'utf8' });
  return result.status === 0;
}

export function rewriteRelaxedSimd(input, output) {
  const bytes = new Uint8Array(readFileSync(input));
  const counts = relaxedInstructions(input);
  const fma = counts['f32x4.relaxed_fma'] ?? 0;
  const others = Object.entries(counts).filter(([name]) => name !== 'f32x4.relaxed_fma');
  if (others.length) {
    throw new Error(`relaxed-simd: ${input} holds pre-standard relaxed instructions this step does not rewrite: ` +
      others.map(([name, n]) => `${name} ×${n}`).join(', '));
  }
  if (fma === 0) throw new Error(`relaxed-simd: ${input} holds no f32x4.relaxed_fma (was it compiled with -mrelaxed-simd?)`);
  const { start, end } = codeSection(bytes);
  const at = findPattern(bytes, PRESTANDARD_FMA, start, end);
  if (at.length !== fma) {
    throw new Error(`relaxed-simd: the code section of ${input} holds the bytes fd af 01 ${at.length} times but ` +
      `${fma} f32x4.relaxed_fma instructions: some immediate contains them, so a byte swap is not safe`);
  }
  for (const i of at) bytes.set(STANDARD_MADD, i);
  writeFileSync(output, bytes);
  if (!validatesWithRelaxedSimd(output)) throw new Error(`relaxed-simd: ${output} does not validate with relaxed SIMD on`);
  return at.length;
}

// The relaxed link's glue must be the plain one: same imports, exports, memory layout and
// runtime, only the .wasm file name differs.
export function checkSameGlue(relaxedGlue, plainGlue, relaxedName, plainName, threaded = false) {
  let a = readFileSync(relaxedGlue, 'utf8').split(relaxedName).join(plainName);
  if (threaded) a = patchThreadedModule(a);
  const b = readFileSync(plainGlue, 'utf8');
  if (a !== b) {
    let i = 0;
    while (i < a.length && a[i] === b[i]) ++i;
    throw new Error(`relaxed-simd: the glue of ${relaxedGlue} differs from ${plainGlue} at character ${i}: ` +
      `${JSON.stringify(a.slice(Math.max(0, i - 60), i + 60))} vs ${JSON.stringify(b.slice(Math.max(0, i - 60), i + 60))}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [input, output, ...rest] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write('usage: node scripts/relaxed-simd.mjs IN.wasm OUT.wasm [--glue RELAXED.mjs PLAIN.mjs]\n');
    process.exit(2);
  }
  const glue = rest.indexOf('--glue');
  if (glue >= 0) {
    const [relaxedGlue, plainGlue] = rest.slice(glue + 1, glue + 3);
    checkSameGlue(relaxedGlue, plainGlue, path.basename(relaxedGlue, '.mjs'), path.basename(plainGlue, '.mjs'),
      rest.includes('--threaded'));
  }
  const n = rewriteRelaxedSimd(input, output);
  process.stdout.write(`relaxed-simd: ${path.basename(output)}: ${n} f32x4.relaxed_madd\n`);
}
