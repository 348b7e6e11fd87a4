/**
 * The analysis manager and the rule that analyses never write the IR: shapes, cost and
 * channel groups are side tables, cached per model revision, dropped on mutation unless a
 * pass declares them preserved.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AnalysisManager,
  DataType,
  GraphBuilder,
  Node,
  Tensor,
  Value,
  analyzeChannelGroups,
  attrInt,
  attrInts,
  channelGroupsAnalysis,
  computeCost,
  costAnalysis,
  inferShapes,
  planTissue,
  printModel,
  runPasses,
  scanTissueLayers,
  shapesAnalysis,
} from '../../src/index.js';
import type { Model, Pass } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { inferShapesPass } from '../../passes/infer-shapes.js';
import { construct } from '../prune/graphs.js';

/** A conv net whose output declares no shape, as many exporters write it. */
function undeclared(): Model {
  return construct('residual').build(1, true);
}

describe('analyses never write the IR', () => {
  it('inferShapes, computeCost, channel groups, the tissue scan and plan leave the printed IR and the revision unchanged', () => {
    const m = undeclared();
    const before = printModel(m);
    const rev = m.revision;
    assert.match(before, /-> \(%logits: float\)/, 'the fixture declares no output shape');
    const r = inferShapes(m, { inputShapes: { input: [2, 3, 8, 8] } });
    assert.deepEqual(r.shapes.shape(m.graph.outputs[0]!), [2, 5]);
    computeCost(m);
    computeCost(m, { inputShapes: { input: [1, 3, 8, 8] } });
    analyzeChannelGroups(m);
    scanTissueLayers(m, r.shapes);
    planTissue(m, { spec: { kind: 'groups', groups: 2 } });
    const am = new AnalysisManager(m, { inputShapes: { input: [1, 3, 8, 8] } });
    am.get(costAnalysis);
    am.get(channelGroupsAnalysis);
    assert.equal(printModel(m), before);
    assert.equal(m.revision, rev);
    // Value types are what the file declared: the input keeps its symbolic batch.
    assert.deepEqual(m.graph.inputs[0]!.shape, ['N', 3, 8, 8]);
    assert.equal(m.graph.nodes[0]!.outputs[0]!.type, undefined);
  });

  it('the infer-shapes pass is the one that writes types (outputs and value_info), keeping symbolic dims', () => {
    const m = undeclared();
    const r = runPasses(m, [inferShapesPass()]);
    assert.equal(r.changed, true);
    assert.match(printModel(m), /-> \(%logits: float\[N,5\]\)/);
    assert.deepEqual(m.graph.nodes[0]!.outputs[0]!.shape, ['N', 16, 8, 8]);
    assert.ok(m.graph.valueInfos.length > 0);
    // Running it again changes nothing.
    assert.equal(runPasses(m, [inferShapesPass()]).changed, false);
  });
});

