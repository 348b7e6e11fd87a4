/**
 * `sculpt tissue <model> -o <out>`: TissueNet end to end — rewrite chosen layers as stacked
 * layers of small independent units (the `tissue` pass), optionally train or distil the
 * result (the trainer's library API), then validate it against the original in onnxruntime
 * (params, FLOPs, CE/SE with data, measured latency).
 */
import type { CommandModule } from 'yargs';
import { CompilerError } from '../../errors.js';
import { readModel } from '../../serde/read.js';
import { saveModel } from '../../serde/write.js';
import { verifyModel } from '../../ir/verify.js';
import { runPass } from '../../pass.js';
import { AnalysisManager } from '../../analysis/manager.js';
import { inputShapesFor, inputShapesFromSample, withInputShape } from '../options/input-shape.js';
import { fixInputShapes } from '../options/fix-input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';
import type { Model } from '../../ir/core.js';
import { DATA_SPECS } from '../../data/loader.js';
import type { LoadedDataset } from '../../data/loader.js';
import { loadDatasetFor } from '../../data/fit.js';
import type { BackendPreference, TrainResult } from '../../train/loop.js';
import { OPTIMIZERS } from '../../train/names.js';
import type { OptimizerName } from '../../train/names.js';
import { SCHEDULES } from '../../train/schedule.js';
import type { ScheduleName } from '../../train/schedule.js';
import { validateModel } from '../../validate/validate.js';
import type { ValidationReport } from '../../validate/validate.js';
import { renderValidationText } from '../../report/validation.js';
import { parseLayerSpec, parseUnit, parseUnitList, TISSUE_ACTIVATIONS, TISSUE_INITS } from '../../tissue/spec.js';
import type { LayerSpec, TissueActivation, TissueInit } from '../../tissue/spec.js';
import { checkTissueOptions } from '../../tissue/plan.js';
import type { TissueOptions } from '../../tissue/plan.js';
import { asUsage, usageError } from '../usage.js';
import { tissuePass } from '../../../passes/tissue.js';
import type { TissueReport } from '../../../passes/tissue.js';
import { printJson, progress, say } from '../output.js';
import { dataSpecInputs, guardOutputs } from '../../util/output-guard.js';
import type { Progress } from '../output.js';

interface TissueArgs extends InputShapeArgs {
  model: string;
  output: string;
  strategy?: 'all' | 'r';
  select?: string;
  exclude?: string;
  unit?: string;
  groups?: string;
  hidden?: number;
  k1?: number;
  k2?: number;
  hybrid?: string;
  layer?: string[];
  activation: TissueActivation;
  init: TissueInit;
  shuffle?: boolean;
  seed: number;
  'best-effort': boolean;
  canonicalize: boolean;
  'hybrid-order': 'random' | 'listed';
  'flops-target'?: number;
  'min-group-channels'?: number;
  train: boolean;
  data?: string;
  teacher?: string;
  loss?: 'ce' | 'kd';
  temperature: number;
  rho: number;
  epochs?: number;
  steps?: number;
  lr?: number;
  optimizer: OptimizerName;
  schedule: ScheduleName;
  'warmup-steps': number;
  'weight-decay': number;
  batch: number;
  backend: BackendPreference;
  limit?: number;
  'eval-limit'?: number;
  validate: boolean;
  latency: boolean;
  threads: number;
  explain: boolean;
  json: boolean;
  overwrite: boolean;
}

