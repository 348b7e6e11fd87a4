/**
 * LeNet-5 in its common modern form: conv1 5x5 (6) → Relu → MaxPool 2 → conv2 5x5 (16) →
 * Relu → MaxPool 2 → Flatten → fc1 120 → Relu → fc2 84 → Relu → fc3 → logits.
 *
 * conv1 is padded by 2 when the input is smaller than 32 (the usual MNIST LeNet-5: 28x28
 * keeps 28x28 after conv1) and unpadded at 32x32 and above (LeCun et al. 1998), so both
 * 28x28x1 and 32x32x3 reach fc1 with 16·5·5 = 400 features. `width` scales 6/16/120/84.
 *
 * Params at 28x28x1: conv1 6·1·25+6 = 156, conv2 16·6·25+16 = 2,416, fc1 400·120+120 =
 * 48,120, fc2 120·84+84 = 10,164, fc3 84·10+10 = 850; 61,706 in all.
 */
import type { Model } from '../src/core.js';
import { netFor, scaled, type ResolvedOptions } from './layers.js';

export const LENET5_DEFAULTS = { size: 28, channels: 1, numClasses: 10 } as const;

export function buildLenet5(o: ResolvedOptions): Model {
  const net = netFor('lenet5', o);
  let x = net.imageInput(o.channels, o.size, o.size);
  x = net.relu(net.conv(x, 'conv1', { out: scaled(6, o.width), kernel: 5, pad: o.size < 32 ? 2 : 0, bias: true }), 'relu1');
  x = net.maxPool(x, 'pool1', 2);
  x = net.relu(net.conv(x, 'conv2', { out: scaled(16, o.width), kernel: 5, pad: 0, bias: true }), 'relu2');
  x = net.maxPool(x, 'pool2', 2);
  let v = net.flatten(x, 'flatten');
  v = net.relu(net.gemm(v, 'fc1', scaled(120, o.width)), 'relu3');
  v = net.relu(net.gemm(v, 'fc2', scaled(84, o.width)), 'relu4');
  return net.finish(net.gemm(v, 'fc3', o.numClasses));
}
