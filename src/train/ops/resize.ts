/**
 * Resize (opsets 10+) and Upsample (7–9), modes `nearest` and `linear`, as separable
 * per-axis gathers: for every output position the source index (nearest) or the two
 * neighbours and weight (linear) are computed on the host with onnxruntime's coordinate
 * rules (upsamplebase.h), in float32 like onnxruntime, then applied with tf.gather, whose
 * gradient scatters back exactly. Cubic mode, antialiasing and tf_crop_and_resize are
 * refused by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { CompileCtx, OpRun } from './context.js';
import { need } from './context.js';
import { floats, ints, nchw, nhwcAxis, normAxis, sizeOf, tfv, type RtVal } from './values.js';

const f = Math.fround;

type CoordFn = (o: number, inLen: number, outLen: number, scale: number) => number;

const COORD: Record<string, CoordFn> = {
  half_pixel: (o, _i, _n, s) => f(f(f(o + 0.5) / s) - 0.5),
  half_pixel_symmetric: (o, i, n, s) => {
    const adjustment = f(n / f(s * i));
    const center = f(i / 2);
    const offset = f(center * f(1 - adjustment));
    return f(offset + f(f(f(o + 0.5) / s) - 0.5));
  },
  pytorch_half_pixel: (o, _i, n, s) => (n > 1 ? f(f(f(o + 0.5) / s) - 0.5) : 0),
  align_corners: (o, i, n) => (n === 1 ? 0 : f(f(o * (i - 1)) / (n - 1))),
  asymmetric: (o, _i, _n, s) => f(o / s),
  tf_half_pixel_for_nn: (o, _i, _n, s) => f(f(o + 0.5) / s),
};

type NearestFn = (x: number, downsample: boolean) => number;

const NEAREST: Record<string, NearestFn> = {
  round_prefer_floor: (x) => (x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x)),
  round_prefer_ceil: (x) => Math.round(x),
  floor: (x) => Math.floor(x),
  ceil: (x) => Math.ceil(x),
  // Opsets before 11 had no nearest_mode; onnxruntime keeps their original rule.
  simple: (x, down) => (down ? Math.ceil(x) : Math.trunc(x)),
};

export function resizeCompiler(c: CompileCtx): OpRun {
  const n = c.node;
  const upsample = n.opType === 'Upsample';
  const legacy = upsample || c.opset < 11;
  const mode = n.attrString('mode', 'nearest');
  const linear = mode === 'linear' || mode === 'bilinear';
  if (!linear && mode !== 'nearest') return c.unsupported(`mode "${mode}" (nearest and linear are implemented)`);
  const ctm = legacy ? 'asymmetric' : n.attrString('coordinate_transformation_mode', 'half_pixel');
  const coord = COORD[ctm];
  if (!coord) return c.unsupported(`coordinate_transformation_mode "${ctm}"`);
  const nm = legacy ? 'simple' : n.attrString('nearest_mode', 'round_prefer_floor');
  const nearest = NEAREST[nm];
  if (!nearest) return c.unsupported(`nearest_mode "${nm}"`);
  if (n.attrInt('antialias', 0) === 1) return c.unsupported('antialias');
  const policy = n.attrString('keep_aspect_ratio_policy', 'stretch');
  const attrAxes = n.attrInts('axes');
  const attrScales = upsample && c.opset < 9 ? n.attrFloats('scales') : undefined;

  return (ins) => {
    const x = need(ins, 0, c.node);
    const shape = x.shape;
    const r = shape.length;
    const axes = (attrAxes ?? [...Array(r).keys()]).map((a) => {
      const v = normAxis(a, r);
      if (v === undefined) return c.unsupported(`axis ${a} is out of range for rank ${r}`);
      return v;
    });
    const present = (v: RtVal | undefined) => v !== undefined && sizeOf(v.shape) > 0;
    let scalesIn: number[] | undefined;
    let sizesIn: number[] | undefined;
    if (attrScales) scalesIn = attrScales;
    else if (upsample || c.opset === 10) scalesIn = floats(need(ins, 1, c.node));
    else {
      if (present(ins[2])) scalesIn = floats(ins[2]!);
      if (present(ins[3])) sizesIn = ints(ins[3]!);
    }
    if (!scalesIn && !sizesIn) return c.unsupported('neither scales nor sizes is given');
    if (sizesIn && policy !== 'stretch') return c.unsupported(`keep_aspect_ratio_policy "${policy}"`);
    const scale = shape.map(() => 1);
    const out = [...shape];
    axes.forEach((a, i) => {
      if (sizesIn) {
        out[a] = sizesIn[i]!;
        scale[a] = f(out[a]! / shape[a]!);
      } else {
        scale[a] = scalesIn![i]!;
        out[a] = Math.floor(f(shape[a]! * scale[a]!));
      }
    });
    const keepNhwc = x.kind === 'tf' && x.nhwc;
    let t: Tensor = keepNhwc ? (x as { t: Tensor }).t : nchw(x);
    for (let a = 0; a < r; a++) {
      if (out[a] === shape[a] && scale[a] === 1) continue;
      const stored = keepNhwc ? nhwcAxis(a) : a;
      const inLen = shape[a]!;
      const outLen = out[a]!;
      const src = Array.from({ length: outLen }, (_, o) => coord(o, inLen, outLen, scale[a]!));
      if (!linear) {
        const idx = src.map((v) => Math.min(Math.max(nearest(v, scale[a]! < 1), 0), inLen - 1));
        t = tf.gather(t, tf.tensor1d(idx, 'int32'), stored);
        continue;
      }
      const i0: number[] = [];
      const i1: number[] = [];
      const w: number[] = [];
      for (const v of src) {
        const xc = Math.min(Math.max(v, 0), inLen - 1);
        const lo = Math.floor(xc);
        i0.push(lo);
        i1.push(Math.min(lo + 1, inLen - 1));
        w.push(xc - lo);
      }
      const wShape = t.shape.map((_, k) => (k === stored ? outLen : 1));
      const wt = tf.tensor(w, wShape, 'float32');
      const a0 = tf.gather(t, tf.tensor1d(i0, 'int32'), stored);
      const a1 = tf.gather(t, tf.tensor1d(i1, 'int32'), stored);
      t = tf.add(a0, tf.mul(tf.sub(a1, a0), wt));
    }
    return [tfv(t, keepNhwc)];
  };
}
