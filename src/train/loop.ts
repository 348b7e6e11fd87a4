/**
 * The training loop: the model's IR runs in tfjs (TfExecutor), batches stream from a
 * Dataset, a loss (CE, KD, feature mimic, L1) is minimised by SGD or Adam under a
 * schedule, with periodic evaluation, checkpoints, progress, and trained weights (and
 * BatchNorm running statistics) written back into the same Model at the end.
 *
 * The teacher (KD, mimicking) runs in onnxruntime, not in a second TfExecutor: it needs no
 * gradients; onnxruntime's native CPU kernels are several times faster than tfjs-wasm for
 * a forward pass; it runs on its own thread, so the next batch's teacher pass overlaps the
 * student's step (2 cores here); and any op the teacher uses works, not only those the
 * executor supports.
 *
 * Determinism: data order, augmentation and the teacher are seeded or exact; on the cpu
 * and wasm backends the same seed gives bit-identical weights.
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import type { Model, Value } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { Tensor as IrTensor } from '../ir/tensor.js';
import { constantData, setConstantData } from '../ir/weights.js';
import { readModel } from '../serde/read.js';
import { saveModel } from '../serde/write.js';
import { openSession, runSession, withOutputs } from '../runtime/session.js';
import type { HostTensor } from '../runtime/session.js';
import type { Batch, Dataset } from '../data/dataset.js';
import { requireLabels } from '../data/dataset.js';
import { checkModelFitsData, dataInputOf } from '../data/fit.js';
import { nativeBackendAdvice, selectBackend } from './backend.js';
import type { BackendName } from './backend.js';
import { leanVariableGrads, type BackpropStats } from './backprop.js';
import { TfExecutor } from './executor.js';
import { correctCountOnHost, crossEntropy, distillationLoss, l1Penalty, mimicLoss } from './losses.js';
import type { KdOptions, MimicKind } from './losses.js';
import { createOptimizer } from './optim.js';
import { CheckpointDir, identityMismatch } from './checkpoint.js';
import type { CheckpointState, RunIdentity } from './checkpoint.js';
import { backendAlive, batchLossAndCorrect, evaluateFitted, isOutOfMemory, recalibrateBatchNorm } from './evaluate.js';
import type { OptimizerName } from './optim.js';
import { createSchedule } from './schedule.js';
import type { ScheduleName } from './schedule.js';

export type BackendPreference = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu' | 'auto';
export type LossName = 'ce' | 'kd' | 'none';

/** A teacher value and the student value that should mimic it. */
export interface MimicPair {
  readonly teacher: string;
  readonly student: string;
}

