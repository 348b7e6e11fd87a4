/**
 * The reference models: each builds, verifies and runs in onnxruntime with the documented
 * interface; weights are seeded (byte-identical per seed); parameter counts match the
 * arithmetic written out by hand; the architectural details later issues rely on
 * (projection shortcuts, depthwise groups, v1.5 strides, Clip forms per opset) hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, encodeModel, readModel, runModel, shapeOf, verifyModel } from '../../src/index.js';
import type { Model, Node } from '../../src/index.js';
import { buildModel, MODEL_CATALOG } from '../../models/index.js';
import type { BuildOptions, ModelName } from '../../models/index.js';
import { runCli, seededFeeds, tempDir } from '../helpers.js';

function paramCount(m: Model, filter: (name: string) => boolean = () => true): number {
  let n = 0;
  for (const v of m.graph.initializers) if (filter(v.name)) n += v.initializer!.size;
  return n;
}

/** Parameters as PyTorch counts them: BN running statistics and Clip bounds are not parameters. */
const trainable = (name: string): boolean => !/\.running_(mean|var)$/.test(name) && !name.startsWith('relu6.');

function node(m: Model, name: string): Node {
  const n = m.graph.nodes.find((x) => x.name === name);
  assert.ok(n, `node ${name} exists`);
  return n;
}

function floats(m: Model, name: string): Float32Array {
  const v = m.graph.initializers.find((x) => x.name === name);
  assert.ok(v, `initializer ${name} exists`);
  return v.initializer!.toFloat32();
}

