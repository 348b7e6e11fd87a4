/**
 * Run-time values of the executor.
 *
 * A `TfVal` is a tensor on the tfjs backend. Rank-4 feature maps may be stored channels-last
 * (`nhwc`): tfjs convolutions and pools want NHWC, so a conv's output stays NHWC through
 * BN, activations, adds and concats until an op that cares about layout (Flatten, Reshape,
 * a graph output) asks for NCHW. A ResNet then transposes twice per pass, not twice per conv.
 * Every op sees logical (ONNX, NCHW) shapes through `shapeOf`.
 *
 * A `HostVal` is a small tensor computed on the host: Shape → Gather → Concat → Reshape
 * chains, int64 initializers, Slice starts. tfjs has no int64; host values keep exact
 * integers up to 2^53 and never touch the backend unless an op needs them there.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataType as TfDType, Tensor } from '@tensorflow/tfjs-core';

export type HostDType = 'float32' | 'int32' | 'bool';

/** NCHW → NHWC and back. */
export const TO_NHWC = [0, 2, 3, 1];
export const TO_NCHW = [0, 3, 1, 2];

export class TfVal {
  readonly kind = 'tf' as const;
  #nchw: Tensor | undefined;
  #nhwc: Tensor | undefined;
  /** `nhwc`: `t` holds the logical NCHW tensor transposed to NHWC (rank 4 only). */
  constructor(
    readonly t: Tensor,
    readonly nhwc = false,
  ) {
    if (nhwc) this.#nhwc = t;
    else this.#nchw = t;
  }

  get dtype(): TfDType {
    return this.t.dtype;
  }
  get rank(): number {
    return this.t.rank;
  }
  /** The logical (NCHW) shape. */
  get shape(): number[] {
    const s = this.t.shape;
    return this.nhwc ? [s[0]!, s[3]!, s[1]!, s[2]!] : s;
  }

  /** The tensor in logical layout (transposed once, then cached). */
  get nchw(): Tensor {
    return (this.#nchw ??= tf.transpose(this.t, TO_NCHW));
  }

  /** Every backend tensor this value holds (its tensor and the cached other layout). */
  tensors(): Tensor[] {
    const out = [this.t];
    if (this.#nchw && this.#nchw !== this.t) out.push(this.#nchw);
    if (this.#nhwc && this.#nhwc !== this.t) out.push(this.#nhwc);
    return out;
  }

  /** The rank-4 tensor in NHWC (transposed once, then cached). */
  get channelsLast(): Tensor {
    if (this.t.rank !== 4) throw new Error(`channels-last view of a rank-${this.t.rank} tensor`);
    return (this.#nhwc ??= tf.transpose(this.t, TO_NHWC));
  }
}

export class HostVal {
  readonly kind = 'host' as const;
  constructor(
    readonly data: number[],
    readonly dims: number[],
    readonly dtype: HostDType,
  ) {}
  get shape(): number[] {
    return this.dims;
  }
  get rank(): number {
    return this.dims.length;
  }
  get size(): number {
    return this.data.length;
  }
}

export type RtVal = TfVal | HostVal;

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function rankOf(v: RtVal): number {
  return v.rank;
}

export function isNhwc(v: RtVal): boolean {
  return v.kind === 'tf' && v.nhwc;
}

/** The value as a backend tensor in logical (NCHW) layout. */
export function nchw(v: RtVal): Tensor {
  if (v.kind === 'tf') return v.nchw;
  return tf.tensor(v.data, v.dims, v.dtype);
}

/** A rank-4 value as an NHWC backend tensor. */
export function nhwc(v: RtVal): Tensor {
  if (v.kind === 'tf') return v.channelsLast;
  if (v.rank !== 4) throw new Error(`NHWC view of a rank-${v.rank} value`);
  return tf.transpose(tf.tensor(v.data, v.dims, v.dtype), TO_NHWC);
}

/**
 * An operand of a rank-4 NHWC elementwise op: `v` (rank ≤ 4, NCHW-broadcastable) reshaped to
 * rank 4 and moved to NHWC, so per-channel constants like [C,1,1] broadcast as [1,1,1,C].
 */
export function broadcastNhwc(v: RtVal): Tensor {
  if (v.kind === 'tf' && v.nhwc) return v.t;
  const s = v.shape;
  if (s.length > 4) throw new Error(`rank-${s.length} operand of a rank-4 op`);
  const t = nchw(v);
  const s4 = [...new Array<number>(4 - s.length).fill(1), ...s];
  const r = s.length === 4 ? t : tf.reshape(t, s4);
  // A transpose of a tensor whose moved axes are all 1 is only a reshape.
  if (s4[1] === 1 || (s4[2] === 1 && s4[3] === 1)) return tf.reshape(r, [s4[0]!, s4[2]!, s4[3]!, s4[1]!]);
  return tf.transpose(r, TO_NHWC);
}

/** Wraps a tensor produced in NHWC (`nhwc`) or logical layout. */
export function tfv(t: Tensor, nhwcLayout = false): TfVal {
  return new TfVal(t, nhwcLayout);
}

/** The value on the host (reads a backend tensor synchronously; meant for small ones). */
export function host(v: RtVal): HostVal {
  if (v.kind === 'host') return v;
  const t = v.nchw;
  const dtype: HostDType = t.dtype === 'bool' ? 'bool' : t.dtype === 'int32' ? 'int32' : 'float32';
  return new HostVal(Array.from(t.dataSync() as ArrayLike<number>), [...t.shape], dtype);
}

/** Integer values of a small value (shapes, axes, pads). */
export function ints(v: RtVal): number[] {
  return host(v).data.map((x) => Math.trunc(x));
}

/** Float values of a small value. */
export function floats(v: RtVal): number[] {
  return host(v).data;
}

/** Maps a logical (NCHW) axis of a rank-4 value to its NHWC storage axis. */
export function nhwcAxis(axis: number): number {
  return [0, 3, 1, 2][axis]!;
}

/** Normalises a possibly negative axis for `rank`; undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

/** Numpy-style broadcast of two shapes; undefined when they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Row-major strides. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/** Elementwise op on host values with numpy broadcasting. */
export function hostBroadcast(vals: readonly HostVal[], dtype: HostDType, fn: (...xs: number[]) => number): HostVal {
  let shape: number[] = [];
  for (const v of vals) {
    const s = broadcastShapes(shape, v.dims);
    if (!s) throw new Error(`shapes [${shape}] and [${v.dims}] do not broadcast`);
    shape = s;
  }
  const n = sizeOf(shape);
  const outStrides = stridesOf(shape);
  const srcStrides = vals.map((v) => {
    const st = stridesOf(v.dims);
    const off = shape.length - v.dims.length;
    return shape.map((_, i) => (i < off || v.dims[i - off] === 1 ? 0 : st[i - off]!));
  });
  const out = new Array<number>(n);
  const args = new Array<number>(vals.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < vals.length; k++) {
      let rem = i;
      let idx = 0;
      for (let d = 0; d < shape.length; d++) {
        const q = Math.floor(rem / outStrides[d]!);
        rem -= q * outStrides[d]!;
        idx += q * srcStrides[k]![d]!;
      }
      args[k] = vals[k]!.data[idx]!;
    }
    out[i] = fn(...args);
  }
  return new HostVal(out, shape, dtype);
}
