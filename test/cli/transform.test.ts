/** `sculpt transform` on reference models: lossless without passes, BN folding exact with them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareEncoded, maxAbsDiff, readModel, runModel, saveModel } from '../../src/index.js';
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