export interface TrainOptions {
  /** Training split. */
  data: Dataset;
  /** Evaluated every `evalEvery` epochs (or `evalEverySteps`) and at the end. */
  evalData?: Dataset;
  batchSize?: number;
  /** Length of the run in epochs (default 1) — or in `steps`, which wins when given. */
  epochs?: number;
  steps?: number;
  optimizer?: OptimizerName;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** Learning-rate schedule after warm-up (default constant; the CLI defaults to cosine). */
  schedule?: ScheduleName;
  warmupSteps?: number;
  /** step schedule: decay factor and milestones (in steps). */
  gamma?: number;
  milestones?: readonly number[];
  minLr?: number;
  /** `ce` (default), `kd` (needs `teacher`), `none` (only mimic and L1 terms). */
  loss?: LossName;
  teacher?: Model;
  kd?: KdOptions;
  mimic?: readonly MimicPair[];
  mimicLoss?: MimicKind;
  /** Weight of the mean mimic loss (default 1). */
  mimicWeight?: number;
  /** L1 penalty λ·Σ|p| on the initializers this selects (by name). */
  l1?: { select: (name: string) => boolean; lambda: number };
  /** Which initializers train (default all float initializers except BN running stats). */
  trainable?: 'all' | 'none' | readonly string[] | ((name: string) => boolean);
  batchNorm?: 'train' | 'frozen';
  seed?: number;
  evalEvery?: number;
  evalEverySteps?: number;
  /** Largest evaluation batch (default 256); the batch used is the largest that fits in memory. */
  evalBatchSize?: number;
  /**
   * Folder for a checkpoint after every epoch and at the end: the model, the optimiser state
   * and the run's place (checkpoint.ts), plus best.onnx, the best evaluated epoch. Atomic.
   */
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir` (same run settings), not from the model's weights. */
  resume?: boolean;
  /** The weights the model holds at the end: the last step's (default) or the best evaluated epoch's. */
  keep?: 'last' | 'best';
  /**
   * Where the trained model is written (atomically). It is written before the final
   * evaluation, so when that fails the trained model is still there (TRAIN_EVAL_FAILED says so).
   */
  output?: { path: string; inputPath?: string; overwrite?: boolean };
  /** The file the model was read from, never written over by checkpoints. */
  inputPath?: string;
  /**
   * BatchNorm running statistics recomputed at the current weights before every evaluation
   * and at the end, over up to this many training batches (evaluate.ts, "precise BN");
   * 0 turns it off. Default: enough batches for 4096 samples, at most one epoch's.
   */
  recalibrateBatchNorm?: number;
  backend?: BackendPreference;
  /** Messages for the user (backend choice, evaluations). */
  log?: (msg: string) => void;
  onProgress?: (p: TrainProgress) => void;
  onEval?: (e: EvalRecord) => void;
}

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Running means since the last report window (last ~50 steps). */
  loss: number;
  /** The part of `loss` that is the L1 penalty λ·‖·‖₁ (same window); absent without `l1`. */
  penalty?: number;
  accuracy: number;
  lr: number;
  imagesPerSec: number;
  etaSeconds: number;
  /** Peak tensor bytes of this step above the level before it, in tfjs' count (a tensor that shares another's data counts again): the end of the forward pass and after each node of the backward pass (backprop.ts). */
  stepPeakBytes: number;
}

export interface EvalRecord {
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
  samples: number;
}

export interface TrainResult {
  backend: string;
  steps: number;
  epochs: number;
  batchSize: number;
  seconds: number;
  /** Training throughput, evaluation time excluded. */
  imagesPerSec: number;
  finalLoss: number;
  /** Accuracy on the last window of training batches; NaN when the data has no labels. */
  trainAccuracy: number;
  evals: EvalRecord[];
  /** The last evaluation, when there was evaluation data. */
  evalAccuracy?: number;
  bestEvalAccuracy?: number;
  /** The evaluation whose weights the model holds with keep 'best' (undefined: the last step's). */
  kept?: EvalRecord;
  /** Where the trained model was written (`output`), when it was. */
  outputPath?: string;
  /** The step the run started from (> 0 when resumed). */
  resumedAt: number;
}

/** The value holding logits: the graph output, or the input of a final Softmax/LogSoftmax. */
export function logitsNameOf(model: Model): string {
  const out = model.graph.outputs[0];
  if (!out) throw new CompilerError('PRECONDITION_FAILED', 'the model has no outputs');
  const p = out.producer;
  if (p && (p.opType === 'Softmax' || p.opType === 'LogSoftmax') && p.inputs[0]) return p.inputs[0].name;
  return out.name;
}

/** Initializers and Constant-node outputs by name: where weights live (as the executor reads them). */
function weightValues(model: Model): Map<string, Value> {
  const out = new Map<string, Value>(model.graph.initializers.map((v) => [v.name, v]));
  for (const n of model.graph.nodes) if (n.opType === 'Constant' && n.outputs[0] && !out.has(n.outputs[0].name)) out.set(n.outputs[0].name, n.outputs[0]);
  return out;
}

function hostToTf(t: HostTensor): tf.Tensor {
  return tf.tensor(t.data as Float32Array, t.dims, 'float32');
}

/** Runs a teacher model in onnxruntime on batch inputs, returning the named values. */
class OrtTeacher {
  private constructor(
    private readonly session: Awaited<ReturnType<typeof openSession>>['session'],
    readonly input: string,
    readonly names: string[],
  ) {}
  static async open(teacher: Model, names: string[]): Promise<OrtTeacher> {
    const input = dataInputOf(teacher).name;
    const outs = teacher.graph.outputs.map((v) => v.name);
    const m = names.every((n) => outs.includes(n)) ? teacher : withOutputs(teacher, names);
    const { session } = await openSession(m, { threads: 1 });
    return new OrtTeacher(session, input, names);
  }
  run(b: Batch, shape: readonly number[]): Promise<Record<string, HostTensor>> {
    return runSession(this.session, { [this.input]: { data: b.x, dims: [b.n, ...shape] } }, this.names);
  }
  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Accuracy and mean cross-entropy of the model's current weights on a data set, in
 * inference mode (BN running statistics).
 */
export function evaluateExecutor(exec: TfExecutor, model: Model, ds: Dataset, batchSize = 256): { loss: number; accuracy: number; samples: number } {
  const input = dataInputOf(model).name;
  const logitsName = logitsNameOf(model);
  let correct = 0;
  let lossSum = 0;
  let n = 0;
  for (const b of ds.batches(batchSize, { augment: false })) {
    const [l, c] = batchLossAndCorrect(exec, input, logitsName, b, ds.inputShape);
    lossSum += l * b.n;
    correct += c;
    n += b.n;
  }
  return { loss: n ? lossSum / n : NaN, accuracy: n ? correct / n : NaN, samples: n };
}

/**
 * Unlabeled data trains only through label-free terms: distillation with the soft term alone
 * (rho = 1), mimicking, an L1 penalty; accuracy during training needs labelled eval data.
 * @throws DATA_UNLABELED
 */
function checkLabels(o: TrainOptions, lossName: LossName): void {
  if (o.data.labeled === false) {
    const rho = o.kd?.rho ?? 0.9;
    const why =
      lossName === 'ce'
        ? 'the cross-entropy loss'
        : lossName === 'kd' && rho < 1
          ? `distillation with rho ${rho} (its hard term, weight ${+(1 - rho).toFixed(6)})`
          : undefined;
    if (why) requireLabels(o.data, why, 'distil from a teacher with the soft term alone (--loss kd --rho 1), mimic layers, or pass labelled data');
  }
  if (o.evalData) requireLabels(o.evalData, 'evaluating accuracy', 'drop the eval data or pass a labelled set');
}

/**
 * Trains `model` in place: on return its initializers hold the trained weights and BN
 * running statistics (the last step's, or the best evaluated epoch's with keep 'best');
 * nothing else in the graph changes.
 *
 * Nothing trained is lost: with `checkpointDir` the model and optimiser state are saved
 * after every epoch (and `resume` continues from there, bit-identically on cpu and wasm);
 * with `output` the trained model is written before the final evaluation. An evaluation
 * that fails (after the batch has been shrunk down to 1 on out-of-memory errors) stops
 * further evaluation, training goes on, and the run ends with TRAIN_EVAL_FAILED naming
 * where the trained model was written.
 * @throws INVALID_OPTION, DATA_SHAPE_MISMATCH, DATA_UNLABELED, TRAIN_DIVERGED (loss became NaN/∞),
 *   TRAIN_EVAL_FAILED, CHECKPOINT_INVALID (resume from a missing or different run), and the
 *   executor's UNSUPPORTED_OP for an op tfjs cannot run
 */
export async function train(model: Model, o: TrainOptions): Promise<TrainResult> {
  const log = o.log ?? (() => {});
  const batchSize = o.batchSize ?? 64;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new CompilerError('INVALID_OPTION', `batch size must be a positive integer, not ${batchSize}`);
  const lossName: LossName = o.loss ?? 'ce';
  const mimic = o.mimic ?? [];
  if ((lossName === 'kd' || mimic.length > 0) && !o.teacher) {
    throw new CompilerError('INVALID_OPTION', `${lossName === 'kd' ? '--loss kd' : '--mimic'} needs a teacher model`, { hint: 'pass --teacher original.onnx' });
  }
  if (lossName === 'none' && mimic.length === 0 && !o.l1)
    throw new CompilerError('INVALID_OPTION', '--loss none leaves nothing to minimise', { hint: 'add --mimic pairs or an --l1 penalty' });
  checkLabels(o, lossName);
  if (o.resume && !o.checkpointDir)
    throw new CompilerError('INVALID_OPTION', 'resume needs a checkpoint folder', { hint: 'pass --checkpoint-dir, the folder the interrupted run wrote' });
  const keep = o.keep ?? 'last';
  if (keep !== 'last' && keep !== 'best') throw new CompilerError('INVALID_OPTION', `keep must be best or last, not ${String(keep)}`);
  checkModelFitsData(model, o.data);
  if (o.evalData) checkModelFitsData(model, o.evalData);
  const shape = o.data.inputShape;
  const dropLast = o.data.size >= batchSize;
  const stepsPerEpoch = dropLast ? Math.floor(o.data.size / batchSize) : 1;
  if (o.data.size === 0) throw new CompilerError('INVALID_OPTION', `the training set ${o.data.name} is empty`);
  const totalSteps = o.steps ?? Math.round((o.epochs ?? 1) * stepsPerEpoch);
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) throw new CompilerError('INVALID_OPTION', `the run must have at least one step (got ${totalSteps})`);
  const seed = o.seed ?? 0;
  const ckDir = o.checkpointDir ? new CheckpointDir(o.checkpointDir) : undefined;
  const saved: CheckpointState | undefined = o.resume ? ckDir!.read() : undefined;
  if (o.resume && !saved) {
    throw new CompilerError('CHECKPOINT_INVALID', `${ckDir!.dir} holds no checkpoint (no state.json)`, {
      where: ckDir!.dir,
      hint: 'start the run without --resume; it writes a checkpoint after every epoch',
    });
  }
  if (saved) {
    // The checkpoint's weights (and BN statistics) replace the model's before anything compiles.
    const from = weightValues(ckDir!.readModel(saved));
    for (const [name, v] of weightValues(model)) {
      const src = from.get(name);
      const t = src ? constantData(src) : undefined;
      const mine = constantData(v);
      if (t && mine && t.dataType === DataType.FLOAT && mine.dataType === DataType.FLOAT && t.size === mine.size)
        setConstantData(v, IrTensor.fromFloat32(name, mine.shape, t.toFloat32()));
    }
  }

  const backend = await selectBackend(o.backend ?? 'auto', log);
  const advice = nativeBackendAdvice(backend.name);
  if (advice) log(advice);
  const input = dataInputOf(model).name;
  const logitsName = logitsNameOf(model);
  const teacherLogits = o.teacher && lossName === 'kd' ? logitsNameOf(o.teacher) : null;
  const opt = createOptimizer(o.optimizer ?? 'sgd', { momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
  const execOpts = { trainable: o.trainable ?? 'all', batchNorm: o.batchNorm ?? 'train', seed } as const;
  let exec = TfExecutor.create(model, execOpts);
  let teacher: OrtTeacher | null = null;
  // The teacher pass in flight, awaited before the session closes (also after an error).
  let inFlight: Promise<unknown> | null = null;
  try {
    if (o.teacher) teacher = await OrtTeacher.open(o.teacher, [...new Set([...(teacherLogits ? [teacherLogits] : []), ...mimic.map((p) => p.teacher)])]);
    const vars = exec.trainableVariables();
    if (vars.length === 0) throw new CompilerError('INVALID_OPTION', 'no parameter is trainable', { hint: 'check --trainable' });
    const nameOf = new Map([...exec.variables].map(([n, v]) => [v, n]));
    const identity: RunIdentity = { totalSteps, stepsPerEpoch, batchSize, seed, optimizer: opt.name, trainable: vars.map((v) => nameOf.get(v)!) };
    if (saved) {
      const why = identityMismatch(saved.run, identity);
      if (why)
        throw new CompilerError('CHECKPOINT_INVALID', `the checkpoint in ${ckDir!.dir} is of another run: ${why}`, {
          where: ckDir!.dir,
          hint: 'resume with the same options as the interrupted run, or start afresh in another --checkpoint-dir',
        });
      const byName = new Map([...exec.variables]);
      const host = ckDir!.readSlots(saved);
      opt.importState({
        steps: host.steps,
        slots: host.slots.map((x) => {
          const variable = byName.get(x.name);
          if (!variable)
            throw new CompilerError('CHECKPOINT_INVALID', `the checkpoint has optimizer state for "${x.name}", which is not a parameter here`, {
              where: x.name,
            });
          return { kind: x.kind, variable, data: x.data };
        }),
      });
      log(`resuming at step ${saved.step} (epoch ${saved.epoch}) from ${ckDir!.dir}`);
    }
    const bn = exec.batchNormNodes();
    const bnTrain = (o.batchNorm ?? 'train') === 'train';
    if (bnTrain && bn.fixed.length)
      log(
        `BatchNormalization ${bn.fixed.slice(0, 3).join(', ')}${bn.fixed.length > 3 ? ` and ${bn.fixed.length - 3} more` : ''} keep their running statistics (they are not float32 initializers, so training cannot update them)`,
      );
    const recalBatches = bnTrain && bn.updated.length ? (o.recalibrateBatchNorm ?? Math.max(1, Math.min(stepsPerEpoch, Math.ceil(4096 / batchSize)))) : 0;
    if (!(Number.isInteger(recalBatches) && recalBatches >= 0))
      throw new CompilerError('INVALID_OPTION', `recalibrateBatchNorm must be a whole number of batches ≥ 0, not ${recalBatches}`);
    // Before every evaluation and at the end. Running statistics never feed a training step,
    // and the k-th batch's weight 1/(k+1) replaces the old statistics entirely, so the result
    // does not depend on whether (or how often) the run evaluated.
    const recalibrate = () => {
      if (recalBatches > 0) recalibrateBatchNorm(exec, model, o.data, batchSize, recalBatches, logitsName);
    };
    const l1Vars = o.l1 ? [...exec.variables].filter(([name]) => o.l1!.select(name)).map(([, v]) => v) : [];
    if (o.l1 && l1Vars.length === 0) throw new CompilerError('INVALID_OPTION', 'the L1 penalty selects no parameter');
    const lrAt = createSchedule({
      kind: o.schedule ?? 'constant',
      lr: o.lr ?? (o.optimizer === 'adam' || o.optimizer === 'adamw' ? 1e-3 : 0.05),
      totalSteps,
      warmupSteps: o.warmupSteps,
      gamma: o.gamma,
      milestones: o.milestones,
      minLr: o.minLr,
    });
    const studentOuts = [...new Set([logitsName, ...mimic.map((p) => p.student)])];
    const mimicKind = o.mimicLoss ?? 'kl';
    const mimicWeight = o.mimicWeight ?? 1;
    const firstStep = saved?.step ?? 0;

    const stream = (function* (): Generator<{ b: Batch; epoch: number }> {
      for (let epoch = Math.floor(firstStep / stepsPerEpoch); ; epoch++) {
        let k = 0;
        for (const b of o.data.batches(batchSize, { shuffle: true, seed: seed * 7919 + epoch, dropLast })) {
          yield { b, epoch };
          if (++k >= stepsPerEpoch) break;
        }
      }
    })();

    const evals: EvalRecord[] = saved ? [...saved.evals] : [];
    let best: EvalRecord | undefined = saved?.best ? evals.find((e) => e.step === saved.best!.step) : undefined;
    let bestWeights: Map<string, Float32Array> | undefined;
    let evalError: unknown;
    const better = (a: EvalRecord, b: EvalRecord | undefined) => !b || a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.loss < b.loss);
    /** Host copies of what writeBack stores: the weights an epoch is evaluated with. */
    const snapshot = () => {
      const values = weightValues(model);
      const out = new Map<string, Float32Array>();
      for (const n of exec.variables.keys()) {
        const t = values.get(n) && constantData(values.get(n)!);
        if (t) out.set(n, t.toFloat32().slice());
      }
      return out;
    };
    // After training only: a backend restarted mid-run would have lost the optimiser state.
    const rebuild = () => {
      try {
        exec.dispose();
      } catch {
        /* its backend is gone */
      }
      exec = TfExecutor.create(model, execOpts);
      return exec;
    };

    /** Evaluates the weights already written back to `model`; a failure is kept, not thrown. */
    const runEval = async (step: number, epoch: number, final = false): Promise<EvalRecord | undefined> => {
      if (!o.evalData || evalError !== undefined) return undefined;
      try {
        const r = await evaluateFitted(exec, model, o.evalData, logitsName, { maxBatchSize: o.evalBatchSize, log, rebuild: final ? rebuild : undefined });
        const rec = { step, epoch, loss: r.loss, accuracy: r.accuracy, samples: r.samples };
        evals.push(rec);
        o.onEval?.(rec);
        log(
          `eval step ${step} epoch ${epoch}: accuracy ${(100 * r.accuracy).toFixed(2)}% loss ${r.loss.toFixed(4)} on ${r.samples} samples (${o.evalData.name})`,
        );
        if (better(rec, best)) {
          best = rec;
          if (keep === 'best') bestWeights = snapshot();
          if (ckDir) ckDir.writeBest(model, o.inputPath);
        }
        return rec;
      } catch (e) {
        evalError = e;
        log(`evaluation failed at step ${step}: ${(e as Error).message.split('\n')[0]}; training goes on without evaluation`);
        return undefined;
      }
    };

    /** One step; a backend that runs out of memory in it becomes a named error that says what to change. */
    const runStep = <T>(step: number, n: number, f: () => T): T => {
      try {
        return f();
      } catch (e) {
        throw (
          stepOutOfMemory(e, {
            step,
            batch: n,
            backend: backend.name,
            checkpoint: ckState ? { step: ckState.step, path: ckDir!.modelPath(ckState.epoch) } : undefined,
          }) ?? e
        );
      }
    };

    let trainMs = saved?.trainMs ?? 0;
    let images = saved?.images ?? 0;
    let ckState: CheckpointState | undefined;
    const writeCheckpoint = (step: number, epoch: number) => {
      if (!ckDir) return;
      const st = opt.exportState();
      const host = { steps: st.steps, slots: st.slots.map((x) => ({ name: nameOf.get(x.variable)!, kind: x.kind, data: x.data })) };
      ckDir.write(model, host, { run: identity, step, epoch, evals, trainMs, images }, o.inputPath);
      ckState = ckDir.read();
    };
    const updateState = () => {
      if (!ckDir || !ckState) return;
      ckState = {
        ...ckState,
        evals: [...evals],
        best: best ? { step: best.step, epoch: best.epoch, accuracy: best.accuracy, loss: best.loss, file: 'best.onnx' } : undefined,
      };
      ckDir.writeState(ckState);
    };

    let winLoss = 0;
    let winPenalty = 0;
    let winCorrect = 0;
    let winN = 0;
    let winSteps = 0;
    let lastLoss = NaN;
    let lastPenalty = NaN;
    let lastAcc = NaN;
    const t0 = Date.now();
    let cur = firstStep < totalSteps ? stream.next().value! : undefined;
    let curTeacher = teacher && cur ? teacher.run(cur.b, shape) : null;
    inFlight = curTeacher;
    for (let step = firstStep; step < totalSteps; step++) {
      const ts = Date.now();
      const { b, epoch } = cur!;
      // Dropout masks restart per epoch, so a resumed run draws what an unbroken one would.
      if (step % stepsPerEpoch === 0) exec.reseed(seed * 1_000_003 + epoch);
      const tOut = curTeacher ? await curTeacher : null;
      if (step + 1 < totalSteps) {
        cur = stream.next().value!;
        // Start the next teacher pass now: it runs on onnxruntime's thread during this step.
        curTeacher = teacher ? teacher.run(cur.b, shape) : null;
        inFlight = curTeacher;
      }
      const lr = lrAt(step);
      const memory: BackpropStats = { savedBytes: 0, forwardBytes: 0, peakBytes: 0 };
      const [lossV, correct, penaltyV] = runStep(step, b.n, () =>
        tf.tidy(() => {
          const x = tf.tensor(b.x, [b.n, ...shape]);
          const y = tf.tensor1d(b.y, 'int32');
          const tT: Record<string, tf.Tensor> = {};
          if (tOut) for (const [k, v] of Object.entries(tOut)) tT[k] = hostToTf(v);
          let kept: tf.Tensor | null = null;
          let penalty: tf.Tensor | null = null;
          try {
            // tf.variableGrads with each saved tensor and gradient freed as soon as the backward pass is done with it.
            const { value, grads } = leanVariableGrads(
              () => {
                const outs = exec.run({ [input]: x }, { training: true, outputs: studentOuts });
                const logits = outs[logitsName]!;
                kept = tf.keep(logits);
                const terms: tf.Scalar[] = [];
                if (lossName === 'ce') terms.push(crossEntropy(logits, y));
                else if (lossName === 'kd') terms.push(distillationLoss(logits, tT[teacherLogits!]!, y, o.kd));
                if (mimic.length) {
                  const ms = mimic.map((p) => mimicLoss(tT[p.teacher]!, outs[p.student]!, mimicKind, `${p.teacher}:${p.student}`));
                  terms.push(tf.mul(tf.div(tf.addN(ms), ms.length), mimicWeight) as tf.Scalar);
                }
                if (o.l1) {
                  penalty = tf.keep(l1Penalty(l1Vars, o.l1.lambda));
                  terms.push(penalty as tf.Scalar);
                }
                return (terms.length === 1 ? terms[0]! : tf.addN(terms)) as tf.Scalar;
              },
              vars,
              memory,
            );
            const gmap = new Map<tf.Variable, tf.Tensor>();
            for (const v of vars) {
              const g = grads[v.name];
              if (g) gmap.set(v, g);
            }
            opt.apply(vars, gmap, lr);
            const z = kept! as tf.Tensor;
            const p = penalty as tf.Tensor | null;
            return [value.dataSync()[0]!, correctCountOnHost(z.dataSync(), b.y, z.shape[z.rank - 1]!), p ? p.dataSync()[0]! : NaN] as [number, number, number];
          } finally {
            // Kept past the forward pass's tidy: freed here, also when the step fails (unless
            // the failure took the backend with it: then its error is the one to report).
            try {
              (kept as tf.Tensor | null)?.dispose();
              (penalty as tf.Tensor | null)?.dispose();
            } catch {
              /* the backend is gone */
            }
          }
        }),
      );
      if (!Number.isFinite(lossV)) {
        throw new CompilerError('TRAIN_DIVERGED', `the loss became ${lossV} at step ${step} (lr ${lr.toPrecision(3)})`, {
          hint: 'lower --lr, add --warmup, or check the data normalisation',
        });
      }
      trainMs += Date.now() - ts;
      images += b.n;
      winLoss += lossV * b.n;
      winPenalty += penaltyV * b.n;
      winCorrect += correct;
      winN += b.n;
      winSteps++;
      const done = step + 1;
      // Shown: the mean over the current window of up to 50 steps (fresh each epoch).
      lastLoss = winLoss / winN;
      lastPenalty = winPenalty / winN;
      lastAcc = o.data.labeled === false ? NaN : winCorrect / winN; // no labels: unknown
      if (winSteps >= 50 || done % stepsPerEpoch === 0) {
        winLoss = 0;
        winPenalty = 0;
        winCorrect = 0;
        winN = 0;
        winSteps = 0;
      }
      const ips = images / Math.max(1e-3, trainMs / 1000);
      o.onProgress?.({
        step: done,
        totalSteps,
        epoch,
        loss: lastLoss,
        ...(o.l1 ? { penalty: lastPenalty } : {}),
        accuracy: lastAcc,
        lr,
        imagesPerSec: ips,
        etaSeconds: ((totalSteps - done) * batchSize) / ips,
        stepPeakBytes: memory.peakBytes,
      });
      const endOfEpoch = done % stepsPerEpoch === 0;
      const epochsDone = Math.floor(done / stepsPerEpoch);
      if (done < totalSteps) {
        const evalNow =
          !!o.evalData && evalError === undefined && (o.evalEverySteps ? done % o.evalEverySteps === 0 : endOfEpoch && epochsDone % (o.evalEvery ?? 1) === 0);
        if (evalNow) recalibrate();
        if (evalNow || (endOfEpoch && ckDir)) {
          // On the host first: a checkpoint, and a copy that survives a crashing evaluation.
          exec.writeBack(model);
          if (endOfEpoch) writeCheckpoint(done, epochsDone);
        }
        if (evalNow) {
          await runEval(done, epochsDone);
          updateState();
          if (evalError !== undefined && !backendAlive()) break;
        }
      }
    }
    const crashed = evalError !== undefined && !backendAlive();
    if (!crashed) {
      recalibrate();
      exec.writeBack(model);
    }
    const stepsDone = crashed ? (ckState?.step ?? firstStep) : totalSteps;
    const epochsDone = stepsDone / stepsPerEpoch;
    if (!crashed && firstStep < totalSteps) writeCheckpoint(totalSteps, Math.ceil(epochsDone));
    const outputPath = o.output
      ? saveModel(model, o.output.path, { inputPath: o.output.inputPath ?? o.inputPath, overwrite: o.output.overwrite }).path
      : undefined;
    if (!crashed) await runEval(totalSteps, epochsDone, true);
    updateState();
    let kept: EvalRecord | undefined;
    if (keep === 'best' && best && !bestWeights && ckDir && existsSync(ckDir.bestPath)) {
      // The best epoch was before a resume: its weights are on disk.
      bestWeights = new Map();
      for (const [n, v] of weightValues(readModel(ckDir.bestPath))) {
        const t = exec.variables.has(n) ? constantData(v) : undefined;
        if (t) bestWeights.set(n, t.toFloat32().slice());
      }
    }
    if (keep === 'best' && best && bestWeights && evalError === undefined && best.step !== evals.at(-1)?.step) {
      kept = best;
      for (const [n, v] of weightValues(model)) {
        const w = bestWeights.get(n);
        const t = w ? constantData(v) : undefined;
        if (w && t) setConstantData(v, IrTensor.fromFloat32(n, t.shape, w));
      }
      if (o.output) saveModel(model, o.output.path, { inputPath: o.output.inputPath ?? o.inputPath, overwrite: o.output.overwrite });
      log(`kept the weights of epoch ${best.epoch} (accuracy ${(100 * best.accuracy).toFixed(2)}%), the best evaluated`);
    }
    if (evalError !== undefined) {
      const where = outputPath ?? (ckState ? ckDir!.modelPath(ckState.epoch) : undefined);
      const what = crashed ? `the weights after step ${stepsDone} of ${totalSteps} (the backend stopped working)` : `the trained model (${totalSteps} steps)`;
      throw new CompilerError(
        'TRAIN_EVAL_FAILED',
        `evaluation failed${crashed ? ' and stopped training' : ' after training'}: ${(evalError as Error).message.split('\n')[0]}; ${what} ${where ? `was written to ${where}` : 'is in the model object (give an output or a checkpoint folder to have it written)'}`,
        {
          where,
          cause: evalError,
          hint:
            crashed && ckDir
              ? 'continue with --resume from the checkpoint folder, with a smaller --eval-batch'
              : 'evaluate the written model with `sculpt validate`, or retry with a smaller --eval-batch',
        },
      );
    }
    const seconds = (Date.now() - t0) / 1000;
    return {
      backend: backend.name,
      steps: totalSteps,
      epochs: totalSteps / stepsPerEpoch,
      batchSize,
      seconds,
      imagesPerSec: images / Math.max(1e-3, trainMs / 1000),
      finalLoss: lastLoss,
      trainAccuracy: lastAcc,
      evals,
      evalAccuracy: evals.at(-1)?.accuracy,
      bestEvalAccuracy: evals.length ? Math.max(...evals.map((e) => e.accuracy)) : undefined,
      kept,
      outputPath,
      resumedAt: firstStep,
    };
  } finally {
    // After a backend crash these tensors are gone with it.
    try {
      opt.dispose();
    } catch {
      /* nothing left to free */
    }
    try {
      exec.dispose();
    } catch {
      /* nothing left to free */
    }
    if (inFlight) await inFlight.catch(() => {});
    await teacher?.close();
  }
}

/**
 * The error for a training step that ran out of backend memory (`isOutOfMemory`), naming the
 * step, the batch, the backend (wasm's heap stops at 4 GiB and its module is dead after an
 * abort) and the last checkpoint; undefined for any other error.
 */
export function stepOutOfMemory(
  e: unknown,
  at: { step: number; batch: number; backend: BackendName; checkpoint?: { step: number; path: string } },
): CompilerError | undefined {
  if (!isOutOfMemory(e)) return undefined;
  const native = at.backend === 'tfjs-node' || at.backend === 'tfjs-node-gpu';
  const saved = at.checkpoint ? ` The last checkpoint (step ${at.checkpoint.step}) is ${at.checkpoint.path}.` : '';
  return new CompilerError(
    'TRAIN_OUT_OF_MEMORY',
    `training step ${at.step} with a batch of ${at.batch} ran out of memory on the ${at.backend} backend${at.backend === 'wasm' ? ' (its heap stops at 4 GiB)' : ''}: ${(e as Error).message.split('\n')[0]!.replace(/\.$/, '')}.${saved}`,
    {
      cause: e,
      hint: `give a smaller --batch (e.g. ${Math.max(1, Math.floor(at.batch / 2))})${native ? '' : ', or install the native backend (npm install @tensorflow/tfjs-node), which has no such cap'}${at.checkpoint ? ', and continue with --resume' : ''}`,
    },
  );
}

/**
 * Accuracy of a model on a data set with the tfjs executor (inference mode), with a batch
 * that fits in memory (at most `batchSize`, default 256). Selects a backend when none is active.
 */
export async function evaluateTf(
  model: Model,
  ds: Dataset,
  opts: { batchSize?: number; backend?: BackendPreference; log?: (m: string) => void } = {},
): Promise<{ loss: number; accuracy: number; samples: number }> {
  checkModelFitsData(model, ds);
  requireLabels(ds, 'accuracy');
  await selectBackend(opts.backend ?? 'auto', opts.log);
  let exec = TfExecutor.create(model, { trainable: 'none' });
  try {
    const rebuild = () => {
      try {
        exec.dispose();
      } catch {
        /* its backend is gone */
      }
      exec = TfExecutor.create(model, { trainable: 'none' });
      return exec;
    };
    const r = await evaluateFitted(exec, model, ds, logitsNameOf(model), { maxBatchSize: opts.batchSize, log: opts.log, rebuild });
    return { loss: r.loss, accuracy: r.accuracy, samples: r.samples };
  } finally {
    try {
      exec.dispose();
    } catch {
      /* nothing left to free */
    }
  }
}
