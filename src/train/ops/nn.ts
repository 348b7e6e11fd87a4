/**
 * Layers with weights or windows: Conv (dense, grouped, depthwise, dilated, 1-D/2-D),
 * ConvTranspose, Gemm, MatMul, MaxPool/AveragePool (pads, ceil_mode, count_include_pad),
 * GlobalAveragePool/GlobalMaxPool, BatchNormalization (frozen or batch statistics with
 * running-stat updates), InstanceNormalization, Dropout.
 *
 * Feature maps go to NHWC here and stay there (values.ts). ONNX padding semantics are
 * made explicit before tfjs sees them: convs get explicit per-side padding; pools get an
 * explicit `pad` (−∞ for max, 0 for average) and run VALID, then an average is rescaled by
 * kh·kw / count, so count_include_pad and ceil_mode mean exactly what onnxruntime computes
 * and only VALID-padding pool gradients are ever needed. Dilated convs get a zero-dilated
 * filter because tfjs has no gradient for dilated convolutions.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { CompileCtx, OpCompiler, OpRun, RunCtx } from './context.js';
import { need } from './context.js';
import { batchNormTrain, matMulT } from '../kernels/gradients.js';
import { nchw, nhwc, tfv, type RtVal } from './values.js';
import { nativeBatchNormTrain, nativeBiasAdd } from '../native.js';

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

interface SpatialAttrs {
  kernel?: number[];
  strides: number[];
  dilations: number[];
  /** ONNX layout: begins then ends. */
  pads: number[];
  autoPad: string;
}

function spatialAttrs(c: CompileCtx, dims: number): SpatialAttrs {
  const n = c.node;
  const kernel = n.attrInts('kernel_shape');
  const ones = new Array<number>(dims).fill(1);
  return {
    kernel,
    strides: n.attrInts('strides', ones),
    dilations: n.attrInts('dilations', ones),
    pads: n.attrInts('pads', new Array<number>(2 * dims).fill(0)),
    autoPad: n.attrString('auto_pad', 'NOTSET'),
  };
}

/** Begin/end padding of one axis for auto_pad SAME_* (ONNX: extra padding at the end for UPPER). */
function samePads(size: number, kEff: number, stride: number, upper: boolean): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + kEff - size);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

/** Per-axis [begin, end] padding for a conv or pool. */
function axisPads(a: SpatialAttrs, sizes: number[], kernel: number[]): [number, number][] {
  const d = sizes.length;
  return sizes.map((size, i) => {
    const kEff = (kernel[i]! - 1) * a.dilations[i]! + 1;
    if (a.autoPad === 'SAME_UPPER' || a.autoPad === 'SAME_LOWER') return samePads(size, kEff, a.strides[i]!, a.autoPad === 'SAME_UPPER');
    if (a.autoPad === 'VALID') return [0, 0];
    return [a.pads[i] ?? 0, a.pads[i + d] ?? 0];
  });
}

/** A filter [KH, KW, I, O] with (d−1) zeros between taps: a dilated conv as a plain one. */
export function dilateFilter(f: Tensor, dh: number, dw: number): Tensor {
  if (dh === 1 && dw === 1) return f;
  const [KH, KW, I, O] = f.shape as [number, number, number, number];
  const spread = tf.pad(tf.reshape(f, [KH, 1, KW, 1, I, O]), [
    [0, 0],
    [0, dh - 1],
    [0, 0],
    [0, dw - 1],
    [0, 0],
    [0, 0],
  ]);
  return tf.slice(tf.reshape(spread, [KH * dh, KW * dw, I, O]), [0, 0, 0, 0], [(KH - 1) * dh + 1, (KW - 1) * dw + 1, I, O]);
}

/** An input as NHWC [N, H, W, C]; 1-D inputs [N, C, L] become [N, 1, L, C]. */
function toNhwc2d(x: RtVal): Tensor {
  if (x.rank === 4) return nhwc(x);
  return tf.expandDims(tf.transpose(nchw(x), [0, 2, 1]), 1);
}

/** An NHWC result back to a value: rank-4 stays NHWC; 1-D goes back to [N, C, L]. */
function fromNhwc2d(y: Tensor, oneD: boolean): RtVal {
  if (!oneD) return tfv(y, true);
  return tfv(tf.transpose(tf.squeeze(y, [1]), [0, 2, 1]));
}