describe('AnalysisManager', () => {
  it('serves cached results while the model is unchanged (cost reuses the cached shapes)', () => {
    const m = buildModel('resnet20', { seed: 1, width: 0.25 });
    const am = new AnalysisManager(m);
    const s1 = am.get(shapesAnalysis);
    const c1 = am.get(costAnalysis);
    assert.equal(am.stats.misses, 2);
    assert.equal(am.stats.hits, 1, 'cost asked for the cached shapes');
    assert.equal(am.get(costAnalysis), c1);
    assert.equal(am.get(shapesAnalysis), s1);
    const g = am.get(channelGroupsAnalysis);
    assert.equal(g.shapes, s1.shapes, 'channel groups read the same shape table');
    assert.equal(am.stats.misses, 3);
  });

  it('every IR mutation bumps the revision and the next get recomputes', () => {
    const m = buildModel('resnet20', { seed: 1, width: 0.25 });
    const am = new AnalysisManager(m);
    const conv = m.graph.nodes.find((n) => n.opType === 'Conv')!;
    const mutations: [string, () => void][] = [
      ['setAttr', () => conv.setAttr(attrInts('dilations', [1, 1]))],
      ['removeAttr', () => conv.removeAttr('dilations')],
      ['setInput', () => conv.setInput(0, conv.inputs[0]!)],
      [
        'value type',
        () => {
          m.graph.outputs[0]!.setTensorType(DataType.FLOAT, ['N', 10]);
        },
      ],
      [
        'addInitializer',
        () => {
          const v = new Value('extra');
          m.graph.addInitializer(v, Tensor.fromFloat32('extra', [1], new Float32Array(1)));
        },
      ],
      ['removeInitializer', () => m.graph.removeInitializer(m.graph.initializers.find((v) => v.name === 'extra')!)],
      [
        'appendNode',
        () => {
          m.graph.appendNode(new Node({ opType: 'Identity', inputs: [m.graph.outputs[0]!], outputs: [new Value('dead')] }));
        },
      ],
      ['removeNode', () => m.graph.removeNode(m.graph.nodes[m.graph.nodes.length - 1]!)],
    ];
    for (const [what, mutate] of mutations) {
      const c = am.get(costAnalysis);
      const rev = m.revision;
      mutate();
      assert.ok(m.revision > rev, `${what} bumps the revision`);
      assert.equal(am.cached(costAnalysis), undefined, `${what} invalidates`);
      assert.notEqual(am.get(costAnalysis), c, `${what}: recomputed`);
    }
  });

  it('a pass keeps the analyses it declares preserved and drops the others; an unchanged pass keeps all', () => {
    const m = buildModel('resnet20', { seed: 1, width: 0.25 });
    const am = new AnalysisManager(m);
    const shapes = am.get(shapesAnalysis);
    const cost = am.get(costAnalysis);
    const groups = am.get(channelGroupsAnalysis);
    const touch = (preserved: string[]): Pass => ({
      name: 'touch',
      summary: 'sets an attribute nothing reads',
      run: (model) => {
        model.graph.nodes[0]!.setAttr(attrInt('sculpt_test', 1));
        return { changed: true, preserved };
      },
    });
    runPasses(m, [touch(['shapes', 'channel-groups'])], { analyses: am });
    assert.equal(am.cached(shapesAnalysis), shapes);
    assert.equal(am.cached(channelGroupsAnalysis), groups);
    assert.equal(am.cached(costAnalysis), undefined);
    const nothing: Pass = { name: 'nothing', summary: 'changes nothing', run: () => ({ changed: false }) };
    const cost2 = am.get(costAnalysis);
    runPasses(m, [nothing], { analyses: am });
    assert.equal(am.cached(costAnalysis), cost2);
    assert.notEqual(cost2, cost);
    runPasses(m, [touch([])], { analyses: am });
    assert.equal(am.cached(shapesAnalysis), undefined);
    assert.equal(am.cached(channelGroupsAnalysis), undefined);
  });

  it('passes ask the manager through their context (prune-channels reuses the cached channel groups)', async () => {
    const { pruneChannelsPass } = await import('../../passes/prune-channels.js');
    const m = construct('residual').build(1, true);
    const am = new AnalysisManager(m);
    const a = am.get(channelGroupsAnalysis);
    const g = a.groups.find((x) => x.frozen.length === 0 && x.size >= 4)!;
    const misses = am.stats.misses;
    runPasses(m, [pruneChannelsPass()], { analyses: am, options: { keep: new Map([[g.id, [0, 1]]]) } });
    assert.equal(am.stats.misses, misses, 'no analysis recomputed inside the pass');
    assert.equal(am.cached(channelGroupsAnalysis), undefined, 'pruning drops the groups');
  });
});

describe('builder check', () => {
  it('GraphBuilder models keep declared output types', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 4]);
    b.output(b.op('Relu', [x]));
    computeCost(b.model);
    assert.equal(b.model.graph.outputs[0]!.shape, undefined);
  });
});
