/**
 * Tiny CNNs, one per construct the channel analysis must get right, built with seeded
 * weights and non-trivial BatchNorm statistics. Every builder returns a model with input
 * `input` [N, C, H, W] and output `logits`.
 */
import { DataType, GraphBuilder, Node, Rng, Tensor, Value, attrFloat, attrInt, attrInts, attrString, attrTensor } from '../../src/index.js';
import type { Attribute, Model } from '../../src/index.js';

export class Net {
  readonly b: GraphBuilder;
  readonly rng: Rng;

  constructor(seed = 1, opset = 17) {
    this.b = GraphBuilder.newModel({ opset });
    this.rng = new Rng(seed);
  }

  get model(): Model {
    return this.b.model;
  }

  input(c: number, h: number, w = h): Value {
    return this.b.input('input', ['N', c, h, w]);
  }

  weights(name: string, dims: number[], fanIn: number): Value {
    const n = dims.reduce((a, d) => a * d, 1);
    return this.b.floats(name, dims, this.rng.normalArray(n, Math.sqrt(2 / fanIn)));
  }

  vec(name: string, n: number, lo = -0.2, hi = 0.2): Value {
    return this.b.floats(name, [n], this.rng.uniformArray(n, lo, hi));
  }

  conv(x: Value, cin: number, cout: number, k = 3, o: { stride?: number; group?: number; bias?: boolean; pad?: number; name?: string } = {}): Value {
    const g = o.group ?? 1;
    const pad = o.pad ?? Math.floor(k / 2);
    const w = this.weights(`${o.name ?? 'conv'}.weight`, [cout, cin / g, k, k], (cin / g) * k * k);
    const ins = [x, w];
    if (o.bias !== false) ins.push(this.vec(`${o.name ?? 'conv'}.bias`, cout));
    const attrs: Attribute[] = [attrInts('kernel_shape', [k, k]), attrInts('pads', [pad, pad, pad, pad]), attrInts('strides', [o.stride ?? 1, o.stride ?? 1])];
    if (g !== 1) attrs.push(attrInt('group', g));
    return this.b.op('Conv', ins, attrs, o.name ?? 'conv');
  }

  bn(x: Value, c: number): Value {
    return this.b.op(
      'BatchNormalization',
      [x, this.vec('bn.gamma', c, 0.5, 1.5), this.vec('bn.beta', c), this.vec('bn.mean', c), this.vec('bn.var', c, 0.5, 1.5)],
      [attrFloat('epsilon', 1e-5)],
      'bn',
    );
  }

  relu(x: Value): Value {
    return this.b.op('Relu', [x]);
  }
  add(a: Value, c: Value): Value {
    return this.b.op('Add', [a, c]);
  }
  concat(xs: Value[], axis = 1): Value {
    return this.b.op('Concat', xs, [attrInt('axis', axis)]);
  }
  gap(x: Value): Value {
    return this.b.op('GlobalAveragePool', [x]);
  }
  flatten(x: Value): Value {
    return this.b.op('Flatten', [x], [attrInt('axis', 1)]);
  }
  maxpool(x: Value, k = 2, s = 2, pad = 0): Value {
    return this.b.op('MaxPool', [x], [attrInts('kernel_shape', [k, k]), attrInts('strides', [s, s]), attrInts('pads', [pad, pad, pad, pad])]);
  }

  /** conv + BN (or conv with bias when `bnKept` is false) + Relu. */
  cbr(x: Value, cin: number, cout: number, k = 3, o: { stride?: number; group?: number; bnKept?: boolean; act?: boolean; name?: string } = {}): Value {
    const kept = o.bnKept ?? true;
    let y = this.conv(x, cin, cout, k, { stride: o.stride, group: o.group, bias: !kept, name: o.name });
    if (kept) y = this.bn(y, cout);
    return o.act === false ? y : this.relu(y);
  }

  gemm(x: Value, k: number, n: number, transB = true): Value {
    const w = this.weights('fc.weight', transB ? [n, k] : [k, n], k);
    return this.b.op('Gemm', [x, w, this.vec('fc.bias', n)], transB ? [attrInt('transB', 1)] : [], 'fc');
  }

  /** GAP → Flatten → Gemm(classes) → logits. */
  head(x: Value, c: number, classes = 5): Model {
    const y = this.gemm(this.flatten(this.gap(x)), c, classes);
    this.b.output(y, 'logits');
    return this.model;
  }

