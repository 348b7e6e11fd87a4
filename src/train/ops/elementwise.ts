/**
 * Elementwise ops: activations, arithmetic with numpy broadcasting, comparisons, Where,
 * Clip, PRelu, Softmax/LogSoftmax. Layout rule: when the widest operand is rank 4 and one
 * operand is stored NHWC, every operand is brought to NHWC (`broadcastNhwc`) and the result
 * stays NHWC; otherwise everything runs in logical layout. All-host operands are computed
 * on the host (shape arithmetic).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { CompileCtx, OpCompiler, OpRun } from './context.js';
import { need } from './context.js';
import { nativeClip, nativeHardSigmoid, onNative } from '../native.js';
import { hardSwish } from '../kernels/gradients.js';
import { broadcastNhwc, floats, HostVal, hostBroadcast, isNhwc, nchw, normAxis, rankOf, tfv, type HostDType, type RtVal } from './values.js';

/** Runs `fn` on the operands in a common layout (see the file comment). */
export function elementwise(vals: readonly RtVal[], fn: (...ts: Tensor[]) => Tensor): RtVal {
  const rank = Math.max(...vals.map(rankOf));
  if (rank === 4 && vals.some(isNhwc)) return tfv(fn(...vals.map(broadcastNhwc)), true);
  return tfv(fn(...vals.map(nchw)), false);
}

function hostType(vals: readonly RtVal[]): HostDType {
  return vals.some((v) => (v.kind === 'host' ? v.dtype === 'float32' : v.dtype === 'float32')) ? 'float32' : 'int32';
}

/** Ops with a host rule run on the host when every operand is there (shape arithmetic). */
function allHost(vals: readonly (RtVal | undefined)[]): vals is HostVal[] {
  return vals.every((v) => v !== undefined && v.kind === 'host');
}

function unaryOp(fn: (t: Tensor) => Tensor, hostFn?: (x: number) => number): OpCompiler {
  return (c) => (ins) => {
    const x = need(ins, 0, c.node);
    if (hostFn && x.kind === 'host') return [hostBroadcast([x], x.dtype === 'bool' ? 'bool' : x.dtype, hostFn)];
    return [x.kind === 'tf' ? tfv(fn(x.t), x.nhwc) : tfv(fn(nchw(x)))];
  };
}

function binaryOp(
  fn: (a: Tensor, b: Tensor) => Tensor,
  hostFn: ((a: number, b: number, int: boolean) => number) | undefined,
  resultType?: HostDType,
): OpCompiler {
  return (c) => (ins) => {
    const a = need(ins, 0, c.node);
    const b = need(ins, 1, c.node);
    if (hostFn && a.kind === 'host' && b.kind === 'host') {
      const t = hostType([a, b]);
      const int = t === 'int32';
      return [hostBroadcast([a, b], resultType ?? t, (x, y) => hostFn(x, y, int))];
    }
    return [elementwise([a, b], fn)];
  };
}

/** Sum/Max/Min/Mean over any number of inputs. */
function variadicOp(fn: (a: Tensor, b: Tensor) => Tensor, hostFn: (a: number, b: number) => number, mean = false): OpCompiler {
  return (c) => (ins) => {
    const vals = ins.filter((v): v is RtVal => v !== undefined);
    if (vals.length === 0) return c.unsupported('no inputs');
    if (allHost(vals)) {
      let acc = vals[0]!;
      for (const v of vals.slice(1)) acc = hostBroadcast([acc, v], hostType([acc, v]), hostFn);
      if (mean) acc = hostBroadcast([acc], 'float32', (x) => x / vals.length);
      return [acc];
    }
    return [
      elementwise(vals, (...ts) => {
        let acc = ts[0]!;
        for (const t of ts.slice(1)) acc = fn(acc, t);
        return mean ? tf.div(acc, vals.length) : acc;
      }),
    ];
  };
}

function hardSigmoid(t: Tensor, alpha: number, beta: number): Tensor {
  return nativeHardSigmoid(t, alpha, beta) ?? tf.clipByValue(tf.add(tf.mul(t, alpha), beta), 0, 1);
}

const SQRT1_2 = Math.SQRT1_2;

