/**
 * The compression budget of a search: a FLOPs or params target (a fraction of the
 * original's), met by repair (drop random kept channels of the searched stage until the
 * genome fits) or by a fitness penalty. The paper names no compression pressure (keeping
 * everything would win), so this is the project's rule (METHODS.md §3.5).
 *
 * GGS searches one stage at a time. While stage s is searched, the stages before it sit at
 * their chosen genomes and the stages after it are *projected*: counted as if every group
 * in them kept the uniform fraction q* of its channels that alone would meet the target.
 * So an early stage cannot spend the whole budget, and the last stage is measured exactly.
 * (The fitness still runs the later stages unpruned: they are held at their best, which is
 * unpruned at first.)
 */
import { CompilerError } from '../errors.js';
import type { CostEstimate } from '../prune/plan.js';
import type { Rng } from '../util/rng.js';
import type { Genome } from './genetic.js';
import type { SearchSpace, SearchStage } from './space.js';

export type BudgetKind = 'flops' | 'params';
export type BudgetMode = 'repair' | 'penalty';

export interface BudgetOptions {
  kind: BudgetKind;
  /** Fraction of the original to keep, in (0, 1). */
  target: number;
  mode?: BudgetMode;
  /** Penalty per unit of relative excess (default 1): fitness − w·max(0, cost/limit − 1). */
  penaltyWeight?: number;
}

export class Budget {
  readonly kind: BudgetKind;
  readonly target: number;
  readonly mode: BudgetMode;
  readonly penaltyWeight: number;
  /** Absolute MACs or params allowed. */
  readonly limit: number;
  /** The original's MACs or params. */
  readonly base: number;
  /** Uniform keep fraction of every group that meets the target alone. */
  readonly uniformKeep: number;
  /** Group index (into space.groups) of every genome bit. */
  readonly #groupOfBit: Int32Array;

