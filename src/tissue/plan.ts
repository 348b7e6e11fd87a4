/**
 * The TissueNet planner: which layers become stacked layers, and of which units
 * (METHODS.md §1). Pure data: the `tissue` pass turns a plan into nodes.
 *
 * Strategies:
 *  - `all`: every replaceable layer, in topological order, except one whose input comes only
 *    from stacked layers (through non-mixing ops: BN, activations, pooling, Add, depthwise
 *    convs, ...): units never talk, so a normal layer must stay between stacked ones (or, with
 *    `shuffle`, a channel shuffle does the mixing and both may be stacked). An input that
 *    adds a normal branch to a stacked one (a residual Add) carries mixing and is fine.
 *  - `r`: the same, restricted to the intermediate stages: conv layers whose output
 *    resolution is neither the first nor the last conv stage's (dense heads stay normal);
 *    in a model without convs, the dense layers but the first and last.
 *  - `select`: exactly the named layers (names or globs); a named layer that cannot take its
 *    spec is an error, and consecutive stacked layers are allowed (a remark says so).
 *
 * Specs: `groups` (m equal units sized from the layer), `units` (one unit = equal units;
 * several = hybrid, each position drawn at random with `seed` among the units that still
 * leave a fillable remainder, or a fixed mix with `*count`). `groups: 'auto'` searches m:
 * the smallest m whose model FLOPs meet `flopsTarget`, with every unit keeping at least
 * `minGroupChannels` channels per group (onnxruntime's NCHWc conv layout needs 16;
 * DESIGN.md).
 */
import { requireExactCost } from '../analysis/cost.js';
import type { CostReport } from '../analysis/cost.js';
import { AnalysisManager, costAnalysis, shapesAnalysis } from '../analysis/manager.js';
import { CompilerError } from '../errors.js';
import type { Model, Node } from '../ir/core.js';
import { Rng } from '../util/rng.js';
import type { LayerCost, PlannedUnit } from './cost.js';
import { denseEquivalentCost, originalLayerCost, stackedLayerCost } from './cost.js';
import type { TissueLayer, TissueScan } from './layers.js';
import { scanTissueLayers, upstreamMixing } from './layers.js';
import type { LayerSpec, TissueActivation, TissueInit, TissueStrategy } from './spec.js';
import { checkActivation, formatUnit, globMatch, MAX_UNIT_KERNEL, TISSUE_INITS, TISSUE_STRATEGIES } from './spec.js';

export interface TissueOptions {
  /** Default `all`; `select` when `select` is given. */
  strategy?: TissueStrategy;
  /** Layer names or globs (strategy `select`). */
  select?: readonly string[];
  /** Layer names or globs never replaced. */
  exclude?: readonly string[];
  /** The spec of every chosen layer (default: 4 equal units, `{ kind: 'groups', groups: 4 }`). */
  spec?: LayerSpec;
  /** Per-layer specs (first matching pattern wins), over `spec`. */
  layerSpecs?: readonly { pattern: string; spec: LayerSpec }[];
  /** Between a unit's two layers (default relu). */
  activation?: TissueActivation;
  /** Slope of leaky-relu (default 0.01). */
  leakyAlpha?: number;
  /**
   * Weights fitted to the original layer (`original`, default: it measured better, before
   * and after training; experiments/tissuenet-results.md) or from scratch (`he`).
   */
  init?: TissueInit;
  /**
   * Channel shuffle between consecutive stacked layers instead of a normal layer. Unset:
   * off, except that `groups: 'auto'` turns it on when the FLOPs target cannot be met
   * without it (a note says so); false forbids it.
   */
  shuffle?: boolean;
  /** Seed of hybrid position draws and random weights (default 0). */
  seed?: number;
  /** Hybrid units with counts: positions shuffled with the seed (`random`, default) or as listed. */
  hybridOrder?: 'random' | 'listed';
  /** `groups: 'auto'`: fraction of the model's FLOPs to keep (default 0.5). */
  flopsTarget?: number;
  /** `groups: 'auto'`: least channels per group in every unit layer (default 16). */
  minGroupChannels?: number;
  /**
   * Write the stacked layers' weights as initializers even where the original layer's
   * weight was a Constant node (default false: the form it came in; src/ir/weights.ts).
   */
  canonicalize?: boolean;
  /**
   * `groups: 'auto'`: accept a plan that misses the FLOPs target (a note names the layers
   * that blocked it) instead of failing with TISSUE_TARGET_NOT_MET.
   */
  bestEffort?: boolean;
}

/** Consecutive equal units: one grouped layer pair of `count` groups. */
export interface UnitRun {
  readonly unit: PlannedUnit;
  readonly count: number;
  /** First position. */
  readonly position: number;
  /** Channel offsets of the run's first unit in the layer input, hidden and output. */
  readonly inOffset: number;
  readonly hiddenOffset: number;
  readonly outOffset: number;
  /** Explicit pads of the first conv (null when auto_pad SAME_* is kept). */
  readonly pads1: readonly number[] | null;
  readonly autoPad1: string;
  /** 'same' pads of the second conv. */
  readonly pads2: readonly number[];
}

