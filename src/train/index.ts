/** The trainer: losses, optimisers, schedules and the training loop over the tfjs executor. */
export * from './losses.js';
export * from './optim.js';
export * from './schedule.js';
export * from './loop.js';
export * from './evaluate.js';
export * from './checkpoint.js';
export { selectBackend, currentBackend, BACKEND_NAMES, nativeBackendAdvice, MEASURED_NATIVE_SPEEDUP } from './backend.js';
export type { BackendName } from './backend.js';
export { TfExecutor } from './executor.js';
export { leanVariableGrads } from './backprop.js';
export type { BackpropStats } from './backprop.js';
export type { ExecutorOptions } from './executor.js';
