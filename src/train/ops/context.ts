/** What an op implementation sees when it is compiled (once per node) and when it runs. */
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { CompilerError } from '../../errors.js';
import type { Node } from '../../ir/core.js';
import type { RtVal } from './values.js';

export interface CompileCtx {
  readonly node: Node;
  /** Opset of the default domain. */
  readonly opset: number;
  /** Names of the node's inputs ('' where an optional input is absent). */
  readonly inputNames: readonly string[];
  /** Throws UNSUPPORTED_OP naming the node. */
  unsupported(why: string): never;
  /** Keeps a tensor made at compile time (a Constant's payload) until the executor is disposed. */
  retain(t: Tensor): Tensor;
}

export interface RunCtx {
  /** The `training` flag of this run (dropout on, BN in batch-statistics mode when asked). */
  readonly training: boolean;
  /** BatchNormalization uses batch statistics and updates its running statistics. */
  readonly bnTrain: boolean;
  /** Overrides every BatchNormalization's momentum for this run (statistics recalibration). */
  readonly bnMomentum?: number;
  /** A fresh seed for a random op (dropout), from the executor's seeded stream. */
  nextSeed(): number;
  /** The variable behind initializer `name`, if it became one. */
  variable(name: string): Variable | undefined;
  /** Records a new value for a non-trainable variable (BN running statistics); applied when the run ends. */
  assign(name: string, value: Tensor): void;
}

/** An op compiled for one node: inputs (undefined where absent) → outputs (undefined where not produced). */
export type OpRun = (ins: readonly (RtVal | undefined)[], ctx: RunCtx) => (RtVal | undefined)[];

export type OpCompiler = (c: CompileCtx) => OpRun;

export function unsupportedError(node: Node, why: string): CompilerError {
  return new CompilerError('UNSUPPORTED_OP', `${node.opType} at ${node.where}: ${why}`, {
    where: node.where,
    hint: "the trainer runs the ONNX op set of sculpt's shape inference (CNN/MLP ops); rewrite or remove this node before training",
  });
}

/** Input `i`, which the op requires. */
export function need(ins: readonly (RtVal | undefined)[], i: number, node: Node): RtVal {
  const v = ins[i];
  if (!v) throw new CompilerError('IR_INVALID', `${node.opType} at ${node.where} needs input ${i}`, { where: node.where });
  return v;
}
