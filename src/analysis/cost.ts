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
 * - Params are the elements of the initializers a node reads as weights, biases or
 *   normalisation parameters: every initializer input except control inputs (shapes, axes,
 *   pads, scales, indices, Clip bounds, ...), int64 tensors (always shapes or indices), and,
 *   outside the weight-carrying ops, scalars (the 3 and 6 of an exported HardSwish). A node
 *   lists all the params it reads; the total counts each initializer once even if shared.
 * - BatchNormalization's running mean and variance are statistics, not parameters (PyTorch
 *   keeps them as buffers; torchvision's ResNet-50 "25.6 M params" excludes them): they count
 *   in weight bytes only.
 * - Weight bytes are the payload sizes of those initializers (params and statistics);
 *   activation bytes are the elements of every node output times its element size.
 * - Symbolic dims (the batch) count as `opts.batch` (default 1). A node whose shapes are
 *   unknown gets 0 MACs / activation bytes and says so in `incomplete`.
 */
import { CompilerError } from '../errors.js';
import type { Model, Node, Value } from '../ir/core.js';
import { DataType, bitsPerElement, rawByteLength } from '../ir/data-type.js';
import { topologicalOrder } from '../ir/toposort.js';
import type { StaticDim } from '../ir/types.js';
import { inferShapes } from './shapes.js';
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
  /** Why MACs or activation bytes could not be computed (unknown shapes); absent when complete. */
  incomplete?: string;
}

export interface CostReport { total: Cost; nodes: NodeCost[] }

export interface CostOptions {
  /** Value of every symbolic dim (the batch), default 1. */
  batch?: number;
  /** The caller has just run inferShapes on this model: skip re-inferring. */
  inferred?: boolean;
}

/** Ops whose every initializer input (incl. a 1-element one) is a weight. */
const WEIGHT_OPS = new Set(['Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'Gemm', 'MatMul', 'MatMulInteger',
  'QLinearMatMul', 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'PRelu']);

/**
 * What initializer input `i` of `n` is: a parameter ('param'), stored statistics that are
 * not parameters ('stat': BatchNormalization's running mean and variance, PyTorch's
 * buffers), or neither (a control input such as a shape; undefined).
 */
export function weightInputKind(n: Node, i: number): 'param' | 'stat' | undefined {
  const v = n.inputs[i];
  const t = v?.initializer;
  if (!v || !t) return undefined;
  if (isSettingSlot(n.opType, i)) return undefined;
  if (t.dataType === DataType.INT64 || t.dataType === DataType.BOOL || t.dataType === DataType.STRING) return undefined;
  if (!WEIGHT_OPS.has(n.opType) && t.size <= 1) return undefined;
  if (n.opType === 'BatchNormalization' && (i === 3 || i === 4)) return 'stat';
  return 'param';
}

/** Whether node input `i` (an initializer) counts as a parameter. */
export function isParamInput(n: Node, i: number): boolean {
  return weightInputKind(n, i) === 'param';
}

/**
 * MACs, FLOPs, params and bytes of every main-graph node (topological order) and in total.
 * Re-infers shapes first, so stale value types never leak into the numbers. O(nodes).
 * @throws SHAPE_INFERENCE_FAILED from shape inference; INVALID_OPTION for a bad batch
 */
export function computeCost(model: Model, opts: CostOptions = {}): CostReport {
  const batch = opts.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new CompilerError('INVALID_OPTION', `batch must be a positive integer; got ${batch}`, { where: 'batch' });
  if (!opts.inferred) inferShapes(model);
  const counted = new Set<Value>();
  const total: Cost = { macs: 0, flops: 0, params: 0, weightBytes: 0, activationBytes: 0 };
  const nodes: NodeCost[] = [];
  for (const n of topologicalOrder(model.graph)) {
    const c = nodeCost(n, batch);
    nodes.push(c);
    total.macs += c.macs;
    total.activationBytes += c.activationBytes;
    n.inputs.forEach((v, i) => {
      const kind = weightInputKind(n, i);
      if (!v || !kind || counted.has(v)) return;
      counted.add(v);
      if (kind === 'param') total.params += v.initializer!.size;
      total.weightBytes += v.initializer!.byteLength;
    });
  }
  total.flops = 2 * total.macs;
  return { total, nodes };
}

/** A dim's count: symbolic dims are the batch, unknown ones undefined. */
function count(d: StaticDim | undefined, batch: number): number | undefined {
  if (typeof d === 'number') return d;
  if (typeof d === 'string') return batch;
  return undefined;
}

function elements(s: readonly StaticDim[] | undefined, batch: number): number | undefined {
  if (!s) return undefined;
  let n = 1;
  for (const d of s) {
    const c = count(d, batch);
    if (c === undefined) return undefined;
    n *= c;
  }
  return n;
}

function nodeName(n: Node): string {
  return n.name || `${n.opType}(${n.outputs[0]?.name ?? '?'})`;
}

