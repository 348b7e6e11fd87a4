/**
 * Classification accuracy in onnxruntime: top-1, top-k (k = 5 by default) and per-class
 * top-1 over a Dataset, fed in batches so memory stays bounded.
 *
 * Ranking rule (ties included): the rank of the true label is the number of classes with a
 * strictly higher score plus the number of lower-indexed classes with an equal score, so a
 * top-1 hit is exactly "argmax == label" with argmax taking the first maximum (numpy's and
 * onnxruntime's ArgMax rule); a top-k hit is rank < k. NaN scores never rank above anything,
 * and a NaN score for the label is a miss.
 */
import type { Dataset } from '../data/dataset.js';
import { requireLabels } from '../data/dataset.js';
import { CompilerError } from '../errors.js';
import type { Model, Value } from '../ir/core.js';
import type { StaticDim } from '../ir/types.js';
import { runSession } from '../runtime/session.js';
import type { Session } from '../runtime/session.js';

/** The model input and output that accuracy and latency feed and read. */
export interface ModelIo {
  input: string;
  /** Input shape as declared: a number, a symbolic name or null per dimension. */
  inputShape: StaticDim[];
  output: string;
}

/**
 * Picks the model's data input (the one graph input that is not an initializer) and its
 * first output, or the named ones.
 * @throws INVALID_OPTION when the model has several data inputs and none is named, or a
 *   named input/output does not exist.
 */
export function modelIo(model: Model, names: { input?: string; output?: string } = {}): ModelIo {
  const g = model.graph;
  const inits = new Set<Value>(g.initializers);
  const data = g.inputs.filter((v) => !inits.has(v));
  let input: Value | undefined;
  if (names.input) {
    input = data.find((v) => v.name === names.input);
    if (!input)
      throw new CompilerError('INVALID_OPTION', `the model has no input "${names.input}" (it has ${data.map((v) => `"${v.name}"`).join(', ') || 'none'})`);
  } else {
    if (data.length !== 1) {
      throw new CompilerError(
        'INVALID_OPTION',
        `the model has ${data.length} data inputs (${data.map((v) => `"${v.name}"`).join(', ')}); name the image input`,
        { hint: 'pass --input <name>' },
      );
    }
    input = data[0]!;
  }
  let output: Value | undefined;
  if (names.output) {
    output = g.outputs.find((v) => v.name === names.output);
    if (!output)
      throw new CompilerError('INVALID_OPTION', `the model has no output "${names.output}" (it has ${g.outputs.map((v) => `"${v.name}"`).join(', ')})`);
  } else {
    output = g.outputs[0];
    if (!output) throw new CompilerError('IR_INVALID', 'the model has no outputs');
  }
  const shape = input.shape;
  if (!shape || shape.length === 0) {
    throw new CompilerError('INVALID_OPTION', `input "${input.name}" has no declared shape; cannot tell how to feed it`, {
      where: input.name,
      hint: 'export the model with a static input shape',
    });
  }
  return { input: input.name, inputShape: shape, output: output.name };
}

export interface ClassAccuracy {
  /** Class index. */
  label: number;
  name?: string;
  /** Samples of this class seen. */
  count: number;
  /** Of those, top-1 hits. */
  correct: number;
  /** correct / count (0 when count is 0). */
  accuracy: number;
}

export interface AccuracyResult {
  /** Dataset name as loaded (`mnist:test`, ...). */
  dataset: string;
  samples: number;
  /** Fractions in [0, 1]. */
  top1: number;
  topK: number;
  /** The k of topK (5, or fewer when the model has fewer classes). */
  k: number;
  top1Correct: number;
  topKCorrect: number;
  numClasses: number;
  perClass: ClassAccuracy[];
}

export interface AccuracyOptions {
  /** Samples per run when the model's batch dimension is free. Default 64. */
  batch?: number;
  /** k for top-k. Default 5. */
  k?: number;
  io?: ModelIo;
  onProgress?: (done: number, total: number) => void;
}

