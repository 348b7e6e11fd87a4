/**
 * Shared constants couple layers that have nothing to do with each other: PyTorch's
 * exporter de-duplicates identical initializers, so every zero bias (or BatchNorm at its
 * initial values) of the same width becomes ONE tensor read by many layers, and the
 * channel analysis must then prune all those layers alike. Untying gives every reader its
 * own copy first (exact: the copies hold the same data); after pruning, copies that still
 * hold identical data are tied back, so the output has no needless duplicates.
 *
 * The code lives with the weight resolver every pass and the trainer use
 * (`src/ir/weights.ts`); this module keeps prune's names for it.
 */
export { untieSharedConstants, replayUntie, retieConstants } from '../ir/weights.js';
export type { UntiedConstant } from '../ir/weights.js';
