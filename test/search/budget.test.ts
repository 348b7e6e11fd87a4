/** The budget: repair always meets it and never empties a group; impossible targets are named errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Budget, Rng, ensureNonEmpty, prepareSearch, randomGenome, roundedCount } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { iterationsFor } from '../../src/search/gwcs.js';

const prepared = prepareSearch(buildModel('resnet20', { seed: 1, width: 0.5 }));
const space = prepared.space;

test('search space: GGS stages by resolution, OGS one stage, every prunable group a mask reaches', () => {
  assert.deepEqual(
    space.stages.map((s) => s.resolution),
    [1024, 256, 64],
  );
  assert.equal(
    space.stages.reduce((n, s) => n + s.bits.length, 0),
    space.length,
  );
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
    assert.throws(
      () => new Budget(space, { kind: 'flops', target }),
      (e: { code?: string }) => e.code === 'INVALID_OPTION',
    );
  }
  assert.throws(
    () => new Budget(space, { kind: 'flops', target: 1e-4 }),
    (e: { code?: string }) => e.code === 'BUDGET_UNREACHABLE',
  );
});

test('penalty mode: fitness minus weight times the relative excess; nothing over budget is repaired', () => {
  const b = new Budget(space, { kind: 'flops', target: 0.5, mode: 'penalty', penaltyWeight: 2 });
  assert.equal(b.penalize(0.9, b.limit), 0.9);
  assert.ok(Math.abs(b.penalize(0.9, b.limit * 1.1) - (0.9 - 0.2)) < 1e-12);
});

test('roundedCount: the nearest multiple of the unit (at least one), or the whole group; ties go down', () => {
  assert.deepEqual(
    [0, 1, 5, 8, 11, 12, 13, 16, 19, 20].map((k) => roundedCount(k, 20, 8)),
    [8, 8, 8, 8, 8, 8, 16, 16, 20, 20],
  );
  assert.deepEqual(
    [0, 1, 7, 32].map((k) => roundedCount(k, 32, 1)),
    [1, 1, 7, 32],
  );
  assert.equal(roundedCount(30, 32, 16), 32);
  assert.equal(roundedCount(24, 32, 16), 16);
});

test('--round-to: groups no wider than the unit stay whole; snap and repair keep every count a multiple (or whole) and meet the budget', () => {
  const m = buildModel('resnet20', { seed: 1, width: 0.5 }); // 8, 16 and 32 channels
  const p = prepareSearch(m, { roundTo: 8 });
  assert.equal(p.roundTo, 8);
  assert.ok(
    p.space.groups.every((g) => g.unit === 8 && g.size > 8),
    'only groups wider than the unit are searched',
  );
  assert.ok(p.unsearched.length >= 4, `the 8-channel groups are left whole: ${p.unsearched.join(', ')}`);
  const b = new Budget(p.space, { kind: 'flops', target: 0.5 });
  const rng = new Rng(9);
  for (let trial = 0; trial < 20; trial++) {
    const g = new Uint8Array(p.space.length).fill(1);
    for (const st of p.space.stages) {
      const sub = randomGenome(p.space.length, 0.3 + 0.6 * rng.next(), rng);
      for (const bit of st.bits) g[bit] = sub[bit]!;
      ensureNonEmpty(g, st, p.space, rng);
      b.snap(g, st, rng);
      assert.ok(b.repair(g, st, rng), `trial ${trial} stage ${st.index}`);
      for (const i of st.groups) {
        const sg = p.space.groups[i]!;
        let k = 0;
        for (let j = 0; j < sg.size; j++) k += g[sg.offset + j]!;
        assert.ok(k === sg.size || (k % 8 === 0 && k >= 8), `${sg.name}: ${k} of ${sg.size}`);
      }
    }
    assert.ok(b.fits(g, undefined), `trial ${trial}`);
  }
  assert.throws(
    () => prepareSearch(m, { roundTo: 64 }),
    (e: { code?: string; hint?: string }) => e.code === 'PRECONDITION_FAILED' && /--round-to/.test(e.hint ?? ''),
  );
});

test('fill gives channels back up to the budget: within it, no group can take its next step, the best dropped channels first, units kept', () => {
  for (const roundTo of [1, 8]) {
    const p = prepareSearch(buildModel('resnet20', { seed: 1, width: 0.5 }), { roundTo });
    const b = new Budget(p.space, { kind: 'flops', target: 0.5 });
    const rng = new Rng(3);
    const importance = Float64Array.from({ length: p.space.length }, () => rng.next());
    const g = randomGenome(p.space.length, 0.25, rng);
    for (const st of p.space.stages) {
      ensureNonEmpty(g, st, p.space, rng);
      b.snap(g, st, rng);
      assert.ok(b.repair(g, st, rng));
    }
    const before = g.slice();
    const costBefore = b.costAt(g, undefined);
    const added = b.fill(g, importance);
    const costAfter = b.costAt(g, undefined);
    assert.ok(added > 0 && costAfter > costBefore, `round-to ${roundTo}: ${added} channels, ${costBefore} → ${costAfter}`);
    assert.ok(b.fits(g, undefined));
    let turnedOn = 0;
    for (let i = 0; i < g.length; i++) {
      assert.ok(g[i]! >= before[i]!, 'fill never drops a channel');
      turnedOn += g[i]! - before[i]!;
    }
    assert.equal(turnedOn, added);
    p.space.groups.forEach((sg) => {
      const bits = Array.from({ length: sg.size }, (_, j) => sg.offset + j);
      const k = bits.filter((x) => g[x]).length;
      assert.ok(k === sg.size || k % sg.unit === 0, `${sg.name}: ${k} of ${sg.size} at unit ${sg.unit}`);
      // Within a group, every channel turned on outranks every channel still off.
      const on = bits.filter((x) => g[x] && !before[x]).map((x) => importance[x]!);
      const off = bits.filter((x) => !g[x]).map((x) => importance[x]!);
      if (on.length && off.length) assert.ok(Math.min(...on) >= Math.max(...off), sg.name);
      // No group can take its next step: it would not fit.
      if (k < sg.size) {
        const next = g.slice();
        const up = Math.min(sg.size, sg.unit <= 1 ? k + 1 : k + sg.unit);
        bits
          .filter((x) => !g[x])
          .slice(0, up - k)
          .forEach((x) => {
            next[x] = 1;
          });
        assert.ok(!b.fits(next, undefined), `${sg.name} could still grow from ${k}`);
      }
    });
    const again = before.slice();
    b.fill(again, importance);
    assert.deepEqual(again, g, 'deterministic');
  }
});

test('--iterations: one number is the count for every stage; a list is taken as given; none gives the 10/5 default', () => {
  const stages = prepared.space.stages.length;
  assert.ok(stages > 1);
  assert.deepEqual(iterationsFor(prepared, stages, [3]), new Array(stages).fill(3));
  assert.deepEqual(iterationsFor(prepared, stages, [4, 2, 1]), [4, 2, 1]);
  const d = iterationsFor(prepared, stages);
  assert.equal(d.length, stages);
  assert.equal(d[0], 10);
});
