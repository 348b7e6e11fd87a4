/** A seeded model whose weights live in external data, and a check that file and data agree. */
import { GraphBuilder } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/core.js';
import { Rng } from '../../src/util/rng.js';
import { readModel } from '../../src/serde/read.js';

/** docString records the seed; the weights come from it, so a mixed pair is detectable. */
export function seededPairModel(seed: number): Model {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 64]);
  const w = b.floats('w', [64, 64], new Rng(seed).normalArray(64 * 64, 0.1));
  const v = b.floats('v', [64, 32], new Rng(seed + 7).normalArray(64 * 32, 0.1));
  b.output(b.op('MatMul', [b.op('MatMul', [x, w]), v]), 'y');
  b.model.docString = `seed=${seed}`;
  return b.model;
}

/** Reads the pair at `path`; returns its seed, or throws when model and data disagree. */
export function readPairSeed(path: string): number {
  const m = readModel(path);
  const seed = Number(/^seed=(\d+)$/.exec(m.docString ?? '')?.[1]);
  const want = seededPairModel(seed);
  for (const name of ['w', 'v']) {
    const a = m.graph.initializers.find((x) => x.name === name)!.initializer!.toFloat32();
    const b = want.graph.initializers.find((x) => x.name === name)!.initializer!.toFloat32();
    if (a.length !== b.length || a.some((z, i) => z !== b[i])) throw new Error(`model says seed ${seed} but its data "${name}" is another model's`);
  }
  return seed;
}
