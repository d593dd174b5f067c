// kx.Transformer: a small transformer trained, fine-tuned, sampled and saved in the page
// (src/model/; README "A transformer in the page"). Every option is read and checked by C++
// (transformer_validate, train_call_validate, generate_validate, finetune_validate, and the
// safetensors reader): this side checks only what C++ cannot see — the JS type of the token and
// position arrays (and that a plain array holds integers), the callbacks and the AbortSignal of
// train() — and owns the object's lifetime.
import { Disposable } from './disposable.js';
import { deepFreeze, describe, exactView, requireOptions, requireOptionsObject, resolvePlan, throwIfError,
  typedArrayKind, typedLength } from './errors.js';
import { withHeap } from './heap.js';

const TOKEN_ARRAYS = ['Int32Array', 'Uint8Array', 'Uint16Array', 'Int16Array', 'Int8Array'];
const POSITION_ARRAYS = ['Float64Array', 'Float32Array', 'Int32Array', 'Uint8Array', 'Uint16Array', 'Uint32Array'];

// Tokens: an integer typed array (Int32Array, Uint8Array for bytes, …) or an array of integers.
function requireTokens(fn, name, tokens) {
  const kind = typedArrayKind(tokens);
  if (kind !== undefined) {
    if (!TOKEN_ARRAYS.includes(kind)) {
      throw new TypeError(`${fn}: ${name} must be an Int32Array, Uint8Array, Uint16Array or an array of integers, received ${describe(tokens)}`);
    }
    return { view: exactView(tokens), length: typedLength(tokens) };
  }
  if (!Array.isArray(tokens)) {
    throw new TypeError(`${fn}: ${name} must be an Int32Array, Uint8Array, Uint16Array or an array of integers, received ${describe(tokens)}`);
  }
  for (let i = 0; i < tokens.length; ++i) {
    const t = tokens[i];
    if (typeof t !== 'number') throw new TypeError(`${fn}: ${name}[${i}] must be an integer, received ${describe(t)}`);
    // Beyond int32 the heap copy would wrap; C++ then names the id against vocab.
    if (!Number.isInteger(t) || t < -(2 ** 31) || t >= 2 ** 31) {
      throw new RangeError(`${fn}: ${name}[${i}] must be an integer token id, received ${describe(t)}`);
    }
  }
  return { view: tokens, length: tokens.length };
}

function copyTokens(module, heap, tokens, what) {
  const pointer = heap.alloc(Math.max(tokens.length, 1), what);
  module.HEAP32.set(tokens.view, pointer >>> 2);
  return pointer;
}

// `positions` as an array goes through the heap (C++ checks its length and that it is finite);
// a string ('sequential' | 'random' | 'equal-mean') stays in the options for C++ to read.
function splitPositions(fn, options) {
  const { positions } = options;
  if (positions === undefined || positions === null || typeof positions === 'string') return { options, positions: null };
  const kind = typedArrayKind(positions);
  if (kind !== undefined ? !POSITION_ARRAYS.includes(kind) : !Array.isArray(positions)) {
    throw new TypeError(`${fn}: positions must be 'sequential', 'random', 'equal-mean' or an array of numbers, received ${describe(positions)}`);
  }
  if (kind === undefined) {
    positions.forEach((p, i) => {
      if (typeof p !== 'number') throw new TypeError(`${fn}: positions[${i}] must be a number, received ${describe(p)}`);
    });
  }
  const rest = { ...options };
  delete rest.positions;
  return { options: rest, positions: kind === undefined ? positions : exactView(positions) };
}

// `targets` (causal objective): batch·seq integer ids, one per input token, −1 for a position not
// predicted; the tokens are then rows of seq inputs. It goes through the heap; C++ checks its length
// and range.
function splitTargets(fn, options) {
  const { targets } = options;
  if (targets === undefined) return { options, targets: null };
  const t = requireTokens(fn, 'targets', targets);
  const rest = { ...options };
  delete rest.targets;
  return { options: rest, targets: t };
}

function copyTargets(module, heap, targets) {
  if (!targets) return [0, 0];
  return [copyTokens(module, heap, targets, 'targets'), targets.length];
}

function copyPositions(module, heap, positions) {
  if (!positions) return [0, 0];
  const pointer = heap.alloc(Math.max(positions.length, 1), 'positions', 8);
  module.HEAPF64.set(positions, pointer >>> 3);
  return [pointer, positions.length];
}

