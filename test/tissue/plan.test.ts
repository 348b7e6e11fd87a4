/**
 * Unit specs, strategies, hybrid draws, `--groups auto` and the errors of the TissueNet
 * planner. No onnxruntime here: the plan is data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompilerError,
  GraphBuilder,
  Rng,
  allowedGroups,
  attrInts,
  formatUnit,
  globMatch,
  inferShapes,
  parseLayerSpec,
  parseUnit,
  parseUnitList,
  planTissue,
  scanTissueLayers,
  upstreamMixing,
} from '../../src/index.js';
import type { LayerSpec, Model, TissueOptions } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { tissuePass } from '../../passes/tissue.js';
import { checkTissueOptions } from '../../src/tissue/plan.js';
import { runPasses } from '../../src/index.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CompilerError) return e.code;
    throw e;
  }
  return 'no error';
}

test('unit specs parse, print back, and bad ones are TISSUE_SPEC_INVALID', () => {
  assert.deepEqual(parseUnit('196:20:125'), { n1: 196, n2: 20, n3: 125 });
  assert.deepEqual(parseUnit(' 8:16:8:3:1*2 '), { n1: 8, n2: 16, n3: 8, k1: 3, k2: 1, count: 2 });
  assert.equal(formatUnit(parseUnit('8:16:8:3:1*2')), '8:16:8:3:1*2');
  assert.equal(parseUnitList('4:8:4, 8:8:8').length, 2);
  assert.deepEqual(parseLayerSpec('g4h32'), { kind: 'groups', groups: 4, hidden: 32 });
  assert.deepEqual(parseLayerSpec('gauto'), { kind: 'groups', groups: 'auto' });
  for (const bad of ['', '4:8', '4:8:4:3', '4:0:4', '4:x:4', '4:8:4*0', '4:8:4*2*3', '4:-1:4', '1.5:2:3', '4:8:4:32:1', '4:8:4:3:1000']) {
    assert.equal(
      code(() => parseUnit(bad)),
      'TISSUE_SPEC_INVALID',
      bad,
    );
  }
  assert.equal(
    code(() => parseUnitList('4:8:4*2,8:8:8')),
    'TISSUE_SPEC_INVALID',
  );
  // The kernel cap holds for specs built in code too, not only for parsed ones.
  assert.equal(parseUnit('4:8:4:31:31').k1, 31);
  assert.equal(
    code(() => checkTissueOptions({ spec: { kind: 'units', units: [{ n1: 4, n2: 8, n3: 4, k1: 64, k2: 1 }] } })),
    'TISSUE_SPEC_INVALID',
  );
  assert.equal(
    code(() => checkTissueOptions({ spec: { kind: 'groups', groups: 2, k1: 99 } })),
    'TISSUE_SPEC_INVALID',
  );
  assert.equal(
    code(() => parseUnitList(' , ')),
    'TISSUE_SPEC_INVALID',
  );
});

test('globs: * and ? match, dots are literal, plain names are exact', () => {
  assert.ok(globMatch('block2.*', 'block2.conv1'));
  assert.ok(!globMatch('block2.*', 'block3.conv1'));
  assert.ok(!globMatch('block2.*', 'xblock2.conv1'));
  assert.ok(globMatch('fc?', 'fc1'));
  assert.ok(!globMatch('fc?', 'fc12'));
  assert.ok(!globMatch('fc1', 'fc12'));
  assert.ok(!globMatch('a.b', 'axb'));
});

function plan(name: 'mlp' | 'lenet5' | 'vgg' | 'resnet20' | 'mobilenetv2', o: TissueOptions) {
  return planTissue(buildModel(name, { seed: 0 }), o);
}

test('a spec whose channel counts do not divide is TISSUE_SPEC_INVALID naming the layer and numbers', () => {
  try {
    plan('mlp', { select: ['fc3'], spec: { kind: 'groups', groups: 4 } });
    assert.fail('no error');
  } catch (e) {
    assert.ok(e instanceof CompilerError);
    assert.equal(e.code, 'TISSUE_SPEC_INVALID');
    assert.match(e.message, /fc3/);
    assert.match(e.message, /C_in=300/);
    assert.match(e.message, /C_out=10/);
    assert.match(e.message, /m=4/);
  }
  const units = (s: string): LayerSpec => ({ kind: 'units', units: parseUnitList(s) });
  assert.equal(
    code(() => plan('mlp', { select: ['fc1'], spec: units('100:20:50') })),
    'TISSUE_SPEC_INVALID',
  ); // 784 % 100
  assert.equal(
    code(() => plan('mlp', { select: ['fc1'], spec: units('196:20:100') })),
    'TISSUE_SPEC_INVALID',
  ); // 4·100 ≠ 500
  assert.equal(
    code(() => plan('mlp', { select: ['fc1'], spec: units('196:20:125*3') })),
    'TISSUE_SPEC_INVALID',
  ); // mix reads 588
  assert.equal(
    code(() => plan('mlp', { select: ['fc1'], spec: units('200:4:100,300:4:100') })),
    'TISSUE_SPEC_INVALID',
  ); // 200a+300b=784 has no solution
  assert.equal(
    code(() => plan('mlp', { select: ['fc1'], spec: units('196:20:125:3:1') })),
    'TISSUE_SPEC_INVALID',
  ); // dense units have no kernel
  assert.equal(
    code(() => plan('lenet5', { select: ['conv2'], spec: units('3:4:8:3:1') })),
    'TISSUE_SPEC_INVALID',
  ); // pads 0: k1 < k changes the size
  // Per-layer spec named exactly: an error too; matched by a glob under strategy all: skipped.
  assert.equal(
    code(() => plan('mlp', { layerSpecs: [{ pattern: 'fc1', spec: units('100:20:50') }] })),
    'TISSUE_SPEC_INVALID',
  );
  const p = plan('mlp', { layerSpecs: [{ pattern: 'fc*', spec: { kind: 'groups', groups: 5 } }] });
  // m = 5 divides fc2 (500 → 300) and fc3 (300 → 10), not fc1 (784); fc3 then reads stacked fc2.
  assert.deepEqual(
    p.layers.map((l) => l.layer.name),
    ['fc2'],
  );
  assert.ok(p.skipped.some((s) => s.name === 'fc1' && /m=5/.test(s.reason)));
  assert.ok(p.skipped.some((s) => s.name === 'fc3' && /normal layer/.test(s.reason)));
});

test('selection errors: unknown names, unreplaceable layers, nothing left', () => {
  assert.equal(
    code(() => plan('mlp', { select: ['nope'] })),
    'TISSUE_NO_LAYERS',
  );
  assert.equal(
    code(() => plan('mobilenetv2', { select: ['blocks.1.dw.conv'] })),
    'TISSUE_NOT_REPLACEABLE',
  );
  assert.equal(
    code(() => plan('mlp', { spec: { kind: 'groups', groups: 7 } })),
    'TISSUE_NO_LAYERS',
  );
  assert.equal(
    code(() => plan('mlp', { exclude: ['fc*'] })),
    'TISSUE_NO_LAYERS',
  );
  assert.equal(
    code(() => plan('mlp', { strategy: 'r', select: ['fc1'] })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => plan('mlp', { activation: 'gelu' as never })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => plan('mlp', { flopsTarget: 0 })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => plan('mlp', { spec: { kind: 'groups', groups: 0 } })),
    'TISSUE_SPEC_INVALID',
  );
  // The pass leaves the model untouched when it throws.
  const m = buildModel('mlp', { seed: 0 });
  const nodes = m.graph.nodes.length;
  assert.equal(
    code(() => runPasses(m, [tissuePass({ select: ['fc3'] })])),
    'TISSUE_SPEC_INVALID',
  );
  assert.equal(m.graph.nodes.length, nodes);
});

test('strategy all never stacks a layer whose input comes only from stacked layers', () => {
  for (const name of ['lenet5', 'vgg', 'resnet20', 'mobilenetv2'] as const) {
    for (const groups of [2, 4]) {
      const model = buildModel(name, { seed: 0 });
      const p = planTissue(model, { spec: { kind: 'groups', groups } });
      const scan = scanTissueLayers(model, inferShapes(model).shapes);
      const stacked = new Set(p.layers.map((l) => l.layer.node));
      for (const l of p.layers) {
        const ups = [...upstreamMixing(l.layer.node, scan.mixing)];
        assert.ok(ups.length === 0 || ups.some((u) => !stacked.has(u)), `${name} g${groups}: ${l.layer.name} reads only stacked layers`);
      }
      // Every skipped replaceable layer is skipped for a stated reason.
      for (const s of p.skipped) assert.ok(s.reason.length > 0);
    }
  }
});

test('strategy r: VGG keeps block 1, block 3 and the head; ResNet-20 replaces only stage 2; MLP only fc2', () => {
  const vgg = plan('vgg', { strategy: 'r', spec: { kind: 'groups', groups: 2 }, shuffle: true });
  assert.deepEqual(
    vgg.layers.map((l) => l.layer.name),
    ['block2.conv1', 'block2.conv2'],
  );
  const rn = plan('resnet20', { strategy: 'r', spec: { kind: 'groups', groups: 2 } });
  assert.ok(rn.layers.length > 0 && rn.layers.every((l) => l.layer.name.startsWith('layer2.')));
  assert.deepEqual(
    rn.layers.map((l) => l.layer.stage).filter((s, i, a) => a.indexOf(s) === i),
    ['16x16'],
  );
  const mlp = plan('mlp', { strategy: 'r', spec: { kind: 'groups', groups: 4 } });
  assert.deepEqual(
    mlp.layers.map((l) => l.layer.name),
    ['fc2'],
  );
});

test('hybrid draws: reproducible per seed, different across seeds, always filling C_in and C_out exactly', () => {
  // 196a + 392b = 784 and 125a + 250b = 500: (4,0), (2,1), (0,2) in any order.
  const spec: LayerSpec = { kind: 'units', units: parseUnitList('196:10:125,392:16:250') };
  const draw = (seed: number) => plan('mlp', { select: ['fc1'], spec, seed }).layers[0]!;
  const seen = new Set<string>();
  for (let seed = 0; seed < 6; seed++) {
    const a = draw(seed);
    const b = draw(seed);
    const key = a.units.map((u) => u.n1).join(',');
    assert.equal(key, b.units.map((u) => u.n1).join(','));
    assert.equal(
      a.units.reduce((s, u) => s + u.n1, 0),
      784,
    );
    assert.equal(
      a.units.reduce((s, u) => s + u.n3, 0),
      500,
    );
    seen.add(key);
  }
  assert.ok(seen.size > 1, 'every seed drew the same positions');
  // With counts: the mix is fixed, only the order depends on the seed.
  const counted: LayerSpec = { kind: 'units', units: parseUnitList('196:10:125*2,98:8:50*2,98:8:75*2') };
  const c0 = plan('mlp', { select: ['fc1'], spec: counted, seed: 0 }).layers[0]!;
  assert.deepEqual(c0.units.map((u) => u.n1).sort(), [196, 196, 98, 98, 98, 98].sort());
  const listed = plan('mlp', { select: ['fc1'], spec: counted, hybridOrder: 'listed' }).layers[0]!;
  assert.deepEqual(
    listed.units.map((u) => u.n3),
    [125, 125, 50, 50, 75, 75],
  );
  assert.deepEqual(
    listed.runs.map((r) => r.count),
    [2, 2, 2],
  );
});

test('analytic cost follows METHODS.md: params m·(k1²·n1·n2 + k2²·n2·n3) + biases, MACs × output H·W', () => {
  const p = plan('vgg', { select: ['block2.conv2'], spec: { kind: 'groups', groups: 2, hidden: 24, k2: 3 } });
  const l = p.layers[0]!;
  // block2.conv2: 32 → 32 at 14x14, k = 3, bias: n1 = 16, n2 = 24, n3 = 16, k1 = 3, k2 = 3.
  const w = 2 * (9 * 16 * 24 + 9 * 24 * 16);
  assert.equal(l.stacked.weights, w);
  assert.equal(l.stacked.params, w + 2 * 24 + 32);
  assert.equal(l.stacked.macs, 14 * 14 * w);
  assert.equal(l.stacked.flops, 2 * 14 * 14 * w);
  assert.equal(l.original.params, 9 * 32 * 32 + 32);
  assert.equal(l.original.macs, 14 * 14 * 9 * 32 * 32);
  // Dense equivalent: k1²·C_in·(m·n2) + k2²·(m·n2)·C_out, about m times the stacked weights.
  assert.equal(l.denseEquivalent.weights, 9 * 32 * 48 + 9 * 48 * 32);
  assert.equal(l.denseEquivalent.weights, 2 * l.stacked.weights);
  assert.equal(p.after.macs, p.before.macs - l.original.macs + l.stacked.macs);
});

test('groups auto: m per layer, stopping at the first plan meeting the FLOPs target, >= 16 channels per group everywhere', () => {
  const model = buildModel('resnet20', { seed: 0, width: 4 });
  assert.deepEqual(
    allowedGroups(
      scanTissueLayers(model, inferShapes(model).shapes).layers.find((l) => l.name === 'layer3.0.conv2')!,
      undefined,
      16,
    ),
    [2, 4, 8, 16],
  );
  for (const target of [0.9, 0.75, 0.65]) {
    const p = planTissue(model, { spec: { kind: 'groups', groups: 'auto' }, flopsTarget: target });
    assert.ok(p.auto);
    assert.ok(p.auto.met, `target ${target} not met`);
    assert.ok(p.after.macs <= target * p.before.macs);
    for (const l of p.layers) for (const u of l.units) assert.ok(u.n1 >= 16 && u.n2 >= 16 && u.n3 >= 16, `${l.layer.name}: ${u.n1}:${u.n2}:${u.n3}`);
    // Greedy: every plan tried before the chosen one missed the target.
    const tried = p.auto.tried;
    assert.equal(tried[tried.length - 1]!.groups, p.auto.groups);
    for (const t of tried.slice(0, -1)) assert.ok(t.ratio > target);
  }
  // An unreachable target fails, naming the layers in the way; best effort keeps the closest plan, flagged, with a note.
  assert.throws(
    () => planTissue(model, { spec: { kind: 'groups', groups: 'auto' }, flopsTarget: 0.05 }),
    (e: unknown) => {
      assert.equal((e as CompilerError).code, 'TISSUE_TARGET_NOT_MET');
      assert.match((e as CompilerError).message, /blocking: conv1 \(/);
      return true;
    },
  );
  const p = planTissue(model, { spec: { kind: 'groups', groups: 'auto' }, flopsTarget: 0.05, bestEffort: true });
  assert.equal(p.auto!.met, false);
  assert.equal(p.auto!.groups, 16);
  assert.ok(p.auto!.blocking.length > 0);
  assert.ok(p.notes.some((n) => /target/.test(n.message)));
  // The paper-size VGG blocks (16 channels) cannot be grouped at 16 per group: skipped with the reason.
  const v = planTissue(buildModel('vgg', { seed: 0 }), { spec: { kind: 'groups', groups: 'auto' }, bestEffort: true });
  assert.ok(v.skipped.some((s) => s.name === 'block1.conv2' && /16 channels per group/.test(s.reason)));
});

test('shapes come from inference: a Conv whose output size is unknown is not replaceable, with the reason', () => {
  const b = GraphBuilder.newModel({ opset: 17 });
  const rng = new Rng(1);
  const x = b.input('x', [1, 8, 10, 10]);
  const shape = b.op('Shape', [x]);
  const y = b.op('Reshape', [x, shape]);
  // A Reshape to a computed shape still infers; an op without a shape rule does not.
  const z = b.node('Custom', [y], [], { domain: 'my.domain' })[0]!;
  b.output(b.op('Conv', [z, b.floats('w', [8, 8, 1, 1], rng.normalArray(64))], [attrInts('kernel_shape', [1, 1])], 'c'), 'out');
  b.model.opsetImports.push({ domain: 'my.domain', version: 1 });
  const m: Model = b.model;
  const scan = scanTissueLayers(m, inferShapes(m).shapes);
  assert.equal(scan.layers.length, 0);
  assert.match(scan.rejected[0]!.reason, /shape/);
});
