/**
 * Data without labels (`npy:<x.npy>`, `idx:<images>`, a folder of loose images): loaded as
 * unlabeled, taken by the label-free uses (β scores by distillation, mimicking), refused with
 * DATA_UNLABELED by everything that needs labels, before any work.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  CompilerError,
  evaluateAccuracy,
  evaluateTf,
  loadDataset,
  openSession,
  readModel,
  saveModel,
  selectBackend,
  train,
  encodeModel,
} from '../../src/index.js';
import { runCli, smallSearchArgs, tempDir } from '../helpers.js';
import { tinyCnn, writeQuadrantData } from '../onestep/fixtures.js';

const require = createRequire(import.meta.url);
const { PNG } = require('pngjs') as { PNG: { new (o: { width: number; height: number }): { data: Buffer }; sync: { write(p: unknown): Buffer } } };

const dir = tempDir('sculpt-unlabeled-');
const cnn = join(dir, 'cnn.onnx');
let xOnly = '';
before(async () => {
  writeQuadrantData(dir, 64, 5);
  xOnly = `npy:${join(dir, 'train-x.npy')}`;
  saveModel(tinyCnn(2), cnn);
  await selectBackend('cpu');
});

async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof CompilerError, String(e));
    return e.code;
  }
  assert.fail('expected an error');
}

test('npy and idx without a label file, and a folder of loose images, load as unlabeled', () => {
  const d = loadDataset(xOnly, { split: 'all' });
  assert.equal(d.labeled, false);
  assert.equal(d.numClasses, 0);
  assert.equal(d.size, 64);
  assert.ok([...d.labels()].every((y) => y === -1));
  const labelled = loadDataset(`${xOnly},${join(dir, 'train-y.npy')}`, { split: 'all' });
  assert.equal(labelled.labeled, true);
  // The samples are the same with and without the label file.
  const a = [...d.batches(64, { shuffle: false })][0]!.x;
  const b = [...labelled.batches(64, { shuffle: false })][0]!.x;
  assert.deepEqual(a, b);

  const img = new Uint8Array(3 * 4 * 4).map((_, i) => i * 5);
  const head = new Uint8Array([0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4]);
  writeFileSync(join(dir, 'imgs.idx'), Buffer.concat([head, img]));
  const i = loadDataset(`idx:${join(dir, 'imgs.idx')}`, { split: 'all' });
  assert.equal(i.labeled, false);
  assert.equal(i.size, 3);

  const folder = tempDir('sculpt-loose-');
  for (let k = 0; k < 4; k++) {
    const p = new PNG({ width: 8, height: 8 });
    for (let j = 0; j < 64; j++) p.data.set([k * 60, k * 60, k * 60, 255], 4 * j);
    writeFileSync(join(folder, `img${k}.png`), PNG.sync.write(p));
  }
  writeFileSync(join(folder, 'notes.txt'), 'not an image');
  const f = loadDataset(`folder:${folder}`, { split: 'all' });
  assert.equal(f.labeled, false);
  assert.equal(f.size, 4);
  assert.deepEqual(f.inputShape, [1, 8, 8]);
  assert.equal(Math.round([...f.batches(4, { shuffle: false })][0]!.x[64 * 3]! * 255), 180);
  assert.equal(
    code(() => loadDataset(`folder:${tempDir('sculpt-empty-')}`)),
    'DATA_SPEC_INVALID',
  );
});

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CompilerError, String(e));
    return e.code;
  }
  assert.fail('expected an error');
}

test('training: label-free terms run, cross-entropy and accuracy are refused, train accuracy is unknown', async () => {
  const data = loadDataset(xOnly, { split: 'all' });
  const model = readModel(cnn);
  assert.equal(await codeOf(() => train(readModel(cnn), { data, steps: 1, batchSize: 16, backend: 'cpu' })), 'DATA_UNLABELED');
  assert.equal(
    await codeOf(() => train(readModel(cnn), { data, steps: 1, batchSize: 16, backend: 'cpu', loss: 'kd', teacher: model, kd: { rho: 0.5 } })),
    'DATA_UNLABELED',
  );
  assert.equal(
    await codeOf(() =>
      train(readModel(cnn), { data: loadDataset(`${xOnly},${join(dir, 'train-y.npy')}`), evalData: data, steps: 1, batchSize: 16, backend: 'cpu' }),
    ),
    'DATA_UNLABELED',
  );
  const r = await train(readModel(cnn), { data, steps: 2, batchSize: 16, backend: 'cpu', loss: 'kd', teacher: model, kd: { rho: 1 } });
  assert.equal(r.steps, 2);
  assert.ok(Number.isFinite(r.finalLoss));
  assert.ok(Number.isNaN(r.trainAccuracy), `train accuracy ${r.trainAccuracy} without labels`);
  const { session } = await openSession(encodeModel(model));
  assert.equal(await codeOf(() => evaluateAccuracy(session, model, data)), 'DATA_UNLABELED');
  assert.equal(await codeOf(() => evaluateTf(model, data, { backend: 'cpu' })), 'DATA_UNLABELED');
});

test('sculpt score --unlabeled takes unlabeled data; without it, and onestep with a label-needing option, exit 1 before any work', () => {
  const out = join(dir, 'scores.json');
  const r = runCli(['score', cnn, '-o', out, '--data', xOnly, '--unlabeled', '--steps', '2', '--batch', '16', '--backend', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(out));
  const bad = runCli(['score', cnn, '-o', join(dir, 's2.json'), '--data', xOnly, '--steps', '2', '--backend', 'cpu']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /error DATA_UNLABELED[\s\S]*hint: /);
  assert.ok(!existsSync(join(dir, 's2.json')));
  const o = join(dir, 'o.onnx');
  const one = runCli([
    'onestep',
    cnn,
    '-o',
    o,
    '--work-dir',
    join(dir, 'w'),
    '--data',
    xOnly,
    '--unlabeled',
    '--ratio',
    '0.5',
    '--finetune-epochs',
    '1',
    '--backend',
    'cpu',
  ]);
  assert.equal(one.code, 1, one.stderr);
  assert.match(one.stderr, /error DATA_UNLABELED: .*--finetune-epochs/);
  assert.ok(!existsSync(o) && !existsSync(join(dir, 'w')), 'nothing written');
  const ok = runCli([
    'onestep',
    cnn,
    '-o',
    o,
    '--work-dir',
    join(dir, 'w2'),
    '--data',
    xOnly,
    '--unlabeled',
    '--ratio',
    '0.5',
    '--crucial',
    '1',
    '--score-epochs',
    '1',
    '--recover-epochs',
    '1',
    '--batch',
    '16',
    '--round-to',
    '1',
    '--backend',
    'cpu',
    '--json',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /no labels: the validation measures latency and size/);
  const j = JSON.parse(ok.stdout);
  assert.ok(existsSync(o));
  assert.ok(j.validation.comparison.flops.ratio < 1);
});

test('sculpt search on unlabeled data: the fitness needs no labels; recovery with a hard term is refused before the search', () => {
  const small = [...smallSearchArgs('1,1'), '--round-to', '1', '--seed', '3'];
  const out = join(dir, 'searched.onnx');
  const bad = runCli(['search', cnn, '--data', xOnly, '-o', out, '--flops-target', '0.6', ...small, '--recover-epochs', '1', '--backend', 'cpu']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /error DATA_UNLABELED: .*--rho 0\.9/);
  assert.ok(!existsSync(out));
  const r = runCli([
    'search',
    cnn,
    '--data',
    xOnly,
    '-o',
    out,
    '--flops-target',
    '0.6',
    ...small,
    '--recover-epochs',
    '1',
    '--rho',
    '1',
    '--batch',
    '16',
    '--backend',
    'cpu',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no labels: the validation measures latency and size/);
  const j = JSON.parse(r.stdout);
  assert.ok(existsSync(out));
  assert.ok(Number.isFinite(j.recovery.finalLoss));
});

test('sculpt train on unlabeled data: distillation by the soft term trains without a test evaluation; cross-entropy exits 1 before training', () => {
  const out = join(dir, 'trained.onnx');
  const common = ['train', cnn, '--data', xOnly, '--steps', '2', '--batch', '16', '--backend', 'cpu'];
  const ce = runCli([...common, '-o', out]);
  assert.equal(ce.code, 1, ce.stderr);
  assert.match(ce.stderr, /error DATA_UNLABELED: the cross-entropy loss needs labels/);
  assert.ok(!existsSync(out));
  const kd = runCli([...common, '-o', out, '--loss', 'kd', '--teacher', cnn, '--rho', '1', '--json']);
  assert.equal(kd.code, 0, kd.stderr);
  assert.match(kd.stderr, /has no labels: no test accuracy is measured/);
  const j = JSON.parse(kd.stdout);
  assert.equal(j.testAccuracy ?? null, null);
  assert.ok(existsSync(out));
});
