/** Constant contents of values, as the channel rules and the prune pass read them. */
import type { Value } from '../../ir/core.js';
import type { Tensor } from '../../ir/tensor.js';
import type { StaticDim } from '../../ir/types.js';
import { symbolicValue } from '../shapes.js';

/**
 * The tensor behind a constant value: an initializer's, or the `value` of the Constant node
 * that produces it (exporters often store weights that way). Undefined for computed values.
 */
export function constantTensor(v: Value): Tensor | undefined {
  if (v.initializer) return v.initializer;
  const p = v.producer;
  if (p && p.opType === 'Constant' && (p.domain === '' || p.domain === 'ai.onnx')) return p.attrTensor('value');
  return undefined;
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
