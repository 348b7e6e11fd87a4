/**
 * The latency procedure on known inputs: a fake clock advanced by a fake runner, so warm-up,
 * the stopping rule, the caps and the statistics are checked exactly, never absolute times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompilerError,
  GraphBuilder,
  attrInts,
  isStable,
  measureLatency,
  median,
  openSession,
  percentile,
  latencyStats,
  runSession,
  Rng,
} from '../../src/index.js';

/** A runner whose i-th call (warm-up included) takes times[i] ms on a fake clock. */
function fake(times: (i: number) => number) {
  let now = 0;
  let calls = 0;
  return {
    clock: () => now,
    run: () => {
      now += times(calls);
      calls++;
    },
    get calls() {
      return calls;
    },
  };
}

test('median and nearest-rank p90 on known lists', () => {
  assert.equal(median([5, 1, 4]), 4);
  assert.equal(median([5, 1, 4, 2]), 3); // (2 + 4) / 2
  // n = 10: rank ceil(0.9 * 10) = 9 → the 9th smallest
  assert.equal(percentile([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 90), 9);
  // n = 11: rank ceil(9.9) = 10
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90), 10);
  assert.equal(percentile([42], 90), 42);
  const s = latencyStats([3, 1, 2, 10]);
  assert.deepEqual(s, { medianMs: 2.5, p90Ms: 10, minMs: 1, maxMs: 10, meanMs: 4, runs: 4 });
  assert.throws(
    () => median([]),
    (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
  );
});

test('isStable: the last `window` medians within tolerance of the newest', () => {
  assert.equal(isStable([1, 1, 1], 3, 0), false); // needs window + 1 medians
  assert.equal(isStable([1, 1, 1, 1], 3, 0), true);
  assert.equal(isStable([2, 1.005, 1.0, 1.0, 1.0], 3, 0.01), true); // 2 is outside the window
  assert.equal(isStable([2, 1.02, 1.0, 1.0, 1.0], 3, 0.01), false); // 1.02 is 2% away
});

test('constant times: warm-up runs untimed, then stops as stable after max(minRuns, window+1) runs', async () => {
  const f = fake(() => 2);
  const s = await measureLatency(f.run, { warmup: 3, minRuns: 5, window: 8, tolerance: 0.01, maxRuns: 100, clock: f.clock });
  assert.equal(s.warmup, 3);
  assert.equal(s.runs, 9); // 8 earlier medians + the newest
  assert.equal(f.calls, 3 + 9);
  assert.equal(s.stopReason, 'stable');
  assert.equal(s.stable, true);
  assert.equal(s.medianMs, 2);
  assert.equal(s.totalMs, 24);

  const g = fake(() => 2);
  const t = await measureLatency(g.run, { warmup: 0, minRuns: 20, window: 3, maxRuns: 100, clock: g.clock });
  assert.equal(t.runs, 20); // minRuns dominates
});

test('warm-up times are excluded from the statistics', async () => {
  // The first 4 calls (warm-up) are slow, then every run takes 1 ms.
  const f = fake((i) => (i < 4 ? 1000 : 1));
  const s = await measureLatency(f.run, { warmup: 4, minRuns: 3, window: 2, tolerance: 0, clock: f.clock });
  assert.equal(s.maxMs, 1);
  assert.equal(s.medianMs, 1);
  assert.equal(s.runs, 3);
});

test('the stopping rule on a settling sequence stops exactly where the rule says', async () => {
  // Timed runs: 10, 1, 1, 1, 1, 1, ...  Running medians: 10, 5.5, 1, 1, 1, ...
  // window 3, tolerance 0: stable first after run i when medians i-3..i-1 all equal 1,
  // i.e. medians 3, 4, 5 (1-based) and the newest (6) → 6 runs.
  const f = fake((i) => (i === 0 ? 10 : 1));
  const s = await measureLatency(f.run, { warmup: 0, minRuns: 2, window: 3, tolerance: 0, clock: f.clock });
  assert.equal(s.runs, 6);
  assert.equal(s.stopReason, 'stable');
  assert.deepEqual([s.medianMs, s.minMs, s.maxMs, s.p90Ms], [1, 1, 10, 10]);
  assert.ok(Math.abs(s.meanMs - 15 / 6) < 1e-12);
});

test('a median that never settles stops at maxRuns', async () => {
  // Alternating 1 / 100: the running median jumps between 1 and 50.5 forever.
  const f = fake((i) => (i % 2 ? 100 : 1));
  const s = await measureLatency(f.run, { warmup: 0, minRuns: 5, window: 4, tolerance: 0.05, maxRuns: 37, maxTimeMs: 1e9, clock: f.clock });
  assert.equal(s.runs, 37);
  assert.equal(s.stopReason, 'max-runs');
  assert.equal(s.stable, false);
  assert.equal(s.medianMs, 1); // 19 ones, 18 hundreds
});

test('the time cap counts warm-up and ends the measurement', async () => {
  // Every call 100 ms; warm-up 2 (200 ms); cap 1000 ms → the 8th timed run ends at 1000.
  const f = fake((i) => (i % 2 ? 100 : 100.5)); // not constant, so never stable
  const s = await measureLatency(f.run, { warmup: 2, minRuns: 50, window: 3, tolerance: 0, maxRuns: 1000, maxTimeMs: 1000, clock: f.clock });
  assert.equal(s.stopReason, 'time-cap');
  assert.equal(s.runs, 8);
  // A single run longer than the cap still gives one measurement.
  const g = fake(() => 5000);
  const t = await measureLatency(g.run, { warmup: 1, maxTimeMs: 1000, clock: g.clock });
  assert.equal(t.runs, 1);
  assert.equal(t.medianMs, 5000);
});

test('inconsistent options are INVALID_OPTION', async () => {
  const code = (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION';
  await assert.rejects(
    measureLatency(() => {}, { minRuns: 10, maxRuns: 5 }),
    code,
  );
  await assert.rejects(
    measureLatency(() => {}, { maxRuns: 0 }),
    code,
  );
  await assert.rejects(
    measureLatency(() => {}, { tolerance: -1 }),
    code,
  );
  await assert.rejects(
    measureLatency(() => {}, { warmup: 1.5 }),
    code,
  );
});

test('a real onnxruntime session: the procedure runs and the statistics are ordered', async () => {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 8, 16, 16]);
  const rng = new Rng(3);
  const w = b.floats('w', [8, 8, 3, 3], rng.normalArray(8 * 8 * 9, 0.1));
  b.output(b.op('Conv', [x, w], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])]), 'y');
  const { session } = await openSession(b.model);
  const feed = { x: { data: rng.uniformArray(8 * 16 * 16), dims: [1, 8, 16, 16] } };
  let calls = 0;
  const s = await measureLatency(
    async () => {
      calls++;
      await runSession(session, feed);
    },
    { warmup: 2, minRuns: 5, maxRuns: 40, maxTimeMs: 5000 },
  );
  await session.release();
  assert.equal(calls, 2 + s.runs);
  assert.ok(s.runs >= 5 && s.runs <= 40);
  assert.ok(s.minMs > 0 && s.minMs <= s.medianMs && s.medianMs <= s.p90Ms && s.p90Ms <= s.maxMs);
});
