/**
 * The stage cut of the masked network (GGS): while stage s is searched, only its own mask
 * inputs change; every value that does not depend on them is the same for every genome of
 * the stage. So the network is cut in two at the stage's frontier:
 *
 *   prefix:  the nodes up to the frontier values (run once per stage, with the held genome)
 *   cut:     the frontier values as graph inputs, and only the nodes that depend on the
 *            stage's masks (run once per genome)
 *
 * The frontier is the set of values that depend on the data input but not on the stage's
 * masks and that a node of the cut reads. Nodes that depend on neither (reshapes of the
 * held masks, constants) stay in the cut: they cost nothing. The cut computes exactly the
 * nodes of the full network that a genome of the stage can change, with the same inputs,
 * so its outputs equal the full network's (test/search/stage-cut.test.ts); what it saves is
 * the work before the frontier, most of the network for the last stages.
 *
 * Masks known to be all ones while the stage is searched (GGS: the later stages' masks,
 * held at their unsearched all ones) are taken out of the cut: their Mul nodes go, which
 * spares onnxruntime a layout change (NCHWc and back) around each of them. The scorer
 * checks the held genome before it uses a cut made so.
 *
 *   full:    x → [stage 0 … stage s-1] → f → [stage s … end] → feature
 *   prefix:  x → [stage 0 … stage s-1] → f
 *   cut:     f → [stage s … end] → feature
 */
import { CompilerError } from '../errors.js';
import type { Model, Node, Value } from '../ir/core.js';
import { Value as IrValue } from '../ir/core.js';
import { topologicalOrder } from '../ir/toposort.js';
import { decodeModel } from '../serde/read.js';
import { encodeModel } from '../serde/write.js';
import { writeInferredTypes } from './expose.js';
import type { PreparedSearch } from './prepare.js';

export interface StageNet {
  /** The encoded cut network: frontier values and mask inputs in, `outputs` out. */
  readonly cut: Uint8Array;
  /** The encoded prefix network: the data input (and held masks) in, the frontier out; undefined when the frontier is empty (the stage's masks act from the start). */
  readonly prefix?: Uint8Array;
  /** Frontier value names: outputs of the prefix, inputs of the cut. */
  readonly frontier: readonly string[];
  /** Mask inputs taken out of the cut as all ones: valid only while the held genome keeps them so. */
  readonly ones: readonly string[];
  /** Fraction of the full network's nodes that the cut runs (a hint for progress and docs). */
  readonly nodeFraction: number;
}

/**
 * Removes every Mul by a value derived from the `ones` mask inputs alone (through Reshape,
 * Gather, Concat with constants: all ones again) where the Mul's result has its other
 * input's shape: x·1 = x exactly. Returns the mask names whose every Mul went.
 */
function dropOnesMuls(m: Model, ones: ReadonlySet<string>): string[] {
  const g = m.graph;
  const derived = new Map<Value, string>();
  for (const v of g.inputs) if (ones.has(v.name)) derived.set(v, v.name);
  const order = topologicalOrder(g);
  for (const n of order) {
    if (!['Reshape', 'Gather', 'Concat', 'Unsqueeze', 'Expand'].includes(n.opType)) continue;
    const from = n.inputs.map((v) => (v ? derived.get(v) : undefined)).find((x) => x !== undefined);
    // Every other input a constant: Reshape's shape, Gather's indices, Concat's one-padding.
    if (from === undefined || n.inputs.some((v) => v && !derived.has(v) && !v.isInitializer())) continue;
    if (n.opType === 'Concat' && n.inputs.some((v) => v && v.isInitializer() && !v.initializer!.toFloat32().every((x) => x === 1))) continue;
    if (n.opType === 'Gather' && !derived.has(n.inputs[0]!)) continue;
    for (const o of n.outputs) if (o) derived.set(o, from);
  }
  const kept = new Set<string>();
  const dropped = new Set<string>();
  for (const n of order) {
    if (n.opType !== 'Mul' || n.domain !== '') continue;
    const [a, b] = n.inputs;
    const y = n.outputs[0];
    if (!a || !b || !y) continue;
    const [x, mask] = derived.has(b) ? [a, b] : derived.has(a) ? [b, a] : [undefined, undefined];
    if (!x || !mask) continue;
    const name = derived.get(mask)!;
    const xs = x.shape,
      ys = y.shape;
    if (!xs || !ys || xs.length !== ys.length || xs.some((d, i) => d !== ys[i])) {
      kept.add(name);
      continue;
    }
    g.replaceValue(y, x);
    g.removeNode(n, true);
    dropped.add(name);
  }
  return [...dropped].filter((d) => !kept.has(d)).sort();
}

/** Removes every node none of whose outputs is read or listed as a graph output, then unread inputs and initializers. */
function dropDeadCode(m: Model): void {
  const g = m.graph;
  const order = topologicalOrder(g);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    if (n.outputs.every((o) => !o || (o.useCount === 0 && !o.isGraphOutput()))) g.removeNode(n, true);
  }
  for (const v of g.inputs) if (!v.isInitializer() && v.useCount === 0 && !v.isGraphOutput()) g.removeInput(v);
  for (const v of g.initializers) if (v.useCount === 0 && !v.isGraphOutput()) g.removeInitializer(v);
}

