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
import type { LatencyRunOptions } from './latency.js';
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

/**
 * Plans and applies a channel pruning in place: shape inference, channel groups, cost,
 * plan, slicing and fixups, IR verification, cost after, report. Keep a copy of the input
 * (e.g. `decodeModel(encodeModel(m))`) to verify against. Analyses come from `analyses`
 * (a fresh manager at `inputShapes` when absent).
 * @throws INVALID_OPTION, the mask codes, SHAPE_INFERENCE_FAILED, VERIFY_FAILED (a bug);
 *   COST_UNKNOWN for a FLOPs target on a model whose cost depends on unknown dims
 */
export function pruneModel(model: Model, opts: PlanOptions & { untie?: boolean; inputShapes?: Readonly<Record<string, readonly number[]>> }, analyses?: AnalysisManager): PruneOutcome {
  const am = analyses ?? new AnalysisManager(model, { inputShapes: opts.inputShapes });
  // Cost first: untying adds copies that would count as params of the input.
  const before = am.get(costAnalysis);
  if (opts.flopsTarget !== undefined) requireExactCost(before, '--flops-target');
  const untied = opts.untie === false ? [] : untieSharedConstants(model);
  const analysis = am.get(channelGroupsAnalysis);
  const plan = planPruning(model, analysis, before, opts);
  const applied = applyChannelPruning(model, analysis, plan.keep);
  retieConstants(model, untied);
  sortTopologically(model.graph);
  verifyModel(model, 'after channel pruning');
  const after = am.get(costAnalysis);
  const report = buildPruneReport({ analysis, plan, applied, before, after, options: { ...opts, mask: undefined, scores: undefined }, untied });
  return { analysis, plan, applied, before, after, report };
}

/**
 * `pruneModel` for a latency target (`opts.latencyTarget`, a fraction of the measured
 * latency in onnxruntime): measures a per-layer table (cached on disk), plans, checks the
 * pruned model's latency against the original and corrects (latency.ts). In place; the
 * report's `latency` has the baseline, predicted and measured latency.
 * @throws the `pruneModel` codes; RUNTIME_FAILED
 */
export async function pruneModelToLatency(model: Model, opts: PlanOptions & { latencyTarget: number; untie?: boolean; inputShapes?: Readonly<Record<string, readonly number[]>> }, run: LatencyRunOptions = {}, analyses?: AnalysisManager): Promise<PruneOutcome> {
  const am = analyses ?? new AnalysisManager(model, { inputShapes: opts.inputShapes });
  const before = am.get(costAnalysis);
  const untied = opts.untie === false ? [] : untieSharedConstants(model);
  const analysis = am.get(channelGroupsAnalysis);
  const { plan, latency } = await planForLatency(model, analysis, before, opts, run);
  const applied = applyChannelPruning(model, analysis, plan.keep);
  retieConstants(model, untied);
  sortTopologically(model.graph);
  verifyModel(model, 'after channel pruning');
  const after = am.get(costAnalysis);
  const report = buildPruneReport({ analysis, plan, applied, before, after, options: { ...opts, latencyModel: undefined, mask: undefined, scores: undefined, provider: run.provider ?? 'cpu', threads: run.threads ?? 1, batch: run.batch ?? 1 }, untied });
  report.latency = latency;
  return { analysis, plan, applied, before, after, report };
}
