/**
 * Shape rules of the layers that carry weights or windows: Conv, ConvTranspose, Gemm,
 * MatMul, pooling, normalisation. Output sizes follow onnxruntime's arithmetic (which is
 * what a model is judged by), including its ceil_mode correction and SAME padding.
 */
import { DataType } from '../../ir/data-type.js';
import type { StaticDim } from '../../ir/types.js';
import type { OutInfo, Rule, RuleContext, Shape } from './common.js';
import { UnknownShape, broadcast, isNum, normAxis, unifyDim } from './common.js';

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowAttrs(ctx: RuleContext, spatial: number, kernel: number[]): Window {
  const n = ctx.node;
  const strides = n.attrInts('strides') ?? new Array<number>(spatial).fill(1);
  const dilations = n.attrInts('dilations') ?? new Array<number>(spatial).fill(1);
  const pads = n.attrInts('pads') ?? new Array<number>(2 * spatial).fill(0);
  const autoPad = n.attrString('auto_pad', 'NOTSET');
  if (kernel.length !== spatial) ctx.fail(`kernel_shape has ${kernel.length} dims; the input has ${spatial} spatial dims`);
  if (strides.length !== spatial || dilations.length !== spatial || pads.length !== 2 * spatial) {
    ctx.fail(`strides/dilations/pads do not match ${spatial} spatial dims`);
  }
  if (strides.some((s) => s <= 0)) ctx.fail(`strides must be positive, got [${strides}]`);
  return { kernel, strides, dilations, pads, autoPad };
}

/**
 * Output size of a sliding window along one axis, as onnxruntime computes it: SAME pads
 * for ceil(d / s) positions of the undilated kernel, and with ceil_mode a last window that
 * would start in the end padding is dropped.
 */
function windowOut(ctx: RuleContext, d: StaticDim, k: number, s: number, dil: number, padB: number, padE: number, autoPad: string, ceil: boolean): StaticDim {
  if (!isNum(d)) return null;
  let padTotal: number;
  let padHead: number;
  switch (autoPad) {
    case 'SAME_UPPER':
    case 'SAME_LOWER': {
      padTotal = (Math.ceil(d / s) - 1) * s + k - d;
      padHead = autoPad === 'SAME_LOWER' ? Math.floor((padTotal + 1) / 2) : Math.floor(padTotal / 2);
      break;
    }
    case 'VALID':
      padTotal = 0;
      padHead = 0;
      break;
    case 'NOTSET':
    case '':
      padTotal = padB + padE;
      padHead = padB;
      break;
    default:
      ctx.fail(`unknown auto_pad "${autoPad}"`);
  }
  const num = d + padTotal - dil * (k - 1) - 1;
  let size = sized(num, s, ceil) + 1;
  if (ceil && (size - 1) * s >= d + padHead) size--;
  if (size <= 0) ctx.fail(`window of ${dil * (k - 1) + 1} (kernel ${k}, dilation ${dil}) does not fit an input of ${d} with pads ${padB}+${padE}`);
  return size;
}

function sized(num: number, s: number, ceil: boolean): number {
  return ceil ? Math.ceil(num / s) : Math.floor(num / s);
}

const conv: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const w = ctx.shape(1);
  if (x.length < 3) ctx.fail(`input must be [N, C, spatial...], got rank ${x.length}`);
  if (w.length !== x.length) ctx.fail(`weight rank ${w.length} does not match input rank ${x.length}`);
  const group = ctx.node.attrInt('group', 1);
  const spatial = x.length - 2;
  const kernel =
    ctx.node.attrInts('kernel_shape') ??
    w.slice(2).map((d) => {
      if (!isNum(d)) throw new UnknownShape('the weight has symbolic spatial dims and there is no kernel_shape');
      return d;
    });
  const win = windowAttrs(ctx, spatial, kernel);
  const cIn = x[1]!;
  const wIn = w[1]!;
  if (isNum(cIn) && isNum(wIn) && cIn !== wIn * group) {
    ctx.fail(`input has ${cIn} channels but the weight expects ${wIn} x group ${group} = ${wIn * group}`);
  }
  const m = w[0]!;
  if (isNum(m) && m % group !== 0) ctx.fail(`${m} output channels are not divisible by group ${group}`);
  w.slice(2).forEach((d, i) => {
    if (isNum(d) && d !== kernel[i]) ctx.fail(`kernel_shape [${kernel}] does not match the weight's [${w.slice(2)}]`);
  });
  if (ctx.has(2)) {
    const b = ctx.shape(2);
    if (b.length !== 1) ctx.fail(`bias must be 1-D, got rank ${b.length}`);
    unifyDim(ctx, b[0]!, m, 'bias length vs output channels');
  }
  const out: Shape = [x[0]!, m];
  for (let i = 0; i < spatial; i++) {
    out.push(windowOut(ctx, x[2 + i]!, kernel[i]!, win.strides[i]!, win.dilations[i]!, win.pads[i]!, win.pads[i + spatial]!, win.autoPad, false));
  }
  return [{ shape: out }];
};

