/** The channel-rule registry and the constant helpers every rule shares. */
import type { ChannelRule } from './context.js';
import { layerRules } from './layers.js';
import { elementwiseChannelRules } from './elementwise.js';
import { shapeChannelRules } from './shape-ops.js';

/** Rules by op type (default domain). An op missing here freezes whatever reaches it. */
export const channelRules: Record<string, ChannelRule> = { ...elementwiseChannelRules, ...shapeChannelRules, ...layerRules };

/** Whether the channel analysis has a rule for a default-domain op. */
export function hasChannelRule(opType: string): boolean {
  return opType in channelRules;
}

export { constantTensor, foldedOf } from './constant.js';
