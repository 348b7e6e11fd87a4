/**
 * Issue 15.4: NaN weights inverted the ranking (the plan's comparator `b - a || x - y` is
 * not a total order with NaN): with two NaN channels, `--ratio 0.5` removed the most
 * important channels. Now a named error by default, `--nan prune-first|keep` on request,
 * total comparators, and `--verify` that does not blame a channel rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, compareScoreDesc, decodeModel, encodeModel, pruneModel, verifyMaskedEquivalence, verifyMismatchError } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';
import { Net } from './graphs.js';

const NAN_CHANNELS = [5, 40];

/** conv1 (3→64) → Relu → conv2 (64→16) → head; conv1 channels 5 and 40 hold one NaN each. */
function nanModel(): Model {
  const n = new Net(3);
  const h = n.relu(n.conv(n.input(3, 6), 3, 64, 3, { name: 'conv1' }));
  const m = n.head(n.relu(n.conv(h, 64, 16, 3, { name: 'conv2' })), 16);
  const w = m.graph.initializers.find((v) => v.name === 'conv1.weight')!.initializer!;
  const data = w.toFloat32().slice();
  for (const c of NAN_CHANNELS) data[c * 27 + 4] = NaN;
  w.setFloat32(data);
  return m;
}

/** L1 norm of every conv1 filter (NaN for the poisoned ones). */
function l1(m: Model): number[] {
  const d = m.graph.initializers.find((v) => v.name === 'conv1.weight')!.initializer!.toFloat32();
  return Array.from({ length: 64 }, (_, c) => d.slice(c * 27, c * 27 + 27).reduce((s, x) => s + Math.abs(x), 0));
}

function keptOfConv1(out: ReturnType<typeof pruneModel>): number[] {
  const e = out.applied.pruned.find((p) => p.name === 'conv1.weight' && p.axis === 0)!;
  const removed = new Set(e.removed);
  return Array.from({ length: 64 }, (_, i) => i).filter((i) => !removed.has(i));
}

test('NaN weights: a named error by default, naming the tensor, node and channel', () => {
  const m = nanModel();
  assert.throws(
    () => pruneModel(m, { ratio: 0.5, criterion: 'l1', roundTo: 1 }),
    (e: unknown) => {
      assert.ok(e instanceof CompilerError);
      assert.equal(e.code, 'NON_FINITE_WEIGHTS');
      assert.match(e.message, /conv1\.weight/);
      assert.match(e.message, /channel 5\b/);
      assert.ok(e.where && /conv1/.test(e.where), e.where);
      return true;
    },
  );
  // l2 and global scope rank the same way and refuse the same way.
  assert.throws(
    () => pruneModel(nanModel(), { ratio: 0.5, criterion: 'l2', scope: 'global', roundTo: 1 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'NON_FINITE_WEIGHTS',
  );
});

test('--nan prune-first removes the NaN channels first and keeps the 32 most important; verify passes', async () => {
  const m = nanModel();
  const original = decodeModel(encodeModel(m));
  const norms = l1(m);
  const out = pruneModel(m, { ratio: 0.5, criterion: 'l1', roundTo: 1, nan: 'prune-first' });
  const kept = keptOfConv1(out);
  const expected = norms
    .map((x, i) => ({ x, i }))
    .filter((e) => !Number.isNaN(e.x))
    .sort((a, b) => b.x - a.x)
    .slice(0, 32)
    .map((e) => e.i)
    .sort((a, b) => a - b);
  assert.deepEqual(kept, expected);
  for (const c of NAN_CHANNELS) assert.ok(!kept.includes(c));
  assert.ok(out.plan.remarks.some((r) => /NaN\/Inf/.test(r)));
  // The masked reference zeroes the removed NaN channels (Where, not NaN × 0), so the proof holds.
  const v = await verifyMaskedEquivalence(original, m, out.applied.pruned, { trials: 1 });
  assert.equal(v.nonFinite, 0);
  assert.ok(v.ok, `worst ${v.worst}`);
});

test('--nan keep keeps the NaN channels and the 30 most important others; verify names NaN, not a channel rule', async () => {
  const m = nanModel();
  const original = decodeModel(encodeModel(m));
  const norms = l1(m);
  const out = pruneModel(m, { ratio: 0.5, criterion: 'l1', roundTo: 1, nan: 'keep' });
  const kept = keptOfConv1(out);
  const top = norms
    .map((x, i) => ({ x, i }))
    .filter((e) => !Number.isNaN(e.x))
    .sort((a, b) => b.x - a.x)
    .slice(0, 30)
    .map((e) => e.i);
  assert.deepEqual(
    kept,
    [...top, ...NAN_CHANNELS].sort((a, b) => a - b),
  );
  const v = await verifyMaskedEquivalence(original, m, out.applied.pruned, { trials: 1 });
  assert.ok(v.nonFinite > 0, 'the reference computes NaN');
  // Both compute NaN at the same places: equal. A mismatch on such a model is NON_FINITE_OUTPUT.
  assert.ok(v.ok);
  const failed = { ...v, ok: false, outputs: v.outputs.map((o) => ({ ...o, relative: 1 })) };
  assert.equal(verifyMismatchError(failed).code, 'NON_FINITE_OUTPUT');
  assert.equal(verifyMismatchError({ ...failed, nonFinite: 0 }).code, 'NUMERIC_MISMATCH');
});

test('compareScoreDesc is a total order: NaN last, the same result from any input order', () => {
  const xs = [NaN, 3, -Infinity, 1, NaN, Infinity, 2, -0, 0];
  const sorted = (a: number[]) =>
    a
      .map((x, i) => ({ x, i }))
      .sort((p, q) => compareScoreDesc(p.x, q.x) || p.i - q.i)
      .map((p) => p.x);
  const s = sorted(xs);
  assert.deepEqual(s.slice(0, 7), [Infinity, 3, 2, 1, -0, 0, -Infinity]);
  assert.ok(Number.isNaN(s[7]!) && Number.isNaN(s[8]!));
  const r = sorted([...xs].reverse());
  assert.deepEqual(r.filter((x) => x !== 0).map(String), s.filter((x) => x !== 0).map(String));
});

test('CLI: NaN weights exit 1 with NON_FINITE_WEIGHTS; --nan prune-first --verify succeeds; a bad policy exits 2', () => {
  const dir = tempDir('sculpt-nan-');
  const model = join(dir, 'nan.onnx');
  writeFileSync(model, encodeModel(nanModel()));
  const out = join(dir, 'out.onnx');
  const r = runCli(['prune', model, '-o', out, '--ratio', '0.5', '--round-to', '1']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /NON_FINITE_WEIGHTS/);
  assert.match(r.stderr, /conv1/);
  const ok = runCli(['prune', model, '-o', out, '--ratio', '0.5', '--round-to', '1', '--nan', 'prune-first', '--verify', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).verify.ok, true);
  assert.equal(runCli(['prune', model, '-o', out, '--ratio', '0.5', '--nan', 'sometimes']).code, 2);
});
