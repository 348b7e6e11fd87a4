/**
 * Shape and data-movement ops: Flatten, Reshape, Transpose, Concat, Split, Slice, Pad,
 * Squeeze/Unsqueeze, Identity, Shape, Size, Gather, Cast, Constant, ConstantOfShape,
 * Expand, Tile, Range and the Reduce* family.
 *
 * Each works on host values too, so exporter shape chains (Shape → Gather → Unsqueeze →
 * Concat → Reshape) run on the host with exact integers. NHWC-stored feature maps pass
 * through Transpose, Concat, Split, Slice, Pad and keep-dims reductions without a layout
 * change (axes are mapped); other ops see logical NCHW.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { DataType } from '../../ir/data-type.js';
import { sliceRange } from '../../analysis/shape-rules/fold.js';
import type { Tensor as IrTensor } from '../../ir/tensor.js';
import type { CompileCtx, OpCompiler, OpRun } from './context.js';
import { need } from './context.js';
import {
  broadcastNhwc,
  broadcastShapes,
  host,
  HostVal,
  hostBroadcast,
  ints,
  isNhwc,
  nchw,
  nhwcAxis,
  normAxis,
  sizeOf,
  stridesOf,
  tfv,
  TO_NCHW,
  type HostDType,
  type RtVal,
} from './values.js';

/** Host tensors up to this many elements stay on the host; larger float constants go to the backend. */
const HOST_FLOAT_LIMIT = 64;

/** The tfjs dtype an ONNX element type runs as (tfjs has float32, int32 and bool). */
export function runDType(elem: number): HostDType | undefined {
  switch (elem) {
    case DataType.FLOAT:
    case DataType.DOUBLE:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 'float32';
    case DataType.INT8:
    case DataType.INT16:
    case DataType.INT32:
    case DataType.INT64:
    case DataType.UINT8:
    case DataType.UINT16:
    case DataType.UINT32:
    case DataType.UINT64:
      return 'int32';
    case DataType.BOOL:
      return 'bool';
    default:
      return undefined;
  }
}

/** A constant IR tensor as a run-time value: integers and small floats on the host, the rest retained on the backend. */
export function constantValue(t: IrTensor, retain: (x: Tensor) => Tensor): RtVal | undefined {
  const dtype = runDType(t.dataType);
  if (!dtype) return undefined;
  const dims = t.shape;
  if (dtype !== 'float32' || t.size <= HOST_FLOAT_LIMIT) return new HostVal(t.toNumbers(), dims, dtype);
  return tfv(retain(tf.tensor(t.toFloat32(), dims, 'float32')));
}

// --- host helpers -------------------------------------------------------------------

/** Selects `idx` along `axis` of a host value (the core of gather, slice with steps, pads). */
export function hostTake(v: HostVal, axis: number, idx: readonly number[]): HostVal {
  const dims = v.dims;
  const outer = sizeOf(dims.slice(0, axis));
  const inner = sizeOf(dims.slice(axis + 1));
  const d = dims[axis]!;
  const out = new Array<number>(outer * idx.length * inner);
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of idx) {
      const base = (o * d + i) * inner;
      for (let j = 0; j < inner; j++) out[k++] = v.data[base + j]!;
    }
  }
  return new HostVal(out, [...dims.slice(0, axis), idx.length, ...dims.slice(axis + 1)], v.dtype);
}

function hostConcat(vals: readonly HostVal[], axis: number): HostVal {
  const first = vals[0]!;
  const outer = sizeOf(first.dims.slice(0, axis));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const v of vals) {
      const chunk = sizeOf(v.dims.slice(axis));
      for (let j = 0; j < chunk; j++) out.push(v.data[o * chunk + j]!);
    }
  }
  const dims = [...first.dims];
  dims[axis] = vals.reduce((n, v) => n + v.dims[axis]!, 0);
  const dtype = vals.some((v) => v.dtype === 'float32') ? 'float32' : first.dtype;
  return new HostVal(out, dims, dtype);
}

