/** `sculpt train`: fine-tune, train from scratch or distil a model in tfjs; write the weights back. */
import type { CommandModule } from 'yargs';
import { CompilerError } from '../../errors.js';
import { usageError } from '../usage.js';
import { readModel } from '../../serde/read.js';
import { saveModel } from '../../serde/write.js';
import { verifyModel } from '../../ir/verify.js';
import { DATA_SPECS } from '../../data/loader.js';
import { loadDatasetFor } from '../../data/fit.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import { fixInputShapes } from '../options/fix-input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';
import type { LoadedDataset } from '../../data/loader.js';
import type { BackendPreference, LossName, MimicPair, TrainProgress } from '../../train/loop.js';
import { MIMIC_KINDS } from '../../train/names.js';
import type { MimicKind } from '../../train/names.js';
import { OPTIMIZERS } from '../../train/names.js';
import type { OptimizerName } from '../../train/names.js';
import { SCHEDULES } from '../../train/schedule.js';
import type { ScheduleName } from '../../train/schedule.js';
import { lossText, printJson, progress, say } from '../output.js';
import { dataSpecInputs, guardOutputs } from '../../util/output-guard.js';
import type { Progress } from '../output.js';

interface TrainArgs extends InputShapeArgs {
  model: string;
  output: string;
  data: string;
  teacher?: string;
  loss: LossName;
  mimic?: string;
  'mimic-loss': MimicKind;
  'mimic-weight': number;
  temperature: number;
  rho: number;
  epochs?: number;
  steps?: number;
  lr?: number;
  optimizer: OptimizerName;
  momentum: number;
  nesterov: boolean;
  'weight-decay': number;
  schedule: ScheduleName;
  'warmup-steps': number;
  'lr-milestones'?: string;
  gamma: number;
  batch: number;
  backend: BackendPreference;
  seed: number;
  limit?: number;
  'eval-limit'?: number;
  'eval-every': number;
  eval: boolean;
  flip: boolean;
  crop: number;
  resize: boolean;
  trainable?: string;
  'freeze-bn': boolean;
  l1?: string;
  'l1-lambda': number;
  'checkpoint-dir'?: string;
  resume: boolean;
  keep: 'best' | 'last';
  'eval-batch': number;
  'recalibrate-bn'?: number;
  json: boolean;
  overwrite: boolean;
}

function parseMimic(s: string | undefined): MimicPair[] {
  if (!s) return [];
  return s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const parts = p.split(':');
      if (parts.length !== 2 || !parts[0] || !parts[1]) {
        throw usageError(`--mimic pair "${p}" is not teacher_value:student_value`, {
          hint: 'e.g. --mimic block1.relu2_out:block1.relu2_out,fc1_out:fc1_out',
        });
      }
      return { teacher: parts[0], student: parts[1] };
    });
}

function regex(flag: string, s: string): RegExp {
  try {
    return new RegExp(s);
  } catch (e) {
    throw usageError(`${flag}: "${s}" is not a valid regular expression`, { cause: e });
  }
}

function checkValues(model: ReturnType<typeof readModel>, names: string[], what: string): void {
  const known = new Set<string>();
  for (const v of model.graph.inputs) known.add(v.name);
  for (const n of model.graph.nodes) for (const o of n.outputs) if (o) known.add(o.name);
  for (const name of names) {
    if (!known.has(name))
      throw new CompilerError('MISSING_VALUE', `${what} has no value named "${name}"`, {
        where: name,
        hint: 'list value names with `sculpt inspect --layers` or print the IR',
      });
  }
}

/**
 * What the command line alone says, checked before any file is read: a conflict or a
 * malformed value is a usage error (exit 2; also `sculpt run`'s preflight, via `.check`).
 */
