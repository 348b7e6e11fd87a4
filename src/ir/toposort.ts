/**
 * Stable topological order: nodes keep their current relative order unless a node reads
 * a value produced later, so sorting an already sorted graph changes nothing. A node that
 * holds subgraphs depends on every outer value its subgraphs read.
 */
import { CompilerError } from '../errors.js';
import type { Graph, Node, Value } from './core.js';

/** Outer-scope values read anywhere inside `n`'s subgraphs (defined outside them). */
export function implicitInputs(n: Node): Value[] {
  const out = new Set<Value>();
  const inner = new Set<Value>();
  const walk = (g: Graph) => {
    for (const v of g.inputs) inner.add(v);
    for (const v of g.initializers) inner.add(v);
    for (const m of g.nodes) for (const o of m.outputs) if (o) inner.add(o);
    for (const m of g.nodes) {
      for (const i of m.inputs) if (i) out.add(i);
      for (const sg of m.subgraphs()) walk(sg);
    }
    for (const o of g.outputs) out.add(o);
  };
  for (const sg of n.subgraphs()) walk(sg);
  return [...out].filter((v) => !inner.has(v));
}

/** Orders nodes of `g` (not its subgraphs) so producers come first. O(V + E log V). @throws GRAPH_CYCLE */
export function topologicalOrder(g: Graph): Node[] {
  const nodes = g.nodes;
  const index = new Map<Node, number>();
  nodes.forEach((n, i) => index.set(n, i));
  const deps = new Map<Node, Set<Node>>();
  const users = new Map<Node, Node[]>();
  for (const n of nodes) {
    const d = new Set<Node>();
    const reads = [...n.inputs, ...(n.subgraphs().length ? implicitInputs(n) : [])];
    for (const v of reads) {
      const p = v?.producer;
      if (p && p !== n && index.has(p)) d.add(p);
      else if (p === n) {
        throw new CompilerError('GRAPH_CYCLE', `${n.where} reads its own output "${v!.name}"`, { where: n.where });
      }
    }
    deps.set(n, d);
    for (const p of d) {
      let u = users.get(p);
      if (!u) users.set(p, (u = []));
      u.push(n);
    }
  }
  // Ready set kept ordered by original index: a binary heap of indices.
  const heap: number[] = [];
  const push = (x: number) => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= heap[i]!) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]! < heap[m]!) m = l;
        if (r < heap.length && heap[r]! < heap[m]!) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  const remaining = new Map<Node, number>();
  for (const n of nodes) {
    remaining.set(n, deps.get(n)!.size);
    if (deps.get(n)!.size === 0) push(index.get(n)!);
  }
  const order: Node[] = [];
  while (heap.length) {
    const n = nodes[pop()]!;
    order.push(n);
    for (const u of users.get(n) ?? []) {
      const r = remaining.get(u)! - 1;
      remaining.set(u, r);
      if (r === 0) push(index.get(u)!);
    }
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.filter((n) => remaining.get(n)! > 0);
    throw new CompilerError(
      'GRAPH_CYCLE',
      `the graph has a cycle through ${stuck
        .slice(0, 4)
        .map((n) => n.where)
        .join(', ')}${stuck.length > 4 ? ', ...' : ''}`,
      { where: stuck[0]?.where, hint: 'ONNX graphs must be acyclic' },
    );
  }
  return order;
}

/** Sorts `g` and its subgraphs in place. Returns whether any order changed. */
export function sortTopologically(g: Graph): boolean {
  let changed = false;
  const order = topologicalOrder(g);
  if (order.some((n, i) => n !== g.nodes[i])) {
    g.reorder(order);
    changed = true;
  }
  for (const n of g.nodes) for (const sg of n.subgraphs()) changed = sortTopologically(sg) || changed;
  return changed;
}
