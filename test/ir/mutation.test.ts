/**
 * The mutation API cannot corrupt the graph: tracked inputs/outputs/initializers,
 * `replaceValue` on graph outputs, names registered as they appear, duplicate and lost
 * outputs caught. Each test names the defect it reproduces (issue 13).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompilerError, GraphBuilder, Node, Tensor, Value, decodeModel, encodeModel, printModel, runModel, runPasses, verifyModel } from '../../src/index.js';
import type { Pass } from '../../src/index.js';
import { modelType } from '../../src/serde/schema.js';

const code = (c: string) => (e: unknown) => e instanceof CompilerError && e.code === c;

/** x → Relu → a (output "a"), a → Neg → c (output "c_out"). */
function twoOutputs() {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 3]);
  const a = b.output(b.op('Relu', [x], [], 'relu'), 'a');
  const c = b.output(b.op('Neg', [a], [], 'neg'), 'c_out');
  return { b, x, a, c };
}

test('replaceValue of an output by another output keeps both outputs, each under its name (was: ["c_out","c_out"], "a" lost)', async () => {
  const { b, a, c } = twoOutputs();
  b.graph.replaceValue(c, a);
  assert.deepEqual(
    b.graph.outputs.map((v) => v.name),
    ['a', 'c_out'],
  );
  assert.notEqual(b.graph.outputs[0], b.graph.outputs[1]);
  assert.equal(a.name, 'a', 'the other output was not renamed');
  verifyModel(b.model);
  // Numerically: c_out now carries relu(x), a still carries relu(x).
  const feeds = { x: { data: new Float32Array([-1, 2, -3]), dims: [1, 3] } };
  const r = await runModel(b.model, feeds);
  assert.deepEqual([...(r['a']!.data as Float32Array)], [0, 2, 0]);
  assert.deepEqual([...(r['c_out']!.data as Float32Array)], [0, 2, 0]);
});

test('replaceValue of an output by a graph input reads it through an Identity (the input keeps its name)', () => {
  const { b, x, c } = twoOutputs();
  b.graph.replaceValue(c, x);
  assert.equal(x.name, 'x');
  assert.deepEqual(
    b.graph.outputs.map((v) => v.name),
    ['a', 'c_out'],
  );
  assert.equal(b.graph.outputs[1]!.producer?.opType, 'Identity');
  verifyModel(b.model);
});

test('replaceValue of an output by a plain value renames the value, the old one gets a fresh name', () => {
  const { b, a, c } = twoOutputs();
  const s = b.op('Sigmoid', [a], [], 'sig');
  b.graph.replaceValue(c, s);
  assert.equal(s.name, 'c_out');
  assert.notEqual(c.name, 'c_out');
  assert.ok(!c.isGraphOutput() && s.isGraphOutput());
  verifyModel(b.model);
});

test('renaming a value into a graph output name is refused (NAME_CONFLICT), as onnx-ir does', () => {
  const { b, x } = twoOutputs();
  const before = printModel(b.model);
  assert.throws(() => {
    x.name = 'c_out';
  }, code('NAME_CONFLICT'));
  assert.equal(printModel(b.model), before);
});

test('adding an output twice, or a second output with a taken name, is refused (DUPLICATE_OUTPUT)', () => {
  const { b, a } = twoOutputs();
  assert.throws(() => b.graph.addOutput(a), code('DUPLICATE_OUTPUT'));
  assert.throws(() => b.graph.setOutput(0, b.graph.outputs[1]!), code('DUPLICATE_OUTPUT'));
  assert.deepEqual(
    b.graph.outputs.map((v) => v.name),
    ['a', 'c_out'],
  );
});

test('a file that lists one output twice is refused on read with DUPLICATE_OUTPUT (was: accepted, verifier silent)', () => {
  const { b } = twoOutputs();
  const T = modelType();
  const proto = T.decode(encodeModel(b.model)) as unknown as { graph: { output: unknown[] } };
  proto.graph.output.push(proto.graph.output[0]);
  const bytes = T.encode(proto as never).finish();
  assert.throws(() => decodeModel(bytes), code('DUPLICATE_OUTPUT'));
});

test('NameAuthority never hands out a name that a hand-named value already has (was: fresh("t") → "t_1" twice)', () => {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1]);
  assert.equal(b.model.names.fresh('t'), 't');
  // A hand-named value joins the graph after the authority has looked at the model.
  b.graph.appendNode(new Node({ opType: 'Relu', name: 'hand', inputs: [x], outputs: [new Value('t_1')] }));
  const n = b.model.names.fresh('t');
  assert.notEqual(n, 't_1');
  assert.equal(n, 't_2');
  // A rename registers too, and so does a node name.
  x.name = 'u';
  assert.equal(b.model.names.fresh('u'), 'u_1');
  assert.equal(b.model.names.fresh('hand'), 'hand_1');
});

