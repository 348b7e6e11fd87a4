/**
 * Which layers of a model can become TissueNet stacked layers, and the facts about each the
 * planner, the initialiser and the emitter need: channel counts, kernel geometry, output
 * size, the original weights as one [C_out, C_in, K] array.
 *
 * Constant means data from an initializer or a Constant node, read directly or through
 * Identity nodes, shared or not (src/ir/weights.ts resolves it).
 *
 * Replaceable (a "tissue layer"):
 *  1. Conv, group 1, float32 constant weight [C_out, C_in, k...], constant bias or none
 *  2. Gemm, transA 0, float32 constant B (either transB), constant C broadcastable to
 *     [C_out] or none; alpha and beta fold into the weights
 *  3. MatMul with a float32 constant 2-D right operand [C_in, C_out] and an input whose
 *     rank is known (the dense map acts on the last axis)
 * Everything else that mixes channels (grouped Conv is the exception: depthwise convs mix
 * nothing) is a "mixing layer": it is what carries information between units, so the
 * strategies look for mixing layers upstream of each candidate.
 */
import type { ShapeLookup } from '../analysis/shape-table.js';
import type { Model, Node, Value } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/data-type.js';
import { topologicalOrder } from '../ir/toposort.js';
import { resolveWeight } from '../ir/weights.js';
import type { WeightForm } from '../ir/weights.js';

/** A layer the tissue pass can replace. */
export interface TissueLayer {
  readonly node: Node;
  /** Node name, or `<op>(<first output>)` when unnamed. */
  readonly name: string;
  readonly op: 'Conv' | 'Gemm' | 'MatMul';
  readonly kind: 'conv' | 'dense';
  readonly cIn: number;
  readonly cOut: number;
  /** Spatial kernel ([] for dense). */
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  /** ONNX pads: all begins, then all ends ([] for dense). */
  readonly pads: readonly number[];
  readonly dilations: readonly number[];
  /** Conv auto_pad ('NOTSET' when absent). */
  readonly autoPad: string;
  /** Rank of the data input. */
  readonly rank: number;
  /** Output elements per output channel at batch 1 (H·W for conv, rows for dense). */
  readonly outPositions: number;
  /** Static output spatial dims (conv), undefined when unknown. */
  readonly outSpatial?: readonly number[];
  /** Whether the original layer adds a bias. */
  readonly hasBias: boolean;
  /** Form the weight came in (the stacked layer's weights are written in the same form). */
  readonly weightForm: WeightForm;
  /** Position among all channel-mixing layers, topological. */
  readonly index: number;
  /** Stage key: output resolution for conv (`14x14`), `dense` for dense layers. */
  readonly stage: string;
}

/** A channel-mixing layer that cannot be replaced, and why. */
export interface RejectedLayer {
  readonly node: Node;
  readonly name: string;
  readonly reason: string;
}

export interface TissueScan {
  /** Replaceable layers, topological order. */
  readonly layers: TissueLayer[];
  readonly rejected: RejectedLayer[];
  /** Every channel-mixing node (replaceable or not). */
  readonly mixing: ReadonlySet<Node>;
}

export function layerName(n: Node): string {
  return n.name || `${n.opType}(${n.outputs[0]?.name ?? '?'})`;
}

/** Float32 constant data behind `v` (an initializer or Constant node, read directly or through Identity), or undefined. */
function floatConst(v: Value | null | undefined): Tensor | undefined {
  const r = resolveWeight(v);
  return r && r.tensor.dataType === DataType.FLOAT ? r.tensor : undefined;
}

/** Whether `n` mixes channels: dense layers and ungrouped convs. */
export function isMixing(n: Node): boolean {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return false;
  if (n.opType === 'Conv' || n.opType === 'ConvTranspose' || n.opType === 'ConvInteger' || n.opType === 'QLinearConv') {
    return n.attrInt('group', 1) === 1;
  }
  return n.opType === 'Gemm' || n.opType === 'MatMul' || n.opType === 'MatMulInteger' || n.opType === 'QLinearMatMul' || n.opType === 'Einsum';
}

