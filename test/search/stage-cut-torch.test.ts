/**
 * The stage cut on real exporter output: torchvision models written by torch.onnx.export
 * (residual adds, dense concats, squeeze-excite, BatchNorm kept and folded). For every GGS
 * stage, a genome of that stage scores on the cut network what it scores on the full one.
 * Skips, with the reason, where Debian's python3-torch / torchvision are not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Rng, Scorer, ensureNonEmpty, maxAbsDiff, prepareSearch, randomGenome, readModel, scorerInit, stageNetsOf } from '../../src/index.js';
import { ROOT, tempDir } from '../helpers.js';
import { torchSkipReason } from '../prune/torch-export.js';

const skip = torchSkipReason();
const models = ['resnet18', 'densenet121', 'efficientnet_b0'];

test(`stage cut on torch.onnx exports of ${models.join(', ')}: every stage's cut scores as the full network`, { skip, timeout: 600_000 }, async () => {
  const dir = tempDir('sculpt-cut-torch-');
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'scripts/export-torch.py'), '--out-dir', dir, '--models', models.join(','), '--size', '32'], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stderr);
  for (const name of models) {
    for (const variant of ['bnkept', 'bnfold']) {
      const model = readModel(join(dir, `${name}.${variant}.onnx`));
      const p = prepareSearch(model, { fitness: 'wca' });
      const stageNets = stageNetsOf(p);
      assert.ok(p.space.stages.length >= 3, `${name}: ${p.space.stages.length} stages`);
      const rng = new Rng(5);
      const dims = [2, ...(model.graph.inputs.find((v) => !v.initializer)!.shape!.slice(1) as number[])];
      const x = rng.uniformArray(dims.reduce((a, b) => a * b, 1));
      const init = scorerInit(p, x, dims, 'wca');
      const full = await Scorer.open(init);
      const cut = await Scorer.open({ ...init, stages: stageNets });
      try {
        const pruned = randomGenome(p.space.length, 0.6, rng);
        for (const st of p.space.stages) ensureNonEmpty(pruned, st, p.space, rng);
        let cuts = 0;
        for (const st of p.space.stages) {
          // GGS: the stages before pruned, the stages after all ones.
          const held = new Uint8Array(p.space.length).fill(1);
          for (const e of p.space.stages.slice(0, st.index)) for (const b of e.bits) held[b] = pruned[b]!;
          await cut.useStage(st.index, held);
          if (cut.cutActive) cuts++;
          const g = held.slice();
          for (const b of st.bits) g[b] = rng.next() < 0.5 ? 1 : 0;
          ensureNonEmpty(g, st, p.space, rng);
          const d = maxAbsDiff(await full.feature(g), await cut.feature(g));
          assert.ok(d.scale > 0 && d.maxAbs <= 1e-5 * d.scale, `${name}.${variant} stage ${st.index}: ${d.maxAbs} vs scale ${d.scale}`);
        }
        assert.equal(cuts, stageNets.filter((n) => n !== undefined).length, `${name}.${variant}: every stage with a cut uses it`);
        assert.ok(cuts >= p.space.stages.length - 1, `${name}.${variant}: ${cuts} cuts`);
      } finally {
        await full.release();
        await cut.release();
      }
    }
  }
});