function hostTranspose(v: HostVal, perm: readonly number[]): HostVal {
  const dims = perm.map((p) => v.dims[p]!);
  const inStrides = stridesOf(v.dims);
  const outStrides = stridesOf(dims);
  const n = v.size;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let src = 0;
    for (let d = 0; d < dims.length; d++) {
      const q = Math.floor(rem / outStrides[d]!);
      rem -= q * outStrides[d]!;
      src += q * inStrides[perm[d]!]!;
    }
    out[i] = v.data[src]!;
  }
  return new HostVal(out, dims, v.dtype);
}

/** A value reshaped to `dims` (host stays host; NHWC storage is materialised first). */
function reshapeTo(v: RtVal, dims: number[]): RtVal {
  if (v.kind === 'host') return new HostVal(v.data, dims, v.dtype);
  return tfv(tf.reshape(nchw(v), dims));
}

function axisOrFail(c: CompileCtx, axis: number, rank: number): number {
  const a = normAxis(axis, rank);
  if (a === undefined) return c.unsupported(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

// --- ops ----------------------------------------------------------------------------

function flattenCompiler(c: CompileCtx): OpRun {
  const axisAttr = c.node.attrInt('axis', 1);
  return (ins) => {
    const x = need(ins, 0, c.node);
    const s = x.shape;
    const axis = axisAttr < 0 ? axisAttr + s.length : axisAttr;
    if (axis < 0 || axis > s.length) return c.unsupported(`axis ${axisAttr} is out of range for rank ${s.length}`);
    return [reshapeTo(x, [sizeOf(s.slice(0, axis)), sizeOf(s.slice(axis))])];
  };
}

function reshapeCompiler(c: CompileCtx): OpRun {
  const allowZero = c.node.attrInt('allowzero', 0) === 1;
  const attrShape = c.opset < 5 ? c.node.attrInts('shape') : undefined;
  return (ins) => {
    const x = need(ins, 0, c.node);
    const target = attrShape ?? ints(need(ins, 1, c.node));
    const s = x.shape;
    const dims = target.map((d, i) => (d === 0 && !allowZero ? s[i]! : d));
    const free = dims.indexOf(-1);
    if (free >= 0) {
      const known = sizeOf(dims.filter((_, i) => i !== free));
      dims[free] = known === 0 ? 0 : sizeOf(s) / known;
    }
    if (sizeOf(dims) !== sizeOf(s) || dims.some((d) => !Number.isInteger(d) || d < 0)) {
      c.unsupported(`cannot reshape [${s.join(',')}] to [${target.join(',')}]`);
    }
    return [reshapeTo(x, dims)];
  };
}

function transposeCompiler(c: CompileCtx): OpRun {
  const permAttr = c.node.attrInts('perm');
  return (ins) => {
    const x = need(ins, 0, c.node);
    const r = x.rank;
    const perm = permAttr ?? [...Array(r).keys()].reverse();
    if (x.kind === 'host') return [hostTranspose(x, perm)];
    // Stored NHWC: logical = stored ∘ TO_NCHW, so one transpose of the storage does it.
    if (x.nhwc)
      return [
        tfv(
          tf.transpose(
            x.t,
            perm.map((p) => TO_NCHW[p]!),
          ),
        ),
      ];
    return [tfv(tf.transpose(x.t, perm))];
  };
}

function concatCompiler(c: CompileCtx): OpRun {
  const axisAttr = c.node.attrInt('axis', 0);
  return (ins) => {
    const given = ins.filter((v): v is RtVal => v !== undefined);
    // Exporters sometimes concatenate an empty tensor; it contributes nothing.
    const nonEmpty = given.filter((v) => sizeOf(v.shape) > 0);
    const vals = nonEmpty.length > 0 ? nonEmpty : given;
    if (vals.length === 0) return c.unsupported('no inputs');
    const r = vals[0]!.rank;
    const axis = axisOrFail(c, axisAttr, r);
    if (vals.every((v) => v.kind === 'host')) return [hostConcat(vals as HostVal[], axis)];
    if (r === 4 && vals.some(isNhwc)) return [tfv(tf.concat(vals.map(broadcastNhwc), nhwcAxis(axis)), true)];
    return [tfv(tf.concat(vals.map(nchw), axis))];
  };
}

function splitCompiler(c: CompileCtx): OpRun {
  const axisAttr = c.node.attrInt('axis', 0);
  const attrSplit = c.opset < 13 ? c.node.attrInts('split') : undefined;
  const numOutputs = c.node.attrInt('num_outputs') ?? c.node.outputs.length;
  return (ins) => {
    const x = need(ins, 0, c.node);
    const axis = axisOrFail(c, axisAttr, x.rank);
    const d = x.shape[axis]!;
    let sizes = attrSplit ?? (c.opset >= 13 && ins[1] ? ints(ins[1]) : undefined);
    if (!sizes) {
      const each = Math.ceil(d / numOutputs);
      sizes = Array.from({ length: numOutputs }, (_, i) => Math.max(0, Math.min(each, d - i * each)));
    }
    if (sizes.reduce((a, b) => a + b, 0) !== d) return c.unsupported(`split sizes [${sizes.join(',')}] do not add up to ${d}`);
    if (x.kind === 'host') {
      let at = 0;
      return sizes.map((n) => {
        const idx = Array.from({ length: n }, (_, i) => at + i);
        at += n;
        return hostTake(x, axis, idx);
      });
    }
    if (x.nhwc) return tf.split(x.t, sizes, nhwcAxis(axis)).map((t) => tfv(t, true));
    return tf.split(x.t, sizes, axis).map((t) => tfv(t));
  };
}

function sliceCompiler(c: CompileCtx): OpRun {
  const old = c.opset < 10;
  return (ins) => {
    const x = need(ins, 0, c.node);
    const shape = x.shape;
    const r = shape.length;
    const starts = old ? c.node.attrInts('starts', []) : ints(need(ins, 1, c.node));
    const ends = old ? c.node.attrInts('ends', []) : ints(need(ins, 2, c.node));
    const axes = (old ? c.node.attrInts('axes') : ins[3] ? ints(ins[3]) : undefined) ?? starts.map((_, i) => i);
    const steps = !old && ins[4] ? ints(ins[4]) : starts.map(() => 1);
    const begin = shape.map(() => 0);
    const count = [...shape];
    const step = shape.map(() => 1);
    axes.forEach((a0, i) => {
      const a = axisOrFail(c, a0, r);
      if (steps[i] === 0) return c.unsupported('a step of 0');
      const rg = sliceRange(shape[a]!, starts[i]!, ends[i]!, steps[i]!)!; // step 0 refused above
      begin[a] = rg.start;
      count[a] = rg.count;
      step[a] = rg.step;
    });
    return [sliceValue(x, begin, count, step)];
  };
}

/** Slices a value by per-axis start/count/step; unit steps use tf.slice, others gather. */
function sliceValue(x: RtVal, begin: number[], count: number[], step: number[]): RtVal {
  if (x.kind === 'host') {
    let v: HostVal = x;
    for (let a = 0; a < begin.length; a++) {
      if (begin[a] === 0 && count[a] === x.dims[a] && step[a] === 1) continue;
      v = hostTake(
        v,
        a,
        Array.from({ length: count[a]! }, (_, i) => begin[a]! + i * step[a]!),
      );
    }
    return v;
  }
  const map = (xs: number[]) => (x.nhwc ? [xs[0]!, xs[2]!, xs[3]!, xs[1]!] : xs);
  const b = map(begin);
  const n = map(count);
  const st = map(step);
  let t = x.t;
  if (st.every((s) => s === 1)) {
    if (b.some((v, i) => v !== 0 || n[i] !== t.shape[i])) t = tf.slice(t, b, n);
  } else {
    for (let a = 0; a < b.length; a++) {
      if (st[a] === 1) {
        if (b[a] !== 0 || n[a] !== t.shape[a])
          t = tf.slice(
            t,
            b.map((v, i) => (i === a ? v : 0)),
            t.shape.map((d, i) => (i === a ? n[a]! : d)),
          );
        continue;
      }
      t = tf.gather(
        t,
        tf.tensor1d(
          Array.from({ length: n[a]! }, (_, i) => b[a]! + i * st[a]!),
          'int32',
        ),
        a,
      );
    }
  }
  return tfv(t, x.nhwc);
}

/** Source index along an axis of size `d` for output position `i` (−pb ≤ i < d + pe) of a non-constant pad. */
function padIndex(mode: string, i: number, d: number): number {
  if (mode === 'edge') return Math.min(Math.max(i, 0), d - 1);
  if (mode === 'wrap') return ((i % d) + d) % d;
  if (d === 1) return 0;
  let j = i;
  const period = 2 * (d - 1);
  j = ((j % period) + period) % period;
  return j < d ? j : period - j;
}

function padCompiler(c: CompileCtx): OpRun {
  const old = c.opset < 11;
  const mode = c.node.attrString('mode', 'constant');
  if (!['constant', 'reflect', 'edge', 'wrap'].includes(mode)) return c.unsupported(`mode "${mode}"`);
  return (ins) => {
    const x = need(ins, 0, c.node);
    const r = x.rank;
    const raw = old ? c.node.attrInts('pads', []) : ints(need(ins, 1, c.node));
    const value = old ? c.node.attrFloat('value', 0) : ins[2] && host(ins[2]).size > 0 ? host(ins[2]).data[0]! : 0;
    const axes = !old && ins[3] ? ints(ins[3]).map((a) => axisOrFail(c, a, r)) : [...Array(r).keys()];
    const pads: [number, number][] = x.shape.map(() => [0, 0]);
    axes.forEach((a, i) => {
      pads[a] = [raw[i] ?? 0, raw[i + axes.length] ?? 0];
    });
    // Negative pads crop.
    let v: RtVal = x;
    if (pads.some(([b, e]) => b < 0 || e < 0)) {
      const s = x.shape;
      v = sliceValue(
        x,
        pads.map(([b]) => Math.max(0, -b)),
        s.map((d, i) => d - Math.max(0, -pads[i]![0]) - Math.max(0, -pads[i]![1])),
        s.map(() => 1),
      );
    }
    const pos = pads.map(([b, e]) => [Math.max(0, b), Math.max(0, e)] as [number, number]);
    if (pos.every(([b, e]) => b === 0 && e === 0)) return [v];
    const keepNhwc = v.kind === 'tf' && v.nhwc;
    const t = keepNhwc ? (v as { t: Tensor }).t : nchw(v);
    const order = keepNhwc ? [0, 2, 3, 1] : [...Array(r).keys()];
    if (mode === 'constant')
      return [
        tfv(
          tf.pad(
            t,
            order.map((a) => pos[a]!),
            value,
          ),
          keepNhwc,
        ),
      ];
    let out = t;
    order.forEach((a, stored) => {
      const [b, e] = pos[a]!;
      if (b === 0 && e === 0) return;
      const d = out.shape[stored]!;
      const idx = Array.from({ length: d + b + e }, (_, i) => padIndex(mode, i - b, d));
      out = tf.gather(out, tf.tensor1d(idx, 'int32'), stored);
    });
    return [tfv(out, keepNhwc)];
  };
}

function squeezeCompiler(c: CompileCtx): OpRun {
  const attrAxes = c.opset < 13 ? c.node.attrInts('axes') : undefined;
  return (ins) => {
    const x = need(ins, 0, c.node);
    const s = x.shape;
    const axes = (attrAxes ?? (ins[1] ? ints(ins[1]) : undefined))?.map((a) => axisOrFail(c, a, s.length));
    const drop = new Set(axes ?? s.flatMap((d, i) => (d === 1 ? [i] : [])));
    for (const a of drop) if (s[a] !== 1) return c.unsupported(`axis ${a} has size ${s[a]}, not 1`);
    return [
      reshapeTo(
        x,
        s.filter((_, i) => !drop.has(i)),
      ),
    ];
  };
}

function unsqueezeCompiler(c: CompileCtx): OpRun {
  const attrAxes = c.opset < 13 ? c.node.attrInts('axes') : undefined;
  return (ins) => {
    const x = need(ins, 0, c.node);
    const s = x.shape;
    const raw = attrAxes ?? ints(need(ins, 1, c.node));
    const outRank = s.length + raw.length;
    const axes = new Set(raw.map((a) => axisOrFail(c, a, outRank)));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < outRank; i++) dims.push(axes.has(i) ? 1 : s[k++]!);
    return [reshapeTo(x, dims)];
  };
}

function shapeCompiler(c: CompileCtx): OpRun {
  const start = c.node.attrInt('start', 0);
  const end = c.node.attrInt('end');
  return (ins) => {
    const s = need(ins, 0, c.node).shape;
    const r = s.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const part = s.slice(clamp(start), end === undefined ? r : clamp(end));
    return [new HostVal(part, [part.length], 'int32')];
  };
}

function gatherCompiler(c: CompileCtx): OpRun {
  const axisAttr = c.node.attrInt('axis', 0);
  return (ins) => {
    const data = need(ins, 0, c.node);
    const indices = need(ins, 1, c.node);
    const axis = axisOrFail(c, axisAttr, data.rank);
    const d = data.shape[axis]!;
    if (indices.kind === 'host') {
      const idx = indices.data.map((i) => (i < 0 ? i + d : i));
      if (idx.some((i) => i < 0 || i >= d)) return c.unsupported(`an index is out of range for size ${d}`);
      if (data.kind === 'host') {
        const taken = hostTake(data, axis, idx);
        return [new HostVal(taken.data, [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)], data.dtype)];
      }
      return [tfv(tf.gather(nchw(data), tf.tensor(idx, indices.dims, 'int32'), axis))];
    }
    const it = tf.cast(indices.t, 'int32');
    const fixed = tf.add(it, tf.mul(tf.cast(tf.less(it, 0), 'int32'), d));
    return [tfv(tf.gather(nchw(data), fixed, axis))];
  };
}

