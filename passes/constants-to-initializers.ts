/**
 * constants-to-initializers: weight-carrying `Constant` nodes become initializers.
 *
 * Real exporters often store weights as Constant nodes; every analysis that looks for
 * weights (cost, channel groups, folding) then sees one form.
 *
 * Cases:
 *  1. `value` tensor attribute                 → initializer holding that tensor
 *  2. value_float / value_int                  → scalar initializer
 *  3. value_floats / value_ints                → 1-D initializer
 *  4. value_string(s), sparse_value            → left alone (remark)
 *  5. the Constant's output is a graph output  → left alone (remark: outputs keep a producer)
 *  6. Constants inside subgraphs               → initializers of that subgraph
 *
 *   before:  %w = Constant() {value=tensor float[8,3,3,3]}      %y = Conv(%x, %w)
 *   after:   init %w: float[8,3,3,3]                             %y = Conv(%x, %w)
 */
import { DataType, Tensor } from '../src/core.js';
import type { Graph, Model, Node, Pass, PassDefinition, PassContext, PassResult } from '../src/core.js';

function constantTensor(n: Node): Tensor | string {
  const a = n.attributes[0];
  if (n.attributes.length !== 1 || !a) return 'Constant must have exactly one value attribute';
  const v = a.v;
  switch (a.name) {
    case 'value':
      return v.type === 4 ? v.value.clone() : 'value is not a tensor';
    case 'value_float':
      return v.type === 1 ? Tensor.fromFloat32(undefined, [], [v.value]) : 'bad value_float';
    case 'value_floats':
      return v.type === 6 ? Tensor.fromFloat32(undefined, [v.value.length], v.value) : 'bad value_floats';
    case 'value_int':
      return v.type === 2 ? Tensor.fromInt64(undefined, [], [v.value]) : 'bad value_int';
    case 'value_ints':
      return v.type === 7 ? Tensor.fromInt64(undefined, [v.value.length], v.value) : 'bad value_ints';
    default:
      return `${a.name} constants stay as nodes`;
  }
}

function run(model: Model, ctx: PassContext): PassResult {
  let converted = 0;
  let kept = 0;
  const visit = (g: Graph) => {
    const todo: Node[] = [];
    for (const n of g.nodes) {
      for (const sg of n.subgraphs()) visit(sg);
      if (n.opType === 'Constant' && n.domain === '') todo.push(n);
    }
    for (const n of todo) {
      const out = n.outputs[0];
      const t = constantTensor(n);
      if (!out || typeof t === 'string') {
        ctx.remark(n.where, typeof t === 'string' ? t : 'Constant has no output');
        kept++;
        continue;
      }
      if (out.isGraphOutput()) {
        ctx.remark(n.where, `"${out.name}" is a graph output; kept as a Constant node`);
        kept++;
        continue;
      }
      n.setOutput(0, null);
      g.removeNode(n);
      t.name = out.name;
      g.addInitializer(out, t);
      if (!out.type) out.setTensorType(t.dataType ?? DataType.FLOAT, t.shape);
      if (model.irVersion !== undefined && Number(model.irVersion) < 4) g.addInput(out);
      converted++;
    }
  };
  visit(model.graph);
  return { changed: converted > 0, stats: { converted, kept } };
}

export function constantsToInitializersPass(): Pass {
  return {
    name: 'constants-to-initializers',
    summary: 'turn weight-carrying Constant nodes into initializers',
    run,
  };
}

/** No options. */
export const constantsToInitializers: PassDefinition<Record<string, never>> = {
  name: 'constants-to-initializers',
  summary: constantsToInitializersPass().summary,
  cli: {},
  create: () => constantsToInitializersPass(),
};
