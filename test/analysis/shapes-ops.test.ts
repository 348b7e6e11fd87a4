/**
 * Shape inference per op family on small hand-built graphs, opset variants included, each
 * checked value by value against the shapes onnxruntime produces.
 */
import { inferInto } from '../helpers.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, GraphBuilder, Tensor, attrFloat, attrFloats, attrInt, attrInts, attrString, attrTensor } from '../../src/index.js';
import type { Value } from '../../src/index.js';
import { assertShapesMatchOrt } from './ort-shapes.js';

/** IR version an exporter writes beside an opset (onnx helper's table). */
function irFor(opset: number): number {
  if (opset <= 8) return 3 + (opset >= 7 ? 1 : 0);
  if (opset <= 9) return 4;
  if (opset === 10) return 5;
  if (opset === 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** Builds a graph at `opset`, marks the returned values as outputs, and checks every shape against onnxruntime. */
async function checked(opset: number, build: (b: GraphBuilder) => Value | Value[]): Promise<GraphBuilder> {
  const b = GraphBuilder.newModel({ opset, irVersion: irFor(opset) });
  for (const o of [build(b)].flat()) b.output(o);
  const r = await assertShapesMatchOrt(b.model, { batch: 3 });
  assert.ok(r.compared > 0);
  return b;
}

async function check(opset: number, build: (b: GraphBuilder) => Value | Value[]): Promise<void> {
  await checked(opset, build);
}

const w = (b: GraphBuilder, name: string, dims: number[]) => b.floats(name, dims, new Float32Array(dims.reduce((a, c) => a * c, 1)).fill(0.01));
const shapeOf = (b: GraphBuilder, name: string) => b.model.graph.nodes.flatMap((n) => n.outputs).find((o) => o?.name === name)?.shape;

describe('Conv', () => {
  it('pads, strides, dilations, bias, symbolic batch', () =>
    check(17, (b) => {
      const x = b.input('x', ['N', 3, 17, 15]);
      const y1 = b.op('Conv', [x, w(b, 'w1', [8, 3, 3, 3]), w(b, 'b1', [8])], [attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [2, 2])]);
      const y2 = b.op(
        'Conv',
        [y1, w(b, 'w2', [4, 8, 3, 3])],
        [attrInts('dilations', [2, 2]), attrInts('pads', [0, 1, 2, 0]), attrInts('kernel_shape', [3, 3])],
      );
      return y2;
    }));

  it('auto_pad SAME_UPPER, SAME_LOWER and VALID, odd sizes, stride 2 and 3', () =>
    check(11, (b) => {
      const x = b.input('x', [2, 4, 13, 10]);
      const outs: Value[] = [];
      for (const mode of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
        for (const s of [2, 3]) {
          outs.push(b.op('Conv', [x, w(b, 'w', [5, 4, 3, 2])], [attrString('auto_pad', mode), attrInts('strides', [s, s])]));
        }
      }
      return outs;
    }));

  it('grouped and depthwise, 1-D and 3-D convs', () =>
    check(13, (b) => {
      const x = b.input('x', [1, 8, 9, 9]);
      const g = b.op('Conv', [x, w(b, 'wg', [12, 2, 3, 3])], [attrInt('group', 4), attrInts('pads', [1, 1, 1, 1])]);
      const dw = b.op('Conv', [g, w(b, 'wd', [24, 1, 3, 3])], [attrInt('group', 12), attrInts('strides', [2, 2])]);
      const x1 = b.input('x1', [2, 4, 20]);
      const c1 = b.op('Conv', [x1, w(b, 'w1d', [6, 4, 3])], [attrInts('strides', [3]), attrInts('pads', [1, 0])]);
      const x3 = b.input('x3', [1, 2, 5, 6, 7]);
      const c3 = b.op('Conv', [x3, w(b, 'w3d', [3, 2, 3, 3, 3])], [attrInts('pads', [1, 0, 1, 1, 0, 1])]);
      return [dw, c1, c3];
    }));
});

describe('ConvTranspose', () => {
  it('stride, pads, output_padding, group, dilations', () =>
    check(17, (b) => {
      const x = b.input('x', ['N', 8, 5, 7]);
      const a = b.op(
        'ConvTranspose',
        [x, w(b, 'w', [8, 4, 3, 3]), w(b, 'bias', [4])],
        [attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1]), attrInts('output_padding', [1, 0])],
      );
      const g = b.op('ConvTranspose', [a, w(b, 'wg', [4, 3, 2, 2])], [attrInt('group', 2), attrInts('dilations', [2, 2])]);
      return g;
    }));

  it('output_shape and auto_pad SAME_UPPER / VALID', () =>
    check(11, (b) => {
      const x = b.input('x', [1, 2, 4, 5]);
      const a = b.op('ConvTranspose', [x, w(b, 'w', [2, 3, 3, 3])], [attrInts('strides', [2, 2]), attrInts('output_shape', [10, 11])]);
      const s = b.op('ConvTranspose', [x, w(b, 'w2', [2, 3, 3, 3])], [attrInts('strides', [2, 2]), attrString('auto_pad', 'SAME_UPPER')]);
      const v = b.op('ConvTranspose', [x, w(b, 'w3', [2, 3, 3, 3])], [attrInts('strides', [3, 2]), attrString('auto_pad', 'VALID')]);
      return [a, s, v];
    }));
});