function positionsOf(shape: readonly (number | string | null)[] | undefined, skipAxis: number): number | undefined {
  if (!shape) return undefined;
  let p = 1;
  for (let i = 0; i < shape.length; i++) {
    if (i === skipAxis) continue;
    const d = shape[i];
    if (typeof d === 'number') p *= d;
    else if (typeof d === 'string') p *= 1;
    else return undefined;
  }
  return p;
}

function describeConv(n: Node, index: number, shapes: ShapeLookup): TissueLayer | string {
  const [x, w, b] = [n.inputs[0], n.inputs[1], n.inputs[2]];
  if (n.attrInt('group', 1) !== 1) return `group=${n.attrInt('group', 1)}: grouped and depthwise convs are already units`;
  if (!x || !floatConst(w)) return 'the weight is not a float32 constant';
  if (b && !floatConst(b)) return 'the bias is not a float32 constant';
  const wd = floatConst(w)!.shape;
  if (wd.length < 3) return `weight rank ${wd.length}`;
  const [cOut, cIn] = [wd[0]!, wd[1]!];
  const kernel = wd.slice(2);
  const sd = kernel.length;
  const strides = n.attrInts('strides') ?? kernel.map(() => 1);
  const dilations = n.attrInts('dilations') ?? kernel.map(() => 1);
  const autoPad = n.attrString('auto_pad', 'NOTSET') || 'NOTSET';
  const pads = n.attrInts('pads') ?? new Array<number>(2 * sd).fill(0);
  const out0 = n.outputs[0];
  const outShape = out0 ? shapes.shape(out0) : undefined;
  const outPositions = positionsOf(outShape, 1);
  if (outPositions === undefined || !outShape) return 'the output shape is unknown (shape inference could not compute it)';
  const spatial = outShape.slice(2);
  const outSpatial = spatial.every((d) => typeof d === 'number') ? (spatial as number[]) : undefined;
  return {
    node: n,
    name: layerName(n),
    op: 'Conv',
    kind: 'conv',
    cIn,
    cOut,
    kernel,
    strides,
    pads,
    dilations,
    autoPad,
    rank: sd + 2,
    outPositions,
    outSpatial,
    hasBias: !!b,
    weightForm: resolveWeight(w)!.form,
    index,
    stage: outSpatial ? outSpatial.join('x') : `conv?${index}`,
  };
}

function describeDense(n: Node, index: number, shapes: ShapeLookup): TissueLayer | string {
  const x = n.inputs[0];
  const w = n.inputs[1];
  if (!x) return 'no data input';
  if (!floatConst(w)) return n.opType === 'MatMul' && floatConst(x) ? 'the constant is the left operand' : 'the weight is not a float32 constant';
  const wd = floatConst(w)!.shape;
  if (wd.length !== 2) return `weight rank ${wd.length}; a dense layer needs a 2-D weight`;
  const xs = shapes.shape(x);
  let cIn: number;
  let cOut: number;
  let hasBias = false;
  if (n.opType === 'Gemm') {
    if (n.attrInt('transA', 0) !== 0) return 'transA=1: the data input is transposed';
    const transB = n.attrInt('transB', 0) !== 0;
    [cIn, cOut] = transB ? [wd[1]!, wd[0]!] : [wd[0]!, wd[1]!];
    const c = n.inputs[2];
    if (c) {
      if (!floatConst(c)) return 'the bias C is not a float32 constant';
      const cs = floatConst(c)!.shape;
      const size = floatConst(c)!.size;
      if (!(size === 1 || (size === cOut && cs[cs.length - 1] === cOut))) return `bias C of shape [${cs.join(',')}] is not per output unit`;
      hasBias = true;
    }
  } else {
    [cIn, cOut] = [wd[0]!, wd[1]!];
  }
  if (!xs) return 'the input shape is unknown (shape inference could not compute it)';
  if (xs.length < 2) return `input rank ${xs.length}; a dense layer needs rank 2 or more`;
  if (n.opType === 'Gemm' && xs.length !== 2) return `Gemm input rank ${xs.length}`;
  const last = xs[xs.length - 1];
  if (typeof last === 'number' && last !== cIn) return `input has ${last} features, the weight ${cIn}`;
  const rows = positionsOf(xs, xs.length - 1);
  if (rows === undefined) return 'the input shape is unknown';
  return {
    node: n,
    name: layerName(n),
    op: n.opType as 'Gemm' | 'MatMul',
    kind: 'dense',
    cIn,
    cOut,
    kernel: [],
    strides: [],
    pads: [],
    dilations: [],
    autoPad: 'NOTSET',
    rank: xs.length,
    outPositions: rows,
    hasBias,
    weightForm: resolveWeight(w)!.form,
    index,
    stage: 'dense',
  };
}