  finish(y: Value): Model {
    this.b.output(y, 'logits');
    return this.model;
  }
}

export interface Construct {
  name: string;
  build: (seed: number, bnKept: boolean) => Model;
}

/** Residual block, identity shortcut: the Add couples the stem with conv2's filters. */
function residual(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x0 = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const h = n.cbr(x0, 16, 12, 3, { bnKept, name: 'b1.conv1' });
  const y = n.cbr(h, 12, 16, 3, { bnKept, act: false, name: 'b1.conv2' });
  return n.head(n.relu(n.add(y, x0)), 16);
}

/** Residual block with a strided 1×1 projection shortcut. */
function residualProjection(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x0 = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const h = n.cbr(x0, 16, 24, 3, { stride: 2, bnKept, name: 'b1.conv1' });
  const y = n.cbr(h, 24, 24, 3, { bnKept, act: false, name: 'b1.conv2' });
  const s = n.cbr(x0, 16, 24, 1, { stride: 2, bnKept, act: false, name: 'b1.down' });
  return n.head(n.relu(n.add(y, s)), 24);
}

/** DenseNet: every layer's output is concatenated onto the running feature map. */
function dense(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  let x = n.cbr(n.input(3, 8), 3, 8, 3, { bnKept, name: 'stem' });
  let c = 8;
  for (let i = 0; i < 3; i++) {
    const h = n.cbr(x, c, 6, 3, { bnKept, name: `dense${i}` });
    x = n.concat([x, h]);
    c += 6;
  }
  const t = n.cbr(x, c, 12, 1, { bnKept, name: 'transition' });
  return n.head(t, 12);
}

/** Inception: four branches (1×1, 1×1→3×3, 1×1→5×5, pool→1×1) concatenated. */
function inception(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const b1 = n.cbr(x, 16, 8, 1, { bnKept, name: 'b1' });
  const b2 = n.cbr(n.cbr(x, 16, 6, 1, { bnKept, name: 'b2a' }), 6, 10, 3, { bnKept, name: 'b2b' });
  const b3 = n.cbr(n.cbr(x, 16, 4, 1, { bnKept, name: 'b3a' }), 4, 6, 5, { bnKept, name: 'b3b' });
  const b4 = n.cbr(n.maxpool(x, 3, 1, 1), 16, 6, 1, { bnKept, name: 'b4' });
  return n.head(n.concat([b1, b2, b3, b4]), 30);
}

/** SqueezeNet fire modules: squeeze 1×1, then expand 1×1 and 3×3 concatenated. */
function fire(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  let x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  let c = 16;
  for (let i = 0; i < 2; i++) {
    const s = n.cbr(x, c, 6, 1, { bnKept, name: `fire${i}.squeeze` });
    const e1 = n.cbr(s, 6, 10, 1, { bnKept, name: `fire${i}.e1` });
    const e3 = n.cbr(s, 6, 10, 3, { bnKept, name: `fire${i}.e3` });
    x = n.concat([e1, e3]);
    c = 20;
  }
  // SqueezeNet's classifier is a conv, then global pooling straight to the logits.
  const cls = n.conv(x, c, 5, 1, { name: 'classifier' });
  return n.finish(n.flatten(n.gap(cls)));
}

/** MobileNetV2 inverted residual: expand 1×1, depthwise 3×3, linear 1×1 projection, Add. */
function invertedResidual(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const e = n.cbr(x, 16, 48, 1, { bnKept, name: 'expand' });
  const d = n.cbr(e, 48, 48, 3, { group: 48, bnKept, name: 'dw' });
  const p = n.cbr(d, 48, 16, 1, { bnKept, act: false, name: 'project' });
  return n.head(n.add(x, p), 16);
}

/** Depthwise conv with channel multiplier 2 (group = C_in, C_out = 2·C_in). */
function depthwiseMultiplier(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 12, 3, { bnKept, name: 'stem' });
  const d = n.cbr(x, 12, 24, 3, { group: 12, bnKept, name: 'dw2' });
  const p = n.cbr(d, 24, 16, 1, { bnKept, name: 'pw' });
  return n.head(p, 16);
}

/** ResNeXt-style grouped conv (4 groups of 4 channels in, 6 out). */
function grouped(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const gconv = n.cbr(x, 16, 24, 3, { group: 4, bnKept, name: 'gconv' });
  const p = n.cbr(gconv, 24, 16, 1, { bnKept, name: 'pw' });
  return n.head(p, 16);
}

