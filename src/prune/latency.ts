/**
 * Latency-aware pruning (`--latency-target f`): keep the fraction f of the latency measured
 * in onnxruntime (given provider, intra-op threads, batch), not of the FLOPs.
 *
 * 1. Baseline: the whole model's latency (median of a stable run, `measureLatency`).
 * 2. Per-layer table: every Conv / Gemm / 2-D MatMul with a constant weight is rebuilt as a
 *    one-node model (same attributes, input shape and group count) and timed at its full
 *    width and at 3/4, 1/2 and 1/4 of its input and of its output channels (rounded to what
 *    the conv's groups allow). A layer's time at widths (ci, co) is predicted as
 *    `t(ci, Co) · t(Ci, co) / t(Ci, Co)`, each curve interpolated linearly; a depthwise conv
 *    has one curve (its input and output widths move together). The table is cached on
 *    disk per model hash, provider, threads, batch, clock and machine (CPU model, flags,
 *    onnxruntime version) in `$SCULPT_CACHE_DIR`, else `$XDG_CACHE_HOME/sculpt`, else
 *    `~/.cache/sculpt`, written atomically; a damaged cache file is measured again.
 * 3. Prediction: the sum of the layers' times, scaled so that the unpruned model predicts
 *    the measured baseline; the rest of the baseline (activations, pooling, copies) scales
 *    with the kept fraction of the other nodes' output elements.
 * 4. The plan fits the predicted latency to f of the baseline (plan.ts `fit`: bisection,
 *    then refinement to within 1%), the pruned model is built on a copy and measured against
 *    the original in interleaved rounds; when the measured ratio misses f by more than 5%
 *    the goal is moved to where the measurements put f (linear interpolation through the
 *    attempts and the unpruned model) and the plan refitted (at most 4 attempts).
 *    The report gives predicted and measured latency of the chosen plan.
 *
 * Measurements use CPU time of this process by default (robust to other load on the
 * machine when threads = 1); `clock: 'wall'` for wall time (use it with threads > 1).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis, ChannelSlot } from '../analysis/channel-groups.js';
import { analyzeChannelGroups, constantTensor } from '../analysis/channel-groups.js';
import type { CostReport } from '../analysis/cost.js';
import type { ShapeLookup } from '../analysis/shape-table.js';
import { attrInt } from '../ir/attribute.js';
import { GraphBuilder } from '../ir/builder.js';
import type { Model, Node, Value } from '../ir/core.js';
import { decodeModel } from '../serde/read.js';
import { atomicWrite, encodeModel } from '../serde/write.js';
import { Rng } from '../util/rng.js';
import type { LatencyOptions } from '../runtime/latency.js';
import { measureLatency } from '../runtime/latency.js';
import type { Provider } from '../runtime/session.js';
import { openSession, runSession, runtimeVersion } from '../runtime/session.js';
import { seededInputs } from './verify.js';
import { applyChannelPruning } from './apply.js';
import { CostModel, planPruning } from './plan.js';
import type { LatencyPredictor, PlanOptions, PrunePlan } from './plan.js';

export type LatencyClock = 'cpu' | 'wall';

export interface LatencyRunOptions {
  provider?: Provider;
  /** Intra-op threads (default 1). */
  threads?: number;
  /** Value of symbolic dims (default 1). */
  batch?: number;
  /** Default 'cpu' (process CPU time). */
  clock?: LatencyClock;
  /** Cache folder, or false for none. Default `$SCULPT_CACHE_DIR` / `$XDG_CACHE_HOME/sculpt` / `~/.cache/sculpt`. */
  cacheDir?: string | false;
  /** Progress messages (stderr in the CLI). */
  onProgress?: (msg: string) => void;
  /** Interleaved rounds of the final check (default 3). */
  rounds?: number;
}

