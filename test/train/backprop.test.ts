/**
 * leanVariableGrads (src/train/backprop.ts), the training loop's backward pass, on cpu and
 * wasm: the same gradients as tf.variableGrads bit for bit, and against finite differences;
 * a lower peak, with nothing left behind (also when the loss function throws); and what the
 * forward pass saves for it: batch norm in training one full-size tensor, ReLU and Clip their
 * output (which the next conv keeps anyway), not their input, and an op whose gradient reads
 * only shapes (a bias Add, a sum) nothing.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { attrFloat, attrInt, attrInts, GraphBuilder, Rng, selectBackend, TfExecutor, crossEntropy } from '../../src/index.js';
import type { Model, Value } from '../../src/index.js';
import { leanVariableGrads, type BackpropStats } from '../../src/train/backprop.js';
import { gradCheckVariables } from '../../src/train/gradcheck.js';

/**
 * stem conv → BN → ReLU, `blocks` inverted-residual blocks (1×1 → BN → Clip(0,6), depthwise →
 * BN → Clip(0,6), 1×1 → BN, + input), pool, Gemm. `smooth`: Sigmoid and Tanh in place of
 * ReLU and Clip, for finite differences (batch-normalised values sit at the kinks).
 */
function invertedResidual(seed: number, opts: { blocks?: number; hw?: number; smooth?: boolean } = {}): Model {
  const n = 4;
  const c = 4;
  const hw = opts.hw ?? 6;
  const rng = new Rng(seed);
  const b = GraphBuilder.newModel({ opset: 13 });
  const w = (name: string, dims: number[], s = 0.5) =>
    b.floats(
      name,
      dims,
      rng.normalArray(
        dims.reduce((p, q) => p * q, 1),
        s,
      ),
    );
  const bn = (x: Value, name: string, ch: number) =>
    b.op(
      'BatchNormalization',
      [
        x,
        w(`${name}.weight`, [ch], 0.3),
        w(`${name}.bias`, [ch], 0.3),
        b.floats(`${name}.mean`, [ch], new Float32Array(ch)),
        b.floats(`${name}.var`, [ch], new Float32Array(ch).fill(1)),
      ],
      [attrFloat('epsilon', 1e-5), attrFloat('momentum', 0.9)],
    );
  const clip = (x: Value) => (opts.smooth ? b.op('Tanh', [x]) : b.op('Clip', [x, b.floats('lo', [], [0]), b.floats('hi', [], [6])]));
  const x = b.input('x', [n, 3, hw, hw]);
  let h = b.op(opts.smooth ? 'Sigmoid' : 'Relu', [bn(b.op('Conv', [x, w('stem', [c, 3, 3, 3])], [attrInts('pads', [1, 1, 1, 1])]), 'bn0', c)]);
  const e = 2 * c;
  for (let k = 0; k < (opts.blocks ?? 1); k++) {
    let y = clip(bn(b.op('Conv', [h, w(`expand${k}`, [e, c, 1, 1])]), `bn${k}a`, e));
    y = clip(bn(b.op('Conv', [y, w(`dw${k}`, [e, 1, 3, 3])], [attrInts('pads', [1, 1, 1, 1]), attrInt('group', e)]), `bn${k}b`, e));
    y = bn(b.op('Conv', [y, w(`project${k}`, [c, e, 1, 1])]), `bn${k}c`, c);
    h = b.op('Add', [h, y]);
  }
  const y = b.op('Flatten', [b.op('GlobalAveragePool', [h])]);
  b.output(b.op('Gemm', [y, w('fc.weight', [3, c]), w('fc.bias', [3], 0.1)], [attrInt('transB', 1)]), 'logits');
  return b.model;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`leanVariableGrads on ${backend}`, () => {
    before(async () => {
      await selectBackend(backend);
    });

    const setup = (seed: number, opts: Parameters<typeof invertedResidual>[1] = {}) => {
      const model = invertedResidual(seed, opts);
      const hw = opts.hw ?? 6;
      const exec = TfExecutor.create(model, { trainable: 'all', batchNorm: 'train' });
      const rng = new Rng(seed + 1);
      const x = tf.tensor(rng.uniformArray(4 * 3 * hw * hw, -1, 1), [4, 3, hw, hw]);
      const labels = tf.tensor1d([0, 2, 1, 2], 'int32');
      const loss = () => crossEntropy(exec.run({ x }, { training: true }).logits!, labels);
      const dispose = () => {
        x.dispose();
        labels.dispose();
        exec.dispose();
      };
      return { exec, loss, dispose };
    };

    test('the same gradients as tf.variableGrads, bit for bit, and the same loss', () => {
      const { exec, loss, dispose } = setup(3);
      const vars = exec.trainableVariables();
      const host = (r: { value: Tensor; grads: tf.NamedTensorMap }) => ({
        value: r.value.dataSync()[0],
        grads: Object.fromEntries(Object.entries(r.grads).map(([k, g]) => [k, Array.from(g!.dataSync())])),
      });
      const ref = tf.tidy(() => host(tf.variableGrads(loss, vars)));
      const lean = tf.tidy(() => host(leanVariableGrads(loss, vars)));
      assert.equal(Object.keys(ref.grads).length, vars.length);
      assert.equal(lean.value, ref.value);
      assert.deepEqual(Object.keys(lean.grads).sort(), Object.keys(ref.grads).sort());
      for (const k of Object.keys(ref.grads)) assert.deepEqual(lean.grads[k], ref.grads[k], `gradient of ${k}`);
      dispose();
    });

    test('finite differences agree through the variables (conv, depthwise, BN in training, a residual add)', () => {
      const { exec, loss, dispose } = setup(5, { smooth: true });
      const results = gradCheckVariables(loss, exec.trainableVariables(), { samples: 4 });
      for (const r of results) assert.ok(r.ok, `gradient of ${r.input} is off: worst ${JSON.stringify(r.worst)} (max |Δ| ${r.maxAbsError})`);
      dispose();
    });

    test('frees as it goes: a lower peak than tf.variableGrads, and no tensor left behind', async () => {
      const { exec, loss, dispose } = setup(7, { blocks: 3, hw: 12 });
      const vars = exec.trainableVariables();
      const stats: BackpropStats = { savedBytes: 0, forwardBytes: 0, peakBytes: 0 };
      const run = (lean: boolean) =>
        tf.tidy(() => {
          const r = lean ? leanVariableGrads(loss, vars, stats) : tf.variableGrads(loss, vars);
          r.value.dataSync();
        });
      run(true);
      run(false); // warm both: kernels and caches made once
      const before = tf.memory().numTensors;
      const base = tf.memory().numBytes;
      // tf.profile hands back one shared object: read each peak before the next profile.
      const ref = (await tf.profile(() => run(false))).peakBytes - base;
      const lean = (await tf.profile(() => run(true))).peakBytes - base;
      assert.equal(tf.memory().numTensors, before, 'tensors left behind');
      assert.ok(lean < 0.65 * ref, `peak ${lean} B, tf.variableGrads ${ref} B`);
      assert.ok(stats.peakBytes > 0 && stats.forwardBytes > 0 && stats.savedBytes > 0, JSON.stringify(stats));
      assert.ok(stats.peakBytes <= lean, `stats.peakBytes ${stats.peakBytes} > profiled ${lean}`);
      dispose();
    });

    test('a loss that throws: the error comes out as it was, nothing is left behind, the next step works', () => {
      const { exec, loss, dispose } = setup(9);
      const vars = exec.trainableVariables();
      const before = tf.memory().numTensors;
      const boom = new Error('memory access out of bounds');
      assert.throws(
        () =>
          tf.tidy(() =>
            leanVariableGrads(() => {
              loss();
              throw boom;
            }, vars),
          ),
        (e) => e === boom,
      );
      assert.equal(tf.memory().numTensors, before);
      const { value } = leanVariableGrads(loss, vars);
      assert.ok(Number.isFinite(value.dataSync()[0]!));
      value.dispose();
      dispose();
    });

    test('as tf.variableGrads: a listed frozen variable gets null, an unused one no entry; a gradient passed through unchanged survives', () => {
      const a = tf.variable(tf.tensor1d([1, 2, 3]), true, `bp-a-${backend}`);
      const frozen = tf.variable(tf.tensor1d([4, 5, 6]), false, `bp-frozen-${backend}`);
      const unused = tf.variable(tf.scalar(1), true, `bp-unused-${backend}`);
      // A custom gradient that hands dy on as it is: the same tensor object becomes the input's gradient.
      const pass = tf.customGrad(((x: Tensor) => ({ value: tf.mul(x, 1), gradFunc: (dy: Tensor) => dy })) as unknown as Parameters<typeof tf.customGrad>[0]);
      const before = tf.memory().numTensors;
      const r = leanVariableGrads(() => tf.sum(tf.mul(pass(tf.square(a)) as Tensor, frozen)) as tf.Scalar, [a, frozen, unused]);
      assert.deepEqual(Array.from(r.grads[a.name]!.dataSync()), [8, 20, 36]);
      assert.equal(r.grads[frozen.name], null);
      assert.ok(!(unused.name in r.grads));
      tf.dispose([r.value, r.grads[a.name]!]);
      assert.equal(tf.memory().numTensors, before);
      // One tensor handed to two inputs as their gradient: each keeps its own.
      const both = tf.customGrad(((p: Tensor, q: Tensor) => ({ value: tf.add(p, q), gradFunc: (dy: Tensor) => [dy, dy] })) as unknown as Parameters<
        typeof tf.customGrad
      >[0]);
      const r2 = leanVariableGrads(() => tf.sum(tf.mul(both(a, tf.mul(a, 2)) as Tensor, a)) as tf.Scalar, [a]);
      // f = Σ a·(a + 2a) = 3Σa²: 6a.
      assert.deepEqual(Array.from(r2.grads[a.name]!.dataSync()), [6, 12, 18]);
      tf.dispose([r2.value, r2.grads[a.name]!]);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([a, frozen, unused]);
    });

    test('what the forward pass saves: BN in training one full-size tensor; ReLU and Clip their output, shared with the next conv; shape-only readers nothing', () => {
      const n = 4;
      const c = 8;
      const hw = 8;
      const map = n * c * hw * hw * 4;
      const rng = new Rng(11);
      const x = tf.variable(tf.tensor(rng.uniformArray(n * c * hw * hw, -1, 1), [n, c, hw, hw]), true, `bp-x-${backend}`);
      const saved = (build: (b: GraphBuilder, x: Value) => Value) => {
        const b = GraphBuilder.newModel({ opset: 13 });
        b.output(build(b, b.input('x', [n, c, hw, hw])), 'y');
        const exec = TfExecutor.create(b.model, { trainable: 'none', batchNorm: 'train' });
        const stats: BackpropStats = { savedBytes: 0, forwardBytes: 0, peakBytes: 0 };
        tf.tidy(() => leanVariableGrads(() => tf.sum(exec.run({ x }, { training: true }).y!) as tf.Scalar, [x], stats));
        exec.dispose();
        return stats.savedBytes / map;
      };
      const bnOf = (b: GraphBuilder, t: Value) =>
        b.op('BatchNormalization', [
          t,
          b.floats('s', [c], new Float32Array(c).fill(1)),
          b.floats('b', [c], new Float32Array(c)),
          b.floats('m', [c], new Float32Array(c)),
          b.floats('v', [c], new Float32Array(c).fill(1)),
        ]);
      // BN: t − μ. With the statistics on the tape: t and t − μ. (The sum saves nothing: its
      // gradient reads only the input's shape.)
      const bn = saved(bnOf);
      assert.ok(bn > 0.95 && bn < 1.1, `BN in training saved ${bn.toFixed(2)} maps`);
      // conv → Clip → conv: the first conv's input and one map shared by Clip (its output) and
      // the second conv (its input). Saving the activation's input: three.
      const conv = (b: GraphBuilder, t: Value, name: string, bias = false) =>
        b.op('Conv', [t, b.floats(name, [c, c, 1, 1], rng.normalArray(c * c, 0.3)), ...(bias ? [b.floats(`${name}.b`, [c], rng.normalArray(c, 0.3))] : [])]);
      const clip = saved((b, t) => conv(b, b.op('Clip', [conv(b, t, 'w1'), b.floats('lo', [], [0]), b.floats('hi', [], [6])]), 'w2'));
      const relu = saved((b, t) => conv(b, b.op('Relu', [conv(b, t, 'w1')]), 'w2'));
      // conv + bias → ReLU: the Add of the bias keeps nothing (it saved the conv's output, for its shape).
      const biased = saved((b, t) => b.op('Relu', [conv(b, t, 'w1', true)]));
      for (const [name, maps] of [
        ['conv → Clip → conv', clip],
        ['conv → Relu → conv', relu],
        ['conv + bias → Relu', biased],
      ] as const) {
        assert.ok(maps > 1.95 && maps < 2.2, `${name} saved ${maps.toFixed(2)} maps`);
      }
      x.dispose();
    });
  });
}
