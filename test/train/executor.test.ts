/**
 * The tfjs executor against onnxruntime on every reference model (batch 2, seeded inputs,
 * max |Δ| ≤ 1e-4, on cpu and on wasm), reading intermediate values, and its contract:
 * trainable selection, BatchNormalization running-stat updates (momentum from the node,
 * unbiased variance) and frozen mode, writeBack into the model (checked in onnxruntime),
 * named errors for unsupported ops, missing or misshapen feeds and unknown names, and no
 * leaked tensors.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { attrFloat, attrInt, attrInts, CompilerError, GraphBuilder, maxAbsDiff, runModel, selectBackend, TfExecutor } from '../../src/index.js';
import type { HostTensor, Model } from '../../src/index.js';
import { buildModel, type ModelName } from '../../models/index.js';
import { seededFeeds } from '../helpers.js';

const BACKENDS = ['cpu', 'wasm'] as const;
const MODELS: ModelName[] = ['mlp', 'lenet5', 'vgg', 'resnet20', 'mobilenetv2'];

function toTf(feeds: Record<string, HostTensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tf.tensor(v.data as Float32Array, v.dims)]));
}

function host(t: Tensor): HostTensor {
  return { data: Float32Array.from(t.dataSync() as Float32Array), dims: [...t.shape] };
}

async function expectCode(code: string, f: () => unknown): Promise<CompilerError> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof CompilerError, `expected a CompilerError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

/** x → Conv → BN → Relu → GlobalAveragePool → Flatten → Gemm, with non-trivial BN statistics. */
function convBnModel(): Model {
  const b = GraphBuilder.newModel({ opset: 17 });
  const x = b.input('x', ['N', 2, 5, 5]);
  const w = b.floats(
    'conv.weight',
    [3, 2, 3, 3],
    Array.from({ length: 54 }, (_, i) => Math.sin(i) * 0.5),
  );
  const c = b.op('Conv', [x, w], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])], 'conv');
  const bn = b.op(
    'BatchNormalization',
    [
      c,
      b.floats('bn.weight', [3], [1.5, 0.5, 1]),
      b.floats('bn.bias', [3], [0.1, -0.2, 0.3]),
      b.floats('bn.running_mean', [3], [0.2, -0.1, 0.05]),
      b.floats('bn.running_var', [3], [1.2, 0.8, 2]),
    ],
    [attrFloat('epsilon', 1e-5), attrFloat('momentum', 0.8)],
    'bn',
  );
  const r = b.op('Relu', [bn], [], 'relu');
  const g = b.op('GlobalAveragePool', [r], [], 'gap');
  const f = b.op('Flatten', [g], [attrInt('axis', 1)], 'flatten');
  const y = b.op(
    'Gemm',
    [
      f,
      b.floats(
        'fc.weight',
        [4, 3],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((v) => v / 10),
      ),
      b.floats('fc.bias', [4], [0, 1, 0, -1]),
    ],
    [attrInt('transB', 1)],
    'fc',
  );
  b.output(y, 'logits');
  return b.model;
}

