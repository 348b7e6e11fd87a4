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
import * as tf from '@tensorflow/tfjs-core';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import { saveModel } from '../serde/write.js';
import { openSession, runSession, withOutputs } from '../runtime/session.js';
import type { HostTensor } from '../runtime/session.js';
import type { Batch, Dataset } from '../data/dataset.js';
import { checkModelFitsData, dataInputOf } from '../data/fit.js';
import { selectBackend } from './backend.js';
import { TfExecutor } from './executor.js';
import { correctCount, crossEntropy, distillationLoss, l1Penalty, mimicLoss } from './losses.js';
import type { KdOptions, MimicKind } from './losses.js';
import { createOptimizer } from './optim.js';
import type { OptimizerName } from './optim.js';
import { createSchedule } from './schedule.js';
import type { ScheduleName } from './schedule.js';

export type BackendPreference = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu' | 'auto';
export type LossName = 'ce' | 'kd' | 'none';

/** A teacher value and the student value that should mimic it. */
export interface MimicPair { readonly teacher: string; readonly student: string }

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
  evalBatchSize?: number;
  /** Atomic saves of the written-back model during training. */
  checkpoint?: { path: string; everySteps?: number; everyEpochs?: number; inputPath?: string };
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
  accuracy: number;
  lr: number;
  imagesPerSec: number;
  etaSeconds: number;
}

export interface EvalRecord { step: number; epoch: number; loss: number; accuracy: number; samples: number }

export interface TrainResult {
  backend: string;
  steps: number;
  epochs: number;
  batchSize: number;
  seconds: number;
  /** Training throughput, evaluation time excluded. */
  imagesPerSec: number;
  finalLoss: number;
  trainAccuracy: number;
  evals: EvalRecord[];
  /** The last evaluation, when there was evaluation data. */
  evalAccuracy?: number;
  bestEvalAccuracy?: number;
}

/** The value holding logits: the graph output, or the input of a final Softmax/LogSoftmax. */
export function logitsNameOf(model: Model): string {
  const out = model.graph.outputs[0];
  if (!out) throw new CompilerError('PRECONDITION_FAILED', 'the model has no outputs');
  const p = out.producer;
  if (p && (p.opType === 'Softmax' || p.opType === 'LogSoftmax') && p.inputs[0]) return p.inputs[0].name;
  return out.name;
}

function hostToTf(t: HostTensor): tf.Tensor {
  return tf.tensor(t.data as Float32Array, t.dims, 'float32');
}

/** Runs a teacher model in onnxruntime on batch inputs, returning the named values. */
class OrtTeacher {
  private constructor(private readonly session: Awaited<ReturnType<typeof openSession>>['session'], readonly input: string, readonly names: string[]) {}
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
  async close(): Promise<void> { await this.session.release(); }
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
    const [l, c] = tf.tidy(() => {
      const x = tf.tensor(b.x, [b.n, ...ds.inputShape]);
      const y = tf.tensor1d(b.y, 'int32');
      const logits = exec.run({ [input]: x }, { training: false, outputs: [logitsName] })[logitsName]!;
      return [crossEntropy(logits, y).dataSync()[0]!, correctCount(logits, y).dataSync()[0]!];
    });
    lossSum += l * b.n;
    correct += c;
    n += b.n;
  }
  return { loss: n ? lossSum / n : NaN, accuracy: n ? correct / n : NaN, samples: n };
}

