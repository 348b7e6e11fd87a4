/**
 * Phase 2: global pruning by |β| (docs/methods.md §2.5). Every channel of the non-crucial layers
 * is ranked by its |β| together (a coupled group is one β, so its channels go together in
 * every tensor); the lowest go until `ratio` of those channels is removed or the FLOPs fall
 * to `flopsTarget`; per-layer rates fall out. Crucial layers keep every channel. The
 * slicing is prune-channels' (src/prune), so masked equivalence holds as for any pruning.
 */
import type { RoundToOption } from '../prune/round-to.js';
import type { Provider } from '../runtime/session.js';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { pruneModel } from '../prune/index.js';
import type { PruneOutcome } from '../prune/index.js';
import type { ScoreEntry } from '../prune/criteria.js';
import { checkScoresFit } from './scores.js';
import type { ScoresDoc } from './scores.js';

export interface GlobalPruneOptions {
  /** Fraction of the model's FLOPs to keep, in (0, 1]. */
  flopsTarget?: number;
  /** Fraction of the non-crucial channels to remove, in [0, 1). */
  ratio?: number;
  /** Kept feature-map channels per layer are a multiple of this (default 'auto', as `sculpt prune`: what the target's kernels want; 1 = none). */
  roundTo?: RoundToOption;
  /** Execution provider the pruned model is for (decides `roundTo: 'auto'`; default cpu). */
  provider?: Provider;
  /** Largest fraction of one layer that may go (default 0.9). */
  maxRatio?: number;
  minChannels?: number;
  /** Where the scores came from, for messages. */
  source?: string;
}

/** The `--scores` map prune reads, from a scores document (non-crucial layers only). */
export function scoreEntries(doc: ScoresDoc): Map<string, ScoreEntry> {
  return new Map(doc.entries.map((e) => [e.name, { name: e.name, axis: e.axis, values: e.values }]));
}

/**
 * Prunes `model` in place by the document's |β| with its crucial layers kept whole.
 * @throws SCORES_MODEL_MISMATCH when the scores belong to another model; TARGET_UNREACHABLE
 *   (with the best reachable FLOPs fraction) when the target cannot be met with the crucial
 *   layers kept; INVALID_OPTION for bad options
 */
export function globalPrune(model: Model, doc: ScoresDoc, o: GlobalPruneOptions): PruneOutcome {
  checkScoresFit(doc, model, o.source);
  if ((o.flopsTarget === undefined) === (o.ratio === undefined)) {
    throw new CompilerError('INVALID_OPTION', 'give exactly one of --flops-target and --ratio', { hint: 'e.g. --flops-target 0.5 keeps half of the FLOPs' });
  }
  if (doc.entries.length === 0) {
    throw new CompilerError(
      'TARGET_UNREACHABLE',
      `every layer with a β is crucial (${doc.crucial.join(', ')}): nothing may be pruned; the best reachable FLOPs fraction is 1.000`,
      { hint: `ask for fewer crucial layers (--crucial ${Math.max(0, doc.crucial.length - 2)}: the last conv is always one) or name fewer` },
    );
  }
  const out = pruneModel(model, {
    criterion: 'scores',
    scores: scoreEntries(doc),
    scope: 'global',
    flopsTarget: o.flopsTarget,
    ratio: o.ratio,
    roundTo: o.roundTo ?? 'auto',
    provider: o.provider,
    maxRatio: o.maxRatio,
    minChannels: o.minChannels,
  });
  if (o.flopsTarget !== undefined && out.plan.remarks.some((r) => r.includes('not reachable'))) {
    const best = out.plan.after.macs / Math.max(1, out.plan.before.macs);
    throw new CompilerError(
      'TARGET_UNREACHABLE',
      `a FLOPs target of ${o.flopsTarget} cannot be reached with the crucial layers (${doc.crucial.join(', ')}) kept whole: the best reachable FLOPs fraction is ${best.toFixed(3)}`,
      {
        hint: `ask for --flops-target ${Math.ceil(best * 1000) / 1000} or more, keep fewer crucial layers (--crucial 2), or allow more per layer (--max-ratio)`,
      },
    );
  }
  return out;
}
