/**
 * Mask and score files: the three mask forms agree, a report is a mask, and a mask that
 * does not fit gives a named error before anything changes.
 */
import { inferInto } from '../helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeChannelGroups, decodeModel, encodeModel, maskToKeep, parseMask, parseScores, planPruning, computeCost, pruneModel } from '../../src/index.js';
import type { ChannelAnalysis, Model } from '../../src/index.js';
import { construct } from './graphs.js';

function analysed(name: string, seed = 1): { m: Model; a: ChannelAnalysis } {
  const m = construct(name).build(seed, true);
  inferInto(m);
  return { m, a: analyzeChannelGroups(m) };
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

test('keep, 0/1 mask and pruned-list forms select the same channels', () => {
  const { a } = analysed('residual');
  const fromKeep = maskToKeep(a, parseMask({ keep: { 'b1.conv1_out': [0, 2, 4, 6, 8, 10] } }));
  const fromMask = maskToKeep(a, parseMask({ mask: { 'b1.conv1_out': [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0] } }));
  const fromList = maskToKeep(a, parseMask({ pruned: [{ name: 'b1.conv1.weight', axis: 0, removed: [1, 3, 5, 7, 9, 11] }] }));
  assert.deepEqual([...fromKeep], [...fromMask]);
  assert.deepEqual([...fromKeep], [...fromList]);
  assert.equal(fromKeep.size, 1);
  assert.deepEqual([...fromKeep.values()][0], [0, 2, 4, 6, 8, 10]);
});

test('a prune report is a mask that reproduces the pruning', () => {
  const m1 = construct('densenet-concat').build(2, true);
  const m2 = decodeModel(encodeModel(m1));
  const first = pruneModel(m1, { ratio: 0.5, roundTo: 1, criterion: 'l1' });
  const second = pruneModel(m2, { mask: parseMask(JSON.parse(JSON.stringify(first.report))) });
  assert.deepEqual(second.report.pruned, first.report.pruned);
  assert.deepEqual(encodeModel(m2), encodeModel(m1));
});

test('masks that do not fit give named errors and leave the model unchanged', () => {
  const { m, a } = analysed('flatten-gemm');
  const before = encodeModel(m);
  const cases: [unknown, string][] = [
    [{ mask: { conv_out: [1, 0, 1] } }, 'MASK_SHAPE_MISMATCH'],
    [{ keep: { conv_out: [0, 99] } }, 'MASK_SHAPE_MISMATCH'],
    [{ pruned: [{ name: 'fc.weight', axis: 1, removed: [0, 1, 2] }] }, 'MASK_SHAPE_MISMATCH'],
    [
      {
        pruned: [
          { name: 'conv_out', axis: 1, removed: [0] },
          { name: 'conv.weight', axis: 0, removed: [1] },
        ],
      },
      'MASK_SHAPE_MISMATCH',
    ],
    [{ keep: { no_such_tensor: [0] } }, 'MASK_INVALID'],
    [{ keep: { conv_out: [] } }, 'MASK_INVALID'],
    [{ keep: { 'fc.weight': [0] } }, 'MASK_INVALID'],
    [{ mask: { conv_out: [1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] } }, 'MASK_INVALID'],
    [{ pruned: [{ name: 'logits', axis: 1, removed: [0] }] }, 'GROUP_FROZEN'],
    [{ pruned: [{ name: 'input', axis: 1, removed: [0] }] }, 'GROUP_FROZEN'],
    [[1, 2, 3], 'MASK_INVALID'],
    [{ something: 1 }, 'MASK_INVALID'],
  ];
  for (const [doc, code] of cases) {
    assert.equal(
      codeOf(() => maskToKeep(a, parseMask(doc))),
      code,
      JSON.stringify(doc),
    );
  }
  assert.deepEqual(encodeModel(m), before);
});

test('scores decide which channels stay; a wrong length is MASK_SHAPE_MISMATCH', () => {
  const { m, a } = analysed('residual');
  const cost = computeCost(m);
  const scores = parseScores({ scores: { 'b1.conv1_out': [5, 1, 9, 2, 8, 3, 7, 4, 6, 0, 11, 10] } });
  const plan = planPruning(m, a, cost, { ratio: 0.5, criterion: 'scores', scores, roundTo: 1 });
  assert.equal(plan.keep.size, 1, 'only the group with scores is pruned');
  assert.deepEqual([...plan.keep.values()][0], [2, 4, 6, 8, 10, 11], 'the six highest scores');
  assert.ok(plan.remarks.some((r) => r.includes('no scores')));
  const bad = parseScores({ 'b1.conv1_out': [1, 2, 3] });
  assert.equal(
    codeOf(() => planPruning(m, a, cost, { ratio: 0.5, criterion: 'scores', scores: bad })),
    'MASK_SHAPE_MISMATCH',
  );
  assert.equal(
    codeOf(() => planPruning(m, a, cost, { ratio: 0.5, criterion: 'scores', scores: parseScores({ nothing: [1] }) })),
    'MASK_INVALID',
  );
});

test('bad options are INVALID_OPTION', () => {
  const { m, a } = analysed('residual');
  const cost = computeCost(m);
  for (const o of [
    {},
    { ratio: 1 },
    { ratio: -0.1 },
    { flopsTarget: 0 },
    { ratio: 0.5, flopsTarget: 0.5 },
    { ratio: 0.5, roundTo: 0 },
    { ratio: 0.5, maxRatio: 1 },
    { ratio: 0.5, minChannels: 0 },
    { ratio: 0.5, criterion: 'mask' as const },
  ]) {
    assert.equal(
      codeOf(() => planPruning(m, a, cost, o)),
      'INVALID_OPTION',
      JSON.stringify(o),
    );
  }
});
