/**
 * Cost of a model, per node and in total: MACs, FLOPs, parameters, weight bytes,
 * activation bytes.
 *
 * Conventions (METHODS.md; the same as fvcore and the papers' tables):
 * - MACs count the multiply-accumulates of Conv (per output element C_in/group · kH · kW),
 *   ConvTranspose (per input element C_out/group · kH · kW), Gemm (M·N·K) and MatMul
 *   (batch · M·N·K), and their integer/quantised forms. Every other op (BatchNormalization,
 *   activations, elementwise arithmetic, pooling, bias adds) counts 0 MACs: they are
 *   memory-bound and a few percent of the total in the nets sculpt compresses.
 * - FLOPs = 2 × MACs.
 * - Params are the elements of the constant tensors a node reads as weights, biases or
 *   normalisation parameters — initializers, Constant nodes, either through Identity
 *   (`resolveTensor`) — every constant input except control inputs (shapes, axes,
 *   pads, scales, indices, Clip bounds, ...), int64 tensors (always shapes or indices), and,
 *   outside the weight-carrying ops, scalars (the 3 and 6 of an exported HardSwish). A node
 *   lists all the params it reads; the total counts each initializer once even if shared.
 * - BatchNormalization's running mean and variance are statistics, not parameters (PyTorch
 *   keeps them as buffers; torchvision's ResNet-50 "25.6 M params" excludes them): they count
 *   in weight bytes only.
 * - Weight bytes are the payload sizes of those initializers (params and statistics);
 *   activation bytes are the elements of every node output times its element size.
 * - Shapes come from shape inference at the given input shapes (`opts.inputShapes`).
 *   The batch — a symbolic dim at axis 0 of a graph input — counts as `opts.batch`
 *   (default 1: cost per sample). Any other dim left symbolic or unknown is never guessed:
 *   it counts as 1 for a lower bound, the node says why in `incomplete`, and the report is
 *   `exact: false` with the dims in `unknownDims`. A Conv whose output shape is unknown
 *   still counts its filters once (≥ one output position), never 0.
 * - Constant tensors (Constant nodes and Identity of a constant) are weights, not
 *   activations: their outputs add no activation bytes.
 */
import { CompilerError } from '../errors.js';
import type { Model, Node, Value } from '../ir/core.js';
import { DataType, bitsPerElement, rawByteLength } from '../ir/data-type.js';
import { topologicalOrder } from '../ir/toposort.js';
import type { StaticDim } from '../ir/types.js';
import type { ShapeLookup } from './shape-table.js';
import { DECLARED_SHAPES } from './shape-table.js';
import { inferShapes } from './shapes.js';
import { isConstantData, resolveTensor } from './weights.js';
import { isSettingSlot } from '../ir/op-slots.js';

export interface Cost {
  macs: number;
  /** 2 × macs. */
  flops: number;
  params: number;
  weightBytes: number;
  activationBytes: number;
}

export interface NodeCost extends Cost {
  node: Node;
  /** The node's name, or `<op>(<first output>)` for an unnamed node. */
  name: string;
  op: string;
  inChannels?: number;
  outChannels?: number;
  kernel?: number[];
  stride?: number[];
  groups?: number;
  /** Shape of the first output, symbolic dims kept. */
  outputShape?: StaticDim[];
  /** Why MACs or activation bytes are only a lower bound (unknown dims or shapes); absent when exact. */
  incomplete?: string;
}

export interface CostReport {
  /** Totals; when `exact` is false, macs/flops/activationBytes are lower bounds. */
  total: Cost;
  nodes: NodeCost[];
  /** Whether every count is exact (no dim left symbolic or unknown). */
  exact: boolean;
  /** Symbolic dims ('H', 'W') and '?' for unknown dims the counts depend on; empty when exact. */
  unknownDims: string[];
  /** The batch the counts are for (symbolic axis 0 of graph inputs). */
  batch: number;
}

export interface CostOptions {
  /** Value of the batch dim (a symbolic axis 0 of a graph input), default 1. */
  batch?: number;
  /** Shapes to count with (an inferShapes table); inferred here, at `inputShapes`, when absent. */
  shapes?: ShapeLookup;
  /** Graph input shapes resolving symbolic dims (ignored when `shapes` is given). */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
}

/** What per-node counting needs: where shapes come from, and the batch. */
export interface CostContext {
  readonly shapes: ShapeLookup;
  readonly batch: number;
  /** Symbolic dim names that are the batch (axis 0 of graph inputs). */
  readonly batchDims: ReadonlySet<string>;
}