function castCompiler(c: CompileCtx): OpRun {
  const to = c.node.attrInt('to', DataType.FLOAT);
  const dtype = runDType(to);
  if (!dtype) return c.unsupported(`a cast to element type ${to}`);
  return (ins) => {
    const x = need(ins, 0, c.node);
    if (x.kind === 'host') {
      const conv = dtype === 'float32' ? (v: number) => Math.fround(v) : dtype === 'int32' ? (v: number) => Math.trunc(v) : (v: number) => (v ? 1 : 0);
      return [new HostVal(x.data.map(conv), x.dims, dtype)];
    }
    return [x.dtype === dtype ? x : tfv(tf.cast(x.t, dtype), x.nhwc)];
  };
}

function constantCompiler(c: CompileCtx): OpRun {
  const n = c.node;
  let value: RtVal | undefined;
  const t = n.attrTensor('value');
  if (t) value = constantValue(t, c.retain);
  else if (n.attrFloat('value_float') !== undefined) value = new HostVal([n.attrFloat('value_float')!], [], 'float32');
  else if (n.attrFloats('value_floats')) {
    const f = n.attrFloats('value_floats')!;
    value = new HostVal(f, [f.length], 'float32');
  } else if (n.attrInt('value_int') !== undefined) value = new HostVal([n.attrInt('value_int')!], [], 'int32');
  else if (n.attrInts('value_ints')) {
    const f = n.attrInts('value_ints')!;
    value = new HostVal(f, [f.length], 'int32');
  }
  if (!value) return c.unsupported('a Constant without a numeric value (sparse or string)');
  const v = value;
  return () => [v];
}