export interface LayerPlan {
  readonly layer: TissueLayer;
  /** Unit at each position, in channel order. */
  readonly units: readonly PlannedUnit[];
  readonly runs: readonly UnitRun[];
  /** All positions hold the same unit. */
  readonly equal: boolean;
  /** The second weight layer adds a bias (when the original had one). */
  readonly bias2: boolean;
  /** Channel-shuffle groups applied to this layer's input, when it reads a stacked layer. */
  readonly shuffleGroups?: number;
  /** The spec the layer was planned from, in CLI words. */
  readonly spec: string;
  readonly original: LayerCost;
  readonly stacked: LayerCost;
  readonly denseEquivalent: LayerCost;
}

export interface SkippedLayer {
  readonly name: string;
  readonly reason: string;
}

/** One plan the `groups: 'auto'` search evaluated: the largest m in it, its model MACs, the layers stacked. */
export interface AutoTrial {
  groups: number;
  macs: number;
  ratio: number;
  layers: number;
  shuffle: boolean;
}

/** A layer that kept the `groups: 'auto'` search from its target: its share of the model's MACs and why it stayed as it is. */
export interface BlockingLayer {
  readonly name: string;
  readonly share: number;
  readonly reason: string;
}

export interface AutoChoice {
  /** Fraction of model FLOPs asked for. */
  readonly target: number;
  readonly minGroupChannels: number;
  /** The largest m in the chosen plan (null when no layer could be stacked). */
  readonly groups: number | null;
  /** m chosen per stacked layer. */
  readonly perLayer: Readonly<Record<string, number>>;
  /** Whether the chosen plan meets the target. */
  readonly met: boolean;
  /** Whether the plan uses channel shuffles between consecutive stacked layers. */
  readonly shuffle: boolean;
  /** The chosen plan's MACs as a fraction of the model's. */
  readonly ratio: number;
  /** When the target is not met: the largest layers left normal (or stacked at their largest m), and why. */
  readonly blocking: readonly BlockingLayer[];
  readonly tried: readonly AutoTrial[];
}

export interface TissuePlan {
  readonly strategy: TissueStrategy;
  readonly activation: TissueActivation;
  readonly leakyAlpha: number;
  readonly init: TissueInit;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly canonicalize: boolean;
  readonly layers: readonly LayerPlan[];
  readonly skipped: readonly SkippedLayer[];
  /** Remarks: why something was or was not done. */
  readonly notes: readonly { where: string; message: string }[];
  readonly auto?: AutoChoice;
  /** Model totals at batch 1: before, and after the plan (analytic). */
  readonly before: { macs: number; params: number };
  readonly after: { macs: number; params: number };
}

interface Resolved {
  strategy: TissueStrategy;
  select: readonly string[];
  exclude: readonly string[];
  spec: LayerSpec;
  layerSpecs: readonly { pattern: string; spec: LayerSpec }[];
  activation: TissueActivation;
  leakyAlpha: number;
  init: TissueInit;
  shuffle: boolean;
  /** shuffle was not given: `groups: 'auto'` may turn it on. */
  shuffleAuto: boolean;
  bestEffort: boolean;
  seed: number;
  hybridOrder: 'random' | 'listed';
  flopsTarget: number;
  minGroupChannels: number;
}

function optionError(what: string, msg: string, hint?: string): CompilerError {
  return new CompilerError('INVALID_OPTION', msg, { where: what, hint });
}

