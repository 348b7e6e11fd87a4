/**
 * GWCS end to end as a library call: prepare the masked network, open the sessions,
 * run the genetic search, and hand back the best genome as a mask document together with
 * a check that the masked session and the pruned model agree on it.
 *
 * ```ts
 * const r = await gwcs(model, { x, xDims, budget: { kind: 'flops', target: 0.5 }, workers: 2 });
 * pruneModel(model, { criterion: 'mask', mask: parseMask(r.mask) });
 * ```
 */
import { cloneModel } from '../serde/clone.js';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { pruneModel } from '../prune/index.js';
import { parseMask } from '../prune/mask.js';
import { groupImportance } from '../prune/criteria.js';
import { encodeModel } from '../serde/write.js';
import { maxAbsDiff, runModel } from '../runtime/session.js';
import { Budget } from './budget.js';
import type { BudgetOptions } from './budget.js';
import type { FitnessKind } from './fitness.js';
import { ScorerPool } from './pool.js';
import { genomeToMask, prepareSearch, scatterFeature, scorerInit } from './prepare.js';
import type { PreparedSearch } from './prepare.js';
import { runSearch } from './search.js';
import { stageNetsOf } from './stage-cut.js';
import type { GeneticOptions, SearchProgress, SearchResult } from './search.js';
import { Scorer } from './scorer.js';
import { defaultIterations } from './space.js';
import type { Grouping } from './space.js';

export interface GwcsOptions extends Omit<GeneticOptions, 'iterations'> {
  /** Calibration batch [N, ...sample]. */
  x: Float32Array;
  xDims: readonly number[];
  budget: BudgetOptions;
  fitness?: FitnessKind;
  grouping?: Grouping;
  /** Generations per stage (default: `defaultIterations` of the GGS stage count; OGS: their sum). */
  iterations?: readonly number[];
  /** Kept channels per group are a multiple of this (per conv group, as `sculpt prune --round-to`); default 1: exact. */
  roundTo?: number;
  /** Summarise the feature inside the graph (`appendSummary`; default false: summarised in JS). */
  summaryInGraph?: boolean;
  /** Value compared by the fitness (default "last-conv"). */
  feature?: string;
  /**
   * GGS: score each stage's genomes on the network cut at the stage's frontier, the part
   * before it run once per stage (default true; `stage-cut.ts`).
   */
  stageCut?: boolean;
  /**
   * After the search, give dropped channels back (most-pruned group first, highest filter
   * norm first) while the budget allows (default true; `Budget.fill`): the repair only drops,
   * so the searched genome usually lands below the target. false: the searched genome as is.
   */
  fill?: boolean;
  /** Worker threads, each with its own session (default: the cores; 0 = this thread). */
  workers?: number;
  /** Resumable state file, written after every generation. */
  state?: string;
  onProgress?: (p: SearchProgress) => void;
  signal?: { stop: boolean };
}

export interface GwcsResult {
  readonly prepared: PreparedSearch;
  readonly search: SearchResult;
  readonly iterations: readonly number[];
  readonly workers: number;
  /** The best genome as a `sculpt prune --mask` document. */
  readonly mask: ReturnType<typeof genomeToMask>;
  /** Kept / total group channels per searched group. */
  readonly groups: { name: string; stage: number; kept: number; size: number }[];
  readonly budget: { kind: string; target: number; mode: string; achieved: number };
  /** Channels given back after the search to bring the genome up to the budget (`fill`); undefined when none were. */
  readonly fill?: { channels: number; costBefore: number; fitnessBefore: number };
}

/** sha256 over the model, the calibration batch and every option that changes the result. */
export function searchFingerprint(model: Model, o: GwcsOptions, iterations: readonly number[]): string {
  const h = createHash('sha256');
  h.update(encodeModel(model));
  h.update(new Uint8Array(o.x.buffer, o.x.byteOffset, o.x.byteLength));
  h.update(
    JSON.stringify({
      xDims: o.xDims,
      budget: { ...o.budget, mode: o.budget.mode ?? 'repair' },
      fitness: o.fitness ?? 'wca',
      summaryInGraph: o.summaryInGraph === true,
      grouping: o.grouping ?? 'ggs',
      iterations,
      feature: o.feature ?? 'last-conv',
      stageCut: o.stageCut !== false,
      roundTo: o.roundTo ?? 1,
      population: o.population ?? 50,
      parents: o.parents ?? 20,
      offspring: o.offspring ?? 50,
      survivors: o.survivors ?? 30,
      mutation: o.mutation ?? 0.1,
      seed: o.seed ?? 0,
    }),
  );
  return h.digest('hex');
}

/**
 * Iterations per stage for a grouping: GGS per stage; OGS one stage of their sum over the GGS
 * stages. One given number is the count for every stage.
 */
export function iterationsFor(prepared: PreparedSearch, ggsStages: number, given?: readonly number[]): number[] {
  if (given?.length === 1) return new Array<number>(prepared.space.stages.length).fill(given[0]!);
  if (given) return [...given];
  const d = defaultIterations(ggsStages);
  return prepared.space.stages.length === 1 && ggsStages > 1 ? [d.reduce((a, b) => a + b, 0)] : d;
}

