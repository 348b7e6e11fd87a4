/**
 * One way to find, untie and rewrite a layer's weights, for every pass and the trainer.
 *
 * Exporters do not hand weights over as one initializer per layer input:
 *  - PyTorch de-duplicates equal initializers: every zero bias of the same width becomes
 *    ONE tensor, read by each layer through its own `Identity` node;
 *  - converters from other frameworks (opset 9 and older, tf2onnx, ...) put weights in
 *    `Constant` nodes (`value`, or `value_float(s)` for small vectors);
 *  - layers may read one tensor directly (tied weights).
 * `resolveWeight` sees through all of it: from the value a node reads, back through
 * Identity chains, to the initializer or Constant node that holds the data, and says
 * whether anything else reads that data.
 *
 * Writing a weight (`setWeight`) never changes another reader: when the data is shared, the
 * rewritten reader gets its own copy first (untying), and the chain it read through is
 * removed once nothing reads it.
 *
 * The form rule: a rewritten weight keeps the form it came in. Data from an initializer is
 * written to an initializer; data from a Constant node is written to a Constant node (in
 * `value`, or in `value_floats` / `value_float` when it came that way and still fits). A
 * caller that wants initializers asks with `form: 'initializer'` (the CLI's
 * `--canonicalize`), or runs the `constants-to-initializers` pass afterwards.
 *
 * ```ts
 * const w = resolveWeight(conv.inputs[1]);      // { source, form: 'constant', tensor, identities: [...], shared: true }
 * setWeight(model, conv, 1, Float32Array.from(...), [32, 16, 3, 3]);   // conv gets its own Constant node
 * ```
 */
import { CompilerError } from '../errors.js';
import { attrFloat, attrFloats, attrTensor } from './attribute.js';
import { Node, Value } from './core.js';
import type { Graph, Model } from './core.js';
import { DataType } from './data-type.js';
import { Tensor } from './tensor.js';

/** Where a constant's data lives. */
export type WeightForm = 'initializer' | 'constant';

/** A weight as a node sees it, resolved to the data that holds it. */
export interface ResolvedWeight {
  /** The value the node reads. */
  readonly read: Value;
  /** The initializer, or the Constant node's output, at the end of the Identity chain. */
  readonly source: Value;
  readonly form: WeightForm;
  /** The data: the initializer's tensor or the Constant's `value` (a tensor built from `value_float(s)`/`value_int(s)` otherwise). */
  readonly tensor: Tensor;
  /** Identity nodes between `read` and `source`, `read`'s producer first. */
  readonly identities: readonly Node[];
  /**
   * Whether something besides this one chain reads the data: `read` has several uses, or a
   * value up the chain (the source included) is read by another node or is a graph output.
   */
  readonly shared: boolean;
}