function resolveOptions(o: TissueOptions): Resolved {
  const select = o.select ?? [];
  const strategy = o.strategy ?? (select.length ? 'select' : 'all');
  if (!TISSUE_STRATEGIES.includes(strategy)) throw optionError('strategy', `unknown strategy "${strategy}"`, `choose one of: ${TISSUE_STRATEGIES.join(', ')}`);
  if (strategy === 'select' && select.length === 0) throw optionError('select', 'strategy select needs layer names or patterns', 'pass --select conv1,fc*');
  if (strategy !== 'select' && select.length)
    throw optionError(
      'select',
      `--select chooses the layers itself; it cannot be combined with strategy ${strategy}`,
      'drop --strategy, or use --exclude to narrow a strategy',
    );
  const init = o.init ?? 'original';
  if (!TISSUE_INITS.includes(init)) throw optionError('init', `unknown init "${init}"`, `choose one of: ${TISSUE_INITS.join(', ')}`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw optionError('seed', `seed must be a non-negative integer; got ${seed}`);
  const flopsTarget = o.flopsTarget ?? 0.5;
  if (!(flopsTarget > 0 && flopsTarget <= 1))
    throw optionError('flops-target', `the FLOPs target is a fraction of the model's FLOPs in (0, 1]; got ${flopsTarget}`);
  const minGroupChannels = o.minGroupChannels ?? 16;
  if (!Number.isInteger(minGroupChannels) || minGroupChannels < 1)
    throw optionError('min-group-channels', `min-group-channels must be a positive integer; got ${minGroupChannels}`);
  const leakyAlpha = o.leakyAlpha ?? 0.01;
  if (!(leakyAlpha >= 0 && leakyAlpha < 1)) throw optionError('leaky-alpha', `leaky-relu slope must be in [0, 1); got ${leakyAlpha}`);
  const spec = o.spec ?? { kind: 'groups', groups: 4 };
  checkSpec(spec);
  for (const l of o.layerSpecs ?? []) checkSpec(l.spec);
  return {
    strategy,
    select,
    exclude: o.exclude ?? [],
    spec,
    layerSpecs: o.layerSpecs ?? [],
    activation: checkActivation(o.activation ?? 'relu'),
    leakyAlpha,
    init,
    shuffle: o.shuffle ?? false,
    shuffleAuto: o.shuffle === undefined,
    bestEffort: o.bestEffort ?? false,
    seed,
    hybridOrder: o.hybridOrder ?? 'random',
    flopsTarget,
    minGroupChannels,
  };
}

/** Checks options that need no model (conflicts, ranges, unit specs). @throws INVALID_OPTION, TISSUE_SPEC_INVALID */
export function checkTissueOptions(o: TissueOptions): void {
  resolveOptions(o);
}

function checkSpec(s: LayerSpec): void {
  if (s.kind === 'groups') {
    if (s.groups !== 'auto' && (!Number.isInteger(s.groups) || s.groups < 1))
      throw new CompilerError('TISSUE_SPEC_INVALID', `groups must be a positive integer or auto; got ${s.groups}`, { where: 'groups' });
    if (s.hidden !== undefined && (!Number.isInteger(s.hidden) || s.hidden < 1))
      throw new CompilerError('TISSUE_SPEC_INVALID', `hidden must be a positive integer; got ${s.hidden}`, { where: 'hidden' });
    checkKernels(s.k1, s.k2);
  } else if (s.units.length === 0) {
    throw new CompilerError('TISSUE_SPEC_INVALID', 'a unit list needs at least one unit', { where: 'units' });
  } else {
    for (const u of s.units) checkKernels(u.k1, u.k2);
  }
}

function checkKernels(...ks: (number | undefined)[]): void {
  for (const k of ks)
    if (k !== undefined && (!Number.isInteger(k) || k < 1 || k > MAX_UNIT_KERNEL))
      throw new CompilerError('TISSUE_SPEC_INVALID', `kernel sizes must be integers in [1, ${MAX_UNIT_KERNEL}]; got ${k}`, { where: 'kernel' });
}

function specText(s: LayerSpec, groups?: number): string {
  if (s.kind === 'units') return s.units.map(formatUnit).join(',');
  const g = groups ?? s.groups;
  const k = [s.k1 !== undefined ? ` k1=${s.k1}` : '', s.k2 !== undefined ? ` k2=${s.k2}` : ''].join('');
  return `g${g}${s.hidden !== undefined ? `h${s.hidden}` : ''}${k}`;
}

/** Positions of a layer's units, or why the spec does not fit it. */
function resolveUnits(layer: TissueLayer, spec: LayerSpec, groups: number | undefined, o: Resolved): PlannedUnit[] | string {
  const { cIn, cOut } = layer;
  const sd = layer.kernel.length;
  const kernels = (k1: number | undefined, k2: number | undefined): { k1: number[]; k2: number[] } | string => {
    if (layer.kind === 'dense') {
      if ((k1 ?? 1) !== 1 || (k2 ?? 1) !== 1) return `dense units have no kernel; got k1=${k1 ?? 1}, k2=${k2 ?? 1}`;
      return { k1: [], k2: [] };
    }
    return { k1: k1 === undefined ? [...layer.kernel] : new Array<number>(sd).fill(k1), k2: new Array<number>(sd).fill(k2 ?? 1) };
  };
  if (spec.kind === 'groups') {
    const m = groups ?? (spec.groups === 'auto' ? undefined : spec.groups);
    if (m === undefined) return 'no group count';
    if (cIn % m !== 0 || cOut % m !== 0) return `C_in=${cIn} and C_out=${cOut} are not both divisible by m=${m}`;
    const k = kernels(spec.k1, spec.k2);
    if (typeof k === 'string') return k;
    const u: PlannedUnit = { n1: cIn / m, n2: spec.hidden ?? cOut / m, n3: cOut / m, ...k };
    return new Array<PlannedUnit>(m).fill(u);
  }
  const planned: PlannedUnit[] = [];
  for (const s of spec.units) {
    const k = kernels(s.k1, s.k2);
    if (typeof k === 'string') return k;
    planned.push({ n1: s.n1, n2: s.n2, n3: s.n3, ...k });
  }
  const us = spec.units;
  if (us.length === 1 && us[0]!.count === undefined) {
    const u = planned[0]!;
    if (cIn % u.n1 !== 0) return `n1=${u.n1} does not divide C_in=${cIn}`;
    const m = cIn / u.n1;
    if (m * u.n3 !== cOut) return `n1=${u.n1} gives m=${m} units, and m·n3 = ${m * u.n3} ≠ C_out=${cOut}`;
    return new Array<PlannedUnit>(m).fill(u);
  }
  const rng = new Rng(o.seed * 7919 + layer.index + 1);
  if (us.every((s) => s.count !== undefined)) {
    let sIn = 0;
    let sOut = 0;
    const positions: PlannedUnit[] = [];
    us.forEach((s, i) => {
      sIn += s.count! * s.n1;
      sOut += s.count! * s.n3;
      for (let c = 0; c < s.count!; c++) positions.push(planned[i]!);
    });
    if (sIn !== cIn || sOut !== cOut)
      return `the unit mix reads Σ count·n1 = ${sIn} and writes Σ count·n3 = ${sOut} channels; the layer has C_in=${cIn}, C_out=${cOut}`;
    return o.hybridOrder === 'random' ? rng.shuffle(positions) : positions;
  }
  return (
    drawHybrid(cIn, cOut, planned, rng) ??
    `no mix of the units ${us.map(formatUnit).join(', ')} reads exactly C_in=${cIn} and writes exactly C_out=${cOut} channels`
  );
}

/**
 * Draws a unit for each position at random among those that leave a remainder the units can
 * still fill exactly (a reachability table over (channels in, channels out) left). Null when
 * no mix fills the layer. O(C_in · C_out · units).
 */
function drawHybrid(cIn: number, cOut: number, units: readonly PlannedUnit[], rng: Rng): PlannedUnit[] | null {
  const w = cOut + 1;
  const reach = new Uint8Array((cIn + 1) * w);
  reach[0] = 1;
  for (let a = 0; a <= cIn; a++) {
    for (let b = 0; b <= cOut; b++) {
      if (!reach[a * w + b]) continue;
      for (const u of units) if (a + u.n1 <= cIn && b + u.n3 <= cOut) reach[(a + u.n1) * w + b + u.n3] = 1;
    }
  }
  if (!reach[cIn * w + cOut]) return null;
  const out: PlannedUnit[] = [];
  let ra = cIn;
  let rb = cOut;
  while (ra > 0 || rb > 0) {
    const ok = units.filter((u) => u.n1 <= ra && u.n3 <= rb && reach[(ra - u.n1) * w + rb - u.n3]);
    const u = ok[rng.int(ok.length)]!;
    out.push(u);
    ra -= u.n1;
    rb -= u.n3;
  }
  return out;
}

function sameUnit(a: PlannedUnit, b: PlannedUnit): boolean {
  return a.n1 === b.n1 && a.n2 === b.n2 && a.n3 === b.n3 && a.k1.join() === b.k1.join() && a.k2.join() === b.k2.join();
}

/** Pads of the first conv for kernel k1 keeping the original output size, or why impossible. */
function firstPads(layer: TissueLayer, k1: readonly number[]): { pads: number[] | null; autoPad: string } | string {
  if (layer.kind === 'dense') return { pads: [], autoPad: 'NOTSET' };
  if (layer.autoPad === 'SAME_UPPER' || layer.autoPad === 'SAME_LOWER') return { pads: null, autoPad: layer.autoPad };
  const sd = layer.kernel.length;
  const base = layer.autoPad === 'VALID' ? new Array<number>(2 * sd).fill(0) : layer.pads;
  const pads = new Array<number>(2 * sd);
  for (let i = 0; i < sd; i++) {
    const delta = (layer.dilations[i] ?? 1) * (k1[i]! - layer.kernel[i]!);
    pads[i] = base[i]! + Math.floor(delta / 2);
    pads[i + sd] = base[i + sd]! + delta - Math.floor(delta / 2);
    if (pads[i]! < 0 || pads[i + sd]! < 0)
      return `k1=${k1[i]} is smaller than the kernel ${layer.kernel[i]} by more than its padding allows (the output size would change)`;
  }
  return { pads, autoPad: 'NOTSET' };
}

function samePads(k2: readonly number[]): number[] {
  const begin = k2.map((k) => Math.floor((k - 1) / 2));
  return [...begin, ...k2.map((k, i) => k - 1 - begin[i]!)];
}

function makeRuns(layer: TissueLayer, units: readonly PlannedUnit[]): UnitRun[] | string {
  const runs: UnitRun[] = [];
  let inOff = 0;
  let hidOff = 0;
  let outOff = 0;
  for (let p = 0; p < units.length;) {
    const u = units[p]!;
    let c = 1;
    while (p + c < units.length && sameUnit(units[p + c]!, u)) c++;
    const fp = firstPads(layer, u.k1);
    if (typeof fp === 'string') return fp;
    runs.push({
      unit: u,
      count: c,
      position: p,
      inOffset: inOff,
      hiddenOffset: hidOff,
      outOffset: outOff,
      pads1: fp.pads,
      autoPad1: fp.autoPad,
      pads2: samePads(u.k2),
    });
    inOff += c * u.n1;
    hidOff += c * u.n2;
    outOff += c * u.n3;
    p += c;
  }
  return runs;
}

/** The group counts `--groups auto` may give a layer: m ≥ 2 dividing both sides, every unit layer keeping ≥ minGroupChannels channels per group. */
export function allowedGroups(layer: TissueLayer, hidden: number | undefined, minGroupChannels: number): number[] {
  const out: number[] = [];
  for (let m = 2; m <= Math.min(layer.cIn, layer.cOut); m++) {
    if (layer.cIn % m || layer.cOut % m) continue;
    const n2 = hidden ?? layer.cOut / m;
    if (layer.cIn / m >= minGroupChannels && layer.cOut / m >= minGroupChannels && n2 >= minGroupChannels) out.push(m);
  }
  return out;
}

interface Candidate {
  layer: TissueLayer;
  spec: LayerSpec;
  explicit: boolean;
}

function chooseCandidates(scan: TissueScan, o: Resolved): { candidates: Candidate[]; skipped: SkippedLayer[] } {
  const skipped: SkippedLayer[] = [];
  let chosen: TissueLayer[];
  const named = new Set<TissueLayer>();
  if (o.strategy === 'select') {
    const set = new Set<TissueLayer>();
    for (const p of o.select) {
      const hits = scan.layers.filter((l) => globMatch(p, l.name));
      const rej = scan.rejected.filter((r) => globMatch(p, r.name));
      if (!hits.length && !rej.length) {
        throw new CompilerError('TISSUE_NO_LAYERS', `"${p}" names no Conv, Gemm or MatMul layer`, {
          where: p,
          hint: 'list the layers with `sculpt inspect --layers`',
        });
      }
      const exact = rej.find((r) => r.name === p);
      if (exact)
        throw new CompilerError('TISSUE_NOT_REPLACEABLE', `layer ${exact.name} cannot become a stacked layer: ${exact.reason}`, { where: exact.node.where });
      for (const r of rej) skipped.push({ name: r.name, reason: r.reason });
      for (const h of hits) {
        set.add(h);
        if (h.name === p) named.add(h);
      }
    }
    chosen = scan.layers.filter((l) => set.has(l));
  } else {
    for (const r of scan.rejected) skipped.push({ name: r.name, reason: r.reason });
    chosen = o.strategy === 'all' ? [...scan.layers] : middleStages(scan.layers, skipped);
  }
  const excluded = chosen.filter((l) => o.exclude.some((p) => globMatch(p, l.name)));
  for (const l of excluded) skipped.push({ name: l.name, reason: 'excluded' });
  chosen = chosen.filter((l) => !excluded.includes(l));
  const candidates = chosen.map((layer) => {
    const ls = o.layerSpecs.find((s) => globMatch(s.pattern, layer.name));
    return { layer, spec: ls?.spec ?? o.spec, explicit: named.has(layer) || ls?.pattern === layer.name };
  });
  return { candidates, skipped };
}

/** Strategy r: conv layers outside the first and last conv stage; without convs, dense layers but the first and last. */
function middleStages(layers: readonly TissueLayer[], skipped: SkippedLayer[]): TissueLayer[] {
  const convs = layers.filter((l) => l.kind === 'conv');
  let keep: TissueLayer[];
  if (convs.length) {
    const stages = [...new Set(convs.map((l) => l.stage))];
    const first = stages[0];
    const last = stages[stages.length - 1];
    keep = convs.filter((l) => stages.length > 2 && l.stage !== first && l.stage !== last);
    for (const l of layers)
      if (!keep.includes(l))
        skipped.push({
          name: l.name,
          reason: l.kind === 'dense' ? 'strategy r: dense head stays normal' : `strategy r: stage ${l.stage} is the first or last stage`,
        });
  } else {
    keep = layers.slice(1, -1);
    for (const l of layers) if (!keep.includes(l)) skipped.push({ name: l.name, reason: 'strategy r: first and last layer stay normal' });
  }
  return keep;
}

function layerError(layer: TissueLayer, reason: string): CompilerError {
  return new CompilerError(
    'TISSUE_SPEC_INVALID',
    `layer ${layer.name} (C_in=${layer.cIn}, C_out=${layer.cOut}${layer.kernel.length ? `, kernel ${layer.kernel.join('x')}` : ''}): ${reason}`,
    {
      where: layer.node.where,
      hint: 'choose units whose n1 sum to C_in and n3 to C_out (equal units: m = C_in/n1 = C_out/n3)',
    },
  );
}

interface Built {
  layers: LayerPlan[];
  skipped: SkippedLayer[];
  notes: { where: string; message: string }[];
}

function build(candidates: readonly Candidate[], scan: TissueScan, o: Resolved, autoGroups: (l: TissueLayer, spec: LayerSpec) => number | undefined): Built {
  const layers: LayerPlan[] = [];
  const skipped: SkippedLayer[] = [];
  const notes: { where: string; message: string }[] = [];
  const stackedBy = new Map<Node, LayerPlan>();
  for (const c of candidates) {
    const { layer, spec } = c;
    let groups: number | undefined;
    if (spec.kind === 'groups' && spec.groups === 'auto') {
      groups = autoGroups(layer, spec);
      if (groups === undefined) {
        skipped.push({
          name: layer.name,
          reason: `groups auto: no m keeps ≥ ${o.minGroupChannels} channels per group with units cheaper than the layer (C_in=${layer.cIn}, C_out=${layer.cOut}${layer.kernel.length ? `, kernel ${layer.kernel.join('x')}` : ''})`,
        });
        continue;
      }
    }
    let units = resolveUnits(layer, spec, groups, o);
    let runs: UnitRun[] | string = typeof units === 'string' ? units : makeRuns(layer, units);
    if (typeof units === 'string' || typeof runs === 'string') {
      const reason = typeof units === 'string' ? units : (runs as string);
      if (c.explicit) throw layerError(layer, reason);
      skipped.push({ name: layer.name, reason });
      continue;
    }
    units = units as PlannedUnit[];
    runs = runs as UnitRun[];
    // Units see only their own input piece: the input must carry some normal layer's mixing.
    // A residual Add of a stacked and a normal branch does; a stacked layer alone does not.
    const upAll = [...upstreamMixing(layer.node, scan.mixing)];
    const ups = upAll.filter((n) => stackedBy.has(n));
    let shuffleGroups: number | undefined;
    if (ups.length && ups.length === upAll.length) {
      const up = stackedBy.get(ups[0]!)!;
      if (o.shuffle) {
        const g = [up.units.length, units.length].find((x) => x > 1 && layer.cIn % x === 0);
        if (g !== undefined) shuffleGroups = g;
        else if (o.strategy !== 'select') {
          skipped.push({ name: layer.name, reason: `reads stacked layer ${up.layer.name} and no shuffle group count divides C_in=${layer.cIn}` });
          continue;
        }
      } else if (o.strategy !== 'select') {
        skipped.push({ name: layer.name, reason: `reads stacked layer ${up.layer.name}: a normal layer stays between stacked layers (or pass --shuffle)` });
        continue;
      }
      if (shuffleGroups === undefined)
        notes.push({
          where: layer.name,
          message: `stacked layer reads stacked layer ${up.layer.name} with no normal layer or shuffle between: its units see only their own units' outputs`,
        });
    }
    const bias2 = layer.hasBias;
    // Never replace a layer by units that cost more than it (1×1 expansions, narrow layers).
    const stacked = stackedLayerCost(layer, units, bias2);
    const original = originalLayerCost(layer);
    const grows = stacked.macs > original.macs || stacked.params > original.params;
    if (grows) {
      const why = `units would cost ${pct(stacked.macs, original.macs)} of the layer's MACs and ${pct(stacked.params, original.params)} of its params`;
      if (!c.explicit) {
        skipped.push({ name: layer.name, reason: why });
        continue;
      }
      notes.push({ where: layer.name, message: `${why} (stacked because it was named)` });
    }
    const plan: LayerPlan = {
      layer,
      units,
      runs,
      equal: runs.length === 1,
      bias2,
      shuffleGroups,
      spec: specText(spec, groups),
      original,
      stacked,
      denseEquivalent: denseEquivalentCost(layer, units),
    };
    layers.push(plan);
    stackedBy.set(layer.node, plan);
  }
  return { layers, skipped, notes };
}

function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '-';
}

