/**
 * Channel rules of ops that move data between axes: Concat/Split/Slice on the channel axis
 * map index ranges (Split sizes and Slice bounds are rewritten by fixups); Flatten and
 * Reshape that merge the channel axis with the spatial ones expand channel c into its
 * H×W columns (so a Gemm after a Flatten loses whole column blocks); a Reshape that
 * *splits* the channel axis — the first half of a channel shuffle — freezes; Transpose,
 * Squeeze, Unsqueeze and Gather move the axis; Shape is harmless while nothing reads the
 * channel count out of it.
 *
 *   Flatten: [N, C, H, W] → [N, C·H·W]    channel c ↔ columns c·H·W .. c·H·W + H·W − 1
 *   Transpose(0,2,3,1) → Flatten/Reshape: [N, H, W, C] → [N, H·W·C]   channel c ↔ columns c, c + C, ...
 *   Reshape: [N, C, H, W] → [N, g, C/g, H, W]   frozen (channel shuffle)
 */
import { attrInts } from '../../ir/attribute.js';
import type { Node, Value } from '../../ir/core.js';
import type { StaticDim } from '../../ir/types.js';
import type { ChannelRule, ChannelRuleContext } from './context.js';
import { normAxis } from './context.js';
import { constantTensor } from './constant.js';
import { countBelow, intTensor, linkClass, linkMerged, rankOf } from './helpers.js';

