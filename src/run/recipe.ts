/**
 * Recipes for `sculpt run`: one declarative file (JSON or YAML) that names the input model,
 * the data and the steps of a compression pipeline. Schema (version 1), documented in
 * docs/recipes.md:
 *
 *   version: 1                      # optional; only 1 exists
 *   name: lenet5-half               # optional; the default run folder is runs/<name>
 *   model: model.onnx               # a file (relative to the recipe), or a built-in network:
 *   # model: { builtin: lenet5, seed: 1, build: { width: 1 }, train: { epochs: 1, limit: 20000 } }
 *   data: mnist                     # --data of every step that takes data (a step may override)
 *   inputShape: [1,1,28,28]         # optional: --input-shape of every step that takes it
 *   steps:                          # in order; each names ONE command and its CLI options
 *     - prune: { flops-target: 0.5 }
 *     - train: { teacher: $original, loss: kd, epochs: 1 }
 *     - validate: { max-drop: 1.5 }
 *     - diff: {}
 *
 * A step's options are exactly that command's CLI options (long names, without `--`); `true`
 * is a flag, `false` its `--no-` form, an array repeats the option. `$original` stands for the
 * input model and `$previous` for the step's input. The runner supplies the model argument,
 * `-o`, `--json` and the report files itself.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CompilerError } from '../errors.js';

export type OptionValue = string | number | boolean | (string | number)[];

export interface BuiltinModel {
  builtin: string;
  seed: number;
  /** `sculpt models build` options (width, size, ...). */
  build: Record<string, OptionValue>;
  /** `sculpt train` options for training it first (needs `data`); absent = untrained. */
  train: Record<string, OptionValue> | null;
}

export interface RecipeStep {
  /** `<index>-<command>` unless the step gives a name. */
  name: string;
  command: string;
  options: Record<string, OptionValue>;
}

export interface Recipe {
  version: 1;
  name: string;
  /** Absolute path of a model file, or a built-in network. */
  model: string | BuiltinModel;
  data: string | null;
  inputShape: string[];
  steps: RecipeStep[];
  /** Folder of the recipe file: relative paths in it resolve from here. */
  baseDir: string;
}

/** Commands a step may name; the runner knows how to feed each. */
export const STEP_COMMANDS = ['prune', 'train', 'tissue', 'transform', 'onestep', 'search', 'validate', 'diff'] as const;

