/** Use lists stay right through every mutation; removal checks before it mutates. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CompilerError, GraphBuilder, Node, Value, findProblems, printModel, sortTopologically, topologicalOrder, verifyModel } from '../../src/index.js';

function chain() {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 4]);
  const a = b.op('Relu', [x], [], 'r1');
  const c = b.op('Add', [a, x], [], 'add');
  b.output(b.op('Sigmoid', [c], [], 's'), 'y');
  return { b, x, a, c };
}

test('setInput and replaceAllUsesWith keep use lists exact', () => {
  const { b, x, a, c } = chain();
  assert.deepEqual(
    x.uses().map((u) => [u.node.name, u.index]),
    [
      ['r1', 0],
      ['add', 1],
    ],
  );
  const add = c.producer!;
  add.setInput(0, x);
  assert.equal(a.useCount, 0);
  assert.equal(x.useCount, 3);
  x.replaceAllUsesWith(a);
  assert.equal(x.useCount, 0);
  assert.equal(a.useCount, 3); // includes r1 reading itself: a cycle the verifier must catch
  assert.ok(findProblems(b.model).some((p) => p.code === 'GRAPH_CYCLE'));
});

test('removeNode refuses while outputs are used, and changes nothing when it refuses', () => {
  const { b, a, x } = chain();
  const relu = a.producer!;
  const before = printModel(b.model);
  assert.throws(
    () => b.graph.removeNode(relu),
    (e: unknown) => e instanceof CompilerError && e.code === 'IN_USE',
  );
  assert.equal(printModel(b.model), before);
  assert.equal(x.useCount, 2);
  a.replaceAllUsesWith(x);
  b.graph.removeNode(relu);
  assert.equal(x.useCount, 2, 'the removed node dropped its own use of x');
  verifyModel(b.model);
});

test('replaceValue on a graph output keeps the output name', () => {
  const { b, c } = chain();
  const s = b.graph.outputs[0]!.producer!;
  const y = s.outputs[0]!;
  b.graph.replaceValue(y, c);
  b.graph.removeNode(s, true);
  assert.equal(b.graph.outputs[0], c);
  assert.equal(c.name, 'y');
  verifyModel(b.model);
});

test('a value cannot have two producers', () => {
  const v = new Value('v');
  new Node({ opType: 'Relu', outputs: [v] });
  assert.throws(
    () => new Node({ opType: 'Relu', outputs: [v] }),
    (e: unknown) => e instanceof CompilerError && e.code === 'IR_INVALID',
  );
});

test('verifier catches a read of a value from another graph and a missing opset', () => {
  const { b } = chain();
  const other = GraphBuilder.newModel();
  const stray = other.input('stray', [1]);
  b.graph.nodes[0]!.setInput(0, stray);
  const problems = findProblems(b.model);
  assert.ok(problems.some((p) => p.code === 'MISSING_VALUE'));
  const m2 = chain().b.model;
  m2.opsetImports = [];
  assert.throws(
    () => verifyModel(m2),
    (e: unknown) => e instanceof CompilerError && e.code === 'MISSING_OPSET',
  );
});

test('names from the authority are unique and deterministic', () => {
  const names1 = (() => {
    const { b } = chain();
    return [b.fresh('r1'), b.fresh('r1'), b.fresh('new')];
  })();
  const names2 = (() => {
    const { b } = chain();
    return [b.fresh('r1'), b.fresh('r1'), b.fresh('new')];
  })();
  assert.deepEqual(names1, ['r1_1', 'r1_2', 'new']);
  assert.deepEqual(names2, names1);
});

test('property: random DAGs survive shuffling + stable topological sort, and a sorted graph is left as is', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 60 }), (edges, perm) => {
      const b = GraphBuilder.newModel();
      const vals: Value[] = [b.input('x', [1, 4])];
      for (const [i, j] of edges) vals.push(b.op('Add', [vals[i % vals.length]!, vals[j % vals.length]!]));
      b.output(vals[vals.length - 1]!, 'y');
      verifyModel(b.model);
      const sorted = [...b.graph.nodes];
      assert.deepEqual(topologicalOrder(b.graph), sorted, 'already sorted: unchanged');
      const shuffled = [...sorted];
      perm.forEach((p, k) => {
        const i = k % shuffled.length,
          j = p % shuffled.length;
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      });
      b.graph.reorder(shuffled);
      sortTopologically(b.graph);
      const pos = new Map(b.graph.nodes.map((n, i) => [n, i]));
      for (const n of b.graph.nodes) for (const v of n.inputs) if (v?.producer) assert.ok(pos.get(v.producer)! < pos.get(n)!);
      verifyModel(b.model);
    }),
    { numRuns: 200, seed: 42 },
  );
});
