/**
 * onnxruntime-node, the judge of every transformation (the runtime layer): sessions, runs, and reading out
 * intermediate values (which onnxruntime returns only when they are graph outputs, so a
 * copy of the model gets them added as outputs with a name-only ValueInfo).
 */
import { cloneModel } from '../serde/clone.js';
import * as ort from 'onnxruntime-node';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { encodeModel } from '../serde/write.js';

export type Provider = 'cpu' | 'cuda';

export interface SessionOptions {
  /** Intra-op threads (1 for benchmarks on these machines; DESIGN.md). */
  threads?: number;
  provider?: Provider;
  /** With cuda: fail instead of falling back to cpu. */
  strict?: boolean;
  /** Where to say that cuda fell back. */
  warn?: (msg: string) => void;
}

/** An open onnxruntime session (callers need not import onnxruntime-node themselves). */
export type Session = ort.InferenceSession;

export interface OpenSession {
  session: Session;
  provider: Provider;
}

export interface HostTensor {
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Float64Array;
  dims: number[];
  /** Set for bool tensors (held as Uint8Array). */
  type?: 'bool';
}

/** Creates a session from a model or encoded bytes. CUDA falls back to cpu, loudly. */
export async function openSession(model: Model | Uint8Array, opts: SessionOptions = {}): Promise<OpenSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  if (opts.provider === 'cuda') {
    try {
      const session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cuda'] });
      return { session, provider: 'cuda' };
    } catch (e) {
      if (opts.strict)
        throw new CompilerError('RUNTIME_FAILED', `the CUDA execution provider could not be loaded: ${(e as Error).message}`, {
          cause: e,
          hint: 'install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 (README), or drop --strict',
        });
      (opts.warn ?? ((m) => process.stderr.write(`${m}\n`)))(
        `warning: CUDA execution provider unavailable (${firstLine((e as Error).message)}); falling back to CPU`,
      );
    }
  }
  try {
    const session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cpu'] });
    return { session, provider: 'cpu' };
  } catch (e) {
    throw new CompilerError('RUNTIME_FAILED', `onnxruntime refused the model: ${firstLine((e as Error).message)}`, {
      cause: e,
      hint: 'run `sculpt inspect` on it; the model may use an op or opset onnxruntime does not support',
    });
  }
}

/** onnxruntime's version ('?' when it does not say): part of any cache key of measured timings. */
export function runtimeVersion(): string {
  return (ort as unknown as { env?: { versions?: { common?: string } } }).env?.versions?.common ?? '?';
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 300);
}

export function toOrt(t: HostTensor): ort.Tensor {
  if (t.data instanceof Float32Array) return new ort.Tensor('float32', t.data, t.dims);
  if (t.data instanceof BigInt64Array) return new ort.Tensor('int64', t.data, t.dims);
  if (t.data instanceof Int32Array) return new ort.Tensor('int32', t.data, t.dims);
  if (t.data instanceof Float64Array) return new ort.Tensor('float64', t.data, t.dims);
  return new ort.Tensor(t.type === 'bool' ? 'bool' : 'uint8', t.data, t.dims);
}

/** Runs a session; returns the requested outputs (all by default) as host tensors. */
export async function runSession(s: ort.InferenceSession, feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
  const f: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(v);
  let res: ort.InferenceSession.ReturnType;
  try {
    res = outputs ? await s.run(f, outputs as string[]) : await s.run(f);
  } catch (e) {
    throw new CompilerError('RUNTIME_FAILED', `onnxruntime failed to run the model: ${firstLine((e as Error).message)}`, { cause: e });
  }
  const out: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(res)) out[k] = { data: v.data as HostTensor['data'], dims: [...v.dims] };
  return out;
}

/**
 * A copy of `model` whose graph outputs also include the named values (intermediate
 * values become readable). Unknown names are an error.
 */
export function withOutputs(model: Model, names: readonly string[]): Model {
  const copy = cloneModel(model);
  const g = copy.graph;
  const byName = new Map<string, import('../ir/core.js').Value>();
  for (const v of g.inputs) byName.set(v.name, v);
  for (const v of g.initializers) byName.set(v.name, v);
  for (const n of g.nodes) for (const o of n.outputs) if (o) byName.set(o.name, o);
  for (const name of names) {
    const v = byName.get(name);
    if (!v) throw new CompilerError('MISSING_VALUE', `no value named "${name}" in the main graph`, { where: name });
    if (!g.outputs.includes(v)) g.addOutput(v);
  }
  return copy;
}

/** One-shot: run `model` on feeds and return named values (outputs or intermediates). */
export async function runModel(
  model: Model,
  feeds: Record<string, HostTensor>,
  names?: readonly string[],
  opts: SessionOptions = {},
): Promise<Record<string, HostTensor>> {
  const m = names ? withOutputs(model, names) : model;
  const { session } = await openSession(m, opts);
  try {
    return await runSession(session, feeds, names);
  } finally {
    await session.release();
  }
}

/** Largest absolute difference between two float tensors, and the largest |value| of `a`. */
export function maxAbsDiff(a: HostTensor, b: HostTensor): { maxAbs: number; scale: number } {
  if (a.data.length !== b.data.length) {
    throw new CompilerError('NUMERIC_MISMATCH', `tensors differ in size: ${a.data.length} vs ${b.data.length} ([${a.dims}] vs [${b.dims}])`);
  }
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = Number(a.data[i]);
    const y = Number(b.data[i]);
    const d = Math.abs(x - y);
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (Math.abs(x) > scale) scale = Math.abs(x);
  }
  return { maxAbs, scale };
}