describe('pooling', () => {
  it('MaxPool pads/strides, Indices output, ceil_mode incl. the last-window correction', () =>
    check(12, (b) => {
      const x = b.input('x', [1, 3, 15, 14]);
      const [m, idx] = b.node('MaxPool', [x], [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1])], { outputs: 2 });
      b.output(b.op('Cast', [idx!], [attrInt('to', DataType.FLOAT)]));
      const x5 = b.input('x5', [1, 2, 5, 6]);
      const c1 = b.op(
        'MaxPool',
        [x5],
        [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1]), attrInt('ceil_mode', 1)],
      );
      const c2 = b.op('AveragePool', [x5], [attrInts('kernel_shape', [3, 2]), attrInts('strides', [2, 3]), attrInt('ceil_mode', 1)]);
      const d = b.op('MaxPool', [x], [attrInts('kernel_shape', [2, 2]), attrInts('dilations', [2, 2]), attrInts('strides', [1, 2])]);
      return [m!, c1, c2, d];
    }));

  it('AveragePool auto_pad SAME_UPPER / SAME_LOWER / VALID, count_include_pad', () =>
    check(11, (b) => {
      const x = b.input('x', [2, 3, 7, 8]);
      return ['SAME_UPPER', 'SAME_LOWER', 'VALID'].flatMap((mode) =>
        [2, 3].map((s) =>
          b.op(
            'AveragePool',
            [x],
            [attrString('auto_pad', mode), attrInts('kernel_shape', [3, 3]), attrInts('strides', [s, s]), attrInt('count_include_pad', 1)],
          ),
        ),
      );
    }));

  it('AveragePool with dilations (opset 19), Global pools, LpPool', () =>
    check(19, (b) => {
      const x = b.input('x', ['N', 3, 11, 9]);
      const a = b.op('AveragePool', [x], [attrInts('kernel_shape', [3, 3]), attrInts('dilations', [2, 1]), attrInts('strides', [2, 2])]);
      return [a, b.op('GlobalAveragePool', [x]), b.op('GlobalMaxPool', [x]), b.op('LpPool', [x], [attrInts('kernel_shape', [2, 2])])];
    }));

  it('MaxPool at opset 8 (no ceil_mode) and 7', async () => {
    for (const opset of [7, 8]) {
      await check(opset, (b) => b.op('MaxPool', [b.input('x', [1, 2, 9, 9])], [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2])]));
    }
  });
});

