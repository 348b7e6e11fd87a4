/**
 * Channel pruning as a library: plan (criteria, scope, FLOPs target, rounding), apply
 * (slice every coupled tensor), report, and verify by masked equivalence.
 *
 * ```ts
 * const model = readModel('resnet.onnx');
 * const out = pruneModel(model, { flopsTarget: 0.5, criterion: 'l1' });   // in place
 * await checkMaskedEquivalence(readModel('resnet.onnx'), model, out.applied.pruned, { untied: out.report.untied });
 * ```
 */
import type { ChannelAnalysis } from '../analysis/channel-groups.js';
import { requireExactCost } from '../analysis/cost.js';
import type { CostReport } from '../analysis/cost.js';
import { AnalysisManager, channelGroupsAnalysis, costAnalysis } from '../analysis/manager.js';
import type { Model } from '../ir/core.js';
import { sortTopologically } from '../ir/toposort.js';
import { verifyModel } from '../ir/verify.js';
import { applyChannelPruning } from './apply.js';
import type { ApplyResult } from './apply.js';
import { planPruning } from './plan.js';
import { planForLatency } from './latency.js';
import type { LatencyReport, LatencyRunOptions } from './latency.js';
import type { PlanOptions, PrunePlan } from './plan.js';
import { buildPruneReport } from './report.js';
import type { PruneReport } from './report.js';
import { retieConstants, untieSharedConstants } from './untie.js';

export * from './apply.js';
export * from './criteria.js';
export * from './latency.js';
export * from './mask.js';
export * from './nan.js';
export * from './plan.js';
export * from './report.js';
export * from './round-to.js';
export * from './rounding.js';
export * from './scale-points.js';
export * from './target-remarks.js';
export * from './untie.js';
export * from './verify.js';

export interface PruneOutcome {
  readonly analysis: ChannelAnalysis;
  readonly plan: PrunePlan;
  readonly applied: ApplyResult;
  readonly before: CostReport;
  readonly after: CostReport;
  readonly report: PruneReport;
}

/** Options of the pruning pipeline: the plan's, plus how the run is described in the report. */
export interface PruneModelOptions extends PlanOptions {
  /** Untie shared constants first (default true): each reader gets its own copy. */
  untie?: boolean;
  /** Sizes of graph inputs whose dims are symbolic (analysis only; the model keeps its dims). */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Paths the mask / scores came from (recorded in the report's options). */
  sources?: { mask?: string; scores?: string };
  /** Recorded in the report. */
  input?: string;
  output?: string;
  /** Progress: called after each step with its name and seconds taken. */
  onStep?: (step: 'analysis' | 'plan' | 'prune', seconds: number) => void;
}

type Planned = { plan: PrunePlan; latency?: LatencyReport; extra?: Record<string, unknown> };
type Planner = (model: Model, analysis: ChannelAnalysis, before: CostReport) => Promise<Planned> | Planned;

/** The one pipeline behind `pruneModel` and `pruneModelToLatency`; only the planner differs. */
function runPipeline<T>(
  model: Model,
  opts: PruneModelOptions,
  am: AnalysisManager,
  planner: Planner,
  wrap: (finish: (r: Planned) => PruneOutcome, planned: ReturnType<Planner>) => T,
): T {
  let t = performance.now();
  const lap = (step: 'analysis' | 'plan' | 'prune') => {
    const now = performance.now();
    opts.onStep?.(step, (now - t) / 1000);
    t = now;
  };
  // Cost first: untying adds copies that would count as params of the input.
  const before = am.get(costAnalysis);
  if (opts.flopsTarget !== undefined) requireExactCost(before, '--flops-target');
  const untied = opts.untie === false ? [] : untieSharedConstants(model);
  const analysis = am.get(channelGroupsAnalysis);
  lap('analysis');
  const finish = ({ plan, latency, extra }: Planned): PruneOutcome => {
    lap('plan');
    const applied = applyChannelPruning(model, analysis, plan.keep);
    retieConstants(model, untied);
    sortTopologically(model.graph);
    verifyModel(model, 'after channel pruning');
    const after = am.get(costAnalysis);
    lap('prune');
    const criterion = plan.ratio === undefined ? 'mask' : (opts.criterion ?? (opts.scores ? 'scores' : 'l1'));
    const options = {
      ratio: opts.ratio,
      flopsTarget: opts.flopsTarget,
      criterion,
      scope: opts.scope ?? 'layer',
      roundTo: plan.roundTo,
      minChannels: opts.minChannels,
      maxRatio: opts.maxRatio,
      seed: opts.seed,
      nan: opts.nan,
      mask: opts.sources?.mask,
      scores: opts.sources?.scores,
      searchedRatio: plan.ratio,
      inputShapes: opts.inputShapes,
      ...extra,
    };
    const report = buildPruneReport({ analysis, plan, applied, before, after, options, input: opts.input, output: opts.output, untied });
    if (latency) report.latency = latency;
    return { analysis, plan, applied, before, after, report };
  };
  return wrap(finish, planner(model, analysis, before));
}

/**
 * The channel-pruning pipeline (the one `sculpt prune` runs): cost before, untie shared
 * constants, channel groups, plan, slice every coupled tensor, re-tie, IR verification,
 * cost after, report. In place; keep a copy of the input (e.g. `readModel` again, or
 * `decodeModel(encodeModel(m))`) to verify against with `verifyMaskedEquivalence`.
 * Analyses come from `analyses` (a fresh manager at `opts.inputShapes` when absent).
 * @throws INVALID_OPTION, the mask codes, SHAPE_INFERENCE_FAILED, VERIFY_FAILED (a bug);
 *   COST_UNKNOWN for a FLOPs target on a model whose cost depends on unknown dims
 */
export function pruneModel(model: Model, opts: PruneModelOptions, analyses?: AnalysisManager): PruneOutcome {
  const am = analyses ?? new AnalysisManager(model, { inputShapes: opts.inputShapes });
  return runPipeline(
    model,
    opts,
    am,
    (m, a, before) => ({ plan: planPruning(m, a, before, opts) }),
    (finish, planned) => finish(planned as Planned),
  );
}

/**
 * `pruneModel` for a latency target (`opts.latencyTarget`, a fraction of the measured
 * latency in onnxruntime): measures a per-layer table (cached on disk), plans, checks the
 * pruned model's latency against the original and corrects (latency.ts). In place; the
 * report's `latency` has the baseline, predicted and measured latency.
 * @throws the `pruneModel` codes; RUNTIME_FAILED
 */
export async function pruneModelToLatency(
  model: Model,
  opts: PruneModelOptions & { latencyTarget: number },
  run: LatencyRunOptions = {},
  analyses?: AnalysisManager,
): Promise<PruneOutcome> {
  const am = analyses ?? new AnalysisManager(model, { inputShapes: opts.inputShapes });
  return runPipeline(
    model,
    opts,
    am,
    async (m, a, before) => {
      const { plan, latency } = await planForLatency(m, a, before, opts, run);
      return { plan, latency, extra: { latencyTarget: opts.latencyTarget, provider: run.provider ?? 'cpu', threads: run.threads ?? 1, batch: run.batch ?? 1 } };
    },
    async (finish, planned) => finish(await planned),
  );
}
