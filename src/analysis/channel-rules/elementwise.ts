/**
 * Channel rules of ops that act per element or per channel: activations pass every axis
 * through; arithmetic with broadcasting couples the aligned axes of its inputs (an SE
 * block's [N,C,1,1] scale with its [N,C,H,W] input; a per-channel constant is a member and
 * gets sliced); pooling, Pad and Resize pass the channel axis through when they leave it
 * alone. Softmax over the channel axis and reductions that are not sums freeze it: with a
 * channel removed they compute something else than with the channel zeroed.
 */
import type { Node, Value } from '../../ir/core.js';
import type { ChannelRule, ChannelRuleContext } from './context.js';
import { normAxis } from './context.js';
import { intTensor, linkClass, rankOf } from './helpers.js';
import { constantTensor } from './constant.js';

/** Same shape in and out: origin axis a of input `ins` or output `outs` ↔ axis a of the others. */
function sameShape(ins: readonly number[], outs: readonly number[]): ChannelRule {
  return (ctx) => {
    const n = ctx.node;
    const o = ctx.origin;
    const inList = o.side === 'in' && ins.includes(o.index);
    const outList = o.side === 'out' && outs.includes(o.index);
    if (!inList && !outList) return; // a control input (Clip bounds, a type template): no channels of its own
    const members: [Value | null | undefined, number][] = [];
    for (const i of ins) members.push([n.inputs[i], o.axis]);
    for (const i of outs) members.push([n.outputs[i], o.axis]);
    linkClass(ctx, members);
  };
}

const unary = sameShape([0], [0]);

/** Multidirectional (numpy) broadcasting over the given inputs and output 0. */
function broadcasting(inputs?: readonly number[]): ChannelRule {
  return (ctx) => {
    const n = ctx.node;
    const o = ctx.origin;
    const idx = inputs ?? n.inputs.map((_, i) => i);
    if (o.side === 'in' && !idx.includes(o.index)) return;
    if (o.side === 'out' && o.index !== 0) {
      ctx.freezeOrigin('unexpected output');
      return;
    }
    const ins = idx.map((i) => n.inputs[i]).filter((v): v is Value => !!v);
    const ranks = ins.map((v) => rankOf(ctx, v));
    if (ranks.some((r) => r === undefined)) {
      ctx.freezeOrigin('an operand rank is unknown');
      return;
    }
    const R = rankOf(ctx, n.outputs[0]) ?? Math.max(...(ranks as number[]));
    const outAxis = o.side === 'out' ? o.axis : o.axis + R - rankOf(ctx, o.value)!;
    const members: [Value | null | undefined, number][] = [[n.outputs[0], outAxis]];
    ins.forEach((v, i) => members.push([v, outAxis - (R - ranks[i]!)]));
    linkClass(ctx, members);
  };
}

/** Softmax, LogSoftmax, Hardmax: the normalised axis (from opset 13) or axes (before) freeze. */
const softmaxLike: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const r = rankOf(ctx, n.inputs[0]);
  if (r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  const axis = normAxis(n.attrInt('axis', ctx.opset >= 13 ? -1 : 1), r);
  if (axis === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  const normalised = ctx.opset >= 13 ? o.axis === axis : o.axis >= axis;
  if (normalised) {
    ctx.freezeOrigin(`${n.opType} normalises over this axis: removing a channel changes the others`);
    return;
  }
  unary(ctx);
};

/** Reductions whose result with a channel zeroed equals the result with it removed. */
const SUM_LIKE = new Set(['ReduceSum', 'ReduceSumSquare', 'ReduceL1', 'ReduceL2']);

function reduceAxes(ctx: ChannelRuleContext, n: Node, r: number): number[] | undefined | 'none' {
  const fromInput = n.inputs.length > 1 && n.inputs[1];
  let axes: number[] | undefined;
  if (fromInput) {
    axes = ctx.ints(n.inputs[1]);
    if (axes === undefined) return undefined;
  } else {
    axes = n.attrInts('axes');
  }
  if (!axes || axes.length === 0) {
    if (n.attrInt('noop_with_empty_axes', 0) !== 0) return 'none';
    return Array.from({ length: r }, (_, i) => i);
  }
  const out: number[] = [];
  for (const a of axes) {
    const x = normAxis(a, r);
    if (x === undefined) return undefined;
    out.push(x);
  }
  return out;
}

const reduce: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const x = n.inputs[0];
  const y = n.outputs[0];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  if (o.side === 'in' && o.index !== 0) return;
  const axes = reduceAxes(ctx, n, r);
  if (axes === undefined) {
    ctx.freezeOrigin('reduction axes are not constant');
    return;
  }
  if (axes === 'none') {
    ctx.identityTo(o.slot, o.side === 'in' ? y : x, o.axis);
    return;
  }
  const keep = n.attrInt('keepdims', 1) !== 0;
  const kept = Array.from({ length: r }, (_, i) => i).filter((i) => !axes.includes(i));
  if (o.side === 'in') {
    if (axes.includes(o.axis)) {
      if (!SUM_LIKE.has(n.opType)) ctx.freezeOrigin(`${n.opType} over this axis changes when a channel is removed`);
      return; // a sum over the channel axis: the channel simply stops here
    }
    ctx.identityTo(o.slot, y, keep ? o.axis : kept.indexOf(o.axis));
    return;
  }
  const inAxis = keep ? o.axis : kept[o.axis];
  if (inAxis === undefined || axes.includes(inAxis)) return; // a reduced (size-1) axis
  ctx.identityTo(o.slot, x, inAxis);
};

