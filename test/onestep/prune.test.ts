/**
 * Global pruning by |β|: the removed channels are exactly the lowest |β| over every
 * non-crucial layer together, crucial layers lose nothing however low their β, a coupled
 * group (a residual stage, one β) loses the same channels in every tensor, and the result
 * is masked-equivalent to the original. An unreachable target names the best fraction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompilerError, Rng, autoRoundTo, buildScores, decodeModel, encodeModel, globalPrune, insertBeta, verifyMaskedEquivalence } from '../../src/index.js';
import type { BetaRecord, Model } from '../../src/index.js';
import { lastConvLayer } from '../../src/onestep/score.js';
import { tinyResnet } from './fixtures.js';

function copy(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** A scores document for `m` with seeded |β|; the layers in `low` get the lowest values of all. */
function scoresFor(m: Model, seed: number, crucial: string[], low: string[] = crucial) {
  const probe = copy(m);
  const { records } = insertBeta(probe);
  const rng = new Rng(seed);
  const beta = new Map(
    records.map((r: BetaRecord) => [r.beta, Float32Array.from({ length: r.size }, () => (low.includes(r.group) ? 0.001 * rng.next() : 0.01 + rng.next()))]),
  );
  return buildScores(m, records, beta, { crucial, lastConvLayer: lastConvLayer(m, records) });
}

test('global ranking: lowest |β| over all non-crucial layers go; crucial and coupled groups respected', async () => {
  const m = tinyResnet(5);
  const stage = 'stem+b1.conv2+b2.conv2';
  const doc = scoresFor(m, 1, ['b1.conv1'], ['b1.conv1', stage]);
  // The stage group holds the last conv, so it is crucial too, although its β is the lowest.
  assert.deepEqual(doc.crucial, ['b1.conv1', stage]);
  const pruned = copy(m);
  const out = globalPrune(pruned, doc, { ratio: 0.5, roundTo: 1, maxRatio: 0.99 });
  // Only b2.conv1 is not crucial: half of its 8 channels go, the 4 lowest |β|.
  const free = doc.layers.filter((l) => !l.crucial);
  assert.deepEqual(
    free.map((l) => l.name),
    ['b2.conv1'],
  );
  const want = [...free[0]!.beta.keys()]
    .sort((a, b) => free[0]!.beta[a]! - free[0]!.beta[b]!)
    .slice(0, 4)
    .sort((a, b) => a - b);
  const removed = out.report.pruned.find((p) => p.name === free[0]!.value)!;
  assert.deepEqual(removed.removed, want);
  for (const l of doc.layers.filter((x) => x.crucial)) {
    for (const s of l.sites) assert.ok(!out.report.pruned.some((p) => p.name === s), `${s} of crucial ${l.name} kept`);
  }
  const v = await verifyMaskedEquivalence(m, pruned, out.applied.pruned, { untied: out.report.untied, trials: 1 });
  assert.ok(v.ok, `worst ${v.worst}`);
});

test('global ranking across layers: one threshold, per-layer rates fall out; a residual stage loses channels in every tensor alike', async () => {
  // A conv after the stage: the stage (one β for stem, b1.conv2, b2.conv2) is not crucial.
  const m = tinyResnet(6, true);
  const doc = scoresFor(m, 2, ['b2.conv1'], []);
  assert.deepEqual(doc.crucial, ['b2.conv1', 'tail']);
  const pruned = copy(m);
  const out = globalPrune(pruned, doc, { ratio: 0.4, roundTo: 1, maxRatio: 0.99 });
  const free = doc.layers.filter((l) => !l.crucial);
  const all = free.flatMap((l) => l.beta.map((b, k) => ({ l: l.name, k, b }))).sort((x, y) => x.b - y.b);
  const goal = Math.ceil(0.4 * free.reduce((s, l) => s + l.channels, 0) - 1e-9);
  const expect = new Map<string, number[]>();
  for (const { l, k } of all.slice(0, goal))
    expect.set(
      l,
      [...(expect.get(l) ?? []), k].sort((a, b) => a - b),
    );
  for (const l of free) {
    const p = out.report.pruned.find((x) => x.name === l.value);
    assert.deepEqual(p?.removed ?? [], expect.get(l.name) ?? [], `${l.name}: the globally lowest |β|`);
  }
  // The stage's channels go from every tensor of the group: each block's conv2 filters, the
  // stem's filters, and the tail conv's inputs lose the same positions.
  const stage = free.find((l) => l.junction)!;
  const lost = expect.get(stage.name)!;
  assert.ok(lost.length > 0, 'the stage loses channels');
  for (const w of ['stem.weight', 'b1.conv2.weight', 'b2.conv2.weight'])
    assert.deepEqual(out.report.pruned.find((p) => p.name === w && p.axis === 0)?.removed, lost, w);
  assert.deepEqual(out.report.pruned.find((p) => p.name === 'tail.weight' && p.axis === 1)?.removed, lost, 'tail conv inputs');
  const v = await verifyMaskedEquivalence(m, pruned, out.applied.pruned, { untied: out.report.untied, trials: 1 });
  assert.ok(v.ok, `worst ${v.worst}`);
});

test('a FLOPs target the crucial layers make unreachable is a named error with the best fraction', () => {
  const m = tinyResnet(7);
  const doc = scoresFor(m, 3, ['b1.conv1']);
  assert.throws(
    () => globalPrune(copy(m), doc, { flopsTarget: 0.05, roundTo: 1 }),
    (e: unknown) => {
      assert.ok(e instanceof CompilerError && e.code === 'TARGET_UNREACHABLE');
      assert.match(e.message, /best reachable FLOPs fraction is 0\.\d{3}/);
      return true;
    },
  );
  const all = scoresFor(m, 3, ['b1.conv1', 'b2.conv1']);
  assert.throws(
    () => globalPrune(copy(m), all, { flopsTarget: 0.5 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'TARGET_UNREACHABLE' && /1\.000/.test(e.message),
  );
});

test('the default --round-to is auto, as for sculpt prune: the report records the number; layers too narrow for it are named', () => {
  const m = tinyResnet(5);
  const doc = scoresFor(m, 1, ['b1.conv1']);
  // tinyResnet's free layer has 8 channels: auto is 8 or 16, so none can go, and the error says why.
  assert.ok(autoRoundTo() >= 8);
  assert.throws(
    () => globalPrune(copy(m), doc, { ratio: 0.5, maxRatio: 0.99 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'TARGET_UNREACHABLE' && /multiples of/.test(e.message) && /--round-to/.test(e.hint ?? ''),
  );
  assert.equal(globalPrune(copy(m), doc, { ratio: 0.5, maxRatio: 0.99, roundTo: 4 }).plan.roundTo, 4);
  // The message names auto's reason when auto chose; a number passed on (as the one-step pipeline does) is just the number.
  assert.throws(
    () => globalPrune(copy(m), doc, { ratio: 0.5, maxRatio: 0.99 }),
    (e: unknown) => e instanceof CompilerError && /\(--round-to \d+, auto: /.test(e.message),
  );
  assert.throws(
    () => globalPrune(copy(m), doc, { ratio: 0.5, maxRatio: 0.99, roundTo: 16 }),
    (e: unknown) => e instanceof CompilerError && /\(--round-to 16\):/.test(e.message),
  );
});
