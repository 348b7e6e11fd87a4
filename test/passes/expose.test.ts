/**
 * expose-masks / expose-outputs goldens on small constructs (residual stream, concat,
 * flatten → gemm): the printed IR before and after, the statistics, and in onnxruntime the
 * masked model with all-ones masks computes the original's outputs (to float rounding).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, decodeModel, encodeModel, maxAbsDiff, printModel, runModel, runPasses } from '../../src/index.js';
import type { HostTensor } from '../../src/index.js';
import { createPass } from '../../passes/index.js';
import { construct } from '../prune/graphs.js';
import { seededFeeds } from '../helpers.js';
import { checkGolden, statsText } from '../golden.js';

for (const name of ['residual', 'densenet-concat', 'flatten-gemm']) {
  test(`expose-masks / ${name}: golden IR; all-ones masks give the original outputs`, async () => {
    const original = construct(name).build(1, true);
    const model = decodeModel(encodeModel(original));
    const inputText = printModel(model);
    const r = runPasses(model, [createPass('expose-masks')!]);
    checkGolden('expose-masks', name, { input: inputText, expected: printModel(model), stats: statsText(r) });
    const feeds = seededFeeds(original, 3, 2, -1, 1);
    const withMasks: Record<string, HostTensor> = { ...feeds };
    for (const v of model.graph.inputs) {
      if (feeds[v.name] || v.initializer) continue;
      assert.equal(v.elemType, DataType.FLOAT);
      withMasks[v.name] = { data: new Float32Array(v.shape![0] as number).fill(1), dims: [v.shape![0] as number] };
    }
    const [a, b] = [await runModel(original, feeds), await runModel(model, withMasks)];
    // Equal up to float rounding: onnxruntime fuses Conv+Add+Relu differently once a Mul sits between them.
    for (const k of Object.keys(a)) {
      const d = maxAbsDiff(a[k]!, b[k]!);
      assert.ok(d.maxAbs <= 1e-6 * Math.max(1, d.scale), `${k}: ${d.maxAbs} (scale ${d.scale})`);
    }
  });
}

test('expose-outputs / residual: the last conv feature becomes a second output', async () => {
  const original = construct('residual').build(1, true);
  const model = decodeModel(encodeModel(original));
  const inputText = printModel(model);
  const r = runPasses(model, [createPass('expose-outputs')!]);
  checkGolden('expose-outputs', 'residual', { input: inputText, expected: printModel(model), stats: statsText(r) });
  assert.equal(model.graph.outputs.length, original.graph.outputs.length + 1);
  const y = await runModel(model, seededFeeds(original, 3, 2));
  assert.equal(Object.keys(y).length, model.graph.outputs.length);
});
