/**
 * Deciding how many and which channels each group keeps.
 *
 * - `--ratio r`: remove the fraction r of the prunable channels, either of every group
 *   (`scope: 'layer'`) or overall, lowest importance first across groups (`'global'`,
 *   scores normalised by their group's mean so wide and narrow layers compare).
 * - `--flops-target f`: the smallest ratio whose estimated MACs are at most f of the
 *   model's, found by bisection, then refined one rounding unit at a time up to the target
 *   (within 1% whenever the rounding allows; a remark says when it does not). The estimate is exact for Conv/Gemm/MatMul MACs: a layer's
 *   MACs scale with the kept fraction of every prunable axis of its weight.
 * - Kept counts follow the kernel (rounding.ts): feature maps keep a multiple of `roundTo`
 *   channels, and a grouped conv keeps a multiple of `roundTo` channels PER CONV GROUP
 *   (onnxruntime's NCHWc conv kernels want blocks of 8 or 16), never below `minChannels`,
 *   never more than `maxRatio` of a group removed, never to zero; a group narrower than
 *   one rounding unit stays whole.
 */
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis, ChannelGroup, ChannelSlot } from '../analysis/channel-groups.js';
import { isGroupPrunable } from '../analysis/channel-groups.js';
import type { CostReport } from '../analysis/cost.js';
import { weightInputKind } from '../analysis/cost.js';
import { resolveTensor } from '../analysis/weights.js';
import type { Model, Value } from '../ir/core.js';
import { Rng } from '../util/rng.js';
import type { PruneCriterion, ScoreEntry } from './criteria.js';
import { CRITERIA, groupImportance, locateNonFinite } from './criteria.js';
import type { NanPolicy } from './nan.js';
import { applyNanPolicy, compareAsc, compareScoreDesc, parseNanPolicy } from './nan.js';
import { roundingUnit } from './rounding.js';
import type { RoundToOption } from './round-to.js';
import { resolveRoundTo } from './round-to.js';
import type { MaskSpec } from './mask.js';
import { maskToKeep } from './mask.js';

export type PruneScope = 'global' | 'layer';

export interface PlanOptions {
  /** Fraction of prunable channels to remove, in [0, 1). */
  ratio?: number;
  /** Fraction of the model's FLOPs to keep, in (0, 1]. */
  flopsTarget?: number;
  /** Fraction of the predicted latency to keep, in (0, 1]; needs `latencyModel` (latency.ts). */
  latencyTarget?: number;
  /** Predicts latency from kept counts (a measured per-layer table: `buildLatencyModel`). */
  latencyModel?: LatencyPredictor;
  /** Default 'l1'. */
  criterion?: PruneCriterion;
  scores?: ReadonlyMap<string, ScoreEntry>;
  mask?: MaskSpec;
  /** Default 'layer'. */
  scope?: PruneScope;
  /** Kept channels are a multiple of this (rounding.ts); 'auto' (default) decides from the CPU / provider (round-to.ts); 1 = no rounding. */
  roundTo?: RoundToOption;
  /** Execution provider the model is for ('cpu' default, 'cuda'): used by `roundTo: 'auto'`. */
  provider?: string;
  /** Fewest feature-map channels a group keeps (default 1). */
  minChannels?: number;
  /** Largest fraction of one group that may be removed (default 0.9). */
  maxRatio?: number;
  /** Seed of the random criterion (default 0). */
  seed?: number;
  /** What to do with channels whose importance is NaN/Inf (default 'error'). */
  nan?: NanPolicy;
}

/** Latency (ms) as a function of the kept count of every group. */
export interface LatencyPredictor {
  predict(kept: (gid: number) => number): number;
}

/** What the plan does to one prunable group. */
export interface GroupPlan {
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly width: number;
  readonly kept: number;
  readonly keptWidth: number;
}

export interface CostEstimate {
  macs: number;
  params: number;
}

export interface PrunePlan {
  /** Group id → kept group channels (sorted), for every group that loses channels. */
  readonly keep: Map<number, number[]>;
  readonly groups: GroupPlan[];
  readonly before: CostEstimate;
  readonly after: CostEstimate;
  /** The removal fraction used (after a FLOPs-target search); undefined for masks. */
  readonly ratio?: number;
  /** Why some groups were left alone, or a target was missed. */
  readonly remarks: string[];
  /** The rounding multiple used (the resolved `auto`), and why. */
  readonly roundTo: number;
  readonly roundToReason: string;
}

