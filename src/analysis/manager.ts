/**
 * The analysis manager (MLIR's AnalysisManager): analyses computed on demand, cached per
 * model revision, dropped when the model changes unless the pass that changed it declares
 * them preserved.
 *
 * Every IR mutation bumps `model.revision`; a cached result is served only while the
 * revision it was computed at is current. After a pass, the pass manager calls
 * `afterPass(preserved)`: preserved analyses are re-stamped with the new revision (the
 * pass vouches they still hold), the others are dropped. Analyses only read the model and
 * return side tables; they never write it.
 *
 * ```ts
 * const am = new AnalysisManager(model, { inputShapes: { x: [1, 3, 48, 192] } });
 * const cost = am.get(costAnalysis);            // infers shapes once (cached), then counts
 * am.get(channelGroupsAnalysis);                // reuses the cached shapes
 * model.graph.removeNode(n);                    // revision bumps: both are recomputed on the next get
 * ```
 */
import type { Model } from '../ir/core.js';
import type { ChannelAnalysis } from './channel-groups.js';
import { analyzeChannelGroups } from './channel-groups.js';
import type { CostReport } from './cost.js';
import { computeCost } from './cost.js';
import type { ShapeInferenceResult } from './shapes.js';
import { inferShapes } from './shapes.js';

/** What every analysis of one manager is computed for. */
export interface AnalysisOptions {
  /** Graph input shapes resolving symbolic dims (`--input-shape`). */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** The batch the cost counts (a symbolic axis 0 of a graph input), default 1. */
  batch?: number;
}

/** An analysis: a name (what passes declare preserved) and a pure function of the model. */
export interface Analysis<T> {
  readonly name: string;
  compute(model: Model, am: AnalysisManager): T;
}

/** Which analyses a pass keeps valid: names, or 'all' (the pass changed nothing an analysis reads). */
export type PreservedAnalyses = readonly string[] | 'all';

/** Shapes and element types of every value (a side table; the IR keeps its declared types). */
export const shapesAnalysis: Analysis<ShapeInferenceResult> = {
  name: 'shapes',
  compute: (m, am) => inferShapes(m, { inputShapes: am.options.inputShapes }),
};

/** MACs, FLOPs, params and bytes per node and in total, at the manager's input shapes. */
export const costAnalysis: Analysis<CostReport> = {
  name: 'cost',
  compute: (m, am) => computeCost(m, { shapes: am.get(shapesAnalysis).shapes, batch: am.options.batch }),
};

/** Coupled channel groups. */
export const channelGroupsAnalysis: Analysis<ChannelAnalysis> = {
  name: 'channel-groups',
  compute: (m, am) => analyzeChannelGroups(m, { shapes: am.get(shapesAnalysis).shapes }),
};

interface Entry {
  value: unknown;
  revision: number;
}

export class AnalysisManager {
  readonly #cache = new Map<string, Entry>();
  /** Cache counters, for tests and `--timings`. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    readonly model: Model,
    readonly options: AnalysisOptions = {},
  ) {}

  /** The analysis result for the model as it is now: cached when still valid, else computed (and cached). */
  get<T>(a: Analysis<T>): T {
    const e = this.#cache.get(a.name);
    if (e && e.revision === this.model.revision) {
      this.stats.hits++;
      return e.value as T;
    }
    this.stats.misses++;
    const value = a.compute(this.model, this);
    // Stamp with the revision after computing: an analysis never writes the model, so the
    // two are equal unless it broke that rule, in which case it must not be served again.
    this.#cache.set(a.name, { value, revision: this.model.revision });
    return value;
  }

  /** The cached result when still valid, without computing. */
  cached<T>(a: Analysis<T>): T | undefined {
    const e = this.#cache.get(a.name);
    return e && e.revision === this.model.revision ? (e.value as T) : undefined;
  }

  /**
   * After a pass: analyses in `preserved` stay valid for the model as it is now (re-stamped
   * with the current revision); every other one is dropped.
   */
  afterPass(preserved: PreservedAnalyses | undefined): void {
    for (const [name, e] of this.#cache) {
      if (preserved === 'all' || preserved?.includes(name)) e.revision = this.model.revision;
      else this.#cache.delete(name);
    }
  }

  /** Drops every cached analysis. */
  clear(): void {
    this.#cache.clear();
  }
}
