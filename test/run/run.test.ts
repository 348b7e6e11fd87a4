/**
 * `sculpt run` end to end on a small built-in network (no training, so it is quick): resume
 * skips finished steps and redoes a step whose input changed; a recipe the CLI rejects fails
 * before any work; a gate failure exits 3 and keeps the artifacts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunManifest } from '../../src/run/runner.js';
import { runCli, tempDir } from '../helpers.js';

function recipe(dir: string, doc: unknown, name = 'r.json'): string {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(doc));
  return p;
}

function manifest(out: string): RunManifest {
  return JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as RunManifest;
}

test('run, rerun (all skipped), change one step (it and the ones after it rerun)', () => {
  const d = tempDir();
  const out = join(d, 'run');
  const doc = { model: { builtin: 'lenet5', seed: 3 }, steps: [{ prune: { 'flops-target': 0.6, 'round-to': '1' } }, { diff: {} }] };
  const r1 = runCli(['run', recipe(d, doc), '--out-dir', out, '--json']);
  assert.equal(r1.code, 0, r1.stderr);
  const m1 = JSON.parse(r1.stdout) as RunManifest;
  assert.equal(m1.status, 'done');
  assert.deepEqual(
    m1.steps.map((s) => [s.name, s.status]),
    [
      ['00-model', 'done'],
      ['01-prune', 'done'],
      ['02-diff', 'done'],
    ],
  );
  for (const f of ['00-model/model.onnx', '01-prune/model.onnx', '01-prune/prune.json', '02-diff/diff.html', '02-diff/diff.json', '02-diff/diff.md'])
    assert.ok(existsSync(join(out, f)), f);
  // The summary's numbers are the diff's.
  const diff = JSON.parse(readFileSync(join(out, '02-diff/diff.json'), 'utf8')) as {
    a: { params: number; flops: number };
    b: { params: number; flops: number };
  };
  assert.equal(m1.summary!.before.params, diff.a.params);
  assert.equal(m1.summary!.after.flops, diff.b.flops);
  assert.ok(diff.b.flops < diff.a.flops);

  const r2 = runCli(['run', recipe(d, doc), '--out-dir', out, '--json']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(
    (JSON.parse(r2.stdout) as RunManifest).steps.map((s) => s.status),
    ['skipped', 'skipped', 'skipped'],
  );

  const changed = { ...doc, steps: [{ prune: { 'flops-target': 0.8, 'round-to': '1' } }, { diff: {} }] };
  const r3 = runCli(['run', recipe(d, changed), '--out-dir', out, '--json']);
  assert.equal(r3.code, 0, r3.stderr);
  const m3 = JSON.parse(r3.stdout) as RunManifest;
  assert.deepEqual(
    m3.steps.map((s) => s.status),
    ['skipped', 'done', 'done'],
  );
  assert.ok(m3.summary!.after.flops! > m1.summary!.after.flops!);

  // A damaged output is noticed: that step reruns.
  writeFileSync(join(out, '02-diff/diff.md'), 'edited');
  const r4 = runCli(['run', recipe(d, changed), '--out-dir', out, '--json']);
  assert.deepEqual(
    (JSON.parse(r4.stdout) as RunManifest).steps.map((s) => s.status),
    ['skipped', 'skipped', 'done'],
  );
});

test('a step option the CLI rejects fails before any work (exit 2, nothing run)', () => {
  const d = tempDir();
  const out = join(d, 'run');
  const r = runCli(['run', recipe(d, { model: { builtin: 'lenet5' }, steps: [{ prune: { ratio: 0.5 } }, { diff: { colour: 'red' } }] }), '--out-dir', out]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /RECIPE_INVALID/);
  assert.match(r.stderr, /02-diff/);
  assert.match(r.stderr, /colour/);
  assert.ok(!existsSync(join(out, '00-model')));
  assert.ok(!existsSync(join(out, 'manifest.json')));
});

test('a schema error names the field and exits 2', () => {
  const d = tempDir();
  const r = runCli(['run', recipe(d, { model: 'm.onnx', steps: [{ prune: { ratio: [{}] } }] }), '--out-dir', join(d, 'o')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /steps\[0\]\.prune\.ratio/);
});

test('a failed gate exits 3 and keeps the artifacts; the manifest says gate-failed', () => {
  const d = tempDir();
  const out = join(d, 'run');
  const r = runCli([
    'run',
    recipe(d, { model: { builtin: 'mlp', seed: 1 }, steps: [{ prune: { ratio: 0.5, 'round-to': '1' } }, { validate: { 'max-params': 10 } }, { diff: {} }] }),
    '--out-dir',
    out,
  ]);
  assert.equal(r.code, 3, r.stderr);
  const m = manifest(out);
  assert.equal(m.status, 'gate-failed');
  assert.deepEqual(
    m.steps.map((s) => s.status),
    ['done', 'done', 'gate-failed'],
  );
  assert.ok(existsSync(join(out, '01-prune/model.onnx')));
  assert.ok(existsSync(join(out, '02-validate/validation.json')));
  assert.deepEqual(
    readdirSync(out).filter((f) => f.startsWith('.')),
    [],
  ); // lock released
  assert.match(r.stdout, /gate max-params: FAILED/);
});
