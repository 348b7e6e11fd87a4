/**
 * Masked equivalence on every construct: the pruned model computes, in onnxruntime, what the
 * original computes with the removed channels zeroed — BN kept and BN folded (conv bias),
 * at several ratios, seeds and criteria (a fast-check property over all of them).
 */
import { inferInto } from '../helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeCost, decodeModel, encodeModel, inferShapes, pruneModel, runPasses, shapeOf, verifyMaskedEquivalence } from '../../src/index.js';
import type { Model, PruneCriterion, PruneScope } from '../../src/index.js';
import { createPass } from '../../passes/index.js';
import { CONSTRUCTS, construct, randomNet } from './graphs.js';

function copy(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** Shapes the prune pass wrote must be what shape inference computes on the result. */
function assertShapesConsistent(m: Model): void {
  const written = new Map<string, string>();
  for (const n of m.graph.nodes) for (const o of n.outputs) if (o?.shape) written.set(o.name, JSON.stringify(o.shape));
  inferInto(m);
  for (const n of m.graph.nodes) {
    for (const o of n.outputs) {
      const w = o ? written.get(o.name) : undefined;
      if (o && w) assert.equal(JSON.stringify(shapeOf(o.type)), w, `shape of ${o.name}`);
    }
  }
}

async function pruneAndVerify(m: Model, opts: { ratio: number; criterion: PruneCriterion; seed: number; scope?: PruneScope }) {
  const orig = copy(m);
  const out = pruneModel(m, { ratio: opts.ratio, criterion: opts.criterion, seed: opts.seed, scope: opts.scope ?? 'layer', roundTo: 1 });
  assertShapesConsistent(m);
  const v = await verifyMaskedEquivalence(orig, m, out.applied.pruned, { untied: out.report.untied, trials: 1, seed: opts.seed + 1 });
  return { out, v };
}

for (const c of CONSTRUCTS) {
  for (const bnKept of [true, false]) {
    test(`${c.name} (${bnKept ? 'BN kept' : 'BN folded'}): masked equivalence at ratios 0.25, 0.5, 0.75`, async () => {
      for (const [i, ratio] of [0.25, 0.5, 0.75].entries()) {
        const m = c.build(10 + i, bnKept);
        const before = computeCost(copy(m)).total.macs;
        const { out, v } = await pruneAndVerify(m, { ratio, criterion: i === 1 ? 'random' : 'l1', seed: i });
        assert.ok(v.ok, `worst relative difference ${v.worst} at ratio ${ratio}`);
        assert.ok(out.applied.channelsRemoved > 0, 'something was pruned');
        assert.ok(out.after.total.macs < before, 'MACs went down');
        // Every entry of the report names a tensor of the input model (or a recorded untied copy).
        const names = new Set([
          ...c.build(10 + i, bnKept).graph.initializers.map((x) => x.name),
          ...c.build(10 + i, bnKept).graph.nodes.flatMap((n) => n.outputs.map((o) => o?.name)),
        ]);
        for (const p of out.report.pruned) assert.ok(names.has(p.name) || out.report.untied.some((u) => u.copies.some((k) => k.name === p.name)), p.name);
      }
    });
  }
}

test('constructs keep the exact pruned channel counts in weights, group attributes and Reshape targets', () => {
  const m = construct('inverted-residual').build(1, true);
  pruneModel(m, { ratio: 0.5, roundTo: 1, criterion: 'first-k' });
  const dw = m.graph.nodes.find((n) => n.name === 'dw')!;
  assert.equal(dw.attrInt('group'), 24, 'depthwise group follows the channel count');
  assert.deepEqual(dw.inputs[1]!.initializer!.shape, [24, 1, 3, 3]);
  const r = construct('reshape-matmul').build(1, true);
  pruneModel(r, { ratio: 0.5, roundTo: 1, criterion: 'l2' });
  const reshape = r.graph.nodes.find((n) => n.opType === 'Reshape')!;
  assert.deepEqual(reshape.inputs[1]!.initializer!.toNumbers(), [0, 4 * 16]);
  const s = construct('split-slice').build(1, true);
  pruneModel(s, { ratio: 0.5, roundTo: 1, criterion: 'first-k' });
  const split = s.graph.nodes.find((n) => n.opType === 'Split')!;
  assert.deepEqual(split.inputs[1]!.initializer!.toNumbers(), [3, 5]);
  const s9 = construct('split-slice-opset9').build(1, true);
  pruneModel(s9, { ratio: 0.5, roundTo: 1, criterion: 'first-k' });
  assert.deepEqual(s9.graph.nodes.find((n) => n.opType === 'Split')!.attrInts('split'), [3, 5]);
  const sl9 = s9.graph.nodes.find((n) => n.opType === 'Slice')!;
  // The Slice took [4, 14) of the concat; its rewritten bounds span exactly the positions kept inside that range.
  assert.equal(sl9.attrInts('ends')![0]! - sl9.attrInts('starts')![0]!, inferShapes(s9).shapes.shape(sl9.outputs[0]!)![1]);
  const g = construct('grouped-conv').build(1, true);
  pruneModel(g, { ratio: 0.5, roundTo: 1, criterion: 'l1' });
  const gc = g.graph.nodes.find((n) => n.name === 'gconv')!;
  assert.equal(gc.attrInt('group'), 4, 'a grouped conv keeps its groups, each smaller');
  assert.deepEqual(gc.inputs[1]!.initializer!.shape, [12, 2, 3, 3]);
  const l = construct('layout-ops').build(1, true);
  pruneModel(l, { ratio: 0.5, roundTo: 1, criterion: 'first-k' });
  const ex = l.graph.nodes.find((n) => n.opType === 'Expand')!;
  assert.deepEqual(ex.inputs[1]!.initializer!.toNumbers(), [1, 6, 8, 3], 'the Expand target follows the channel count');
  assert.deepEqual(l.graph.nodes.find((n) => n.opType === 'MatMul')!.inputs[1]!.initializer!.shape, [8, 6]);
});

test('BN kept and BN folded rank channels the same (L1 of the BN-scaled filter)', () => {
  const kept = construct('residual-projection').build(4, true);
  const folded = copy(kept);
  runPasses(folded, [createPass('fold-batchnorm')!]);
  assert.equal(folded.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);
  const a = pruneModel(kept, { ratio: 0.5, roundTo: 1, criterion: 'l1' });
  const b = pruneModel(folded, { ratio: 0.5, roundTo: 1, criterion: 'l1' });
  const removedOf = (r: typeof a, layer: string) => r.report.pruned.find((p) => p.name.startsWith(layer) && p.name.includes('weight') && p.axis === 0)?.removed;
  for (const layer of ['stem', 'b1.conv1', 'b1.conv2']) {
    assert.ok(removedOf(a, layer), layer);
    assert.deepEqual(removedOf(b, layer), removedOf(a, layer), layer);
  }
});

test('property: any construct, ratio, seed, criterion and scope gives a masked-equivalent model', async () => {
  const criteria: PruneCriterion[] = ['l1', 'l2', 'random', 'first-k'];
  await fc.assert(
    fc.asyncProperty(
      fc.nat(CONSTRUCTS.length - 1),
      fc.double({ min: 0.05, max: 0.85, noNaN: true }),
      fc.nat(1000),
      fc.nat(3),
      fc.boolean(),
      fc.boolean(),
      async (ci, ratio, seed, crit, bnKept, global) => {
        const m = CONSTRUCTS[ci]!.build(seed, bnKept);
        const { v } = await pruneAndVerify(m, { ratio, criterion: criteria[crit]!, seed, scope: global ? 'global' : 'layer' });
        assert.ok(v.ok, `worst ${v.worst}`);
      },
    ),
    { numRuns: 60, seed: 7 },
  );
});

test('property: random compositions of the constructs prune to valid, masked-equivalent models', async () => {
  const block = fc.record({ kind: fc.nat(6), width: fc.integer({ min: 2, max: 12 }) });
  await fc.assert(
    fc.asyncProperty(
      fc.array(block, { minLength: 1, maxLength: 6 }),
      fc.double({ min: 0.1, max: 0.8, noNaN: true }),
      fc.nat(1000),
      fc.boolean(),
      fc.boolean(),
      async (blocks, ratio, seed, bnKept, global) => {
        const m = randomNet(blocks, seed, bnKept);
        const { out, v } = await pruneAndVerify(m, { ratio, criterion: seed % 2 ? 'l1' : 'random', seed, scope: global ? 'global' : 'layer' });
        assert.ok(v.ok, `worst ${v.worst} for ${JSON.stringify(blocks)}`);
        // Every removed group channel went from every slot of its group.
        for (const [gid, kept] of out.plan.keep) assert.ok(kept.length >= 1 && kept.length < out.analysis.groups[gid]!.size);
      },
    ),
    { numRuns: 40, seed: 11 },
  );
});

test('verification catches a wrong pruning (a removed channel left out of the list)', async () => {
  const m = construct('residual').build(2, true);
  const orig = copy(m);
  const out = pruneModel(m, { ratio: 0.5, roundTo: 1, criterion: 'l1' });
  // Leave out every tensor of the inner conv's group: the reference then keeps those channels.
  const inner = out.analysis.groups.find((g) => g.members.some((x) => x.slot.value.name === 'b1.conv1.weight' && x.slot.axis === 0))!;
  const members = new Set(inner.members.map((x) => `${x.slot.value.name}@${x.slot.axis}`));
  const partial = out.applied.pruned.filter((p) => !members.has(`${p.name}@${p.axis}`));
  assert.ok(partial.length < out.applied.pruned.length);
  const v = await verifyMaskedEquivalence(orig, m, partial, { trials: 1 });
  assert.equal(v.ok, false);
  assert.ok(v.worst > 1e-3);
});
