// NumPy .npy files (format versions 1–3), streamed in row chunks so memory stays bounded whatever
// the file size. Supported: 2-D float32/float64, little-endian, C order — anything else is a clear
// error. Node only (uses node:fs).
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const DTYPES = { '<f4': { name: 'float32', bytes: 4 }, '<f8': { name: 'float64', bytes: 8 } };

export class NpyError extends Error {}

// Opens an .npy file and parses its header: { fd, dtype, bytesPerValue, rows, dim, dataOffset }.
export function openNpy(path) {
  const fd = openSync(path, 'r');
  try {
    const fileSize = fstatSync(fd).size;
    const prefix = Buffer.alloc(12);
    const got = readSync(fd, prefix, 0, 12, 0);
    if (got < 10 || MAGIC.some((byte, i) => prefix[i] !== byte)) {
      throw new NpyError(`${path} is not a NumPy .npy file (bad magic string)`);
    }
    const major = prefix[6];
    if (major < 1 || major > 3) throw new NpyError(`${path}: unsupported .npy format version ${major}`);
    const headerLength = major === 1 ? prefix.readUInt16LE(8) : prefix.readUInt32LE(8);
    const headerStart = major === 1 ? 10 : 12;
    // A header longer than the file is a corrupt length field, not a reason to allocate it.
    if (headerStart + headerLength > fileSize) {
      throw new NpyError(`${path}: truncated .npy header (it claims ${headerLength} bytes, the file has ${fileSize})`);
    }
    const header = Buffer.alloc(headerLength);
    if (readSync(fd, header, 0, headerLength, headerStart) !== headerLength) {
      throw new NpyError(`${path}: truncated .npy header`);
    }
    const text = header.toString('latin1');
    const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
    const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
    if (descr === undefined || fortran === undefined || shapeText === undefined) {
      throw new NpyError(`${path}: malformed .npy header ${JSON.stringify(text.trim())}`);
    }
    const dtype = DTYPES[descr];
    if (!dtype) {
      throw new NpyError(`${path}: dtype ${descr} is not supported; expected float32 ('<f4') or float64 ('<f8'), little-endian`);
    }
    if (fortran === 'True') throw new NpyError(`${path}: Fortran-order arrays are not supported; save with C order`);
    // Each extent strictly as NumPy writes it, decimal digits: Number() would accept '2e1', '0x10', ' '.
    const parts = shapeText.split(',').map((s) => s.trim()).filter(Boolean);
    const shape = parts.map((s) => (/^[0-9]+$/.test(s) ? Number(s) : NaN));
    if (shape.length !== 2 || !shape.every((n) => Number.isSafeInteger(n) && n >= 1)) {
      throw new NpyError(`${path}: expected a 2-D array (rows, dim), received shape (${shapeText.trim()})`);
    }
    const [rows, dim] = shape;
    const dataOffset = headerStart + headerLength;
    const expectedSize = dataOffset + rows * dim * dtype.bytes;
    if (fileSize < expectedSize) {
      throw new NpyError(`${path}: file is truncated: shape (${rows}, ${dim}) ${dtype.name} needs ` +
        `${expectedSize} bytes, the file has ${fileSize}`);
    }
    return { fd, path, dtype: dtype.name, bytesPerValue: dtype.bytes, rows, dim, dataOffset };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

// Yields { start, rows, data: Float32Array(rows·dim) } chunks of at most `chunkRows` rows.
export function* readNpyChunks(npy, chunkRows) {
  const rowBytes = npy.dim * npy.bytesPerValue;
  const buffer = Buffer.alloc(Math.min(chunkRows, npy.rows) * rowBytes);
  for (let start = 0; start < npy.rows; start += chunkRows) {
    const rows = Math.min(chunkRows, npy.rows - start);
    const bytes = rows * rowBytes;
    const got = readSync(npy.fd, buffer, 0, bytes, npy.dataOffset + start * rowBytes);
    if (got !== bytes) throw new NpyError(`${npy.path}: file is truncated at row ${start}`);
    const values = npy.bytesPerValue === 4
      ? new Float32Array(buffer.buffer, buffer.byteOffset, rows * npy.dim)
      : Float32Array.from(new Float64Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + bytes)));
    yield { start, rows, data: npy.bytesPerValue === 4 ? values.slice() : values };
  }
}

// The header of a float32 (rows, dim) C-order array, padded to a multiple of 64 bytes (v1.0).
export function npyHeader(rows, dim) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  const unpadded = 10 + dict.length + 1;
  const padding = (64 - (unpadded % 64)) % 64;
  const header = Buffer.alloc(unpadded + padding);
  Buffer.from(MAGIC).copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length + padding + 1, 8);
  header.write(dict + ' '.repeat(padding) + '\n', 10, 'latin1');
  return header;
}

export function writeAll(fd, data) {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}
