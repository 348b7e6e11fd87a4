/**
 * Layer-by-layer diff of two models (the main graphs; subgraphs are compared as attributes).
 *
 * Matching, in order; each step sees only the nodes earlier steps left unmatched:
 * 1. by node name (unique names only); a name match with a different op is a 1:1 replacement;
 * 2. by the name of the first output value, same op type;
 * 3. by graph position: the longest common subsequence of the op-type sequences of what is
 *    left, both in node order (a greedy in-order pass on very large remainders).
 * Then unmatched nodes become removed (in A) and added (in B), and groups of them that sit in
 * the same place become one replacement: connected removed nodes and connected added nodes
 * whose matched neighbours (or graph inputs/outputs) on both the input and the output side
 * coincide. So a conv replaced by a stacked grouped unit Conv(group=m) → act → Conv(group=m)
 * is ONE replacement, also when the rewrite kept the original name on one of the new convs
 * (a matched node whose op configuration changed and that touches added nodes joins them).
 *
 * Entry order is stable: by position in A; added nodes follow the A node matched to their
 * nearest matched predecessor in B, in B order.
 *
 * Constant nodes (and Identity of a constant) are data, not layers: they are left out of the
 * entries, and the weights they hold are compared as their readers' weights, so a model
 * whose weights are Constant nodes diffs like one with initializers.
 *
 * A matched node is `changed` only when something of its own changed (op configuration,
 * attributes, weights, params, channels); a node whose tensors only got smaller because a
 * neighbour was pruned (a Relu after a pruned conv) stays `same` and lists that in `derived`.
 */
import { createHash } from 'node:crypto';
import { computeCost } from '../analysis/cost.js';
import type { NodeCost } from '../analysis/cost.js';
import { resolveTensor } from '../analysis/weights.js';

type CostTotals = ReturnType<typeof computeCost>['total'];
import type { Attribute } from '../ir/attribute.js';
import { bytesToString } from '../ir/attribute.js';
import type { Model, Node, Value } from '../ir/core.js';
import { dataTypeName } from '../ir/data-type.js';
import type { StaticDim } from '../ir/types.js';

/** Version of the ModelDiff JSON layout (docs/diff-schema.md); bumped on incompatible change. */
export const DIFF_SCHEMA_VERSION = 1;

/** One node as the diff shows it. */
export interface LayerInfo {
  /** Node name, or `<op>(<first output>)` when the file gives none. */
  name: string;
  op: string;
  /** '' for the default ONNX domain. */
  domain: string;
  /** Position in its graph's node list. */
  index: number;
  inChannels: number | null;
  outChannels: number | null;
  kernel: number[] | null;
  stride: number[] | null;
  groups: number | null;
  params: number;
  /** At batch 1. */
  macs: number;
  outputShape: StaticDim[] | null;
  /** Attribute name → canonical text (tensors summarised by type and shape). */
  attributes: Record<string, string>;
  /** sha256 (16 hex) over the node's constant inputs (shape, type, bytes); null when none. */
  weights: string | null;
}

export type EntryStatus = 'same' | 'changed' | 'added' | 'removed' | 'replaced';
export type MatchKind = 'name' | 'output' | 'position' | 'structure';

export interface DiffEntry {
  status: EntryStatus;
  /** How the sides were paired; null for added/removed. */
  match: MatchKind | null;
  /** A-side nodes (none when added). */
  before: LayerInfo[];
  /** B-side nodes (none when removed). */
  after: LayerInfo[];
  /** For 1:1 entries, the node's own LayerInfo fields that differ (op, attributes, weights, params, channels, kernel, ...); ['structure'] or [] otherwise. */
  changes: string[];
  /** For 1:1 entries, fields that differ only as a consequence of the input's size (MACs, output shape). */
  derived: string[];
  /** Sums over the sides. */
  params: { before: number; after: number };
  macs: { before: number; after: number };
}