function csv(s: string | undefined): string[] {
  return (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

function usage(msg: string, hint?: string): CompilerError {
  return usageError(msg, { hint });
}

/** The pass options the flags describe. @throws INVALID_OPTION, TISSUE_SPEC_INVALID */
export function tissueOptionsFromArgs(a: TissueArgs): TissueOptions {
  const given = [a.unit !== undefined && '--unit', a.groups !== undefined && '--groups', a.hybrid !== undefined && '--hybrid'].filter(Boolean);
  if (given.length > 1) throw usage(`${given.join(' and ')} each say what the units are; give one`);
  if ((a.hidden !== undefined || a.k1 !== undefined || a.k2 !== undefined) && (a.unit !== undefined || a.hybrid !== undefined)) {
    throw usage('--hidden, --k1 and --k2 go with --groups (a unit spec carries its own n2, k1, k2)');
  }
  // The options of --groups auto imply it; with fixed units they would be silently ignored.
  const autoOnly = [
    a['flops-target'] !== undefined && '--flops-target',
    a['min-group-channels'] !== undefined && '--min-group-channels',
    a['best-effort'] && '--best-effort',
  ].filter((x): x is string => typeof x === 'string');
  if (autoOnly.length && (a.unit !== undefined || a.hybrid !== undefined || (a.groups !== undefined && a.groups !== 'auto'))) {
    throw usage(
      `${autoOnly.join(', ')} go${autoOnly.length === 1 ? 'es' : ''} with --groups auto, which picks m per layer to meet the target; ${given[0]} fixes the units`,
      'drop one, or use --groups auto',
    );
  }
  let spec: LayerSpec;
  if (a.unit !== undefined) spec = { kind: 'units', units: [parseUnit(a.unit)] };
  else if (a.hybrid !== undefined) spec = { kind: 'units', units: parseUnitList(a.hybrid) };
  else {
    const g = a.groups ?? (autoOnly.length ? 'auto' : '4');
    let groups: number | 'auto';
    if (g === 'auto') groups = 'auto';
    else if (/^\d+$/.test(g) && Number(g) >= 1) groups = Number(g);
    else throw new CompilerError('TISSUE_SPEC_INVALID', `--groups must be a positive integer or auto; got "${g}"`, { where: '--groups' });
    spec = { kind: 'groups', groups, hidden: a.hidden, k1: a.k1, k2: a.k2 };
  }
  const layerSpecs = (a.layer ?? []).map((s) => {
    const i = s.indexOf('=');
    if (i <= 0) throw usage(`--layer "${s}" is not NAME=SPEC`, 'e.g. --layer fc1=196:20:125 or --layer "block2.*=g2h32"');
    return { pattern: s.slice(0, i), spec: parseLayerSpec(s.slice(i + 1)) };
  });
  const select = csv(a.select);
  return {
    strategy: a.strategy,
    select,
    exclude: csv(a.exclude),
    spec,
    layerSpecs,
    activation: a.activation,
    init: a.init,
    shuffle: a.shuffle,
    seed: a.seed,
    hybridOrder: a['hybrid-order'],
    flopsTarget: a['flops-target'],
    minGroupChannels: a['min-group-channels'],
    bestEffort: a['best-effort'],
    canonicalize: a.canonicalize,
  };
}

function fmt(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function pct(a: number, b: number): string {
  return b ? `${((100 * a) / b).toFixed(1)}%` : '-';
}

function renderReport(r: TissueReport): string {
  const lines: string[] = [];
  lines.push(`strategy ${r.strategy}, activation ${r.activation}, init ${r.init}, seed ${r.seed}${r.shuffle ? ', shuffle' : ''}`);
  if (r.auto) {
    const ms = [...new Set(Object.values(r.auto.perLayer))].sort((a, b) => a - b);
    lines.push(
      `groups auto: target ${(r.auto.target * 100).toFixed(0)}% of FLOPs, >= ${r.auto.minGroupChannels} channels per group -> m per layer ${ms.join('/') || '-'}${r.auto.shuffle ? ', shuffle' : ''}: ${(r.auto.ratio * 100).toFixed(1)}%${r.auto.met ? '' : ' (target not met)'} after ${r.auto.tried.length} plan(s)`,
    );
    for (const b of r.auto.blocking) lines.push(`  blocking: ${b.name} (${(100 * b.share).toFixed(1)}% of MACs): ${b.reason}`);
  }
  lines.push('layer                          units                      params orig -> stacked       MACs orig -> stacked      analytic=counted');
  for (const l of r.layers) {
    const units = l.runs.map((u) => `${u.unit}x${u.count}`).join('+') + (l.shuffleGroups ? ` sh${l.shuffleGroups}` : '');
    lines.push(
      `${l.name.padEnd(30).slice(0, 30)} ${units.padEnd(26).slice(0, 26)} ${`${fmt(l.original.params)} -> ${fmt(l.stacked.params)} (${pct(l.stacked.params, l.original.params)})`.padEnd(28)} ${`${fmt(l.original.macs)} -> ${fmt(l.stacked.macs)} (${pct(l.stacked.macs, l.original.macs)})`.padEnd(26)} ${l.matches ? 'yes' : `NO (counted ${l.counted.params} params, ${l.counted.macs} MACs)`}`,
    );
  }
  lines.push(
    `model: params ${fmt(r.before.params)} -> ${fmt(r.after.params)} (${pct(r.after.params, r.before.params)}), FLOPs ${fmt(r.before.flops)} -> ${fmt(r.after.flops)} (${pct(r.after.flops, r.before.flops)})`,
  );
  if (r.skipped.length) lines.push(`${r.skipped.length} layer(s) left normal (--explain says why)`);
  return `${lines.join('\n')}\n`;
}

/**
 * The pass options the command line alone gives, checked before any file is read: a conflict
 * or a malformed value is a usage error (exit 2; also `sculpt run`'s preflight, via `.check`).
 */
function tissueUsage(a: TissueArgs): TissueOptions {
  return asUsage(() => {
    const o = tissueOptionsFromArgs(a);
    checkTissueOptions(o);
    if (a.train && !a.data) throw usage('--train needs --data');
    if ((a.teacher !== undefined || a.loss !== undefined) && !a.train) throw usage('--teacher and --loss go with --train');
    if (a.loss === 'kd' && a.teacher === undefined) throw usage('--loss kd needs --teacher (a path, or "original")');
    if (a.epochs !== undefined && a.steps !== undefined) throw usage('give --epochs or --steps, not both');
    if ((a.epochs !== undefined || a.steps !== undefined) && !a.train) throw usage('--epochs and --steps go with --train');
    return o;
  });
}

export const tissueCommand: CommandModule<object, TissueArgs> = {
  command: 'tissue <model>',
  describe: 'TissueNet: replace layers by stacked layers of small independent units; optionally train/distil; validate',
  builder: (y) =>
    withInputShape(y, { fix: true })
      .positional('model', {
        type: 'string',
        demandOption: true,
        describe: 'input .onnx model (the original; also the baseline and, with --teacher original, the teacher)',
      })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'output .onnx (written atomically; never the input)' })
      .option('strategy', {
        choices: ['all', 'r'] as const,
        describe:
          'all: every replaceable layer, a normal layer kept between stacked ones (default); r: only the intermediate stages (first and last stage and the dense head stay normal)',
      })
      .option('select', { type: 'string', describe: 'exactly these layers: comma-separated names or globs (* and ?), e.g. fc1,fc2 or "block2.*"' })
      .option('exclude', { type: 'string', describe: 'layers never replaced (names or globs)' })
      .option('unit', { type: 'string', describe: 'equal units n1:n2:n3[:k1:k2] (m = C_in/n1 = C_out/n3; k1 defaults to the original kernel, k2 to 1)' })
      .option('groups', {
        type: 'string',
        describe:
          'm equal units sized from each layer (n1 = C_in/m, n3 = C_out/m), or auto: m per layer meeting --flops-target with >= --min-group-channels per group, never units costing more than the layer; grouped/depthwise layers stay (default 4)',
      })
      .option('hidden', { type: 'number', describe: 'with --groups: hidden channels n2 of each unit (default n3)' })
      .option('k1', { type: 'number', describe: 'with --groups: first kernel size (default the original kernel)' })
      .option('k2', { type: 'number', describe: 'with --groups: second kernel size (default 1)' })
      .option('hybrid', {
        type: 'string',
        describe:
          'hybrid units: a comma-separated unit list; each position draws one at random (--seed) so the n1 sum to C_in and the n3 to C_out; n1:n2:n3*count fixes the mix',
      })
      .option('layer', {
        type: 'string',
        array: true,
        describe: 'per-layer spec NAME=SPEC (repeatable; NAME may be a glob): SPEC is a unit, a unit list, or gM / gMhN (groups, hidden)',
      })
      .option('activation', { choices: TISSUE_ACTIVATIONS, default: 'relu' as TissueActivation, describe: "activation between a unit's two weight layers" })
      .option('init', {
        choices: TISSUE_INITS,
        default: 'original' as TissueInit,
        describe:
          "original: fit each unit to the original layer's diagonal block (low-rank; measured better, see experiments/tissuenet-results.md); he: from scratch (seeded)",
      })
      .option('shuffle', {
        type: 'boolean',
        describe:
          'allow consecutive stacked layers, with a channel shuffle between them instead of a normal layer (default: off; --groups auto turns it on when the target needs it; --no-shuffle forbids it)',
      })
      .option('seed', { type: 'number', default: 0, describe: 'seed of hybrid draws, random weights and training' })
      .option('hybrid-order', {
        choices: ['random', 'listed'] as const,
        default: 'random' as const,
        describe: 'hybrid units with counts: positions in random (seeded) or listed order',
      })
      .option('flops-target', {
        type: 'number',
        describe: "--groups auto (implied when --groups is not given): fraction of the model's FLOPs to keep (default 0.5)",
      })
      .option('min-group-channels', {
        type: 'number',
        describe:
          "--groups auto (implied when --groups is not given): least channels per group in every unit layer (default 16: onnxruntime's fast conv layout needs it)",
      })
      .option('best-effort', {
        type: 'boolean',
        default: false,
        describe:
          '--groups auto: when the FLOPs target cannot be met, write the closest plan and exit 0 (the remark names the blocking layers) instead of failing with TISSUE_TARGET_NOT_MET',
      })
      .option('canonicalize', {
        type: 'boolean',
        default: false,
        describe: "write the stacked layers' weights as initializers even where the original weights were Constant nodes (default: the form they came in)",
      })
      .option('train', { type: 'boolean', default: false, describe: 'train the rewritten model (needs --data); with --teacher, distil' })
      .option('data', { type: 'string', describe: `data: ${DATA_SPECS.join(' | ')}; train split for --train, test split for accuracy, CE and SE` })
      .option('teacher', { type: 'string', describe: 'with --train: teacher .onnx for knowledge distillation, or "original" for the input model' })
      .option('loss', { choices: ['ce', 'kd'] as const, describe: 'training loss (default kd with --teacher, else ce)' })
      .option('temperature', { alias: 'T', type: 'number', default: 4, describe: 'distillation temperature' })
      .option('rho', { type: 'number', default: 0.9, describe: 'distillation weight of the soft term' })
      .option('epochs', { type: 'number', describe: 'training epochs (default 5)' })
      .option('steps', { type: 'number', describe: 'train this many optimiser steps instead of whole epochs' })
      .option('lr', { type: 'number', describe: 'peak learning rate (default 0.05 sgd, 0.001 adam)' })
      .option('optimizer', { choices: OPTIMIZERS, default: 'adam' as OptimizerName, describe: 'optimiser' })
      .option('schedule', { choices: SCHEDULES, default: 'cosine' as ScheduleName, describe: 'learning-rate schedule' })
      .option('warmup-steps', { type: 'number', default: 0, describe: 'linear warm-up steps' })
      .option('weight-decay', { type: 'number', default: 0, describe: 'weight decay' })
      .option('batch', { type: 'number', default: 128, describe: 'training batch size' })
      .option('backend', {
        choices: ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const,
        default: 'auto' as const,
        describe: 'tfjs backend for training',
      })
      .option('limit', { type: 'number', describe: 'train on only this many samples' })
      .option('eval-limit', { type: 'number', describe: 'evaluate on only this many test samples' })
      .option('validate', { type: 'boolean', default: true, describe: 'validate against the original in onnxruntime (--no-validate skips)' })
      .option('latency', { type: 'boolean', default: false, describe: 'measure onnxruntime latency of both models (always with --groups auto)' })
      .option('threads', { type: 'number', default: 1, describe: 'onnxruntime intra-op threads for latency' })
      .option('explain', { type: 'boolean', default: false, describe: 'print why layers were left normal' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON on stdout' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'allow the output to be the input file' })
      .example(
        '$0 tissue mlp.onnx -o t.onnx --select fc1,fc2 --groups 4 --hidden 20 --shuffle',
        'the MNIST MLP as TissueNet: fc1 and fc2 as 4 units with 20 hidden each, a shuffle between',
      )
      .example(
        '$0 tissue vgg.onnx -o t.onnx --strategy r --groups 2 --train --data fashion-mnist --teacher original --epochs 3',
        'VGG strategy r, distilled from the original, then CE/SE',
      )
      .example('$0 tissue lenet.onnx -o t.onnx --select conv2 --hybrid 2:8:4,1:4:2,3:12:6 --seed 1', 'hybrid units drawn per position')
      .example(
        '$0 tissue resnet.onnx -o t.onnx --groups auto --flops-target 0.5',
        'pick m per layer for 50% of the FLOPs, >= 16 channels per group, with measured latency; exits 1 naming the blocking layers if 50% cannot be reached',
      )
      .example('$0 tissue mobilenet.onnx -o t.onnx --groups auto --flops-target 0.7 --best-effort', 'as close to 70% as the model allows, exit 0 with a remark')
      .epilogue(
        'Every stacked layer\'s params and MACs are given by the formulas in docs/methods.md and checked against the counted graph ("analytic=counted").',
      )
      .check((a) => Boolean(tissueUsage(a as unknown as TissueArgs))),
  handler: async (a) => {
    const opts = tissueUsage(a);
    guardOutputs({
      inputs: [
        { path: a.model, what: 'the input model', kind: 'model' },
        { path: a.teacher === 'original' ? undefined : a.teacher, what: '--teacher', kind: 'model' },
        ...dataSpecInputs(a.data),
      ],
      outputs: [{ path: a.output, what: '-o', kind: 'model' }],
      overwrite: a.overwrite,
    });
    const log = (m: string): void => {
      process.stderr.write(`${m}\n`);
    };
    const model = readModel(a.model);
    verifyModel(model, 'input model');
    let inputShapes = inputShapesFor(a, model);
    if (Object.keys(inputShapes).length === 0 && a.data) {
      // The data's sample shape sizes a symbolic input (for --groups auto and the reported cost).
      const probe = loadDatasetFor(model, a.data, { split: 'test', limit: 1 });
      try {
        inputShapes = inputShapesFromSample(model, probe.inputShape);
      } finally {
        probe.close();
      }
    }
    let rewriting: Progress | undefined;
    const onLayer = (done: number, total: number): void => {
      rewriting ??= progress('tissue', total, { quiet: a.json });
      rewriting.update(done);
      if (done >= total) rewriting.stop();
    };
    const r = runPass(model, tissuePass({ ...opts, onLayer }), { analyses: new AnalysisManager(model, { inputShapes }) });
    const report = r.report;
    if (!report) throw new CompilerError('INTERNAL', 'the tissue pass gave no report');
    let trained: TrainResult | undefined;
    let data: LoadedDataset | undefined;
    let test: LoadedDataset | undefined;
    let bar: Progress | undefined;
    try {
      if (a.data) test = loadDatasetFor(model, a.data, { split: 'test', limit: a['eval-limit'] });
      if (a.train) {
        data = loadDatasetFor(model, a.data!, { split: 'train', limit: a.limit, seed: a.seed });
        let teacher: Model | undefined;
        if (a.teacher !== undefined) teacher = a.teacher === 'original' ? readModel(a.model) : readModel(a.teacher);
        const { train } = await import('../../train/loop.js'); // loads TensorFlow.js: not for --help
        trained = await train(model, {
          data,
          evalData: test,
          epochs: a.steps === undefined ? (a.epochs ?? 5) : undefined,
          steps: a.steps,
          lr: a.lr,
          optimizer: a.optimizer,
          schedule: a.schedule,
          warmupSteps: a['warmup-steps'],
          weightDecay: a['weight-decay'],
          batchSize: a.batch,
          backend: a.backend,
          seed: a.seed,
          loss: a.loss ?? (teacher ? 'kd' : 'ce'),
          teacher,
          kd: { temperature: a.temperature, rho: a.rho },
          // Written before the trainer's final evaluation, so a failing evaluation loses nothing.
          output: { path: a.output, inputPath: a.model, overwrite: a.overwrite },
          log,
          onProgress: (p) => {
            bar ??= progress('train', p.totalSteps, { quiet: a.json });
            bar.update(p.step, { loss: p.loss.toFixed(4), acc: p.accuracy.toFixed(4), 'img/s': Math.round(p.imagesPerSec) });
          },
        });
        bar?.stop();
        bar = undefined;
      }
      if (a['fix-input-shape']) fixInputShapes(model, inputShapesFor(a, model));
      const saved = saveModel(model, a.output, { inputPath: a.model, overwrite: a.overwrite });
      let validation: ValidationReport | undefined;
      const latency = a.latency || report.auto !== undefined;
      if (a.validate) {
        validation = await validateModel(saved.path, {
          data: test,
          baseline: a.model,
          latency,
          threads: a.threads,
          seed: a.seed,
          inputShapes,
          onProgress: (label, done, total) => {
            bar ??= progress(label, total, { quiet: a.json });
            bar.update(done);
            if (done >= total) {
              bar.stop();
              bar = undefined;
            }
          },
        });
      }
      if (a.json) {
        printJson({
          input: a.model,
          output: saved.path,
          bytes: saved.bytes,
          tissue: report,
          remarks: r.remarks,
          train: trained ?? null,
          validation: validation ?? null,
        });
        return;
      }
      if (report.auto && !report.auto.met) say(`groups auto: the FLOPs target was not met (--best-effort); see the blocking layers above`);
      process.stdout.write(renderReport(report));
      if (a.explain) for (const rm of r.remarks) say(`remark ${rm.where}: ${rm.message}`);
      if (trained)
        say(
          `trained ${trained.epochs} epoch(s) on ${trained.backend}: test accuracy ${trained.evalAccuracy !== undefined ? (100 * trained.evalAccuracy).toFixed(2) + '%' : '-'}`,
        );
      if (validation) process.stdout.write(renderValidationText(validation));
      say(`wrote ${saved.path} (${saved.bytes} bytes)`);
    } finally {
      bar?.stop();
      data?.close();
      test?.close();
    }
  },
};