test('a value knows in O(1) whether it is a graph input, output or initializer; raw edits are impossible', () => {
  const { b, x, a, c } = twoOutputs();
  const w = b.floats('w', [3], [1, 2, 3]);
  assert.ok(x.isGraphInput() && !x.isGraphOutput() && !x.isInitializer());
  assert.ok(a.isGraphOutput() && c.isGraphOutput());
  assert.ok(w.isInitializer() && !w.isGraphInput());
  b.graph.removeOutput(c);
  assert.ok(!c.isGraphOutput());
  b.graph.removeInitializer(w);
  assert.ok(!w.isInitializer());
  // @ts-expect-error the lists are read-only: change them through addOutput/removeOutput/...
  assert.throws(() => b.graph.outputs.push(c), TypeError);
  // @ts-expect-error inputs are read-only
  assert.throws(() => b.graph.inputs.push(c), TypeError);
  // @ts-expect-error initializers are read-only
  assert.throws(() => b.graph.initializers.push(c), TypeError);
  assert.deepEqual(
    b.graph.outputs.map((v) => v.name),
    ['a'],
  );
  const t = Tensor.fromFloat32('k', [1], [1]);
  const k = new Value('k');
  b.graph.addInitializer(k, t);
  b.graph.addInput(k);
  assert.ok(k.isInitializer() && k.isGraphInput());
  b.graph.removeInitializer(k);
  assert.ok(!k.isGraphInput(), 'removing an initializer drops its input entry');
});

// --- the pass manager ---------------------------------------------------------------

const noop: Pass = { name: 'noop', summary: 'changes nothing', run: () => ({ changed: false }) };

test('pass manager: a pass that leaves invalid IR fails with VERIFY_FAILED, the verifier problem as cause', () => {
  const { b, x } = twoOutputs();
  const bad: Pass = {
    name: 'bad',
    summary: 'reads a value from nowhere',
    run: (m) => {
      const ghost = new Value('ghost');
      m.graph.appendNode(new Node({ opType: 'Relu', inputs: [ghost], outputs: [new Value(m.names.fresh('r'))] }));
      void x;
      return { changed: true };
    },
  };
  assert.throws(
    () => runPasses(b.model, [bad]),
    (e: unknown) => e instanceof CompilerError && e.code === 'VERIFY_FAILED' && (e.cause as CompilerError).code === 'MISSING_VALUE',
  );
  // verify: false skips the check (for debugging a pass).
  const { b: b2 } = twoOutputs();
  assert.doesNotThrow(() => runPasses(b2.model, [bad], { verify: false }));
});

test('pass manager: a pass that drops a graph output fails with OUTPUT_LOST unless it declares removesOutputs', () => {
  const drop = (removesOutputs: boolean): Pass => ({
    name: 'drop',
    summary: 'drops the last output',
    removesOutputs,
    run: (m) => {
      m.graph.removeOutput(m.graph.outputs[1]!);
      return { changed: true };
    },
  });
  const { b } = twoOutputs();
  assert.throws(
    () => runPasses(b.model, [drop(false)]),
    (e: unknown) => e instanceof CompilerError && e.code === 'VERIFY_FAILED' && (e.cause as CompilerError).code === 'OUTPUT_LOST',
  );
  const { b: b2 } = twoOutputs();
  runPasses(b2.model, [drop(true)]);
  assert.deepEqual(
    b2.graph.outputs.map((v) => v.name),
    ['a'],
  );
});

test('pass manager: print-after-change fires only for passes that changed the model, with the IR after them', () => {
  const { b, a } = twoOutputs();
  const addSig: Pass = {
    name: 'add-sig',
    summary: 'appends a Sigmoid output',
    run: (m) => {
      const s = new Value(m.names.fresh('s'));
      m.graph.appendNode(new Node({ opType: 'Sigmoid', name: 'sig', inputs: [a], outputs: [s] }));
      m.graph.addOutput(s);
      return { changed: true, stats: { added: 1 } };
    },
  };
  const printed: [string, string][] = [];
  runPasses(b.model, [noop, addSig, noop], { printAfterChange: (p, t) => printed.push([p, t]) });
  assert.equal(printed.length, 1);
  assert.equal(printed[0]![0], 'add-sig');
  assert.match(printed[0]![1], /Sigmoid/);
  assert.equal(printed[0]![1], printModel(b.model));
});

test('pass manager: one timing record per pass, in order, with changed flags and a copy of the stats', () => {
  const { b } = twoOutputs();
  const stats = { n: 3 };
  const touch: Pass = {
    name: 'touch',
    summary: 'renames a node',
    run: (m) => {
      m.graph.nodes[0]!.name = 'renamed';
      return { changed: true, stats };
    },
  };
  const r = runPasses(b.model, [noop, touch]);
  assert.deepEqual(
    r.passes.map((p) => [p.name, p.changed]),
    [
      ['noop', false],
      ['touch', true],
    ],
  );
  for (const p of r.passes) assert.ok(Number.isFinite(p.ms) && p.ms >= 0);
  assert.deepEqual(r.passes[1]!.stats, { n: 3 });
  assert.notEqual(r.passes[1]!.stats, stats, 'stats are copied');
  assert.equal(r.changed, true);
});
