/**
 * `sculpt validate` as a library call: accuracy, latency and size of a model, and with a
 * baseline the same for the original, the deltas, CE/SE (METHODS.md) and the measured
 * speed-up, judged against optional gates. The result is plain JSON (`ValidationReport`,
 * documented in docs/diff-schema.md) that `sculpt diff --validation` reads back.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { computeCost } from '../analysis/cost.js';
import type { Dataset } from '../data/dataset.js';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { readModel } from '../serde/read.js';
import { Rng } from '../util/rng.js';
import type { AccuracyResult, ModelIo } from './accuracy.js';
import { evaluateAccuracy, modelIo } from './accuracy.js';
import type { GateLimits, GateResult } from './gates.js';
import { evaluateGates, gateNeeds, checkGateLimits } from './gates.js';
import type { LatencyOptions, LatencyStats } from '../runtime/latency.js';
import { measureLatency } from '../runtime/latency.js';
import type { HostTensor, Provider, Session } from '../runtime/session.js';
import { openSession, runSession } from '../runtime/session.js';

/** Version of the ValidationReport layout; bumped on any incompatible change. */
export const VALIDATION_SCHEMA_VERSION = 1;

export interface LatencyResult {
  /** Median etc. at batch 1. */
  batch1: LatencyStats;
  /** The --batch size, and its statistics (null when it is 1 or the model's batch is fixed). */
  batchSize: number;
  batch: LatencyStats | null;
}

export interface ModelMeasurement {
  /** File the model was read from (null for an in-memory model). */
  path: string | null;
  /** Bytes on disk: the model file plus its external data files (null in memory). */
  fileBytes: number | null;
  params: number;
  /** At batch 1. */
  macs: number;
  /** 2 × MACs (METHODS.md). */
  flops: number;
  weightBytes: number;
  /** False when MACs/FLOPs are lower bounds (dims left symbolic: give inputShapes or data). */
  costExact: boolean;
  /** The symbolic or unknown ('?') dims the cost depends on; empty when exact. */
  unknownDims: string[];
  input: string;
  output: string;
  accuracy: AccuracyResult | null;
  latency: LatencyResult | null;
}

/** A quantity before (baseline) and after (model): after - before, and after / before. */
export interface Delta {
  before: number;
  after: number;
  delta: number;
  ratio: number | null;
}

export interface Comparison {
  /** Top-1 and top-k of model minus baseline, percentage points (null without data). */
  top1DeltaPoints: number | null;
  topKDeltaPoints: number | null;
  params: Delta;
  macs: Delta;
  flops: Delta;
  fileBytes: Delta | null;
  /** CE = (Acc/Acc_b) / (FLOPs/FLOPs_b), top-1 accuracy. Null without data. */
  ce: number | null;
  /** SE = (Acc/Acc_b) / (Params/Params_b). */
  se: number | null;
  /** False when either FLOPs count is a lower bound: the FLOPs/MACs ratios and CE are then null. */
  costExact: boolean;
  /** Baseline median latency / model median latency (null without latency). */
  speedup: { batch1: number | null; batch: number | null };
}

export interface ValidationReport {
  schemaVersion: number;
  kind: 'sculpt-validation';
  /** Provider asked for and provider used (cuda falls back to cpu unless --strict). */
  requestedProvider: Provider;
  provider: Provider;
  threads: number;
  model: ModelMeasurement;
  baseline: ModelMeasurement | null;
  comparison: Comparison | null;
  gates: GateResult[];
  /** False when any gate failed. */
  passed: boolean;
}

export interface ValidateOptions {
  /** Test data; accuracy is measured only when given. */
  data?: Dataset;
  /** The original model (path or IR). */
  baseline?: string | Model;
  provider?: Provider;
  strict?: boolean;
  /** Intra-op threads. Default 1. */
  threads?: number;
  /** Batch for accuracy and for the second latency point. Default 32. */
  batch?: number;
  /** Measure latency (also forced by a min-speedup gate). */
  latency?: boolean;
  latencyOptions?: LatencyOptions;
  gates?: GateLimits;
  /** Input/output names when the model has several. */
  io?: { input?: string; output?: string };
  /** Seed of the random latency input. Default 0. */
  seed?: number;
  /**
   * Sizes of graph inputs with symbolic dims (`--input-shape`), for cost and latency; names
   * a model lacks are ignored (the baseline and the model may differ). Without them the
   * sample shape of `data` sizes the fed input (batch 1).
   */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  warn?: (msg: string) => void;
  onProgress?: (label: string, done: number, total: number) => void;
}

