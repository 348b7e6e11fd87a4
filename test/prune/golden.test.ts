/**
 * Golden tests for the prune-channels pass: fixtures/passes/prune-channels/<case>/ holds
 * the printed input, the expected printed output (weight shapes, `group` attributes, Split
 * sizes, Reshape targets) and the pass statistics; UPDATE_GOLDEN=1 rewrites them. The
 * kept channels come from the deterministic first-k criterion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeChannelGroups, computeCost, planPruning, printModel, runPasses } from '../../src/index.js';
import { pruneChannelsPass } from '../../passes/prune-channels.js';
import { checkGolden, statsText } from '../golden.js';
import { construct } from './graphs.js';

const CASES = ['residual', 'inverted-residual', 'grouped-conv', 'split-slice', 'reshape-matmul', 'channel-shuffle'];

for (const name of CASES) {
  test(`prune-channels / ${name}: golden IR`, () => {
    const model = construct(name).build(1, name !== 'grouped-conv');
    const cost = computeCost(model);
    const inputText = printModel(model);
    const analysis = analyzeChannelGroups(model);
    const plan = planPruning(model, analysis, cost, { ratio: 0.5, criterion: 'first-k', roundTo: 1 });
    const r = runPasses(model, [pruneChannelsPass({ analysis, keep: plan.keep })]);
    const outText = printModel(model);
    checkGolden('prune-channels', name, { input: inputText, expected: outText, stats: statsText(r, false) });
  });
}

test('prune-channels without kept channels or a mask is INVALID_OPTION', () => {
  const model = construct('residual').build(1, true);
  assert.throws(
    () => runPasses(model, [pruneChannelsPass({})]),
    (e: { code?: string }) => e.code === 'INVALID_OPTION',
  );
});
