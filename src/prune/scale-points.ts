/**
 * Scale points: where a per-channel scale `s` can multiply a channel group so that a 0/1
 * scale computes exactly what pruning that group's channels computes (masked equivalence),
 * and an all-ones scale computes the original model bit for bit. The β vectors of one-step
 * pruning (`insert-beta`) and the channel masks of GWCS (`expose-masks`) are both built on
 * this: one shared vector per coupled channel group, applied at every value of the group
 * that a layer outside the group reads.
 *
 * Rules, given the channel analysis (channel-groups.ts):
 *  1. A *reader* of a group is a use of one of its activation values by a node where the
 *     channel ends: the data input of a Conv/ConvTranspose that is not depthwise, the
 *     contracted operand of a Gemm/MatMul, or any node none of whose outputs carries the
 *     group. Pruning removes exactly what readers see, so scaling every reader's input is
 *     exact for 0/1 scales. Nodes that carry the channel on (BatchNormalization, activations,
 *     Add, depthwise convs, pooling) are not readers: the scale is never put between a Conv
 *     and its BatchNorm, and a residual stage (one group through its Adds) gets one vector,
 *     applied where each block's conv, the next stage or the classifier reads the stream.
 *  2. A site is moved up through ops that commute with a non-negative per-channel scale and
 *     only rearrange, pool or reduce other axes (Flatten, Reshape, Transpose, pooling,
 *     Identity, Dropout, Squeeze, Unsqueeze, Concat, ReduceMean/Sum/Max/Min/L1/L2) when
 *     every use of their output is in the site, so the scale lands
 *     right after the activation (`Relu → MaxPool → Flatten → Gemm` is scaled after the
 *     Relu), never before it: the paper's "after BatchNorm and activation".
 *  3. Sites on the same value merge. A site value that also carries channels of other
 *     groups (a Concat output a site could not be moved through) gets a per-position vector:
 *     `Gather(Concat(s, [1]), index)`, 1 for foreign positions.
 *
 * Scales are assumed non-negative (β is applied as |β|; masks are 0/1): moving a site
 * through MaxPool is exact only then.
 *
 * ```ts
 * inferShapes(model);
 * const a = analyzeChannelGroups(model);
 * const points = findScalePoints(a);
 * insertScales(model, points, (p) => graphInputOrInitializer(p), { abs: true });
 * ```
 * Worked example (ResNet basic blocks, one stage): the stream `relu2` of block k is read by
 * block k+1's conv1 (a reader) and its Add (not a reader). The stage's group gets one vector
 * s and a site per block: `Mul(relu2_k, s)` feeds conv1 of block k+1 only; the Adds keep the
 * unscaled stream. The last block's stream is read by the next stage's conv1 and its 1×1
 * downsample conv: one site, both uses.
 */
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis, ChannelGroup, ChannelSlot } from '../analysis/channel-groups.js';
import { isGroupPrunable } from '../analysis/channel-groups.js';
import { inferShapes } from '../analysis/shapes.js';
import { resolveWeight } from '../ir/weights.js';
import { attrInt } from '../ir/attribute.js';
import { Node, Value } from '../ir/core.js';
import type { Model, Use } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { Tensor } from '../ir/tensor.js';
import { sortTopologically } from '../ir/toposort.js';

/** One value to scale, and the uses that read the scaled version. */
export interface ScaleSite {
  readonly value: Value;
  /** The channel axis of `value` (the group's slot). */
  readonly axis: number;
  /** Positions along `axis`. */
  readonly size: number;
  /** The uses redirected to the scaled value (node input positions of the original model). */
  readonly uses: readonly Use[];
  /** Per position along `axis`: the group channel it belongs to, or -1 for another group's. */
  readonly channelOf: Int32Array;
  /** Whether position p is group channel p for every p (the vector needs no gather). */
  readonly identity: boolean;
}

/** The scale sites of one prunable group: one shared vector of `group.size` entries. */
export interface ScalePoint {
  readonly group: ChannelGroup;
  readonly sites: readonly ScaleSite[];
}

