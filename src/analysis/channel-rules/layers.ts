/**
 * Channel rules of the weighted layers and normalisations: Conv, ConvTranspose, Gemm,
 * MatMul (their output channels are one group, their input channels another),
 * BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization, LRN.
 *
 * Conv with group g and weight [M, C/g, k...]:
 *  1. g = 1: X axis 1 ≡ W axis 1 (in);  Y axis 1 ≡ W axis 0 ≡ B (out).
 *  2. depthwise (C/g = 1): input channel c feeds outputs c·m .. c·m+m−1 (m = M/g): they go
 *     together, and pruning rewrites `group` to the new channel count.
 *  3. grouped (C/g > 1): every group must keep the same count, so local channel j of every
 *     input group is one channel (they share W axis 1 position j), and local output t of
 *     every group is one channel; `group` stays.
 * ConvTranspose (weight [C, M/g, k...]) mirrors this with the weight axes swapped.
 */
import { attrInt } from '../../ir/attribute.js';
import type { Value } from '../../ir/core.js';
import type { ChannelRule, ChannelRuleContext } from './context.js';
import { normAxis } from './context.js';
import { extraOutputsUsed, linkClass, rankOf } from './helpers.js';

type Role = 'X' | 'W' | 'B' | 'Y' | 'other';

function roleOf(ctx: ChannelRuleContext): Role {
  const o = ctx.origin;
  if (o.side === 'out') return o.index === 0 ? 'Y' : 'other';
  const n = ctx.node;
  // A value may be read twice (x as data and weight is absurd, but be exact): prefer the
  // position the worklist came through, which `index` records as the first occurrence.
  return o.index === 0 ? 'X' : o.index === 1 ? 'W' : o.index === 2 && n.inputs[2] ? 'B' : 'other';
}

/** Batch axis (0) of X and Y pass through; spatial axes may not be pruned. */
function batchOrSpatial(ctx: ChannelRuleContext, role: Role, x: Value, y: Value): boolean {
  const a = ctx.origin.axis;
  if ((role === 'X' || role === 'Y') && a === 0) {
    ctx.identityTo(ctx.origin.slot, role === 'X' ? y : x, 0);
    return true;
  }
  if ((role === 'X' || role === 'Y') && a >= 2) {
    ctx.freezeOrigin('a spatial axis of a convolution cannot lose positions');
    return true;
  }
  if (role === 'W' && a >= 2) {
    ctx.freezeOrigin('a kernel axis cannot lose positions');
    return true;
  }
  if (role === 'B' && a !== 0) {
    ctx.freezeOrigin('bias has one axis');
    return true;
  }
  if (role === 'other') {
    ctx.freezeOrigin(`unexpected input or output of ${ctx.node.opType}`);
    return true;
  }
  return false;
}

function weightDims(ctx: ChannelRuleContext, w: Value): [number, number] | undefined {
  const ws = ctx.shape(w);
  if (!ws || ws.length < 3 || typeof ws[0] !== 'number' || typeof ws[1] !== 'number') {
    ctx.freezeOrigin(`the weight "${w.name}" has no known shape`);
    return undefined;
  }
  return [ws[0], ws[1]];
}

