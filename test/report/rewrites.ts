/**
 * Models and rewrites for the diff tests, built with the IR directly: a small named CNN,
 * a TissueNet-style replacement of one conv by Conv(group=m) → Relu → Conv(group=m), a
 * hybrid replacement (Split → per-unit convs → Concat), and channel pruning of ResNet-20's
 * block-internal channels by hand (what `sculpt prune` does for those groups: slice conv1's
 * filters, bn1's parameters and conv2's input channels).
 */
import { attrInt, attrInts, decodeModel, encodeModel, GraphBuilder, Node, Rng, Tensor, Value } from '../../src/index.js';
import type { Model } from '../../src/index.js';

export function copyModel(m: Model): Model {
  return decodeModel(encodeModel(m));
}

/** input [1,8,8,8] → conv_a 8→16 → relu_a → conv_b 16→16 → relu_b → conv_c 16→8 (1x1) → gap → flatten → fc */
export function smallCnn(seed = 1): Model {
  const rng = new Rng(seed);
  const b = GraphBuilder.newModel({ opset: 17 });
  const conv = (x: Value, cin: number, cout: number, k: number, name: string) => {
    const w = b.floats(`${name}.weight`, [cout, cin, k, k], rng.normalArray(cout * cin * k * k, 0.2));
    return b.op('Conv', [x, w], [attrInts('kernel_shape', [k, k]), attrInts('pads', Array(4).fill((k - 1) / 2))], name);
  };
  let x = b.input('input', [1, 8, 8, 8]);
  x = b.op('Relu', [conv(x, 8, 16, 3, 'conv_a')], [], 'relu_a');
  x = b.op('Relu', [conv(x, 16, 16, 3, 'conv_b')], [], 'relu_b');
  x = conv(x, 16, 8, 1, 'conv_c');
  x = b.op('GlobalAveragePool', [x], [], 'gap');
  x = b.op('Flatten', [x], [attrInt('axis', 1)], 'flatten');
  const fw = b.floats('fc.weight', [4, 8], rng.normalArray(32, 0.2));
  b.output(b.op('Gemm', [x, fw], [attrInt('transB', 1)], 'fc'), 'logits');
  return b.model;
}

function convNode(m: Model, name: string): Node {
  const n = m.graph.findNode(name);
  if (!n || n.opType !== 'Conv') throw new Error(`no conv ${name}`);
  return n;
}

/**
 * Replaces conv `name` (C_in → C_out, k×k) by Conv(C_in → m·hidden, group m, k×k) → Relu →
 * Conv(m·hidden → C_out, group m, 1×1). With `keepName` the first new conv takes the old
 * node's name (as a rewrite may); otherwise all three get fresh names.
 */
export function tissueRewrite(src: Model, name: string, opts: { groups: number; hidden: number; keepName?: boolean; seed?: number }): Model {
  const m = copyModel(src);
  const g = m.graph;
  const old = convNode(m, name);
  const rng = new Rng(opts.seed ?? 2);
  const w = old.inputs[1]!.initializer!;
  const [cout, cin, k] = w.shape as [number, number, number];
  const { groups, hidden } = opts;
  const mid = groups * hidden;
  const b = new GraphBuilder(m);
  b.insertBefore = old;
  const w1 = b.floats(`${name}.unit1.weight`, [mid, cin / groups, k, k], rng.normalArray(mid * (cin / groups) * k * k, 0.2));
  const pads = old.attrInts('pads', [0, 0, 0, 0]);
  const first = b.op('Conv', [old.inputs[0]!, w1], [attrInts('kernel_shape', [k, k]), attrInts('pads', pads), attrInt('group', groups)], `${name}.unit1`);
  const act = b.op('Relu', [first], [], `${name}.unit_act`);
  const w2 = b.floats(`${name}.unit2.weight`, [cout, mid / groups, 1, 1], rng.normalArray(cout * (mid / groups), 0.2));
  const second = b.op('Conv', [act, w2], [attrInts('kernel_shape', [1, 1]), attrInt('group', groups)], `${name}.unit2`);
  const out = old.outputs[0]!;
  out.replaceAllUsesWith(second);
  const oldW = old.inputs[1]!;
  g.removeNode(old);
  g.removeInitializer(oldW);
  if (opts.keepName) first.producer!.name = name;
  return m;
}

