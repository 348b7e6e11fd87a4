/** `sculpt score`: learn β with every weight frozen and write per-channel and per-layer scores. */
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { CompilerError } from '../../errors.js';
import { usageError } from '../usage.js';
import { readModel } from '../../serde/read.js';
import { atomicWrite, saveModel } from '../../serde/write.js';
import { verifyModel } from '../../ir/verify.js';
import { DATA_SPECS } from '../../data/loader.js';
import { loadDatasetFor } from '../../data/fit.js';
import type { LoadedDataset } from '../../data/loader.js';
import type { BackendPreference, TrainProgress } from '../../train/loop.js';
import type { CrucialSpec, LayerScoreKind } from '../../onestep/scores.js';
import { lossText, printJson, progress, say } from '../output.js';
import { dataSpecInputs, guardOutputs } from '../../util/output-guard.js';
import type { Progress } from '../output.js';

interface ScoreArgs {
  model: string;
  output: string;
  data: string;
  lambda: number;
  lr: number;
  epochs?: number;
  steps?: number;
  batch: number;
  teacher?: string;
  unlabeled: boolean;
  'layer-score': LayerScoreKind;
  crucial: string;
  'beta-model'?: string;
  limit?: number;
  resize: boolean;
  backend: BackendPreference;
  seed: number;
  json: boolean;
}

/** `auto`, a count, or comma-separated names. */
export function parseCrucial(s: string): CrucialSpec {
  const t = s.trim();
  if (t === 'auto') return 'auto';
  if (/^\d+$/.test(t)) return Number(t);
  const names = t
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (names.length === 0) throw usageError('--crucial needs auto, a number, or layer names');
  return names;
}

export function trainBar(label: string, quiet: boolean): { onProgress: (p: TrainProgress) => void; stop: () => void } {
  let bar: Progress | null = null;
  return {
    onProgress: (p) => {
      bar ??= progress(label, p.totalSteps, { quiet, format: 'epoch {epoch} | loss {loss} | {ips} img/s' });
      bar.update(p.step, { epoch: p.epoch + 1, loss: lossText(p), ips: Math.round(p.imagesPerSec) });
    },
    stop: () => {
      bar?.stop();
      bar = null;
    },
  };
}

