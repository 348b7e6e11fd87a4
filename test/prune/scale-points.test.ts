/**
 * Scale points (src/prune/scale-points.ts), checked in onnxruntime: with every scale 1 the
 * model computes the original bit for bit; with 0/1 scales it computes what prune-channels
 * computes with that mask (masked equivalence) — on every construct of graphs.ts (BN kept
 * and folded), ResNet-20, and torchvision exports. Scales come from initializers (β) or
 * from graph inputs fed at run time (GWCS masks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import {
  DataType,
  Rng,
  Tensor,
  Value,
  analyzeChannelGroups,
  attrInt,
  attrInts,
  applyChannelPruning,
  decodeModel,
  encodeModel,
  findScalePoints,
  inferShapes,
  insertScales,
  isGroupPrunable,
  maxAbsDiff,
  readModel,
  removeScales,
  toOrt,
  sortTopologically,
  verifyModel,
} from '../../src/index.js';
import type { HostTensor, Model, ScalePoint } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { ROOT, seededFeeds, tempDir } from '../helpers.js';
import { CONSTRUCTS, Net, tf2onnxStyleNet } from './graphs.js';
import { torchSkipReason } from './torch-export.js';

function copy(m: Model): Model {
  return decodeModel(encodeModel(m), { baseDir: m.baseDir });
}

/** A seeded 0/1 keep decision per prunable group: at least one kept, usually some removed. */
function randomKeep(m: Model, seed: number): Map<number, number[]> {
  const c = copy(m);
  inferShapes(c);
  const a = analyzeChannelGroups(c);
  const rng = new Rng(seed);
  const keep = new Map<number, number[]>();
  for (const g of a.groups) {
    if (!isGroupPrunable(g)) continue;
    let k = Array.from({ length: g.size }, (_, i) => i).filter(() => rng.next() < 0.6);
    if (k.length === 0) k = [Math.floor(rng.next() * g.size)];
    if (k.length < g.size) keep.set(g.id, k);
  }
  return keep;
}

function maskOf(p: ScalePoint, keep: ReadonlyMap<number, readonly number[]>): Float32Array {
  const kept = keep.get(p.group.id);
  const s = new Float32Array(p.group.size).fill(kept ? 0 : 1);
  for (const k of kept ?? []) s[k] = 1;
  return s;
}

/** The model with a scale per prunable group: initializers holding `values`, or graph inputs. */
function scaled(
  m: Model,
  values: (p: ScalePoint) => Float32Array,
  as: 'initializer' | 'input',
  abs = false,
): { model: Model; points: ScalePoint[]; feeds: Record<string, HostTensor>; sources: Value[] } {
  const c = copy(m);
  inferShapes(c);
  const points = findScalePoints(analyzeChannelGroups(c));
  const feeds: Record<string, HostTensor> = {};
  const sources: Value[] = [];
  insertScales(
    c,
    points,
    (p) => {
      const v = new Value(c.names.fresh(`s_g${p.group.id}`));
      const data = values(p);
      if (as === 'initializer') c.graph.addInitializer(v, Tensor.fromFloat32(v.name, [p.group.size], data));
      else {
        c.graph.addInput(v);
        feeds[v.name] = { data, dims: [p.group.size] };
      }
      v.setTensorType(DataType.FLOAT, [p.group.size]);
      sources.push(v);
      return v;
    },
    { abs },
  );
  verifyModel(c, 'after insertScales');
  return { model: c, points, feeds, sources };
}

/** Runs in onnxruntime with graph optimisations off: fusions (Conv+Mul, Conv+Add) would round differently. */
async function outputs(m: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const r = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])));
    return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, { data: t.data as Float32Array, dims: [...t.dims] }]));
  } finally {
    await s.release();
  }
}

async function assertClose(a: Model, b: Model, feedsA: Record<string, HostTensor>, feedsB: Record<string, HostTensor>, tol: number, what: string) {
  const [x, y] = [await outputs(a, feedsA), await outputs(b, feedsB)];
  for (const name of a.graph.outputs.map((v) => v.name)) {
    const { maxAbs, scale } = maxAbsDiff(x[name]!, y[name]!);
    assert.ok(maxAbs <= tol * Math.max(scale, 1e-6), `${what}: output ${name} differs by ${maxAbs} (scale ${scale})`);
  }
}

