/**
 * Pruning the reference models: masked equivalence for every criterion and scope, FLOPs
 * targets met (the estimate equals the cost of the result), kept counts rounded, limits
 * (--min-channels, --max-ratio) respected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModel, encodeModel, pruneModel, verifyMaskedEquivalence } from '../../src/index.js';
import type { Model, PlanOptions } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import type { ModelName } from '../../models/index.js';

function copy(m: Model): Model {
  return decodeModel(encodeModel(m));
}

async function check(name: ModelName, opts: PlanOptions, build: Parameters<typeof buildModel>[1] = {}) {
  const m = buildModel(name, { seed: 3, ...build });
  const orig = copy(m);
  const out = pruneModel(m, opts);
  const v = await verifyMaskedEquivalence(orig, m, out.applied.pruned, { untied: out.report.untied, trials: 1, batch: 2 });
  assert.ok(v.ok, `${name}: worst relative difference ${v.worst}`);
  return out;
}

const CASES: [ModelName, PlanOptions][] = [
  ['mlp', { ratio: 0.5, criterion: 'l1', scope: 'layer', roundTo: 8 }],
  ['mlp', { flopsTarget: 0.3, criterion: 'l2', scope: 'global', roundTo: 1 }],
  ['lenet5', { ratio: 0.5, criterion: 'random', seed: 4, roundTo: 1 }],
  ['lenet5', { ratio: 0.4, criterion: 'first-k', scope: 'global', roundTo: 2 }],
  ['vgg', { flopsTarget: 0.5, criterion: 'l1', scope: 'layer', roundTo: 8 }],
  ['vgg', { flopsTarget: 0.4, criterion: 'l2', scope: 'global', roundTo: 4 }],
  ['resnet20', { flopsTarget: 0.5, criterion: 'l1', scope: 'global', roundTo: 4 }],
  ['resnet20', { ratio: 0.6, criterion: 'random', seed: 9, scope: 'layer', roundTo: 1 }],
  ['mobilenetv2', { flopsTarget: 0.5, criterion: 'l1', scope: 'layer', roundTo: 8 }],
  ['mobilenetv2', { ratio: 0.3, criterion: 'l2', scope: 'global', roundTo: 8 }],
];

for (const [name, opts] of CASES) {
  test(`${name} ${JSON.stringify(opts)}: masked equivalence, target, rounding`, async () => {
    const out = await check(name, opts);
    const roundTo = out.plan.roundTo;
    // The plan's estimate is the cost of the pruned model, exactly.
    assert.ok(
      Math.abs(out.plan.after.macs - out.after.total.macs) <= 1e-6 * out.after.total.macs,
      `estimate ${out.plan.after.macs} vs ${out.after.total.macs}`,
    );
    if (opts.flopsTarget !== undefined && out.plan.remarks.every((r) => !r.includes('not reachable'))) {
      assert.ok(out.report.summary.flopsRatio <= opts.flopsTarget + 1e-9, `FLOPs ratio ${out.report.summary.flopsRatio} above ${opts.flopsTarget}`);
      // Within 1% of the target, or a remark says why the rounding does not allow it.
      assert.ok(
        out.report.summary.flopsRatio >= opts.flopsTarget * 0.99 || out.plan.remarks.some((r) => r.includes('landed at')),
        `FLOPs ratio ${out.report.summary.flopsRatio} more than 1% below the target, silently`,
      );
    }
    for (const g of out.plan.groups) {
      assert.ok(g.kept >= 1, `${g.name} keeps a channel`);
      assert.ok(g.kept === g.size || g.keptWidth % roundTo === 0, `${g.name}: ${g.keptWidth} channels kept, not a multiple of ${roundTo}`);
      assert.ok(g.size - g.kept <= Math.floor(0.9 * g.size + 1e-9), `${g.name}: at most 90% removed by default`);
    }
    // The report's layers reflect the pruning.
    const changed = out.report.layers.filter((l) => l.outChannels && l.outChannels[1] < l.outChannels[0]);
    assert.ok(changed.length > 0);
    assert.ok(out.report.summary.params[1] < out.report.summary.params[0]);
  });
}

test('layer scope prunes every group by the same ratio; global scope does not', async () => {
  const layer = await check('resnet20', { ratio: 0.5, criterion: 'l1', scope: 'layer', roundTo: 1 });
  for (const g of layer.plan.groups) assert.equal(g.kept, Math.round(g.size / 2));
  const global = await check('resnet20', { ratio: 0.5, criterion: 'l1', scope: 'global', roundTo: 1 });
  const ratios = new Set(global.plan.groups.map((g) => (g.kept / g.size).toFixed(3)));
  assert.ok(ratios.size > 1, 'global ranking gives per-group ratios');
  const removed = global.plan.groups.reduce((s, g) => s + ((g.size - g.kept) * g.width) / g.size, 0);
  const total = global.plan.groups.reduce((s, g) => s + g.width, 0);
  assert.ok(Math.abs(removed / total - 0.5) < 0.02, `global removes half of all channels (${removed}/${total})`);
});

test('--min-channels and --max-ratio bound every group; groups narrower than the rounding stay whole', async () => {
  const a = await check('vgg', { ratio: 0.85, criterion: 'l1', roundTo: 1, maxRatio: 0.5 });
  for (const g of a.plan.groups) assert.ok(g.kept >= Math.ceil(g.size * 0.5), `${g.name} kept ${g.kept} of ${g.size}`);
  const b = await check('vgg', { ratio: 0.85, criterion: 'l1', roundTo: 1, minChannels: 24 });
  for (const g of b.plan.groups) assert.ok(g.keptWidth >= Math.min(24, g.width), `${g.name} kept ${g.keptWidth}`);
  const c = await check('resnet20', { ratio: 0.5, criterion: 'l1', roundTo: 32 });
  for (const g of c.plan.groups) assert.ok(g.size < 64 ? g.kept === g.size : g.keptWidth === 32, `${g.name}: ${g.keptWidth}`);
  assert.ok(c.plan.remarks.some((r) => r.includes('cannot be rounded')));
});

test('an unreachable FLOPs target prunes as far as the limits allow and says so', async () => {
  const out = await check('lenet5', { flopsTarget: 0.01, criterion: 'l1', roundTo: 1, maxRatio: 0.5 });
  assert.ok(out.plan.remarks.some((r) => r.includes('not reachable')));
  for (const g of out.plan.groups) assert.equal(g.kept, Math.ceil(g.size / 2));
});

test('ResNet-50 (64×64): half the FLOPs, masked-equivalent', async () => {
  const out = await check('resnet50', { flopsTarget: 0.5, criterion: 'l1', scope: 'layer', roundTo: 8 }, { size: 64, numClasses: 10 });
  assert.ok(out.report.summary.flopsRatio <= 0.5 && out.report.summary.flopsRatio >= 0.495, String(out.report.summary.flopsRatio));
  assert.equal(out.analysis.groups.filter((g) => g.frozen.length === 0).length, 37);
});

test('FLOPs targets land within 1% where rounding allows (refinement past the bisection), else a remark says why', async () => {
  // Bisection alone stopped at 0.2954 here: the rounding of the last groups left 1.5% unused.
  for (const t of [0.3, 0.5]) {
    const out = await check('resnet20', { flopsTarget: t, criterion: 'l1', scope: 'layer', roundTo: 8 });
    const r = out.report.summary.flopsRatio;
    assert.ok(r <= t + 1e-9 && r >= 0.99 * t, `target ${t}: ${r}`);
    assert.ok(!out.plan.remarks.some((x) => x.includes('landed at')));
  }
  // A 16-channel VGG at blocks of 16 has too coarse steps: it says so and by how much.
  const v = pruneModel(buildModel('vgg', { seed: 1 }), { flopsTarget: 0.5, criterion: 'l1', roundTo: 16 });
  assert.ok(v.report.summary.flopsRatio < 0.495);
  assert.ok(
    v.plan.remarks.some((x) => /FLOPs target 0.5: landed at 0\.4\d+ \(\d+\.\d% below\)/.test(x)),
    v.plan.remarks.join('\n'),
  );
});
