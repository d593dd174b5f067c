// How an attention call is laid out on one device (docs/webgpu-tiling.md): the kernels' tile sizes,
// chosen from the adapter's limits and features when a pipeline is created, and the cutting of a
// call into pieces whose tensors each fit one storage binding. Pure functions of the limits and
// the shape; backend.js runs what they plan.

/** Query rows per workgroup tile and key rows per K/V tile, at most; the fewest key rows a tile may have. */
export const BLOCK_Q_MAX = 64;
export const BLOCK_K_MAX = 64;
export const BLOCK_K_MIN = 4;
/** Keys per online-softmax step of the forward kernel (its private score array). */
export const CHUNK = 16;
/** Head dims per invocation the lanes aim at: a row of 128 dims gets 4 invocations. */
const DIMS_PER_LANE = 32;
const LANES_MAX = 8;

/**
 * Invocations per row (LANES): 1 without subgroups, else a power of two near max(dim, dimV) / 32,
 * at most the adapter's smallest subgroup (a row must sit inside one subgroup) and 8. `forced`
 * (tests, tuning) replaces the choice but not the subgroup bound.
 */
export function chooseLanes({ subgroups, subgroupMinSize }, dim, dimV, forced) {
  if (!subgroups) return 1;
  const bound = Math.min(LANES_MAX, subgroupMinSize || 1);
  let lanes = 1;
  if (forced !== undefined) {
    lanes = forced;
  } else {
    while (lanes * DIMS_PER_LANE < Math.max(dim, dimV) && lanes < LANES_MAX) lanes *= 2;
  }
  while (lanes > bound) lanes /= 2;
  return lanes;
}

/**
 * The tiles of the three attention kernels for (dim, dimV) at `elemBytes` per q/k/v element (4 for
 * f32, 2 for f16) on a device with `limits` ({ maxComputeInvocationsPerWorkgroup,
 * maxComputeWorkgroupSizeX, maxComputeWorkgroupStorageSize }) and `features` ({ subgroups,
 * subgroupMinSize }), or { error } when a K/V tile of BLOCK_K_MIN rows does not fit workgroup memory.
 *   lanes        invocations per row (all kernels)
 *   blockQ       query rows per workgroup (forward, dQ); key rows per workgroup (dK/dV)
 *   blockK       key rows per K/V tile in workgroup memory (forward, dQ)
 *   dkvBlockQ    query rows per Q/dO tile in workgroup memory (dK/dV)
 */
export function attentionTiles(limits, features, { dim, dimV, elemBytes = 4, lanes: forcedLanes } = {}) {
  const lanes = chooseLanes(features, dim, dimV, forcedLanes);
  const invocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  const blockQ = Math.min(BLOCK_Q_MAX, Math.floor(invocations / lanes));
  const storage = limits.maxComputeWorkgroupStorageSize;
  // Rows are stored in quads (vec4): dims rounded up to a multiple of 4.
  const dim4 = Math.ceil(dim / 4) * 4;
  const dimV4 = Math.ceil(dimV / 4) * 4;
  // Forward and dQ: a K tile and a V tile of elem_t.
  const blockK = Math.min(BLOCK_K_MAX, Math.floor(storage / (elemBytes * (dim4 + dimV4))));
  // dK/dV: a Q tile of elem_t, a dO tile of f32, and per query row its logsumexp, D and key range
  // (20 bytes; 32 budgeted, and 256 bytes left for the compiler's alignment).
  const dkvBlockQ = Math.min(BLOCK_Q_MAX, Math.floor((storage - 256) / (elemBytes * dim4 + 4 * dimV4 + 32)));
  if (Math.min(blockK, dkvBlockQ) < BLOCK_K_MIN || blockQ < 1) {
    return {
      error: `dim + dimV = ${dim + dimV} elements per key row do not fit ${BLOCK_K_MIN} rows in this device's ` +
        `${storage} bytes of workgroup memory`,
    };
  }
  return { lanes, blockQ, blockK, dkvBlockQ, chunk: CHUNK };
}

