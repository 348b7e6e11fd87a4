/** `sculpt transform` on reference models: lossless without passes, BN folding exact with them. */
import { compareEncoded } from '../../src/serde/compare.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, maxAbsDiff, readModel, runModel, saveModel } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import type { ModelName } from '../../models/index.js';
import { runCli, seededFeeds, tempDir } from '../helpers.js';

const dir = tempDir();

for (const name of ['resnet20', 'mobilenetv2', 'vgg'] as ModelName[]) {
  test(`transform ${name}: no passes is lossless; fold-batchnorm removes every BN and agrees in onnxruntime`, async () => {
    const src = join(dir, `${name}.onnx`);
    saveModel(buildModel(name, { seed: 5 }), src);
    const copy = join(dir, `${name}-copy.onnx`);
    const r0 = runCli(['transform', src, '-o', copy]);
    assert.equal(r0.code, 0, r0.stderr);
    assert.deepEqual(compareEncoded(readFileSync(src), readFileSync(copy)), []);

    const out = join(dir, `${name}-folded.onnx`);
    const r = runCli(['transform', src, '-o', out, '--passes', 'constants-to-initializers,fold-batchnorm', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    const original = readModel(src);
    const bnCount = original.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
    assert.ok(bnCount > 0);
    assert.equal(summary.passes[1].stats.folded, bnCount);
    const folded = readModel(out);
    assert.equal(folded.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);
    const feeds = seededFeeds(original, 3, 2);
    const [a, b] = [await runModel(original, feeds), await runModel(folded, feeds)];
    const { maxAbs, scale } = maxAbsDiff(a.logits!, b.logits!);
    assert.ok(maxAbs <= 1e-4 * Math.max(1, scale), `max abs diff ${maxAbs} at scale ${scale}`);
  });
}

test('every pass `sculpt passes` lists runs from `transform --passes x --pass-option x.key=value` (prune-channels included)', async () => {
  const src = join(dir, 'mlp-passes.onnx');
  saveModel(buildModel('mlp', { seed: 3 }), src);
  const list = JSON.parse(runCli(['passes', '--json']).stdout) as { name: string; options: { key: string }[] }[];
  assert.ok(list.some((p) => p.name === 'prune-channels'));
  // Options a pass needs to do something on the MLP; a pass that needs none runs bare.
  const mask = join(dir, 'mlp-mask.json');
  writeFileSync(mask, JSON.stringify({ keep: { 'fc1.bias': Array.from({ length: 250 }, (_, i) => 2 * i) } }));
  const needs: Record<string, string[]> = {
    'prune-channels': [`prune-channels.mask=${mask}`],
    tissue: ['tissue.select=fc1', 'tissue.groups=4', 'tissue.seed=1'],
  };
  // expose-outputs needs a value to expose (a list option: comma-separated names).
  const extra: Record<string, string[]> = { 'expose-outputs': ['expose-outputs.outputs=logits'] };
  for (const p of list) {
    const out = join(dir, `mlp-${p.name}.onnx`);
    const args = ['transform', src, '-o', out, '--passes', p.name, '--json', ...(needs[p.name] ?? extra[p.name] ?? []).flatMap((o) => ['--pass-option', o])];
    const r = runCli(args);
    assert.equal(r.code, 0, `${p.name}: ${r.stderr}`);
    const s = JSON.parse(r.stdout);
    if (needs[p.name]) assert.equal(s.passes[0].changed, true, p.name);
  }
  // prune-channels through transform computes what the masked original computes.
  const original = readModel(src);
  const pruned = readModel(join(dir, 'mlp-prune-channels.onnx'));
  assert.equal(pruned.graph.initializers.find((v) => v.name === 'fc1.weight')?.initializer?.dims[0], 250);
  const masked = readModel(src);
  const w = masked.graph.initializers.find((v) => v.name === 'fc1.weight')!.initializer!;
  const b = masked.graph.initializers.find((v) => v.name === 'fc1.bias')!.initializer!;
  const wd = w.toFloat32();
  const bd = b.toFloat32();
  const cols = Number(w.dims[1]!);
  for (let o = 1; o < 500; o += 2) {
    bd[o] = 0;
    wd.fill(0, o * cols, (o + 1) * cols);
  }
  const mw = masked.graph.initializers.find((v) => v.name === 'fc1.weight')!;
  const mb = masked.graph.initializers.find((v) => v.name === 'fc1.bias')!;
  mw.initializer = Tensor.fromFloat32('fc1.weight', [...w.dims], wd);
  mb.initializer = Tensor.fromFloat32('fc1.bias', [...b.dims], bd);
  const feeds = seededFeeds(original, 4, 2);
  const [x, y] = [await runModel(masked, feeds), await runModel(pruned, feeds)];
  const out = Object.keys(x)[0]!;
  const { maxAbs, scale } = maxAbsDiff(x[out]!, y[out]!);
  assert.ok(maxAbs <= 1e-5 * Math.max(1, scale), `max abs diff ${maxAbs}`);
});

test('transform --pass-option: unknown key, bad value, pass not in --passes, malformed flag are usage errors (exit 2, INVALID_OPTION)', () => {
  const src = join(dir, 'mlp-passes.onnx');
  const out = join(dir, 'never.onnx');
  for (const [opt, passes] of [
    ['tissue.nope=1', 'tissue'],
    ['tissue.seed=-1', 'tissue'],
    ['tissue.shuffle=yes', 'tissue'],
    ['tissue.seed=1', 'fold-batchnorm'],
    ['tissue-seed', 'tissue'],
    ['fold-batchnorm.x=1', 'fold-batchnorm'],
  ] as const) {
    const r = runCli(['transform', src, '-o', out, '--passes', passes, '--pass-option', opt]);
    assert.equal(r.code, 2, opt);
    assert.match(r.stderr, /INVALID_OPTION/, opt);
  }
  assert.ok(!existsSync(out));
});
