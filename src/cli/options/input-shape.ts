/**
 * `--input-shape` and `--fix-input-shape`, shared by every command that computes cost,
 * prunes, rewrites, trains, validates or diffs.
 *
 *   --input-shape 1,3,48,192              the single graph input
 *   --input-shape x:1,3,48,192 --input-shape mask:1,48,192   per input, repeatable
 *
 * The shapes resolve symbolic dims (N, H, W) for the analyses only (cost, channel groups,
 * targets); a written model keeps its symbolic dims unless `--fix-input-shape` is given.
 *
 * ```ts
 * builder: (y) => withInputShape(y.positional(...)),
 * handler: (a) => { const model = readModel(a.model); const shapes = inputShapesFor(a, model); ... }
 * ```
 */
import type { Argv } from 'yargs';
import { resolveInputShapes } from '../../analysis/shapes.js';
import { CompilerError } from '../../errors.js';
import type { Model } from '../../ir/core.js';

/** Parsed `--input-shape` values: named shapes and at most one bare shape. */
export interface InputShapeSpec {
  readonly named: Readonly<Record<string, readonly number[]>>;
  readonly bare?: readonly number[];
}

export interface InputShapeArgs {
  /** Raw values; `inputShapesFor` parses them (the syntax was checked when the arguments were parsed). */
  'input-shape'?: (string | number)[];
  'fix-input-shape'?: boolean;
}

/**
 * Parses the raw option values (syntax only; names are checked against the model later).
 * @throws INVALID_OPTION on a malformed value
 */
export function parseInputShapeSpec(raw: readonly (string | number)[] | string | number | undefined): InputShapeSpec {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const named: Record<string, number[]> = {};
  let bare: number[] | undefined;
  for (const item of list) {
    const text = String(item).trim();
    const colon = text.lastIndexOf(':');
    const name = colon >= 0 ? text.slice(0, colon).trim() : undefined;
    const dimsText = colon >= 0 ? text.slice(colon + 1) : text;
    const dims = dimsText.split(/[,x×]/).map((d) => d.trim());
    if (dims.length === 0 || dims.some((d) => !/^[0-9]+$/.test(d) || Number(d) < 1)) {
      throw new CompilerError('INVALID_OPTION', `--input-shape "${text}": dims must be positive integers separated by commas`, {
        where: '--input-shape',
        hint: 'e.g. --input-shape 1,3,224,224 or --input-shape input:1,3,224,224',
      });
    }
    const shape = dims.map(Number);
    if (name === undefined) {
      if (bare)
        throw new CompilerError('INVALID_OPTION', '--input-shape given twice without a name', {
          where: '--input-shape',
          hint: 'name each input: --input-shape x:1,3,32,32 --input-shape y:1,10',
        });
      bare = shape;
    } else {
      if (name === '') throw new CompilerError('INVALID_OPTION', `--input-shape "${text}" has an empty input name`, { where: '--input-shape' });
      if (named[name]) throw new CompilerError('INVALID_OPTION', `--input-shape names "${name}" twice`, { where: '--input-shape' });
      named[name] = shape;
    }
  }
  return bare ? { named, bare } : { named };
}

/** Whether the spec gives any shape. */
export function hasInputShapes(spec: InputShapeSpec | undefined): boolean {
  return !!spec && (spec.bare !== undefined || Object.keys(spec.named).length > 0);
}

/**
 * Adds `--input-shape` (and, for commands that write a model, `--fix-input-shape`).
 * A malformed value is a usage error (exit 2) before any file is read.
 */
export function withInputShape<T>(y: Argv<T>, opts: { fix?: boolean } = {}): Argv<T & InputShapeArgs> {
  let out = y
    .option('input-shape', {
      type: 'string',
      array: true,
      describe:
        'size of a graph input whose dims are symbolic (N, H, W), for cost and targets: "1,3,224,224" for the only input, ' +
        '"name:1,3,224,224" per input (repeatable). Written models keep their symbolic dims' +
        (opts.fix ? ' unless --fix-input-shape' : ''),
    })
    .check((argv) => {
      // A malformed value is a usage error (exit 2), reported before any file is read.
      try {
        parseInputShapeSpec(argv['input-shape'] as (string | number)[] | undefined);
        return true;
      } catch (e) {
        return (e as Error).message;
      }
    }) as unknown as Argv<T & InputShapeArgs>;
  if (opts.fix) {
    out = out
      .option('fix-input-shape', {
        type: 'boolean',
        default: false,
        describe: "write the --input-shape sizes into the output model's inputs (and the inferred sizes into its outputs)",
      })
      .check((argv) =>
        argv['fix-input-shape'] === true && !hasInputShapes(parseInputShapeSpec(argv['input-shape'] as (string | number)[] | undefined))
          ? '--fix-input-shape needs --input-shape'
          : true,
      ) as unknown as Argv<T & InputShapeArgs>;
  }
  return out;
}

/**
 * The input shapes for `model`: a bare shape goes to its single graph input.
 * @throws INVALID_OPTION for a bare shape on a model with several inputs or an unknown
 *   name; INPUT_SHAPE_MISMATCH for a shape that contradicts a declared rank or number
 */
export function resolveInputShapeSpec(spec: InputShapeSpec | undefined, model: Model): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (!spec) return out;
  const inputs = model.graph.inputs.filter((v) => !v.initializer);
  if (spec.bare) {
    if (inputs.length !== 1) {
      throw new CompilerError('INVALID_OPTION', `a bare --input-shape needs a model with one input; this one has ${inputs.length}`, {
        where: '--input-shape',
        hint: `name the input: ${inputs.map((v) => `--input-shape ${v.name}:...`).join(' ')}`,
      });
    }
    out[inputs[0]!.name] = [...spec.bare];
  }
  for (const [name, s] of Object.entries(spec.named)) {
    if (out[name]) throw new CompilerError('INVALID_OPTION', `--input-shape gives "${name}" twice (bare and named)`, { where: '--input-shape' });
    out[name] = [...s];
  }
  resolveInputShapes(model, out); // validates names, ranks and declared numbers now, naming the option
  return out;
}

/** `--input-shape` of parsed args, resolved against `model` (empty when not given). */
export function inputShapesFor(args: InputShapeArgs, model: Model): Record<string, number[]> {
  return resolveInputShapeSpec(parseInputShapeSpec(args['input-shape']), model);
}

/**
 * Input shapes from a data set's sample shape: batch 1 × the sample for the model's single
 * (or first) graph input whose rank is one more than the sample's, filling only its
 * non-numeric dims. Empty when nothing fits (the data loader reports misfits itself).
 */
export function inputShapesFromSample(model: Model, sample: readonly number[]): Record<string, number[]> {
  const x = model.graph.inputs.find((v) => !v.initializer);
  const s = x?.shape;
  if (!x || !s || s.length !== sample.length + 1 || s.every((d) => typeof d === 'number')) return {};
  const dims = [1, ...sample];
  if (s.some((d, i) => typeof d === 'number' && i > 0 && d !== dims[i])) return {};
  return { [x.name]: s.map((d, i) => (typeof d === 'number' ? d : dims[i]!)) };
}
