/**
 * Pass infrastructure: the Pass interface, typed pass definitions (options the command
 * line can set, MLIR's `Option<T>` idea) and the pass manager, which runs passes in order,
 * keeps node order topological, verifies the IR after every pass that changed it (graph
 * outputs kept unless the pass says otherwise), and records timings, statistics, typed
 * reports and remarks (why a rewrite did not apply).
 *
 * A pass is made by a factory that takes its typed options and returns a `Pass<R>` whose
 * `run` returns its typed report `R` in the result: no shared options bag, no callbacks.
 *
 * ```ts
 * const r = runPass(model, pruneChannelsPass({ keep }));   // r.report: ApplyResult
 * ```
 */
import { AnalysisManager } from './analysis/manager.js';
import type { PreservedAnalyses } from './analysis/manager.js';
import { CompilerError } from './errors.js';
import type { Model } from './ir/core.js';
import { printModel } from './ir/printer.js';
import { sortTopologically } from './ir/toposort.js';
import { lostOutputs, verifyModel } from './ir/verify.js';

export interface PassResult<R = unknown> {
  readonly changed: boolean;
  readonly stats?: Record<string, number>;
  /** The pass's typed report (what it did, for the caller or the CLI to print). */
  readonly report?: R;
  /** Analyses still valid after a change (by name, e.g. ['channel-groups']); all others are dropped. Ignored when unchanged. */
  readonly preserved?: PreservedAnalyses;
}

/** A note from a pass: why something was or was not rewritten (`--explain`). */
export interface Remark {
  readonly pass: string;
  readonly where: string;
  readonly message: string;
}

export interface PassContext {
  remark(where: string, message: string): void;
  /** Cached analyses of the model (shapes, cost, channel groups): ask here rather than recomputing. */
  readonly analyses: AnalysisManager;
  /**
   * @deprecated The untyped options bag of old-style passes (`() => Pass` factories that
   * read `ctx.options`). New passes take typed options in their factory; see
   * docs/architecture.md ("Adding a pass") for the conversion.
   */
  readonly options: Record<string, unknown>;
}

export interface Pass<R = unknown> {
  /** kebab-case, used on the CLI: --passes fold-batchnorm */
  readonly name: string;
  /** One line, shown by `sculpt passes`. */
  readonly summary: string;
  /** Throws PRECONDITION_FAILED when the model is out of scope. */
  requires?(model: Model): void;
  /** True for a pass that may drop graph outputs (the manager checks that others keep them). */
  readonly removesOutputs?: boolean;
  run(model: Model, ctx: PassContext): PassResult<R>;
}

// --- typed options settable from the command line -------------------------------------

/** One option a pass accepts on the command line (`--pass-option <pass>.<key>=<text>`). */
export interface PassOption<O> {
  readonly describe: string;
  /** Parses `text` into the draft options. @throws INVALID_OPTION naming the option */
  readonly set: (draft: O, text: string, key: string) => void;
}

/**
 * A registered pass: its name and summary, the options the command line may set, and the
 * factory. Options that only a program can give (an analysis object, a Map) are typed in
 * `O` but have no `cli` entry.
 */
export interface PassDefinition<O extends object = object, R = unknown> {
  readonly name: string;
  readonly summary: string;
  readonly cli: { readonly [key: string]: PassOption<O> };
  /** Old-style passes only (see `legacyPassDefinition`): any key is passed through. */
  readonly acceptsAnyOption?: boolean;
  create(options: O): Pass<R>;
}

function bad(key: string, text: string, want: string): CompilerError {
  return new CompilerError('INVALID_OPTION', `pass option ${key}=${text}: expected ${want}`, {
    where: key,
    hint: "list a pass's options with `sculpt passes --json`",
  });
}

/** Parsers for `PassOption.set`, each writing one field of the draft options. */
export const passOption = {
  number<O>(field: keyof O, describe: string, range: { min?: number; max?: number; integer?: boolean } = {}): PassOption<O> {
    return {
      describe,
      set: (d, text, key) => {
        const x = Number(text);
        const want = `${range.integer ? 'an integer' : 'a number'}${range.min !== undefined ? ` >= ${range.min}` : ''}${range.max !== undefined ? ` <= ${range.max}` : ''}`;
        if (
          text.trim() === '' ||
          !Number.isFinite(x) ||
          (range.integer && !Number.isInteger(x)) ||
          (range.min !== undefined && x < range.min) ||
          (range.max !== undefined && x > range.max)
        )
          throw bad(key, text, want);
        (d as Record<keyof O, unknown>)[field] = x;
      },
    };
  },
  boolean<O>(field: keyof O, describe: string): PassOption<O> {
    return {
      describe,
      set: (d, text, key) => {
        if (text !== 'true' && text !== 'false') throw bad(key, text, 'true or false');
        (d as Record<keyof O, unknown>)[field] = text === 'true';
      },
    };
  },
  string<O>(field: keyof O, describe: string): PassOption<O> {
    return {
      describe,
      set: (d, text) => {
        (d as Record<keyof O, unknown>)[field] = text;
      },
    };
  },
  choice<O>(field: keyof O, choices: readonly string[], describe: string): PassOption<O> {
    return {
      describe: `${describe} (${choices.join(' | ')})`,
      set: (d, text, key) => {
        if (!choices.includes(text)) throw bad(key, text, `one of ${choices.join(', ')}`);
        (d as Record<keyof O, unknown>)[field] = text;
      },
    };
  },
  /** Comma-separated list of strings. */
  list<O>(field: keyof O, describe: string): PassOption<O> {
    return {
      describe: `${describe} (comma-separated)`,
      set: (d, text) => {
        (d as Record<keyof O, unknown>)[field] = text
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      },
    };
  },
};

