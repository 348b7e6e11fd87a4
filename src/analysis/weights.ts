/**
 * The analyses' view of where a value's constant data lives: a thin read-only adapter over
 * the project's one weight resolver (`resolveWeight` in src/ir/weights.ts), which follows
 * Identity chains to an initializer or a Constant node (`value`, `value_float(s)`,
 * `value_int(s)`). Every analysis that counts or reads weights goes through it, so a weight
 * counts the same whichever way the exporter stored it.
 *
 * ```ts
 * const r = resolveTensor(convNode.inputs[1]!);
 * r?.via;          // 'initializer' | 'constant' | 'identity'
 * r?.tensor.shape; // [64, 3, 3, 3]
 * r?.source;       // the value that holds the data (the initializer or the Constant's output)
 * ```
 */
import type { Value } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { resolveWeight } from '../ir/weights.js';

export interface ResolvedTensor {
  readonly tensor: Tensor;
  /** How the data was reached: directly an initializer, a Constant node's output, or through Identity to one of those. */
  readonly via: 'initializer' | 'constant' | 'identity';
  /** The value that holds the data: identical for every reader of the same weight (count it once). */
  readonly source: Value;
}

/** The constant tensor behind `v`, or undefined for computed values. O(chain). */
export function resolveTensor(v: Value | null | undefined): ResolvedTensor | undefined {
  const r = resolveWeight(v);
  if (!r) return undefined;
  return { tensor: r.tensor, via: r.identities.length > 0 ? 'identity' : r.form, source: r.source };
}

/** Whether `v` is constant data read as a weight (a Constant node's output, or Identity of a constant), not an activation. */
export function isConstantData(v: Value): boolean {
  return !v.initializer && resolveWeight(v) !== undefined;
}
