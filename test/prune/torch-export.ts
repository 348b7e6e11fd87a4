/**
 * Real exporter output: torchvision models written by torch.onnx.export (scripts/
 * export-torch.py, Debian python3-torch + python3-torchvision in Debian's /usr/bin/python3),
 * BatchNorm kept and folded, pruned to half the FLOPs and checked by masked equivalence.
 * Two test files share this (so their exports run side by side); each skips, with the
 * reason, where those packages are not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pruneModel, readModel, verifyMaskedEquivalence } from '../../src/index.js';
import { ROOT, tempDir } from '../helpers.js';

const PY = '/usr/bin/python3';

/** Why the torch tests cannot run here, or false. */
export function torchSkipReason(): string | false {
  const probe = existsSync(PY) ? spawnSync(PY, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }) : undefined;
  return !probe || probe.status !== 0
    ? 'Debian python3-torch / python3-torchvision are not installed in /usr/bin/python3 (apt-get install -y python3-torch python3-torchvision)'
    : false;
}

/** Registers the export test and one prune-and-verify test per model; returns the export folder. */
export function torchExportTests(models: readonly string[]): { dir: string; skip: string | false } {
  const skip = torchSkipReason();
  const dir = skip ? '' : tempDir('sculpt-torch-');
  test(`export ${models.join(', ')} with torch.onnx.export (BN kept and folded)`, { skip }, () => {
    const r = spawnSync(PY, [join(ROOT, 'scripts/export-torch.py'), '--out-dir', dir, '--models', models.join(','), '--size', '32'], {
      encoding: 'utf8',
      timeout: 240_000,
    });
    assert.equal(r.status, 0, r.stderr);
    for (const m of models) for (const v of ['bnfold', 'bnkept']) assert.ok(existsSync(join(dir, `${m}.${v}.onnx`)), `${m}.${v}`);
  });
  for (const name of models) {
    test(`${name}: prune to half the FLOPs and verify, BN kept and folded`, { skip }, async () => {
      const flops: number[] = [];
      const bn: number[] = [];
      for (const variant of ['bnkept', 'bnfold']) {
        const path = join(dir, `${name}.${variant}.onnx`);
        const m = readModel(path);
        bn.push(m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length);
        const out = pruneModel(m, { flopsTarget: 0.5, criterion: 'l1', roundTo: 8 });
        const v = await verifyMaskedEquivalence(readModel(path), m, out.applied.pruned, { untied: out.report.untied, trials: 1, batch: 1 });
        assert.ok(v.ok, `${variant}: worst relative difference ${v.worst}`);
        assert.ok(out.applied.channelsRemoved > 0);
        flops.push(out.report.summary.flopsRatio);
        const frozen = out.analysis.groups
          .filter((g) => g.frozen.length > 0)
          .flatMap((g) => g.frozen)
          .join('\n');
        if (name.startsWith('shufflenet')) {
          assert.match(frozen, /Reshape splits this axis/, 'channel shuffle is frozen');
          assert.ok(out.report.summary.flopsRatio < 0.9);
        } else {
          assert.ok(out.report.summary.flopsRatio <= 0.5 && out.report.summary.flopsRatio > 0.35, `${variant}: FLOPs ratio ${out.report.summary.flopsRatio}`);
          // Only the input and the classifier output are frozen.
          assert.equal(out.analysis.groups.filter((g) => g.frozen.length > 0).length, 2, frozen);
        }
      }
      // Eval-mode export folds every BatchNorm that follows a conv (DenseNet's pre-activation ones stay).
      if (!name.startsWith('squeezenet')) assert.ok(bn[1]! < bn[0]!, `BN nodes kept ${bn[0]}, folded ${bn[1]}`);
      // BN kept or folded, the same network prunes to the same FLOPs.
      assert.ok(Math.abs(flops[0]! - flops[1]!) < 1e-9, `${flops}`);
    });
  }
  return { dir, skip };
}
