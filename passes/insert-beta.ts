/**
 * insert-beta: one learnable vector β per prunable channel group, initialised to 1 (option
 * `init`), applied as |β| ⊙ X where removing a channel is exact (src/prune/scale-points.ts):
 * after BatchNorm and the activation, never between Conv and BatchNorm, one shared β for
 * coupled channels. The weights are never changed; `strip-beta` removes it all again.
 * What was inserted is recorded in the model metadata `sculpt.beta` (src/onestep/beta.ts).
 *
 * Cases:
 *  1. Conv → BN → Relu → Conv: β after the Relu, read by the next conv only.
 *  2. Residual stage (one group through the Adds): one β, a Mul on every block output a
 *     conv reads; the Adds keep the unscaled stream.
 *  3. Relu → MaxPool → Flatten → Gemm: the site moves up through pooling and Flatten, so β
 *     sits right after the Relu.
 *  4. Classifier layers (weighted layers after the last conv) and frozen groups: no β (remark).
 *  5. A model that already has β → PRECONDITION_FAILED; no prunable group → NO_PRUNABLE_GROUP.
 *
 *   before:  %r = Relu(%bn)                 %c = Conv(%r, %w2)
 *   after:   %a = Abs(%beta.conv1)  %s = Reshape(%a, [C,1,1])  %rb = Mul(%r, %s)  %c = Conv(%rb, %w2)
 */
import { channelGroupsAnalysis, insertBeta, passOption } from '../src/core.js';
import type { ChannelAnalysis, InsertBetaResult, Model, Pass, PassContext, PassDefinition, PassResult } from '../src/core.js';

export interface InsertBetaPassOptions {
  /** Initial β (default 1). */
  init?: number;
  analysis?: ChannelAnalysis;
}

const SUMMARY = 'one learnable |β| scale per prunable channel group after BatchNorm and activation (β learning of one-step pruning)';

/**
 * The insert-beta pass with typed options; its result's `report` is what insertBeta did.
 * Called without options it reads the old options bag (`ctx.options`).
 */
export function insertBetaPass(options?: InsertBetaPassOptions): Pass<InsertBetaResult> {
  return {
    name: 'insert-beta',
    summary: SUMMARY,
    run(model: Model, ctx: PassContext): PassResult<InsertBetaResult> {
      const o = options ?? (ctx.options as InsertBetaPassOptions);
      const a = o.analysis && o.analysis.model === model ? o.analysis : ctx.analyses.get(channelGroupsAnalysis);
      const r = insertBeta(model, { init: o.init, analysis: a });
      for (const s of r.skipped) ctx.remark(s.group, `no β: ${s.why}`);
      for (const rec of r.records) ctx.remark(rec.group, `β "${rec.beta}" (${rec.size}) on ${rec.sites.join(', ')}`);
      return {
        changed: true,
        report: r,
        stats: {
          betas: r.records.length,
          channels: r.records.reduce((s, x) => s + x.size, 0),
          sites: r.records.reduce((s, x) => s + x.sites.length, 0),
          skipped: r.skipped.length,
        },
      };
    },
  };
}

/** `sculpt transform --passes insert-beta --pass-option insert-beta.init=1` */
export const insertBetaDefinition: PassDefinition<InsertBetaPassOptions, InsertBetaResult> = {
  name: 'insert-beta',
  summary: SUMMARY,
  cli: { init: passOption.number<InsertBetaPassOptions>('init', 'initial β (default 1)') },
  create: (o) => insertBetaPass(o),
};
