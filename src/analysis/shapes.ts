/**
 * Static shape inference for the CNN/MLP op set, opsets 7 to 21.
 *
 * Walks the main graph in topological order and records an element type and a static
 * shape for every value it can, in a side table (`ShapeTable`): the IR is never written.
 * (The `infer-shapes` pass writes the table into the model where a saved file should carry
 * the inferred types.) Dims are numbers where they can be
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
 * r.shapes.shape(model.graph.findValue('conv1_out')!);   // [1, 64, 112, 112]
 * ```
 */
import { CompilerError } from '../errors.js';
import type { Graph, Model, Node, Value } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { topologicalOrder } from '../ir/toposort.js';
import type { StaticDim, TypeInfo } from '../ir/types.js';
import { shapeOf, tensorType } from '../ir/types.js';
import type { ShapeLookup } from './shape-table.js';
import { DECLARED_SHAPES, ShapeTable } from './shape-table.js';
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
  /** Type of every value inference reached (graph inputs with the given shapes, initializers, node outputs). */
  shapes: ShapeTable;
  /** The shape each graph input was analysed at: the given one, else the declared one (undefined: unknown). */
  inputs: Record<string, StaticDim[] | undefined>;
}

export interface InferShapesOptions {
  /**
   * Shapes for graph inputs by name, resolving their symbolic dims (e.g. `N`, `H`, `W`) for
   * the analysis only. A dim the model declares as a number must be given as that number.
   * A symbolic name resolved here is resolved in every other graph input that uses it.
   */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
}

const RULES: Record<string, Rule> = { ...elementwiseRules, ...tensorRules, ...nnRules };

/** The newest default-domain opset the rules know; a model without an import is read as this. */
const NEWEST_OPSET = 21;

/** Whether shape inference has a rule for a default-domain op. */
export function hasShapeRule(opType: string): boolean {
  return opType in RULES || opType === 'If' || opType === 'Loop';
}

/**
 * Computes the element type and static shape of every value of the main graph it can, and
 * of subgraphs best-effort, into a side table; the model is not changed. Graph inputs'
 * declared types, with `opts.inputShapes` resolving symbolic dims, are the start.
 * O(nodes + folded elements).
 * @throws SHAPE_INFERENCE_FAILED on a contradiction, naming the node; INVALID_OPTION for an
 *   `inputShapes` name that is not a graph input; INPUT_SHAPE_MISMATCH for a given shape
 *   that contradicts a declared rank or number; GRAPH_CYCLE
 */
export function inferShapes(model: Model, opts: InferShapesOptions = {}): ShapeInferenceResult {
  const g = model.graph;
  const table = new ShapeTable();
  const inputs = resolveInputShapes(model, opts.inputShapes ?? {});
  for (const v of g.inputs) {
    if (v.initializer) continue;
    const s = inputs[v.name];
    if (s !== undefined) table.set(v, tensorType(v.elemType ?? DataType.FLOAT, s));
  }
  const res: ShapeInferenceResult = { inferred: 0, unknown: [], shapes: table, inputs };
  const folder = new Folder((d) => opsetOf(model, d), table);
  inferGraph(model, g, folder, table, res);
  return res;
}

/**
 * The shape every graph input is analysed at: the declared one with the given shapes in
 * place, and every symbolic name a given shape resolves resolved in the other inputs too.
 * @throws INVALID_OPTION for a name that is not a graph input; INPUT_SHAPE_MISMATCH when a
 *   given shape has another rank than declared or changes a declared number
 */
