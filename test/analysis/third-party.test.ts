/**
 * Issue 11, must show: a third-party-style conv net — opset 9, input float[N,3,H,W] with N, H,
 * W symbolic, every weight a Constant node — made here from the reference ResNet-20, through
 * inspect → prune --flops-target → validate → diff on the command line. Cost is checked
 * against an independent count at the given shape (onnxruntime's output shapes × the
 * Constant tensors' dims), the pruned file keeps its symbolic dims, and masked equivalence
 * holds in onnxruntime at another input size.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  AnalysisManager,
  CompilerError,
  Node,
  Tensor,
  Value,
  computeCost,
  costAnalysis,
  decodeModel,
  encodeModel,
  pruneModel,
  readModel,
  requireExactCost,
  resolveTensor,
  runModel,
  saveModel,
  verifyMaskedEquivalence,
} from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { runCli, tempDir } from '../helpers.js';
import { initializersToConstants, thirdPartyModel } from './third-party.js';

const SHAPE = [1, 3, 32, 32];

/** MACs and params counted without sculpt's shape inference or cost rules. */
async function independentCount(m: Model, shape: number[]): Promise<{ macs: number; params: number }> {
  const layers = m.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm');
  const names = layers.map((n) => n.outputs[0]!.name);
  const x = m.graph.inputs[0]!;
  const got = await runModel(m, { [x.name]: { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), dims: shape } }, names);
  const constant = (n: Node, i: number): Tensor => {
    const p = n.inputs[i]!.producer!;
    assert.equal(p.opType, 'Constant');
    return p.attrTensor('value')!;
  };
  let macs = 0;
  for (const n of layers) {
    const out = got[n.outputs[0]!.name]!.dims.reduce((a, b) => a * b, 1);
    const w = constant(n, 1).shape;
    macs += n.opType === 'Conv' ? out * w.slice(1).reduce((a, b) => a * b, 1) : out * (n.attrInt('transB', 0) ? w[1]! : w[0]!);
  }
  // Params: every float Constant except BatchNormalization's running mean and variance.
  const stats = new Set(m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').flatMap((n) => [n.inputs[3]!, n.inputs[4]!]));
  let params = 0;
  for (const n of m.graph.nodes) if (n.opType === 'Constant' && !stats.has(n.outputs[0]!)) params += n.attrTensor('value')!.size;
  return { macs, params };
}