/** Options the runner sets itself; a recipe giving them is an error. */
export const RUNNER_OPTIONS = new Set(['output', 'o', 'json', 'report', 'work-dir', 'help', 'version']);

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function bad(field: string, message: string, hint?: string): CompilerError {
  return new CompilerError('RECIPE_INVALID', `${field}: ${message}`, { hint: hint ?? 'see docs/recipes.md for the recipe schema' });
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function optionsAt(field: string, x: unknown): Record<string, OptionValue> {
  if (x === undefined || x === null) return {};
  if (!isObject(x)) throw bad(field, `must be a mapping of option names to values, not ${JSON.stringify(x)}`);
  const out: Record<string, OptionValue> = {};
  for (const [k, v] of Object.entries(x)) {
    const f = `${field}.${k}`;
    if (k.startsWith('-')) throw bad(f, 'write option names without leading dashes');
    if (RUNNER_OPTIONS.has(k)) throw bad(f, `is set by the runner; remove it`);
    if (typeof v === 'string' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw bad(f, 'must be a finite number');
      out[k] = v;
    } else if (Array.isArray(v) && v.every((e) => typeof e === 'string' || (typeof e === 'number' && Number.isFinite(e)))) out[k] = v as (string | number)[];
    else throw bad(f, `must be a string, number, boolean or a list of them, not ${JSON.stringify(v)}`);
  }
  return out;
}

function inputShapeAt(field: string, x: unknown): string[] {
  if (x === undefined || x === null) return [];
  // [1,3,32,32] is one shape; ["a:1,3,32,32", "b:1,10"] several named ones; "1,3,32,32" one.
  if (Array.isArray(x) && x.every((e) => typeof e === 'number')) return [x.join(',')];
  if (typeof x === 'string') return [x];
  if (Array.isArray(x) && x.every((e) => typeof e === 'string')) return x as string[];
  throw bad(field, 'must be a shape like [1,3,32,32], "1,3,32,32", or a list of "input:1,3,32,32"');
}

/**
 * Checks a parsed recipe document and returns it with defaults filled in and paths resolved
 * against `baseDir`. @throws RECIPE_INVALID naming the field
 */
export function validateRecipe(doc: unknown, baseDir: string, known: readonly string[] = STEP_COMMANDS): Recipe {
  if (!isObject(doc)) throw bad('(recipe)', 'must be a mapping with model, data and steps');
  const allowed = new Set(['version', 'name', 'model', 'data', 'inputShape', 'steps', 'description']);
  for (const k of Object.keys(doc)) if (!allowed.has(k)) throw bad(k, `unknown field (known: ${[...allowed].join(', ')})`);
  if (doc.version !== undefined && doc.version !== 1) throw bad('version', `must be 1, not ${JSON.stringify(doc.version)}`);
  let name = 'run';
  if (doc.name !== undefined) {
    if (typeof doc.name !== 'string' || !NAME_RE.test(doc.name)) throw bad('name', 'must be 1-64 characters of letters, digits, ".", "_" or "-"');
    name = doc.name;
  }
  let model: string | BuiltinModel;
  if (typeof doc.model === 'string' && doc.model) {
    model = isAbsolute(doc.model) ? doc.model : resolve(baseDir, doc.model);
  } else if (isObject(doc.model)) {
    const m = doc.model;
    for (const k of Object.keys(m))
      if (!['builtin', 'seed', 'build', 'train'].includes(k)) throw bad(`model.${k}`, 'unknown field (known: builtin, seed, build, train)');
    if (typeof m.builtin !== 'string' || !m.builtin) throw bad('model.builtin', 'must name a reference network (`sculpt models list`)');
    if (m.seed !== undefined && (typeof m.seed !== 'number' || !Number.isInteger(m.seed) || m.seed < 0))
      throw bad('model.seed', 'must be a non-negative integer');
    model = {
      builtin: m.builtin,
      seed: (m.seed as number | undefined) ?? 0,
      build: optionsAt('model.build', m.build),
      train: m.train === undefined || m.train === null ? null : optionsAt('model.train', m.train),
    };
  } else {
    throw bad('model', 'must be a model file path or { builtin: <network> }');
  }
  let data: string | null = null;
  if (doc.data !== undefined && doc.data !== null) {
    if (typeof doc.data !== 'string' || !doc.data) throw bad('data', 'must be a data spec such as mnist or npy:x.npy,y.npy');
    data = resolveDataSpec(doc.data, baseDir);
  }
  if (typeof model !== 'string' && model.train && !data) throw bad('model.train', 'training the built-in model needs a top-level data spec');
  const inputShape = inputShapeAt('inputShape', doc.inputShape);
  if (!Array.isArray(doc.steps) || doc.steps.length === 0) throw bad('steps', 'must be a non-empty list of steps such as - prune: { flops-target: 0.5 }');
  const steps: RecipeStep[] = [];
  const names = new Set<string>();
  doc.steps.forEach((s: unknown, i: number) => {
    const f = `steps[${i}]`;
    if (!isObject(s)) throw bad(f, 'must be a mapping with one command, e.g. { prune: { flops-target: 0.5 } }');
    const keys = Object.keys(s).filter((k) => k !== 'name');
    if (keys.length !== 1) throw bad(f, `must name exactly one command (found ${keys.length ? keys.join(', ') : 'none'}); commands: ${known.join(', ')}`);
    const command = keys[0]!;
    if (!known.includes(command)) throw bad(`${f}.${command}`, `is not a command a step can run (known: ${known.join(', ')})`);
    let stepName = `${String(i + 1).padStart(2, '0')}-${command}`;
    if (s.name !== undefined) {
      if (typeof s.name !== 'string' || !NAME_RE.test(s.name)) throw bad(`${f}.name`, 'must be 1-64 characters of letters, digits, ".", "_" or "-"');
      stepName = `${String(i + 1).padStart(2, '0')}-${s.name}`;
    }
    if (names.has(stepName)) throw bad(`${f}.name`, `repeats the step name ${stepName}`);
    names.add(stepName);
    steps.push({ name: stepName, command, options: optionsAt(`${f}.${command}`, s[command]) });
  });
  return { version: 1, name, model, data, inputShape, steps, baseDir };
}

/** File-based data specs (`npy:a,b`, `idx:a,b`, `folder:d`) resolve against the recipe's folder. */
export function resolveDataSpec(spec: string, baseDir: string): string {
  const m = /^(npy|idx|folder):(.*)$/.exec(spec);
  if (!m) return spec;
  const parts = m[2]!.split(',').map((p) => (p && !isAbsolute(p) ? resolve(baseDir, p) : p));
  return `${m[1]}:${parts.join(',')}`;
}

/** Reads a recipe file (.json, .yaml or .yml). @throws RECIPE_INVALID, FILE_READ_FAILED */
export function readRecipe(path: string, known?: readonly string[]): Recipe {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CompilerError('FILE_READ_FAILED', `cannot read the recipe ${path}: ${(e as Error).message}`, { cause: e });
  }
  let doc: unknown;
  const ext = extname(path).toLowerCase();
  try {
    doc = ext === '.json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true });
  } catch (e) {
    throw new CompilerError('RECIPE_INVALID', `${path} is not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`, {
      cause: e,
      hint: 'recipes are JSON (.json) or YAML (.yaml/.yml)',
    });
  }
  return validateRecipe(doc, dirname(resolve(path)), known);
}
