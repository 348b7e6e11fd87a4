/**
 * The prune report (`--report r.json`): the pruned tensors of the INPUT model under
 * `"pruned"` (each `{ name, axis, removed }`; the file is itself a valid `--mask`), the
 * per-layer channels, MACs and params before and after, group decisions and totals.
 */
import { isTargetMiss, targetRemarks } from './target-remarks.js';
import type { ChannelAnalysis } from '../analysis/channel-groups.js';
import { isGroupPrunable, summarizeGroups } from '../analysis/channel-groups.js';
import type { CostReport } from '../analysis/cost.js';
import type { ApplyResult, PrunedTensor } from './apply.js';
import type { PrunePlan } from './plan.js';
import type { VerifyResult } from './verify.js';
import type { UntiedConstant } from './untie.js';
import type { LatencyReport } from './latency.js';

export interface LayerChange {
  name: string;
  op: string;
  /** [before, after]; absent when unknown. */
  inChannels?: [number, number];
  outChannels?: [number, number];
  macs: [number, number];
  params: [number, number];
}

export interface PruneReport {
  input?: string;
  output?: string;
  options: Record<string, unknown>;
  summary: {
    groups: number;
    prunableGroups: number;
    frozenGroups: number;
    groupsPruned: number;
    channelsRemoved: number;
    macs: [number, number];
    flops: [number, number];
    params: [number, number];
    /** after / before */
    flopsRatio: number;
    paramsRatio: number;
  };
  groups: { id: number; name: string; channels: number; kept: number; frozen?: readonly string[] }[];
  layers: LayerChange[];
  pruned: PrunedTensor[];
  /** Shared constants given one copy per reader before pruning; `pruned` may name the copies. */
  untied: UntiedConstant[];
  remarks: string[];
  timings?: Record<string, number>;
  verify?: VerifyResult;
  /** For `--latency-target`: baseline, predicted and measured latency of the pruned model. */
  latency?: LatencyReport;
}

const LAYER_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization', 'InstanceNormalization']);

/** Assembles the report from the analysis, the plan, the applied result and the costs before and after (same model object). */
export function buildPruneReport(args: {
  analysis: ChannelAnalysis;
  plan?: PrunePlan;
  applied: ApplyResult;
  before: CostReport;
  after: CostReport;
  options?: Record<string, unknown>;
  input?: string;
  output?: string;
  remarks?: string[];
  untied?: UntiedConstant[];
}): PruneReport {
  const { analysis, applied, before, after } = args;
  const afterBy = new Map(after.nodes.map((c) => [c.node, c]));
  const layers: LayerChange[] = [];
  for (const b of before.nodes) {
    if (!LAYER_OPS.has(b.op)) continue;
    const a = afterBy.get(b.node);
    if (!a) continue;
    const l: LayerChange = { name: b.name, op: b.op, macs: [b.macs, a.macs], params: [b.params, a.params] };
    if (b.inChannels !== undefined && a.inChannels !== undefined) l.inChannels = [b.inChannels, a.inChannels];
    if (b.outChannels !== undefined && a.outChannels !== undefined) l.outChannels = [b.outChannels, a.outChannels];
    layers.push(l);
  }
  const s = summarizeGroups(analysis);
  const keptOf = (gid: number) => args.plan?.keep.get(gid)?.length ?? analysis.groups[gid]!.size;
  return {
    input: args.input,
    output: args.output,
    // The resolved rounding, so `--round-to auto` runs are reproducible with the number.
    options: args.plan
      ? { ...(args.options ?? {}), roundTo: args.plan.roundTo, ...(args.plan.roundToReason !== 'given' ? { roundToAuto: args.plan.roundToReason } : {}) }
      : (args.options ?? {}),
    summary: {
      groups: s.groups,
      prunableGroups: s.prunable,
      frozenGroups: s.frozen,
      groupsPruned: applied.groupsPruned,
      channelsRemoved: applied.channelsRemoved,
      macs: [before.total.macs, after.total.macs],
      flops: [before.total.flops, after.total.flops],
      params: [before.total.params, after.total.params],
      flopsRatio: before.total.flops > 0 ? after.total.flops / before.total.flops : 1,
      paramsRatio: before.total.params > 0 ? after.total.params / before.total.params : 1,
    },
    groups: analysis.groups.map((g) => ({
      id: g.id,
      name: g.name,
      channels: g.width,
      kept: keptOf(g.id) * g.mult,
      ...(isGroupPrunable(g) ? {} : { frozen: g.frozen.length ? g.frozen : ['a single channel'] }),
    })),
    layers,
    pruned: applied.pruned,
    untied: args.untied ?? [],
    remarks: [
      ...(args.plan?.remarks ?? []),
      ...(args.remarks ?? []),
      ...targetRemarks({ options: args.options ?? {}, analysis, plan: args.plan, before, after, channelsRemoved: applied.channelsRemoved }),
    ],
  };
}

/** A short human summary of a report (what `sculpt prune` prints). */
export function formatPruneReport(r: PruneReport, explain = false): string {
  const f = (x: number) =>
    x >= 1e9 ? `${(x / 1e9).toFixed(3)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(3)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : String(Math.round(x));
  const s = r.summary;
  const lines = [
    `groups: ${s.groups} (${s.prunableGroups} prunable, ${s.frozenGroups} frozen); pruned ${s.groupsPruned}, removing ${s.channelsRemoved} channels`,
    `FLOPs ${f(s.flops[0])} → ${f(s.flops[1])} (${(100 * s.flopsRatio).toFixed(1)}%)   params ${f(s.params[0])} → ${f(s.params[1])} (${(100 * s.paramsRatio).toFixed(1)}%)`,
  ];
  if (explain) {
    lines.push('layers (channels in→out, MACs):');
    for (const l of r.layers) {
      if (l.macs[0] === 0 && l.op !== 'Conv') continue;
      const ch = (x?: [number, number]) => (x ? (x[0] === x[1] ? String(x[0]) : `${x[0]}→${x[1]}`) : '?');
      lines.push(
        `  ${l.name.padEnd(28)} ${l.op.padEnd(14)} in ${ch(l.inChannels).padEnd(10)} out ${ch(l.outChannels).padEnd(10)} MACs ${f(l.macs[0])} → ${f(l.macs[1])}`,
      );
    }
    const frozen = r.groups.filter((g) => g.frozen);
    if (frozen.length) {
      lines.push('frozen groups:');
      for (const g of frozen) lines.push(`  #${g.id} ${g.name} (${g.channels} channels): ${g.frozen!.join('; ')}`);
    }
    for (const rm of r.remarks) lines.push(`remark: ${rm}`);
  } else {
    // Where the result missed what was asked, and why, is said without --explain too.
    for (const rm of r.remarks) if (isTargetMiss(rm)) lines.push(`note: ${rm}`);
  }
  if (r.latency) {
    const l = r.latency;
    lines.push(
      `latency (${l.provider}, ${l.threads} thread${l.threads === 1 ? '' : 's'}, batch ${l.batch}, ${l.clock} time): ${l.baselineMs.toFixed(2)} → ${l.measuredMs.toFixed(2)} ms measured (${(100 * l.measuredRatio).toFixed(1)}%; target ${(100 * l.target).toFixed(1)}%, predicted ${(100 * l.predictedRatio).toFixed(1)}%)`,
    );
  }
  if (r.verify) {
    const v = r.verify;
    lines.push(`verify: ${v.ok ? 'ok' : 'FAILED'} — masked original vs pruned, worst relative diff ${v.worst.toExponential(2)} (tolerance ${v.tolerance})`);
  }
  return lines.join('\n');
}
