/**
 * Loss values against numbers worked out by hand (the arithmetic is in the comments), and
 * gradients of the losses against finite differences on the cpu backend.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, distillationLoss, l1Penalty, mimicLoss, selectBackend, CompilerError } from '../../src/index.js';
import { correctCount, correctCountOnHost } from '../../src/train/losses.js';

before(async () => {
  await selectBackend('cpu');
});

const close = (got: number, want: number, tol = 1e-5) => assert.ok(Math.abs(got - want) <= tol, `${got} vs ${want}`);
const num = (t: tf.Tensor) => t.dataSync()[0]!;

test('cross-entropy: mean of -log softmax at the label', () => {
  // row 1: logsumexp(1,2,3) = 3 + ln(1 + e^-1 + e^-2) = 3.407606; label 2 → 3.407606 - 3 = 0.407606
  // row 2: logsumexp(1,0,0) = 1 + ln(1 + 2e^-1) = 1.551445; label 0 → 0.551445
  // mean = (0.407606 + 0.551445) / 2 = 0.479525
  const l = crossEntropy(
    tf.tensor2d([
      [1, 2, 3],
      [1, 0, 0],
    ]),
    tf.tensor1d([2, 0], 'int32'),
  );
  close(num(l), 0.4795253);
});

test('distillation: rho*T^2*KL(softmax(t/T) || softmax(s/T)) + (1-rho)*CE', () => {
  // s = [1,2,3], t = [3,2,1], T = 2: p_t = softmax([1.5,1,0.5]) = [0.506480, 0.307196, 0.186324],
  // log p_s = logsoftmax([0.5,1,1.5]) = [-1.582385, -1.082385, -0.582385],
  // KL = Σ p_t (log p_t - log p_s) = 0.320157; CE(s, 0) = 2.407606;
  // L = 0.5 * 4 * 0.320157 + 0.5 * 2.407606 = 1.844116
  const l = distillationLoss(tf.tensor2d([[1, 2, 3]]), tf.tensor2d([[3, 2, 1]]), tf.tensor1d([0], 'int32'), { temperature: 2, rho: 0.5 });
  close(num(l), 1.8441163);
  // rho = 0 is plain cross-entropy; a student equal to its teacher has KL 0
  close(num(distillationLoss(tf.tensor2d([[1, 2, 3]]), tf.tensor2d([[3, 2, 1]]), tf.tensor1d([0], 'int32'), { rho: 0 })), 2.407606);
  close(num(distillationLoss(tf.tensor2d([[1, 2, 3]]), tf.tensor2d([[1, 2, 3]]), tf.tensor1d([2], 'int32'), { rho: 1, temperature: 3 })), 0);
});

test('feature mimic: MSE, L1, and KL/JS over the channel softmax at each position', () => {
  // [N=1, C=2, H=1, W=2]: teacher channels [1,2] and [0,1]; student [0,0] and [1,3].
  const t = tf.tensor4d([1, 2, 0, 1], [1, 2, 1, 2]);
  const s = tf.tensor4d([0, 0, 1, 3], [1, 2, 1, 2]);
  // MSE = (1 + 4 + 1 + 4) / 4 = 2.5;  L1 = (1 + 2 + 1 + 2) / 4 = 1.5
  close(num(mimicLoss(t, s, 'mse')), 2.5);
  close(num(mimicLoss(t, s, 'l1')), 1.5);
  // position 0: P = softmax([1,0]) = [0.731059, 0.268941], Q = softmax([0,1]) = [0.268941, 0.731059]
  //   KL = 0.731059 ln(0.731059/0.268941) + 0.268941 ln(0.268941/0.731059) = 0.462117
  // position 1: P = softmax([2,1]) = [0.731059, 0.268941], Q = softmax([0,3]) = [0.047426, 0.952574]
  //   KL = 0.731059 ln(15.414) + 0.268941 ln(0.282327) = 1.659560
  // mean over the two positions = 1.060839
  close(num(mimicLoss(t, s, 'kl')), 1.0608386);
  // JS: ½KL(P‖M) + ½KL(Q‖M), M = (P+Q)/2, per position: 0.108729 and 0.284089 → mean 0.196409
  close(num(mimicLoss(t, s, 'js')), 0.196409);
  // identical values cost nothing; JS is symmetric
  close(num(mimicLoss(t, t, 'kl')), 0);
  close(num(mimicLoss(s, t, 'js')), num(mimicLoss(t, s, 'js')));
  // rank-2 values ([N,C], a dense layer) use the softmax over C
  close(
    num(
      mimicLoss(
        tf.tensor2d([
          [1, 0],
          [2, 1],
        ]),
        tf.tensor2d([
          [0, 1],
          [0, 3],
        ]),
        'kl',
      ),
    ),
    1.0608386,
  );
  assert.throws(
    () => mimicLoss(t, tf.zeros([1, 3, 1, 2]), 'mse'),
    (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
  );
});

test('L1 penalty: lambda * sum of |p| over the chosen tensors', () => {
  // 0.1 * (|1| + |-2| + |0.5| + |-3|) = 0.65
  close(num(l1Penalty([tf.tensor1d([1, -2]), tf.tensor2d([[0.5, -3]])], 0.1)), 0.65);
  close(num(l1Penalty([], 0.1)), 0);
});

test('gradients of every loss match finite differences', () => {
  const rng = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 2);
  const labels = tf.tensor1d([1, 0, 2], 'int32');
  const teacher = tf.tensor2d(rng(9, 2), [3, 3]);
  const tFeat = tf.tensor4d(rng(24, 3), [2, 3, 2, 2]);
  const cases: [string, number[], (x: tf.Tensor) => tf.Scalar][] = [
    ['ce', [3, 3], (x) => crossEntropy(x, labels)],
    ['kd', [3, 3], (x) => distillationLoss(x, teacher, labels, { temperature: 3, rho: 0.7 })],
    ['mse', [2, 3, 2, 2], (x) => mimicLoss(tFeat, x, 'mse')],
    ['kl', [2, 3, 2, 2], (x) => mimicLoss(tFeat, x, 'kl')],
    ['js', [2, 3, 2, 2], (x) => mimicLoss(tFeat, x, 'js')],
    ['l1', [2, 3, 2, 2], (x) => mimicLoss(tFeat, x, 'l1')],
  ];
  for (const [name, shape, f] of cases) {
    const x0 = rng(
      shape.reduce((a, b) => a * b, 1),
      5,
    );
    const g = tf
      .grad((x: tf.Tensor) => f(x))(tf.tensor(x0, shape))
      .dataSync();
    const h = 1e-2;
    for (let i = 0; i < x0.length; i += 3) {
      const xp = Float64Array.from(x0);
      xp[i]! += h;
      const xm = Float64Array.from(x0);
      xm[i]! -= h;
      const fd = (num(f(tf.tensor(Float32Array.from(xp), shape))) - num(f(tf.tensor(Float32Array.from(xm), shape)))) / (2 * h);
      assert.ok(Math.abs(fd - g[i]!) <= 2e-3 + 2e-2 * Math.abs(fd), `${name}[${i}]: analytic ${g[i]} vs numeric ${fd}`);
    }
  }
});

test('the top-1 count on the host equals tf.argMax against the labels, the first largest logit winning a tie', () => {
  const logits = [
    [0.1, 2, -1], // 1
    [3, 3, 1], // tie: 0
    [-5, -5, -5], // tie: 0
    [0, 1, 1], // tie: 1
    [7, -2, 7.5], // 2
  ];
  const labels = [1, 1, 0, 2, 2];
  const t = tf.tensor2d(logits);
  const y = tf.tensor1d(labels, 'int32');
  const want = correctCount(t, y).dataSync()[0]!;
  assert.equal(want, 3);
  assert.equal(correctCountOnHost(t.dataSync(), labels, 3), want);
});