describe('Gemm and MatMul', () => {
  it('Gemm transA/transB with vector and scalar bias', () =>
    check(13, (b) => {
      const x = b.input('x', [5, 7]);
      const g1 = b.op('Gemm', [x, w(b, 'wt', [4, 7]), w(b, 'bias', [4])], [attrInt('transB', 1)]);
      const g2 = b.op('Gemm', [g1, w(b, 'w2', [5, 6]), w(b, 'c', [])], [attrInt('transA', 1), attrFloat('alpha', 0.5)]);
      const g3 = b.op('Gemm', [x, w(b, 'w3', [7, 2]), w(b, 'c2', [5, 1])]);
      return [g2, g3];
    }));

  it('Gemm at opset 7 and 9 (bias required)', async () => {
    for (const opset of [7, 9]) {
      await check(opset, (b) => b.op('Gemm', [b.input('x', [3, 4]), w(b, 'w', [4, 2]), w(b, 'c', [2])]));
    }
  });

  it('MatMul batched, broadcast and 1-D operands', () =>
    check(13, (b) => {
      const a = b.input('a', [2, 3, 4, 5]);
      const m1 = b.op('MatMul', [a, w(b, 'w1', [5, 6])]);
      const m2 = b.op('MatMul', [b.input('c', [2, 1, 3, 4]), w(b, 'w2', [5, 4, 6])]);
      const m3 = b.op('MatMul', [b.input('v', [4]), w(b, 'w3', [3, 4, 5])]);
      const m4 = b.op('MatMul', [b.input('d', ['N', 3, 4]), w(b, 'w4', [4])]);
      return [m1, m2, m3, m4];
    }));
});

describe('normalisation and activations', () => {
  it('BatchNormalization across opsets, InstanceNormalization, LayerNormalization', async () => {
    for (const opset of [7, 9, 14, 15]) {
      await check(opset, (b) => {
        const x = b.input('x', ['N', 4, 5, 6]);
        const attrs = opset < 9 ? [attrInt('spatial', 1)] : [];
        return b.op('BatchNormalization', [x, w(b, 's', [4]), w(b, 'b', [4]), w(b, 'm', [4]), b.floats('v', [4], [1, 1, 1, 1])], attrs);
      });
    }
    await check(17, (b) => {
      const x = b.input('x', [2, 4, 5, 6]);
      const i = b.op('InstanceNormalization', [x, w(b, 's', [4]), w(b, 'b', [4])]);
      return b.op('LayerNormalization', [i, w(b, 'g', [5, 6]), w(b, 'lb', [6])], [attrInt('axis', -2)]);
    });
  });

  it('activations keep the shape: Relu, LeakyRelu, PRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, Softmax, unary math', () =>
    check(14, (b) => {
      let x = b.input('x', ['N', 3, 4, 5]);
      x = b.op('Relu', [x]);
      x = b.op('LeakyRelu', [x], [attrFloat('alpha', 0.1)]);
      x = b.op('PRelu', [x, w(b, 'slope', [3, 1, 1])]);
      for (const op of ['Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Exp', 'Sqrt', 'Neg', 'Abs', 'Erf', 'Elu', 'Softplus', 'Floor', 'Reciprocal'])
        x = b.op(op, [x]);
      return [b.op('Softmax', [x], [attrInt('axis', 1)]), b.op('LogSoftmax', [x], [attrInt('axis', -1)])];
    }));

  it('Clip with attributes (opset 7-10) and with min/max inputs (11+), either bound absent', async () => {
    await check(7, (b) => b.op('Clip', [b.input('x', [2, 3])], [attrFloat('min', 0), attrFloat('max', 6)]));
    await check(11, (b) => {
      const x = b.input('x', ['N', 3, 2]);
      const lo = b.floats('lo', [], [0]);
      const hi = b.floats('hi', [], [6]);
      return [b.op('Clip', [x, lo, hi]), b.op('Clip', [x, null, hi]), b.op('Clip', [x, lo])];
    });
  });

  it('Softmax at opset 11 (coerced 2-D) and 13', async () => {
    for (const opset of [11, 13]) await check(opset, (b) => b.op('Softmax', [b.input('x', [2, 3, 4])], [attrInt('axis', 1)]));
  });
});

