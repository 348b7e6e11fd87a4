/**
 * Frozen parameters cost nothing in the backward pass (issue 12): when only BatchNorm
 * scales train (β learning) or the classifier is frozen (recovery), no weight-gradient
 * kernel runs for a frozen conv or dense weight, and nothing upstream of the first
 * trainable parameter is differentiated at all.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { GraphBuilder, Rng, attrInt, attrInts, attrFloat, loadDatasetFor, selectBackend, train } from '../../src/index.js';
import type { Model, TrainOptions } from '../../src/index.js';

before(async () => {
  await selectBackend('cpu');
});

/** input [N,1,8,8] → conv 3×3 (8) → BN → Relu → depthwise 3×3 → BN → Relu → GAP → Gemm. */
function net(): Model {
  const rng = new Rng(1);
  const b = GraphBuilder.newModel({ opset: 13 });
  const bn = (x: ReturnType<typeof b.input>, name: string) =>
    b.op(
      'BatchNormalization',
      [
        x,
        b.floats(`${name}.weight`, [8], new Float32Array(8).fill(1)),
        b.floats(`${name}.bias`, [8], new Float32Array(8)),
        b.floats(`${name}.running_mean`, [8], new Float32Array(8)),
        b.floats(`${name}.running_var`, [8], new Float32Array(8).fill(1)),
      ],
      [attrFloat('epsilon', 1e-5)],
      name,
    );
  let y = b.op(
    'Conv',
    [b.input('input', ['N', 1, 8, 8]), b.floats('conv.weight', [8, 1, 3, 3], rng.normalArray(72, 0.5))],
    [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])],
    'conv',
  );
  y = b.op('Relu', [bn(y, 'bn1')], [], 'relu1');
  y = b.op(
    'Conv',
    [y, b.floats('dw.weight', [8, 1, 3, 3], rng.normalArray(72, 0.5))],
    [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInt('group', 8)],
    'dw',
  );
  y = b.op('Relu', [bn(y, 'bn2')], [], 'relu2');
  y = b.op('Flatten', [b.op('GlobalAveragePool', [y], [], 'gap')], [attrInt('axis', 1)], 'flatten');
  y = b.op(
    'Gemm',
    [y, b.floats('fc.weight', [10, 8], rng.normalArray(80, 0.3)), b.floats('fc.bias', [10], new Float32Array(10))],
    [attrInt('transB', 1)],
    'fc',
  );
  b.output(y, 'logits');
  return b.model;
}

async function kernelsOfTraining(trainable: TrainOptions['trainable']): Promise<Set<string>> {
  const m = net();
  const data = loadDatasetFor(m, 'digits', { split: 'train', limit: 64, seed: 1 });
  const info = await tf.profile(async () => {
    await train(m, { data, batchSize: 32, steps: 2, trainable, backend: 'cpu', seed: 1, recalibrateBatchNorm: 0 });
  });
  return new Set(info.kernels.map((k) => k.name));
}

const WEIGHT_GRADS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'];

test('with every weight trainable, the weight-gradient kernels run (the check below means something)', async () => {
  const k = await kernelsOfTraining('all');
  for (const n of WEIGHT_GRADS) assert.ok(k.has(n), `${n} ran`);
});

test('β learning (only BN scales train): no weight-gradient kernel runs, and nothing before the first BN is differentiated', async () => {
  const k = await kernelsOfTraining((n) => /^bn\d\.weight$/.test(n));
  for (const n of WEIGHT_GRADS) assert.ok(!k.has(n), `${n} must not run for frozen weights`);
  // conv is upstream of bn1 and frozen: no input gradient is needed for it either
  assert.ok(!k.has('Conv2DBackpropInput'), 'no Conv2DBackpropInput for the first, frozen conv');
});

test('recovery with a frozen classifier and frozen first conv: only the depthwise weight gradient runs', async () => {
  const k = await kernelsOfTraining((n) => n === 'dw.weight' || n.startsWith('bn2.'));
  assert.ok(k.has('DepthwiseConv2dNativeBackpropFilter'));
  assert.ok(!k.has('Conv2DBackpropFilter'), 'the frozen convs get no weight gradient');
});
