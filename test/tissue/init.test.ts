/**
 * Initialisation of stacked layers: He statistics, and the from-original fit — exact when
 * the original layer is block-diagonal and the units are wide enough, the best rank-r fit
 * otherwise — plus the linear algebra under it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, Rng, attrInt, attrInts, lowRankFactors, runModel, runPass, symmetricEigen } from '../../src/index.js';
import type { Model, TissueActivation } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { tissuePass } from '../../passes/tissue.js';
import type { TissuePassOptions, TissueReport } from '../../passes/tissue.js';

test('symmetric eigendecomposition: A·v = λ·v, orthonormal vectors, descending values', () => {
  const rng = new Rng(3);
  const n = 12;
  const m = rng.normalArray(n * n);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = m[i * n + j]! + m[j * n + i]!;
  const { values, vectors } = symmetricEigen(a, n);
  for (let c = 0; c < n; c++) {
    if (c > 0) assert.ok(values[c - 1]! >= values[c]!);
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let k = 0; k < n; k++) av += a[i * n + k]! * vectors[k * n + c]!;
      assert.ok(Math.abs(av - values[c]! * vectors[i * n + c]!) < 1e-9);
    }
    for (let d = 0; d < n; d++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += vectors[k * n + c]! * vectors[k * n + d]!;
      assert.ok(Math.abs(dot - (c === d ? 1 : 0)) < 1e-9);
    }
  }
});

test('low-rank factors: exact on a rank-r matrix; the truncation error is the dropped singular values', () => {
  const rng = new Rng(5);
  for (const [rows, cols] of [
    [6, 15],
    [15, 6],
  ] as const) {
    const r = 3;
    const u = rng.normalArray(rows * r);
    const v = rng.normalArray(r * cols);
    const m = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < r; k++) m[i * cols + j]! += u[i * r + k]! * v[k * cols + j]!;
    const { a, b, singular } = lowRankFactors(m, rows, cols, 5);
    assert.ok(singular[3]! === 0 && singular[4]! === 0, 'rank 3 has three singular values');
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let k = 0; k < 5; k++) s += b[i * 5 + k]! * a[k * cols + j]!;
        assert.ok(Math.abs(s - m[i * cols + j]!) < 1e-9);
      }
    }
    // Rank 2 of it: ‖M − BA‖² = σ3².
    const f = lowRankFactors(m, rows, cols, 2);
    let err = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        let s = 0;
        for (let k = 0; k < 2; k++) s += f.b[i * 2 + k]! * f.a[k * cols + j]!;
        err += (s - m[i * cols + j]!) ** 2;
      }
    }
    assert.ok(Math.abs(err - singular[2]! ** 2) < 1e-8 * singular[0]! ** 2);
  }
});

function rewrite(model: Model, opts: TissuePassOptions): TissueReport {
  const report: TissueReport | undefined = runPass(model, tissuePass(opts)).report;
  return report!;
}

/** A conv (or dense) net whose middle layer is block-diagonal over `m` groups. */
function blockDiagonalNet(kind: 'conv' | 'dense', m: number, c: number, seed: number): Model {
  const rng = new Rng(seed);
  const b = GraphBuilder.newModel({ opset: 17 });
  const k = kind === 'conv' ? 3 : 1;
  const per = c / m;
  const w = new Float32Array(c * c * k * k);
  for (let o = 0; o < c; o++)
    for (let i = 0; i < c; i++) {
      if (Math.floor(o / per) !== Math.floor(i / per)) continue;
      for (let t = 0; t < k * k; t++) w[(o * c + i) * k * k + t] = rng.normal() * 0.3;
    }
  const bias = rng.normalArray(c, 0.1);
  if (kind === 'conv') {
    const x = b.input('x', [1, c, 9, 9]);
    b.output(
      b.op(
        'Conv',
        [x, b.floats('w', [c, c, 3, 3], w), b.floats('b', [c], bias)],
        [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [2, 2])],
        'layer',
      ),
      'y',
    );
  } else {
    const x = b.input('x', [3, c]);
    b.output(b.op('Gemm', [x, b.floats('w', [c, c], w), b.floats('b', [c], bias)], [attrInt('transB', 1)], 'layer'), 'y');
  }
  return b.model;
}