describe('elementwise broadcasting', () => {
  it('Add/Sub/Mul/Div with numpy broadcasting, Max/Min/Sum variadic, comparisons', () =>
    check(13, (b) => {
      const x = b.input('x', ['N', 3, 4, 5]);
      const a = b.op('Add', [x, w(b, 'c', [3, 1, 1])]);
      const m = b.op('Mul', [b.input('p', [4, 1]), b.input('q', [3])]);
      const s = b.op('Sub', [a, w(b, 'k', [])]);
      const d = b.op('Div', [b.input('r', [1, 5]), b.input('t', [4, 1])]);
      const mx = b.op('Max', [s, w(b, 'z', [5]), w(b, 'z2', [4, 1])]);
      const cmp = b.op('Cast', [b.op('Greater', [mx, w(b, 'h', [1])])], [attrInt('to', DataType.FLOAT)]);
      const wh = b.op('Where', [b.op('Less', [m, w(b, 'l', [1, 3])]), m, w(b, 'e', [4, 1])]);
      return [cmp, d, wh];
    }));
});

describe('reshaping', () => {
  it('Flatten at axes 0, 2, -1; Transpose default and perm', () =>
    check(13, (b) => {
      const x = b.input('x', [2, 3, 4, 5]);
      return [
        b.op('Flatten', [x], [attrInt('axis', 0)]),
        b.op('Flatten', [x], [attrInt('axis', 2)]),
        b.op('Flatten', [x], [attrInt('axis', -1)]),
        b.op('Transpose', [x]),
        b.op('Transpose', [x], [attrInts('perm', [0, 2, 3, 1])]),
      ];
    }));

  it('Reshape with 0 (copy) and -1 (infer), symbolic batch kept', () =>
    check(13, (b) => {
      const x = b.input('x', ['N', 6, 4, 5]);
      const r1 = b.op('Reshape', [x, b.int64s('s1', [3], [0, -1, 10])]);
      const r2 = b.op('Reshape', [r1, b.int64s('s2', [4], [0, 3, 2, -1])]);
      const r3 = b.op('Reshape', [b.input('y', [4, 6]), b.int64s('s3', [3], [2, -1, 3])]);
      return [r2, r3];
    }));

  it('Reshape allowzero (opset 14) keeps a literal 0 dim', () =>
    check(14, (b) => {
      const x = b.input('x', [0, 3]);
      const r = b.op('Reshape', [x, b.int64s('s', [2], [3, 0])], [attrInt('allowzero', 1)]);
      const r2 = b.op('Reshape', [b.input('y', [2, 6]), b.int64s('s2', [3], [0, 3, -1])], [attrInt('allowzero', 0)]);
      return [r, r2];
    }));

  it('Concat on positive and negative axes; Split by attribute (11), input (13), num_outputs (18), evenly', async () => {
    await check(11, (b) => {
      const x = b.input('x', ['N', 3, 4]);
      const c = b.op('Concat', [x, b.input('y', ['N', 5, 4])], [attrInt('axis', 1)]);
      const c2 = b.op('Concat', [c, c], [attrInt('axis', -1)]);
      const parts = b.node('Split', [c2], [attrInt('axis', 1), attrInts('split', [2, 6])], { outputs: 2 });
      const even = b.node('Split', [c2], [attrInt('axis', 2)], { outputs: 4 });
      return [...parts, ...even];
    });
    await check(13, (b) => b.node('Split', [b.input('x', [2, 7]), b.int64s('sp', [3], [1, 4, 2])], [attrInt('axis', -1)], { outputs: 3 }));
    await check(18, (b) => b.node('Split', [b.input('x', [7, 2])], [attrInt('num_outputs', 3)], { outputs: 3 }));
  });

  it('Squeeze/Unsqueeze with attribute axes (11) and input axes (13); Squeeze without axes', async () => {
    await check(11, (b) => {
      const x = b.input('x', [1, 3, 1, 5]);
      const s = b.op('Squeeze', [x], [attrInts('axes', [0, -2])]);
      return [b.op('Unsqueeze', [s], [attrInts('axes', [0, 3, -1])]), b.op('Squeeze', [x])];
    });
    await check(13, (b) => {
      const x = b.input('x', ['N', 3, 1, 5]);
      const s = b.op('Squeeze', [x, b.int64s('a', [1], [2])]);
      return b.op('Unsqueeze', [s, b.int64s('u', [2], [1, -1])]);
    });
  });
});