/** What the report says about a latency target. */
export interface LatencyReport {
  target: number;
  /** The provider the timings came from (cpu when cuda was asked for but fell back). */
  provider: string;
  threads: number;
  batch: number;
  clock: LatencyClock;
  /** Measured latency of the original and the pruned model (min over interleaved rounds of stable medians), ms. */
  baselineMs: number;
  measuredMs: number;
  measuredRatio: number;
  /** What the (corrected) table predicted for the chosen plan. */
  predictedMs: number;
  predictedRatio: number;
  /** Layers profiled; layer timings looked up, and how many came from the cache or an identical layer. */
  layers: number;
  timings: number;
  cached: number;
  cacheFile?: string;
  /** Plans tried (1 + corrections). */
  attempts: { planned: number; predictedRatio: number; measuredRatio: number }[];
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function clockOf(c: LatencyClock): () => number {
  return c === 'cpu' ? cpuMs : () => performance.now();
}

/** Measures one encoded model: median of a stable run, ms. @throws RUNTIME_FAILED */
export async function measureModelMs(bytes: Uint8Array, run: LatencyRunOptions, lat: LatencyOptions = {}): Promise<number> {
  const { session } = await openSession(bytes, { threads: run.threads ?? 1, provider: run.provider });
  try {
    const feeds = seededInputs(decodeModel(bytes), 3, run.batch ?? 1);
    const r = await measureLatency(() => runSession(session, feeds), {
      warmup: 3,
      minRuns: 10,
      maxRuns: 200,
      window: 8,
      tolerance: 0.01,
      maxTimeMs: 20_000,
      ...lat,
      clock: clockOf(run.clock ?? 'cpu'),
    });
    return r.medianMs;
  } finally {
    await session.release();
  }
}

/** Min over `rounds` interleaved stable medians of two models (drift hits both alike). Returns [a ms, b ms]. */
export async function compareModelsMs(a: Uint8Array, b: Uint8Array, run: LatencyRunOptions, rounds = run.rounds ?? 3): Promise<[number, number]> {
  let x = Infinity,
    y = Infinity;
  for (let i = 0; i < rounds; i++) {
    x = Math.min(x, await measureModelMs(a, run));
    y = Math.min(y, await measureModelMs(b, run));
  }
  return [x, y];
}

// ---------------------------------------------------------------------------------------
// The per-layer table

interface LayerSpec {
  node: Node;
  op: 'Conv' | 'Gemm' | 'MatMul';
  xShape: number[];
  wShape: number[];
  /** Channel axis of X and Y. */
  axis: number;
  groups: number;
  depthwise: boolean;
  xSlot?: ChannelSlot;
  ySlot?: ChannelSlot;
  ci: number;
  co: number;
}

interface Curve {
  widths: number[];
  ms: number[];
}

interface Profile {
  spec: LayerSpec;
  base: number;
  inCurve: Curve;
  outCurve?: Curve;
}

function staticShape(v: Value | null | undefined, batch: number, shapes: ShapeLookup): number[] | undefined {
  const s = v ? shapes.shape(v) : undefined;
  if (!s) return undefined;
  const out: number[] = [];
  for (const [i, d] of s.entries()) {
    if (typeof d === 'number') out.push(d);
    else if (i === 0) out.push(batch);
    else return undefined; // only the batch may be symbolic
  }
  return out;
}

function layerSpecs(a: ChannelAnalysis, batch: number): LayerSpec[] {
  const specs: LayerSpec[] = [];
  for (const n of a.model.graph.nodes) {
    if (n.opType !== 'Conv' && n.opType !== 'Gemm' && n.opType !== 'MatMul') continue;
    const x = n.inputs[0];
    const w = n.inputs[1];
    const y = n.outputs[0];
    if (!x || !w || !y || !constantTensor(w)) continue;
    const xShape = staticShape(x, batch, a.shapes);
    const wShape = constantTensor(w)!.shape.map(Number);
    if (!xShape) continue;
    if (n.opType === 'Conv') {
      if (xShape.length < 3 || wShape.length !== xShape.length) continue;
      const g = n.attrInt('group', 1);
      const ci = xShape[1]!,
        co = wShape[0]!;
      specs.push({
        node: n,
        op: 'Conv',
        xShape,
        wShape,
        axis: 1,
        groups: g,
        depthwise: g > 1 && wShape[1] === 1,
        xSlot: a.slotOf(x, 1),
        ySlot: a.slotOf(y, 1),
        ci,
        co,
      });
    } else if (n.opType === 'Gemm') {
      if (xShape.length !== 2 || wShape.length !== 2 || n.attrInt('transA', 0)) continue;
      const transB = n.attrInt('transB', 0) !== 0;
      specs.push({
        node: n,
        op: 'Gemm',
        xShape,
        wShape,
        axis: 1,
        groups: 1,
        depthwise: false,
        xSlot: a.slotOf(x, 1),
        ySlot: a.slotOf(y, 1),
        ci: xShape[1]!,
        co: transB ? wShape[0]! : wShape[1]!,
      });
    } else {
      if (wShape.length !== 2 || xShape.length < 2) continue;
      const r = xShape.length - 1;
      specs.push({
        node: n,
        op: 'MatMul',
        xShape,
        wShape,
        axis: r,
        groups: 1,
        depthwise: false,
        xSlot: a.slotOf(x, r),
        ySlot: a.slotOf(y, r),
        ci: xShape[r]!,
        co: wShape[1]!,
      });
    }
  }
  return specs;
}

/** Widths at which to time a side: full, 3/4, 1/2, 1/4, multiples of `step` (≥ step), deduplicated, descending. */
function sampleWidths(full: number, step: number): number[] {
  const out = new Set<number>([full]);
  for (const f of [0.75, 0.5, 0.25]) out.add(Math.max(step, Math.round((full * f) / step) * step));
  return [...out].filter((w) => w <= full).sort((p, q) => q - p);
}

/** A one-node model of `s` at input width ci and output width co. */
function layerModel(s: LayerSpec, opset: number, ci: number, co: number, seed: number): Uint8Array {
  const b = GraphBuilder.newModel({ opset });
  const rng = new Rng(seed);
  const xs = [...s.xShape];
  xs[s.axis] = ci;
  const x = b.input('x', xs);
  let y: Value;
  const rand = (dims: number[]) =>
    rng.uniformArray(
      dims.reduce((p, d) => p * d, 1),
      -0.1,
      0.1,
    );
  if (s.op === 'Conv') {
    const groups = s.depthwise ? ci : s.groups;
    const wd = [co, ci / groups, ...s.wShape.slice(2)];
    const ins = [x, b.floats('w', wd, rand(wd))];
    if (s.node.inputs[2]) ins.push(b.floats('b', [co], rand([co])));
    const attrs = s.node.attributes.filter((t) => t.name !== 'group');
    if (groups !== 1) attrs.push(attrInt('group', groups));
    y = b.op('Conv', ins, attrs, 'layer');
  } else if (s.op === 'Gemm') {
    const transB = s.node.attrInt('transB', 0) !== 0;
    const wd = transB ? [co, ci] : [ci, co];
    const ins = [x, b.floats('w', wd, rand(wd))];
    if (s.node.inputs[2]) ins.push(b.floats('b', [co], rand([co])));
    y = b.op('Gemm', ins, s.node.attributes, 'layer');
  } else {
    y = b.op('MatMul', [x, b.floats('w', [ci, co], rand([ci, co]))], [], 'layer');
  }
  b.output(y, 'y');
  return encodeModel(b.model);
}

function interp(c: Curve, w: number): number {
  const { widths, ms } = c; // descending widths
  if (w >= widths[0]!) return ms[0]! * (w / widths[0]!);
  for (let i = 1; i < widths.length; i++) {
    if (w >= widths[i]!) {
      const t = (w - widths[i]!) / (widths[i - 1]! - widths[i]!);
      return ms[i]! + t * (ms[i - 1]! - ms[i]!);
    }
  }
  const last = widths.length - 1;
  return ms[last]! * (w / widths[last]!);
}

interface CacheFile {
  version: 1;
  key: Record<string, string | number>;
  entries: Record<string, number>;
}

function machineId(): string {
  let flags = '';
  try {
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '';
  } catch {
    /* not Linux */
  }
  const ortVersion = runtimeVersion();
  return createHash('sha256')
    .update(`${cpus()[0]?.model ?? '?'}|${cpus().length}|${flags}|ort ${ortVersion}|${process.platform}-${process.arch}`)
    .digest('hex')
    .slice(0, 16);
}

/** The default cache folder: `$SCULPT_CACHE_DIR`, `$XDG_CACHE_HOME/sculpt`, or `~/.cache/sculpt`. */
export function defaultCacheDir(): string {
  return process.env.SCULPT_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sculpt');
}

class TimingCache {
  readonly entries: Record<string, number> = {};
  readonly file?: string;
  hits = 0;
  lookups = 0;
  #dirty = false;
  constructor(
    readonly key: Record<string, string | number>,
    dir: string | false,
  ) {
    if (dir === false) return;
    const id = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 24);
    this.file = join(dir, 'latency', `${id}.json`);
    try {
      const j = JSON.parse(readFileSync(this.file, 'utf8')) as CacheFile;
      if (j.version === 1 && JSON.stringify(j.key) === JSON.stringify(key) && j.entries && typeof j.entries === 'object') {
        for (const [k, v] of Object.entries(j.entries)) if (typeof v === 'number' && Number.isFinite(v) && v > 0) this.entries[k] = v;
      }
    } catch {
      /* absent or damaged: measure again */
    }
  }
  async get(sig: string, measure: () => Promise<number>): Promise<number> {
    this.lookups++;
    const hit = this.entries[sig];
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    const ms = await measure();
    this.entries[sig] = ms;
    this.#dirty = true;
    return ms;
  }
  save(): void {
    if (!this.file || !this.#dirty) return;
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      const body: CacheFile = { version: 1, key: this.key, entries: this.entries };
      atomicWrite(this.file, [new TextEncoder().encode(`${JSON.stringify(body)}\n`)]);
      this.#dirty = false;
    } catch {
      /* a cache that cannot be written is only slower */
    }
  }
}

