/** `sculpt prune` and `sculpt groups` end to end: output, report, verification, errors, exit codes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readModel } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';

const dir = tempDir('sculpt-prune-cli-');
const model = join(dir, 'r20.onnx');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

test('setup: build a ResNet-20', () => {
  const r = runCli(['models', 'build', 'resnet20', '-o', model, '--seed', '2']);
  assert.equal(r.code, 0, r.stderr);
});

test('prune --help teaches: both targets, criteria, mask formats, examples', () => {
  const r = runCli(['prune', '--help']);
  assert.equal(r.code, 0);
  for (const s of [
    '--flops-target',
    '--ratio',
    '--criterion',
    'first-k',
    '--scores',
    '--mask',
    '--scope',
    '--round-to',
    '--min-channels',
    '--max-ratio',
    '--seed',
    '--report',
    '--verify',
    '--explain',
    '--json',
    'Examples:',
  ])
    assert.ok(r.stdout.includes(s), s);
});

test('prune --flops-target 0.5 --verify --report --json: a smaller verified model and a report', () => {
  const out = join(dir, 'half.onnx');
  const rep = join(dir, 'half.json');
  const before = sha(model);
  const r = runCli(['prune', model, '-o', out, '--flops-target', '0.5', '--round-to', '4', '--verify', '--report', rep, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.verify.ok, true);
  assert.ok(j.summary.flopsRatio <= 0.5 && j.summary.flopsRatio > 0.3, String(j.summary.flopsRatio));
  assert.ok(j.pruned.length > 0);
  for (const p of j.pruned) assert.ok(typeof p.name === 'string' && Number.isInteger(p.axis) && Array.isArray(p.removed));
  const conv = j.layers.find((l: { name: string }) => l.name === 'layer1.0.conv1');
  assert.ok(conv.outChannels[1] < conv.outChannels[0]);
  assert.deepEqual(JSON.parse(readFileSync(rep, 'utf8')).pruned, j.pruned);
  assert.equal(sha(model), before, 'input untouched');
  const pruned = readModel(out);
  assert.ok(
    pruned.graph.initializers.reduce((s, v) => s + v.initializer!.size, 0) < readModel(model).graph.initializers.reduce((s, v) => s + v.initializer!.size, 0),
  );

  // The report is a mask: applying it gives the same file.
  const again = join(dir, 'again.onnx');
  const r2 = runCli(['prune', model, '-o', again, '--mask', rep]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(sha(again), sha(out));
});

test('a FLOPs target the rounding misses is said without --explain (a note naming the cause), and fails with --strict-target (exit 3); one it meets is not', () => {
  const coarse = runCli(['prune', model, '-o', join(dir, 'coarse.onnx'), '--flops-target', '0.5', '--round-to', '32']);
  assert.equal(coarse.code, 0, coarse.stderr);
  assert.match(coarse.stdout, /^note: --flops-target 0\.5: kept [\d.]+% of FLOPs, [\d.]+ points (under|over) the target; .*--round-to 32/m);
  const fine = runCli(['prune', model, '-o', join(dir, 'fine.onnx'), '--flops-target', '0.5', '--round-to', '1']);
  assert.equal(fine.code, 0, fine.stderr);
  assert.doesNotMatch(fine.stdout, /^note:/m); // --strict-target makes the miss a failed gate (exit 3); the model is written all the same.
  const strict = runCli(['prune', model, '-o', join(dir, 'strict.onnx'), '--flops-target', '0.5', '--round-to', '32', '--strict-target']);
  assert.equal(strict.code, 3, strict.stderr);
  assert.match(strict.stderr, /gate failed: flops-target: kept [\d.]+% of FLOPs for a target of 50\.0%/);
  assert.ok(existsSync(join(dir, 'strict.onnx')));
  const met = runCli(['prune', model, '-o', join(dir, 'met.onnx'), '--flops-target', '0.5', '--round-to', '1', '--strict-target', '--json']);
  assert.equal(met.code, 0, met.stderr);
  assert.ok(Math.abs(JSON.parse(met.stdout).summary.flopsRatio - 0.5) <= 0.005);
  assert.equal(runCli(['prune', model, '-o', join(dir, 'x.onnx'), '--ratio', '0.5', '--strict-target']).code, 2);
});

test('groups lists groups, --explain gives members and reasons, --json is data', () => {
  const r = runCli(['groups', model, '--explain']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /14 channel groups: 12 prunable/);
  assert.match(r.stdout, /why: "logits" is a graph output/);
  assert.match(r.stdout, /weight layer1\.0\.conv1\.weight axis 0 \[16\]/);
  const j = JSON.parse(runCli(['groups', model, '--json']).stdout);
  assert.equal(j.summary.prunable, 12);
  assert.ok(j.groups.every((g: { members: unknown[] }) => g.members.length > 0));
});

test('a mask that does not fit: MASK_SHAPE_MISMATCH, exit 1, input untouched, no output', () => {
  const mask = join(dir, 'bad-mask.json');
  writeFileSync(mask, JSON.stringify({ mask: { 'layer1.0.conv1_out': [1, 0, 1] } }));
  const out = join(dir, 'never.onnx');
  const before = sha(model);
  const r = runCli(['prune', model, '-o', out, '--mask', mask]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error MASK_SHAPE_MISMATCH/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  assert.equal(existsSync(out), false);
  assert.equal(sha(model), before);
});

test('usage errors exit 2; writing over the input is refused', () => {
  assert.equal(runCli(['prune', model, '-o', join(dir, 'x.onnx')]).code, 2);
  assert.equal(runCli(['prune', model, '-o', join(dir, 'x.onnx'), '--ratio', '0.5', '--flops-target', '0.5']).code, 2);
  assert.equal(runCli(['prune', model, '-o', join(dir, 'x.onnx'), '--ratio', '0.5', '--criterion', 'magic']).code, 2);
  const r = runCli(['prune', model, '-o', model, '--ratio', '0.5']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /OUTPUT_IS_INPUT/);
  // Out of range: a usage error (exit 2) before the model is read.
  const bad = runCli(['prune', model, '-o', join(dir, 'x.onnx'), '--ratio', '1.5']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /usage error: --ratio 1\.5/);
});