/** Ops whose every initializer input (incl. a 1-element one) is a weight. */
const WEIGHT_OPS = new Set([
  'Conv',
  'ConvTranspose',
  'ConvInteger',
  'QLinearConv',
  'Gemm',
  'MatMul',
  'MatMulInteger',
  'QLinearMatMul',
  'BatchNormalization',
  'InstanceNormalization',
  'LayerNormalization',
  'GroupNormalization',
  'PRelu',
]);

/**
 * What initializer input `i` of `n` is: a parameter ('param'), stored statistics that are
 * not parameters ('stat': BatchNormalization's running mean and variance, PyTorch's
 * buffers), or neither (a control input such as a shape; undefined).
 */
export function weightInputKind(n: Node, i: number): 'param' | 'stat' | undefined {
  const v = n.inputs[i];
  const t = resolveTensor(v)?.tensor;
  if (!v || !t) return undefined;
  if (isSettingSlot(n.opType, i)) return undefined;
  if (t.dataType === DataType.INT64 || t.dataType === DataType.BOOL || t.dataType === DataType.STRING) return undefined;
  if (!WEIGHT_OPS.has(n.opType) && t.size <= 1) return undefined;
  if (n.opType === 'BatchNormalization' && (i === 3 || i === 4)) return 'stat';
  return 'param';
}

/** Whether node input `i` (a constant: initializer, Constant node, Identity of one) counts as a parameter. */
export function isParamInput(n: Node, i: number): boolean {
  return weightInputKind(n, i) === 'param';
}

/**
 * MACs, FLOPs, params and bytes of every main-graph node (topological order) and in total.
 * Reads shapes from `opts.shapes`, or infers them (at `opts.inputShapes`) without writing
 * the model. O(nodes).
 * @throws SHAPE_INFERENCE_FAILED from shape inference; INVALID_OPTION for a bad batch;
 *   INPUT_SHAPE_MISMATCH for input shapes that contradict the model
 */
export function computeCost(model: Model, opts: CostOptions = {}): CostReport {
  const batch = opts.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new CompilerError('INVALID_OPTION', `batch must be a positive integer; got ${batch}`, { where: 'batch' });
  const shapes = opts.shapes ?? inferShapes(model, { inputShapes: opts.inputShapes }).shapes;
  const ctx = costContext(model, shapes, batch);
  const counted = new Set<Value>();
  const total: Cost = { macs: 0, flops: 0, params: 0, weightBytes: 0, activationBytes: 0 };
  const nodes: NodeCost[] = [];
  const unknown = new Set<string>();
  for (const n of topologicalOrder(model.graph)) {
    const c = nodeCost(n, ctx, unknown);
    nodes.push(c);
    total.macs += c.macs;
    total.activationBytes += c.activationBytes;
    n.inputs.forEach((v, i) => {
      const kind = weightInputKind(n, i);
      const r = kind ? resolveTensor(v) : undefined;
      if (!r || counted.has(r.source)) return;
      counted.add(r.source);
      if (kind === 'param') total.params += r.tensor.size;
      total.weightBytes += r.tensor.byteLength;
    });
  }
  total.flops = 2 * total.macs;
  const exact = nodes.every((c) => c.incomplete === undefined);
  if (!exact) {
    // Unknown dims downstream (a conv's output H) come from the inputs' symbolic dims: name those.
    for (const v of model.graph.inputs) {
      if (v.initializer) continue;
      for (const d of shapes.shape(v) ?? []) if (typeof d === 'string' && !ctx.batchDims.has(d)) unknown.add(d);
    }
    if ([...unknown].some((d) => d !== '?')) unknown.delete('?');
    if (unknown.size === 0) unknown.add('?');
  }
  return { total, nodes, exact, unknownDims: exact ? [] : [...unknown].sort(), batch };
}

/** The counting context for `model` with `shapes`: the batch dims are the symbolic axis 0 of its graph inputs. */
export function costContext(model: Model, shapes: ShapeLookup = DECLARED_SHAPES, batch = 1): CostContext {
  const batchDims = new Set<string>();
  for (const v of model.graph.inputs) {
    if (v.initializer) continue;
    const d = shapes.shape(v)?.[0];
    if (typeof d === 'string') batchDims.add(d);
  }
  return { shapes, batch, batchDims };
}

/**
 * For a caller about to optimise a cost: refuses a lower bound.
 * @throws COST_UNKNOWN naming the dims and the first node affected, with the `--input-shape` hint
 */