const conv: ChannelRule = (ctx) => {
  const n = ctx.node;
  const [x, w, b] = [n.inputs[0], n.inputs[1], n.inputs[2] ?? undefined];
  const y = n.outputs[0];
  if (!x || !w || !y) {
    ctx.freezeOrigin('Conv without data, weight or output');
    return;
  }
  const role = roleOf(ctx);
  if (batchOrSpatial(ctx, role, x, y)) return;
  const wd = weightDims(ctx, w);
  if (!wd) return;
  const [M, cpg] = wd;
  const g = n.attrInt('group', 1);
  const C = cpg * g;
  if (g < 1 || M % g !== 0) {
    ctx.freezeOrigin(`group ${g} does not divide ${M} output channels`);
    return;
  }
  const opg = M / g;
  if (g > 1 && cpg === 1) {
    // Depthwise (with channel multiplier opg): everything is one coupled set.
    const xs = ctx.slot(x, 1, C);
    const ys = ctx.slot(y, 1, M);
    const wo = ctx.slot(w, 0, M);
    if (!xs || !ys || !wo) return;
    for (let c = 0; c < C; c++) for (let t = 0; t < opg; t++) ctx.link(xs, c, ys, c * opg + t);
    ctx.identity(ys, wo);
    ctx.role(wo, 'out');
    if (b) {
      const bs = ctx.slot(b, 0, M);
      if (bs) {
        ctx.identity(ys, bs);
        ctx.role(bs, 'param');
      }
    }
    ctx.fixup('group', (fc) => {
      const k = fc.newSize(xs);
      if (k !== C) n.setAttr(attrInt('group', k));
    });
    return;
  }
  const inSide = role === 'X' || (role === 'W' && ctx.origin.axis === 1);
  if (inSide) {
    const xs = ctx.slot(x, 1, C);
    const wi = ctx.slot(w, 1, cpg);
    if (!xs || !wi) return;
    ctx.role(wi, 'in');
    for (let k = 0; k < g; k++) for (let j = 0; j < cpg; j++) ctx.link(xs, k * cpg + j, wi, j);
    return;
  }
  const ys = ctx.slot(y, 1, M);
  const wo = ctx.slot(w, 0, M);
  if (!ys || !wo) return;
  ctx.identity(ys, wo);
  ctx.role(wo, 'out');
  if (b) {
    const bs = ctx.slot(b, 0, M);
    if (bs) {
      ctx.identity(ys, bs);
      ctx.role(bs, 'param');
    }
  }
  for (let k = 1; k < g; k++) for (let t = 0; t < opg; t++) ctx.link(ys, k * opg + t, ys, t);
};

const convTranspose: ChannelRule = (ctx) => {
  const n = ctx.node;
  const [x, w, b] = [n.inputs[0], n.inputs[1], n.inputs[2] ?? undefined];
  const y = n.outputs[0];
  if (!x || !w || !y) {
    ctx.freezeOrigin('ConvTranspose without data, weight or output');
    return;
  }
  const role = roleOf(ctx);
  if (batchOrSpatial(ctx, role, x, y)) return;
  const wd = weightDims(ctx, w);
  if (!wd) return;
  const [C, opg] = wd;
  const g = n.attrInt('group', 1);
  if (g < 1 || C % g !== 0) {
    ctx.freezeOrigin(`group ${g} does not divide ${C} input channels`);
    return;
  }
  const cpg = C / g;
  const M = opg * g;
  if (g > 1 && cpg === 1) {
    const xs = ctx.slot(x, 1, C);
    const ys = ctx.slot(y, 1, M);
    const w0 = ctx.slot(w, 0, C);
    if (!xs || !ys || !w0) return;
    ctx.identity(xs, w0);
    ctx.role(w0, 'out');
    for (let c = 0; c < C; c++) for (let t = 0; t < opg; t++) ctx.link(xs, c, ys, c * opg + t);
    if (b) {
      const bs = ctx.slot(b, 0, M);
      if (bs) {
        ctx.identity(ys, bs);
        ctx.role(bs, 'param');
      }
    }
    ctx.fixup('group', (fc) => {
      const k = fc.newSize(xs);
      if (k !== C) n.setAttr(attrInt('group', k));
    });
    return;
  }
  const inSide = role === 'X' || (role === 'W' && ctx.origin.axis === 0);
  if (inSide) {
    const xs = ctx.slot(x, 1, C);
    const w0 = ctx.slot(w, 0, C);
    if (!xs || !w0) return;
    ctx.identity(xs, w0);
    ctx.role(w0, 'in');
    for (let k = 1; k < g; k++) for (let j = 0; j < cpg; j++) ctx.link(xs, k * cpg + j, xs, j);
    return;
  }
  const ys = ctx.slot(y, 1, M);
  const w1 = ctx.slot(w, 1, opg);
  if (!ys || !w1) return;
  ctx.role(w1, 'out');
  for (let k = 0; k < g; k++) for (let t = 0; t < opg; t++) ctx.link(ys, k * opg + t, w1, t);
  if (b) {
    const bs = ctx.slot(b, 0, M);
    if (bs) {
      ctx.identity(ys, bs);
      ctx.role(bs, 'param');
    }
  }
};

