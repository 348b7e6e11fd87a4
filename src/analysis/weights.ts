/**
 * Where a value's constant data lives. Exporters store weights three ways: as initializers,
 * as `Constant` nodes (older converters, opset ≤ 11 exports), and behind `Identity` nodes
 * (a shared initializer read through Identity, as torch.onnx writes tied weights). Every
 * analysis that counts or reads weights goes through `resolveTensor`, so a weight counts
 * the same whichever way it is stored.
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

export interface ResolvedTensor {
  readonly tensor: Tensor;
  /** How the data was reached: directly an initializer, a Constant node's output, or through Identity to one of those. */
  readonly via: 'initializer' | 'constant' | 'identity';
  /** The value that holds the data: identical for every reader of the same weight. */
  readonly source: Value;
}

/** Longest Identity chain followed (guards against malformed cyclic graphs). */
const MAX_IDENTITY_CHAIN = 64;

/**
 * The constant tensor behind `v`: an initializer, the `value` tensor of a default-domain
 * Constant node, or either of those through a chain of Identity nodes. Undefined for
 * computed values. An initializer that is also a graph input (an overridable default)
 * still resolves: its data is the weight the model ships. O(chain).
 */
export function resolveTensor(v: Value | null | undefined): ResolvedTensor | undefined {
  let cur = v;
  let through = false;
  for (let hop = 0; cur && hop <= MAX_IDENTITY_CHAIN; hop++) {
    if (cur.initializer) return { tensor: cur.initializer, via: through ? 'identity' : 'initializer', source: cur };
    const p = cur.producer;
    if (!p || (p.domain !== '' && p.domain !== 'ai.onnx')) return undefined;
    if (p.opType === 'Constant') {
      const t = p.attrTensor('value');
      return t ? { tensor: t, via: through ? 'identity' : 'constant', source: cur } : undefined;
    }
    if (p.opType !== 'Identity') return undefined;
    cur = p.inputs[0];
    through = true;
  }
  return undefined;
}

/** Whether `v` is an output of a Constant node holding a tensor, or Identity of a constant: data that analyses read as a weight, not an activation. */
export function isConstantData(v: Value): boolean {
  return !v.initializer && resolveTensor(v) !== undefined;
}
