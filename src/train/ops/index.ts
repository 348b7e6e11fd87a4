/** The op table of the executor: ONNX op type (default domain) → compiler. */
import type { OpCompiler } from './context.js';
import { ELEMENTWISE_OPS } from './elementwise.js';
import { NN_OPS } from './nn.js';
import { resizeCompiler } from './resize.js';
import { TENSOR_OPS } from './tensor.js';

export type { CompileCtx, OpCompiler, OpRun, RunCtx } from './context.js';

export const OPS: Readonly<Record<string, OpCompiler>> = {
  ...ELEMENTWISE_OPS,
  ...NN_OPS,
  ...TENSOR_OPS,
  Resize: resizeCompiler,
  Upsample: resizeCompiler,
};

/** Op types the trainer can run, sorted (for messages and docs). */
export function supportedOps(): string[] {
  return Object.keys(OPS).sort();
}