/**
 * Runs GWCS on `model` (not changed).
 * @throws INVALID_OPTION, BUDGET_UNREACHABLE, SEARCH_STATE_MISMATCH, PRECONDITION_FAILED, RUNTIME_FAILED
 */
export async function gwcs(model: Model, o: GwcsOptions): Promise<GwcsResult> {
  const grouping = o.grouping ?? 'ggs';
  const fitness = o.fitness ?? 'wca';
  const prepared = prepareSearch(model, { grouping, feature: o.feature, fitness, summaryInGraph: o.summaryInGraph, roundTo: o.roundTo });
  const ggsStages =
    grouping === 'ggs' ? prepared.space.stages.length : prepareSearch(model, { grouping: 'ggs', feature: o.feature, roundTo: o.roundTo }).space.stages.length;
  const iterations = iterationsFor(prepared, ggsStages, o.iterations);
  const budget = new Budget(prepared.space, o.budget);
  const sample = prepared.model.graph.inputs.find((v) => v.name === prepared.dataInput)!.shape;
  if (sample && (sample.length !== o.xDims.length || sample.some((d, i) => typeof d === 'number' && i > 0 && d !== o.xDims[i]))) {
    throw new CompilerError(
      'DATA_SHAPE_MISMATCH',
      `the calibration batch is [${o.xDims.join(',')}] but the model's input "${prepared.dataInput}" wants [${sample.join(',')}]`,
      { where: prepared.dataInput },
    );
  }
  const workers = o.workers ?? availableParallelism();
  if (!Number.isInteger(workers) || workers < 0) throw new CompilerError('INVALID_OPTION', `--workers must be a non-negative integer; got ${workers}`);
  const pool = await ScorerPool.open(
    { ...scorerInit(prepared, o.x, o.xDims, fitness), stages: o.stageCut === false ? undefined : stageNetsOf(prepared) },
    workers,
  );
  let search: SearchResult;
  let filled: GwcsResult['fill'];
  try {
    search = await runSearch(prepared.space, budget, pool, { ...o, iterations, fingerprint: o.state ? searchFingerprint(model, o, iterations) : undefined });
    if (o.fill !== false && !search.stopped) {
      const genome = search.genome.slice();
      const channels = budget.fill(genome, bitImportance(prepared));
      if (channels > 0) {
        await pool.useStage(undefined, genome); // every stage's bits may have changed: the full network
        const fitness = (await pool.fitness([genome]))[0]!;
        filled = { channels, costBefore: search.cost, fitnessBefore: search.fitness };
        search = { ...search, genome, fitness, cost: budget.costAt(genome, undefined) / budget.base };
      }
    }
  } finally {
    await pool.close();
  }
  const kept = prepared.space.keptOf(search.genome);
  const stageOf = new Map<number, number>();
  prepared.space.stages.forEach((s) => s.groups.forEach((i) => stageOf.set(i, s.index)));
  return {
    prepared,
    search,
    iterations,
    workers,
    mask: genomeToMask(prepared.space, search.genome),
    groups: prepared.space.groups.map((g, i) => ({ name: g.name, stage: stageOf.get(i)!, kept: kept[i]!, size: g.size })),
    budget: { kind: o.budget.kind, target: o.budget.target, mode: budget.mode, achieved: search.cost },
    fill: filled,
  };
}

/** Each genome bit's channel importance: its group's BN-scaled filter L1 norm (`sculpt prune --criterion l1`). */
function bitImportance(prepared: PreparedSearch): Float64Array {
  const sp = prepared.space;
  const out = new Float64Array(sp.length);
  for (const sg of sp.groups) {
    const imp = groupImportance(sp.analysis, sp.analysis.groups[sg.gid]!, 'l1');
    if (imp) out.set(imp.subarray(0, sg.size), sg.offset);
  }
  return out;
}

/**
 * Prunes a copy of the prepared model with a genome and compares its feature with the
 * masked session's on the calibration batch: the proof that the search scored the model it
 * returns. Returns the pruned model and the relative difference.
 */
export async function checkGenome(
  prepared: PreparedSearch,
  genome: Uint8Array,
  x: Float32Array,
  xDims: readonly number[],
): Promise<{ pruned: Model; maxAbs: number; relative: number }> {
  const pruned = cloneModel(prepared.model);
  pruneModel(pruned, { criterion: 'mask', mask: parseMask(genomeToMask(prepared.space, genome)), untie: false });
  const feeds = { [prepared.dataInput]: { data: x, dims: [...xDims] } };
  const r = await runModel(pruned, feeds, [prepared.feature.original]);
  const got = scatterFeature(prepared.space, genome, prepared.feature.original, r[prepared.feature.original]!);
  const sc = await Scorer.open(scorerInit(prepared, x, xDims, 'gap'));
  try {
    const want = await sc.feature(genome);
    const d = maxAbsDiff(want, got);
    return { pruned, maxAbs: d.maxAbs, relative: d.maxAbs / Math.max(d.scale, 1e-12) };
  } finally {
    await sc.release();
  }
}
