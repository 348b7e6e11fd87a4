/**
 * A small VGG-style CNN, sized to train on Fashion-MNIST on a CPU: three blocks of two
 * Conv3x3 (with bias, as torchvision's vgg*_bn) → BatchNormalization → Relu, each block
 * ending in MaxPool 2; then Flatten → fc1 (128) → Relu → fc2 → logits.
 *
 * Channels 16-16 | 32-32 | 64-64 (times `width`). At 28x28x1 the maps go 28 → 14 → 7 → 3,
 * so fc1 reads 64·3·3 = 576 features; 7.41 M MACs and 147,834 params (incl. BN statistics), small enough that
 * a CPU trains it for several epochs in minutes, large enough to exceed 91% on
 * Fashion-MNIST. Three blocks give TissueNet's strategy `r` (first and last block kept
 * normal) a middle block to rewrite.
 */
import type { Model } from '../src/core.js';
import { netFor, scaled, type ResolvedOptions } from './layers.js';

export const VGG_DEFAULTS = { size: 28, channels: 1, numClasses: 10 } as const;

/** Output channels of each block's two convs, before `width`. */
export const VGG_BLOCKS: readonly number[] = [16, 32, 64];
export const VGG_HIDDEN = 128;

export function buildVgg(o: ResolvedOptions): Model {
  const net = netFor('vgg', o);
  let x = net.imageInput(o.channels, o.size, o.size);
  VGG_BLOCKS.forEach((c, bi) => {
    const p = `block${bi + 1}`;
    for (let j = 1; j <= 2; j++) {
      x = net.convBn(x, { conv: `${p}.conv${j}`, bn: `${p}.bn${j}`, act: `${p}.relu${j}` }, { out: scaled(c, o.width), kernel: 3, bias: true }, 'relu');
    }
    x = net.maxPool(x, `${p}.pool`, 2);
  });
  let v = net.flatten(x, 'flatten');
  v = net.relu(net.gemm(v, 'fc1', scaled(VGG_HIDDEN, o.width)), 'relu_fc1');
  return net.finish(net.gemm(v, 'fc2', o.numClasses));
}
