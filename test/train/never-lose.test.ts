/**
 * Never lose training (issue 11.3): checkpoints after every epoch that a run resumes from
 * bit-identically, the best evaluated epoch kept, an evaluation failure that still leaves
 * the trained model written (and says where), the evaluation batch fitted to memory with a
 * fallback on out-of-memory errors, and BatchNorm statistics that match the trained weights
 * (the one-class collapse).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  CompilerError,
  TfExecutor,
  attrFloat,
  evaluateFitted,
  evaluateTf,
  isOutOfMemory,
  loadDatasetFor,
  readModel,
  selectBackend,
  stepOutOfMemory,
  train,
} from '../../src/index.js';
import type { Batch, BatchOptions, Dataset, Model, TrainOptions } from '../../src/index.js';
import { digitsCnn, weights } from './fixtures.js';
import { tempDir } from '../helpers.js';

before(async () => {
  await selectBackend('cpu');
});

const data = (m: Model, limit?: number) => ({
  data: loadDatasetFor(m, 'digits', { split: 'train', limit, seed: limit ? 1 : undefined }),
  evalData: loadDatasetFor(m, 'digits', { split: 'test' }),
});
const base: Partial<TrainOptions> = { backend: 'cpu', batchSize: 64, optimizer: 'sgd', lr: 0.05, momentum: 0.9, schedule: 'cosine', seed: 1 };

/** A data set that throws `message` from its batches (after `okCalls` successful iterations). */
class Failing implements Dataset {
  calls = 0;
  constructor(
    readonly inner: Dataset,
    readonly message: string,
    readonly okCalls = 0,
    readonly whenBatchOver = 0,
  ) {}
  get name() {
    return `failing(${this.inner.name})`;
  }
  get size() {
    return this.inner.size;
  }
  get inputShape() {
    return this.inner.inputShape;
  }
  get numClasses() {
    return this.inner.numClasses;
  }
  *batches(n: number, o?: BatchOptions): Generator<Batch> {
    const call = this.calls++;
    for (const b of this.inner.batches(n, o)) {
      if (call >= this.okCalls && n > this.whenBatchOver) throw new Error(this.message);
      yield b;
    }
  }
}

async function failure(p: Promise<unknown>): Promise<CompilerError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CompilerError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

test('an evaluation that fails after training still writes the trained model, and the error says where', async () => {
  const dir = tempDir();
  const m = digitsCnn(4);
  const w0 = weights(m);
  const d = data(m);
  const out = join(dir, 'trained.onnx');
  // Not an out-of-memory error: no retry, the evaluation fails for good.
  const e = await failure(
    train(m, { ...base, data: d.data, evalData: new Failing(d.evalData, 'disk read failed'), steps: 5, output: { path: out } } as TrainOptions),
  );
  assert.equal(e.code, 'TRAIN_EVAL_FAILED');
  assert.equal(e.where, out);
  assert.match(e.message, /trained\.onnx/);
  assert.ok(existsSync(out), 'the trained model is on disk');
  const written = weights(readModel(out));
  assert.notDeepEqual(written.get('fc.weight'), w0.get('fc.weight'), 'with the trained weights');
  assert.deepEqual(written.get('fc.weight'), weights(m).get('fc.weight'));
});

test('an evaluation that fails mid-run stops evaluating, training finishes, the model and checkpoint are written', async () => {
  const dir = tempDir();
  const m = digitsCnn(4);
  const d = data(m, 512);
  const out = join(dir, 'trained.onnx');
  const stepsPerEpoch = Math.floor(d.data.size / 64);
  // Calls 0 and 1 are the first evaluation (its memory probe and its pass); the second fails.
  const e = await failure(
    train(m, {
      ...base,
      data: d.data,
      evalData: new Failing(d.evalData, 'decode error', 2),
      epochs: 3,
      output: { path: out },
      checkpointDir: join(dir, 'ck'),
    } as TrainOptions),
  );
  assert.equal(e.code, 'TRAIN_EVAL_FAILED');
  assert.ok(existsSync(out));
  const state = JSON.parse(readFileSync(join(dir, 'ck', 'state.json'), 'utf8'));
  assert.equal(state.step, 3 * stepsPerEpoch, 'training ran to the end');
  assert.equal(state.evals.length, 1, 'the first evaluation is kept');
});

