/**
 * The native backend's fused kernels (src/train/native.ts) against the composites they
 * replace, computed on the cpu backend from the same values: batch norm with batch
 * statistics (y, the running mean and variance updated with the unbiased batch variance, and
 * the gradients of x, scale and offset)
 * at ranks 4 and 2, ReLU's gradient, Clip(0, 6) and hard-sigmoid through Relu6, and whole
 * executor training steps of ResNet-20, MobileNetV2 and the depthwise + SE + hard-swish net. Skipped where @tensorflow/tfjs-node is not installed (tests never
 * need it; docs/benchmarks.md says how to build it offline).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { Rng, TfExecutor, createOptimizer, crossEntropy, dataInputOf, distillationLoss, logitsNameOf, selectBackend } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { nativeBatchNormTrain, nativeBiasAdd, nativeClip, nativeCrossEntropy, nativeHardSigmoid } from '../../src/train/native.js';
import { nativeOptimizerAvailable } from '../../src/train/native-optim.js';
import { buildModel } from '../../models/index.js';
import { buildMobileSe, MOBILE_SE_SHAPE } from '../../bench/mobile-se.js';

async function hasNative(): Promise<boolean> {
  try {
    await selectBackend('tfjs-node');
    return true;
  } catch {
    return false;
  }
}

const native = await hasNative();
const skip = native ? false : '@tensorflow/tfjs-node is not installed';

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  assert.ok(worst < tol, `${what}: worst relative difference ${worst}`);
}

/** y, the updated running mean and variance, and the gradients of Σ y·w, as arrays, on the backend now active. */
function bnRun(shape: number[], rng: Rng, useNative: boolean): Float32Array[] {
  const c = shape.at(-1)!;
  const n = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(rng.uniformArray(n, -2, 3), shape);
  const scale = tf.tensor1d(rng.uniformArray(c, 0.5, 1.5));
  const bias = tf.tensor1d(rng.uniformArray(c, -1, 1));
  const w = tf.tensor(rng.uniformArray(n, -1, 1), shape);
  const rm = tf.tensor1d(rng.uniformArray(c, -1, 1));
  const rv = tf.tensor1d(rng.uniformArray(c, 0.5, 2));
  const eps = 1e-5;
  const mom = 0.9;
  const forward = (xt: Tensor, s: Tensor, b: Tensor) => {
    if (useNative) {
      const r = nativeBatchNormTrain(xt, s, b, eps, { mean: rm, variance: rv, momentum: mom });
      assert.ok(r, 'the native kernel applies on tfjs-node');
      return r;
    }
    const axes = [...Array(xt.rank - 1).keys()];
    const mean = tf.mean(xt, axes);
    const diff = tf.sub(xt, mean);
    const variance = tf.mean(tf.square(diff), axes);
    const y = tf.add(tf.mul(diff, tf.mul(s, tf.rsqrt(tf.add(variance, eps)))), b);
    const m = n / c;
    const runningMean = tf.add(tf.mul(rm, mom), tf.mul(mean, 1 - mom));
    const runningVar = tf.add(tf.mul(rv, mom), tf.mul(tf.mul(variance, m / (m - 1)), 1 - mom));
    return { y, runningMean, runningVar };
  };
  const f = forward(x, scale, bias);
  const grads = tf.grads((a: Tensor, b: Tensor, d: Tensor) => tf.sum(tf.mul(forward(a, b, d).y, w)))([x, scale, bias]);
  return [f.y, f.runningMean, f.runningVar, ...grads].map((t) => t.dataSync() as Float32Array);
}

for (const shape of [
  [4, 5, 6, 3],
  [16, 7],
]) {
  test(`native fused batch norm (rank ${shape.length}) equals the composite on cpu: outputs and gradients`, { skip }, async () => {
    await selectBackend('cpu');
    const want = bnRun(shape, new Rng(5), false);
    await selectBackend('tfjs-node');
    const got = bnRun(shape, new Rng(5), true);
    ['y', 'running mean', 'running variance (unbiased batch variance)', 'dx', 'dscale', 'doffset'].forEach((what, i) => close(got[i]!, want[i]!, 2e-4, what));
  });
}

