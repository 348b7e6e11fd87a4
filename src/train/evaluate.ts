/**
 * Evaluation of the executor's current weights that fits in memory, and BatchNorm
 * statistics that match the weights being evaluated.
 *
 * Batch size: a probe of a few samples measures the peak bytes one sample costs in a
 * forward pass; the batch is the largest that fits the backend's budget (wasm: its heap
 * cannot pass 4 GiB and aborts the whole module when it tries, so it gets at most 1 GiB;
 * native and cpu: a quarter of the free memory, at most 2 GiB), capped by the caller's
 * maximum. When a batch still fails with an out-of-memory error (tfjs-node's
 * RESOURCE_EXHAUSTED, wasm's "memory access out of bounds" / "Aborted()", a typed array
 * that cannot be allocated), the rest of the set is evaluated at half the batch, down to 1;
 * a wasm module that aborted is restarted and the executor rebuilt from the weights the
 * caller wrote back to the host first.
 *
 * `recalibrateBatchNorm` replaces BN running statistics by their exact average over
 * training batches at the final weights (fvcore's "precise BN"): an exponential average
 * with momentum 0.9 (0.99 in Keras exports) still mixes in statistics of weights from
 * tens of steps ago, which after a short, fast run (a freshly replaced layer, a few
 * epochs on a small set) can make inference-mode outputs collapse to one class while the
 * training-mode accuracy looks fine.
 */
import { freemem } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import type { Batch, Dataset } from '../data/dataset.js';
import { dataInputOf } from '../data/fit.js';
import { TfExecutor } from './executor.js';
import { correctCount, crossEntropy } from './losses.js';

/**
 * Mean cross-entropy and the number of correct top-1 predictions of one batch, in inference
 * mode (BN running statistics); the tensors are freed.
 */
export function batchLossAndCorrect(exec: TfExecutor, input: string, logitsName: string, b: Batch, inputShape: readonly number[]): [number, number] {
  return tf.tidy(() => {
    const x = tf.tensor(b.x, [b.n, ...inputShape]);
    const y = tf.tensor1d(b.y, 'int32');
    const logits = exec.run({ [input]: x }, { training: false, outputs: [logitsName] })[logitsName]!;
    return [crossEntropy(logits, y).dataSync()[0]!, correctCount(logits, y).dataSync()[0]!];
  });
}

export interface EvalOptions {
  /** Largest batch to use (default 256); smaller when memory says so. */
  maxBatchSize?: number;
  /** Bytes one batch's forward pass may use (default: by backend, see the module comment). */
  memoryBudget?: number;
  /** Recreates the executor after the backend had to be restarted (its tensors are gone). */
  rebuild?: () => TfExecutor;
  log?: (msg: string) => void;
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  samples: number;
  /** The batch size the set was (last) evaluated with. */
  batchSize: number;
}

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Whether an error (or one in its cause chain) says the backend ran out of memory. */
export function isOutOfMemory(e: unknown): boolean {
  const re =
    /out of memory|memory access out of bounds|Aborted\(|RESOURCE_EXHAUSTED|\bOOM\b|allocation failed|Cannot allocate|failed to grow|Invalid typed array length|Array buffer allocation|bad_alloc/i;
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 8; depth++) {
    const msg = c instanceof Error ? c.message : typeof c === 'object' && 'message' in (c as object) ? String((c as { message: unknown }).message) : String(c);
    if (re.test(msg)) return true;
    c = c instanceof Error ? c.cause : undefined;
  }
  return false;
}

/** Bytes an evaluation batch may take on the current backend. */
export function evalMemoryBudget(): number {
  const used = tf.memory().numBytes;
  switch (tf.getBackend()) {
    // The heap is capped at 4 GiB and an allocation past it aborts the module: stay far below.
    case 'wasm':
      return Math.max(32 * MiB, Math.min(GiB, (3 * GiB - used) / 2));
    case 'cpu':
    case 'tensorflow':
      return Math.max(64 * MiB, Math.min(2 * GiB, freemem() / 4));
    default:
      return 512 * MiB;
  }
}

/** Whether the current backend still runs kernels (a wasm module that aborted does not). */
export function backendAlive(): boolean {
  try {
    return tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync()[0]) === 2;
  } catch {
    return false;
  }
}

/** Restarts the wasm backend after its module aborted (all its tensors are lost). @returns whether it runs again */
export async function restartBackend(): Promise<boolean> {
  const name = tf.getBackend();
  const factory = tf.findBackendFactory(name);
  if (!factory) return false;
  try {
    tf.removeBackend(name);
  } catch {
    // Disposing the dead module threw before tfjs let go of it: drop it by hand.
    const eng = tf.engine() as unknown as {
      registry: Record<string, unknown>;
      registryFactory: Record<string, unknown>;
      backendName: string | null;
      backendInstance: unknown;
      pendingBackendInit: unknown;
    };
    delete eng.registry[name];
    delete eng.registryFactory[name];
    if (eng.backendName === name) {
      eng.backendName = null;
      eng.backendInstance = null;
      eng.pendingBackendInit = null;
    }
  }
  tf.registerBackend(name, factory);
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
  } catch {
    return false;
  }
  return backendAlive();
}

