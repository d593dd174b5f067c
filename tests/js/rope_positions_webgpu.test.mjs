// The RoPE options of issue 13 (item 4) on the WebGPU backend (Dawn on SwiftShader, as in
// webgpu.test.mjs): ropeScaling and inverseFrequencies reach the GPU through the host-computed
// cos/sin tables (attention and kx.rope, also kx.rope's [batch, seq] positions); rope.positionsQ,
// rope.positionsK and cachedKeys 'rotated', which the WGSL kernel cannot express yet, run on WASM
// under 'auto' and are refused with the reason under 'webgpu'.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, test } from 'node:test';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const { init } = await import('../../bindings/js/index.js');
const { relativeError } = await import('../helpers/webgpu-parity-suite.js');
const { symmetricUniform } = await import('../helpers/random.js');

const gpu = existsSync(SWIFTSHADER_ICD) ? await init({ backend: 'webgpu' }).catch(() => null) : null;
const wasm = await init({ backend: 'wasm' });
after(() => gpu?.dispose());

function randomArray(length, seed) {
  const next = symmetricUniform(seed);
  return Float32Array.from({ length }, () => next());
}

const shape = { batch: 2, seqQ: 5, seqK: 9, heads: 2, kvHeads: 1, dim: 8, scale: 'standard', causal: true };
const q = randomArray(2 * 5 * 2 * 8, 1);
const k = randomArray(2 * 9 * 8, 2);
const v = randomArray(2 * 9 * 8, 3);

test('ropeScaling and inverseFrequencies run on the GPU and agree with WASM', { skip: !gpu && 'no WebGPU device' }, async () => {
  for (const rope of [
    { layout: 'half', ropeScaling: { type: 'yarn', factor: 8, originalMaxPositionEmbeddings: 4 } },
    { ropeScaling: { type: 'llama3', factor: 4, originalMaxPositionEmbeddings: 4 }, rotaryDim: 4 },
    { inverseFrequencies: [1, 0.5, 0.1, 0.01] },
  ]) {
    const options = { ...shape, rope };
    const onGpu = await gpu.attention(q, k, v, { ...options, backend: 'webgpu' });
    assert.ok(relativeError(onGpu, await wasm.attention(q, k, v, options)) < 1e-4, JSON.stringify(rope));
  }
  const x = randomArray(2 * 5 * 2 * 8, 4);
  const ropeOptions = { batch: 2, seq: 5, heads: 2, dim: 8, positions: Array.from({ length: 10 }, (_, i) => 3 * i - 4),
    ropeScaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 8 } };
  const rotated = await gpu.rope(x, { ...ropeOptions, backend: 'webgpu' });
  assert.ok(relativeError(rotated, wasm.rope(x, ropeOptions)) < 1e-5);
});

