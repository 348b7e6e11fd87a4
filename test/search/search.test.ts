/** The genetic loop: seeded and deterministic whatever the worker count; resume = uninterrupted. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, genomeKey, gwcs } from '../../src/index.js';
import type { GwcsOptions } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { tempDir } from '../helpers.js';

const model = buildModel('resnet20', { seed: 1, width: 0.25 });
const xDims = [6, 3, 32, 32];
const x = new Rng(5).uniformArray(6 * 3 * 32 * 32);
const base: GwcsOptions = {
  x,
  xDims,
  budget: { kind: 'flops', target: 0.5 },
  iterations: [2, 2, 1],
  population: 8,
  offspring: 8,
  parents: 4,
  survivors: 6,
  seed: 3,
};
const dir = tempDir('sculpt-search-');

test('the same seed gives the same genome and history with 0, 1 and 2 workers; it meets the budget', async () => {
  const runs = [];
  for (const workers of [0, 1, 2]) runs.push(await gwcs(model, { ...base, workers }));
  const [a, b, c] = runs;
  assert.equal(genomeKey(a!.search.genome), genomeKey(b!.search.genome));
  assert.equal(genomeKey(a!.search.genome), genomeKey(c!.search.genome));
  assert.deepEqual(
    a!.search.history.map((h) => h.best),
    c!.search.history.map((h) => h.best),
  );
  assert.ok(a!.search.cost <= 0.5 + 1e-9 && a!.search.cost > 0.3, `cost ${a!.search.cost}`);
  assert.equal(a!.search.history.length, 3 + 2 + 2 + 1);
  // The best feasible fitness never drops within a stage.
  for (let i = 1; i < a!.search.history.length; i++) {
    const [p, q] = [a!.search.history[i - 1]!, a!.search.history[i]!];
    if (p.stage === q.stage) assert.ok(q.bestFeasible >= p.bestFeasible);
  }
  // Another seed, another search.
  const d = await gwcs(model, { ...base, seed: 4, workers: 0 });
  assert.notEqual(genomeKey(d.search.genome), genomeKey(a!.search.genome));
});

test('a search stopped after a generation and resumed from --state ends with the uninterrupted genome', async () => {
  const full = await gwcs(model, { ...base, workers: 0 });
  for (const stopAt of [
    [0, 1],
    [1, 0],
    [1, 2],
  ] as const) {
    const state = join(dir, `s-${stopAt.join('-')}.json`);
    const signal = { stop: false };
    const first = await gwcs(model, {
      ...base,
      workers: 0,
      state,
      signal,
      onProgress: (p) => {
        if (p.stage === stopAt[0] && p.generation === stopAt[1]) signal.stop = true;
      },
    });
    assert.ok(first.search.stopped);
    assert.ok(existsSync(state));
    const saved = JSON.parse(readFileSync(state, 'utf8'));
    assert.deepEqual([saved.stage, saved.generation], [...stopAt]);
    const second = await gwcs(model, { ...base, workers: 0, state });
    assert.ok(second.search.resumed && !second.search.stopped);
    assert.equal(genomeKey(second.search.genome), genomeKey(full.search.genome), `stopped at stage ${stopAt[0]} generation ${stopAt[1]}`);
    assert.deepEqual(
      second.search.history.map((h) => h.best),
      full.search.history.map((h) => h.best),
    );
  }
});

test('a state file of another search is refused by name', async () => {
  const state = join(dir, 'other.json');
  const signal = { stop: false };
  await gwcs(model, {
    ...base,
    workers: 0,
    state,
    signal,
    onProgress: () => {
      signal.stop = true;
    },
  });
  await assert.rejects(gwcs(model, { ...base, seed: 99, workers: 0, state }), (e: { code?: string }) => e.code === 'SEARCH_STATE_MISMATCH');
  await assert.rejects(
    gwcs(buildModel('resnet20', { seed: 2, width: 0.25 }), { ...base, workers: 0, state }),
    (e: { code?: string }) => e.code === 'SEARCH_STATE_MISMATCH',
  );
});

test('OGS, every fitness kind, and the penalty budget run and meet the target', async () => {
  for (const fitness of ['wca', 'gap', 'gmp', 'gap+gmp'] as const) {
    const r = await gwcs(model, { ...base, fitness, workers: 0, grouping: 'ogs', iterations: [2] });
    assert.equal(r.prepared.space.stages.length, 1);
    assert.ok(r.search.cost <= 0.5 + 1e-9);
    assert.ok(r.search.fitness > 0 && r.search.fitness <= 1 + 1e-12);
  }
  const p = await gwcs(model, { ...base, workers: 0, budget: { kind: 'params', target: 0.4, mode: 'penalty' } });
  assert.ok(p.search.cost <= 0.4 + 1e-9, `params ${p.search.cost}`);
  await assert.rejects(gwcs(model, { ...base, workers: 0, iterations: [1, 1] }), (e: { code?: string }) => e.code === 'INVALID_OPTION');
  await assert.rejects(
    gwcs(model, { ...base, workers: 0, xDims: [6, 3, 28, 28], x: x.subarray(0, 6 * 3 * 28 * 28) }),
    (e: { code?: string }) => e.code === 'DATA_SHAPE_MISMATCH',
  );
});

test('--round-to 8: the searched genome keeps multiples of 8 (or whole groups), meets the budget, and the same seed gives it again', async () => {
  const wide = buildModel('resnet20', { seed: 1, width: 0.5 });
  const o: GwcsOptions = { ...base, roundTo: 8, workers: 0, iterations: [2, 1] }; // the 8-channel stage stays whole
  const r = await gwcs(wide, o);
  assert.ok(r.search.cost <= 0.5 + 1e-9, `cost ${r.search.cost}`);
  for (const g of r.groups) assert.ok(g.kept === g.size || g.kept % 8 === 0, `${g.name}: ${g.kept} of ${g.size}`);
  assert.ok(
    r.groups.some((g) => g.kept < g.size),
    'something was pruned',
  );
  assert.equal(genomeKey((await gwcs(wide, { ...o, workers: 2 })).search.genome), genomeKey(r.search.genome));
});
