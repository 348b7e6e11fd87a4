/**
 * The shape inference engine itself: contradictions are SHAPE_INFERENCE_FAILED naming the
 * node, inputShapes overrides, constant folding (`constantValue`/`symbolicValue`), declared
 * types kept where nothing can be computed, subgraphs best-effort.
 */
import { inferInto } from '../helpers.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AnalysisManager,
  CompilerError,
  DataType,
  Graph,
  GraphBuilder,
  Node,
  Value,
  attrInt,
  attrInts,
  constantValue,
  inferShapes,
  runPass,
  symbolicValue,
} from '../../src/index.js';
import { inferShapesPass } from '../../passes/infer-shapes.js';
import type { Attribute } from '../../src/index.js';

const zeros = (b: GraphBuilder, name: string, dims: number[]) => b.floats(name, dims, new Float32Array(dims.reduce((a, c) => a * c, 1)));

function throwsShape(fn: () => unknown, where: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CompilerError);
    assert.equal(e.code, 'SHAPE_INFERENCE_FAILED');
    assert.match(e.where ?? '', where);
    assert.match(e.message, where);
    return true;
  });
}

describe('contradictions', () => {
  it('a Conv whose weight C_in contradicts the input channels names the node', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 3, 8, 8]);
    const y = b.op('Conv', [x, zeros(b, 'w1', [4, 3, 3, 3])], [attrInts('kernel_shape', [3, 3])], 'stem');
    b.op('Conv', [y, zeros(b, 'w2', [8, 5, 3, 3])], [attrInts('kernel_shape', [3, 3])], 'block1.conv');
    throwsShape(() => inferInto(b.model), /block1\.conv/);
  });

  it('grouped conv channel mismatch, MatMul/Gemm inner dims, broadcasting, Concat, Reshape counts, BN lengths', () => {
    const cases: [string, (b: GraphBuilder) => void][] = [
      ['gconv', (b) => b.op('Conv', [b.input('x', [1, 8, 4, 4]), zeros(b, 'w', [8, 3, 1, 1])], [attrInt('group', 2)], 'gconv')],
      ['mm', (b) => b.op('MatMul', [b.input('x', [2, 3, 4]), zeros(b, 'w', [5, 6])], [], 'mm')],
      ['fc', (b) => b.op('Gemm', [b.input('x', [2, 10]), zeros(b, 'w', [5, 12])], [attrInt('transB', 1)], 'fc')],
      ['add', (b) => b.op('Add', [b.input('x', [2, 3, 4]), b.input('y', [5, 4])], [], 'add')],
      ['cat', (b) => b.op('Concat', [b.input('x', [2, 3]), b.input('y', [4, 3, 1])], [attrInt('axis', 0)], 'cat')],
      ['cat2', (b) => b.op('Concat', [b.input('x', [2, 3]), b.input('y', [4, 5])], [attrInt('axis', 0)], 'cat2')],
      ['rs', (b) => b.op('Reshape', [b.input('x', [2, 3]), b.int64s('s', [2], [4, -1])], [], 'rs')],
      ['rs2', (b) => b.op('Reshape', [b.input('x', [2, 3]), b.int64s('s', [2], [4, 2])], [], 'rs2')],
      ['bn', (b) => b.op('BatchNormalization', [b.input('x', [1, 4, 2, 2]), ...['s', 'b', 'm', 'v'].map((n) => zeros(b, n, [n === 'm' ? 5 : 4]))], [], 'bn')],
      ['split', (b) => b.node('Split', [b.input('x', [2, 7]), b.int64s('s', [2], [3, 3])], [attrInt('axis', 1)], { name: 'split', outputs: 2 })],
    ];
    for (const [name, build] of cases) {
      const b = GraphBuilder.newModel({ opset: 17 });
      build(b);
      throwsShape(() => inferInto(b.model), new RegExp(`main/${name}\\b`));
    }
  });
});

