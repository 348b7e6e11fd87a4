/**
 * Folding of small constant tensors, the way exporters compute shapes: PyTorch writes
 * `Flatten` as Shape → Gather → Unsqueeze → Concat → Reshape, and upsampling sizes as
 * Shape → Slice → Mul → Concat. Each value folds to row-major data whose entries are
 * numbers, symbolic dims ('N' from Shape of a symbolic input) or null (unknown), so a
 * Reshape target `[N, -1]` is still understood when the batch is symbolic.
 *
 * Folding is on demand and memoised per `Folder`; it reads the shapes already recorded on
 * values in its shape table (so Shape folds once its input's shape is known). Only tensors up to
 * `MAX_FOLD_ELEMENTS` elements fold: weights never do.
 */
import type { Node, Value } from '../../ir/core.js';
import { DataType, isFloatType } from '../../ir/data-type.js';
import type { Tensor } from '../../ir/tensor.js';
import type { StaticDim } from '../../ir/types.js';
import type { ShapeLookup } from '../shape-table.js';
import { DECLARED_SHAPES } from '../shape-table.js';
import type { Folded } from './common.js';
import { isNum, prodDims } from './common.js';

export const MAX_FOLD_ELEMENTS = 4096;

const INT_TYPES = new Set<number>([
  DataType.INT64,
  DataType.INT32,
  DataType.INT16,
  DataType.INT8,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
  DataType.BOOL,
]);

function tensorFolded(t: Tensor): Folded | undefined {
  if (t.size > MAX_FOLD_ELEMENTS) return undefined;
  if (!INT_TYPES.has(t.dataType) && !isFloatType(t.dataType)) return undefined;
  if (t.data.kind === 'none' && t.size > 0) return undefined;
  try {
    return { dims: t.shape, data: t.toNumbers(), elem: t.dataType };
  } catch {
    return undefined;
  }
}

/** The tensor a Constant node holds (value or the value_* shorthands), as folded data. */
export function constantNodeFolded(n: Node): Folded | undefined {
  const t = n.attrTensor('value');
  if (t) return tensorFolded(t);
  const f = n.attrFloat('value_float');
  if (f !== undefined) return { dims: [], data: [f], elem: DataType.FLOAT };
  const fs = n.attrFloats('value_floats');
  if (fs) return { dims: [fs.length], data: [...fs], elem: DataType.FLOAT };
  const i = n.attrInt('value_int');
  if (i !== undefined) return { dims: [], data: [i], elem: DataType.INT64 };
  const is = n.attrInts('value_ints');
  if (is) return { dims: [is.length], data: [...is], elem: DataType.INT64 };
  return undefined;
}

function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Index of `flat` in a row-major tensor of `dims`, as a multi-index. */
function unravel(flat: number, dims: readonly number[]): number[] {
  const idx = new Array<number>(dims.length);
  for (let k = dims.length - 1; k >= 0; k--) {
    const d = dims[k]!;
    idx[k] = flat % d;
    flat = Math.floor(flat / d);
  }
  return idx;
}

function ravel(idx: readonly number[], dims: readonly number[]): number {
  let f = 0;
  for (let k = 0; k < dims.length; k++) f = f * dims[k]! + idx[k]!;
  return f;
}

/** Numpy broadcasting of two folded tensors with an elementwise function. */
function elementwise(a: Folded, b: Folded, elem: number, fn: (x: StaticDim, y: StaticDim) => StaticDim): Folded | undefined {
  const r = Math.max(a.dims.length, b.dims.length);
  const pa = [...new Array(r - a.dims.length).fill(1), ...a.dims];
  const pb = [...new Array(r - b.dims.length).fill(1), ...b.dims];
  const dims: number[] = [];
  for (let k = 0; k < r; k++) {
    if (pa[k] === pb[k] || pb[k] === 1) dims.push(pa[k]!);
    else if (pa[k] === 1) dims.push(pb[k]!);
    else return undefined;
  }
  const n = numel(dims);
  if (n > MAX_FOLD_ELEMENTS) return undefined;
  const data: StaticDim[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, dims);
    const ia = ravel(
      idx.map((x, k) => (pa[k] === 1 ? 0 : x)),
      pa,
    );
    const ib = ravel(
      idx.map((x, k) => (pb[k] === 1 ? 0 : x)),
      pb,
    );
    data[i] = fn(a.data[ia]!, b.data[ib]!);
  }
  return { dims, data, elem };
}

function isIntType(t: number): boolean {
  return INT_TYPES.has(t) && t !== DataType.BOOL;
}