function trainUsage(a: TrainArgs): { mimic: MimicPair[]; milestoneEpochs?: number[]; trainableRe?: RegExp; l1Re?: RegExp } {
  if (a.epochs !== undefined && a.steps !== undefined) throw usageError('give --epochs or --steps, not both');
  const mimic = parseMimic(a.mimic);
  if (mimic.length && !a.teacher) throw usageError('--mimic needs --teacher', { hint: 'pass --teacher original.onnx' });
  if (a.loss === 'kd' && !a.teacher) throw usageError('--loss kd needs --teacher', { hint: 'pass --teacher original.onnx' });
  const milestoneEpochs = a['lr-milestones']
    ? a['lr-milestones'].split(',').map((s) => {
        const e = Number(s);
        if (!(e > 0)) throw usageError(`--lr-milestones: "${s}" is not a positive epoch number`);
        return e;
      })
    : undefined;
  const trainableRe = a.trainable ? regex('--trainable', a.trainable) : undefined;
  const l1Re = a.l1 ? regex('--l1', a.l1) : undefined;
  return { mimic, milestoneEpochs, trainableRe, l1Re };
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train <model>',
  describe: 'train, fine-tune or distil a model in TensorFlow.js and write the weights back into the ONNX file',
  builder: (y) =>
    withInputShape(y, { fix: true })
      .positional('model', { type: 'string', demandOption: true, describe: 'input .onnx model (its weights are the starting point)' })
      .option('output', {
        alias: 'o',
        type: 'string',
        demandOption: true,
        describe: 'output .onnx: the same graph with trained weights and BatchNorm running statistics',
      })
      .option('data', { type: 'string', demandOption: true, describe: `training data: ${DATA_SPECS.join(' | ')}; its test split is used for evaluation` })
      .option('teacher', { type: 'string', describe: 'teacher .onnx for --loss kd and --mimic (runs in onnxruntime)' })
      .option('loss', {
        choices: ['ce', 'kd', 'none'] as const,
        default: 'ce' as const,
        describe: 'ce: cross-entropy; kd: rho*T^2*KL(teacher||student soft targets) + (1-rho)*CE; none: only --mimic/--l1 terms',
      })
      .option('mimic', { type: 'string', describe: 'feature mimicking: comma-separated teacher_value:student_value pairs' })
      .option('mimic-loss', {
        choices: MIMIC_KINDS,
        default: 'kl' as MimicKind,
        describe: 'mimic function: mse, l1, kl or js (KL/JS over the channel softmax at each position)',
      })
      .option('mimic-weight', { type: 'number', default: 1, describe: 'weight of the mean mimic loss' })
      .option('temperature', { alias: 'T', type: 'number', default: 4, describe: 'distillation temperature T' })
      .option('rho', { type: 'number', default: 0.9, describe: 'distillation weight rho of the soft term' })
      .option('epochs', { type: 'number', describe: 'passes over the training data (default 1)' })
      .option('steps', { type: 'number', describe: 'optimiser steps instead of epochs' })
      .option('lr', { type: 'number', describe: 'peak learning rate (default 0.05 for sgd, 0.001 for adam)' })
      .option('optimizer', { choices: OPTIMIZERS, default: 'sgd' as OptimizerName, describe: 'sgd (momentum), adam, adamw' })
      .option('momentum', { type: 'number', default: 0.9, describe: 'SGD momentum' })
      .option('nesterov', { type: 'boolean', default: false, describe: 'Nesterov momentum' })
      .option('weight-decay', { type: 'number', default: 0, describe: 'L2 weight decay on conv/dense weights (decoupled for adamw)' })
      .option('schedule', { choices: SCHEDULES, default: 'cosine' as ScheduleName, describe: 'learning-rate schedule after warm-up' })
      .option('warmup-steps', { type: 'number', default: 0, describe: 'linear warm-up steps' })
      .option('lr-milestones', { type: 'string', describe: 'step schedule: epochs at which the rate is multiplied by --gamma, e.g. 10,15' })
      .option('gamma', { type: 'number', default: 0.1, describe: 'step schedule decay factor' })
      .option('batch', { type: 'number', default: 64, describe: 'batch size' })
      .option('backend', {
        choices: ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const,
        default: 'auto' as const,
        describe: 'tfjs backend (auto: the fastest installed, printed at start)',
      })
      .option('seed', { type: 'number', default: 1, describe: 'seed for data order and augmentation (bit-identical results on cpu/wasm)' })
      .option('limit', { type: 'number', describe: 'use only this many training samples' })
      .option('eval-limit', { type: 'number', describe: 'evaluate on only this many test samples (a fixed random subset)' })
      .option('eval-every', { type: 'number', default: 1, describe: 'evaluate on the test split every n epochs (and at the end)' })
      .option('eval', { type: 'boolean', default: true, describe: 'evaluate on the test split (--no-eval to skip)' })
      .option('flip', { type: 'boolean', default: false, describe: 'augment: random left-right flips' })
      .option('crop', { type: 'number', default: 0, describe: 'augment: random shifts of up to n pixels (pad and crop)' })
      .option('resize', { type: 'boolean', default: false, describe: "resample images to the model's input size (else a size mismatch is an error)" })
      .option('trainable', { type: 'string', describe: 'regular expression: only initializers whose names match train' })
      .option('freeze-bn', { type: 'boolean', default: false, describe: 'BatchNormalization uses and keeps its running statistics' })
      .option('l1', { type: 'string', describe: 'regular expression: L1 penalty on the initializers whose names match' })
      .option('l1-lambda', { type: 'number', default: 1e-4, describe: 'weight of the L1 penalty' })
      .option('checkpoint-dir', { type: 'string', describe: 'folder for a checkpoint after every epoch (model, optimizer state, best.onnx; atomic)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue the run in --checkpoint-dir from its last epoch (same options)' })
      .option('keep', {
        choices: ['last', 'best'] as const,
        default: 'last' as const,
        describe: "weights written to --output: the last step's, or the best evaluated epoch's",
      })
      .option('eval-batch', { type: 'number', default: 256, describe: 'largest evaluation batch; smaller when memory says so (and on out-of-memory errors)' })
      .option('recalibrate-bn', {
        type: 'number',
        describe:
          'recompute BatchNorm statistics before each evaluation and at the end over n training batches (default: 4096 samples, at most an epoch; 0: off)',
      })
      .option('overwrite', { type: 'boolean', default: false, describe: 'allow the output to be the input file' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary on stdout (no progress bar)' })
      .example('$0 train mlp.onnx -o mlp-trained.onnx --data mnist --epochs 20 --lr 0.05 --batch 128', 'train the MLP from its initial weights on MNIST')
      .example(
        '$0 train small.onnx -o small-kd.onnx --data fashion-mnist --teacher vgg.onnx --loss kd -T 4 --rho 0.9 --epochs 10',
        'distil a teacher into a smaller student',
      )
      .example(
        '$0 train mlp.onnx -o out.onnx --data mnist --epochs 20 --checkpoint-dir ck --keep best',
        'a checkpoint every epoch; the output holds the best evaluated epoch',
      )
      .example('$0 train mlp.onnx -o out.onnx --data mnist --epochs 20 --checkpoint-dir ck --resume', 'continue an interrupted run where its last epoch ended')
      .example(
        '$0 train pruned.onnx -o rec.onnx --data mnist --teacher orig.onnx --loss none --mimic relu1_out:relu1_out,relu2_out:relu2_out --mimic-loss kl',
        'one-step recovery by feature mimicking',
      )
      .check((a) => Boolean(trainUsage(a as unknown as TrainArgs))),
  handler: async (a) => {
    const { mimic, milestoneEpochs, trainableRe, l1Re } = trainUsage(a);
    // Checked before training, so a long run cannot end in a refused save.
    guardOutputs({
      inputs: [{ path: a.model, what: 'the input model', kind: 'model' }, { path: a.teacher, what: '--teacher', kind: 'model' }, ...dataSpecInputs(a.data)],
      // --checkpoint-dir is a folder of the trainer's own files (epoch-<e>.onnx, state.json), not one output file.
      outputs: [{ path: a.output, what: '-o', kind: 'model' }],
      overwrite: a.overwrite,
    });
    const model = readModel(a.model);
    verifyModel(model, 'input model');
    inputShapesFor(a, model); // names and ranks checked before any training
    const teacher = a.teacher ? readModel(a.teacher) : undefined;
    if (teacher && mimic.length) {
      checkValues(
        teacher,
        mimic.map((p) => p.teacher),
        'the teacher',
      );
      checkValues(
        model,
        mimic.map((p) => p.student),
        'the model',
      );
    }
    const augment = a.flip || a.crop > 0 ? { flip: a.flip, crop: a.crop } : undefined;
    let data: LoadedDataset | undefined;
    let test: LoadedDataset | undefined;
    try {
      data = loadDatasetFor(model, a.data, { split: 'train', limit: a.limit, seed: a.limit ? a.seed : undefined, resize: a.resize, augment });
      // A fixed seed: the first n of a folder set sorted by class would be one class.
      if (a.eval && !data.labeled) process.stderr.write(`note: ${a.data} has no labels: no test accuracy is measured\n`);
      if (a.eval && data.labeled)
        test = loadDatasetFor(model, a.data, { split: 'test', limit: a['eval-limit'], seed: a['eval-limit'] ? 0 : undefined, resize: a.resize });
      const stepsPerEpoch = Math.max(1, Math.floor(data.size / a.batch));
      const milestones = milestoneEpochs?.map((e) => Math.round(e * stepsPerEpoch));
      const log = (m: string) => process.stderr.write(`${m}\n`);
      let bar: Progress | null = null;
      const onProgress = (p: TrainProgress) => {
        bar ??= progress('train', p.totalSteps, { quiet: a.json, format: 'epoch {epoch} | loss {loss} | acc {acc} | {ips} img/s' });
        bar.update(p.step, {
          epoch: p.epoch + 1,
          loss: lossText(p),
          acc: Number.isFinite(p.accuracy) ? `${(100 * p.accuracy).toFixed(1)}%` : '-',
          ips: Math.round(p.imagesPerSec),
        });
      };
      const { train } = await import('../../train/loop.js'); // loads TensorFlow.js: not for --help
      const r = await train(model, {
        data,
        evalData: test,
        batchSize: a.batch,
        epochs: a.epochs,
        steps: a.steps,
        optimizer: a.optimizer,
        lr: a.lr,
        momentum: a.momentum,
        nesterov: a.nesterov,
        weightDecay: a['weight-decay'],
        schedule: a.schedule,
        warmupSteps: a['warmup-steps'],
        milestones,
        gamma: a.gamma,
        loss: a.loss,
        teacher,
        kd: { temperature: a.temperature, rho: a.rho },
        mimic,
        mimicLoss: a['mimic-loss'],
        mimicWeight: a['mimic-weight'],
        l1: l1Re ? { select: (n) => l1Re.test(n), lambda: a['l1-lambda'] } : undefined,
        trainable: trainableRe ? (n: string) => trainableRe.test(n) : 'all',
        batchNorm: a['freeze-bn'] ? 'frozen' : 'train',
        seed: a.seed,
        evalEvery: a['eval-every'],
        backend: a.backend,
        checkpointDir: a['checkpoint-dir'],
        resume: a.resume,
        keep: a.keep,
        evalBatchSize: a['eval-batch'],
        recalibrateBatchNorm: a['recalibrate-bn'],
        // Written by the trainer before its final evaluation, so a failing evaluation loses nothing.
        output: { path: a.output, inputPath: a.model, overwrite: a.overwrite },
        inputPath: a.model,
        // Evaluation lines go to stderr even with --json (stdout carries only the JSON).
        log: (m) => {
          if (!m.startsWith('eval')) log(m);
        },
        onProgress,
        onEval: (e) => {
          // A TTY bar must end before a line is printed; plain progress lines just continue.
          if (process.stderr.isTTY) {
            (bar as Progress | null)?.stop();
            bar = null;
          }
          log(
            `epoch ${e.epoch.toFixed(e.epoch % 1 ? 2 : 0)}: test accuracy ${(100 * e.accuracy).toFixed(2)}% (loss ${e.loss.toFixed(4)}, ${e.samples} samples)`,
          );
        },
      });
      (bar as Progress | null)?.stop();
      const outPath = r.outputPath!;
      // The trainer wrote the trained model (keeping symbolic dims); --fix-input-shape
      // rewrites it with the given sizes fixed.
      if (a['fix-input-shape']) {
        fixInputShapes(model, inputShapesFor(a, model));
        saveModel(model, outPath, { inputPath: a.model, overwrite: true });
      }
      const summary = {
        input: a.model,
        output: outPath,
        data: data.name,
        samples: data.size,
        backend: r.backend,
        loss: a.loss,
        teacher: a.teacher,
        optimizer: a.optimizer,
        lr: a.lr,
        batch: r.batchSize,
        seed: a.seed,
        steps: r.steps,
        epochs: r.epochs,
        seconds: r.seconds,
        imagesPerSec: r.imagesPerSec,
        finalLoss: r.finalLoss,
        trainAccuracy: r.trainAccuracy,
        testAccuracy: r.evalAccuracy,
        bestTestAccuracy: r.bestEvalAccuracy,
        evals: r.evals,
        kept: r.kept ?? null,
        resumedAt: r.resumedAt,
      };
      if (a.json) {
        printJson(summary);
        return;
      }
      say(`trained ${r.steps} steps (${r.epochs.toFixed(2)} epochs) on ${r.backend} in ${r.seconds.toFixed(1)} s, ${Math.round(r.imagesPerSec)} images/s`);
      if (r.evalAccuracy !== undefined)
        say(`test accuracy ${(100 * r.evalAccuracy).toFixed(2)}% (best ${(100 * r.bestEvalAccuracy!).toFixed(2)}%) on ${test!.name}`);
      if (r.kept) say(`kept the weights of epoch ${r.kept.epoch} (test accuracy ${(100 * r.kept.accuracy).toFixed(2)}%)`);
      say(`wrote ${outPath}`);
    } finally {
      data?.close();
      test?.close();
    }
  },
};