const argReduce: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const x = n.inputs[0];
  const y = n.outputs[0];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  const axis = normAxis(n.attrInt('axis', 0), r);
  const keep = n.attrInt('keepdims', 1) !== 0;
  if (axis === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  if (o.side === 'in') {
    if (o.axis === axis) {
      ctx.freezeOrigin(`${n.opType} returns positions along this axis`);
      return;
    }
    ctx.identityTo(o.slot, y, keep || o.axis < axis ? o.axis : o.axis - 1);
    return;
  }
  const inAxis = keep || o.axis < axis ? o.axis : o.axis + 1;
  if (inAxis === axis) return;
  ctx.identityTo(o.slot, x, inAxis);
};

/** Pooling: N and C pass through, spatial axes do not. MaxPool's indices encode the channel. */
const pool: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  if (o.side === 'out' && o.index !== 0) {
    ctx.freezeOrigin('pooling indices encode the channel position');
    return;
  }
  if (o.axis >= 2) {
    ctx.freezeOrigin('pooling changes the spatial axes');
    return;
  }
  if (n.outputs[1] && (n.outputs[1].useCount > 0 || n.outputs[1].isGraphOutput())) {
    ctx.freezeOrigin('MaxPool indices encode the channel position');
    return;
  }
  ctx.identityTo(o.slot, o.side === 'in' ? n.outputs[0] : n.inputs[0], o.axis);
};

const pad: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  if (o.side === 'in' && o.index !== 0) return;
  const x = n.inputs[0];
  const r = rankOf(ctx, x);
  if (!x || r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  const pads = ctx.opset >= 11 ? ctx.ints(n.inputs[1]) : (n.attrInts('pads') ?? n.attrInts('paddings'));
  if (!pads) {
    ctx.freezeOrigin('pads are not constant');
    return;
  }
  let axes = Array.from({ length: r }, (_, i) => i);
  if (n.inputs[3]) {
    const a = ctx.ints(n.inputs[3]);
    if (!a) {
      ctx.freezeOrigin('pad axes are not constant');
      return;
    }
    axes = a.map((v) => (v < 0 ? v + r : v));
  }
  const p = axes.indexOf(o.axis);
  if (p >= 0 && (pads[p] !== 0 || pads[p + axes.length] !== 0)) {
    ctx.freezeOrigin('Pad pads this axis');
    return;
  }
  ctx.identityTo(o.slot, o.side === 'in' ? n.outputs[0] : x, o.axis);
};