export interface ModelSummary {
  /** Label (usually the file path). */
  label: string;
  nodes: number;
  params: number;
  macs: number;
  flops: number;
  weightBytes: number;
  activationBytes: number;
  inputs: { name: string; shape: StaticDim[] | null }[];
  outputs: { name: string; shape: StaticDim[] | null }[];
  /** False when macs/flops are lower bounds (dims left symbolic; give inputShapes). */
  costExact: boolean;
  /** The symbolic or unknown ('?') dims the cost depends on; empty when exact. */
  unknownDims: string[];
}

export interface ModelDiff {
  schemaVersion: number;
  kind: 'sculpt-diff';
  a: ModelSummary;
  b: ModelSummary;
  /** True when every node matched with no change and the totals agree. */
  identical: boolean;
  counts: Record<EntryStatus, number> & { matchedBy: Record<MatchKind, number> };
  /** b / a (null when a's is 0, and for macs/flops when either count is a lower bound). */
  ratios: { params: number | null; macs: number | null; flops: number | null };
  entries: DiffEntry[];
}

export interface DiffOptions {
  labelA?: string;
  labelB?: string;
  /** Above this many cells the position match is greedy instead of an LCS. Default 1e7 (a 40 MB table). */
  lcsLimit?: number;
  /** Sizes of graph inputs with symbolic dims (`--input-shape`); names a model lacks are ignored. */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
}

// --- describing a node ----------------------------------------------------------------

/**
 * The shortest decimal that reads back as the same float32: attributes held as JS doubles in
 * memory and as float32 in a file then print alike (1e-5, not 0.000009999999747378752).
 */
function float32Text(x: number): string {
  const f = Math.fround(x);
  if (!Number.isFinite(f)) return String(f);
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p));
    if (Math.fround(s) === f) return String(s);
  }
  return String(f);
}

function attrText(a: Attribute): string {
  const v = a.v;
  switch (v.type) {
    case 1:
      return float32Text(v.value);
    case 2:
      return String(v.value);
    case 3:
      return JSON.stringify(bytesToString(v.value));
    case 4:
      return `tensor ${dataTypeName(v.value.dataType)}[${v.value.shape.join(',')}]`;
    case 5:
      return `graph(${v.value.nodes.length} nodes)`;
    case 6:
      return `[${v.value.map(float32Text).join(',')}]`;
    case 7:
      return `[${v.value.join(',')}]`;
    case 8:
      return `[${v.value.map((s) => JSON.stringify(bytesToString(s))).join(',')}]`;
    case 9:
      return `[${v.value.map((t) => `tensor ${dataTypeName(t.dataType)}[${t.shape.join(',')}]`).join(',')}]`;
    case 10:
      return `[${v.value.map((g) => `graph(${g.nodes.length} nodes)`).join(',')}]`;
    default:
      return `type ${v.type}`;
  }
}

function weightsHash(n: Node): string | null {
  const h = createHash('sha256');
  let any = false;
  for (const v of n.inputs) {
    const t = resolveTensor(v)?.tensor;
    if (!t) continue;
    any = true;
    h.update(`${t.dataType}:${t.shape.join(',')};`);
    h.update(t.rawBytes());
  }
  return any ? h.digest('hex').slice(0, 16) : null;
}

function describe(n: Node, index: number, cost: NodeCost | undefined): LayerInfo {
  const attributes: Record<string, string> = {};
  for (const a of [...n.attributes].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) attributes[a.name] = attrText(a);
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const arr = (x: unknown): number[] | null => (Array.isArray(x) && x.length ? x.map(Number) : null);
  return {
    name: n.name || cost?.name || `${n.opType}(${n.outputs[0]?.name ?? '?'})`,
    op: n.opType,
    domain: n.domain,
    index,
    inChannels: num(cost?.inChannels),
    outChannels: num(cost?.outChannels),
    kernel: arr(cost?.kernel),
    stride: arr(cost?.stride),
    groups: num(cost?.groups),
    params: Number(cost?.params ?? 0),
    macs: Number(cost?.macs ?? 0),
    outputShape: (cost?.outputShape as StaticDim[] | undefined) ?? n.outputs[0]?.shape ?? null,
    attributes,
    weights: weightsHash(n),
  };
}