describe('third-party model: Constant-node weights and symbolic N/H/W', () => {
  const dir = tempDir();
  const src = join(dir, 'tp.onnx');
  const out = join(dir, 'tp-pruned.onnx');
  const report = join(dir, 'prune.json');
  let model: Model;
  before(() => {
    model = thirdPartyModel('resnet20', { seed: 1, opset: 9, width: 0.5 });
    saveModel(model, src);
  });

  it('the fixture is what it claims: opset 9, no initializers, input [N,3,H,W]', () => {
    const m = readModel(src);
    assert.equal(m.opset(''), 9);
    assert.equal(m.graph.initializers.length, 0);
    assert.deepEqual(m.graph.inputs[0]!.shape, ['N', 3, 'H', 'W']);
  });

  it('Constant-node weights count as params exactly as initializers do', () => {
    const init = buildModel('resnet20', { seed: 1, opset: 9, width: 0.5 });
    const a = computeCost(init, { inputShapes: { input: SHAPE } });
    const b = computeCost(model, { inputShapes: { input: SHAPE } });
    assert.ok(a.total.params > 0);
    assert.deepEqual(b.total, a.total);
    assert.equal(b.exact, true);
  });

  it('inspect without --input-shape: a loud lower bound naming H and W (never 0 params, never a conv at 0 MACs)', () => {
    const r = runCli(['inspect', src, '--json', '--layers']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      lowerBound: boolean;
      unknown: string[];
      totals: { params: number; macs: number };
      layers: { op: string; macs: number; incomplete: string | null }[];
    };
    assert.equal(j.lowerBound, true);
    assert.deepEqual(j.unknown, ['H', 'W']);
    assert.ok(j.totals.params > 60_000);
    for (const l of j.layers.filter((x) => x.op === 'Conv')) {
      assert.ok(l.macs > 0, 'a conv with an unknown output still counts its filters');
      assert.ok(l.incomplete);
    }
    const text = runCli(['inspect', src]);
    assert.match(text.stdout, /MACs >= [\d.]+K, unknown: dims H, W are symbolic; give --input-shape/);
  });

  it('inspect --input-shape: exact, and equal to an independent count at that shape', async () => {
    const r = runCli(['inspect', src, '--json', '--input-shape', SHAPE.join(',')]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      lowerBound: boolean;
      unknown: string[];
      totals: { params: number; macs: number; flops: number };
      inputs: { shape: unknown }[];
    };
    const ind = await independentCount(readModel(src), SHAPE);
    assert.equal(j.lowerBound, false);
    assert.deepEqual(j.unknown, []);
    assert.equal(j.totals.macs, ind.macs);
    assert.equal(j.totals.flops, 2 * ind.macs);
    assert.equal(j.totals.params, ind.params);
    assert.deepEqual(j.inputs[0]!.shape, ['N', 3, 'H', 'W'], 'the report shows what the file declares');
  });

  it('prune --flops-target without a size is refused with COST_UNKNOWN; nothing is written', () => {
    const r = runCli(['prune', src, '-o', out, '--flops-target', '0.5']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /COST_UNKNOWN/);
    assert.match(r.stderr, /--input-shape/);
    assert.throws(() => readFileSync(out));
    assert.throws(
      () => requireExactCost(new AnalysisManager(model).get(costAnalysis), '--flops-target'),
      (e: unknown) => e instanceof CompilerError && e.code === 'COST_UNKNOWN',
    );
  });

  it('prune --flops-target --input-shape: counted at the size, output keeps N/H/W and Constant weights, masked-equivalent', async () => {
    const r = runCli([
      'prune',
      src,
      '-o',
      out,
      '--flops-target',
      '0.5',
      '--round-to',
      '1',
      '--input-shape',
      SHAPE.join(','),
      '--verify',
      '--report',
      report,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as {
      summary: { flops: [number, number]; flopsRatio: number; params: [number, number] };
      remarks: string[];
      verify: { ok: boolean };
      pruned: { name: string; axis: number; removed: number[] }[];
      untied: never[];
    };
    assert.equal(rep.verify.ok, true);
    const ind = await independentCount(readModel(src), SHAPE);
    assert.equal(rep.summary.flops[0], 2 * ind.macs);
    const pruned = readModel(out);
    const after = await independentCount(pruned, SHAPE);
    assert.equal(rep.summary.flops[1], 2 * after.macs, 'the reported FLOPs after are the real ones');
    assert.equal(rep.summary.params[1], after.params);
    assert.ok(Math.abs(rep.summary.flopsRatio - 0.5) < 0.05, `FLOPs ratio ${rep.summary.flopsRatio}`);
    assert.ok(
      rep.remarks.some((x) => /^--flops-target 0\.5: kept \d+\.\d% of FLOPs/.test(x)),
      rep.remarks.join('\n'),
    );
    assert.deepEqual(pruned.graph.inputs[0]!.shape, ['N', 3, 'H', 'W']);
    assert.deepEqual(pruned.graph.outputs[0]!.shape, ['N', 10]);
    assert.equal(pruned.graph.initializers.length, 0, 'weights stay Constant nodes');
    // Masked equivalence at another size and batch: the symbolic dims really are free.
    const v = await verifyMaskedEquivalence(readModel(src), pruned, rep.pruned, { inputShapes: { input: [2, 3, 40, 24] }, trials: 1 });
    assert.equal(v.ok, true, `worst ${v.worst}`);
  });

  it('validate and diff against the original: exact FLOPs at the given size, no Constant rows, only real changes', () => {
    const v = runCli(['validate', out, '--baseline', src, '--input-shape', SHAPE.join(','), '--json']);
    assert.equal(v.code, 0, v.stderr);
    const vr = JSON.parse(v.stdout) as {
      model: { costExact: boolean; flops: number };
      baseline: { flops: number };
      comparison: { costExact: boolean; flops: { ratio: number } };
    };
    const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { flops: [number, number]; flopsRatio: number } };
    assert.equal(vr.comparison.costExact, true);
    assert.equal(vr.baseline.flops, rep.summary.flops[0]);
    assert.equal(vr.model.flops, rep.summary.flops[1]);
    const d = runCli(['diff', src, out, '--json', '--input-shape', SHAPE.join(',')]);
    assert.equal(d.code, 0, d.stderr);
    const dj = JSON.parse(d.stdout) as {
      ratios: { flops: number };
      counts: Record<string, number>;
      entries: { status: string; before: { op: string }[]; after: { op: string }[]; changes: string[] }[];
    };
    assert.ok(Math.abs(dj.ratios.flops - rep.summary.flopsRatio) < 1e-12);
    assert.equal(dj.counts.removed, 0);
    assert.equal(dj.counts.added, 0);
    assert.ok(!dj.entries.some((e) => [...e.before, ...e.after].some((l) => l.op === 'Constant')), 'Constant nodes are weights, not rows');
    const changedOps = new Set(dj.entries.filter((e) => e.status === 'changed').map((e) => e.before[0]!.op));
    assert.deepEqual(
      [...changedOps].sort(),
      ['BatchNormalization', 'Conv', 'Gemm'].filter((o) => changedOps.has(o)),
    );
    for (const op of ['Relu', 'Add', 'GlobalAveragePool', 'Flatten']) assert.ok(!changedOps.has(op), `${op} is not changed`);
    // Without the size, the FLOPs ratio is unknown rather than a ratio of lower bounds.
    const d2 = JSON.parse(runCli(['diff', src, out, '--json']).stdout) as {
      ratios: { flops: number | null; params: number };
      a: { costExact: boolean; unknownDims: string[] };
    };
    assert.equal(d2.ratios.flops, null);
    assert.equal(d2.a.costExact, false);
    assert.deepEqual(d2.a.unknownDims, ['H', 'W']);
  });

  it('tissue: --groups auto without a size is COST_UNKNOWN; with --input-shape the rewrite keeps N/H/W and its validation counts exact FLOPs', () => {
    const t = join(dir, 'tp-tissue.onnx');
    const refused = runCli(['tissue', src, '-o', t, '--groups', 'auto', '--flops-target', '0.5']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /COST_UNKNOWN/);
    const r = runCli(['tissue', src, '-o', t, '--groups', '2', '--strategy', 'r', '--input-shape', SHAPE.join(','), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const m = readModel(t);
    assert.deepEqual(m.graph.inputs[0]!.shape, ['N', 3, 'H', 'W']);
    assert.deepEqual(m.graph.outputs[0]!.shape, ['N', 10]);
    const v = JSON.parse(runCli(['validate', t, '--baseline', src, '--input-shape', SHAPE.join(','), '--json']).stdout) as {
      comparison: { costExact: boolean; flops: { ratio: number } };
    };
    assert.equal(v.comparison.costExact, true);
    assert.ok(v.comparison.flops.ratio < 1);
  });

  it('the library path agrees: pruneModel with inputShapes refuses nothing and leaves the symbolic input alone', () => {
    const m = decodeModel(encodeModel(model));
    const o = pruneModel(m, { flopsTarget: 0.6, inputShapes: { input: SHAPE }, roundTo: 1 });
    assert.equal(o.before.exact, true);
    assert.ok(Math.abs(o.after.total.flops / o.before.total.flops - 0.6) < 0.02);
    assert.deepEqual(m.graph.inputs[0]!.shape, ['N', 3, 'H', 'W']);
    assert.throws(
      () => pruneModel(decodeModel(encodeModel(model)), { flopsTarget: 0.6 }),
      (e: unknown) => e instanceof CompilerError && e.code === 'COST_UNKNOWN',
    );
  });
});

describe('weights behind Identity', () => {
  it('an Identity of a Constant weight counts once, as a param', () => {
    const m = buildModel('lenet5', { seed: 1 });
    const ref = computeCost(m).total;
    initializersToConstants(m);
    // Route one weight through an Identity, as tied-weight exports do.
    const conv = m.graph.nodes.find((n) => n.opType === 'Conv')!;
    const w = conv.inputs[1]!;
    const idOut = new Value(`${w.name}_id`);
    m.graph.insertBefore(conv, new Node({ opType: 'Identity', inputs: [w], outputs: [idOut] }));
    conv.setInput(1, idOut);
    assert.equal(resolveTensor(idOut)?.via, 'identity');
    const c = computeCost(m).total;
    assert.equal(c.params, ref.params);
    assert.equal(c.macs, ref.macs);
    assert.equal(c.activationBytes, ref.activationBytes, 'constant data is not an activation');
  });
});
