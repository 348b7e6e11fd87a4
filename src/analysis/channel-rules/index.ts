/**
 * The channel-rule registry (Torch-Pruning's `register_customized_layer` idea): one entry
 * per op says how its channels couple (`rule`) and, for layers with weights, which
 * (value, axis) slots seed the analysis (`seeds`). Built-in ONNX ops are registered here;
 * a user adds an op or a custom domain with `registerChannelRule` without touching the core.
 *
 * ```ts
 * registerChannelRule('MyConv', {
 *   rule: (ctx) => { ... },                                   // see ./context.ts
 *   seeds: (n, seed) => { seed(n.inputs[1], 0); seed(n.outputs[0], 1); },
 * }, 'com.example');
 * ```
 */
import type { Node, Value } from '../../ir/core.js';
import type { StaticDim } from '../../ir/types.js';
import type { ChannelRule } from './context.js';
import { constantTensor } from './constant.js';
import { layerRules } from './layers.js';
import { elementwiseChannelRules } from './elementwise.js';
import { shapeChannelRules } from './shape-ops.js';

/** Declares the slots a node of this op seeds: `seed(value, axis)` for each channel axis. */
export type ChannelSeeds = (
  n: Node,
  seed: (v: Value | null | undefined, axis: number) => void,
  shape: (v: Value | null | undefined) => StaticDim[] | undefined,
) => void;

export interface ChannelRuleEntry {
  readonly rule: ChannelRule;
  /** Layers with weights seed the analysis; ops that only pass channels on have none. */
  readonly seeds?: ChannelSeeds;
}

const convSeeds: ChannelSeeds = (n, seed) => {
  // Not the weight's axis 1: for a depthwise conv it is a size-1 axis that never prunes.
  seed(n.inputs[1], 0);
  seed(n.inputs[0], 1);
  seed(n.outputs[0], 1);
};
const denseSeeds: ChannelSeeds = (n, seed, shape) => {
  const b = n.inputs[1];
  if (!b || !constantTensor(b)) return;
  const r = shape(b)?.length ?? 0;
  if (n.opType === 'Gemm' || r >= 2) {
    seed(b, r - 1);
    seed(b, Math.max(0, r - 2));
  } else seed(b, 0);
};
const normSeeds: ChannelSeeds = (n, seed) => {
  seed(n.inputs[1], 0);
};
const BUILTIN_SEEDS: Record<string, ChannelSeeds> = {
  Conv: convSeeds,
  ConvTranspose: convSeeds,
  Gemm: denseSeeds,
  MatMul: denseSeeds,
  BatchNormalization: normSeeds,
  InstanceNormalization: normSeeds,
};

const key = (domain: string, opType: string) => `${domain === 'ai.onnx' ? '' : domain}::${opType}`;
const registry = new Map<string, ChannelRuleEntry>();
for (const [op, rule] of Object.entries({ ...elementwiseChannelRules, ...shapeChannelRules, ...layerRules })) {
  registry.set(key('', op), { rule, seeds: BUILTIN_SEEDS[op] });
}

/** Adds (or replaces) the channel rule of an op in a domain ('' = ONNX). */
export function registerChannelRule(opType: string, entry: ChannelRuleEntry, domain = ''): void {
  registry.set(key(domain, opType), entry);
}

/** The rule entry for a node's op and domain; undefined freezes whatever reaches it. */
export function channelRuleOf(n: Node): ChannelRuleEntry | undefined {
  return registry.get(key(n.domain, n.opType));
}

/** The rule entry of an op in a domain ('' = ONNX), or undefined. */
export function channelRuleFor(opType: string, domain = ''): ChannelRuleEntry | undefined {
  return registry.get(key(domain, opType));
}

/** Whether the channel analysis has a rule for an op. */
export function hasChannelRule(opType: string, domain = ''): boolean {
  return registry.has(key(domain, opType));
}

/** Ops of a domain ('' = ONNX) that have a rule, sorted. */
export function channelRuleOps(domain = ''): string[] {
  const prefix = key(domain, '');
  return [...registry.keys()]
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length))
    .sort();
}

export { constantTensor, foldedOf } from './constant.js';