/** Ops a site moves up through: one data input, per-channel, commute with s ≥ 0. */
const HOIST = new Set([
  'Flatten',
  'Reshape',
  'Identity',
  'Dropout',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Squeeze',
  'Unsqueeze',
  'Concat',
  'Transpose',
  // Reductions over other axes than the channel's (a site's value carries the group, so its
  // channel axis was not reduced): linear, or (Max, Min, L1, L2) homogeneous for s >= 0.
  // tf2onnx writes global average pooling as ReduceMean over H and W.
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceL1',
  'ReduceL2',
]);

function isDefaultDomain(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

/** The activation slot of `v` that holds channels of group `gid`, if any. */
function groupSlot(a: ChannelAnalysis, v: Value, gid: number): ChannelSlot | undefined {
  for (const s of a.slotsOf(v)) {
    if (s.kind !== 'activation') continue;
    for (let i = 0; i < s.size; i++) if (a.atomGroup[s.base + i] === gid) return s;
  }
  return undefined;
}

/** Whether node `n` reading `v` (a member of group `gid`) at input `index` ends the channel there. */
function isReader(a: ChannelAnalysis, n: Node, index: number, gid: number): boolean {
  if (isDefaultDomain(n)) {
    if ((n.opType === 'Conv' || n.opType === 'ConvTranspose') && index === 0) {
      const wv = n.inputs[1];
      const w = resolveWeight(wv)?.tensor.shape ?? (wv ? a.shapes.shape(wv) : undefined);
      const g = n.attrInt('group', 1);
      const depthwise = n.opType === 'Conv' ? g > 1 && w?.[1] === 1 : g > 1 && typeof w?.[0] === 'number' && w[0] === g;
      return !depthwise;
    }
    if (n.opType === 'Gemm' || n.opType === 'MatMul') {
      // Scale one operand of a contraction, never both (that would square the scale).
      if (index === 0) return true;
      const x = n.inputs[0];
      return index === 1 && !(x && groupSlot(a, x, gid));
    }
  }
  return !n.outputs.some((o) => o && groupSlot(a, o, gid));
}

interface Draft {
  value: Value;
  uses: Use[];
}

/**
 * The scale sites of every prunable group (frozen and single-channel groups have none;
 * a group no layer reads has an empty site list). Pure: reads the analysis, changes
 * nothing. The analysis must be of the model as it is now. O(members · uses).
 */
export function findScalePoints(a: ChannelAnalysis): ScalePoint[] {
  const g = a.model.graph;
  const points: ScalePoint[] = [];
  for (const grp of a.groups) {
    if (!isGroupPrunable(grp)) continue;
    // 1. Reader uses of every activation member.
    const drafts = new Map<Value, Draft>();
    const add = (v: Value, u: Use) => {
      let d = drafts.get(v);
      if (!d) drafts.set(v, (d = { value: v, uses: [] }));
      if (!d.uses.some((x) => x.node === u.node && x.index === u.index)) d.uses.push(u);
    };
    for (const m of grp.members) {
      if (m.slot.kind !== 'activation') continue;
      const v = m.slot.value;
      for (const u of v.uses()) {
        if (u.node.graph !== g) continue; // frozen groups only; kept for safety
        if (isReader(a, u.node, u.index, grp.id)) add(v, u);
      }
    }
    // 2. Move sites up through rearranging and pooling ops until none moves.
    let moved = true;
    while (moved) {
      moved = false;
      for (const d of [...drafts.values()]) {
        const v = d.value;
        const p = v.producer;
        if (!p || p.graph !== g || !isDefaultDomain(p) || !HOIST.has(p.opType) || v.producerIndex !== 0) continue;
        if (g.outputs.includes(v) || d.uses.length !== v.useCount) continue;
        const data = p.opType === 'Concat' ? p.inputs.map((x, i) => [x, i] as const) : [[p.inputs[0], 0] as const];
        const targets = data.filter(([x]) => x && groupSlot(a, x, grp.id));
        if (targets.length === 0) continue;
        drafts.delete(v);
        for (const [x, i] of targets) add(x!, { node: p, index: i });
        moved = true;
      }
    }
    // 3. Per-position channel maps.
    const sites: ScaleSite[] = [];
    for (const d of drafts.values()) {
      const s = groupSlot(a, d.value, grp.id)!;
      const channelOf = new Int32Array(s.size);
      let identity = s.size === grp.size;
      for (let i = 0; i < s.size; i++) {
        const k = a.atomGroup[s.base + i] === grp.id ? a.atomChannel[s.base + i]! : -1;
        channelOf[i] = k;
        if (k !== i) identity = false;
      }
      sites.push({ value: d.value, axis: s.axis, size: s.size, uses: d.uses, channelOf, identity });
    }
    points.push({ group: grp, sites });
  }
  return points;
}

export interface InsertScalesOptions {
  /** Multiply by |source| (an Abs node per group): β is learned signed and applied as |β|. */
  abs?: boolean;
  /** Stem of the names of the inserted nodes and values (default "scale"). */
  prefix?: string;
}

/** What `insertScales` added, per group (so a caller can find or remove it again). */
export interface InsertedScale {
  readonly group: number;
  readonly source: Value;
  /** The Mul nodes, one per site (and per distinct input value of a site's uses). */
  readonly muls: readonly Node[];
  /** Every node added for this group (Abs, Concat, Gather, Reshape, Mul). */
  readonly nodes: readonly Node[];
  /** Constants added for this group (gather indices, reshape targets, the appended 1). */
  readonly constants: readonly Value[];
}

/**
 * Multiplies every site of every point by its group's scale: `source(point)` must be a
 * float value of shape [group.size] (an initializer, a graph input, or any computed value)
 * defined in the main graph. Per site: `Mul(x, Reshape(s, [C,1,…]))`, with a Gather where
 * positions are not the group's channels in order. Only the site's uses read the result.
 * Leaves node order topological. O(sites + nodes).
 * @throws MASK_SHAPE_MISMATCH when a source's static shape is not [group.size];
 *   OPSET_OUT_OF_RANGE below opset 5 (Reshape with a shape input)
 */
export function insertScales(model: Model, points: readonly ScalePoint[], source: (p: ScalePoint) => Value, opts: InsertScalesOptions = {}): InsertedScale[] {
  const g = model.graph;
  const opset = model.opset('') ?? 1;
  if (opset < 5)
    throw new CompilerError('OPSET_OUT_OF_RANGE', `inserting channel scales needs opset ≥ 5 (Reshape with a shape input); the model has ${opset}`, {
      hint: 'convert the model to a newer opset first',
    });
  const prefix = opts.prefix ?? 'scale';
  // Ranks of the sites come from the shapes analysis (analyses do not write value types).
  const shapes = inferShapes(model).shapes;
  const sources = points.map((p) => {
    const s = source(p);
    const shape = s.initializer ? s.initializer.shape : shapes.shape(s);
    if (shape && (shape.length !== 1 || (typeof shape[0] === 'number' && shape[0] !== p.group.size))) {
      throw new CompilerError(
        'MASK_SHAPE_MISMATCH',
        `the scale for group ${p.group.id} (${p.group.name}) has shape [${shape.join(',')}]; it needs [${p.group.size}]`,
        { where: s.name, hint: 'give one entry per group channel (`sculpt groups model.onnx`)' },
      );
    }
    return s;
  });
  const constant = (name: string, t: Tensor, acc: Value[]): Value => {
    const v = new Value(model.names.fresh(name));
    t.name = v.name;
    g.addInitializer(v, t);
    v.setTensorType(t.dataType, t.shape);
    acc.push(v);
    return v;
  };
  const out: InsertedScale[] = [];
  points.forEach((p, pi) => {
    const nodes: Node[] = [];
    const muls: Node[] = [];
    const constants: Value[] = [];
    const base = model.names.fresh(`${prefix}_g${p.group.id}`);
    const emit = (opType: string, inputs: Value[], shape: number[], attrs: Node['attributes'] = []): Value => {
      const o = new Value(model.names.fresh(`${base}_${opType.toLowerCase()}`));
      o.setTensorType(DataType.FLOAT, shape);
      const n = new Node({ opType, name: model.names.fresh(`${base}/${opType}`), inputs, outputs: [o], attributes: attrs });
      g.appendNode(n);
      nodes.push(n);
      return o;
    };
    let vec = sources[pi]!;
    if (opts.abs) vec = emit('Abs', [vec], [p.group.size]);
    let padded: Value | undefined;
    // Sites whose positions are the group's channels in order share one reshaped vector per rank.
    const shared = new Map<number, Value>();
    for (const site of p.sites) {
      let sv = vec;
      const rank = shapes.shape(site.value)?.length ?? site.axis + 1;
      const trailing = rank - site.axis - 1;
      const reuse = site.identity ? shared.get(trailing) : undefined;
      if (reuse) sv = reuse;
      else if (!site.identity) {
        padded ??= emit('Concat', [vec, constant(`${base}_one`, Tensor.fromFloat32(undefined, [1], [1]), constants)], [p.group.size + 1], [attrInt('axis', 0)]);
        const idx = Array.from(site.channelOf, (k) => (k < 0 ? p.group.size : k));
        sv = emit('Gather', [padded, constant(`${base}_index`, Tensor.fromInt64(undefined, [site.size], idx), constants)], [site.size], [attrInt('axis', 0)]);
      }
      if (!reuse && trailing > 0) {
        const dims = [site.size, ...new Array<number>(trailing).fill(1)];
        sv = emit('Reshape', [sv, constant(`${base}_shape`, Tensor.fromInt64(undefined, [dims.length], dims), constants)], dims);
      }
      if (site.identity) shared.set(trailing, sv);
      // Uses of a site may already read different values (another group's Mul on a shared value).
      const byInput = new Map<Value, Use[]>();
      for (const u of site.uses) {
        const cur = u.node.inputs[u.index];
        if (!cur) continue;
        let l = byInput.get(cur);
        if (!l) byInput.set(cur, (l = []));
        l.push(u);
      }
      for (const [x, us] of byInput) {
        const y = new Value(model.names.fresh(`${x.name}_${prefix}`));
        y.info = { type: x.info.type ? structuredClone(x.info.type) : undefined };
        const mul = new Node({ opType: 'Mul', name: model.names.fresh(`${base}/Mul`), inputs: [x, sv], outputs: [y] });
        g.appendNode(mul);
        nodes.push(mul);
        muls.push(mul);
        for (const u of us) u.node.setInput(u.index, y);
      }
    }
    out.push({ group: p.group.id, source: sources[pi]!, muls, nodes, constants });
  });
  sortTopologically(g);
  return out;
}

/**
 * Removes what `insertScales` added for the given sources: every Mul whose scale operand
 * is computed from a source only (through Abs, Concat, Gather, Reshape) is bypassed, those
 * nodes and their constants go, and so do the sources themselves when they are
 * initializers or graph inputs nothing else reads. Returns the number of Muls removed.
 * O(nodes).
 */
export function removeScales(model: Model, sources: readonly Value[]): number {
  const g = model.graph;
  const derived = new Set<Value>(sources);
  const chain = new Set(['Abs', 'Concat', 'Gather', 'Reshape']);
  const added: Node[] = [];
  // Nodes are in topological order, so one pass finds every value computed from a source.
  for (const n of g.nodes) {
    if (!chain.has(n.opType) || !n.inputs[0] || !derived.has(n.inputs[0])) continue;
    if (n.inputs.slice(1).some((x) => x && !x.initializer && !derived.has(x))) continue;
    for (const o of n.outputs) if (o) derived.add(o);
    added.push(n);
  }
  let removed = 0;
  for (const n of [...g.nodes]) {
    if (n.opType !== 'Mul' || !n.inputs[1] || !derived.has(n.inputs[1]) || !n.inputs[0] || !n.outputs[0]) continue;
    const x = n.inputs[0];
    const y = n.outputs[0];
    if (g.outputs.includes(y)) g.replaceValue(y, x);
    else y.replaceAllUsesWith(x);
    g.removeNode(n);
    removed++;
  }
  // Remove the chain nodes backwards (consumers first), then constants nothing reads.
  for (const n of added.reverse()) {
    if (n.outputs.some((o) => o && (o.useCount > 0 || g.outputs.includes(o)))) continue;
    const consts = n.inputs.slice(1).filter((x): x is Value => !!x && !!x.initializer);
    g.removeNode(n);
    for (const c of consts) if (c.useCount === 0 && !g.outputs.includes(c) && g.initializers.includes(c)) g.removeInitializer(c);
  }
  for (const s of sources) {
    if (s.useCount > 0 || g.outputs.includes(s)) continue;
    if (s.initializer && g.initializers.includes(s)) g.removeInitializer(s);
    else if (s.isGraphInput()) g.removeInput(s);
  }
  return removed;
}
