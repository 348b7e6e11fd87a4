/** Building blocks shared by the channel rules. */
import type { Node, Value } from '../../ir/core.js';
import { DataType } from '../../ir/data-type.js';
import { Tensor } from '../../ir/tensor.js';
import type { ChannelRuleContext, ChannelSlot } from './context.js';

export type Member = readonly [Value | null | undefined, number];

/**
 * Couples the origin with every member of its axis class (values whose axes must agree,
 * as in broadcasting arithmetic). A member whose dim is 1 where the class is wider is a
 * broadcast and is left out; so is everything when the origin itself is the broadcast one.
 * Returns the slots of the class (origin included), or undefined when the origin is not in
 * it or a dim is unknown (the origin is then frozen).
 */
export function linkClass(ctx: ChannelRuleContext, members: readonly Member[]): Map<Value, ChannelSlot> | undefined {
  const o = ctx.origin;
  const mem = members.filter((m): m is readonly [Value, number] => !!m[0] && m[1] >= 0);
  if (!mem.some(([v, a]) => v === o.value && a === o.axis)) return undefined;
  let full = 1;
  const dims: number[] = [];
  for (const [v, a] of mem) {
    const d = v === o.value && a === o.axis ? o.slot.size : ctx.shape(v)?.[a];
    if (typeof d !== 'number') {
      ctx.freezeOrigin(`the size of "${v.name}" axis ${a} is unknown`);
      return undefined;
    }
    dims.push(d);
    if (d !== 1) {
      if (full !== 1 && d !== full) {
        ctx.freezeOrigin(`"${v.name}" axis ${a} has ${d} positions, the others ${full}`);
        return undefined;
      }
      full = d;
    }
  }
  const out = new Map<Value, ChannelSlot>();
  out.set(o.value, o.slot);
  if (o.slot.size === 1 && full > 1) return out;
  mem.forEach(([v, a], i) => {
    if (v === o.value && a === o.axis) return;
    if (dims[i] === 1 && full > 1) return;
    const s = ctx.identityTo(o.slot, v, a);
    if (s) out.set(v, s);
  });
  return out;
}

/** Rank of a value, or undefined. */
export function rankOf(ctx: ChannelRuleContext, v: Value | null | undefined): number | undefined {
  return ctx.shape(v)?.length;
}

/** Product of dims[from..to] (inclusive); 1 for an empty range; undefined when one is not a number. */
export function prod(dims: readonly (number | string | null)[], from: number, to: number): number | undefined {
  let p = 1;
  for (let i = from; i <= to; i++) {
    const d = dims[i];
    if (typeof d !== 'number') return undefined;
    p *= d;
  }
  return p;
}

/**
 * Links channel axis `c` of `x` into output axis `b` of `y`, where `y` merges x's axes
 * f..l into one (Flatten, Reshape): position (p, ch, r) of the merged block, with p over
 * the axes before c and r over those after, is `p·C·I + ch·I + r`.
 */
export function linkMerged(ctx: ChannelRuleContext, x: Value, c: number, f: number, l: number, y: Value, b: number): void {
  const dims = ctx.shape(x);
  if (!dims) {
    ctx.freezeOrigin(`the shape of "${x.name}" is unknown`);
    return;
  }
  const P = prod(dims, f, c - 1);
  const C = dims[c];
  const I = prod(dims, c + 1, l);
  if (P === undefined || typeof C !== 'number' || I === undefined) {
    ctx.freezeOrigin(`"${x.name}" is merged with axes of unknown size`);
    return;
  }
  const xs = ctx.slot(x, c, C);
  if (!xs) return;
  const ys = ctx.slot(y, b, P * C * I);
  if (!ys) return;
  for (let p = 0; p < P; p++) {
    for (let ch = 0; ch < C; ch++) {
      const at = p * C * I + ch * I;
      for (let r = 0; r < I; r++) ctx.link(xs, ch, ys, at + r);
    }
  }
}

/** Int64 (or the original integer type's) 1-D tensor with the given values. */
export function intTensor(values: readonly number[], like?: Tensor): Tensor {
  if (like && like.dataType === DataType.INT32) {
    const a = Int32Array.from(values);
    return new Tensor(undefined, DataType.INT32, [values.length], { kind: 'raw', bytes: new Uint8Array(a.buffer) });
  }
  return Tensor.fromInt64(undefined, [values.length], values);
}

/** Whether any output of `n` beyond the first is read (or is a graph output). */
export function extraOutputsUsed(n: Node): boolean {
  return n.outputs.slice(1).some((o) => o && (o.useCount > 0 || o.isGraphOutput()));
}

/** Sorted-array count of entries below `x`. */
export function countBelow(sorted: Int32Array, x: number): number {
  let lo = 0,
    hi = sorted.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (sorted[m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}
