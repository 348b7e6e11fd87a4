/**
 * Channel importance per group channel, for the criteria sculpt offers:
 *  - `l1` / `l2`: norm of the filters that make the channel (every member weight with the
 *    `out` role: Conv axis 0, Gemm/MatMul output columns; several in a residual group),
 *    each scaled by the |γ|/√(σ²+ε) of a BatchNormalization that directly follows, so a
 *    model ranks the same with BN kept or folded (Li et al.'s filter norm). Groups without
 *    filters of their own fall back to their consumers' input slices, then to their
 *    per-channel parameters.
 *  - `random`: seeded uniform scores. `first-k`: keep the lowest indices.
 *  - `scores`: externally learned importance (β of one-step pruning, ...) per value.
 * Higher is more important.
 */
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis, ChannelGroup, ChannelSlot } from '../analysis/channel-groups.js';
import { constantTensor } from '../analysis/channel-groups.js';
import type { Node } from '../ir/core.js';
import type { Rng } from '../util/rng.js';
import type { NonFiniteSource } from './nan.js';

export type PruneCriterion = 'l1' | 'l2' | 'random' | 'first-k' | 'scores' | 'mask';

export const CRITERIA: readonly PruneCriterion[] = ['l1', 'l2', 'random', 'first-k', 'scores', 'mask'];

/** Scores for the positions of one axis of one value (a `--scores` file entry). */
export interface ScoreEntry {
  readonly name: string;
  readonly axis?: number;
  readonly values: readonly number[];
}

