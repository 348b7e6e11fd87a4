/** Small input models for the insert-beta / strip-beta golden tests. */
import { attrInt } from '../../src/index.js';
import type { Model } from '../../src/index.js';
import { Net } from '../prune/graphs.js';

export const betaCases: Record<string, () => Model> = {
  /** Conv → BN → Relu twice, then the head: β after each Relu, never between Conv and BN. */
  'conv-bn-relu-chain': () => {
    const n = new Net(1);
    const x = n.cbr(n.input(2, 4), 2, 4, 3, { name: 'c1' });
    return n.head(n.cbr(x, 4, 4, 3, { name: 'c2' }), 4, 3);
  },
  /** A residual stage: one β for stem + conv2 of both blocks, a site on each junction a conv reads. */
  'residual-stage': () => {
    const n = new Net(2);
    let x = n.cbr(n.input(2, 4), 2, 4, 3, { name: 'stem' });
    for (const b of ['b1', 'b2']) {
      const h = n.cbr(x, 4, 3, 3, { name: `${b}.conv1` });
      x = n.relu(n.add(n.cbr(h, 3, 4, 3, { name: `${b}.conv2`, act: false }), x));
    }
    return n.head(x, 4, 3);
  },
  /** VGG tail: Relu → MaxPool → Flatten → fc1 → Relu → fc2. β after the Relu; the classifier gets none. */
  'pool-flatten-classifier': () => {
    const n = new Net(3);
    const x = n.maxpool(n.cbr(n.input(1, 4), 1, 4, 3, { name: 'c1' }));
    const f = n.flatten(x);
    const h = n.relu(n.b.op('Gemm', [f, n.weights('fc1.weight', [6, 16], 16), n.vec('fc1.bias', 6)], [attrInt('transB', 1)], 'fc1'));
    const y = n.b.op('Gemm', [h, n.weights('fc2.weight', [3, 6], 6), n.vec('fc2.bias', 3)], [attrInt('transB', 1)], 'fc2');
    return n.finish(y);
  },
};
