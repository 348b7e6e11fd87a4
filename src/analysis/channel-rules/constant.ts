/** Constant contents of values, as the channel rules and the prune pass read them. */
import type { Value } from '../../ir/core.js';
import type { Tensor } from '../../ir/tensor.js';
import type { StaticDim } from '../../ir/types.js';
import type { ShapeLookup } from '../shape-table.js';
import { DECLARED_SHAPES } from '../shape-table.js';
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
export function foldedOf(v: Value, shapes: ShapeLookup = DECLARED_SHAPES): { dims: number[]; data: StaticDim[] } | undefined {
  const t = constantTensor(v);
  if (t) {
    if (t.size > MAX_SMALL) return undefined;
    try {
      return { dims: t.shape, data: t.toNumbers() };
    } catch {
      return undefined;
    }
  }
  const d = symbolicValue(v, shapes);
  if (!d) return undefined;
  const s = shapes.shape(v);
  return { dims: s?.every((x) => typeof x === 'number') ? (s as number[]) : [d.length], data: d };
}
