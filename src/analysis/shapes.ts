/**
 * Static shape inference for the CNN/MLP op set, opsets 7 to 21.
 *
 * Walks the main graph in topological order and records an element type and a static
 * shape on every value it can (`value.info.type`). Dims are numbers where they can be
 * computed, the symbolic name where a symbolic input dim flows through (`'N'`), null where
 * unknown. Shape computations on constants are folded as they go (Shape → Gather → Concat →
 * Reshape, as exporters write Flatten), so Reshape targets and Resize sizes are known even
 * with a symbolic batch.
 *
 * Never guesses: an op without a rule, or whose rule needs a constant that is not one,
 * leaves its outputs unknown (keeping a type the file declared, if any) and says why.
 * Contradictions, such as a Conv weight whose C_in does not match the input channels, are
 * SHAPE_INFERENCE_FAILED naming the node. Subgraphs (If/Loop bodies) are inferred
 * best-effort: their problems make the owning node's outputs unknown, never an error.
 *
 * ```ts
 * const r = inferShapes(model, { inputShapes: { input: [1, 3, 224, 224] } });
 * model.graph.findValue('conv1_out')!.shape;   // [1, 64, 112, 112]
 * ```
 */
import { CompilerError } from '../errors.js';
import type { Graph, Model, Node, Value } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { topologicalOrder } from '../ir/toposort.js';
import type { StaticDim, TypeInfo } from '../ir/types.js';
import { shapeOf } from '../ir/types.js';
import type { OutInfo, Rule, RuleContext, Shape } from './shape-rules/common.js';
import { UnknownShape, contradiction, isNum } from './shape-rules/common.js';
import { elementwiseRules } from './shape-rules/elementwise.js';
import { Folder } from './shape-rules/fold.js';
import { nnRules } from './shape-rules/nn.js';
import { tensorRules } from './shape-rules/tensor.js';

export interface ShapeInferenceResult {
  /** Main-graph node outputs that got a shape (rank known) from inference. */
  inferred: number;
  /** Main-graph node outputs whose shape could not be computed, with the reason. */
  unknown: { value: Value; reason: string }[];
}

export interface InferShapesOptions {
  /** Shapes for graph inputs by name, replacing the declared ones (e.g. a fixed batch). */
  inputShapes?: Record<string, StaticDim[]>;
}

const RULES: Record<string, Rule> = { ...elementwiseRules, ...tensorRules, ...nnRules };

/** The newest default-domain opset the rules know; a model without an import is read as this. */
const NEWEST_OPSET = 21;

/** Whether shape inference has a rule for a default-domain op. */
export function hasShapeRule(opType: string): boolean {
  return opType in RULES || opType === 'If' || opType === 'Loop';
}

/**
 * Fills `value.info.type` (element type + static shape) for every value of the main graph it
 * can, and of subgraphs best-effort. Graph inputs' declared types (or `opts.inputShapes`)
 * are the start. O(nodes + folded elements).
 * @throws SHAPE_INFERENCE_FAILED on a contradiction, naming the node; INVALID_OPTION for an
 *   `inputShapes` name that is not a graph input; GRAPH_CYCLE
 */
export function inferShapes(model: Model, opts: InferShapesOptions = {}): ShapeInferenceResult {
  const g = model.graph;
  for (const [name, shape] of Object.entries(opts.inputShapes ?? {})) {
    const v = g.inputs.find((x) => x.name === name);
    if (!v) {
      throw new CompilerError('INVALID_OPTION', `no graph input named "${name}"`, { where: name, hint: `inputs: ${g.inputs.filter((x) => !x.initializer).map((x) => x.name).join(', ')}` });
    }
    v.setTensorType(v.elemType ?? DataType.FLOAT, shape);
  }
  const res: ShapeInferenceResult = { inferred: 0, unknown: [] };
  const folder = new Folder((d) => opsetOf(model, d));
  inferGraph(model, g, folder, res);
  return res;
}

