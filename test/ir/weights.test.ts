/**
 * The weight resolver (src/ir/weights.ts) and every rewrite that uses it, on models whose
 * weights come as exporters write them: biases de-duplicated into one initializer read
 * through Identity nodes (PyTorch), weights in Constant nodes (`value` and `value_floats`,
 * converters of other frameworks), Identity chains, tied weights.
 *  - tissue replaces such layers (it called them "not a float32 constant" before), each
 *    stacked layer equals its unit-by-unit reference, the other readers keep their data, and
 *    the new weights keep the form the old ones came in (`canonicalize` → initializers);
 *  - prune-channels unties shared constants and passes masked equivalence;
 *  - the trainer trains Constant-node weights and writes them back as Constant nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DataType,
  GraphBuilder,
  Node,
  Rng,
  Tensor,
  Value,
  analyzeChannelGroups,
  attrFloats,
  attrInt,
  attrInts,
  attrTensor,
  constantData,
  inferShapes,
  resolveWeight,
  runModel,
  runPasses,
  selectBackend,
  setWeight,
  train,
  untieSharedConstants,
  untieWeight,
  verifyMaskedEquivalence,
  verifyModel,
  weightOf,
} from '../../src/index.js';
import type { ApplyResult, Batch, Dataset, Model, UntiedConstant } from '../../src/index.js';
import { readModel, saveModel } from '../../src/index.js';
import { tissuePass } from '../../passes/tissue.js';
import type { TissueReport } from '../../passes/tissue.js';
import { pruneChannelsPass } from '../../passes/prune-channels.js';
import { checkAgainstUnits } from '../tissue/reference.js';
import { seededFeeds, tempDir } from '../helpers.js';
import { join } from 'node:path';

/** A Constant node holding `t` (in `value`, or `value_floats` for a 1-D tensor when asked), its output named `name`. */
function constNode(b: GraphBuilder, name: string, dims: number[], data: Float32Array, asFloats = false): Value {
  const v = new Value(name);
  const attr = asFloats ? attrFloats('value_floats', Array.from(data)) : attrTensor('value', Tensor.fromFloat32(name, dims, data));
  b.model.graph.appendNode(new Node({ opType: 'Constant', name: `${name}_node`, outputs: [v], attributes: [attr] }));
  v.setTensorType(DataType.FLOAT, dims);
  return v;
}

function identity(b: GraphBuilder, x: Value, name: string): Value {
  return b.op('Identity', [x], [], name);
}

/**
 * x[N,16,8,8] → conv1 (weight: initializer; bias: shared B through Identity) → Relu →
 * conv2 (weight: Constant node; bias: shared B through another Identity) → Relu →
 * conv3 (weight: Constant through two Identities; bias: Constant value_floats) → Relu →
 * conv4 (weight W4 read directly, tied with conv5) → Add(conv5 on the same input) →
 * GlobalAveragePool → Flatten → Gemm (weight: Constant node; bias: initializer).
 */
function sharedWeightsNet(seed = 1): Model {
  const rng = new Rng(seed);
  const b = GraphBuilder.newModel({ opset: 13 });
  const x = b.input('x', ['N', 16, 8, 8]);
  const k3 = [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])];
  const k1 = [attrInts('kernel_shape', [1, 1])];
  const shared = b.floats('B', [32], rng.normalArray(32, 0.1));
  let h = b.op('Conv', [x, b.floats('W1', [32, 16, 3, 3], rng.normalArray(32 * 16 * 9, 0.15)), identity(b, shared, 'conv1.bias')], k3, 'conv1');
  h = b.op('Relu', [h]);
  h = b.op('Conv', [h, constNode(b, 'W2', [32, 32, 3, 3], rng.normalArray(32 * 32 * 9, 0.1)), identity(b, shared, 'conv2.bias')], k3, 'conv2');
  h = b.op('Relu', [h]);
  const w3 = identity(b, identity(b, constNode(b, 'W3', [32, 32, 3, 3], rng.normalArray(32 * 32 * 9, 0.1)), 'W3.id1'), 'W3.id2');
  h = b.op('Conv', [h, w3, constNode(b, 'B3', [32], rng.normalArray(32, 0.1), true)], k3, 'conv3');
  h = b.op('Relu', [h]);
  const tied = b.floats('W4', [32, 32, 1, 1], rng.normalArray(32 * 32, 0.2));
  const a = b.op('Conv', [h, tied], k1, 'conv4');
  const c = b.op('Conv', [h, tied], k1, 'conv5');
  h = b.op('Add', [a, c]);
  h = b.op('GlobalAveragePool', [h]);
  h = b.op('Flatten', [h], [attrInt('axis', 1)]);
  h = b.op('Gemm', [h, constNode(b, 'FC', [10, 32], rng.normalArray(320, 0.3)), b.floats('FCb', [10], rng.normalArray(10, 0.1))], [attrInt('transB', 1)], 'fc');
  b.output(h, 'y');
  b.model.graph.reorder(topo(b.model));
  return b.model;
}

