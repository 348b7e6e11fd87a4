/**
 * The library surface of sculpt: the only module that passes/, models/, the CLI and users
 * import from. What a user needs, nothing a test needs: test helpers (round-trip
 * comparison, gradient checks) and serde/IR internals are imported from their modules.
 */
export * from './core.js';
export * from './validate/accuracy.js';
export { openSession, runSession, runModel, withOutputs, maxAbsDiff, seededInputs, toOrt, runtimeVersion } from './runtime/index.js';
export type { Provider, SessionOptions, OpenSession, HostTensor, Session } from './runtime/index.js';
export * from './runtime/latency.js';
export * from './validate/gates.js';
export * from './validate/validate.js';
export * from './report/index.js';
export { renderValidationText } from './report/validation.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './onestep/index.js';
export * from './search/index.js';