function arith(op: string, elem: number): ((x: StaticDim, y: StaticDim) => StaticDim) | undefined {
  const intDiv = isIntType(elem);
  const num =
    (f: (x: number, y: number) => number) =>
    (x: StaticDim, y: StaticDim): StaticDim => {
      if (isNum(x) && isNum(y)) return f(x, y);
      return null;
    };
  switch (op) {
    case 'Add':
      return (x, y) => (x === 0 ? y : y === 0 ? x : num((p, q) => p + q)(x, y));
    case 'Sub':
      return num((p, q) => p - q);
    case 'Mul':
      return (x, y) => (x === 1 ? y : y === 1 ? x : x === 0 || y === 0 ? 0 : num((p, q) => p * q)(x, y));
    case 'Div':
      return (x, y) => (y === 1 ? x : x !== null && x === y ? 1 : num((p, q) => (intDiv ? Math.trunc(p / q) : p / q))(x, y));
    case 'Mod':
      return num((p, q) => p - Math.floor(p / q) * q);
    case 'Max':
      return num(Math.max);
    case 'Min':
      return num(Math.min);
    case 'Pow':
      return num((p, q) => p ** q);
    case 'Equal':
      return (x, y) => (isNum(x) && isNum(y) ? Number(x === y) : x !== null && x === y ? 1 : null);
    case 'Less':
      return num((p, q) => Number(p < q));
    case 'Greater':
      return num((p, q) => Number(p > q));
    case 'LessOrEqual':
      return num((p, q) => Number(p <= q));
    case 'GreaterOrEqual':
      return num((p, q) => Number(p >= q));
    case 'And':
      return num((p, q) => Number(p !== 0 && q !== 0));
    case 'Or':
      return num((p, q) => Number(p !== 0 || q !== 0));
    default:
      return undefined;
  }
}

const COMPARE = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or']);
const ARITH_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Mod', 'Max', 'Min', 'Pow', ...COMPARE]);

function castValue(x: StaticDim, to: number): StaticDim {
  if (!isNum(x)) return x;
  if (to === DataType.BOOL) return Number(x !== 0);
  if (isIntType(to)) return Math.trunc(x);
  if (to === DataType.FLOAT) return Math.fround(x);
  return x;
}

/** Slice along each axis of a folded tensor (the Slice operator's clamping rules). */
function sliceFolded(f: Folded, starts: number[], ends: number[], axes: number[], steps: number[]): Folded | undefined {
  const r = f.dims.length;
  const ranges = f.dims.map((d) => ({ start: 0, step: 1, count: d }));
  for (let k = 0; k < axes.length; k++) {
    const ax = axes[k]! < 0 ? axes[k]! + r : axes[k]!;
    if (ax < 0 || ax >= r) return undefined;
    const s = sliceRange(f.dims[ax]!, starts[k]!, ends[k]!, steps[k] ?? 1);
    if (!s) return undefined;
    ranges[ax] = s;
  }
  const dims = ranges.map((x) => x.count);
  const n = numel(dims);
  const data: StaticDim[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, dims).map((x, k) => ranges[k]!.start + x * ranges[k]!.step);
    data[i] = f.data[ravel(idx, f.dims)]!;
  }
  return { dims, data, elem: f.elem };
}

/** Start, step and element count of a slice of a dimension of size `d`; undefined for step 0. */
export function sliceRange(d: number, start: number, end: number, step: number): { start: number; step: number; count: number } | undefined {
  if (step === 0) return undefined;
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), d);
    e = Math.min(Math.max(e, 0), d);
    return { start: s, step, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = Math.min(Math.max(s, 0), d - 1);
  e = Math.min(Math.max(e, -1), d - 1);
  return { start: s, step, count: Math.max(0, Math.ceil((s - e) / -step)) };
}

/** Memoised folding of values to small constant (or symbolic) tensors. */
export class Folder {
  readonly #memo = new Map<Value, Folded | null>();
  readonly #opset: (domain: string) => number;
  readonly #shapes: ShapeLookup;

  /** `shapes`: where Shape/Size/Reshape read value shapes (default: the declared types). */
  constructor(opset: (domain: string) => number, shapes: ShapeLookup = DECLARED_SHAPES) {
    this.#opset = opset;
    this.#shapes = shapes;
  }

  /** Folded contents of `v`, or undefined when it is not a small computable constant. */
  fold(v: Value | null | undefined): Folded | undefined {
    if (!v) return undefined;
    const m = this.#memo.get(v);
    if (m !== undefined) return m ?? undefined;
    let f: Folded | undefined;
    try {
      f = this.#compute(v);
    } catch {
      f = undefined;
    }
    if (f && f.data.length > MAX_FOLD_ELEMENTS) f = undefined;
    this.#memo.set(v, f ?? null);
    return f;
  }