const concat: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const y = n.outputs[0];
  const r = rankOf(ctx, o.value);
  if (!y || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  const axis = normAxis(n.attrInt('axis', 1), r);
  if (axis === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  if (o.axis !== axis) {
    for (const v of [...n.inputs, y]) if (v && v !== o.value) ctx.identityTo(o.slot, v, o.axis);
    return;
  }
  const sizes = n.inputs.map((v) => ctx.shape(v)?.[axis]);
  if (sizes.some((d) => typeof d !== 'number')) {
    ctx.freezeOrigin('a Concat input has an unknown size on the concat axis');
    return;
  }
  const total = (sizes as number[]).reduce((a, b) => a + b, 0);
  const ys = ctx.slot(y, axis, total);
  if (!ys) return;
  let off = 0;
  n.inputs.forEach((v, i) => {
    const d = sizes[i] as number;
    if (v && d > 0) {
      const xs = ctx.slot(v, axis, d);
      if (xs) for (let j = 0; j < d; j++) ctx.link(xs, j, ys, off + j);
    }
    off += d;
  });
};

function splitSizes(ctx: ChannelRuleContext, n: Node, dim: number): number[] | undefined {
  const k = n.outputs.length;
  if (ctx.opset >= 13 && n.inputs[1]) return ctx.ints(n.inputs[1]);
  const attr = n.attrInts('split');
  if (ctx.opset < 13 && attr) return attr;
  const parts = ctx.opset >= 18 ? n.attrInt('num_outputs', k) : k;
  const each = Math.ceil(dim / parts);
  return Array.from({ length: k }, (_, i) => Math.max(0, Math.min(each, dim - i * each)));
}

const split: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const x = n.inputs[0];
  const r = rankOf(ctx, x);
  if (!x || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  if (o.side === 'in' && o.index !== 0) return;
  const axis = normAxis(n.attrInt('axis', 0), r);
  if (axis === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  if (o.axis !== axis) {
    for (const v of [x, ...n.outputs]) if (v && v !== o.value) ctx.identityTo(o.slot, v, o.axis);
    return;
  }
  const dim = ctx.shape(x)?.[axis];
  if (typeof dim !== 'number') {
    ctx.freezeOrigin('split axis size unknown');
    return;
  }
  const sizes = splitSizes(ctx, n, dim);
  if (!sizes || sizes.length !== n.outputs.length || sizes.reduce((a, b) => a + b, 0) !== dim) {
    ctx.freezeOrigin('split sizes are not constant or do not add up');
    return;
  }
  const xs = ctx.slot(x, axis, dim);
  if (!xs) return;
  const outs: (import('./context.js').ChannelSlot | undefined)[] = [];
  let off = 0;
  n.outputs.forEach((v, i) => {
    const d = sizes[i]!;
    const ys = v && d > 0 ? ctx.slot(v, axis, d) : undefined;
    outs.push(ys);
    if (ys) for (let j = 0; j < d; j++) ctx.link(xs, off + j, ys, j);
    off += d;
  });
  ctx.fixup('split', (fc) => {
    if (fc.removed(xs).length === 0) return;
    const next = sizes.map((d, i) => (outs[i] ? fc.newSize(outs[i]!) : d));
    if (ctx.opset >= 13) {
      n.removeAttr('num_outputs');
      const like = n.inputs[1] ? constantTensor(n.inputs[1]) : undefined;
      fc.setConstInput(n, 1, intTensor(next, like));
    } else {
      n.setAttr(attrInts('split', next));
    }
  });
};

interface SliceSpec {
  starts: number[];
  ends: number[];
  axes: number[];
  steps: number[];
}

function sliceSpec(ctx: ChannelRuleContext, n: Node, r: number): SliceSpec | undefined {
  let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = n.attrInts('starts');
    ends = n.attrInts('ends');
    axes = n.attrInts('axes');
  } else {
    starts = ctx.ints(n.inputs[1]);
    ends = ctx.ints(n.inputs[2]);
    axes = n.inputs[3] ? ctx.ints(n.inputs[3]) : undefined;
    steps = n.inputs[4] ? ctx.ints(n.inputs[4]) : undefined;
    if ((n.inputs[3] && !axes) || (n.inputs[4] && !steps)) return undefined;
  }
  if (!starts || !ends || starts.length !== ends.length) return undefined;
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  return { starts, ends, axes: axes.map((a) => (a < 0 ? a + r : a)), steps };
}

function clampIndex(v: number, d: number): number {
  const x = v < 0 ? v + d : v;
  return Math.min(Math.max(x, 0), d);
}

const slice: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, y] = [n.inputs[0], n.outputs[0]];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  if (o.side === 'in' && o.index !== 0) {
    ctx.freezeOrigin('Slice bounds are data here');
    return;
  }
  const spec = sliceSpec(ctx, n, r);
  if (!spec) {
    ctx.freezeOrigin('Slice bounds are not constant');
    return;
  }
  const p = spec.axes.indexOf(o.axis);
  if (p < 0) {
    ctx.identityTo(o.slot, o.side === 'in' ? y : x, o.axis);
    return;
  }
  if (spec.steps[p] !== 1) {
    ctx.freezeOrigin('Slice with a step other than 1 on this axis');
    return;
  }
  const D = ctx.shape(x)?.[o.axis];
  if (typeof D !== 'number') {
    ctx.freezeOrigin('sliced axis size unknown');
    return;
  }
  const s = clampIndex(spec.starts[p]!, D);
  const e = clampIndex(spec.ends[p]!, D);
  const count = Math.max(0, e - s);
  const xs = ctx.slot(x, o.axis, D);
  const ys = count > 0 ? ctx.slot(y, o.axis, count) : undefined;
  if (!xs) return;
  if (ys) for (let j = 0; j < count; j++) ctx.link(xs, s + j, ys, j);
  const axis = o.axis;
  if (ctx.opset >= 10 && (!constantTensor(n.inputs[1]!) || !constantTensor(n.inputs[2]!))) {
    ctx.freeze(xs, `${n.where}: Slice bounds are computed at run time and would need rewriting`);
    return;
  }
  ctx.fixup(`bounds${axis}`, (fc) => {
    const removed = fc.removed(xs);
    if (removed.length === 0) return;
    const ns = s - countBelow(removed, s);
    const ne = ns + (ys ? fc.newSize(ys) : 0);
    const cur = sliceSpec(ctx, n, r)!;
    const starts = [...cur.starts];
    const ends = [...cur.ends];
    starts[p] = ns;
    ends[p] = ne;
    if (ctx.opset < 10) {
      n.setAttr(attrInts('starts', starts));
      n.setAttr(attrInts('ends', ends));
    } else {
      fc.setConstInput(n, 1, intTensor(starts, constantTensor(n.inputs[1]!)));
      fc.setConstInput(n, 2, intTensor(ends, constantTensor(n.inputs[2]!)));
    }
  });
};

