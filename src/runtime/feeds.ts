/** Inputs for onnxruntime runs: seeded random feeds for every graph input of a model. */
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { Rng } from '../util/rng.js';
import type { HostTensor } from './session.js';

/**
 * Seeded float inputs for every graph input: `inputShapes[name]` where given, else the
 * declared shape with symbolic dims as `batch`. @throws UNSUPPORTED_DATA_TYPE for non-float inputs
 */
export function seededInputs(
  model: Model,
  seed: number,
  batch: number,
  range: [number, number] = [0, 1],
  inputShapes: Readonly<Record<string, readonly number[]>> = {},
): Record<string, HostTensor> {
  const rng = new Rng(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const v of model.graph.inputs) {
    if (v.initializer) continue;
    if ((v.elemType ?? DataType.FLOAT) !== DataType.FLOAT)
      throw new CompilerError('UNSUPPORTED_DATA_TYPE', `input "${v.name}" is not float32; give your own inputs`, { where: v.name });
    const given = inputShapes[v.name];
    const dims = given ? [...given] : (v.shape ?? []).map((d) => (typeof d === 'number' ? d : batch));
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[v.name] = { data: rng.uniformArray(n, range[0], range[1]), dims };
  }
  return feeds;
}
