/**
 * The `sculpt run` engine: runs a recipe's steps in order, one folder per step under the run
 * folder, and records a manifest (input hashes, tool version, options, timings, results).
 * A rerun skips every step whose inputs (content hashes of the models it reads, the data, its
 * options, the tool version) are unchanged and whose outputs are still on disk with the
 * recorded hashes, so a killed pipeline loses at most the step it was in.
 *
 * The runner does not know the commands' internals: it is handed an `exec` that runs one
 * `sculpt` command line (the CLI runs each in a child process) and a `check` that only parses
 * one (so a recipe whose options the CLI rejects fails before any work).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CompilerError } from '../errors.js';
import { writeReportFile } from '../report/write.js';
import type { OptionValue, Recipe, RecipeStep } from './recipe.js';

export const MANIFEST_SCHEMA_VERSION = 1;

export interface ExecResult {
  code: number;
  stdout: string;
}

export interface RunHooks {
  /** Runs `sculpt <argv...>`; stdout is captured (JSON with --json), stderr passes through. */
  exec(argv: string[]): Promise<ExecResult>;
  /** Parses `sculpt <argv...>` without running it: an error message, or null when valid. */
  check(argv: string[]): Promise<string | null>;
  /** One line of progress (stderr). */
  log(line: string): void;
}

export interface RunOptions {
  /** The run folder (created). */
  outDir: string;
  /** Ignore the manifest and redo every step. */
  fresh?: boolean;
  toolVersion: string;
}

export type StepStatus = 'done' | 'skipped' | 'failed' | 'gate-failed';

export interface StepRecord {
  name: string;
  command: string;
  /** The command line as run (paths as on this machine). */
  argv: string[];
  /** Hash of everything the step's output depends on. */
  key: string;
  status: StepStatus;
  exitCode: number;
  /** Seconds the step took when it last ran. */
  seconds: number;
  /** Files the step wrote, relative to the run folder → sha256. */
  outputs: Record<string, string>;
  /** The command's --json output (null when it printed none). */
  result: unknown;
}

export interface RunManifest {
  schemaVersion: number;
  kind: 'sculpt-run';
  tool: { name: 'sculpt'; version: string };
  recipe: { name: string; steps: { name: string; command: string; options: Record<string, OptionValue> }[] };
  inputs: { model: { source: string; sha256: string | null }; data: { spec: string | null; key: string | null } };
  steps: StepRecord[];
  status: 'running' | 'done' | 'failed' | 'gate-failed';
  summary: RunSummary | null;
}

export interface RunSummary {
  /** The model every later step started from (the recipe's input or the built one). */
  original: string;
  /** The last model a step produced. */
  final: string;
  before: { params: number | null; flops: number | null; top1: number | null; latencyMs: number | null };
  after: { params: number | null; flops: number | null; top1: number | null; latencyMs: number | null };
  /** Gates from validate steps, as validate reported them. */
  gates: { gate: string; passed: boolean; message: string }[];
  /** Paths of the review files of the last diff step, relative to the run folder. */
  review: { html: string | null; json: string | null; markdown: string | null };
  seconds: number;
}

/** How the runner feeds each command. */
interface CommandKind {
  /** Produces a model (`-o`). */
  model: boolean;
  /** Takes --data (the recipe's, unless the step gives its own). */
  data: boolean;
  /** Takes --input-shape. */
  inputShape: boolean;
}

const KINDS: Record<string, CommandKind> = {
  prune: { model: true, data: false, inputShape: true },
  train: { model: true, data: true, inputShape: true },
  tissue: { model: true, data: false, inputShape: true },
  transform: { model: true, data: false, inputShape: true },
  onestep: { model: true, data: true, inputShape: true },
  search: { model: true, data: true, inputShape: true },
  validate: { model: false, data: true, inputShape: true },
  diff: { model: false, data: false, inputShape: true },
};

/** sha256 of a file, read in 8 MiB chunks. */
export function hashFile(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** A model file and the external data files next to it that it may name (all hashed). */
function hashModel(path: string): string {
  const h = createHash('sha256').update(hashFile(path));
  const data = `${path}.data`;
  if (existsSync(data)) h.update(hashFile(data));
  return h.digest('hex');
}

/** A key for a data spec: built-in names as they are; files by content; folders by listing. */
export function dataKey(spec: string | null): string | null {
  if (spec === null) return null;
  const m = /^(npy|idx|folder):(.*)$/.exec(spec);
  if (!m) return spec;
  const h = createHash('sha256').update(spec);
  for (const p of m[2]!.split(',').filter(Boolean)) {
    if (!existsSync(p)) {
      h.update('missing');
      continue;
    }
    if (statSync(p).isDirectory()) {
      const walk = (d: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          const q = join(d, e.name);
          if (e.isDirectory()) walk(q);
          else if (e.isFile()) {
            const s = statSync(q);
            h.update(`${relative(p, q)}:${s.size}:${s.mtimeMs}\n`);
          }
        }
      };
      walk(p);
    } else h.update(hashFile(p));
  }
  return `${m[1]}:${h.digest('hex').slice(0, 32)}`;
}