/** Constant nodes were appended after their readers: a stable topological order. */
function topo(m: Model): Node[] {
  const done = new Set<Node>();
  const out: Node[] = [];
  const visit = (n: Node): void => {
    if (done.has(n)) return;
    done.add(n);
    for (const v of n.inputs) if (v?.producer) visit(v.producer);
    out.push(n);
  };
  for (const n of m.graph.nodes) visit(n);
  return out;
}

test('resolveWeight: through Identity chains to initializers and Constant nodes, and whether the data is shared', () => {
  const m = sharedWeightsNet();
  const node = (n: string) => m.graph.findNode(n)!;
  const b1 = weightOf(node('conv1'), 2)!;
  assert.equal(b1.source.name, 'B');
  assert.equal(b1.form, 'initializer');
  assert.equal(b1.identities.length, 1);
  assert.equal(b1.shared, true);
  const w2 = weightOf(node('conv2'), 1)!;
  assert.deepEqual([w2.form, w2.shared, w2.tensor.shape], ['constant', false, [32, 32, 3, 3]]);
  const w3 = weightOf(node('conv3'), 1)!;
  assert.deepEqual([w3.source.name, w3.identities.length, w3.shared], ['W3', 2, false]);
  const b3 = weightOf(node('conv3'), 2)!;
  assert.deepEqual([b3.form, b3.tensor.shape, b3.tensor.dataType], ['constant', [32], DataType.FLOAT]);
  assert.equal(weightOf(node('conv4'), 1)!.shared, true);
  assert.equal(weightOf(node('conv4'), 0), undefined, 'a computed value is no weight');
});

test('setWeight: in place when private (form kept), untied when shared; untieWeight copies; value_floats stays value_floats', () => {
  const m = sharedWeightsNet();
  const node = (n: string) => m.graph.findNode(n)!;
  const before = Float32Array.from(constantData(m.graph.findValue('B')!)!.toFloat32());
  // Shared bias: conv1 gets its own initializer; conv2 still reads B through its Identity.
  const r = setWeight(m, node('conv1'), 2, new Float32Array(32).fill(0.5), [32]);
  assert.equal(r.form, 'initializer');
  assert.notEqual(r.source.name, 'B');
  assert.equal(r.shared, false);
  assert.equal(m.graph.findNode('conv1.bias'), undefined, 'the Identity nobody reads went');
  assert.deepEqual(constantData(m.graph.findValue('B')!)!.toFloat32(), before);
  assert.equal(weightOf(node('conv2'), 2)!.source.name, 'B');
  // Private Constant weight behind two Identities: replaced in place, chain and name kept.
  const w3 = setWeight(m, node('conv3'), 1, new Float32Array(32 * 32 * 9).fill(0.25), [32, 32, 3, 3]);
  assert.deepEqual([w3.source.name, w3.form, w3.identities.length], ['W3', 'constant', 2]);
  assert.equal(w3.tensor.toFloat32()[7], 0.25);
  // value_floats written back as value_floats.
  setWeight(m, node('conv3'), 2, new Float32Array(32).fill(2), [32]);
  assert.deepEqual(m.graph.findNode('B3_node')!.attrFloats('value_floats'), new Array(32).fill(2));
  // Tied weight: untie gives conv5 a copy; canonical form asked for → initializer.
  const u = untieWeight(m, node('conv5'), 1);
  assert.notEqual(u.source, weightOf(node('conv4'), 1)!.source);
  assert.equal(weightOf(node('conv4'), 1)!.shared, false);
  const fc = setWeight(m, node('fc'), 1, weightOf(node('fc'), 1)!.tensor.clone(), undefined, { form: 'initializer' });
  assert.equal(fc.form, 'initializer');
  assert.equal(m.graph.findNode('FC_node'), undefined);
  verifyModel(m);
});

