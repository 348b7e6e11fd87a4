/**
 * Channel groups: the sets of channels that must be removed together (the DepGraph idea
 * on ONNX). A *slot* is one axis of one value (`conv1_out` axis 1, `conv2.weight` axis 1);
 * an *atom* is one position of a slot. A worklist starts from the weight axes of every
 * Conv/ConvTranspose/Gemm/MatMul/BatchNormalization, and a rule per op (channel-rules/)
 * unions atoms that must go together: identity through activations and BatchNorm, index
 * ranges through Concat/Split/Slice, channel c to its H×W columns through Flatten/Reshape,
 * depthwise pass-through, grouped convs equal per group. The union-find's components are
 * the independently removable channels; components touching the same slots the same number
 * of times form one *group* (its size is the number of such components).
 *
 * Anything a rule cannot keep exact freezes the slots it touches, with the reason: graph
 * inputs and outputs, ops without a rule, a channel shuffle (a Reshape that splits the
 * channel axis), Softmax over channels, values read inside subgraphs, unknown shapes.
 * Frozen structure never yields a wrong model, only fewer prunable channels.
 *
 * ```ts
 * const a = analyzeChannelGroups(model);   // or new AnalysisManager(model).get(channelGroupsAnalysis)
 * for (const g of a.groups) console.log(g.name, g.size, g.frozen);
 * ```
 * Worked example (ResNet basic block with identity shortcut): `x` [N,16,H,W] feeds conv1
 * and the Add; conv2's output feeds the Add. The Add links conv2's output channels to
 * `x`'s, so conv2's filters, bn2's parameters, the Add output and every earlier block's
 * last conv form one group; conv1's filters (with bn1, relu, and conv2's input axis) form
 * another, which can be pruned alone.
 */
import { CompilerError } from '../errors.js';
import type { Model, Node, Value } from '../ir/core.js';
import type { StaticDim } from '../ir/types.js';
import type { ChannelRuleContext, ChannelSlot, Fixup, Origin, SlotRole } from './channel-rules/context.js';
import { channelRuleOf, constantTensor, foldedOf } from './channel-rules/index.js';
import type { ShapeLookup } from './shape-table.js';
import { inferShapes } from './shapes.js';

export type { ChannelSlot, SlotKind, SlotRole, Fixup, FixupContext } from './channel-rules/context.js';
export { constantTensor } from './channel-rules/index.js';

/** One slot's share of a group: group channel k owns `indices[k*per .. k*per+per-1]` of the slot. */
export interface ChannelGroupMember {
  readonly slot: ChannelSlot;
  /** Positions of the slot per group channel (1 for plain coupling; H×W after Flatten; the multiplier of a depthwise conv). */
  readonly per: number;
  readonly indices: Int32Array;
}

export interface ChannelGroup {
  readonly id: number;
  /** A readable name: the layer(s) whose filters make these channels, else the first value. */
  readonly name: string;
  /** Independently removable channels. */
  readonly size: number;
  /** Feature-map channels per group channel (gcd over the member feature maps). */
  readonly mult: number;
  /** size × mult: the channel count a user sees on the feature maps. */
  readonly width: number;
  readonly members: readonly ChannelGroupMember[];
  /** Why the group may not be pruned; empty when prunable. */
  readonly frozen: readonly string[];
}

export interface ChannelAnalysis {
  readonly model: Model;
  /** The shapes the analysis read (slot sizes come from them). */
  readonly shapes: ShapeLookup;
  readonly slots: readonly ChannelSlot[];
  readonly groups: readonly ChannelGroup[];
  /** Per atom (slot.base + position): the group id and the group channel it belongs to. */
  readonly atomGroup: Int32Array;
  readonly atomChannel: Int32Array;
  /** Node edits (group attributes, Reshape targets, Split sizes, Slice bounds) pruning requires. */
  readonly fixups: readonly { node: Node; key: string; run: Fixup }[];
  slotOf(v: Value, axis: number): ChannelSlot | undefined;
  /** Every slot of a value, by axis. */
  slotsOf(v: Value): readonly ChannelSlot[];
}

export interface ChannelAnalysisOptions {
  /** Also freeze groups with fewer than this many channels (default 1: none). */
  minGroupSize?: number;
  /** Value shapes to read (an inferShapes table); inferred here, without writing the model, when absent. */
  shapes?: ShapeLookup;
}

/** The constant data of a value, when it is an initializer or a Constant node's output. */
function constantDims(v: Value): number[] | undefined {
  const t = constantTensor(v);
  return t ? t.shape : undefined;
}