test('native ReLU gradient (ReluGrad) equals the cpu one, zero at and below 0', { skip }, async () => {
  const xs = Float32Array.from([-2, -0.5, 0, 0.25, 3, -1e-3]);
  const dys = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const run = () =>
    tf
      .grad((x: Tensor) => tf.sum(tf.mul(tf.relu(x), tf.tensor1d(dys))))(tf.tensor1d(xs))
      .dataSync();
  await selectBackend('cpu');
  const want = run();
  await selectBackend('tfjs-node');
  const got = run();
  assert.deepEqual([...got], [...want]);
  assert.deepEqual([...got], [0, 0, 0, 4, 5, 0]);
});

test('native Clip(0, 6) → Relu6 and hard-sigmoid → relu6: values and gradients equal the cpu ones', { skip }, async () => {
  const xs = Float32Array.from([-4, -3.5, -1, 0.5, 2.9, 3.2, 5.5, 6.5, 8]);
  const run = () => {
    const x = tf.tensor1d(xs);
    const clip = (t: Tensor) => nativeClip(t, 0, 6) ?? tf.clipByValue(t, 0, 6);
    const hs = (t: Tensor) => nativeHardSigmoid(t, 1 / 6, 0.5) ?? tf.clipByValue(tf.add(tf.mul(t, 1 / 6), 0.5), 0, 1);
    const w = tf.tensor1d(xs.map((_, i) => i + 1));
    return [clip(x), hs(x), ...tf.grads((t: Tensor) => tf.sum(tf.mul(tf.add(clip(t), tf.mul(t, hs(t))), w)))([x])].map((t) => t.dataSync());
  };
  await selectBackend('cpu');
  const want = run();
  await selectBackend('tfjs-node');
  assert.ok(nativeClip(tf.ones([1]), 0, 6) && nativeHardSigmoid(tf.ones([1]), 1 / 6, 0.5), 'the native forms apply on tfjs-node');
  const got = run();
  ['clip', 'hard-sigmoid', 'gradient'].forEach((what, i) => close(got[i]!, want[i]!, 1e-6, what));
});

const NETS: [string, () => Model, number[]][] = [
  ['the MLP 784-500-300-10 (Gemm, ReLU)', () => buildModel('mlp', { seed: 3 }), [784]],
  ['ResNet-20 (BN, ReLU, stride-2 and same-padded convs)', () => buildModel('resnet20', { seed: 3 }), [3, 32, 32]],
  ['MobileNetV2 (ReLU6 as Clip, depthwise)', () => buildModel('mobilenetv2', { seed: 3, width: 0.25 }), [3, 32, 32]],
  ['mobile-se (hard-swish, SE hard-sigmoid)', () => buildMobileSe(3, 10), MOBILE_SE_SHAPE],
];

for (const [name, make, shape] of NETS)
  test(`a training step of ${name} gives the same loss, gradients and running statistics on tfjs-node as on cpu`, { skip }, async () => {
    const model = make();
    const step = () => {
      const exec = TfExecutor.create(model, { trainable: 'all', batchNorm: 'train', seed: 1 });
      const vars = exec.trainableVariables();
      const rng = new Rng(9);
      const x = tf.tensor(rng.uniformArray(2 * shape.reduce((a, b) => a * b, 1)), [2, ...shape]);
      const y = tf.tensor1d([1, 7], 'int32');
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(exec.run({ [dataInputOf(model).name]: x }, { training: true, outputs: [logitsNameOf(model)] })[logitsNameOf(model)]!, y),
        vars,
      );
      // Every variable after the step, trainable or not: the BN running statistics included.
      const all = [...exec.variables].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v.dataSync() as Float32Array);
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array), all };
      exec.dispose();
      return out;
    };
    await selectBackend('cpu');
    const want = step();
    await selectBackend('tfjs-node');
    const got = step();
    assert.ok(Math.abs(got.loss - want.loss) < 1e-4 * (1 + Math.abs(want.loss)), `loss ${got.loss} vs ${want.loss}`);
    got.grads.forEach((g, i) => close(g, want.grads[i]!, 2e-3, `gradient ${i}`));
    assert.equal(got.all.length, want.all.length);
    got.all.forEach((v, i) => close(v, want.all[i]!, 1e-4, `variable ${i} after the step`));
  });

