/**
 * Phase 1 of one-step pruning-recovery: learn β (docs/methods.md §2.2–2.4). A copy of the model
 * gets a β per prunable layer (insert-beta), every weight is frozen (BatchNorm uses and keeps
 * its running statistics), and only β trains on `CE + λ·‖β‖₁` with Adam — or, with a
 * teacher or without labels, on distillation from the original plus λ·‖β‖₁. The result is
 * a scores document (scores.ts); the model passed in is not changed.
 */
import { cloneModel } from '../serde/clone.js';
import { CompilerError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { checkModelFitsData } from '../data/fit.js';
import type { Model } from '../ir/core.js';
import { train } from '../train/loop.js';
import type { BackendPreference, TrainProgress, TrainResult } from '../train/loop.js';
import { insertBeta, readBetaValues } from './beta.js';
import type { BetaRecord } from './beta.js';
import { lastConv } from './layers.js';
import { buildScores } from './scores.js';
import type { CrucialSpec, LayerScoreKind, ScoresDoc } from './scores.js';

export interface ScoreOptions {
  data: Dataset;
  /** λ of the L1 term (default 1.0, the paper's CIFAR value). */
  lambda?: number;
  /** Adam learning rate of β (default 1e-3; the paper used 1e-5 over 15 CIFAR epochs). */
  lr?: number;
  epochs?: number;
  steps?: number;
  batchSize?: number;
  /** Distil from this model instead of cross-entropy on labels. */
  teacher?: Model;
  /** Ignore the labels: distil from the original model (unlabeled calibration data). */
  unlabeled?: boolean;
  /** Distillation temperature (default 4). */
  temperature?: number;
  layerScore?: LayerScoreKind;
  crucial?: CrucialSpec;
  seed?: number;
  backend?: BackendPreference;
  /** Recorded in the scores file. */
  path?: string;
  log?: (m: string) => void;
  onProgress?: (p: TrainProgress) => void;
}

export interface ScoreResult {
  readonly scores: ScoresDoc;
  readonly records: BetaRecord[];
  /** The model with β (trained), for inspection or `--beta-model`. */
  readonly betaModel: Model;
  readonly train: TrainResult;
}

/** The group name (layer) that holds the last conv's filters, if it has a β. */
export function lastConvLayer(model: Model, records: readonly BetaRecord[]): string | undefined {
  const n = lastConv(model);
  const name = n?.name ?? n?.outputs[0]?.name;
  return name ? records.find((r) => r.layers.includes(name))?.group : undefined;
}

/**
 * Learns β on `model` (unchanged) and returns the scores.
 * @throws NO_PRUNABLE_GROUP, DATA_SHAPE_MISMATCH, INVALID_OPTION, CRUCIAL_LAYER_NOT_FOUND,
 *   TRAIN_DIVERGED, and the trainer's codes
 */
export async function scoreModel(model: Model, o: ScoreOptions): Promise<ScoreResult> {
  const lambda = o.lambda ?? 1.0;
  if (!(lambda >= 0 && Number.isFinite(lambda))) throw new CompilerError('INVALID_OPTION', `--lambda must be ≥ 0; got ${lambda}`);
  checkModelFitsData(model, o.data);
  const betaModel = cloneModel(model);
  const { records } = insertBeta(betaModel);
  const lastLayer = lastConvLayer(model, records);
  // Resolve explicit crucial names now, before any training, so a typo fails fast.
  if (Array.isArray(o.crucial))
    buildScores(model, records, new Map(records.map((r) => [r.beta, new Float32Array(r.size).fill(1)])), { crucial: o.crucial, lastConvLayer: lastLayer });
  const betaNames = new Set(records.map((r) => r.beta));
  const distill = !!o.teacher || !!o.unlabeled;
  const result = await train(betaModel, {
    data: o.data,
    batchSize: o.batchSize ?? 64,
    epochs: o.epochs ?? 1,
    steps: o.steps,
    optimizer: 'adam',
    lr: o.lr ?? 1e-3,
    schedule: 'constant',
    loss: distill ? 'kd' : 'ce',
    teacher: distill ? (o.teacher ?? model) : undefined,
    // rho = 1: the soft term only, so the labels are never read.
    kd: { temperature: o.temperature ?? 4, rho: 1 },
    l1: { select: (n) => betaNames.has(n), lambda },
    trainable: (n) => betaNames.has(n),
    batchNorm: 'frozen',
    seed: o.seed ?? 1,
    backend: o.backend,
    log: o.log,
    onProgress: o.onProgress,
  });
  const beta = readBetaValues(betaModel, records);
  const scores = buildScores(model, records, beta, {
    layerScore: o.layerScore,
    crucial: o.crucial,
    lastConvLayer: lastLayer,
    path: o.path,
    method: {
      loss: distill ? 'kd' : 'ce',
      lambda,
      lr: o.lr ?? 1e-3,
      optimizer: 'adam',
      epochs: result.epochs,
      steps: result.steps,
      batch: result.batchSize,
      seed: o.seed ?? 1,
      data: o.data.name,
      samples: o.data.size,
      backend: result.backend,
      finalLoss: result.finalLoss,
    },
  });
  return { scores, records, betaModel, train: result };
}
