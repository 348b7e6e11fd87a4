/**
 * A classifier whose accuracy means something without any training: nearest class centroid
 * on MNIST, written as one Gemm. For centroids μ_c, argmin_c |x − μ_c|² = argmax_c
 * (x·μ_c − ½|μ_c|²), so W[:, c] = μ_c and b[c] = −½|μ_c|². It scores about 80% on the test
 * split, so hits and misses both occur in every class.
 *
 * TODO(trained fixtures): once fixtures/trained/ holds the trainer's MNIST MLP, the accuracy
 * test should also run on it (the procedure is the same).
 */
import { attrInt, GraphBuilder, loadDataset } from '../../src/index.js';
import type { Dataset, Model } from '../../src/index.js';

export interface CentroidOptions {
  /** Training samples the centroids are averaged over. */
  trainSamples?: number;
  /** The batch dimension: symbolic by default; a number fixes it. */
  batch?: number | string;
  /** Input [N,1,28,28] with a Flatten instead of [N,784]. */
  image?: boolean;
  /** Scale the weights of these classes' columns (a deliberately worse model). */
  damage?: { classes: number[]; scale: number };
}

/** Class means of the first `n` training samples of `data` (784 features). */
export function centroids(data: Dataset, n: number): Float32Array[] {
  const sums = Array.from({ length: data.numClasses }, () => new Float64Array(784));
  const counts = new Array<number>(data.numClasses).fill(0);
  let seen = 0;
  for (const b of data.batches(500)) {
    for (let i = 0; i < b.n && seen < n; i++, seen++) {
      const y = b.y[i]!;
      counts[y]!++;
      const s = sums[y]!;
      for (let j = 0; j < 784; j++) s[j]! += b.x[i * 784 + j]!;
    }
    if (seen >= n) break;
  }
  return sums.map((s, c) => Float32Array.from(s, (v) => v / Math.max(1, counts[c]!)));
}

/** Builds the nearest-centroid Gemm classifier from MNIST training data. */
export function centroidClassifier(opts: CentroidOptions = {}): Model {
  const train = loadDataset('mnist', { split: 'train', limit: opts.trainSamples ?? 2000 });
  const mu = centroids(train, opts.trainSamples ?? 2000);
  train.close();
  const classes = mu.length;
  const w = new Float32Array(784 * classes);
  const bias = new Float32Array(classes);
  for (let c = 0; c < classes; c++) {
    const scale = opts.damage?.classes.includes(c) ? opts.damage.scale : 1;
    let sq = 0;
    for (let j = 0; j < 784; j++) {
      w[j * classes + c] = mu[c]![j]! * scale;
      sq += mu[c]![j]! ** 2;
    }
    bias[c] = -0.5 * sq;
  }
  const b = GraphBuilder.newModel({ opset: 17 });
  const n = opts.batch ?? 'N';
  let x = opts.image ? b.input('input', [n, 1, 28, 28]) : b.input('input', [n, 784]);
  if (opts.image) x = b.op('Flatten', [x], [attrInt('axis', 1)], 'flatten');
  const W = b.floats('centroids', [784, classes], w);
  const B = b.floats('bias', [classes], bias);
  b.output(b.op('Gemm', [x, W, B], [], 'fc'), 'logits');
  return b.model;
}
