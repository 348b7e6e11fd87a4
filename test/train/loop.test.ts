/**
 * The training loop on real data (the 8x8 digits) with a small CNN on the cpu backend:
 * accuracy rises well above chance, the same seed gives bit-identical weights, BatchNorm
 * running statistics are written back, only the chosen parameters train, KD and feature
 * mimicking pull a student towards its teacher, checkpoints are written, and bad set-ups
 * fail with named errors before the first step.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, evaluateTf, loadDatasetFor, readModel, selectBackend, train } from '../../src/index.js';
import type { Model, TrainOptions, TrainProgress } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { digitsCnn, weights } from './fixtures.js';
import { tempDir } from '../helpers.js';
import { needData } from '../data-available.js';

before(async () => {
  await selectBackend('cpu');
});

const data = (m: Model) => ({ data: loadDatasetFor(m, 'digits', { split: 'train' }), evalData: loadDatasetFor(m, 'digits', { split: 'test' }) });
const base: Partial<TrainOptions> = { backend: 'cpu', batchSize: 32, optimizer: 'sgd', lr: 0.05, momentum: 0.9, schedule: 'cosine', seed: 1 };

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CompilerError, String(e));
    return e.code;
  }
  assert.fail('expected an error');
}

/** The model trained by the first test, the teacher of the KD test. */
let trained: Model | undefined;

test('training on digits raises test accuracy from chance to > 90%, and writes BN running stats back', { skip: needData('digits') }, async () => {
  const m = digitsCnn(1);
  const before0 = await evaluateTf(m, data(m).evalData, { backend: 'cpu' });
  assert.ok(before0.accuracy < 0.3, `untrained accuracy ${before0.accuracy}`);
  const w0 = weights(m);
  const r = await train(m, { ...base, ...data(m), epochs: 2 } as TrainOptions);
  assert.equal(r.steps, 2 * Math.floor(1438 / 32));
  assert.ok(r.evalAccuracy! > 0.9, `accuracy after 2 epochs ${r.evalAccuracy}`);
  assert.equal(r.evals.length, 2);
  trained = m;
  // the model's own initializers now hold the trained weights: ORT-free re-evaluation agrees
  const again = await evaluateTf(m, data(m).evalData, { backend: 'cpu' });
  assert.equal(again.accuracy, r.evalAccuracy);
  const w1 = weights(m);
  for (const name of ['conv.weight', 'fc.weight', 'bn.weight', 'bn.running_mean', 'bn.running_var']) {
    assert.notDeepEqual([...w1.get(name)!], [...w0.get(name)!], `${name} changed`);
  }
  assert.ok([...w1.get('bn.running_var')!].every((v) => v > 0));
});