/** Three steps of an optimiser over a rank-2 and a rank-1 variable; the values after each step and the exported slots. */
function optimizerRun(name: string, opts: Parameters<typeof createOptimizer>[1], shareFirst: boolean): { after: Float32Array[]; slots: Float32Array[] } {
  const rng = new Rng(4);
  const w = tf.variable(tf.tensor2d(rng.uniformArray(12, -1, 1), [3, 4]));
  const b = tf.variable(tf.tensor1d(rng.uniformArray(4, -1, 1)));
  // A tensor sharing w's data (tfjs clones share it on tfjs-node): the update must not change it.
  const alias = shareFirst ? tf.clone(w) : undefined;
  const aliasBefore = alias?.dataSync().slice();
  const opt = createOptimizer(name, opts);
  const after: Float32Array[] = [];
  for (let s = 0; s < 3; s++) {
    const grads = new Map<tf.Variable, Tensor>([
      [w, tf.tensor2d(rng.uniformArray(12, -1, 1), [3, 4])],
      [b, tf.tensor1d(rng.uniformArray(4, -1, 1))],
    ]);
    opt.apply([w, b], grads, 0.1 / (s + 1));
    for (const g of grads.values()) g.dispose();
    after.push(w.dataSync() as Float32Array, b.dataSync() as Float32Array);
  }
  if (alias) assert.deepEqual([...alias.dataSync()], [...aliasBefore!], "a tensor sharing the variable's data keeps its value");
  const slots = opt
    .exportState()
    .slots.sort((x, y) => `${x.kind}${x.variable.rank}`.localeCompare(`${y.kind}${y.variable.rank}`))
    .map((x) => x.data);
  opt.dispose();
  alias?.dispose();
  w.dispose();
  b.dispose();
  return { after, slots };
}

test(
  'native cross-entropy (SparseSoftmaxCrossEntropyWithLogits) equals the cpu one: loss and gradient; a label out of range is an error',
  { skip },
  async () => {
    const rng = new Rng(6);
    const z = rng.uniformArray(7 * 5, -4, 4);
    const labels = Int32Array.from([0, 4, 2, 2, 1, 3, 0]);
    const w = rng.uniformArray(1, 0.5, 2)[0]!;
    const direct = () => {
      const y = tf.tensor1d(labels, 'int32');
      const g = tf.grad((t: Tensor) => tf.mul(crossEntropy(t, y), w))(tf.tensor2d(z, [7, 5]));
      return [crossEntropy(tf.tensor2d(z, [7, 5]), y).dataSync(), g.dataSync()];
    };
    await selectBackend('cpu');
    const want = direct();
    await selectBackend('tfjs-node');
    assert.ok(nativeCrossEntropy(tf.tensor2d(z, [7, 5]), tf.tensor1d(labels, 'int32')), 'the native op applies on tfjs-node');
    const got = direct();
    close(got[0]!, want[0]!, 1e-6, 'loss');
    close(got[1]!, want[1]!, 1e-6, 'gradient');
    assert.throws(() => crossEntropy(tf.tensor2d(z, [7, 5]), tf.tensor1d(Int32Array.from([0, 5, 0, 0, 0, 0, 0]), 'int32')).dataSync(), /label value of 5/);
  },
);

test('native bias add (BiasAdd, BiasAddGrad) equals the broadcasting add on cpu: values and both gradients, ranks 2 and 4', { skip }, async () => {
  for (const shape of [
    [5, 7],
    [2, 3, 4, 6],
  ]) {
    const rng = new Rng(12);
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = rng.uniformArray(n, -1, 1);
    const bs = rng.uniformArray(shape.at(-1)!, -1, 1);
    const ws = rng.uniformArray(n, -1, 1);
    const run = (add: (x: Tensor, b: Tensor) => Tensor) => {
      const w = tf.tensor(ws, shape);
      const f = (x: Tensor, b: Tensor) => tf.sum(tf.mul(add(x, b), w));
      return [add(tf.tensor(xs, shape), tf.tensor1d(bs)), ...tf.grads(f)([tf.tensor(xs, shape), tf.tensor1d(bs)])].map((t) => t.dataSync());
    };
    await selectBackend('cpu');
    const want = run((x, b) => tf.add(x, b));
    await selectBackend('tfjs-node');
    const got = run((x, b) => {
      const y = nativeBiasAdd(x, b);
      assert.ok(y, 'the native op applies on tfjs-node');
      return y;
    });
    ['y', 'dx', 'dbias'].forEach((what, i) => close(got[i]!, want[i]!, 1e-6, `${what} (rank ${shape.length})`));
  }
});

