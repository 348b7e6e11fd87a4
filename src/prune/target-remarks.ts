/**
 * Remarks that say why a pruning result differs from what was asked (issue: a FLOPs target
 * of 0.5 that keeps 44.7% with no word). Read-only over the report's numbers: the search
 * itself lives in plan.ts.
 *
 *   --flops-target 0.5: kept 47.4% of FLOPs, 2.6 points under the target; kept channel
 *   counts are multiples of 8 (--round-to 8), so a group's width moves in steps of 8 ...
 */
import type { ChannelAnalysis } from '../analysis/channel-groups.js';
import { isGroupPrunable } from '../analysis/channel-groups.js';
import type { CostReport } from '../analysis/cost.js';
import type { PrunePlan } from './plan.js';

/** Whether a remark says the result missed what was asked (and why): shown without --explain. */
export function isTargetMiss(remark: string): boolean {
  return /^(--flops-target|--ratio|FLOPs are lower bounds)/.test(remark) && !/\(within /.test(remark);
}

/** Off by more than this (absolute fraction) from a target, a remark says why. */
export const TARGET_TOLERANCE = 0.005;

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * The remarks for a finished pruning: the requested target or ratio against the measured
 * result and the causes that apply (rounding, per-group limits, frozen groups, the planner's
 * estimate against the measured cost, lower-bound costs).
 */
export function targetRemarks(args: {
  options: Record<string, unknown>;
  analysis: ChannelAnalysis;
  plan?: PrunePlan;
  before: CostReport;
  after: CostReport;
  channelsRemoved: number;
}): string[] {
  const { options: o, analysis, plan, before, after } = args;
  const out: string[] = [];
  const num = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  const roundTo = num('roundTo') ?? 1;
  const maxRatio = num('maxRatio');
  const minChannels = num('minChannels');
  const frozen = analysis.groups.filter((g) => !isGroupPrunable(g));
  const causes: string[] = [];
  if (roundTo > 1)
    causes.push(
      `kept channel counts are multiples of ${roundTo} (--round-to ${roundTo}), so each group's width moves in steps of ${roundTo} channels; --round-to 1 lands closer`,
    );
  if (frozen.length) causes.push(`${frozen.length} group(s) are frozen and keep all their channels (sculpt groups --explain says why)`);
  // Per-group limits are named only where a group sits at them.
  const kept = [...(plan?.keep ?? new Map<number, number[]>())].map(([gid, k]) => ({ g: analysis.groups[gid]!, k: k.length }));
  const atMax = maxRatio !== undefined ? kept.filter(({ g, k }) => (g.size - k) / g.size > maxRatio - 1 / g.size - 1e-9).length : 0;
  if (atMax) causes.push(`${atMax} group(s) lost the most --max-ratio ${maxRatio} allows`);
  const atMin = minChannels !== undefined && minChannels > 1 ? kept.filter(({ g, k }) => k * g.mult <= minChannels).length : 0;
  if (atMin) causes.push(`${atMin} group(s) are at --min-channels ${minChannels}`);

  if (!before.exact || !after.exact) {
    out.push(
      `FLOPs are lower bounds: they depend on the dims ${[...new Set([...before.unknownDims, ...after.unknownDims])].join(', ')}; give --input-shape for exact counts`,
    );
  }
  const target = num('flopsTarget');
  if (target !== undefined && before.total.flops > 0) {
    const got = after.total.flops / before.total.flops;
    const off = got - target;
    if (Math.abs(off) > TARGET_TOLERANCE) {
      const where = `${Math.abs(100 * off).toFixed(1)} points ${off < 0 ? 'under' : 'over'} the target`;
      const why = [...causes];
      if (plan && plan.before.macs > 0) {
        const est = plan.after.macs / plan.before.macs;
        if (Math.abs(est - got) > TARGET_TOLERANCE)
          why.push(
            `the planner estimated ${pct(est)} (it scales each layer's MACs by the kept fractions of its coupled groups) and the pruned model measures ${pct(got)}`,
          );
      }
      out.push(`--flops-target ${target}: kept ${pct(got)} of FLOPs, ${where}${why.length ? `; ${why.join('; ')}` : ''}`);
    } else {
      out.push(`--flops-target ${target}: kept ${pct(got)} of FLOPs (within ${pct(TARGET_TOLERANCE)} of the target)`);
    }
  }
  const ratio = num('ratio');
  if (ratio !== undefined) {
    const prunable = analysis.groups.filter(isGroupPrunable).reduce((s, g) => s + g.width, 0);
    const got = prunable > 0 ? args.channelsRemoved / prunable : 0;
    if (Math.abs(got - ratio) > TARGET_TOLERANCE) {
      out.push(`--ratio ${ratio}: removed ${pct(got)} of the ${prunable} prunable channels${causes.length ? `; ${causes.join('; ')}` : ''}`);
    }
  }
  return out;
}