function signature(s: LayerSpec, ci: number, co: number): string {
  const attrs = JSON.stringify(
    s.node.attributes.filter((t) => t.name !== 'group'),
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Array.from(v) : v),
  );
  return `${s.op}|g${s.depthwise ? 'dw' : s.groups}|x${s.xShape.join('x')}|w${s.wShape.join('x')}|b${s.node.inputs[2] ? 1 : 0}|${attrs}|${ci}|${co}`;
}

/**
 * The provider the timings will really come from: with cuda asked for but not available,
 * onnxruntime falls back to cpu (said once, here), and the timings are cpu timings: they
 * are measured, cached and reported as such, never under the cuda key.
 */
export async function resolveProvider(bytes: Uint8Array, run: LatencyRunOptions): Promise<LatencyRunOptions> {
  if (run.provider !== 'cuda') return run;
  const { session, provider } = await openSession(bytes, { threads: run.threads ?? 1, provider: 'cuda' });
  await session.release();
  return { ...run, provider };
}

/** @throws INVALID_OPTION for threads, batch, clock or provider out of range */
function checkRun(run: LatencyRunOptions): void {
  const int = (name: string, v: number | undefined, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= max))
      throw new CompilerError('INVALID_OPTION', `--${name} must be an integer in [1, ${max}]; got ${v}`);
  };
  int('threads', run.threads, 256);
  int('batch', run.batch, 65536);
  if (run.clock !== undefined && run.clock !== 'cpu' && run.clock !== 'wall')
    throw new CompilerError('INVALID_OPTION', `--latency-clock must be cpu or wall; got ${String(run.clock)}`);
  if (run.provider !== undefined && run.provider !== 'cpu' && run.provider !== 'cuda')
    throw new CompilerError('INVALID_OPTION', `--provider must be cpu or cuda; got ${String(run.provider)}`);
}