const gemm: ChannelRule = (ctx) => {
  const n = ctx.node;
  const [a, b, c] = [n.inputs[0], n.inputs[1], n.inputs[2] ?? undefined];
  const y = n.outputs[0];
  if (!a || !b || !y) {
    ctx.freezeOrigin('Gemm without inputs or output');
    return;
  }
  const tA = n.attrInt('transA', 0) !== 0;
  const tB = n.attrInt('transB', 0) !== 0;
  const rc = c ? rankOf(ctx, c) : undefined;
  if (c && rc === undefined) {
    ctx.freezeOrigin(`the shape of "${c.name}" is unknown`);
    return;
  }
  const classes: { kind: 'K' | 'N' | 'M'; members: (readonly [Value | undefined, number])[] }[] = [
    {
      kind: 'K',
      members: [
        [a, tA ? 0 : 1],
        [b, tB ? 1 : 0],
      ],
    },
    {
      kind: 'N',
      members: [
        [b, tB ? 0 : 1],
        [y, 1],
        [c, rc !== undefined && rc >= 1 ? rc - 1 : -1],
      ],
    },
    {
      kind: 'M',
      members: [
        [a, tA ? 1 : 0],
        [y, 0],
        [c, rc === 2 ? 0 : -1],
      ],
    },
  ];
  const o = ctx.origin;
  const isMember = (v: Value | undefined, ax: number) =>
    v === o.value && ax === o.axis && (o.side === 'out' ? v === y : (v === a && o.index === 0) || (v === b && o.index === 1) || (v === c && o.index === 2));
  const cls = classes.find((k) => k.members.some(([v, ax]) => isMember(v, ax)));
  if (!cls) {
    ctx.freezeOrigin('axis is not one Gemm maps');
    return;
  }
  const slots = linkClass(ctx, cls.members);
  if (!slots) return;
  if (cls.kind === 'K') {
    const s = slots.get(b);
    if (s) ctx.role(s, 'in');
  }
  if (cls.kind === 'N') {
    const s = slots.get(b);
    if (s) ctx.role(s, 'out');
    const cs = c ? slots.get(c) : undefined;
    if (cs) ctx.role(cs, 'param');
  }
};

const matmul: ChannelRule = (ctx) => {
  const n = ctx.node;
  const [a, b] = [n.inputs[0], n.inputs[1]];
  const y = n.outputs[0];
  if (!a || !b || !y) {
    ctx.freezeOrigin('MatMul without inputs or output');
    return;
  }
  const ra = rankOf(ctx, a);
  const rb = rankOf(ctx, b);
  if (ra === undefined || rb === undefined || ra === 0 || rb === 0) {
    ctx.freezeOrigin('MatMul operand ranks are unknown');
    return;
  }
  const bA = Math.max(ra - 2, 0);
  const bB = Math.max(rb - 2, 0);
  const nb = Math.max(bA, bB);
  const R = nb + (ra >= 2 ? 1 : 0) + (rb >= 2 ? 1 : 0);
  const classes: { kind: string; members: (readonly [Value, number])[] }[] = [
    {
      kind: 'K',
      members: [
        [a, ra - 1],
        [b, rb >= 2 ? rb - 2 : 0],
      ],
    },
  ];
  if (ra >= 2)
    classes.push({
      kind: 'M',
      members: [
        [a, ra - 2],
        [y, rb >= 2 ? R - 2 : R - 1],
      ],
    });
  if (rb >= 2)
    classes.push({
      kind: 'N',
      members: [
        [b, rb - 1],
        [y, R - 1],
      ],
    });
  for (let j = 0; j < nb; j++) {
    const m: (readonly [Value, number])[] = [[y, j]];
    if (j - (nb - bA) >= 0) m.push([a, j - (nb - bA)]);
    if (j - (nb - bB) >= 0) m.push([b, j - (nb - bB)]);
    classes.push({ kind: 'batch', members: m });
  }
  const o = ctx.origin;
  const isMember = (v: Value, ax: number) =>
    v === o.value && ax === o.axis && (o.side === 'out' ? v === y : (v === a && o.index === 0) || (v === b && o.index === 1));
  const cls = classes.find((k) => k.members.some(([v, ax]) => isMember(v, ax)));
  if (!cls) {
    ctx.freezeOrigin('axis is not one MatMul maps');
    return;
  }
  const slots = linkClass(ctx, cls.members);
  if (!slots) return;
  const bs = slots.get(b);
  if (bs && cls.kind === 'K') ctx.role(bs, 'in');
  if (bs && cls.kind === 'N') ctx.role(bs, 'out');
};