test('tissue on shared, Identity-fed and Constant-node weights: layers replaced, unit references hold, other readers keep their data, form kept', async () => {
  for (const canonicalize of [false, true]) {
    const m = sharedWeightsNet(2);
    const b0 = Float32Array.from(constantData(m.graph.findValue('B')!)!.toFloat32());
    let report: TissueReport | undefined;
    runPasses(m, [tissuePass()], {
      options: {
        tissue: {
          spec: { kind: 'groups', groups: 2 },
          canonicalize,
          onReport: (r: TissueReport) => {
            report = r;
          },
        },
      },
    });
    verifyModel(m);
    const names = report!.layers.map((l) => l.name);
    // conv1 (Identity-fed shared bias) and conv3 (Constant weight through Identity, value_floats bias) are stacked now.
    assert.ok(names.includes('conv1') && names.includes('conv3'), names.join());
    assert.ok(!report!.skipped.some((s) => /not a float32 constant/.test(s.reason)), JSON.stringify(report!.skipped));
    for (const l of report!.layers) assert.ok(l.matches, `${l.name}: analytic = counted`);
    const feeds = seededFeeds(m, 3, 2);
    for (const c of await checkAgainstUnits(m, report!, feeds)) assert.ok(c.maxAbs <= 1e-5 * Math.max(1, c.scale), `${c.name}: ${c.maxAbs}`);
    // conv2 still reads the shared bias, unchanged; the stacked layers' old weights are gone.
    const b2 = weightOf(m.graph.findNode('conv2')!, 2)!;
    assert.equal(b2.source.name, 'B');
    assert.deepEqual(b2.tensor.toFloat32(), b0);
    assert.equal(m.graph.findValue('W3'), undefined);
    assert.equal(m.graph.findNode('W3.id1'), undefined);
    // Form: conv3's weight was a Constant node, so its units' weights are Constant nodes (initializers with canonicalize).
    const l3 = report!.layers.find((l) => l.name === 'conv3')!;
    for (const name of l3.initializers) {
      const v = m.graph.findValue(name)!;
      if (constantData(v)!.dataType !== DataType.FLOAT) continue;
      assert.equal(v.initializer ? 'initializer' : 'constant', canonicalize ? 'initializer' : 'constant', name);
    }
    const l1 = report!.layers.find((l) => l.name === 'conv1')!;
    for (const name of l1.initializers) assert.ok(m.graph.findValue(name)!.initializer, name);
    // The written file reads back and runs.
    const dir = tempDir('sculpt-weights-');
    saveModel(m, join(dir, 't.onnx'));
    const again = readModel(join(dir, 't.onnx'));
    const y = await runModel(again, feeds);
    assert.deepEqual(y.y!.dims, [2, 10]);
  }
});

test('prune-channels on shared, Identity-fed and Constant-node weights: untied, pruned, masked-equivalent; copies still equal are tied back', async () => {
  const original = sharedWeightsNet(4);
  const m = sharedWeightsNet(4);
  // Group ids as the pass sees them: after untying (as `sculpt groups` shows them).
  const probe = sharedWeightsNet(4);
  untieSharedConstants(probe);
  inferShapes(probe);
  const a = analyzeChannelGroups(probe);
  const keep = new Map<number, number[]>();
  for (const out of ['conv1', 'conv2', 'conv3']) {
    const slot = a.slotOf(probe.graph.findNode(out)!.outputs[0]!, 1)!;
    const g = a.groups[a.atomGroup[slot.base]!]!;
    keep.set(
      g.id,
      Array.from({ length: g.size }, (_, i) => i).filter((i) => i % 3 !== 1),
    );
  }
  assert.equal(keep.size, 3, 'the shared bias no longer couples conv1 and conv2');
  let applied: ApplyResult | undefined;
  let untied: UntiedConstant[] = [];
  runPasses(m, [pruneChannelsPass()], {
    options: {
      keep,
      onApplied: (r: ApplyResult, u: UntiedConstant[]) => {
        applied = r;
        untied = u;
      },
    },
  });
  verifyModel(m);
  assert.ok(
    untied.some((u) => u.name === 'B'),
    'the shared bias was untied',
  );
  assert.equal(weightOf(m.graph.findNode('conv2')!, 1)!.form, 'constant', 'a Constant weight stays a Constant node');
  assert.deepEqual(weightOf(m.graph.findNode('conv3')!, 1)!.tensor.shape, [21, 21, 3, 3]);
  // conv1 and conv2 lost the same positions of their copies of B: the copies are equal again, and tied back.
  assert.equal(weightOf(m.graph.findNode('conv1')!, 2)!.source, weightOf(m.graph.findNode('conv2')!, 2)!.source);
  const v = await verifyMaskedEquivalence(original, m, applied!.pruned, { untied, trials: 1, batch: 2 });
  assert.ok(v.ok, `worst ${v.worst}`);
});

