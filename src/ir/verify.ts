/**
 * The IR verifier, run after every pass that changed the model: single producer, no
 * dangling uses, unique graph outputs, every read value in scope, no cycles, unique value names, an opset
 * import for every domain in use. Reports every problem, throws the first as IR_INVALID
 * (or the specific code) with the rest in the message.
 */
import { CompilerError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Graph, Model, Value } from './core.js';
import { topologicalOrder } from './toposort.js';

export interface Problem {
  code: ErrorCode;
  where: string;
  message: string;
}

/** All problems found; empty when the model is valid. O(nodes + uses). */
export function findProblems(model: Model): Problem[] {
  const problems: Problem[] = [];
  const add = (code: ErrorCode, where: string, message: string) => problems.push({ code, where, message });
  const imported = new Set(model.opsetImports.map((o) => (o.domain === 'ai.onnx' ? '' : o.domain)));
  const functionDomains = new Set<string>(((model.extra.functions ?? []) as { domain?: string }[]).map((f) => f.domain ?? ''));
  const names = new Map<string, Value>();
  // Per value, the (node, index) pairs of its use list: built once, so a value read by 100k
  // nodes costs 100k checks, not 100k² (uses() copies the list).
  const useSlots = new Map<Value, Map<unknown, Set<number>>>();
  const slotsOf = (v: Value) => {
    let m = useSlots.get(v);
    if (!m) {
      m = new Map();
      for (const u of v.uses()) {
        let s = m.get(u.node);
        if (!s) m.set(u.node, (s = new Set()));
        s.add(u.index);
      }
      useSlots.set(v, m);
    }
    return m;
  };

  const checkGraph = (g: Graph, visible: Set<Value>) => {
    const gname = g.name || 'main';
    const local = new Set<Value>(visible);
    const claim = (v: Value, what: string) => {
      const prev = names.get(v.name);
      if (prev && prev !== v) add('DUPLICATE_VALUE', `${gname}/${v.name}`, `value name "${v.name}" is used by two different values (${what})`);
      names.set(v.name, v);
      local.add(v);
    };
    for (const v of g.inputs) claim(v, 'graph input');
    for (const v of g.initializers) {
      if (!v.initializer) add('IR_INVALID', `${gname}/${v.name}`, `initializer "${v.name}" has no tensor`);
      claim(v, 'initializer');
    }
    for (const v of g.sparseInitializers) claim(v, 'sparse initializer');
    for (const n of g.nodes) {
      if (n.graph !== g) add('IR_INVALID', n.where, 'node is listed in a graph it does not belong to');
      n.outputs.forEach((o, i) => {
        if (!o) return;
        if (o.producer !== n || o.producerIndex !== i) add('IR_INVALID', n.where, `output "${o.name}" does not point back to its producer`);
        claim(o, `output of ${n.where}`);
      });
    }
    for (const n of g.nodes) {
      const d = n.domain === 'ai.onnx' ? '' : n.domain;
      if (!imported.has(d) && !functionDomains.has(d)) add('MISSING_OPSET', n.where, `domain "${d || 'ai.onnx'}" of ${n.opType} has no opset import`);
      n.inputs.forEach((v, i) => {
        if (!v) return;
        if (!local.has(v)) add('MISSING_VALUE', n.where, `input ${i} reads "${v.name}", which is not defined in this graph or an enclosing one`);
        if (!slotsOf(v).get(n)?.has(i)) add('DANGLING_USE', n.where, `input ${i} ("${v.name}") is missing from the value's use list`);
      });
      for (const sg of n.subgraphs()) {
        if (sg.parent !== g) add('IR_INVALID', n.where, 'subgraph does not point back to its enclosing graph');
        checkGraph(sg, local);
      }
    }
    const outNames = new Set<string>();
    const outValues = new Set<Value>();
    for (const v of g.outputs) {
      if (!local.has(v)) add('MISSING_VALUE', `${gname}/${v.name}`, `graph output "${v.name}" is not defined`);
      if (outValues.has(v)) add('DUPLICATE_OUTPUT', `${gname}/${v.name}`, `value "${v.name}" is listed twice as a graph output`);
      else if (outNames.has(v.name)) add('DUPLICATE_OUTPUT', `${gname}/${v.name}`, `two graph outputs are named "${v.name}"`);
      outNames.add(v.name);
      outValues.add(v);
    }
    // Every recorded use must be a live input slot.
    for (const v of local) {
      for (const u of v.uses()) {
        if (u.node.inputs[u.index] !== v) add('DANGLING_USE', u.node.where, `use list of "${v.name}" names input ${u.index}, which reads something else`);
        else if (!u.node.graph) add('DANGLING_USE', u.node.where, `"${v.name}" is used by a node that was removed from its graph`);
      }
    }
    try {
      topologicalOrder(g);
    } catch (e) {
      if (e instanceof CompilerError) add('GRAPH_CYCLE', e.where ?? gname, e.message);
      else throw e;
    }
  };
  checkGraph(model.graph, new Set());
  if (model.opsetImports.length === 0) add('MISSING_OPSET', 'model', 'the model imports no opset');
  return problems;
}

/**
 * Output names of `before` (taken before a change) that the model no longer lists as
 * graph outputs: a change that loses one has changed the model's interface. O(outputs).
 */
export function lostOutputs(model: Model, before: readonly string[]): string[] {
  const now = new Set(model.graph.outputs.map((v) => v.name));
  return before.filter((n) => !now.has(n));
}

/** Throws when the model is not valid IR. @throws the first problem's code */
export function verifyModel(model: Model, context = 'verifier'): void {
  const problems = findProblems(model);
  if (problems.length === 0) return;
  const first = problems[0]!;
  const more =
    problems.length > 1
      ? ` (and ${problems.length - 1} more: ${problems
          .slice(1, 4)
          .map((p) => `${p.code} at ${p.where}`)
          .join('; ')})`
      : '';
  throw new CompilerError(first.code, `${context}: ${first.message}${more}`, { where: first.where });
}