describe('inputs and declared types', () => {
  it('inputShapes resolve symbolic dims in the table only; a declared number or rank cannot change; an unknown name is INVALID_OPTION', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 3, 'H', 'W']);
    const y = b.op('Conv', [x, zeros(b, 'w', [4, 3, 3, 3])], [attrInts('strides', [2, 2])]);
    assert.deepEqual(inferShapes(b.model).shapes.shape(y), ['N', 4, null, null]);
    const r = inferShapes(b.model, { inputShapes: { x: [5, 3, 32, 32] } });
    assert.deepEqual(r.shapes.shape(x), [5, 3, 32, 32]);
    assert.deepEqual(r.shapes.shape(y), [5, 4, 15, 15]);
    assert.deepEqual(r.inputs, { x: [5, 3, 32, 32] });
    // The model keeps what it declares (the old inferShapes overwrote the input's type).
    assert.deepEqual(x.shape, ['N', 3, 'H', 'W']);
    assert.equal(y.shape, undefined);
    const code = (c: string) => (e: unknown) => e instanceof CompilerError && e.code === c;
    assert.throws(() => inferShapes(b.model, { inputShapes: { x: [5, 4, 32, 32] } }), code('INPUT_SHAPE_MISMATCH'));
    assert.throws(() => inferShapes(b.model, { inputShapes: { x: [5, 3, 32] } }), code('INPUT_SHAPE_MISMATCH'));
    assert.throws(() => inferShapes(b.model, { inputShapes: { nope: [1] } }), code('INVALID_OPTION'));
  });

  it('a symbolic dim resolved in one input is resolved in every input that shares it', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 3]);
    const z = b.input('z', ['N', 3]);
    const s = b.op('Add', [x, z]);
    const r = inferShapes(b.model, { inputShapes: { x: [7, 3] } });
    assert.deepEqual(r.shapes.shape(z), [7, 3]);
    assert.deepEqual(r.shapes.shape(s), [7, 3]);
    assert.throws(
      () => inferShapes(b.model, { inputShapes: { x: [7, 3], z: [6, 3] } }),
      (e: unknown) => e instanceof CompilerError && e.code === 'INPUT_SHAPE_MISMATCH',
    );
  });

  it('re-running after a weight changes updates stale shapes', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [1, 3, 8, 8]);
    const w = zeros(b, 'w', [4, 3, 1, 1]);
    const y = b.op('Conv', [x, w]);
    inferInto(b.model);
    assert.deepEqual(y.shape, [1, 4, 8, 8]);
    const w2 = zeros(b, 'w2', [6, 3, 1, 1]);
    y.producer!.setInput(1, w2);
    inferInto(b.model);
    assert.deepEqual(y.shape, [1, 6, 8, 8]);
  });

  it('keeps a declared shape where no rule applies, and says so', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    b.model.opsetImports.push({ domain: 'com.example', version: 1 });
    const x = b.input('x', [2, 3]);
    const y = b.node('Custom', [x], [], { domain: 'com.example' })[0]!;
    y.setTensorType(DataType.FLOAT, [2, 7]);
    const z = b.op('Relu', [y]);
    const r = inferInto(b.model);
    assert.deepEqual(y.shape, [2, 7]);
    assert.deepEqual(z.shape, [2, 7]);
    assert.equal(r.unknown.length, 1);
    assert.match(r.unknown[0]!.reason, /kept the declared shape/);
  });

  it("a graph output: the analyses see the input's dim name; infer-shapes writes back its declared name with the computed dims", () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 4]);
    const y = b.op('Relu', [x]);
    b.output(y, 'y');
    y.setTensorType(DataType.FLOAT, ['batch', null]);
    // 'batch' is N under another name (tf2onnx names them unk__12 and unk__13): --batch and --input-shape bind N.
    assert.deepEqual(inferShapes(b.model).shapes.shape(y), ['N', 4]);
    runPass(b.model, inferShapesPass(), { analyses: new AnalysisManager(b.model) });
    assert.deepEqual(y.shape, ['batch', 4]);
  });
});

describe('constant folding', () => {
  it('constantValue folds Shape → Gather → Unsqueeze → Concat on static shapes; symbolicValue keeps the batch name', () => {
    const b = GraphBuilder.newModel({ opset: 13 });
    const x = b.input('x', ['N', 4, 3, 3]);
    const shape = b.op('Shape', [x]);
    const n = b.op('Gather', [shape, b.int64s('i', [], [0])]);
    const c = b.op('Gather', [shape, b.int64s('j', [2], [1, -1])]);
    const un = b.op('Unsqueeze', [n, b.int64s('ax', [1], [0])]);
    const target = b.op('Concat', [un, b.int64s('m1', [1], [-1])], [attrInt('axis', 0)]);
    const prod = b.op('Mul', [c, b.int64s('two', [], [2])]);
    inferInto(b.model);
    assert.deepEqual(symbolicValue(target), ['N', -1]);
    assert.equal(constantValue(target), undefined);
    assert.deepEqual(constantValue(c), [4, 3]);
    assert.deepEqual(constantValue(prod), [8, 6]);
    assert.deepEqual(prod.shape, [2]);
    assert.deepEqual(constantValue(b.int64s('k', [3], [1, 2, 3])), [1, 2, 3]);
  });

  it('a Reshape target computed from a Constant node and Cast is known', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [2, 12]);
    const t = b.op('Constant', [], [{ name: 'value_ints', v: { type: 7, value: [3, -1, 2] } } as Attribute]);
    const t32 = b.op('Cast', [b.op('Cast', [t], [attrInt('to', DataType.INT32)])], [attrInt('to', DataType.INT64)]);
    const r = b.op('Reshape', [x, t32]);
    inferInto(b.model);
    assert.deepEqual(t.shape, [3]);
    assert.equal(t32.elemType, DataType.INT64);
    assert.deepEqual(r.shape, [3, 4, 2]);
  });

  it('a graph input with a default initializer is not folded (it may be fed)', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const s = b.int64s('s', [2], [3, 4]);
    b.model.graph.addInput(s);
    assert.equal(constantValue(s), undefined);
  });
});

describe('subgraphs', () => {
  it('an If whose branches agree gives the joint shape; disagreeing dims become unknown', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', [2, 3]);
    const cond = b.input('c', [], DataType.BOOL);
    const branch = (name: string, dims: number[]) => {
      const g = new Graph(name);
      const gb = new GraphBuilder(b.model, g);
      const y = gb.op('Reshape', [x, gb.int64s(`${name}_s`, [dims.length], dims)]);
      g.addOutput(y);
      return g;
    };
    const out = new Value(b.fresh('if_out'));
    const n = new Node({
      opType: 'If',
      name: 'if',
      inputs: [cond],
      outputs: [out],
      attributes: [
        { name: 'then_branch', v: { type: 5, value: branch('then', [3, 2]) } },
        { name: 'else_branch', v: { type: 5, value: branch('else', [6, 1]) } },
      ],
    });
    b.graph.appendNode(n);
    const r = inferInto(b.model);
    assert.deepEqual(out.shape, [null, null]);
    assert.equal(r.unknown.length, 0);
    assert.deepEqual(n.subgraphs()[0]!.outputs[0]!.shape, [3, 2]);
  });
});