test('the same seed gives bit-identical weights on cpu and on wasm; another seed does not', { skip: needData('digits') }, async () => {
  const run = async (seed: number, backend: 'cpu' | 'wasm' = 'cpu') => {
    const m = digitsCnn(3);
    await train(m, { ...base, ...data(m), evalData: undefined, steps: 8, seed, backend } as TrainOptions);
    return weights(m);
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  for (const [k, v] of a) assert.deepEqual(v, b.get(k), `${k} identical`);
  assert.notDeepEqual(a.get('fc.weight'), c.get('fc.weight'));
  const w1 = await run(7, 'wasm');
  const w2 = await run(7, 'wasm');
  for (const [k, v] of w1) assert.deepEqual(v, w2.get(k), `${k} identical on wasm`);
  await selectBackend('cpu');
});

test('only the chosen parameters train; BN frozen keeps its running statistics; an L1 penalty shrinks its target', { skip: needData('digits') }, async () => {
  const m = digitsCnn(2);
  const w0 = weights(m);
  const plain: TrainProgress[] = [];
  await train(m, {
    ...base,
    ...data(m),
    evalData: undefined,
    steps: 20,
    trainable: (n) => n.startsWith('fc.'),
    batchNorm: 'frozen',
    onProgress: (p: TrainProgress) => plain.push(p),
  } as TrainOptions);
  assert.ok(
    plain.every((p) => p.penalty === undefined),
    'no L1 term: no penalty reported',
  );
  const w1 = weights(m);
  for (const [k, v] of w0) {
    if (k.startsWith('fc.')) assert.notDeepEqual(w1.get(k), v, `${k} trained`);
    else assert.deepEqual(w1.get(k), v, `${k} untouched`);
  }
  const sumAbs = (a: Float32Array) => a.reduce((s, x) => s + Math.abs(x), 0);
  const withL1 = digitsCnn(2);
  const progress: TrainProgress[] = [];
  await train(withL1, {
    onProgress: (p: TrainProgress) => progress.push(p),
    ...base,
    ...data(withL1),
    evalData: undefined,
    steps: 20,
    trainable: (n) => n === 'bn.weight',
    l1: { select: (n) => n === 'bn.weight', lambda: 0.5 },
    loss: 'none',
    lr: 0.05,
  } as TrainOptions);
  assert.ok(sumAbs(weights(withL1).get('bn.weight')!) < 0.6 * sumAbs(w0.get('bn.weight')!), 'L1 alone pulls the BN scales towards 0');
  // With only the L1 term the loss is the penalty; the first step's is λ·‖β₀‖₁ (its window of one step).
  assert.equal(progress[0]!.penalty, progress[0]!.loss);
  assert.ok(Math.abs(progress[0]!.penalty! - 0.5 * sumAbs(w0.get('bn.weight')!)) < 1e-3 * progress[0]!.penalty!, `${progress[0]!.penalty}`);
  assert.ok(progress.at(-1)!.penalty! < progress[0]!.penalty!);
});

test('distillation and feature mimicking pull an untrained student towards a trained teacher', { skip: needData('digits') }, async () => {
  const teacher = trained!;
  const t = await evaluateTf(teacher, data(teacher).evalData, { backend: 'cpu' });
  const kd = digitsCnn(5, 4);
  const r = await train(kd, { ...base, ...data(kd), steps: 60, teacher, loss: 'kd', kd: { temperature: 4, rho: 0.9 } } as TrainOptions);
  assert.ok(r.evalAccuracy! > 0.8, `KD student accuracy ${r.evalAccuracy} (teacher ${t.accuracy})`);
  // pure feature mimicking (no labels): matching the teacher's relu and logits values at
  // once recovers most of the teacher's accuracy
  const mim = digitsCnn(6);
  const r2 = await train(mim, {
    ...base,
    ...data(mim),
    steps: 80,
    teacher,
    loss: 'none',
    mimic: [
      { teacher: 'relu_out', student: 'relu_out' },
      { teacher: 'logits', student: 'logits' },
    ],
    mimicLoss: 'mse',
    lr: 0.02,
  } as TrainOptions);
  assert.ok(r2.evalAccuracy! > 0.8, `mimic-only student accuracy ${r2.evalAccuracy}`);
});

test('checkpoints are written atomically during training', { skip: needData('digits') }, async () => {
  const dir = tempDir();
  const m = digitsCnn(4);
  await train(m, { ...base, ...data(m), evalData: undefined, steps: 6, checkpointDir: dir } as TrainOptions);
  const path = join(dir, 'epoch-1.onnx');
  assert.ok(existsSync(path));
  const ck = weights(readModel(path));
  for (const [k, v] of weights(m)) assert.deepEqual(ck.get(k), v, `${k} in checkpoint`);
});

test('named errors before the first step: data that does not fit, a missing teacher, divergence', { skip: needData('digits') }, async () => {
  const lenet = buildModel('lenet5');
  const digits = loadDatasetFor(digitsCnn(), 'digits');
  assert.equal(await code(train(lenet, { ...base, data: digits, steps: 1 } as TrainOptions)), 'DATA_SHAPE_MISMATCH');
  const m = digitsCnn();
  assert.equal(await code(train(m, { ...base, ...data(m), steps: 1, loss: 'kd' } as TrainOptions)), 'INVALID_OPTION');
  assert.equal(await code(train(m, { ...base, ...data(m), steps: 1, optimizer: 'lbfgs' as 'sgd' } as TrainOptions)), 'INVALID_OPTION');
  // lr 1e20 overflows the weights in the first update. At 1e9 the loss only reached ~1e35, and
  // whether it then became NaN hung on the last bit of a float32 sum (lr 1e12 stays finite).
  assert.equal(await code(train(m, { ...base, ...data(m), evalData: undefined, steps: 30, lr: 1e20, schedule: 'constant' } as TrainOptions)), 'TRAIN_DIVERGED');
});
