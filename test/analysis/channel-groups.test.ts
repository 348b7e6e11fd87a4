/**
 * Channel groups: which channels are coupled, with what index maps, and what is frozen
 * and why — on tiny graphs for every construct, with property tests over random keep sets.
 */
import { inferInto } from '../helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as IR from '../../src/index.js';
import {
  Node,
  Rng,
  Value,
  analyzeChannelGroups,
  describeGroups,
  formatGroups,
  isGroupPrunable,
  removedPerSlot,
  untieSharedConstants,
} from '../../src/index.js';
import type { ChannelAnalysis, ChannelGroup, Model } from '../../src/index.js';
import { CONSTRUCTS, construct } from '../prune/graphs.js';

function analyse(m: Model): ChannelAnalysis {
  inferInto(m);
  return analyzeChannelGroups(m);
}

/** The group whose members include value `name` on `axis`. */
function groupOf(a: ChannelAnalysis, name: string, axis = 1): ChannelGroup[] {
  return a.groups.filter((g) => g.members.some((m) => m.slot.value.name === name && m.slot.axis === axis));
}

function memberNames(g: ChannelGroup): string[] {
  return g.members.map((m) => `${m.slot.value.name}@${m.slot.axis}`);
}

test('residual without projection: the Add couples the stem with the second conv; the inner conv is alone', () => {
  const a = analyse(construct('residual').build(1, true));
  const [skip] = groupOf(a, 'stem.weight', 0);
  assert.ok(skip);
  assert.equal(skip.size, 16);
  assert.ok(isGroupPrunable(skip));
  const names = memberNames(skip);
  for (const n of ['stem.weight@0', 'b1.conv2.weight@0', 'b1.conv1.weight@1', 'fc.weight@1']) assert.ok(names.includes(n), `${n} in ${names}`);
  // BN parameters of both convs are members (sliced with them).
  assert.equal(skip.members.filter((m) => m.slot.value.name.startsWith('bn.')).length, 8);
  const [inner] = groupOf(a, 'b1.conv1.weight', 0);
  assert.equal(inner!.size, 12);
  assert.ok(memberNames(inner!).includes('b1.conv2.weight@1'));
  assert.ok(!memberNames(inner!).includes('stem.weight@0'));
  // Every member maps group channel k to position k (identity coupling).
  for (const m of skip.members)
    assert.deepEqual(
      Array.from(m.indices),
      Array.from({ length: 16 }, (_, i) => i),
    );
});

test('residual with projection: the shortcut conv joins the second conv, the stem is free', () => {
  const a = analyse(construct('residual-projection').build(1, false));
  const [out] = groupOf(a, 'b1.conv2.weight', 0);
  assert.ok(memberNames(out!).includes('b1.down.weight@0'));
  assert.ok(!memberNames(out!).includes('stem.weight@0'));
  const [stem] = groupOf(a, 'stem.weight', 0);
  assert.ok(isGroupPrunable(stem!));
  assert.ok(memberNames(stem!).includes('b1.down.weight@1') && memberNames(stem!).includes('b1.conv1.weight@1'));
});

test('DenseNet concat: each layer is its own group, mapped to its range of every later concat', () => {
  const a = analyse(construct('densenet-concat').build(1, true));
  const g1 = groupOf(a, 'dense1.weight', 0)[0]!;
  assert.equal(g1.size, 6);
  // dense1's output sits at positions 14..19 of the second and third concat (8 + 6 before it).
  const cats = g1.members.filter((m) => m.slot.kind === 'activation' && m.slot.size > 6 && m.slot.value.producer?.opType === 'Concat');
  assert.equal(cats.length, 2);
  for (const m of cats) assert.deepEqual(Array.from(m.indices), [14, 15, 16, 17, 18, 19]);
  // The transition conv reads the last concat: its input columns 14..19 belong to dense1.
  const t = g1.members.find((m) => m.slot.value.name === 'transition.weight')!;
  assert.deepEqual(Array.from(t.indices), [14, 15, 16, 17, 18, 19]);
});