/** Rank of `label` among `scores[off .. off+c)` under the module's tie rule. */
export function labelRank(scores: ArrayLike<number>, off: number, c: number, label: number): number {
  const s = scores[off + label]!;
  if (Number.isNaN(s)) return c;
  let rank = 0;
  for (let j = 0; j < c; j++) {
    const v = scores[off + j]!;
    if (v > s || (v === s && j < label)) rank++;
  }
  return rank;
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Evaluates a classifier on `data` with an open session.
 * @throws DATA_SHAPE_MISMATCH when a sample does not fit the model input or the model has
 *   fewer outputs than the data has classes; DATA_UNLABELED; RUNTIME_FAILED from onnxruntime.
 */
export async function evaluateAccuracy(session: Session, model: Model, data: Dataset, opts: AccuracyOptions = {}): Promise<AccuracyResult> {
  requireLabels(data, 'accuracy');
  const io = opts.io ?? modelIo(model);
  const want = opts.k ?? 5;
  const sampleDims = io.inputShape.slice(1);
  const sampleSize = product(data.inputShape);
  if (sampleDims.every((d): d is number => typeof d === 'number')) {
    if (product(sampleDims) !== sampleSize) {
      throw new CompilerError(
        'DATA_SHAPE_MISMATCH',
        `the model input "${io.input}" takes samples of shape [${sampleDims.join(',')}]; the data "${data.name}" has [${data.inputShape.join(',')}]`,
        { where: io.input, hint: 'load the data with the shape the model expects (e.g. --shape), or pick the matching model' },
      );
    }
  }
  // The data's own per-sample shape fills symbolic dims; a static model shape wins otherwise.
  const feedDims = sampleDims.every((d) => typeof d === 'number') ? (sampleDims as number[]) : [...data.inputShape];
  const fixedBatch = typeof io.inputShape[0] === 'number' ? (io.inputShape[0] as number) : undefined;
  const batch = fixedBatch ?? Math.max(1, opts.batch ?? 64);
  const perClassCount = new Array<number>(data.numClasses).fill(0);
  const perClassCorrect = new Array<number>(data.numClasses).fill(0);
  let samples = 0;
  let top1 = 0;
  let topK = 0;
  let k = want;
  let classes = -1;
  const x = new Float32Array(batch * sampleSize);
  for (const b of data.batches(batch, { shuffle: false })) {
    // A model with a fixed batch size gets a full batch every time: the tail is zero padding
    // whose rows are not counted.
    x.fill(0, b.n * sampleSize);
    x.set(b.x.subarray(0, b.n * sampleSize));
    const rows = fixedBatch ?? b.n;
    const feed = { data: rows === batch ? x : x.subarray(0, rows * sampleSize), dims: [rows, ...feedDims] };
    const out = (await runSession(session, { [io.input]: feed }, [io.output]))[io.output]!;
    const scores = out.data as ArrayLike<number>;
    if (typeof (scores as unknown as BigInt64Array)[0] === 'bigint') {
      throw new CompilerError('DATA_SHAPE_MISMATCH', `output "${io.output}" is an integer tensor; accuracy needs class scores`, { where: io.output });
    }
    if (out.dims[0] !== rows) {
      throw new CompilerError(
        'DATA_SHAPE_MISMATCH',
        `output "${io.output}" has ${out.dims[0]} rows for a batch of ${rows}; expected one score row per sample`,
        { where: io.output },
      );
    }
    const c = scores.length / rows;
    if (classes < 0) {
      classes = c;
      if (c < data.numClasses) {
        throw new CompilerError(
          'DATA_SHAPE_MISMATCH',
          `output "${io.output}" has ${c} scores per sample; the data "${data.name}" has ${data.numClasses} classes`,
          { where: io.output, hint: 'is this the classifier output? name another with --output' },
        );
      }
      k = Math.min(want, c);
    }
    for (let i = 0; i < b.n; i++) {
      const label = b.y[i]!;
      if (label < 0 || label >= data.numClasses) {
        throw new CompilerError('DATA_SHAPE_MISMATCH', `label ${label} is outside the ${data.numClasses} classes of "${data.name}"`);
      }
      const rank = labelRank(scores, i * c, c, label);
      perClassCount[label]!++;
      if (rank === 0) {
        top1++;
        perClassCorrect[label]!++;
      }
      if (rank < k) topK++;
    }
    samples += b.n;
    opts.onProgress?.(samples, data.size);
  }
  const perClass: ClassAccuracy[] = perClassCount.map((count, label) => ({
    label,
    ...(data.classNames?.[label] !== undefined ? { name: data.classNames[label] } : {}),
    count,
    correct: perClassCorrect[label]!,
    accuracy: count ? perClassCorrect[label]! / count : 0,
  }));
  return {
    dataset: data.name,
    samples,
    top1: samples ? top1 / samples : 0,
    topK: samples ? topK / samples : 0,
    k,
    top1Correct: top1,
    topKCorrect: topK,
    numClasses: data.numClasses,
    perClass,
  };
}