/** Spatial attributes lifted to two axes (1-D convs run as 2-D with height 1). */
function lift2d(a: SpatialAttrs, oneD: boolean): SpatialAttrs {
  if (!oneD) return a;
  return {
    kernel: a.kernel ? [1, a.kernel[0]!] : undefined,
    strides: [1, a.strides[0]!],
    dilations: [1, a.dilations[0]!],
    pads: [0, a.pads[0] ?? 0, 0, a.pads[1] ?? 0],
    autoPad: a.autoPad,
  };
}

function rankCheck(c: CompileCtx, x: RtVal, what: string): boolean {
  if (x.rank !== 3 && x.rank !== 4) return c.unsupported(`${what} on a rank-${x.rank} input (only 1-D and 2-D are implemented)`);
  return x.rank === 3;
}

/** Whether TensorFlow's SAME padding (odd pixel at the end) is exactly `pads` on every axis. */
function isTfSame(sizes: number[], kEff: number[], strides: number[], pads: [number, number][]): boolean {
  return sizes.every((size, i) => {
    const out = Math.ceil(size / strides[i]!);
    const total = Math.max(0, (out - 1) * strides[i]! + kEff[i]! - size);
    const begin = Math.floor(total / 2);
    return pads[i]![0] === begin && pads[i]![1] === total - begin;
  });
}

function convCompiler(c: CompileCtx): OpRun {
  const group = c.node.attrInt('group', 1);
  return (ins) => {
    const x = need(ins, 0, c.node);
    const w = need(ins, 1, c.node);
    const oneD = rankCheck(c, x, 'Conv');
    const a = lift2d(spatialAttrs(c, oneD ? 1 : 2), oneD);
    const xt = toNhwc2d(x);
    let wt = nchw(w);
    if (oneD) wt = tf.expandDims(wt, 2);
    const [Co, Cig, KH, KW] = wt.shape as [number, number, number, number];
    const [, H, W, Ci] = xt.shape as [number, number, number, number];
    if (Cig * group !== Ci) return c.unsupported(`weight has ${Cig} input channels per group × ${group} groups, the input has ${Ci}`);
    const [ph, pw] = axisPads(a, [H, W], [KH, KW]);
    const pad: Pad4 = [[0, 0], ph!, pw!, [0, 0]]; // two spatial sizes in, two pad pairs out
    const strides: [number, number] = [a.strides[0]!, a.strides[1]!];
    const [dh, dw] = a.dilations as [number, number];
    // tfjs-node's Conv2D binding takes only 'valid'/'same' padding: 'same' where TensorFlow's
    // SAME pads exactly these amounts (odd kernels at stride 1), else pad the input there.
    const native = tf.getBackend() === 'tensorflow' && pad.some(([b, e]) => b > 0 || e > 0);
    const same = native && isTfSame([H, W], [(KH - 1) * dh + 1, (KW - 1) * dw + 1], strides, [ph!, pw!]);
    const prePad = native && !same;
    const xin = prePad ? tf.pad(xt, pad) : xt;
    const padArg: Pad4 | 'valid' | 'same' = same ? 'same' : prePad ? 'valid' : pad;
    let y: Tensor;
    if (group === 1) {
      y = tf.conv2d(xin as tf.Tensor4D, dilateFilter(tf.transpose(wt, [2, 3, 1, 0]), dh, dw) as tf.Tensor4D, strides, padArg);
    } else if (Cig === 1 && Co % Ci === 0) {
      const f = tf.transpose(tf.reshape(wt, [Ci, Co / Ci, KH, KW]), [2, 3, 0, 1]);
      y = tf.depthwiseConv2d(xin as tf.Tensor4D, dilateFilter(f, dh, dw) as tf.Tensor4D, strides, padArg);
    } else {
      if (Co % group !== 0) return c.unsupported(`${Co} output channels do not split into ${group} groups`);
      const xs = tf.split(xin, group, 3);
      const ws = tf.split(wt, group, 0);
      y = tf.concat(
        xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, dilateFilter(tf.transpose(ws[g]!, [2, 3, 1, 0]), dh, dw) as tf.Tensor4D, strides, padArg)),
        3,
      );
    }
    if (ins[2]) y = addBias(y, nchw(ins[2]));
    return [fromNhwc2d(y, oneD)];
  };
}

