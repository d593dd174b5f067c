// The counting probe of kexue.fm/archives/9105: a row of n identical tokens whose target at position
// i is the count i + 1, i.e. the model must say where it is. Shared by the bench
// (bench/transformer.mjs, part 'probe') and the CI test (tests/js/transformer_probe.test.mjs).
//
// Why softmax attention with RoPE alone cannot do it (the article's argument, exactly): every value
// is the same vector v, so a softmax row — whatever RoPE does to its weights — outputs Σ_j P_ij v = v
// at every position; the FFN and the norms act on each position alone, so by induction every layer
// sees identical rows and the logits are the same at every position. The best it can do is the
// uniform guess over the n counts: loss log n, accuracy 1/n (the argmax is right at one position).
// A row that need not sum to 1 can count: l2 (P_i of unit L2 norm) gives Σ_j P_ij = √n_i for equal
// scores, relu2 (relu²(s)/n_i) a running mean of relu²(s) over the offsets 0…i that RoPE makes
// differ; and so can a distinct first token (a "boundary"), whose share of a softmax row shrinks
// as the row grows.
//
// Encoding (vocab n + 2): id 0 the repeated token, ids 1…n the counts, id n + 1 the boundary token.
// Inputs [0, 0, …, 0] or, with the boundary, [n + 1, 0, …, 0]; targets [1, 2, …, n] through
// trainStep's `targets` (the next input is not the label, so the shifted-tokens form cannot express
// the task without changing it).

export function probeRow(n, boundary) {
  const inputs = new Int32Array(n);
  if (boundary) inputs[0] = n + 1;
  const targets = Int32Array.from({ length: n }, (_, i) => i + 1);
  return { inputs, targets };
}

export const PROBE_SETTINGS = [
  { name: 'softmax', normalize: 'softmax', boundary: false },
  { name: 'relu2', normalize: 'relu2', boundary: false },
  { name: 'l2', normalize: 'l2', boundary: false },
  { name: 'softmax + boundary token', normalize: 'softmax', boundary: true },
];

export function probeModel(n, normalize, seed, extra = {}) {
  return {
    vocab: n + 2, dModel: 32, layers: 2, heads: 2, ffn: 64, maxSeq: n + 1,
    attention: { normalize }, optimizer: { lr: 3e-3 }, seed, ...extra,
  };
}

// The greedy prediction at every position: generate() from the first i + 1 inputs, one token, at
// temperature 0 is the argmax of the logits at position i (the causal model sees inputs 0…i).
export function probePredictions(t, inputs) {
  const out = new Int32Array(inputs.length);
  for (let i = 0; i < inputs.length; ++i) {
    out[i] = t.generate(inputs.subarray(0, i + 1), { maxTokens: 1, temperature: 0 })[0];
  }
  return out;
}

// Trains one model on the probe row (batch 1: every row is the same) and returns the mean loss at
// each step of `checkpoints`, and at the end the loss, the count accuracy over the n positions and
// the predictions.
export function trainProbe(kx, { n, normalize, boundary, seed, steps, checkpoints = [], model = {} }) {
  const t = new kx.Transformer(probeModel(n, normalize, seed, model));
  try {
    const { inputs, targets } = probeRow(n, boundary);
    const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const evalLoss = () => mean(t.evaluate(inputs, { seq: n, targets }));
    const curve = [];
    if (checkpoints.includes(0)) curve.push(evalLoss());
    for (let step = 1; step <= steps; ++step) {
      t.trainStep(inputs, { seq: n, targets });
      if (checkpoints.includes(step)) curve.push(evalLoss());
    }
    const predictions = probePredictions(t, inputs);
    const correct = predictions.reduce((s, p, i) => s + (p === targets[i] ? 1 : 0), 0);
    return { curve, loss: evalLoss(), accuracy: correct / n, predictions };
  } finally {
    t.dispose();
  }
}
