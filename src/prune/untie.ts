/**
 * Shared constants couple layers that have nothing to do with each other: PyTorch's
 * exporter de-duplicates identical initializers, so every zero bias (or BatchNorm at its
 * initial values) of the same width becomes ONE tensor read by many layers, and the
 * channel analysis must then prune all those layers alike. Untying gives every reader its
 * own copy first (exact: the copies hold the same data); after pruning, copies that still
 * hold identical data are tied back, so the output has no needless duplicates.
 *
 * The copies are recorded (name, reading node, input index) so that the masked reference
 * of a verification can replay them on the original model: the report's pruned tensors
 * may name copies.
 */
import { CompilerError } from '../errors.js';
import { Value } from '../ir/core.js';
import type { Model, Node } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { constantTensor } from '../analysis/channel-groups.js';

/** One shared constant and the copies made of it, one per reader after the first. */
export interface UntiedConstant {
  readonly name: string;
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
 * Gives every reader of a shared float constant (rank ≥ 1) its own initializer copy.
 * Shape-like integer constants are left shared: channels never live in them. O(constants).
 */
export function untieSharedConstants(model: Model): UntiedConstant[] {
  const g = model.graph;
  const out: UntiedConstant[] = [];
  const candidates: Value[] = [...g.initializers.filter((v) => !g.inputs.includes(v))];
  for (const n of g.nodes) if (n.opType === 'Constant' && n.outputs[0]) candidates.push(n.outputs[0]);
  for (const v of candidates) {
    const t = constantTensor(v);
    if (!t || !FLOATS.has(t.dataType) || t.dims.length === 0) continue;
    const uses = v.uses().filter((u) => u.node.graph === g);
    if (uses.length <= 1 || g.outputs.includes(v)) continue;
    const rec: UntiedConstant = { name: v.name, copies: [] };
    for (const u of uses.slice(1)) {
      const c = new Value(model.names.fresh(v.name));
      g.addInitializer(c, t.clone(c.name));
      c.setTensorType(t.dataType, t.shape);
      u.node.setInput(u.index, c);
      rec.copies.push({ name: c.name, node: nodeKey(model, u.node), input: u.index });
    }
    out.push(rec);
  }
  return out;
}

/**
 * Repeats recorded untying on another copy of the same model (the original, for a masked
 * reference): the same copy names at the same node inputs.
 * @throws MISSING_VALUE when the model does not have the recorded constants or readers
 */
export function replayUntie(model: Model, records: readonly UntiedConstant[]): void {
  const g = model.graph;
  for (const r of records) {
    const v = g.initializers.find((x) => x.name === r.name) ?? g.nodes.find((n) => n.opType === 'Constant' && n.outputs[0]?.name === r.name)?.outputs[0] ?? undefined;
    const t = v ? constantTensor(v) : undefined;
    if (!v || !t) throw new CompilerError('MISSING_VALUE', `untied constant "${r.name}" is not in the model`, { where: r.name });
    for (const c of r.copies) {
      const n = findNode(model, c.node);
      if (!n || n.inputs[c.input] !== v) throw new CompilerError('MISSING_VALUE', `node ${c.node} input ${c.input} does not read "${r.name}"`, { where: c.node });
      const cv = new Value(c.name);
      g.addInitializer(cv, t.clone(c.name));
      cv.setTensorType(t.dataType, t.shape);
      n.setInput(c.input, cv);
    }
  }
}

function sameData(a: Value, b: Value): boolean {
  const x = constantTensor(a);
  const y = constantTensor(b);
  if (!x || !y || x.dataType !== y.dataType || x.dims.length !== y.dims.length) return false;
  if (x.shape.some((d, i) => d !== y.shape[i])) return false;
  const p = x.rawBytes();
  const q = y.rawBytes();
  if (p.length !== q.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false;
  return true;
}

/** Ties copies that still hold identical data back to one initializer. Returns how many copies went. O(copied bytes). */
export function retieConstants(model: Model, records: readonly UntiedConstant[]): number {
  const g = model.graph;
  const byName = new Map<string, Value>(g.initializers.map((v) => [v.name, v]));
  let merged = 0;
  for (const r of records) {
    const kept: Value[] = [];
    const orig = byName.get(r.name);
    if (orig) kept.push(orig);
    for (const c of r.copies) {
      const cv = byName.get(c.name);
      if (!cv || !cv.initializer) continue;
      const same = kept.find((k) => sameData(k, cv));
      if (!same) { kept.push(cv); continue; }
      cv.replaceAllUsesWith(same);
      if (cv.useCount === 0 && !g.outputs.includes(cv)) { g.removeInitializer(cv); merged++; }
    }
  }
  return merged;
}