/** Squeeze-and-excitation: GAP → 1×1 reduce → Relu → 1×1 expand → Sigmoid → Mul with the input. */
function squeezeExcite(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const s = n.relu(n.conv(n.gap(x), 16, 4, 1, { name: 'se.reduce' }));
  const e = n.b.op('Sigmoid', [n.conv(s, 4, 16, 1, { name: 'se.expand' })]);
  const y = n.b.op('Mul', [x, e]);
  return n.head(n.cbr(y, 16, 16, 3, { bnKept, name: 'after' }), 16);
}

/** ShuffleNet channel shuffle (Reshape → Transpose → Reshape) between two grouped convs. */
function channelShuffle(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const g1 = n.cbr(x, 16, 16, 1, { group: 2, bnKept, name: 'g1' });
  const r = n.b.op('Reshape', [g1, n.b.int64s('shuffle.shape1', [5], [-1, 2, 8, 8, 8])]);
  const t = n.b.op('Transpose', [r], [attrInts('perm', [0, 2, 1, 3, 4])]);
  const s = n.b.op('Reshape', [t, n.b.int64s('shuffle.shape2', [4], [-1, 16, 8, 8])]);
  const g2 = n.cbr(s, 16, 16, 1, { group: 2, bnKept, name: 'g2' });
  const after = n.cbr(g2, 16, 8, 3, { bnKept, name: 'after' });
  return n.head(after, 8);
}

/** Flatten → Gemm: each channel owns H·W = 16 columns of the classifier weight. */
function flattenGemm(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.maxpool(n.cbr(n.input(3, 8), 3, 12, 3, { bnKept, name: 'conv' }));
  const h = n.relu(n.gemm(n.flatten(x), 12 * 16, 20, true));
  return n.finish(n.gemm(h, 20, 5, false));
}

/** Reshape with an explicit channel count in its target, then MatMul (target gets rewritten). */
function reshapeMatMul(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.maxpool(n.cbr(n.input(3, 8), 3, 8, 3, { bnKept, name: 'conv' }));
  const r = n.b.op('Reshape', [x, n.b.int64s('flat.shape', [2], [0, 8 * 16])]);
  const w = n.weights('mm.weight', [8 * 16, 6], 128);
  const y = n.b.op('MatMul', [r, w]);
  return n.finish(n.b.op('Add', [y, n.vec('mm.bias', 6)]));
}

/** Weights held in Constant nodes (as some exporters write them). */
function constantWeights(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.input(3, 8);
  const mk = (name: string, dims: number[], fanIn: number): Value => {
    const size = dims.reduce((a, d) => a * d, 1);
    const t = Tensor.fromFloat32(undefined, dims, n.rng.normalArray(size, Math.sqrt(2 / fanIn)));
    return n.b.node('Constant', [], [attrTensor('value', t)], { name })[0]!;
  };
  const c1 = n.b.op('Conv', [x, mk('w1', [16, 3, 3, 3], 27), mk('b1', [16], 27)], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])]);
  let h = n.relu(bnKept ? n.bn(c1, 16) : c1);
  const c2 = n.b.op('Conv', [h, mk('w2', [12, 16, 3, 3], 144), mk('b2', [12], 144)], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])]);
  h = n.relu(c2);
  return n.head(h, 12);
}

/** Split on the channel axis into two branches, and a Slice of a channel range. */
function splitSlice(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const [a, c] = n.b.node('Split', [x, n.b.int64s('split.sizes', [2], [6, 10])], [attrInt('axis', 1)], { outputs: 2 });
  const ya = n.cbr(a!, 6, 8, 3, { bnKept, name: 'ba' });
  const yc = n.cbr(c!, 10, 8, 3, { bnKept, name: 'bc' });
  const cat = n.concat([ya, yc]);
  const sl = n.b.op('Slice', [cat, n.b.int64s('sl.starts', [1], [4]), n.b.int64s('sl.ends', [1], [14]), n.b.int64s('sl.axes', [1], [1])]);
  return n.head(n.cbr(sl, 10, 8, 3, { bnKept, name: 'after' }), 8);
}