/** Lists exactly `names` as the graph outputs (in that order). */
function setOutputs(m: Model, values: readonly Value[]): void {
  const g = m.graph;
  for (const o of [...g.outputs]) g.removeOutput(o);
  for (const v of values) g.addOutput(v);
}

/** A value of the main graph by name. @throws MISSING_VALUE */
function valueOf(m: Model, name: string): Value {
  const v = m.graph.findValue(name);
  if (!v) throw new CompilerError('MISSING_VALUE', `the masked network has no value "${name}"`, { where: name });
  return v;
}

/**
 * Cuts the encoded masked network for a stage whose mask inputs are `varying`; `outputs`
 * are the values the scorer reads (the feature or its summary); `ones` are mask inputs the
 * held genome keeps at all ones while the stage is searched. Returns undefined when there is
 * nothing to gain (every node depends on the stage's masks and no Mul by ones can go).
 * @throws MISSING_VALUE for an output or mask name the network lacks
 */
export function cutForStage(
  masked: Uint8Array,
  dataInput: string,
  varying: ReadonlySet<string>,
  outputs: readonly string[],
  ones: ReadonlySet<string> = new Set(),
): StageNet | undefined {
  const m = decodeModel(masked);
  writeInferredTypes(m);
  const g = m.graph;
  const outs = outputs.map((n) => valueOf(m, n));
  const order = topologicalOrder(g);
  // Forward: which values depend on the stage's masks, which on the data.
  const variable = new Set<Value>([...varying].map((n) => valueOf(m, n)));
  const data = new Set<Value>([valueOf(m, dataInput)]);
  for (const n of order) {
    const ins = n.inputs.filter((v): v is Value => !!v);
    const isVar = ins.some((v) => variable.has(v));
    const isData = ins.some((v) => data.has(v));
    for (const o of n.outputs) {
      if (!o) continue;
      if (isVar) variable.add(o);
      if (isData) data.add(o);
    }
  }
  // Backward from the outputs: the nodes the scorer needs.
  const needed = new Set<Node>();
  const stack = [...outs];
  const seen = new Set<Value>();
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const p = v.producer;
    if (!p || needed.has(p)) continue;
    // A node that depends on the data but not on the stage's masks is before the frontier.
    if (data.has(v) && !variable.has(v)) continue;
    needed.add(p);
    for (const x of p.inputs) if (x) stack.push(x);
  }
  const frontier: Value[] = [];
  const fset = new Set<Value>();
  for (const n of needed) {
    for (const x of n.inputs) {
      if (!x || fset.has(x) || x.isInitializer() || x.isGraphInput()) continue;
      if (data.has(x) && !variable.has(x)) {
        fset.add(x);
        frontier.push(x);
      }
    }
  }
  const dropOnes = new Set([...ones].filter((n) => !varying.has(n)));
  if (frontier.length === 0 && dropOnes.size === 0) return undefined;
  frontier.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const f of frontier) {
    if (!f.type)
      throw new CompilerError('SHAPE_INFERENCE_FAILED', `the type of "${f.name}" is unknown, so the stage cut cannot make it an input`, { where: f.name });
  }
  // The prefix: the frontier as outputs, everything else dead.
  let prefix: Uint8Array | undefined;
  if (frontier.length > 0) {
    const pm = decodeModel(masked);
    writeInferredTypes(pm);
    setOutputs(
      pm,
      frontier.map((f) => valueOf(pm, f.name)),
    );
    dropDeadCode(pm);
    prefix = encodeModel(pm);
  }
  // The cut: each frontier value read by a needed node becomes a fresh graph input of its name.
  const created: [IrValue, string][] = [];
  for (const f of frontier) {
    const input = new IrValue(m.names.fresh(`${f.name}_frontier`));
    input.type = f.type;
    g.addInput(input);
    for (const u of f.uses()) if (needed.has(u.node)) u.node.setInput(u.index, input);
    created.push([input, f.name]);
  }
  setOutputs(m, outs);
  // Nodes before the frontier now feed nothing the outputs read.
  dropDeadCode(m);
  // The frontier inputs keep their own names in the cut (the prefix's outputs feed them).
  for (const [v, name] of created) v.name = name;
  const onesDropped = dropOnesMuls(m, dropOnes);
  dropDeadCode(m);
  if (frontier.length === 0 && onesDropped.length === 0) return undefined;
  return {
    cut: encodeModel(m),
    prefix,
    frontier: frontier.map((f) => f.name),
    ones: onesDropped,
    nodeFraction: m.graph.nodes.length / order.length,
  };
}

/**
 * The cut network of every GGS stage of a prepared search (none for a single stage): while
 * stage s is searched, the later stages' masks are still all ones (GGS holds them so).
 */
export function stageNetsOf(p: PreparedSearch): (StageNet | undefined)[] {
  if (p.space.stages.length < 2) return [];
  const read = p.summaryOutput ?? p.feature.masked;
  const stageMasks = p.space.stages.map((st) => st.groups.map((i) => p.scorerMasks[i]!.name));
  return p.space.stages.map((_st, s) => cutForStage(p.masked, p.dataInput, new Set(stageMasks[s]), [read], new Set(stageMasks.slice(s + 1).flat())));
}
