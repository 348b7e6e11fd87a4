/**
 * Every op the channel analysis knows is also known to shape inference, and every layer
 * that seeds channel groups (a weighted layer) has a cost formula: pruning it must be
 * measurable. Ops of a custom domain join the analysis through `registerChannelRule`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, analyzeChannelGroups, channelRuleFor, channelRuleOps, hasCostRule, hasShapeRule, registerChannelRule } from '../../src/index.js';
import type { ChannelRuleContext } from '../../src/index.js';

test('every op with a channel rule has a shape rule; every seeding (weighted) op has a cost rule', () => {
  const ops = channelRuleOps();
  assert.ok(ops.length > 30, `${ops.length} ops`);
  assert.deepEqual(
    ops.filter((op) => !hasShapeRule(op)),
    [],
    'ops with a channel rule but no shape rule',
  );
  const seeding = ops.filter((op) => channelRuleFor(op)?.seeds);
  assert.deepEqual(seeding, ['BatchNormalization', 'Conv', 'ConvTranspose', 'Gemm', 'InstanceNormalization', 'MatMul']);
  assert.deepEqual(
    seeding.filter((op) => !hasCostRule(op)),
    [],
    'seeding ops without a cost formula',
  );
});

/** conv1 → custom op → conv2: the custom op passes channels through unchanged. */
function customModel() {
  const b = GraphBuilder.newModel();
  b.model.opsetImports.push({ domain: 'com.example', version: 1 });
  const x = b.input('x', [1, 3, 8, 8]);
  const w1 = b.floats('w1', [8, 3, 3, 3], new Float32Array(8 * 27).fill(0.1));
  const h = b.op('Conv', [x, w1], [], 'conv1');
  const [t] = b.node('Scale2', [h], [], { name: 'custom', domain: 'com.example' });
  t!.setTensorType(1, [1, 8, 6, 6]);
  const w2 = b.floats('w2', [4, 8, 3, 3], new Float32Array(4 * 72).fill(0.1));
  b.output(b.op('Conv', [t!, w2], [], 'conv2'), 'y');
  return b.model;
}

test('registerChannelRule: an op of a custom domain stops freezing its group once it has a rule', () => {
  const groupOf = (m: ReturnType<typeof customModel>) => {
    const a = analyzeChannelGroups(m);
    const w1 = m.graph.initializers.find((v) => v.name === 'w1')!;
    return a.groups[a.atomGroup[a.slotOf(w1, 0)!.base]!]!;
  };
  const before = groupOf(customModel());
  assert.ok(
    before.frozen.some((r) => /Scale2 has no channel rule/.test(r)),
    before.frozen.join('; '),
  );
  registerChannelRule(
    'Scale2',
    {
      rule: (ctx: ChannelRuleContext) => {
        const o = ctx.origin;
        ctx.identityTo(o.slot, o.side === 'in' ? ctx.node.outputs[0] : ctx.node.inputs[0], o.axis);
      },
    },
    'com.example',
  );
  const after = groupOf(customModel());
  assert.deepEqual(after.frozen, []);
  assert.equal(after.size, 8);
  assert.ok(
    after.members.some((m) => m.slot.value.name === 'w2' && m.slot.axis === 1),
    'conv2 input channels joined the group',
  );
});

test('registerChannelRule: a custom weighted op declares its own seeds', () => {
  const b = GraphBuilder.newModel();
  b.model.opsetImports.push({ domain: 'com.example', version: 1 });
  const x = b.input('x', [1, 4]);
  const w = b.floats('w', [6, 4], new Float32Array(24).fill(1));
  const [y] = b.node('MyDense', [x, w], [], { name: 'dense', domain: 'com.example' });
  y!.setTensorType(1, [1, 6]);
  b.output(b.op('Relu', [y!], [], 'relu'), 'out').setTensorType(1, [1, 6]);
  registerChannelRule(
    'MyDense',
    {
      rule: (ctx) => {
        const n = ctx.node;
        const ws = ctx.slot(n.inputs[1]!, 0, 6);
        if (ws) {
          ctx.role(ws, 'out');
          ctx.identityTo(ws, n.outputs[0], 1);
        }
      },
      seeds: (n, seed) => {
        seed(n.inputs[1], 0);
      },
    },
    'com.example',
  );
  const a = analyzeChannelGroups(b.model);
  const wv = b.graph.initializers.find((v) => v.name === 'w')!;
  const s = a.slotOf(wv, 0);
  assert.ok(s, 'the seed created a slot on the weight');
  const g = a.groups[a.atomGroup[s.base]!]!;
  assert.deepEqual(g.members.map((m) => m.slot.value.name).sort(), ['dense_out', 'out', 'w']);
  assert.ok(
    g.frozen.some((r) => /graph output/.test(r)),
    'reached the output through Relu and froze there',
  );
});
