/**
 * The stage cut (GGS): the network cut at a stage's frontier gives what the full masked
 * network gives for every genome that differs from the held one only in that stage's bits,
 * and it runs less of the network the later the stage is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, Scorer, decodeModel, ensureNonEmpty, maxAbsDiff, prepareSearch, randomGenome, scorerInit, stageNetsOf } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { cutForStage } from '../../src/search/stage-cut.js';
import { buildModel } from '../../models/index.js';

const cases: [string, Model][] = [
  ['resnet20', buildModel('resnet20', { seed: 1, width: 0.5 })],
  ['mobilenetv2', buildModel('mobilenetv2', { seed: 3, width: 0.5 })],
];

for (const [name, model] of cases) {
  test(`${name}: each stage's cut network scores its genomes as the full network does`, async () => {
    const p = prepareSearch(model, { fitness: 'wca' });
    const stageNets = stageNetsOf(p);
    assert.ok(p.space.stages.length >= 3, `${name} has ${p.space.stages.length} stages`);
    assert.equal(stageNets.length, p.space.stages.length);
    const fractions = stageNets.map((n) => n?.nodeFraction ?? 1);
    // Every stage but the last runs without the later stages' mask Muls.
    for (const st of p.space.stages.slice(0, -1)) assert.ok(stageNets[st.index]!.ones.length > 0, `${name} stage ${st.index} keeps every later mask`);
    assert.deepEqual(stageNets.at(-1)!.ones, []);
    assert.ok(fractions[fractions.length - 1]! < 0.5, `the last stage runs ${fractions.at(-1)} of the nodes`);
    for (let i = 1; i < fractions.length; i++)
      assert.ok(fractions[i]! <= fractions[i - 1]!, `stage ${i} runs more than stage ${i - 1}: ${fractions.join(', ')}`);
    const rng = new Rng(5);
    const dims = [4, ...(model.graph.inputs[0]!.shape!.slice(1) as number[])];
    const x = rng.uniformArray(dims.reduce((a, b) => a * b, 1));
    const init = scorerInit(p, x, dims, 'wca');
    const full = await Scorer.open(init);
    const cut = await Scorer.open({ ...init, stages: stageNets });
    try {
      const teacher = await full.summary(new Uint8Array(p.space.length).fill(1));
      full.setTeacher(teacher);
      cut.setTeacher(teacher);
      // The held genome as GGS has it: the stages before pruned, the stages after all ones.
      const pruned = randomGenome(p.space.length, 0.6, rng);
      for (const st of p.space.stages) ensureNonEmpty(pruned, st, p.space, rng);
      for (const st of p.space.stages) {
        const held = new Uint8Array(p.space.length).fill(1);
        for (const earlier of p.space.stages.slice(0, st.index)) for (const b of earlier.bits) held[b] = pruned[b]!;
        await cut.useStage(st.index, held);
        assert.equal(cut.cutActive, stageNets[st.index] !== undefined);
        for (let k = 0; k < 2; k++) {
          const g = held.slice();
          for (const b of st.bits) g[b] = rng.next() < 0.5 ? 1 : 0;
          ensureNonEmpty(g, st, p.space, rng);
          const want = await full.feature(g);
          const got = await cut.feature(g);
          const d = maxAbsDiff(want, got);
          assert.ok(d.scale > 0 && d.maxAbs <= 1e-5 * d.scale, `${name} stage ${st.index}: ${d.maxAbs} vs scale ${d.scale}`);
          assert.ok(Math.abs((await full.fitness(g)) - (await cut.fitness(g))) < 1e-6);
        }
      }
      // A held genome with a later stage pruned: a cut that took that stage's masks out as
      // ones is not used (the full network scores instead).
      if (stageNets[0]!.ones.length > 0) {
        await cut.useStage(0, pruned);
        assert.equal(cut.cutActive, false);
        assert.equal(maxAbsDiff(await full.feature(pruned), await cut.feature(pruned)).maxAbs, 0);
      }
      // Back to the full network.
      await cut.useStage(undefined, pruned);
      assert.equal(cut.cutActive, false);
    } finally {
      await full.release();
      await cut.release();
    }
  });
}

test('the cut of the last stage reads the frontier, not the data input, and names a missing output', () => {
  const model = buildModel('resnet20', { seed: 1, width: 0.5 });
  const p = prepareSearch(model);
  const stageNets = stageNetsOf(p);
  const last = p.space.stages[p.space.stages.length - 1]!;
  const net = stageNets[last.index]!;
  assert.ok(net.frontier.length > 0);
  const inputs = decodeModel(net.cut)
    .graph.inputs.filter((v) => !v.initializer)
    .map((v) => v.name);
  assert.ok(!inputs.includes(p.dataInput), 'the cut does not read the images');
  for (const f of net.frontier) assert.ok(inputs.includes(f));
  assert.throws(
    () => cutForStage(p.masked, p.dataInput, new Set([p.scorerMasks[0]!.name]), ['no-such-value']),
    (e: Error & { code?: string }) => e.code === 'MISSING_VALUE',
  );
});
