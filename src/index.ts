/**
 * The library surface of sculpt, what users import: the compiler core (`core.ts`, which
 * passes/ and models/ import on their own) and the trainer, runtime, validation, reports and
 * methods. What a user needs, nothing a test needs: test helpers (round-trip comparison,
 * gradient checks) and serde/IR internals are imported from their modules.
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
