/**
 * `sculpt onestep` and `sculpt score` end to end: every phase's artifact in the work dir, a
 * rerun resuming from the last finished phase (and rerunning only what a changed option
 * touches), gates ending in exit 3, --json; and bad input — data that does not fit, no
 * prunable layer, an unknown crucial layer, scores for another model — a named error,
 * exit 1, nothing written.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { encodeNpy, runOnestep, loadDatasetFor, readModel, readScoresDoc, saveModel, selectBackend } from '../../src/index.js';
import type { OnestepOptions, Phase } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';
import { linearModel, tinyCnn, tinyResnet, writeQuadrantData } from './fixtures.js';

const dir = tempDir('sculpt-onestep-');
let spec = '';
const cnn = join(dir, 'cnn.onnx');
const res = join(dir, 'res.onnx');
const lin = join(dir, 'lin.onnx');
before(async () => {
  spec = writeQuadrantData(dir, 96, 3);
  saveModel(tinyCnn(2), cnn);
  saveModel(tinyResnet(2), res);
  saveModel(linearModel(2), lin);
  await selectBackend('cpu');
});

const quick = ['--score-epochs', '1', '--recover-epochs', '1', '--batch', '32', '--round-to', '1', '--backend', 'cpu'];

test('resume: a rerun skips every finished phase; a changed recovery option reruns recovery only', async () => {
  const work = join(dir, 'w-resume');
  const model = readModel(cnn);
  const data = loadDatasetFor(model, spec, { split: 'train' });
  const test_ = loadDatasetFor(model, spec, { split: 'test' });
  const events: string[] = [];
  const opts: OnestepOptions = {
    input: cnn,
    output: join(dir, 'out-resume.onnx'),
    workDir: work,
    data,
    evalData: test_,
    score: { epochs: 1 },
    crucial: 1,
    prune: { ratio: 0.5, roundTo: 1 },
    recover: { epochs: 1 },
    finetune: { epochs: 1 },
    batchSize: 32,
    backend: 'cpu',
    onPhase: (p: Phase, e) => events.push(`${p}:${e}`),
  };
  const first = await runOnestep(opts);
  assert.deepEqual(
    first.phases.map((p) => p.status),
    ['ran', 'ran', 'ran', 'ran', 'ran'],
  );
  for (const f of ['scores.json', 'pruned.onnx', 'prune.json', 'recovered.onnx', 'finetuned.onnx', 'report.json', 'state.json'])
    assert.ok(existsSync(join(work, f)), f);
  const mtimes = new Map(['scores.json', 'pruned.onnx', 'recovered.onnx', 'finetuned.onnx'].map((f) => [f, statSync(join(work, f)).mtimeMs]));
  events.length = 0;
  const second = await runOnestep(opts);
  assert.deepEqual(
    second.phases.map((p) => `${p.phase}:${p.status}`),
    ['score:skipped', 'prune:skipped', 'recover:skipped', 'finetune:skipped', 'validate:ran'],
  );
  assert.deepEqual(events, ['score:skipped', 'prune:skipped', 'recover:skipped', 'finetune:skipped', 'validate:start', 'validate:done']);
  for (const [f, t] of mtimes) assert.equal(statSync(join(work, f)).mtimeMs, t, `${f} not rewritten`);
  assert.equal(second.validation.model.accuracy!.top1, first.validation.model.accuracy!.top1);
  const third = await runOnestep({ ...opts, recover: { epochs: 1, lr: 5e-4 } });
  assert.deepEqual(
    third.phases.map((p) => `${p.phase}:${p.status}`),
    ['score:skipped', 'prune:skipped', 'recover:ran', 'finetune:ran', 'validate:ran'],
  );
  // A scores file given without a crucial spec keeps the file's own crucial layers.
  const scores = readScoresDoc(join(work, 'scores.json'));
  const reuse = await runOnestep({ ...opts, crucial: undefined, scores: join(work, 'scores.json'), workDir: join(dir, 'w-reuse'), finetune: { epochs: 0 } });
  assert.deepEqual(reuse.crucial, scores.crucial);
  assert.equal(reuse.phases[0]!.status, 'ran', 'the scores file is copied in as the score phase');
  data.close();
  test_.close();
});

test('sculpt onestep: summary, --json, artifacts, CE/SE and time per phase', () => {
  const work = join(dir, 'w-cli');
  const out = join(dir, 'res-small.onnx');
  const r = runCli(['onestep', res, '-o', out, '--data', spec, '--flops-target', '0.7', '--crucial', '2', '--work-dir', work, '--json', ...quick]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(
    j.phases.map((p: { phase: string }) => p.phase),
    ['score', 'prune', 'recover', 'finetune', 'validate'],
  );
  assert.ok(j.validation.comparison.flops.ratio <= 0.7 + 1e-9, `FLOPs ratio ${j.validation.comparison.flops.ratio}`);
  assert.equal(typeof j.validation.comparison.ce, 'number');
  assert.ok(existsSync(out));
  assert.match(r.stderr, /\[score\] started[\s\S]*\[prune\] done[\s\S]*\[recover\] done/);
  const text = runCli(['onestep', res, '-o', out, '--data', spec, '--flops-target', '0.7', '--crucial', '2', '--work-dir', work, ...quick]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /accuracy .*original/);
  assert.match(text.stdout, /CE \/ SE +\d/);
  assert.match(text.stdout, /score [\d.]+ s \(resumed\)/);
});

test('sculpt onestep: a failed gate exits 3 after writing the model and report', () => {
  const work = join(dir, 'w-gate');
  const out = join(dir, 'gate.onnx');
  const r = runCli(['onestep', cnn, '-o', out, '--data', spec, '--ratio', '0.3', '--crucial', '1', '--work-dir', work, '--max-params', '1', ...quick]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /gate failed: max-params/);
  assert.ok(existsSync(out) && existsSync(join(work, 'report.json')));
});

/** Runs a command that must fail with `code`, exit 1, and leave `dir2` without new files. */
function refuses(args: string[], code: string, scratch: string): void {
  const before = new Set(readdirSync(scratch));
  const r = runCli(args);
  assert.equal(r.code, 1, `${args.join(' ')}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`error ${code}`));
  assert.match(r.stderr, /hint: /);
  assert.deepEqual(
    readdirSync(scratch).filter((f) => !before.has(f)),
    [],
    'nothing written',
  );
}

test('bad input: a named error, exit 1, nothing written', async () => {
  const scratch = tempDir('sculpt-onestep-bad-');
  const o = (name: string) => ['-o', join(scratch, name), '--work-dir', join(scratch, 'w')];
  // Data whose images do not fit the model (6×6 for an 8×8 input).
  writeFileSync(join(dir, 'x6.npy'), encodeNpy([8, 1, 6, 6], new Float32Array(8 * 36)));
  writeFileSync(join(dir, 'y6.npy'), encodeNpy([8], new Int32Array(8)));
  const bad = `npy:${join(dir, 'x6.npy')},${join(dir, 'y6.npy')}`;
  refuses(['onestep', cnn, ...o('a.onnx'), '--data', bad, '--ratio', '0.5', ...quick], 'DATA_SHAPE_MISMATCH', scratch);
  refuses(['score', cnn, '-o', join(scratch, 's.json'), '--data', bad, '--backend', 'cpu'], 'DATA_SHAPE_MISMATCH', scratch);
  // No prunable layer.
  refuses(['onestep', lin, ...o('b.onnx'), '--data', spec, '--ratio', '0.5', ...quick], 'NO_PRUNABLE_GROUP', scratch);
  refuses(['score', lin, '-o', join(scratch, 's.json'), '--data', spec, '--backend', 'cpu'], 'NO_PRUNABLE_GROUP', scratch);
  // A crucial layer that does not exist.
  refuses(['onestep', cnn, ...o('c.onnx'), '--data', spec, '--ratio', '0.5', '--crucial', 'c1,nope', ...quick], 'CRUCIAL_LAYER_NOT_FOUND', scratch);
  refuses(['score', cnn, '-o', join(scratch, 's.json'), '--data', spec, '--crucial', 'nope', '--backend', 'cpu'], 'CRUCIAL_LAYER_NOT_FOUND', scratch);
  // Scores made for another model.
  const other = join(dir, 'res-scores.json');
  const s = runCli(['score', res, '-o', other, '--data', spec, '--steps', '1', '--backend', 'cpu']);
  assert.equal(s.code, 0, s.stderr);
  refuses(['onestep', cnn, ...o('d.onnx'), '--data', spec, '--ratio', '0.5', '--scores', other, ...quick], 'SCORES_MODEL_MISMATCH', scratch);
});