/** Bytes on disk of a model file and the distinct external data files it names. */
export function modelFileBytes(path: string, model: Model): number {
  let bytes = statSync(path).size;
  const seen = new Set<string>();
  const base = model.baseDir ?? dirname(resolve(path));
  for (const v of model.graph.initializers) {
    const loc = v.initializer?.external?.location;
    if (!loc || seen.has(loc)) continue;
    seen.add(loc);
    try {
      bytes += statSync(resolve(base, loc)).size;
    } catch {
      /* reported by the reader already */
    }
  }
  return bytes;
}

function randomFeed(
  model: Model,
  io: ModelIo,
  batch: number,
  data: Dataset | undefined,
  rng: Rng,
  inputShapes?: Readonly<Record<string, readonly number[]>>,
): HostTensor {
  const given = inputShapes?.[io.input];
  const dims = io.inputShape.map((d, i) => {
    if (i === 0) return batch;
    if (typeof d === 'number') return d;
    if (given?.[i] !== undefined) return given[i]!;
    const fromData = data?.inputShape[i - 1];
    if (fromData !== undefined) return fromData;
    throw new CompilerError('INVALID_OPTION', `input "${io.input}" has a symbolic dimension ${i} ("${d ?? '?'}"); latency needs a concrete shape`, {
      where: io.input,
      hint: 'give --input-shape or --data so the sample shape is known, or export with a static shape',
    });
  });
  const n = dims.reduce((a, b) => a * b, 1);
  const elem = model.graph.inputs.find((v) => v.name === io.input)?.elemType ?? DataType.FLOAT;
  if (elem === DataType.FLOAT) return { data: rng.uniformArray(n), dims };
  if (elem === DataType.UINT8) return { data: Uint8Array.from({ length: n }, () => rng.int(256)), dims };
  throw new CompilerError('UNSUPPORTED_DATA_TYPE', `input "${io.input}" is of data type ${elem}; latency feeds float32 or uint8 inputs`, { where: io.input });
}

interface Subject {
  model: Model;
  path: string | null;
  session: Session;
  io: ModelIo;
  provider: Provider;
}

async function open(src: string | Model, opts: ValidateOptions): Promise<Subject> {
  const model = typeof src === 'string' ? readModel(src) : src;
  const io = modelIo(model, opts.io ?? {});
  // onnxruntime reads external data relative to the file; hand it the bytes it would read.
  const bytes = typeof src === 'string' && !hasExternalData(model) ? readFileSync(src) : model;
  const { session, provider } = await openSession(bytes, {
    threads: opts.threads ?? 1,
    provider: opts.provider ?? 'cpu',
    strict: opts.strict,
    warn: opts.warn,
  });
  return { model, path: typeof src === 'string' ? src : null, session, io, provider };
}

function hasExternalData(m: Model): boolean {
  return m.graph.initializers.some((v) => v.initializer?.external !== undefined);
}

/** The input shapes `m` is costed at: the given ones it has, else batch 1 × the data's sample shape for the fed input. */
function costShapes(m: Model, io: ModelIo, opts: ValidateOptions): Record<string, number[]> {
  const names = new Set(m.graph.inputs.filter((v) => !v.initializer).map((v) => v.name));
  const out: Record<string, number[]> = {};
  for (const [k, s] of Object.entries(opts.inputShapes ?? {})) if (names.has(k)) out[k] = [...s];
  const sample = opts.data?.inputShape;
  if (!out[io.input] && sample && io.inputShape.length === sample.length + 1) {
    const dims = [1, ...sample];
    // Only where it fits what the model declares (a misfit is reported by the accuracy check).
    if (io.inputShape.every((d, i) => typeof d !== 'number' || d === dims[i] || i === 0))
      out[io.input] = io.inputShape.map((d, i) => (typeof d === 'number' ? d : dims[i]!));
  }
  return out;
}