test('evaluation falls back to smaller batches on out-of-memory errors and counts every sample once', async () => {
  const m = digitsCnn(2);
  const d = data(m);
  const exec = TfExecutor.create(m, { trainable: 'none' });
  try {
    const plain = await evaluateFitted(exec, m, d.evalData, 'logits', { maxBatchSize: 256 });
    // A batch over 50 "runs out of memory" the way the wasm backend reports it.
    const logs: string[] = [];
    const flaky = new Failing(d.evalData, 'RuntimeError: memory access out of bounds', 1, 50);
    const r = await evaluateFitted(exec, m, flaky, 'logits', { maxBatchSize: 256, log: (s) => logs.push(s) });
    assert.equal(r.samples, d.evalData.size);
    assert.ok(r.batchSize <= 50, `fell back to ${r.batchSize}`);
    assert.equal(r.accuracy, plain.accuracy);
    assert.ok(Math.abs(r.loss - plain.loss) < 1e-5);
    assert.ok(
      logs.some((l) => /out of memory/.test(l)),
      logs.join('\n'),
    );
    // The batch is sized from a measured per-sample cost: a small budget gives a small batch.
    const small = await evaluateFitted(exec, m, d.evalData, 'logits', { maxBatchSize: 256, memoryBudget: 64 * 1024 });
    assert.ok(small.batchSize < 256 && small.batchSize >= 1, `batch ${small.batchSize} under a 64 KiB budget`);
    assert.equal(small.accuracy, plain.accuracy);
  } finally {
    exec.dispose();
  }
  assert.ok(isOutOfMemory(new Error('Aborted(). Build with -sASSERTIONS for more info.')));
  assert.ok(isOutOfMemory(new CompilerError('RUNTIME_FAILED', 'Conv failed', { cause: new Error('OOM when allocating tensor') })));
  assert.ok(!isOutOfMemory(new Error('disk read failed')));
});