test('Inception and SqueezeNet concats: one group per branch', () => {
  const inc = analyse(construct('inception-concat').build(1, true));
  for (const [b, size] of [
    ['b1', 8],
    ['b2b', 10],
    ['b3b', 6],
    ['b4', 6],
  ] as const) {
    const g = groupOf(inc, `${b}.weight`, 0)[0]!;
    assert.equal(g.size, size);
    assert.ok(isGroupPrunable(g));
  }
  const sq = analyse(construct('squeezenet-fire').build(1, true));
  const e3 = groupOf(sq, 'fire0.e3.weight', 0)[0]!;
  const next = e3.members.find((m) => m.slot.value.name === 'fire1.squeeze.weight')!;
  assert.deepEqual(Array.from(next.indices), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  // The classifier conv feeds the graph output through pooling: frozen.
  const cls = groupOf(sq, 'classifier.weight', 0)[0]!;
  assert.ok(!isGroupPrunable(cls));
  assert.match(cls.frozen.join(' '), /graph output/);
});

test('depthwise conv passes channels through; a multiplier maps channel c to outputs 2c and 2c+1', () => {
  const a = analyse(construct('inverted-residual').build(1, true));
  const g = groupOf(a, 'expand.weight', 0)[0]!;
  assert.ok(memberNames(g).includes('dw.weight@0'));
  assert.equal(g.size, 48);
  const skip = groupOf(a, 'stem.weight', 0)[0]!;
  assert.ok(memberNames(skip).includes('project.weight@0'), 'the inverted residual Add couples stem and projection');
  const m = analyse(construct('depthwise-multiplier').build(1, false));
  const d = groupOf(m, 'stem.weight', 0)[0]!;
  const dw = d.members.find((x) => x.slot.value.name === 'dw2.weight')!;
  assert.equal(dw.per, 2);
  assert.deepEqual(Array.from(dw.indices.slice(0, 6)), [0, 1, 2, 3, 4, 5]);
  assert.equal(d.size, 12);
});

test('grouped conv: the same local channel of every group is one channel (equal count per group)', () => {
  const a = analyse(construct('grouped-conv').build(1, true));
  const stem = groupOf(a, 'stem.weight', 0)[0]!;
  assert.equal(stem.size, 4);
  assert.equal(stem.mult, 4);
  assert.equal(stem.width, 16);
  const w = stem.members.find((m) => m.slot.value.name === 'stem.weight')!;
  assert.deepEqual(Array.from(w.indices.slice(0, 4)), [0, 4, 8, 12], 'local channel 0 of the 4 input groups');
  const g = groupOf(a, 'gconv.weight', 0)[0]!;
  assert.equal(g.size, 6);
  assert.equal(g.mult, 4);
});

test('SE block: the [N,C,1,1] scale couples with its [N,C,H,W] input', () => {
  const a = analyse(construct('se-block').build(1, true));
  const g = groupOf(a, 'stem.weight', 0)[0]!;
  assert.ok(memberNames(g).includes('se.expand.weight@0'));
  assert.ok(memberNames(g).includes('se.reduce.weight@1'));
  assert.ok(isGroupPrunable(g));
  assert.ok(isGroupPrunable(groupOf(a, 'se.reduce.weight', 0)[0]!));
});

test('channel shuffle freezes the shuffled channels with the reason; the rest stays prunable', () => {
  const a = analyse(construct('channel-shuffle').build(1, true));
  const g1 = groupOf(a, 'g1.weight', 0)[0]!;
  assert.ok(!isGroupPrunable(g1));
  assert.match(g1.frozen.join(' '), /Reshape splits this axis/);
  assert.ok(isGroupPrunable(groupOf(a, 'g2.weight', 0)[0]!));
  assert.ok(isGroupPrunable(groupOf(a, 'stem.weight', 0)[0]!));
  const text = formatGroups(a, true);
  assert.match(text, /channel shuffle/);
});

test('Flatten → Gemm: channel c owns the 16 columns c·16 .. c·16+15 of the classifier weight', () => {
  const a = analyse(construct('flatten-gemm').build(1, true));
  const g = groupOf(a, 'conv.weight', 0)[0]!;
  const fcw = g.members.find((m) => m.slot.value.name === 'fc.weight' && m.slot.axis === 1)!;
  assert.equal(fcw.per, 16);
  assert.deepEqual(
    Array.from(fcw.indices.slice(16, 32)),
    Array.from({ length: 16 }, (_, i) => 16 + i),
  );
  const r = analyse(construct('reshape-matmul').build(1, false));
  const gr = groupOf(r, 'conv.weight', 0)[0]!;
  assert.equal(gr.members.find((m) => m.slot.value.name === 'mm.weight')!.per, 16);
  assert.ok(r.fixups.some((f) => f.node.opType === 'Reshape' && f.key === 'shape'));
});

test('graph inputs and outputs are frozen; Softmax over channels and an unknown op freeze what they touch', () => {
  const a = analyse(construct('residual').build(1, true));
  const inp = groupOf(a, 'input', 1)[0]!;
  assert.match(inp.frozen[0]!, /graph input/);
  const out = groupOf(a, 'fc.weight', 0)[0]!;
  assert.match(out.frozen[0]!, /graph output/);

  // Route b1.conv1's input through Softmax(axis=1): the stem's channels may no longer go.
  const m = construct('residual').build(2, false);
  const b = m.graph.nodes.find((n) => n.name === 'b1.conv1')!;
  const y = b.inputs[0]!;
  const s = new Value('softmax_out');
  m.graph.insertBefore(b, new Node({ opType: 'Softmax', name: 'sm', inputs: [y], outputs: [s], attributes: [{ name: 'axis', v: { type: 2, value: 1 } }] }));
  b.setInput(0, s);
  const a2 = analyse(m);
  const stem = groupOf(a2, 'stem.weight', 0)[0]!;
  assert.ok(!isGroupPrunable(stem));
  assert.match(stem.frozen.join(' '), /Softmax normalises over this axis/);
  // The branch conv itself is still free.
  assert.ok(isGroupPrunable(groupOf(a2, 'b1.conv1.weight', 0)[0]!));
});

test('unknown ops freeze with the op named; values read inside subgraphs freeze', () => {
  const m = construct('residual').build(3, false);
  const conv1 = m.graph.nodes.find((n) => n.name === 'b1.conv1')!;
  const x = conv1.inputs[0]!;
  const s = new Value('custom_out');
  m.graph.insertBefore(conv1, new Node({ opType: 'MyOp', domain: 'com.example', name: 'custom', inputs: [x], outputs: [s] }));
  m.opsetImports.push({ domain: 'com.example', version: 1 });
  conv1.setInput(0, s);
  const a = analyse(m);
  const stem = groupOf(a, 'stem.weight', 0)[0]!;
  assert.match(stem.frozen.join(' '), /com\.example\.MyOp has no channel rule/);
  // The conv after MyOp reads a value nobody can prune: its input axis never becomes a slot.
  assert.equal(groupOf(a, 'b1.conv1.weight', 1).filter(isGroupPrunable).length, 0);

  // A subgraph (If branch) reading the stem output freezes it.
  const m2 = construct('residual').build(3, false);
  const relu = m2.graph.nodes.find((n) => n.opType === 'Relu')!;
  const y = relu.outputs[0]!;
  const branch = (name: string): IR.Graph => {
    const g = new IR.Graph(name);
    const o = new Value(`${name}_out`);
    g.appendNode(new Node({ opType: 'Identity', name: `${name}_id`, inputs: [y], outputs: [o] }));
    g.addOutput(o);
    return g;
  };
  const cond = new Value('cond');
  m2.graph.addInitializer(cond, IR.Tensor.fromInt64('cond', [], [1]));
  const ifOut = new Value('if_out');
  m2.graph.appendNode(
    new Node({
      opType: 'If',
      name: 'if',
      inputs: [cond],
      outputs: [ifOut],
      attributes: [
        { name: 'then_branch', v: { type: 5, value: branch('then') } },
        { name: 'else_branch', v: { type: 5, value: branch('else') } },
      ],
    }),
  );
  const a2 = analyse(m2);
  assert.match(groupOf(a2, 'stem.weight', 0)[0]!.frozen.join(' '), /read inside a subgraph/);
});

test('shared constants couple layers until untied', () => {
  const n = construct('inception-concat').build(1, false);
  // Make two branch convs share one bias initializer, as PyTorch's exporter does for equal tensors.
  const b3b = n.graph.nodes.find((x) => x.name === 'b3b')!;
  const b4 = n.graph.nodes.find((x) => x.name === 'b4')!;
  b4.setInput(2, b3b.inputs[2]!);
  const coupled = analyse(n);
  assert.equal(groupOf(coupled, 'b3b.weight', 0)[0], groupOf(coupled, 'b4.weight', 0)[0]);
  const untied = untieSharedConstants(n);
  assert.equal(untied.length, 1);
  assert.equal(untied[0]!.copies.length, 1);
  const free = analyse(n);
  assert.notEqual(groupOf(free, 'b3b.weight', 0)[0], groupOf(free, 'b4.weight', 0)[0]);
});

test('describeGroups lists members with axis, size and roles', () => {
  const a = analyse(construct('residual').build(1, true));
  const d = describeGroups(a) as { groups: { prunable: boolean; members: { name: string; roles: string[] }[] }[]; summary: { groups: number } };
  assert.equal(d.summary.groups, a.groups.length);
  const stem = d.groups.find((g) => g.members.some((m) => m.name === 'stem.weight'))!;
  assert.ok(stem.members.find((m) => m.name === 'stem.weight')!.roles.some((r) => r.startsWith('out:')));
});

// Property: for every construct and any kept set, each member of a group loses exactly
// `per` positions per removed channel, and positions of different groups never collide.
test('property: removal is consistent across every slot of a group', () => {
  const models = CONSTRUCTS.map((c) => analyse(c.build(5, true)));
  fc.assert(
    fc.property(fc.nat(models.length - 1), fc.integer({ min: 0, max: 1 << 30 }), (mi, seed) => {
      const a = models[mi]!;
      const rng = new Rng(seed);
      const keep = new Map<number, number[]>();
      for (const g of a.groups) {
        if (!isGroupPrunable(g)) continue;
        const k = 1 + rng.int(g.size);
        keep.set(
          g.id,
          rng
            .shuffle(Array.from({ length: g.size }, (_, i) => i))
            .slice(0, k)
            .sort((x, y) => x - y),
        );
      }
      const removed = removedPerSlot(a, keep);
      for (const g of a.groups) {
        const kept = keep.get(g.id);
        const lost = kept ? g.size - kept.length : 0;
        for (const m of g.members) {
          const r = removed.get(m.slot);
          const mine = r ? Array.from(r).filter((i) => a.atomGroup[m.slot.base + i] === g.id) : [];
          assert.equal(mine.length, lost * m.per);
        }
      }
      for (const [s, r] of removed) assert.equal(new Set(r).size, r.length, `no position of ${s.value.name} removed twice`);
    }),
    { numRuns: 60, seed: 42 },
  );
});