const convTranspose: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const w = ctx.shape(1);
  if (x.length < 3) ctx.fail(`input must be [N, C, spatial...], got rank ${x.length}`);
  if (w.length !== x.length) ctx.fail(`weight rank ${w.length} does not match input rank ${x.length}`);
  const n = ctx.node;
  const group = n.attrInt('group', 1);
  const spatial = x.length - 2;
  const kernel =
    n.attrInts('kernel_shape') ??
    w.slice(2).map((d) => {
      if (!isNum(d)) throw new UnknownShape('the weight has symbolic spatial dims and there is no kernel_shape');
      return d;
    });
  const win = windowAttrs(ctx, spatial, kernel);
  const outPad = n.attrInts('output_padding') ?? new Array<number>(spatial).fill(0);
  unifyDim(ctx, x[1]!, w[0]!, 'input channels vs weight dim 0');
  const m: StaticDim = isNum(w[1]!) ? w[1] * group : null;
  if (ctx.has(2)) unifyDim(ctx, ctx.shape(2)[0]!, m, 'bias length vs output channels');
  const outShape = n.attrInts('output_shape');
  const out: Shape = [x[0]!, m];
  for (let i = 0; i < spatial; i++) {
    if (outShape) {
      // Some exporters write the full [N, C, ...] shape; the spec means the spatial part.
      out.push(outShape[outShape.length - spatial + i]!);
      continue;
    }
    const d = x[2 + i]!;
    if (!isNum(d)) {
      out.push(null);
      continue;
    }
    const s = win.strides[i]!;
    if (win.autoPad === 'SAME_UPPER' || win.autoPad === 'SAME_LOWER') {
      out.push(d * s);
      continue;
    }
    const pads = win.autoPad === 'VALID' ? 0 : win.pads[i]! + win.pads[i + spatial]!;
    const size = s * (d - 1) + outPad[i]! + (kernel[i]! - 1) * win.dilations[i]! + 1 - pads;
    if (size <= 0) ctx.fail(`output size ${size} along spatial axis ${i} is not positive`);
    out.push(size);
  }
  return [{ shape: out }];
};

function pool(ceilAllowed: boolean): Rule {
  return (ctx: RuleContext) => {
    const x = ctx.shape(0);
    if (x.length < 3) ctx.fail(`input must be [N, C, spatial...], got rank ${x.length}`);
    const spatial = x.length - 2;
    const kernel = ctx.node.attrInts('kernel_shape');
    if (!kernel) ctx.fail('kernel_shape is required');
    const win = windowAttrs(ctx, spatial, kernel);
    const ceil = ceilAllowed && ctx.node.attrInt('ceil_mode', 0) === 1;
    const out: Shape = [x[0]!, x[1]!];
    for (let i = 0; i < spatial; i++) {
      out.push(windowOut(ctx, x[2 + i]!, kernel[i]!, win.strides[i]!, win.dilations[i]!, win.pads[i]!, win.pads[i + spatial]!, win.autoPad, ceil));
    }
    const res: OutInfo[] = [{ shape: out }];
    if (ctx.node.opType === 'MaxPool') res.push({ shape: out, elem: DataType.INT64 });
    return res;
  };
}

const globalPool: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  if (x.length < 3) ctx.fail(`input must be [N, C, spatial...], got rank ${x.length}`);
  return [{ shape: [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] }];
};