const batchNorm: ChannelRule = (ctx) => {
  const n = ctx.node;
  const x = n.inputs[0];
  const y = n.outputs[0];
  if (!x || !y) {
    ctx.freezeOrigin('BatchNormalization without data or output');
    return;
  }
  const o = ctx.origin;
  const isData = (o.side === 'in' && o.index === 0) || (o.side === 'out' && o.index === 0);
  if (isData && o.axis !== 1) {
    const params = n.inputs.slice(1);
    if (o.axis >= 2 && params.some((p) => (rankOf(ctx, p) ?? 1) > 1)) {
      ctx.freezeOrigin('per-activation BatchNormalization parameters cover this axis');
      return;
    }
    if (o.axis >= 2 && extraOutputsUsed(n)) {
      ctx.freezeOrigin('training-mode statistics reduce over this axis');
      return;
    }
    ctx.identityTo(o.slot, o.side === 'in' ? y : x, o.axis);
    return;
  }
  const members: (readonly [Value | null | undefined, number])[] = [
    [x, 1],
    [y, 1],
  ];
  for (const p of n.inputs.slice(1)) members.push([p, 0]);
  for (const q of n.outputs.slice(1)) members.push([q, 0]);
  const slots = linkClass(ctx, members);
  if (!slots) return;
  for (const p of n.inputs.slice(1)) {
    const s = p ? slots.get(p) : undefined;
    if (s) ctx.role(s, 'param');
  }
};

const instanceNorm: ChannelRule = (ctx) => {
  const n = ctx.node;
  const [x, scale, bias] = [n.inputs[0], n.inputs[1], n.inputs[2]];
  const y = n.outputs[0];
  if (!x || !y) {
    ctx.freezeOrigin('InstanceNormalization without data or output');
    return;
  }
  const o = ctx.origin;
  const isData = o.side === 'out' || o.index === 0;
  if (isData && o.axis === 0) {
    ctx.identityTo(o.slot, o.side === 'in' ? y : x, 0);
    return;
  }
  if (isData && o.axis >= 2) {
    ctx.freezeOrigin('InstanceNormalization normalises over the spatial axes');
    return;
  }
  const slots = linkClass(ctx, [
    [x, 1],
    [y, 1],
    [scale, 0],
    [bias, 0],
  ]);
  if (!slots) return;
  for (const p of [scale, bias]) {
    const s = p ? slots.get(p) : undefined;
    if (s) ctx.role(s, 'param');
  }
};

const layerNorm: ChannelRule = (ctx) => {
  const n = ctx.node;
  const x = n.inputs[0];
  const o = ctx.origin;
  const r = rankOf(ctx, x);
  if (!x || r === undefined) {
    ctx.freezeOrigin('input rank unknown');
    return;
  }
  const axis = normAxis(n.attrInt('axis', -1), r);
  if (axis === undefined) {
    ctx.freezeOrigin('axis out of range');
    return;
  }
  const isData = (o.side === 'in' && o.index === 0) || o.side === 'out';
  if (!isData || o.axis >= axis) {
    ctx.freezeOrigin('LayerNormalization normalises over this axis');
    return;
  }
  linkClass(ctx, [[x, o.axis], ...n.outputs.map((v) => [v, o.axis] as const)]);
};

const normalisesChannels =
  (what: string): ChannelRule =>
  (ctx) => {
    const n = ctx.node;
    const o = ctx.origin;
    const isData = (o.side === 'in' && o.index === 0) || (o.side === 'out' && o.index === 0);
    if (isData && o.axis === 0) {
      ctx.identityTo(o.slot, o.side === 'in' ? n.outputs[0] : n.inputs[0], 0);
      return;
    }
    if (isData && o.axis >= 2 && what === 'LRN') {
      ctx.identityTo(o.slot, o.side === 'in' ? n.outputs[0] : n.inputs[0], o.axis);
      return;
    }
    ctx.freezeOrigin(`${what} mixes channels, so removing one changes the others`);
  };

export const layerRules: Record<string, ChannelRule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  GroupNormalization: normalisesChannels('GroupNormalization'),
  LRN: normalisesChannels('LRN'),
};