const gather: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, idx, y] = [n.inputs[0], n.inputs[1], n.outputs[0]];
  const r = rankOf(ctx, x);
  const q = rankOf(ctx, idx);
  if (!x || !idx || !y || r === undefined || q === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  const axis = normAxis(n.attrInt('axis', 0), r);
  if (axis === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  if (o.side === 'in' && o.index === 1) {
    ctx.freezeOrigin('Gather indices would select different data');
    return;
  }
  if (o.side === 'in') {
    if (o.axis === axis) {
      ctx.freezeOrigin('Gather selects along this axis');
      return;
    }
    ctx.identityTo(o.slot, y, o.axis < axis ? o.axis : o.axis + q - 1);
    return;
  }
  if (o.axis >= axis && o.axis < axis + q) {
    ctx.freezeOrigin('this axis comes from the Gather indices');
    return;
  }
  ctx.identityTo(o.slot, x, o.axis < axis ? o.axis : o.axis - q + 1);
};

/**
 * The axis of `x` that holds the channels when `x` is a transpose of a channels-first
 * activation (tf2onnx flattens NHWC: Transpose(0,2,3,1) → Reshape, so channel c owns every
 * C-th column, not a block): axis 1 of the first value above the chain of Transposes, carried
 * down through their perms. Undefined when `x` is not a Transpose's output.
 */
function transposedChannelAxis(ctx: ChannelRuleContext, x: Value): number | undefined {
  const perms: number[][] = [];
  let v: Value | null | undefined = x;
  while (v?.producer && v.producer.opType === 'Transpose' && (v.producer.domain === '' || v.producer.domain === 'ai.onnx')) {
    const r = rankOf(ctx, v);
    if (r === undefined) return undefined;
    perms.push(v.producer.attrInts('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i));
    v = v.producer.inputs[0];
  }
  if (perms.length === 0) return undefined;
  let axis = 1;
  for (const p of perms.reverse()) axis = p.indexOf(axis);
  return axis >= 0 ? axis : undefined;
}

/** Of the merged input axes `f..l`, the one whose channels a merged output position carries: a transposed channel axis, else the first of size > 1. */
function mergedChannelAxis(ctx: ChannelRuleContext, x: Value, f: number, l: number, first: number): number {
  const t = transposedChannelAxis(ctx, x);
  const d = ctx.shape(x);
  return t !== undefined && t >= f && t <= l && d?.[t] !== 1 ? t : first;
}

const flatten: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, y] = [n.inputs[0], n.outputs[0]];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  let axis = n.attrInt('axis', 1);
  if (axis < 0) axis += r;
  if (o.side === 'in') {
    const [f, l, b] = o.axis < axis ? [0, axis - 1, 0] : [axis, r - 1, 1];
    linkMerged(ctx, x, o.axis, f, l, y, b);
    return;
  }
  const [f, l] = o.axis === 0 ? [0, axis - 1] : [axis, r - 1];
  if (l < f) return; // an axis of size 1 made up by Flatten
  linkMerged(ctx, x, mergedChannelAxis(ctx, x, f, l, f), f, l, y, o.axis);
};

interface Block {
  ins: number[];
  outs: number[];
}

/** Splits a reshape into blocks of input axes ↔ output axes with equal products. */
function reshapeBlocks(inS: readonly StaticDim[], outS: readonly StaticDim[]): Block[] | undefined {
  const blocks: Block[] = [];
  let i = 0,
    j = 0;
  const num = (d: StaticDim | undefined): d is number => typeof d === 'number' && d > 0;
  while (i < inS.length || j < outS.length) {
    if (i < inS.length && j < outS.length && inS[i] !== null && inS[i] === outS[j]) {
      blocks.push({ ins: [i++], outs: [j++] });
      continue;
    }
    const b: Block = { ins: [], outs: [] };
    let pi = 1,
      po = 1;
    if (i < inS.length) {
      if (!num(inS[i])) return undefined;
      pi *= inS[i] as number;
      b.ins.push(i++);
    }
    if (j < outS.length) {
      if (!num(outS[j])) return undefined;
      po *= outS[j] as number;
      b.outs.push(j++);
    }
    while (pi !== po) {
      if (pi < po) {
        if (i >= inS.length || !num(inS[i])) return undefined;
        pi *= inS[i] as number;
        b.ins.push(i++);
      } else {
        if (j >= outS.length || !num(outS[j])) return undefined;
        po *= outS[j] as number;
        b.outs.push(j++);
      }
    }
    blocks.push(b);
  }
  return blocks;
}

const reshape: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, shapeV, y] = [n.inputs[0], n.inputs[1], n.outputs[0]];
  if (o.side === 'in' && o.index !== 0) {
    ctx.freezeOrigin('the Reshape target is data here');
    return;
  }
  const inS = ctx.shape(x);
  const outS = ctx.shape(y);
  if (!x || !y || !inS || !outS) {
    ctx.freezeOrigin('Reshape shapes unknown');
    return;
  }
  const blocks = reshapeBlocks(inS, outS);
  if (!blocks) {
    ctx.freezeOrigin('Reshape mixes axes of unknown size');
    return;
  }
  const side = o.side === 'in' ? 'ins' : 'outs';
  const blk = blocks.find((b) => b[side].includes(o.axis));
  if (!blk) {
    ctx.freezeOrigin('axis not found in the Reshape');
    return;
  }
  const ins = blk.ins.filter((a) => inS[a] !== 1);
  const outs = blk.outs.filter((a) => outS[a] !== 1);
  if (ins.length === 0 || outs.length === 0) return; // a size-1 axis: nothing to carry
  let outAxis: number;
  if (ins.length === 1 && outs.length === 1) {
    outAxis = outs[0]!;
    if (o.side === 'in') ctx.identityTo(o.slot, y, outAxis);
    else ctx.identityTo(o.slot, x, ins[0]!);
  } else if (outs.length === 1) {
    outAxis = outs[0]!;
    const f = blk.ins[0]!;
    const l = blk.ins[blk.ins.length - 1]!;
    if (o.side === 'in') linkMerged(ctx, x, o.axis, f, l, y, outAxis);
    else linkMerged(ctx, x, mergedChannelAxis(ctx, x, f, l, ins[0]!), f, l, y, outAxis);
  } else {
    ctx.freezeOrigin(ins.length === 1 ? 'Reshape splits this axis (as a channel shuffle does)' : 'Reshape regroups several axes into several others');
    return;
  }
  // The target entry for outAxis must follow the new channel count.
  if (n.attrInt('allowzero', 0) !== 0) {
    ctx.freezeOrigin('Reshape with allowzero');
    return;
  }
  const target = ctx.folded(shapeV);
  const el = target?.data[outAxis];
  if (el === -1) return;
  if (el === 0 && ins.length === 1 && ins[0] === outAxis) return;
  if (typeof el !== 'number' || el <= 0 || !shapeV || !constantTensor(shapeV)) {
    ctx.freezeOrigin('the Reshape target for this axis is computed at run time and would need rewriting');
    return;
  }
  ctx.fixup('shape', (fc) => {
    const t = constantTensor(shapeV)!;
    const cur = t.toNumbers();
    const next = [...cur];
    for (let b = 0; b < next.length; b++) {
      const s = fc.slotOf(y, b);
      if (s && next[b]! > 0) next[b] = fc.newSize(s);
    }
    if (next.some((v, i) => v !== cur[i])) fc.setConstInput(n, 1, intTensor(next, t));
  });
};

