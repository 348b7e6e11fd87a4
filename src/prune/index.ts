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
import { analyzeChannelGroups } from '../analysis/channel-groups.js';
import type { ChannelAnalysis } from '../analysis/channel-groups.js';
import { computeCost } from '../analysis/cost.js';
import type { CostReport } from '../analysis/cost.js';
import type { Model } from '../ir/core.js';
import { sortTopologically } from '../ir/toposort.js';
import { verifyModel } from '../ir/verify.js';
import { applyChannelPruning } from './apply.js';
import type { ApplyResult } from './apply.js';
import { planPruning } from './plan.js';
import type { PlanOptions, PrunePlan } from './plan.js';
import { buildPruneReport } from './report.js';
import type { PruneReport } from './report.js';
import { retieConstants, untieSharedConstants } from './untie.js';

export * from './apply.js';
export * from './criteria.js';
export * from './mask.js';
export * from './plan.js';
export * from './report.js';
export * from './round-to.js';
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
  /** Paths the mask / scores came from (recorded in the report's options). */
  sources?: { mask?: string; scores?: string };
  /** Recorded in the report. */
  input?: string;
  output?: string;
  /** Progress: called after each step with its name and seconds taken. */
  onStep?: (step: 'analysis' | 'plan' | 'prune', seconds: number) => void;
}

/**
 * The channel-pruning pipeline (the one `sculpt prune` runs): cost before, untie shared
 * constants, channel groups, plan, slice every coupled tensor, re-tie, IR verification,
 * cost after, report. In place; keep a copy of the input (e.g. `readModel` again, or
 * `decodeModel(encodeModel(m))`) to verify against with `verifyMaskedEquivalence`.
 * @throws INVALID_OPTION, the mask codes, SHAPE_INFERENCE_FAILED, VERIFY_FAILED (a bug)
 */
export function pruneModel(model: Model, opts: PruneModelOptions): PruneOutcome {
  let t = performance.now();
  const lap = (step: 'analysis' | 'plan' | 'prune') => {
    const now = performance.now();
    opts.onStep?.(step, (now - t) / 1000);
    t = now;
  };
  // Cost first: untying adds copies that would count as params of the input.
  const before = computeCost(model);
  const untied = opts.untie === false ? [] : untieSharedConstants(model);
  const analysis = analyzeChannelGroups(model);
  lap('analysis');
  const plan = planPruning(model, analysis, before, opts);
  lap('plan');
  const applied = applyChannelPruning(model, analysis, plan.keep);
  retieConstants(model, untied);
  sortTopologically(model.graph);
  verifyModel(model, 'after channel pruning');
  const after = computeCost(model);
  lap('prune');
  const criterion = plan.ratio === undefined ? 'mask' : (opts.criterion ?? (opts.scores ? 'scores' : 'l1'));
  const options = {
    ratio: opts.ratio, flopsTarget: opts.flopsTarget, criterion, scope: opts.scope ?? 'layer', roundTo: opts.roundTo, minChannels: opts.minChannels,
    maxRatio: opts.maxRatio, seed: opts.seed, mask: opts.sources?.mask, scores: opts.sources?.scores, searchedRatio: plan.ratio,
  };
  const report = buildPruneReport({ analysis, plan, applied, before, after, options, input: opts.input, output: opts.output, untied });
  return { analysis, plan, applied, before, after, report };
}