function clipCompiler(c: CompileCtx): OpRun {
  const old = c.opset < 11;
  const lo0 = old ? c.node.attrFloat('min', -Infinity) : -Infinity;
  const hi0 = old ? c.node.attrFloat('max', Infinity) : Infinity;
  return (ins) => {
    const x = need(ins, 0, c.node);
    const lo = !old && ins[1] ? floats(ins[1])[0]! : lo0;
    const hi = !old && ins[2] ? floats(ins[2])[0]! : hi0;
    if (x.kind === 'host') return [hostBroadcast([x], x.dtype, (v) => Math.min(Math.max(v, lo), hi))];
    if (x.dtype !== 'float32') return [tfv(tf.minimum(tf.maximum(x.t, tf.scalar(lo, x.dtype)), tf.scalar(hi, x.dtype)), x.nhwc)];
    // ONNX: min > max gives max everywhere; clipByValue refuses that order.
    if (lo > hi) return [tfv(tf.fill(x.t.shape, hi), x.nhwc)];
    return [tfv(nativeClip(x.t, lo, hi) ?? tf.clipByValue(x.t, lo, hi), x.nhwc)];
  };
}

function softmaxCompiler(log: boolean): OpCompiler {
  return (c) => {
    const legacy = c.opset < 13;
    const axisAttr = c.node.attrInt('axis', legacy ? 1 : -1);
    const f = (t: Tensor) => (log ? tf.logSoftmax(t) : tf.softmax(t));
    return (ins) => {
      const x = nchw(need(ins, 0, c.node));
      const r = x.rank;
      const axis = normAxis(axisAttr, r);
      if (axis === undefined) return c.unsupported(`axis ${axisAttr} is out of range for rank ${r}`);
      if (legacy) {
        // Opsets < 13 flatten to 2-D at `axis` and normalise over everything after it.
        const rows = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
        return [tfv(tf.reshape(f(tf.reshape(x, [rows, x.size / Math.max(rows, 1)])), x.shape))];
      }
      if (axis === r - 1) return [tfv(f(x))];
      const perm = [...Array(r).keys()].filter((i) => i !== axis).concat(axis);
      const inv = tf.backend_util.getUndoAxesPermutation(perm);
      return [tfv(tf.transpose(f(tf.transpose(x, perm)), inv))];
    };
  };
}

function preluCompiler(c: CompileCtx): OpRun {
  return (ins) => {
    const x = need(ins, 0, c.node);
    const slope = need(ins, 1, c.node);
    return [elementwise([x, slope], (xt, st) => tf.add(tf.relu(xt), tf.mul(st, tf.minimum(xt, 0))))];
  };
}

function whereCompiler(c: CompileCtx): OpRun {
  return (ins) => {
    const cond = need(ins, 0, c.node);
    const a = need(ins, 1, c.node);
    const b = need(ins, 2, c.node);
    if (cond.kind === 'host' && a.kind === 'host' && b.kind === 'host') return [hostBroadcast([cond, a, b], hostType([a, b]), (k, x, y) => (k ? x : y))];
    return [elementwise([cond, a, b], (k, x, y) => tf.where(k.dtype === 'bool' ? k : tf.cast(k, 'bool'), x, y))];
  };
}

function eluCompiler(c: CompileCtx): OpRun {
  const alpha = c.node.attrFloat('alpha', 1);
  return unaryOp(alpha === 1 ? (t) => tf.elu(t) : (t) => tf.where(tf.greater(t, 0), t, tf.mul(tf.sub(tf.exp(t), 1), alpha)))(c);
}

function seluCompiler(c: CompileCtx): OpRun {
  const alpha = c.node.attrFloat('alpha', 1.67326319217681884765625);
  const gamma = c.node.attrFloat('gamma', 1.05070102214813232421875);
  return unaryOp((t) => tf.mul(tf.where(tf.greater(t, 0), t, tf.mul(tf.sub(tf.exp(t), 1), alpha)), gamma))(c);
}

function geluCompiler(c: CompileCtx): OpRun {
  const approx = c.node.attrString('approximate', 'none');
  if (approx === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    return unaryOp((t) => tf.mul(tf.mul(t, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(t, tf.mul(tf.pow(t, 3), 0.044715)), k)))))(c);
  }
  return unaryOp((t) => tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.mul(t, SQRT1_2)))))(c);
}

function truncT(q: Tensor): Tensor {
  return tf.mul(tf.sign(q), tf.floor(tf.abs(q)));
}

function castBool(t: Tensor): Tensor {
  return t.dtype === 'bool' ? t : tf.cast(t, 'bool');
}

const truthy = (x: unknown) => (x ? 1 : 0);

