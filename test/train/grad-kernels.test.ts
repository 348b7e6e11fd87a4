/**
 * The gradient table and the JS kernels behind it, on every backend that installs here
 * (cpu, wasm):
 * - every gradient the trainer relies on agrees with central finite differences (float64
 *   accumulation; gradcheck.ts), for the tf ops themselves, with broadcasting, strides,
 *   padding and dilation where the op has them;
 * - our kernels (Conv2DBackpropFilter on cpu and wasm; Conv2DBackpropInput, depthwise
 *   filter/input, MaxPoolGrad, AvgPoolGrad, UnsortedSegmentSum on wasm) equal the cpu
 *   backend's own kernels;
 * - the two backend bugs we replace are real: wasm's own MaxPoolGrad misroutes an
 *   all-negative window, and cpu's/wasm's own AvgPoolGrad divide padded windows by k·k.
 */
import type { GradCheckInput, GradCheckResult } from '../../src/train/gradcheck.js';
import { gradCheck } from '../../src/train/gradcheck.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Rng, selectBackend } from '../../src/index.js';

import { originalKernel } from '../../src/train/kernels/index.js';
import { batchNormTrain, channelAffine, hardSwish } from '../../src/train/kernels/gradients.js';

const BACKENDS = ['cpu', 'wasm'] as const;

function input(name: string, shape: number[], rng: Rng, lo = -1, hi = 1): GradCheckInput {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, shape, values: rng.uniformArray(n, lo, hi) };
}

/** Values at least 0.05 away from 0 (kinks of relu, abs, max): the finite difference must not cross one. */
function awayFromZero(name: string, shape: number[], rng: Rng): GradCheckInput {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = rng.uniformArray(n, 0.05, 1);
  for (let i = 0; i < n; i++) if (rng.next() < 0.5) v[i] = -v[i]!;
  return { name, shape, values: v };
}

/** Distinct values spaced 0.05 apart in a random order (max/min without near-ties). */
function distinct(name: string, shape: number[], rng: Rng, offset = 0): GradCheckInput {
  const n = shape.reduce((a, b) => a * b, 1);
  const order = rng.shuffle([...Array(n).keys()]);
  return { name, shape, values: Float32Array.from(order, (k) => offset + (k - n / 2) * 0.05) };
}

function assertOk(results: GradCheckResult[], what: string): void {
  for (const r of results) {
    assert.ok(r.checked > 0, `${what}: ${r.input} checked`);
    assert.ok(r.ok, `${what}: gradient of ${r.input} is off: worst ${JSON.stringify(r.worst)} (max |Δ| ${r.maxAbsError})`);
  }
}

type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];