function convTransposeCompiler(c: CompileCtx): OpRun {
  const group = c.node.attrInt('group', 1);
  const outputShape = c.node.attrInts('output_shape');
  return (ins) => {
    const x = need(ins, 0, c.node);
    const w = need(ins, 1, c.node);
    const oneD = rankCheck(c, x, 'ConvTranspose');
    const a = lift2d(spatialAttrs(c, oneD ? 1 : 2), oneD);
    const outPad = c.node.attrInts('output_padding', oneD ? [0] : [0, 0]);
    const op2 = oneD ? [0, outPad[0] ?? 0] : [outPad[0] ?? 0, outPad[1] ?? 0];
    const xt = toNhwc2d(x);
    let wt = nchw(w);
    if (oneD) wt = tf.expandDims(wt, 2);
    const [Ci, Cog, KH, KW] = wt.shape as [number, number, number, number];
    const [N, H, W, CiX] = xt.shape as [number, number, number, number];
    if (Ci !== CiX) return c.unsupported(`weight has ${Ci} input channels, the input has ${CiX}`);
    if (Ci % group !== 0) return c.unsupported(`${Ci} input channels do not split into ${group} groups`);
    const sizes = [H, W];
    const ks = [KH, KW];
    const crop: [number, number][] = [];
    const full: number[] = [];
    for (let i = 0; i < 2; i++) {
      const kEff = (ks[i]! - 1) * a.dilations[i]! + 1;
      const f = (sizes[i]! - 1) * a.strides[i]! + kEff;
      full.push(f);
      const total = f + op2[i]!;
      const given = outputShape ? (oneD ? (i === 0 ? 1 : outputShape[0]) : outputShape[i]) : undefined;
      let begin: number;
      let out: number;
      if (given !== undefined || a.autoPad === 'SAME_UPPER' || a.autoPad === 'SAME_LOWER') {
        // ONNX: the odd pixel goes to the end for SAME_UPPER, to the start otherwise.
        out = given ?? sizes[i]! * a.strides[i]!;
        const p = total - out;
        begin = a.autoPad === 'SAME_UPPER' ? Math.floor(p / 2) : p - Math.floor(p / 2);
      } else {
        const pb = a.autoPad === 'VALID' ? 0 : (a.pads[i] ?? 0);
        const pe = a.autoPad === 'VALID' ? 0 : (a.pads[i + 2] ?? 0);
        begin = pb;
        out = total - pb - pe;
      }
      crop.push([begin, out]);
    }
    const strides: [number, number] = [a.strides[0]!, a.strides[1]!];
    const [dh, dw] = a.dilations as [number, number];
    const run1 = (xg: Tensor, wg: Tensor): Tensor => {
      const f = dilateFilter(tf.transpose(wg, [2, 3, 1, 0]), dh, dw);
      return tf.conv2dTranspose(xg as tf.Tensor4D, f as tf.Tensor4D, [N, full[0]!, full[1]!, f.shape[2]!], strides, 'valid');
    };
    let y: Tensor =
      group === 1
        ? run1(xt, wt)
        : tf.concat(
            tf.split(xt, group, 3).map((xg, g) => run1(xg, tf.split(wt, group, 0)[g]!)),
            3,
          );
    // Output padding and a crop past the full result read zeros; then take [begin, begin + out).
    const extra = crop.map(([b, o], i) => Math.max(0, b + o - full[i]!));
    if (extra[0]! > 0 || extra[1]! > 0)
      y = tf.pad(y, [
        [0, 0],
        [0, extra[0]!],
        [0, extra[1]!],
        [0, 0],
      ]);
    y = tf.slice(y, [0, crop[0]![0], crop[1]![0], 0], [N, crop[0]![1], crop[1]![1], Cog * group]);
    if (ins[2]) y = addBias(y, nchw(ins[2]));
    return [fromNhwc2d(y, oneD)];
  };
}

/** onnxruntime's pooled size (pool_attributes.h), with ceil mode's last-window rule. */
function pooledSize(size: number, k: number, s: number, pb: number, pe: number, ceil: boolean): number {
  const span = size + pb + pe - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + pb) out--;
  return out;
}