function staticCost(
  m: Model,
  io: ModelIo,
  opts: ValidateOptions,
): { params: number; macs: number; flops: number; weightBytes: number; costExact: boolean; unknownDims: string[] } {
  const r = computeCost(m, { batch: 1, inputShapes: costShapes(m, io, opts) });
  const c = r.total;
  return {
    params: Number(c.params),
    macs: Number(c.macs),
    flops: Number(c.flops),
    weightBytes: Number(c.weightBytes),
    costExact: r.exact,
    unknownDims: r.unknownDims,
  };
}

async function latencyOf(s: Subject, opts: ValidateOptions, batch: number): Promise<LatencyResult> {
  const rng = new Rng(opts.seed ?? 0);
  const one = randomFeed(s.model, s.io, 1, opts.data, rng, opts.inputShapes);
  const fixed = typeof s.io.inputShape[0] === 'number' ? (s.io.inputShape[0] as number) : undefined;
  if (fixed !== undefined && fixed !== 1) {
    throw new CompilerError('PRECONDITION_FAILED', `input "${s.io.input}" has a fixed batch of ${fixed}; batch-1 latency cannot be measured`, {
      where: s.io.input,
      hint: 'export the model with batch 1 or a free batch dimension',
    });
  }
  const time = async (feed: HostTensor) => measureLatency(() => runSession(s.session, { [s.io.input]: feed }, [s.io.output]), opts.latencyOptions);
  const batch1 = await time(one);
  let stats: LatencyStats | null = null;
  if (batch > 1 && fixed === undefined) stats = await time(randomFeed(s.model, s.io, batch, opts.data, rng, opts.inputShapes));
  return { batch1, batchSize: batch, batch: stats };
}

async function measure(s: Subject, opts: ValidateOptions, withLatency: boolean, label: string): Promise<ModelMeasurement> {
  const cost = staticCost(s.model, s.io, opts);
  const batch = Math.max(1, opts.batch ?? 32);
  const accuracy = opts.data
    ? await evaluateAccuracy(s.session, s.model, opts.data, { batch, io: s.io, onProgress: (d, t) => opts.onProgress?.(`accuracy ${label}`, d, t) })
    : null;
  const latency = withLatency ? await latencyOf(s, opts, batch) : null;
  return {
    path: s.path,
    fileBytes: s.path ? modelFileBytes(s.path, s.model) : null,
    ...cost,
    input: s.io.input,
    output: s.io.output,
    accuracy,
    latency,
  };
}

function delta(before: number, after: number): Delta {
  return { before, after, delta: after - before, ratio: before ? after / before : null };
}

/** The comparison block: deltas, CE, SE and speed-ups. */
export function compareMeasurements(m: ModelMeasurement, b: ModelMeasurement): Comparison {
  const acc = m.accuracy && b.accuracy ? { a: m.accuracy, b: b.accuracy } : null;
  const accRatio = acc && acc.b.top1 > 0 ? acc.a.top1 / acc.b.top1 : null;
  // A ratio of lower bounds means nothing: no FLOPs ratio (nor CE) unless both are exact.
  const costExact = m.costExact !== false && b.costExact !== false;
  const flopsRatio = b.flops && costExact ? m.flops / b.flops : null;
  const paramsRatio = b.params ? m.params / b.params : null;
  const speed = (x: LatencyStats | null | undefined, y: LatencyStats | null | undefined) => (x && y && x.medianMs > 0 ? y.medianMs / x.medianMs : null);
  return {
    top1DeltaPoints: acc ? (acc.a.top1 - acc.b.top1) * 100 : null,
    topKDeltaPoints: acc ? (acc.a.topK - acc.b.topK) * 100 : null,
    params: delta(b.params, m.params),
    macs: costExact ? delta(b.macs, m.macs) : { ...delta(b.macs, m.macs), ratio: null },
    flops: costExact ? delta(b.flops, m.flops) : { ...delta(b.flops, m.flops), ratio: null },
    costExact,
    fileBytes: m.fileBytes !== null && b.fileBytes !== null ? delta(b.fileBytes, m.fileBytes) : null,
    ce: accRatio !== null && flopsRatio ? accRatio / flopsRatio : null,
    se: accRatio !== null && paramsRatio ? accRatio / paramsRatio : null,
    speedup: { batch1: speed(m.latency?.batch1, b.latency?.batch1), batch: speed(m.latency?.batch, b.latency?.batch) },
  };
}

