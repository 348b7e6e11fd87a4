/**
 * Pass infrastructure: the Pass interface and the pass manager, which runs passes in
 * order, keeps node order topological, verifies the IR after every pass that changed it,
 * and records timings, statistics and remarks (why a rewrite did not apply).
 */
import { CompilerError } from './errors.js';
import type { Model } from './ir/core.js';
import { printModel } from './ir/printer.js';
import { sortTopologically } from './ir/toposort.js';
import { lostOutputs, verifyModel } from './ir/verify.js';

export interface PassResult { readonly changed: boolean; readonly stats?: Record<string, number> }

/** A note from a pass: why something was or was not rewritten (`--explain`). */
export interface Remark { readonly pass: string; readonly where: string; readonly message: string }

export interface PassContext {
  /** Pass-specific options (from the CLI or the caller). */
  readonly options: Record<string, unknown>;
  remark(where: string, message: string): void;
}

export interface Pass {
  /** kebab-case, used on the CLI: --passes fold-batchnorm */
  readonly name: string;
  /** One line, shown by `sculpt passes`. */
  readonly summary: string;
  /** Throws PRECONDITION_FAILED when the model is out of scope. */
  requires?(model: Model): void;
  /** True for a pass that may drop graph outputs (the manager checks that others keep them). */
  readonly removesOutputs?: boolean;
  run(model: Model, ctx: PassContext): PassResult;
}

export interface PassRecord { name: string; changed: boolean; ms: number; stats: Record<string, number> }

export interface RunPassesOptions {
  /** Verify after each changed pass (default true). */
  verify?: boolean;
  options?: Record<string, unknown>;
  /** Called with printed IR after each pass that changed the model. */
  printAfterChange?: (pass: string, text: string) => void;
}

export interface RunPassesResult { passes: PassRecord[]; remarks: Remark[]; changed: boolean }

/** Runs passes in order. @throws the pass's own errors, VERIFY_FAILED wrapping verifier problems */
export function runPasses(model: Model, passes: readonly Pass[], opts: RunPassesOptions = {}): RunPassesResult {
  const remarks: Remark[] = [];
  const records: PassRecord[] = [];
  for (const p of passes) {
    const ctx: PassContext = {
      options: opts.options ?? {},
      remark: (where, message) => remarks.push({ pass: p.name, where, message }),
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
          if (lost.length > 0) throw new CompilerError('OUTPUT_LOST', `after pass ${p.name}: graph output(s) ${lost.map((n) => `"${n}"`).join(', ')} disappeared`, { where: lost[0] });
          verifyModel(model, `after pass ${p.name}`);
        } catch (e) {
          throw new CompilerError('VERIFY_FAILED', `pass ${p.name} left invalid IR: ${(e as Error).message}`, { cause: e, where: (e as CompilerError).where, hint: 'this is a bug in the pass; please report it with the model' });
        }
      }
      opts.printAfterChange?.(p.name, printModel(model));
    }
    records.push({ name: p.name, changed: r.changed, ms: performance.now() - t0, stats: { ...(r.stats ?? {}) } });
  }
  return { passes: records, remarks, changed: records.some((r) => r.changed) };
}
