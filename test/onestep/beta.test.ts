/**
 * insert-beta / strip-beta: golden IR side by side (fixtures/passes/<pass>/<case>/), β = 1
 * computing the original exactly in onnxruntime, insert-then-strip being the identity,
 * one β per residual stage, β never between a Conv and its BatchNorm, and the β metadata
 * surviving a save and load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  CompilerError,
  decodeModel,
  encodeModel,
  insertBeta,
  inferShapes,
  printModel,
  readBetaRecords,
  readModel,
  runPasses,
  saveModel,
  sortTopologically,
  stripBeta,
  toOrt,
  BETA_METADATA_KEY,
  GraphBuilder,
  attrInt,
} from '../../src/index.js';
import type { HostTensor, Model } from '../../src/index.js';
import { createPass } from '../../passes/index.js';
import { buildModel } from '../../models/index.js';
import { checkGolden, statsText } from '../golden.js';
import { seededFeeds, tempDir } from '../helpers.js';
import { betaCases } from './cases.js';

function copy(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** onnxruntime with graph optimisations off, so fusions cannot round differently. */
async function run(m: Model, feeds: Record<string, HostTensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1, logSeverityLevel: 3 });
  try {
    const r = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)])));
    return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await s.release();
  }
}

async function assertBitIdentical(a: Model, b: Model, what: string): Promise<void> {
  const feeds = seededFeeds(a, 3, 2);
  const [x, y] = [await run(a, feeds), await run(b, feeds)];
  for (const k of Object.keys(x)) assert.deepEqual(y[k], x[k], `${what}: output ${k} bit-identical`);
}

/** The original with its shapes inferred (insert-beta runs shape inference) and nodes sorted as the pass manager does. */
function canonical(m: Model): string {
  const c = copy(m);
  inferShapes(c);
  sortTopologically(c.graph);
  return printModel(c);
}

for (const [name, build] of Object.entries(betaCases)) {
  test(`insert-beta / ${name}: golden IR, β = 1 computes the original bit for bit`, async () => {
    const original = build();
    const m = copy(original);
    const input = printModel(m);
    const r = runPasses(m, [createPass('insert-beta')!]);
    checkGolden('insert-beta', name, { input, expected: printModel(m), stats: statsText(r) });
    await assertBitIdentical(original, m, name);
  });

  test(`strip-beta / ${name}: golden IR, insert-beta then strip-beta is the identity`, async () => {
    const original = build();
    const m = copy(original);
    runPasses(m, [createPass('insert-beta')!]);
    const withBeta = printModel(m);
    const r = runPasses(m, [createPass('strip-beta')!]);
    checkGolden('strip-beta', name, { input: withBeta, expected: printModel(m), stats: statsText(r) });
    assert.equal(printModel(m), canonical(original), 'the printed IR is the original again');
    assert.equal(m.metadataProps?.some((p) => p.key === BETA_METADATA_KEY) ?? false, false);
    await assertBitIdentical(original, m, name);
  });
}

test('strip-beta on a model without β changes nothing (remark)', () => {
  const m = betaCases['conv-bn-relu-chain']!();
  const r = runPasses(m, [createPass('strip-beta')!]);
  assert.equal(r.changed, false);
  assert.match(r.remarks[0]!.message, /no β/);
});

test('ResNet-20: one β per residual stage, β = 1 exact, sites after Relu, never between Conv and BN', async () => {
  const original = buildModel('resnet20', { seed: 4 });
  const m = copy(original);
  const { records } = insertBeta(m);
  assert.equal(records.length, 12);
  const stages = records.filter((r) => r.junction);
  assert.equal(stages.length, 3, 'three stage groups, each with one β');
  assert.deepEqual(
    stages.map((r) => r.sites.length),
    [4, 3, 3],
  );
  assert.deepEqual(
    stages.map((r) => r.mimic),
    ['layer1.2.relu2_out', 'layer2.2.relu2_out', 'layer3.2.relu2_out'],
    'the deepest junction of each stage',
  );
  for (const r of stages) {
    const beta = m.graph.initializers.filter((v) => v.name === r.beta);
    assert.equal(beta.length, 1);
    assert.deepEqual(beta[0]!.initializer!.shape, [r.size]);
  }
  // Every β Mul reads a Relu output and feeds no BatchNormalization.
  const muls = m.graph.nodes.filter((n) => n.opType === 'Mul');
  assert.equal(muls.length, 19);
  for (const n of muls) {
    assert.equal(n.inputs[0]!.producer!.opType, 'Relu', n.where);
    for (const u of n.outputs[0]!.uses()) assert.notEqual(u.node.opType, 'BatchNormalization');
  }
  await assertBitIdentical(original, m, 'resnet20');
});

test('β metadata survives save and load; the loaded model strips back to the original', async () => {
  const dir = tempDir();
  const original = buildModel('vgg', { seed: 2 });
  const m = copy(original);
  const { records } = insertBeta(m);
  assert.equal(records.length, 6, 'six conv layers; fc1 is classifier');
  saveModel(m, join(dir, 'beta.onnx'));
  const back = readModel(join(dir, 'beta.onnx'));
  assert.deepEqual(readBetaRecords(back), records);
  assert.equal(stripBeta(back), 6);
  assert.equal(printModel(back), canonical(original));
});

test('insert-beta refuses a model that has β, and one with no prunable group', () => {
  const m = buildModel('lenet5', { seed: 1 });
  insertBeta(m);
  assert.throws(
    () => insertBeta(m),
    (e: unknown) => e instanceof CompilerError && e.code === 'PRECONDITION_FAILED',
  );
  const b = GraphBuilder.newModel();
  const x = b.input('x', ['N', 4]);
  b.output(b.op('Gemm', [x, b.floats('w', [3, 4], new Float32Array(12).fill(0.1))], [attrInt('transB', 1)]), 'y');
  inferShapes(b.model);
  assert.throws(
    () => insertBeta(b.model),
    (e: unknown) => e instanceof CompilerError && e.code === 'NO_PRUNABLE_GROUP',
  );
});
