/** `sculpt onestep`: score → global prune → one-step recovery → fine-tune → validate, resumable. */
import { parseRoundTo } from '../../prune/round-to.js';
import type { CommandModule } from 'yargs';
import { CompilerError } from '../../errors.js';
import { usageError } from '../usage.js';
import { DATA_SPECS } from '../../data/loader.js';
import { loadDatasetFor } from '../../data/fit.js';
import type { LoadedDataset } from '../../data/loader.js';
import { readModel } from '../../serde/read.js';
import type { BackendPreference } from '../../train/loop.js';
import { MIMIC_KINDS } from '../../train/names.js';
import type { MimicKind } from '../../train/names.js';
import type { OnestepResult, Phase } from '../../onestep/pipeline.js';
import type { CrucialSpec, LayerScoreKind } from '../../onestep/scores.js';
import { EXIT, ExitWith } from '../exit.js';
import { printJson, say } from '../output.js';
import { dataSpecInputs, guardOutputs } from '../../util/output-guard.js';
import { parseCrucial, trainBar } from './score.js';

interface OnestepArgs {
  model: string;
  output: string;
  data: string;
  'work-dir'?: string;
  'flops-target'?: number;
  ratio?: number;
  crucial?: string;
  scores?: string;
  lambda: number;
  'score-lr': number;
  'score-epochs': number;
  teacher?: string;
  unlabeled: boolean;
  'layer-score': LayerScoreKind;
  mimic: MimicKind;
  'recover-epochs': number;
  lr: number;
  'decay-every': number;
  'finetune-epochs': number;
  'finetune-lr': number;
  'round-to': string;
  'max-ratio': number;
  batch: number;
  limit?: number;
  'eval-limit'?: number;
  resize: boolean;
  'max-drop'?: number;
  'max-params'?: number;
  'min-speedup'?: number;
  backend: BackendPreference;
  seed: number;
  json: boolean;
  overwrite: boolean;
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? 'unknown' : `${(100 * x).toFixed(2)}%`;
}

function summaryText(r: OnestepResult): string[] {
  const v = r.validation;
  const b = v.baseline;
  const c = v.comparison;
  const lines: string[] = [];
  const acc = v.model.accuracy;
  lines.push(`one-step pruning-recovery: ${r.output}`);
  lines.push(`  crucial layers  ${r.crucial.join(', ')}  (mimicked: ${r.mimic.join(', ')})`);
  lines.push(
    `  accuracy        ${pct(acc?.top1)} (original ${pct(b?.accuracy?.top1)}${c?.top1DeltaPoints !== null && c?.top1DeltaPoints !== undefined ? `, ${c.top1DeltaPoints >= 0 ? '+' : ''}${c.top1DeltaPoints.toFixed(2)} points` : ''})`,
  );
  lines.push(`  FLOPs           ${v.model.flops.toLocaleString('en-US')} (${pct(c?.flops.ratio)} of ${b?.flops.toLocaleString('en-US') ?? '?'})`);
  lines.push(`  params          ${v.model.params.toLocaleString('en-US')} (${pct(c?.params.ratio)} of ${b?.params.toLocaleString('en-US') ?? '?'})`);
  lines.push(`  CE / SE         ${c?.ce?.toFixed(2) ?? 'unknown (no test data)'} / ${c?.se?.toFixed(2) ?? 'unknown (no test data)'}`);
  lines.push(
    `  phases          ${r.phases.map((p) => `${p.phase} ${p.status === 'not needed' ? '-' : `${p.seconds.toFixed(1)} s${p.status === 'skipped' ? ' (resumed)' : ''}`}`).join(', ')}`,
  );
  for (const g of v.gates) lines.push(`  gate ${g.gate.padEnd(11)} ${g.passed ? 'passed' : 'FAILED'}: ${g.message}`);
  lines.push(`  work dir        ${r.workDir}`);
  return lines;
}

/** The command line alone, checked before any file is read (exit 2; also `sculpt run`'s preflight, via `.check`). */
function onestepUsage(a: OnestepArgs): { crucial?: CrucialSpec } {
  for (const [flag, v] of [
    ['--recover-epochs', a['recover-epochs']],
    ['--finetune-epochs', a['finetune-epochs']],
    ['--score-epochs', a['score-epochs']],
  ] as const) {
    if (!(Number.isFinite(v) && v >= 0)) throw usageError(`${flag} must be ≥ 0; got ${v}`);
  }
  return { crucial: a.crucial === undefined ? undefined : parseCrucial(a.crucial) };
}

