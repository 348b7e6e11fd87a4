/**
 * The library surface of sculpt: the only module that passes/, models/, the CLI and users
 * import from.
 */
export * from './errors.js';
export * from './ir/data-type.js';
export * from './ir/tensor.js';
export * from './ir/types.js';
export * from './ir/attribute.js';
export * from './ir/core.js';
export * from './ir/builder.js';
export * from './ir/toposort.js';
export * from './ir/verify.js';
export * from './ir/printer.js';
export {
  resolveWeight, weightOf, isFloatWeight, constantData, constantNodeTensor, setWeight, setConstantData, untieWeight, addConstant, dropIfUnused, floatWeights,
} from './ir/weights.js';
export type { ResolvedWeight, WeightForm, SetWeightOptions } from './ir/weights.js';
export * from './pass.js';
export * from './analysis/index.js';
export * from './analysis/channel-groups.js';
export * from './prune/index.js';
export * from './serde/read.js';
export * from './serde/write.js';
export * from './serde/compare.js';
export * from './util/rng.js';
export { guardOutputs, checkOutputPath, dataSpecInputs } from './util/output-guard.js';
export type { GuardInput, GuardOutput, GuardSpec } from './util/output-guard.js';
export * from './validate/ort.js';
export * from './validate/accuracy.js';
export * from './validate/latency.js';
export * from './validate/gates.js';
export * from './validate/validate.js';
export * from './report/index.js';
export { renderValidationText } from './report/validation.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './train/executor.js';
export * from './train/backend.js';
export * from './train/gradcheck.js';
export * from './tissue/index.js';
export * from './onestep/index.js';
export * from './search/index.js';