function totals(before: { macs: number; params: number }, layers: readonly LayerPlan[]): { macs: number; params: number } {
  let macs = before.macs;
  let params = before.params;
  for (const l of layers) {
    macs += l.stacked.macs - l.original.macs;
    params += l.stacked.params - l.original.params;
  }
  return { macs, params };
}

/** The m a layer may take under `groups: 'auto'`, ascending, with the stacked MACs: ≥ minGroupChannels per group, units cheaper than the layer. */
function autoOptions(layer: TissueLayer, spec: LayerSpec & { kind: 'groups' }, o: Resolved): { m: number; macs: number }[] {
  const out: { m: number; macs: number }[] = [];
  const original = originalLayerCost(layer);
  for (const m of allowedGroups(layer, spec.hidden, o.minGroupChannels)) {
    const units = resolveUnits(layer, spec, m, o);
    if (typeof units === 'string' || typeof makeRuns(layer, units) === 'string') continue;
    const c = stackedLayerCost(layer, units, layer.hasBias);
    if (c.macs < original.macs && c.params <= original.params) out.push({ m, macs: c.macs });
  }
  return out;
}

interface AutoRun {
  built: Built;
  macs: number;
  met: boolean;
  shuffle: boolean;
  level: Map<TissueLayer, number>;
}

