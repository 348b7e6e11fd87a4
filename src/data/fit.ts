/**
 * Data ↔ model: the per-sample shape a model's input asks for, and the checks that make a
 * model that does not fit the data fail before any training or evaluation starts.
 */
import { CompilerError } from '../errors.js';
import type { Model, Value } from '../ir/core.js';
import type { Dataset, LoadOptions } from './dataset.js';
import { loadDataset } from './loader.js';
import type { LoadedDataset } from './loader.js';

/** The model's (first) real input: a graph input that is not an initializer. @throws PRECONDITION_FAILED */
export function dataInputOf(model: Model): Value {
  const ins = model.graph.inputs.filter((v) => !v.initializer);
  if (ins.length !== 1) {
    throw new CompilerError(
      'PRECONDITION_FAILED',
      `the model has ${ins.length} data inputs (${ins.map((v) => v.name).join(', ')}); training and evaluation need exactly one`,
      { hint: 'export the model with a single image input' },
    );
  }
  return ins[0]!;
}

/**
 * Per-sample shape of the model's input (its dims after the batch dim), or undefined when
 * the model does not say (rank unknown or non-batch dims symbolic).
 */
export function sampleShapeOf(model: Model): number[] | undefined {
  const s = dataInputOf(model).shape;
  if (!s || s.length < 2) return undefined;
  const rest = s.slice(1);
  return rest.every((d): d is number => typeof d === 'number' && d > 0) ? rest : undefined;
}

/** Number of classes the model scores: the last dim of its (first) output, when static. */
export function classCountOf(model: Model): number | undefined {
  const s = model.graph.outputs[0]?.shape;
  const last = s?.[s.length - 1];
  return typeof last === 'number' ? last : undefined;
}

/**
 * Checks a data set against a model: sample shape equals the model's input shape, and
 * every label has a score. @throws DATA_SHAPE_MISMATCH
 */
export function checkModelFitsData(model: Model, ds: Dataset): void {
  const want = sampleShapeOf(model);
  if (want && want.join(',') !== ds.inputShape.join(',')) {
    throw new CompilerError(
      'DATA_SHAPE_MISMATCH',
      `${ds.name} gives samples of [${ds.inputShape.join(',')}] but the model's input "${dataInputOf(model).name}" wants [${want.join(',')}]`,
      { where: ds.name },
    );
  }
  const classes = classCountOf(model);
  if (classes !== undefined && ds.numClasses > classes) {
    throw new CompilerError(
      'DATA_SHAPE_MISMATCH',
      `${ds.name} has ${ds.numClasses} classes but the model's output "${model.graph.outputs[0]!.name}" scores ${classes}`,
      { where: ds.name, hint: 'train a model whose last layer has one output per class' },
    );
  }
}

/**
 * `loadDataset` with `shape` taken from the model's input, then checked against the model.
 * @throws every code of loadDataset and checkModelFitsData
 */
export function loadDatasetFor(model: Model, spec: string, opts: LoadOptions = {}): LoadedDataset {
  const ds = loadDataset(spec, { ...opts, shape: opts.shape ?? sampleShapeOf(model) });
  try {
    checkModelFitsData(model, ds);
  } catch (e) {
    ds.close();
    throw e;
  }
  return ds;
}
