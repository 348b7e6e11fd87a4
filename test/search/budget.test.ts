/** The budget: repair always meets it and never empties a group; impossible targets are named errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Budget, Rng, ensureNonEmpty, prepareSearch, randomGenome } from '../../src/index.js';
import { buildModel } from '../../models/index.js';

const prepared = prepareSearch(buildModel('resnet20', { seed: 1, width: 0.5 }));
const space = prepared.space;

test('search space: GGS stages by resolution, OGS one stage, every prunable group a mask reaches', () => {
  assert.deepEqual(space.stages.map((s) => s.resolution), [1024, 256, 64]);
  assert.equal(space.stages.reduce((n, s) => n + s.bits.length, 0), space.length);
  const ogs = prepareSearch(buildModel('resnet20', { seed: 1, width: 0.5 }), { grouping: 'ogs' }).space;
  assert.equal(ogs.stages.length, 1);
  assert.equal(ogs.stages[0]!.bits.length, space.length);
});

for (const kind of ['flops', 'params'] as const) {
  test(`repair meets a ${kind} budget from any genome, stage by stage, never emptying a group`, () => {
    const budget = new Budget(space, { kind, target: 0.3 });
    const rng = new Rng(7);
    for (let t = 0; t < 60; t++) {
      const g = randomGenome(space.length, rng.next(), rng);
      for (const stage of space.stages) {
        ensureNonEmpty(g, stage, space, rng);
        assert.ok(budget.repair(g, stage, rng), `trial ${t} stage ${stage.index}`);
        assert.ok(budget.costAt(g, stage.index) <= budget.limit * (1 + 1e-9));
      }
      // After the last stage the cost is exact (no projection) and still fits.
      assert.ok(budget.costAt(g, undefined) <= budget.limit * (1 + 1e-9));
      for (const k of space.keptOf(g)) assert.ok(k >= 1);
    }
  });
}

test('targets of 0, 1 or below the one-channel-per-group floor are named errors', () => {
  for (const target of [0, 1, 1.5, -0.1, Number.NaN]) {
    assert.throws(() => new Budget(space, { kind: 'flops', target }), (e: { code?: string }) => e.code === 'INVALID_OPTION');
  }
  assert.throws(() => new Budget(space, { kind: 'flops', target: 1e-4 }), (e: { code?: string }) => e.code === 'BUDGET_UNREACHABLE');
});

test('penalty mode: fitness minus weight times the relative excess; nothing over budget is repaired', () => {
  const b = new Budget(space, { kind: 'flops', target: 0.5, mode: 'penalty', penaltyWeight: 2 });
  assert.equal(b.penalize(0.9, b.limit), 0.9);
  assert.ok(Math.abs(b.penalize(0.9, b.limit * 1.1) - (0.9 - 0.2)) < 1e-12);
});
