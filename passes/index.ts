/** The pass registry: every pass `sculpt transform --passes` can name. */
import type { Pass } from '../src/index.js';
import { constantsToInitializersPass } from './constants-to-initializers.js';
import { exposeMasksPass } from './expose-masks.js';
import { exposeOutputsPass } from './expose-outputs.js';
import { foldBatchNormPass } from './fold-batchnorm.js';
import { inferShapesPass } from './infer-shapes.js';
import { insertBetaPass } from './insert-beta.js';
import { pruneChannelsPass } from './prune-channels.js';
import { stripBetaPass } from './strip-beta.js';
import { tissuePass } from './tissue.js';

const registry = new Map<string, () => Pass>([
  ['constants-to-initializers', constantsToInitializersPass],
  ['expose-masks', exposeMasksPass],
  ['expose-outputs', exposeOutputsPass],
  ['fold-batchnorm', foldBatchNormPass],
  ['infer-shapes', inferShapesPass],
  ['insert-beta', insertBetaPass],
  ['prune-channels', pruneChannelsPass],
  ['strip-beta', stripBetaPass],
  ['tissue', tissuePass],
]);

/** Adds a pass factory (passes defined outside this folder). */
export function registerPass(name: string, factory: () => Pass): void {
  registry.set(name, factory);
}

export function passNames(): string[] {
  return [...registry.keys()].sort();
}

export function createPass(name: string): Pass | undefined {
  return registry.get(name)?.();
}
