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
import { exposeOutputs } from '../src/index.js';
import type { Model, Pass, PassContext, PassResult } from '../src/index.js';

export interface ExposeOutputsOptions {
  outputs?: readonly string[];
  onExposed?: (names: string[]) => void;
}

export function exposeOutputsPass(): Pass {
  return {
    name: 'expose-outputs',
    summary: 'make named values (default: the last conv\'s feature map) graph outputs so onnxruntime returns them',
    run(model: Model, ctx: PassContext): PassResult {
      const o = (ctx.options.exposeOutputs ?? ctx.options) as ExposeOutputsOptions;
      const r = exposeOutputs(model, o.outputs);
      o.onExposed?.(r.names);
      return { changed: r.added > 0, stats: { outputs: r.added } };
    },
  };
}