/** Per-position sums of |w| (p = 1) or w² (p = 2) over every axis but `axis`. */
function axisNorms(s: ChannelSlot, p: 1 | 2, cache: Map<string, Float64Array>): Float64Array {
  const key = `${s.id}:${p}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const t = constantTensor(s.value)!;
  const out = new Float64Array(s.size);
  const data = t.toFloat32();
  const dims = t.shape;
  let inner = 1;
  for (let i = s.axis + 1; i < dims.length; i++) inner *= dims[i]!;
  const D = dims[s.axis]!;
  const outer = data.length / (D * inner);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < D; c++) {
      let acc = 0;
      const base = (o * D + c) * inner;
      for (let r = 0; r < inner; r++) {
        const w = data[base + r]!;
        acc += p === 1 ? Math.abs(w) : w * w;
      }
      out[c]! += acc;
    }
  }
  cache.set(key, out);
  return out;
}

/** |γ|/√(σ²+ε) per channel of a BatchNormalization that alone reads `node`'s output, else undefined. */
function bnScale(node: Node): Float64Array | undefined {
  const y = node.outputs[0];
  if (!y || y.useCount !== 1) return undefined;
  const bn = y.uses()[0]!.node;
  if (bn.opType !== 'BatchNormalization' || bn.inputs[0] !== y) return undefined;
  const [gamma, , , variance] = [1, 2, 3, 4].map((i) => (bn.inputs[i] ? constantTensor(bn.inputs[i]!) : undefined));
  if (!gamma || !variance) return undefined;
  const gm = gamma.toFloat32();
  const vr = variance.toFloat32();
  const eps = bn.attrFloat('epsilon', 1e-5);
  const out = new Float64Array(gm.length);
  for (let i = 0; i < gm.length; i++) out[i] = Math.abs(gm[i]!) / Math.sqrt(vr[i]! + eps);
  return out;
}

export interface ImportanceOptions {
  readonly rng?: Rng;
  /** Scores by value name, for `scores`. */
  readonly scores?: ReadonlyMap<string, ScoreEntry>;
}

/**
 * Importance of every channel of a group, or undefined when the criterion has nothing to
 * say about it (`scores` without an entry for any member).
 * @throws MASK_SHAPE_MISMATCH when a score entry's length does not fit its tensor
 */
export function groupImportance(
  a: ChannelAnalysis,
  g: ChannelGroup,
  criterion: PruneCriterion,
  opts: ImportanceOptions = {},
  cache = new Map<string, Float64Array>(),
): Float64Array | undefined {
  const out = new Float64Array(g.size);
  switch (criterion) {
    case 'random': {
      if (!opts.rng) throw new CompilerError('INVALID_OPTION', 'the random criterion needs a seeded generator');
      for (let k = 0; k < g.size; k++) out[k] = opts.rng.next();
      return out;
    }
    case 'first-k':
      for (let k = 0; k < g.size; k++) out[k] = 1 - k / g.size;
      return out;
    case 'scores': {
      let any = false;
      for (const m of g.members) {
        const e = opts.scores?.get(m.slot.value.name);
        if (!e) continue;
        if (e.axis !== undefined && e.axis !== m.slot.axis) continue;
        if (e.axis === undefined && a.slotsOf(m.slot.value).length > 1 && m.slot.axis !== a.slotsOf(m.slot.value)[0]!.axis) continue;
        if (e.values.length !== m.slot.size) {
          throw new CompilerError(
            'MASK_SHAPE_MISMATCH',
            `scores for "${e.name}" have ${e.values.length} entries; axis ${m.slot.axis} has ${m.slot.size} channels`,
            { where: e.name, hint: 'list the groups with `sculpt groups model.onnx --json`' },
          );
        }
        any = true;
        for (let k = 0; k < g.size; k++) for (let t = 0; t < m.per; t++) out[k]! += Number(e.values[m.indices[k * m.per + t]!]);
      }
      return any ? out : undefined;
    }
    case 'l1':
    case 'l2': {
      const p = criterion === 'l1' ? 1 : 2;
      const pick = (role: 'out' | 'in' | 'param') => g.members.filter((m) => m.slot.kind === 'constant' && m.slot.roles.some((r) => r.role === role));
      let members = pick('out');
      if (members.length === 0) members = pick('in');
      if (members.length === 0) members = pick('param');
      for (const m of members) {
        const norms = axisNorms(m.slot, p, cache);
        const role = m.slot.roles.find((r) => r.role === 'out');
        const scale = role && ((role.node.opType === 'Conv' && m.slot.axis === 0) || role.node.opType === 'Gemm') ? bnScale(role.node) : undefined;
        const factor = (i: number) => {
          const f = scale && scale.length === m.slot.size ? scale[i]! : 1;
          return p === 1 ? f : f * f;
        };
        for (let k = 0; k < g.size; k++) {
          for (let t = 0; t < m.per; t++) {
            const i = m.indices[k * m.per + t]!;
            out[k]! += norms[i]! * factor(i);
          }
        }
      }
      if (p === 2) for (let k = 0; k < g.size; k++) out[k] = Math.sqrt(out[k]!);
      return out;
    }
    case 'mask':
      return undefined;
    default:
      throw new CompilerError('INVALID_OPTION', `unknown criterion "${criterion as string}"`, { hint: `choose one of ${CRITERIA.join(', ')}` });
  }
}

/** The first non-finite element at position `i` of `s.axis` of a constant slot, or undefined. */
function nonFiniteAt(s: ChannelSlot, i: number): number | undefined {
  const t = constantTensor(s.value);
  if (!t) return undefined;
  const data = t.toFloat32();
  const dims = t.shape;
  let inner = 1;
  for (let d = s.axis + 1; d < dims.length; d++) inner *= dims[d]!;
  const D = dims[s.axis]!;
  const outer = data.length / (D * inner);
  for (let o = 0; o < outer; o++) {
    const base = (o * D + i) * inner;
    for (let r = 0; r < inner; r++) if (!Number.isFinite(data[base + r]!)) return data[base + r]!;
  }
  return undefined;
}

/**
 * Names the tensor, reader node and channel that make group channel `k`'s importance
 * non-finite (for NON_FINITE_WEIGHTS), or undefined when no single source is found.
 * O(size of the group's member tensors).
 */
export function locateNonFinite(g: ChannelGroup, k: number, criterion: PruneCriterion, scores?: ReadonlyMap<string, ScoreEntry>): NonFiniteSource | undefined {
  for (const m of g.members) {
    for (let t = 0; t < m.per; t++) {
      const i = m.indices[k * m.per + t]!;
      if (criterion === 'scores') {
        const e = scores?.get(m.slot.value.name);
        const x = e ? Number(e.values[i]) : 0;
        if (e && !Number.isFinite(x)) return { tensor: `scores for ${e.name}`, index: i, axis: m.slot.axis, value: x };
        continue;
      }
      if (m.slot.kind !== 'constant') continue;
      const x = nonFiniteAt(m.slot, i);
      if (x !== undefined) return { tensor: m.slot.value.name, node: m.slot.roles[0]?.node.name, index: i, axis: m.slot.axis, value: x };
      const role = m.slot.roles.find((r) => r.role === 'out');
      const bn = role ? role.node.outputs[0]?.uses()[0]?.node : undefined;
      if (bn?.opType === 'BatchNormalization') {
        for (const j of [1, 4]) {
          const v = bn.inputs[j];
          const c = v ? constantTensor(v) : undefined;
          const y = c ? c.toFloat32()[i] : undefined;
          if (v && y !== undefined && !Number.isFinite(y)) return { tensor: v.name, node: bn.name, index: i, axis: 0, value: y };
        }
      }
    }
  }
  return undefined;
}