class UnionFind {
  parent = new Int32Array(1024);
  n = 0;
  add(count: number): number {
    const base = this.n;
    if (this.n + count > this.parent.length) {
      let cap = this.parent.length;
      while (cap < this.n + count) cap *= 2;
      const p = new Int32Array(cap);
      p.set(this.parent.subarray(0, this.n));
      this.parent = p;
    }
    for (let i = 0; i < count; i++) this.parent[base + i] = base + i;
    this.n += count;
    return base;
  }
  find(a: number): number {
    const p = this.parent;
    while (p[a] !== a) {
      p[a] = p[p[a]!]!;
      a = p[a]!;
    }
    return a;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    // The smaller root wins so component roots are stable (lowest atom) for ordering.
    if (ra < rb) this.parent[rb] = ra;
    else if (rb < ra) this.parent[ra] = rb;
  }
}

/**
 * Finds the channel groups of the main graph. Reads value shapes from `opts.shapes` (or
 * infers them; where a shape is unknown the slots it would need are frozen). Pure: the
 * model is not changed. O(atoms · α) after one visit per (node, slot).
 * @throws INTERNAL only on a bug in a rule
 */
export function analyzeChannelGroups(model: Model, opts: ChannelAnalysisOptions = {}): ChannelAnalysis {
  const g = model.graph;
  const uf = new UnionFind();
  const slots: ChannelSlot[] = [];
  const byValue = new Map<Value, Map<number, ChannelSlot>>();
  const work: ChannelSlot[] = [];
  const visited = new Map<Node, Set<number>>();
  const fixups = new Map<Node, Map<string, Fixup>>();
  const outputs = new Set(g.outputs);
  const inputs = new Set(g.inputs.filter((v) => !v.initializer));
  const shapes = opts.shapes ?? inferShapes(model).shapes;

  const shapeOf = (v: Value | null | undefined): StaticDim[] | undefined => {
    if (!v) return undefined;
    return constantDims(v) ?? shapes.shape(v);
  };

  const getSlot = (v: Value, axis: number): ChannelSlot | undefined => byValue.get(v)?.get(axis);

  /** Creates a slot; returns a string reason when it cannot. */
  const makeSlot = (v: Value, axis: number, hint?: number): ChannelSlot | string => {
    const existing = getSlot(v, axis);
    if (existing) {
      if (hint !== undefined && existing.size !== hint) return `"${v.name}" axis ${axis} has ${existing.size} channels where ${hint} were expected`;
      return existing;
    }
    const shape = shapeOf(v);
    let size: number | undefined;
    if (shape) {
      if (axis < 0 || axis >= shape.length) return `axis ${axis} is out of range for "${v.name}" of rank ${shape.length}`;
      const d = shape[axis];
      if (typeof d === 'number') size = d;
    }
    if (size !== undefined && hint !== undefined && size !== hint) return `"${v.name}" axis ${axis} has ${size} channels where ${hint} were expected`;
    size ??= hint;
    if (size === undefined) return `the size of "${v.name}" axis ${axis} is unknown (run shape inference first)`;
    const isConst = constantTensor(v) !== undefined;
    const s: ChannelSlot = { id: slots.length, value: v, axis, size, kind: isConst ? 'constant' : 'activation', base: uf.add(size), roles: [], frozen: [] };
    slots.push(s);
    let m = byValue.get(v);
    if (!m) byValue.set(v, (m = new Map()));
    m.set(axis, s);
    work.push(s);
    return s;
  };

  const freeze = (s: ChannelSlot, reason: string): void => {
    if (!s.frozen.includes(reason)) s.frozen.push(reason);
  };

  const apply = (node: Node, origin: Origin): void => {
    let seen = visited.get(node);
    if (!seen) visited.set(node, (seen = new Set()));
    if (seen.has(origin.slot.id)) return;
    seen.add(origin.slot.id);
    const rule = channelRuleOf(node)?.rule;
    if (!rule) {
      freeze(origin.slot, `${node.where}: ${node.domain ? `${node.domain}.` : ''}${node.opType} has no channel rule`);
      return;
    }
    const opset = model.opset(node.domain) ?? 1;
    const ctx: ChannelRuleContext = {
      model,
      node,
      origin,
      opset,
      shape: shapeOf,
      folded: (v) => (v ? foldedOf(v, shapes) : undefined),
      ints: (v) => {
        const f = v ? foldedOf(v, shapes) : undefined;
        if (!f || f.data.some((d) => typeof d !== 'number')) return undefined;
        return f.data as number[];
      },
      slot: (v, axis, size) => {
        const r = makeSlot(v, axis, size);
        if (typeof r === 'string') {
          freeze(origin.slot, `${node.where}: ${r}`);
          return undefined;
        }
        return r;
      },
      link: (a, ai, b, bi) => {
        if (ai < 0 || ai >= a.size || bi < 0 || bi >= b.size) {
          throw new CompilerError('INTERNAL', `channel rule for ${node.opType} linked "${a.value.name}"[${ai}] to "${b.value.name}"[${bi}] out of range`, {
            where: node.where,
          });
        }
        uf.union(a.base + ai, b.base + bi);
      },
      identity: (a, b) => {
        if (a.size !== b.size) {
          const why = `${node.where}: "${a.value.name}" axis ${a.axis} (${a.size}) and "${b.value.name}" axis ${b.axis} (${b.size}) must match`;
          freeze(a, why);
          freeze(b, why);
          return;
        }
        for (let i = 0; i < a.size; i++) uf.union(a.base + i, b.base + i);
      },
      identityTo: (a, v, axis) => {
        if (!v) return undefined;
        const b = ctx.slot(v, axis, a.size);
        if (b) ctx.identity(a, b);
        return b;
      },
      freeze,
      freezeOrigin: (reason) => freeze(origin.slot, `${node.where}: ${reason}`),
      role: (s, role: SlotRole) => {
        if (s.kind === 'constant' && !s.roles.some((r) => r.node === node && r.role === role)) s.roles.push({ role, node });
      },
      fixup: (key, f) => {
        let m = fixups.get(node);
        if (!m) fixups.set(node, (m = new Map()));
        if (!m.has(key)) m.set(key, f);
      },
    };
    rule(ctx);
  };

  const visit = (s: ChannelSlot): void => {
    const v = s.value;
    if (inputs.has(v)) freeze(s, `"${v.name}" is a graph input`);
    if (outputs.has(v)) freeze(s, `"${v.name}" is a graph output`);
    const p = v.producer;
    if (p && p.opType !== 'Constant' && p.graph === g) {
      apply(p, { slot: s, value: v, axis: s.axis, side: 'out', index: v.producerIndex });
    }
    for (const u of v.uses()) {
      if (u.node.graph !== g) {
        freeze(s, `"${v.name}" is read inside a subgraph (${u.node.where})`);
        continue;
      }
      apply(u.node, { slot: s, value: v, axis: s.axis, side: 'in', index: u.node.inputs.indexOf(v) });
    }
  };

  // Seeds: the channel axes of every weighted layer. Everything else is reached from them.
  const seed = (v: Value | null | undefined, axis: number): void => {
    if (!v) return;
    // A slot whose size is unknown is not an error here: a rule may still reach it with a size.
    makeSlot(v, axis);
  };
  // Each op's registered entry declares its seeds (src/analysis/channel-rules/index.ts).
  for (const n of g.nodes) channelRuleOf(n)?.seeds?.(n, seed, shapeOf);
  for (let i = 0; i < work.length; i++) visit(work[i]!);

  // Components → groups.
  const nAtoms = uf.n;
  const root = new Int32Array(nAtoms);
  for (let a = 0; a < nAtoms; a++) root[a] = uf.find(a);
  const atomSlot = new Int32Array(nAtoms);
  for (const s of slots) atomSlot.fill(s.id, s.base, s.base + s.size);
  const frozenOf = new Map<number, Set<string>>();
  for (const s of slots) {
    if (s.frozen.length === 0) continue;
    for (let i = 0; i < s.size; i++) {
      const r = root[s.base + i]!;
      let set = frozenOf.get(r);
      if (!set) frozenOf.set(r, (set = new Set()));
      for (const why of s.frozen) set.add(why);
    }
  }
  // Atoms of each component, in atom order (so grouped by slot, slots in creation order).
  const compAtoms = new Map<number, number[]>();
  for (let a = 0; a < nAtoms; a++) {
    const r = root[a]!;
    let l = compAtoms.get(r);
    if (!l) compAtoms.set(r, (l = []));
    l.push(a);
  }
  interface Builder {
    key: string;
    comps: number[][];
    frozen: Set<string>;
  }
  const builders = new Map<string, Builder>();
  const order: Builder[] = [];
  // Roots are the lowest atom of their component, so iterating roots in order gives groups
  // ordered by their first slot and channels ordered by position in that slot.
  const roots = [...compAtoms.keys()].sort((x, y) => x - y);
  for (const r of roots) {
    const atoms = compAtoms.get(r)!;
    atoms.sort((x, y) => x - y);
    const parts: string[] = [];
    let i = 0;
    while (i < atoms.length) {
      const sid = atomSlot[atoms[i]!]!;
      let j = i;
      while (j < atoms.length && atomSlot[atoms[j]!] === sid) j++;
      parts.push(`${sid}:${j - i}`);
      i = j;
    }
    const fz = frozenOf.get(r);
    const key = `${parts.join(',')}${fz ? '!' : ''}`;
    let b = builders.get(key);
    if (!b) {
      b = { key, comps: [], frozen: new Set() };
      builders.set(key, b);
      order.push(b);
    }
    b.comps.push(atoms);
    if (fz) for (const why of fz) b.frozen.add(why);
  }

  const atomGroup = new Int32Array(nAtoms).fill(-1);
  const atomChannel = new Int32Array(nAtoms).fill(-1);
  const groups: ChannelGroup[] = [];
  const minGroup = opts.minGroupSize ?? 1;
  for (const b of order) {
    const id = groups.length;
    const size = b.comps.length;
    const first = b.comps[0]!;
    const memberSlots: { slot: ChannelSlot; per: number }[] = [];
    {
      let i = 0;
      while (i < first.length) {
        const sid = atomSlot[first[i]!]!;
        let j = i;
        while (j < first.length && atomSlot[first[j]!] === sid) j++;
        memberSlots.push({ slot: slots[sid]!, per: j - i });
        i = j;
      }
    }
    const members: ChannelGroupMember[] = memberSlots.map(({ slot, per }) => ({ slot, per, indices: new Int32Array(size * per) }));
    const memberIndex = new Map<number, number>(memberSlots.map((m, i) => [m.slot.id, i]));
    const fill = new Int32Array(members.length);
    b.comps.forEach((atoms, k) => {
      fill.fill(0);
      for (const a of atoms) {
        const sid = atomSlot[a]!;
        const mi = memberIndex.get(sid)!;
        const m = members[mi]!;
        m.indices[k * m.per + fill[mi]!] = a - m.slot.base;
        fill[mi]!++;
        atomGroup[a] = id;
        atomChannel[a] = k;
      }
    });
    const frozen = [...b.frozen];
    if (frozen.length === 0 && size < minGroup) frozen.push(`only ${size} channel(s)`);
    groups.push({ id, name: groupName(members), size, mult: groupMult(members, shapes), width: size * groupMult(members, shapes), members, frozen });
  }

  const fixupList: { node: Node; key: string; run: Fixup }[] = [];
  for (const [node, m] of fixups) for (const [key, run] of m) fixupList.push({ node, key, run });

  return {
    model,
    shapes,
    slots,
    groups,
    atomGroup,
    atomChannel,
    fixups: fixupList,
    slotOf: getSlot,
    slotsOf: (v) => [...(byValue.get(v)?.values() ?? [])].sort((x, y) => x.axis - y.axis),
  };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function groupMult(members: readonly ChannelGroupMember[], shapes: ShapeLookup): number {
  // Feature maps (rank ≥ 3 activations) decide; a grouped conv's input couples the same
  // local channel of every group, so each group channel is `groups` feature-map channels.
  const acts = members.filter((m) => m.slot.kind === 'activation');
  const maps = acts.filter((m) => (shapes.shape(m.slot.value)?.length ?? 0) >= 3);
  const pick = maps.length > 0 ? maps : acts;
  if (pick.length === 0) return 1;
  return pick.reduce((a, m) => gcd(a, m.per), 0) || 1;
}

function groupName(members: readonly ChannelGroupMember[]): string {
  const layers: string[] = [];
  for (const m of members) {
    for (const r of m.slot.roles) {
      if (r.role !== 'out') continue;
      const name = r.node.name || r.node.outputs[0]?.name || r.node.opType;
      if (!layers.includes(name)) layers.push(name);
    }
  }
  if (layers.length > 0) return layers.length <= 3 ? layers.join('+') : `${layers.slice(0, 3).join('+')}+${layers.length - 3} more`;
  const act = members.find((m) => m.slot.kind === 'activation') ?? members[0];
  return act ? `${act.slot.value.name}[${act.slot.axis}]` : '?';
}

/** Whether a group may lose channels. */
export function isGroupPrunable(g: ChannelGroup): boolean {
  return g.frozen.length === 0 && g.size > 1;
}

/** A JSON-ready description of every group (`sculpt groups --json`). */
export function describeGroups(a: ChannelAnalysis): object {
  return {
    groups: a.groups.map((g) => ({
      id: g.id,
      name: g.name,
      size: g.size,
      width: g.width,
      prunable: isGroupPrunable(g),
      frozen: g.frozen,
      members: g.members.map((m) => ({
        name: m.slot.value.name,
        axis: m.slot.axis,
        channels: m.slot.size,
        per: m.per,
        kind: m.slot.kind,
        roles: m.slot.roles.map((r) => `${r.role}:${r.node.name ?? r.node.opType}`),
      })),
    })),
    summary: summarizeGroups(a),
  };
}

export interface GroupSummary {
  groups: number;
  prunable: number;
  frozen: number;
  prunableChannels: number;
  frozenChannels: number;
}

export function summarizeGroups(a: ChannelAnalysis): GroupSummary {
  let prunable = 0,
    frozen = 0,
    pc = 0,
    fc = 0;
  for (const g of a.groups) {
    if (isGroupPrunable(g)) {
      prunable++;
      pc += g.width;
    } else {
      frozen++;
      fc += g.width;
    }
  }
  return { groups: a.groups.length, prunable, frozen, prunableChannels: pc, frozenChannels: fc };
}

/** The removal that keeping `keep` (sorted group channels per group) implies, per slot. */
export function removedPerSlot(a: ChannelAnalysis, keep: ReadonlyMap<number, readonly number[]>): Map<ChannelSlot, Int32Array> {
  const out = new Map<ChannelSlot, Int32Array>();
  const removedBySlot = new Map<ChannelSlot, number[]>();
  for (const [gid, kept] of keep) {
    const grp = a.groups[gid];
    if (!grp) throw new CompilerError('MASK_SHAPE_MISMATCH', `there is no channel group ${gid}`, { hint: 'list the groups with `sculpt groups model.onnx`' });
    const keepSet = new Uint8Array(grp.size);
    for (const k of kept) {
      if (!Number.isInteger(k) || k < 0 || k >= grp.size)
        throw new CompilerError('MASK_SHAPE_MISMATCH', `group ${gid} (${grp.name}) has ${grp.size} channels; index ${k} is out of range`, { where: grp.name });
      keepSet[k] = 1;
    }
    for (const m of grp.members) {
      let l = removedBySlot.get(m.slot);
      for (let k = 0; k < grp.size; k++) {
        if (keepSet[k]) continue;
        if (!l) removedBySlot.set(m.slot, (l = []));
        for (let t = 0; t < m.per; t++) l.push(m.indices[k * m.per + t]!);
      }
    }
  }
  for (const [s, l] of removedBySlot) out.set(s, Int32Array.from(l).sort());
  return out;
}

/** Text listing of the groups (`sculpt groups`); `explain` adds members and every freeze reason. */
export function formatGroups(a: ChannelAnalysis, explain = false): string {
  const lines: string[] = [];
  const s = summarizeGroups(a);
  lines.push(`${s.groups} channel groups: ${s.prunable} prunable (${s.prunableChannels} channels), ${s.frozen} frozen (${s.frozenChannels} channels)`);
  for (const g of a.groups) {
    const state = isGroupPrunable(g) ? 'prunable' : g.frozen.length ? 'frozen' : 'single channel';
    const mult = g.mult > 1 ? ` (${g.size}×${g.mult})` : '';
    lines.push(`  #${g.id} ${g.name}: ${g.width} channels${mult}, ${g.members.length} tensors, ${state}`);
    if (!explain && g.frozen.length) lines.push(`      why: ${g.frozen[0]}${g.frozen.length > 1 ? ` (+${g.frozen.length - 1} more; --explain)` : ''}`);
    if (explain) {
      for (const why of g.frozen) lines.push(`      why: ${why}`);
      for (const m of g.members)
        lines.push(
          `      ${m.slot.kind === 'constant' ? 'weight' : 'value '} ${m.slot.value.name} axis ${m.slot.axis} [${m.slot.size}]${m.per > 1 ? ` ×${m.per} per channel` : ''}${m.slot.roles.length ? ` (${m.slot.roles.map((r) => r.role).join(',')})` : ''}`,
        );
    }
  }
  return lines.join('\n');
}
