/**
 * Small inputs for the one-step tests: a plain CNN and a residual CNN on 8×8 one-channel
 * images, and a synthetic labelled data set (npy files) they can learn: class k is a
 * brighter quadrant k plus noise.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, attrInt, encodeNpy } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { Net } from '../prune/graphs.js';

export const CLASSES = 4;

/** input [N,1,8,8] → cbr(8) → cbr(8) → MaxPool → cbr(16) → cbr(16) → GAP → Flatten → Gemm(4). */
export function tinyCnn(seed = 1, bnKept = true): Model {
  const n = new Net(seed);
  let x = n.cbr(n.input(1, 8), 1, 8, 3, { name: 'c1', bnKept });
  x = n.cbr(x, 8, 8, 3, { name: 'c2', bnKept });
  x = n.maxpool(x);
  x = n.cbr(x, 8, 16, 3, { name: 'c3', bnKept });
  x = n.cbr(x, 16, 16, 3, { name: 'c4', bnKept });
  return n.head(x, 16, CLASSES);
}

/** A two-block residual net: stem(8) → [conv, conv] + x → Relu → [conv, conv] + x → Relu → head. */
export function tinyResnet(seed = 1, tail = false): Model {
  const n = new Net(seed);
  let x = n.cbr(n.input(1, 8), 1, 8, 3, { name: 'stem' });
  for (const b of ['b1', 'b2']) {
    const h = n.cbr(x, 8, 8, 3, { name: `${b}.conv1` });
    const y = n.cbr(h, 8, 8, 3, { name: `${b}.conv2`, act: false });
    x = n.relu(n.add(y, x));
  }
  // With `tail`, a last conv after the stage, so the stage itself may be pruned.
  if (tail) return n.head(n.cbr(x, 8, 8, 3, { name: 'tail' }), 8, CLASSES);
  return n.head(x, 8, CLASSES);
}

/** Writes `n` samples (and `n/2` test samples) as npy files into `dir`; returns the data spec. */
export function writeQuadrantData(dir: string, n = 256, seed = 1): string {
  const rng = new Rng(seed);
  const make = (count: number, prefix: string) => {
    const x = new Float32Array(count * 64);
    const y = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const k = i % CLASSES;
      y[i] = k;
      const [r0, c0] = [k < 2 ? 0 : 4, k % 2 === 0 ? 0 : 4];
      for (let r = 0; r < 8; r++)
        for (let c = 0; c < 8; c++) {
          const inside = r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4;
          x[i * 64 + r * 8 + c] = Math.min(1, Math.max(0, (inside ? 0.7 : 0.2) + 0.25 * (rng.next() - 0.5)));
        }
    }
    writeFileSync(join(dir, `${prefix}x.npy`), encodeNpy([count, 1, 8, 8], x));
    writeFileSync(join(dir, `${prefix}y.npy`), encodeNpy([count], y));
  };
  make(n, 'train-');
  make(Math.max(CLASSES, n >> 1), 'test-');
  return `npy:${join(dir, 'train-x.npy')},${join(dir, 'train-y.npy')},${join(dir, 'test-x.npy')},${join(dir, 'test-y.npy')}`;
}

/** A linear classifier (Flatten → Gemm): no channel group can be pruned. */
export function linearModel(seed = 1): Model {
  const n = new Net(seed);
  const f = n.flatten(n.input(1, 8));
  return n.finish(n.b.op('Gemm', [f, n.weights('fc.weight', [CLASSES, 64], 64), n.vec('fc.bias', CLASSES)], [attrInt('transB', 1)], 'fc'));
}