test('resuming from the checkpoint of an interrupted run gives the same weights as an unbroken run', async () => {
  const dir = tempDir();
  const opts = (m: Model, ck: string) => ({ ...base, ...data(m, 512), epochs: 3, optimizer: 'adam', lr: 0.003, checkpointDir: ck }) as TrainOptions;
  const whole = digitsCnn(9);
  await train(whole, opts(whole, join(dir, 'whole')));
  // The interrupted run: stopped during epoch 2 (a failing data set stands in for a kill).
  const first = digitsCnn(9);
  const d = data(first, 512);
  const stepsPerEpoch = Math.floor(d.data.size / 64);
  let steps = 0;
  const killed = await failure(
    train(first, {
      ...opts(first, join(dir, 'cut')),
      onProgress: (p) => {
        steps = p.step;
        if (p.step === stepsPerEpoch + 3) throw new CompilerError('INTERNAL', 'killed');
      },
    }).catch((e) => {
      throw e;
    }),
  );
  assert.equal(killed.code, 'INTERNAL');
  assert.equal(steps, stepsPerEpoch + 3);
  assert.equal(JSON.parse(readFileSync(join(dir, 'cut', 'state.json'), 'utf8')).step, stepsPerEpoch, 'the last checkpoint is epoch 1');
  const resumed = digitsCnn(9);
  const r = await train(resumed, { ...opts(resumed, join(dir, 'cut')), resume: true });
  assert.equal(r.resumedAt, stepsPerEpoch);
  const a = weights(whole);
  const b = weights(resumed);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} identical after resume`);
  assert.deepEqual(
    r.evals.map((e) => e.accuracy),
    JSON.parse(readFileSync(join(dir, 'whole', 'state.json'), 'utf8')).evals.map((e: { accuracy: number }) => e.accuracy),
  );
  // Only the newest epoch's files are kept, with best.onnx.
  const files = readdirSync(join(dir, 'cut')).sort();
  assert.deepEqual(files, ['best.onnx', 'epoch-3.onnx', 'epoch-3.optim', 'state.json']);
  // A different run cannot resume from it.
  const other = digitsCnn(9);
  assert.equal((await failure(train(other, { ...opts(other, join(dir, 'cut')), batchSize: 32, resume: true }))).code, 'CHECKPOINT_INVALID');
  assert.equal((await failure(train(other, { ...opts(other, join(dir, 'none')), resume: true }))).code, 'CHECKPOINT_INVALID');
});

test('keep best: the model ends with the weights of the best evaluated epoch, also in best.onnx', async () => {
  const dir = tempDir();
  const m = digitsCnn(3);
  const d = data(m);
  // A rate that wrecks the last epoch: epoch 1 is better than the end.
  const lrs = [0.05, 0.05, 5];
  const stepsPerEpoch = Math.floor(d.data.size / 64);
  const r = await train(m, {
    ...base,
    ...d,
    epochs: 3,
    schedule: 'step',
    lr: 0.05,
    milestones: [2 * stepsPerEpoch],
    gamma: lrs[2]! / lrs[0]!,
    keep: 'best',
    checkpointDir: join(dir, 'ck'),
    output: { path: join(dir, 'out.onnx') },
  } as TrainOptions);
  const accs = r.evals.map((e) => e.accuracy);
  const bestIdx = accs.indexOf(Math.max(...accs));
  assert.ok(bestIdx < accs.length - 1, `the last epoch should not be the best here: ${accs}`);
  assert.equal(r.kept?.step, r.evals[bestIdx]!.step);
  const again = await evaluateTf(m, d.evalData, { backend: 'cpu' });
  assert.equal(again.accuracy, accs[bestIdx], 'the model holds the best epoch');
  assert.deepEqual(weights(readModel(join(dir, 'out.onnx'))), weights(m), 'and so does the output');
  assert.deepEqual(weights(readModel(join(dir, 'ck', 'best.onnx'))), weights(m), 'and best.onnx');
});

/**
 * digitsCnn as after a layer replacement (TissueNet, pruning) in a Keras/tf2onnx export:
 * BatchNorm momentum 0.99, and running statistics that belonged to the layer before it.
 */
function kerasStyleCnn(seed: number): Model {
  const m = digitsCnn(seed);
  for (const n of m.graph.nodes) if (n.opType === 'BatchNormalization') n.setAttr(attrFloat('momentum', 0.99));
  for (const v of m.graph.initializers) {
    if (v.name === 'bn.running_mean') v.initializer!.setFloat32(new Float32Array(8).fill(2));
    if (v.name === 'bn.running_var') v.initializer!.setFloat32(new Float32Array(8).fill(0.05));
  }
  return m;
}

test('one-class collapse: BN statistics are recomputed at the trained weights, so evaluation matches training', async () => {
  const run = async (recal?: number) => {
    const m = kerasStyleCnn(5);
    const d = data(m);
    const r = await train(m, { ...base, ...d, steps: 30, recalibrateBatchNorm: recal } as TrainOptions);
    const exec = TfExecutor.create(m, { trainable: 'none' });
    const b = [...d.evalData.batches(d.evalData.size)][0]!;
    const preds = tf.tidy(() => tf.argMax(exec.run({ input: tf.tensor(b.x, [b.n, 1, 8, 8]) }).logits!, 1).dataSync());
    exec.dispose();
    return { train: r.trainAccuracy, eval: r.evalAccuracy!, classes: new Set(preds).size };
  };
  // Without recalibration the running statistics lag (momentum 0.99, 30 steps): inference
  // collapses to a few classes although training-mode accuracy is high.
  const stale = await run(0);
  assert.ok(stale.train > 0.6, `training accuracy ${stale.train}`);
  assert.ok(stale.eval < 0.5 * stale.train, `stale statistics: eval ${stale.eval} vs train ${stale.train}`);
  const fixed = await run();
  assert.ok(fixed.eval > 0.8, `evaluated accuracy ${fixed.eval} (training ${fixed.train})`);
  assert.equal(fixed.classes, 10, 'every class is predicted');
});

test('BN statistics that are not float32 initializers are not trained around: BN runs on them in training too', async () => {
  const m = digitsCnn(7);
  // Running statistics as float64 initializers: the executor cannot update them.
  const bn = m.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
  const exec0 = TfExecutor.create(m, { trainable: 'all', batchNorm: 'train' });
  assert.deepEqual(exec0.batchNormNodes(), { updated: [bn.where], fixed: [] });
  exec0.dispose();
  const { DataType } = await import('../../src/index.js');
  for (const i of [3, 4]) {
    const v = bn.inputs[i]!;
    const vals = Float64Array.from(v.initializer!.toFloat32());
    v.initializer!.dataType = DataType.DOUBLE;
    v.initializer!.setRaw(new Uint8Array(vals.buffer));
  }
  const exec = TfExecutor.create(m, { trainable: 'all', batchNorm: 'train' });
  try {
    assert.deepEqual(exec.batchNormNodes(), { updated: [], fixed: [bn.where] });
    const d = data(m);
    const b = [...d.evalData.batches(32)][0]!;
    const x = tf.tensor(b.x, [b.n, 1, 8, 8]);
    const inTraining = exec.run({ input: x }, { training: true }).logits!.dataSync();
    const inInference = exec.run({ input: x }).logits!.dataSync();
    assert.deepEqual(inTraining, inInference, 'training and inference see the same BN');
    x.dispose();
  } finally {
    exec.dispose();
  }
});

test('a training step that runs the backend out of memory is TRAIN_OUT_OF_MEMORY: the batch, the backend, what to change, the last checkpoint', () => {
  // What a wasm module says when its heap (4 GiB at most) cannot grow for a step.
  const abort = new WebAssembly.RuntimeError('Aborted(). Build with -sASSERTIONS for more info.');
  const e = stepOutOfMemory(abort, { step: 12, batch: 16, backend: 'wasm', checkpoint: { step: 10, path: '/runs/ck/epoch-1.onnx' } });
  assert.ok(e instanceof CompilerError);
  assert.equal(e.code, 'TRAIN_OUT_OF_MEMORY');
  assert.match(e.message, /step 12 with a batch of 16 .* wasm backend \(its heap stops at 4 GiB\)/);
  assert.match(e.message, /last checkpoint \(step 10\) is \/runs\/ck\/epoch-1\.onnx/);
  assert.match(e.hint ?? '', /--batch \(e\.g\. 8\).*tfjs-node.*--resume/);
  assert.equal(e.cause, abort);
  const oob = stepOutOfMemory(new WebAssembly.RuntimeError('memory access out of bounds'), { step: 0, batch: 1, backend: 'tfjs-node' });
  assert.ok(oob && !/tfjs-node\)/.test(oob.hint ?? '') && /--batch \(e\.g\. 1\)/.test(oob.hint ?? ''));
  // Anything else is not this error.
  assert.equal(stepOutOfMemory(new Error('the loss became NaN'), { step: 3, batch: 8, backend: 'wasm' }), undefined);
});

test('a step that runs out of memory in the loop: TRAIN_OUT_OF_MEMORY with the step, the batch and the last checkpoint, which resumes to the unbroken run', async () => {
  const dir = tempDir();
  const opts = (m: Model, ck: string) => ({ ...base, ...data(m, 512), epochs: 3, optimizer: 'adam', lr: 0.003, checkpointDir: ck }) as TrainOptions;
  const whole = digitsCnn(11);
  await train(whole, opts(whole, join(dir, 'whole')));
  const m = digitsCnn(11);
  const stepsPerEpoch = Math.floor(data(m, 512).data.size / 64);
  // The backend "runs out of memory" in the backward pass of step stepsPerEpoch + 2, the way
  // a wasm module does: the conv's filter gradient (one call a step) throws what wasm throws.
  const kernel = 'Conv2DBackpropFilter';
  const own = tf.getKernel(kernel, 'cpu')!;
  const abort = new WebAssembly.RuntimeError('memory access out of bounds');
  let calls = 0;
  tf.unregisterKernel(kernel, 'cpu');
  tf.registerKernel({
    ...own,
    kernelFunc: (args) => {
      if (++calls === stepsPerEpoch + 3) throw abort;
      return own.kernelFunc(args);
    },
  });
  const tensors = tf.memory().numTensors;
  let e: CompilerError;
  try {
    e = await failure(train(m, opts(m, join(dir, 'ck'))));
  } finally {
    tf.unregisterKernel(kernel, 'cpu');
    tf.registerKernel(own);
  }
  const step = stepsPerEpoch + 2;
  const ck = join(dir, 'ck', 'epoch-1.onnx');
  assert.equal(e.code, 'TRAIN_OUT_OF_MEMORY', e.message);
  assert.equal(
    e.message,
    `training step ${step} with a batch of 64 ran out of memory on the cpu backend: memory access out of bounds. The last checkpoint (step ${stepsPerEpoch}) is ${ck}.`,
  );
  assert.match(e.hint ?? '', /smaller --batch \(e\.g\. 32\), or install the native backend .*, and continue with --resume/);
  assert.equal(e.cause, abort);
  assert.equal(tf.memory().numTensors, tensors, 'the failed step left no tensor behind');
  // Nothing is lost: the checkpoint of epoch 1 is whole, and resuming from it ends where the unbroken run did.
  assert.equal(JSON.parse(readFileSync(join(dir, 'ck', 'state.json'), 'utf8')).step, stepsPerEpoch);
  assert.ok(existsSync(ck));
  const resumed = digitsCnn(11);
  const r = await train(resumed, { ...opts(resumed, join(dir, 'ck')), resume: true });
  assert.equal(r.resumedAt, stepsPerEpoch);
  const a = weights(whole);
  for (const [k, v] of a) assert.deepEqual(weights(resumed).get(k), v, `${k} identical after resume`);
});
