/**
 * Shape rules of the data-movement operators: Reshape, Flatten, Transpose, Concat, Split,
 * Slice, Pad, Resize/Upsample, Squeeze/Unsqueeze, Shape/Size, Gather*, Expand, Tile,
 * reductions and friends. Inputs that opsets moved from attributes to tensors (Reshape
 * shape, Split split, Squeeze/Unsqueeze axes, Slice starts/ends, Pad pads, Resize scales,
 * Reduce axes) are read from whichever form the node has.
 */
import { DataType } from '../../ir/data-type.js';
import type { StaticDim } from '../../ir/types.js';
import type { Rule, RuleContext, Shape } from './common.js';
import { UnknownShape, broadcast, intsFromAttrOrInput, isNum, normAxis, prodDims, unifyDim } from './common.js';
import { constantNodeFolded, sliceRange } from './fold.js';

/** Reshape target → output dims: 0 copies (unless allowzero), -1 takes what is left. */
export function reshapeDims(ctx: RuleContext, x: Shape | undefined, target: readonly StaticDim[], allowZero: boolean): Shape {
  let minus = -1;
  const out: Shape = target.map((t, i) => {
    if (t === 0 && !allowZero) {
      if (!x) throw new UnknownShape('Reshape copies a dimension (0) of an input whose shape is unknown');
      if (i >= x.length) ctx.fail(`target dim ${i} is 0 (copy) but the input has rank ${x.length}`);
      return x[i]!;
    }
    if (t === -1) {
      if (minus >= 0) ctx.fail('the target shape has more than one -1');
      minus = i;
      return null;
    }
    if (isNum(t) && t < -1) ctx.fail(`invalid target dim ${t}`);
    return t;
  });
  if (minus >= 0) {
    if (!x) throw new UnknownShape('Reshape infers a dimension (-1) of an input whose shape is unknown');
    out[minus] = inferRest(
      ctx,
      x,
      out.filter((_, i) => i !== minus),
    );
  } else if (x && x.every(isNum) && out.every(isNum)) {
    const a = x.reduce((p, q) => p * q, 1);
    const b = out.reduce((p, q) => p * q, 1);
    if (a !== b) ctx.fail(`cannot reshape [${x}] (${a} elements) to [${out}] (${b} elements)`);
  }
  return out;
}

/** The one dim d such that prod(x) = d · prod(rest), cancelling equal symbols. */
function inferRest(ctx: RuleContext, x: Shape, rest: Shape): StaticDim {
  if (x.includes(null) || rest.includes(null)) return null;
  let num = 1;
  let den = 1;
  const syms = new Map<string, number>();
  for (const d of x)
    if (isNum(d)) num *= d;
    else syms.set(d as string, (syms.get(d as string) ?? 0) + 1);
  for (const d of rest) {
    if (isNum(d)) den *= d;
    else {
      const c = syms.get(d as string) ?? 0;
      if (c === 0) return null;
      syms.set(d as string, c - 1);
    }
  }
  const left = [...syms.entries()].filter(([, c]) => c > 0);
  if (den === 0) {
    if (num === 0) ctx.fail('cannot infer -1 when other target dims are 0');
    ctx.fail(`cannot reshape ${num} elements into a shape with a 0 dim`);
  }
  if (left.length === 0) {
    if (num % den !== 0) ctx.fail(`cannot reshape [${x}] (${num} elements) into [${rest}] with -1: not divisible by ${den}`);
    return num / den;
  }
  if (left.length === 1 && left[0]![1] === 1 && num === den) return left[0]![0];
  return null;
}

const reshape: Rule = (ctx: RuleContext) => {
  const target = ctx.has(1) ? ctx.dims(1, 'shape') : ctx.node.attrInts('shape');
  if (!target) throw new UnknownShape('Reshape has no target shape');
  let x: Shape | undefined;
  try {
    x = ctx.shape(0);
  } catch (e) {
    if (!(e instanceof UnknownShape)) throw e;
  }
  return [{ shape: reshapeDims(ctx, x, target, ctx.node.attrInt('allowzero', 0) === 1) }];
};