  /** @throws INVALID_OPTION for a target outside (0, 1); BUDGET_UNREACHABLE when one channel per group is still too much */
  constructor(
    readonly space: SearchSpace,
    o: BudgetOptions,
  ) {
    if (!(o.target > 0 && o.target < 1))
      throw new CompilerError('INVALID_OPTION', `the ${o.kind} target is the fraction to keep, in (0, 1); got ${o.target}`, { where: `--${o.kind}-target` });
    this.kind = o.kind;
    this.target = o.target;
    this.mode = o.mode ?? 'repair';
    this.penaltyWeight = o.penaltyWeight ?? 1;
    this.#groupOfBit = new Int32Array(space.length);
    space.groups.forEach((sg, i) => this.#groupOfBit.fill(i, sg.offset, sg.offset + sg.size));
    this.base = this.measure(space.cost.before);
    if (!(this.base > 0))
      throw new CompilerError('INVALID_OPTION', `the model has no ${o.kind === 'flops' ? 'FLOPs (Conv/Gemm/MatMul with known shapes)' : 'params'} to reduce`);
    this.limit = o.target * this.base;
    const least = this.uniformCost(0);
    if (least > this.limit * (1 + 1e-9)) {
      throw new CompilerError(
        'BUDGET_UNREACHABLE',
        `a ${o.kind} target of ${o.target} cannot be met: with one channel (or one --round-to unit) left in every prunable group the model keeps ${(least / this.base).toFixed(4)} of its ${o.kind}`,
        {
          where: `--${o.kind}-target`,
          hint: `frozen groups and unprunable layers set the floor; ask for at least ${Math.ceil((least / this.base) * 1000) / 1000}`,
        },
      );
    }
    let lo = 0,
      hi = 1;
    for (let it = 0; it < 50; it++) {
      const mid = (lo + hi) / 2;
      if (this.uniformCost(mid) <= this.limit) lo = mid;
      else hi = mid;
    }
    this.uniformKeep = lo;
  }

  measure(c: CostEstimate): number {
    return this.kind === 'flops' ? c.macs : c.params;
  }

  /** Cost when every group keeps max(unit, q·size) channels. */
  private uniformCost(q: number): number {
    const kept = new Map(this.space.groups.map((g) => [g.gid, Math.max(g.unit, q * g.size)]));
    return this.measure(this.space.cost.evaluate((gid) => kept.get(gid) ?? this.space.analysis.groups[gid]!.size));
  }

  /** Cost of genome `g` while `stage` is searched: later stages (index > stage) projected at `uniformKeep`. */
  costAt(g: Genome, stage: number | undefined): number {
    const kept = this.space.keptOf(g);
    const st = this.space.stages;
    if (stage !== undefined && st.length > 1) {
      for (const s of st)
        if (s.index > stage) for (const i of s.groups) kept[i] = Math.max(this.space.groups[i]!.unit, this.uniformKeep * this.space.groups[i]!.size);
    }
    const byGid = new Map(this.space.groups.map((sg, i) => [sg.gid, kept[i]!]));
    return this.measure(this.space.cost.evaluate((gid) => byGid.get(gid) ?? this.space.analysis.groups[gid]!.size));
  }

  fits(g: Genome, stage: number | undefined): boolean {
    return this.costAt(g, stage) <= this.limit * (1 + 1e-9);
  }

  /** Fitness after the penalty (penalty mode), or unchanged. */
  penalize(fitness: number, cost: number): number {
    if (this.mode !== 'penalty') return fitness;
    return fitness - this.penaltyWeight * Math.max(0, cost / this.limit - 1);
  }

  /**
   * Drops random kept channels of `stage` until `g` fits: one at a time, or one rounding
   * unit of one group at a time (`--round-to`), never below a group's first unit. Returns
   * false when every group of the stage is at its floor and it still does not fit.
   * O(dropped · (layers + bits)).
   */
  repair(g: Genome, stage: SearchStage, rng: Rng, costStage: number | undefined = stage.index): boolean {
    if (this.fits(g, costStage)) return true;
    const sp = this.space;
    const keptCount = new Map<number, number>();
    const kept: number[] = [];
    for (const i of stage.groups) {
      const sg = sp.groups[i]!;
      let k = 0;
      for (let b = 0; b < sg.size; b++)
        if (g[sg.offset + b]) {
          k++;
          kept.push(sg.offset + b);
        }
      keptCount.set(i, k);
    }
    const groupOfBit = (bit: number): number => this.#groupOfBit[bit]!;
    // The next allowed count below a group's: one channel less, or the multiple of its unit below.
    const nextDown = (gi: number): number => {
      const k = keptCount.get(gi)!,
        u = sp.groups[gi]!.unit;
      return k % u === 0 ? k - u : Math.floor(k / u) * u;
    };
    const droppable = (b: number): boolean => {
      const gi = groupOfBit(b);
      return nextDown(gi) >= sp.groups[gi]!.unit;
    };
    const drop = (bit: number): void => {
      g[bit] = 0;
      kept.splice(kept.indexOf(bit), 1);
      const gi = groupOfBit(bit);
      keptCount.set(gi, keptCount.get(gi)! - 1);
    };
    // Drop several bits between cost checks when far over (cost is roughly linear in bits).
    while (kept.length > 0) {
      const cost = this.costAt(g, costStage);
      if (cost <= this.limit * (1 + 1e-9)) return true;
      const cands0 = kept.filter(droppable);
      if (cands0.length === 0) return false;
      const excess = (cost - this.limit) / cost;
      const n = Math.max(1, Math.floor(cands0.length * excess * 0.5));
      for (let t = 0; t < n;) {
        const cands = kept.filter(droppable);
        if (cands.length === 0) break;
        const bit = cands[rng.int(cands.length)]!;
        const gi = groupOfBit(bit);
        const count = keptCount.get(gi)! - nextDown(gi);
        drop(bit);
        // A rounded group goes down to its next multiple: more random bits of the same group.
        for (let u = 1; u < count; u++) {
          const own = kept.filter((b) => groupOfBit(b) === gi);
          drop(own[rng.int(own.length)]!);
        }
        t += count;
      }
    }
    return this.fits(g, costStage);
  }

  /**
   * Gives dropped channels back to the final genome `g` while it stays within the budget
   * (exact cost, no projection): the repair only ever drops channels, so the searched genome
   * usually lands below the target. Each step takes the searched group with the smallest
   * kept fraction whose next allowed count (one channel, or up to the next multiple of its
   * unit, or the whole group) still fits, and turns on its dropped channels of highest
   * `importance` (one number per genome bit; ties by index). A group that does not fit is
   * not tried again: cost only grows. Deterministic. Returns the channels given back.
   */
  fill(g: Genome, importance: Float64Array): number {
    const sp = this.space;
    const kept = sp.keptOf(g);
    // Each group's bits by importance, highest first: the next ones to turn on are the first that are off.
    const order = sp.groups.map((sg) => Array.from({ length: sg.size }, (_, b) => sg.offset + b).sort((a, b) => importance[b]! - importance[a]! || a - b));
    const open = new Set(sp.groups.map((_, i) => i).filter((i) => kept[i]! < sp.groups[i]!.size));
    let added = 0;
    for (;;) {
      let pick = -1;
      for (const i of open) if (pick < 0 || kept[i]! / sp.groups[i]!.size < kept[pick]! / sp.groups[pick]!.size) pick = i;
      if (pick < 0) return added;
      const sg = sp.groups[pick]!;
      const k = kept[pick]!;
      const up = sg.unit <= 1 ? k + 1 : Math.min(sg.size, k % sg.unit === 0 ? k + sg.unit : Math.ceil(k / sg.unit) * sg.unit);
      const turn = order[pick]!.filter((b) => !g[b]).slice(0, up - k);
      for (const b of turn) g[b] = 1;
      if (this.fits(g, undefined)) {
        added += turn.length;
        kept[pick] = up;
        if (up >= sg.size) open.delete(pick);
        continue;
      }
      for (const b of turn) g[b] = 0;
      open.delete(pick);
    }
  }

  /**
   * Rounds the kept count of each group of `stage` to the nearest multiple of its unit (at
   * least one unit; the whole group counts as a multiple), by keeping random dropped bits or
   * dropping random kept ones. Groups with unit 1 are left as they are.
   */
  snap(g: Genome, stage: SearchStage, rng: Rng): void {
    for (const i of stage.groups) {
      const sg = this.space.groups[i]!;
      if (sg.unit <= 1) continue;
      const on: number[] = [];
      const off: number[] = [];
      for (let b = 0; b < sg.size; b++) (g[sg.offset + b] ? on : off).push(sg.offset + b);
      const want = roundedCount(on.length, sg.size, sg.unit);
      for (; on.length < want;) {
        const j = rng.int(off.length);
        const b = off.splice(j, 1)[0]!;
        g[b] = 1;
        on.push(b);
      }
      for (; on.length > want;) {
        const j = rng.int(on.length);
        const b = on.splice(j, 1)[0]!;
        g[b] = 0;
      }
    }
  }
}

/** The allowed kept count nearest to `k`: a multiple of `unit` (at least one unit) or the whole group; ties go down. */
export function roundedCount(k: number, size: number, unit: number): number {
  if (unit <= 1 || k >= size) return Math.min(Math.max(k, 1), size);
  const down = Math.max(unit, Math.floor(k / unit) * unit);
  const upRaw = Math.ceil(k / unit) * unit;
  const up = upRaw >= size ? size : Math.max(unit, upRaw);
  return k - down <= up - k ? down : up;
}

/** Sets one random bit of every group of the stage that has none (a group never empties). */
export function ensureNonEmpty(g: Genome, stage: SearchStage, space: SearchSpace, rng: Rng): void {
  for (const i of stage.groups) {
    const sg = space.groups[i]!;
    let any = false;
    for (let b = 0; b < sg.size && !any; b++) if (g[sg.offset + b]) any = true;
    if (!any) g[sg.offset + rng.int(sg.size)] = 1;
  }
}