/**
 * MACs and params of the model as a function of the kept channel count of every group.
 * Built once from a cost report of the unpruned model; evaluating a plan is O(layers).
 */
export class CostModel {
  readonly #terms: { macs: number; factors: ChannelSlot[] }[] = [];
  readonly #params: { size: number; factors: ChannelSlot[] }[] = [];
  readonly #slotGroups = new Map<ChannelSlot, { gid: number; per: number }[]>();
  readonly before: CostEstimate;

  constructor(
    readonly analysis: ChannelAnalysis,
    cost: CostReport,
  ) {
    for (const g of analysis.groups) {
      for (const m of g.members) {
        let l = this.#slotGroups.get(m.slot);
        if (!l) this.#slotGroups.set(m.slot, (l = []));
        l.push({ gid: g.id, per: m.per });
      }
    }
    const slotsOf = (v: Value | null | undefined, skipAxis = -1) => (v ? analysis.slotsOf(v).filter((s) => s.axis !== skipAxis) : []);
    let macs = 0;
    for (const nc of cost.nodes) {
      if (nc.macs <= 0) continue;
      macs += nc.macs;
      const n = nc.node;
      let factors: ChannelSlot[];
      if (n.opType === 'Conv' || n.opType === 'ConvTranspose' || n.opType === 'ConvInteger') {
        // MACs = weight elements × positions; positions do not change.
        factors = slotsOf(n.inputs[1]);
      } else if (n.opType === 'Gemm' || n.opType === 'MatMul') {
        const wv = n.inputs[1];
        const rb = (wv ? (resolveTensor(wv)?.tensor.shape ?? analysis.shapes.shape(wv)) : undefined)?.length ?? 2;
        const kAxis = n.opType === 'Gemm' ? (n.attrInt('transB', 0) ? 1 : 0) : rb >= 2 ? rb - 2 : 0;
        factors = [...slotsOf(n.inputs[0]), ...slotsOf(n.inputs[1], kAxis)];
      } else {
        factors = n.outputs.flatMap((o) => slotsOf(o));
      }
      this.#terms.push({ macs: nc.macs, factors });
    }
    const seen = new Set<Value>();
    let params = 0;
    for (const n of analysis.model.graph.nodes) {
      n.inputs.forEach((v, i) => {
        const r = weightInputKind(n, i) === 'param' ? resolveTensor(v) : undefined;
        if (!v || !r || seen.has(r.source)) return;
        seen.add(r.source);
        const size = r.tensor.size;
        params += size;
        this.#params.push({ size, factors: slotsOf(v) });
      });
    }
    this.before = { macs, params };
  }

