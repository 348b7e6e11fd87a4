/**
 * infer-shapes: writes inferred value types into the model, for a saved file that should
 * carry them (as `onnx.shape_inference` does). Analyses never write types; this pass is
 * the one place that does, and only where asked (`sculpt transform --passes infer-shapes`,
 * `--fix-input-shape`).
 *
 * Options (`ctx.options['infer-shapes']`, InferShapesPassOptions):
 *   inputShapes?  sizes for graph inputs (resolving symbolic dims)
 *   fixInputs?    also write those sizes into the graph inputs (default false: inputs keep
 *                 their declared, possibly symbolic, dims)
 *   scope?        'all' (default): every node output gets a value_info record;
 *                 'interface': only graph inputs/outputs are written
 *
 * Cases:
 *  1. A value whose inferred type differs from its record (or has none) → written.
 *  2. A graph output keeps its declared symbolic names where inference kept them symbolic.
 *  3. A value whose shape inference could not compute → left as declared.
 *  4. Graph inputs → unchanged unless fixInputs.
 *
 *   before:  graph main (%x: float[N,3,32,32]) -> (%y: float[N,?])
 *   after:   graph main (%x: float[N,3,32,32]) -> (%y: float[N,10])      + value_info for every node output
 */
import { inferShapes, passOption, shapeOf, shapesAnalysis } from '../src/core.js';
import type { Model, Pass, PassContext, PassDefinition, PassResult, TypeInfo, Value } from '../src/core.js';

export interface InferShapesPassOptions {
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  fixInputs?: boolean;
  scope?: 'all' | 'interface';
}

function sameType(a: TypeInfo | undefined, b: TypeInfo | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Writes `t` into `v` when it adds information; returns whether it changed. */
function write(v: Value, t: TypeInfo | undefined): boolean {
  if (!t || sameType(v.type, t)) return false;
  // Never lose a declared rank for an unknown one.
  if (shapeOf(v.type) && !shapeOf(t)) return false;
  v.type = structuredClone(t);
  return true;
}

/** `t` with the symbolic dim names `v` declares, where `t` has a symbolic dim at the same place. */
function withDeclaredNames(v: Value, t: TypeInfo | undefined): TypeInfo | undefined {
  const declared = shapeOf(v.type);
  if (!t || t.kind !== 'tensor' || !t.shape || !declared || declared.length !== t.shape.dims.length) return t;
  const dims = t.shape.dims.map((d, k) => {
    const was = declared[k];
    return d.param !== undefined && typeof was === 'string' ? { ...d, param: was } : d;
  });
  return { ...t, shape: { ...t.shape, dims } };
}

const SUMMARY = 'write inferred element types and shapes into the model (value_info and graph outputs); --fix-input-shape uses it';

/**
 * The infer-shapes pass with typed options; its result's `report` counts the values written.
 * Called without options it reads the old options bag (`ctx.options['infer-shapes']`).
 */
export function inferShapesPass(options?: InferShapesPassOptions): Pass<{ valuesWritten: number }> {
  return {
    name: 'infer-shapes',
    summary: SUMMARY,
    run(model: Model, ctx: PassContext): PassResult<{ valuesWritten: number }> {
      const o = options ?? ((ctx.options['infer-shapes'] ?? {}) as InferShapesPassOptions);
      // The manager's input shapes are for analysis only; written types use the pass's own.
      const given = o.inputShapes && Object.keys(o.inputShapes).length > 0 ? o.inputShapes : undefined;
      const am = ctx.analyses;
      const cached = !given && Object.keys(am.options.inputShapes ?? {}).length === 0;
      const res = cached ? am.get(shapesAnalysis) : inferShapes(model, { inputShapes: given });
      const g = model.graph;
      let written = 0;
      if (o.fixInputs) for (const v of g.inputs) if (!v.initializer && write(v, res.shapes.type(v))) written++;
      // A graph output keeps the symbolic names it declares (its interface), where inference has a name too.
      for (const v of g.outputs) if (write(v, withDeclaredNames(v, res.shapes.type(v)))) written++;
      if ((o.scope ?? 'all') === 'all') {
        const outputs = new Set(g.outputs);
        const recorded = new Set(g.valueInfos);
        for (const n of g.nodes) {
          for (const v of n.outputs) {
            if (!v || outputs.has(v) || !res.shapes.has(v)) continue;
            if (write(v, res.shapes.type(v))) written++;
            if (!recorded.has(v) && v.type) {
              g.addValueInfo(v);
              recorded.add(v);
              written++;
            }
          }
        }
      }
      for (const u of res.unknown) ctx.remark(u.value.name, `shape unknown: ${u.reason}`);
      // Written types equal what the analyses read: re-inferring gives the same table, so
      // shapes, cost and channel groups stay valid (not so when the inputs changed size).
      return {
        changed: written > 0,
        report: { valuesWritten: written },
        stats: { valuesWritten: written },
        preserved: o.fixInputs && given ? [] : ['shapes', 'cost', 'channel-groups'],
      };
    },
  };
}

export const inferShapesDefinition: PassDefinition<InferShapesPassOptions, { valuesWritten: number }> = {
  name: 'infer-shapes',
  summary: SUMMARY,
  cli: {
    scope: passOption.choice<InferShapesPassOptions>(
      'scope',
      ['all', 'interface'],
      'all: every node output gets a value_info record; interface: only graph inputs/outputs',
    ),
  },
  create: (o) => inferShapesPass(o),
};
