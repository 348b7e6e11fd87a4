/**
 * `sculpt tissue` end to end through the CLI: rewrite → (distil) → validate, the JSON
 * summary, `--groups auto` with measured latency, and errors that leave no output file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, runModel, saveModel } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { runCli, seededFeeds, tempDir } from '../helpers.js';

const dir = tempDir('sculpt-tissue-');
const mlp = join(dir, 'mlp.onnx');
saveModel(buildModel('mlp', { seed: 2 }), mlp);

test('sculpt tissue --json: the TissueNet MLP, analytic = counted, validated against the original', async () => {
  const out = join(dir, 'mlp-t.onnx');
  const r = runCli(['tissue', mlp, '-o', out, '--select', 'fc1,fc2', '--groups', '4', '--hidden', '20', '--shuffle', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(
    s.tissue.layers.map((l: { name: string }) => l.name),
    ['fc1', 'fc2'],
  );
  assert.ok(s.tissue.layers.every((l: { matches: boolean }) => l.matches));
  assert.equal(s.tissue.after.params, 45_650);
  assert.equal(s.validation.model.params, 45_650);
  assert.equal(s.validation.baseline.params, 545_810);
  assert.ok(Math.abs(s.validation.comparison.flops.ratio - 89_360 / 1_090_000) < 1e-12);
  const m = readModel(out);
  const y = await runModel(m, seededFeeds(m, 1, 3));
  assert.deepEqual(Object.values(y)[0]!.dims, [3, 10]);
});

test('sculpt tissue --train with the original as teacher: accuracy, CE and SE on MNIST', () => {
  const out = join(dir, 'mlp-kd.onnx');
  const r = runCli([
    'tissue',
    mlp,
    '-o',
    out,
    '--select',
    'fc1,fc2',
    '--groups',
    '4',
    '--hidden',
    '20',
    '--shuffle',
    '--init',
    'original',
    '--train',
    '--data',
    'mnist',
    '--teacher',
    'original',
    '--limit',
    '1024',
    '--eval-limit',
    '500',
    '--epochs',
    '1',
    '--backend',
    'cpu',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.train.steps, 8); // 1024 / 128
  assert.equal(s.validation.model.accuracy.samples, 500);
  const c = s.validation.comparison;
  const accRatio = s.validation.model.accuracy.top1 / s.validation.baseline.accuracy.top1;
  assert.ok(Math.abs(c.ce - accRatio / c.flops.ratio) < 1e-9);
  assert.ok(Math.abs(c.se - accRatio / c.params.ratio) < 1e-9);
  assert.ok(s.tissue.layers[0].fitError > 0 && s.tissue.layers[0].fitError < 1);
  // --steps instead of whole epochs, as `sculpt train` takes it.
  const few = runCli([
    'tissue',
    mlp,
    '-o',
    join(dir, 'mlp-steps.onnx'),
    '--select',
    'fc1',
    '--groups',
    '4',
    '--train',
    '--data',
    'mnist',
    '--limit',
    '256',
    '--steps',
    '3',
    '--no-validate',
    '--backend',
    'cpu',
    '--json',
  ]);
  assert.equal(few.code, 0, few.stderr);
  assert.equal(JSON.parse(few.stdout).train.steps, 3);
});

test('sculpt tissue --groups auto: the smallest m meeting the FLOPs target at >= 16 channels per group, latency measured', () => {
  const out = join(dir, 'mlp-auto.onnx');
  const r = runCli(['tissue', mlp, '-o', out, '--groups', 'auto', '--flops-target', '0.7', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  // fc1 784 → 500 with n2 = n3: m = 2 keeps (784 + 500)·250 + 150,000 + 3,000 MACs (87.3%),
  // m = 4 (784 + 500)·125 + 153,000 (57.5%); fc2 then reads stacked fc1, fc3 has 10 outputs.
  assert.deepEqual(
    s.tissue.auto.tried.map((t: { groups: number }) => t.groups),
    [2, 4],
  );
  assert.equal(s.tissue.auto.groups, 4);
  assert.equal(s.tissue.auto.met, true);
  assert.equal(s.tissue.after.macs, (784 + 500) * 125 + 153_000);
  for (const l of s.tissue.layers) {
    for (const run of l.runs) {
      const [n1, n2, n3] = run.unit.split(':').map(Number);
      assert.ok(n1 >= 16 && n2 >= 16 && n3 >= 16, `${l.name} ${run.unit}`);
    }
  }
  assert.ok(s.validation.model.latency.batch1.medianMs > 0);
  assert.ok(s.validation.baseline.latency.batch1.medianMs > 0);
  assert.ok(s.validation.comparison.speedup.batch1 > 0);
  // --flops-target alone implies --groups auto (it used to be ignored under the default --groups 4).
  const implied = runCli(['tissue', mlp, '-o', join(dir, 'mlp-implied.onnx'), '--flops-target', '0.7', '--no-validate', '--json']);
  assert.equal(implied.code, 0, implied.stderr);
  const si = JSON.parse(implied.stdout);
  assert.equal(si.tissue.auto.groups, 4);
  assert.equal(si.tissue.after.macs, s.tissue.after.macs);
});

test('sculpt tissue: text summary, --explain remarks, --help with examples', () => {
  const out = join(dir, 'mlp-text.onnx');
  const r = runCli(['tissue', mlp, '-o', out, '--groups', '4', '--explain', '--no-validate']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fc1\s+196:125:125x4/);
  assert.match(r.stdout, /remark fc2: reads stacked layer fc1/);
  const h = runCli(['tissue', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--hybrid/);
  assert.match(h.stdout, /Examples:/);
});

test('sculpt transform --passes tissue: the registered pass with its defaults (4 equal units, strategy all)', () => {
  const out = join(dir, 'mlp-transform.onnx');
  const r = runCli(['transform', mlp, '-o', out, '--passes', 'tissue', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.passes[0].name, 'tissue');
  assert.equal(s.passes[0].stats.stacked, 1);
  assert.equal(s.passes[0].stats.paramsAfter, 4 * (196 * 125 + 125 * 125) + 500 + 500 + 150_300 + 3_010);
  assert.ok(s.remarks.some((x: { where: string }) => x.where === 'fc2'));
});

test('sculpt tissue errors: named code, exit 1 (the model) or 2 (the command line alone), no output file', () => {
  const cases: [string[], string, number][] = [
    [['--select', 'fc3', '--groups', '4'], 'TISSUE_SPEC_INVALID', 1],
    [['--select', 'fc1', '--unit', '100:10:50'], 'TISSUE_SPEC_INVALID', 1],
    [['--select', 'nothing'], 'TISSUE_NO_LAYERS', 1],
    [['--unit', '196:20:125', '--groups', '4'], 'INVALID_OPTION', 2],
    [['--train'], 'INVALID_OPTION', 2],
    [['--layer', 'fc1'], 'INVALID_OPTION', 2],
    [['--strategy', 'r', '--select', 'fc1'], 'INVALID_OPTION', 2],
    [['--unit', '0:1:1'], 'TISSUE_SPEC_INVALID', 2],
    // --groups auto's options with fixed units would be ignored: refused instead.
    [['--groups', '4', '--flops-target', '0.7'], 'INVALID_OPTION', 2],
    [['--unit', '196:20:125', '--select', 'fc1', '--min-group-channels', '8'], 'INVALID_OPTION', 2],
  ];
  for (const [args, want, exit] of cases) {
    const out = join(dir, `bad-${want}.onnx`);
    const r = runCli(['tissue', mlp, '-o', out, '--no-validate', ...args]);
    assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`error ${want}`), args.join(' '));
    if (exit === 2) assert.match(r.stderr, /see sculpt tissue --help/, args.join(' '));
    assert.ok(!existsSync(out), `${args.join(' ')} wrote ${out}`);
  }
  const same = runCli(['tissue', mlp, '-o', mlp, '--no-validate']);
  assert.equal(same.code, 1);
  assert.match(same.stderr, /OUTPUT_IS_INPUT/);
});