function poolCompiler(kind: 'max' | 'avg'): OpCompiler {
  return (c) => {
    if (kind === 'max' && c.node.outputs[1] && c.node.outputs[1].useCount + (c.node.outputs[1].isGraphOutput() ? 1 : 0) > 0) {
      c.unsupported('the Indices output of MaxPool');
    }
    const ceil = c.node.attrInt('ceil_mode', 0) === 1;
    const includePad = c.node.attrInt('count_include_pad', 0) === 1;
    return (ins) => {
      const x = need(ins, 0, c.node);
      const oneD = rankCheck(c, x, kind === 'max' ? 'MaxPool' : 'AveragePool');
      const a = lift2d(spatialAttrs(c, oneD ? 1 : 2), oneD);
      if (!a.kernel) return c.unsupported('kernel_shape is missing');
      if (a.dilations.some((d) => d !== 1)) return c.unsupported('dilated pooling');
      const xt = toNhwc2d(x);
      const [N, H, W, C] = xt.shape as [number, number, number, number];
      const sizes = [H, W];
      const pads = axisPads(a, sizes, a.kernel);
      const outs: number[] = [];
      const extra: number[] = [];
      for (let i = 0; i < 2; i++) {
        const [pb, pe] = pads[i]!;
        const k = a.kernel[i]!;
        const s = a.strides[i]!;
        const o = a.autoPad === 'SAME_UPPER' || a.autoPad === 'SAME_LOWER' ? Math.ceil(sizes[i]! / s) : pooledSize(sizes[i]!, k, s, pb, pe, ceil);
        if (o < 1) return c.unsupported(`the pooled size along axis ${i + 2} is ${o}`);
        outs.push(o);
        extra.push(Math.max(0, (o - 1) * s + k - (sizes[i]! + pb + pe)));
      }
      const padded = pads.some(([b, e]) => b > 0 || e > 0) || extra.some((e) => e > 0);
      const paddings: Pad4 = [
        [0, 0],
        [pads[0]![0], pads[0]![1] + extra[0]!],
        [pads[1]![0], pads[1]![1] + extra[1]!],
        [0, 0],
      ];
      const xp = padded ? tf.pad(xt, paddings, kind === 'max' ? -Infinity : 0) : xt;
      const k2: [number, number] = [a.kernel[0]!, a.kernel[1]!];
      const s2: [number, number] = [a.strides[0]!, a.strides[1]!];
      let y = kind === 'max' ? tf.maxPool(xp as tf.Tensor4D, k2, s2, 'valid') : tf.avgPool(xp as tf.Tensor4D, k2, s2, 'valid');
      if (y.shape[1] !== outs[0] || y.shape[2] !== outs[1]) y = tf.slice(y, [0, 0, 0, 0], [N, outs[0]!, outs[1]!, C]);
      if (kind === 'avg' && padded) y = tf.mul(y, avgRescale(sizes, outs, a, pads, includePad));
      return [fromNhwc2d(y, oneD)];
    };
  };
}

/** [1, OH, OW, 1] factors kh·kw / count turning a VALID average over the padded input into ONNX's. */
function avgRescale(sizes: number[], outs: number[], a: SpatialAttrs, pads: [number, number][], includePad: boolean): Tensor {
  const per = (i: number): Float64Array => {
    const f = new Float64Array(outs[i]!);
    const k = a.kernel![i]!;
    for (let o = 0; o < outs[i]!; o++) {
      const start = o * a.strides[i]! - pads[i]![0];
      // onnxruntime (pool_functors.h): the padded window stops at size + end pad; without
      // count_include_pad only in-bounds elements count.
      const end = Math.min(start + k, sizes[i]! + pads[i]![1]);
      const count = includePad ? end - start : Math.min(end, sizes[i]!) - Math.max(start, 0);
      f[o] = count > 0 ? k / count : 0;
    }
    return f;
  };
  const fh = per(0);
  const fw = per(1);
  const out = new Float32Array(outs[0]! * outs[1]!);
  for (let i = 0; i < outs[0]!; i++) for (let j = 0; j < outs[1]!; j++) out[i * outs[1]! + j] = fh[i]! * fw[j]!;
  return tf.tensor4d(out, [1, outs[0]!, outs[1]!, 1]);
}

function globalPoolCompiler(kind: 'max' | 'avg'): OpCompiler {
  return (c) => (ins) => {
    const x = need(ins, 0, c.node);
    const reduce = (t: Tensor, axes: number[]) => (kind === 'max' ? tf.max(t, axes, true) : tf.mean(t, axes, true));
    if (x.rank === 4) return [tfv(reduce(nhwc(x), [1, 2]), true)];
    if (x.rank < 3) return c.unsupported(`global pooling of a rank-${x.rank} input`);
    const t = nchw(x);
    return [tfv(reduce(t, [...Array(t.rank).keys()].slice(2)))];
  };
}

