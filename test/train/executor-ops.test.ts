/**
 * Op by op, the executor against onnxruntime on one-op (or few-op) models: every op of the
 * trainer's set with the attribute variants exporters emit — grouped, depthwise, dilated,
 * 1-D and auto-padded convs, transposed convs, pools with pads/ceil_mode/count_include_pad,
 * broadcasting against channels-last feature maps, exporter shape chains, Resize modes,
 * reductions — on cpu and wasm, max |Δ| ≤ 1e-4 (relative to the output's scale when > 1).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {
  attrFloat,
  attrFloats,
  attrInt,
  attrInts,
  attrString,
  attrTensor,
  GraphBuilder,
  maxAbsDiff,
  Rng,
  runModel,
  selectBackend,
  Tensor as IrTensor,
  TfExecutor,
} from '../../src/index.js';
import type { HostTensor, Value } from '../../src/index.js';
import { seededFeeds } from '../helpers.js';

interface OpCase {
  name: string;
  opset?: number;
  /** Input range (default [-1, 1]). */
  range?: [number, number];
  build(b: GraphBuilder, w: (name: string, dims: number[], scale?: number) => Value): Value;
}

const conv = (b: GraphBuilder, x: Value, w: Value, attrs: Parameters<GraphBuilder['op']>[2], bias?: Value) => b.op('Conv', bias ? [x, w, bias] : [x, w], attrs);