/** Recipe options → command-line words: `true` → --k, `false` → --no-k, lists repeat. */
export function optionArgs(options: Record<string, OptionValue>, subst: (s: string) => string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(options)) {
    const flag = k.length === 1 ? `-${k}` : `--${k}`;
    if (v === true) out.push(flag);
    else if (v === false) out.push(`--no-${k}`);
    else if (Array.isArray(v)) for (const e of v) out.push(flag, subst(String(e)));
    else out.push(flag, subst(String(v)));
  }
  return out;
}

interface PlannedStep {
  step: RecipeStep;
  dir: string;
  argvs: string[][];
  /** Files written, relative to the run folder. */
  outputs: string[];
  /** Model this step produces (absolute), if any. */
  model: string | null;
  /** Input model files whose content the step depends on. */
  reads: string[];
  /** Validate's result file, for later diffs. */
}

function lock(outDir: string): () => void {
  const path = join(outDir, '.lock');
  const take = (): boolean => {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return false;
    }
  };
  if (!take()) {
    const pid = Number(readFileSync(path, 'utf8'));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = Number.isInteger(pid) && pid > 0;
    } catch {
      alive = false;
    }
    if (alive)
      throw new CompilerError('INVALID_OPTION', `another sculpt run (pid ${pid}) is using ${outDir}`, { hint: 'wait for it, or give another --out-dir' });
    rmSync(path, { force: true });
    if (!take()) throw new CompilerError('INVALID_OPTION', `another sculpt run took ${outDir}`, { hint: 'give another --out-dir' });
  }
  return () => rmSync(path, { force: true });
}

function readManifest(path: string): RunManifest | null {
  if (!existsSync(path)) return null;
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as RunManifest;
    return m.kind === 'sculpt-run' && m.schemaVersion === MANIFEST_SCHEMA_VERSION ? m : null;
  } catch {
    return null;
  }
}

function jsonOf(stdout: string): unknown {
  const t = stdout.trim();
  if (!t) return null;
  try {
    return JSON.parse(t);
  } catch {
    return { text: t };
  }
}

/** Validation report fields the summary reads (duck-typed; null when absent). */
function measurement(x: unknown): { params: number | null; flops: number | null; top1: number | null; latencyMs: number | null } {
  const m = (x ?? {}) as { params?: number; flops?: number; accuracy?: { top1?: number } | null; latency?: { batch1?: { medianMs?: number } } | null };
  return {
    params: m.params ?? null,
    flops: m.flops ?? null,
    top1: m.accuracy?.top1 ?? null,
    latencyMs: m.latency?.batch1?.medianMs ?? null,
  };
}

/**
 * Runs the recipe. Returns the manifest (also written to `<outDir>/manifest.json` after every
 * step). @throws RECIPE_INVALID before any work when the CLI rejects a step's options;
 * STEP_FAILED when a step exits with an error (the manifest says which)
 */