/** x as channels-last plus the function that restores the value's layout. */
function channelsLastView(x: RtVal): { t: Tensor; back: (y: Tensor) => RtVal } {
  if (x.rank === 4) return { t: nhwc(x), back: (y) => tfv(y, true) };
  const t = nchw(x);
  if (t.rank <= 2) return { t, back: (y) => tfv(y) };
  const perm = [0, ...[...Array(t.rank).keys()].slice(2), 1];
  const inv = tf.backend_util.getUndoAxesPermutation(perm);
  return { t: tf.transpose(t, perm), back: (y) => tfv(tf.transpose(y, inv)) };
}

function batchNormCompiler(c: CompileCtx): OpRun {
  const eps = c.node.attrFloat('epsilon', 1e-5);
  const momentum = c.node.attrFloat('momentum', 0.9);
  const trainingMode = c.opset >= 14 && c.node.attrInt('training_mode', 0) === 1;
  if (c.opset < 9 && c.node.attrInt('spatial', 1) === 0) return c.unsupported('spatial=0 (per-position statistics)');
  const meanName = c.inputNames[3] ?? '';
  const varName = c.inputNames[4] ?? '';
  return (ins, ctx: RunCtx) => {
    const x = need(ins, 0, c.node);
    const scale = nchw(need(ins, 1, c.node));
    const bias = nchw(need(ins, 2, c.node));
    const rm = nchw(need(ins, 3, c.node));
    const rv = nchw(need(ins, 4, c.node));
    const { t, back } = channelsLastView(x);
    // Statistics that cannot be updated (not float32 initializers) are used as they are in
    // training too: batch statistics here would differ from what inference sees.
    const updatable = !!(meanName && varName && ctx.variable(meanName) && ctx.variable(varName));
    if (!((ctx.bnTrain && updatable) || trainingMode)) {
      const k = tf.mul(scale, tf.rsqrt(tf.add(rv, eps)));
      return [back(tf.add(tf.mul(t, k), tf.sub(bias, tf.mul(rm, k))))];
    }
    const n = t.size / Math.max(1, t.shape[t.rank - 1]!);
    const mom = ctx.bnMomentum ?? momentum;
    // On tfjs-node one TensorFlow op each way (FusedBatchNormV3, running stats included), else the composite.
    const fused = n > 1 ? nativeBatchNormTrain(t, scale, bias, eps, { mean: rm, variance: rv, momentum: mom }) : undefined;
    let y: Tensor, newMean: Tensor, newVar: Tensor;
    if (fused) ({ y, runningMean: newMean, runningVar: newVar } = fused);
    else {
      let stats: { mean: Float64Array; variance: Float64Array };
      ({ y, stats } = batchNormTrain(t, scale, bias, eps));
      // Running variance takes the unbiased batch variance, as PyTorch does (ONNX leaves it
      // open). On the host: C values each, not seven small kernels per batch norm.
      const unbias = n > 1 ? n / (n - 1) : 1;
      const rmv = rm.dataSync() as ArrayLike<number>;
      const rvv = rv.dataSync() as ArrayLike<number>;
      newMean = tf.tensor(
        Float32Array.from(stats.mean, (m, i) => rmv[i]! * mom + m * (1 - mom)),
        rm.shape,
        'float32',
      );
      newVar = tf.tensor(
        Float32Array.from(stats.variance, (v, i) => rvv[i]! * mom + v * unbias * (1 - mom)),
        rv.shape,
        'float32',
      );
    }
    if (ctx.bnTrain && updatable) {
      ctx.assign(meanName, newMean);
      ctx.assign(varName, newVar);
    }
    return [back(y), tfv(newMean), tfv(newVar)];
  };
}

function instanceNormCompiler(c: CompileCtx): OpRun {
  const eps = c.node.attrFloat('epsilon', 1e-5);
  return (ins) => {
    const x = need(ins, 0, c.node);
    const scale = nchw(need(ins, 1, c.node));
    const bias = nchw(need(ins, 2, c.node));
    const { t, back } = channelsLastView(x);
    if (t.rank < 3) return c.unsupported(`InstanceNormalization of a rank-${t.rank} input`);
    const axes = [...Array(t.rank).keys()].slice(1, -1);
    const mean = tf.mean(t, axes, true);
    const diff = tf.sub(t, mean);
    const variance = tf.mean(tf.square(diff), axes, true);
    return [back(tf.add(tf.mul(tf.mul(diff, tf.rsqrt(tf.add(variance, eps))), scale), bias))];
  };
}