const gemm: Rule = (ctx: RuleContext) => {
  const a = ctx.shape(0);
  const b = ctx.shape(1);
  if (a.length !== 2 || b.length !== 2) ctx.fail(`A and B must be 2-D, got ranks ${a.length} and ${b.length}`);
  const ta = ctx.node.attrInt('transA', 0) === 1;
  const tb = ctx.node.attrInt('transB', 0) === 1;
  const [m, ka] = ta ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [kb, n] = tb ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  unifyDim(ctx, ka, kb, `inner dimensions of A${ta ? 'ᵀ' : ''} and B${tb ? 'ᵀ' : ''} differ`);
  if (ctx.has(2)) {
    // C broadcasts one way onto [M, N]: the result may not grow.
    const c = ctx.shape(2);
    const r = broadcast(ctx, [[m, n], c]);
    if (r.length !== 2) ctx.fail(`bias C of rank ${c.length} does not broadcast to [M, N]`);
  }
  return [{ shape: [m, n] }];
};

/** numpy.matmul shapes, incl. 1-D promotion and batch broadcasting. */
export function matmulShape(ctx: RuleContext, a: Shape, b: Shape): Shape {
  if (a.length === 0 || b.length === 0) ctx.fail('MatMul operands must not be scalars');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const m = a2[a2.length - 2]!;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  const n = b2[b2.length - 1]!;
  unifyDim(ctx, k1, k2, 'inner dimensions differ');
  const batch = broadcast(ctx, [a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch];
  if (a.length !== 1) out.push(m);
  if (b.length !== 1) out.push(n);
  return out;
}

const matmul: Rule = (ctx: RuleContext) => [{ shape: matmulShape(ctx, ctx.shape(0), ctx.shape(1)) }];

function channelParams(ctx: RuleContext, from: number, to: number, c: StaticDim, what: string): void {
  for (let i = from; i <= to; i++) {
    if (!ctx.has(i)) continue;
    const p = ctx.shape(i);
    if (p.length !== 1) ctx.fail(`${what} input ${i} must be 1-D, got rank ${p.length}`);
    unifyDim(ctx, p[0]!, c, `${what} input ${i} length vs channels`);
  }
}

const batchNorm: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  if (x.length < 2) ctx.fail(`input must have a channel axis, got rank ${x.length}`);
  const c = x[1]!;
  channelParams(ctx, 1, 4, c, 'BatchNormalization');
  const outs: OutInfo[] = [{ shape: x }];
  // Training-mode outputs (running/saved mean and variance) are per channel.
  for (let i = 1; i < ctx.node.outputs.length; i++) outs.push({ shape: [c] });
  return outs;
};

const instanceNorm: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  if (x.length < 3) ctx.fail(`input must be [N, C, spatial...], got rank ${x.length}`);
  channelParams(ctx, 1, 2, x[1]!, 'InstanceNormalization');
  return [{ shape: x }];
};

const layerNorm: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const axis = normAxis(ctx, ctx.node.attrInt('axis', -1), x.length);
  const stats = x.map((d, i) => (i < axis ? d : 1));
  const statElem = ctx.node.attrInt('stash_type', DataType.FLOAT);
  return [{ shape: x }, { shape: stats, elem: statElem }, { shape: stats, elem: statElem }];
};

/** ConvInteger's inputs 2 and 3 are zero points, not a bias. */
const convInteger: Rule = (ctx: RuleContext) => {
  const view: RuleContext = { ...ctx, has: (i) => i < 2 && ctx.has(i) };
  return conv(view).map((o) => ({ ...o, elem: DataType.INT32 }));
};

/** QLinearConv reads x at 0 and w at 3: reuse the Conv rule on a remapped view. */
const qlinearConv: Rule = (ctx: RuleContext) => {
  const view: RuleContext = {
    ...ctx,
    has: (i) => ctx.has(i === 0 ? 0 : i === 1 ? 3 : i === 2 ? 8 : -1),
    shape: (i) => ctx.shape(i === 0 ? 0 : i === 1 ? 3 : 8),
  };
  return conv(view).map((o) => ({ ...o, elem: ctx.elem(7) }));
};

const qlinearMatMul: Rule = (ctx: RuleContext) => [{ shape: matmulShape(ctx, ctx.shape(0), ctx.shape(3)), elem: ctx.elem(7) }];
const matmulInteger: Rule = (ctx: RuleContext) => [{ shape: matmulShape(ctx, ctx.shape(0), ctx.shape(1)), elem: DataType.INT32 }];

export const nnRules: Record<string, Rule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  ConvInteger: convInteger,
  QLinearConv: qlinearConv,
  MaxPool: pool(true),
  AveragePool: pool(true),
  LpPool: pool(true),
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  Gemm: gemm,
  MatMul: matmul,
  MatMulInteger: matmulInteger,
  QLinearMatMul: qlinearMatMul,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
};
