/**
 * CIFAR-style ResNet-20 (He et al. 2016, section 4.2): conv1 3x3 (16) → BN → Relu, then three
 * stages of three basic blocks with 16, 32, 64 channels (stride 2 at the first block of
 * stages 2 and 3), GlobalAveragePool → Flatten → fc → logits.
 *
 * Basic block `layerS.B`: conv1 3x3 (stride s) → bn1 → relu1 → conv2 3x3 → bn2, plus the
 * shortcut, → add → relu2. Where the shape changes the shortcut is a projection,
 * `downsample.0` (1x1 conv, stride s) → `downsample.1` (BN) (option B), so the residual
 * Add couples a conv's output channels with the stage input's: the case channel pruning
 * must get right. Convs before BN have no bias (torchvision). Default input 32x32x3;
 * `width` scales 16/32/64.
 */
import type { Model } from '../src/core.js';
import { netFor, RESIDUAL_GAMMA, scaled, type Feature, type NetBuilder, type ResolvedOptions } from './layers.js';

export const RESNET20_DEFAULTS = { size: 32, channels: 3, numClasses: 10 } as const;

function basicBlock(net: NetBuilder, x: Feature, p: string, out: number, stride: number): Feature {
  let y = net.convBn(x, { conv: `${p}.conv1`, bn: `${p}.bn1`, act: `${p}.relu1` }, { out, kernel: 3, stride }, 'relu');
  y = net.convBn(y, { conv: `${p}.conv2`, bn: `${p}.bn2` }, { out, kernel: 3 }, 'none', RESIDUAL_GAMMA);
  const shortcut =
    stride !== 1 || x.channels !== out ? net.convBn(x, { conv: `${p}.downsample.0`, bn: `${p}.downsample.1` }, { out, kernel: 1, stride, pad: 0 }, 'none') : x;
  return net.relu(net.add(y, shortcut, `${p}.add`), `${p}.relu2`);
}

export function buildResnet20(o: ResolvedOptions): Model {
  const net = netFor('resnet20', o);
  let x = net.imageInput(o.channels, o.size, o.size);
  x = net.convBn(x, { conv: 'conv1', bn: 'bn1', act: 'relu' }, { out: scaled(16, o.width), kernel: 3 }, 'relu');
  [16, 32, 64].forEach((c, si) => {
    for (let bi = 0; bi < 3; bi++) {
      x = basicBlock(net, x, `layer${si + 1}.${bi}`, scaled(c, o.width), si > 0 && bi === 0 ? 2 : 1);
    }
  });
  x = net.globalAvgPool(x, 'avgpool');
  return net.finish(net.gemm(net.flatten(x, 'flatten'), 'fc', o.numClasses));
}