const flatten: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  let axis = ctx.node.attrInt('axis', 1);
  if (axis < 0) axis += x.length;
  if (axis < 0 || axis > x.length) ctx.fail(`axis ${ctx.node.attrInt('axis', 1)} is out of range for rank ${x.length}`);
  return [{ shape: [prodDims(x.slice(0, axis)), prodDims(x.slice(axis))] }];
};

const transpose: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const perm = ctx.node.attrInts('perm') ?? x.map((_, i) => x.length - 1 - i);
  if (perm.length !== x.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    ctx.fail(`perm [${perm}] is not a permutation of rank ${x.length}`);
  }
  return [{ shape: perm.map((p) => x[p]!) }];
};

const concat: Rule = (ctx: RuleContext) => {
  const shapes = ctx.node.inputs.map((_, i) => ctx.shape(i));
  if (shapes.length === 0) ctx.fail('Concat has no inputs');
  const r = shapes[0]!.length;
  const axis = normAxis(ctx, ctx.node.attrInt('axis', 0), r);
  const out = [...shapes[0]!];
  for (const s of shapes.slice(1)) {
    if (s.length !== r) ctx.fail(`inputs have different ranks: ${r} vs ${s.length}`);
    for (let k = 0; k < r; k++) {
      if (k === axis) continue;
      out[k] = unifyDim(ctx, out[k]!, s[k]!, `inputs differ on axis ${k}, which is not the concat axis ${axis}`);
    }
  }
  const parts = shapes.map((s) => s[axis]!).filter((d) => d !== 0);
  out[axis] = parts.length === 0 ? 0 : parts.every(isNum) ? parts.reduce((a, b) => a + b, 0) : parts.length === 1 ? parts[0]! : null;
  return [{ shape: out }];
};

const split: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const axis = normAxis(ctx, ctx.node.attrInt('axis', 0), x.length);
  const nOut = ctx.node.outputs.length;
  const d = x[axis]!;
  let sizes: StaticDim[] | undefined = intsFromAttrOrInput(ctx, 'split', 1);
  if (sizes && sizes.length === 0) sizes = undefined;
  if (sizes) {
    if (sizes.length !== nOut) ctx.fail(`split has ${sizes.length} sizes for ${nOut} outputs`);
    const total = (sizes as number[]).reduce((a, b) => a + b, 0);
    if (isNum(d) && total !== d) ctx.fail(`split sizes [${sizes}] sum to ${total}; axis ${axis} has ${d}`);
  } else if (!isNum(d)) {
    sizes = new Array<StaticDim>(nOut).fill(null);
  } else {
    const numOutputs = ctx.node.attrInt('num_outputs');
    if (numOutputs !== undefined) {
      if (numOutputs !== nOut) ctx.fail(`num_outputs ${numOutputs} but the node has ${nOut} outputs`);
      const chunk = Math.ceil(d / nOut);
      sizes = Array.from({ length: nOut }, (_, i) => Math.max(0, Math.min(chunk, d - i * chunk)));
    } else {
      if (d % nOut !== 0) ctx.fail(`axis ${axis} of size ${d} does not split evenly into ${nOut} outputs`);
      sizes = new Array<StaticDim>(nOut).fill(d / nOut);
    }
  }
  return sizes.map((s) => ({ shape: x.map((v, k) => (k === axis ? s : v)) }));
};

const INT64_BIG = 2 ** 62;

const slice: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = ctx.node.attrInts('starts');
    ends = ctx.node.attrInts('ends');
    axes = ctx.node.attrInts('axes');
  } else {
    starts = ctx.ints(1, 'starts');
    ends = ctx.ints(2, 'ends');
    axes = ctx.has(3) ? ctx.ints(3, 'axes') : undefined;
    steps = ctx.has(4) ? ctx.ints(4, 'steps') : undefined;
  }
  if (!starts || !ends) ctx.fail('starts and ends are required');
  if (starts.length !== ends.length) ctx.fail(`starts (${starts.length}) and ends (${ends.length}) differ in length`);
  const ax = axes ?? starts.map((_, i) => i);
  const st = steps ?? ax.map(() => 1);
  if (ax.length !== starts.length || st.length !== starts.length) ctx.fail('starts, ends, axes and steps differ in length');
  const out = [...x];
  const seen = new Set<number>();
  ax.forEach((a0, k) => {
    const a = normAxis(ctx, a0, x.length, 'slice axis');
    if (seen.has(a)) ctx.fail(`axis ${a} is sliced twice`);
    seen.add(a);
    const d = x[a]!;
    if (st[k] === 0) ctx.fail('a slice step is 0');
    if (isNum(d)) {
      out[a] = sliceRange(d, starts![k]!, ends![k]!, st[k]!)!.count;
    } else {
      // A symbolic dim survives only a slice that keeps all of it.
      const whole = st[k] === 1 && starts![k] === 0 && ends![k]! >= INT64_BIG;
      out[a] = whole ? d : null;
    }
  });
  return [{ shape: out }];
};

