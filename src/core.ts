/**
 * The compiler core's surface: the IR, serde, analyses, passes' machinery, pruning and
 * TissueNet, with nothing that loads TensorFlow.js or onnxruntime when imported. passes/
 * and models/ import only this module, so a command that only rewrites a graph starts
 * without the trainer or the runtime (`src/index.ts` re-exports it with the rest).
 */
export * from './errors.js';
export * from './ir/data-type.js';
export { Tensor } from './ir/tensor.js';
export type { Int, TensorData, TypedField, ExternalOrigin, KeyValue } from './ir/tensor.js';
export * from './ir/types.js';
export * from './ir/attribute.js';
export * from './ir/core.js';
export * from './ir/builder.js';
export { topologicalOrder, sortTopologically } from './ir/toposort.js';
export * from './ir/verify.js';
export * from './ir/printer.js';
export { SETTING_SLOTS, isSettingSlot } from './ir/op-slots.js';
export {
  resolveWeight,
  weightOf,
  isFloatWeight,
  constantData,
  constantNodeTensor,
  setWeight,
  setConstantData,
  untieWeight,
  addConstant,
  dropIfUnused,
  floatWeights,
} from './ir/weights.js';
export type { ResolvedWeight, WeightForm, SetWeightOptions } from './ir/weights.js';
export * from './pass.js';
export * from './analysis/index.js';
export * from './analysis/channel-groups.js';
export { registerChannelRule, channelRuleFor, channelRuleOps, hasChannelRule } from './analysis/channel-rules/index.js';
export type { ChannelRuleEntry, ChannelSeeds } from './analysis/channel-rules/index.js';
export type { ChannelRule, ChannelRuleContext, Origin, SlotKind, SlotRole, FixupContext } from './analysis/channel-rules/context.js';
export { hasCostRule } from './analysis/cost.js';
export * from './prune/index.js';
export { readModel, decodeModel } from './serde/read.js';
export { cloneModel } from './serde/clone.js';
export type { ReadOptions } from './serde/read.js';
export { encodeModel, encodeModelChunks, saveModel, atomicWrite, PROTOBUF_LIMIT } from './serde/write.js';
export type { ExternalPlan, SaveOptions, SaveResult } from './serde/write.js';
export * from './util/rng.js';
export { guardOutputs, checkOutputPath, dataSpecInputs } from './util/output-guard.js';
export type { GuardInput, GuardOutput, GuardSpec } from './util/output-guard.js';
export * from './tissue/index.js';
export { exposeMasks, exposeOutputs } from './search/expose.js';
export type { ExposedMask, ExposeMasksOptions } from './search/expose.js';
export { insertBeta, readBetaRecords, stripBeta } from './onestep/beta.js';
export type { InsertBetaOptions, InsertBetaResult, BetaRecord } from './onestep/beta.js';