/**
 * Greedy per-layer m: every auto layer starts at its smallest useful m; while the model is
 * over the target, the stacked layer whose next larger m saves the most MACs takes it.
 * Deterministic. O(steps · candidates · nodes).
 */
function greedy(
  candidates: readonly Candidate[],
  scan: TissueScan,
  o: Resolved,
  before: { macs: number; params: number },
  options: Map<TissueLayer, { m: number; macs: number }[]>,
  tried: AutoTrial[],
): AutoRun {
  const level = new Map<TissueLayer, number>();
  for (const [l, opts] of options) if (opts.length) level.set(l, 0);
  const pick = (l: TissueLayer): number | undefined => {
    const i = level.get(l);
    return i === undefined ? undefined : options.get(l)![i]!.m;
  };
  for (;;) {
    const built = build(candidates, scan, o, pick);
    const macs = totals(before, built.layers).macs;
    const ms = built.layers.map((l) => l.units.length);
    tried.push({ groups: ms.length ? Math.max(...ms) : 0, macs, ratio: before.macs ? macs / before.macs : 1, layers: built.layers.length, shuffle: o.shuffle });
    const met = before.macs > 0 && macs <= o.flopsTarget * before.macs;
    if (met) return { built, macs, met, shuffle: o.shuffle, level };
    let best: TissueLayer | undefined;
    let gain = 0;
    for (const lp of built.layers) {
      const i = level.get(lp.layer);
      const opts = options.get(lp.layer);
      if (i === undefined || !opts || i + 1 >= opts.length) continue;
      const g = opts[i]!.macs - opts[i + 1]!.macs;
      if (g > gain) {
        gain = g;
        best = lp.layer;
      }
    }
    if (!best) return { built, macs, met, shuffle: o.shuffle, level };
    level.set(best, level.get(best)! + 1);
  }
}