/** All-ones exact, 0/1 masked equivalence with prune-channels, and removeScales restoring the original. */
async function checkModel(m: Model, seed: number, what: string, as: 'initializer' | 'input' = 'initializer'): Promise<ScalePoint[]> {
  const feeds = seededFeeds(m, seed, 2);
  const ones = scaled(m, (p) => new Float32Array(p.group.size).fill(1), as, true);
  await assertClose(m, ones.model, feeds, { ...feeds, ...ones.feeds }, 0, `${what}: all-ones scales`);

  const keep = randomKeep(m, seed);
  assert.ok(keep.size > 0, `${what}: something to prune`);
  const masked = scaled(m, (p) => maskOf(p, keep), as);
  const pruned = copy(m);
  inferShapes(pruned);
  applyChannelPruning(pruned, analyzeChannelGroups(pruned), keep);
  sortTopologically(pruned.graph);
  await assertClose(masked.model, pruned, { ...feeds, ...masked.feeds }, feeds, 1e-4, `${what}: 0/1 scales vs prune-channels`);

  // Every group with channels readers see has a site; removing the scales restores the graph.
  for (const p of ones.points) assert.ok(p.sites.length > 0, `${what}: group ${p.group.name} has no site`);
  const restored = ones.model;
  assert.equal(
    removeScales(restored, ones.sources),
    ones.points.reduce((s, p) => s + new Set(p.sites.flatMap((x) => x.uses.map((u) => u.node.inputs[u.index]))).size, 0),
  );
  verifyModel(restored, 'after removeScales');
  assert.deepEqual(restored.graph.nodes.map((n) => n.name ?? n.opType).sort(), m.graph.nodes.map((n) => n.name ?? n.opType).sort(), `${what}: nodes restored`);
  assert.equal(restored.graph.initializers.length, m.graph.initializers.length, `${what}: constants removed`);
  assert.equal(restored.graph.inputs.length, m.graph.inputs.length, `${what}: inputs removed`);
  return ones.points;
}

for (const c of CONSTRUCTS) {
  for (const bnKept of [true, false]) {
    test(`scale points on ${c.name} (${bnKept ? 'BN kept' : 'BN folded'}): all-ones exact, 0/1 = prune-channels`, async () => {
      const m = c.build(21, bnKept);
      inferShapes(m);
      const a = analyzeChannelGroups(m);
      if (!a.groups.some(isGroupPrunable)) return;
      await checkModel(m, 5, c.name);
    });
  }
}

test('scale points on ResNet-20: one vector per residual stage, sites after the activation, never between Conv and BN', async () => {
  const m = buildModel('resnet20', { seed: 3 });
  const points = await checkModel(m, 7, 'resnet20');
  // 3 stages + 9 inner conv1 groups.
  assert.equal(points.length, 12);
  const stages = points.filter((p) => p.group.name.includes('conv2'));
  assert.equal(stages.length, 3);
  // Stage 1: the stem's output and two block outputs read by the next block's conv1, and the
  // last block's output read by stage 2's conv1 and downsample conv: 4 sites of one vector.
  // Stages 2 and 3 start at a downsample conv (no Relu of their own): 3 sites each.
  assert.deepEqual(
    stages.map((p) => p.sites.length),
    [4, 3, 3],
  );
  assert.deepEqual(
    stages[0]!.sites.map((s) => s.uses.length),
    [1, 1, 1, 2],
  );
  for (const p of stages) {
    for (const s of p.sites) assert.equal(s.value.producer?.opType, 'Relu', `${p.group.name}: site ${s.value.name}`);
  }
  const last = stages[2]!.sites.find((s) => s.uses.some((u) => u.node.opType === 'GlobalAveragePool'));
  assert.ok(last, 'the classifier path is scaled after the last Relu, through pooling and Flatten');
  for (const p of points) {
    for (const s of p.sites) {
      assert.notEqual(s.value.producer?.opType, 'Conv');
      for (const u of s.uses) assert.notEqual(u.node.opType, 'BatchNormalization');
      assert.ok(s.identity);
    }
  }
});

test('scale points with graph-input scales (GWCS masks): 0/1 inputs = prune-channels', async () => {
  await checkModel(buildModel('mobilenetv2', { seed: 2 }), 3, 'mobilenetv2', 'input');
});

