/**
 * Which value the fitness compares: by default the feature map of the last conv layer, taken
 * where the network last holds it at full spatial size: from the last Conv's output, follow
 * the single consumer through ops that keep the shape (BatchNorm, activations, Add with the
 * shortcut, the mask Mul) and stop before the first op that changes it (pooling, Flatten).
 * In a ResNet that is the last block's output after its Add and Relu; on a masked network
 * it is that value times its mask, which is what the next layer reads.
 */
import { CompilerError } from '../errors.js';
import type { Model, Value } from '../ir/core.js';
import { topologicalOrder } from '../ir/toposort.js';

const KEEPS_SHAPE = new Set([
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Mish',
  'Softplus',
  'Identity',
  'Add',
  'Mul',
  'Sub',
  'Div',
  'Dropout',
  'InstanceNormalization',
]);

function sameShape(a: Value, b: Value): boolean {
  const x = a.shape,
    y = b.shape;
  return !!x && !!y && x.length === y.length && x.every((d, i) => d === y[i]);
}

/**
 * The last conv's feature map, as described above. Shapes must be inferred.
 * @throws PRECONDITION_FAILED when the model has no Conv
 */
export function lastConvFeature(model: Model): Value {
  const g = model.graph;
  const convs = topologicalOrder(g).filter((n) => n.opType === 'Conv' && n.outputs[0]);
  const last = convs[convs.length - 1];
  if (!last)
    throw new CompilerError('PRECONDITION_FAILED', 'the model has no Conv layer, so it has no "last conv feature map"', {
      hint: 'name the value to compare with --feature',
    });
  let v = last.outputs[0]!;
  for (;;) {
    if (g.outputs.includes(v)) return v;
    const uses = v.uses();
    if (uses.length !== 1) return v;
    const n = uses[0]!.node;
    const o = n.outputs[0];
    if (!KEEPS_SHAPE.has(n.opType) || !o || !sameShape(v, o)) return v;
    v = o;
  }
}

/** A value of the main graph by name. @throws MISSING_VALUE */
export function valueNamed(model: Model, name: string): Value {
  const g = model.graph;
  for (const v of g.inputs) if (v.name === name) return v;
  for (const n of g.nodes) for (const o of n.outputs) if (o && o.name === name) return o;
  for (const v of g.initializers) if (v.name === name) return v;
  throw new CompilerError('MISSING_VALUE', `no value named "${name}" in the main graph`, {
    where: name,
    hint: 'list values with `sculpt inspect model.onnx --layers`',
  });
}
