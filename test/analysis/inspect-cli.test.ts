/**
 * `sculpt inspect`: --json parses and its totals equal computeCost; the layer table fits 100
 * columns; bad input (corrupt, truncated, missing, contradictory) exits 1 with the error code
 * on stderr and no stack trace.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, Rng, attrInts, computeCost, readModel, saveModel } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { runCli, tempDir } from '../helpers.js';

const dir = tempDir();
const r20 = join(dir, 'resnet20.onnx');
saveModel(buildModel('resnet20', { seed: 3 }), r20);

function assertCleanError(r: { code: number; stderr: string; stdout: string }, code: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`error ${code}\\b`));
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
  assert.equal(r.stdout, '');
}

describe('sculpt inspect', () => {
  it('--json totals equal computeCost, and describe the interface', () => {
    const r = runCli(['inspect', r20, '--json', '--batch', '8', '--layers']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const cost = computeCost(readModel(r20), { batch: 8 });
    assert.deepEqual(j.totals, { ...cost.total, fileBytes: statSync(r20).size });
    assert.equal(j.batch, 8);
    assert.equal(j.irVersion, 8);
    assert.deepEqual(j.opsets, [{ domain: 'ai.onnx', version: 17 }]);
    assert.deepEqual(j.inputs, [{ name: 'input', elemType: 'float', shape: ['N', 3, 32, 32] }]);
    assert.deepEqual(j.outputs, [{ name: 'logits', elemType: 'float', shape: ['N', 10] }]);
    assert.deepEqual(j.shapeInference.unknown, []);
    // --layers lists the weight and window layers: 21 convs + 21 BNs + fc (ResNet-20 with 2 projections)
    assert.equal(j.layers.length, 21 + 21 + 1);
    const sum = j.layers.reduce((a: number, l: { macs: number }) => a + l.macs, 0);
    assert.equal(sum, cost.total.macs);
    const conv = j.layers.find((l: { name: string }) => l.name === 'layer3.0.conv1');
    assert.deepEqual(
      [conv.op, conv.inChannels, conv.outChannels, conv.kernel, conv.stride, conv.groups, conv.params],
      ['Conv', 32, 64, [3, 3], [2, 2], 1, 18_432],
    );
    assert.equal(conv.macs, 8 * 64 * 8 * 8 * 32 * 9);
  });

  it('text report: totals, and a --layers table within 100 columns in a stable order', () => {
    const a = runCli(['inspect', r20, '--layers']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /params\s+272,474/);
    assert.match(a.stdout, /MACs\s+40,813,184/);
    assert.match(a.stdout, /inputs\s+input\s+float\[N,3,32,32\]/);
    for (const line of a.stdout.split('\n')) assert.ok(line.length <= 100, `too wide: ${line}`);
    const lines = a.stdout.trimEnd().split('\n');
    const rows = lines.slice(lines.findIndex((l) => /^-{90,}$/.test(l)) + 1);
    assert.equal(rows.length, 43);
    assert.match(rows[0]!, /^conv1\s+Conv\s+3\s+16\s+3x3\s+1x1\s+1\s+442K\s+432$/);
    assert.equal(runCli(['inspect', r20, '--layers']).stdout, a.stdout);
    const all = runCli(['inspect', r20, '--layers', '--all', '--json']);
    assert.equal(JSON.parse(all.stdout).layers.length, readModel(r20).graph.nodes.length);
  });

  it('--help teaches with examples', () => {
    const r = runCli(['inspect', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--layers/);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /FLOPs = 2 x MACs/);
  });

  it('random bytes, a truncated file and a missing file exit 1 with their codes, no stack trace', () => {
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, Buffer.from(new Rng(7).uniformArray(4096, 0, 1).buffer));
    const r = runCli(['inspect', junk]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error PROTOBUF_(INVALID|TRUNCATED)\b/);
    assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m);
    const cut = join(dir, 'cut.onnx');
    const bytes = readFileSync(r20);
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1000));
    assertCleanError(runCli(['inspect', cut]), 'PROTOBUF_TRUNCATED');
    assertCleanError(runCli(['inspect', join(dir, 'absent.onnx')]), 'FILE_NOT_FOUND');
  });

  it('a contradictory model is SHAPE_INFERENCE_FAILED naming the node; bad --batch is an error', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [1, 3, 8, 8]);
    b.output(b.op('Conv', [x, b.floats('w', [4, 5, 3, 3], new Float32Array(180))], [attrInts('kernel_shape', [3, 3])], 'bad_conv'));
    const p = join(dir, 'bad.onnx');
    saveModel(b.model, p);
    const r = runCli(['inspect', p]);
    assertCleanError(r, 'SHAPE_INFERENCE_FAILED');
    assert.match(r.stderr, /bad_conv/);
    // A bad --batch is a usage error (exit 2), found before the model is read.
    const bad = runCli(['inspect', r20, '--batch', '0']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^usage error: --batch 0/);
  });
});