const transpose: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, y] = [n.inputs[0], n.outputs[0]];
  const r = rankOf(ctx, x) ?? rankOf(ctx, y);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  const perm = n.attrInts('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
  if (o.side === 'in') ctx.identityTo(o.slot, y, perm.indexOf(o.axis));
  else ctx.identityTo(o.slot, x, perm[o.axis]!);
};

function axesOf(ctx: ChannelRuleContext, n: Node, r: number): number[] | undefined {
  const a = ctx.opset >= 13 ? (n.inputs[1] ? ctx.ints(n.inputs[1]) : undefined) : n.attrInts('axes');
  return a?.map((v) => (v < 0 ? v + r : v));
}

const squeeze: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, y] = [n.inputs[0], n.outputs[0]];
  const inS = ctx.shape(x);
  if (!x || !y || !inS) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  if (o.side === 'in' && o.index !== 0) return;
  const r = inS.length;
  const hasAxes = ctx.opset >= 13 ? !!n.inputs[1] : n.attrInts('axes') !== undefined;
  let axes = hasAxes ? axesOf(ctx, n, r) : inS.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  if (!axes) {
    ctx.freezeOrigin('Squeeze axes are not constant');
    return;
  }
  axes = [...new Set(axes)].sort((p, q) => p - q);
  const keptAxes = Array.from({ length: r }, (_, i) => i).filter((i) => !axes!.includes(i));
  if (o.side === 'in') {
    if (axes.includes(o.axis)) return;
    ctx.identityTo(o.slot, y, keptAxes.indexOf(o.axis));
  } else {
    const a = keptAxes[o.axis];
    if (a !== undefined) ctx.identityTo(o.slot, x, a);
  }
};

