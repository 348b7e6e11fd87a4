/**
 * From a model to what a search needs: the search space (prunable groups that a mask can
 * reach, stages, cost), the masked network (mask inputs + the fitness feature as an
 * output, encoded once for every session), and the translation of a genome back to a mask
 * file for `sculpt prune --mask` and to the pruned model's feature for checking.
 */
import { cloneModel } from '../serde/clone.js';
import { analyzeChannelGroups } from '../analysis/channel-groups.js';
import type { ChannelAnalysis } from '../analysis/channel-groups.js';
import { computeCost } from '../analysis/cost.js';
import { CompilerError } from '../errors.js';
import type { Model, Value } from '../ir/core.js';
import { roundingUnit } from '../prune/rounding.js';
import { untieSharedConstants } from '../prune/untie.js';
import { encodeModel } from '../serde/write.js';
import type { HostTensor } from '../runtime/session.js';
import { appendSummary, exposeMasks, exposeOutputs, writeInferredTypes } from './expose.js';
import type { FitnessKind } from './fitness.js';
import type { ScorerInit } from './scorer.js';
import type { ExposedMask } from './expose.js';
import { valueNamed } from './feature.js';
import type { Genome } from './genetic.js';
import { buildSearchSpace } from './space.js';
import type { Grouping, SearchSpace } from './space.js';

export interface PreparedSearch {
  /** The analysed copy of the input (shared constants untied, as `sculpt prune` does). */
  readonly model: Model;
  readonly space: SearchSpace;
  /** The encoded masked network. */
  readonly masked: Uint8Array;
  readonly masks: readonly ExposedMask[];
  /** Groups left whole because their mask cannot change the feature (they come after it), or because they are too narrow for `roundTo`. */
  readonly unsearched: readonly string[];
  /** The channel multiple kept counts are rounded to (1: exact). */
  readonly roundTo: number;
  /** Their mask inputs, fed all ones. */
  readonly ones: readonly { name: string; size: number }[];
  /** Mask inputs in genome order, for the scorer. */
  readonly scorerMasks: readonly { name: string; offset: number; size: number }[];
  /** The fitness feature: its name in the masked network, and the unmasked value's name in the input model. */
  readonly feature: { masked: string; original: string };
  readonly dataInput: string;
  /** The graph output with the fitness summary [N, C, 1, 1], when it is computed in the graph. */
  readonly summaryOutput?: string;
}

/** Walks back from the masked feature through the inserted mask Muls to the model's own value. */
function unmaskedName(masked: Model, name: string, maskInputs: ReadonlySet<string>): string {
  let v: Value = valueNamed(masked, name);
  const fromMask = (x: Value | null | undefined): boolean => {
    let cur = x;
    for (let i = 0; i < 8 && cur; i++) {
      if (maskInputs.has(cur.name)) return true;
      cur = cur.producer?.inputs[0] ?? null;
    }
    return false;
  };
  while (v.producer && v.producer.opType === 'Mul' && fromMask(v.producer.inputs[1])) v = v.producer.inputs[0]!;
  return v.name;
}

/** Names of the mask inputs from which `feature` can be reached. O(nodes). */
function masksReaching(net: Model, feature: string, maskNames: ReadonlySet<string>): Set<string> {
  // Walk backwards from the feature over producers.
  const seen = new Set<Value>();
  const stack: Value[] = [valueNamed(net, feature)];
  const out = new Set<string>();
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    if (maskNames.has(v.name)) out.add(v.name);
    for (const x of v.producer?.inputs ?? []) if (x && !seen.has(x)) stack.push(x);
  }
  return out;
}

/**
 * Prepares a search of `input` (not changed). `feature` is a value name or "last-conv";
 * with `fitness` and `summaryInGraph: true`, its summary is computed in the graph.
 * @throws PRECONDITION_FAILED (no prunable group, no Conv, not one data input), MISSING_VALUE
 */