/** A latency predictor from measured tables, with what it measured. */
export interface LatencyModel extends LatencyPredictor {
  readonly baselineMs: number;
  readonly baselineCached: boolean;
  readonly layers: number;
  /** Layer timings looked up, and how many of them came from the cache or an identical layer timed before. */
  readonly timings: number;
  readonly cached: number;
  readonly cacheFile?: string;
  /** The provider the timings came from (`resolveProvider`). */
  readonly provider: Provider;
}

/**
 * Measures the baseline and the per-layer table of `model` (analysed; shapes inferred) and
 * returns the predictor. Minutes for a large CNN on one thread the first time; a cache hit
 * measures only the baseline. @throws RUNTIME_FAILED when onnxruntime refuses a layer
 */
export async function buildLatencyModel(model: Model, a: ChannelAnalysis, cost: CostReport, asked: LatencyRunOptions = {}): Promise<LatencyModel> {
  checkRun(asked);
  const bytes = encodeModel(model);
  const run = await resolveProvider(bytes, asked);
  const batch = run.batch ?? 1;
  const clock = run.clock ?? 'cpu';
  const key = {
    model: createHash('sha256').update(bytes).digest('hex'),
    provider: run.provider ?? 'cpu',
    threads: run.threads ?? 1,
    batch,
    clock,
    machine: machineId(),
  };
  const cache = new TimingCache(key, run.cacheDir === undefined ? defaultCacheDir() : run.cacheDir);
  const say = run.onProgress ?? (() => {});
  say('measuring the baseline latency');
  const baselineMs = await cache.get('model', () => measureModelMs(bytes, run));
  const baselineCached = cache.hits === 1;
  const opset = model.opset('') ?? 17;
  const specs = layerSpecs(a, batch);
  const layerLat: LatencyOptions = { warmup: 2, minRuns: 5, maxRuns: 30, window: 4, tolerance: 0.03, maxTimeMs: 1500 };
  const time = async (s: LayerSpec, ci: number, co: number) =>
    cache.get(signature(s, ci, co), async () => {
      const m = layerModel(s, opset, ci, co, 1);
      try {
        return await measureModelMs(m, run, layerLat);
      } catch (e) {
        throw new CompilerError('RUNTIME_FAILED', `could not time layer "${s.node.name}" at ${ci}→${co} channels`, { cause: e, where: s.node.name });
      }
    });
  // A one-node model pays the session's per-run cost (feeds, outputs, dispatch) that the
  // layer does not pay inside the whole model: time a trivial model and subtract it.
  const overheadMs = await cache.get('overhead', async () => {
    const b = GraphBuilder.newModel({ opset });
    b.output(b.op('Relu', [b.input('x', [1, 1])]), 'y');
    return measureModelMs(encodeModel(b.model), run, layerLat);
  });
  // Never below a tenth of the raw time: a layer faster than the overhead is noise-bound.
  const net = (ms: number) => Math.max(ms - overheadMs, 0.1 * ms, 1e-6);
  cache.hits = 0;
  cache.lookups = 0;
  const profiles: Profile[] = [];
  for (const [i, s] of specs.entries()) {
    if (i % 10 === 0) say(`timing layers ${i + 1}-${Math.min(i + 10, specs.length)} of ${specs.length}`);
    const step = s.op === 'Conv' && !s.depthwise ? s.groups : 1;
    const base = net(await time(s, s.ci, s.co));
    const inW = s.xSlot ? sampleWidths(s.ci, step) : [s.ci];
    const inMs: number[] = [];
    for (const w of inW) inMs.push(w === s.ci ? base : net(await time(s, w, s.depthwise ? (w * s.co) / s.ci : s.co)));
    let outCurve: Curve | undefined;
    if (!s.depthwise) {
      const outW = s.ySlot ? sampleWidths(s.co, step) : [s.co];
      const outMs: number[] = [];
      for (const w of outW) outMs.push(w === s.co ? base : net(await time(s, s.ci, w)));
      outCurve = { widths: outW, ms: outMs };
    }
    profiles.push({ spec: s, base, inCurve: { widths: inW, ms: inMs }, outCurve });
    if (i % 10 === 9) cache.save();
  }
  cache.save();

  const cm = new CostModel(a, cost);
  const profiled = new Set(specs.map((s) => s.node));
  const layerSum = profiles.reduce((t, p) => t + p.base, 0);
  const scale = layerSum > baselineMs ? baselineMs / layerSum : 1;
  const otherMs = Math.max(0, baselineMs - layerSum * scale);
  const others: { slot?: ChannelSlot; elems: number }[] = [];
  for (const nc of cost.nodes) {
    if (profiled.has(nc.node)) continue;
    const o = nc.node.outputs[0];
    const shape = o ? staticShape(o, batch, a.shapes) : undefined;
    if (!o || !shape) continue;
    const elems = shape.reduce((p, d) => p * d, 1);
    if (elems > 0) others.push({ slot: a.slotsOf(o).find((sl) => sl.axis === 1), elems });
  }
  const otherTotal = others.reduce((t, x) => t + x.elems, 0);

  const lm: LatencyModel = {
    baselineMs,
    baselineCached,
    layers: profiles.length,
    timings: cache.lookups,
    cached: cache.hits,
    cacheFile: cache.file,
    provider: run.provider ?? 'cpu',
    predict(kept) {
      const f = cm.fractions(kept);
      let t = 0;
      for (const p of profiles) {
        const s = p.spec;
        const ci = s.xSlot ? s.ci * f(s.xSlot) : s.ci;
        const co = s.ySlot ? s.co * f(s.ySlot) : s.co;
        // As ratios to the full-width time, bounded so one noisy sample cannot dominate.
        const rin = Math.min(2, Math.max(0, interp(p.inCurve, ci) / p.base));
        const rout = p.outCurve ? Math.min(2, Math.max(0, interp(p.outCurve, co) / p.base)) : 1;
        t += p.base * rin * rout;
      }
      let of = 1;
      if (otherTotal > 0) {
        let k = 0;
        for (const x of others) k += x.elems * (x.slot ? f(x.slot) : 1);
        of = k / otherTotal;
      }
      return t * scale + otherMs * of;
    },
  };
  return lm;
}

