/**
 * Test fixture: a model as third-party converters write it, made from a reference model the
 * tests already build — every weight a Constant node, the input `float[N,C,H,W]` with N, H
 * and W symbolic (opset 9 by default).
 */
import { DataType, Node, Value, attrTensor } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import type { ModelName } from '../../models/index.js';

/** Moves every initializer into a Constant node of the same output name. */
export function initializersToConstants(m: Model): void {
  const g = m.graph;
  for (const v of [...g.initializers]) {
    if (g.inputs.includes(v)) continue;
    const t = v.initializer!;
    const name = v.name;
    const out = new Value(`${name}__const`);
    g.insertNodeAt(0, new Node({ opType: 'Constant', name: `${name}_constant`, outputs: [out], attributes: [attrTensor('value', t)] }));
    v.replaceAllUsesWith(out);
    g.removeInitializer(v);
    out.name = name;
  }
}

/** `name` at `opset`, weights in Constant nodes, input dims [N, C, 'H', 'W']. */
export function thirdPartyModel(name: ModelName = 'resnet20', opts: { seed?: number; opset?: number; width?: number } = {}): Model {
  const m = buildModel(name, { seed: opts.seed ?? 1, opset: opts.opset ?? 9, width: opts.width ?? 0.5 });
  initializersToConstants(m);
  const x = m.graph.inputs.find((v) => !v.initializer)!;
  const c = x.shape![1]!;
  x.setTensorType(DataType.FLOAT, ['N', c, 'H', 'W']);
  return m;
}
