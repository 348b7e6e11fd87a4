/**
 * Optimiser steps and learning-rate schedules against updates computed by hand
 * (PyTorch's rules; the arithmetic is in the comments).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, createSchedule, selectBackend, CompilerError } from '../../src/index.js';

before(async () => {
  await selectBackend('cpu');
});

const close = (got: number, want: number, tol = 1e-6) => assert.ok(Math.abs(got - want) <= tol, `${got} vs ${want}`);

function run(name: string, opts: Parameters<typeof createOptimizer>[1], grads: number[], rank2 = true): number[] {
  const p = tf.variable(rank2 ? tf.tensor2d([[1]]) : tf.tensor1d([1]));
  const opt = createOptimizer(name, opts);
  const out: number[] = [];
  for (const g of grads) {
    opt.apply([p], new Map([[p, rank2 ? tf.tensor2d([[g]]) : tf.tensor1d([g])]]), 0.1);
    out.push(p.dataSync()[0]!);
  }
  opt.dispose();
  return out;
}

test('SGD with momentum and weight decay', () => {
  // lr 0.1, µ 0.9, λ 0.1, p0 = 1, ∇ = 0.5 twice:
  // step 1: g = 0.5 + 0.1·1 = 0.6;   v = 0.6;                 p = 1 − 0.06 = 0.94
  // step 2: g = 0.5 + 0.094 = 0.594; v = 0.9·0.6 + 0.594 = 1.134; p = 0.94 − 0.1134 = 0.8266
  const [a, b] = run('sgd', { momentum: 0.9, weightDecay: 0.1 }, [0.5, 0.5]);
  close(a!, 0.94);
  close(b!, 0.8266);
  // plain SGD: p = 1 − 0.1·0.5 = 0.95, then 0.90
  assert.deepEqual(
    run('sgd', { momentum: 0 }, [0.5, 0.5]).map((v) => Number(v.toFixed(6))),
    [0.95, 0.9],
  );
  // Nesterov: step 1 v = 0.5, step = g + µv = 0.95 → p = 0.905
  close(run('sgd', { momentum: 0.9, nesterov: true }, [0.5])[0]!, 0.905);
  // weight decay skips rank-1 tensors (biases, BN, β) by default: p = 1 − 0.1·0.5 = 0.95
  close(run('sgd', { momentum: 0, weightDecay: 0.1 }, [0.5], false)[0]!, 0.95);
});

test('Adam, Adam with L2 decay, and AdamW', () => {
  // lr 0.1, β1 0.9, β2 0.999, ε 1e-8, p0 = 1, ∇ = 0.5 then −0.25:
  // step 1: m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25 → p = 1 − 0.1·0.5/0.5 = 0.9
  // step 2: m = 0.045 − 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225;
  //         m̂ = 0.02/0.19 = 0.105263, v̂ = 0.00031225/0.001999 = 0.156203 → p = 0.9 − 0.1·0.266337 = 0.873366
  const adam = run('adam', {}, [0.5, -0.25]);
  close(adam[0]!, 0.9);
  close(adam[1]!, 0.8733663, 2e-6);
  // Adam with L2 (λ 0.1 added to the gradient): 0.9000000, 0.8544414
  const l2 = run('adam', { weightDecay: 0.1 }, [0.5, -0.25]);
  close(l2[0]!, 0.9);
  close(l2[1]!, 0.8544414, 2e-6);
  // AdamW (p ← p(1 − lr·λ) − lr·update): 0.89, then 0.89·0.99 − 0.0266337 = 0.8544663
  const w = run('adamw', { weightDecay: 0.1 }, [0.5, -0.25]);
  close(w[0]!, 0.89);
  close(w[1]!, 0.8544663, 2e-6);
});

test('a variable without a gradient is left alone; bad options are named errors', () => {
  const p = tf.variable(tf.tensor1d([1, 2]));
  const q = tf.variable(tf.tensor1d([3]));
  const opt = createOptimizer('sgd', { momentum: 0.9 });
  opt.apply([p, q], new Map([[p, tf.tensor1d([1, 1])]]), 0.5);
  assert.deepEqual([...p.dataSync()], [0.5, 1.5]);
  assert.deepEqual([...q.dataSync()], [3]);
  assert.equal(opt.steps, 1);
  for (const f of [() => createOptimizer('rmsprop'), () => createOptimizer('sgd', { momentum: 1.5 }), () => createOptimizer('adam', { weightDecay: -1 })]) {
    assert.throws(f, (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION');
  }
});

test('schedules: linear warm-up, then constant, step or cosine', () => {
  // warm-up 2 steps of lr 1: 0.5, 1; cosine over the 8 remaining: 1 at s=0, 0.5 at s=4, 0 at s=8
  const cos = createSchedule({ kind: 'cosine', lr: 1, totalSteps: 10, warmupSteps: 2 });
  assert.deepEqual(
    [0, 1, 2, 6, 10].map((s) => Number(cos(s).toFixed(6))),
    [0.5, 1, 1, 0.5, 0],
  );
  const cosMin = createSchedule({ kind: 'cosine', lr: 1, totalSteps: 4, minLr: 0.2 });
  close(cosMin(2), 0.6);
  const step = createSchedule({ kind: 'step', lr: 0.1, totalSteps: 30, every: 10, gamma: 0.5 });
  assert.deepEqual(
    [0, 9, 10, 25].map((s) => Number(step(s).toFixed(6))),
    [0.1, 0.1, 0.05, 0.025],
  );
  const ms = createSchedule({ kind: 'step', lr: 1, totalSteps: 30, milestones: [5, 20], gamma: 0.1 });
  assert.deepEqual(
    [4, 5, 19, 20].map((s) => Number(ms(s).toFixed(6))),
    [1, 0.1, 0.1, 0.01],
  );
  assert.equal(createSchedule({ kind: 'constant', lr: 0.3, totalSteps: 5 })(4), 0.3);
  assert.throws(
    () => createSchedule({ kind: 'constant', lr: 0, totalSteps: 5 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
  );
});
