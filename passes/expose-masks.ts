/**
 * expose-masks: one float graph input per prunable channel group, multiplying the group's
 * channels where the layers outside the group read them (the scale points of
 * src/prune/scale-points.ts), so one onnxruntime session evaluates any channel mask: a 0/1
 * vector computes exactly what pruning those channels computes, all ones the original.
 *
 * Options (`exposeMasks: {...}` or top level):
 *   groups?    group ids to expose (default every prunable group that some layer reads)
 *   prefix?    input name stem (default "mask"): inputs are `<prefix>_g<id>`, float [size]
 *   onExposed? (m: ExposedMask[]) => void   the inputs made, in group order
 *
 * Cases:
 *  1. Conv → BN → Relu → Conv: the input `mask_gK` [C] scales relu's output where the
 *     second conv reads it (never between the conv and its BN).
 *  2. A residual stage (one group through its Adds): one input, a Mul at every block's
 *     reader of the stream; the Adds keep the unscaled stream.
 *  3. A group whose positions are interleaved with other groups' (Concat): the input is
 *     gathered per position, 1 for the other groups' positions.
 *  4. A frozen group, or one no layer reads: no input (remark).
 *
 *   before:  %r = Relu(%bn)                 %z = Conv(%r, %w2)
 *   after:   %r = Relu(%bn)   %rm = Mul(%r, Reshape(%mask_g3, [C,1,1]))   %z = Conv(%rm, %w2)
 *            graph input %mask_g3: float[C]
 */
import { exposeMasks, passOption } from '../src/core.js';
import type { ExposeMasksOptions, ExposedMask, Model, Pass, PassContext, PassDefinition, PassResult } from '../src/core.js';

const SUMMARY =
  'add one float mask graph input per prunable channel group (a Mul where removing the channel is exact), so one session evaluates any channel mask';

/**
 * The expose-masks pass with typed options; its result's `report` lists the masks added.
 * Called without options it reads the old options bag (`ctx.options.exposeMasks`, with `onExposed`).
 */
export function exposeMasksPass(options?: ExposeMasksOptions): Pass<ExposedMask[]> {
  return {
    name: 'expose-masks',
    summary: SUMMARY,
    run(model: Model, ctx: PassContext): PassResult<ExposedMask[]> {
      const o = options ?? ((ctx.options.exposeMasks ?? ctx.options) as ExposeMasksOptions & { onExposed?: (m: ExposedMask[]) => void });
      const exposed = exposeMasks(model, { groups: o.groups, prefix: o.prefix, remark: (w, m) => ctx.remark(w, m) });
      (o as { onExposed?: (m: ExposedMask[]) => void }).onExposed?.(exposed);
      return { changed: exposed.length > 0, report: exposed, stats: { masks: exposed.length, muls: exposed.reduce((s, x) => s + x.sites, 0) } };
    },
  };
}

export const exposeMasksDefinition: PassDefinition<ExposeMasksOptions, ExposedMask[]> = {
  name: 'expose-masks',
  summary: SUMMARY,
  cli: { prefix: passOption.string<ExposeMasksOptions>('prefix', 'name prefix of the mask inputs') },
  create: (o) => exposeMasksPass(o),
};