const MAX_ATTEMPTS = 4;

/**
 * Where to aim the prediction next so the measurement lands on `target`. The map from
 * predicted to measured ratio is taken as piecewise linear through every attempt and
 * (1, 1) (the unpruned model): interpolate between the nearest points measured below and
 * above the target, or extrapolate from the two lowest when all are above.
 */
function nextGoal(attempts: readonly { predictedRatio: number; measuredRatio: number }[], target: number): number | undefined {
  const pts = [...attempts.map((x) => [x.predictedRatio, x.measuredRatio] as const), [1, 1] as const].filter(
    ([p, m]) => Number.isFinite(p) && Number.isFinite(m),
  );
  const below = pts.filter(([, m]) => m < target).sort((x, y) => y[1] - x[1])[0];
  const above = pts.filter(([, m]) => m >= target).sort((x, y) => x[1] - y[1])[0];
  let lo: readonly [number, number], hi: readonly [number, number];
  if (below && above) [lo, hi] = [below, above];
  else if (above) {
    const two = pts.sort((x, y) => x[1] - y[1]).slice(0, 2);
    if (two.length < 2) return undefined;
    [lo, hi] = [two[0]!, two[1]!];
  } else return undefined;
  if (hi[1] === lo[1]) return undefined;
  const next = lo[0] + ((target - lo[1]) * (hi[0] - lo[0])) / (hi[1] - lo[1]);
  return Number.isFinite(next) ? Math.min(1, Math.max(0.01, next)) : undefined;
}

