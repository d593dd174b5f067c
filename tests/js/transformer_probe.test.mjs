// The counting probe of kexue.fm/archives/9105 (bench/transformer_probe.mjs), CI-sized: n = 16
// identical tokens with target i + 1 at position i. Softmax attention with RoPE alone predicts the
// same count at every position (every row averages identical values), so its loss stays at log n
// and its accuracy at 1/n; relu2 and l2 attention, and softmax with a distinct first token, count.
// The bench (npm run bench -- transformer --part probe) measured this over 5 seeds at n = 16 and 32.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init } from '../../bindings/js/index.js';
import { PROBE_SETTINGS, probePredictions, probeRow, trainProbe } from '../../bench/transformer_probe.mjs';

const kx = await init();
const n = 16;

test('softmax without a boundary token predicts one count everywhere: loss log n, accuracy 1/n', () => {
  for (const seed of [1, 2]) {
    const r = trainProbe(kx, { n, normalize: 'softmax', boundary: false, seed, steps: 200, checkpoints: [50, 200] });
    assert.ok(new Set(r.predictions).size === 1, `one prediction at every position: ${r.predictions}`);
    assert.equal(r.accuracy, 1 / n);
    for (const loss of [...r.curve, r.loss]) assert.ok(loss > Math.log(n) - 1e-3, `loss ${loss} vs log n ${Math.log(n)}`);
  }
});

test('untrained too: identical tokens give identical logits at every position under softmax (RoPE or not)', () => {
  for (const rope of [true, null]) {
    const t = new kx.Transformer({ vocab: n + 2, dModel: 32, layers: 2, heads: 2, maxSeq: n + 1, initStd: 0.5,
      attention: { rope }, seed: 3 });
    const { inputs, targets } = probeRow(n, false);
    const losses = t.evaluate(inputs, { seq: n, targets });
    // Same logits everywhere: the per-position loss of a fixed target does not depend on the position.
    const same = t.evaluate(inputs, { seq: n, targets: new Int32Array(n).fill(1) });
    for (const x of same) assert.ok(Math.abs(x - same[0]) < 1e-5, `${same}`);
    assert.ok(new Set(losses).size > 1, 'the targets differ, so their losses do');
    assert.equal(new Set(probePredictions(t, inputs)).size, 1);
    t.dispose();
  }
});

test('relu2, l2 and a boundary token count: ≥ 75% of the positions after 400 steps, two seeds', () => {
  for (const setting of PROBE_SETTINGS.filter((s) => s.name !== 'softmax')) {
    for (const seed of [1, 2]) {
      const r = trainProbe(kx, { n, ...setting, seed, steps: 400 });
      assert.ok(r.accuracy >= 0.75, `${setting.name}, seed ${seed}: accuracy ${r.accuracy} (${r.predictions})`);
      assert.ok(r.loss < 1, `${setting.name}, seed ${seed}: loss ${r.loss}`);
    }
  }
});