export const ELEMENTWISE_OPS: Record<string, OpCompiler> = {
  Relu: unaryOp(
    (t) => tf.relu(t),
    (x) => Math.max(x, 0),
  ),
  LeakyRelu: (c) => {
    const a = c.node.attrFloat('alpha', 0.01);
    return unaryOp((t) => tf.leakyRelu(t, a))(c);
  },
  PRelu: preluCompiler,
  Clip: clipCompiler,
  Sigmoid: unaryOp((t) => tf.sigmoid(t)),
  HardSigmoid: (c) => {
    const a = c.node.attrFloat('alpha', 0.2);
    const b = c.node.attrFloat('beta', 0.5);
    return unaryOp((t) => hardSigmoid(t, a, b))(c);
  },
  // On tfjs-node through Relu6 (native.ts); elsewhere one custom gradient that keeps only x.
  HardSwish: unaryOp((t) => (onNative() || t.dtype !== 'float32' ? tf.mul(t, hardSigmoid(t, 1 / 6, 0.5)) : hardSwish(t))),
  Tanh: unaryOp((t) => tf.tanh(t)),
  Elu: eluCompiler,
  Selu: seluCompiler,
  Gelu: geluCompiler,
  Softplus: unaryOp((t) => tf.softplus(t)),
  Softsign: unaryOp((t) => tf.div(t, tf.add(tf.abs(t), 1))),
  Exp: unaryOp((t) => tf.exp(t), Math.exp),
  Log: unaryOp((t) => tf.log(t), Math.log),
  Sqrt: unaryOp((t) => tf.sqrt(t), Math.sqrt),
  Neg: unaryOp(
    (t) => tf.neg(t),
    (x) => -x,
  ),
  Abs: unaryOp((t) => tf.abs(t), Math.abs),
  Reciprocal: unaryOp(
    (t) => tf.reciprocal(t),
    (x) => 1 / x,
  ),
  Erf: unaryOp((t) => tf.erf(t)),
  Sin: unaryOp((t) => tf.sin(t), Math.sin),
  Cos: unaryOp((t) => tf.cos(t), Math.cos),
  Floor: unaryOp((t) => tf.floor(t), Math.floor),
  Ceil: unaryOp((t) => tf.ceil(t), Math.ceil),
  Round: unaryOp((t) => tf.round(t), roundHalfEven),
  Sign: unaryOp((t) => tf.sign(t), Math.sign),
  Not: unaryOp(
    (t) => tf.logicalNot(castBool(t)),
    (x) => (x ? 0 : 1),
  ),
  Softmax: softmaxCompiler(false),
  LogSoftmax: softmaxCompiler(true),

  Add: binaryOp(
    (a, b) => tf.add(a, b),
    (a, b) => a + b,
  ),
  Sub: binaryOp(
    (a, b) => tf.sub(a, b),
    (a, b) => a - b,
  ),
  Mul: binaryOp(
    (a, b) => tf.mul(a, b),
    (a, b) => a * b,
  ),
  Div: binaryOp(
    (a, b) => tf.div(a, b),
    (a, b, int) => (int ? Math.trunc(a / b) : a / b),
  ),
  Pow: binaryOp(
    (a, b) => tf.pow(a, b),
    (a, b) => a ** b,
  ),
  Mod: (c) => {
    const fmod = c.node.attrInt('fmod', 0) === 1;
    return binaryOp(
      (a, b) => (fmod ? tf.sub(a, tf.mul(truncT(tf.div(a, b)), b)) : tf.mod(a, b)),
      (a, b) => (fmod ? a % b : ((a % b) + b) % b),
    )(c);
  },
  Equal: binaryOp(
    (a, b) => tf.equal(a, b),
    (a, b) => truthy(a === b),
    'bool',
  ),
  Less: binaryOp(
    (a, b) => tf.less(a, b),
    (a, b) => truthy(a < b),
    'bool',
  ),
  LessOrEqual: binaryOp(
    (a, b) => tf.lessEqual(a, b),
    (a, b) => truthy(a <= b),
    'bool',
  ),
  Greater: binaryOp(
    (a, b) => tf.greater(a, b),
    (a, b) => truthy(a > b),
    'bool',
  ),
  GreaterOrEqual: binaryOp(
    (a, b) => tf.greaterEqual(a, b),
    (a, b) => truthy(a >= b),
    'bool',
  ),
  And: binaryOp(
    (a, b) => tf.logicalAnd(castBool(a), castBool(b)),
    (a, b) => truthy(a && b),
    'bool',
  ),
  Or: binaryOp(
    (a, b) => tf.logicalOr(castBool(a), castBool(b)),
    (a, b) => truthy(a || b),
    'bool',
  ),
  Xor: binaryOp(
    (a, b) => tf.logicalXor(castBool(a), castBool(b)),
    (a, b) => truthy(!!a !== !!b),
    'bool',
  ),
  Where: whereCompiler,
  Sum: variadicOp(
    (a, b) => tf.add(a, b),
    (a, b) => a + b,
  ),
  Mean: variadicOp(
    (a, b) => tf.add(a, b),
    (a, b) => a + b,
    true,
  ),
  Max: variadicOp((a, b) => tf.maximum(a, b), Math.max),
  Min: variadicOp((a, b) => tf.minimum(a, b), Math.min),
};

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
