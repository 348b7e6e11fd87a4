/**
 * The names the training options accept, in a module that does not load TensorFlow.js, so
 * that a command's `--help` (which lists them) starts without it.
 */

/** How a student's feature map is compared with its teacher's (src/train/losses.ts). */
export type MimicKind = 'mse' | 'l1' | 'kl' | 'js';
export const MIMIC_KINDS: readonly MimicKind[] = ['mse', 'l1', 'kl', 'js'];

/** The optimisers src/train/optim.ts builds. */
export type OptimizerName = 'sgd' | 'adam' | 'adamw';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];
