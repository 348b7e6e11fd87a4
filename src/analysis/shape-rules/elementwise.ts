/**
 * Shape rules of elementwise operators: unary ops keep the input shape; binary and variadic
 * ops broadcast numpy-style (opset 7 on; the opset 1–6 `broadcast`/`axis` attributes are out
 * of scope); comparisons and logic give BOOL.
 */
import { DataType } from '../../ir/data-type.js';
import type { Rule, RuleContext } from './common.js';
import { broadcast } from './common.js';

const same: Rule = (ctx: RuleContext) => [{ shape: ctx.shape(0) }];

const UNARY = [
  'Identity',
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'Exp',
  'Log',
  'Sqrt',
  'Neg',
  'Abs',
  'Erf',
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
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Mish',
  'Softplus',
  'Softsign',
  'ThresholdedRelu',
  'Shrink',
  'LRN',
  'Clip',
  'LpNormalization',
  'MeanVarianceNormalization',
  'CumSum',
  'Trilu',
  'BitwiseNot',
  'ReverseSequence',
  'GroupNormalization',
  'Swish',
  'ScatterND',
  'ScatterElements',
  'Scatter',
];

const BINARY = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'Max', 'Min', 'Mean', 'Sum'];

const LOGIC = ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'];

/** Ops that broadcast numpy-style from opset 8 (7 for the rest of BINARY and LOGIC). */
const VARIADIC = new Set(['Max', 'Min', 'Mean', 'Sum']);

/**
 * Every present input broadcast together. Before numpy broadcasting (opset 7, or 8 for the
 * variadic ops) the result had the first input's shape: B broadcast onto A one way with the
 * `broadcast`/`axis` attributes, or the shapes were equal.
 */
const broadcastAll: Rule = (ctx: RuleContext) => {
  if (ctx.opset < (VARIADIC.has(ctx.node.opType) ? 8 : 7)) return [{ shape: ctx.shape(0) }];
  const shapes = ctx.node.inputs.map((v, i) => (v ? ctx.shape(i) : null)).filter((s) => s !== null);
  return [{ shape: broadcast(ctx, shapes) }];
};

const logic: Rule = (ctx: RuleContext) => broadcastAll(ctx).map((o) => ({ ...o, elem: DataType.BOOL }));

const boolSame: Rule = (ctx: RuleContext) => [{ shape: ctx.shape(0), elem: DataType.BOOL }];

const cast: Rule = (ctx: RuleContext) => {
  const to = ctx.node.attrInt('to');
  if (to === undefined) ctx.fail('Cast needs a `to` attribute');
  return [{ shape: ctx.shape(0), elem: to }];
};

const castLike: Rule = (ctx: RuleContext) => [{ shape: ctx.shape(0), elem: ctx.elem(1) }];

const dropout: Rule = (ctx: RuleContext) => {
  const s = ctx.shape(0);
  // The mask is BOOL from opset 10; before, it had the data's type.
  return [{ shape: s }, { shape: s, elem: ctx.opset >= 10 ? DataType.BOOL : ctx.elem(0) }];
};

/** PRelu's slope broadcasts onto X, never the other way (before opset 7: one slope per channel). */
const prelu: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  if (ctx.opset < 7) return [{ shape: x }];
  const out = broadcast(ctx, [x, ctx.shape(1)]);
  if (out.length !== x.length) ctx.fail(`slope of rank ${ctx.shape(1).length} does not broadcast onto X of rank ${x.length}`);
  return [{ shape: x.map((d, i) => (d === null ? out[i]! : d)) }];
};

const where: Rule = (ctx: RuleContext) => [{ shape: broadcast(ctx, [ctx.shape(0), ctx.shape(1), ctx.shape(2)]), elem: ctx.elem(1) }];

const quantize: Rule = (ctx: RuleContext) => [
  { shape: ctx.shape(0), elem: ctx.has(2) ? ctx.elem(2) : ctx.node.attrInt('output_dtype', DataType.UINT8) || DataType.UINT8 },
];
const dequantize: Rule = (ctx: RuleContext) => [{ shape: ctx.shape(0), elem: ctx.node.attrInt('output_dtype', 0) || ctx.elem(1) }];

const eyeLike: Rule = (ctx: RuleContext) => [{ shape: ctx.shape(0), elem: ctx.node.attrInt('dtype') ?? ctx.elem(0) }];

const likeRandom: Rule = (ctx: RuleContext) => [{ shape: ctx.shape(0), elem: ctx.node.attrInt('dtype') ?? ctx.elem(0) }];

export const elementwiseRules: Record<string, Rule> = {
  ...Object.fromEntries(UNARY.map((op) => [op, same])),
  ...Object.fromEntries(BINARY.map((op) => [op, broadcastAll])),
  ...Object.fromEntries(LOGIC.map((op) => [op, logic])),
  Not: boolSame,
  IsNaN: boolSame,
  IsInf: boolSame,
  Cast: cast,
  CastLike: castLike,
  Dropout: dropout,
  PRelu: prelu,
  Where: where,
  QuantizeLinear: quantize,
  DequantizeLinear: dequantize,
  EyeLike: eyeLike,
  RandomNormalLike: likeRandom,
  RandomUniformLike: likeRandom,
  Bernoulli: likeRandom,
};
