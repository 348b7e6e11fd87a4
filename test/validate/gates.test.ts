/**
 * Gates through the real CLI: each gate passing (exit 0) and failing (exit 3, the gate named
 * on stderr), gates without what they need (exit 1), the CUDA fallback, and the report files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluateGates, saveModel, CompilerError } from '../../src/index.js';
import type { ValidationReport } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { runCli, tempDir } from '../helpers.js';
import { centroidClassifier } from './classifier.js';

const dir = tempDir('sculpt-gates-');
const good = join(dir, 'good.onnx');
const worse = join(dir, 'worse.onnx');
const big = join(dir, 'r20.onnx');
const small = join(dir, 'r20-quarter.onnx');
saveModel(centroidClassifier(), good);
saveModel(centroidClassifier({ damage: { classes: [0, 1, 2, 3], scale: 0.8 } }), worse);
saveModel(buildModel('resnet20', { seed: 1 }), big);
saveModel(buildModel('resnet20', { seed: 1, width: 0.25 }), small);

const DATA = ['--data', 'mnist', '--limit', '500'];
const FAST = ['--warmup', '2', '--min-runs', '5', '--max-runs', '25', '--max-time', '3', '--batch', '1'];

function report(stdout: string): ValidationReport {
  return JSON.parse(stdout) as ValidationReport;
}

test('evaluateGates on known numbers: the limits are inclusive', () => {
  const r = evaluateGates({ maxDrop: 1, minSpeedup: 2, maxParams: 100 }, { top1: 0.9, baselineTop1: 0.91, speedup: 2, params: 100 });
  assert.deepEqual(
    r.map((g) => [g.gate, g.passed]),
    [
      ['max-drop', true],
      ['min-speedup', true],
      ['max-params', true],
    ],
  );
  assert.equal(r[0]!.actual, 1);
  const f = evaluateGates({ maxDrop: 0.5, minSpeedup: 2.01, maxParams: 99 }, { top1: 0.9, baselineTop1: 0.91, speedup: 2, params: 100 });
  assert.deepEqual(
    f.map((g) => g.passed),
    [false, false, false],
  );
  assert.throws(
    () => evaluateGates({ maxDrop: 1 }, { params: 1 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'PRECONDITION_FAILED',
  );
  assert.throws(
    () => evaluateGates({ maxParams: -1 }, { params: 1 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
  );
});

test('--max-params: pass exits 0, fail exits 3 and names the gate', () => {
  const ok = runCli(['validate', good, '--max-params', '7850', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const r = report(ok.stdout);
  assert.equal(r.model.params, 7850);
  assert.deepEqual(
    r.gates.map((g) => [g.gate, g.passed, g.actual]),
    [['max-params', true, 7850]],
  );
  assert.equal(r.passed, true);
  const bad = runCli(['validate', good, '--max-params', '7849', '--json']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /gate failed: max-params/);
  assert.equal(report(bad.stdout).passed, false);
});

test('--max-drop: pass exits 0, fail exits 3 and names the gate', () => {
  const ok = runCli(['validate', worse, '--baseline', good, ...DATA, '--max-drop', '100', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const r = report(ok.stdout);
  const drop = (r.baseline!.accuracy!.top1 - r.model.accuracy!.top1) * 100;
  assert.ok(drop > 0, `the damaged model must be worse on these samples (drop ${drop})`);
  assert.ok(Math.abs(r.gates[0]!.actual - drop) < 1e-6);
  const bad = runCli(['validate', worse, '--baseline', good, ...DATA, '--max-drop', String(drop / 2)]);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /gate failed: max-drop/);
  assert.doesNotMatch(bad.stderr, /min-speedup|max-params/);
  assert.match(bad.stdout, /FAIL max-drop/);
  // Against itself the drop is exactly 0, which a limit of 0 allows.
  const self = runCli(['validate', good, '--baseline', good, ...DATA, '--max-drop', '0']);
  assert.equal(self.code, 0, self.stderr);
});

test('--min-speedup: a quarter-width ResNet-20 against the full one; pass exits 0, fail exits 3', () => {
  const ok = runCli(['validate', small, '--baseline', big, ...FAST, '--min-speedup', '1.2', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const r = report(ok.stdout);
  const s = r.comparison!.speedup.batch1!;
  assert.ok(s >= 1.2, `speed-up ${s}`);
  assert.ok(Math.abs(s - r.baseline!.latency!.batch1.medianMs / r.model.latency!.batch1.medianMs) < 1e-12);
  assert.ok(r.model.latency!.batch1.runs >= 5 && r.model.latency!.batch1.runs <= 25);
  assert.equal(r.model.latency!.batch, null); // --batch 1: no second point
  const bad = runCli(['validate', small, '--baseline', big, ...FAST, '--min-speedup', '1000']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /gate failed: min-speedup/);
});

test('all gates at once: 0 when all pass; 3 naming only the failing one', () => {
  const args = ['validate', worse, '--baseline', good, ...DATA, ...FAST, '--max-drop', '100', '--min-speedup', '0.01'];
  const ok = runCli([...args, '--max-params', '10000', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(
    report(ok.stdout).gates.map((g) => [g.gate, g.passed]),
    [
      ['max-drop', true],
      ['min-speedup', true],
      ['max-params', true],
    ],
  );
  const bad = runCli([...args, '--max-params', '10']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /gate failed: max-params/);
  assert.doesNotMatch(bad.stderr, /gate failed: (max-drop|min-speedup)/);
});

test('a gate without what it measures is a usage error (exit 2, INVALID_OPTION), not a pass', () => {
  const r = runCli(['validate', good, '--max-drop', '1']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error INVALID_OPTION/);
  const s = runCli(['validate', good, '--min-speedup', '1']);
  assert.equal(s.code, 2);
  assert.match(s.stderr, /error INVALID_OPTION/);
});

test('--provider cuda falls back to cpu with a warning; --strict fails instead', (t) => {
  const r = runCli(['validate', good, '--provider', 'cuda', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rep = report(r.stdout);
  assert.equal(rep.requestedProvider, 'cuda');
  if (rep.provider === 'cuda') {
    t.skip('the CUDA provider loads on this machine: nothing falls back');
    return;
  }
  assert.equal(rep.provider, 'cpu');
  assert.match(r.stderr, /CUDA execution provider unavailable.*falling back to CPU/);
  const strict = runCli(['validate', good, '--provider', 'cuda', '--strict']);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /error RUNTIME_FAILED/);
});

test('--report json and --report html write files; the output may not be an input', () => {
  const j = join(dir, 'v.json');
  const h = join(dir, 'v.html');
  const rj = runCli(['validate', worse, '--baseline', good, ...DATA, '--report', 'json', '-o', j]);
  assert.equal(rj.code, 0, rj.stderr);
  const v = JSON.parse(readFileSync(j, 'utf8')) as ValidationReport;
  assert.equal(v.kind, 'sculpt-validation');
  assert.equal(v.model.accuracy!.samples, 500);
  const rh = runCli(['validate', worse, '--baseline', good, ...DATA, '--report', 'html', '-o', h]);
  assert.equal(rh.code, 0, rh.stderr);
  const html = readFileSync(h, 'utf8');
  assert.match(html, /<section id="validation">/);
  assert.match(html, new RegExp(`${(v.model.accuracy!.top1 * 100).toFixed(2)}%`));
  const over = runCli(['validate', worse, '--baseline', good, '--report', 'json', '-o', good]);
  assert.equal(over.code, 1);
  assert.match(over.stderr, /error OUTPUT_IS_INPUT/);
  assert.ok(existsSync(good));
  assert.ok(readFileSync(good).byteLength > 7850 * 4, 'the input model is untouched');
});