/** Random 16×4×4 inputs, label = which half of the channels has the larger sum: learnable by the net below. */
function toyData(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = rng.uniformArray(n * 64, -1, 1);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < 64; k++) s += (k < 32 ? 1 : -1) * x[i * 64 + k]!;
    y[i] = s > 0 ? 1 : 0;
  }
  return {
    name: 'toy',
    size: n,
    inputShape: [4, 4, 4],
    numClasses: 2,
    *batches(bs: number): Iterable<Batch> {
      for (let i = 0; i + bs <= n; i += bs) yield { x: x.slice(i * 64, (i + bs) * 64), y: y.slice(i, i + bs), n: bs };
    },
  };
}

test('train: Constant-node weights (also behind Identity, and value_floats) are trained and written back as Constant nodes', async () => {
  await selectBackend('cpu');
  const rng = new Rng(5);
  const b = GraphBuilder.newModel({ opset: 13 });
  const x = b.input('input', ['N', 4, 4, 4]);
  let h = b.op(
    'Conv',
    [x, identity(b, constNode(b, 'cw', [8, 4, 3, 3], rng.normalArray(8 * 36, 0.3)), 'cw.id'), constNode(b, 'cb', [8], new Float32Array(8), true)],
    [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])],
    'conv',
  );
  h = b.op('Relu', [h]);
  h = b.op('GlobalAveragePool', [h]);
  h = b.op('Flatten', [h], [attrInt('axis', 1)]);
  h = b.op('Gemm', [h, constNode(b, 'fw', [2, 8], rng.normalArray(16, 0.3)), b.floats('fb', [2], new Float32Array(2))], [attrInt('transB', 1)], 'fc');
  const out = b.output(h, 'logits');
  out.setTensorType(DataType.FLOAT, ['N', 2]);
  b.model.graph.reorder(topo(b.model));
  const m = b.model;
  const w0 = (n: string) => Float32Array.from(constantData(m.graph.findValue(n)!)!.toFloat32());
  const before = new Map(['cw', 'cb', 'fw', 'fb'].map((n) => [n, w0(n)]));
  const r = await train(m, { data: toyData(256, 1), backend: 'cpu', batchSize: 32, steps: 16, optimizer: 'adam', lr: 0.01, seed: 1 });
  assert.equal(r.steps, 16);
  for (const n of ['cw', 'cb', 'fw', 'fb']) assert.notDeepEqual(w0(n), before.get(n), `${n} trained`);
  // Still Constant nodes in their own attribute kinds; no initializer appeared for them.
  assert.ok(m.graph.findNode('cw_node')!.attrTensor('value'));
  assert.equal(m.graph.findNode('cb_node')!.attrFloats('value_floats')!.length, 8);
  assert.ok(!m.graph.initializers.some((v) => ['cw', 'cb', 'fw'].includes(v.name)));
  assert.ok(resolveWeight(m.graph.findNode('conv')!.inputs[1])!.identities.length === 1);
  verifyModel(m);
  // onnxruntime runs the written weights.
  const y = await runModel(m, seededFeeds(m, 1, 3));
  assert.deepEqual(y.logits!.dims, [3, 2]);
});
