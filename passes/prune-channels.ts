/**
 * prune-channels: removes channels group by group, slicing every coupled tensor.
 *
 * Options (typed, `pruneChannelsPass({ keep })`; from the command line
 * `sculpt transform --passes prune-channels --pass-option prune-channels.mask=m.json`):
 *   keep?      Map<group id, kept group-channel indices> (or a plain object of the same)
 *   mask?      MaskSpec, or a path to a mask file (see src/prune/mask.ts)
 *   analysis?  ChannelAnalysis of this model (computed here when absent or stale)
 *   untie?     when the pass computes the analysis itself: give every reader of a shared
 *              constant its own copy first, as `sculpt groups` and `sculpt prune` do (default true)
 * Report: ApplyResult plus `untied` (the shared constants untied first, for a masked
 * reference): the pruned-tensor list for the prune report and verification.
 *
 * Cases:
 *  1. Conv → BN → Relu → Conv: filters, bias and BN parameters lose rows; the next conv's
 *     weight loses input columns; value shapes shrink.
 *  2. Residual Add / Concat / Split / Slice: every coupled slot loses the same channels at
 *     its own positions (index maps from the analysis); Split sizes and Slice bounds are
 *     rewritten.
 *  3. Depthwise conv: input, output and weight lose the channel; `group` follows.
 *  4. Flatten/Reshape → Gemm: the Gemm weight loses each removed channel's H×W columns;
 *     a Reshape target with an explicit channel count is rewritten.
 *  5. Weights in Constant nodes: the node's tensor is sliced in place (it stays a Constant).
 *  7. Shared weights (de-duplicated initializers read through Identity, tied weights): each
 *     reader gets its own copy first, copies still equal afterwards are tied back.
 *  6. A frozen group asked to lose channels → GROUP_FROZEN; nothing changes.
 *
 *   before:  %y = Conv(%x, %w[64,32,3,3], %b[64])   %z = Conv(%y, %w2[16,64,3,3])
 *   after:   %y = Conv(%x, %w[40,32,3,3], %b[40])   %z = Conv(%y, %w2[16,40,3,3])
 */
import {
  CompilerError,
  applyChannelPruning,
  channelGroupsAnalysis,
  maskToKeep,
  passOption,
  readMaskFile,
  retieConstants,
  untieSharedConstants,
} from '../src/core.js';
import type { ApplyResult, ChannelAnalysis, MaskSpec, Model, Pass, PassContext, PassDefinition, PassResult, UntiedConstant } from '../src/core.js';

export interface PruneChannelsOptions {
  keep?: ReadonlyMap<number, readonly number[]> | Record<string, readonly number[]>;
  mask?: MaskSpec | string;
  analysis?: ChannelAnalysis;
  untie?: boolean;
}

/** What the pass did: the applied pruning and the shared constants it untied first. */
export interface PruneChannelsReport extends ApplyResult {
  readonly untied: UntiedConstant[];
}

function toMap(k: PruneChannelsOptions['keep']): Map<number, readonly number[]> {
  if (!k) return new Map();
  if (k instanceof Map) return new Map(k);
  return new Map(Object.entries(k).map(([g, v]) => [Number(g), v]));
}

const NAME = 'prune-channels';
const SUMMARY = 'remove channels per coupled group (kept indices or a mask), slicing every weight, bias, BN parameter and shape';

/**
 * The prune-channels pass with typed options; its result's `report` is what it did.
 * Called without options it reads the old options bag (`ctx.options`: keep, mask, analysis,
 * untie, onApplied) — an adapter for callers written before typed passes; pass options instead.
 * @throws INVALID_OPTION without keep or mask; GROUP_FROZEN; the mask codes
 */
export function pruneChannelsPass(options?: PruneChannelsOptions): Pass<PruneChannelsReport> {
  return {
    name: NAME,
    summary: SUMMARY,
    run(model: Model, ctx: PassContext): PassResult<PruneChannelsReport> {
      const legacy =
        options === undefined ? (ctx.options as PruneChannelsOptions & { onApplied?: (r: ApplyResult, untied: UntiedConstant[]) => void }) : undefined;
      const o = options ?? legacy!;
      if (!o.keep && !o.mask) {
        throw new CompilerError('INVALID_OPTION', 'prune-channels needs kept channels (keep) or a mask', {
          hint: 'use `sculpt prune model.onnx -o out.onnx --ratio 0.5`, or `--pass-option prune-channels.mask=m.json`',
        });
      }
      let a = o.analysis && o.analysis.model === model ? o.analysis : undefined;
      let untied: UntiedConstant[] = [];
      if (!a) {
        if (o.untie !== false) untied = untieSharedConstants(model);
        a = ctx.analyses.get(channelGroupsAnalysis);
      }
      const keep = o.keep ? toMap(o.keep) : maskToKeep(a, typeof o.mask === 'string' ? readMaskFile(o.mask) : o.mask!);
      const r = applyChannelPruning(model, a, keep);
      retieConstants(model, untied);
      for (const g of a.groups) if (g.frozen.length > 0) ctx.remark(g.name, `group ${g.id} frozen: ${g.frozen.join('; ')}`);
      legacy?.onApplied?.(r, untied);
      return {
        changed: r.pruned.length > 0,
        report: { ...r, untied },
        stats: { groupsPruned: r.groupsPruned, channelsRemoved: r.channelsRemoved, tensorsChanged: r.pruned.length, tensorsSliced: r.tensorsSliced },
      };
    },
  };
}

export const pruneChannels: PassDefinition<PruneChannelsOptions, PruneChannelsReport> = {
  name: NAME,
  summary: SUMMARY,
  cli: {
    untie: passOption.boolean<PruneChannelsOptions>('untie', 'give every reader of a shared constant its own copy first (default true)'),
    mask: {
      describe: 'mask file: { "keep": { "<tensor>": [indices] } }, { "mask": { "<tensor>": [0/1...] } }, or a prune report',
      set: (d, text) => {
        d.mask = text;
      },
    },
  },
  create: (o) => pruneChannelsPass(o),
};
