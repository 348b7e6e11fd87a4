/**
 * `tissue --groups auto` on real exporter output (issue 16): torch.onnx.export of ResNet-18
 * and of a grouped-conv net (ResNeXt-26 32x4d), BatchNorm at its initial values, so the
 * folded biases are de-duplicated into shared initializers read through Identity nodes.
 * With `--flops-target 0.5` the rewrite keeps ≤ 55% of the FLOPs, counted independently of
 * sculpt's cost analysis (from onnxruntime's own output shapes and the weight shapes), and
 * every stacked layer equals its split → unit → concat reference in onnxruntime.
 * Also: units never cost more than the layer they replace (MobileNetV2), and a target that
 * cannot be met fails naming the blocking layers, or is accepted with --best-effort.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, constantData, decodeModel, encodeModel, readModel, runModel, runPasses, saveModel, verifyModel } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { tissuePass } from '../../passes/tissue.js';
import type { TissuePassOptions, TissueReport } from '../../passes/tissue.js';
import { torchSkipReason } from '../prune/torch-export.js';
import { ROOT, runCli, seededFeeds, tempDir } from '../helpers.js';
import { checkAgainstUnits } from './reference.js';

/**
 * MACs of every Conv, Gemm and MatMul at batch 1, from onnxruntime's output shapes (all node
 * outputs exposed on an untouched copy) and the weights' stored shapes: no sculpt shape
 * inference or cost analysis involved.
 */
export async function independentMacs(model: Model): Promise<number> {
  const m = decodeModel(encodeModel(model));
  const names = m.graph.nodes.filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType)).flatMap((n) => [n.outputs[0]!.name, n.inputs[0]!.name]);
  const got = await runModel(m, seededFeeds(m, 1, 1), [...new Set(names)]);
  const dims = (name: string): number[] => got[name]!.dims.map(Number);
  const weightDims = (n: (typeof m.graph.nodes)[number], i: number): number[] => {
    let v = n.inputs[i]!;
    while (!constantData(v) && v.producer?.opType === 'Identity') v = v.producer.inputs[0]!;
    return constantData(v)!.shape;
  };
  let macs = 0;
  for (const n of m.graph.nodes) {
    if (!['Conv', 'Gemm', 'MatMul'].includes(n.opType)) continue;
    const out = dims(n.outputs[0]!.name).reduce((a, b) => a * b, 1);
    if (n.opType === 'Conv')
      macs +=
        out *
        weightDims(n, 1)
          .slice(1)
          .reduce((a, b) => a * b, 1);
    else {
      const x = dims(n.inputs[0]!.name);
      macs += out * x[x.length - 1]!;
    }
  }
  return macs;
}

const skip = torchSkipReason();
const dir = skip ? '' : tempDir('sculpt-tissue-torch-');
const NETS = ['resnet18', 'resnext26_32x4d'];