/** The same Split and Slice at opset 9, where sizes and bounds are attributes (and Unsqueeze axes too). */
function splitSliceOpset9(seed: number, bnKept: boolean): Model {
  const n = new Net(seed, 9);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const [a, c] = n.b.node('Split', [x], [attrInt('axis', 1), attrInts('split', [6, 10])], { outputs: 2 });
  const ya = n.cbr(a!, 6, 8, 3, { bnKept, name: 'ba' });
  const yc = n.cbr(c!, 10, 8, 3, { bnKept, name: 'bc' });
  const cat = n.concat([ya, yc]);
  const sl = n.b.op('Slice', [cat], [attrInts('starts', [4]), attrInts('ends', [14]), attrInts('axes', [1])]);
  const u = n.b.op('Unsqueeze', [sl], [attrInts('axes', [0])]);
  const q = n.b.op('Squeeze', [u], [attrInts('axes', [0])]);
  return n.head(n.cbr(q, 10, 8, 3, { bnKept, name: 'after' }), 8);
}

/** Per-channel constants (Add, Mul, PRelu slope), Pad on spatial axes, Resize with sizes, ConvTranspose. */
function perChannel(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.b.input('input', [2, 3, 8, 8]), 3, 12, 3, { bnKept, name: 'stem' });
  const a = n.b.op('Add', [x, n.b.floats('shift', [12, 1, 1], n.rng.uniformArray(12, -0.5, 0.5))]);
  const m = n.b.op('Mul', [a, n.b.floats('scale', [1, 12, 1, 1], n.rng.uniformArray(12, 0.5, 1.5))]);
  const p = n.b.op('PRelu', [m, n.b.floats('slope', [12, 1, 1], n.rng.uniformArray(12, 0, 0.3))]);
  const pad = n.b.op('Pad', [p, n.b.int64s('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1])]);
  // Explicit sizes include the channel count (and so the batch: this net has a fixed batch of 2).
  const up = n.b.op('Resize', [pad, null, null, n.b.int64s('sizes', [4], [2, 12, 12, 12])], [attrString('mode', 'nearest')]);
  const wt = n.weights('deconv.weight', [12, 8, 2, 2], 12 * 4);
  const dc = n.b.op('ConvTranspose', [up, wt, n.vec('deconv.bias', 8)], [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]);
  return n.head(n.relu(dc), 8);
}

/** Layout ops between layers: Transpose → MatMul over the channel-last axis, a channel sum, Unsqueeze/Squeeze, Gather, Expand, Tile. */
function layoutOps(seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  const x = n.cbr(n.input(3, 8), 3, 16, 3, { bnKept, name: 'stem' });
  const t = n.b.op('Transpose', [x], [attrInts('perm', [0, 2, 3, 1])]);
  const mm = n.b.op('MatMul', [t, n.weights('mm.weight', [16, 12], 16)]);
  const back = n.b.op('Transpose', [mm], [attrInts('perm', [0, 3, 1, 2])]);
  // A sum over the channels: zeroed and removed channels add the same nothing.
  const sum = n.b.op('ReduceSum', [back, n.b.int64s('sum.axes', [1], [1])], [attrInt('keepdims', 1)]);
  const scaled = n.b.op('Mul', [back, n.b.op('Sigmoid', [sum])]);
  const u = n.b.op('Unsqueeze', [scaled, n.b.int64s('unsq.axes', [1], [2])]);
  const q = n.b.op('Squeeze', [u, n.b.int64s('sq.axes', [1], [2])]);
  const g = n.b.op('Gather', [q, n.b.int64s('cols', [3], [0, 2, 4])], [attrInt('axis', 3)]);
  const ex = n.b.op('Expand', [n.b.floats('offset', [1, 12, 1, 1], n.rng.uniformArray(12, -0.5, 0.5)), n.b.int64s('ex.shape', [4], [1, 12, 8, 3])]);
  const added = n.b.op('Add', [g, ex]);
  const tiled = n.b.op('Tile', [added, n.b.int64s('reps', [4], [1, 1, 1, 2])]);
  return n.head(n.cbr(tiled, 12, 8, 3, { bnKept, name: 'after' }), 8);
}

export const CONSTRUCTS: readonly Construct[] = [
  { name: 'residual', build: residual },
  { name: 'residual-projection', build: residualProjection },
  { name: 'densenet-concat', build: dense },
  { name: 'inception-concat', build: inception },
  { name: 'squeezenet-fire', build: fire },
  { name: 'inverted-residual', build: invertedResidual },
  { name: 'depthwise-multiplier', build: depthwiseMultiplier },
  { name: 'grouped-conv', build: grouped },
  { name: 'se-block', build: squeezeExcite },
  { name: 'channel-shuffle', build: channelShuffle },
  { name: 'flatten-gemm', build: flattenGemm },
  { name: 'reshape-matmul', build: reshapeMatMul },
  { name: 'constant-weights', build: constantWeights },
  { name: 'split-slice', build: splitSlice },
  { name: 'split-slice-opset9', build: splitSliceOpset9 },
  { name: 'per-channel-ops', build: perChannel },
  { name: 'layout-ops', build: layoutOps },
];

export function construct(name: string): Construct {
  const c = CONSTRUCTS.find((x) => x.name === name);
  if (!c) throw new Error(`no construct ${name}`);
  return c;
}

export { DataType, Node };

/** One block of a random network: kind (0 conv, 1 residual, 2 concat, 3 depthwise, 4 grouped, 5 SE, 6 split) and a width. */
export interface BlockSpec {
  kind: number;
  width: number;
}

/** A random composition of the constructs, for property tests. */
export function randomNet(blocks: readonly BlockSpec[], seed: number, bnKept: boolean): Model {
  const n = new Net(seed);
  let x = n.cbr(n.input(3, 6), 3, 8, 3, { bnKept });
  let c = 8;
  for (const { kind, width } of blocks) {
    const w = 2 * Math.max(1, Math.round(width / 2));
    switch (kind % 7) {
      case 0:
        x = n.cbr(x, c, w, 3, { bnKept });
        c = w;
        break;
      case 1: {
        const h = n.cbr(x, c, w, 3, { bnKept });
        x = n.relu(n.add(x, n.cbr(h, w, c, 1, { bnKept, act: false })));
        break;
      }
      case 2: {
        const h = n.cbr(x, c, w, 1, { bnKept });
        x = n.concat([h, x]);
        c += w;
        break;
      }
      case 3:
        x = n.cbr(x, c, c, 3, { group: c, bnKept });
        break;
      case 4:
        if (c % 2 === 0) {
          x = n.cbr(x, c, w, 3, { group: 2, bnKept });
          c = w;
        }
        break;
      case 5: {
        const sq = n.relu(n.conv(n.gap(x), c, 4, 1));
        x = n.b.op('Mul', [x, n.b.op('Sigmoid', [n.conv(sq, 4, c, 1)])]);
        break;
      }
      default: {
        const k = Math.max(1, Math.floor(c / 3));
        const [p, q] = n.b.node('Split', [x, n.b.int64s('split', [2], [k, c - k])], [attrInt('axis', 1)], { outputs: 2 });
        x = n.concat([n.cbr(q!, c - k, w, 3, { bnKept }), p!]);
        c = w + k;
      }
    }
  }
  return n.head(x, c);
}

/**
 * A net as tf2onnx writes a small Keras model: NHWC input through a Transpose, a swish
 * (x·sigmoid(x)), a residual Add, global average pooling as ReduceMean over H and W, the
 * classifier as MatMul + Add, Softmax. Returns the model with the residual stream `a2` and
 * the last activation `r3` (GWCS's feature).
 */
export function tf2onnxStyleNet(seed: number): { model: Model; a2: Value; r3: Value } {
  const n = new Net(seed, 13);
  const nhwc = n.b.input('input_1', ['unk__12', 8, 8, 3]);
  const x = n.b.op('Transpose', [nhwc], [attrInts('perm', [0, 3, 1, 2])]);
  const c1 = n.relu(n.conv(x, 3, 8, 3, { name: 'c1' }));
  const c2 = n.conv(c1, 8, 12, 3, { name: 'c2', stride: 2 });
  const a2 = n.b.op('Mul', [c2, n.b.op('Sigmoid', [c2])]);
  const r3 = n.relu(n.add(n.conv(a2, 12, 12, 3, { name: 'c3' }), a2));
  const gap = n.b.op('ReduceMean', [r3], [attrInts('axes', [2, 3]), attrInt('keepdims', 0)]);
  const logits = n.b.op('Add', [n.b.op('MatMul', [gap, n.weights('fc_w', [12, 5], 12)]), n.vec('fc_b', 5)]);
  n.b.output(n.b.op('Softmax', [logits], [attrInt('axis', -1)]), 'dense');
  return { model: n.model, a2, r3 };
}