const COMPARED: readonly (keyof LayerInfo)[] = [
  'op',
  'domain',
  'inChannels',
  'outChannels',
  'kernel',
  'stride',
  'groups',
  'params',
  'macs',
  'outputShape',
  'attributes',
  'weights',
];
/**
 * Fields that are the node's own: a difference in one of them means the node changed.
 * Channels count as own: they are set only for weight layers and normalisations, where they
 * are the weight's shape. MACs and the output shape follow from the input's size.
 */
const OWN = new Set<keyof LayerInfo>(['op', 'domain', 'inChannels', 'outChannels', 'kernel', 'stride', 'groups', 'params', 'attributes', 'weights']);

/** The LayerInfo fields that differ between two descriptions. */
export function layerChanges(a: LayerInfo, b: LayerInfo): string[] {
  return COMPARED.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/** The differing fields split into the node's own and those that follow from its neighbours. */
export function splitChanges(a: LayerInfo, b: LayerInfo): { own: string[]; derived: string[] } {
  const all = layerChanges(a, b);
  return { own: all.filter((k) => OWN.has(k as keyof LayerInfo)), derived: all.filter((k) => !OWN.has(k as keyof LayerInfo)) };
}

/** A Constant node, or an Identity of a constant: data the diff folds into its readers. */
function isDataNode(n: Node): boolean {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return false;
  if (n.opType === 'Constant') return true;
  return n.opType === 'Identity' && resolveTensor(n.outputs[0]) !== undefined;
}

/** Whether a node's op configuration (not just its size) changed: op, kernel, groups. */
function configChanged(a: LayerInfo, b: LayerInfo): boolean {
  return a.op !== b.op || a.domain !== b.domain || JSON.stringify(a.kernel) !== JSON.stringify(b.kernel) || a.groups !== b.groups;
}

// --- matching ---------------------------------------------------------------------------

interface Side {
  model: Model;
  nodes: readonly Node[];
  index: Map<Node, number>;
  info: LayerInfo[];
  total: CostTotals;
  exact: boolean;
  unknownDims: string[];
}

function side(model: Model, inputShapes: Readonly<Record<string, readonly number[]>>): Side {
  const names = new Set(model.graph.inputs.map((v) => v.name));
  const shapes = Object.fromEntries(Object.entries(inputShapes).filter(([k]) => names.has(k)));
  const position = new Map<Node, number>();
  model.graph.nodes.forEach((n, i) => position.set(n, i));
  const nodes = model.graph.nodes.filter((n) => !isDataNode(n));
  const cost = computeCost(model, { batch: 1, inputShapes: shapes });
  const byNode = new Map<Node, NodeCost>();
  for (const c of cost.nodes) byNode.set(c.node, c);
  const index = new Map<Node, number>();
  nodes.forEach((n, i) => index.set(n, i));
  return {
    model,
    nodes,
    index,
    info: nodes.map((n) => describe(n, position.get(n)!, byNode.get(n))),
    total: cost.total,
    exact: cost.exact,
    unknownDims: cost.unknownDims,
  };
}

function uniqueBy<T>(xs: readonly T[], key: (x: T) => string | undefined): Map<string, T> {
  const seen = new Map<string, T>();
  const dup = new Set<string>();
  for (const x of xs) {
    const k = key(x);
    if (!k) continue;
    if (seen.has(k)) dup.add(k);
    else seen.set(k, x);
  }
  for (const k of dup) seen.delete(k);
  return seen;
}

/** LCS pairs of two key sequences (indices into each). O(n·m) time, n·m/… memory. */
function lcsPairs(a: readonly string[], b: readonly string[]): [number, number][] {
  const n = a.length;
  const m = b.length;
  const w = m + 1;
  const t = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      t[i * w + j] = a[i] === b[j] ? t[(i + 1) * w + j + 1]! + 1 : Math.max(t[(i + 1) * w + j]!, t[i * w + j + 1]!);
    }
  }
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push([i, j]);
      i++;
      j++;
    } else if (t[(i + 1) * w + j]! >= t[i * w + j + 1]!) i++;
    else j++;
  }
  return out;
}