async function checkRuns(name: ModelName, opts: BuildOptions, batch: number, expect: { input: (number | string)[]; classes: number }): Promise<Model> {
  const m = buildModel(name, opts);
  verifyModel(m);
  assert.equal(m.graph.inputs.length, 1);
  assert.equal(m.graph.inputs[0]!.name, 'input');
  assert.deepEqual(m.graph.inputs[0]!.shape, expect.input);
  assert.equal(m.graph.outputs.length, 1);
  assert.equal(m.graph.outputs[0]!.name, 'logits');
  assert.deepEqual(shapeOf(m.graph.outputs[0]!.type), [expect.input[0], expect.classes]);
  const out = await runModel(m, seededFeeds(m, 11, batch));
  const logits = out.logits!;
  assert.deepEqual(logits.dims, [batch, expect.classes]);
  const data = logits.data as Float32Array;
  let maxAbs = 0;
  for (const x of data) {
    assert.ok(Number.isFinite(x), `${name}: finite logits`);
    maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  // Not degenerate (all zero, or the same for every image) and not blown up by the random BN statistics.
  assert.ok(maxAbs > 1e-3 && maxAbs < 1e3, `${name}: |logits| max ${maxAbs}`);
  if (batch > 1) {
    let differs = false;
    for (let j = 0; j < expect.classes; j++) if (data[j] !== data[expect.classes + j]) differs = true;
    assert.ok(differs, `${name}: two different images give different logits`);
  }
  return m;
}

test('catalog lists the six models, each with an input description', () => {
  assert.deepEqual(
    MODEL_CATALOG.map((e) => e.name),
    ['mlp', 'lenet5', 'vgg', 'resnet20', 'mobilenetv2', 'resnet50'],
  );
  for (const e of MODEL_CATALOG) assert.ok(e.summary.length > 10 && e.input.startsWith('[N,'));
});

const SMALL: [ModelName, (number | string)[], number][] = [
  ['mlp', ['N', 784], 10],
  ['lenet5', ['N', 1, 28, 28], 10],
  ['vgg', ['N', 1, 28, 28], 10],
  ['resnet20', ['N', 3, 32, 32], 10],
  ['mobilenetv2', ['N', 3, 32, 32], 10],
];

for (const [name, input, classes] of SMALL) {
  test(`${name}: builds, verifies, runs in onnxruntime at batch 2`, async () => {
    await checkRuns(name, { seed: 1 }, 2, { input, classes });
  });

  test(`${name}: same seed gives byte-identical bytes, another seed other weights`, () => {
    const a = encodeModel(buildModel(name, { seed: 5 }));
    const b = encodeModel(buildModel(name, { seed: 5 }));
    assert.ok(Buffer.from(a).equals(Buffer.from(b)));
    const m5 = buildModel(name, { seed: 5 });
    const m6 = buildModel(name, { seed: 6 });
    assert.equal(paramCount(m5), paramCount(m6));
    const first = m5.graph.initializers[0]!.name;
    const w5 = floats(m5, first);
    const w6 = floats(m6, first);
    let same = 0;
    for (let i = 0; i < w5.length; i++) if (w5[i] === w6[i]) same++;
    assert.equal(same, 0, `${first}: every weight differs between seeds`);
  });
}

test('mlp: parameter count 784-500-300-10 by hand, and at half width', () => {
  assert.equal(paramCount(buildModel('mlp')), 784 * 500 + 500 + 500 * 300 + 300 + 300 * 10 + 10); // 545,810
  assert.equal(paramCount(buildModel('mlp', { width: 0.5 })), 784 * 250 + 250 + 250 * 150 + 150 + 150 * 10 + 10);
  assert.equal(paramCount(buildModel('mlp', { size: 32, channels: 3 })), 3072 * 500 + 500 + 500 * 300 + 300 + 300 * 10 + 10);
  const m = buildModel('mlp');
  assert.deepEqual(
    m.graph.nodes.map((n) => `${n.opType}:${n.name}`),
    ['Gemm:fc1', 'Relu:relu1', 'Gemm:fc2', 'Relu:relu2', 'Gemm:fc3'],
  );
  // PyTorch's nn.Linear layout: weight [out, in] with transB = 1.
  assert.deepEqual(m.graph.initializers.find((v) => v.name === 'fc1.weight')!.initializer!.dims.map(Number), [500, 784]);
  assert.equal(Number(node(m, 'fc1').attrInt('transB')), 1);
});

test('lenet5: parameter count by hand at 28x28x1 and at 32x32x3', async () => {
  const conv1 = 6 * 1 * 5 * 5 + 6; // 156
  const conv2 = 16 * 6 * 5 * 5 + 16; // 2,416
  const fc1 = 16 * 5 * 5 * 120 + 120; // 48,120
  const fc2 = 120 * 84 + 84; // 10,164
  const fc3 = 84 * 10 + 10; // 850
  assert.equal(paramCount(buildModel('lenet5')), conv1 + conv2 + fc1 + fc2 + fc3); // 61,706
  const conv1rgb = 6 * 3 * 5 * 5 + 6; // 456
  assert.equal(paramCount(buildModel('lenet5', { size: 32, channels: 3 })), conv1rgb + conv2 + fc1 + fc2 + fc3);
  await checkRuns('lenet5', { size: 32, channels: 3, numClasses: 7 }, 2, { input: ['N', 3, 32, 32], classes: 7 });
  // conv1 is padded to keep 28x28 for MNIST, unpadded at 32x32 (both reach 16·5·5 = 400 features).
  assert.deepEqual(node(buildModel('lenet5'), 'conv1').attrInts('pads')!.map(Number), [2, 2, 2, 2]);
  assert.deepEqual(
    node(buildModel('lenet5', { size: 32, channels: 3 }), 'conv1')
      .attrInts('pads')!
      .map(Number),
    [0, 0, 0, 0],
  );
});

test('vgg: parameter count by hand', () => {
  const conv = (cin: number, cout: number): number => cin * cout * 9 + cout + 4 * cout; // weight, bias, BN (4 vectors)
  const expected = conv(1, 16) + conv(16, 16) + conv(16, 32) + conv(32, 32) + conv(32, 64) + conv(64, 64) + 64 * 3 * 3 * 128 + 128 + 128 * 10 + 10;
  assert.equal(paramCount(buildModel('vgg')), expected); // 147,834
  const m = buildModel('vgg');
  assert.equal(m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 6);
  assert.equal(m.graph.nodes.filter((n) => n.opType === 'MaxPool').length, 3);
});

test('resnet20: layout, projection shortcuts and parameter count', () => {
  const m = buildModel('resnet20');
  const convs = m.graph.nodes.filter((n) => n.opType === 'Conv');
  assert.equal(convs.length, 1 + 9 * 2 + 2); // stem, 9 blocks of two, two projections
  assert.equal(m.graph.nodes.filter((n) => n.opType === 'Add').length, 9);
  for (const p of ['layer2.0', 'layer3.0']) {
    assert.deepEqual(node(m, `${p}.conv1`).attrInts('strides')!.map(Number), [2, 2]);
    assert.deepEqual(node(m, `${p}.downsample.0`).attrInts('kernel_shape')!.map(Number), [1, 1]);
    assert.equal(node(m, `${p}.downsample.1`).opType, 'BatchNormalization');
  }
  assert.ok(!m.graph.nodes.some((n) => n.name === 'layer1.0.downsample.0'), 'no projection where the shape holds');
  // 3x3 convs without bias, BN with gamma/beta (trainable) and two running statistics.
  const conv3 = (cin: number, cout: number): number => cin * cout * 9;
  const bn = (c: number): number => 2 * c;
  let expected = conv3(3, 16) + bn(16);
  for (const [cin, c] of [
    [16, 16],
    [16, 32],
    [32, 64],
  ] as const) {
    expected += conv3(cin, c) + bn(c) + conv3(c, c) + bn(c); // first block
    if (cin !== c) expected += cin * c + bn(c); // projection
    expected += 2 * (2 * conv3(c, c) + 2 * bn(c)); // two more blocks
  }
  expected += 64 * 10 + 10;
  assert.equal(paramCount(m, trainable), expected); // 272,474
});

test('BN statistics are seeded and non-trivial (so folding them is really tested)', () => {
  const m = buildModel('resnet20', { seed: 2 });
  for (const suffix of ['weight', 'bias', 'running_mean', 'running_var']) {
    const x = floats(m, `layer1.0.bn1.${suffix}`);
    const identity = suffix === 'weight' || suffix === 'running_var' ? 1 : 0;
    assert.ok(
      x.every((v) => v !== identity),
      `${suffix} differs from the identity everywhere`,
    );
  }
  assert.ok(floats(m, 'layer1.0.bn1.running_var').every((v) => v >= 0.5 && v < 1.5));
});

test('mobilenetv2: depthwise groups, linear bottlenecks, residual adds, Clip bounds', async () => {
  const m = buildModel('mobilenetv2');
  const dws = m.graph.nodes.filter((n) => (n.name ?? '').endsWith('.dw.conv'));
  assert.equal(dws.length, 17);
  for (const n of dws) {
    const w = n.inputs[1]!.initializer!.dims.map(Number);
    assert.equal(Number(n.attrInt('group')), w[0], `${n.name}: group = channels`);
    assert.equal(w[1], 1);
  }
  // Residual adds where stride 1 and channels equal: (2-1)+(3-1)+(4-1)+(3-1)+(3-1) = 10.
  assert.equal(m.graph.nodes.filter((n) => n.opType === 'Add').length, 10);
  // Linear bottleneck: a projection's BN feeds no activation.
  for (const n of m.graph.nodes.filter((x) => (x.name ?? '').endsWith('.project.bn'))) {
    assert.ok(
      n.outputs[0]!.uses().every((u) => u.node.opType !== 'Clip' && u.node.opType !== 'Relu'),
      n.name,
    );
  }
  const clip = m.graph.nodes.find((n) => n.opType === 'Clip')!;
  assert.equal(clip.inputs.length, 3);
  assert.deepEqual([...floats(m, 'relu6.min'), ...floats(m, 'relu6.max')], [0, 6]);
  // At 224 with 1000 classes it is torchvision's mobilenet_v2: 3,504,872 parameters.
  assert.equal(paramCount(buildModel('mobilenetv2', { size: 224, numClasses: 1000 }), trainable), 3_504_872);
});

test('opsets 7 to 21: every form runs in onnxruntime', async () => {
  for (const opset of [7, 9, 10, 11, 13, 17, 21]) {
    const m = await checkRuns('mobilenetv2', { opset, width: 0.35, seed: opset }, 2, { input: ['N', 3, 32, 32], classes: 10 });
    assert.equal(m.opset(), opset);
    const clip = m.graph.nodes.find((n) => n.opType === 'Clip')!;
    if (opset < 11) {
      assert.equal(clip.inputs.length, 1);
      assert.equal(clip.attrFloat('max'), 6);
    } else {
      assert.equal(clip.inputs.length, 3);
    }
    await checkRuns('resnet20', { opset, seed: opset }, 2, { input: ['N', 3, 32, 32], classes: 10 });
  }
});

test('options: fixed batch, width, classes', async () => {
  const m = await checkRuns('resnet20', { batch: 2, width: 0.5, numClasses: 4, size: 28, channels: 1 }, 2, { input: [2, 1, 28, 28], classes: 4 });
  assert.equal(m.graph.initializers.find((v) => v.name === 'conv1.weight')!.initializer!.dims.map(Number)[0], 8);
  assert.deepEqual(
    m.metadataProps?.find((p) => p.key === 'sculpt.model'),
    { key: 'sculpt.model', value: 'resnet20' },
  );
});

test('bad names and options give named errors', () => {
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof CompilerError);
      return e.code;
    }
    return 'none';
  };
  assert.equal(
    code(() => buildModel('resnet18' as ModelName)),
    'UNKNOWN_MODEL',
  );
  assert.equal(
    code(() => buildModel('mlp', { opset: 6 })),
    'OPSET_OUT_OF_RANGE',
  );
  assert.equal(
    code(() => buildModel('mlp', { opset: 22 })),
    'OPSET_OUT_OF_RANGE',
  );
  assert.equal(
    code(() => buildModel('mlp', { width: 0 })),
    'INVALID_OPTION',
  );
  // The CLI's cap holds in the library too: a width that would need gigabytes is refused, not built.
  assert.equal(
    code(() => buildModel('resnet50', { width: 1000 })),
    'INVALID_OPTION',
  );
  assert.equal(paramCount(buildModel('mlp', { width: 4 })) > 0, true);
  assert.equal(
    code(() => buildModel('mlp', { size: 2.5 })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => buildModel('mlp', { seed: -1 })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => buildModel('vgg', { numClasses: 0 })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => buildModel('lenet5', { size: 8 })),
    'INVALID_OPTION',
  );
  assert.equal(
    code(() => buildModel('resnet20', { batch: '' })),
    'INVALID_OPTION',
  );
});

