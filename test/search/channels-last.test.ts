/**
 * GWCS on a tf2onnx-style net (NHWC input through a Transpose, swish, a residual Add, global
 * average pooling as ReduceMean, the classifier as MatMul + Add): the searched masked session
 * gives the feature the pruned model gives. The masks sat after the ReduceMean, so the
 * feature (the activation before it) was never masked and `sculpt search` refused every
 * genome with NUMERIC_MISMATCH.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, prepareSearch } from '../../src/index.js';
import { checkGenome } from '../../src/search/gwcs.js';
import { tf2onnxStyleNet } from '../prune/graphs.js';

test('GWCS on a channels-last, tf2onnx-style net: every single dropped channel gives the pruned model its masked feature', async () => {
  const { model, r3 } = tf2onnxStyleNet(4);
  const p = prepareSearch(model, { grouping: 'ggs', fitness: 'wca' });
  assert.equal(p.feature.original, r3.name);
  const bits = p.space.groups.reduce((s, g) => s + g.size, 0);
  assert.equal(bits, 8 + 12, 'both prunable groups are searched');
  const xs = new Rng(2).uniformArray(3 * 8 * 8 * 3);
  for (let b = 0; b < bits; b++) {
    const genome = new Uint8Array(bits).fill(1);
    genome[b] = 0;
    const r = await checkGenome(p, genome, xs, [3, 8, 8, 3]);
    assert.ok(r.relative <= 1e-5, `bit ${b}: relative ${r.relative}`);
  }
});
