/**
 * Gradients through the executor against central finite differences, for every op the
 * trainer relies on, on cpu and wasm. Weights are graph inputs here, so the check covers
 * the executor's own weight handling (layout transposes, grouped splits, zero-dilated
 * filters, channels-last broadcasting) as well as the kernels; a second part checks the
 * same through tf.Variables as `tf.variableGrads` sees them (conv, BN in train mode, Gemm).
 */
import type { GradCheckInput, GradCheckResult } from '../../src/train/gradcheck.js';
import { gradCheck, gradCheckVariables } from '../../src/train/gradcheck.js';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { attrFloat, attrInt, attrInts, attrString, GraphBuilder, Rng, selectBackend, TfExecutor } from '../../src/index.js';
import type { ExecutorOptions, Value } from '../../src/index.js';

type Gen = 'uniform' | 'away' | 'distinct' | 'negative' | 'positive';

interface GradCase {
  name: string;
  opset?: number;
  training?: boolean;
  options?: ExecutorOptions;
  /** How each input's values are drawn (default uniform in [-1, 1]). */
  gen?: Record<string, Gen>;
  build(b: GraphBuilder): Value;
}

function values(gen: Gen, n: number, rng: Rng): Float32Array {
  switch (gen) {
    case 'uniform':
      return rng.uniformArray(n, -1, 1);
    case 'positive':
      return rng.uniformArray(n, 0.5, 1.5);
    case 'away': {
      const v = rng.uniformArray(n, 0.1, 1);
      for (let i = 0; i < n; i++) if (rng.next() < 0.5) v[i] = -v[i]!;
      return v;
    }
    case 'distinct':
      return Float32Array.from(rng.shuffle([...Array(n).keys()]), (k) => (k - n / 2) * 0.05);
    case 'negative':
      return Float32Array.from(rng.shuffle([...Array(n).keys()]), (k) => -1 - k * 0.05);
  }
}

const convOp = (b: GraphBuilder, ins: (Value | null)[], attrs: Parameters<GraphBuilder['op']>[2]) => b.op('Conv', ins, attrs);