function constantOfShapeCompiler(c: CompileCtx): OpRun {
  const t = c.node.attrTensor('value');
  const dtype = t ? runDType(t.dataType) : 'float32';
  if (!dtype) return c.unsupported('a value of an unsupported element type');
  const fill = t ? (t.toNumbers()[0] ?? 0) : 0;
  return (ins) => {
    const dims = ints(need(ins, 0, c.node));
    const n = sizeOf(dims);
    if (dtype !== 'float32' || n <= HOST_FLOAT_LIMIT) return [new HostVal(new Array<number>(n).fill(fill), dims, dtype)];
    return [tfv(tf.fill(dims, fill, dtype))];
  };
}

function expandCompiler(c: CompileCtx): OpRun {
  return (ins) => {
    const x = need(ins, 0, c.node);
    const shape = ints(need(ins, 1, c.node));
    const target = broadcastShapes(x.shape, shape);
    if (!target) return c.unsupported(`[${x.shape.join(',')}] does not broadcast to [${shape.join(',')}]`);
    if (x.kind === 'host') return [hostBroadcast([x, new HostVal(new Array<number>(sizeOf(target)).fill(0), target, x.dtype)], x.dtype, (a) => a)];
    if (target.length === x.rank && target.every((d, i) => d === x.shape[i])) return [x];
    return [tfv(tf.broadcastTo(nchw(x), target))];
  };
}