export function requireExactCost(cost: CostReport, what: string): void {
  if (cost.exact) return;
  const dims = cost.unknownDims.filter((d) => d !== '?');
  const first = cost.nodes.find((c) => c.incomplete !== undefined);
  throw new CompilerError(
    'COST_UNKNOWN',
    `${what} needs exact FLOPs, but they depend on ${dims.length ? `the symbolic dim(s) ${dims.join(', ')}` : 'unknown shapes'} (MACs ≥ ${cost.total.macs})`,
    {
      where: first ? first.node.where : undefined,
      hint: 'give the input size: --input-shape 1,3,224,224 (or name:1,3,224,224 per input), or --data',
    },
  );
}

/** A dim's count: numbers as they are, the batch as `ctx.batch`, others undefined (unknown). */
function count(d: StaticDim | undefined, ctx: CostContext, unknown?: Set<string>): number | undefined {
  if (typeof d === 'number') return d;
  if (typeof d === 'string' && ctx.batchDims.has(d)) return ctx.batch;
  unknown?.add(typeof d === 'string' ? d : '?');
  return undefined;
}

/** Elements of a shape with unknown dims counted as 1, and whether that is exact. */
function elements(s: readonly StaticDim[] | undefined, ctx: CostContext, unknown?: Set<string>): { n: number; exact: boolean } | undefined {
  if (!s) return undefined;
  let n = 1;
  let exact = true;
  for (const d of s) {
    const c = count(d, ctx, unknown);
    if (c === undefined) exact = false;
    else n *= c;
  }
  return { n, exact };
}

function nodeName(n: Node): string {
  return n.name || `${n.opType}(${n.outputs[0]?.name ?? '?'})`;
}

/**
 * Cost of one node (params not deduplicated against other nodes). `ctx` says where shapes
 * come from (default: the declared types, batch 1); `unknown` collects the dims the counts
 * could not resolve.
 */
export function nodeCost(n: Node, ctx?: CostContext, unknown?: Set<string>): NodeCost {
  const model = n.graph?.model;
  const cx = ctx ?? (model ? costContext(model) : { shapes: DECLARED_SHAPES, batch: 1, batchDims: new Set<string>() });
  const c: NodeCost = { node: n, name: nodeName(n), op: n.opType, macs: 0, flops: 0, params: 0, weightBytes: 0, activationBytes: 0 };
  const problems: string[] = [];
  n.inputs.forEach((v, i) => {
    const kind = weightInputKind(n, i);
    const t = kind ? resolveTensor(v)?.tensor : undefined;
    if (!t) return;
    if (kind === 'param') c.params += t.size;
    c.weightBytes += t.byteLength;
  });
  const out0 = n.outputs[0];
  c.outputShape = out0 ? cx.shapes.shape(out0) : undefined;
  for (const o of n.outputs) {
    if (!o || isConstantData(o)) continue;
    const e = elements(cx.shapes.shape(o), cx, unknown);
    const et = cx.shapes.elemType(o);
    if (e === undefined || et === undefined || bitsPerElement(et) === 0) {
      problems.push(`the shape or type of "${o.name}" is unknown`);
      unknown?.add('?');
      continue;
    }
    if (!e.exact) problems.push(`"${o.name}" has unknown dims`);
    c.activationBytes += rawByteLength(et, e.n);
  }
  if (n.domain === '' || n.domain === 'ai.onnx') {
    const why = layerCost(n, c, cx, unknown);
    if (why) problems.push(why);
  }
  c.flops = 2 * c.macs;
  if (problems.length) c.incomplete = problems.join('; ');
  return c;
}

/** Shape of a weight: the constant's own dims when it resolves to one, else the inferred shape. */
function weightShape(v: Value | null | undefined, ctx: CostContext): StaticDim[] | undefined {
  if (!v) return undefined;
  return resolveTensor(v)?.tensor.shape ?? ctx.shapes.shape(v);
}

/**
 * Fills MACs (a lower bound when dims are unknown) and the layer description of
 * weight/window ops; returns why MACs are not exact.
 */
