/**
 * Every reference model, at its defaults and at other opsets, sizes and batches: the shape
 * inferred for every node output equals the shape onnxruntime produces for it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, MODEL_CATALOG } from '../../models/index.js';
import type { BuildOptions, ModelName } from '../../models/index.js';
import { assertShapesMatchOrt } from './ort-shapes.js';

async function matches(name: ModelName, opts: BuildOptions, batch: number): Promise<void> {
  const m = buildModel(name, opts);
  const r = await assertShapesMatchOrt(m, { batch });
  const outputs = m.graph.nodes.reduce((a, n) => a + n.outputs.filter(Boolean).length, 0);
  assert.equal(r.compared, outputs);
  assert.equal(r.result.inferred, outputs);
}

describe('reference models: inferred shapes equal onnxruntime for every intermediate value', () => {
  it('covers the whole catalogue', () => {
    assert.deepEqual(MODEL_CATALOG.map((e) => e.name).sort(), ['lenet5', 'mlp', 'mobilenetv2', 'resnet20', 'resnet50', 'vgg']);
  });

  for (const { name } of MODEL_CATALOG) {
    if (name === 'resnet50') continue;
    it(`${name} at its defaults, symbolic batch run as 2`, () => matches(name, {}, 2));
    it(`${name} at opset 7 and 21, static batch 3`, async () => {
      await matches(name, { opset: 7, batch: 3 }, 3);
      await matches(name, { opset: 21, batch: 3 }, 3);
    });
  }

  it('the 32x32x3 variants and width multipliers', async () => {
    await matches('lenet5', { size: 32, channels: 3 }, 1);
    await matches('vgg', { size: 32, channels: 3, width: 0.5 }, 2);
    await matches('resnet20', { width: 0.75, opset: 11 }, 2);
    await matches('mobilenetv2', { size: 96, width: 0.5, opset: 13 }, 1);
  });

  it('resnet50 at 224x224', () => matches('resnet50', {}, 1));
});