/** The largest layers that stayed normal (or at their largest m) in a plan that misses the target, and why. */
function blockingLayers(
  cost: CostReport,
  scan: TissueScan,
  built: Built,
  skippedBefore: readonly SkippedLayer[],
  options: Map<TissueLayer, { m: number; macs: number }[]>,
  o: Resolved,
): BlockingLayer[] {
  const total = cost.total.macs || 1;
  const macsOf = new Map(cost.nodes.map((n) => [n.node, n.macs]));
  const why = new Map<string, string>();
  for (const s of [...skippedBefore, ...built.skipped]) if (!why.has(s.name)) why.set(s.name, s.reason);
  const stacked = new Map(built.layers.map((l) => [l.layer.node, l]));
  const out: BlockingLayer[] = [];
  for (const n of scan.mixing) {
    const macs = macsOf.get(n) ?? 0;
    if (macs <= 0) continue;
    const lp = stacked.get(n);
    const name = scan.layers.find((l) => l.node === n)?.name ?? scan.rejected.find((r) => r.node === n)?.name ?? n.name ?? n.opType;
    if (lp) {
      out.push({ name, share: lp.stacked.macs / total, reason: `stacked at its largest m=${lp.units.length} (≥ ${o.minGroupChannels} channels per group)` });
    } else {
      const layer = scan.layers.find((l) => l.node === n);
      const noOpts = layer && options.has(layer) && options.get(layer)!.length === 0;
      out.push({
        name,
        share: macs / total,
        reason: why.get(name) ?? (noOpts ? `no m gives units cheaper than the layer with ≥ ${o.minGroupChannels} channels per group` : 'left normal'),
      });
    }
  }
  // Normal layers first (they hold the most that could still go), largest first.
  return out.sort((a, b) => Number(a.reason.startsWith('stacked')) - Number(b.reason.startsWith('stacked')) || b.share - a.share).slice(0, 6);
}

