/**
 * strip-beta: removes what insert-beta added (the Abs/Reshape/Gather/Mul nodes, the β
 * initializers and the `sculpt.beta` metadata), giving back the graph without β. The
 * weights were never changed by β, so insert-beta then strip-beta is the identity.
 *
 * Cases:
 *  1. A model with β: every β Mul is bypassed and removed with its scale chain.
 *  2. A model without `sculpt.beta` metadata: unchanged (remark).
 *
 *   before:  %a = Abs(%beta)  %s = Reshape(%a, [C,1,1])  %rb = Mul(%r, %s)  %c = Conv(%rb, %w2)
 *   after:   %c = Conv(%r, %w2)
 */
import { readBetaRecords, stripBeta } from '../src/core.js';
import type { Model, Pass, PassContext, PassDefinition, PassResult } from '../src/core.js';

/** What strip-beta removed. */
export interface StripBetaReport {
  readonly betas: number;
  readonly muls: number;
}

const SUMMARY = 'remove the β scales insert-beta added (the weights are unchanged by β)';

export function stripBetaPass(): Pass<StripBetaReport> {
  return {
    name: 'strip-beta',
    summary: SUMMARY,
    run(model: Model, ctx: PassContext): PassResult<StripBetaReport> {
      const records = readBetaRecords(model);
      if (!records) {
        ctx.remark('model', 'no β (sculpt.beta metadata) found: nothing to strip');
        return { changed: false, report: { betas: 0, muls: 0 }, stats: { betas: 0, muls: 0 } };
      }
      const muls = stripBeta(model);
      return { changed: true, report: { betas: records.length, muls }, stats: { betas: records.length, muls } };
    },
  };
}

export const stripBetaDefinition: PassDefinition<Record<string, never>, StripBetaReport> = {
  name: 'strip-beta',
  summary: SUMMARY,
  cli: {},
  create: () => stripBetaPass(),
};
