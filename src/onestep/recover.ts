/**
 * Phases 3 and 4: one-step recovery and the optional fine-tune (docs/methods.md §2.6). The
 * pruned student mimics the original teacher at every crucial layer at once,
 * `Loss = (1/N) Σ_l Loss_l` on the post-activation values β scaled (the same names in both
 * models: crucial layers kept every channel), with MSE, L1, KL or JS (KL/JS over the
 * channel softmax at each position, losses.ts). The classifier (every weighted layer after
 * the last conv) keeps the original's weights and is frozen. Paper schedule: Adam at 1e-3,
 * ÷10 every 5 epochs, 15 epochs; then fine-tuning on cross-entropy at 1e-5.
 */
import { CompilerError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import type { Model } from '../ir/core.js';
import { train } from '../train/loop.js';
import type { BackendPreference, TrainProgress, TrainResult } from '../train/loop.js';
import { MIMIC_KINDS } from '../train/losses.js';
import type { MimicKind } from '../train/losses.js';
import type { OptimizerName } from '../train/optim.js';
import { classifierInitializers } from './layers.js';

/** What recovery and fine-tuning both take: the data, the optimiser, and how the run is seen. */
interface PhaseOptions {
  data: Dataset;
  evalData?: Dataset;
  optimizer?: OptimizerName;
  batchSize?: number;
  seed?: number;
  backend?: BackendPreference;
  log?: (m: string) => void;
  onProgress?: (p: TrainProgress) => void;
}

export interface RecoverOptions extends PhaseOptions {
  /** The original model. */
  teacher: Model;
  /** Values to reconstruct (one per crucial layer), present in both models. */
  mimic: readonly string[];
  /** Default kl. */
  mimicLoss?: MimicKind;
  /** Default 15 (the paper's). */
  epochs?: number;
  steps?: number;
  /** Default 1e-3. */
  lr?: number;
  /** Divide the rate by 10 every this many epochs (default 5). */
  decayEvery?: number;
}

/** Steps per epoch as the trainer counts them. */
function stepsPerEpoch(ds: Dataset, batch: number): number {
  return ds.size >= batch ? Math.floor(ds.size / batch) : 1;
}

/**
 * Trains `student` in place to mimic `teacher` at the given values; its classifier stays frozen.
 * @throws INVALID_OPTION (no mimic values; KL/JS with fewer than two; an unknown value),
 *   and the trainer's codes
 */
export async function recoverModel(student: Model, o: RecoverOptions): Promise<TrainResult> {
  const kind = o.mimicLoss ?? 'kl';
  if (!MIMIC_KINDS.includes(kind)) throw new CompilerError('INVALID_OPTION', `--mimic must be one of ${MIMIC_KINDS.join(', ')}; got ${String(kind)}`);
  if (o.mimic.length === 0) throw new CompilerError('INVALID_OPTION', 'one-step recovery needs at least one crucial layer to mimic');
  if ((kind === 'kl' || kind === 'js') && o.mimic.length < 2) {
    throw new CompilerError(
      'INVALID_OPTION',
      `--mimic ${kind} needs at least two crucial layers (the last conv alone is too weak a constraint, docs/methods.md §2.6); got ${o.mimic.length}`,
      { hint: 'use --mimic mse, or more crucial layers' },
    );
  }
  for (const name of o.mimic) {
    for (const [who, m] of [
      ['student', student],
      ['teacher', o.teacher],
    ] as const) {
      if (!m.graph.findValue(name))
        throw new CompilerError('MISSING_VALUE', `the ${who} has no value "${name}" to mimic`, {
          where: name,
          hint: 'the crucial layers must keep their names and channels',
        });
    }
  }
  const batch = o.batchSize ?? 64;
  const spe = stepsPerEpoch(o.data, batch);
  const every = (o.decayEvery ?? 5) * spe;
  const epochs = o.epochs ?? 15;
  const total = o.steps ?? Math.round(epochs * spe);
  const milestones: number[] = [];
  for (let s = every; s < total; s += every) milestones.push(s);
  const frozen = classifierInitializers(student);
  return train(student, {
    data: o.data,
    evalData: o.evalData,
    batchSize: batch,
    steps: total,
    optimizer: o.optimizer ?? 'adam',
    lr: o.lr ?? 1e-3,
    schedule: 'step',
    milestones,
    gamma: 0.1,
    loss: 'none',
    teacher: o.teacher,
    mimic: o.mimic.map((v) => ({ teacher: v, student: v })),
    mimicLoss: kind,
    trainable: (n) => !frozen.has(n),
    batchNorm: 'train',
    seed: o.seed ?? 1,
    backend: o.backend,
    log: o.log,
    onProgress: o.onProgress,
  });
}

export interface FinetuneOptions extends PhaseOptions {
  epochs: number;
  /** Default 1e-5 (the paper's). */
  lr?: number;
}

/** Fine-tunes every weight on cross-entropy, in place. @throws the trainer's codes */
export async function finetuneModel(model: Model, o: FinetuneOptions): Promise<TrainResult> {
  return train(model, {
    data: o.data,
    evalData: o.evalData,
    batchSize: o.batchSize ?? 64,
    epochs: o.epochs,
    optimizer: o.optimizer ?? 'adam',
    lr: o.lr ?? 1e-5,
    schedule: 'constant',
    loss: 'ce',
    batchNorm: 'train',
    seed: o.seed ?? 1,
    backend: o.backend,
    log: o.log,
    onProgress: o.onProgress,
  });
}