/** Checks that each gate has what it measures (no model needed). @throws INVALID_OPTION */
export function checkGateOptions(gates: GateLimits, has: { baseline: boolean; data: boolean }): void {
  checkGateLimits(gates);
  const needs = gateNeeds(gates);
  if (needs.baseline && !has.baseline) {
    throw new CompilerError('INVALID_OPTION', `${gates.maxDrop !== undefined ? '--max-drop' : '--min-speedup'} compares against the original: give --baseline`);
  }
  if (needs.accuracy && !has.data) throw new CompilerError('INVALID_OPTION', '--max-drop needs test data: give --data');
}

/**
 * Validates `model` (a path or IR): see the module header.
 * @throws INVALID_OPTION / PRECONDITION_FAILED for gates without what they need;
 *   FILE_* / PROTOBUF_* reading models; DATA_SHAPE_MISMATCH; RUNTIME_FAILED.
 */
export async function validateModel(model: string | Model, opts: ValidateOptions = {}): Promise<ValidationReport> {
  const gates = opts.gates ?? {};
  checkGateOptions(gates, { baseline: opts.baseline !== undefined, data: Boolean(opts.data) });
  const needs = gateNeeds(gates);
  const withLatency = Boolean(opts.latency) || needs.latency;
  const subjects: Subject[] = [];
  try {
    const s = await open(model, opts);
    subjects.push(s);
    const b = opts.baseline !== undefined ? await open(opts.baseline, { ...opts, warn: () => {} }) : null;
    if (b) subjects.push(b);
    const m = await measure(s, opts, withLatency, 'model');
    const bm = b ? await measure(b, opts, withLatency, 'baseline') : null;
    const comparison = bm ? compareMeasurements(m, bm) : null;
    const results = evaluateGates(gates, {
      top1: m.accuracy?.top1,
      baselineTop1: bm?.accuracy?.top1,
      speedup: comparison?.speedup.batch1 ?? undefined,
      params: m.params,
    });
    return {
      schemaVersion: VALIDATION_SCHEMA_VERSION,
      kind: 'sculpt-validation',
      requestedProvider: opts.provider ?? 'cpu',
      provider: s.provider,
      threads: opts.threads ?? 1,
      model: m,
      baseline: bm,
      comparison,
      gates: results,
      passed: results.every((r) => r.passed),
    };
  } finally {
    for (const s of subjects) await s.session.release();
  }
}

/**
 * Reads a ValidationReport written by `sculpt validate --json`.
 * @throws FILE_NOT_FOUND, REPORT_INVALID (not JSON, wrong kind or a newer schemaVersion).
 */
export function readValidationReport(path: string): ValidationReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CompilerError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_READ_FAILED', `cannot read ${path}`, { where: path, cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CompilerError('REPORT_INVALID', `${path} is not JSON: ${(e as Error).message}`, {
      where: path,
      hint: 'write it with `sculpt validate ... --json > v.json`',
    });
  }
  const r = v as Partial<ValidationReport>;
  if (!r || typeof r !== 'object' || r.kind !== 'sculpt-validation' || typeof r.schemaVersion !== 'number' || !r.model) {
    throw new CompilerError('REPORT_INVALID', `${path} is not a sculpt validation report (kind "sculpt-validation")`, {
      where: path,
      hint: 'write it with `sculpt validate ... --json > v.json`',
    });
  }
  if (r.schemaVersion > VALIDATION_SCHEMA_VERSION) {
    throw new CompilerError('REPORT_INVALID', `${path} has schemaVersion ${r.schemaVersion}; this sculpt reads up to ${VALIDATION_SCHEMA_VERSION}`, {
      where: path,
      hint: 'upgrade sculpt',
    });
  }
  return r as ValidationReport;
}