describe('Slice', () => {
  it('opset 9 attributes', () =>
    check(9, (b) => b.op('Slice', [b.input('x', [5, 6, 7])], [attrInts('starts', [1, -3]), attrInts('ends', [100, -1]), attrInts('axes', [0, 2])])));

  it('negative starts/ends, negative steps, clamping, negative axes (opset 13)', () =>
    check(13, (b) => {
      const x = b.input('x', ['N', 10, 8, 6]);
      const big = 9223372036854775807n;
      const s1 = b.op('Slice', [x, b.int64s('st', [2], [-8, 1]), b.int64s('en', [2], [-2, big]), b.int64s('ax', [2], [1, -1]), b.int64s('sp', [2], [3, 2])]);
      const s2 = b.op('Slice', [x, b.int64s('st2', [1], [-1]), b.int64s('en2', [1], [-big]), b.int64s('ax2', [1], [2]), b.int64s('sp2', [1], [-2])]);
      const s3 = b.op('Slice', [x, b.int64s('st3', [1], [20]), b.int64s('en3', [1], [30]), b.int64s('ax3', [1], [1])]);
      const s4 = b.op('Slice', [x, b.int64s('st4', [1], [0]), b.int64s('en4', [1], [big]), b.int64s('ax4', [1], [0])]);
      return [s1, s2, s3, s4];
    }));
});

describe('Pad and Resize', () => {
  it('Pad by attribute (opset 9), by input (11), with axes (18), negative pads crop', async () => {
    await check(9, (b) => b.op('Pad', [b.input('x', [1, 2, 5, 5])], [attrInts('pads', [0, 0, 1, 2, 0, 0, 3, 0])]));
    await check(11, (b) => b.op('Pad', [b.input('x', ['N', 2, 5, 5]), b.int64s('p', [8], [0, 0, 1, -1, 0, 0, 2, -2])], [attrString('mode', 'constant')]));
    await check(18, (b) => b.op('Pad', [b.input('x', [2, 3, 4]), b.int64s('p', [4], [1, 2, 3, 4]), null, b.int64s('axes', [2], [0, -1])]));
  });

  it('Resize by scales (10, 13), by sizes (11), axes + keep_aspect_ratio_policy (18); Upsample (9)', async () => {
    await check(10, (b) => b.op('Resize', [b.input('x', [1, 2, 5, 7]), b.floats('s', [4], [1, 1, 2, 1.5])], [attrString('mode', 'nearest')]));
    await check(11, (b) =>
      b.op(
        'Resize',
        [b.input('x', [1, 2, 5, 7]), b.floats('roi', [0], []), b.floats('sc', [0], []), b.int64s('sz', [4], [1, 2, 9, 4])],
        [attrString('mode', 'linear')],
      ),
    );
    await check(13, (b) => b.op('Resize', [b.input('x', ['N', 2, 5, 7]), null, b.floats('sc', [4], [1, 1, 0.5, 3])], [attrString('mode', 'nearest')]));
    await check(18, (b) => {
      const x = b.input('x', [1, 2, 6, 8]);
      const r1 = b.op(
        'Resize',
        [x, null, null, b.int64s('sz', [2], [9, 10])],
        [attrInts('axes', [2, 3]), attrString('keep_aspect_ratio_policy', 'not_larger')],
      );
      const r2 = b.op('Resize', [x, null, b.floats('sc', [2], [2, 3])], [attrInts('axes', [3, 2])]);
      return [r1, r2];
    });
    await check(9, (b) => b.op('Upsample', [b.input('x', [1, 2, 3, 4]), b.floats('s', [4], [1, 1, 2, 2])]));
  });
});

