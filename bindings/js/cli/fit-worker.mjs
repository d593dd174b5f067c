// One worker of `kexue whiten fit --workers N`: accumulates the float64 statistics of rows
// [start, end) of a .npy file and posts them as WhiteningStats JSON; the parent merges them.
import { closeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { init } from '../index.js';
import { openNpy, readNpyChunks } from '../npy.js';

const { path, start, end, chunkRows } = workerData;
const kx = await init({ threads: 1 });
const npy = openNpy(path);
try {
  const rowBytes = npy.dim * npy.bytesPerValue;
  // The same reader over a window of the file: its rows and data offset moved to [start, end).
  const window = { ...npy, rows: end - start, dataOffset: npy.dataOffset + start * rowBytes };
  const stats = new kx.WhiteningStats(npy.dim);
  for (const chunk of readNpyChunks(window, chunkRows)) {
    stats.add(chunk.data, chunk.rows);
    parentPort.postMessage({ progress: chunk.rows });
  }
  parentPort.postMessage({ stats: stats.toJSON() });
  stats.dispose();
} finally {
  closeSync(npy.fd);
}