function tileCompiler(c: CompileCtx): OpRun {
  return (ins) => {
    const x = need(ins, 0, c.node);
    const reps = ints(need(ins, 1, c.node));
    if (x.kind === 'host') {
      let v: HostVal = x;
      reps.forEach((r, a) => {
        const d = v.dims[a]!;
        if (r !== 1)
          v = hostTake(
            v,
            a,
            Array.from({ length: d * r }, (_, i) => i % d),
          );
      });
      return [v];
    }
    return [tfv(tf.tile(nchw(x), reps))];
  };
}

function rangeCompiler(c: CompileCtx): OpRun {
  return (ins) => {
    const [start, limit, delta] = [0, 1, 2].map((i) => host(need(ins, i, c.node)));
    const s = start!.data[0]!;
    const d = delta!.data[0]!;
    const n = Math.max(Math.ceil((limit!.data[0]! - s) / d), 0);
    return [
      new HostVal(
        Array.from({ length: n }, (_, i) => s + i * d),
        [n],
        start!.dtype,
      ),
    ];
  };
}

type Reducer = (t: Tensor, axes: number[], keep: boolean) => Tensor;

const REDUCERS: Record<string, Reducer> = {
  ReduceMean: (t, a, k) => tf.mean(t, a, k),
  ReduceSum: (t, a, k) => tf.sum(t, a, k),
  ReduceMax: (t, a, k) => tf.max(t, a, k),
  ReduceMin: (t, a, k) => tf.min(t, a, k),
  ReduceProd: (t, a, k) => tf.prod(t, a, k),
  ReduceL1: (t, a, k) => tf.sum(tf.abs(t), a, k),
  ReduceL2: (t, a, k) => tf.sqrt(tf.sum(tf.square(t), a, k)),
  ReduceSumSquare: (t, a, k) => tf.sum(tf.square(t), a, k),
  ReduceLogSum: (t, a, k) => tf.log(tf.sum(t, a, k)),
  ReduceLogSumExp: (t, a, k) => tf.logSumExp(t, a, k),
};

