/**
 * Accuracy computed by sculpt equals an independent count: onnxruntime run directly (its own
 * session, another batch size, a plain argmax/sort) over the same test samples.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { CompilerError, encodeModel, evaluateAccuracy, labelRank, loadDataset, modelIo, openSession, validateModel } from '../../src/index.js';
import type { Dataset, Model } from '../../src/index.js';
import { centroidClassifier } from './classifier.js';
import { join } from 'node:path';
import { readModel } from '../../src/index.js';
import { ROOT } from '../helpers.js';

const LIMIT = 3000;

/** argmax hits and top-5 hits, counted the plain way. */
async function independentCount(model: Model, data: Dataset, batch: number, inputDims: (n: number) => number[]) {
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1 });
  let top1 = 0;
  let top5 = 0;
  let n = 0;
  const perClass = new Array<number>(data.numClasses).fill(0);
  for (const b of data.batches(batch)) {
    const out = await session.run({ input: new ort.Tensor('float32', b.x.slice(0, b.n * 784), inputDims(b.n)) });
    const scores = out.logits!.data as Float32Array;
    const c = scores.length / b.n;
    for (let i = 0; i < b.n; i++) {
      const row = Array.from(scores.subarray(i * c, (i + 1) * c));
      let arg = 0;
      for (let j = 1; j < c; j++) if (row[j]! > row[arg]!) arg = j;
      if (arg === b.y[i]) {
        top1++;
        perClass[b.y[i]!]!++;
      }
      const order = row
        .map((s, j) => [s, j] as const)
        .sort((p, q) => q[0] - p[0] || p[1] - q[1])
        .map(([, j]) => j);
      if (order.slice(0, 5).includes(b.y[i]!)) top5++;
    }
    n += b.n;
  }
  await session.release();
  return { top1, top5, n, perClass };
}

test('top-1, top-5 and per-class accuracy equal an independent onnxruntime count', async () => {
  const model = centroidClassifier();
  const data = loadDataset('mnist', { split: 'test', limit: LIMIT });
  const ref = await independentCount(model, data, 100, (n) => [n, 784]);
  const { session } = await openSession(model);
  const r = await evaluateAccuracy(session, model, data, { batch: 64 });
  await session.release();
  assert.equal(r.samples, LIMIT);
  assert.equal(ref.n, LIMIT);
  assert.equal(r.top1Correct, ref.top1);
  assert.equal(r.topKCorrect, ref.top5);
  assert.equal(r.k, 5);
  assert.equal(r.top1, ref.top1 / LIMIT);
  assert.deepEqual(
    r.perClass.map((c) => c.correct),
    ref.perClass,
  );
  assert.equal(
    r.perClass.reduce((s, c) => s + c.count, 0),
    LIMIT,
  );
  // Meaningful: neither trivial nor perfect.
  assert.ok(r.top1 > 0.6 && r.top1 < 0.95, `top-1 ${r.top1}`);
  assert.ok(r.topK > r.top1);
  data.close();
});

test('on the trained MNIST MLP in fixtures/trained, sculpt counts what onnxruntime counts', async () => {
  const model = readModel(join(ROOT, 'fixtures/trained/mlp-mnist.onnx'));
  const data = loadDataset('mnist', { split: 'test', limit: LIMIT, shape: [784] });
  const ref = await independentCount(model, data, 100, (n) => [n, 784]);
  const r = await validateModel(model, { data, latency: false });
  const acc = r.model.accuracy!;
  assert.equal(acc.samples, LIMIT);
  assert.equal(acc.top1Correct, ref.top1);
  assert.equal(acc.topKCorrect, ref.top5);
  assert.deepEqual(
    acc.perClass.map((c) => c.correct),
    ref.perClass,
  );
  assert.ok(ref.top1 / LIMIT > 0.97, `trained MLP top-1 ${ref.top1 / LIMIT}`);
  data.close();
});