test('resnet50: torchvision v1.5 layout, 25,557,032 parameters, one onnxruntime run', async () => {
  const m = await checkRuns('resnet50', { seed: 1 }, 1, { input: ['N', 3, 224, 224], classes: 1000 });
  assert.equal(m.graph.nodes.filter((n) => n.opType === 'Conv').length, 1 + 16 * 3 + 4);
  assert.equal(m.graph.nodes.filter((n) => n.opType === 'Add').length, 16);
  // v1.5: the stride sits on the 3x3 conv of each stage's first block.
  for (const p of ['layer2.0', 'layer3.0', 'layer4.0']) {
    assert.deepEqual(node(m, `${p}.conv1`).attrInts('strides')!.map(Number), [1, 1]);
    assert.deepEqual(node(m, `${p}.conv2`).attrInts('strides')!.map(Number), [2, 2]);
    assert.deepEqual(node(m, `${p}.downsample.0`).attrInts('strides')!.map(Number), [2, 2]);
  }
  assert.deepEqual(node(m, 'layer1.0.downsample.0').attrInts('strides')!.map(Number), [1, 1]);
  assert.deepEqual(node(m, 'conv1').attrInts('kernel_shape')!.map(Number), [7, 7]);
  assert.equal(paramCount(m, trainable), 25_557_032);
});

