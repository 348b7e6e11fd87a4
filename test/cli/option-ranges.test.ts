/**
 * Numeric options are range-checked before any file is read (issue 15.9, 11.6): a usage
 * error, exit 2, even when the model does not exist (so nothing was opened).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rangeProblem, COMMON } from '../../src/cli/option-ranges.js';
import { ROOT, runCli } from '../helpers.js';

const missing = '/nonexistent/model.onnx';

const CASES: string[][] = [
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--temperature', '-4'],
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--rho', '5'],
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--l1-lambda', '-1'],
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--crop', '-3'],
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--eval-every', '0'],
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--gamma', 'NaN'],
  ['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--batch', '2.5'],
  ['validate', missing, '--batch', '0'],
  ['validate', missing, '--threads', '100000'],
  ['prune', missing, '-o', '/tmp/x.onnx', '--ratio', ''],
  ['prune', missing, '-o', '/tmp/x.onnx', '--ratio', '1.5'],
  ['prune', missing, '-o', '/tmp/x.onnx', '--ratio', 'lots'],
  ['prune', missing, '-o', '/tmp/x.onnx', '--flops-target', '0'],
  ['prune', missing, '-o', '', '--ratio', '0.5'],
  ['models', 'build', 'vgg', '-o', '/tmp/x.onnx', '--width', '1000'],
  ['tissue', missing, '-o', '/tmp/x.onnx', '--groups', '2', '--k1', '1000'],
  ['tissue', missing, '-o', '/tmp/x.onnx', '--groups', '2', '--hidden', '-1'],
  ['inspect', missing, '--batch', '-1'],
];

test('out-of-range, non-finite and empty option values: exit 2 before the model is read', () => {
  for (const args of CASES) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^usage error: --/, args.join(' '));
    assert.match(r.stderr, new RegExp(`see sculpt ${args[0]} --help`), args.join(' '));
    assert.doesNotMatch(r.stderr, /FILE_NOT_FOUND|INTERNAL/);
  }
});

test('in-range values pass the check (the missing model is then the error)', () => {
  const r = runCli(['prune', missing, '-o', '/tmp/x.onnx', '--ratio', '0.5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /FILE_NOT_FOUND/);
});

test('rangeProblem: bounds, open bounds, integers', () => {
  assert.equal(rangeProblem(0, COMMON.ratio!), undefined);
  assert.ok(rangeProblem(1, COMMON.ratio!));
  assert.ok(rangeProblem(0, COMMON['flops-target']!));
  assert.equal(rangeProblem(1, COMMON['flops-target']!), undefined);
  assert.ok(rangeProblem(1.5, COMMON.threads!));
  assert.ok(rangeProblem(Infinity, COMMON.lr!));
});

test('sculpt --version prints the version in package.json', () => {
  const r = runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
});

/** Options that conflict, or a malformed flag value: the command's own checks, before any file is read. */
const CONFLICTS: [string[], string][] = [
  [['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--epochs', '1', '--steps', '1'], 'INVALID_OPTION'],
  [['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--mimic', 'a:b'], 'INVALID_OPTION'],
  [['score', missing, '-o', '/tmp/x.json', '--data', 'digits', '--epochs', '1', '--steps', '1'], 'INVALID_OPTION'],
  [['score', missing, '-o', '/tmp/x.json', '--data', 'digits', '--crucial', ','], 'INVALID_OPTION'],
  [['onestep', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--ratio', '0.5', '--crucial', ','], 'INVALID_OPTION'],
  [['validate', missing, '--report', 'json'], 'INVALID_OPTION'],
  [['validate', missing, '--max-drop', '1'], 'INVALID_OPTION'],
  [['tissue', missing, '-o', '/tmp/x.onnx', '--unit', '4:2:4', '--groups', '2'], 'INVALID_OPTION'],
  [['tissue', missing, '-o', '/tmp/x.onnx', '--unit', '0:2:4'], 'TISSUE_SPEC_INVALID'],
  [['tissue', missing, '-o', '/tmp/x.onnx', '--groups', '2', '--steps', '3'], 'INVALID_OPTION'],
  [['tissue', missing, '-o', '/tmp/x.onnx', '--train', '--data', 'digits', '--epochs', '1', '--steps', '3'], 'INVALID_OPTION'],
  [['transform', missing, '-o', '/tmp/x.onnx', '--passes', 'no-such-pass'], 'UNKNOWN_PASS'],
];

test('conflicting or malformed options: exit 2 with the error code, before the model is read', () => {
  for (const [args, code] of CONFLICTS) {
    const r = runCli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error ${code}`), args.join(' '));
    assert.match(r.stderr, new RegExp(`see sculpt ${args[0]} --help`), args.join(' '));
    assert.doesNotMatch(r.stderr, /FILE_NOT_FOUND|INTERNAL/);
    // `sculpt run` checks a recipe's steps this way before running any: the same answer.
    const checked = runCli(args, { env: { SCULPT_CHECK_ARGS: '1' } });
    assert.equal(checked.code, 2, `SCULPT_CHECK_ARGS=1 ${args.join(' ')}: ${checked.stderr}`);
    assert.match(checked.stderr, new RegExp(`^error ${code}`));
  }
  // A command line that is right passes the check without running anything.
  const ok = runCli(['train', missing, '-o', '/tmp/x.onnx', '--data', 'digits', '--epochs', '1'], { env: { SCULPT_CHECK_ARGS: '1' } });
  assert.equal(ok.code, 0, ok.stderr);
});
