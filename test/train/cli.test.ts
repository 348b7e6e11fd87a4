/**
 * `sculpt train` end to end: a round trip that changes weights and BN statistics and
 * nothing else (the printed IR of input and output is identical), the JSON summary,
 * determinism across processes, and named errors with no output file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy, printModel, readModel, saveModel } from '../../src/index.js';
import { digitsCnn, weights } from './fixtures.js';
import { runCli, tempDir } from '../helpers.js';
import { needData } from '../data-available.js';

const dir = tempDir();
const input = join(dir, 'in.onnx');
saveModel(digitsCnn(1), input);

test('round trip: trained weights and BN statistics change, the printed IR does not', { skip: needData('digits') }, () => {
  const out = join(dir, 'out.onnx');
  const r = runCli([
    'train',
    input,
    '-o',
    out,
    '--data',
    'digits',
    '--epochs',
    '1',
    '--batch',
    '32',
    '--lr',
    '0.05',
    '--backend',
    'cpu',
    '--seed',
    '1',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { testAccuracy: number; steps: number; backend: string; evals: unknown[]; output: string };
  assert.equal(s.backend, 'cpu');
  assert.equal(s.steps, Math.floor(1438 / 32));
  assert.ok(s.testAccuracy > 0.8, `accuracy ${s.testAccuracy}`);
  assert.match(r.stderr, /backend: cpu/);
  assert.match(r.stderr, /test accuracy/);
  // on cpu: how much faster the native backend trained, and how to install it, said once
  assert.equal(r.stderr.match(/npm install @tensorflow\/tfjs-node@\d/g)?.length, 1, r.stderr);
  assert.match(r.stderr, /native backend \(@tensorflow\/tfjs-node\) trains faster here: [\d.]+x on MLP/);
  const a = readModel(input);
  const b = readModel(out);
  assert.equal(printModel(b), printModel(a));
  const wa = weights(a);
  const wb = weights(b);
  for (const k of ['conv.weight', 'fc.weight', 'bn.running_mean', 'bn.running_var']) assert.notDeepEqual(wb.get(k), wa.get(k), k);
  // metadata, opsets and IR version are kept
  assert.equal(b.irVersion, a.irVersion);
  assert.deepEqual(b.opsetImports, a.opsetImports);
  // the same command again gives a byte-identical file (deterministic on cpu)
  const out2 = join(dir, 'out2.onnx');
  const r2 = runCli([
    'train',
    input,
    '-o',
    out2,
    '--data',
    'digits',
    '--epochs',
    '1',
    '--batch',
    '32',
    '--lr',
    '0.05',
    '--backend',
    'cpu',
    '--seed',
    '1',
    '--json',
    '--no-eval',
  ]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(readFileSync(out2), readFileSync(out));
});

test('named errors: data that does not fit, bad mimic names, output over input; no output file', { skip: needData('digits') }, () => {
  const before = readFileSync(input);
  const npx = join(dir, 'x.npy');
  const npy = join(dir, 'y.npy');
  writeFileSync(npx, encodeNpy([4, 5], new Float32Array(20)));
  writeFileSync(npy, encodeNpy([4], BigInt64Array.from([0n, 1n, 2n, 3n])));
  const cases: [string[], string][] = [
    [['--data', 'mnist'], 'DATA_SHAPE_MISMATCH'],
    [['--data', `npy:${npx},${npy}`], 'DATA_SHAPE_MISMATCH'],
    [['--data', 'digits', '--teacher', input, '--mimic', 'relu_out:nope'], 'MISSING_VALUE'],
    [['--data', 'cifar10'], 'DATA_SPEC_INVALID'],
  ];
  for (const [extra, code] of cases) {
    const out = join(dir, `bad-${code}.onnx`);
    const r = runCli(['train', input, '-o', out, '--steps', '1', '--backend', 'cpu', ...extra]);
    assert.equal(r.code, 1, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`error ${code}`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(!existsSync(out), 'no output written');
  }
  // The command line alone is wrong: exit 2, with the code, before any file is read.
  for (const extra of [
    ['--loss', 'kd'],
    ['--mimic', 'relu_out:relu_out'],
    ['--mimic', 'relu_out'],
    ['--epochs', '1'],
    ['--trainable', '(('],
    ['--lr-milestones', '2,x'],
  ]) {
    const r = runCli(['train', input, '-o', join(dir, 'bad-usage.onnx'), '--data', 'digits', '--steps', '1', '--backend', 'cpu', ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /error INVALID_OPTION/, extra.join(' '));
    assert.ok(!existsSync(join(dir, 'bad-usage.onnx')));
  }
  const r = runCli(['train', input, '-o', input, '--data', 'digits', '--steps', '1', '--backend', 'cpu', '--no-eval']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /OUTPUT_IS_INPUT/);
  assert.deepEqual(readFileSync(input), before);
  assert.ok(statSync(input).size > 0);
});

test('--help teaches: options and examples', () => {
  const r = runCli(['train', '--help']);
  assert.equal(r.code, 0);
  for (const s of ['--teacher', '--mimic', '--loss', '--optimizer', '--epochs', '--steps', '--backend', '--seed', '--limit', 'Examples:'])
    assert.ok(r.stdout.includes(s), s);
});

test('--checkpoint-dir writes every epoch; --resume of a finished run gives the same model; --keep best', () => {
  const ck = join(dir, 'ck');
  const out = join(dir, 'ck-out.onnx');
  const args = [
    'train',
    input,
    '-o',
    out,
    '--data',
    'digits',
    '--limit',
    '256',
    '--epochs',
    '2',
    '--batch',
    '32',
    '--backend',
    'cpu',
    '--seed',
    '1',
    '--checkpoint-dir',
    ck,
    '--json',
  ];
  const r = runCli(args);
  assert.equal(r.code, 0, r.stderr);
  const state = JSON.parse(readFileSync(join(ck, 'state.json'), 'utf8')) as { step: number; evals: unknown[]; best?: { file: string } };
  assert.equal(state.step, 16);
  assert.equal(state.evals.length, 2);
  assert.ok(existsSync(join(ck, 'best.onnx')) && existsSync(join(ck, 'epoch-2.onnx')));
  const first = readFileSync(out);
  const again = runCli([...args, '--resume']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { resumedAt: number }).resumedAt, 16);
  assert.deepEqual(readFileSync(out), first);
  const best = runCli([
    'train',
    input,
    '-o',
    join(dir, 'best.onnx'),
    '--data',
    'digits',
    '--limit',
    '256',
    '--epochs',
    '2',
    '--batch',
    '32',
    '--backend',
    'cpu',
    '--keep',
    'best',
    '--json',
  ]);
  assert.equal(best.code, 0, best.stderr);
  const s = JSON.parse(best.stdout) as { evals: { accuracy: number }[]; testAccuracy: number; kept: { accuracy: number } | null };
  assert.equal(s.kept?.accuracy ?? s.testAccuracy, Math.max(...s.evals.map((e) => e.accuracy)));
});
