/**
 * expose-outputs: makes named values (or the last conv's feature map) graph outputs, so
 * onnxruntime returns them (it returns only graph outputs).
 *
 * Options (`exposeOutputs: {...}` or top level):
 *   outputs?   value names; "last-conv" stands for the last conv's feature map (default
 *              ["last-conv"]; src/search/feature.ts says where that is taken)
 *   onExposed? (names: string[]) => void   the names made outputs, in order
 *
 * Cases:
 *  1. An intermediate value: appended to the graph outputs (the model's own outputs stay
 *     first and unchanged).
 *  2. A value that already is an output: left alone.
 *  3. An unknown name: MISSING_VALUE, nothing changes.
 *
 *   before:  outputs: %logits
 *   after:   outputs: %logits, %layer3.2.relu2
 */
import { exposeOutputs, passOption } from '../src/core.js';
import type { Model, Pass, PassContext, PassDefinition, PassResult } from '../src/core.js';

export interface ExposeOutputsOptions {
  outputs?: readonly string[];
  onExposed?: (names: string[]) => void;
}

const SUMMARY = "make named values (default: the last conv's feature map) graph outputs so onnxruntime returns them";

/**
 * The expose-outputs pass with typed options; its result's `report` names the outputs.
 * Called without options it reads the old options bag (`ctx.options.exposeOutputs`).
 */
export function exposeOutputsPass(options?: ExposeOutputsOptions): Pass<string[]> {
  return {
    name: 'expose-outputs',
    summary: SUMMARY,
    run(model: Model, ctx: PassContext): PassResult<string[]> {
      const o = options ?? ((ctx.options.exposeOutputs ?? ctx.options) as ExposeOutputsOptions);
      const r = exposeOutputs(model, o.outputs);
      o.onExposed?.(r.names);
      return { changed: r.added > 0, report: r.names, stats: { outputs: r.added } };
    },
  };
}

export const exposeOutputsDefinition: PassDefinition<ExposeOutputsOptions, string[]> = {
  name: 'expose-outputs',
  summary: SUMMARY,
  cli: { outputs: passOption.list<ExposeOutputsOptions>('outputs', "values to make graph outputs (default: the last conv's feature map)") },
  create: (o) => exposeOutputsPass(o),
};
