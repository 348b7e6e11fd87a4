/**
 * The pass registry: every pass `sculpt transform --passes` can name, each runnable from
 * the command line with `--pass-option <pass>.<key>=<value>`.
 *
 * An entry is a typed `PassDefinition` (new style), or an old-style `() => Pass` factory
 * that reads `ctx.options` (adapted by `legacyPassDefinition`; convert it, see
 * docs/architecture.md).
 */
import { legacyPassDefinition, parsePassOptions } from '../src/core.js';
import type { Pass, PassDefinition } from '../src/core.js';
import { constantsToInitializers } from './constants-to-initializers.js';
import { exposeMasksDefinition } from './expose-masks.js';
import { exposeOutputsDefinition } from './expose-outputs.js';
import { foldBatchNorm } from './fold-batchnorm.js';
import { inferShapesDefinition } from './infer-shapes.js';
import { insertBetaDefinition } from './insert-beta.js';
import { pruneChannels } from './prune-channels.js';
import { stripBetaDefinition } from './strip-beta.js';
import { tissue } from './tissue.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type PassEntry = PassDefinition<any, any> | (() => Pass);

const registry = new Map<string, PassEntry>([
  ['constants-to-initializers', constantsToInitializers],
  ['expose-masks', exposeMasksDefinition],
  ['expose-outputs', exposeOutputsDefinition],
  ['fold-batchnorm', foldBatchNorm],
  ['infer-shapes', inferShapesDefinition],
  ['insert-beta', insertBetaDefinition],
  ['prune-channels', pruneChannels],
  ['strip-beta', stripBetaDefinition],
  ['tissue', tissue],
]);

/** Adds a pass (passes defined outside this folder): a definition, or an old-style factory. */
export function registerPass(name: string, entry: PassEntry): void {
  registry.set(name, entry);
}

export function passNames(): string[] {
  return [...registry.keys()].sort();
}

/** The definition of a registered pass (old-style factories adapted), or undefined. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function passDefinition(name: string): PassDefinition<any, any> | undefined {
  const e = registry.get(name);
  if (!e) return undefined;
  return typeof e === 'function' ? legacyPassDefinition(name, e) : e;
}

/**
 * Makes a registered pass from command-line options (`key=text` pairs).
 * @throws INVALID_OPTION for an unknown key or a value its parser refuses
 */
export function createPass(name: string, raw: Readonly<Record<string, string>> = {}): Pass | undefined {
  const def = passDefinition(name);
  return def?.create(parsePassOptions(def, raw));
}