const pad: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const r = x.length;
  let pads: number[] | undefined;
  if (ctx.opset >= 11) pads = ctx.ints(1, 'pads');
  else pads = ctx.node.attrInts('pads') ?? ctx.node.attrInts('paddings');
  if (!pads) ctx.fail('pads are required');
  let axes = x.map((_, i) => i);
  if (ctx.has(3)) axes = ctx.ints(3, 'axes').map((a) => normAxis(ctx, a, r));
  if (pads.length !== 2 * axes.length) ctx.fail(`pads has ${pads.length} values for ${axes.length} axes`);
  const out = [...x];
  axes.forEach((a, k) => {
    const extra = pads![k]! + pads![k + axes.length]!;
    const d = x[a]!;
    out[a] = isNum(d) ? d + extra : extra === 0 ? d : null;
    if (isNum(out[a]) && (out[a] as number) < 0) ctx.fail(`negative pads make axis ${a} negative`);
  });
  return [{ shape: out }];
};

function floatsOf(ctx: RuleContext, i: number, what: string): number[] | undefined {
  if (!ctx.has(i)) return undefined;
  const f = ctx.folded(i);
  if (!f) throw new UnknownShape(`${what} is not a constant`);
  if (f.data.length === 0) return undefined;
  if (!f.data.every(isNum)) throw new UnknownShape(`${what} is not a constant`);
  return f.data as number[];
}

function scaled(d: StaticDim, scale: number): StaticDim {
  if (scale === 1) return d;
  return isNum(d) ? Math.floor(d * scale) : null;
}

const resize: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const r = x.length;
  const n = ctx.node;
  if (ctx.opset < 11) {
    const scales = floatsOf(ctx, 1, 'scales');
    if (!scales) ctx.fail('scales are required');
    if (scales.length !== r) ctx.fail(`scales has ${scales.length} values for rank ${r}`);
    return [{ shape: x.map((d, i) => scaled(d, scales[i]!)) }];
  }
  const axesAttr = n.attrInts('axes');
  const axes = axesAttr ? axesAttr.map((a) => normAxis(ctx, a, r)) : x.map((_, i) => i);
  const sizes = ctx.has(3)
    ? (() => {
        const f = ctx.folded(3);
        if (!f) throw new UnknownShape('sizes is not a constant');
        return f.data.length === 0 ? undefined : f.data;
      })()
    : undefined;
  const out = [...x];
  if (sizes) {
    if (sizes.length !== axes.length) ctx.fail(`sizes has ${sizes.length} values for ${axes.length} axes`);
    const policy = n.attrString('keep_aspect_ratio_policy', 'stretch');
    if (policy === 'stretch') {
      axes.forEach((a, k) => {
        out[a] = sizes[k]!;
      });
      return [{ shape: out }];
    }
    const ratios = axes.map((a, k) => {
      const d = x[a]!,
        s = sizes[k]!;
      if (!isNum(d) || !isNum(s)) throw new UnknownShape('keep_aspect_ratio_policy needs static sizes');
      return s / d;
    });
    const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
    axes.forEach((a) => {
      out[a] = Math.round(scale * (x[a] as number));
    });
    return [{ shape: out }];
  }
  const scales = floatsOf(ctx, 2, 'scales');
  if (!scales) ctx.fail('neither scales nor sizes is given');
  if (scales.length !== axes.length) ctx.fail(`scales has ${scales.length} values for ${axes.length} axes`);
  let roi: number[] | undefined;
  if (n.attrString('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize') roi = floatsOf(ctx, 1, 'roi');
  axes.forEach((a, k) => {
    const extent = roi ? roi[k + axes.length]! - roi[k]! : 1;
    const d = x[a]!;
    out[a] = extent === 1 ? scaled(d, scales[k]!) : isNum(d) ? Math.floor(d * extent * scales[k]!) : null;
  });
  return [{ shape: out }];
};

