/**
 * Latency-aware pruning (issue 14.4): the plan fits a latency predictor; the measured
 * per-layer table is cached on disk (atomically, per model/provider/machine) and reused;
 * the report carries predicted and measured latency. No assertion here depends on how fast
 * this machine is (speed is `npm run bench -- prune`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompilerError,
  analyzeChannelGroups,
  buildLatencyModel,
  computeCost,
  decodeModel,
  encodeModel,
  planForLatency,
  planPruning,
  pruneModelToLatency,
  resolveProvider,
  verifyMaskedEquivalence,
} from '../../src/index.js';
import type { LatencyPredictor, Model } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';
import { Net } from './graphs.js';

/** Small, but with convs that take long enough (≈ 0.1–1 ms) to dominate the per-run overhead. */
function tiny(): Model {
  const n = new Net(5);
  const a = n.cbr(n.input(3, 24), 3, 48, 3, { name: 'c1' });
  const b = n.cbr(a, 48, 64, 3, { group: 2, name: 'c2' });
  return n.head(n.cbr(b, 64, 48, 3, { name: 'c3' }), 48);
}

test('the plan fits a latency predictor to within 1% of the target, or says why (deterministic predictor)', () => {
  const m = tiny();
  const cost = computeCost(m);
  const a = analyzeChannelGroups(m);
  // A made-up kernel: time grows with the square of each group's kept channels.
  const lm: LatencyPredictor = { predict: (kept) => a.groups.reduce((t, g) => t + (kept(g.id) * g.mult) ** 2, 0) };
  const full = lm.predict((gid) => a.groups[gid]!.size);
  for (const target of [0.3, 0.5, 0.8]) {
    const plan = planPruning(m, a, cost, { latencyTarget: target, latencyModel: lm, criterion: 'l1', roundTo: 1 });
    const got = lm.predict((gid) => plan.keep.get(gid)?.length ?? a.groups[gid]!.size) / full;
    assert.ok(got <= target + 1e-9, `target ${target}: ${got}`);
    assert.ok(got >= 0.99 * target || plan.remarks.some((r) => r.startsWith(`latency target ${target}: predicted`)), `target ${target}: ${got}, silently`);
    assert.ok(got >= 0.97 * target, `target ${target}: ${got}`);
  }
  assert.throws(
    () => planPruning(m, a, cost, { latencyTarget: 0.5, criterion: 'l1' }),
    (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
  );
  assert.throws(
    () => planPruning(m, a, cost, { latencyTarget: 0.5, ratio: 0.5, latencyModel: lm }),
    (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
  );
});

test('the per-layer table is measured once, cached atomically on disk, and read back', async () => {
  const cacheDir = tempDir('sculpt-latcache-');
  const m = tiny();
  const cost = computeCost(m);
  const a = analyzeChannelGroups(m);
  const first = await buildLatencyModel(m, a, cost, { cacheDir });
  assert.equal(first.layers, 4, 'three convs and the Gemm');
  assert.ok(first.timings > first.layers);
  assert.ok(first.cacheFile && existsSync(first.cacheFile));
  const files = readdirSync(join(cacheDir, 'latency'));
  assert.deepEqual(
    files.filter((f) => f.includes('.tmp-')),
    [],
    'no temp files left',
  );
  const body = JSON.parse(readFileSync(first.cacheFile!, 'utf8'));
  assert.equal(body.key.provider, 'cpu');
  assert.equal(body.key.threads, 1);
  assert.ok(typeof body.key.machine === 'string' && typeof body.key.model === 'string');
  const second = await buildLatencyModel(m, a, cost, { cacheDir });
  assert.equal(second.cached, second.timings, 'every timing from the cache');
  assert.ok(second.baselineCached && !first.baselineCached);
  assert.equal(second.baselineMs, first.baselineMs);
  const full = (gid: number) => a.groups[gid]!.size;
  assert.equal(second.predict(full), first.predict(full));
  assert.ok(Math.abs(first.predict(full) - first.baselineMs) < 1e-9 * first.baselineMs, 'the unpruned model predicts the baseline');
  // A damaged cache is measured again, not trusted.
  writeFileSync(first.cacheFile!, '{"version":1,');
  const third = await buildLatencyModel(m, a, cost, { cacheDir });
  assert.ok(third.cached < third.timings);
  // Another thread count is another table.
  const fourth = await buildLatencyModel(m, a, cost, { cacheDir, threads: 2 });
  assert.notEqual(fourth.cacheFile, first.cacheFile);
  await assert.rejects(buildLatencyModel(m, a, cost, { cacheDir, threads: 0 }), (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION');
});

test('pruneModelToLatency: a masked-equivalent model and a report with predicted and measured latency', async () => {
  const cacheDir = tempDir('sculpt-latcache-');
  const m = tiny();
  const original = decodeModel(encodeModel(m));
  const out = await pruneModelToLatency(m, { latencyTarget: 0.5, criterion: 'l1', roundTo: 8 }, { cacheDir, rounds: 1 });
  const l = out.report.latency!;
  assert.ok(l);
  assert.equal(l.target, 0.5);
  assert.ok(l.baselineMs > 0 && l.measuredMs > 0);
  assert.ok(Math.abs(l.measuredRatio - l.measuredMs / l.baselineMs) < 1e-12);
  // How many corrections a run needs depends on the machine's load; the pipeline's bound is 4.
  assert.ok(l.attempts.length >= 1 && l.attempts.length <= 4);
  assert.equal(l.attempts[0]!.planned, 0.5);
  // What the table predicts depends on this machine's timings: only its sanity is asserted.
  for (const t of l.attempts) assert.ok(t.predictedRatio > 0 && Number.isFinite(t.predictedRatio) && t.measuredRatio > 0);
  assert.ok(out.applied.channelsRemoved > 0);
  assert.equal(out.report.options.roundTo, 8);
  const v = await verifyMaskedEquivalence(original, m, out.applied.pruned, { untied: out.report.untied, trials: 1 });
  assert.ok(v.ok);
  // planForLatency leaves the model alone.
  const m2 = tiny();
  const c2 = computeCost(m2);
  const a2 = analyzeChannelGroups(m2);
  const before = encodeModel(m2);
  await planForLatency(m2, a2, c2, { latencyTarget: 0.7, criterion: 'l1', roundTo: 8 }, { cacheDir, rounds: 1 });
  assert.deepEqual(encodeModel(m2), before);
});

test('CLI: --latency-target prints predicted and measured latency; conflicting targets exit 2', () => {
  const dir = tempDir('sculpt-lat-cli-');
  const model = join(dir, 'tiny.onnx');
  writeFileSync(model, encodeModel(tiny()));
  const env = { SCULPT_CACHE_DIR: join(dir, 'cache') };
  const r = runCli(['prune', model, '-o', join(dir, 'out.onnx'), '--latency-target', '0.6', '--round-to', '8', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.latency.target, 0.6);
  assert.ok(j.latency.predictedRatio > 0 && j.latency.measuredRatio > 0);
  assert.equal(j.options.latencyTarget, 0.6);
  assert.ok(existsSync(join(dir, 'cache', 'latency')));
  assert.equal(runCli(['prune', model, '-o', join(dir, 'x.onnx'), '--latency-target', '0.5', '--flops-target', '0.5'], { env }).code, 2);
  assert.equal(runCli(['prune', model, '-o', join(dir, 'x.onnx'), '--latency-target', '0.5', '--ratio', '0.5'], { env }).code, 2);
});

test('cuda asked for where onnxruntime falls back to cpu: the table is measured, cached and keyed as cpu, said once', async () => {
  const cacheDir = tempDir('sculpt-latcache-');
  const m = tiny();
  const warnings: string[] = [];
  const origWrite = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    warnings.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let resolved;
  try {
    resolved = await resolveProvider(encodeModel(m), { provider: 'cuda' });
  } finally {
    process.stderr.write = origWrite;
  }
  if (resolved.provider === 'cuda') return; // a machine with CUDA: nothing falls back
  assert.equal(resolved.provider, 'cpu');
  assert.equal(warnings.filter((w) => /falling back to CPU/.test(w)).length, 1);
  const lm = await buildLatencyModel(m, analyzeChannelGroups(m), computeCost(m), { cacheDir, provider: 'cuda' });
  const body = JSON.parse(readFileSync(lm.cacheFile!, 'utf8'));
  assert.equal(body.key.provider, 'cpu', 'cpu timings are never filed under cuda');
  const cpu = await buildLatencyModel(m, analyzeChannelGroups(m), computeCost(m), { cacheDir, provider: 'cpu' });
  assert.equal(cpu.cacheFile, lm.cacheFile);
  assert.equal(cpu.cached, cpu.timings, 'the cpu run reads the table the fallback measured');
});