test('a fixed batch dimension is fed full batches (zero padding not counted) with the same result', async () => {
  const data = loadDataset('mnist', { split: 'test', limit: 1000 });
  const free = centroidClassifier({ image: true });
  const fixed = centroidClassifier({ image: true, batch: 7 }); // 1000 = 142·7 + 6: the last batch is padded
  assert.deepEqual(modelIo(fixed).inputShape, [7, 1, 28, 28]);
  const a = await openSession(free);
  const b = await openSession(fixed);
  const ra = await evaluateAccuracy(a.session, free, data, { batch: 50 });
  const rb = await evaluateAccuracy(b.session, fixed, data, { batch: 50 });
  await a.session.release();
  await b.session.release();
  const ref = await independentCount(free, data, 1000, (n) => [n, 1, 28, 28]);
  assert.equal(rb.samples, 1000);
  assert.equal(ra.top1Correct, ref.top1);
  assert.equal(rb.top1Correct, ref.top1);
  assert.equal(rb.topKCorrect, ref.top5);
  data.close();
});

test('validateModel reports the same accuracy, and CE/SE against a baseline follow METHODS.md', async () => {
  const data = loadDataset('mnist', { split: 'test', limit: 1000 });
  const model = centroidClassifier();
  const worse = centroidClassifier({ damage: { classes: [0, 1, 2], scale: 0.8 } });
  const ref = await independentCount(worse, data, 250, (n) => [n, 784]);
  const refB = await independentCount(model, data, 250, (n) => [n, 784]);
  const r = await validateModel(worse, { data, baseline: model, batch: 128 });
  assert.equal(r.model.accuracy!.top1Correct, ref.top1);
  assert.equal(r.baseline!.accuracy!.top1Correct, refB.top1);
  assert.ok(ref.top1 < refB.top1, 'the damaged model is worse');
  const acc = ref.top1 / refB.top1;
  // Same size: FLOPs and params ratios are 1, so CE = SE = Acc/Acc_b.
  assert.equal(r.model.params, 784 * 10 + 10);
  assert.equal(r.model.macs, 784 * 10);
  assert.equal(r.model.flops, 2 * 784 * 10);
  assert.ok(Math.abs(r.comparison!.ce! - acc) < 1e-12);
  assert.ok(Math.abs(r.comparison!.se! - acc) < 1e-12);
  assert.ok(Math.abs(r.comparison!.top1DeltaPoints! - ((ref.top1 - refB.top1) / 1000) * 100) < 1e-9);
  assert.equal(r.model.latency, null);
  assert.equal(r.provider, 'cpu');
  data.close();
});

test('rank rule: ties go to the lower class index (argmax takes the first maximum), NaN never hits', () => {
  const s = [0.5, 0.9, 0.9, 0.1];
  assert.equal(labelRank(s, 0, 4, 1), 0);
  assert.equal(labelRank(s, 0, 4, 2), 1);
  assert.equal(labelRank(s, 0, 4, 0), 2);
  assert.equal(labelRank(s, 0, 4, 3), 3);
  assert.equal(labelRank([1, NaN, 0], 0, 3, 1), 3);
  assert.equal(labelRank([NaN, 0.2, 0.1], 0, 3, 2), 1);
});

test('data that does not fit the model is DATA_SHAPE_MISMATCH', async () => {
  const data = loadDataset('mnist', { split: 'test', limit: 10 });
  const model = centroidClassifier();
  const tiny: Dataset = { name: 'tiny', size: 1, inputShape: [100], numClasses: 10, batches: () => [] };
  const { session } = await openSession(model);
  await assert.rejects(evaluateAccuracy(session, model, tiny), (e: unknown) => e instanceof CompilerError && e.code === 'DATA_SHAPE_MISMATCH');
  const many: Dataset = { name: 'many', size: data.size, inputShape: [784], numClasses: 20, batches: (n) => data.batches(n) };
  await assert.rejects(evaluateAccuracy(session, model, many), (e: unknown) => e instanceof CompilerError && e.code === 'DATA_SHAPE_MISMATCH');
  await session.release();
  data.close();
});
