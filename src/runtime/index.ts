/**
 * The onnxruntime layer: every InferenceSession sculpt opens goes through here (validate,
 * prune verification, training's evaluation, search). Sessions with providers and a loud
 * CUDA fallback, runs with host tensors, intermediate values read out, seeded feeds, and
 * latency measured with a stopping rule.
 */
export { openSession, runSession, runModel, withOutputs, maxAbsDiff, toOrt, runtimeVersion } from './session.js';
export type { Provider, SessionOptions, OpenSession, HostTensor, Session } from './session.js';
export { seededInputs } from './feeds.js';
export * from './latency.js';
