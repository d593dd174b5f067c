#!/usr/bin/env node
// The kexue command line: BERT-whitening of NumPy .npy embedding files.
//   kexue whiten fit   --in emb.npy --out model.json [--beta 1] [--gamma 1] [--k dim] [--ddof 0]
//   kexue whiten apply --model model.json --in emb.npy --out white.npy [--normalize]
// Files are streamed in chunks (memory stays bounded whatever their size); outputs are written to
// a temporary name and renamed at the end, so an error never leaves a half-written file.
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { init, version } from '../index.js';
import { npyHeader, openNpy, readNpyChunks, writeAll } from '../npy.js';

const USAGE = `usage:
  kexue --version
  kexue whiten fit   --in emb.npy --out model.json [--beta B] [--gamma G] [--k K] [--ddof 0|1]
  kexue whiten apply --model model.json --in emb.npy --out white.npy [--normalize]

Reads 2-D float32/float64 little-endian C-order .npy files; writes float32 .npy and JSON models
that kx.Whitening.fromJSON reads.`;

class UsageError extends Error {}

// Rows per chunk: about 64 MB of float32 whatever the width.
function chunkRowsFor(dim) {
  return Math.max(1, Math.floor((16 * 1024 * 1024) / dim));
}

function progress(label, done, total) {
  if (!process.stderr.isTTY) return;
  process.stderr.write(`\r${label}: ${done}/${total} rows (${Math.floor((100 * done) / total)}%)`);
  if (done === total) process.stderr.write('\n');
}

// Numbers are parsed strictly: Number('') is 0 and Number('0x10') is 16, neither what was meant.
const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const INTEGER_OPTIONS = new Set(['k', 'ddof']);
function numberOption(values, name) {
  if (values[name] === undefined) return undefined;
  const text = values[name];
  const integer = INTEGER_OPTIONS.has(name);
  const value = (integer ? /^[0-9]+$/ : DECIMAL).test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) {
    throw new UsageError(`--${name} must be ${integer ? 'a non-negative integer' : 'a number'}, received ${JSON.stringify(text)}`);
  }
  return value;
}

// Writes through a temporary file that is renamed into place only on success.
function writeAtomically(target, write) {
  const temporary = `${target}.tmp-${process.pid}`;
  try {
    write(temporary);
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

async function whitenFit(values) {
  if (!values.in || !values.out) throw new UsageError('whiten fit needs --in and --out');
  const kx = await init();
  const npy = openNpy(values.in);
  const stats = new kx.WhiteningStats(npy.dim);
  try {
    for (const chunk of readNpyChunks(npy, chunkRowsFor(npy.dim))) {
      stats.add(chunk.data, chunk.rows);
      progress('fit', chunk.start + chunk.rows, npy.rows);
    }
    const model = stats.finalize({
      beta: numberOption(values, 'beta'), gamma: numberOption(values, 'gamma'),
      k: numberOption(values, 'k'), ddof: numberOption(values, 'ddof'),
    });
    writeAtomically(values.out, (path) => writeFileSync(path, JSON.stringify(model)));
    model.dispose();
  } finally {
    stats.dispose();
    closeSync(npy.fd);
  }
}

async function whitenApply(values) {
  if (!values.model || !values.in || !values.out) throw new UsageError('whiten apply needs --model, --in and --out');
  const kx = await init();
  let json;
  try {
    json = JSON.parse(readFileSync(values.model, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read the model ${values.model}: ${error.message}`);
  }
  const model = kx.Whitening.fromJSON(json);
  const npy = openNpy(values.in);
  try {
    if (npy.dim !== model.dim) {
      throw new UsageError(`${values.in} has dim ${npy.dim}, but the model expects dim ${model.dim}`);
    }
    writeAtomically(values.out, (path) => {
      const fd = openSync(path, 'w');
      try {
        writeAll(fd, npyHeader(npy.rows, model.k));
        for (const chunk of readNpyChunks(npy, chunkRowsFor(npy.dim))) {
          writeAll(fd, model.transform(chunk.data, { rows: chunk.rows, normalize: values.normalize }));
          progress('apply', chunk.start + chunk.rows, npy.rows);
        }
      } finally {
        closeSync(fd);
      }
    });
  } finally {
    model.dispose();
    closeSync(npy.fd);
  }
}

export async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        in: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' },
        beta: { type: 'string' }, gamma: { type: 'string' }, k: { type: 'string' }, ddof: { type: 'string' },
        normalize: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const [group, command] = parsed.positionals;
  if (parsed.values.version) {
    process.stdout.write(`${version}\n`);
    return;
  }
  if (parsed.values.help || !group) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (group === 'whiten' && command === 'fit') return whitenFit(parsed.values);
  if (group === 'whiten' && command === 'apply') return whitenApply(parsed.values);
  throw new UsageError(`unknown command "${parsed.positionals.join(' ')}"`);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  // One line for every error a user can cause (bad options, files: ENOENT, EISDIR, EACCES …,
  // refused values, a dead instance); the stack only with KEXUE_DEBUG set.
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  process.stderr.write(`kexue: ${process.env.KEXUE_DEBUG ? error?.stack ?? message : message}\n`);
  if (error instanceof UsageError) process.stderr.write(USAGE + '\n');
  process.exitCode = 1;
}
