#!/usr/bin/env node
// The kexue command line: BERT-whitening of NumPy .npy embedding files.
//   kexue whiten fit   --in emb.npy --out model.json [--beta 1] [--gamma 1] [--k dim] [--ddof 0] [--workers N]
//   kexue whiten apply --model model.json --in emb.npy --out white.npy [--normalize]
//   kexue whiten stats --in emb.npy [--k 10] [--sample 2000] [--beta 1] [--gamma 1]
// Files are streamed in chunks (memory stays bounded whatever their size); outputs are written to
// a temporary name and renamed at the end, so an error never leaves a half-written file.
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { init, version } from '../index.js';
import { npyHeader, openNpy, readNpyChunks, writeAll } from '../npy.js';

const USAGE = `usage:
  kexue --version
  kexue whiten fit   --in emb.npy --out model.json [--beta B] [--gamma G] [--k K] [--ddof 0|1] [--workers N]
  kexue whiten apply --model model.json --in emb.npy --out white.npy [--normalize]
  kexue whiten stats --in emb.npy [--k 10] [--sample 2000] [--beta B] [--gamma G]

Reads 2-D float32/float64 little-endian C-order .npy files; writes float32 .npy and JSON models
that kx.Whitening.fromJSON reads. \`stats\` prints, as JSON, the hubness (skewness of the cosine
k-NN k-occurrence) of the first --sample rows before and after whitening fitted on the whole file.`;

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

// Splits the rows into `workers` ranges, each accumulated by a worker thread (fit-worker.mjs) that
// returns WhiteningStats JSON; merging the parts equals one pass over the file (Chan et al.).
async function fitInWorkers(kx, stats, path, npy, workers) {
  const chunkRows = chunkRowsFor(npy.dim);
  const per = Math.ceil(npy.rows / workers);
  let done = 0;
  const parts = await Promise.all(Array.from({ length: workers }, (_, w) => {
    const start = Math.min(npy.rows, w * per), end = Math.min(npy.rows, start + per);
    if (start >= end) return null;
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./fit-worker.mjs', import.meta.url), { workerData: { path, start, end, chunkRows } });
      worker.on('message', (message) => {
        if (message.progress) progress('fit', (done += message.progress), npy.rows);
        else resolve(message.stats);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => { if (code !== 0) reject(new Error(`a fit worker exited with code ${code}`)); });
    });
  }));
  for (const part of parts) {
    if (!part) continue;
    const partial = kx.WhiteningStats.fromJSON(part);
    stats.merge(partial);
    partial.dispose();
  }
}

async function whitenFit(values) {
  if (!values.in || !values.out) throw new UsageError('whiten fit needs --in and --out');
  const workers = numberOption(values, 'workers') ?? 1;
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be a positive integer, received ${values.workers}`);
  const kx = await init();
  const npy = openNpy(values.in);
  const stats = new kx.WhiteningStats(npy.dim);
  try {
    if (workers === 1) {
      for (const chunk of readNpyChunks(npy, chunkRowsFor(npy.dim))) {
        stats.add(chunk.data, chunk.rows);
        progress('fit', chunk.start + chunk.rows, npy.rows);
      }
    } else {
      await fitInWorkers(kx, stats, values.in, npy, workers);
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

// Hubness (kexue.fm/archives/9147) of the first `sample` rows' cosine k-NN graph, before and after
// whitening fitted on the whole file; prints JSON. k-NN is O(sample²·dim), hence the sample.
async function whitenStats(values) {
  if (!values.in) throw new UsageError('whiten stats needs --in');
  const k = numberOption(values, 'k') ?? 10;
  const sampleRows = numberOption(values, 'sample') ?? 2000;
  const kx = await init();
  const npy = openNpy(values.in);
  const stats = new kx.WhiteningStats(npy.dim);
  const sample = new Float32Array(Math.min(sampleRows, npy.rows) * npy.dim);
  let taken = 0;
  try {
    for (const chunk of readNpyChunks(npy, chunkRowsFor(npy.dim))) {
      stats.add(chunk.data, chunk.rows);
      const take = Math.min(chunk.rows, sample.length / npy.dim - taken);
      if (take > 0) {
        sample.set(chunk.data.subarray(0, take * npy.dim), taken * npy.dim);
        taken += take;
      }
      progress('stats', chunk.start + chunk.rows, npy.rows);
    }
    const model = stats.finalize({ beta: numberOption(values, 'beta'), gamma: numberOption(values, 'gamma') });
    const summary = (h) => ({ skewness: h.skewness, maxOccurrence: h.max });
    const before = kx.hubness(sample, { rows: taken, dim: npy.dim, k });
    const after = kx.hubness(model.transform(sample, { rows: taken }), { rows: taken, dim: model.k, k });
    model.dispose();
    process.stdout.write(JSON.stringify({ rows: npy.rows, dim: npy.dim, sample: taken, k, metric: 'cosine',
      hubness: { raw: summary(before), whitened: summary(after) } }, null, 2) + '\n');
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
        sample: { type: 'string' }, workers: { type: 'string' },
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
  if (group === 'whiten' && command === 'stats') return whitenStats(parsed.values);
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
