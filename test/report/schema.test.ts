/**
 * The JSON that `sculpt diff --json` and `sculpt validate --json` print follows the schemas
 * documented in docs/diff-schema.md (read from the doc itself, so doc and code cannot drift).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffModels, loadDataset, renderDiffJson, validateModel } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { copyModel, hybridRewrite, pruneResnetBlocks, smallCnn, tissueRewrite } from './rewrites.js';
import { documentedSchema, validate } from './json-schema.js';
import { centroidClassifier } from '../validate/classifier.js';

test('diff JSON follows the documented sculpt-diff schema', () => {
  const schema = documentedSchema('sculpt-diff');
  const a = smallCnn();
  const r20 = buildModel('resnet20', { seed: 1 });
  const cases = [
    diffModels(a, copyModel(a)),
    diffModels(a, tissueRewrite(a, 'conv_b', { groups: 4, hidden: 8 })),
    diffModels(a, hybridRewrite(a, 'conv_b')),
    diffModels(r20, pruneResnetBlocks(r20, 0.5)),
  ];
  for (const d of cases) assert.deepEqual(validate(JSON.parse(renderDiffJson(d)), schema), []);
  // The checker rejects what the schema forbids.
  const bad = JSON.parse(renderDiffJson(cases[0]!)) as Record<string, unknown>;
  bad.extra = 1;
  (bad.counts as Record<string, unknown>).same = -1;
  assert.equal(validate(bad, schema).length, 2);
});

test('validation JSON follows the documented sculpt-validation schema (with and without a baseline)', async () => {
  const schema = documentedSchema('sculpt-validation');
  const data = loadDataset('mnist', { split: 'test', limit: 200 });
  const model = centroidClassifier();
  const fast = { warmup: 1, minRuns: 3, maxRuns: 10, maxTimeMs: 2000 };
  const full = await validateModel(centroidClassifier({ damage: { classes: [1], scale: 0.9 } }), {
    data,
    baseline: model,
    latency: true,
    batch: 16,
    latencyOptions: fast,
    gates: { maxDrop: 5, minSpeedup: 0.01, maxParams: 1e6 },
  });
  const bare = await validateModel(model, {});
  for (const r of [full, bare]) assert.deepEqual(validate(JSON.parse(JSON.stringify(r)), schema), []);
  assert.equal(full.model.latency!.batch!.runs > 0, true);
  assert.equal(full.gates.length, 3);
  assert.equal(bare.baseline, null);
  data.close();
});
