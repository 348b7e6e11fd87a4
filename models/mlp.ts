/**
 * The MNIST multi-layer perceptron 784-500-300-10 (TissueNet's MLP baseline, METHODS.md):
 * input [N, C·H·W] float pixels in [0, 1] (784 = 28·28·1 by default), fc1 → Relu → fc2 →
 * Relu → fc3 → logits. Each layer is a Gemm with its weight stored [out, in] (transB = 1),
 * as PyTorch exports nn.Linear. `width` scales the hidden layers (500, 300).
 *
 * Params at the defaults: 784·500+500 + 500·300+300 + 300·10+10 = 545,810.
 */
import type { Model } from '../src/core.js';
import { netFor, scaled, type ResolvedOptions } from './layers.js';

export const MLP_DEFAULTS = { size: 28, channels: 1, numClasses: 10 } as const;

/** Builds the MLP; `o.size`/`o.channels` only set the flattened input length. */
export function buildMlp(o: ResolvedOptions): Model {
  const net = netFor('mlp', o);
  let x = net.vectorInput(o.channels * o.size * o.size);
  x = net.relu(net.gemm(x, 'fc1', scaled(500, o.width)), 'relu1');
  x = net.relu(net.gemm(x, 'fc2', scaled(300, o.width)), 'relu2');
  return net.finish(net.gemm(x, 'fc3', o.numClasses));
}