const unsqueeze: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, y] = [n.inputs[0], n.outputs[0]];
  const r = rankOf(ctx, x);
  if (!x || !y || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  if (o.side === 'in' && o.index !== 0) return;
  const raw = ctx.opset >= 13 ? (n.inputs[1] ? ctx.ints(n.inputs[1]) : undefined) : n.attrInts('axes');
  if (!raw) {
    ctx.freezeOrigin('Unsqueeze axes are not constant');
    return;
  }
  const R = r + raw.length;
  const axes = raw.map((v) => (v < 0 ? v + R : v));
  const outKept = Array.from({ length: R }, (_, i) => i).filter((i) => !axes.includes(i));
  if (o.side === 'in') ctx.identityTo(o.slot, y, outKept[o.axis]!);
  else {
    const a = outKept.indexOf(o.axis);
    if (a >= 0) ctx.identityTo(o.slot, x, a);
  }
};

/** Whether a use of a Shape output reads only entries other than `pos` (of `len`). */
function readsOnlyOthers(ctx: ChannelRuleContext, use: Node, pos: number, len: number): boolean {
  if (use.opType === 'Gather' && use.attrInt('axis', 0) === 0) {
    const idx = ctx.ints(use.inputs[1]);
    return !!idx && idx.every((i) => (i < 0 ? i + len : i) !== pos);
  }
  if (use.opType === 'Slice') {
    const spec = sliceSpec(ctx, use, 1);
    if (!spec || spec.axes.length !== 1 || spec.axes[0] !== 0 || spec.steps[0] !== 1) return false;
    const s = clampIndex(spec.starts[0]!, len);
    const e = clampIndex(spec.ends[0]!, len);
    return pos < s || pos >= e;
  }
  return false;
}

const shape: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const y = n.outputs[0];
  const r = rankOf(ctx, n.inputs[0]);
  if (!y || r === undefined) {
    ctx.freezeOrigin('rank unknown');
    return;
  }
  const start = clampIndex(n.attrInt('start', 0), r);
  const end = clampIndex(n.attrInt('end', r), r);
  if (o.axis < start || o.axis >= end) return;
  const pos = o.axis - start;
  const len = end - start;
  if (y.isGraphOutput() || !y.uses().every((u) => readsOnlyOthers(ctx, u.node, pos, len))) {
    ctx.freezeOrigin('the channel count is read out by Shape');
  }
};

const tile: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  if (o.side === 'in' && o.index !== 0) {
    ctx.freezeOrigin('Tile repeats are data here');
    return;
  }
  const reps = ctx.ints(n.inputs[1]);
  if (!reps || reps[o.axis] !== 1) {
    ctx.freezeOrigin('Tile repeats this axis (or its repeats are not constant)');
    return;
  }
  ctx.identityTo(o.slot, o.side === 'in' ? n.outputs[0] : n.inputs[0], o.axis);
};

const expand: ChannelRule = (ctx) => {
  const n = ctx.node;
  const o = ctx.origin;
  const [x, sv, y] = [n.inputs[0], n.inputs[1], n.outputs[0]];
  if (o.side === 'in' && o.index !== 0) {
    ctx.freezeOrigin('the Expand shape is data here');
    return;
  }
  const r = rankOf(ctx, x);
  const R = rankOf(ctx, y);
  const target = ctx.ints(sv);
  if (!x || !y || !sv || r === undefined || R === undefined || !target) {
    ctx.freezeOrigin('Expand shapes unknown');
    return;
  }
  const outAxis = o.side === 'in' ? o.axis + R - r : o.axis;
  const inAxis = outAxis - (R - r);
  const dim = inAxis >= 0 ? ctx.shape(x)?.[inAxis] : 1;
  if (dim === 1 || dim === undefined) {
    ctx.freezeOrigin('Expand broadcasts this axis');
    return;
  }
  const el = target[outAxis - (R - target.length)];
  if (el !== undefined && el !== 1 && !constantTensor(sv)) {
    ctx.freezeOrigin('the Expand shape is computed at run time');
    return;
  }
  const ys = linkClass(ctx, [
    [x, inAxis],
    [y, outAxis],
  ]);
  if (!ys || el === undefined || el === 1) return;
  ctx.fixup('shape', (fc) => {
    const t = constantTensor(sv)!;
    const cur = t.toNumbers();
    const next = [...cur];
    const s = fc.slotOf(y, outAxis);
    const at = outAxis - (R - next.length);
    if (s && next[at] !== 1) next[at] = fc.newSize(s);
    if (next[at] !== cur[at]) fc.setConstInput(n, 1, intTensor(next, t));
  });
};

export const shapeChannelRules: Record<string, ChannelRule> = {
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Shape: shape,
  Tile: tile,
  Expand: expand,
};
