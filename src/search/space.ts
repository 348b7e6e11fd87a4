/**
 * The search space of GWCS: one genome bit per channel of every prunable channel group
 * (a coupled group is one bit per group channel), laid out group after group; the groups'
 * stages by feature-map resolution (GGS) or one stage (OGS); and the cost of a genome
 * (MACs and params, exact for Conv/Gemm/MatMul as `CostModel` counts them).
 *
 * Stages: a group's resolution is the largest H×W among its feature-map members
 * (1 for [N, C] features); groups of equal resolution form a stage; stages go from the
 * highest resolution (concrete features) to the lowest (abstract), as the paper's four
 * down-sampling stages of a ResNet do.
 */
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis } from '../analysis/channel-groups.js';
import { isGroupPrunable } from '../analysis/channel-groups.js';
import type { CostReport } from '../analysis/cost.js';
import { CostModel } from '../prune/plan.js';
import type { CostEstimate } from '../prune/plan.js';
import type { Genome } from './genetic.js';

export type Grouping = 'ggs' | 'ogs';

export interface SearchGroup {
  readonly gid: number;
  readonly name: string;
  /** Group channels: bits of this group in the genome. */
  readonly size: number;
  /** Index of the group's first bit in the genome. */
  readonly offset: number;
  /** Largest H×W of the group's feature maps (1 when it has none). */
  readonly resolution: number;
  /** Kept channels are a multiple of this (`--round-to`, per conv group as `sculpt prune` rounds), or the whole group. */
  readonly unit: number;
}

export interface SearchStage {
  readonly index: number;
  readonly resolution: number;
  /** Indices into SearchSpace.groups. */
  readonly groups: readonly number[];
  /** Genome positions searched in this stage, ascending. */
  readonly bits: Int32Array;
}

export interface SearchSpace {
  readonly analysis: ChannelAnalysis;
  readonly groups: readonly SearchGroup[];
  /** Genome length. */
  readonly length: number;
  readonly stages: readonly SearchStage[];
  readonly cost: CostModel;
  /** Cost of a full genome. O(layers + bits). */
  costOf(g: Genome): CostEstimate;
  /** Kept channels per group (by group index) of a genome. */
  keptOf(g: Genome): number[];
}

function resolutionOf(a: ChannelAnalysis, gid: number): number {
  let best = 0;
  for (const m of a.groups[gid]!.members) {
    if (m.slot.kind !== 'activation') continue;
    const s = m.slot.value.shape;
    if (!s || s.length < 3) {
      best = Math.max(best, 1);
      continue;
    }
    let hw = 1;
    for (const d of s.slice(2)) hw *= typeof d === 'number' ? d : 1;
    best = Math.max(best, hw);
  }
  return best || 1;
}

/**
 * Builds the search space of an analysed model (shapes inferred, groups analysed); `only`
 * limits it to those group ids (the groups a mask input reaches).
 * `units` gives a group's rounding unit (default 1).
 * @throws PRECONDITION_FAILED when no group is prunable
 */
export function buildSearchSpace(
  a: ChannelAnalysis,
  cost: CostReport,
  grouping: Grouping = 'ggs',
  only?: ReadonlySet<number>,
  units?: ReadonlyMap<number, number>,
): SearchSpace {
  const groups: SearchGroup[] = [];
  let offset = 0;
  for (const g of a.groups) {
    if (!isGroupPrunable(g) || (only && !only.has(g.id))) continue;
    groups.push({ gid: g.id, name: g.name, size: g.size, offset, resolution: resolutionOf(a, g.id), unit: units?.get(g.id) ?? 1 });
    offset += g.size;
  }
  if (groups.length === 0)
    throw new CompilerError('PRECONDITION_FAILED', 'the model has no prunable channel group to search', {
      hint: 'see `sculpt groups model.onnx --explain` for why groups are frozen',
    });
  const length = offset;
  const res = grouping === 'ogs' ? [0] : [...new Set(groups.map((g) => g.resolution))].sort((x, y) => y - x);
  const stages: SearchStage[] = res.map((r, index) => {
    const idx = groups.flatMap((g, i) => (grouping === 'ogs' || g.resolution === r ? [i] : []));
    const bits: number[] = [];
    for (const i of idx) for (let k = 0; k < groups[i]!.size; k++) bits.push(groups[i]!.offset + k);
    return { index, resolution: grouping === 'ogs' ? 0 : r, groups: idx, bits: Int32Array.from(bits) };
  });
  const cm = new CostModel(a, cost);
  const keptOf = (g: Genome): number[] =>
    groups.map((sg) => {
      let k = 0;
      for (let i = 0; i < sg.size; i++) k += g[sg.offset + i]!;
      return k;
    });
  const costOf = (g: Genome): CostEstimate => {
    const kept = keptOf(g);
    const byGid = new Map(groups.map((sg, i) => [sg.gid, kept[i]!]));
    return cm.evaluate((gid) => byGid.get(gid) ?? a.groups[gid]!.size);
  };
  return { analysis: a, groups, length, stages, cost: cm, costOf, keptOf };
}

/** Default iterations per stage: the paper's [10, 10, 5, 5] for four stages; 10 for the first half of any other count, 5 for the rest; OGS gets their sum over the GGS stages. */
export function defaultIterations(stages: number): number[] {
  return Array.from({ length: stages }, (_, i) => (i < Math.ceil(stages / 2) ? 10 : 5));
}