const CASES: GradCase[] = [
  // convolutions
  {
    name: 'Conv stride 2, asymmetric pads, bias',
    build: (b) =>
      convOp(b, [b.input('x', [2, 2, 6, 5]), b.input('w', [3, 2, 3, 3]), b.input('bias', [3])], [attrInts('strides', [2, 2]), attrInts('pads', [1, 0, 0, 1])]),
  },
  {
    name: 'Conv grouped (g=2)',
    build: (b) => convOp(b, [b.input('x', [1, 4, 5, 5]), b.input('w', [4, 2, 3, 3])], [attrInt('group', 2), attrInts('pads', [1, 1, 1, 1])]),
  },
  {
    name: 'Conv depthwise multiplier 2, stride 2',
    build: (b) =>
      convOp(b, [b.input('x', [2, 3, 6, 6]), b.input('w', [6, 1, 3, 3])], [attrInt('group', 3), attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1])]),
  },
  {
    name: 'Conv dilated 2 (zero-spread filter)',
    build: (b) => convOp(b, [b.input('x', [1, 2, 7, 7]), b.input('w', [2, 2, 3, 3])], [attrInts('dilations', [2, 2]), attrInts('pads', [1, 1, 1, 1])]),
  },
  {
    name: 'Conv depthwise dilated 2',
    build: (b) => convOp(b, [b.input('x', [1, 2, 7, 7]), b.input('w', [2, 1, 3, 3])], [attrInt('group', 2), attrInts('dilations', [2, 2])]),
  },
  {
    name: 'Conv 1-D',
    build: (b) => convOp(b, [b.input('x', [2, 2, 8]), b.input('w', [3, 2, 3]), b.input('bias', [3])], [attrInts('strides', [2]), attrInts('pads', [1, 0])]),
  },
  {
    name: 'ConvTranspose stride 2, pads, output_padding',
    build: (b) =>
      b.op(
        'ConvTranspose',
        [b.input('x', [1, 2, 3, 3]), b.input('w', [2, 3, 3, 3]), b.input('bias', [3])],
        [attrInts('strides', [2, 2]), attrInts('pads', [1, 0, 1, 0]), attrInts('output_padding', [1, 0])],
      ),
  },
  {
    name: 'ConvTranspose grouped',
    build: (b) => b.op('ConvTranspose', [b.input('x', [1, 4, 3, 3]), b.input('w', [4, 1, 2, 2])], [attrInt('group', 2), attrInts('strides', [2, 2])]),
  },
  // dense
  {
    name: 'Gemm transB with bias',
    build: (b) => b.op('Gemm', [b.input('a', [3, 4]), b.input('w', [5, 4]), b.input('c', [5])], [attrInt('transB', 1), attrFloat('alpha', 0.7)]),
  },
  { name: 'MatMul batched', build: (b) => b.op('MatMul', [b.input('a', [2, 3, 4]), b.input('w', [4, 2])]) },
  // normalisation
  {
    name: 'BatchNormalization, batch statistics (train mode)',
    training: true,
    options: { batchNorm: 'train' },
    build: (b) =>
      b.op('BatchNormalization', [
        b.input('x', [3, 2, 3, 3]),
        b.input('scale', [2]),
        b.input('bias', [2]),
        b.floats('mean', [2], [0.1, -0.2]),
        b.floats('var', [2], [1, 2]),
      ]),
  },
  {
    name: 'BatchNormalization, running statistics',
    gen: { var: 'positive' },
    build: (b) =>
      b.op('BatchNormalization', [b.input('x', [2, 2, 3, 3]), b.input('scale', [2]), b.input('bias', [2]), b.input('mean', [2]), b.input('var', [2])]),
  },
  {
    name: 'BatchNormalization [N, C] in train mode',
    training: true,
    options: { batchNorm: 'train' },
    build: (b) =>
      b.op('BatchNormalization', [
        b.input('x', [5, 3]),
        b.input('scale', [3]),
        b.input('bias', [3]),
        b.floats('mean', [3], [0, 0, 0]),
        b.floats('var', [3], [1, 1, 1]),
      ]),
  },
  { name: 'InstanceNormalization', build: (b) => b.op('InstanceNormalization', [b.input('x', [2, 2, 3, 4]), b.input('scale', [2]), b.input('bias', [2])]) },
  // pooling
  {
    name: 'MaxPool, all-negative windows, pads, ceil_mode',
    gen: { x: 'negative' },
    build: (b) =>
      b.op(
        'MaxPool',
        [b.input('x', [1, 2, 5, 6])],
        [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2]), attrInts('pads', [1, 0, 0, 1]), attrInt('ceil_mode', 1)],
      ),
  },
  {
    name: 'MaxPool overlapping windows',
    gen: { x: 'distinct' },
    build: (b) =>
      b.op('MaxPool', [b.input('x', [2, 2, 5, 5])], [attrInts('kernel_shape', [3, 3]), attrInts('strides', [1, 1]), attrInts('pads', [1, 1, 1, 1])]),
  },
  {
    name: 'AveragePool padded, count_include_pad 0',
    build: (b) =>
      b.op('AveragePool', [b.input('x', [1, 2, 5, 5])], [attrInts('kernel_shape', [3, 3]), attrInts('strides', [2, 2]), attrInts('pads', [1, 1, 1, 1])]),
  },
  {
    name: 'AveragePool padded, count_include_pad 1, ceil_mode',
    build: (b) =>
      b.op(
        'AveragePool',
        [b.input('x', [1, 2, 6, 6])],
        [
          attrInts('kernel_shape', [3, 3]),
          attrInts('strides', [2, 2]),
          attrInts('pads', [1, 1, 1, 1]),
          attrInt('count_include_pad', 1),
          attrInt('ceil_mode', 1),
        ],
      ),
  },
  {
    name: 'GlobalAveragePool + GlobalMaxPool',
    gen: { x: 'distinct' },
    build: (b) => {
      const x = b.input('x', [2, 3, 3, 4]);
      return b.op('Add', [b.op('GlobalAveragePool', [x]), b.op('GlobalMaxPool', [x])]);
    },
  },
  // activations (inputs kept away from kinks)
  {
    name: 'Relu, LeakyRelu, Elu, Softplus',
    gen: { x: 'away' },
    build: (b) => {
      const x = b.input('x', [3, 5]);
      return b.op('Sum', [b.op('Relu', [x]), b.op('LeakyRelu', [x], [attrFloat('alpha', 0.1)]), b.op('Elu', [x]), b.op('Softplus', [x])]);
    },
  },
  {
    name: 'PRelu per-channel slope on a feature map',
    gen: { x: 'away' },
    build: (b) => b.op('PRelu', [convOp(b, [b.input('x', [1, 2, 4, 4]), b.floats('w', [3, 2, 1, 1], [1, 0, 0, 1, 0, -1])], []), b.input('slope', [3, 1, 1])]),
  },
  {
    name: 'Clip (bounds as initializers)',
    opset: 13,
    gen: { x: 'away' },
    build: (b) => b.op('Clip', [b.input('x', [4, 5]), b.floats('lo', [], [-0.55]), b.floats('hi', [], [0.45])]),
  },
  {
    name: 'Sigmoid, Tanh, HardSigmoid, HardSwish',
    opset: 14,
    gen: { x: 'away' },
    build: (b) => {
      const x = b.input('x', [4, 5]);
      return b.op('Sum', [b.op('Sigmoid', [x]), b.op('Tanh', [x]), b.op('HardSigmoid', [x]), b.op('HardSwish', [x])]);
    },
  },
  { name: 'Gelu', opset: 20, build: (b) => b.op('Gelu', [b.input('x', [3, 4])]) },
  {
    name: 'Softmax axis 1 and LogSoftmax',
    build: (b) => {
      const x = b.input('x', [2, 3, 4]);
      return b.op('Add', [b.op('Softmax', [x], [attrInt('axis', 1)]), b.op('LogSoftmax', [x])]);
    },
  },
  // broadcasting against channels-last feature maps
  {
    name: 'Add/Mul/Sub/Div with per-channel and per-column parameters on a conv output',
    gen: { d: 'positive' },
    build: (b) => {
      const y = convOp(b, [b.input('x', [2, 2, 4, 5]), b.input('w', [3, 2, 3, 3])], [attrInts('pads', [1, 1, 1, 1])]);
      return b.op('Div', [
        b.op('Sub', [b.op('Mul', [b.op('Add', [y, b.input('c', [3, 1, 1])]), b.input('col', [5])]), b.input('n', [2, 1, 1, 1])]),
        b.input('d', [3, 1, 1]),
      ]);
    },
  },
  // data movement
  {
    name: 'Concat of feature maps, Split, Slice with steps',
    build: (b) => {
      const x = b.input('x', [1, 2, 4, 4]);
      const y = convOp(b, [x, b.input('w', [2, 2, 1, 1])], []);
      const c = b.op('Concat', [x, y], [attrInt('axis', 1)]);
      const [p, q] = b.node('Split', [c, b.int64s('sz', [2], [1, 3])], [attrInt('axis', 1)], { outputs: 2 });
      const s = b.op('Slice', [q!, b.int64s('st', [2], [0, 3]), b.int64s('en', [2], [100, -100]), b.int64s('ax', [2], [2, 3]), b.int64s('sp', [2], [2, -2])]);
      return b.op('Mul', [
        s,
        b.op('Slice', [p!, b.int64s('st2', [2], [0, 0]), b.int64s('en2', [2], [4, 4]), b.int64s('ax2', [2], [2, 3]), b.int64s('sp2', [2], [2, 2])]),
      ]);
    },
  },
  {
    name: 'Flatten, Reshape, Transpose, Gather',
    build: (b) => {
      const x = b.input('x', [2, 3, 2, 2]);
      const t = b.op('Transpose', [convOp(b, [x, b.input('w', [3, 3, 1, 1])], [])], [attrInts('perm', [0, 2, 3, 1])]);
      const r = b.op('Reshape', [b.op('Flatten', [t], [attrInt('axis', 1)]), b.int64s('s', [3], [2, 4, 3])]);
      return b.op('Gather', [r, b.int64s('i', [3], [2, 0, 2])], [attrInt('axis', 1)]);
    },
  },
  {
    name: 'Pad reflect and edge',
    build: (b) => {
      const x = b.input('x', [1, 2, 3, 4]);
      const p = b.int64s('p', [8], [0, 0, 1, 2, 0, 0, 2, 1]);
      return b.op('Add', [b.op('Pad', [x, p], [attrString('mode', 'reflect')]), b.op('Pad', [x, p], [attrString('mode', 'edge')])]);
    },
  },
  {
    name: 'Resize nearest ×2 and linear',
    build: (b) => {
      const x = b.input('x', [1, 2, 3, 3]);
      const s = b.floats('s', [4], [1, 1, 2, 2]);
      return b.op('Add', [b.op('Resize', [x, null, s], [attrString('mode', 'nearest')]), b.op('Resize', [x, null, s], [attrString('mode', 'linear')])]);
    },
  },
  {
    name: 'ReduceMean and ReduceSum on a feature map',
    build: (b) => {
      const y = convOp(b, [b.input('x', [2, 2, 3, 3]), b.input('w', [3, 2, 1, 1])], []);
      return b.op('Mul', [b.op('ReduceMean', [y], [attrInts('axes', [2, 3])]), b.op('ReduceSum', [y, b.int64s('a', [1], [1])], [attrInt('keepdims', 1)])]);
    },
  },
];