/**
 * Finds every replaceable layer (and the mixing layers that are not), reading value
 * shapes from `shapes` (the shapes analysis: `am.get(shapesAnalysis).shapes`). O(nodes).
 */
export function scanTissueLayers(model: Model, shapes: ShapeLookup): TissueScan {
  const layers: TissueLayer[] = [];
  const rejected: RejectedLayer[] = [];
  const mixing = new Set<Node>();
  let index = 0;
  for (const n of topologicalOrder(model.graph)) {
    const isConv = n.opType === 'Conv' && (n.domain === '' || n.domain === 'ai.onnx');
    const isDense = (n.opType === 'Gemm' || n.opType === 'MatMul') && (n.domain === '' || n.domain === 'ai.onnx');
    if (isMixing(n)) mixing.add(n);
    if (!isConv && !isDense) {
      if (isMixing(n)) rejected.push({ node: n, name: layerName(n), reason: `${n.opType} is not a Conv, Gemm or MatMul` });
      continue;
    }
    const d = isConv ? describeConv(n, index, shapes) : describeDense(n, index, shapes);
    index++;
    if (typeof d === 'string') rejected.push({ node: n, name: layerName(n), reason: d });
    else layers.push(d);
  }
  return { layers, rejected, mixing };
}

/**
 * The mixing layers nearest upstream of `n`'s data input: walking producers back through
 * anything that does not mix channels (BN, activations, pooling, Add, Flatten, depthwise
 * convs, ...). O(nodes).
 */
export function upstreamMixing(n: Node, mixing: ReadonlySet<Node>): Set<Node> {
  const found = new Set<Node>();
  const seen = new Set<Node>();
  const stack: (Value | null)[] = [n.inputs[0] ?? null];
  while (stack.length) {
    const v = stack.pop();
    const p = v?.producer;
    if (!p || seen.has(p)) continue;
    seen.add(p);
    if (mixing.has(p)) {
      found.add(p);
      continue;
    }
    for (const i of p.inputs) if (i && !i.initializer) stack.push(i);
  }
  return found;
}

/** The original weights as [C_out, C_in, K] (K = kernel elements, 1 for dense) with alpha folded, and the bias (beta folded) or null. */
export function originalWeights(layer: TissueLayer): { w: Float32Array; bias: Float32Array | null } {
  const n = layer.node;
  const raw = floatConst(n.inputs[1])!.toFloat32();
  const { cIn, cOut } = layer;
  if (layer.op === 'Conv') {
    const b = floatConst(n.inputs[2])?.toFloat32() ?? null;
    return { w: raw, bias: b };
  }
  const w = new Float32Array(cOut * cIn);
  if (layer.op === 'MatMul') {
    for (let i = 0; i < cIn; i++) for (let o = 0; o < cOut; o++) w[o * cIn + i] = raw[i * cOut + o]!;
    return { w, bias: null };
  }
  const alpha = n.attrFloat('alpha', 1);
  const beta = n.attrFloat('beta', 1);
  const transB = n.attrInt('transB', 0) !== 0;
  for (let o = 0; o < cOut; o++) for (let i = 0; i < cIn; i++) w[o * cIn + i] = alpha * (transB ? raw[o * cIn + i]! : raw[i * cOut + o]!);
  const c = floatConst(n.inputs[2])?.toFloat32();
  if (!c) return { w, bias: null };
  const bias = new Float32Array(cOut);
  for (let o = 0; o < cOut; o++) bias[o] = beta * (c.length === 1 ? c[0]! : c[o]!);
  return { w, bias };
}