for (const backend of BACKENDS) {
  describe(`executor on ${backend}`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    for (const name of MODELS) {
      test(`${name} agrees with onnxruntime (batch 2, max |Δ| ≤ 1e-4), outputs and an intermediate value`, async () => {
        const m = buildModel(name, { seed: 3 });
        const feeds = seededFeeds(m, 5, 2);
        // A value about halfway through the graph, read out like an output.
        const mid = m.graph.nodes[Math.floor(m.graph.nodes.length / 2)]!.outputs[0]!.name;
        const out = m.graph.outputs[0]!.name;
        const ref = await runModel(m, feeds, [out, mid]);
        const before = tf.memory().numTensors;
        const exec = TfExecutor.create(m);
        const inputs = toTf(feeds);
        const got = exec.run(inputs, { outputs: [out, mid] });
        for (const k of [out, mid]) {
          assert.deepEqual(got[k]!.shape, ref[k]!.dims, `${name} ${k}: shape`);
          const { maxAbs } = maxAbsDiff(ref[k]!, host(got[k]!));
          assert.ok(maxAbs <= 1e-4, `${name} ${k}: max |Δ| ${maxAbs}`);
        }
        const byDefault = exec.run(inputs);
        assert.deepEqual(Object.keys(byDefault), [out]);
        assert.ok(maxAbsDiff(ref[out]!, host(byDefault[out]!)).maxAbs <= 1e-4);
        tf.dispose([...Object.values(got), ...Object.values(byDefault), ...Object.values(inputs)]);
        exec.dispose();
        assert.equal(tf.memory().numTensors, before, `${name}: no tensor leaks`);
      });
    }

    test('BatchNormalization in train mode: batch statistics, momentum updates, unbiased variance; frozen otherwise', async () => {
      const m = buildModel('resnet20', { seed: 1, width: 0.25 });
      const feeds = seededFeeds(m, 2, 4);
      const inputs = toTf(feeds);
      const conv = m.graph.nodes.find((n) => n.name === 'conv1')!.outputs[0]!.name;
      const read = (e: TfExecutor, n: string) => Float32Array.from(e.variables.get(n)!.dataSync() as Float32Array);

      const frozen = TfExecutor.create(m, { batchNorm: 'frozen' });
      const before = read(frozen, 'bn1.running_mean');
      tf.dispose(frozen.run(inputs, { training: true }));
      assert.deepEqual(read(frozen, 'bn1.running_mean'), before, 'frozen BN leaves its statistics alone');
      const frozenOut = frozen.run(inputs, { training: true });
      const ref = await runModel(m, feeds);
      assert.ok(maxAbsDiff(ref.logits!, host(frozenOut.logits!)).maxAbs <= 1e-4, 'frozen BN in training computes inference BN');

      const exec = TfExecutor.create(m, { batchNorm: 'train' });
      const bnNode = m.graph.nodes.find((n) => n.name === 'bn1')!;
      const momentum = bnNode.attrFloat('momentum', 0.9);
      const eps = bnNode.attrFloat('epsilon', 1e-5);
      const mean0 = read(exec, 'bn1.running_mean');
      const var0 = read(exec, 'bn1.running_var');
      const got = exec.run(inputs, { training: true, outputs: [conv, 'bn1_out'] });
      const x = got[conv]!;
      const [N, C, H, W] = x.shape as [number, number, number, number];
      const xv = x.dataSync();
      const n = N * H * W;
      const gamma = read(exec, 'bn1.weight');
      const beta = read(exec, 'bn1.bias');
      const yv = got['bn1_out']!.dataSync();
      const mean1 = read(exec, 'bn1.running_mean');
      const var1 = read(exec, 'bn1.running_var');
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let i = 0; i < N; i++) for (let p = 0; p < H * W; p++) s += xv[(i * C + c) * H * W + p]!;
        const mu = s / n;
        let q = 0;
        for (let i = 0; i < N; i++) for (let p = 0; p < H * W; p++) q += (xv[(i * C + c) * H * W + p]! - mu) ** 2;
        const varB = q / n;
        assert.ok(Math.abs(mean1[c]! - (momentum * mean0[c]! + (1 - momentum) * mu)) < 1e-5, `running mean of channel ${c}`);
        assert.ok(Math.abs(var1[c]! - (momentum * var0[c]! + ((1 - momentum) * varB * n) / (n - 1))) < 1e-4, `running var of channel ${c}`);
        const k = (i: number, p: number) => (i * C + c) * H * W + p;
        const expectY = (gamma[c]! * (xv[k(1, 7)]! - mu)) / Math.sqrt(varB + eps) + beta[c]!;
        assert.ok(Math.abs(yv[k(1, 7)]! - expectY) < 1e-4, `batch-normalised output of channel ${c}`);
      }
      // Inference runs use the (updated) running statistics and change nothing.
      tf.dispose(exec.run(inputs));
      assert.deepEqual(read(exec, 'bn1.running_mean'), mean1);
      // writeBack stores them; onnxruntime then computes what the executor computes.
      const copy = buildModel('resnet20', { seed: 1, width: 0.25 });
      exec.writeBack(copy);
      const stored = copy.graph.initializers.find((v) => v.name === 'bn1.running_mean')!.initializer!.toFloat32();
      assert.deepEqual(Array.from(stored), Array.from(mean1));
      const after = exec.run(inputs);
      assert.ok(maxAbsDiff((await runModel(copy, feeds)).logits!, host(after.logits!)).maxAbs <= 1e-4);
      tf.dispose([...Object.values(got), ...Object.values(frozenOut), ...Object.values(after), ...Object.values(inputs)]);
      frozen.dispose();
      exec.dispose();
    });

    test('trainable selection and writeBack of trained weights (checked in onnxruntime)', async () => {
      const m = convBnModel();
      const all = TfExecutor.create(m);
      assert.deepEqual(
        all
          .trainableVariables()
          .map((v) => v.name.split('/').pop())
          .sort(),
        ['bn.bias', 'bn.weight', 'conv.weight', 'fc.bias', 'fc.weight'],
      );
      assert.equal(all.variables.size, 7, 'BN statistics are variables too (not trainable)');
      all.dispose();
      const none = TfExecutor.create(m, { trainable: 'none' });
      assert.equal(none.trainableVariables().length, 0);
      none.dispose();
      const some = TfExecutor.create(m, { trainable: ['fc.weight'] });
      assert.deepEqual(
        some.trainableVariables().map((v) => v.name.split('/').pop()),
        ['fc.weight'],
      );
      some.dispose();
      const pred = TfExecutor.create(m, { trainable: (n) => n.startsWith('bn.') });
      assert.deepEqual(
        pred.trainableVariables().map((v) => v.name.split('/').pop()),
        ['bn.weight', 'bn.bias'],
      );
      pred.dispose();
      await expectCode('INVALID_OPTION', () => TfExecutor.create(m, { trainable: ['nope'] }));
      await expectCode('INVALID_OPTION', () => TfExecutor.create(m, { trainable: ['bn.running_mean'] }));

      // Mobilenet's Clip bounds are settings, not parameters.
      const mob = TfExecutor.create(buildModel('mobilenetv2', { seed: 1, width: 0.25 }));
      for (const v of mob.trainableVariables()) assert.ok(!/relu6|running_/.test(v.name), `${v.name} is not trainable`);
      mob.dispose();

      // One SGD step through tf.variableGrads, then writeBack: onnxruntime agrees with the executor.
      const exec = TfExecutor.create(m, { trainable: 'all' });
      const feeds = seededFeeds(m, 9, 3);
      const inputs = toTf(feeds);
      const lossBefore = tf.tidy(() => tf.sum(tf.square(exec.run(inputs).logits!)).dataSync()[0]!);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(exec.run(inputs, { training: true }).logits!)) as tf.Scalar, exec.trainableVariables());
      assert.equal(Object.keys(grads).length, 5, 'a gradient for every trainable variable');
      for (const v of exec.trainableVariables()) tf.tidy(() => v.assign(tf.sub(v, tf.mul(grads[v.name]!, 1e-3))));
      const lossAfter = tf.tidy(() => tf.sum(tf.square(exec.run(inputs).logits!)).dataSync()[0]!);
      assert.ok(lossAfter < lossBefore, `one descent step lowers the loss (${lossBefore} → ${lossAfter})`);
      const untouched = m.graph.initializers.find((v) => v.name === 'bn.running_var')!.initializer!;
      const untouchedBytes = untouched.rawBytes();
      exec.writeBack(m);
      assert.equal(untouched.rawBytes(), untouchedBytes, 'frozen statistics are not rewritten');
      const ref = await runModel(m, feeds);
      const mine = exec.run(inputs);
      assert.ok(maxAbsDiff(ref.logits!, host(mine.logits!)).maxAbs <= 1e-4, 'written-back model computes what the executor computes');
      tf.dispose([value, ...Object.values(grads), ...Object.values(mine), ...Object.values(inputs)]);
      exec.dispose();
    });

    test('Dropout: active only in training runs, scaled by 1/(1-ratio), reproducible with the seed', () => {
      const b = GraphBuilder.newModel({ opset: 17 });
      const x = b.input('x', [64, 32]);
      b.output(b.node('Dropout', [x, b.floats('ratio', [], [0.25])], [], { outputs: 1 })[0]!, 'y');
      const ones = tf.ones([64, 32]);
      const run = (seed: number, training: boolean) => {
        const e = TfExecutor.create(b.model, { seed });
        const y = e.run({ x: ones }, { training }).y!;
        const v = Array.from(y.dataSync());
        y.dispose();
        e.dispose();
        return v;
      };
      assert.ok(
        run(1, false).every((v) => v === 1),
        'inference: identity',
      );
      const a = run(1, true);
      assert.ok(
        a.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6),
        'kept values are scaled by 1/(1-ratio)',
      );
      const dropped = a.filter((v) => v === 0).length / a.length;
      assert.ok(Math.abs(dropped - 0.25) < 0.05, `about a quarter dropped (${dropped})`);
      assert.deepEqual(run(1, true), a, 'same seed, same mask');
      assert.notDeepEqual(run(2, true), a, 'another seed, another mask');
      ones.dispose();
    });

    test('named errors: unsupported op, missing or misshapen feed, unknown value, disposed executor', async () => {
      const b = GraphBuilder.newModel({ opset: 17 });
      const x = b.input('x', ['N', 4]);
      const r = b.op('Relu', [x], [], 'ok');
      const l = b.op('LpNormalization', [r], [attrInt('p', 2)], 'norm1');
      b.output(l, 'y');
      const e = await expectCode('UNSUPPORTED_OP', () => TfExecutor.create(b.model));
      assert.match(e.where ?? '', /norm1/, 'the error names the node');

      const b2 = GraphBuilder.newModel({ opset: 17 });
      const x2 = b2.input('x', ['N', 4]);
      b2.output(b2.node('Relu', [x2], [], { name: 'custom', domain: 'com.example' })[0]!, 'y');
      const e2 = await expectCode('UNSUPPORTED_OP', () => TfExecutor.create(b2.model));
      assert.match(e2.where ?? '', /custom/);

      const m = convBnModel();
      const exec = TfExecutor.create(m);
      await expectCode('FEED_MISSING', () => exec.run({}));
      await expectCode('FEED_SHAPE_MISMATCH', () => tf.tidy(() => exec.run({ x: tf.zeros([2, 3, 5, 5]) })));
      await expectCode('FEED_SHAPE_MISMATCH', () => tf.tidy(() => exec.run({ x: tf.zeros([2, 5, 5]) })));
      await expectCode('MISSING_VALUE', () => tf.tidy(() => exec.run({ x: tf.zeros([2, 2, 5, 5]) }, { outputs: ['nope'] })));
      // Reading the input itself or an initializer hands back a copy the caller may dispose.
      const direct = tf.tidy(() => exec.run({ x: tf.ones([1, 2, 5, 5]) }, { outputs: ['x', 'fc.bias'] }));
      assert.deepEqual(Array.from(direct['fc.bias']!.dataSync()), [0, 1, 0, -1]);
      tf.dispose(Object.values(direct));
      assert.deepEqual(Array.from(exec.variables.get('fc.bias')!.dataSync()), [0, 1, 0, -1], 'the variable survives');
      exec.dispose();
      await expectCode('PRECONDITION_FAILED', () => exec.run({}));
    });
  });
}