test('init original is exact for a block-diagonal layer when the units are wide enough', async () => {
  const cases: { kind: 'conv' | 'dense'; act: TissueActivation; hidden: number; k1?: number; k2?: number }[] = [
    { kind: 'conv', act: 'relu', hidden: 36 }, // rank ≤ n3 = 8; relu needs 2·8 = 16 hidden units
    { kind: 'conv', act: 'none', hidden: 8 },
    { kind: 'conv', act: 'leaky-relu', hidden: 16 },
    { kind: 'conv', act: 'relu', hidden: 16, k1: 5, k2: 3 }, // original 3x3 taps centred in 5x5; k2 centre tap
    { kind: 'dense', act: 'relu', hidden: 16 },
    { kind: 'dense', act: 'none', hidden: 8 },
  ];
  for (const c of cases) {
    const original = blockDiagonalNet(c.kind, 4, 32, 11);
    const model = blockDiagonalNet(c.kind, 4, 32, 11);
    const r = rewrite(model, {
      select: ['layer'],
      init: 'original',
      activation: c.act,
      spec: { kind: 'groups', groups: 4, hidden: c.hidden, k1: c.k1, k2: c.k2 },
    });
    assert.ok(r.layers[0]!.fitError! < 1e-6, `${JSON.stringify(c)}: fit error ${r.layers[0]!.fitError}`);
    const rng = new Rng(2);
    const x = original.graph.inputs[0]!;
    const dims = x.shape as number[];
    const feeds = {
      [x.name]: {
        data: rng.uniformArray(
          dims.reduce((a, b) => a * b, 1),
          -1,
          1,
        ),
        dims,
      },
    };
    const [want, got] = [await runModel(original, feeds), await runModel(model, feeds)];
    let maxAbs = 0;
    for (let i = 0; i < want.y!.data.length; i++) maxAbs = Math.max(maxAbs, Math.abs(Number(want.y!.data[i]) - Number(got.y!.data[i])));
    assert.ok(maxAbs < 1e-4, `${JSON.stringify(c)}: differs by ${maxAbs}`);
  }
});

test('init original on a dense layer: error = the off-diagonal blocks plus the dropped singular values', async () => {
  const model = buildModel('mlp', { seed: 4 });
  const w = model.graph.findNode('fc2')!.inputs[1]!.initializer!.toFloat32(); // [300, 500], transB
  const r = rewrite(model, { select: ['fc2'], init: 'original', activation: 'none', spec: { kind: 'groups', groups: 4, hidden: 75 } });
  // Full rank kept (n2 = n3 = 75): only the off-diagonal blocks are lost.
  let total = 0;
  let off = 0;
  for (let o = 0; o < 300; o++)
    for (let i = 0; i < 500; i++) {
      const v = w[o * 500 + i]!;
      total += v * v;
      if (Math.floor(o / 75) !== Math.floor(i / 125)) off += v * v;
    }
  assert.ok(Math.abs(r.layers[0]!.fitError! - Math.sqrt(off / total)) < 1e-6);
  // Fewer hidden units: the error grows.
  const r2 = rewrite(buildModel('mlp', { seed: 4 }), {
    select: ['fc2'],
    init: 'original',
    activation: 'none',
    spec: { kind: 'groups', groups: 4, hidden: 20 },
  });
  assert.ok(r2.layers[0]!.fitError! > r.layers[0]!.fitError!);
});

test('init original behind a channel shuffle fits the permuted columns of the original weight', () => {
  const model = buildModel('mlp', { seed: 6 });
  const w = model.graph.findNode('fc2')!.inputs[1]!.initializer!.toFloat32(); // [300, 500]
  const r = rewrite(model, { select: ['fc1', 'fc2'], shuffle: true, init: 'original', activation: 'none', spec: { kind: 'groups', groups: 4, hidden: 75 } });
  assert.equal(r.layers[1]!.shuffleGroups, 4);
  // Unit input c' is original channel (c' mod 4)·125 + ⌊c'/4⌋; full rank: only the blocks off
  // the diagonal in those coordinates are lost.
  let total = 0;
  let off = 0;
  for (let o = 0; o < 300; o++)
    for (let c = 0; c < 500; c++) {
      const v = w[o * 500 + (c % 4) * 125 + Math.floor(c / 4)]!;
      total += v * v;
      if (Math.floor(o / 75) !== Math.floor(c / 125)) off += v * v;
    }
  assert.ok(Math.abs(r.layers[1]!.fitError! - Math.sqrt(off / total)) < 1e-6, `${r.layers[1]!.fitError} vs ${Math.sqrt(off / total)}`);
});

test('init he: seeded, std √(2/fan_in), zero biases; the same seed gives the same weights', () => {
  const get = (seed: number) => {
    const m = buildModel('vgg', { seed: 0 });
    const r = rewrite(m, { select: ['block3.conv1'], spec: { kind: 'groups', groups: 2, hidden: 64 }, init: 'he', seed });
    const find = (suffix: string) => m.graph.initializers.find((v) => v.name === `block3.conv1.tissue.${suffix}`)!.initializer!.toFloat32();
    return { r, w1: find('w1'), b1: find('b1'), w2: find('w2') };
  };
  const a = get(1);
  const b = get(1);
  const c = get(2);
  assert.deepEqual(a.w1, b.w1);
  assert.notDeepEqual(a.w1, c.w1);
  assert.ok(a.b1.every((x) => x === 0));
  const std = (xs: Float32Array) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);
  // w1: fan_in = n1·9 = 16·9; w2: fan_in = n2 = 64.
  assert.ok(Math.abs(std(a.w1) / Math.sqrt(2 / 144) - 1) < 0.05);
  assert.ok(Math.abs(std(a.w2) / Math.sqrt(2 / 64) - 1) < 0.05);
  assert.equal(a.r.layers[0]!.fitError, undefined);
});