export const onestepCommand: CommandModule<object, OnestepArgs> = {
  command: 'onestep <model>',
  describe: 'one-step pruning-recovery: learn β, prune globally to a target with crucial layers kept, recover by mimicking them, fine-tune, validate',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'the original .onnx model (also the teacher)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the pruned and recovered model' })
      .option('data', {
        type: 'string',
        demandOption: true,
        describe: `data: ${DATA_SPECS.join(' | ')}; training split for score/recover/fine-tune, test split for validation`,
      })
      .option('work-dir', {
        type: 'string',
        describe: 'keep scores.json, pruned.onnx, recovered.onnx, report.json here; rerun with it to resume (default <output>.work)',
      })
      .option('flops-target', { type: 'number', describe: 'fraction of the FLOPs to keep, in (0, 1]' })
      .option('ratio', { type: 'number', describe: 'fraction of the non-crucial channels to remove, in [0, 1)' })
      .option('crucial', {
        type: 'string',
        describe: "crucial layers (kept whole, mimicked): auto (4 best, junctions first, + last conv), N, or names (default auto; with --scores, the file's)",
      })
      .option('scores', { type: 'string', describe: 'use this scores.json (from `sculpt score`) instead of scoring' })
      .option('lambda', { type: 'number', default: 1.0, describe: 'score: weight of λ·‖β‖₁' })
      .option('score-lr', { type: 'number', default: 1e-3, describe: 'score: Adam learning rate of β' })
      .option('score-epochs', { type: 'number', default: 1, describe: 'score: epochs of β learning' })
      .option('teacher', { type: 'string', describe: 'score: distil from this model instead of using the labels' })
      .option('unlabeled', { type: 'boolean', default: false, describe: 'score: ignore the labels, distil from the original' })
      .option('layer-score', { choices: ['mean', 'sum'] as const, default: 'mean' as LayerScoreKind, describe: 'layer score: mean or sum of |β|' })
      .option('mimic', {
        choices: MIMIC_KINDS,
        default: 'kl' as MimicKind,
        describe: 'recover: mimic function (KL/JS over the channel softmax at each position)',
      })
      .option('recover-epochs', { type: 'number', default: 15, describe: 'recover: epochs (the paper: 15)' })
      .option('lr', { type: 'number', default: 1e-3, describe: 'recover: Adam learning rate, divided by 10 every --decay-every epochs' })
      .option('decay-every', { type: 'number', default: 5, describe: 'recover: epochs between learning-rate decays' })
      .option('finetune-epochs', { type: 'number', default: 0, describe: 'fine-tune on cross-entropy after recovery (the paper: 20)' })
      .option('finetune-lr', { type: 'number', default: 1e-5, describe: 'fine-tune learning rate' })
      .option('round-to', {
        type: 'string',
        default: 'auto',
        describe:
          'kept channels per layer are a multiple of this, as in `sculpt prune`: auto = what the kernels want here (16 on AVX-512 CPUs, 8 with AVX2), recorded as a number in the report; 1 = no rounding',
      })
      .option('max-ratio', { type: 'number', default: 0.9, describe: 'largest fraction of one layer that may be removed' })
      .option('batch', { type: 'number', default: 64, describe: 'batch size of every training phase' })
      .option('limit', { type: 'number', describe: 'train on only this many samples (a seeded subset)' })
      .option('eval-limit', { type: 'number', describe: 'validate on only this many test samples' })
      .option('resize', { type: 'boolean', default: false, describe: "resample images to the model's input size" })
      .option('max-drop', { type: 'number', describe: 'gate: top-1 may drop at most this many points below the original (exit 3)' })
      .option('max-params', { type: 'number', describe: 'gate: at most this many parameters (exit 3)' })
      .option('min-speedup', { type: 'number', describe: 'gate: batch-1 latency speed-up over the original at least this (exit 3; measures latency)' })
      .option('backend', { choices: ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const, default: 'auto' as const, describe: 'tfjs backend' })
      .option('seed', { type: 'number', default: 1, describe: 'seed of data order and subsets' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'allow the output to be the input file' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout (progress stays on stderr)' })
      .example('$0 onestep vgg.onnx -o vgg-half.onnx --data fashion-mnist --flops-target 0.5 --work-dir w', "the whole method with the paper's defaults")
      .example(
        '$0 onestep vgg.onnx -o s.onnx --data fashion-mnist --flops-target 0.3 --crucial 2 --mimic mse --recover-epochs 3 --limit 5000 --work-dir w',
        'a quick run: 2 crucial layers + last conv, MSE mimicking, 5000 images',
      )
      .example(
        '$0 onestep r.onnx -o s.onnx --data digits --ratio 0.5 --scores scores.json --max-drop 2',
        'reuse scores; exit 3 if accuracy drops more than 2 points',
      )
      .epilogue(
        'Rerunning with the same --work-dir skips every phase whose inputs and options are unchanged.\nExit codes: 0 ok, 1 error, 2 usage, 3 a gate failed.',
      )
      .check((a) => Boolean(onestepUsage(a as unknown as OnestepArgs))),
  handler: async (a) => {
    const { crucial } = onestepUsage(a);
    guardOutputs({
      inputs: [
        { path: a.model, what: 'the input model', kind: 'model' },
        { path: a.teacher, what: '--teacher', kind: 'model' },
        { path: a.scores, what: '--scores' },
        ...dataSpecInputs(a.data),
      ],
      outputs: [{ path: a.output, what: '-o', kind: 'model' }],
    });
    // Load data against the model's input before anything else: a mismatch writes nothing.
    const probe = readModel(a.model);
    let data: LoadedDataset | undefined;
    let test: LoadedDataset | undefined;
    try {
      data = loadDatasetFor(probe, a.data, { split: 'train', limit: a.limit, seed: a.limit ? a.seed : undefined, resize: a.resize });
      if (data.labeled) test = loadDatasetFor(probe, a.data, { split: 'test', limit: a['eval-limit'], resize: a.resize });
      else {
        // Unlabeled calibration data: every phase must do without labels; say so before any work.
        const needs = [
          a['finetune-epochs'] > 0 && '--finetune-epochs (cross-entropy)',
          a['max-drop'] !== undefined && '--max-drop (accuracy)',
          !a.unlabeled && !a.teacher && !a.scores && 'scoring with labels (add --unlabeled)',
        ].filter((x): x is string => typeof x === 'string');
        if (needs.length)
          throw new CompilerError('DATA_UNLABELED', `${a.data} has no labels, which ${needs.join(', ')} need`, {
            hint: 'pass labelled data, or drop those options (recovery mimics the original and needs no labels)',
          });
        process.stderr.write(`note: ${a.data} has no labels: the validation measures latency and size, not accuracy\n`);
      }
      let bar: ReturnType<typeof trainBar> | null = null;
      let barPhase: Phase | null = null;
      const { runOnestep } = await import('../../onestep/pipeline.js'); // loads TensorFlow.js: not for --help
      const r = await runOnestep({
        input: a.model,
        output: a.output,
        workDir: a['work-dir'] ?? `${a.output}.work`,
        data,
        evalData: test,
        dataKey: JSON.stringify([a.data, a.limit, a['eval-limit'], a.resize, a.seed]),
        scores: a.scores,
        score: { lambda: a.lambda, lr: a['score-lr'], epochs: a['score-epochs'], teacher: a.teacher, unlabeled: a.unlabeled, layerScore: a['layer-score'] },
        crucial,
        prune: { flopsTarget: a['flops-target'], ratio: a.ratio, roundTo: parseRoundTo(a['round-to']), maxRatio: a['max-ratio'] },
        recover: { mimicLoss: a.mimic, epochs: a['recover-epochs'], lr: a.lr, decayEvery: a['decay-every'] },
        finetune: { epochs: a['finetune-epochs'], lr: a['finetune-lr'] },
        validate: { gates: { maxDrop: a['max-drop'], maxParams: a['max-params'], minSpeedup: a['min-speedup'] } },
        batchSize: a.batch,
        seed: a.seed,
        backend: a.backend,
        overwrite: a.overwrite,
        log: (m) => process.stderr.write(`${m}\n`),
        onPhase: (phase, event, seconds) => {
          if (event === 'start') process.stderr.write(`[${phase}] started\n`);
          else if (event === 'skipped') process.stderr.write(`[${phase}] finished in an earlier run (${(seconds ?? 0).toFixed(1)} s): skipped\n`);
          else {
            bar?.stop();
            bar = null;
            process.stderr.write(`[${phase}] done in ${(seconds ?? 0).toFixed(1)} s\n`);
          }
        },
        onProgress: (phase, p) => {
          if (barPhase !== phase) {
            bar?.stop();
            bar = trainBar(phase, false);
            barPhase = phase;
          }
          bar!.onProgress(p);
        },
      });
      if (a.json) printJson(r);
      else for (const l of summaryText(r)) say(l);
      if (!r.passed) {
        for (const g of r.validation.gates.filter((x) => !x.passed)) process.stderr.write(`gate failed: ${g.gate}: ${g.message}\n`);
        throw new ExitWith(EXIT.GATE_FAILED, 'gate failed');
      }
    } finally {
      data?.close();
      test?.close();
    }
  },
};
