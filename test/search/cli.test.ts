/**
 * `sculpt search` end to end through the CLI: search → mask file → prune → validate, the
 * JSON summary with the fitness history, the mask accepted by `sculpt prune --mask`, and
 * bad input (targets, data of the wrong shape, another search's state, a mask for another
 * model) failing by name with nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, encodeNpy, readModel, saveModel } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { ROOT, runCli, smallSearchArgs, tempDir } from '../helpers.js';

const dir = tempDir('sculpt-search-cli-');
const lenet = join(ROOT, 'fixtures/trained/lenet5-mnist.onnx');
const small = [...smallSearchArgs('1,1'), '--eval-limit', '200'];

test('sculpt search --json: best genome within the FLOPs target, mask file that sculpt prune --mask applies, validated', () => {
  const out = join(dir, 'lenet-s.onnx');
  const r = runCli(['search', lenet, '--data', 'mnist', '-o', out, '--flops-target', '0.5', ...small, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.search.cost <= 0.5 + 1e-9 && s.search.cost > 0.2, `cost ${s.search.cost}`);
  assert.equal(s.search.history.length, 2 * 2);
  assert.deepEqual(
    s.search.stages.map((x: { resolution: number }) => x.resolution),
    [784, 100],
  );
  assert.deepEqual(s.unsearched, ['fc1', 'fc2'], 'the dense layers come after the last conv');
  assert.ok(s.check.relative <= 1e-4);
  assert.equal(s.validation.model.accuracy.samples, 200);
  assert.ok(Math.abs(s.validation.comparison.flops.ratio - s.search.cost) < 1e-9, `${s.validation.comparison.flops.ratio} vs ${s.search.cost}`);
  const mask = join(dir, 'lenet-s.mask.json');
  assert.ok(existsSync(mask));
  // The mask file alone reproduces the pruned model.
  const again = join(dir, 'again.onnx');
  const p = runCli(['prune', lenet, '-o', again, '--mask', mask, '--verify', '--json']);
  assert.equal(p.code, 0, p.stderr);
  assert.equal(
    readModel(again).graph.initializers.reduce((n, v) => n + v.initializer!.size, 0),
    readModel(out).graph.initializers.reduce((n, v) => n + v.initializer!.size, 0),
  );
  // A mask for another model is refused by prune.
  const resnet = join(dir, 'resnet.onnx');
  saveModel(buildModel('resnet20', { seed: 1, width: 0.25 }), resnet);
  const bad = runCli(['prune', resnet, '-o', join(dir, 'bad.onnx'), '--mask', mask]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /error MASK_(INVALID|SHAPE_MISMATCH)/);
  assert.ok(!existsSync(join(dir, 'bad.onnx')));
});

test('sculpt search: bad targets are usage errors (exit 2), wrong data and unreachable targets named errors (exit 1); nothing written', () => {
  const out = join(dir, 'x.onnx');
  for (const t of ['0', '1', '1.5', '-0.2']) {
    const r = runCli(['search', lenet, '--data', 'mnist', '-o', out, '--flops-target', t]);
    assert.equal(r.code, 2, `target ${t}: ${r.stderr}`);
  }
  assert.equal(runCli(['search', lenet, '--data', 'mnist', '-o', out]).code, 2, 'no target');
  assert.equal(runCli(['search', lenet, '--data', 'mnist', '-o', out, '--flops-target', '0.5', '--params-target', '0.5']).code, 2);
  const resnet = join(dir, 'resnet-b.onnx');
  saveModel(buildModel('resnet20', { seed: 1, width: 0.25 }), resnet);
  const shape = runCli(['search', resnet, '--data', 'mnist', '-o', out, '--flops-target', '0.5', ...small]);
  assert.equal(shape.code, 1);
  assert.match(shape.stderr, /error DATA_SHAPE_MISMATCH/);
  const far = runCli(['search', lenet, '--data', 'mnist', '-o', out, '--flops-target', '0.0001', ...small]);
  assert.equal(far.code, 1);
  assert.match(far.stderr, /error BUDGET_UNREACHABLE/);
  const state = join(dir, 'foreign-state.json');
  writeFileSync(
    state,
    JSON.stringify({ version: 1, fingerprint: 'another search', stage: 0, generation: 0, held: '', population: [], best: null, history: [], evaluations: 0 }),
  );
  const st = runCli(['search', lenet, '--data', 'mnist', '-o', out, '--flops-target', '0.5', '--state', state, ...small]);
  assert.equal(st.code, 1);
  assert.match(st.stderr, /error SEARCH_STATE_MISMATCH/);
  assert.ok(!existsSync(out) && !existsSync(join(dir, 'x.mask.json')));
  assert.equal(JSON.parse(readFileSync(state, 'utf8')).fingerprint, 'another search', 'the foreign state is not overwritten');
});

test('sculpt search --no-stage-cut scores every stage on the whole network and finds what the stage cut finds', () => {
  const run = (name: string, extra: string[]) => {
    const r = runCli([
      'search',
      lenet,
      '--data',
      'mnist',
      '-o',
      join(dir, `${name}.onnx`),
      '--flops-target',
      '0.5',
      ...small,
      '--no-validate',
      ...extra,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as {
      search: { stageCut: boolean; cutStages: number[]; fitness: number; cost: number; history: { best: number; bestFeasible: number }[] };
      groups: { name: string; kept: number }[];
    };
  };
  const cut = run('cut', []);
  const whole = run('whole', ['--no-stage-cut']);
  // LeNet-5 has two stages; by default both run on their cut networks (the first without
  // the second's masks, the second from the frontier after the first).
  assert.equal(cut.search.stageCut, true);
  assert.deepEqual(cut.search.cutStages, [0, 1]);
  assert.equal(whole.search.stageCut, false);
  assert.deepEqual(whole.search.cutStages, [], '--no-stage-cut: no stage on a cut network');
  // The cut network computes what the whole one does (up to float rounding): the same
  // search, genome for genome.
  assert.deepEqual(whole.groups, cut.groups);
  assert.equal(whole.search.cost, cut.search.cost);
  assert.ok(Math.abs(whole.search.fitness - cut.search.fitness) < 1e-6, `${whole.search.fitness} vs ${cut.search.fitness}`);
  assert.equal(whole.search.history.length, cut.search.history.length);
  whole.search.history.forEach((h, i) =>
    assert.ok(Math.abs(h.best - cut.search.history[i]!.best) < 1e-6, `generation ${i}: ${h.best} vs ${cut.search.history[i]!.best}`),
  );
});

test('sculpt search fills the searched genome up to the target; --no-fill keeps it as searched', () => {
  const net = join(dir, 'r20-fill.onnx');
  saveModel(buildModel('resnet20', { seed: 2 }), net);
  const rng = new Rng(4);
  writeFileSync(
    join(dir, 'calib.npy'),
    encodeNpy(
      [16, 3, 32, 32],
      Float32Array.from({ length: 16 * 3 * 1024 }, () => rng.next()),
    ),
  );
  const args = ['search', net, '--data', `npy:${join(dir, 'calib.npy')}`, '--flops-target', '0.5', ...smallSearchArgs('1,1,1', 12), '--no-validate', '--json'];
  const r = runCli([...args, '-o', join(dir, 'r20-filled.onnx')]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).search;
  assert.ok(s.fill && s.fill.channels > 0, JSON.stringify(s.fill));
  assert.ok(s.fill.costBefore < s.cost && s.cost <= 0.5 + 1e-9, `${s.fill.costBefore} → ${s.cost}`);
  const raw = runCli([...args, '-o', join(dir, 'r20-raw.onnx'), '--no-fill']);
  assert.equal(raw.code, 0, raw.stderr);
  const rs = JSON.parse(raw.stdout).search;
  assert.equal(rs.fill, null);
  assert.equal(rs.cost, s.fill.costBefore, 'the same search, not filled');
  assert.equal(rs.fitness, s.fill.fitnessBefore);
});
