/**
 * `--fix-input-shape`, apart from the option parsing in input-shape.ts: it runs the
 * infer-shapes pass, whose module reaches the whole library (onnxruntime, TensorFlow.js), so
 * commands that only read (inspect, groups, diff) must not load it.
 */
import { CompilerError } from '../../errors.js';
import type { Model } from '../../ir/core.js';
import { runPasses } from '../../pass.js';
import { inferShapesPass } from '../../../passes/infer-shapes.js';
import type { InferShapesPassOptions } from '../../../passes/infer-shapes.js';

/**
 * `--fix-input-shape`: writes the given sizes into the model's graph inputs and the
 * inferred sizes into its outputs (the infer-shapes pass, interface only). For the written
 * model; the analyses never need it.
 * @throws INVALID_OPTION when no --input-shape was given
 */
export function fixInputShapes(model: Model, shapes: Readonly<Record<string, readonly number[]>>): void {
  if (Object.keys(shapes).length === 0)
    throw new CompilerError('INVALID_OPTION', '--fix-input-shape needs --input-shape', {
      where: '--fix-input-shape',
      hint: 'e.g. --input-shape 1,3,224,224 --fix-input-shape',
    });
  const options: InferShapesPassOptions = { inputShapes: shapes, fixInputs: true, scope: 'interface' };
  runPasses(model, [inferShapesPass(options)]);
}
