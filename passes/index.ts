/** The pass registry: every pass `sculpt transform --passes` can name. */
import type { Pass } from '../src/index.js';

const registry = new Map<string, () => Pass>();

export function registerPass(name: string, factory: () => Pass): void {
  registry.set(name, factory);
}

export function passNames(): string[] {
  return [...registry.keys()].sort();
}

export function createPass(name: string): Pass | undefined {
  return registry.get(name)?.();
}
