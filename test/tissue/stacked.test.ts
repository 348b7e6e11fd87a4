/**
 * The tissue pass on the reference models: every strategy, equal and hybrid units, conv and
 * dense, shuffle. Each rewritten model runs in onnxruntime, and every stacked layer equals
 * its definition — Split → each unit on its own → Concat, built by hand from the emitted
 * weights — to 1e-5; analytic params equal the counted initializer elements and analytic
 * MACs the counted MACs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, Rng, attrInt, attrInts, computeCost, runModel, runPass, verifyModel } from '../../src/index.js';
import type { HostTensor, Model } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import type { ModelName } from '../../models/index.js';
import { tissuePass } from '../../passes/tissue.js';
import type { TissuePassOptions, TissueReport } from '../../passes/tissue.js';
import { checkAgainstUnits, countedParams, layerIo } from './reference.js';

function feedsFor(model: Model, seed = 7, batch = 2): Record<string, HostTensor> {
  const rng = new Rng(seed);
  const out: Record<string, HostTensor> = {};
  for (const v of model.graph.inputs) {
    const dims = v.shape!.map((d) => (typeof d === 'number' ? d : batch));
    out[v.name] = { data: rng.uniformArray(dims.reduce((a, b) => a * b, 1)), dims };
  }
  return out;
}

function rewrite(model: Model, opts: TissuePassOptions): TissueReport {
  const report: TissueReport | undefined = runPass(model, tissuePass(opts)).report;
  verifyModel(model);
  return report!;
}

async function checkRewrite(name: ModelName, opts: TissuePassOptions, expectLayers?: string[]): Promise<TissueReport> {
  const original = buildModel(name, { seed: 3 });
  const model = buildModel(name, { seed: 3 });
  const report = rewrite(model, opts);
  if (expectLayers)
    assert.deepEqual(
      report.layers.map((l) => l.name),
      expectLayers,
    );
  assert.ok(report.layers.length > 0);
  const feeds = feedsFor(model);
  // Runs, and keeps the original's output shape.
  const [a, b] = [await runModel(original, feeds), await runModel(model, feeds)];
  const out = original.graph.outputs[0]!.name;
  assert.deepEqual(b[out]!.dims, a[out]!.dims);
  assert.ok(Array.from(b[out]!.data as Float32Array).every(Number.isFinite));
  // Each stacked layer = its units run one by one.
  for (const c of await checkAgainstUnits(model, report, feeds)) {
    assert.ok(c.maxAbs <= 1e-5 * Math.max(1, c.scale), `${name} ${c.name}: unit-by-unit reference differs by ${c.maxAbs} (scale ${c.scale})`);
  }
  // Analytic cost = counted.
  const cost = computeCost(model);
  for (const l of report.layers) {
    assert.equal(l.stacked.params, countedParams(model, l), `${l.name}: analytic params`);
    const macs = cost.nodes.filter((n) => l.nodes.includes(n.name)).reduce((s, n) => s + n.macs, 0);
    assert.equal(l.stacked.macs, macs, `${l.name}: analytic MACs`);
    assert.ok(l.matches, `${l.name}: report says analytic != counted`);
  }
  assert.equal(report.after.macs, report.planned.macs);
  assert.equal(report.after.params, report.planned.params);
  return report;
}

test('MLP, strategy all, equal dense units: fc1 stacked, fc2 kept normal after it', async () => {
  const r = await checkRewrite('mlp', { spec: { kind: 'groups', groups: 4 } }, ['fc1']);
  // METHODS.md: m·(n1·n2 + n2·n3) + biases with n1 = 196, n2 = n3 = 125, bias2 = 500.
  assert.equal(r.layers[0]!.stacked.params, 4 * (196 * 125 + 125 * 125) + 4 * 125 + 500);
  assert.equal(r.layers[0]!.stacked.macs, 4 * (196 * 125 + 125 * 125));
  assert.ok(r.skipped.some((s) => s.name === 'fc2' && /normal layer/.test(s.reason)));
  assert.ok(r.skipped.some((s) => s.name === 'fc3' && /not both divisible/.test(s.reason)));
});

test('MLP, strategy all, m = 2: the classifier producing the graph output is stacked too; the output keeps its name', async () => {
  const r = await checkRewrite('mlp', { spec: { kind: 'groups', groups: 2 }, activation: 'none' }, ['fc1', 'fc3']);
  const m = buildModel('mlp', { seed: 3 });
  rewrite(m, { spec: { kind: 'groups', groups: 2 } });
  assert.equal(m.graph.outputs[0]!.name, 'logits');
  assert.equal(m.graph.outputs[0]!.producer!.name, 'fc3.tissue.reshape_out');
  assert.ok(!m.graph.initializers.some((v) => v.name === 'fc3.weight' || v.name === 'fc1.weight'), 'old weights removed');
  assert.equal(r.layers[1]!.stacked.params, 2 * (150 * 5 + 5 * 5) + 2 * 5 + 10);
});

test('MLP, select fc1,fc2 with shuffle: the TissueNet MLP at < 10% of FLOPs and params', async () => {
  const r = await checkRewrite('mlp', { select: ['fc1', 'fc2'], spec: { kind: 'groups', groups: 4, hidden: 20 }, shuffle: true }, ['fc1', 'fc2']);
  assert.equal(r.layers[1]!.shuffleGroups, 4);
  // 4·(196·20 + 20·125) + 80 + 500 = 26,260; 4·(125·20 + 20·75) + 80 + 300 = 16,380; fc3 3,010.
  assert.equal(r.after.params, 26_260 + 16_380 + 3_010);
  assert.equal(r.after.macs, 4 * (196 * 20 + 20 * 125) + 4 * (125 * 20 + 20 * 75) + 3000);
  assert.ok(r.after.params / r.before.params < 0.1 && r.after.flops / r.before.flops < 0.1);
});

test('MLP, hybrid dense units drawn per position', async () => {
  const r = await checkRewrite(
    'mlp',
    {
      select: ['fc1'],
      spec: {
        kind: 'units',
        units: [
          { n1: 196, n2: 10, n3: 125 },
          { n1: 98, n2: 8, n3: 125 },
          { n1: 392, n2: 20, n3: 250 },
        ],
      },
      seed: 5,
    },
    ['fc1'],
  );
  const l = r.layers[0]!;
  assert.ok(!l.equal);
  const runs = l.runs.map((x) => ({ ...x, n1: Number(x.unit.split(':')[0]), n3: Number(x.unit.split(':')[2]) }));
  assert.equal(
    runs.reduce((s, x) => s + x.count * x.n1, 0),
    784,
  );
  assert.equal(
    runs.reduce((s, x) => s + x.count * x.n3, 0),
    500,
  );
});

test('LeNet-5, strategy all: conv and dense stacked layers alternate with normal ones', async () => {
  await checkRewrite('lenet5', { spec: { kind: 'groups', groups: 2 } }, ['conv2', 'fc2']);
});

test('LeNet-5, hybrid conv units with different kernels and a fixed mix in listed order', async () => {
  const r = await checkRewrite(
    'lenet5',
    {
      select: ['conv2'],
      hybridOrder: 'listed',
      spec: {
        kind: 'units',
        units: [
          { n1: 2, n2: 6, n3: 4, k1: 5, k2: 1, count: 1 },
          { n1: 1, n2: 4, n3: 4, k1: 5, k2: 3, count: 2 },
          { n1: 2, n2: 6, n3: 4, k1: 5, k2: 1, count: 1 },
        ],
      },
    },
    ['conv2'],
  );
  assert.deepEqual(r.layers[0]!.runs, [
    { unit: '2:6:4:5x5:1x1', count: 1 },
    { unit: '1:4:4:5x5:3x3', count: 2 },
    { unit: '2:6:4:5x5:1x1', count: 1 },
  ]);
});

test('VGG, strategy r: only the middle block, relu6 and k2 = 3', async () => {
  const r = await checkRewrite('vgg', { strategy: 'r', spec: { kind: 'groups', groups: 2, k2: 3, hidden: 8 }, activation: 'relu6' }, ['block2.conv1']);
  assert.ok(r.skipped.some((s) => s.name === 'block2.conv2' && /normal layer/.test(s.reason)));
  assert.ok(r.skipped.some((s) => s.name === 'block1.conv1' && /first or last stage/.test(s.reason)));
});

test('VGG, strategy r with shuffle: both middle convs, a channel shuffle between', async () => {
  const r = await checkRewrite('vgg', { strategy: 'r', spec: { kind: 'groups', groups: 4 }, shuffle: true, activation: 'leaky-relu' }, [
    'block2.conv1',
    'block2.conv2',
  ]);
  assert.equal(r.layers[1]!.shuffleGroups, 4);
});

test('ResNet-20, strategy all: residual adds of a normal branch count as mixing', async () => {
  const r = await checkRewrite('resnet20', { spec: { kind: 'groups', groups: 4 }, activation: 'tanh' });
  const names = r.layers.map((l) => l.name);
  assert.ok(names.includes('layer1.0.conv1') && names.includes('layer1.1.conv1') && !names.includes('layer1.0.conv2'));
  assert.ok(names.includes('layer2.0.downsample.0'));
});

test('MobileNetV2, strategy r: pointwise convs only (depthwise are units already), sigmoid', async () => {
  const r = await checkRewrite('mobilenetv2', { strategy: 'r', spec: { kind: 'groups', groups: 2 }, activation: 'sigmoid', shuffle: true });
  assert.ok(r.layers.every((l) => l.kernel.every((k) => k === 1)));
  assert.ok(r.skipped.some((s) => /depthwise/.test(s.reason)));
});

test('channel shuffle is the (g, C/g) transpose: output channel c reads input channel (c mod g)·C/g + ⌊c/g⌋', async () => {
  const model = buildModel('vgg', { seed: 1 });
  const r = rewrite(model, { select: ['block2.conv1', 'block2.conv2'], spec: { kind: 'groups', groups: 4 }, shuffle: true });
  const l = r.layers[1]!;
  const restore = model.graph.findNode(`${l.name}.tissue.shuffle.restore`)!;
  const before = model.graph.findNode(`${l.name}.tissue.shuffle.reshape`)!.inputs[0]!;
  const feeds = feedsFor(model);
  const got = await runModel(model, feeds, [before.name, restore.outputs[0]!.name]);
  const x = got[before.name]!;
  const s = got[restore.outputs[0]!.name]!;
  const [n, c, h, w] = x.dims as [number, number, number, number];
  const g = 4;
  const per = c / g;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const src = (ch % g) * per + Math.floor(ch / g);
      for (let p = 0; p < h * w; p++) assert.equal(s.data[(b * c + ch) * h * w + p], x.data[(b * c + src) * h * w + p]);
    }
  }
});

test('MatMul layers of rank 3 (a token axis) and Gemm with transB = 0, alpha and beta', async () => {
  const b = GraphBuilder.newModel({ opset: 13 });
  const rng = new Rng(2);
  const x = b.input('x', ['N', 5, 24]);
  let h = b.op('MatMul', [x, b.floats('w1', [24, 32], rng.normalArray(24 * 32, 0.3))], [], 'proj');
  h = b.op('Relu', [h]);
  h = b.op('MatMul', [h, b.floats('w2', [32, 16], rng.normalArray(32 * 16, 0.3))], [], 'mix');
  h = b.op('Reshape', [h, b.int64s('s', [2], [-1, 80])]);
  h = b.op(
    'Gemm',
    [h, b.floats('w3', [80, 48], rng.normalArray(80 * 48, 0.2)), b.floats('c3', [1, 48], rng.normalArray(48, 0.2))],
    [
      { name: 'alpha', v: { type: 1, value: 0.5 } },
      { name: 'beta', v: { type: 1, value: 2 } },
    ],
    'head',
  );
  b.output(h, 'y');
  const report = rewrite(b.model, { select: ['proj', 'head'], spec: { kind: 'groups', groups: 4 } });
  assert.deepEqual(
    report.layers.map((l) => l.name),
    ['proj', 'head'],
  );
  const feeds = { [b.model.graph.inputs[0]!.name]: { data: rng.uniformArray(3 * 5 * 24), dims: [3, 5, 24] } };
  for (const c of await checkAgainstUnits(b.model, report, feeds)) assert.ok(c.maxAbs <= 1e-5 * Math.max(1, c.scale), `${c.name}: ${c.maxAbs}`);
  assert.deepEqual((await runModel(b.model, feeds)).y!.dims, [3, 48]);
  // Opset 13 Split takes sizes as an input; hybrid on a rank-3 MatMul.
  const b2 = GraphBuilder.newModel({ opset: 11 });
  const x2 = b2.input('x', ['N', 5, 24]);
  b2.output(b2.op('MatMul', [x2, b2.floats('w', [24, 12], rng.normalArray(24 * 12, 0.3))], [], 'proj'), 'y');
  const r2 = rewrite(b2.model, {
    select: ['proj'],
    spec: {
      kind: 'units',
      units: [
        { n1: 8, n2: 4, n3: 4 },
        { n1: 4, n2: 2, n3: 2 },
      ],
    },
    seed: 1,
  });
  assert.ok(r2.layers[0]!.runs.length > 1 || r2.layers[0]!.runs[0]!.count > 1);
  for (const c of await checkAgainstUnits(b2.model, r2, feeds)) assert.ok(c.maxAbs <= 1e-5 * Math.max(1, c.scale), `${c.name}: ${c.maxAbs}`);
});

test('conv geometry: stride 2, asymmetric pads, dilation, auto_pad SAME_UPPER, k1 ≠ k — output size kept', async () => {
  const rng = new Rng(4);
  const b = GraphBuilder.newModel({ opset: 9 });
  const x = b.input('x', [1, 8, 11, 13]);
  const conv = (name: string, inp: typeof x, cin: number, cout: number, attrs: ReturnType<typeof attrInts>[]) =>
    b.op('Conv', [inp, b.floats(`${name}.w`, [cout, cin, 3, 3], rng.normalArray(cout * cin * 9, 0.3))], [attrInts('kernel_shape', [3, 3]), ...attrs], name);
  let h = conv('a', x, 8, 8, [attrInts('strides', [2, 2]), attrInts('pads', [1, 0, 1, 2])]);
  h = b.op('Relu', [h]);
  h = conv('b', h, 8, 16, [attrInts('dilations', [2, 2]), attrInts('pads', [2, 2, 2, 2])]);
  h = b.op('Relu', [h]);
  h = b.op(
    'Conv',
    [h, b.floats('c.w', [16, 16, 3, 3], rng.normalArray(16 * 16 * 9, 0.2))],
    [attrInts('kernel_shape', [3, 3]), { name: 'auto_pad', v: { type: 3, value: new TextEncoder().encode('SAME_UPPER') } }, attrInts('strides', [2, 2])],
    'c',
  );
  b.output(h, 'y');
  const ref = await runModel(b.model, { [x.name]: { data: rng.uniformArray(8 * 11 * 13), dims: [1, 8, 11, 13] } });
  const report = rewrite(b.model, { select: ['a', 'b', 'c'], spec: { kind: 'groups', groups: 2, k1: 5, k2: 3 } });
  assert.equal(report.layers.length, 3);
  const feeds = { [x.name]: { data: rng.uniformArray(8 * 11 * 13), dims: [1, 8, 11, 13] } };
  const got = await runModel(b.model, feeds);
  assert.deepEqual(got.y!.dims, ref.y!.dims);
  for (const c of await checkAgainstUnits(b.model, report, feeds)) assert.ok(c.maxAbs <= 1e-5 * Math.max(1, c.scale), `${c.name}: ${c.maxAbs}`);
  // Opset 9: Split with a `split` attribute, Clip with attributes.
  const b2 = GraphBuilder.newModel({ opset: 9 });
  const x2 = b2.input('x', [1, 6, 9, 9]);
  b2.output(
    b2.op(
      'Conv',
      [x2, b2.floats('w', [6, 6, 3, 3], rng.normalArray(6 * 6 * 9, 0.3))],
      [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInt('group', 1)],
      'k',
    ),
    'y',
  );
  const r2 = rewrite(b2.model, {
    select: ['k'],
    activation: 'relu6',
    spec: {
      kind: 'units',
      units: [
        { n1: 2, n2: 3, n3: 2 },
        { n1: 4, n2: 5, n3: 4 },
      ],
    },
  });
  const f2 = { [x2.name]: { data: rng.uniformArray(6 * 81), dims: [1, 6, 9, 9] } };
  for (const c of await checkAgainstUnits(b2.model, r2, f2)) assert.ok(c.maxAbs <= 1e-5 * Math.max(1, c.scale), `${c.name}: ${c.maxAbs}`);
  const { x: lx } = layerIo(b2.model, r2.layers[0]!);
  assert.equal(lx.name, x2.name);
});