/**
 * The contents of `v` (row-major, as numbers) when it is a small constant or folds to one:
 * an initializer or Constant of at most 4096 elements, Shape of a static shape, and
 * Gather/Concat/Unsqueeze/Cast/Slice/arithmetic on those. Undefined when any element is
 * unknown or symbolic. Reads the shapes already recorded (run inferShapes first). O(chain).
 */
export function constantValue(v: Value): number[] | undefined {
  const d = symbolicValue(v);
  return d && d.every(isNum) ? (d as number[]) : undefined;
}

/**
 * Like `constantValue`, but elements may be symbolic dims (`'N'`) or null: the folded
 * contents of a shape computation such as `Concat(Gather(Shape(x), 0), [-1])` → `['N', -1]`.
 */
export function symbolicValue(v: Value): StaticDim[] | undefined {
  const model = v.graph?.model;
  const folder = new Folder((d) => (model ? opsetOf(model, d) : NEWEST_OPSET));
  return folder.fold(v)?.data;
}

function opsetOf(model: Model, domain: string): number {
  return model.opset(domain) ?? (domain === '' || domain === 'ai.onnx' ? NEWEST_OPSET : 1);
}

/** Infers one graph; `res` is null for subgraphs (not counted or reported). */
function inferGraph(model: Model, g: Graph, folder: Folder, res: ShapeInferenceResult | null): void {
  for (const v of g.initializers) {
    const t = v.initializer!;
    v.setTensorType(t.dataType, t.shape);
  }
  for (const n of topologicalOrder(g)) {
    const { outs, reason } = inferNode(model, n, folder);
    n.outputs.forEach((o, i) => {
      if (!o) return;
      folder.forget(o);
      const info = outs?.[i];
      const shape = info?.shape;
      // Without a rule even the element type would be a guess.
      const elem = info?.elem ?? (outs ? defaultElem(n) : undefined);
      if (shape !== undefined) {
        o.info.type = merged(o, elem, shape);
        // Folding now, in topological order, keeps fold recursion one level deep.
        folder.fold(o);
        if (res) res.inferred++;
        return;
      }
      const declared = o.type;
      if (elem !== undefined && !shapeOf(declared)) o.info.type = { kind: 'tensor', elemType: elem };
      if (res) {
        const why = reason ?? `${n.opType} gave no shape for output ${i}`;
        res.unknown.push({ value: o, reason: shapeOf(declared) ? `${why} (kept the declared shape)` : why });
      }
    });
  }
}

function defaultElem(n: Node): number | undefined {
  for (const v of n.inputs) if (v && v.elemType !== undefined) return v.elemType;
  return undefined;
}

/**
 * The inferred type, refined by what the file declared: a declared number fills an
 * unknown dim, and a graph output keeps its declared symbolic names (its interface).
 */
function merged(o: Value, elem: number | undefined, shape: Shape): TypeInfo {
  const declared = shapeOf(o.type);
  let out = shape;
  if (declared && declared.length === shape.length) {
    const isOutput = o.isGraphOutput();
    out = shape.map((d, k) => {
      const was = declared[k]!;
      if (d === null) return was;
      if (isOutput && typeof d === 'string' && typeof was === 'string') return was;
      return d;
    });
  }
  const t: TypeInfo = { kind: 'tensor', elemType: elem ?? o.elemType, shape: { dims: out.map(toDim) } };
  return t;
}

function toDim(d: StaticDim): { value?: number; param?: string } {
  return typeof d === 'number' ? { value: d } : typeof d === 'string' ? { param: d } : {};
}