function searchAuto(
  candidates: readonly Candidate[],
  scan: TissueScan,
  o: Resolved,
  before: { macs: number; params: number },
  cost: CostReport,
): { built: Built; auto: AutoChoice } {
  const options = new Map<TissueLayer, { m: number; macs: number }[]>();
  for (const c of candidates) if (c.spec.kind === 'groups' && c.spec.groups === 'auto') options.set(c.layer, autoOptions(c.layer, c.spec, o));
  const tried: AutoTrial[] = [];
  let run = greedy(candidates, scan, o, before, options, tried);
  let shuffledOn = false;
  if (!run.met && o.shuffleAuto && !o.shuffle) {
    const withShuffle = greedy(candidates, scan, { ...o, shuffle: true }, before, options, tried);
    if (withShuffle.met || withShuffle.macs < run.macs) {
      run = withShuffle;
      shuffledOn = true;
    }
  }
  const perLayer: Record<string, number> = {};
  for (const l of run.built.layers) perLayer[l.layer.name] = l.units.length;
  const ms = Object.values(perLayer);
  const ratio = before.macs ? run.macs / before.macs : 1;
  const skippedBefore = chooseCandidates(scan, o).skipped;
  const blocking = run.met ? [] : blockingLayers(cost, scan, run.built, skippedBefore, options, o);
  const auto: AutoChoice = {
    target: o.flopsTarget,
    minGroupChannels: o.minGroupChannels,
    groups: ms.length ? Math.max(...ms) : null,
    perLayer,
    met: run.met,
    shuffle: run.shuffle,
    ratio,
    blocking,
    tried,
  };
  if (shuffledOn && run.built.layers.some((l) => l.shuffleGroups)) {
    run.built.notes.push({
      where: 'groups auto',
      message: `the target needs consecutive stacked layers: a channel shuffle goes between them (--no-shuffle forbids it)`,
    });
  }
  if (!run.met) {
    const list = blocking.map((b) => `${b.name} (${(100 * b.share).toFixed(1)}% of MACs: ${b.reason})`).join('; ');
    const msg = `groups auto keeps ${(100 * ratio).toFixed(1)}% of the FLOPs at best, above the target ${(100 * o.flopsTarget).toFixed(1)}%; blocking: ${list || 'no layer can be stacked'}`;
    if (!o.bestEffort) {
      throw new CompilerError('TISSUE_TARGET_NOT_MET', msg, {
        where: blocking[0]?.name,
        hint: 'raise --flops-target, lower --min-group-channels, allow --shuffle, or pass --best-effort to accept the closest plan',
      });
    }
    run.built.notes.push({ where: 'groups auto', message: `${msg} (--best-effort: kept)` });
  }
  return { built: run.built, auto };
}

