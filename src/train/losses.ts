/**
 * Training losses on tfjs tensors. Every loss is a mean over the batch (and, for feature
 * mimicking, over positions), so its scale does not depend on the batch size.
 *
 * - cross-entropy on logits with integer labels;
 * - knowledge distillation (Hinton): `rho·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1−rho)·CE`;
 * - feature mimicking (METHODS.md §2.6): MSE, L1, or KL/JS between the channel softmaxes
 *   at each spatial position of a teacher and a student value;
 * - an L1 penalty `λ·Σ|p|` on chosen parameters (β learning).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import { MIMIC_KINDS } from './names.js';
import type { MimicKind } from './names.js';
import { nativeCrossEntropy } from './native.js';

export { MIMIC_KINDS };
export type { MimicKind };

/**
 * Mean cross-entropy of `logits` [N,K] against class indices `labels` [N] (int32). On the
 * native backend one TensorFlow op computes it and its gradient (native.ts).
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const native = nativeCrossEntropy(logits, labels);
    if (native) return native;
    const k = logits.shape[logits.shape.length - 1]!;
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    const onehot = tf.oneHot(labels as tf.Tensor1D, k);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), -1))) as tf.Scalar;
  });
}

/**
 * Mean over rows of KL(softmax(t) ‖ softmax(s)) along the last axis, from logits.
 * Σ p_t·(log p_t − log p_s), computed with log-softmax for stability.
 */
export function klFromLogits(teacherLogits: tf.Tensor, studentLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const lt = tf.logSoftmax(teacherLogits);
    const ls = tf.logSoftmax(studentLogits);
    return tf.mean(tf.sum(tf.mul(tf.exp(lt), tf.sub(lt, ls)), -1)) as tf.Scalar;
  });
}

export interface KdOptions {
  /** Temperature T (default 4). */
  temperature?: number;
  /** Weight of the soft term, rho in [0,1] (default 0.9). */
  rho?: number;
}

/**
 * Distillation loss `rho·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1−rho)·CE(z_s, y)`.
 * The T² keeps the soft term's gradient scale independent of T (Hinton et al.).
 */
export function distillationLoss(studentLogits: tf.Tensor, teacherLogits: tf.Tensor, labels: tf.Tensor, opts: KdOptions = {}): tf.Scalar {
  const T = opts.temperature ?? 4;
  const rho = opts.rho ?? 0.9;
  return tf.tidy(() => {
    const soft = klFromLogits(tf.div(teacherLogits, T), tf.div(studentLogits, T));
    // rho 1: the soft term alone; unlabeled data (labels −1) never reaches the cross-entropy,
    // whose native op refuses a label out of range.
    if (rho === 1) return tf.mul(soft, T * T) as tf.Scalar;
    const hard = crossEntropy(studentLogits, labels);
    return tf.add(tf.mul(soft, rho * T * T), tf.mul(hard, 1 - rho)) as tf.Scalar;
  });
}

/**
 * Moves the channel axis (1) last and flattens the rest: [N,C,H,W] → [N·H·W, C];
 * [N,C] stays. Each row is then one spatial position's channel vector.
 */
function positionsByChannels(x: tf.Tensor): tf.Tensor2D {
  if (x.rank === 2) return x as tf.Tensor2D;
  if (x.rank < 2) throw new CompilerError('INVALID_OPTION', `feature mimicking needs values of rank ≥ 2 (got rank ${x.rank})`);
  const perm = [0, ...Array.from({ length: x.rank - 2 }, (_, i) => i + 2), 1];
  const c = x.shape[1]!;
  return tf.reshape(tf.transpose(x, perm), [-1, c]);
}

/**
 * Feature-mimic loss between a teacher value and a student value of the same shape.
 * MSE/L1: mean over all elements. KL: mean over positions (n, h, w) of
 * KL(P_t ‖ P_s), P = softmax over channels. JS: ½KL(P_t‖M) + ½KL(P_s‖M), M = ½(P_t+P_s).
 * The inputs are the values as named (post-activation in METHODS.md §2.6).
 * @throws INVALID_OPTION when the shapes differ
 */
export function mimicLoss(teacher: tf.Tensor, student: tf.Tensor, kind: MimicKind, where = ''): tf.Scalar {
  if (teacher.shape.join(',') !== student.shape.join(',')) {
    throw new CompilerError(
      'INVALID_OPTION',
      `cannot mimic ${where}: teacher value is [${teacher.shape.join(',')}], student value is [${student.shape.join(',')}]`,
      { where, hint: 'mimic layers whose channels were kept (the crucial layers)' },
    );
  }
  return tf.tidy(() => {
    switch (kind) {
      case 'mse':
        return tf.mean(tf.square(tf.sub(teacher, student))) as tf.Scalar;
      case 'l1':
        return tf.mean(tf.abs(tf.sub(teacher, student))) as tf.Scalar;
      case 'kl':
        return klFromLogits(positionsByChannels(teacher), positionsByChannels(student));
      case 'js': {
        const pt = tf.softmax(positionsByChannels(teacher));
        const ps = tf.softmax(positionsByChannels(student));
        const m = tf.mul(tf.add(pt, ps), 0.5);
        // Clamp before log: a probability can underflow to 0 in float32.
        const eps = 1e-12;
        const lm = tf.log(tf.maximum(m, eps));
        const kl = (p: tf.Tensor) => tf.sum(tf.mul(p, tf.sub(tf.log(tf.maximum(p, eps)), lm)), -1);
        return tf.mean(tf.mul(tf.add(kl(pt), kl(ps)), 0.5)) as tf.Scalar;
      }
      default:
        throw new CompilerError('INVALID_OPTION', `unknown mimic loss "${kind as string}"`, { hint: `use one of ${MIMIC_KINDS.join(', ')}` });
    }
  });
}

/** `lambda · Σ_p Σ|p|` over the given tensors (the L1 penalty of β learning). */
export function l1Penalty(params: readonly tf.Tensor[], lambda: number): tf.Scalar {
  return tf.tidy(() => {
    if (params.length === 0) return tf.scalar(0);
    const sums = params.map((p) => tf.sum(tf.abs(p)));
    return tf.mul(tf.addN(sums), lambda) as tf.Scalar;
  });
}

/**
 * Top-1 correct count of logits already on the host (row-major, `classes` per row) against
 * `labels`: a row's prediction is its first largest logit, as tf.argMax picks. The training
 * loop reads the logits once instead of running five ops and a second read each step.
 */
export function correctCountOnHost(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let r = 0, o = 0; o < logits.length; r++, o += classes) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[o + k]! > logits[o + best]!) best = k;
    if (best === labels[r]) correct++;
  }
  return correct;
}

/** Top-1 correct count of `logits` [N,K] against `labels` [N]. */
export function correctCount(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.cast(labels, 'int32')), 'int32')) as tf.Scalar);
}
