/**
 * A RegNetX-style network for the prune benchmark (grouped convs): stem 3×3/2 (32), four
 * stages of X blocks (1×1 → 3×3 grouped, group width `groupWidth` → 1×1, each with BN and
 * ReLU; a 1×1/2 projection shortcut at each stage's first block), bottleneck ratio 1,
 * widths 64/128/256/512, depths 1/2/4/2, GAP → fc. Seeded weights; only for benchmarks.
 */
import type { Model } from '../src/index.js';
import { netFor, resolveOptions, RESIDUAL_GAMMA, type Feature, type NetBuilder } from '../models/layers.js';

export interface RegnetOptions {
  size?: number;
  groupWidth?: number;
  seed?: number;
  numClasses?: number;
}

function xBlock(net: NetBuilder, x: Feature, p: string, width: number, stride: number, groupWidth: number): Feature {
  const groups = width / groupWidth;
  let y = net.convBn(x, { conv: `${p}.a`, bn: `${p}.a.bn`, act: `${p}.a.relu` }, { out: width, kernel: 1, pad: 0 }, 'relu');
  y = net.convBn(y, { conv: `${p}.b`, bn: `${p}.b.bn`, act: `${p}.b.relu` }, { out: width, kernel: 3, stride, group: groups }, 'relu');
  y = net.convBn(y, { conv: `${p}.c`, bn: `${p}.c.bn` }, { out: width, kernel: 1, pad: 0 }, 'none', RESIDUAL_GAMMA);
  const shortcut =
    stride !== 1 || x.channels !== width ? net.convBn(x, { conv: `${p}.proj`, bn: `${p}.proj.bn` }, { out: width, kernel: 1, stride, pad: 0 }, 'none') : x;
  return net.relu(net.add(y, shortcut, `${p}.add`), `${p}.relu`);
}

/** Builds the network at `size`×`size`×3 (default 224, group width 32, 1000 classes). */
export function buildRegnet(opts: RegnetOptions = {}): Model {
  const o = resolveOptions(
    { seed: opts.seed ?? 1, size: opts.size ?? 224, numClasses: opts.numClasses ?? 1000, batch: 1 },
    { size: 224, channels: 3, numClasses: 1000 },
  );
  const gw = opts.groupWidth ?? 32;
  const net = netFor('regnet-bench', o);
  let x = net.imageInput(3, o.size, o.size);
  x = net.convBn(x, { conv: 'stem', bn: 'stem.bn', act: 'stem.relu' }, { out: 32, kernel: 3, stride: 2 }, 'relu');
  const widths = [64, 128, 256, 512];
  const depths = [1, 2, 4, 2];
  widths.forEach((w, si) => {
    for (let bi = 0; bi < depths[si]!; bi++) x = xBlock(net, x, `s${si + 1}.b${bi + 1}`, w, bi === 0 ? 2 : 1, gw);
  });
  x = net.globalAvgPool(x, 'avgpool');
  return net.finish(net.gemm(net.flatten(x, 'flatten'), 'fc', o.numClasses));
}