/**
 * Plans a TissueNet rewrite of `model`: chosen layers, their units (per position), unit
 * runs, padding, and analytic costs. Shapes and cost come from `analyses` (cached; a fresh
 * manager when absent); the model is not changed. O(nodes + C_in·C_out per hybrid layer).
 * @throws INVALID_OPTION for bad options; TISSUE_SPEC_INVALID for a spec that does not fit a
 *   layer named explicitly (names and numbers in the message); TISSUE_NO_LAYERS when a
 *   select pattern matches nothing or no layer can be replaced; TISSUE_NOT_REPLACEABLE for a
 *   named layer that cannot be replaced (depthwise, non-constant weights, ...)
 */
export function planTissue(model: Model, options: TissueOptions = {}, analyses: AnalysisManager = new AnalysisManager(model)): TissuePlan {
  const o = resolveOptions(options);
  const scan = scanTissueLayers(model, analyses.get(shapesAnalysis).shapes);
  const costReport = analyses.get(costAnalysis);
  const cost = costReport.total;
  const before = { macs: cost.macs, params: cost.params };
  const { candidates, skipped } = chooseCandidates(scan, o);
  if (candidates.length === 0) {
    throw new CompilerError('TISSUE_NO_LAYERS', `strategy ${o.strategy} leaves no layer to replace`, {
      hint: skipped.length
        ? `skipped: ${skipped
            .slice(0, 4)
            .map((s) => `${s.name} (${s.reason})`)
            .join('; ')}`
        : 'the model has no Conv, Gemm or MatMul layer',
    });
  }
  const usesAuto = candidates.some((c) => c.spec.kind === 'groups' && c.spec.groups === 'auto');
  if (usesAuto) requireExactCost(costReport, '--groups auto');
  let built: Built;
  let auto: AutoChoice | undefined;
  if (usesAuto) {
    const r = searchAuto(candidates, scan, o, before, costReport);
    built = r.built;
    auto = r.auto;
  } else {
    built = build(candidates, scan, o, () => undefined);
  }
  if (built.layers.length === 0 && !(auto && !auto.met)) {
    const why = [...skipped, ...built.skipped]
      .slice(0, 4)
      .map((s) => `${s.name}: ${s.reason}`)
      .join('; ');
    throw new CompilerError('TISSUE_NO_LAYERS', 'no layer can take the spec', { hint: why || undefined });
  }
  return {
    strategy: o.strategy,
    activation: o.activation,
    leakyAlpha: o.leakyAlpha,
    init: o.init,
    shuffle: o.shuffle || (auto?.shuffle ?? false),
    seed: o.seed,
    canonicalize: options.canonicalize ?? false,
    layers: built.layers,
    skipped: [...skipped, ...built.skipped],
    notes: built.notes,
    auto,
    before,
    after: totals(before, built.layers),
  };
}
