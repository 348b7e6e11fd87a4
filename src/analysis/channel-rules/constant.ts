/** Constant contents of values, as the channel rules and the prune pass read them. */
import type { Value } from '../../ir/core.js';
import type { Tensor } from '../../ir/tensor.js';
import type { StaticDim } from '../../ir/types.js';
import { symbolicValue } from '../shapes.js';
import { constantData } from '../../ir/weights.js';

/**
 * The tensor behind a constant value: an initializer's, or the one the Constant node that
 * produces it holds (`value`, `value_float(s)`, `value_int(s)`; exporters often store
 * weights that way). Undefined for computed values. See src/ir/weights.ts.
 */
export function constantTensor(v: Value): Tensor | undefined {
  return constantData(v);
}

const MAX_SMALL = 4096;

/** Small constant or foldable (shape-chain) contents of a value, entries possibly symbolic. */
export function foldedOf(v: Value): { dims: number[]; data: StaticDim[] } | undefined {
  const t = constantTensor(v);
  if (t) {
    if (t.size > MAX_SMALL) return undefined;
    try {
      return { dims: t.shape, data: t.toNumbers() };
    } catch {
      return undefined;
    }
  }
  const d = symbolicValue(v);
  if (!d) return undefined;
  return { dims: v.shape?.every((x) => typeof x === 'number') ? (v.shape as number[]) : [d.length], data: d };
}
