/**
 * The onnxruntime layer: every InferenceSession sculpt opens goes through here (validate,
 * prune verification, training's evaluation, search). Sessions with providers and a loud
 * CUDA fallback, runs with host tensors, intermediate values read out, seeded feeds.
 */
export { openSession, runSession, runModel, withOutputs, maxAbsDiff, toOrt } from './session.js';
export type { Provider, SessionOptions, OpenSession, HostTensor, Session } from './session.js';
export { seededInputs } from './feeds.js';
