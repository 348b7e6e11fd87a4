/**
 * Mask inputs: one onnxruntime session evaluates any genome, and what it gives is exactly
 * what the model pruned with that genome's mask file gives (`sculpt prune --mask`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Rng,
  Scorer,
  decodeModel,
  encodeModel,
  ensureNonEmpty,
  genomeToMask,
  inferShapes,
  maxAbsDiff,
  parseMask,
  prepareSearch,
  pruneModel,
  randomGenome,
  runModel,
  runPasses,
  scatterFeature,
  scorerInit,
} from '../../src/index.js';
import type { ExposedMask, Model } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { exposeMasksPass } from '../../passes/expose-masks.js';
import { exposeOutputsPass } from '../../passes/expose-outputs.js';

const cases: [string, Model][] = [
  ['resnet20', buildModel('resnet20', { seed: 1, width: 0.5 })],
  ['vgg', buildModel('vgg', { seed: 2 })],
  ['mobilenetv2', buildModel('mobilenetv2', { seed: 3, width: 0.5 })],
];

for (const [name, model] of cases) {
  test(`${name}: the mask-input session gives the pruned model's features, for random genomes`, async () => {
    const p = prepareSearch(model);
    const rng = new Rng(11);
    const dims = [3, ...(model.graph.inputs[0]!.shape!.slice(1) as number[])];
    const x = rng.uniformArray(dims.reduce((a, b) => a * b, 1));
    const sc = await Scorer.open(scorerInit(p, x, dims, 'wca'));
    try {
      // All ones: the original, bit for bit.
      const ones = await sc.feature(new Uint8Array(p.space.length).fill(1));
      const orig = (await runModel(model, { [p.dataInput]: { data: x, dims } }, [p.feature.original]))[p.feature.original]!;
      assert.equal(maxAbsDiff(ones, orig).maxAbs, 0);
      if (name === 'vgg') assert.deepEqual(p.unsearched, ['fc1'], 'the hidden fc layer comes after the feature');
      for (const keep of [0.3, 0.7]) {
        const g = randomGenome(p.space.length, keep, rng);
        for (const st of p.space.stages) ensureNonEmpty(g, st, p.space, rng);
        const masked = await sc.feature(g);
        const pruned = decodeModel(encodeModel(model));
        pruneModel(pruned, { criterion: 'mask', mask: parseMask(genomeToMask(p.space, g)) });
        const got = (await runModel(pruned, { [p.dataInput]: { data: x, dims } }, [p.feature.original]))[p.feature.original]!;
        const d = maxAbsDiff(masked, scatterFeature(p.space, g, p.feature.original, got));
        assert.ok(d.maxAbs <= 1e-5 * d.scale, `${name} keep ${keep}: ${d.maxAbs} vs scale ${d.scale}`);
        assert.ok(d.scale > 0);
      }
    } finally {
      await sc.release();
    }
  });
}

test('expose-masks and expose-outputs as passes: one float [size] input per reachable group, the feature as an output', async () => {
  const m = buildModel('resnet20', { seed: 1, width: 0.5 });
  let exposed: ExposedMask[] = [];
  let names: string[] = [];
  const r = runPasses(m, [exposeMasksPass(), exposeOutputsPass()], {
    options: {
      exposeMasks: {
        onExposed: (e: ExposedMask[]) => {
          exposed = e;
        },
      },
      exposeOutputs: {
        onExposed: (n: string[]) => {
          names = n;
        },
      },
    },
  });
  assert.ok(r.changed);
  assert.equal(exposed.length, 12); // 9 block-internal groups + 3 residual stages
  for (const e of exposed) {
    const v = m.graph.inputs.find((i) => i.name === e.name)!;
    assert.deepEqual(v.shape, [e.size]);
    assert.ok(e.sites >= 1);
  }
  // Residual stages get one input with a Mul at each block that reads the stream.
  assert.ok(exposed.some((e) => e.sites >= 3));
  assert.deepEqual(names, ['layer3.2.relu2_out_mask']);
  assert.equal(m.graph.outputs[0]!.name, 'logits');
  assert.equal(m.graph.outputs[1]!.name, names[0]);
  inferShapes(m);
  // An unknown output name changes nothing.
  const m2 = buildModel('lenet5', { seed: 1 });
  assert.throws(
    () => runPasses(m2, [exposeOutputsPass()], { options: { outputs: ['nope'] } }),
    (e: { code?: string }) => e.code === 'MISSING_VALUE',
  );
  assert.equal(m2.graph.outputs.length, 1);
});

test('the fitness summary computed in the graph equals the JS summary, for every kind', async () => {
  const model = buildModel('resnet20', { seed: 4, width: 0.5 });
  const rng = new Rng(12);
  const dims = [2, 3, 32, 32];
  const x = rng.uniformArray(2 * 3 * 32 * 32);
  for (const fitness of ['wca', 'gap', 'gmp', 'gap+gmp'] as const) {
    const p = prepareSearch(model, { fitness, summaryInGraph: true });
    assert.ok(p.summaryOutput);
    const init = scorerInit(p, x, dims, fitness);
    const [inGraph, js] = [await Scorer.open({ ...init, summaryOutput: p.summaryOutput }), await Scorer.open(init)];
    try {
      const g = randomGenome(p.space.length, 0.6, rng);
      for (const st of p.space.stages) ensureNonEmpty(g, st, p.space, rng);
      const [a, b] = [await inGraph.summary(g), await js.summary(g)];
      assert.equal(a.length, b.length);
      const scale = Math.max(...b.map(Math.abs));
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 * scale, `${fitness} [${i}]: ${a[i]} vs ${b[i]}`);
    } finally {
      await inGraph.release();
      await js.release();
    }
  }
});