/**
 * Trains `model` in place: on return its initializers hold the trained weights and BN
 * running statistics; nothing else in the graph changes.
 * @throws INVALID_OPTION, DATA_SHAPE_MISMATCH, TRAIN_DIVERGED (loss became NaN/∞), and the
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
  if (lossName === 'none' && mimic.length === 0 && !o.l1) throw new CompilerError('INVALID_OPTION', '--loss none leaves nothing to minimise', { hint: 'add --mimic pairs or an --l1 penalty' });
  checkModelFitsData(model, o.data);
  if (o.evalData) checkModelFitsData(model, o.evalData);
  const shape = o.data.inputShape;
  const dropLast = o.data.size >= batchSize;
  const stepsPerEpoch = dropLast ? Math.floor(o.data.size / batchSize) : 1;
  if (o.data.size === 0) throw new CompilerError('INVALID_OPTION', `the training set ${o.data.name} is empty`);
  const totalSteps = o.steps ?? Math.round((o.epochs ?? 1) * stepsPerEpoch);
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) throw new CompilerError('INVALID_OPTION', `the run must have at least one step (got ${totalSteps})`);

  const backend = await selectBackend(o.backend ?? 'auto', log);
  const input = dataInputOf(model).name;
  const logitsName = logitsNameOf(model);
  const teacherLogits = o.teacher && lossName === 'kd' ? logitsNameOf(o.teacher) : null;
  const opt = createOptimizer(o.optimizer ?? 'sgd', { momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay });
  const exec = TfExecutor.create(model, { trainable: o.trainable ?? 'all', batchNorm: o.batchNorm ?? 'train', seed: o.seed ?? 0 });
  let teacher: OrtTeacher | null = null;
  // The teacher pass in flight, awaited before the session closes (also after an error).
  let inFlight: Promise<unknown> | null = null;
  try {
    if (o.teacher) teacher = await OrtTeacher.open(o.teacher, [...new Set([...(teacherLogits ? [teacherLogits] : []), ...mimic.map((p) => p.teacher)])]);
    const vars = exec.trainableVariables();
    if (vars.length === 0) throw new CompilerError('INVALID_OPTION', 'no parameter is trainable', { hint: 'check --trainable' });
    const l1Vars = o.l1 ? [...exec.variables].filter(([name]) => o.l1!.select(name)).map(([, v]) => v) : [];
    if (o.l1 && l1Vars.length === 0) throw new CompilerError('INVALID_OPTION', 'the L1 penalty selects no parameter');
    const lrAt = createSchedule({ kind: o.schedule ?? 'constant', lr: o.lr ?? (o.optimizer === 'adam' || o.optimizer === 'adamw' ? 1e-3 : 0.05), totalSteps, warmupSteps: o.warmupSteps, gamma: o.gamma, milestones: o.milestones, minLr: o.minLr });
    const studentOuts = [...new Set([logitsName, ...mimic.map((p) => p.student)])];
    const mimicKind = o.mimicLoss ?? 'kl';
    const mimicWeight = o.mimicWeight ?? 1;
    const seed = o.seed ?? 0;

    const stream = (function* (): Generator<{ b: Batch; epoch: number }> {
      for (let epoch = 0; ; epoch++) {
        let k = 0;
        for (const b of o.data.batches(batchSize, { shuffle: true, seed: seed * 7919 + epoch, dropLast })) {
          yield { b, epoch };
          if (++k >= stepsPerEpoch) break;
        }
      }
    })();

    const evals: EvalRecord[] = [];
    const runEval = (step: number, epoch: number) => {
      if (!o.evalData) return;
      const r = evaluateExecutor(exec, model, o.evalData, o.evalBatchSize ?? 256);
      const rec = { step, epoch, ...r };
      evals.push(rec);
      o.onEval?.(rec);
      log(`eval step ${step} epoch ${epoch}: accuracy ${(100 * r.accuracy).toFixed(2)}% loss ${r.loss.toFixed(4)} on ${r.samples} samples (${o.evalData.name})`);
    };
    const checkpoint = () => {
      if (!o.checkpoint) return;
      exec.writeBack(model);
      saveModel(model, o.checkpoint.path, { inputPath: o.checkpoint.inputPath });
    };

    let trainMs = 0;
    let images = 0;
    let winLoss = 0; let winCorrect = 0; let winN = 0; let winSteps = 0;
    let lastLoss = NaN; let lastAcc = NaN;
    const t0 = Date.now();
    let cur = stream.next().value!;
    let curTeacher = teacher ? teacher.run(cur.b, shape) : null;
    inFlight = curTeacher;
    for (let step = 0; step < totalSteps; step++) {
      const ts = Date.now();
      const { b, epoch } = cur;
      const tOut = curTeacher ? await curTeacher : null;
      if (step + 1 < totalSteps) {
        cur = stream.next().value!;
        // Start the next teacher pass now: it runs on onnxruntime's thread during this step.
        curTeacher = teacher ? teacher.run(cur.b, shape) : null;
        inFlight = curTeacher;
      }
      const lr = lrAt(step);
      const [lossV, correct] = tf.tidy(() => {
        const x = tf.tensor(b.x, [b.n, ...shape]);
        const y = tf.tensor1d(b.y, 'int32');
        const tT: Record<string, tf.Tensor> = {};
        if (tOut) for (const [k, v] of Object.entries(tOut)) tT[k] = hostToTf(v);
        let kept: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const outs = exec.run({ [input]: x }, { training: true, outputs: studentOuts });
          const logits = outs[logitsName]!;
          kept = tf.keep(correctCount(logits, y));
          const terms: tf.Scalar[] = [];
          if (lossName === 'ce') terms.push(crossEntropy(logits, y));
          else if (lossName === 'kd') terms.push(distillationLoss(logits, tT[teacherLogits!]!, y, o.kd));
          if (mimic.length) {
            const ms = mimic.map((p) => mimicLoss(tT[p.teacher]!, outs[p.student]!, mimicKind, `${p.teacher}:${p.student}`));
            terms.push(tf.mul(tf.div(tf.addN(ms), ms.length), mimicWeight) as tf.Scalar);
          }
          if (o.l1) terms.push(l1Penalty(l1Vars, o.l1.lambda));
          return (terms.length === 1 ? terms[0]! : tf.addN(terms)) as tf.Scalar;
        }, vars);
        const gmap = new Map<tf.Variable, tf.Tensor>();
        for (const v of vars) { const g = grads[v.name]; if (g) gmap.set(v, g); }
        opt.apply(vars, gmap, lr);
        const out: [number, number] = [value.dataSync()[0]!, kept!.dataSync()[0]!];
        (kept as tf.Tensor | null)?.dispose();
        return out;
      });
      if (!Number.isFinite(lossV)) {
        throw new CompilerError('TRAIN_DIVERGED', `the loss became ${lossV} at step ${step} (lr ${lr.toPrecision(3)})`, { hint: 'lower --lr, add --warmup, or check the data normalisation' });
      }
      trainMs += Date.now() - ts;
      images += b.n;
      winLoss += lossV * b.n; winCorrect += correct; winN += b.n; winSteps++;
      const done = step + 1;
      // Shown: the mean over the current window of up to 50 steps (fresh each epoch).
      lastLoss = winLoss / winN; lastAcc = winCorrect / winN;
      if (winSteps >= 50 || done % stepsPerEpoch === 0) { winLoss = 0; winCorrect = 0; winN = 0; winSteps = 0; }
      const ips = images / Math.max(1e-3, trainMs / 1000);
      o.onProgress?.({ step: done, totalSteps, epoch, loss: lastLoss, accuracy: lastAcc, lr, imagesPerSec: ips, etaSeconds: ((totalSteps - done) * batchSize) / ips });
      const endOfEpoch = done % stepsPerEpoch === 0;
      const epochsDone = Math.floor(done / stepsPerEpoch);
      if (done < totalSteps) {
        const evalNow = o.evalEverySteps ? done % o.evalEverySteps === 0 : endOfEpoch && epochsDone % (o.evalEvery ?? 1) === 0;
        if (evalNow) runEval(done, epochsDone);
        const ck = o.checkpoint;
        if (ck && ((ck.everySteps && done % ck.everySteps === 0) || (endOfEpoch && epochsDone % (ck.everyEpochs ?? 1) === 0 && !ck.everySteps))) checkpoint();
      }
    }
    runEval(totalSteps, totalSteps / stepsPerEpoch);
    exec.writeBack(model);
    if (o.checkpoint) saveModel(model, o.checkpoint.path, { inputPath: o.checkpoint.inputPath });
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
    };
  } finally {
    opt.dispose();
    exec.dispose();
    if (inFlight) await inFlight.catch(() => {});
    await teacher?.close();
  }
}

/**
 * Accuracy of a model on a data set with the tfjs executor (inference mode).
 * Selects a backend when none is active.
 */
export async function evaluateTf(model: Model, ds: Dataset, opts: { batchSize?: number; backend?: BackendPreference; log?: (m: string) => void } = {}): Promise<{ loss: number; accuracy: number; samples: number }> {
  checkModelFitsData(model, ds);
  await selectBackend(opts.backend ?? 'auto', opts.log);
  const exec = TfExecutor.create(model, { trainable: 'none' });
  try { return evaluateExecutor(exec, model, ds, opts.batchSize); } finally { exec.dispose(); }
}