export function prepareSearch(
  input: Model,
  o: { grouping?: Grouping; feature?: string; fitness?: FitnessKind; summaryInGraph?: boolean; roundTo?: number } = {},
): PreparedSearch {
  const roundTo = o.roundTo ?? 1;
  if (!Number.isInteger(roundTo) || roundTo < 1) throw new CompilerError('INVALID_OPTION', `--round-to must be a positive integer or auto; got ${roundTo}`);
  const model = cloneModel(input);
  untieSharedConstants(model);
  writeInferredTypes(model);
  const dataInputs = model.graph.inputs.filter((v) => !v.initializer);
  if (dataInputs.length !== 1)
    throw new CompilerError('PRECONDITION_FAILED', `the model has ${dataInputs.length} data inputs; the search feeds one calibration batch`, {
      hint: 'export the model with a single image input',
    });
  const net = cloneModel(model);
  const masks = exposeMasks(net);
  if (masks.length === 0)
    throw new CompilerError('PRECONDITION_FAILED', 'the model has no prunable channel group a mask can reach', {
      hint: 'see `sculpt groups model.onnx --explain`',
    });
  const out = exposeOutputs(net, [o.feature ?? 'last-conv']);
  const featureMasked = out.names[0]!;
  const maskNames = new Set(masks.map((m) => m.name));
  const featureOriginal = unmaskedName(net, featureMasked, maskNames);
  // Groups whose mask cannot reach the feature (layers after it, e.g. a classifier's hidden
  // layer) would be searched blind: they are left whole.
  const reaching = masksReaching(net, featureMasked, maskNames);
  const a: ChannelAnalysis = analyzeChannelGroups(model);
  // With --round-to, a group keeps a multiple of its unit; one not wider than its unit stays whole.
  const units = new Map(masks.map((m) => [m.group, roundingUnit(a, a.groups[m.group]!, roundTo).unit]));
  const searchable = (m: ExposedMask) => reaching.has(m.name) && units.get(m.group)! < m.size;
  const unsearched = masks.filter((m) => !searchable(m)).map((m) => m.groupName);
  const searched = masks.filter(searchable);
  if (searched.length === 0) {
    if (masks.some((m) => reaching.has(m.name)))
      throw new CompilerError('PRECONDITION_FAILED', `no prunable group is wider than --round-to ${roundTo} allows`, {
        hint: 'give a smaller --round-to (1 keeps exact counts)',
      });
    throw new CompilerError('PRECONDITION_FAILED', `no prunable group comes before the fitness feature "${featureMasked}"`, {
      where: featureMasked,
      hint: 'choose a later value with --feature',
    });
  }
  const space = buildSearchSpace(a, computeCost(model), o.grouping ?? 'ggs', new Set(searched.map((m) => m.group)), units);
  const byGid = new Map(masks.map((m) => [m.group, m]));
  const scorerMasks = space.groups.map((g) => {
    const m = byGid.get(g.gid)!;
    if (m.size !== g.size) throw new CompilerError('INTERNAL', `mask ${m.name} has ${m.size} entries; group ${g.gid} has ${g.size}`);
    return { name: m.name, offset: g.offset, size: g.size };
  });
  // The summary in the graph saves copying the feature map out; the bench found no
  // consistent gain on the shared cores (docs/gwcs.md), so it is opt-in. A feature it
  // cannot handle (not 4-D, symbolic channels) is summarised in JS.
  let summaryOutput: string | undefined;
  const fs = valueNamed(net, featureMasked).shape;
  if (o.fitness && o.summaryInGraph === true && fs?.length === 4 && typeof fs[1] === 'number') summaryOutput = appendSummary(net, featureMasked, o.fitness);
  return {
    summaryOutput,
    model,
    space,
    masked: encodeModel(net),
    masks,
    scorerMasks,
    unsearched,
    roundTo,
    ones: masks.filter((m) => !searchable(m)).map((m) => ({ name: m.name, size: m.size })),
    feature: { masked: featureMasked, original: featureOriginal },
    dataInput: dataInputs[0]!.name,
  };
}

/**
 * The mask file of a genome: `{ "pruned": [{ name, axis, removed }] }`, one entry per group
 * that loses channels, naming the group's first member (filters where it has them) of
 * the input model. `sculpt prune --criterion mask --mask` reads it.
 */
export function genomeToMask(space: SearchSpace, genome: Genome): { pruned: { name: string; axis: number; removed: number[] }[] } {
  const a = space.analysis;
  const pruned: { name: string; axis: number; removed: number[] }[] = [];
  for (const sg of space.groups) {
    const removedCh: number[] = [];
    for (let k = 0; k < sg.size; k++) if (!genome[sg.offset + k]) removedCh.push(k);
    if (removedCh.length === 0) continue;
    const g = a.groups[sg.gid]!;
    const m = g.members.find((x) => x.slot.kind === 'constant' && x.slot.axis === 0 && x.slot.roles.some((r) => r.role === 'out')) ?? g.members[0]!;
    const removed: number[] = [];
    for (const k of removedCh) for (let t = 0; t < m.per; t++) removed.push(m.indices[k * m.per + t]!);
    pruned.push({ name: m.slot.value.name, axis: m.slot.axis, removed: removed.sort((x, y) => x - y) });
  }
  return { pruned };
}

/**
 * The pruned model's feature [N, kept, ...] put back into the original channel space
 * (zeros at removed channels), to compare with the masked network's feature.
 */
export function scatterFeature(space: SearchSpace, genome: Genome, featureName: string, pruned: HostTensor): HostTensor {
  const a = space.analysis;
  const v = valueNamed(a.model, featureName);
  const slot = a.slotOf(v, 1);
  const c = v.shape?.[1];
  if (typeof c !== 'number') throw new CompilerError('SHAPE_INFERENCE_FAILED', `the channel count of "${featureName}" is unknown`, { where: featureName });
  const bitOf = new Map(space.groups.map((g) => [g.gid, g.offset]));
  const kept: number[] = [];
  for (let i = 0; i < c; i++) {
    if (!slot) {
      kept.push(i);
      continue;
    }
    const gid = a.atomGroup[slot.base + i]!;
    const off = bitOf.get(gid);
    if (off === undefined || genome[off + a.atomChannel[slot.base + i]!]) kept.push(i);
  }
  const [n, k] = [pruned.dims[0]!, pruned.dims[1]!];
  if (k !== kept.length)
    throw new CompilerError('NUMERIC_MISMATCH', `the pruned "${featureName}" has ${k} channels; the genome keeps ${kept.length}`, { where: featureName });
  const inner = pruned.dims.slice(2).reduce((x, y) => x * y, 1);
  const out = new Float32Array(n * c * inner);
  const src = pruned.data as Float32Array;
  for (let s = 0; s < n; s++) for (let j = 0; j < k; j++) out.set(src.subarray((s * k + j) * inner, (s * k + j + 1) * inner), (s * c + kept[j]!) * inner);
  return { data: out, dims: [n, c, ...pruned.dims.slice(2)] };
}

/** What a `Scorer` (or `ScorerPool`) of the prepared network needs besides the stage cut: the masked network, its mask inputs and feature, and the calibration batch. */
export function scorerInit(p: PreparedSearch, x: Float32Array, xDims: readonly number[], fitness: FitnessKind): ScorerInit {
  return {
    model: p.masked,
    dataInput: p.dataInput,
    x,
    xDims,
    feature: p.feature.masked,
    masks: p.scorerMasks,
    ones: p.ones,
    summaryOutput: p.summaryOutput,
    fitness,
  };
}
