/**
 * The trainer bench's depthwise network: a small mobile classifier like the one issue 12
 * measured (depthwise convs, squeeze-and-excitation, hard-swish; 3×48×192 input, ~130k
 * parameters, 2 classes), built as ONNX with the reference models' NetBuilder.
 *
 * stem 3×3/2 (16) → 4 inverted residual blocks (expand 1×1 → dw 3×3 → SE → project 1×1,
 * BN after each conv, hard-swish) → 1×1 (192) → global average pool → Gemm.
 */
import { attrFloat } from '../src/index.js';
import type { Model } from '../src/index.js';
import { NetBuilder } from '../models/layers.js';
import type { Feature } from '../models/layers.js';

export const MOBILE_SE_SHAPE = [3, 48, 192];

export function buildMobileSe(seed = 1, classes = 2): Model {
  const net = new NetBuilder({ seed, opset: 17, batch: 'N', graphName: 'mobile-se' });
  const b = net.b;
  const hswish = (x: Feature, name: string): Feature => ({ ...x, value: b.op('HardSwish', [x.value], [], name) });
  const convBn = (x: Feature, name: string, out: number, kernel: number, stride = 1, group = 1, act = true): Feature => {
    const y = net.batchNorm(net.conv(x, `${name}.conv`, { out, kernel, stride, group }), `${name}.bn`);
    return act ? hswish(y, `${name}.act`) : y;
  };
  const se = (x: Feature, name: string): Feature => {
    const s = net.globalAvgPool(x, `${name}.pool`);
    const r = net.conv(s, `${name}.reduce`, { out: Math.max(8, x.channels / 4), kernel: 1, bias: true });
    const rr = { ...r, value: b.op('Relu', [r.value], [], `${name}.relu`) };
    const e = net.conv(rr, `${name}.expand`, { out: x.channels, kernel: 1, bias: true });
    const gate = b.op('HardSigmoid', [e.value], [attrFloat('alpha', 1 / 6), attrFloat('beta', 0.5)], `${name}.gate`);
    return { ...x, value: b.op('Mul', [x.value, gate], [], `${name}.scale`) };
  };
  let x = convBn(net.imageInput(3, 48, 192), 'stem', 16, 3, 2);
  const blocks: [number, number, number][] = [
    [64, 24, 2],
    [72, 24, 1],
    [96, 40, 2],
    [120, 48, 1],
  ];
  blocks.forEach(([hidden, out, stride], i) => {
    const name = `block${i}`;
    let y = convBn(x, `${name}.expand`, hidden, 1);
    y = convBn(y, `${name}.dw`, hidden, 3, stride, hidden);
    y = se(y, `${name}.se`);
    y = convBn(y, `${name}.project`, out, 1, 1, 1, false);
    x = stride === 1 && x.channels === out ? net.add(x, y, `${name}.add`) : y;
  });
  x = convBn(x, 'head', 192, 1);
  return net.finish(net.gemm(net.flatten(net.globalAvgPool(x, 'pool'), 'flatten'), 'fc', classes));
}