export function resolveInputShapes(model: Model, given: Readonly<Record<string, readonly number[]>>): Record<string, StaticDim[] | undefined> {
  const inputs = model.graph.inputs.filter((x) => !x.initializer);
  const bindings = new Map<string, number>();
  for (const [name, shape] of Object.entries(given)) {
    const v = inputs.find((x) => x.name === name);
    if (!v) {
      throw new CompilerError('INVALID_OPTION', `--input-shape names "${name}", which is not a graph input`, {
        where: name,
        hint: `inputs: ${inputs.map((x) => x.name).join(', ')}`,
      });
    }
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1)
        throw new CompilerError('INVALID_OPTION', `input shape for "${name}" has dim ${d}; dims are positive integers`, { where: name });
    }
    const declared = v.shape;
    if (!declared) continue;
    if (declared.length !== shape.length) {
      throw new CompilerError(
        'INPUT_SHAPE_MISMATCH',
        `input "${name}" has rank ${declared.length} [${fmtDims(declared)}]; the given shape [${shape.join(',')}] has rank ${shape.length}`,
        { where: name, hint: `give ${declared.length} dims, e.g. --input-shape ${name}:${declared.map((d) => (typeof d === 'number' ? d : 1)).join(',')}` },
      );
    }
    declared.forEach((d, k) => {
      const want = shape[k]!;
      if (typeof d === 'number' && d !== want) {
        throw new CompilerError('INPUT_SHAPE_MISMATCH', `input "${name}" declares dim ${k} as ${d}; the given shape says ${want}`, {
          where: name,
          hint: 'only symbolic or unknown dims can be set by an input shape',
        });
      }
      if (typeof d === 'string') {
        const had = bindings.get(d);
        if (had !== undefined && had !== want) {
          throw new CompilerError('INPUT_SHAPE_MISMATCH', `symbolic dim "${d}" is given as ${had} and as ${want}`, {
            where: name,
            hint: 'inputs that share a symbolic dim need the same size for it',
          });
        }
        bindings.set(d, want);
      }
    });
  }
  const out: Record<string, StaticDim[] | undefined> = {};
  for (const v of inputs) {
    const g = given[v.name];
    if (g) {
      out[v.name] = [...g];
      continue;
    }
    const declared = v.shape;
    out[v.name] = declared?.map((d) => (typeof d === 'string' ? (bindings.get(d) ?? d) : d));
  }
  return out;
}

function fmtDims(s: readonly StaticDim[]): string {
  return s.map((d) => (d === null ? '?' : String(d))).join(',');
}

/**
 * The contents of `v` (row-major, as numbers) when it is a small constant or folds to one:
 * an initializer or Constant of at most 4096 elements, Shape of a static shape, and
 * Gather/Concat/Unsqueeze/Cast/Slice/arithmetic on those. Undefined when any element is
 * unknown or symbolic. Reads shapes from `shapes` (an inferShapes table; default the
 * declared types). O(chain).
 */
export function constantValue(v: Value, shapes: ShapeLookup = DECLARED_SHAPES): number[] | undefined {
  const d = symbolicValue(v, shapes);
  return d && d.every(isNum) ? (d as number[]) : undefined;
}

/**
 * Like `constantValue`, but elements may be symbolic dims (`'N'`) or null: the folded
 * contents of a shape computation such as `Concat(Gather(Shape(x), 0), [-1])` → `['N', -1]`.
 */
export function symbolicValue(v: Value, shapes: ShapeLookup = DECLARED_SHAPES): StaticDim[] | undefined {
  const model = v.graph?.model;
  const folder = new Folder((d) => (model ? opsetOf(model, d) : NEWEST_OPSET), shapes);
  return folder.fold(v)?.data;
}

function opsetOf(model: Model, domain: string): number {
  return model.opset(domain) ?? (domain === '' || domain === 'ai.onnx' ? NEWEST_OPSET : 1);
}

/** Infers one graph; `res` is null for subgraphs (not counted or reported). */
function inferGraph(model: Model, g: Graph, folder: Folder, table: ShapeTable, res: ShapeInferenceResult | null): void {
  for (const v of g.initializers) {
    const t = v.initializer!;
    table.set(v, tensorType(t.dataType, t.shape));
  }
  for (const n of topologicalOrder(g)) {
    const { outs, reason } = inferNode(model, n, folder, table);
    n.outputs.forEach((o, i) => {
      if (!o) return;
      folder.forget(o);
      const info = outs?.[i];
      const shape = info?.shape;
      // Without a rule even the element type would be a guess.
      const elem = info?.elem ?? (outs ? defaultElem(n, table) : undefined);
      if (shape !== undefined) {
        table.set(o, merged(o, elem, shape));
        // Folding now, in topological order, keeps fold recursion one level deep.
        folder.fold(o);
        if (res) res.inferred++;
        return;
      }
      const declared = o.type;
      if (elem !== undefined && !shapeOf(declared)) table.set(o, { kind: 'tensor', elemType: elem });
      if (res) {
        const why = reason ?? `${n.opType} gave no shape for output ${i}`;
        res.unknown.push({ value: o, reason: shapeOf(declared) ? `${why} (kept the declared shape)` : why });
      }
    });
  }
}

function defaultElem(n: Node, table: ShapeTable): number | undefined {
  for (const v of n.inputs) if (v && table.elemType(v) !== undefined) return table.elemType(v);
  return undefined;
}

/**
 * The inferred type, refined by what the file declared: a declared number or name fills an
 * unknown dim. An inferred symbolic dim stays as inferred, also on a graph output that
 * declares another name for it (tf2onnx names the batch `unk__12` on the input and
 * `unk__13` on the output): it is the input's dim, bound by --input-shape and --batch.
 * The infer-shapes pass writes graph outputs back with their declared names (the interface).
 */