/**
 * Builds a pass's typed options from `key=text` pairs of the command line.
 * @throws INVALID_OPTION for a key the pass does not declare, or text its parser refuses
 */
export function parsePassOptions<O extends object>(def: PassDefinition<O>, raw: Readonly<Record<string, string>>): O {
  const draft = {} as O;
  for (const [key, text] of Object.entries(raw)) {
    const opt = def.cli[key];
    if (!opt && def.acceptsAnyOption) {
      let value: unknown = text === 'true' ? true : text === 'false' ? false : text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
      if (/^\s*[[{]/.test(text)) {
        try {
          value = JSON.parse(text);
        } catch {
          throw new CompilerError('INVALID_OPTION', `pass option ${def.name}.${key}: "${text}" is not valid JSON`, { where: `${def.name}.${key}` });
        }
      }
      (draft as Record<string, unknown>)[key] = value;
      continue;
    }
    if (!opt) {
      const known = Object.keys(def.cli);
      throw new CompilerError('INVALID_OPTION', `pass ${def.name} has no option "${key}"`, {
        where: `${def.name}.${key}`,
        hint: known.length ? `its options: ${known.join(', ')}` : `${def.name} takes no options`,
      });
    }
    opt.set(draft, text, `${def.name}.${key}`);
  }
  return draft;
}

/**
 * Adapter for old-style passes (a `() => Pass` factory whose `run` reads `ctx.options`):
 * a definition that accepts any `key=value` and hands the values to the pass as its
 * options bag (numbers and booleans parsed). Convert such a pass by giving its factory a
 * typed options parameter and a `PassDefinition` (see passes/fold-batchnorm.ts).
 */
export function legacyPassDefinition(name: string, factory: () => Pass): PassDefinition<Record<string, unknown>> {
  const probe = factory();
  return {
    name,
    summary: probe.summary,
    cli: {},
    acceptsAnyOption: true,
    create(options) {
      const inner = factory();
      if (Object.keys(options).length === 0) return inner;
      return { ...inner, run: (model, ctx) => inner.run(model, { ...ctx, options: { ...ctx.options, ...options } }) };
    },
  };
}

// --- the pass manager -----------------------------------------------------------------

export interface PassRecord {
  name: string;
  changed: boolean;
  ms: number;
  stats: Record<string, number>;
  report?: unknown;
}

export interface RunPassesOptions {
  /** Verify after each changed pass (default true). */
  verify?: boolean;
  /** @deprecated the options bag of old-style passes (`ctx.options`); typed passes ignore it. */
  options?: Record<string, unknown>;
  /** Called with printed IR after each pass that changed the model. */
  printAfterChange?: (pass: string, text: string) => void;
  /** The analysis manager of this model (a fresh one when absent); invalidated after each changing pass unless preserved. */
  analyses?: AnalysisManager;
}

export interface RunPassesResult {
  passes: PassRecord[];
  remarks: Remark[];
  changed: boolean;
}

/** Runs passes in order. @throws the pass's own errors, VERIFY_FAILED wrapping verifier problems (OUTPUT_LOST among them) */
export function runPasses(model: Model, passes: readonly Pass[], opts: RunPassesOptions = {}): RunPassesResult {
  const remarks: Remark[] = [];
  const records: PassRecord[] = [];
  const analyses = opts.analyses?.model === model ? opts.analyses : new AnalysisManager(model, opts.analyses?.options);
  for (const p of passes) {
    const ctx: PassContext = {
      options: opts.options ?? {},
      remark: (where, message) => remarks.push({ pass: p.name, where, message }),
      analyses,
    };
    const t0 = performance.now();
    p.requires?.(model);
    const outputsBefore = model.graph.outputs.map((v) => v.name);
    const r = p.run(model, ctx);
    if (r.changed) {
      sortTopologically(model.graph);
      if (opts.verify !== false) {
        try {
          const lost = p.removesOutputs ? [] : lostOutputs(model, outputsBefore);
          if (lost.length > 0)
            throw new CompilerError('OUTPUT_LOST', `after pass ${p.name}: graph output(s) ${lost.map((n) => `"${n}"`).join(', ')} disappeared`, {
              where: lost[0],
            });
          verifyModel(model, `after pass ${p.name}`);
        } catch (e) {
          throw new CompilerError('VERIFY_FAILED', `pass ${p.name} left invalid IR: ${(e as Error).message}`, {
            cause: e,
            where: (e as CompilerError).where,
            hint: 'this is a bug in the pass; please report it with the model',
          });
        }
      }
      opts.printAfterChange?.(p.name, printModel(model));
    }
    // An unchanged model keeps every analysis (MLIR's markAllAnalysesPreserved).
    analyses.afterPass(r.changed ? r.preserved : 'all');
    records.push({ name: p.name, changed: r.changed, ms: performance.now() - t0, stats: { ...(r.stats ?? {}) }, report: r.report });
  }
  return { passes: records, remarks, changed: records.some((r) => r.changed) };
}

export interface RunPassResult<R> extends RunPassesResult {
  /** The pass's typed report. */
  readonly report: R | undefined;
}

/** Runs one pass through the manager (verification, remarks) and returns its typed report. */
export function runPass<R>(model: Model, pass: Pass<R>, opts: RunPassesOptions = {}): RunPassResult<R> {
  const r = runPasses(model, [pass as Pass], opts);
  return { ...r, report: r.passes[0]!.report as R | undefined };
}