function assertOk(results: GradCheckResult[], what: string): void {
  for (const r of results) {
    assert.ok(r.checked > 0);
    assert.ok(r.ok, `${what}: gradient of ${r.input} is off: worst ${JSON.stringify(r.worst)} (max |Δ| ${r.maxAbsError})`);
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradients through the executor on ${backend}`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    for (const c of CASES) {
      test(c.name, () => {
        const b = GraphBuilder.newModel({ opset: c.opset ?? 17 });
        b.output(c.build(b), 'y');
        const exec = TfExecutor.create(b.model, c.options);
        const rng = new Rng(c.name.length * 31 + 1);
        const inputs: GradCheckInput[] = b.model.graph.inputs
          .filter((v) => !v.initializer)
          .map((v) => {
            const shape = v.shape as number[];
            return {
              name: v.name,
              shape,
              values: values(
                c.gen?.[v.name] ?? 'uniform',
                shape.reduce((p, q) => p * q, 1),
                rng,
              ),
            };
          });
        const f = (xs: tf.Tensor[]) => exec.run(Object.fromEntries(inputs.map((inp, k) => [inp.name, xs[k]!])), { training: c.training }).y!;
        assertOk(gradCheck(f, inputs, { samples: 10 }), c.name);
        exec.dispose();
      });
    }

    test('through tf.Variables: conv + BN (train mode) + Gemm, as tf.variableGrads sees them', () => {
      const b = GraphBuilder.newModel({ opset: 17 });
      const rng = new Rng(99);
      const w = (name: string, dims: number[], s = 0.5) =>
        b.floats(
          name,
          dims,
          rng.normalArray(
            dims.reduce((p, q) => p * q, 1),
            s,
          ),
        );
      const x = b.input('x', [3, 2, 4, 4]);
      const y = b.op('Conv', [x, w('conv.weight', [3, 2, 3, 3]), w('conv.bias', [3])], [attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [2, 2])]);
      const bn = b.op('BatchNormalization', [y, w('bn.weight', [3]), w('bn.bias', [3]), w('bn.running_mean', [3]), b.floats('bn.running_var', [3], [1, 1, 1])]);
      const f = b.op('Flatten', [b.op('Relu', [bn])]);
      b.output(b.op('Gemm', [f, w('fc.weight', [4, 12]), w('fc.bias', [4])], [attrInt('transB', 1)]), 'y');
      const exec = TfExecutor.create(b.model, { batchNorm: 'train' });
      const xv = tf.tensor(rng.uniformArray(3 * 2 * 4 * 4, -1, 1), [3, 2, 4, 4]);
      // Running statistics change on every training run but do not enter the output.
      const results = gradCheckVariables(() => exec.run({ x: xv }, { training: true }).y!, exec.trainableVariables(), { samples: 8 });
      assert.equal(results.length, 6);
      assertOk(results, 'variables');
      xv.dispose();
      exec.dispose();
    });
  });
}