test('cli: models build writes a readable model; unknown name exits 1 with UNKNOWN_MODEL', () => {
  const dir = tempDir();
  const out = join(dir, 'mlp.onnx');
  const r = runCli(['models', 'build', 'mlp', '-o', out, '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  const m = readModel(out);
  verifyModel(m);
  assert.equal(paramCount(m), 545_810);
  assert.ok(Buffer.from(encodeModel(m)).equals(Buffer.from(encodeModel(buildModel('mlp', { seed: 3 })))));

  const j = runCli(['models', 'build', 'lenet5', '-o', join(dir, 'l.onnx'), '--size', '32', '--channels', '3', '--classes', '5', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const summary = JSON.parse(j.stdout) as { params: number; input: { shape: unknown[] }; logits: { shape: unknown[] } };
  assert.deepEqual(summary.input.shape, ['N', 3, 32, 32]);
  assert.deepEqual(summary.logits.shape, ['N', 5]);
  assert.equal(summary.params, 6 * 3 * 25 + 6 + 2416 + 48120 + 10164 + 84 * 5 + 5);

  const bad = runCli(['models', 'build', 'nope', '-o', join(dir, 'nope.onnx')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /UNKNOWN_MODEL/);
  assert.ok(!existsSync(join(dir, 'nope.onnx')));

  const list = runCli(['models', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    (JSON.parse(list.stdout) as { name: string }[]).map((e) => e.name),
    MODEL_CATALOG.map((e) => e.name),
  );
});