function sliceBatch(b: Batch, from: number, per: number): Batch {
  if (from <= 0) return b;
  return { x: b.x.subarray(from * per), y: b.y.subarray(from), n: b.n - from };
}

/**
 * The peak bytes one sample costs in an inference pass, measured on up to 4 samples
 * (fixed costs are included, so the figure errs on the large side).
 */
export function bytesPerSample(exec: TfExecutor, model: Model, ds: Dataset, logitsName: string): number {
  const input = dataInputOf(model).name;
  const first = ds
    .batches(Math.min(4, Math.max(1, ds.size)), { augment: false })
    [Symbol.iterator]()
    .next();
  if (first.done) return 0;
  const b = first.value;
  const x = tf.tensor(b.x, [b.n, ...ds.inputShape]);
  try {
    const out = exec.run({ [input]: x }, { training: false, outputs: [logitsName], measurePeak: true });
    for (const t of Object.values(out)) t.dispose();
  } finally {
    x.dispose();
  }
  return (exec.lastPeakBytes + b.x.byteLength) / b.n;
}

/**
 * Accuracy and mean cross-entropy of the executor's current weights on `ds`, in inference
 * mode (BN running statistics), with a batch that fits in memory (module comment).
 * @throws the first error that is not an out-of-memory error, or one at batch size 1
 */
export async function evaluateFitted(exec: TfExecutor, model: Model, ds: Dataset, logitsName: string, o: EvalOptions = {}): Promise<EvalResult> {
  const input = dataInputOf(model).name;
  const per = ds.inputShape.reduce((a, b) => a * b, 1);
  const maxBatch = o.maxBatchSize ?? 256;
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1))
    throw new CompilerError('INVALID_OPTION', `the evaluation batch must be a positive integer, not ${maxBatch}`);
  let batch = maxBatch;
  if (ds.size > 4 && maxBatch > 4) {
    const bytes = bytesPerSample(exec, model, ds, logitsName);
    const budget = o.memoryBudget ?? evalMemoryBudget();
    const fit = bytes > 0 ? Math.max(1, Math.floor(budget / bytes)) : maxBatch;
    if (fit < maxBatch) {
      batch = fit;
      o.log?.(`evaluation batch ${batch} (one sample takes ${(bytes / MiB).toFixed(1)} MiB; budget ${(budget / MiB).toFixed(0)} MiB on ${tf.getBackend()})`);
    }
  }
  let correct = 0;
  let lossSum = 0;
  let done = 0;
  for (;;) {
    try {
      let seen = 0;
      for (const full of ds.batches(batch, { augment: false })) {
        const start = seen;
        seen += full.n;
        if (seen <= done) continue;
        const b = sliceBatch(full, done - start, per);
        const [l, c] = batchLossAndCorrect(exec, input, logitsName, b, ds.inputShape);
        lossSum += l * b.n;
        correct += c;
        done += b.n;
      }
      break;
    } catch (e) {
      if (!isOutOfMemory(e) || batch === 1) throw e;
      batch = Math.max(1, Math.floor(batch / 2));
      if (!backendAlive()) {
        if (!o.rebuild || !(await restartBackend())) throw e;
        exec = o.rebuild();
        o.log?.(`the ${tf.getBackend()} backend ran out of memory and was restarted; evaluating the rest at batch ${batch}`);
      } else {
        o.log?.(`evaluation ran out of memory; evaluating the rest at batch ${batch}`);
      }
    }
  }
  return { loss: done ? lossSum / done : NaN, accuracy: done ? correct / done : NaN, samples: done, batchSize: batch };
}

/**
 * Sets every BatchNormalization's running statistics that the executor holds as variables
 * to their average over up to `maxBatches` batches of `ds` (shuffled with a fixed seed, no
 * augmentation), at the current weights, with batch statistics feeding later layers as in
 * training. Dropout stays off. O(maxBatches forward passes).
 * @returns the number of batches used
 */
export function recalibrateBatchNorm(exec: TfExecutor, model: Model, ds: Dataset, batchSize: number, maxBatches: number, logitsName: string): number {
  const input = dataInputOf(model).name;
  let k = 0;
  // Shuffled (fixed seed): batches of one class would understate the variance.
  for (const b of ds.batches(batchSize, { augment: false, shuffle: true, seed: 0x5eed, dropLast: ds.size >= batchSize })) {
    if (k >= maxBatches) break;
    // Cumulative average: the k-th batch gets weight 1/(k+1).
    tf.tidy(() => {
      const x = tf.tensor(b.x, [b.n, ...ds.inputShape]);
      exec.run({ [input]: x }, { outputs: [logitsName], bnMomentum: k / (k + 1) });
    });
    k++;
  }
  return k;
}