const CASES: OpCase[] = [
  // --- convolutions ---------------------------------------------------------------
  {
    name: 'Conv grouped (g=2) with bias',
    build: (b, w) => conv(b, b.input('x', [1, 4, 6, 6]), w('w', [6, 2, 3, 3]), [attrInt('group', 2), attrInts('pads', [1, 1, 1, 1])], w('b', [6])),
  },
  {
    name: 'Conv depthwise, multiplier 2, stride 2, asymmetric pads',
    build: (b, w) =>
      conv(b, b.input('x', [2, 3, 7, 7]), w('w', [6, 1, 3, 3]), [attrInt('group', 3), attrInts('strides', [2, 2]), attrInts('pads', [1, 0, 0, 1])]),
  },
  {
    name: 'Conv dilated 2',
    build: (b, w) => conv(b, b.input('x', [1, 2, 9, 9]), w('w', [3, 2, 3, 3]), [attrInts('dilations', [2, 2]), attrInts('pads', [2, 2, 2, 2])]),
  },
  {
    name: 'Conv depthwise dilated 2 and strided',
    build: (b, w) =>
      conv(b, b.input('x', [1, 3, 10, 10]), w('w', [3, 1, 3, 3]), [
        attrInt('group', 3),
        attrInts('dilations', [2, 2]),
        attrInts('strides', [2, 2]),
        attrInts('pads', [1, 1, 1, 1]),
      ]),
  },
  {
    name: 'Conv auto_pad SAME_UPPER stride 2',
    build: (b, w) => conv(b, b.input('x', [1, 2, 7, 8]), w('w', [3, 2, 3, 3]), [attrString('auto_pad', 'SAME_UPPER'), attrInts('strides', [2, 2])]),
  },
  {
    name: 'Conv auto_pad SAME_LOWER 4x4 kernel',
    build: (b, w) => conv(b, b.input('x', [1, 2, 7, 7]), w('w', [2, 2, 4, 4]), [attrString('auto_pad', 'SAME_LOWER')]),
  },
  {
    name: 'Conv 1-D strided with bias',
    build: (b, w) => conv(b, b.input('x', [2, 3, 10]), w('w', [4, 3, 3]), [attrInts('strides', [2]), attrInts('pads', [1, 1])], w('b', [4])),
  },
  {
    name: 'Conv grouped 2x2 per group, kernel 1x3',
    build: (b, w) => conv(b, b.input('x', [1, 6, 5, 5]), w('w', [6, 2, 1, 3]), [attrInt('group', 3), attrInts('pads', [0, 1, 0, 1])]),
  },
  {
    name: 'ConvTranspose stride 2, pads, output_padding, bias',
    build: (b, w) =>
      b.op(
        'ConvTranspose',
        [b.input('x', [1, 3, 4, 4]), w('w', [3, 2, 3, 3]), w('b', [2])],
        [attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1]), attrInts('output_padding', [1, 1])],
      ),
  },
  { name: 'ConvTranspose grouped', build: (b, w) => b.op('ConvTranspose', [b.input('x', [1, 4, 3, 3]), w('w', [4, 1, 3, 3])], [attrInt('group', 2)]) },
  {
    name: 'ConvTranspose dilated, asymmetric pads',
    build: (b, w) => b.op('ConvTranspose', [b.input('x', [1, 2, 4, 4]), w('w', [2, 3, 3, 3])], [attrInts('dilations', [2, 2]), attrInts('pads', [1, 0, 0, 2])]),
  },
  {
    name: 'ConvTranspose output_shape (SAME_UPPER)',
    build: (b, w) =>
      b.op(
        'ConvTranspose',
        [b.input('x', [1, 2, 3, 3]), w('w', [2, 2, 3, 3])],
        [attrInts('strides', [2, 2]), attrInts('output_shape', [6, 6]), attrString('auto_pad', 'SAME_UPPER')],
      ),
  },
  {
    name: 'ConvTranspose output_shape (NOTSET, odd padding)',
    build: (b, w) => b.op('ConvTranspose', [b.input('x', [1, 2, 3, 3]), w('w', [2, 2, 4, 4])], [attrInts('strides', [2, 2]), attrInts('output_shape', [7, 7])]),
  },

  // --- dense ------------------------------------------------------------------------
  {
    name: 'Gemm transA, alpha, beta, C row',
    build: (b, w) =>
      b.op('Gemm', [b.input('a', [4, 3]), w('B', [4, 5]), w('C', [1, 5])], [attrInt('transA', 1), attrFloat('alpha', 0.5), attrFloat('beta', 2)]),
  },
  { name: 'Gemm transB, scalar C', build: (b, w) => b.op('Gemm', [b.input('a', [3, 4]), w('B', [5, 4]), w('C', [])], [attrInt('transB', 1)]) },
  { name: 'MatMul batched × matrix', build: (b, w) => b.op('MatMul', [b.input('a', [2, 3, 4]), w('B', [4, 5])]) },
  { name: 'MatMul vector × matrix', build: (b, w) => b.op('MatMul', [b.input('a', [4]), w('B', [4, 5])]) },
  { name: 'MatMul broadcast batch [2,1,3,4]×[3,4,2]', build: (b) => b.op('MatMul', [b.input('a', [2, 1, 3, 4]), b.input('c', [3, 4, 2])]) },

  // --- pooling ------------------------------------------------------------------------
  {
    name: 'MaxPool pads + ceil_mode on negative input',
    range: [-3, -1],
    build: (b) =>
      b.op(
        'MaxPool',
        [b.input('x', [1, 2, 6, 7])],
        [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1]), attrInt('ceil_mode', 1)],
      ),
  },
  {
    name: 'MaxPool auto_pad SAME_UPPER',
    build: (b) =>
      b.op('MaxPool', [b.input('x', [1, 2, 7, 7])], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2]), attrString('auto_pad', 'SAME_UPPER')]),
  },
  {
    name: 'MaxPool 1-D',
    build: (b) => b.op('MaxPool', [b.input('x', [2, 3, 9])], [attrInts('kernel_shape', [3]), attrInts('strides', [2]), attrInts('pads', [1, 1])]),
  },
  {
    name: 'AveragePool asymmetric pads, count_include_pad 0',
    build: (b) =>
      b.op('AveragePool', [b.input('x', [1, 2, 7, 6])], [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2]), attrInts('pads', [1, 0, 1, 2])]),
  },
  {
    name: 'AveragePool count_include_pad 1',
    build: (b) =>
      b.op('AveragePool', [b.input('x', [1, 2, 6, 6])], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInt('count_include_pad', 1)]),
  },
  {
    name: 'AveragePool ceil_mode, pads',
    build: (b) =>
      b.op(
        'AveragePool',
        [b.input('x', [1, 2, 7, 7])],
        [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1]), attrInt('ceil_mode', 1)],
      ),
  },
  {
    name: 'AveragePool ceil_mode, count_include_pad 1',
    build: (b) =>
      b.op(
        'AveragePool',
        [b.input('x', [1, 1, 6, 6])],
        [
          attrInts('kernel_shape', [3, 3]),
          attrInts('strides', [2, 2]),
          attrInts('pads', [1, 1, 1, 1]),
          attrInt('ceil_mode', 1),
          attrInt('count_include_pad', 1),
        ],
      ),
  },
  {
    name: 'AveragePool auto_pad SAME_LOWER',
    build: (b) => b.op('AveragePool', [b.input('x', [1, 2, 6, 5])], [attrInts('kernel_shape', [2, 3]), attrString('auto_pad', 'SAME_LOWER')]),
  },
  {
    name: 'GlobalMaxPool and GlobalAveragePool',
    build: (b) => b.op('Add', [b.op('GlobalMaxPool', [b.input('x', [2, 3, 4, 5])]), b.op('GlobalAveragePool', [b.input('z', [2, 3, 4, 5])])]),
  },

  // --- normalisation -------------------------------------------------------------------
  {
    name: 'InstanceNormalization',
    build: (b, w) => b.op('InstanceNormalization', [b.input('x', [2, 3, 4, 5]), w('s', [3]), w('b', [3])], [attrFloat('epsilon', 1e-3)]),
  },
  {
    name: 'BatchNormalization on [N, C] (after Gemm)',
    build: (b, w) => b.op('BatchNormalization', [b.input('x', [4, 3]), w('s', [3]), w('b', [3]), w('m', [3]), b.floats('v', [3], [0.5, 1, 2])]),
  },
  { name: 'Dropout at inference is the identity', build: (b) => b.op('Dropout', [b.input('x', [2, 3])]) },

  // --- activations -------------------------------------------------------------------
  {
    name: 'LeakyRelu, Elu(alpha), Selu, Softplus',
    build: (b) => {
      const x = b.input('x', [2, 3, 4]);
      return b.op('Sum', [
        b.op('LeakyRelu', [x], [attrFloat('alpha', 0.2)]),
        b.op('Elu', [x], [attrFloat('alpha', 0.5)]),
        b.op('Selu', [x]),
        b.op('Softplus', [x]),
      ]);
    },
  },
  {
    name: 'PRelu with a per-channel slope after Conv (channels-last broadcast)',
    build: (b, w) => b.op('PRelu', [conv(b, b.input('x', [1, 2, 5, 5]), w('w', [3, 2, 3, 3]), [attrInts('pads', [1, 1, 1, 1])]), w('slope', [3, 1, 1])]),
  },
  {
    name: 'Clip (opset 11 inputs) after Conv',
    opset: 11,
    build: (b, w) => b.op('Clip', [conv(b, b.input('x', [1, 2, 5, 5]), w('w', [3, 2, 3, 3]), []), b.floats('lo', [], [-0.3]), b.floats('hi', [], [0.4])]),
  },
  { name: 'Clip (opset 7 attributes)', opset: 7, build: (b) => b.op('Clip', [b.input('x', [2, 5])], [attrFloat('min', -0.2), attrFloat('max', 0.5)]) },
  { name: 'Clip with only a max', opset: 13, build: (b) => b.op('Clip', [b.input('x', [2, 5]), null, b.floats('hi', [], [0.1])]) },
  {
    name: 'HardSigmoid, HardSwish, Sigmoid, Tanh',
    opset: 14,
    range: [-4, 4],
    build: (b) => {
      const x = b.input('x', [3, 7]);
      return b.op('Sum', [
        b.op('HardSigmoid', [x], [attrFloat('alpha', 0.3), attrFloat('beta', 0.4)]),
        b.op('HardSwish', [x]),
        b.op('Sigmoid', [x]),
        b.op('Tanh', [x]),
      ]);
    },
  },
  {
    name: 'Gelu (exact and tanh), Erf',
    opset: 20,
    range: [-3, 3],
    build: (b) => {
      const x = b.input('x', [3, 7]);
      return b.op('Sum', [b.op('Gelu', [x]), b.op('Gelu', [x], [attrString('approximate', 'tanh')]), b.op('Erf', [x])]);
    },
  },
  { name: 'Softmax opset 11 (flattened at axis 1)', opset: 11, build: (b) => b.op('Softmax', [b.input('x', [2, 3, 4])], [attrInt('axis', 1)]) },
  {
    name: 'Softmax opset 13 axis 1 on a feature map',
    build: (b, w) => b.op('Softmax', [conv(b, b.input('x', [1, 2, 4, 4]), w('w', [3, 2, 1, 1]), [])], [attrInt('axis', 1)]),
  },
  { name: 'LogSoftmax last axis', build: (b) => b.op('LogSoftmax', [b.input('x', [3, 6])]) },
  {
    name: 'Exp, Log, Sqrt, Abs, Neg, Reciprocal, Pow',
    range: [0.5, 2],
    build: (b) => {
      const x = b.input('x', [2, 5]);
      return b.op('Sum', [
        b.op('Exp', [x]),
        b.op('Log', [x]),
        b.op('Sqrt', [x]),
        b.op('Abs', [b.op('Neg', [x])]),
        b.op('Reciprocal', [x]),
        b.op('Pow', [x, b.floats('p', [], [1.5])]),
      ]);
    },
  },

  // --- broadcasting against channels-last feature maps ----------------------------------
  {
    name: 'Conv output ± per-channel, per-row, per-column and scalar constants',
    build: (b, w) => {
      const y = conv(b, b.input('x', [2, 2, 5, 6]), w('w', [3, 2, 3, 3]), [attrInts('pads', [1, 1, 1, 1])]);
      const a = b.op('Add', [y, w('c', [3, 1, 1])]);
      const m = b.op('Mul', [a, w('col', [6])]);
      const s = b.op('Sub', [w('row', [5, 1]), m]);
      const d = b.op('Div', [s, b.floats('k', [], [2])]);
      return b.op('Max', [d, b.op('Min', [y, w('n', [2, 1, 1, 1])])]);
    },
  },
  {
    name: 'Mul of two feature maps, one NCHW input',
    build: (b, w) => b.op('Mul', [conv(b, b.input('x', [1, 2, 4, 4]), w('w', [3, 2, 1, 1]), []), b.input('z', [1, 3, 4, 4])]),
  },
  {
    name: 'Where and Less',
    build: (b) => {
      const x = b.input('x', [2, 4]);
      return b.op('Where', [b.op('Less', [x, b.floats('t', [], [0.1])]), x, b.op('Mul', [x, b.floats('k', [], [3])])]);
    },
  },
  { name: 'Mean and Sum of three', build: (b) => b.op('Mean', [b.input('p', [2, 3]), b.input('q', [3]), b.input('r', [2, 1])]) },

  // --- shape and data movement ---------------------------------------------------------
  {
    name: 'exporter shape chain: Shape → Gather → Unsqueeze → Concat → Reshape',
    build: (b, w) => {
      const y = conv(b, b.input('x', [2, 2, 4, 4]), w('w', [3, 2, 3, 3]), []);
      const n = b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [y]), b.int64s('zero', [], [0])], [attrInt('axis', 0)]), b.int64s('ax', [1], [0])]);
      return b.op('Reshape', [y, b.op('Concat', [n, b.int64s('m1', [1], [-1])], [attrInt('axis', 0)])]);
    },
  },
  {
    name: 'Reshape with 0 and -1, Flatten axis 2',
    build: (b) => b.op('Flatten', [b.op('Reshape', [b.input('x', [2, 3, 4]), b.int64s('s', [4], [0, 2, -1, 2])])], [attrInt('axis', 2)]),
  },
  {
    name: 'Transpose of a feature map',
    build: (b, w) => b.op('Transpose', [conv(b, b.input('x', [1, 2, 3, 5]), w('w', [4, 2, 1, 1]), [])], [attrInts('perm', [0, 2, 3, 1])]),
  },
  {
    name: 'Concat of feature maps on channels, then Split (opset 13 sizes)',
    build: (b, w) => {
      const x = b.input('x', [1, 2, 4, 4]);
      const c = b.op(
        'Concat',
        [conv(b, x, w('w1', [3, 2, 1, 1]), []), x, conv(b, x, w('w2', [1, 2, 3, 3]), [attrInts('pads', [1, 1, 1, 1])])],
        [attrInt('axis', 1)],
      );
      const [p, q] = b.node('Split', [c, b.int64s('sizes', [2], [4, 2])], [attrInt('axis', 1)], { outputs: 2 });
      return b.op('Add', [b.op('ReduceSum', [p!, b.int64s('ax', [1], [1])], [attrInt('keepdims', 1)]), q!]);
    },
  },
  {
    name: 'Split opset 18 num_outputs (uneven) on the last axis',
    opset: 18,
    build: (b) => {
      const [p, q, r] = b.node('Split', [b.input('x', [2, 3, 8])], [attrInt('axis', -1), attrInt('num_outputs', 3)], { outputs: 3 });
      return b.op('Concat', [r!, q!, p!], [attrInt('axis', 2)]);
    },
  },
  {
    name: 'Slice with steps (2 and -1) on a feature map',
    build: (b, w) =>
      b.op('Slice', [
        conv(b, b.input('x', [1, 2, 6, 7]), w('w', [4, 2, 1, 1]), []),
        b.int64s('st', [3], [0, 1, -1]),
        b.int64s('en', [3], [4, 100, -100]),
        b.int64s('ax', [3], [1, 2, 3]),
        b.int64s('sp', [3], [2, 2, -1]),
      ]),
  },
  {
    name: 'Slice opset 9 attributes',
    opset: 9,
    build: (b) => b.op('Slice', [b.input('x', [3, 5])], [attrInts('starts', [1, -3]), attrInts('ends', [3, 1000]), attrInts('axes', [0, 1])]),
  },
  {
    name: 'Pad constant / reflect / edge on a feature map',
    build: (b, w) => {
      const y = conv(b, b.input('x', [1, 2, 4, 5]), w('w', [2, 2, 1, 1]), []);
      const pads = b.int64s('p', [8], [0, 0, 1, 2, 0, 0, 2, 1]);
      const k = b.op('Pad', [y, pads, b.floats('v', [], [0.7])]);
      const r = b.op('Pad', [y, pads], [attrString('mode', 'reflect')]);
      const e = b.op('Pad', [y, pads], [attrString('mode', 'edge')]);
      return b.op('Sum', [k, r, e]);
    },
  },
  { name: 'Pad with negative pads (crop)', build: (b) => b.op('Pad', [b.input('x', [2, 6]), b.int64s('p', [4], [0, -1, 1, 2])]) },
  {
    name: 'Squeeze and Unsqueeze (opset 13 inputs)',
    build: (b) => b.op('Unsqueeze', [b.op('Squeeze', [b.input('x', [2, 1, 3, 1]), b.int64s('a', [1], [1])]), b.int64s('u', [2], [0, -1])]),
  },
  {
    name: 'Squeeze and Unsqueeze (opset 11 attributes)',
    opset: 11,
    build: (b) => b.op('Unsqueeze', [b.op('Squeeze', [b.input('x', [2, 1, 3, 1])], [attrInts('axes', [3])])], [attrInts('axes', [1])]),
  },
  {
    name: 'Expand and Tile',
    build: (b) => b.op('Tile', [b.op('Expand', [b.input('x', [3, 1]), b.int64s('s', [3], [2, 1, 4])]), b.int64s('r', [3], [1, 2, 1])]),
  },
  {
    name: 'ConstantOfShape + Cast + Constant',
    build: (b) => {
      const x = b.input('x', [2, 3]);
      const z = b.op('ConstantOfShape', [b.int64s('s', [2], [2, 3])], [attrTensor('value', IrTensor.fromFloat32(undefined, [1], [0.25]))]);
      const k = b.op('Constant', [], [attrTensor('value', IrTensor.fromFloat32(undefined, [3], [1, 2, 3]))]);
      const i = b.op('Cast', [b.op('Cast', [x], [attrInt('to', 7)])], [attrInt('to', 1)]);
      return b.op('Sum', [x, z, k, i]);
    },
    range: [-3, 3],
  },
  { name: 'Gather of rows with a negative index', build: (b) => b.op('Gather', [b.input('x', [4, 3]), b.int64s('i', [3], [3, -4, 1])], [attrInt('axis', 0)]) },
  {
    name: 'ReduceMean (attr axes) / ReduceMax keepdims 0 on a feature map',
    build: (b, w) => {
      const y = conv(b, b.input('x', [2, 2, 4, 5]), w('w', [3, 2, 1, 1]), []);
      return b.op('Add', [
        b.op('ReduceMean', [y], [attrInts('axes', [2, 3]), attrInt('keepdims', 0)]),
        b.op('ReduceMax', [y], [attrInts('axes', [-1, -2]), attrInt('keepdims', 0)]),
      ]);
    },
  },
  {
    name: 'ReduceMean opset 18 axes input, ReduceL2',
    opset: 18,
    build: (b) => {
      const x = b.input('x', [2, 3, 4]);
      return b.op('Add', [b.op('ReduceMean', [x, b.int64s('a', [1], [1])]), b.op('ReduceL2', [x, b.int64s('a2', [1], [1])])]);
    },
  },

  // --- resizing ------------------------------------------------------------------------
  {
    name: 'Resize nearest ×2 (half_pixel, round_prefer_floor)',
    build: (b) => b.op('Resize', [b.input('x', [1, 2, 3, 4]), null, b.floats('s', [4], [1, 1, 2, 2])], [attrString('mode', 'nearest')]),
  },
  {
    name: 'Resize nearest ×1.5 asymmetric floor on a feature map',
    build: (b, w) =>
      b.op(
        'Resize',
        [conv(b, b.input('x', [1, 2, 4, 4]), w('w', [2, 2, 1, 1]), []), null, b.floats('s', [4], [1, 1, 1.5, 1.5])],
        [attrString('mode', 'nearest'), attrString('coordinate_transformation_mode', 'asymmetric'), attrString('nearest_mode', 'floor')],
      ),
  },
  {
    name: 'Resize nearest by sizes, downsampling (round_prefer_ceil)',
    build: (b) =>
      b.op(
        'Resize',
        [b.input('x', [1, 1, 7, 9]), null, null, b.int64s('z', [4], [1, 1, 3, 4])],
        [attrString('mode', 'nearest'), attrString('nearest_mode', 'round_prefer_ceil')],
      ),
  },
  {
    name: 'Resize linear align_corners by sizes',
    build: (b) =>
      b.op(
        'Resize',
        [b.input('x', [1, 2, 3, 4]), null, null, b.int64s('z', [4], [1, 2, 5, 7])],
        [attrString('mode', 'linear'), attrString('coordinate_transformation_mode', 'align_corners')],
      ),
  },
  {
    name: 'Resize linear half_pixel ×2',
    build: (b) => b.op('Resize', [b.input('x', [1, 2, 3, 3]), null, b.floats('s', [4], [1, 1, 2, 2])], [attrString('mode', 'linear')]),
  },
  {
    name: 'Resize linear pytorch_half_pixel downsampling',
    build: (b) =>
      b.op(
        'Resize',
        [b.input('x', [1, 1, 8, 6]), null, b.floats('s', [4], [1, 1, 0.5, 0.5])],
        [attrString('mode', 'linear'), attrString('coordinate_transformation_mode', 'pytorch_half_pixel')],
      ),
  },
  {
    name: 'Resize opset 10 nearest ×2',
    opset: 10,
    build: (b) => b.op('Resize', [b.input('x', [1, 2, 3, 3]), b.floats('s', [4], [1, 1, 2, 2])], [attrString('mode', 'nearest')]),
  },
  {
    name: 'Upsample opset 9 nearest ×(2, 3)',
    opset: 9,
    build: (b) => b.op('Upsample', [b.input('x', [1, 2, 3, 3]), b.floats('s', [4], [1, 1, 2, 3])], [attrString('mode', 'nearest')]),
  },
  {
    name: 'Upsample opset 7 (scales attribute)',
    opset: 7,
    build: (b) => b.op('Upsample', [b.input('x', [1, 1, 2, 3])], [attrFloats('scales', [1, 1, 2, 2]), attrString('mode', 'nearest')]),
  },
];

