/**
 * GWCS on a tf2onnx-style net (NHWC input through a Transpose, swish, a residual Add, global
 * average pooling as ReduceMean, the classifier as MatMul + Add): the searched masked session
 * gives the feature the pruned model gives. The masks sat after the ReduceMean, so the
 * feature (the activation before it) was never masked and `sculpt search` refused every
 * genome with NUMERIC_MISMATCH.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, attrInt, attrInts, prepareSearch } from '../../src/index.js';
import { checkGenome } from '../../src/search/gwcs.js';
import { Net } from '../prune/graphs.js';

test('GWCS on a channels-last, tf2onnx-style net: every single dropped channel gives the pruned model its masked feature', async () => {
  const n = new Net(4, 13);
  const nhwc = n.b.input('input_1', ['unk__12', 8, 8, 3]);
  const x = n.b.op('Transpose', [nhwc], [attrInts('perm', [0, 3, 1, 2])]);
  const c1 = n.relu(n.conv(x, 3, 8, 3, { name: 'c1' }));
  const c2 = n.conv(c1, 8, 12, 3, { name: 'c2', stride: 2 });
  const a2 = n.b.op('Mul', [c2, n.b.op('Sigmoid', [c2])]);
  const r3 = n.relu(n.add(n.conv(a2, 12, 12, 3, { name: 'c3' }), a2));
  const gap = n.b.op('ReduceMean', [r3], [attrInts('axes', [2, 3]), attrInt('keepdims', 0)]);
  const logits = n.b.op('Add', [n.b.op('MatMul', [gap, n.weights('fc_w', [12, 5], 12)]), n.vec('fc_b', 5)]);
  n.b.output(n.b.op('Softmax', [logits], [attrInt('axis', -1)]), 'dense');
  const p = prepareSearch(n.model, { grouping: 'ggs', fitness: 'wca' });
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
