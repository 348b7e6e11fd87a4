/**
 * `sculpt diff`: matching (name, output, position, structure), replacement grouping, text
 * layout, JSON against the documented schema, and the error for a corrupt file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, computeCost, Node, Tensor, Value, diffModels, readModel, renderDiffText, saveModel, TEXT_WIDTH } from '../../src/index.js';
import type { ModelDiff } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { createPass } from '../../passes/index.js';
import { runPasses } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';
import { copyModel, hybridRewrite, pruneResnetBlocks, smallCnn, tissueRewrite } from './rewrites.js';

const dir = tempDir('sculpt-diff-');

function statuses(d: ModelDiff): string[] {
  return d.entries.map((e) => `${e.status}:${(e.after[0] ?? e.before[0])!.name}`);
}

test('a model against itself: identical, every node same, "no changes" in text, exit 0', () => {
  const m = buildModel('resnet20', { seed: 1 });
  const d = diffModels(m, copyModel(m));
  assert.equal(d.identical, true);
  assert.equal(d.entries.length, m.graph.nodes.length);
  assert.ok(d.entries.every((e) => e.status === 'same' && e.match === 'name' && e.changes.length === 0));
  assert.deepEqual([d.counts.changed, d.counts.added, d.counts.removed, d.counts.replaced], [0, 0, 0, 0]);
  assert.equal(d.ratios.params, 1);
  assert.match(renderDiffText(d), /no changes: the models are the same layer for layer/);
  const f = join(dir, 'r20.onnx');
  saveModel(m, f);
  const r = runCli(['diff', f, f, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as ModelDiff;
  assert.equal(j.identical, true);
  assert.equal(j.counts.same, m.graph.nodes.length);
});

test('a corrupt or missing file is a named error (exit 1, no stack trace, no output file)', () => {
  const good = join(dir, 'ok.onnx');
  saveModel(smallCnn(), good);
  const bytes = readFileSync(good);
  const truncated = join(dir, 'truncated.onnx');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const garbage = join(dir, 'garbage.onnx');
  writeFileSync(garbage, Buffer.from('this is not an onnx model at all, just text\n'.repeat(20)));
  const out = join(dir, 'never.json');
  for (const [file, code] of [
    [truncated, 'PROTOBUF_TRUNCATED'],
    [garbage, 'PROTOBUF_INVALID'],
    [join(dir, 'missing.onnx'), 'FILE_NOT_FOUND'],
  ] as const) {
    const r = runCli(['diff', good, file, '--json', '-o', out]);
    assert.equal(r.code, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error (${code}|PROTOBUF_INVALID|PROTOBUF_TRUNCATED)`));
    if (file !== garbage) assert.match(r.stderr, new RegExp(code));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stdout, '');
    assert.throws(() => readFileSync(out));
  }
  assert.throws(
    () => readModel(truncated),
    (e: unknown) => e instanceof CompilerError && e.code === 'PROTOBUF_TRUNCATED',
  );
});

test('a conv replaced by Conv(group=m) → Relu → Conv(group=m) is ONE replacement (fresh names or the old name kept)', () => {
  const a = smallCnn();
  for (const keepName of [false, true]) {
    const b = tissueRewrite(a, 'conv_b', { groups: 4, hidden: 8, keepName });
    const d = diffModels(a, b);
    const rep = d.entries.filter((e) => e.status === 'replaced');
    assert.equal(rep.length, 1, statuses(d).join(' '));
    assert.equal(d.counts.added, 0);
    assert.equal(d.counts.removed, 0);
    const r = rep[0]!;
    assert.equal(r.match, 'structure');
    assert.deepEqual(
      r.before.map((l) => l.name),
      ['conv_b'],
    );
    assert.deepEqual(
      r.after.map((l) => l.op),
      ['Conv', 'Relu', 'Conv'],
    );
    assert.deepEqual(
      r.after.map((l) => l.groups),
      [4, null, 4],
    );
    // Params: dense 16·16·9 = 2304; units 32·(16/4)·9 + 16·(32/4)·1 = 1152 + 128.
    assert.deepEqual(r.params, { before: 2304, after: 1280 });
    // MACs at 8×8 outputs.
    assert.deepEqual(r.macs, { before: 2304 * 64, after: 1280 * 64 });
    // Every other node matched by name and is unchanged, in A's order around the replacement.
    assert.deepEqual(statuses(d), [
      'same:conv_a',
      'same:relu_a',
      `replaced:${keepName ? 'conv_b' : 'conv_b.unit1'}`,
      'same:relu_b',
      'same:conv_c',
      'same:gap',
      'same:flatten',
      'same:fc',
    ]);
    assert.equal(d.b.params - d.a.params, 1280 - 2304);
  }
});

test('a hybrid unit (Split → per-unit convs → Concat) is one replacement too', () => {
  const a = smallCnn();
  const b = hybridRewrite(a, 'conv_b');
  const d = diffModels(a, b);
  assert.equal(d.counts.replaced, 1, statuses(d).join(' '));
  assert.equal(d.counts.added + d.counts.removed, 0);
  const r = d.entries.find((e) => e.status === 'replaced')!;
  assert.deepEqual(
    r.after.map((l) => l.op),
    ['Split', 'Conv', 'Conv', 'Concat'],
  );
  assert.deepEqual(r.params, { before: 16 * 16 * 9, after: 4 * 8 * 9 + 12 * 8 * 9 });
});

test('fold-batchnorm: BN nodes show as removed, their convs as changed (weights and bias)', () => {
  const a = buildModel('vgg', { seed: 1 });
  const b = copyModel(a);
  runPasses(b, [createPass('fold-batchnorm')!]);
  const d = diffModels(a, b);
  const bns = a.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
  assert.ok(bns > 0);
  assert.equal(d.counts.removed, bns);
  assert.equal(d.counts.added, 0);
  assert.equal(d.counts.replaced, 0);
  const convs = d.entries.filter((e) => e.before[0]?.op === 'Conv');
  assert.ok(
    convs.every((e) => e.status === 'changed' && e.changes.includes('weights')),
    JSON.stringify(convs.map((e) => e.changes)),
  );
  // Removed entries sit right after the conv they followed.
  const order = d.entries.map((e) => e.before[0]?.op ?? e.after[0]!.op);
  for (let i = 0; i < order.length; i++) if (order[i] === 'BatchNormalization') assert.equal(order[i - 1], 'Conv');
});

test('without node names, nodes match by output name; without those too, by position', () => {
  const a = smallCnn();
  const b = copyModel(a);
  for (const n of b.graph.nodes) n.name = undefined;
  const d1 = diffModels(a, b);
  assert.equal(d1.counts.matchedBy.output, a.graph.nodes.length);
  assert.ok(d1.entries.every((e) => e.status === 'changed' || e.status === 'same'));
  // Only the name differs, and the name is not a compared field unless it is the label.
  const c = copyModel(a);
  let i = 0;
  for (const n of c.graph.nodes) {
    n.name = `renamed_${i++}`;
    for (const o of n.outputs) if (o && !c.graph.outputs.includes(o)) o.name = `v_${i}`;
  }
  const d2 = diffModels(a, c);
  // The graph output keeps its name ("logits"), so its producer still matches by output.
  assert.equal(d2.counts.matchedBy.output, 1);
  assert.equal(d2.counts.matchedBy.position, a.graph.nodes.length - 1);
  assert.ok(
    d2.entries.every((e) => e.status === 'same'),
    statuses(d2).join(' '),
  );
  assert.equal(d2.identical, true);
});

test('an inserted node is one "added" entry placed after its predecessor', () => {
  const a = smallCnn();
  const b = copyModel(a);
  const relu = b.graph.findNode('relu_a')!;
  const out = relu.outputs[0]!;
  const beta = b.graph.addInitializer(new Value('beta'), Tensor.fromFloat32('beta', [1, 16, 1, 1], new Float32Array(16).fill(1)));
  const y = new Value('scaled');
  out.replaceAllUsesWith(y);
  b.graph.insertAfter(relu, new Node({ opType: 'Mul', name: 'beta_mul', inputs: [out, beta], outputs: [y] }));
  const d = diffModels(a, b);
  assert.deepEqual(statuses(d).slice(0, 4), ['same:conv_a', 'same:relu_a', 'added:beta_mul', 'same:conv_b']);
  assert.equal(d.counts.added, 1);
  assert.equal(d.entries[2]!.params.after, 16);
});

test('a pruned ResNet-20 against its original: channels, params and MACs per layer; text ≤ 100 columns and stable', () => {
  const a = buildModel('resnet20', { seed: 1 });
  const b = pruneResnetBlocks(a, 0.5);
  const d = diffModels(a, b, { labelA: 'resnet20.onnx', labelB: 'resnet20-pruned.onnx' });
  const conv1s = d.entries.filter((e) => /^layer\d\.\d\.conv1$/.test(e.before[0]?.name ?? ''));
  assert.equal(conv1s.length, 9);
  for (const e of conv1s) {
    const [x, y] = [e.before[0]!, e.after[0]!];
    assert.equal(e.status, 'changed');
    assert.equal(y.outChannels, x.outChannels! / 2);
    assert.equal(y.params, x.params / 2);
    assert.equal(y.macs, x.macs / 2);
    assert.ok(e.changes.includes('outChannels'));
  }
  const conv2s = d.entries.filter((e) => /conv2$/.test(e.before[0]?.name ?? ''));
  for (const e of conv2s) assert.equal(e.after[0]!.inChannels, e.before[0]!.inChannels! / 2);
  assert.equal(d.a.params, computeCost(a).total.params);
  assert.equal(d.b.params, computeCost(b).total.params);
  const text = renderDiffText(d);
  for (const line of text.split('\n')) assert.ok([...line].length <= TEXT_WIDTH, `too wide (${[...line].length}): ${line}`);
  assert.equal(renderDiffText(diffModels(a, b, { labelA: 'resnet20.onnx', labelB: 'resnet20-pruned.onnx' })), text, 'the same diff renders the same text');
  assert.match(text, /layer1\.0\.conv1\s+Conv\s+16\s+16→8\s+3x3\s+2\.30K→1\.15K\s+2\.36M→1\.18M/);
  assert.match(text, /\(\d+ unchanged parameter-free nodes hidden; --all shows them\)/);
  const all = renderDiffText(d, { all: true });
  assert.ok(all.split('\n').length > text.split('\n').length);
  assert.ok(d.ratios.params! < 1 && d.ratios.macs! < 1);
});

test('models rewritten by `sculpt tissue`: every stacked layer is one replacement of the layer it replaced', () => {
  const src = join(dir, 'r20-src.onnx');
  saveModel(buildModel('resnet20', { seed: 1 }), src);
  const mlp = join(dir, 'mlp-src.onnx');
  saveModel(buildModel('mlp', { seed: 1 }), mlp);
  const runs: [string, string[]][] = [
    [src, ['--strategy', 'r', '--groups', '4']],
    [src, ['--strategy', 'r', '--hybrid', '8:8:8,16:16:16', '--seed', '1']],
    [mlp, ['--groups', '4']],
  ];
  for (const [input, args] of runs) {
    const out = join(dir, `tissue-${args.join('_').replace(/[^\w]/g, '')}.onnx`);
    const r = runCli(['tissue', input, '-o', out, ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const layers = (JSON.parse(r.stdout) as { tissue: { layers: { name: string; stacked: { params: number; macs: number } }[] } }).tissue.layers;
    assert.ok(layers.length > 0);
    const d = diffModels(readModel(input), readModel(out));
    const rep = d.entries.filter((e) => e.status === 'replaced');
    assert.deepEqual(
      rep.map((e) => e.before.map((l) => l.name)),
      layers.map((l) => [l.name]),
      args.join(' '),
    );
    assert.equal(d.counts.added + d.counts.removed + d.counts.changed, 0, args.join(' '));
    for (const [i, e] of rep.entries()) {
      assert.equal(e.match, 'structure');
      assert.equal(e.macs.after, layers[i]!.stacked.macs);
    }
  }
});

test('a pruned ResNet-20: only nodes whose own fields changed are "changed" (Relu, Add, pooling stay "same")', () => {
  const a = buildModel('resnet20', { seed: 1 });
  const b = pruneResnetBlocks(a, 0.5);
  const d = diffModels(a, b);
  const changed = d.entries.filter((e) => e.status === 'changed');
  assert.ok(changed.length > 0);
  for (const e of changed)
    assert.ok(['Conv', 'BatchNormalization'].includes(e.before[0]!.op), `${e.before[0]!.name} (${e.before[0]!.op}) marked changed: ${e.changes.join(',')}`);
  for (const e of d.entries.filter((x) => ['Relu', 'Add'].includes(x.before[0]?.op ?? ''))) {
    assert.equal(e.status, 'same');
    assert.deepEqual(e.changes, []);
  }
  // A Relu after a pruned conv: same, with the smaller output listed as derived.
  assert.ok(d.entries.some((e) => e.before[0]?.op === 'Relu' && e.derived.includes('outputShape')));
  assert.ok(d.counts.same > d.counts.changed);
});