const upsample: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const scales = ctx.has(1) ? floatsOf(ctx, 1, 'scales') : ctx.node.attrFloats('scales');
  if (!scales || scales.length !== x.length) ctx.fail('scales must have one value per input dim');
  return [{ shape: x.map((d, i) => scaled(d, scales[i]!)) }];
};

const squeeze: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const axes = intsFromAttrOrInput(ctx, 'axes', 1);
  if (!axes || axes.length === 0) {
    if (!x.every(isNum)) throw new UnknownShape('Squeeze without axes on an input with non-static dims');
    return [{ shape: x.filter((d) => d !== 1) }];
  }
  const drop = new Set(axes.map((a) => normAxis(ctx, a, x.length)));
  for (const a of drop) if (isNum(x[a]!) && x[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${x[a]}`);
  return [{ shape: x.filter((_, i) => !drop.has(i)) }];
};

const unsqueeze: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const axes = intsFromAttrOrInput(ctx, 'axes', 1);
  if (!axes) ctx.fail('axes are required');
  const r = x.length + axes.length;
  const at = new Set(axes.map((a) => normAxis(ctx, a, r)));
  if (at.size !== axes.length) ctx.fail(`axes [${axes}] repeat`);
  const out: Shape = [];
  let j = 0;
  for (let i = 0; i < r; i++) out.push(at.has(i) ? 1 : x[j++]!);
  return [{ shape: out }];
};

const shapeOp: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const r = x.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(ctx.node.attrInt('start', 0));
  const end = clamp(ctx.node.attrInt('end', r));
  return [{ shape: [Math.max(0, end - start)], elem: DataType.INT64 }];
};

const size: Rule = () => [{ shape: [], elem: DataType.INT64 }];

const gather: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const idx = ctx.shape(1);
  const axis = normAxis(ctx, ctx.node.attrInt('axis', 0), x.length);
  return [{ shape: [...x.slice(0, axis), ...idx, ...x.slice(axis + 1)] }];
};

const gatherElements: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const idx = ctx.shape(1);
  if (x.length !== idx.length) ctx.fail(`data rank ${x.length} and indices rank ${idx.length} differ`);
  return [{ shape: idx }];
};

const gatherND: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const idx = ctx.shape(1);
  const b = ctx.node.attrInt('batch_dims', 0);
  const last = idx[idx.length - 1];
  if (!isNum(last ?? null)) throw new UnknownShape('the last dim of the indices is not static');
  return [{ shape: [...idx.slice(0, -1), ...x.slice(b + (last as number))] }];
};

const constant: Rule = (ctx: RuleContext) => {
  const n = ctx.node;
  const t = n.attrTensor('value');
  if (t) return [{ shape: t.shape, elem: t.dataType }];
  const f = constantNodeFolded(n);
  if (f) return [{ shape: f.dims, elem: f.elem }];
  throw new UnknownShape('Constant holds a sparse tensor or strings');
};

const constantOfShape: Rule = (ctx: RuleContext) => {
  const dims = ctx.dims(0, 'shape');
  const t = ctx.node.attrTensor('value');
  return [{ shape: dims, elem: t ? t.dataType : DataType.FLOAT }];
};

const expand: Rule = (ctx: RuleContext) => [{ shape: broadcast(ctx, [ctx.shape(0), ctx.dims(1, 'shape')]) }];

const tile: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const rep = ctx.ints(1, 'repeats');
  if (rep.length !== x.length) ctx.fail(`repeats has ${rep.length} values for rank ${x.length}`);
  return [{ shape: x.map((d, i) => (rep[i] === 1 ? d : isNum(d) ? d * rep[i]! : null)) }];
};

const range: Rule = (ctx: RuleContext) => {
  const vals = [0, 1, 2].map((i) => ctx.folded(i)?.data[0]);
  const [s, l, d] = vals;
  if (isNum(s ?? null) && isNum(l ?? null) && isNum(d ?? null) && d !== 0) {
    return [{ shape: [Math.max(Math.ceil(((l as number) - (s as number)) / (d as number)), 0)] }];
  }
  return [{ shape: [null] }];
};

const topK: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const axis = normAxis(ctx, ctx.node.attrInt('axis', -1), x.length);
  const k = ctx.has(1) ? ctx.ints(1, 'K')[0] : ctx.node.attrInt('k');
  if (k === undefined) ctx.fail('K is required');
  const out = x.map((d, i) => (i === axis ? k : d));
  return [{ shape: out }, { shape: out, elem: DataType.INT64 }];
};

const argReduce: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const axis = normAxis(ctx, ctx.node.attrInt('axis', 0), x.length);
  const keep = ctx.node.attrInt('keepdims', 1) === 1;
  const out = keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis);
  return [{ shape: out, elem: DataType.INT64 }];
};

const reduce: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  const keep = ctx.node.attrInt('keepdims', 1) === 1;
  let axes = intsFromAttrOrInput(ctx, 'axes', 1);
  if (!axes || axes.length === 0) {
    if (ctx.node.attrInt('noop_with_empty_axes', 0) === 1) return [{ shape: x }];
    axes = x.map((_, i) => i);
  }
  const set = new Set(axes.map((a) => normAxis(ctx, a, x.length)));
  const out = keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i));
  return [{ shape: out }];
};

const depthToSpace: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  if (x.length !== 4) ctx.fail(`input must be 4-D, got rank ${x.length}`);
  const b = ctx.node.attrInt('blocksize');
  if (!b) ctx.fail('blocksize is required');
  const c = x[1]!;
  if (isNum(c) && c % (b * b) !== 0) ctx.fail(`${c} channels are not divisible by blocksize² = ${b * b}`);
  const mul = (d: StaticDim) => (isNum(d) ? d * b : null);
  return [{ shape: [x[0]!, isNum(c) ? c / (b * b) : null, mul(x[2]!), mul(x[3]!)] }];
};

const spaceToDepth: Rule = (ctx: RuleContext) => {
  const x = ctx.shape(0);
  if (x.length !== 4) ctx.fail(`input must be 4-D, got rank ${x.length}`);
  const b = ctx.node.attrInt('blocksize');
  if (!b) ctx.fail('blocksize is required');
  const div = (d: StaticDim, i: number) => {
    if (!isNum(d)) return null;
    if (d % b !== 0) ctx.fail(`spatial dim ${i} of size ${d} is not divisible by blocksize ${b}`);
    return d / b;
  };
  return [{ shape: [x[0]!, isNum(x[1]!) ? x[1] * b * b : null, div(x[2]!, 2), div(x[3]!, 3)] }];
};

const oneHot: Rule = (ctx: RuleContext) => {
  const idx = ctx.shape(0);
  const depth = ctx.folded(1)?.data[0];
  const r = idx.length + 1;
  const axis = normAxis(ctx, ctx.node.attrInt('axis', -1), r);
  const out = [...idx];
  out.splice(axis, 0, isNum(depth ?? null) ? (depth as number) : null);
  return [{ shape: out, elem: ctx.elem(2) }];
};

const dataDependent: Rule = (ctx: RuleContext) => {
  throw new UnknownShape(`${ctx.node.opType} has a data-dependent output shape`);
};

const REDUCE_OPS = [
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
];

export const tensorRules: Record<string, Rule> = {
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Resize: resize,
  Upsample: upsample,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Shape: shapeOp,
  Size: size,
  Gather: gather,
  GatherElements: gatherElements,
  GatherND: gatherND,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Expand: expand,
  Tile: tile,
  Range: range,
  TopK: topK,
  ArgMax: argReduce,
  ArgMin: argReduce,
  DepthToSpace: depthToSpace,
  SpaceToDepth: spaceToDepth,
  OneHot: oneHot,
  NonZero: dataDependent,
  Compress: dataDependent,
  Unique: dataDependent,
  NonMaxSuppression: dataDependent,
  ...Object.fromEntries(REDUCE_OPS.map((op) => [op, reduce])),
};
