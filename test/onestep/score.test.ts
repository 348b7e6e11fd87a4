/**
 * `score`: only β trains (every weight and BatchNorm statistic bit-identical afterwards),
 * with labels or by distillation; the scores document: crucial-layer choice, fit to its
 * model, and its round trip into `sculpt prune --criterion scores`.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompilerError,
  chooseCrucial,
  checkScoresFit,
  decodeModel,
  encodeModel,
  globalPrune,
  inferShapes,
  loadDatasetFor,
  readModel,
  readScoresDoc,
  saveModel,
  scoreModel,
  selectBackend,
} from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';
import { tinyCnn, tinyResnet, writeQuadrantData } from './fixtures.js';

const dir = tempDir('sculpt-score-');
let spec = '';
before(async () => {
  spec = writeQuadrantData(dir, 128, 1);
  await selectBackend('cpu');
});

function initializers(m: Model): Map<string, Float32Array> {
  return new Map(m.graph.initializers.map((v) => [v.name, v.initializer!.toFloat32().slice()]));
}

test('score trains only β: every weight and BN statistic is bit-identical, β moved', async () => {
  const m = tinyCnn(3);
  const before = initializers(m);
  const data = loadDatasetFor(m, spec, { split: 'train' });
  const r = await scoreModel(m, { data, steps: 6, batchSize: 32, lr: 0.01, lambda: 0.01, backend: 'cpu', crucial: 1 });
  data.close();
  const after = initializers(r.betaModel);
  const betaNames = new Set(r.records.map((x) => x.beta));
  for (const [name, v] of before) assert.deepEqual(after.get(name), v, `${name} unchanged`);
  const moved = [...betaNames].filter((n) => after.get(n)!.some((x) => x !== 1)).length;
  assert.equal(moved, r.records.length, 'every β moved');
  assert.deepEqual(initializers(m), before, 'the input model is not changed');
  // The scores: |β| per channel, layer score = mean, crucial = 1 best + the last conv's layer.
  assert.equal(r.scores.layers.length, 4);
  for (const l of r.scores.layers) {
    assert.equal(l.beta.length, l.channels);
    assert.ok(Math.abs(l.score - l.beta.reduce((s, x) => s + x, 0) / l.channels) < 1e-9);
  }
  assert.equal(r.scores.crucial.length, 2);
  assert.equal(r.scores.crucial[1], 'c4', 'the last conv is always crucial');
  assert.deepEqual(
    r.scores.entries.map((e) => e.name).sort(),
    r.scores.layers
      .filter((l) => !l.crucial)
      .map((l) => l.value)
      .sort(),
  );
  assert.equal(r.scores.method.loss, 'ce');
});

test('score without labels distils from the original (labels never read)', async () => {
  const m = tinyCnn(4);
  const data = loadDatasetFor(m, spec, { split: 'train' });
  const r = await scoreModel(m, { data, steps: 4, batchSize: 32, lr: 0.01, lambda: 0.01, unlabeled: true, backend: 'cpu' });
  data.close();
  assert.equal(r.scores.method.loss, 'kd');
  assert.ok(r.scores.layers.every((l) => l.beta.some((x) => x !== 1)));
});

test('crucial layers: auto prefers junctions, then score; the last conv always; names resolve; unknown names fail', () => {
  const layers = [
    { name: 'a', layers: ['conv_a'], sites: ['ra'], score: 0.9, junction: false },
    { name: 'b', layers: ['conv_b'], sites: ['rb'], score: 0.5, junction: true },
    { name: 'c', layers: ['conv_c'], sites: ['rc1', 'rc2'], score: 0.7, junction: false },
    { name: 'd', layers: ['conv_d'], sites: ['rd'], score: 0.1, junction: false },
  ];
  assert.deepEqual(chooseCrucial(layers, 2, 'd').names, ['b', 'a', 'd']);
  assert.deepEqual(
    chooseCrucial(
      layers.map((l) => ({ ...l, junction: false })),
      2,
      'd',
    ).names,
    ['a', 'c', 'd'],
  );
  assert.deepEqual(chooseCrucial(layers, 'auto', 'd').names, ['b', 'a', 'c', 'd']);
  const named = chooseCrucial(layers, ['conv_c', 'rc1', 'a'], undefined);
  assert.deepEqual(named.names, ['c', 'a']);
  assert.equal(named.mimic.get('c'), 'rc1', 'a named site is what gets mimicked');
  assert.throws(
    () => chooseCrucial(layers, ['nope'], 'd'),
    (e: unknown) => e instanceof CompilerError && e.code === 'CRUCIAL_LAYER_NOT_FOUND',
  );
});

test('scores.json round-trips into `sculpt prune --criterion scores` and prunes what globalPrune prunes', async () => {
  const m = tinyResnet(2);
  const data = loadDatasetFor(m, spec, { split: 'train' });
  const r = await scoreModel(m, { data, steps: 4, batchSize: 32, lr: 0.05, lambda: 0.05, backend: 'cpu', crucial: 1 });
  data.close();
  const modelPath = join(dir, 'res.onnx');
  const scoresPath = join(dir, 'scores.json');
  saveModel(m, modelPath);
  writeFileSync(scoresPath, JSON.stringify(r.scores));
  const doc = readScoresDoc(scoresPath);
  assert.deepEqual(doc, JSON.parse(JSON.stringify(r.scores)));
  const cli = runCli([
    'prune',
    modelPath,
    '-o',
    join(dir, 'res-p.onnx'),
    '--criterion',
    'scores',
    '--scores',
    scoresPath,
    '--scope',
    'global',
    '--ratio',
    '0.5',
    '--round-to',
    '1',
    '--verify',
    '--json',
  ]);
  assert.equal(cli.code, 0, cli.stderr);
  const j = JSON.parse(cli.stdout);
  assert.equal(j.verify.ok, true);
  const lib = globalPrune(readModel(modelPath), doc, { ratio: 0.5, roundTo: 1 });
  const names = (list: { name: string; removed: number[] }[]) => list.map((p) => `${p.name}:${p.removed.join(',')}`).sort();
  assert.deepEqual(names(j.pruned), names(lib.report.pruned), 'the CLI and the library prune the same channels');
  // The crucial stage group (a junction) keeps every channel in every tensor.
  const crucial = doc.layers.filter((l) => l.crucial);
  assert.ok(crucial.some((l) => l.junction));
  for (const l of crucial) for (const s of l.sites) assert.ok(!j.pruned.some((p: { name: string }) => p.name === s), `${s} kept whole`);
});

test('a scores file for another model is refused', async () => {
  const m = tinyResnet(2);
  const other = tinyCnn(2);
  const data = loadDatasetFor(other, spec, { split: 'train' });
  const r = await scoreModel(other, { data, steps: 1, batchSize: 32, backend: 'cpu' });
  data.close();
  inferShapes(m);
  assert.throws(
    () => checkScoresFit(r.scores, m),
    (e: unknown) => e instanceof CompilerError && e.code === 'SCORES_MODEL_MISMATCH',
  );
  assert.throws(
    () => globalPrune(decodeModel(encodeModel(m)), r.scores, { ratio: 0.5 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'SCORES_MODEL_MISMATCH',
  );
});