function isDefaultDomain(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

/**
 * The tensor a Constant node holds: its `value`, or one made from `value_float`,
 * `value_floats`, `value_int`, `value_ints`. Undefined for sparse or string constants.
 */
export function constantNodeTensor(n: Node): Tensor | undefined {
  const name = n.outputs[0]?.name;
  const t = n.attrTensor('value');
  if (t) return t;
  const f = n.attrFloat('value_float');
  if (f !== undefined) return Tensor.fromFloat32(name, [], [f]);
  const fs = n.attrFloats('value_floats');
  if (fs) return Tensor.fromFloat32(name, [fs.length], fs);
  const i = n.attrInt('value_int');
  if (i !== undefined) return Tensor.fromInt64(name, [], [i]);
  const is = n.attrInts('value_ints');
  if (is) return Tensor.fromInt64(name, [is.length], is);
  return undefined;
}

/** The constant data of `v` itself (an initializer, or a Constant node's output), without following Identity. */
export function constantData(v: Value): Tensor | undefined {
  if (v.initializer) return v.initializer;
  const p = v.producer;
  if (p && p.opType === 'Constant' && isDefaultDomain(p)) return constantNodeTensor(p);
  return undefined;
}

function isIdentity(n: Node | null): n is Node {
  return !!n && n.opType === 'Identity' && isDefaultDomain(n) && n.inputs.length >= 1 && !!n.inputs[0];
}

function isGraphOutput(v: Value): boolean {
  const g = v.graph;
  return !!g && g.outputs.includes(v);
}

/**
 * Resolves the value a node reads to the constant data behind it, through Identity
 * chains. Undefined when the value is computed (or null). O(chain length).
 */
export function resolveWeight(v: Value | null | undefined): ResolvedWeight | undefined {
  if (!v) return undefined;
  const identities: Node[] = [];
  let cur = v;
  let shared = v.useCount > 1 || isGraphOutput(v);
  const seen = new Set<Value>();
  while (!constantData(cur)) {
    const p = cur.producer;
    if (!isIdentity(p) || seen.has(cur)) return undefined;
    seen.add(cur);
    identities.push(p);
    cur = p.inputs[0]!;
    if (cur.useCount > 1 || isGraphOutput(cur)) shared = true;
  }
  const tensor = constantData(cur)!;
  // An initializer that is also a graph input can be fed at run time: it is data, not a private weight.
  if (cur.initializer && cur.graph?.inputs.includes(cur)) shared = true;
  return { read: v, source: cur, form: cur.initializer ? 'initializer' : 'constant', tensor, identities, shared };
}

/** The weight input `index` of `node` reads, resolved (see resolveWeight). */
export function weightOf(node: Node, index: number): ResolvedWeight | undefined {
  return resolveWeight(node.inputs[index]);
}

/** Whether input `index` of `node` is float32 constant data (through Identity chains). */
export function isFloatWeight(node: Node, index: number): boolean {
  return weightOf(node, index)?.tensor.dataType === DataType.FLOAT;
}

/**
 * A new constant value holding `t`, named fresh from `base`, in `form`, in graph `g`; a
 * Constant node goes right before `before` (or first in the graph).
 */
export function addConstant(model: Model, g: Graph, form: WeightForm, base: string, t: Tensor, before: Node | null): Value {
  const v = new Value(model.names.fresh(base));
  t.name = v.name;
  if (form === 'initializer') {
    g.addInitializer(v, t);
  } else {
    const n = new Node({ opType: 'Constant', name: model.names.fresh(`${v.name}_const`), outputs: [v], attributes: [attrTensor('value', t)] });
    if (before && before.graph === g) g.insertBefore(before, n);
    else g.insertNodeAt(0, n);
  }
  v.setTensorType(t.dataType, t.shape);
  return v;
}

/** Stores `t` in a Constant node in its original attribute kind when that still fits, else in `value`. */
function setConstantNode(n: Node, t: Tensor): void {
  const fits1d = t.dataType === DataType.FLOAT && t.dims.length === 1;
  const fits0d = t.dataType === DataType.FLOAT && t.dims.length === 0;
  if (n.hasAttr('value_floats') && fits1d) {
    n.setAttr(attrFloats('value_floats', Array.from(t.toFloat32())));
    return;
  }
  if (n.hasAttr('value_float') && fits0d) {
    n.setAttr(attrFloat('value_float', t.toFloat32()[0]!));
    return;
  }
  for (const a of ['value_float', 'value_floats', 'value_int', 'value_ints', 'sparse_value']) n.removeAttr(a);
  n.setAttr(attrTensor('value', t));
}

/**
 * Replaces the data of a constant value in place, in its own form: an initializer's tensor,
 * or a Constant node's attribute (`value_floats`/`value_float` kept when the data still
 * fits). Every reader of `v` sees the new data. Returns false when `v` is not constant data.
 */
export function setConstantData(v: Value, t: Tensor): boolean {
  if (v.initializer) {
    const it = v.initializer;
    it.dataType = t.dataType;
    it.dims = [...t.dims];
    it.data = t.data;
    it.external = undefined;
    it.dataLocation = undefined;
  } else if (v.producer && v.producer.opType === 'Constant' && isDefaultDomain(v.producer)) {
    t.name = v.name;
    setConstantNode(v.producer, t);
  } else {
    return false;
  }
  v.setTensorType(t.dataType, t.shape);
  return true;
}

/**
 * Drops `v` (an Identity output, initializer or Constant output) and what it was read
 * through, as long as nothing reads it any more. O(chain · nodes).
 */
export function dropIfUnused(v: Value | null | undefined): void {
  let cur = v ?? null;
  while (cur && cur.useCount === 0 && !isGraphOutput(cur)) {
    const g = cur.graph;
    if (!g) return;
    const p = cur.producer;
    if (cur.initializer) {
      if (g.inputs.includes(cur)) return;
      g.removeInitializer(cur);
      return;
    }
    if (!p || p.outputs.some((o) => o && (o.useCount > 0 || isGraphOutput(o)))) return;
    if (p.opType === 'Constant' && isDefaultDomain(p)) {
      g.removeNode(p);
      return;
    }
    if (!isIdentity(p)) return;
    const up = p.inputs[0]!;
    g.removeNode(p);
    cur = up;
  }
}

export interface SetWeightOptions {
  /** `same` (default): the form the data came in; `initializer`: always an initializer. */
  form?: 'same' | 'initializer';
  /** Name of a new constant, when one is made (default: the source's name). */
  name?: string;
}

/**
 * Makes input `index` of `node` read `data` (a tensor, or float32 values with `dims`),
 * leaving every other reader of the old data as it was. When this node is the only reader
 * of the data and the form stays, the data is replaced in place (initializer or Constant
 * node, names kept, Identity chain kept with updated types). Otherwise the node gets a new
 * constant of the kept form, and the chain it read through goes when nothing else reads it.
 * Returns the weight as the node now sees it.
 * @throws MISSING_VALUE when the input is not constant data (see resolveWeight)
 */
export function setWeight(
  model: Model,
  node: Node,
  index: number,
  data: Tensor | Float32Array,
  dims?: readonly number[],
  opts: SetWeightOptions = {},
): ResolvedWeight {
  const r = weightOf(node, index);
  if (!r)
    throw new CompilerError('MISSING_VALUE', `input ${index} of ${node.where} is not constant data`, {
      where: node.where,
      hint: 'weights must be initializers or Constant nodes (read directly or through Identity)',
    });
  let t: Tensor;
  if (data instanceof Tensor) t = data;
  else {
    if (!dims) throw new CompilerError('INTERNAL', 'setWeight: float data needs dims');
    t = Tensor.fromFloat32(undefined, [...dims], data);
  }
  const form: WeightForm = opts.form === 'initializer' ? 'initializer' : r.form;
  if (!r.shared && form === r.form && node.graph === r.source.graph) {
    setConstantData(r.source, t);
    for (const n of r.identities) n.outputs[0]!.setTensorType(t.dataType, t.shape);
    return resolveWeight(node.inputs[index])!;
  }
  const g = node.graph!;
  const nv = addConstant(model, g, form, opts.name ?? r.source.name, t, node);
  const old = node.inputs[index]!;
  node.setInput(index, nv);
  dropIfUnused(old);
  return resolveWeight(nv)!;
}

/**
 * Gives input `index` of `node` its own copy of the data it reads, in the same form, when
 * the data is shared (nothing happens otherwise). Returns the weight as the node now sees it.
 * @throws MISSING_VALUE when the input is not constant data
 */
export function untieWeight(model: Model, node: Node, index: number, opts: SetWeightOptions = {}): ResolvedWeight {
  const r = weightOf(node, index);
  if (!r) throw new CompilerError('MISSING_VALUE', `input ${index} of ${node.where} is not constant data`, { where: node.where });
  if (!r.shared && (opts.form !== 'initializer' || r.form === 'initializer')) return r;
  return setWeight(model, node, index, r.tensor.clone(), undefined, opts);
}

// --- untying all shared constants, with a record that can be replayed ---------------------

/** One shared constant and the copies made of it, one per reader after the first. */
export interface UntiedConstant {
  readonly name: string;
  /** Form of the copies (the source's form); absent in older records: initializer. */
  readonly form?: WeightForm;
  readonly copies: { readonly name: string; readonly node: string; readonly input: number }[];
}

function nodeKey(model: Model, n: Node): string {
  return n.name ? n.name : `#${model.graph.nodes.indexOf(n)}`;
}

function findNode(model: Model, key: string): Node | undefined {
  if (key.startsWith('#')) return model.graph.nodes[Number(key.slice(1))];
  return model.graph.nodes.find((n) => n.name === key);
}

const FLOATS = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/**
 * Gives every reader of a shared float constant (rank ≥ 1; an initializer or a Constant
 * node) its own copy, in the source's form. A reader may be an Identity node: its chain then
 * reads a private copy. Shape-like integer constants stay shared: channels never live in
 * them. Initializers that are also graph inputs stay shared (they can be fed). O(constants).
 */
export function untieSharedConstants(model: Model): UntiedConstant[] {
  const g = model.graph;
  const out: UntiedConstant[] = [];
  const candidates: Value[] = [...g.initializers.filter((v) => !g.inputs.includes(v))];
  for (const n of g.nodes) if (n.opType === 'Constant' && isDefaultDomain(n) && n.outputs[0]) candidates.push(n.outputs[0]);
  for (const v of candidates) {
    const t = constantData(v);
    if (!t || !FLOATS.has(t.dataType) || t.dims.length === 0) continue;
    const uses = v.uses().filter((u) => u.node.graph === g);
    if (uses.length <= 1 || g.outputs.includes(v)) continue;
    const form: WeightForm = v.initializer ? 'initializer' : 'constant';
    const rec: UntiedConstant = { name: v.name, form, copies: [] };
    for (const u of uses.slice(1)) {
      const c = addConstant(model, g, form, v.name, t.clone(), u.node);
      u.node.setInput(u.index, c);
      rec.copies.push({ name: c.name, node: nodeKey(model, u.node), input: u.index });
    }
    out.push(rec);
  }
  return out;
}

function findConstant(model: Model, name: string): Value | undefined {
  const g = model.graph;
  return g.initializers.find((x) => x.name === name) ?? g.nodes.find((n) => n.opType === 'Constant' && n.outputs[0]?.name === name)?.outputs[0] ?? undefined;
}

/**
 * Repeats recorded untying on another copy of the same model (the original, for a masked
 * reference): the same copy names at the same node inputs.
 * @throws MISSING_VALUE when the model does not have the recorded constants or readers
 */
export function replayUntie(model: Model, records: readonly UntiedConstant[]): void {
  const g = model.graph;
  for (const r of records) {
    const v = findConstant(model, r.name);
    const t = v ? constantData(v) : undefined;
    if (!v || !t) throw new CompilerError('MISSING_VALUE', `untied constant "${r.name}" is not in the model`, { where: r.name });
    for (const c of r.copies) {
      const n = findNode(model, c.node);
      if (!n || n.inputs[c.input] !== v)
        throw new CompilerError('MISSING_VALUE', `node ${c.node} input ${c.input} does not read "${r.name}"`, { where: c.node });
      const cv = new Value(c.name);
      const ct = t.clone(c.name);
      if ((r.form ?? 'initializer') === 'initializer') g.addInitializer(cv, ct);
      else g.insertBefore(n, new Node({ opType: 'Constant', name: `${c.name}_const`, outputs: [cv], attributes: [attrTensor('value', ct)] }));
      cv.setTensorType(t.dataType, t.shape);
      n.setInput(c.input, cv);
    }
  }
}

function sameData(a: Value, b: Value): boolean {
  const x = constantData(a);
  const y = constantData(b);
  if (!x || !y || x.dataType !== y.dataType || x.dims.length !== y.dims.length) return false;
  if (x.shape.some((d, i) => d !== y.shape[i])) return false;
  const p = x.rawBytes();
  const q = y.rawBytes();
  if (p.length !== q.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false;
  return true;
}

/** Ties copies that still hold identical data back to one constant. Returns how many copies went. O(copied bytes). */
export function retieConstants(model: Model, records: readonly UntiedConstant[]): number {
  let merged = 0;
  for (const r of records) {
    const kept: Value[] = [];
    const orig = findConstant(model, r.name);
    if (orig) kept.push(orig);
    for (const c of r.copies) {
      const cv = findConstant(model, c.name);
      if (!cv) continue;
      const same = kept.find((k) => sameData(k, cv));
      if (!same) {
        kept.push(cv);
        continue;
      }
      // A Constant node must come before its readers: tie only into a value defined no later.
      if (
        same.producer &&
        cv.uses().some((u) => u.node.graph !== same.producer!.graph || u.node.graph!.indexOf(u.node) < u.node.graph!.indexOf(same.producer!))
      ) {
        kept.push(cv);
        continue;
      }
      cv.replaceAllUsesWith(same);
      if (cv.useCount === 0 && !isGraphOutput(cv)) {
        dropIfUnused(cv);
        merged++;
      }
    }
  }
  return merged;
}

/** Every float32 weight (rank ≥ 1) a node of the main graph reads, resolved; one entry per distinct source. O(nodes). */
export function floatWeights(model: Model): ResolvedWeight[] {
  const out: ResolvedWeight[] = [];
  const seen = new Set<Value>();
  for (const n of model.graph.nodes) {
    n.inputs.forEach((v) => {
      const r = resolveWeight(v);
      if (!r || seen.has(r.source) || r.tensor.dataType !== DataType.FLOAT) return;
      seen.add(r.source);
      out.push(r);
    });
  }
  return out;
}