const CONV_CASES: { name: string; x: Shape4; f: Shape4; stride: number | [number, number]; pad: Pad }[] = [
  { name: '3x3 s1 same', x: [2, 6, 6, 3], f: [3, 3, 3, 4], stride: 1, pad: 'same' },
  {
    name: '3x3 s2 explicit asymmetric',
    x: [2, 7, 6, 3],
    f: [3, 3, 3, 5],
    stride: 2,
    pad: [
      [0, 0],
      [1, 0],
      [0, 2],
      [0, 0],
    ],
  },
  { name: '1x1 s2 valid', x: [1, 5, 5, 4], f: [1, 1, 4, 3], stride: 2, pad: 'valid' },
  { name: '5x3 s1 valid', x: [2, 8, 6, 2], f: [5, 3, 2, 3], stride: 1, pad: 'valid' },
  // wasm computes a stride-1 unpadded pointwise conv's filter gradient as one GEMM.
  { name: '1x1 s1 valid', x: [2, 4, 3, 5], f: [1, 1, 5, 3], stride: 1, pad: 'valid' },
  {
    name: '1x1 s1 padded',
    x: [1, 3, 4, 2],
    f: [1, 1, 2, 3],
    stride: 1,
    pad: [
      [0, 0],
      [1, 0],
      [0, 1],
      [0, 0],
    ],
  },
  // Strided input gradients on wasm run per phase of the stride (one conv, interleaved): odd
  // sizes, SAME, unequal strides, phases without taps (kernel < stride), a kernel of 3 taps
  // per phase, and a padding wider than the kernel (dy rows cut, not padded).
  { name: '3x3 s2 same odd', x: [2, 7, 9, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same' },
  {
    name: '3x3 s3 padded',
    x: [1, 8, 10, 2],
    f: [3, 3, 2, 3],
    stride: 3,
    pad: [
      [0, 0],
      [2, 1],
      [2, 2],
      [0, 0],
    ],
  },
  {
    name: '2x4 strides 2x3',
    x: [2, 7, 8, 3],
    f: [2, 4, 3, 2],
    stride: [2, 3],
    pad: [
      [0, 0],
      [1, 1],
      [0, 2],
      [0, 0],
    ],
  },
  { name: '2x2 s3 valid (phases without taps)', x: [1, 9, 8, 2], f: [2, 2, 2, 3], stride: 3, pad: 'valid' },
  {
    name: '2x2 s3 padded (a middle phase without taps)',
    x: [1, 8, 7, 2],
    f: [2, 2, 2, 2],
    stride: 3,
    pad: [
      [0, 0],
      [1, 0],
      [1, 1],
      [0, 0],
    ],
  },
  {
    name: '1x1 s2 padded',
    x: [2, 6, 5, 3],
    f: [1, 1, 3, 2],
    stride: 2,
    pad: [
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 0],
    ],
  },
  {
    name: '5x5 s2 explicit',
    x: [1, 9, 8, 2],
    f: [5, 5, 2, 2],
    stride: 2,
    pad: [
      [0, 0],
      [2, 1],
      [1, 2],
      [0, 0],
    ],
  },
  {
    name: '3x3 s2 padding wider than the kernel',
    x: [1, 5, 5, 2],
    f: [3, 3, 2, 2],
    stride: 2,
    pad: [
      [0, 0],
      [4, 4],
      [4, 3],
      [0, 0],
    ],
  },
  // Maps large enough that wasm's stride-1 filter gradient runs as one GEMM per tap over the
  // padded grid (at most 1.3x the output's pixels; images share their padding rows and
  // columns): same, valid with a 3x2 kernel, asymmetric and one-sided padding, 5x5.
  { name: '3x3 s1 same 16x15', x: [2, 16, 15, 2], f: [3, 3, 2, 3], stride: 1, pad: 'same' },
  { name: '3x2 s1 valid 14x13', x: [1, 14, 13, 3], f: [3, 2, 3, 2], stride: 1, pad: 'valid' },
  {
    name: '3x3 s1 asymmetric 16x17',
    x: [1, 16, 17, 2],
    f: [3, 3, 2, 2],
    stride: 1,
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  },
  {
    name: '3x3 s1 padded on one side 16x16',
    x: [2, 16, 16, 2],
    f: [3, 3, 2, 2],
    stride: 1,
    pad: [
      [0, 0],
      [0, 2],
      [2, 0],
      [0, 0],
    ],
  },
  { name: '5x5 s1 same 20x20', x: [2, 20, 20, 2], f: [5, 5, 2, 2], stride: 1, pad: 'same' },
  // Large enough for the tap GEMMs on a padded grid (wasm), whose padding is written, not pre-zeroed.
  { name: '3x3 s1 same 18x17, batch 3 (tap GEMMs)', x: [3, 18, 17, 4], f: [3, 3, 4, 5], stride: 1, pad: 'same' },
  {
    name: '3x3 s1 asymmetric 24x21, batch 1 (tap GEMMs)',
    x: [1, 24, 21, 3],
    f: [3, 3, 3, 2],
    stride: 1,
    pad: [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  },
];

for (const backend of BACKENDS) {
  describe(`gradients on ${backend}`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    test('elementwise binary ops with broadcasting', () => {
      const rng = new Rng(1);
      const a = input('a', [2, 3, 4], rng);
      const b = input('b', [3, 1], rng);
      const bPos = input('b', [3, 1], rng, 0.5, 2);
      assertOk(
        gradCheck(([x, y]) => tf.add(x!, y!), [a, b]),
        'Add',
      );
      assertOk(
        gradCheck(([x, y]) => tf.sub(x!, y!), [a, b]),
        'Sub',
      );
      assertOk(
        gradCheck(([x, y]) => tf.mul(x!, y!), [a, b]),
        'Mul',
      );
      assertOk(
        gradCheck(([x, y]) => tf.div(x!, y!), [a, bPos]),
        'Div',
      );
      assertOk(
        gradCheck(([x, y]) => tf.squaredDifference(x!, y!), [a, b]),
        'SquaredDifference',
      );
      assertOk(
        gradCheck(([x, y]) => tf.pow(x!, y!), [input('a', [2, 3], rng, 0.5, 2), input('b', [3], rng, 0.5, 2)]),
        'Pow',
      );
      const d = distinct('a', [3, 4], rng);
      const e = distinct('b', [3, 4], rng, 0.025);
      assertOk(
        gradCheck(([x, y]) => tf.maximum(x!, y!), [d, e]),
        'Maximum',
      );
      assertOk(
        gradCheck(([x, y]) => tf.minimum(x!, y!), [d, e]),
        'Minimum',
      );
      assertOk(
        gradCheck((xs) => tf.addN(xs), [a, input('c', [2, 3, 4], rng)]),
        'AddN',
      );
    });

    test('elementwise unary ops', () => {
      const rng = new Rng(2);
      const x = awayFromZero('x', [3, 5], rng);
      const pos = input('x', [3, 5], rng, 0.2, 2);
      const cases: [string, (t: Tensor) => Tensor, GradCheckInput][] = [
        ['Neg', (t) => tf.neg(t), x],
        ['Abs', (t) => tf.abs(t), x],
        ['Exp', (t) => tf.exp(t), x],
        ['Log', (t) => tf.log(t), pos],
        ['Log1p', (t) => tf.log1p(t), pos],
        ['Sqrt', (t) => tf.sqrt(t), pos],
        ['Rsqrt', (t) => tf.rsqrt(t), pos],
        ['Reciprocal', (t) => tf.reciprocal(t), pos],
        ['Square', (t) => tf.square(t), x],
        ['Relu', (t) => tf.relu(t), x],
        ['Relu6', (t) => tf.relu6(tf.mul(t, 8)), awayFromZero('x', [3, 5], rng)],
        ['LeakyRelu', (t) => tf.leakyRelu(t, 0.1), x],
        ['Elu', (t) => tf.elu(t), x],
        ['Selu', (t) => tf.selu(t), x],
        ['Sigmoid', (t) => tf.sigmoid(t), x],
        ['Tanh', (t) => tf.tanh(t), x],
        ['Softplus', (t) => tf.softplus(t), x],
        ['Erf', (t) => tf.erf(t), x],
        ['Sin', (t) => tf.sin(t), x],
        ['Cos', (t) => tf.cos(t), x],
        ['ClipByValue', (t) => tf.clipByValue(t, -0.5, 0.5), awayFromZero('x', [3, 5], rng)],
        ['Prelu', (t) => tf.prelu(t, tf.tensor1d([0.1, 0.2, 0.3, 0.4, 0.5])), x],
        ['Cast+Identity', (t) => tf.clone(tf.cast(t, 'float32')), x],
      ];
      for (const [name, f, inp] of cases)
        assertOk(
          gradCheck(([t]) => f(t!), [inp]),
          name,
        );
    });

    test("relu, relu6 and clip gradients at their kinks: nothing passes at a bound (read from the output, as TF's Relu6Grad)", () => {
      // Finite differences cannot see a kink; these values are the convention. The gradients
      // read the activation's output (the next layer keeps it anyway), which cannot tell x = hi
      // from x > hi: so lo < x < hi passes, as TF's ReluGrad/Relu6Grad (the native backend's)
      // and PyTorch's ReLU6/Hardtanh do.
      const xs = tf.tensor1d([-7, -1, 0, 1e-3, 3, 6, 6.5]);
      const g = (f: (t: Tensor) => Tensor) => Array.from(tf.grad(f)(xs).dataSync());
      assert.deepEqual(
        g((t) => tf.relu(t)),
        [0, 0, 0, 1, 1, 1, 1],
      );
      assert.deepEqual(
        g((t) => tf.relu6(t)),
        [0, 0, 0, 1, 1, 0, 0],
      );
      assert.deepEqual(
        g((t) => tf.clipByValue(t, -1, 6)),
        [0, 0, 1, 1, 1, 0, 0],
      );
      assert.deepEqual(
        g((t) => tf.mul(tf.clipByValue(t, 0, 3), 2)),
        [0, 0, 0, 2, 0, 0, 0],
      );
      assert.deepEqual(
        g((t) => tf.clipByValue(t, -Infinity, 3)),
        [1, 1, 1, 1, 0, 0, 0],
      );
      xs.dispose();
    });

    test("hard-swish (one custom gradient keeping x): finite differences on every piece, the composite's values and gradients", () => {
      const rng = new Rng(12);
      // x in [-5, 5], at least 0.05 from the kinks at ±3.
      const v = rng.uniformArray(24, -5, 5).map((t) => (Math.abs(Math.abs(t) - 3) < 0.05 ? t + 0.1 : t));
      assert.ok(v.some((t) => t < -3) && v.some((t) => t > 3) && v.some((t) => Math.abs(t) < 3), 'every piece is sampled');
      assertOk(
        gradCheck(([t]) => hardSwish(t!), [{ name: 'x', shape: [4, 6], values: v }], { samples: 24 }),
        'hardSwish',
      );
      assertOk(
        gradCheck(([t]) => hardSwish(t!, 0.2, 0.4), [{ name: 'x', shape: [4, 6], values: v }], { samples: 24 }),
        'hardSwish α 0.2 β 0.4',
      );
      const x = tf.tensor(v, [4, 6]);
      const composite = (t: Tensor) => tf.mul(t, tf.clipByValue(tf.add(tf.mul(t, 1 / 6), 0.5), 0, 1));
      assert.deepEqual(Array.from(hardSwish(x).dataSync()), Array.from(composite(x).dataSync()), 'the same forward values');
      const w = tf.tensor(rng.uniformArray(24, -1, 1), [4, 6]);
      const ours = tf
        .grad((t: Tensor) => tf.sum(tf.mul(hardSwish(t), w)))(x)
        .dataSync();
      const theirs = tf
        .grad((t: Tensor) => tf.sum(tf.mul(composite(t), w)))(x)
        .dataSync();
      ours.forEach((g, i) => assert.ok(Math.abs(g - theirs[i]!) <= 1e-6 * (1 + Math.abs(g)), `x = ${v[i]}: ${g} vs ${theirs[i]}`));
      tf.dispose([x, w]);
    });

    test('channelAffine (wasm: a depthwise 1x1 conv) rounds exactly as tf.add(tf.mul(t, k), b), every rank, k or b left out', () => {
      const rng = new Rng(21);
      for (const shape of [[2, 5, 4, 3], [1, 1, 1, 6], [4, 3], [2, 5, 3], [7]]) {
        const c = shape.at(-1)!;
        const t = tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);
        const k = tf.tensor(rng.normalArray(c), [c]);
        const b = tf.tensor(rng.normalArray(c), [c]);
        const same = (got: Tensor, want: Tensor, what: string) => {
          assert.deepEqual(got.shape, want.shape, `${what} [${shape}] shape`);
          assert.deepEqual(Array.from(got.dataSync()), Array.from(want.dataSync()), `${what} [${shape}]`);
        };
        same(channelAffine(t, k, b), tf.add(tf.mul(t, k), b), 't·k + b');
        same(channelAffine(t, k, null), tf.mul(t, k), 't·k');
        same(channelAffine(t, null, tf.neg(b)), tf.sub(t, b), 't − b');
        tf.dispose([t, k, b]);
      }
    });

    test('batch norm in training (one custom gradient): finite differences, and the gradients of the autodiffed composite, every rank and batch 1', () => {
      const rng = new Rng(22);
      for (const shape of [
        [2, 3, 4, 5],
        [1, 2, 2, 3],
        [5, 3],
        [2, 4, 3],
      ]) {
        const c = shape.at(-1)!;
        const n = shape.reduce((a, b) => a * b, 1);
        const ins: GradCheckInput[] = [
          { name: 'x', shape, values: Float32Array.from(rng.uniformArray(n, -1, 1), (v, i) => v + (i % c) * 0.5) },
          { name: 'scale', shape: [c], values: rng.uniformArray(c, 0.5, 1.5) },
          { name: 'bias', shape: [c], values: rng.uniformArray(c, -1, 1) },
        ];
        assertOk(
          gradCheck(([x, g, b]) => batchNormTrain(x!, g!, b!, 1e-3).y, ins, { samples: 16 }),
          `batchNormTrain [${shape}]`,
        );
        const axes = shape.slice(0, -1).map((_, i) => i);
        const composite = (x: Tensor, g: Tensor, b: Tensor) => {
          const mean = tf.mean(x, axes);
          const diff = tf.sub(x, mean);
          return tf.add(tf.mul(diff, tf.mul(g, tf.rsqrt(tf.add(tf.mean(tf.square(diff), axes), 1e-3)))), b);
        };
        const [x, g, b] = ins.map((i) => tf.tensor(i.values, [...i.shape]));
        const w = tf.tensor(rng.uniformArray(n, -1, 1), shape);
        const loss = (f: typeof composite) => (xx: Tensor, gg: Tensor, bb: Tensor) => tf.sum(tf.mul(f(xx, gg, bb), w));
        const ours = tf.grads(loss((xx, gg, bb) => batchNormTrain(xx, gg, bb, 1e-3).y))([x!, g!, b!]);
        const theirs = tf.grads(loss(composite))([x!, g!, b!]);
        ours.forEach((o, i) => {
          const a = o.dataSync();
          const r = theirs[i]!.dataSync();
          a.forEach((v, j) => assert.ok(Math.abs(v - r[j]!) <= 1e-4 * (1 + Math.abs(r[j]!)), `[${shape}] input ${i} at ${j}: ${v} vs ${r[j]}`));
        });
        tf.dispose([x!, g!, b!, w, ...ours, ...theirs]);
      }
    });

    test('piecewise-constant ops have zero gradient, Select routes it', () => {
      const rng = new Rng(3);
      const x = awayFromZero('x', [4, 3], rng);
      const g = tf.tidy(() =>
        tf
          .grad((t: Tensor) => tf.sum(tf.add(tf.floor(t), tf.cast(tf.greater(t, 0), 'float32'))))(tf.tensor(x.values, [...x.shape]))
          .dataSync(),
      );
      assert.ok(
        g.every((v) => v === 0),
        'floor and comparisons pass no gradient',
      );
      assertOk(
        gradCheck(([a, b]) => tf.where(tf.greater(a!, 0), a!, tf.mul(b!, 2)), [x, input('b', [4, 3], rng)]),
        'Select',
      );
    });

    test('softmax, log-softmax and reductions', () => {
      const rng = new Rng(4);
      const x = input('x', [3, 5], rng, -2, 2);
      assertOk(
        gradCheck(([t]) => tf.softmax(t!), [x]),
        'Softmax',
      );
      assertOk(
        gradCheck(([t]) => tf.logSoftmax(t!), [x]),
        'LogSoftmax',
      );
      assertOk(
        gradCheck(([t]) => tf.logSumExp(t!, 1), [x]),
        'logSumExp',
      );
      const y = input('y', [2, 3, 4], rng);
      assertOk(
        gradCheck(([t]) => tf.sum(t!, [0, 2]), [y]),
        'Sum',
      );
      assertOk(
        gradCheck(([t]) => tf.mean(t!, 1, true), [y]),
        'Mean keepDims',
      );
      assertOk(
        gradCheck(([t]) => tf.mean(t!), [y]),
        'Mean all',
      );
      const d = distinct('d', [2, 3, 4], rng);
      assertOk(
        gradCheck(([t]) => tf.max(t!, [1, 2]), [d]),
        'Max',
      );
      assertOk(
        gradCheck(([t]) => tf.min(t!, 0, true), [d]),
        'Min',
      );
      assertOk(
        gradCheck(([t]) => tf.prod(t!, 1), [input('p', [2, 3], rng, 0.5, 1.5)]),
        'Prod',
      );
    });

    test('layout ops: reshape, transpose, concat, split, stack, slice, pad, reverse, tile, gather, expandDims', () => {
      const rng = new Rng(5);
      const x = input('x', [2, 3, 4], rng);
      const y = input('y', [2, 2, 4], rng);
      assertOk(
        gradCheck(([t]) => tf.reshape(t!, [4, 6]), [x]),
        'Reshape',
      );
      assertOk(
        gradCheck(([t]) => tf.transpose(t!, [2, 0, 1]), [x]),
        'Transpose',
      );
      assertOk(
        gradCheck(([a, b]) => tf.concat([a!, b!], 1), [x, y]),
        'Concat',
      );
      assertOk(
        gradCheck(
          ([t]) => {
            const [p, q] = tf.split(t!, [1, 3], 2);
            return tf.add(tf.mul(p!, 3), tf.sum(q!, 2, true));
          },
          [x],
        ),
        'SplitV',
      );
      assertOk(
        gradCheck(([a, b]) => tf.stack([a!, tf.mul(b!, 2)], 1), [input('a', [3, 2], rng), input('b', [3, 2], rng)]),
        'Pack',
      );
      assertOk(
        gradCheck(
          ([t]) => {
            const [p, q] = tf.unstack(t!, 1);
            return tf.sub(p!, tf.mul(q!, 2));
          },
          [input('u', [3, 2, 2], rng)],
        ),
        'Unpack',
      );
      assertOk(
        gradCheck(([t]) => tf.slice(t!, [0, 1, 1], [2, 2, 2]), [x]),
        'Slice',
      );
      assertOk(
        gradCheck(
          ([t]) =>
            tf.pad(
              t!,
              [
                [1, 0],
                [0, 2],
                [1, 1],
              ],
              0.5,
            ),
          [x],
        ),
        'PadV2',
      );
      assertOk(
        gradCheck(([t]) => tf.reverse(t!, [0, 2]), [x]),
        'Reverse',
      );
      assertOk(
        gradCheck(([t]) => tf.tile(t!, [2, 1, 3]), [x]),
        'Tile',
      );
      assertOk(
        gradCheck(([t]) => tf.gather(t!, tf.tensor1d([2, 0, 2, 1], 'int32'), 1), [x]),
        'GatherV2 (repeated indices)',
      );
      assertOk(
        gradCheck(([t]) => tf.expandDims(t!, 1), [x]),
        'ExpandDims',
      );
      assertOk(
        gradCheck(([t]) => tf.broadcastTo(t!, [3, 2, 3, 4]), [x]),
        'broadcastTo',
      );
    });

    test('BatchMatMul in every transpose combination, with batch broadcasting', () => {
      const rng = new Rng(6);
      for (const [ta, tb] of [
        [false, false],
        [false, true],
        [true, false],
        [true, true],
      ] as const) {
        const a = input('a', ta ? [4, 3] : [3, 4], rng);
        const b = input('b', tb ? [5, 4] : [4, 5], rng);
        assertOk(
          gradCheck(([p, q]) => tf.matMul(p!, q!, ta, tb), [a, b]),
          `matMul ${ta} ${tb}`,
        );
      }
      assertOk(
        gradCheck(([p, q]) => tf.matMul(p!, q!), [input('a', [2, 3, 4], rng), input('b', [1, 4, 2], rng)]),
        'batched matMul, broadcast batch',
      );
    });

    test('conv2d: strides, same/valid/explicit asymmetric padding', () => {
      const rng = new Rng(7);
      for (const c of CONV_CASES) {
        assertOk(
          gradCheck(([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad), [input('x', c.x, rng), input('filter', c.f, rng)]),
          `conv2d ${c.name}`,
        );
      }
    });

    test('conv2dTranspose (Conv2DBackpropInput as a forward op)', () => {
      const rng = new Rng(8);
      assertOk(
        gradCheck(
          ([x, f]) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [2, 9, 9, 3], 2, 'valid'),
          [input('x', [2, 4, 4, 5], rng), input('filter', [3, 3, 3, 5], rng)],
        ),
        'conv2dTranspose s2',
      );
      assertOk(
        gradCheck(
          ([x, f]) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, [1, 5, 5, 2], 1, 'same'),
          [input('x', [1, 5, 5, 3], rng), input('filter', [3, 3, 2, 3], rng)],
        ),
        'conv2dTranspose same',
      );
    });

    test('depthwiseConv2d: multiplier 1 and 2, strided, padded', () => {
      const rng = new Rng(9);
      assertOk(
        gradCheck(
          ([x, f]) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'),
          [input('x', [2, 5, 5, 3], rng), input('filter', [3, 3, 3, 1], rng)],
        ),
        'depthwise m1 same',
      );
      assertOk(
        gradCheck(
          ([x, f]) =>
            tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, [
              [0, 0],
              [1, 0],
              [0, 1],
              [0, 0],
            ]),
          [input('x', [2, 6, 5, 3], rng), input('filter', [3, 3, 3, 2], rng)],
        ),
        'depthwise m2 s2 asymmetric',
      );
      // Multiplier 1 takes wasm's depthwise-conv input gradient: strides (spread dy), odd
      // sizes, asymmetric padding, a padding wider than the kernel, dilation.
      assertOk(
        gradCheck(
          ([x, f]) =>
            tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, [
              [0, 0],
              [1, 0],
              [0, 1],
              [0, 0],
            ]),
          [input('x', [2, 7, 6, 3], rng), input('filter', [3, 3, 3, 1], rng)],
        ),
        'depthwise m1 s2 asymmetric',
      );
      assertOk(
        gradCheck(
          ([x, f]) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, [2, 1], 'valid'),
          [input('x', [1, 6, 5, 2], rng), input('filter', [2, 3, 2, 1], rng)],
        ),
        'depthwise m1 strides 2x1 valid',
      );
      assertOk(
        gradCheck(
          ([x, f]) =>
            tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, [
              [0, 0],
              [3, 0],
              [0, 2],
              [0, 0],
            ]),
          [input('x', [1, 4, 4, 2], rng), input('filter', [2, 2, 2, 1], rng)],
        ),
        'depthwise m1 padding wider than the kernel',
      );
      // (cpu's own depthwise backprop kernels ignore dilation; the executor dilates the filter instead.)
      if (backend === 'wasm') {
        assertOk(
          gradCheck(
            ([x, f]) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same', 'NHWC', 2),
            [input('x', [1, 7, 7, 2], rng), input('filter', [3, 3, 2, 1], rng)],
          ),
          'depthwise m1 dilation 2',
        );
      }
    });

    test('pooling: max with all-negative windows and padding, average with padding', () => {
      const rng = new Rng(10);
      assertOk(
        gradCheck(([x]) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [distinct('x', [1, 4, 4, 2], rng, -3)]),
        'maxPool all negative',
      );
      assertOk(
        gradCheck(([x]) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), [distinct('x', [2, 5, 5, 2], rng, -2)]),
        'maxPool same, overlapping',
      );
      assertOk(
        gradCheck(([x]) => tf.avgPool(x as tf.Tensor4D, 3, 1, 1), [input('x', [2, 4, 4, 2], rng)]),
        'avgPool pad 1',
      );
      assertOk(
        gradCheck(([x]) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'same'), [input('x', [1, 5, 5, 3], rng)]),
        'avgPool same',
      );
    });
  });
}