/** The command line alone, checked before any file is read (exit 2; also `sculpt run`'s preflight, via `.check`). */
function scoreUsage(a: ScoreArgs): { crucial: CrucialSpec } {
  if (a.epochs !== undefined && a.steps !== undefined) throw usageError('give --epochs or --steps, not both');
  return { crucial: parseCrucial(a.crucial) };
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: 'score <model>',
  describe: 'learn a channel-importance vector β per prunable layer (weights frozen) and write scores.json (one-step pruning, step 1)',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'input .onnx model (not changed)' })
      .option('output', {
        alias: 'o',
        type: 'string',
        demandOption: true,
        describe: 'scores.json: per channel |β|, per layer the score, the crucial layers (docs/scores-schema.md)',
      })
      .option('data', { type: 'string', demandOption: true, describe: `calibration data: ${DATA_SPECS.join(' | ')} (its training split)` })
      .option('lambda', { type: 'number', default: 1.0, describe: 'weight λ of the L1 term λ·‖β‖₁ (the paper: 1.0 on CIFAR, 0.1 on ImageNet)' })
      .option('lr', { type: 'number', default: 1e-3, describe: 'Adam learning rate of β (the paper: 1e-5 over 15 CIFAR epochs)' })
      .option('epochs', { type: 'number', describe: 'passes over the data (default 1)' })
      .option('steps', { type: 'number', describe: 'optimiser steps instead of epochs' })
      .option('batch', { type: 'number', default: 64, describe: 'batch size' })
      .option('teacher', { type: 'string', describe: 'distil from this model instead of cross-entropy on the labels' })
      .option('unlabeled', { type: 'boolean', default: false, describe: 'ignore the labels: distil from the original model (calibration data without labels)' })
      .option('layer-score', {
        choices: ['mean', 'sum'] as const,
        default: 'mean' as LayerScoreKind,
        describe: 'layer score: mean of |β| (wide layers not favoured) or sum',
      })
      .option('crucial', {
        type: 'string',
        default: 'auto',
        describe: 'crucial layers: auto (4 best, junctions first, + the last conv), a number N, or comma-separated layer/node/value names',
      })
      .option('beta-model', { type: 'string', describe: 'also write the model with its trained β (insert-beta) here' })
      .option('limit', { type: 'number', describe: 'use only this many samples (a seeded subset)' })
      .option('resize', { type: 'boolean', default: false, describe: "resample images to the model's input size" })
      .option('backend', { choices: ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const, default: 'auto' as const, describe: 'tfjs backend' })
      .option('seed', { type: 'number', default: 1, describe: 'seed for data order (bit-identical results on cpu/wasm)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the scores document on stdout (no progress bar)' })
      .example('$0 score vgg.onnx --data fashion-mnist --limit 5000 -o scores.json', 'learn β on 5000 training images')
      .example(
        '$0 prune vgg.onnx -o small.onnx --criterion scores --scores scores.json --scope global --flops-target 0.5',
        'prune by the scores, crucial layers kept (they have no entries)',
      )
      .example(
        '$0 score resnet.onnx --data npy:x.npy,y.npy --unlabeled --crucial layer3.0.conv2,layer2.0.conv2 -o s.json',
        'unlabeled calibration data, hand-picked crucial layers',
      )
      .epilogue('The scores file is accepted as-is by `sculpt prune --criterion scores --scores` and by `sculpt onestep --scores`.')
      .check((a) => Boolean(scoreUsage(a as unknown as ScoreArgs))),
  handler: async (a) => {
    const { crucial } = scoreUsage(a);
    if (resolve(a.output) === resolve(a.model))
      throw new CompilerError('OUTPUT_IS_INPUT', `refusing to write the scores over the input model ${a.model}`, {
        where: a.output,
        hint: 'name a .json output',
      });
    guardOutputs({
      inputs: [{ path: a.model, what: 'the input model', kind: 'model' }, { path: a.teacher, what: '--teacher', kind: 'model' }, ...dataSpecInputs(a.data)],
      outputs: [
        { path: a.output, what: '-o' },
        { path: a['beta-model'], what: '--beta-model', kind: 'model' },
      ],
    });
    const model = readModel(a.model);
    verifyModel(model, 'input model');
    const teacher = a.teacher ? readModel(a.teacher) : undefined;
    let data: LoadedDataset | undefined;
    try {
      data = loadDatasetFor(model, a.data, { split: 'train', limit: a.limit, seed: a.limit ? a.seed : undefined, resize: a.resize });
      const bar = trainBar('score', a.json);
      const { scoreModel } = await import('../../onestep/score.js'); // loads TensorFlow.js: not for --help
      const r = await scoreModel(model, {
        data,
        lambda: a.lambda,
        lr: a.lr,
        epochs: a.epochs,
        steps: a.steps,
        batchSize: a.batch,
        teacher,
        unlabeled: a.unlabeled,
        layerScore: a['layer-score'],
        crucial,
        seed: a.seed,
        backend: a.backend,
        path: a.model,
        log: (m) => process.stderr.write(`${m}\n`),
        onProgress: bar.onProgress,
      });
      bar.stop();
      atomicWrite(a.output, [new TextEncoder().encode(`${JSON.stringify(r.scores, null, 2)}\n`)]);
      if (a['beta-model']) saveModel(r.betaModel, a['beta-model'], { inputPath: a.model });
      if (a.json) {
        printJson(r.scores);
        return;
      }
      say(`learned β for ${r.scores.layers.length} layers in ${r.train.steps} steps (${r.train.seconds.toFixed(1)} s, ${r.train.backend})`);
      const w = Math.max(...r.scores.layers.map((l) => l.name.length), 5);
      say(`${'layer'.padEnd(w)}  channels  score (${r.scores.layerScore} |β|)`);
      for (const l of [...r.scores.layers].sort((x, y) => y.score - x.score))
        say(`${l.name.padEnd(w)}  ${String(l.channels).padStart(8)}  ${l.score.toFixed(4)}${l.crucial ? '  crucial' : ''}${l.junction ? ' (junction)' : ''}`);
      say(`crucial: ${r.scores.crucial.join(', ')}`);
      say(`wrote ${a.output}`);
    } finally {
      data?.close();
    }
  },
};
