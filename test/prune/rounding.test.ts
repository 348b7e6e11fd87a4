/**
 * Rounding that follows the kernel (issue 14.1): a grouped conv keeps a multiple of
 * `roundTo` channels per conv group (and its group count); a depthwise chain keeps a
 * multiple of `roundTo` in its shared width. Each case is checked by masked equivalence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModel, encodeModel, pruneModel, verifyMaskedEquivalence } from '../../src/index.js';
import type { Model, PlanOptions } from '../../src/index.js';
import { Net } from './graphs.js';

/** RegNet-style bottleneck: 1×1 (32→128), 3×3 grouped (128→128, 4 groups of 32), 1×1 (128→32), residual Add. */
function regnetBlock(): Model {
  const n = new Net(7);
  const x = n.cbr(n.input(3, 8), 3, 32, 3, { name: 'stem' });
  const a = n.cbr(x, 32, 128, 1, { name: 'b.a' });
  const b = n.cbr(a, 128, 128, 3, { group: 4, name: 'b.b' });
  const c = n.cbr(b, 128, 32, 1, { act: false, name: 'b.c' });
  return n.head(n.relu(n.add(c, x)), 32);
}

/** MobileNetV2-style chain: expand 1×1 (16→48), depthwise 3×3, project; then a depthwise with multiplier 2 (24→48). */
function depthwiseChain(): Model {
  const n = new Net(8);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { name: 'stem' });
  const e = n.cbr(x, 16, 48, 1, { name: 'expand' });
  const d = n.cbr(e, 48, 48, 3, { group: 48, name: 'dw' });
  const p = n.cbr(d, 48, 24, 1, { name: 'project' });
  const d2 = n.cbr(p, 24, 48, 3, { group: 24, name: 'dw2' });
  return n.head(d2, 48);
}

function convByWeight(m: Model, weight: string) {
  return m.graph.nodes.find((nd) => nd.opType === 'Conv' && nd.inputs[1]?.name === weight)!;
}

async function pruneVerified(build: () => Model, opts: PlanOptions) {
  const m = build();
  const original = decodeModel(encodeModel(m));
  const out = pruneModel(m, opts);
  const v = await verifyMaskedEquivalence(original, m, out.applied.pruned, { untied: out.report.untied, trials: 1 });
  assert.ok(v.ok, `masked equivalence: worst ${v.worst}`);
  return { m, out };
}

test('grouped conv: kept channels are a multiple of round-to PER CONV GROUP, group count kept, masked-equivalent', async () => {
  for (const roundTo of [8, 4]) {
    const { m, out } = await pruneVerified(regnetBlock, { ratio: 0.3, criterion: 'l1', roundTo });
    const conv = convByWeight(m, 'b.b.weight');
    const [M, cpg] = conv.inputs[1]!.initializer!.shape as number[];
    assert.equal(conv.attrInt('group', 1), 4, 'the group count stays');
    assert.ok(M! < 128, `pruned: ${M}`);
    assert.equal((M! / 4) % roundTo, 0, `round-to ${roundTo}: ${M! / 4} output channels per conv group`);
    assert.equal(cpg! % roundTo, 0, `round-to ${roundTo}: ${cpg} input channels per conv group`);
    // 32 per group × 0.7 = 22.4: the nearest allowed count per group (24 at 8, 24 at 4), never 22.
    assert.equal(M, 4 * Math.round(22.4 / roundTo) * roundTo);
    assert.equal(convByWeight(m, 'b.c.weight').inputs[1]!.initializer!.shape[1], M);
    assert.ok(out.plan.groups.some((g) => g.width === 128 && g.keptWidth === M));
  }
});

test('grouped conv narrower than one block per group stays whole at round-to 32 (one block per group), with a remark', async () => {
  const { m, out } = await pruneVerified(regnetBlock, { ratio: 0.3, criterion: 'l1', roundTo: 32 });
  assert.equal(convByWeight(m, 'b.b.weight').inputs[1]!.initializer!.shape[0], 128);
  assert.ok(
    out.plan.remarks.some((r) => /per conv group of .*b\.b.*4 groups/.test(r)),
    out.plan.remarks.join('\n'),
  );
});

test('depthwise chain: the shared width is a multiple of round-to, group = channels, masked-equivalent', async () => {
  const { m } = await pruneVerified(depthwiseChain, { ratio: 0.3, criterion: 'l1', roundTo: 8 });
  const dw = convByWeight(m, 'dw.weight');
  const c = dw.inputs[1]!.initializer!.shape[0]!;
  assert.equal(c % 8, 0);
  assert.ok(c < 48);
  assert.equal(dw.attrInt('group', 1), c);
  assert.equal(convByWeight(m, 'expand.weight').inputs[1]!.initializer!.shape[0], c);
  const dw2 = convByWeight(m, 'dw2.weight');
  const g2 = dw2.attrInt('group', 1);
  const out2 = dw2.inputs[1]!.initializer!.shape[0]!;
  assert.equal(out2, 2 * g2, 'multiplier 2 kept');
  assert.equal(g2 % 8, 0, `depthwise input width ${g2}`);
});