/** Resize / Upsample: the axis passes through when its scale is 1; explicit sizes get rewritten. */
const resize: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  if (o.side === 'in' && o.index !== 0) return;
  const x = n.inputs[0];
  const y = n.outputs[0];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  const axes = n.attrInts('axes')?.map((a) => (a < 0 ? a + r : a)) ?? Array.from({ length: r }, (_, i) => i);
  const p = axes.indexOf(o.axis);
  const pass = () => ctx.identityTo(o.slot, o.side === 'in' ? y : x, o.axis);
  if (p < 0) {
    pass();
    return;
  }
  let scales: number[] | undefined;
  let sizesIndex = -1;
  if (n.opType === 'Upsample') {
    scales = ctx.opset >= 9 ? foldedFloats(ctx, n.inputs[1]) : n.attrFloats('scales');
  } else if (ctx.opset < 11) {
    scales = foldedFloats(ctx, n.inputs[1]);
  } else {
    const s = n.inputs[2];
    const sz = n.inputs[3];
    if (sz) sizesIndex = 3;
    else scales = foldedFloats(ctx, s);
  }
  if (sizesIndex < 0) {
    if (!scales || scales[p] !== 1) {
      ctx.freezeOrigin('Resize scales this axis (or its scales are not constant)');
      return;
    }
    pass();
    return;
  }
  const sv = n.inputs[sizesIndex]!;
  const sizes = ctx.ints(sv);
  const dim = ctx.shape(x)?.[o.axis];
  if (!sizes || sizes[p] !== dim) {
    ctx.freezeOrigin('Resize resizes this axis (or its sizes are not constant)');
    return;
  }
  if (!constantTensor(sv)) {
    ctx.freezeOrigin('Resize sizes are computed at run time and would need rewriting');
    return;
  }
  const ys = pass();
  if (!ys) return;
  ctx.fixup(`sizes`, (fc) => {
    const cur = constantTensor(sv)!.toNumbers();
    const next = [...cur];
    for (const [ax, i] of axes.map((a, i) => [a, i] as const)) {
      const s = fc.slotOf(y, ax);
      if (s) next[i] = fc.newSize(s);
    }
    if (next.some((v, i) => v !== cur[i])) fc.setConstInput(n, sizesIndex, intTensor(next, constantTensor(sv)));
  });
};

function foldedFloats(ctx: ChannelRuleContext, v: Value | null | undefined): number[] | undefined {
  const f = ctx.folded(v);
  if (!f || f.data.some((d) => typeof d !== 'number')) return undefined;
  return f.data as number[];
}

/** DequantizeLinear / QuantizeLinear: per-axis scale and zero point follow the quantised axis. */
const quantize: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, scale, zp] = [n.inputs[0], n.inputs[1], n.inputs[2]];
  const y = n.outputs[0];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  if (n.attrInt('block_size', 0) > 0) {
    ctx.freezeOrigin('blocked quantisation');
    return;
  }
  const axis = normAxis(n.attrInt('axis', 1), r);
  const perAxis = (rankOf(ctx, scale) ?? 0) === 1 && ctx.shape(scale)?.[0] !== 1;
  const isParam = o.side === 'in' && o.index > 0;
  const a = isParam ? axis : o.axis;
  if (a === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  const members: [Value | null | undefined, number][] = [
    [x, a],
    [y, a],
  ];
  if (perAxis && a === axis) members.push([scale, 0], [zp, 0]);
  linkClass(ctx, members);
};

const UNARY = [
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Celu',
  'Softplus',
  'Softsign',
  'Gelu',
  'Mish',
  'ThresholdedRelu',
  'Erf',
  'Abs',
  'Neg',
  'Sqrt',
  'Exp',
  'Log',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'Asinh',
  'Acosh',
  'Atanh',
  'Not',
  'IsNaN',
  'IsInf',
  'Shrink',
  'Cast',
  'Identity',
  'LpNormalization',
  'BitwiseNot',
];
const BINARY = [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Mod',
  'PRelu',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'And',
  'Or',
  'Xor',
  'BitShift',
  'BitwiseAnd',
  'BitwiseOr',
  'BitwiseXor',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Where',
];

export const elementwiseChannelRules: Record<string, ChannelRule> = {
  ...Object.fromEntries(UNARY.map((op) => [op, unary])),
  ...Object.fromEntries(BINARY.map((op) => [op, broadcasting()])),
  Clip: unary,
  CastLike: unary,
  Dropout: sameShape([0], [0, 1]),
  Softmax: softmaxLike,
  LogSoftmax: softmaxLike,
  Hardmax: softmaxLike,
  ReduceSum: reduce,
  ReduceSumSquare: reduce,
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceLogSum: reduce,
  ReduceLogSumExp: reduce,
  ArgMax: argReduce,
  ArgMin: argReduce,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: pool,
  GlobalMaxPool: pool,
  GlobalLpPool: pool,
  Pad: pad,
  Resize: resize,
  Upsample: resize,
  DequantizeLinear: quantize,
  QuantizeLinear: quantize,
};