function layerCost(n: Node, c: NodeCost, ctx: CostContext, unknown?: Set<string>): string | undefined {
  const shape = (i: number) => {
    const v = n.inputs[i];
    return v ? ctx.shapes.shape(v) : undefined;
  };
  const out0 = n.outputs[0];
  const outShape = out0 ? ctx.shapes.shape(out0) : undefined;
  const cnt = (d: StaticDim | undefined) => count(d, ctx, unknown);
  const kernelOf = (w: readonly StaticDim[]) => w.slice(2).map((d) => cnt(d) ?? 1);
  const unknownShape = (why: string) => {
    unknown?.add('?');
    return why;
  };
  switch (n.opType) {
    case 'Conv':
    case 'ConvInteger':
    case 'QLinearConv': {
      const w = weightShape(n.inputs[n.opType === 'QLinearConv' ? 3 : 1], ctx);
      const group = n.attrInt('group', 1);
      c.groups = group;
      if (!w) return unknownShape('the weight shape is unknown');
      const kernel = kernelOf(w);
      c.kernel = n.attrInts('kernel_shape') ?? kernel;
      c.stride = n.attrInts('strides') ?? kernel.map(() => 1);
      const perGroupIn = cnt(w[1]);
      c.outChannels = cnt(w[0]);
      if (perGroupIn !== undefined) c.inChannels = perGroupIn * group;
      const perOut = (perGroupIn ?? 1) * c.kernel.reduce((a, b) => a * b, 1);
      const out = elements(outShape, ctx, unknown);
      if (out === undefined) {
        // The filters are known even when the output is not: at least one position each.
        c.macs = (c.outChannels ?? 1) * perOut;
        return unknownShape('the output shape is unknown (MACs counted for one output position)');
      }
      c.macs = out.n * perOut;
      return out.exact && perGroupIn !== undefined ? undefined : 'the output shape has unknown dims (MACs counted with them as 1)';
    }
    case 'ConvTranspose': {
      const w = weightShape(n.inputs[1], ctx);
      const group = n.attrInt('group', 1);
      c.groups = group;
      if (!w) return unknownShape('the weight shape is unknown');
      const kernel = kernelOf(w);
      c.kernel = n.attrInts('kernel_shape') ?? kernel;
      c.stride = n.attrInts('strides') ?? kernel.map(() => 1);
      c.inChannels = cnt(w[0]);
      const perGroupOut = cnt(w[1]);
      if (perGroupOut !== undefined) c.outChannels = perGroupOut * group;
      // Every input element is scattered into C_out/group · kH · kW outputs.
      const perIn = (perGroupOut ?? 1) * c.kernel.reduce((a, b) => a * b, 1);
      const inp = elements(shape(0), ctx, unknown);
      if (inp === undefined) {
        c.macs = (c.inChannels ?? 1) * perIn;
        return unknownShape('the input shape is unknown (MACs counted for one input position)');
      }
      c.macs = inp.n * perIn;
      return inp.exact && perGroupOut !== undefined ? undefined : 'the input shape has unknown dims (MACs counted with them as 1)';
    }
    case 'Gemm': {
      const a = shape(0),
        b = weightShape(n.inputs[1], ctx);
      if (!a || !b || a.length !== 2 || b.length !== 2) return unknownShape('the operand shapes are unknown');
      const k = cnt(n.attrInt('transA', 0) ? a[0] : a[1]);
      const m = cnt(n.attrInt('transA', 0) ? a[1] : a[0]);
      const nn = cnt(n.attrInt('transB', 0) ? b[0] : b[1]);
      c.inChannels = k;
      c.outChannels = nn;
      c.macs = (m ?? 1) * (nn ?? 1) * (k ?? 1);
      if (k === undefined || m === undefined || nn === undefined) return 'the operand shapes have unknown dims (MACs counted with them as 1)';
      return undefined;
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'QLinearMatMul': {
      const a = shape(0),
        b = weightShape(n.inputs[n.opType === 'QLinearMatMul' ? 3 : 1], ctx);
      if (!a || !b || a.length === 0 || b.length === 0) return unknownShape('the operand shapes are unknown');
      const k = cnt(a[a.length - 1]);
      c.inChannels = k;
      c.outChannels = b.length === 1 ? 1 : cnt(b[b.length - 1]);
      const out = elements(outShape, ctx, unknown);
      c.macs = (out?.n ?? 1) * (k ?? 1);
      if (out === undefined) return unknownShape('the output shape is unknown (MACs counted for one output element)');
      if (k === undefined || !out.exact) return 'the output shape has unknown dims (MACs counted with them as 1)';
      return undefined;
    }
    case 'BatchNormalization':
    case 'InstanceNormalization': {
      const ch = cnt(shape(0)?.[1]);
      c.inChannels = ch;
      c.outChannels = ch;
      return undefined;
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const k = n.attrInts('kernel_shape');
      if (k) {
        c.kernel = k;
        c.stride = n.attrInts('strides') ?? k.map(() => 1);
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Ops with a MAC / layer formula in `nodeCost` (others cost only their activation bytes). */
const COSTED_OPS = new Set([
  'Conv',
  'ConvInteger',
  'QLinearConv',
  'ConvTranspose',
  'Gemm',
  'MatMul',
  'MatMulInteger',
  'QLinearMatMul',
  'BatchNormalization',
  'InstanceNormalization',
  'MaxPool',
  'AveragePool',
  'LpPool',
]);

/** Whether `nodeCost` has a MAC / layer formula for a default-domain op. */
export function hasCostRule(opType: string): boolean {
  return COSTED_OPS.has(opType);
}