describe('shape computations fold to constants', () => {
  it('PyTorch Flatten export: Shape → Gather → Unsqueeze → Concat → Reshape, symbolic batch (opsets 9 and 13)', async () => {
    for (const opset of [9, 13]) {
      const b = await checked(opset, (b) => {
        const x = b.input('x', ['N', 4, 3, 3]);
        const shape = b.op('Shape', [x]);
        const n = b.op('Gather', [shape, b.int64s('zero', [], [0])], [attrInt('axis', 0)]);
        const un = opset >= 13 ? b.op('Unsqueeze', [n, b.int64s('ax', [1], [0])]) : b.op('Unsqueeze', [n], [attrInts('axes', [0])]);
        const target = b.op('Concat', [un, b.int64s('minus1', [1], [-1])], [attrInt('axis', 0)]);
        const r = b.op('Reshape', [x, target]);
        return b.op('Gemm', [r, w(b, 'fc', [5, 36]), w(b, 'fcb', [5])], [attrInt('transB', 1)]);
      });
      const reshape = b.model.graph.nodes.find((n) => n.opType === 'Reshape')!;
      assert.deepEqual(reshape.outputs[0]!.shape, ['N', 36]);
    }
  });

  it('upsampling sizes from Shape → Slice → Cast → Mul → Cast → Concat (Resize 11)', () =>
    check(11, (b) => {
      const x = b.input('x', ['N', 2, 5, 7]);
      const shape = b.op('Shape', [x]);
      const nc = b.op('Slice', [shape, b.int64s('s0', [1], [0]), b.int64s('e0', [1], [2])]);
      const hw = b.op('Slice', [shape, b.int64s('s1', [1], [2]), b.int64s('e1', [1], [4])]);
      const hwF = b.op('Cast', [hw], [attrInt('to', DataType.FLOAT)]);
      const up = b.op('Cast', [b.op('Mul', [hwF, b.floats('two', [1], [2])])], [attrInt('to', DataType.INT64)]);
      const sizes = b.op('Concat', [nc, up], [attrInt('axis', 0)]);
      return b.op('Resize', [x, b.floats('roi', [0], []), b.floats('sc', [0], []), sizes], [attrString('mode', 'nearest')]);
    }));

  it('Shape with start/end (15), Gather with 2-D indices, Constant, ConstantOfShape, Expand, Tile, Range', () =>
    check(15, (b) => {
      const x = b.input('x', ['N', 4, 6]);
      const tail = b.op('Shape', [x], [attrInt('start', 1)]);
      const zeros = b.op('ConstantOfShape', [tail], [attrTensor('value', Tensor.fromFloat32('v', [1], [0.5]))]);
      const g = b.op('Gather', [x, b.int64s('idx', [2, 3], [0, 1, 2, 3, 0, -1])], [attrInt('axis', 1)]);
      const cst = b.op('Constant', [], [attrInts('value_ints', [2, 1, 1])]);
      const e = b.op('Expand', [zeros, b.op('Concat', [b.op('Slice', [cst, b.int64s('a', [1], [0]), b.int64s('bb', [1], [1])]), tail], [attrInt('axis', 0)])]);
      const t = b.op('Tile', [x, b.int64s('rep', [3], [1, 2, 3])]);
      const r = b.op('Range', [b.floats('r0', [], [0]), b.floats('r1', [], [5]), b.floats('r2', [], [1.5])]);
      return [zeros, g, e, t, r];
    }));

  it('ReduceMean with attribute axes (13) and input axes (18), keepdims 0; ReduceSum input axes (13); ArgMax; TopK', async () => {
    await check(13, (b) => {
      const x = b.input('x', ['N', 3, 4, 5]);
      return [
        b.op('ReduceMean', [x], [attrInts('axes', [2, 3])]),
        b.op('ReduceMean', [x], [attrInts('axes', [-1]), attrInt('keepdims', 0)]),
        b.op('ReduceMean', [x]),
        b.op('ReduceSum', [x, b.int64s('ax', [1], [1])], [attrInt('keepdims', 0)]),
        b.op('Cast', [b.op('ArgMax', [x], [attrInt('axis', 2), attrInt('keepdims', 0)])], [attrInt('to', DataType.FLOAT)]),
        b.node('TopK', [x, b.int64s('k', [1], [2])], [attrInt('axis', 1)], { outputs: 2 })[0]!,
      ];
    });
    await check(18, (b) => {
      const x = b.input('x', ['N', 3, 4, 5]);
      return [b.op('ReduceMean', [x, b.int64s('ax', [2], [1, 3])]), b.op('ReduceMax', [x, b.int64s('ax2', [1], [0])], [attrInt('keepdims', 0)])];
    });
  });

  it('Identity, Dropout (mask output), Cast, DepthToSpace, SpaceToDepth', () =>
    check(13, (b) => {
      const x = b.input('x', ['N', 8, 4, 6]);
      const [d, mask] = b.node('Dropout', [b.op('Identity', [x])], [], { outputs: 2 });
      const d2s = b.op('DepthToSpace', [d!], [attrInt('blocksize', 2)]);
      const s2d = b.op('SpaceToDepth', [x], [attrInt('blocksize', 2)]);
      return [d2s, s2d, b.op('Cast', [mask!], [attrInt('to', DataType.FLOAT)])];
    }));
});