function merged(o: Value, elem: number | undefined, shape: Shape): TypeInfo {
  const declared = shapeOf(o.type);
  let out = shape;
  if (declared && declared.length === shape.length) out = shape.map((d, k) => (d === null ? declared[k]! : d));
  const t: TypeInfo = { kind: 'tensor', elemType: elem ?? o.elemType, shape: { dims: out.map(toDim) } };
  return t;
}

function toDim(d: StaticDim): { value?: number; param?: string } {
  return typeof d === 'number' ? { value: d } : typeof d === 'string' ? { param: d } : {};
}

function makeContext(n: Node, opset: number, folder: Folder, table: ShapeTable): RuleContext {
  const val = (i: number): Value | undefined => n.inputs[i] ?? undefined;
  const ctx: RuleContext = {
    node: n,
    opset,
    has: (i) => val(i) !== undefined,
    shape(i) {
      const v = val(i);
      if (!v) throw new UnknownShape(`input ${i} is absent`);
      const s = table.shape(v);
      if (!s) throw new UnknownShape(`the shape of input "${v.name}" is unknown`);
      return s;
    },
    elem: (i) => {
      const v = val(i);
      return v ? table.elemType(v) : undefined;
    },
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
      const s = v ? table.shape(v) : undefined;
      if (s && s.length === 1 && isNum(s[0]!)) return new Array<StaticDim>(s[0]).fill(null);
      throw new UnknownShape(`${what} (input ${i}${v ? ` "${v.name}"` : ''}) is not a constant`);
    },
    fail(message): never {
      throw contradiction(n, message);
    },
  };
  return ctx;
}

function inferNode(model: Model, n: Node, folder: Folder, table: ShapeTable): { outs?: OutInfo[]; reason?: string } {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return { reason: `no shape rule for ${n.domain}.${n.opType}` };
  const opset = opsetOf(model, n.domain);
  if (n.opType === 'If' || n.opType === 'Loop') return controlFlow(model, n, folder, table);
  const rule = RULES[n.opType];
  if (!rule) {
    const f = foldOutputs(n, folder);
    return f ?? { reason: `no shape rule for ${n.opType}` };
  }
  try {
    return { outs: rule(makeContext(n, opset, folder, table)) };
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
function controlFlow(model: Model, n: Node, folder: Folder, table: ShapeTable): { outs?: OutInfo[]; reason?: string } {
  const bodies = n.subgraphs();
  try {
    if (n.opType === 'Loop') {
      const body = bodies[0];
      if (!body) return { reason: 'Loop has no body' };
      // Body inputs: iteration number, condition, then the carried values.
      body.inputs.forEach((v, i) => {
        if (v.shape) return;
        if (i === 0) table.set(v, tensorType(DataType.INT64, []));
        else if (i === 1) table.set(v, tensorType(DataType.BOOL, []));
        else {
          const init = n.inputs[i];
          const t = init ? table.type(init) : undefined;
          if (t) table.set(v, t);
        }
      });
    }
    for (const b of bodies) inferGraph(model, b, folder, table, null);
  } catch (e) {
    return { reason: `subgraph of ${n.where}: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (n.opType === 'If') {
    const [a, b] = bodies;
    if (!a || !b) return { reason: 'If lacks a branch' };
    return { outs: n.outputs.map((_, i) => joinTypes(table, a.outputs[i], b.outputs[i])) };
  }
  const body = bodies[0]!;
  const carried = n.inputs.length - 2;
  return {
    outs: n.outputs.map((_, i) => {
      const bo = body.outputs[i + 1];
      if (i < carried) return joinTypes(table, bo, n.inputs[i + 2] ?? undefined);
      // Scan outputs stack one slice per iteration: the count is data-dependent.
      const s = bo ? table.shape(bo) : undefined;
      return { elem: bo ? table.elemType(bo) : undefined, shape: s ? [null, ...s] : undefined };
    }),
  };
}

function joinTypes(table: ShapeTable, a: Value | undefined, b: Value | undefined | null): OutInfo {
  const sa = a ? table.shape(a) : undefined;
  const sb = b ? table.shape(b) : undefined;
  const elem = (a ? table.elemType(a) : undefined) ?? (b ? table.elemType(b) : undefined);
  if (!sa || !sb || sa.length !== sb.length) return { elem };
  return { elem, shape: sa.map((d, k) => (d === sb[k] ? d : null)) };
}
