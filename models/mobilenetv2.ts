/**
 * MobileNetV2 (Sandler et al. 2018) in torchvision's layout: stem conv 3x3 (32) → BN → ReLU6,
 * seventeen inverted residual blocks, head conv 1x1 (1280) → BN → ReLU6, GlobalAveragePool →
 * Flatten → fc → logits. ReLU6 is Clip(0, 6).
 *
 * Inverted residual `blocks.i` (expansion t, output c, stride s): `expand` 1x1 conv to t·C_in
 * → BN → ReLU6 (absent when t = 1), `dw` depthwise 3x3 (group = channels, stride s) → BN →
 * ReLU6, `project` 1x1 conv to c → BN with no activation (the linear bottleneck), and `add`
 * of the block input when s = 1 and C_in = c.
 *
 * Strides: at inputs of 96 and above the ImageNet layout (stem and the 24-channel stage
 * stride 2; total stride 32; at 224x224x3 with 1000 classes this is torchvision's
 * mobilenet_v2, 3.5 M params, 0.3 G MACs). Below 96 (the default 32x32x3) the usual CIFAR
 * variant: those two strides are 1, so a 32x32 input ends at 4x4 instead of 1x1.
 * `width` scales every channel count with torchvision's rounding to multiples of 8 (the head
 * keeps 1280 for width ≤ 1).
 */
import type { Model } from '../src/core.js';
import { makeDivisible, netFor, RESIDUAL_GAMMA, type Feature, type NetBuilder, type ResolvedOptions } from './layers.js';

export const MOBILENETV2_DEFAULTS = { size: 32, channels: 3, numClasses: 10 } as const;

/** torchvision's inverted residual setting: [t (expansion), c (channels), n (blocks), s (stride)]. */
export const MOBILENETV2_SETTING: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function invertedResidual(net: NetBuilder, x: Feature, p: string, expand: number, out: number, stride: number): Feature {
  const hidden = Math.round(x.channels * expand);
  let y = x;
  if (expand !== 1)
    y = net.convBn(y, { conv: `${p}.expand.conv`, bn: `${p}.expand.bn`, act: `${p}.expand.relu6` }, { out: hidden, kernel: 1, pad: 0 }, 'relu6');
  y = net.convBn(y, { conv: `${p}.dw.conv`, bn: `${p}.dw.bn`, act: `${p}.dw.relu6` }, { out: hidden, kernel: 3, stride, group: hidden }, 'relu6');
  const residual = stride === 1 && x.channels === out;
  y = net.convBn(y, { conv: `${p}.project.conv`, bn: `${p}.project.bn` }, { out, kernel: 1, pad: 0 }, 'none', residual ? RESIDUAL_GAMMA : undefined);
  return residual ? net.add(y, x, `${p}.add`) : y;
}

export function buildMobilenetv2(o: ResolvedOptions): Model {
  const net = netFor('mobilenetv2', o);
  const small = o.size < 96;
  let x = net.imageInput(o.channels, o.size, o.size);
  x = net.convBn(x, { conv: 'stem.conv', bn: 'stem.bn', act: 'stem.relu6' }, { out: makeDivisible(32 * o.width), kernel: 3, stride: small ? 1 : 2 }, 'relu6');
  let i = 0;
  MOBILENETV2_SETTING.forEach(([t, c, n, s], stage) => {
    const out = makeDivisible(c * o.width);
    const stageStride = small && stage === 1 ? 1 : s;
    for (let j = 0; j < n; j++, i++) x = invertedResidual(net, x, `blocks.${i}`, t, out, j === 0 ? stageStride : 1);
  });
  x = net.convBn(x, { conv: 'head.conv', bn: 'head.bn', act: 'head.relu6' }, { out: makeDivisible(1280 * Math.max(1, o.width)), kernel: 1, pad: 0 }, 'relu6');
  x = net.globalAvgPool(x, 'avgpool');
  return net.finish(net.gemm(net.flatten(x, 'flatten'), 'fc', o.numClasses));
}