function makeContext(n: Node, opset: number, folder: Folder): RuleContext {
  const val = (i: number): Value | undefined => n.inputs[i] ?? undefined;
  const ctx: RuleContext = {
    node: n,
    opset,
    has: (i) => val(i) !== undefined,
    shape(i) {
      const v = val(i);
      if (!v) throw new UnknownShape(`input ${i} is absent`);
      const s = v.shape;
      if (!s) throw new UnknownShape(`the shape of input "${v.name}" is unknown`);
      return s;
    },
    elem: (i) => val(i)?.elemType,
    folded: (i) => folder.fold(val(i)),
    ints(i, what) {
      const v = val(i);
      const f = folder.fold(v);
      if (!f) throw new UnknownShape(`${what} (input ${i}${v ? ` "${v.name}"` : ''}) is not a constant`);
      if (!f.data.every(isNum)) throw new UnknownShape(`${what} (input ${i} "${v!.name}") is not fully known`);
      return f.data as number[];
    },
    dims(i, what) {
      const v = val(i);
      const f = folder.fold(v);
      if (f) return f.data;
      // Not constant, but its length fixes the output rank.
      const s = v?.shape;
      if (s && s.length === 1 && isNum(s[0]!)) return new Array<StaticDim>(s[0]).fill(null);
      throw new UnknownShape(`${what} (input ${i}${v ? ` "${v.name}"` : ''}) is not a constant`);
    },
    fail(message): never { throw contradiction(n, message); },
  };
  return ctx;
}

function inferNode(model: Model, n: Node, folder: Folder): { outs?: OutInfo[]; reason?: string } {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return { reason: `no shape rule for ${n.domain}.${n.opType}` };
  const opset = opsetOf(model, n.domain);
  if (n.opType === 'If' || n.opType === 'Loop') return controlFlow(model, n, folder);
  const rule = RULES[n.opType];
  if (!rule) {
    const f = foldOutputs(n, folder);
    return f ?? { reason: `no shape rule for ${n.opType}` };
  }
  try {
    return { outs: rule(makeContext(n, opset, folder)) };
  } catch (e) {
    if (!(e instanceof UnknownShape)) throw e;
    return foldOutputs(n, folder) ?? { reason: e.reason };
  }
}

/** Shapes of outputs that fold to constants (a rule-less op computing on constants). */
function foldOutputs(n: Node, folder: Folder): { outs: OutInfo[] } | undefined {
  const outs: OutInfo[] = [];
  for (const o of n.outputs) {
    const f = o ? folder.fold(o) : undefined;
    if (o && !f) return undefined;
    outs.push(f ? { shape: f.dims, elem: f.elem } : {});
  }
  return { outs };
}

/** If: the branches' outputs agree dim by dim. Loop: carried values keep the body's shapes. */
function controlFlow(model: Model, n: Node, folder: Folder): { outs?: OutInfo[]; reason?: string } {
  const bodies = n.subgraphs();
  try {
    if (n.opType === 'Loop') {
      const body = bodies[0];
      if (!body) return { reason: 'Loop has no body' };
      // Body inputs: iteration number, condition, then the carried values.
      body.inputs.forEach((v, i) => {
        if (v.shape) return;
        if (i === 0) v.setTensorType(DataType.INT64, []);
        else if (i === 1) v.setTensorType(DataType.BOOL, []);
        else {
          const init = n.inputs[i];
          if (init?.type) v.info.type = init.type;
        }
      });
    }
    for (const b of bodies) inferGraph(model, b, folder, null);
  } catch (e) {
    return { reason: `subgraph of ${n.where}: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (n.opType === 'If') {
    const [a, b] = bodies;
    if (!a || !b) return { reason: 'If lacks a branch' };
    return { outs: n.outputs.map((_, i) => joinTypes(a.outputs[i], b.outputs[i])) };
  }
  const body = bodies[0]!;
  const carried = n.inputs.length - 2;
  return {
    outs: n.outputs.map((_, i) => {
      const bo = body.outputs[i + 1];
      if (i < carried) return joinTypes(bo, n.inputs[i + 2] ?? undefined);
      // Scan outputs stack one slice per iteration: the count is data-dependent.
      const s = bo?.shape;
      return { elem: bo?.elemType, shape: s ? [null, ...s] : undefined };
    }),
  };
}

function joinTypes(a: Value | undefined, b: Value | undefined | null): OutInfo {
  const sa = a?.shape;
  const sb = b?.shape;
  if (!sa || !sb || sa.length !== sb.length) return { elem: a?.elemType ?? b?.elemType };
  return { elem: a?.elemType ?? b?.elemType, shape: sa.map((d, k) => (d === sb[k] ? d : null)) };
}