/**
 * Plans a pruning to `opts.latencyTarget` of the measured latency: builds (or reads) the
 * table, plans, builds the pruned model on a copy and measures it against the original in
 * interleaved rounds, correcting the goal (at most 4 attempts) while the measured ratio misses
 * the target by more than 5%. Returns the chosen plan (apply it to `model` with the same
 * analysis) and the latency report. `model` is not changed.
 * @throws INVALID_OPTION; RUNTIME_FAILED
 */
export async function planForLatency(
  model: Model,
  a: ChannelAnalysis,
  cost: CostReport,
  opts: PlanOptions & { latencyTarget: number },
  asked: LatencyRunOptions = {},
): Promise<{ plan: PrunePlan; latency: LatencyReport }> {
  const target = opts.latencyTarget;
  if (!(target > 0 && target <= 1)) throw new CompilerError('INVALID_OPTION', `--latency-target is the fraction of the latency kept, in (0, 1]; got ${target}`);
  checkRun(asked);
  const original = encodeModel(model);
  const lm = await buildLatencyModel(model, a, cost, asked);
  // The comparisons below run where the table was measured (cpu after a cuda fallback).
  const run: LatencyRunOptions = { ...asked, provider: lm.provider };
  const say = run.onProgress ?? (() => {});
  const full = (gid: number) => a.groups[gid]!.size;
  const attempts: LatencyReport['attempts'] = [];
  let best: { plan: PrunePlan; predictedMs: number; measuredMs: number; baselineMs: number } | undefined;
  let goal = target;
  const tried = new Set<string>();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const plan = planPruning(model, a, cost, { ...opts, provider: opts.provider ?? asked.provider, latencyModel: lm, latencyTarget: goal });
    const id = JSON.stringify([...plan.keep.entries()].map(([g, k]) => [g, k.length]));
    if (tried.has(id)) break; // the correction did not change the widths
    tried.add(id);
    const predictedMs = lm.predict((gid) => plan.keep.get(gid)?.length ?? full(gid));
    const copy = decodeModel(original, { baseDir: model.baseDir });
    applyChannelPruning(copy, analyzeChannelGroups(copy), plan.keep);
    say(`measuring the pruned model against the original (attempt ${attempt + 1})`);
    const [b, p] = await compareModelsMs(original, encodeModel(copy), run);
    const measuredRatio = p / b;
    const predictedRatio = predictedMs / lm.baselineMs;
    attempts.push({ planned: goal, predictedRatio, measuredRatio });
    if (!best || Math.abs(measuredRatio - target) < Math.abs(best.measuredMs / best.baselineMs - target))
      best = { plan, predictedMs, measuredMs: p, baselineMs: b };
    if (Math.abs(measuredRatio / target - 1) <= 0.05 || !(predictedRatio > 0)) break;
    const next = nextGoal(attempts, target);
    if (next === undefined || Math.abs(next - goal) < 1e-4) break;
    goal = next;
  }
  const b = best!;
  // Remarks about the internal goals of the correction would only confuse: say it once.
  const remarks = b.plan.remarks;
  for (let i = remarks.length - 1; i >= 0; i--) if (remarks[i]!.startsWith('latency target')) remarks.splice(i, 1);
  const measuredRatio = b.measuredMs / b.baselineMs;
  if (Math.abs(measuredRatio / target - 1) > 0.1)
    remarks.push(
      `latency target ${target}: measured ${measuredRatio.toFixed(3)} of the baseline (predicted ${(b.predictedMs / lm.baselineMs).toFixed(3)}); rounding and the kernels' steps did not allow closer`,
    );
  return {
    plan: b.plan,
    latency: {
      target,
      provider: run.provider ?? 'cpu',
      threads: run.threads ?? 1,
      batch: run.batch ?? 1,
      clock: run.clock ?? 'cpu',
      baselineMs: b.baselineMs,
      measuredMs: b.measuredMs,
      measuredRatio,
      predictedMs: b.predictedMs * (b.baselineMs / lm.baselineMs),
      predictedRatio: b.predictedMs / lm.baselineMs,
      layers: lm.layers,
      timings: lm.timings,
      cached: lm.cached,
      cacheFile: lm.cacheFile,
      attempts,
    },
  };
}
