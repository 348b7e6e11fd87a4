/**
 * Which layers are the classifier (copied from the original and frozen during recovery,
 * never pruned, never crucial) and which is the last convolution (always crucial).
 * docs/methods.md §2.4 and §2.6.
 */
import { constantTensor } from '../analysis/channel-groups.js';
import type { Model, Node } from '../ir/core.js';
import { topologicalOrder } from '../ir/toposort.js';

function isWeighted(n: Node): boolean {
  if (n.domain !== '' && n.domain !== 'ai.onnx') return false;
  if (n.opType === 'Conv' || n.opType === 'ConvTranspose' || n.opType === 'Gemm') return true;
  return n.opType === 'MatMul' && !!n.inputs[1] && constantTensor(n.inputs[1]) !== undefined;
}

/** The last Conv/ConvTranspose in graph order, or undefined for a model without one. */
export function lastConv(model: Model): Node | undefined {
  const order = topologicalOrder(model.graph);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    if ((n.opType === 'Conv' || n.opType === 'ConvTranspose') && (n.domain === '' || n.domain === 'ai.onnx')) return n;
  }
  return undefined;
}

/**
 * The classifier: every weighted layer after the last convolution (the fully connected
 * head of a CNN). A model without convolutions (an MLP) has only its last weighted layer
 * as classifier. O(nodes).
 */
export function classifierNodes(model: Model): Set<Node> {
  const order = topologicalOrder(model.graph);
  const last = lastConv(model);
  const out = new Set<Node>();
  if (last) {
    for (let i = order.indexOf(last) + 1; i < order.length; i++) if (isWeighted(order[i]!)) out.add(order[i]!);
  } else {
    for (let i = order.length - 1; i >= 0; i--)
      if (isWeighted(order[i]!)) {
        out.add(order[i]!);
        break;
      }
  }
  return out;
}

/** Names of the initializers the classifier reads (weights and biases): frozen in recovery. */
export function classifierInitializers(model: Model): Set<string> {
  const out = new Set<string>();
  for (const n of classifierNodes(model)) for (const v of n.inputs.slice(1)) if (v?.initializer) out.add(v.name);
  return out;
}