  /** The kept fraction of every slot's positions when group g keeps `kept(g)` group channels (memoised). */
  fractions(kept: (gid: number) => number): (s: ChannelSlot) => number {
    const frac = new Map<ChannelSlot, number>();
    return (s: ChannelSlot): number => {
      let x = frac.get(s);
      if (x !== undefined) return x;
      let removed = 0;
      for (const { gid, per } of this.#slotGroups.get(s) ?? []) removed += (this.analysis.groups[gid]!.size - kept(gid)) * per;
      x = s.size > 0 ? (s.size - removed) / s.size : 1;
      frac.set(s, x);
      return x;
    };
  }

  /** Estimated MACs and params when group g keeps `kept(g)` group channels. */
  evaluate(kept: (gid: number) => number): CostEstimate {
    const f = this.fractions(kept);
    let macs = 0;
    for (const t of this.#terms) macs += t.factors.reduce((m, s) => m * f(s), t.macs);
    let params = 0;
    for (const p of this.#params) params += p.factors.reduce((m, s) => m * f(s), p.size);
    return { macs, params };
  }
}

interface Limits {
  unit: number;
  minKeep: number;
}

function limitsOf(a: ChannelAnalysis, g: ChannelGroup, roundTo: number, minChannels: number, maxRatio: number): Limits & { groupedBy: readonly string[] } {
  const { unit, groupedBy } = roundingUnit(a, g, roundTo);
  const minKeep = Math.max(1, Math.ceil(minChannels / g.mult), Math.ceil((1 - maxRatio) * g.size - 1e-9));
  return { unit, minKeep, groupedBy };
}

/** Nearest allowed kept count to `k`: a multiple of the unit within the limits, or the whole group. */
function roundKept(k: number, size: number, l: Limits): number {
  if (k >= size) return size;
  const lowest = Math.ceil(l.minKeep / l.unit) * l.unit;
  if (lowest >= size) return size;
  const down = Math.max(lowest, Math.floor(k / l.unit) * l.unit);
  const up = Math.ceil(k / l.unit) * l.unit;
  const cand = [down, Math.max(lowest, up) >= size ? size : Math.max(lowest, up)];
  return Math.abs(cand[0]! - k) < Math.abs(cand[1]! - k) ? cand[0]! : cand[1]!;
}

function checkOptions(
  o: PlanOptions,
): Required<Pick<PlanOptions, 'criterion' | 'scope' | 'minChannels' | 'maxRatio' | 'seed'>> & { roundTo: number; roundToReason: string } {
  const criterion = o.criterion ?? (o.mask ? 'mask' : o.scores ? 'scores' : 'l1');
  if (!CRITERIA.includes(criterion))
    throw new CompilerError('INVALID_OPTION', `unknown criterion "${criterion}"`, { hint: `choose one of ${CRITERIA.join(', ')}` });
  const scope = o.scope ?? 'layer';
  if (scope !== 'global' && scope !== 'layer') throw new CompilerError('INVALID_OPTION', `scope must be global or layer; got "${scope as string}"`);
  const { value: roundTo, reason: roundToReason } = resolveRoundTo(o.roundTo, o.provider);
  const minChannels = o.minChannels ?? 1;
  const maxRatio = o.maxRatio ?? 0.9;
  const seed = o.seed ?? 0;
  if (!Number.isInteger(minChannels) || minChannels < 1)
    throw new CompilerError('INVALID_OPTION', `--min-channels must be a positive integer; got ${minChannels}`);
  if (!(maxRatio >= 0 && maxRatio < 1))
    throw new CompilerError('INVALID_OPTION', `--max-ratio must be in [0, 1); got ${maxRatio}`, { hint: 'a group may never lose every channel' });
  if (!Number.isInteger(seed) || seed < 0) throw new CompilerError('INVALID_OPTION', `--seed must be a non-negative integer; got ${seed}`);
  if (criterion === 'mask') {
    if (!o.mask) throw new CompilerError('INVALID_OPTION', 'the mask criterion needs a mask (--mask file.json)');
    if (o.ratio !== undefined || o.flopsTarget !== undefined || o.latencyTarget !== undefined)
      throw new CompilerError('INVALID_OPTION', 'a mask decides the kept channels itself: drop --ratio / --flops-target / --latency-target');
  } else {
    if ([o.ratio, o.flopsTarget, o.latencyTarget].filter((x) => x !== undefined).length !== 1)
      throw new CompilerError('INVALID_OPTION', 'give exactly one of --ratio, --flops-target and --latency-target', {
        hint: 'e.g. --ratio 0.5 removes half of the prunable channels; --flops-target 0.5 keeps half of the FLOPs; --latency-target 0.5 halves the measured latency',
      });
    if (o.latencyTarget !== undefined && !(o.latencyTarget > 0 && o.latencyTarget <= 1))
      throw new CompilerError('INVALID_OPTION', `--latency-target is the fraction of the latency kept, in (0, 1]; got ${o.latencyTarget}`);
    if (o.latencyTarget !== undefined && !o.latencyModel)
      throw new CompilerError('INVALID_OPTION', 'a latency target needs a latency model (buildLatencyModel, or `sculpt prune --latency-target`)');
    if (o.ratio !== undefined && !(o.ratio >= 0 && o.ratio < 1))
      throw new CompilerError('INVALID_OPTION', `--ratio is the fraction of channels removed, in [0, 1); got ${o.ratio}`);
    if (o.flopsTarget !== undefined && !(o.flopsTarget > 0 && o.flopsTarget <= 1))
      throw new CompilerError('INVALID_OPTION', `--flops-target is the fraction of FLOPs kept, in (0, 1]; got ${o.flopsTarget}`);
    if (criterion === 'scores' && !o.scores) throw new CompilerError('INVALID_OPTION', 'the scores criterion needs --scores file.json');
  }
  return { criterion, scope, roundTo, roundToReason, minChannels, maxRatio, seed };
}

/**
 * Plans a pruning of `model` (already analysed): kept channels per group and the cost
 * estimate. `cost` is a cost report of the unpruned model (computeCost). Deterministic for
 * the same options and seed. O(channels · log channels) plus O(layers) per search step.
 * @throws INVALID_OPTION for bad options; the mask codes (MASK_*, GROUP_FROZEN) for a mask
 */
export function planPruning(model: Model, a: ChannelAnalysis, cost: CostReport, opts: PlanOptions): PrunePlan {
  if (a.model !== model) throw new CompilerError('PRECONDITION_FAILED', 'the channel analysis was computed on another model');
  const o = checkOptions(opts);
  const cm = new CostModel(a, cost);
  const remarks: string[] = [];
  const finish = (keep: Map<number, number[]>, ratio?: number): PrunePlan => {
    const kept = (gid: number) => keep.get(gid)?.length ?? a.groups[gid]!.size;
    const groups = a.groups
      .filter(isGroupPrunable)
      .map((g) => ({ id: g.id, name: g.name, size: g.size, width: g.width, kept: kept(g.id), keptWidth: kept(g.id) * g.mult }));
    return { keep, groups, before: cm.before, after: cm.evaluate(kept), ratio, remarks, roundTo: o.roundTo, roundToReason: o.roundToReason };
  };
  if (o.criterion === 'mask') return finish(maskToKeep(a, opts.mask!));

  const nan = parseNanPolicy(opts.nan);
  const rng = new Rng(o.seed);
  const cache = new Map<string, Float64Array>();
  const cands: { g: ChannelGroup; score: Float64Array; limits: Limits }[] = [];
  let tooNarrow = 0;
  for (const g of a.groups) {
    if (!isGroupPrunable(g)) continue;
    const score = groupImportance(a, g, o.criterion, { rng, scores: opts.scores }, cache);
    if (!score) {
      remarks.push(`group ${g.id} (${g.name}): no scores given; left whole`);
      continue;
    }
    const bad = applyNanPolicy(score, nan, g.name, (k) => locateNonFinite(g, k, o.criterion, opts.scores));
    if (bad)
      remarks.push(
        `group ${g.id} (${g.name}): ${bad} channel(s) with NaN/Inf importance ${nan === 'keep' ? 'ranked first (kept)' : 'ranked last (removed first)'} (--nan ${nan})`,
      );
    const limits = limitsOf(a, g, o.roundTo, o.minChannels, o.maxRatio);
    if (roundKept(0, g.size, limits) >= g.size) {
      const per = limits.groupedBy.length ? ` per conv group of ${limits.groupedBy.join(', ')}` : '';
      remarks.push(`group ${g.id} (${g.name}): ${g.width} channels cannot be rounded to a multiple of ${o.roundTo}${per} above the minimum; left whole`);
      tooNarrow++;
      continue;
    }
    cands.push({ g, score, limits });
  }
  if (opts.scores && o.criterion === 'scores' && cands.length === 0) {
    if (tooNarrow > 0) {
      throw new CompilerError(
        'TARGET_UNREACHABLE',
        `no scored layer can lose channels in multiples of ${o.roundTo} (--round-to ${o.roundTo}${o.roundToReason && o.roundToReason !== 'given' ? `, auto: ${o.roundToReason}` : ''}): ${tooNarrow} layer(s) are too narrow`,
        { hint: 'give a smaller --round-to (e.g. 4, or 1 for exact counts)' },
      );
    }
    throw new CompilerError('MASK_INVALID', 'the scores name no tensor of a prunable group', {
      hint: 'list the prunable tensors with `sculpt groups model.onnx --explain`',
    });
  }

  // Global order: every candidate channel by normalised score (ties: group, then index).
  let order: { c: number; k: number }[] = [];
  if (o.scope === 'global') {
    const norm = cands.map(({ score }) => {
      if (o.criterion === 'scores') return 1;
      // Over finite scores only: the --nan policy turned the others into ±Inf.
      let s = 0,
        n = 0;
      for (const x of score)
        if (Number.isFinite(x)) {
          s += x;
          n++;
        }
      const mean = s / Math.max(1, n);
      return mean > 0 && Number.isFinite(mean) ? mean : 1;
    });
    cands.forEach((cd, c) => {
      for (let k = 0; k < cd.g.size; k++) order.push({ c, k });
    });
    order = order.sort((x, y) => compareAsc(cands[x.c]!.score[x.k]! / norm[x.c]!, cands[y.c]!.score[y.k]! / norm[y.c]!) || x.c - y.c || x.k - y.k);
  }
  const totalWidth = cands.reduce((s, cd) => s + cd.g.width, 0);

  /** Kept counts per candidate for removal fraction r. */
  const counts = (r: number): number[] => {
    if (o.scope === 'layer') return cands.map(({ g, limits }) => roundKept(g.size - r * g.size, g.size, limits));
    const removed = new Array<number>(cands.length).fill(0);
    const goal = r * totalWidth;
    let width = 0;
    for (const { c, k } of order) {
      if (width >= goal - 1e-9) break;
      void k;
      const { g, limits } = cands[c]!;
      if (g.size - removed[c]! <= limits.minKeep) continue;
      removed[c]!++;
      width += g.mult;
    }
    return cands.map(({ g, limits }, c) => roundKept(g.size - removed[c]!, g.size, limits));
  };
  const macsOf = (cnt: number[]): number => {
    const byGid = new Map(cands.map((cd, c) => [cd.g.id, cnt[c]!]));
    return cm.evaluate((gid) => byGid.get(gid) ?? a.groups[gid]!.size).macs;
  };

  // Per candidate: its channels best first, and the normalised score of each (for refinement).
  const ranked = cands.map(({ score }) => Array.from({ length: score.length }, (_, i) => i).sort((x, y) => compareScoreDesc(score[x]!, score[y]!) || x - y));
  const meanOf = cands.map(({ score }) => {
    let s = 0,
      n = 0;
    for (const x of score)
      if (Number.isFinite(x)) {
        s += x;
        n++;
      }
    const m = s / Math.max(1, n);
    return m > 0 && Number.isFinite(m) ? m : 1;
  });

  /**
   * Fits a budget: the smallest removal fraction whose rounded counts cost at most `goal`
   * (bisection; cost falls monotonically with the fraction), then a refinement that gives
   * channels back one rounding unit at a time while the cost stays within the goal — the
   * rounding of the last groups would otherwise leave it up to a unit per group below.
   * Layer scope gives back to the most-pruned group first, global scope to the group whose
   * best removed channel scores highest. O((40 + refinements · groups) · layers).
   */
  const fit = (costOf: (cnt: number[]) => number, goal: number, what: string, fmt: (x: number) => string): { cnt: number[]; ratio: number } => {
    if (costOf(counts(0)) <= goal) return { cnt: counts(0), ratio: 0 };
    if (costOf(counts(1)) > goal) {
      remarks.push(
        `${what} not reachable within the limits (--max-ratio ${o.maxRatio}, --min-channels ${o.minChannels}, rounding to ${o.roundTo}, frozen groups): best is ${fmt(costOf(counts(1)))}`,
      );
      return { cnt: counts(1), ratio: 1 };
    }
    let lo = 0,
      hi = 1;
    for (let it = 0; it < 40; it++) {
      const mid = (lo + hi) / 2;
      if (costOf(counts(mid)) <= goal) hi = mid;
      else lo = mid;
    }
    const cnt = counts(hi);
    let cost = costOf(cnt);
    const fill = () => {
      for (;;) {
        let best = -1,
          bestKey = -Infinity,
          bestCost = cost,
          bestK = 0;
        cands.forEach(({ g, limits }, c) => {
          const k = cnt[c]!;
          if (k >= g.size) return;
          const next = k + limits.unit >= g.size ? g.size : k + limits.unit;
          const old = cnt[c]!;
          cnt[c] = next;
          const t = costOf(cnt);
          cnt[c] = old;
          if (t > goal) return;
          const key = o.scope === 'layer' ? -k / g.size : cands[c]!.score[ranked[c]![k]!]! / meanOf[c]!;
          if (key > bestKey || (key === bestKey && best < 0)) {
            best = c;
            bestKey = key;
            bestCost = t;
            bestK = next;
          }
        });
        if (best < 0) break;
        cnt[best] = bestK;
        cost = bestCost;
      }
    };
    fill();
    // Still more than 1% below: trade one unit of one group for one of another (the
    // pair whose cost comes closest to the goal), then fill again. Bounded rounds.
    const up = (c: number) => {
      const { g, limits } = cands[c]!;
      return cnt[c]! + limits.unit >= g.size ? g.size : cnt[c]! + limits.unit;
    };
    const down = (c: number) => {
      const { g, limits } = cands[c]!;
      const lowest = Math.ceil(limits.minKeep / limits.unit) * limits.unit;
      const k = cnt[c]! >= g.size ? Math.ceil(g.size / limits.unit) * limits.unit - limits.unit : cnt[c]! - limits.unit;
      return k >= lowest && k >= 1 ? k : -1;
    };
    for (let round = 0; round < 50 && cost < 0.99 * goal && cands.length <= 600; round++) {
      let pa = -1,
        pb = -1,
        pCost = cost,
        pka = 0,
        pkb = 0;
      for (let x = 0; x < cands.length; x++) {
        const kx = down(x);
        if (kx < 0) continue;
        const ox = cnt[x]!;
        cnt[x] = kx;
        for (let y = 0; y < cands.length; y++) {
          if (y === x || cnt[y]! >= cands[y]!.g.size) continue;
          const oy = cnt[y]!;
          const ky = up(y);
          cnt[y] = ky;
          const t = costOf(cnt);
          cnt[y] = oy;
          if (t <= goal && t > pCost) {
            pa = x;
            pb = y;
            pCost = t;
            pka = kx;
            pkb = ky;
          }
        }
        cnt[x] = ox;
      }
      if (pa < 0) break;
      cnt[pa] = pka;
      cnt[pb] = pkb;
      cost = pCost;
      fill();
    }
    return { cnt, ratio: hi };
  };

  let ratio = opts.ratio ?? 0;
  let cnt: number[];
  if (opts.flopsTarget !== undefined) {
    if (cm.before.macs <= 0)
      throw new CompilerError('INVALID_OPTION', 'the model has no MACs to reduce (no Conv/Gemm/MatMul with known shapes)', { hint: 'use --ratio' });
    const goal = opts.flopsTarget * cm.before.macs;
    const r = fit(macsOf, goal, `FLOPs target ${opts.flopsTarget}`, (x) => (x / cm.before.macs).toFixed(3));
    cnt = r.cnt;
    ratio = r.ratio;
    const got = macsOf(cnt);
    if (got < 0.99 * goal && r.ratio > 0 && r.ratio < 1) {
      remarks.push(
        `FLOPs target ${opts.flopsTarget}: landed at ${(got / cm.before.macs).toFixed(4)} (${(100 * (1 - got / goal)).toFixed(1)}% below): no group can keep one more rounding unit (--round-to ${o.roundTo}) without exceeding the target; --round-to 1 gives finer steps`,
      );
    }
  } else if (opts.latencyTarget !== undefined) {
    const lm = opts.latencyModel!;
    const latOf = (cnt: number[]): number => {
      const byGid = new Map(cands.map((cd, c) => [cd.g.id, cnt[c]!]));
      return lm.predict((gid) => byGid.get(gid) ?? a.groups[gid]!.size);
    };
    const full = lm.predict((gid) => a.groups[gid]!.size);
    const goal = opts.latencyTarget * full;
    const r = fit(latOf, goal, `latency target ${opts.latencyTarget} (as predicted by the layer table)`, (x) => (x / full).toFixed(3));
    cnt = r.cnt;
    ratio = r.ratio;
    const got = latOf(cnt);
    if (got < 0.99 * goal && r.ratio > 0 && r.ratio < 1) {
      remarks.push(
        `latency target ${opts.latencyTarget}: predicted ${(got / full).toFixed(4)} (${(100 * (1 - got / goal)).toFixed(1)}% below): no group can keep one more rounding unit (--round-to ${o.roundTo}) within the target`,
      );
    }
  } else {
    cnt = counts(ratio);
  }

  const keep = new Map<number, number[]>();
  cands.forEach(({ g, score }, c) => {
    const k = cnt[c]!;
    if (k >= g.size) return;
    const idx = Array.from({ length: g.size }, (_, i) => i).sort((x, y) => compareScoreDesc(score[x]!, score[y]!) || x - y);
    keep.set(
      g.id,
      idx.slice(0, k).sort((x, y) => x - y),
    );
  });
  return finish(keep, ratio);
}