test('export ResNet-18 and ResNeXt-26 with torch.onnx.export, BatchNorm at its initial values (shared biases through Identity)', { skip }, () => {
  const r = spawnSync(
    '/usr/bin/python3',
    [join(ROOT, 'scripts/export-torch.py'), '--out-dir', dir, '--models', NETS.join(','), '--size', '32', '--variants', 'bninit'],
    { encoding: 'utf8', timeout: 300_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  for (const n of NETS) {
    const m = readModel(join(dir, `${n}.bninit.onnx`));
    assert.ok(m.graph.nodes.filter((x) => x.opType === 'Identity').length >= 10, `${n}: the exporter shares biases through Identity nodes`);
  }
});

for (const name of NETS) {
  test(`${name}: --groups auto --flops-target 0.5 keeps <= 55% of the FLOPs (counted independently); every stacked layer = its units`, { skip }, async () => {
    const path = join(dir, `${name}.bninit.onnx`);
    const model = readModel(path);
    const opts: TissuePassOptions = { spec: { kind: 'groups', groups: 'auto' }, flopsTarget: 0.5, init: 'he' };
    const report: TissueReport | undefined = runPasses(model, [tissuePass(opts)]).passes[0]!.report as TissueReport | undefined;
    verifyModel(model);
    const r = report!;
    assert.equal(r.auto!.met, true);
    // Shared, Identity-fed biases no longer block layers.
    assert.ok(!r.skipped.some((s) => /not a float32 constant/.test(s.reason)), JSON.stringify(r.skipped));
    if (name.startsWith('resnext')) assert.ok(r.skipped.filter((s) => /group=32/.test(s.reason)).length === 8, 'grouped 3x3 convs stay normal');
    for (const l of r.layers) {
      assert.ok(l.matches, `${l.name}: analytic = counted`);
      assert.ok(l.stacked.macs < l.original.macs && l.stacked.params <= l.original.params, `${l.name}: units cheaper than the layer`);
      for (const run of l.runs)
        assert.ok(
          run.unit
            .split(':')
            .slice(0, 3)
            .every((c) => Number(c) >= 16),
          `${l.name}: ${run.unit} keeps >= 16 channels per group`,
        );
    }
    const before = await independentMacs(readModel(path));
    const after = await independentMacs(model);
    assert.ok(after / before <= 0.55, `${name}: ${after} / ${before} = ${(after / before).toFixed(3)}`);
    assert.ok(Math.abs(after / before - r.after.macs / r.before.macs) < 1e-9, 'sculpt counts the same');
    const feeds = seededFeeds(model, 2, 1);
    for (const c of await checkAgainstUnits(model, r, feeds))
      assert.ok(c.maxAbs <= 1e-4 * Math.max(1, c.scale), `${name} ${c.name}: ${c.maxAbs} (scale ${c.scale})`);
    const y = await runModel(model, feeds);
    assert.deepEqual(Object.values(y)[0]!.dims, [1, 10]);
  });
}

test('units never cost more than the layer: MobileNetV2 expansions stay normal, with the reason', () => {
  const m = buildModel('mobilenetv2', { seed: 1 });
  let report: TissueReport | undefined;
  runPasses(m, [tissuePass()], {
    options: {
      tissue: {
        spec: { kind: 'groups', groups: 2 },
        exclude: ['*project*'],
        init: 'he',
        onReport: (r: TissueReport) => {
          report = r;
        },
      },
    },
  });
  const r = report!;
  assert.ok(r.layers.length > 0);
  for (const l of r.layers)
    assert.ok(l.stacked.macs < l.original.macs && l.stacked.params <= l.original.params, `${l.name}: ${l.stacked.macs} vs ${l.original.macs}`);
  // A 1x1 expansion C → 6C as 2 units costs (1 + 6)/2 = 350% of the layer: left normal, saying so.
  assert.ok(
    r.skipped.some((s) => /expand/.test(s.name) && /units would cost 350\.0% of the layer's MACs/.test(s.reason)),
    JSON.stringify(r.skipped.filter((s) => /expand/.test(s.name))),
  );
});

test('groups auto that cannot meet the target: TISSUE_TARGET_NOT_MET naming the blocking layers; best effort writes the closest plan', () => {
  const m = buildModel('mobilenetv2', { seed: 1 });
  assert.throws(
    () => runPasses(m, [tissuePass()], { options: { tissue: { spec: { kind: 'groups', groups: 'auto' }, flopsTarget: 0.2, init: 'he' } } }),
    (e: unknown) => {
      assert.ok(e instanceof CompilerError, String(e));
      const err = (e as CompilerError).cause instanceof CompilerError ? ((e as CompilerError).cause as CompilerError) : (e as CompilerError);
      assert.equal(err.code, 'TISSUE_TARGET_NOT_MET');
      assert.match(err.message, /blocking: .*% of MACs/);
      return true;
    },
  );
  const d = tempDir('sculpt-tissue-auto-');
  const input = join(d, 'mnv2.onnx');
  saveModel(buildModel('mobilenetv2', { seed: 1 }), input);
  const out = join(d, 't.onnx');
  const fail = runCli(['tissue', input, '-o', out, '--groups', 'auto', '--flops-target', '0.2', '--no-validate']);
  assert.equal(fail.code, 1, fail.stderr);
  assert.match(fail.stderr, /error TISSUE_TARGET_NOT_MET/);
  assert.match(fail.stderr, /--best-effort/);
  assert.ok(!existsSync(out), 'nothing written');
  const ok = runCli(['tissue', input, '-o', out, '--groups', 'auto', '--flops-target', '0.2', '--best-effort', '--no-validate', '--init', 'he', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const s = JSON.parse(ok.stdout);
  assert.equal(s.tissue.auto.met, false);
  assert.ok(s.tissue.auto.blocking.length > 0 && s.tissue.auto.ratio > 0.2);
  assert.ok(s.remarks.some((x: { message: string }) => /--best-effort: kept/.test(x.message)));
  assert.ok(existsSync(out));
});