/**
 * Workgroup grids for `groups` workgroups numbered linearly: [{ base, x, y }], one per dispatch,
 * each at most maxPerDimension × maxPerDimension (the kernels decode base + x + y·X).
 */
export function dispatchGrids(groups, maxPerDimension) {
  if (groups === 0) return [];
  const x = Math.min(groups, maxPerDimension);
  const rows = Math.ceil(groups / x);
  const y = Math.min(rows, maxPerDimension);
  const grids = [];
  for (let base = 0; base < groups; base += x * y) {
    grids.push({ base, x, y: Math.min(y, Math.ceil((groups - base) / x)) });
  }
  return grids;
}

/**
 * Cuts attention of `shape` ({ batch, seqQ, seqK, heads, kvHeads, dim, dimV, rotaryPairs }) into
 * pieces whose buffers each fit `maxBytes` (the smaller of maxStorageBufferBindingSize and
 * maxBufferSize): whole batch entries while a batch entry fits, else one batch entry at a time
 * with its query rows and keys in chunks. `aux` ({ fixed, perQuery, perKey, perPair } bytes per
 * batch entry: the side tables, bias and mask, attention_common.wgsl) counts what the piece's
 * aux buffer holds. Returns { batchChunk, qChunk, kChunk } (kChunk < seqK means the keys of one
 * query row are split across pieces, whose partial results the host combines) or { error }.
 */
export function attentionPieces(shape, maxBytes, elemBytes = 4, aux = {}) {
  const { batch, seqQ, seqK, heads, kvHeads, dim, dimV, rotaryPairs = 0 } = shape;
  const { fixed = 0, perQuery = 0, perKey = 0, perPair = 0 } = aux;
  // Bytes per query row (all heads) and per key row of every buffer a piece holds: q (elem_t),
  // out / dOut (f32), dq (f32), lse / D (f32 per head), and its RoPE rows.
  const qRow = Math.max(heads * dim * elemBytes, heads * dimV * 4, heads * dim * 4, 2 * heads * 4, rotaryPairs * 8, 4);
  const kRow = Math.max(kvHeads * dim * 4, kvHeads * dimV * 4, rotaryPairs * 8, 4);
  const auxBytes = (nb, nq, nk) => fixed + nb * (nq * perQuery + nk * perKey + nq * nk * perPair);
  const fits = (nb, nq, nk) => nb * nq * qRow <= maxBytes && nb * nk * kRow <= maxBytes && auxBytes(nb, nq, nk) <= maxBytes;
  if (qRow > maxBytes || kRow > maxBytes || !fits(1, 1, 1)) {
    return { error: `one sequence position of all heads needs ${Math.max(qRow, kRow, auxBytes(1, 1, 1))} bytes, above ` +
      `this device's storage buffer limit of ${maxBytes} bytes` };
  }
  const nq0 = Math.max(seqQ, 1);
  const nk0 = Math.max(seqK, 1);
  let batchChunk = Math.min(batch, Math.floor(maxBytes / Math.max(nq0 * qRow, nk0 * kRow, 1)));
  while (batchChunk >= 1 && !fits(batchChunk, nq0, nk0)) batchChunk -= 1;
  if (batchChunk >= 1) return { batchChunk, qChunk: nq0, kChunk: nk0 };
  let qChunk = Math.max(1, Math.min(nq0, Math.floor(maxBytes / qRow)));
  let kChunk = Math.max(1, Math.min(nk0, Math.floor(maxBytes / kRow)));
  // Shrink the larger chunk until the piece's side tables (a bias over query × key pairs) fit too.
  while (!fits(1, qChunk, kChunk)) {
    if (qChunk >= kChunk && qChunk > 1) qChunk = Math.ceil(qChunk / 2);
    else if (kChunk > 1) kChunk = Math.ceil(kChunk / 2);
    else break;
  }
  return { batchChunk: 1, qChunk, kChunk };
}

/** The ranges [start, start + count) that cut `total` into chunks of at most `chunk`. */
export function chunks(total, chunk) {
  const out = [];
  for (let start = 0; start < total; start += chunk) out.push({ start, count: Math.min(chunk, total - start) });
  return out;
}