function toTf(feeds: Record<string, HostTensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tf.tensor(v.data as Float32Array, v.dims)]));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ops on ${backend} agree with onnxruntime`, () => {
    before(async () => {
      await selectBackend(backend);
    });
    for (const c of CASES) {
      test(c.name, async () => {
        const b = GraphBuilder.newModel({ opset: c.opset ?? 17 });
        const rng = new Rng(c.name.length * 7919);
        const w = (name: string, dims: number[], scale = 0.5) =>
          b.floats(
            name,
            dims,
            rng.normalArray(
              dims.reduce((p, q) => p * q, 1),
              scale,
            ),
          );
        b.output(c.build(b, w), 'y');
        const [lo, hi] = c.range ?? [-1, 1];
        const feeds = seededFeeds(b.model, 3, 1, lo, hi);
        const ref = await runModel(b.model, feeds);
        const exec = TfExecutor.create(b.model);
        const inputs = toTf(feeds);
        const got = exec.run(inputs);
        const y = got.y!;
        assert.deepEqual(y.shape, ref.y!.dims, 'shape');
        const { maxAbs, scale } = maxAbsDiff(ref.y!, { data: Float32Array.from(y.dataSync() as Float32Array), dims: y.shape });
        assert.ok(maxAbs <= 1e-4 * Math.max(1, scale), `max |Δ| ${maxAbs} (scale ${scale})`);
        tf.dispose([y, ...Object.values(inputs)]);
        exec.dispose();
      });
    }
  });
}