export async function runRecipe(recipe: Recipe, hooks: RunHooks, opts: RunOptions): Promise<RunManifest> {
  const t0 = Date.now();
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const manifestPath = join(outDir, 'manifest.json');
  const unlock = lock(outDir);
  try {
    const previous = opts.fresh ? null : readManifest(manifestPath);
    const prevSteps = new Map((previous?.steps ?? []).map((s) => [s.name, s]));

    // 1. Plan every command line, and check each with the CLI's own parser before any work.
    const plans: PlannedStep[] = [];
    let original: string;
    if (typeof recipe.model === 'string') {
      if (!existsSync(recipe.model))
        throw new CompilerError('FILE_NOT_FOUND', `the recipe's model ${recipe.model} does not exist`, {
          hint: 'model: paths are relative to the recipe file',
        });
      original = recipe.model;
    } else {
      const b = recipe.model;
      const dir = join(outDir, '00-model');
      const init = join(dir, b.train ? 'init.onnx' : 'model.onnx');
      const argvs = [['models', 'build', b.builtin, '-o', init, '--seed', String(b.seed), ...optionArgs(b.build, (s) => s)]];
      const outputs = [relative(outDir, init)];
      original = init;
      if (b.train) {
        const trained = join(dir, 'model.onnx');
        argvs.push(['train', init, '-o', trained, '--data', recipe.data!, '--json', ...optionArgs(b.train, (s) => s)]);
        outputs.push(relative(outDir, trained));
        original = trained;
      }
      plans.push({
        step: { name: '00-model', command: 'models', options: { builtin: b.builtin, seed: b.seed } },
        dir,
        argvs,
        outputs,
        model: original,
        reads: [],
      });
    }
    let current = original;
    let lastValidation: string | null = null;
    for (const step of recipe.steps) {
      const kind = KINDS[step.command];
      if (!kind) throw new CompilerError('RECIPE_INVALID', `${step.name}: the runner cannot run ${step.command}`);
      const dir = join(outDir, step.name);
      const input = current;
      const subst = (s: string): string => (s === '$original' ? original : s === '$previous' ? input : s);
      const opt = optionArgs(step.options, subst);
      const common: string[] = [];
      if (kind.data && recipe.data && step.options.data === undefined) common.push('--data', recipe.data);
      if (kind.inputShape && step.options['input-shape'] === undefined) for (const s of recipe.inputShape) common.push('--input-shape', s);
      const reads = [
        input,
        ...Object.values(step.options)
          .flatMap((v) => (Array.isArray(v) ? v : [v]))
          .filter((v) => v === '$original')
          .map(() => original),
      ];
      let argvs: string[][];
      let outputs: string[];
      let model: string | null = null;
      if (step.command === 'diff') {
        const html = join(dir, 'diff.html');
        const json = join(dir, 'diff.json');
        const md = join(dir, 'diff.md');
        const val = lastValidation ? ['--validation', lastValidation] : [];
        argvs = [
          ['diff', original, input, '-f', 'html', '-o', html, ...val, ...common, ...opt],
          ['diff', original, input, '-f', 'json', '-o', json, ...common, ...opt],
          ['diff', original, input, '-f', 'markdown', '-o', md, ...val, ...common, ...opt],
        ];
        outputs = [html, json, md].map((p) => relative(outDir, p));
        reads.push(original);
        if (lastValidation) reads.push(lastValidation);
      } else if (step.command === 'validate') {
        const rep = join(dir, 'validation.json');
        argvs = [['validate', input, '--baseline', original, '--report', 'json', '-o', rep, '--json', ...common, ...opt]];
        outputs = [relative(outDir, rep)];
        reads.push(original);
        lastValidation = rep;
      } else {
        const out = join(dir, 'model.onnx');
        const extra: string[] = [];
        if (step.command === 'prune') extra.push('--report', join(dir, 'prune.json'));
        if (step.command === 'onestep') extra.push('--work-dir', join(dir, 'work'));
        argvs = [[step.command, input, '-o', out, '--json', ...extra, ...common, ...opt]];
        outputs = [relative(outDir, out), ...(step.command === 'prune' ? [relative(outDir, join(dir, 'prune.json'))] : [])];
        model = out;
        current = out;
      }
      plans.push({ step, dir, argvs, outputs, model, reads });
    }
    for (const p of plans) {
      for (const argv of p.argvs) {
        const problem = await hooks.check(argv);
        if (problem)
          throw new CompilerError('RECIPE_INVALID', `${p.step.name}: sculpt ${p.step.command} rejects these options: ${problem}`, {
            where: p.step.name,
            hint: `see sculpt ${p.step.command === 'models' ? 'models build' : p.step.command} --help; recipe options are the command's long option names`,
          });
      }
    }

    // 2. Run, skipping what is still valid.
    const manifest: RunManifest = {
      schemaVersion: MANIFEST_SCHEMA_VERSION,
      kind: 'sculpt-run',
      tool: { name: 'sculpt', version: opts.toolVersion },
      recipe: { name: recipe.name, steps: recipe.steps.map((s) => ({ name: s.name, command: s.command, options: s.options })) },
      inputs: {
        model:
          typeof recipe.model === 'string'
            ? { source: recipe.model, sha256: hashModel(recipe.model) }
            : { source: `builtin:${recipe.model.builtin}`, sha256: null },
        data: { spec: recipe.data, key: dataKey(recipe.data) },
      },
      steps: [],
      status: 'running',
      summary: null,
    };
    const save = (): void => writeReportFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    const hashes = new Map<string, string>();
    const contentOf = (p: string): string => {
      let h = hashes.get(p);
      if (!h) {
        h = existsSync(p) ? hashModel(p) : 'missing';
        hashes.set(p, h);
      }
      return h;
    };
    let gateFailed = false;
    for (const [i, p] of plans.entries()) {
      // What the output depends on: the options and the content of what the step reads; run
      // folder paths are left out so a moved run folder still resumes.
      const key = createHash('sha256')
        .update(
          JSON.stringify({
            version: opts.toolVersion,
            command: p.step.command,
            options: p.step.options,
            reads: p.reads.map((r) => contentOf(r)),
            data: manifest.inputs.data.key,
            inputShape: recipe.inputShape,
          }),
        )
        .digest('hex');
      const last = prevSteps.get(p.step.name);
      const intact =
        last &&
        last.key === key &&
        (last.status === 'done' || last.status === 'skipped') &&
        Object.entries(last.outputs).every(([f, h]) => existsSync(join(outDir, f)) && hashFile(join(outDir, f)) === h);
      const label = `[${i + 1}/${plans.length}] ${p.step.name}`;
      if (intact) {
        hooks.log(`${label}: unchanged since the last run, skipped`);
        manifest.steps.push({ ...last, status: 'skipped' });
        save();
        continue;
      }
      hooks.log(`${label}: sculpt ${p.argvs[0]!.slice(0, 1).join(' ')} …`);
      // A step that reruns starts from an empty folder: nothing stale is mixed in.
      rmSync(p.dir, { recursive: true, force: true });
      mkdirSync(p.dir, { recursive: true });
      const s0 = Date.now();
      let code = 0;
      let result: unknown = null;
      for (const argv of p.argvs) {
        const r = await hooks.exec(argv);
        code = r.code;
        result = jsonOf(r.stdout) ?? result;
        if (code !== 0) break;
      }
      const record: StepRecord = {
        name: p.step.name,
        command: p.step.command,
        argv: p.argvs.flatMap((a, j) => (j ? ['&&', 'sculpt', ...a] : ['sculpt', ...a])),
        key,
        status: code === 0 ? 'done' : code === 3 ? 'gate-failed' : 'failed',
        exitCode: code,
        seconds: (Date.now() - s0) / 1000,
        outputs: {},
        result,
      };
      for (const f of p.outputs) {
        const abs = join(outDir, f);
        if (existsSync(abs)) record.outputs[f] = hashFile(abs);
      }
      manifest.steps.push(record);
      if (code === 3) {
        gateFailed = true;
        hooks.log(`${label}: a quality gate failed (exit 3); the artifacts so far are kept in ${outDir}`);
        break;
      }
      if (code !== 0) {
        manifest.status = 'failed';
        save();
        throw new CompilerError('STEP_FAILED', `step ${p.step.name} (sculpt ${p.step.command}) failed with exit code ${code}`, {
          where: p.step.name,
          hint: `its error is printed above; the finished steps are kept in ${outDir} and a rerun resumes from ${p.step.name}`,
        });
      }
      const missing = p.outputs.filter((f) => !record.outputs[f]);
      if (missing.length) {
        manifest.status = 'failed';
        save();
        throw new CompilerError('STEP_FAILED', `step ${p.step.name} exited 0 but did not write ${missing.join(', ')}`, { where: p.step.name });
      }
      save();
    }

    // 3. Summary: the first validate step's baseline is "before", the last one's model "after".
    const validations = manifest.steps.filter((s) => s.command === 'validate' && s.result);
    const lastVal = validations.at(-1)?.result as
      { baseline?: unknown; model?: unknown; gates?: { gate: string; passed: boolean; message: string }[] } | undefined;
    const lastModel = [...plans].reverse().find((p) => p.model && manifest.steps.some((s) => s.name === p.step.name))?.model ?? original;
    const lastDiff = [...manifest.steps].reverse().find((s) => s.command === 'diff');
    const diffFile = (ext: string): string | null => (lastDiff ? (Object.keys(lastDiff.outputs).find((f) => f.endsWith(ext)) ?? null) : null);
    const before = measurement(lastVal?.baseline);
    const after = measurement(lastVal?.model);
    // Without a validate step the diff still knows the sizes.
    const diffJson = diffFile('.json');
    if (diffJson && (before.params === null || after.params === null)) {
      const d = JSON.parse(readFileSync(join(outDir, diffJson), 'utf8')) as { a: { params: number; flops: number }; b: { params: number; flops: number } };
      before.params ??= d.a.params;
      before.flops ??= d.a.flops;
      after.params ??= d.b.params;
      after.flops ??= d.b.flops;
    }
    manifest.summary = {
      original,
      final: lastModel,
      before,
      after,
      gates: validations.flatMap((v) => (v.result as { gates?: { gate: string; passed: boolean; message: string }[] }).gates ?? []),
      review: { html: diffFile('.html'), json: diffFile('.json'), markdown: diffFile('.md') },
      seconds: (Date.now() - t0) / 1000,
    };
    manifest.status = gateFailed ? 'gate-failed' : 'done';
    save();
    return manifest;
  } finally {
    unlock();
  }
}