describe('backend selection', () => {
  test('auto picks the best backend that starts and says which; a forced one that cannot start is a named error', async () => {
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    const picked = await selectBackend('auto', log);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`^backend: ${picked.name}\\b`));
    // A pipeline selects once per phase: the same choice is said once.
    await selectBackend('auto', log);
    assert.equal(lines.length, 1);
    assert.equal(picked.tf.getBackend(), picked.name === 'wasm' || picked.name === 'cpu' ? picked.name : 'tensorflow');
    const native = async (pkg: string) => {
      try {
        await import(pkg);
        return true;
      } catch {
        return false;
      }
    };
    if (!(await native('@tensorflow/tfjs-node-gpu')) && !(await native('@tensorflow/tfjs-node'))) {
      assert.equal(picked.name, 'wasm', 'without native packages, wasm is the best');
      assert.match(lines[0]!, /skipped: @tensorflow\/tfjs-node-gpu is not installed/);
      assert.doesNotMatch(lines[0]!, /Cannot find package/, 'a missing package is said plainly');
      await expectCode('RUNTIME_FAILED', () => selectBackend('tfjs-node'));
    }
    await expectCode('INVALID_OPTION', () => selectBackend('gpu' as never));
    const forced = await selectBackend('cpu');
    assert.equal(forced.tf.getBackend(), 'cpu');
  });
});