/** Replaces conv `name` by Split(channels in two) → one conv per half → Concat. */
export function hybridRewrite(src: Model, name: string, seed = 3): Model {
  const m = copyModel(src);
  const g = m.graph;
  const old = convNode(m, name);
  const rng = new Rng(seed);
  const [cout, cin, k] = old.inputs[1]!.initializer!.shape as [number, number, number];
  const b = new GraphBuilder(m);
  b.insertBefore = old;
  const split = b.int64s(`${name}.split`, [2], [cin / 2, cin / 2]);
  const [p0, p1] = b.node('Split', [old.inputs[0]!, split], [attrInt('axis', 1)], { name: `${name}.split`, outputs: 2 });
  const pads = old.attrInts('pads', [0, 0, 0, 0]);
  const unit = (x: Value, i: number, co: number) => {
    const w = b.floats(`${name}.part${i}.weight`, [co, cin / 2, k, k], rng.normalArray(co * (cin / 2) * k * k, 0.2));
    return b.op('Conv', [x, w], [attrInts('kernel_shape', [k, k]), attrInts('pads', pads)], `${name}.part${i}`);
  };
  const cat = b.op('Concat', [unit(p0!, 0, cout / 4), unit(p1!, 1, cout - cout / 4)], [attrInt('axis', 1)], `${name}.concat`);
  old.outputs[0]!.replaceAllUsesWith(cat);
  const oldW = old.inputs[1]!;
  g.removeNode(old);
  g.removeInitializer(oldW);
  return m;
}

function sliceAxis(t: Tensor, axis: number, keep: readonly number[]): void {
  const dims = t.shape;
  const data = t.toFloat32();
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(outer * keep.length * inner);
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const c of keep) {
      out.set(data.subarray((i * dims[axis]! + c) * inner, (i * dims[axis]! + c + 1) * inner), o);
      o += inner;
    }
  }
  t.setFloat32(
    out,
    dims.map((d, i) => (i === axis ? keep.length : d)),
  );
}

/**
 * Prunes every ResNet-20 block's internal channels (conv1's filters) to `fraction`, keeping
 * the filters with the largest L1 norm: conv1 weight axis 0, bn1 parameters, conv2 weight
 * axis 1. The residual channels are untouched (they are coupled across the stage).
 */
export function pruneResnetBlocks(src: Model, fraction: number): Model {
  const m = copyModel(src);
  for (const n of m.graph.nodes) {
    const hit = /^(layer\d+\.\d+)\.conv1$/.exec(n.name ?? '');
    if (!hit) continue;
    const block = hit[1]!;
    const w = n.inputs[1]!.initializer!;
    const [cout] = w.shape as [number];
    const per = w.size / cout;
    const data = w.toFloat32();
    const l1 = Array.from({ length: cout }, (_, c) => {
      let s = 0;
      for (let j = 0; j < per; j++) s += Math.abs(data[c * per + j]!);
      return s;
    });
    const k = Math.max(1, Math.round(cout * fraction));
    const keep = l1
      .map((s, c) => [s, c] as const)
      .sort((p, q) => q[0] - p[0] || p[1] - q[1])
      .slice(0, k)
      .map(([, c]) => c)
      .sort((p, q) => p - q);
    sliceAxis(w, 0, keep);
    const bn = m.graph.findNode(`${block}.bn1`)!;
    for (const v of bn.inputs.slice(1)) sliceAxis(v!.initializer!, 0, keep);
    sliceAxis(m.graph.findNode(`${block}.conv2`)!.inputs[1]!.initializer!, 1, keep);
    // Shapes downstream of the sliced conv are re-inferred by the analyses.
    for (const v of [n.outputs[0]!, bn.outputs[0]!, bn.outputs[0]!.uses()[0]!.node.outputs[0]!]) v.info.type = undefined;
  }
  return m;
}