// When batch is left out, it is the number of whole rows the tokens hold (C++ refuses a remainder).
function withBatch(native, fn, options, tokenCount, withTargets) {
  if (options.batch !== undefined) return options;
  const { tokensPerRow } = native.callPlan({ ...options, batch: 1 }, withTargets);
  if (tokensPerRow === undefined) return options;  // the plan's error is reported by the call itself
  const batch = Math.floor(tokenCount / tokensPerRow);
  return batch >= 1 && batch * tokensPerRow === tokenCount ? { ...options, batch } : options;
}

function abortError(signal, what) {
  if (signal.reason !== undefined) return signal.reason;
  const error = new Error(`${what} was aborted`);
  error.name = 'AbortError';
  return error;
}

const now = () => (typeof performance === 'object' ? performance.now() : Date.now());
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

export function createTransformerClass(module) {
  class Transformer extends Disposable {
    #native;
    #options;
    #busy = false;

    /**
     * A transformer { vocab, dModel, layers, heads, kvHeads, keySize, ffn, norm, objective,
     * attention: { scale, baseLen, nMin, rope, normalize, talkingHeads }, maxSeq, optimizer: { lr, … }, seed }, its
     * parameters drawn from the seed.
     */
    constructor(options, native = undefined) {
      const fn = 'Transformer';
      if (native === undefined) {
        requireOptionsObject(fn, options, 'vocab, dModel, layers, heads');
        const resolved = resolvePlan(fn, module.transformerPlan(options));
        native = new module.TransformerNative(resolved);
      }
      super(() => native.delete());
      this.#native = native;
      this.#options = deepFreeze(native.options());
    }

    /** A model from a safetensors file written by save() (Uint8Array or ArrayBuffer). */
    static load(bytes) {
      const fn = 'Transformer.load';
      const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes;
      if (typedArrayKind(view) !== 'Uint8Array') {
        throw new TypeError(`${fn}: bytes must be a Uint8Array or an ArrayBuffer, received ${describe(bytes)}`);
      }
      const result = withHeap(module, (heap) => {
        const length = typedLength(view);
        const pointer = heap.alloc(Math.max(length, 1), 'bytes', 1);
        module.HEAPU8.set(exactView(view), pointer);
        return module.TransformerNative.load(pointer, length);
      });
      throwIfError(fn, result.error);
      return new Transformer(undefined, result.transformer);
    }

    /** UTF-8 bytes of a string: the byte-level tokens (vocab 256) the README's models use. */
    static encodeBytes(text) {
      if (typeof text !== 'string') throw new TypeError(`Transformer.encodeBytes: text must be a string, received ${describe(text)}`);
      return new TextEncoder().encode(text);
    }

    /** The string of byte-level tokens (invalid UTF-8 becomes U+FFFD). */
    static decodeBytes(tokens) {
      const { view } = requireTokens('Transformer.decodeBytes', 'tokens', tokens);
      return new TextDecoder().decode(Uint8Array.from(view, (t) => t & 255));
    }

    #alive(fn) {
      this.assertAlive(fn);
      if (this.#busy) throw new TypeError(`${fn}: train() is running on this model; await it (or abort it) first`);
    }

    /** The resolved options (kvHeads, keySize, ffn filled in). */
    get options() { return this.#options; }
    get parameterCount() {
      this.assertAlive('Transformer.parameterCount');
      return this.#native.parameterCount();
    }
    /** Steps taken. */
    get steps() {
      this.assertAlive('Transformer.steps');
      return this.#native.steps();
    }
    /** Bytes of optimizer state: AdamW's moments, the low-rank optimizers' state, or the ladder's side network's. */
    get optimizerBytes() {
      this.assertAlive('Transformer.optimizerBytes');
      return 4 * this.#native.optimizerStateFloats();
    }
    /** Parameters being trained (after finetune(): the targets; LoRA: its factors; ladder: its side network). */
    get trainedParameters() {
      this.assertAlive('Transformer.trainedParameters');
      return this.#native.trainedParameterCount();
    }
    /** The resolved finetune() options in force, or null. */
    get finetuning() {
      this.assertAlive('Transformer.finetuning');
      const f = this.#native.finetuning();
      return f === null ? null : deepFreeze(f);
    }
    /**
     * [{ name, shape, offset }]: the tensors of `parameters` and of the safetensors file, the
     * model's and then, while a ladder trains, its side network's (ladder.*).
     */
    get tensors() {
      this.assertAlive('Transformer.tensors');
      return deepFreeze(this.#native.tensors());
    }
    /** A Float32Array copy of every parameter, in the order of `tensors`. */
    get parameters() {
      this.assertAlive('Transformer.parameters');
      const count = this.#native.parameterCount();
      return withHeap(module, (heap) => {
        const pointer = heap.alloc(count, 'parameters');
        this.#native.readParameters(pointer);
        return heap.read(pointer, count);
      });
    }

    /**
     * Where the last trainStep, evaluate or generate spent its time: { totalMs, gemmMs (every
     * linear layer and the head), attentionMs (the fused kernel, or the talking-heads path with its
     * products), ropeMs }; the rest is norms, GELU, the loss, AdamW and copies.
     */
    get lastStepTimes() {
      this.assertAlive('Transformer.lastStepTimes');
      return this.#native.lastTimes();
    }

    /** Bytes of activations (and backward scratch) one trainStep of { batch, seq } keeps. */
    activationBytes(options) {
      const fn = 'Transformer.activationBytes';
      this.#alive(fn);
      const opts = requireOptionsObject(fn, options, 'seq');
      const plan = this.#native.callPlan(opts, false);
      throwIfError(fn, plan.error);
      return 4 * this.#native.activationFloats(plan.options.batch, plan.options.seq);
    }

    /**
     * One AdamW step on `batch` rows of seq + 1 tokens (inputs 0…seq−1, targets 1…seq; rows of seq
     * tokens for the masked objective). positions: 'sequential' (default), 'random', 'equal-mean',
     * or seq (or batch·seq) numbers. targets (causal objective): batch·seq ids, target i predicted
     * at input i (−1: not predicted); the tokens are then rows of seq inputs. Returns the mean loss
     * before the step.
     */
    trainStep(tokens, options) {
      const fn = 'Transformer.trainStep';
      const opts = requireOptionsObject(fn, options, 'seq');
      this.#alive(fn);
      const t = requireTokens(fn, 'tokens', tokens);
      const targets = splitTargets(fn, opts);
      const split = splitPositions(fn, targets.options);
      const call = withBatch(this.#native, fn, split.options, t.length, targets.targets !== null);
      const result = withHeap(module, (heap) => {
        const tokensPtr = copyTokens(module, heap, t, 'tokens');
        const [positionsPtr, positionCount] = copyPositions(module, heap, split.positions);
        const [targetsPtr, targetCount] = copyTargets(module, heap, targets.targets);
        return this.#native.trainStep(tokensPtr, t.length, positionsPtr, positionCount, targetsPtr, targetCount, call);
      });
      throwIfError(fn, result.error);
      return result.loss;
    }

    /**
     * Per-token loss (Float32Array batch·seq; 0 where the masked objective predicts nothing, or
     * where a target is −1). Options as trainStep's, targets included.
     */
    evaluate(tokens, options) {
      const fn = 'Transformer.evaluate';
      const opts = requireOptionsObject(fn, options, 'seq');
      this.#alive(fn);
      const t = requireTokens(fn, 'tokens', tokens);
      const targets = splitTargets(fn, opts);
      const split = splitPositions(fn, targets.options);
      const call = withBatch(this.#native, fn, split.options, t.length, targets.targets !== null);
      const plan = this.#native.callPlan(call, targets.targets !== null);
      throwIfError(fn, plan.error);
      const count = plan.options.batch * plan.options.seq;
      return withHeap(module, (heap) => {
        const tokensPtr = copyTokens(module, heap, t, 'tokens');
        const [positionsPtr, positionCount] = copyPositions(module, heap, split.positions);
        const [targetsPtr, targetCount] = copyTargets(module, heap, targets.targets);
        const out = heap.alloc(count, 'the losses');
        throwIfError(fn, this.#native.evaluate(tokensPtr, t.length, positionsPtr, positionCount, targetsPtr, targetCount,
          call, out).error);
        return heap.read(out, count);
      });
    }

    /** Samples up to maxTokens tokens after the prompt with a KV cache: Int32Array. */
    generate(prompt, options) {
      const fn = 'Transformer.generate';
      const opts = requireOptions(fn, options);
      this.#alive(fn);
      const p = requireTokens(fn, 'prompt', prompt);
      const { maxTokens } = resolvePlan(fn, this.#native.generatePlan(p.length, opts));
      return withHeap(module, (heap) => {
        const promptPtr = copyTokens(module, heap, p, 'prompt');
        const out = heap.alloc(Math.max(maxTokens, 1), 'the tokens');
        const result = this.#native.generate(promptPtr, p.length, opts, out);
        throwIfError(fn, result.error);
        const start = out >>> 2;
        return module.HEAP32.slice(start, start + result.count);
      });
    }

    /**
     * From now on trainStep/train update only `targets` by `method`: 'full' (AdamW), 'lora' or
     * 'galore' (a kx.LowRankOptimizer per targeted matrix, fed its full gradient), or 'ladder'
     * (ladder side-tuning: the backbone frozen whole, a side network of width dModel/reduction
     * trained with AdamW; evaluate, generate and save/load include it). Returns
     * { options, optimizerBytes, trainedParameters }.
     */
    finetune(options) {
      const fn = 'Transformer.finetune';
      const opts = requireOptions(fn, options);
      this.#alive(fn);
      const resolved = resolvePlan(fn, this.#native.finetune(opts));
      return { options: deepFreeze(resolved), optimizerBytes: this.optimizerBytes, trainedParameters: this.trainedParameters };
    }

    /**
     * `steps` steps, each on `batch` windows of seq + 1 tokens drawn from `tokens` (a corpus) by the
     * model's seeded stream. onProgress({ step, steps, loss }) after each step; signal: an
     * AbortSignal that stops it between steps (rejecting with the signal's reason; the steps done
     * stay done). Resolves to { losses: Float32Array(steps) }.
     */
    async train(tokens, options) {
      const fn = 'Transformer.train';
      const opts = requireOptionsObject(fn, options, 'steps, seq');
      this.#alive(fn);
      const { steps, onProgress, signal, ...rest } = opts;
      if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1) {
        throw new (typeof steps === 'number' ? RangeError : TypeError)(`${fn}: steps must be a positive integer, received ${describe(steps)}`);
      }
      if (onProgress !== undefined && typeof onProgress !== 'function') {
        throw new TypeError(`${fn}: onProgress must be a function, received ${describe(onProgress)}`);
      }
      if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean')) {
        throw new TypeError(`${fn}: signal must be an AbortSignal, received ${describe(signal)}`);
      }
      if (rest.targets !== undefined) {
        throw new TypeError(`${fn}: targets is not an option of train(), whose windows predict their next tokens; pass targets to trainStep`);
      }
      const t = requireTokens(fn, 'tokens', tokens);
      const split = splitPositions(fn, rest);
      const call = split.options;
      throwIfError(fn, this.#native.callPlan(call, false).error);
      if (signal?.aborted) throw abortError(signal, fn);
      const losses = new Float32Array(steps);
      const native = this.#native;
      const corpus = module._malloc(Math.max(t.length, 1) * 4);
      if (corpus === 0) throw new RangeError(`${fn}: out of WASM memory allocating the corpus (${t.length * 4} bytes)`);
      this.#busy = true;
      try {
        module.HEAP32.set(t.view, corpus >>> 2);
        throwIfError(fn, native.checkTokens(corpus, t.length));
        let lastYield = now();
        for (let step = 0; step < steps; ++step) {
          if (signal?.aborted) throw abortError(signal, `${fn} after ${step} steps`);
          const result = withHeap(module, (heap) => {
            const [positionsPtr, positionCount] = copyPositions(module, heap, split.positions);
            return native.trainWindows(corpus, t.length, positionsPtr, positionCount, call);
          });
          throwIfError(fn, result.error);
          losses[step] = result.loss;
          onProgress?.({ step: step + 1, steps, loss: result.loss });
          // Let the event loop run (an abort, a UI update) at least every ~30 ms.
          if (step + 1 < steps && now() - lastYield > 30) {
            await yieldToEvents();
            lastYield = now();
          }
        }
        return { losses };
      } finally {
        this.#busy = false;
        module._free(corpus);
      }
    }

    /** The model as a safetensors file (Uint8Array): F32 tensors named as `tensors`, options in the metadata. */
    save() {
      this.#alive('Transformer.save');
      return this.#native.save();
    }

    dispose() {
      if (this.#busy && !this.disposed) {
        throw new TypeError('Transformer.dispose: train() is running on this model; abort it first');
      }
      super.dispose();
    }
  }

  return { Transformer };
}