function reduceCompiler(op: string): OpCompiler {
  const fn = REDUCERS[op]!;
  return (c) => {
    const keep = c.node.attrInt('keepdims', 1) === 1;
    const fromInput = op === 'ReduceSum' ? c.opset >= 13 : c.opset >= 18;
    const noop = c.node.attrInt('noop_with_empty_axes', 0) === 1;
    const attrAxes = fromInput ? undefined : c.node.attrInts('axes');
    return (ins) => {
      const x = need(ins, 0, c.node);
      const r = x.rank;
      let axes = fromInput ? (ins[1] ? ints(ins[1]) : undefined) : attrAxes;
      if (!axes || axes.length === 0) {
        if (noop) return [x];
        axes = [...Array(r).keys()];
      }
      const norm = axes.map((a) => axisOrFail(c, a, r));
      if (x.kind === 'tf' && x.nhwc && keep) return [tfv(fn(x.t, norm.map(nhwcAxis), true), true)];
      const t = x.kind === 'host' ? tf.tensor(x.data, x.dims, x.dtype === 'bool' ? 'int32' : x.dtype) : nchw(x);
      return [tfv(fn(t, norm, keep))];
    };
  };
}

export const TENSOR_OPS: Record<string, OpCompiler> = {
  Flatten: flattenCompiler,
  Reshape: reshapeCompiler,
  Transpose: transposeCompiler,
  Concat: concatCompiler,
  Split: splitCompiler,
  Slice: sliceCompiler,
  Pad: padCompiler,
  Squeeze: squeezeCompiler,
  Unsqueeze: unsqueezeCompiler,
  Identity: (c) => (ins) => [need(ins, 0, c.node)],
  Shape: shapeCompiler,
  Size: (c) => (ins) => [new HostVal([sizeOf(need(ins, 0, c.node).shape)], [], 'int32')],
  Gather: gatherCompiler,
  Cast: castCompiler,
  Constant: constantCompiler,
  ConstantOfShape: constantOfShapeCompiler,
  Expand: expandCompiler,
  Tile: tileCompiler,
  Range: rangeCompiler,
  ...Object.fromEntries(Object.keys(REDUCERS).map((op) => [op, reduceCompiler(op)])),
};
