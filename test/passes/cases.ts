/** Small input models for the pass golden tests: one builder per case. */
import { GraphBuilder, Rng, Tensor, attrFloat, attrInt, attrInts, attrTensor, Graph, Node, Value, attrFloats } from '../../src/index.js';
import type { Model } from '../../src/index.js';

function convBn(b: GraphBuilder, x: Value, cin: number, cout: number, seed: number, opts: { bias?: boolean; w?: Value; training?: boolean } = {}): Value {
  const r = new Rng(seed);
  const w = opts.w ?? b.floats('w', [cout, cin, 3, 3], r.normalArray(cout * cin * 9, 0.3));
  const ins = [x, w];
  if (opts.bias !== false) ins.push(b.floats('b', [cout], r.normalArray(cout)));
  const c = b.op('Conv', ins, [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])], 'conv');
  const bnAttrs = [attrFloat('epsilon', 1e-3)];
  if (opts.training) bnAttrs.push(attrInt('training_mode', 1));
  return b.op(
    'BatchNormalization',
    [
      c,
      b.floats('gamma', [cout], r.uniformArray(cout, 0.5, 1.5)),
      b.floats('beta', [cout], r.normalArray(cout)),
      b.floats('mean', [cout], r.normalArray(cout, 0.5)),
      b.floats('var', [cout], r.uniformArray(cout, 0.2, 2)),
    ],
    bnAttrs,
    'bn',
  );
}

export const foldBatchNormCases: Record<string, () => Model> = {
  'conv-bn-bias': () => {
    const b = GraphBuilder.newModel();
    const x = b.input('x', [1, 3, 6, 6]);
    b.output(b.op('Relu', [convBn(b, x, 3, 4, 1)], [], 'relu'), 'y');
    return b.model;
  },
  'bn-output-is-graph-output-no-bias': () => {
    const b = GraphBuilder.newModel();
    const x = b.input('x', [1, 3, 6, 6]);
    b.output(convBn(b, x, 3, 4, 2, { bias: false }), 'y');
    return b.model;
  },
  'shared-weight': () => {
    const b = GraphBuilder.newModel();
    const x = b.input('x', [1, 4, 6, 6]);
    const w = b.floats('shared_w', [4, 4, 3, 3], new Rng(3).normalArray(144, 0.3));
    const a = convBn(b, x, 4, 4, 4, { w });
    b.output(convBn(b, a, 4, 4, 5, { w }), 'y');
    return b.model;
  },
  'training-mode-not-folded': () => {
    const b = GraphBuilder.newModel({ opset: 15 });
    const x = b.input('x', [1, 3, 6, 6]);
    b.output(convBn(b, x, 3, 4, 6, { training: true }), 'y');
    return b.model;
  },
  'conv-output-read-twice-not-folded': () => {
    const b = GraphBuilder.newModel();
    const x = b.input('x', [1, 3, 6, 6]);
    const bn = convBn(b, x, 3, 4, 7);
    const conv = bn.producer!.inputs[0]!;
    b.output(b.op('Add', [bn, conv], [], 'add'), 'y');
    return b.model;
  },
};

export const constantsCases: Record<string, () => Model> = {
  'value-kinds': () => {
    const b = GraphBuilder.newModel();
    const x = b.input('x', [2, 3]);
    const t = b.op('Constant', [], [attrTensor('value', Tensor.fromFloat32(undefined, [2, 3], new Rng(1).normalArray(6)))], 'const_t');
    const f = b.op('Constant', [], [attrFloat('value_float', 0.5)], 'const_f');
    const fs = b.op('Constant', [], [attrFloats('value_floats', [1, 2, 3])], 'const_fs');
    const shape = b.op('Constant', [], [attrInts('value_ints', [3, 2])], 'const_shape');
    const y = b.op('Reshape', [b.op('Mul', [b.op('Add', [x, t]), f]), shape]);
    b.output(b.op('Add', [b.op('Transpose', [y]), fs]), 'y');
    return b.model;
  },
  'graph-output-kept': () => {
    const b = GraphBuilder.newModel();
    b.input('x', [1]);
    b.output(b.op('Constant', [], [attrFloats('value_floats', [4, 5])], 'const_out'), 'y');
    return b.model;
  },
  'inside-if-subgraph': () => {
    const b = GraphBuilder.newModel();
    const cond = b.input('cond', [], 9);
    const x = b.input('x', [3]);
    const branch = (name: string, val: number[]) => {
      const g = new Graph(name);
      const c = new Value(b.fresh(`${name}_c`));
      g.appendNode(new Node({ opType: 'Constant', name: b.fresh(`${name}_const`), outputs: [c], attributes: [attrFloats('value_floats', val)] }));
      const o = new Value(b.fresh(`${name}_out`));
      o.setTensorType(1, [3]);
      g.appendNode(new Node({ opType: 'Add', name: b.fresh(`${name}_add`), inputs: [x, c], outputs: [o] }));
      g.addOutput(o);
      return g;
    };
    const [y] = b.node(
      'If',
      [cond],
      [
        { name: 'then_branch', v: { type: 5, value: branch('then', [1, 2, 3]) } },
        { name: 'else_branch', v: { type: 5, value: branch('else', [-1, -2, -3]) } },
      ],
      { name: 'if' },
    );
    for (const n of b.graph.nodes) for (const g of n.subgraphs()) g.parent = b.graph;
    b.output(y!, 'y');
    return b.model;
  },
};