test('a site that cannot move through a Concat gets a per-position vector (two groups, one value)', async () => {
  // Two branches concatenated; the Concat output is read by a conv and also by an Add (which
  // carries the channels on), so neither group's site can move up to its branch.
  const n = new Net(4);
  const x = n.cbr(n.input(3, 8), 3, 8, 3, { name: 'stem' });
  const a = n.cbr(x, 8, 6, 3, { name: 'a' });
  const b = n.cbr(x, 8, 4, 1, { name: 'b' });
  const cat = n.concat([a, b]);
  const y = n.cbr(cat, 10, 10, 3, { name: 'mix', act: false });
  const m = n.head(n.relu(n.add(cat, y)), 10);
  inferShapes(m);
  const points = findScalePoints(analyzeChannelGroups(m));
  const onCat = points.flatMap((p) => p.sites.map((s) => ({ p, s }))).filter(({ s }) => s.value === cat);
  assert.equal(onCat.length, 2, 'both branch groups have a site on the Concat output');
  for (const { p, s } of onCat) {
    assert.equal(s.identity, false);
    assert.equal(s.channelOf.filter((k) => k >= 0).length, p.group.size);
    assert.equal(s.channelOf.filter((k) => k < 0).length, 10 - p.group.size);
  }
  await checkModel(m, 9, 'concat-shared-site');
  await checkModel(m, 10, 'concat-shared-site (inputs)', 'input');
});

test('a tf2onnx-style head (NHWC input, swish, ReduceMean over H,W, MatMul + Add, Softmax): the site lands on the activation, not after the reduction', async () => {
  const { model: m, a2, r3 } = tf2onnxStyleNet(12);
  inferShapes(m);
  const points = findScalePoints(analyzeChannelGroups(m));
  const stream = points.find((p) => p.sites.some((x) => x.value === a2))!;
  assert.ok(stream, 'the residual stream has a site where c3 reads it');
  assert.ok(
    stream.sites.some((x) => x.value === r3),
    `the classifier's site is on the activation (the searched feature), not on the ReduceMean output: ${stream.sites.map((x) => x.value.name).join(', ')}`,
  );
  await checkModel(m, 13, 'tf2onnx-style head');
});

for (const how of ['Reshape', 'Flatten'] as const) {
  test(`a channels-last flatten (Transpose(0,2,3,1) → ${how} → MatMul, as tf2onnx writes Keras' Flatten): the last conv stays prunable, channel c owning every C-th column`, async () => {
    const n = new Net(14, 13);
    const x = n.b.op('Transpose', [n.b.input('input_1', ['unk__5', 8, 8, 3])], [attrInts('perm', [0, 3, 1, 2])]);
    const c1 = n.relu(n.conv(x, 3, 8, 3, { name: 'c1', stride: 2 }));
    const c2 = n.relu(n.conv(c1, 8, 6, 3, { name: 'c2', stride: 2 }));
    const nhwc = n.b.op('Transpose', [c2], [attrInts('perm', [0, 2, 3, 1])]);
    const flat =
      how === 'Reshape' ? n.b.op('Reshape', [nhwc, n.b.int64s('flat_shape', [2], [-1, 2 * 2 * 6])]) : n.b.op('Flatten', [nhwc], [attrInt('axis', 1)]);
    n.b.output(n.b.op('Add', [n.b.op('MatMul', [flat, n.weights('fc_w', [24, 5], 24)]), n.vec('fc_b', 5)]), 'logits');
    const m = n.model;
    inferShapes(m);
    const a = analyzeChannelGroups(m);
    const g = a.groups.find((x) => x.members.some((mm) => mm.slot.value === c2));
    assert.ok(g && isGroupPrunable(g), `c2's channels are prunable: ${g?.frozen?.join('; ')}`);
    assert.equal(g.size, 6);
    await checkModel(m, 15, `channels-last ${how}`);
  });
}

const torchSkip = torchSkipReason();
test('scale points on torchvision exports (ResNet-18, MobileNetV2, BN folded)', { skip: torchSkip }, async () => {
  const dir = tempDir('sculpt-scale-');
  const r = spawnSync(
    '/usr/bin/python3',
    [join(ROOT, 'scripts/export-torch.py'), '--out-dir', dir, '--models', 'resnet18,mobilenet_v2', '--size', '32', '--variants', 'bnfold'],
    { encoding: 'utf8', timeout: 240_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['resnet18', 'mobilenet_v2']) {
    const m = readModel(join(dir, `${name}.bnfold.onnx`));
    inferShapes(m);
    const pts = await checkModel(m, 11, name);
    assert.ok(pts.length >= 8, `${name}: ${pts.length} groups with scales`);
  }
});
