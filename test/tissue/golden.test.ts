/**
 * Golden tests for the tissue pass: fixtures/passes/tissue/<case>/ holds the printed input,
 * the expected printed output and the statistics and remarks side by side (UPDATE_GOLDEN=1
 * rewrites them). The rewrite is not an equivalence, so numbers are checked elsewhere
 * (stacked.test.ts: each stacked layer against its units run one by one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, Rng, attrInt, attrInts, printModel, runModel, runPasses } from '../../src/index.js';
import type { Model, Value } from '../../src/index.js';
import { tissuePass } from '../../passes/tissue.js';
import type { TissuePassOptions } from '../../passes/tissue.js';
import { seededFeeds } from '../helpers.js';
import { checkGolden, statsText } from '../golden.js';

function conv(b: GraphBuilder, x: Value, cin: number, cout: number, name: string, rng: Rng, k = 3): Value {
  return b.op(
    'Conv',
    [x, b.floats(`${name}.weight`, [cout, cin, k, k], rng.normalArray(cout * cin * k * k, 0.3)), b.floats(`${name}.bias`, [cout], rng.normalArray(cout, 0.1))],
    [attrInts('kernel_shape', [k, k]), attrInts('pads', [k >> 1, k >> 1, k >> 1, k >> 1])],
    name,
  );
}

const cases: Record<string, { build: () => Model; options: TissuePassOptions }> = {
  'conv-equal-units': {
    build: () => {
      const b = GraphBuilder.newModel();
      const x = b.input('x', ['N', 8, 6, 6]);
      b.output(b.op('Relu', [conv(b, x, 8, 8, 'conv', new Rng(1))], [], 'relu'), 'y');
      return b.model;
    },
    options: { select: ['conv'], spec: { kind: 'groups', groups: 2, hidden: 6 } },
  },
  'gemm-equal-units': {
    build: () => {
      const b = GraphBuilder.newModel();
      const rng = new Rng(2);
      const x = b.input('x', ['N', 12]);
      b.output(
        b.op('Gemm', [x, b.floats('fc.weight', [8, 12], rng.normalArray(96, 0.3)), b.floats('fc.bias', [8], rng.normalArray(8))], [attrInt('transB', 1)], 'fc'),
        'y',
      );
      return b.model;
    },
    options: { select: ['fc'], spec: { kind: 'groups', groups: 4, hidden: 3 }, activation: 'tanh' },
  },
  'conv-hybrid-units': {
    build: () => {
      const b = GraphBuilder.newModel();
      const x = b.input('x', [1, 6, 5, 5]);
      b.output(conv(b, x, 6, 10, 'conv', new Rng(3)), 'y');
      return b.model;
    },
    options: {
      select: ['conv'],
      hybridOrder: 'listed',
      spec: {
        kind: 'units',
        units: [
          { n1: 1, n2: 2, n3: 2, count: 2 },
          { n1: 4, n2: 4, n3: 6, k1: 3, k2: 3, count: 1 },
        ],
      },
    },
  },
  'matmul-hybrid-opset11': {
    build: () => {
      const b = GraphBuilder.newModel({ opset: 11 });
      const x = b.input('x', ['N', 4, 6]);
      b.output(b.op('MatMul', [x, b.floats('proj.weight', [6, 6], new Rng(4).normalArray(36, 0.3))], [], 'proj'), 'y');
      return b.model;
    },
    options: {
      select: ['proj'],
      hybridOrder: 'listed',
      activation: 'relu6',
      spec: {
        kind: 'units',
        units: [
          { n1: 2, n2: 2, n3: 2, count: 2 },
          { n1: 2, n2: 3, n3: 2, count: 1 },
        ],
      },
    },
  },
  'strategy-all-normal-between-and-shuffle': {
    build: () => {
      const b = GraphBuilder.newModel();
      const rng = new Rng(5);
      let h = b.input('x', [1, 4, 6, 6]);
      for (const name of ['c1', 'c2', 'c3']) h = b.op('Relu', [conv(b, h, 4, 4, name, rng, 1)], [], `${name}.relu`);
      b.output(h, 'y');
      return b.model;
    },
    options: { spec: { kind: 'groups', groups: 2, hidden: 1 }, exclude: ['c3'], shuffle: true },
  },
  'strategy-all-keeps-normal-layer': {
    build: () => {
      const b = GraphBuilder.newModel();
      const rng = new Rng(6);
      let h = b.input('x', [1, 4, 6, 6]);
      for (const name of ['c1', 'c2', 'c3']) h = b.op('Relu', [conv(b, h, 4, 4, name, rng, 1)], [], `${name}.relu`);
      b.output(h, 'y');
      return b.model;
    },
    options: { spec: { kind: 'groups', groups: 2, hidden: 1 } },
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(`tissue / ${name}: golden IR, stats and remarks`, async () => {
    const model = c.build();
    const inputText = printModel(model);
    const r = runPasses(model, [tissuePass(c.options)]);
    const outText = printModel(model);
    checkGolden('tissue', name, { input: inputText, expected: outText, stats: statsText(r) });
    const y = await runModel(model, seededFeeds(model, 3, 2));
    assert.ok(Object.values(y).every((t) => Array.from(t.data as Float32Array).every(Number.isFinite)));
  });
}