/** In-order greedy pairing of equal keys (for remainders too large for an LCS table). */
function greedyPairs(a: readonly string[], b: readonly string[]): [number, number][] {
  const queues = new Map<string, number[]>();
  b.forEach((k, j) => {
    const q = queues.get(k);
    if (q) q.push(j);
    else queues.set(k, [j]);
  });
  const out: [number, number][] = [];
  let last = -1;
  a.forEach((k, i) => {
    const q = queues.get(k);
    while (q && q.length && q[0]! <= last) q.shift();
    const j = q?.shift();
    if (j !== undefined) {
      out.push([i, j]);
      last = j;
    }
  });
  return out;
}

const opKey = (n: Node) => `${n.domain}::${n.opType}`;

/** Node-level neighbours through values produced and consumed inside one graph. */
function neighbours(n: Node): Node[] {
  const out: Node[] = [];
  for (const v of n.inputs) if (v?.producer) out.push(v.producer);
  for (const o of n.outputs) if (o) for (const u of o.uses()) out.push(u.node);
  return out;
}

/**
 * Diffs two models. Both are analysed with computeCost at batch 1.
 * @throws what computeCost throws for a model it cannot analyse (SHAPE_INFERENCE_FAILED, ...).
 */
export function diffModels(a: Model, b: Model, opts: DiffOptions = {}): ModelDiff {
  const A = side(a, opts.inputShapes ?? {});
  const B = side(b, opts.inputShapes ?? {});
  const pairAB = new Map<Node, Node>();
  const pairBA = new Map<Node, Node>();
  const how = new Map<Node, MatchKind>();
  const pair = (x: Node, y: Node, k: MatchKind) => {
    pairAB.set(x, y);
    pairBA.set(y, x);
    how.set(x, k);
  };

  // 1. names
  const bByName = uniqueBy(B.nodes, (n) => n.name);
  const aByName = uniqueBy(A.nodes, (n) => n.name);
  for (const [name, x] of aByName) {
    const y = bByName.get(name);
    if (y) pair(x, y, 'name');
  }
  // 2. first output name, same op
  const bByOut = uniqueBy(
    B.nodes.filter((n) => !pairBA.has(n)),
    (n) => n.outputs[0]?.name,
  );
  for (const x of A.nodes) {
    if (pairAB.has(x)) continue;
    const y = bByOut.get(x.outputs[0]?.name ?? '');
    if (y && !pairBA.has(y) && opKey(x) === opKey(y)) pair(x, y, 'output');
  }
  // 3. position
  const restA = A.nodes.filter((n) => !pairAB.has(n));
  const restB = B.nodes.filter((n) => !pairBA.has(n));
  if (restA.length && restB.length) {
    const ka = restA.map(opKey);
    const kb = restB.map(opKey);
    const pairs = restA.length * restB.length <= (opts.lcsLimit ?? 1e7) ? lcsPairs(ka, kb) : greedyPairs(ka, kb);
    for (const [i, j] of pairs) pair(restA[i]!, restB[j]!, 'position');
  }

  const infoA = (n: Node) => A.info[A.index.get(n)!]!;
  const infoB = (n: Node) => B.info[B.index.get(n)!]!;
  const posA = (n: Node) => A.index.get(n)!;

  // A position pair must sit in a consistent place: some neighbour (or graph input) of one
  // side is paired with a neighbour (or the same graph input) of the other. Otherwise the LCS
  // only lined up equal op types across a rewritten region (a hybrid unit's Split → convs).
  const graphInputsRead = (n: Node, g: Model['graph']) =>
    n.inputs.filter((v): v is Value => !!v && !v.producer && g.inputs.includes(v)).map((v) => g.inputs.indexOf(v));
  for (let round = 0; round < 4; round++) {
    let dropped = false;
    for (const [x, y] of [...pairAB]) {
      if (how.get(x) !== 'position') continue;
      const nx = neighbours(x);
      const ny = new Set(neighbours(y));
      const gx = graphInputsRead(x, a.graph);
      const gy = new Set(graphInputsRead(y, b.graph));
      if (nx.length === 0 && gx.length === 0) continue;
      if (
        nx.some((m) => {
          const p = pairAB.get(m);
          return p !== undefined && ny.has(p);
        }) ||
        gx.some((i) => gy.has(i))
      )
        continue;
      pairAB.delete(x);
      pairBA.delete(y);
      how.delete(x);
      dropped = true;
    }
    if (!dropped) break;
  }

  // Matched nodes whose configuration changed and that touch added nodes belong to a rewrite
  // of the region (a stacked unit that kept the original name), not to a 1:1 change.
  const added = new Set(B.nodes.filter((n) => !pairBA.has(n)));
  const removed = new Set(A.nodes.filter((n) => !pairAB.has(n)));
  for (const [x, y] of [...pairAB]) {
    if (!configChanged(infoA(x), infoB(y))) continue;
    if (!neighbours(y).some((m) => added.has(m))) continue;
    pairAB.delete(x);
    pairBA.delete(y);
    how.delete(x);
    added.add(y);
    removed.add(x);
  }

  // Components of removed / added nodes, with the anchors around them.
  const anchorIdA = new Map<Node, number>();
  const anchorIdB = new Map<Node, number>();
  let nextAnchor = 0;
  for (const [x, y] of pairAB) {
    anchorIdA.set(x, nextAnchor);
    anchorIdB.set(y, nextAnchor);
    nextAnchor++;
  }
  interface Comp {
    nodes: Node[];
    ins: Set<string>;
    outs: Set<string>;
  }
  const components = (S: Side, free: Set<Node>, anchors: Map<Node, number>): Comp[] => {
    const seen = new Set<Node>();
    const comps: Comp[] = [];
    const graph = S.model.graph;
    for (const start of S.nodes) {
      if (!free.has(start) || seen.has(start)) continue;
      const nodes: Node[] = [];
      const stack = [start];
      seen.add(start);
      while (stack.length) {
        const n = stack.pop()!;
        nodes.push(n);
        for (const m of neighbours(n))
          if (free.has(m) && !seen.has(m)) {
            seen.add(m);
            stack.push(m);
          }
      }
      nodes.sort((p, q) => S.index.get(p)! - S.index.get(q)!);
      const ins = new Set<string>();
      const outs = new Set<string>();
      for (const n of nodes) {
        for (const v of n.inputs) {
          if (!v || v.initializer) continue;
          const p = v.producer;
          if (p && free.has(p)) continue;
          if (p && anchors.has(p)) ins.add(`n${anchors.get(p)}`);
          else if (!p && graph.inputs.includes(v)) ins.add(`in${graph.inputs.indexOf(v)}`);
        }
        for (const o of n.outputs) {
          if (!o) continue;
          for (const u of o.uses()) if (!free.has(u.node) && anchors.has(u.node)) outs.add(`n${anchors.get(u.node)}`);
          const gi = graph.outputs.indexOf(o);
          if (gi >= 0) outs.add(`out${gi}`);
        }
      }
      comps.push({ nodes, ins, outs });
    }
    return comps;
  };
  const compsA = components(A, removed, anchorIdA);
  const compsB = components(B, added, anchorIdB);
  const overlap = (x: Set<string>, y: Set<string>) => {
    let k = 0;
    for (const s of x) if (y.has(s)) k++;
    return k;
  };
  const replacements: { a: Comp; b: Comp }[] = [];
  const usedB = new Set<Comp>();
  for (const ca of compsA) {
    let best: Comp | null = null;
    let bestScore = 0;
    for (const cb of compsB) {
      if (usedB.has(cb)) continue;
      const i = overlap(ca.ins, cb.ins);
      const o = overlap(ca.outs, cb.outs);
      if (i === 0 || o === 0) continue;
      if (i + o > bestScore) {
        best = cb;
        bestScore = i + o;
      }
    }
    if (best) {
      usedB.add(best);
      replacements.push({ a: ca, b: best });
    }
  }

  // Entries, each with a sort key: position in A, or just after the A node that B's nearest
  // matched predecessor is paired with.
  const entries: { key: number; sub: number; e: DiffEntry }[] = [];
  const sum = (xs: LayerInfo[], k: 'params' | 'macs') => xs.reduce((s, x) => s + x[k], 0);
  const make = (
    status: EntryStatus,
    match: MatchKind | null,
    before: LayerInfo[],
    after: LayerInfo[],
    changes: string[],
    derived: string[] = [],
  ): DiffEntry => ({
    status,
    match,
    before,
    after,
    changes,
    derived,
    params: { before: sum(before, 'params'), after: sum(after, 'params') },
    macs: { before: sum(before, 'macs'), after: sum(after, 'macs') },
  });
  const keyOfAdded = (n: Node): number => {
    for (let i = B.index.get(n)! - 1; i >= 0; i--) {
      const x = pairBA.get(B.nodes[i]!);
      if (x) return posA(x) + 0.5;
    }
    return -0.5;
  };
  for (const [x, y] of pairAB) {
    const ia = infoA(x);
    const ib = infoB(y);
    const { own, derived } = splitChanges(ia, ib);
    const status: EntryStatus = ia.op !== ib.op || ia.domain !== ib.domain ? 'replaced' : own.length ? 'changed' : 'same';
    entries.push({ key: posA(x), sub: 0, e: make(status, how.get(x)!, [ia], [ib], own, derived) });
  }
  const inReplacement = new Set<Node>();
  for (const r of replacements) {
    for (const n of [...r.a.nodes, ...r.b.nodes]) inReplacement.add(n);
    const before = r.a.nodes.map(infoA);
    const after = r.b.nodes.map(infoB);
    const split = before.length === 1 && after.length === 1 ? splitChanges(before[0]!, after[0]!) : { own: ['structure'], derived: [] };
    entries.push({ key: posA(r.a.nodes[0]!), sub: 0, e: make('replaced', 'structure', before, after, split.own, split.derived) });
  }
  for (const x of removed) if (!inReplacement.has(x)) entries.push({ key: posA(x), sub: 0, e: make('removed', null, [infoA(x)], [], []) });
  for (const y of added) if (!inReplacement.has(y)) entries.push({ key: keyOfAdded(y), sub: B.index.get(y)!, e: make('added', null, [], [infoB(y)], []) });
  entries.sort((p, q) => p.key - q.key || p.sub - q.sub);

  const counts: ModelDiff['counts'] = { same: 0, changed: 0, added: 0, removed: 0, replaced: 0, matchedBy: { name: 0, output: 0, position: 0, structure: 0 } };
  for (const { e } of entries) {
    counts[e.status]++;
    if (e.match) counts.matchedBy[e.match]++;
  }
  const sa = summary(a, A, opts.labelA ?? 'a');
  const sb = summary(b, B, opts.labelB ?? 'b');
  const ratio = (x: number, y: number) => (x ? y / x : null);
  const identical =
    entries.every(({ e }) => e.status === 'same') &&
    sa.params === sb.params &&
    sa.macs === sb.macs &&
    JSON.stringify([sa.inputs, sa.outputs]) === JSON.stringify([sb.inputs, sb.outputs]);
  return {
    schemaVersion: DIFF_SCHEMA_VERSION,
    kind: 'sculpt-diff',
    a: sa,
    b: sb,
    identical,
    counts,
    // A ratio of lower bounds is not a ratio of costs.
    ratios: {
      params: ratio(sa.params, sb.params),
      macs: A.exact && B.exact ? ratio(sa.macs, sb.macs) : null,
      flops: A.exact && B.exact ? ratio(sa.flops, sb.flops) : null,
    },
    entries: entries.map((x) => x.e),
  };
}

function summary(m: Model, S: Side, label: string): ModelSummary {
  const t = S.total;
  const g = m.graph;
  const io = (v: Value) => ({ name: v.name, shape: v.shape ?? null });
  const inits = new Set(g.initializers);
  return {
    label,
    nodes: S.nodes.length,
    params: Number(t.params),
    macs: Number(t.macs),
    flops: Number(t.flops),
    weightBytes: Number(t.weightBytes),
    activationBytes: Number(t.activationBytes),
    inputs: g.inputs.filter((v) => !inits.has(v)).map(io),
    outputs: g.outputs.map(io),
    costExact: S.exact,
    unknownDims: S.unknownDims,
  };
}