test(
  'native: distillation with the soft term alone (rho 1) on unlabeled data (labels −1) equals the cpu loss and gradient, never reaching the cross-entropy op',
  { skip },
  async () => {
    const rng = new Rng(13);
    const s = rng.uniformArray(4 * 6, -3, 3);
    const t = rng.uniformArray(4 * 6, -3, 3);
    const run = () => {
      const y = tf.tensor1d(Int32Array.from([-1, -1, -1, -1]), 'int32');
      const teacher = tf.tensor2d(t, [4, 6]);
      const f = (z: Tensor) => distillationLoss(z, teacher, y, { rho: 1, temperature: 2 });
      return [
        f(tf.tensor2d(s, [4, 6])).dataSync(),
        tf
          .grad(f)(tf.tensor2d(s, [4, 6]))
          .dataSync(),
      ];
    };
    await selectBackend('cpu');
    const want = run();
    await selectBackend('tfjs-node');
    const got = run();
    close(got[0]!, want[0]!, 1e-6, 'loss');
    close(got[1]!, want[1]!, 1e-6, 'gradient');
  },
);

const OPTIMIZERS_CHECKED: [string, Parameters<typeof createOptimizer>[1]][] = [
  ['sgd', { momentum: 0.9, weightDecay: 0.01 }],
  ['sgd', { momentum: 0.9, nesterov: true }],
  ['sgd', { momentum: 0 }],
  ['adam', {}],
  ['adam', { weightDecay: 0.1 }],
  ['adamw', { weightDecay: 0.1 }],
];

for (const [name, opts] of OPTIMIZERS_CHECKED)
  test(`native ${name} ${JSON.stringify(opts)} (TensorFlow's fused update) equals the cpu steps, slots included`, { skip }, async () => {
    await selectBackend('cpu');
    const want = optimizerRun(name, opts, false);
    await selectBackend('tfjs-node');
    assert.ok(nativeOptimizerAvailable(), 'the fused updates apply on tfjs-node');
    for (const share of [false, true]) {
      const got = optimizerRun(name, opts, share);
      got.after.forEach((v, i) => close(v, want.after[i]!, 2e-6, `variable after update ${i >> 1} (${share ? 'shared data' : 'in place'})`));
      assert.equal(got.slots.length, want.slots.length, 'slot count');
      got.slots.forEach((v, i) => close(v, want.slots[i]!, 2e-6, `slot ${i}`));
    }
  });

test(
  'native optimiser: a state exported after two steps and imported into a new optimiser (or only its first moments into the same one) continues as one unbroken run; an outside assignment is picked up',
  { skip },
  async () => {
    await selectBackend('tfjs-node');
    const rng = new Rng(8);
    const start = rng.uniformArray(6, -1, 1);
    const grads = [0, 1, 2, 3].map(() => rng.uniformArray(6, -1, 1));
    const run = (split: boolean, partial = false) => {
      const p = tf.variable(tf.tensor2d(start, [2, 3]));
      let opt = createOptimizer('adam', {});
      grads.forEach((g, s) => {
        if (partial && s === 2) {
          // Only the first moments, into the same optimiser: the second moments stay.
          const st = opt.exportState();
          opt.importState({ steps: st.steps, slots: st.slots.filter((x) => x.kind === 'm').map((x) => ({ ...x, data: x.data.slice() })) });
        }
        if (split && s === 2) {
          const st = opt.exportState();
          const copy = { steps: st.steps, slots: st.slots.map((x) => ({ ...x, data: x.data.slice() })) };
          opt.dispose();
          opt = createOptimizer('adam', {});
          opt.importState(copy);
        }
        const gt = tf.tensor2d(g, [2, 3]);
        opt.apply([p], new Map([[p, gt]]), 0.05);
        gt.dispose();
      });
      const out = p.dataSync().slice();
      // A value assigned from outside (a restored checkpoint) is what the next update starts from.
      p.assign(tf.zerosLike(p));
      const gt = tf.ones([2, 3]);
      opt.apply([p], new Map([[p, gt]]), 0);
      const zero = p.dataSync().slice();
      opt.dispose();
      p.dispose();
      gt.dispose();
      return { out, zero };
    };
    const whole = run(false);
    const split = run(true);
    close(split.out, whole.out, 1e-7, 'resumed run');
    close(run(false, true).out, whole.out, 1e-7, 'a partial state imported mid-run');
    assert.deepEqual([...whole.zero], [0, 0, 0, 0, 0, 0]);
  },
);
