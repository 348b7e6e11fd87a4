/**
 * torchvision ResNet-50 (v1.5) at 224x224x3: conv1 7x7/2 (64) → bn1 → relu → maxpool 3x3/2
 * (pad 1), four stages of bottleneck blocks [3, 4, 6, 3] with widths 64/128/256/512 and
 * expansion 4, GlobalAveragePool → Flatten → fc (1000).
 *
 * Bottleneck `layerS.B`: conv1 1x1 → bn1 → relu1 → conv2 3x3 (stride s) → bn2 → relu2 →
 * conv3 1x1 (4·width) → bn3, plus the shortcut (`downsample.0` 1x1 conv with stride s →
 * `downsample.1` BN, at each stage's first block), → add → relu3. v1.5 puts the stride on the
 * 3x3 conv, not the first 1x1 (v1): that is what makes it 4.09 G MACs (v1: 3.86 G).
 * No conv has a bias. Params: 25,557,032 trainable (as torchvision counts them), plus
 * 53,120 BN running statistics.
 */
import type { Model } from '../src/core.js';
import { netFor, RESIDUAL_GAMMA, scaled, type Feature, type NetBuilder, type ResolvedOptions } from './layers.js';

export const RESNET50_DEFAULTS = { size: 224, channels: 3, numClasses: 1000 } as const;

/** Blocks per stage. */
export const RESNET50_LAYERS: readonly number[] = [3, 4, 6, 3];

function bottleneck(net: NetBuilder, x: Feature, p: string, width: number, out: number, stride: number): Feature {
  let y = net.convBn(x, { conv: `${p}.conv1`, bn: `${p}.bn1`, act: `${p}.relu1` }, { out: width, kernel: 1, pad: 0 }, 'relu');
  y = net.convBn(y, { conv: `${p}.conv2`, bn: `${p}.bn2`, act: `${p}.relu2` }, { out: width, kernel: 3, stride }, 'relu');
  y = net.convBn(y, { conv: `${p}.conv3`, bn: `${p}.bn3` }, { out, kernel: 1, pad: 0 }, 'none', RESIDUAL_GAMMA);
  const shortcut =
    stride !== 1 || x.channels !== out ? net.convBn(x, { conv: `${p}.downsample.0`, bn: `${p}.downsample.1` }, { out, kernel: 1, stride, pad: 0 }, 'none') : x;
  return net.relu(net.add(y, shortcut, `${p}.add`), `${p}.relu3`);
}

export function buildResnet50(o: ResolvedOptions): Model {
  const net = netFor('resnet50', o);
  let x = net.imageInput(o.channels, o.size, o.size);
  x = net.convBn(x, { conv: 'conv1', bn: 'bn1', act: 'relu' }, { out: scaled(64, o.width), kernel: 7, stride: 2, pad: 3 }, 'relu');
  x = net.maxPool(x, 'maxpool', 3, 2, 1);
  RESNET50_LAYERS.forEach((blocks, si) => {
    const width = scaled(64 * 2 ** si, o.width);
    for (let bi = 0; bi < blocks; bi++) {
      x = bottleneck(net, x, `layer${si + 1}.${bi}`, width, width * 4, si > 0 && bi === 0 ? 2 : 1);
    }
  });
  x = net.globalAvgPool(x, 'avgpool');
  return net.finish(net.gemm(net.flatten(x, 'flatten'), 'fc', o.numClasses));
}
