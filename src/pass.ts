/**
 * Pass infrastructure: the Pass interface and the pass manager, which runs passes in
 * order, keeps node order topological, verifies the IR after every pass that changed it,
 * and records timings, statistics and remarks (why a rewrite did not apply).
 */
import { AnalysisManager } from './analysis/manager.js';
import type { PreservedAnalyses } from './analysis/manager.js';
import { CompilerError } from './errors.js';
import type { Model } from './ir/core.js';
import { printModel } from './ir/printer.js';
import { sortTopologically } from './ir/toposort.js';
import { verifyModel } from './ir/verify.js';

export interface PassResult {
  readonly changed: boolean;
  readonly stats?: Record<string, number>;
  /** Analyses still valid after a change (by name, e.g. ['channel-groups']); all others are dropped. Ignored when unchanged. */
  readonly preserved?: PreservedAnalyses;
}

/** A note from a pass: why something was or was not rewritten (`--explain`). */
export interface Remark { readonly pass: string; readonly where: string; readonly message: string }

export interface PassContext {
  /** Pass-specific options (from the CLI or the caller). */
  readonly options: Record<string, unknown>;
  remark(where: string, message: string): void;
  /** Cached analyses of the model (shapes, cost, channel groups): ask here rather than recomputing. */
  readonly analyses: AnalysisManager;
}

export interface Pass {
  /** kebab-case, used on the CLI: --passes fold-batchnorm */
  readonly name: string;
  /** One line, shown by `sculpt passes`. */
  readonly summary: string;
  /** Throws PRECONDITION_FAILED when the model is out of scope. */
  requires?(model: Model): void;
  run(model: Model, ctx: PassContext): PassResult;
}

export interface PassRecord { name: string; changed: boolean; ms: number; stats: Record<string, number> }

export interface RunPassesOptions {
  /** Verify after each changed pass (default true). */
  verify?: boolean;
  options?: Record<string, unknown>;
  /** Called with printed IR after each pass that changed the model. */
  printAfterChange?: (pass: string, text: string) => void;
  /** The analysis manager of this model (a fresh one when absent); invalidated after each changing pass unless preserved. */
  analyses?: AnalysisManager;
}

export interface RunPassesResult { passes: PassRecord[]; remarks: Remark[]; changed: boolean }

/** Runs passes in order. @throws the pass's own errors, VERIFY_FAILED wrapping verifier problems */
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
    const r = p.run(model, ctx);
    if (r.changed) {
      sortTopologically(model.graph);
      if (opts.verify !== false) {
        try {
          verifyModel(model, `after pass ${p.name}`);
        } catch (e) {
          throw new CompilerError('VERIFY_FAILED', `pass ${p.name} left invalid IR: ${(e as Error).message}`, { cause: e, where: (e as CompilerError).where, hint: 'this is a bug in the pass; please report it with the model' });
        }
      }
      opts.printAfterChange?.(p.name, printModel(model));
    }
    // An unchanged model keeps every analysis (MLIR's markAllAnalysesPreserved).
    analyses.afterPass(r.changed ? r.preserved : 'all');
    records.push({ name: p.name, changed: r.changed, ms: performance.now() - t0, stats: { ...(r.stats ?? {}) } });
  }
  return { passes: records, remarks, changed: records.some((r) => r.changed) };
}