function dropoutCompiler(c: CompileCtx): OpRun {
  const attrRatio = c.opset < 12 ? c.node.attrFloat('ratio', 0.5) : 0.5;
  return (ins, ctx) => {
    const x = need(ins, 0, c.node);
    const ratio = c.opset >= 12 && ins[1] ? Number(nchw(ins[1]).dataSync()[0]) : attrRatio;
    const t = x.kind === 'tf' ? x.t : nchw(x);
    const layoutNhwc = x.kind === 'tf' && x.nhwc;
    if (!ctx.training || ratio <= 0) return [x, tfv(tf.cast(tf.onesLike(t), 'bool'), layoutNhwc)];
    if (ratio >= 1) return [tfv(tf.zerosLike(t), layoutNhwc), tfv(tf.cast(tf.zerosLike(t), 'bool'), layoutNhwc)];
    const keep = tf.greaterEqual(tf.randomUniform(t.shape, 0, 1, 'float32', ctx.nextSeed()), ratio);
    const y = tf.mul(t, tf.mul(tf.cast(keep, 'float32'), 1 / (1 - ratio)));
    return [tfv(y, layoutNhwc), tfv(keep, layoutNhwc)];
  };
}

/** y + b (b broadcast); one BiasAdd each way on the native backend when b is a vector over y's last axis. */
function addBias(y: Tensor, b: Tensor): Tensor {
  return nativeBiasAdd(y, b) ?? tf.add(y, b);
}

function gemmCompiler(c: CompileCtx): OpRun {
  const alpha = c.node.attrFloat('alpha', 1);
  const beta = c.node.attrFloat('beta', 1);
  const transA = c.node.attrInt('transA', 0) === 1;
  const transB = c.node.attrInt('transB', 0) === 1;
  return (ins) => {
    const a = nchw(need(ins, 0, c.node));
    const b = nchw(need(ins, 1, c.node));
    if (a.rank !== 2 || b.rank !== 2) return c.unsupported(`Gemm of rank-${a.rank} and rank-${b.rank} inputs`);
    let y = matMulT(a, b, transA, transB);
    if (alpha !== 1) y = tf.mul(y, alpha);
    if (ins[2] && beta !== 0) {
      const cc = nchw(ins[2]);
      y = addBias(y, beta === 1 ? cc : tf.mul(cc, beta));
    }
    return [tfv(y)];
  };
}

function matmulCompiler(c: CompileCtx): OpRun {
  return (ins) => {
    let a = nchw(need(ins, 0, c.node));
    let b = nchw(need(ins, 1, c.node));
    const aVec = a.rank === 1;
    const bVec = b.rank === 1;
    if (aVec) a = tf.reshape(a, [1, a.shape[0]!]);
    if (bVec) b = tf.reshape(b, [b.shape[0]!, 1]);
    if (a.rank > 2 || b.rank > 2) {
      // tfjs broadcasts batch dims only when the batches are equal or one of them is 1.
      const batch = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      const count = (t: Tensor) => t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
      const same = (t: Tensor) => t.rank - 2 === batch.length && batch.every((d, i) => d === t.shape[i]);
      if (!(count(a) === 1 || count(b) === 1 || (same(a) && same(b)))) {
        const full = (t: Tensor) => (same(t) ? t : tf.broadcastTo(t, [...batch, ...t.shape.slice(-2)]));
        a = full(a);
        b = full(b);
      }
    }
    let y = tf.matMul(a, b);
    if (aVec && bVec) y = tf.reshape(y, []);
    else if (aVec) y = tf.squeeze(y, [y.rank - 2]);
    else if (bVec) y = tf.squeeze(y, [y.rank - 1]);
    return [tfv(y)];
  };
}

export const NN_OPS: Record<string, OpCompiler> = {
  Conv: convCompiler,
  ConvTranspose: convTransposeCompiler,
  MaxPool: poolCompiler('max'),
  AveragePool: poolCompiler('avg'),
  GlobalAveragePool: globalPoolCompiler('avg'),
  GlobalMaxPool: globalPoolCompiler('max'),
  BatchNormalization: batchNormCompiler,
  InstanceNormalization: instanceNormCompiler,
  Dropout: dropoutCompiler,
  Gemm: gemmCompiler,
  MatMul: matmulCompiler,
};