describe('our kernels equal the cpu reference, and the replaced ones were wrong', () => {
  const rng = new Rng(11);
  /** Runs a kernel on cpu and on wasm with the same inputs; returns both results. */
  async function onBoth(
    kernel: string,
    inputs: Record<string, { shape: number[]; values: Float32Array | Int32Array; dtype?: 'float32' | 'int32' }>,
    attrs: Record<string, unknown>,
  ): Promise<[Float32Array, Float32Array, number[]]> {
    const out: Float32Array[] = [];
    let shape: number[] = [];
    for (const b of BACKENDS) {
      await selectBackend(b);
      const r = tf.tidy(() => {
        const ins = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape, v.dtype ?? 'float32')]));
        const t = tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as Tensor;
        shape = t.shape;
        return Float32Array.from(t.dataSync() as Float32Array);
      });
      out.push(r);
    }
    return [out[0]!, out[1]!, shape];
  }
  function maxDiff(a: Float32Array, b: Float32Array): number {
    assert.equal(a.length, b.length);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
    return m;
  }
  const f = (shape: number[]) => ({ shape, values: rng.normalArray(shape.reduce((a, b) => a * b, 1)) });

  after(async () => {
    await selectBackend('cpu');
  });

  test("Conv2DBackpropFilter (ours on both) and Conv2DBackpropInput (wasm: ours) match cpu's own kernels", async () => {
    const cpuFilter = originalKernel('Conv2DBackpropFilter', 'cpu');
    assert.ok(cpuFilter, 'cpu had its own Conv2DBackpropFilter');
    for (const c of CONV_CASES) {
      const x = f(c.x);
      const probe = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.f) as tf.Tensor4D, c.stride, c.pad).shape);
      const dy = f(probe);
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f };
      const [a, b] = await onBoth('Conv2DBackpropFilter', { x, dy }, attrs);
      await selectBackend('cpu');
      const ref = tf.tidy(() => {
        const t = cpuFilter.kernelFunc({
          inputs: { x: tf.tensor(x.values, x.shape), dy: tf.tensor(dy.values, dy.shape) },
          attrs: attrs as tf.NamedAttrMap,
          backend: tf.backend(),
        }) as tf.TensorInfo;
        return Float32Array.from(tf.backend().readSync(t.dataId) as Float32Array);
      });
      assert.ok(maxDiff(a, ref) < 1e-4, `cpu filter grad ${c.name}: ${maxDiff(a, ref)}`);
      assert.ok(maxDiff(b, ref) < 1e-4, `wasm filter grad ${c.name}: ${maxDiff(b, ref)}`);
      const [p, q] = await onBoth('Conv2DBackpropInput', { dy, filter: f(c.f) }, { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x });
      assert.ok(maxDiff(p, q) < 1e-4, `input grad ${c.name}: ${maxDiff(p, q)}`);
    }
  });

  test('depthwise backprop filter/input (wasm: ours) match cpu', async () => {
    for (const c of [
      { x: [2, 6, 6, 3] as Shape4, f: [3, 3, 3, 2] as Shape4, strides: 2, pad: 'same' as Pad },
      { x: [1, 7, 7, 4] as Shape4, f: [3, 3, 4, 1] as Shape4, strides: 1, pad: 'valid' as Pad },
      {
        x: [2, 5, 6, 2] as Shape4,
        f: [2, 3, 2, 3] as Shape4,
        strides: 1,
        pad: [
          [0, 0],
          [0, 1],
          [2, 0],
          [0, 0],
        ] as Pad,
      },
      {
        x: [2, 7, 6, 3] as Shape4,
        f: [3, 3, 3, 1] as Shape4,
        strides: 2,
        pad: [
          [0, 0],
          [1, 0],
          [0, 1],
          [0, 0],
        ] as Pad,
      },
      { x: [1, 8, 9, 5] as Shape4, f: [3, 3, 5, 1] as Shape4, strides: 2, pad: 'same' as Pad },
    ]) {
      const probe = tf.tidy(() => tf.depthwiseConv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.f) as tf.Tensor4D, c.strides, c.pad).shape);
      const dy = f(probe);
      const attrs = { strides: c.strides, dilations: 1, pad: c.pad };
      const [a, b] = await onBoth('DepthwiseConv2dNativeBackpropFilter', { x: f(c.x), dy }, { ...attrs, filterShape: c.f });
      assert.ok(maxDiff(a, b) < 1e-4, `depthwise filter grad ${JSON.stringify(c)}: ${maxDiff(a, b)}`);
      const [p, q] = await onBoth('DepthwiseConv2dNativeBackpropInput', { dy, filter: f(c.f) }, { ...attrs, inputShape: c.x });
      assert.ok(maxDiff(p, q) < 1e-4, `depthwise input grad ${JSON.stringify(c)}: ${maxDiff(p, q)}`);
    }
  });

  test('depthwise kernels with dilation 2 equal the undilated kernels on a zero-spread filter', async () => {
    // (cpu's own depthwise backprop kernels ignore dilation, so they cannot be the reference.)
    await selectBackend('wasm');
    const x = f([2, 9, 9, 3]);
    const w = f([3, 3, 3, 2]);
    const spread = new Float32Array(5 * 5 * 3 * 2);
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++) for (let k = 0; k < 6; k++) spread[(2 * kh * 5 + 2 * kw) * 6 + k] = w.values[(kh * 3 + kw) * 6 + k]!;
    const dy = f([2, 5, 5, 6]);
    const run = (kernel: string, ins: Record<string, Tensor>, attrs: Record<string, unknown>) =>
      tf.tidy(() => Float32Array.from((tf.engine().runKernel(kernel, ins, attrs as tf.NamedAttrMap) as Tensor).dataSync() as Float32Array));
    const xt = tf.tensor(x.values, x.shape);
    const dyt = tf.tensor(dy.values, dy.shape);
    const dilated = run('DepthwiseConv2dNativeBackpropFilter', { x: xt, dy: dyt }, { strides: 1, dilations: 2, pad: 'valid', filterShape: [3, 3, 3, 2] });
    const plain = run('DepthwiseConv2dNativeBackpropFilter', { x: xt, dy: dyt }, { strides: 1, dilations: 1, pad: 'valid', filterShape: [5, 5, 3, 2] });
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++)
        for (let k = 0; k < 6; k++) {
          assert.ok(
            Math.abs(dilated[(kh * 3 + kw) * 6 + k]! - plain[(2 * kh * 5 + 2 * kw) * 6 + k]!) < 1e-4,
            'dilated filter gradient = spread filter gradient at the taps',
          );
        }
    const dxDilated = run(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: dyt, filter: tf.tensor(w.values, w.shape) },
      { strides: 1, dilations: 2, pad: 'valid', inputShape: [2, 9, 9, 3] },
    );
    const dxPlain = run(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: dyt, filter: tf.tensor(spread, [5, 5, 3, 2]) },
      { strides: 1, dilations: 1, pad: 'valid', inputShape: [2, 9, 9, 3] },
    );
    assert.ok(maxDiff(dxDilated, dxPlain) < 1e-4, `dilated input gradient: ${maxDiff(dxDilated, dxPlain)}`);
    tf.dispose([xt, dyt]);
  });

  test('UnsortedSegmentSum (wasm: ours) matches cpu', async () => {
    const [a, b, shape] = await onBoth(
      'UnsortedSegmentSum',
      { x: f([5, 3]), segmentIds: { shape: [5], values: Int32Array.from([2, 0, 2, 3, 0]), dtype: 'int32' } },
      { numSegments: 4 },
    );
    assert.deepEqual(shape, [4, 3]);
    assert.ok(maxDiff(a, b) < 1e-6);
  });

  test('MaxPoolGrad: an all-negative window sends its gradient to its maximum', async () => {
    // Windows of 2x2, stride 2: maxima at -1 (index 4), -3 (2), -9 (8), -11 (10).
    const x = [-5, -2, -3, -4, -1, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16];
    const expected = [0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0];
    const run = (kernelFunc?: tf.KernelFunc) =>
      tf.tidy(() => {
        const input = tf.tensor4d(x, [1, 4, 4, 1]);
        const output = tf.maxPool(input, 2, 2, 'valid');
        const dy = tf.onesLike(output);
        const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
        const t = kernelFunc
          ? (kernelFunc({ inputs: { dy, input, output }, attrs, backend: tf.backend() }) as tf.TensorInfo)
          : (tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, attrs) as Tensor);
        return Array.from(tf.backend().readSync(t.dataId) as Float32Array);
      });
    for (const b of BACKENDS) {
      await selectBackend(b);
      assert.deepEqual(run(), expected, `${b}: MaxPoolGrad`);
    }
    const theirs = originalKernel('MaxPoolGrad', 'wasm');
    assert.ok(theirs, 'wasm had its own MaxPoolGrad');
    await selectBackend('wasm');
    theirs.setupFunc?.(tf.backend());
    assert.notDeepEqual(run(theirs.kernelFunc), expected, "wasm's own MaxPoolGrad gets this wrong (the reason ours exists)");
  });

  test('AvgPoolGrad: padded windows divide by their in-bounds count', async () => {
    // 3x3 input, 3x3 window, stride 1, pad 1: the window centred on a corner holds 4
    // in-bounds elements, on an edge 6, in the centre 9. An input's gradient is the sum of
    // 1/count over the windows that contain it.
    const corner = 1 / 4 + 1 / 6 + 1 / 6 + 1 / 9;
    const edge = 1 / 4 + 1 / 4 + 1 / 6 + 1 / 6 + 1 / 6 + 1 / 9;
    const centre = 4 / 4 + 4 / 6 + 1 / 9;
    const run = (kernelFunc?: tf.KernelFunc) =>
      tf.tidy(() => {
        const input = tf.ones([1, 3, 3, 1]);
        const dy = tf.onesLike(tf.avgPool(input as tf.Tensor4D, 3, 1, 1));
        const attrs = { filterSize: 3, strides: 1, pad: 1 };
        const t = kernelFunc
          ? (kernelFunc({ inputs: { dy, input }, attrs, backend: tf.backend() }) as tf.TensorInfo)
          : (tf.engine().runKernel('AvgPoolGrad', { dy, input }, attrs) as Tensor);
        return Array.from(tf.backend().readSync(t.dataId) as Float32Array);
      });
    // Brute force the expected gradient: Σ over windows containing the input of 1/count.
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let g = 0;
        for (let oi = 0; oi < 3; oi++) {
          for (let oj = 0; oj < 3; oj++) {
            if (Math.abs(oi - i) > 1 || Math.abs(oj - j) > 1) continue;
            const count = (Math.min(oi + 1, 2) - Math.max(oi - 1, 0) + 1) * (Math.min(oj + 1, 2) - Math.max(oj - 1, 0) + 1);
            g += 1 / count;
          }
        }
        expected.push(g);
      }
    }
    assert.ok(Math.abs(expected[0]! - corner) < 1e-12, `corner ${expected[0]} vs ${corner}`);
    assert.ok(Math.abs(expected[1]! - edge) < 1e-12, `edge ${expected[1]} vs ${edge}`);
    assert.ok(Math.abs(expected[4]! - centre) < 1e-12, `centre ${expected[4]} vs ${centre}`);
    for (const b of BACKENDS) {
      await selectBackend(b);
      const got = run();
      got.forEach((v, k) => assert.ok(Math.abs(v - expected[k]!) < 1e-6, `${b}: AvgPoolGrad[${k}] = ${v}, want ${expected[k]}`));
      const theirs = originalKernel('AvgPoolGrad', b);
      assert.ok(theirs, `${b} had its own AvgPoolGrad`);
      theirs.setupFunc?.(tf.backend());
      const wrong = run(theirs.kernelFunc);
      assert.ok(Math.abs(wrong[0]! - expected[0]!) > 0.1, `${b}'s own AvgPoolGrad divides the corner by 9 (${wrong[0]}), the reason ours exists`);
    }
  });
});
