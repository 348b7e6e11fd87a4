/** Small models for trainer tests: a CNN for the 8x8 digits, with BN, and a linear model. */
import { GraphBuilder, Rng, attrInt, attrInts, attrFloat } from '../../src/index.js';
import type { Model } from '../../src/index.js';

/**
 * input [N,1,8,8] → Conv3x3(c, pad 1) → BatchNormalization → Relu → MaxPool 2 → Flatten →
 * Gemm(c·16 → 10) → logits. He-initialised from `seed`.
 */
export function digitsCnn(seed = 1, c = 8): Model {
  const rng = new Rng(seed);
  const b = GraphBuilder.newModel({ opset: 13 });
  const x = b.input('input', ['N', 1, 8, 8]);
  const w = b.floats('conv.weight', [c, 1, 3, 3], rng.normalArray(c * 9, Math.sqrt(2 / 9)));
  const cb = b.floats('conv.bias', [c], new Float32Array(c));
  let y = b.op('Conv', [x, w, cb], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])], 'conv');
  y = b.op(
    'BatchNormalization',
    [
      y,
      b.floats('bn.weight', [c], new Float32Array(c).fill(1)),
      b.floats('bn.bias', [c], new Float32Array(c)),
      b.floats('bn.running_mean', [c], new Float32Array(c)),
      b.floats('bn.running_var', [c], new Float32Array(c).fill(1)),
    ],
    [attrFloat('epsilon', 1e-5), attrFloat('momentum', 0.9)],
    'bn',
  );
  y = b.op('Relu', [y], [], 'relu');
  y = b.op('MaxPool', [y], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])], 'pool');
  y = b.op('Flatten', [y], [attrInt('axis', 1)], 'flatten');
  const k = c * 16;
  y = b.op(
    'Gemm',
    [y, b.floats('fc.weight', [10, k], rng.normalArray(10 * k, Math.sqrt(1 / k))), b.floats('fc.bias', [10], new Float32Array(10))],
    [attrInt('transB', 1)],
    'fc',
  );
  const out = b.output(y, 'logits');
  out.setTensorType(1, ['N', 10]);
  for (const v of b.model.graph.nodes.flatMap((n) => n.outputs)) if (v && v !== out && !v.type) v.setTensorType(1, undefined);
  return b.model;
}

/** The values of every initializer, by name. */
export function weights(m: Model): Map<string, Float32Array> {
  return new Map(m.graph.initializers.map((v) => [v.name, v.initializer!.toFloat32().slice()]));
}