describe('what stays unknown', () => {
  it('a product of a symbolic dim and numbers is unknown (one symbol per dim)', async () => {
    const b = GraphBuilder.newModel({ opset: 13 });
    const x = b.input('x', ['N', 3, 4, 5]);
    const f0 = b.op('Flatten', [x], [attrInt('axis', 0)]);
    const f1 = b.op('Flatten', [x], [attrInt('axis', 1)]);
    inferInto(b.model);
    assert.deepEqual(f0.shape, [1, null]);
    assert.deepEqual(f1.shape, ['N', 60]);
  });

  it('an op without a rule leaves its outputs unknown with the reason, and what depends on them', async () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [1, 3, 4, 4]);
    const y = b.node('Mystery', [x], [], { domain: 'com.example' })[0]!;
    b.model.opsetImports.push({ domain: 'com.example', version: 1 });
    const z = b.op('Relu', [y]);
    const r = inferInto(b.model);
    assert.equal(y.shape, undefined);
    assert.equal(z.shape, undefined);
    assert.deepEqual(
      r.unknown.map((u) => u.value),
      [y, z],
    );
    assert.match(r.unknown[0]!.reason, /no shape rule for com\.example\.Mystery/);
    assert.match(r.unknown[1]!.reason, /unknown/);
  });

  it('a Reshape whose target is computed from data is unknown, not guessed', async () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [2, 6]);
    const t = b.input('t', [2], DataType.INT64);
    const r = b.op('Reshape', [x, t]);
    const res = inferInto(b.model);
    // The target's length fixes the rank; its values are unknown.
    assert.deepEqual(r.shape, [null, null]);
    assert.equal(res.unknown.length, 0);
    assert.equal(shapeOf(b, r.name)?.length, 2);
  });
});

describe('attrFloats helper use', () => {
  it('Upsample scales as an attribute (opset 7)', () =>
    check(7, (b) => b.op('Upsample', [b.input('x', [1, 1, 2, 3])], [attrFloats('scales', [1, 1, 2, 3]), attrString('mode', 'nearest')])));
});