  /** Forgets what was folded for `v` (its producer's inputs changed). */
  forget(v: Value): void {
    this.#memo.delete(v);
  }

  #compute(v: Value): Folded | undefined {
    if (v.initializer) {
      // A graph input with an initializer is only a default: the caller may feed another value.
      if (v.isGraphInput()) return undefined;
      return tensorFolded(v.initializer);
    }
    const n = v.producer;
    if (!n || (n.domain !== '' && n.domain !== 'ai.onnx')) return undefined;
    const out = n.outputs.indexOf(v);
    const opset = this.#opset(n.domain);
    const inp = (i: number) => this.fold(n.inputs[i]);
    switch (n.opType) {
      case 'Constant':
        return constantNodeFolded(n);
      case 'Identity':
        return inp(0);
      case 'Shape': {
        const x = n.inputs[0];
        const s = x ? this.#shapes.shape(x) : undefined;
        if (!s) return undefined;
        const r = s.length;
        let start = n.attrInt('start', 0);
        let end = n.attrInt('end', r);
        if (start < 0) start += r;
        if (end < 0) end += r;
        start = Math.min(Math.max(start, 0), r);
        end = Math.min(Math.max(end, 0), r);
        const data = s.slice(start, Math.max(start, end));
        return { dims: [data.length], data, elem: DataType.INT64 };
      }
      case 'Size': {
        const x = n.inputs[0];
        const s = x ? this.#shapes.shape(x) : undefined;
        if (!s) return undefined;
        return { dims: [], data: [prodDims(s)], elem: DataType.INT64 };
      }
      case 'Cast': {
        const x = inp(0);
        const to = n.attrInt('to');
        if (!x || to === undefined) return undefined;
        return { dims: x.dims, data: x.data.map((d) => castValue(d, to)), elem: to };
      }
      case 'Reshape':
      case 'Flatten':
      case 'Squeeze':
      case 'Unsqueeze': {
        // Data order is unchanged; the dims come from shape inference of this node.
        const x = inp(0);
        const s = this.#shapes.shape(v);
        if (!x || !s || !s.every(isNum)) return undefined;
        return { dims: s as number[], data: x.data, elem: x.elem };
      }
      case 'Concat': {
        const parts = n.inputs.map((i) => this.fold(i));
        if (parts.some((p) => !p) || parts.length === 0) return undefined;
        const ps = parts as Folded[];
        const r = ps[0]!.dims.length;
        if (r !== 1 && !ps.every((p) => p.dims.length === 1)) {
          if (r === 0) return undefined;
          const axis = n.attrInt('axis', 0);
          if ((axis < 0 ? axis + r : axis) !== 0 || !ps.every((p) => p.dims.length === r && p.dims.slice(1).join() === ps[0]!.dims.slice(1).join()))
            return undefined;
          return { dims: [ps.reduce((a, p) => a + p.dims[0]!, 0), ...ps[0]!.dims.slice(1)], data: ps.flatMap((p) => p.data), elem: ps[0]!.elem };
        }
        const data = ps.flatMap((p) => p.data);
        return { dims: [data.length], data, elem: ps[0]!.elem };
      }
      case 'Gather': {
        const x = inp(0);
        const idx = inp(1);
        if (!x || !idx || !idx.data.every(isNum)) return undefined;
        const r = x.dims.length;
        let axis = n.attrInt('axis', 0);
        if (axis < 0) axis += r;
        if (axis < 0 || axis >= r) return undefined;
        const outer = numel(x.dims.slice(0, axis));
        const d = x.dims[axis]!;
        const inner = numel(x.dims.slice(axis + 1));
        const data: StaticDim[] = [];
        for (let o = 0; o < outer; o++) {
          for (const raw of idx.data as number[]) {
            const j = raw < 0 ? raw + d : raw;
            if (j < 0 || j >= d) return undefined;
            for (let k = 0; k < inner; k++) data.push(x.data[(o * d + j) * inner + k]!);
          }
        }
        return { dims: [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)], data, elem: x.elem };
      }
      case 'Slice': {
        const x = inp(0);
        if (!x) return undefined;
        let starts: StaticDim[] | undefined, ends: StaticDim[] | undefined, axes: StaticDim[] | undefined, steps: StaticDim[] | undefined;
        if (opset < 10) {
          starts = n.attrInts('starts');
          ends = n.attrInts('ends');
          axes = n.attrInts('axes');
        } else {
          starts = inp(1)?.data;
          ends = inp(2)?.data;
          axes = n.inputs[3] ? inp(3)?.data : undefined;
          steps = n.inputs[4] ? inp(4)?.data : undefined;
          if ((n.inputs[3] && !axes) || (n.inputs[4] && !steps)) return undefined;
        }
        if (!starts || !ends) return undefined;
        const all = [starts, ends, axes ?? [], steps ?? []];
        if (!all.every((a) => a.every(isNum))) return undefined;
        const ax = (axes as number[] | undefined) ?? starts.map((_, k) => k);
        return sliceFolded(x, starts as number[], ends as number[], ax, (steps as number[] | undefined) ?? ax.map(() => 1));
      }
      case 'Neg':
      case 'Abs':
      case 'Floor':
      case 'Ceil':
      case 'Not':
      case 'Sqrt':
      case 'Reciprocal':
      case 'Round': {
        const x = inp(0);
        if (!x) return undefined;
        const f: (a: number) => number = {
          Neg: (a: number) => -a,
          Abs: Math.abs,
          Floor: Math.floor,
          Ceil: Math.ceil,
          Not: (a: number) => Number(a === 0),
          Sqrt: Math.sqrt,
          Reciprocal: (a: number) => 1 / a,
          Round: roundHalfEven,
        }[n.opType]!;
        return { dims: x.dims, data: x.data.map((d) => (isNum(d) ? f(d) : null)), elem: x.elem };
      }
      case 'Where': {
        const c = inp(0),
          a = inp(1),
          b = inp(2);
        if (!c || !a || !b) return undefined;
        const ab = elementwise(a, b, a.elem, (x, y) => (x === y ? x : null));
        const ca = elementwise(c, a, a.elem, (p, x) => (p === null ? null : p ? x : null));
        const cb = elementwise(c, b, a.elem, (p, y) => (p === null ? null : p ? null : y));
        if (!ab || !ca || !cb || ca.data.length !== cb.data.length) return undefined;
        return { dims: ca.dims, data: ca.data.map((x, i) => x ?? cb.data[i] ?? null), elem: a.elem };
      }
      case 'ConstantOfShape': {
        const s = inp(0);
        if (!s || !s.data.every(isNum)) return undefined;
        const dims = s.data as number[];
        if (numel(dims) > MAX_FOLD_ELEMENTS) return undefined;
        const t = n.attrTensor('value');
        const fill = t ? tensorFolded(t) : { dims: [1], data: [0], elem: DataType.FLOAT };
        if (!fill) return undefined;
        return { dims, data: new Array(numel(dims)).fill(fill.data[0] ?? 0), elem: fill.elem };
      }
      case 'Range': {
        const a = inp(0),
          b = inp(1),
          c = inp(2);
        if (!a || !b || !c) return undefined;
        const [s, l, d] = [a.data[0], b.data[0], c.data[0]];
        if (s === undefined || l === undefined || d === undefined) return undefined; // an empty start, limit or delta: not folded
        if (!isNum(s) || !isNum(l) || !isNum(d) || d === 0) return undefined;
        const count = Math.max(Math.ceil((l - s) / d), 0);
        if (count > MAX_FOLD_ELEMENTS) return undefined;
        return { dims: [count], data: Array.from({ length: count }, (_, i) => s + i * d), elem: a.elem };
      }
      case 'ReduceProd':
      case 'ReduceSum':
      case 'ReduceMax':
      case 'ReduceMin': {
        // Only the whole-vector form (numel computations); keepdims decides the rank.
        const x = inp(0);
        if (!x || x.dims.length !== 1 || (n.inputs[1] && n.inputs[1] !== null)) return undefined;
        const keep = n.attrInt('keepdims', 1) === 1;
        const axes = n.attrInts('axes');
        if (axes && !(axes.length === 1 && (axes[0] === 0 || axes[0] === -1))) return undefined;
        let acc: StaticDim;
        if (n.opType === 'ReduceProd') acc = prodDims(x.data);
        else if (!x.data.every(isNum)) acc = null;
        else {
          const xs = x.data as number[];
          acc = n.opType === 'ReduceSum' ? xs.reduce((p, q) => p + q, 0) : n.opType === 'ReduceMax' ? Math.max(...xs) : Math.min(...xs);
        }
        return { dims: keep ? [1] : [], data: [acc], elem: x.elem };
      }
      default: {
        // Decide by op type before folding inputs: recursing into a conv's input would walk
        // the whole network for nothing.
        if (!ARITH_OPS.has(n.opType) || n.inputs.length !== 2 || out !== 0) return undefined;
        const a = inp(0),
          b = inp(1);
        if (!a || !b) return undefined;
        return elementwise(a, b, COMPARE.has(n.opType) ? DataType.BOOL : a.elem, arith(n.opType, a.elem)!);
      }
    }
  }
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