/** Cost of one node (params not deduplicated against other nodes). */
export function nodeCost(n: Node, batch = 1): NodeCost {
  const c: NodeCost = { node: n, name: nodeName(n), op: n.opType, macs: 0, flops: 0, params: 0, weightBytes: 0, activationBytes: 0 };
  const problems: string[] = [];
  n.inputs.forEach((v, i) => {
    const kind = weightInputKind(n, i);
    if (!v || !kind) return;
    if (kind === 'param') c.params += v.initializer!.size;
    c.weightBytes += v.initializer!.byteLength;
  });
  const out0 = n.outputs[0];
  c.outputShape = out0?.shape;
  for (const o of n.outputs) {
    if (!o) continue;
    const e = elements(o.shape, batch);
    const et = o.elemType;
    if (e === undefined || et === undefined || bitsPerElement(et) === 0) {
      problems.push(`the shape or type of "${o.name}" is unknown`);
      continue;
    }
    c.activationBytes += rawByteLength(et, e);
  }
  if (n.domain === '' || n.domain === 'ai.onnx') {
    const why = layerCost(n, c, batch);
    if (why) problems.push(why);
  }
  c.flops = 2 * c.macs;
  if (problems.length) c.incomplete = problems.join('; ');
  return c;
}

/** Fills MACs and the layer description of weight/window ops; returns why MACs are unknown. */
function layerCost(n: Node, c: NodeCost, batch: number): string | undefined {
  const shape = (i: number) => n.inputs[i]?.shape;
  const outShape = n.outputs[0]?.shape;
  switch (n.opType) {
    case 'Conv': case 'ConvInteger': case 'QLinearConv': {
      const w = shape(n.opType === 'QLinearConv' ? 3 : 1);
      const group = n.attrInt('group', 1);
      c.groups = group;
      if (!w) return 'the weight shape is unknown';
      const kernel = w.slice(2).map((d) => count(d, batch) ?? 0);
      c.kernel = n.attrInts('kernel_shape') ?? kernel;
      c.stride = n.attrInts('strides') ?? kernel.map(() => 1);
      const perGroupIn = count(w[1], batch);
      c.outChannels = count(w[0], batch);
      if (perGroupIn !== undefined) c.inChannels = perGroupIn * group;
      const out = elements(outShape, batch);
      if (out === undefined || perGroupIn === undefined) return 'the output shape is unknown';
      c.macs = out * perGroupIn * c.kernel.reduce((a, b) => a * b, 1);
      return undefined;
    }
    case 'ConvTranspose': {
      const w = shape(1);
      const group = n.attrInt('group', 1);
      c.groups = group;
      if (!w) return 'the weight shape is unknown';
      const kernel = w.slice(2).map((d) => count(d, batch) ?? 0);
      c.kernel = n.attrInts('kernel_shape') ?? kernel;
      c.stride = n.attrInts('strides') ?? kernel.map(() => 1);
      c.inChannels = count(w[0], batch);
      const perGroupOut = count(w[1], batch);
      if (perGroupOut !== undefined) c.outChannels = perGroupOut * group;
      // Every input element is scattered into C_out/group · kH · kW outputs.
      const inp = elements(shape(0), batch);
      if (inp === undefined || perGroupOut === undefined) return 'the input shape is unknown';
      c.macs = inp * perGroupOut * c.kernel.reduce((a, b) => a * b, 1);
      return undefined;
    }
    case 'Gemm': {
      const a = shape(0), b = shape(1);
      if (!a || !b || a.length !== 2 || b.length !== 2) return 'the operand shapes are unknown';
      const k = count(n.attrInt('transA', 0) ? a[0] : a[1], batch);
      const m = count(n.attrInt('transA', 0) ? a[1] : a[0], batch);
      const nn = count(n.attrInt('transB', 0) ? b[0] : b[1], batch);
      c.inChannels = k;
      c.outChannels = nn;
      if (k === undefined || m === undefined || nn === undefined) return 'the operand shapes are unknown';
      c.macs = m * nn * k;
      return undefined;
    }
    case 'MatMul': case 'MatMulInteger': case 'QLinearMatMul': {
      const a = shape(0), b = shape(n.opType === 'QLinearMatMul' ? 3 : 1);
      if (!a || !b || a.length === 0 || b.length === 0) return 'the operand shapes are unknown';
      const k = count(a[a.length - 1], batch);
      c.inChannels = k;
      c.outChannels = b.length === 1 ? 1 : count(b[b.length - 1], batch);
      const out = elements(outShape, batch);
      if (k === undefined || out === undefined) return 'the output shape is unknown';
      c.macs = out * k;
      return undefined;
    }
    case 'BatchNormalization': case 'InstanceNormalization': {
      const ch = count(shape(0)?.[1], batch);
      c.inChannels = ch;
      c.outChannels = ch;
      return undefined;
    }
    case 'MaxPool': case 'AveragePool': case 'LpPool': {
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
const COSTED_OPS = new Set(['Conv', 'ConvInteger', 'QLinearConv', 'ConvTranspose', 'Gemm', 'MatMul', 'MatMulInteger', 'QLinearMatMul',
  'BatchNormalization', 'InstanceNormalization', 'MaxPool', 'AveragePool', 'LpPool']);

/** Whether `nodeCost` has a MAC / layer formula for a default-domain op. */
export function hasCostRule(opType: string): boolean {
  return COSTED_OPS.has(opType);
}
