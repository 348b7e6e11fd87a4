/**
 * `sculpt search <model> --data <spec> -o <out> --flops-target f`: GWCS — a genetic search
 * over channel masks scored in onnxruntime sessions whose masks are graph inputs, then the
 * best mask written (for `sculpt prune --mask`), the model pruned with it, optionally
 * recovered by knowledge distillation from the original, and validated against it.
 */
import { cloneModel } from '../../serde/clone.js';
import { parseRoundTo, resolveRoundTo } from '../../prune/round-to.js';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { CompilerError } from '../../errors.js';
import { readModel } from '../../serde/read.js';
import { atomicWrite, saveModel } from '../../serde/write.js';
import { verifyModel } from '../../ir/verify.js';
import { DATA_SPECS } from '../../data/loader.js';
import type { LoadedDataset } from '../../data/loader.js';
import { loadDatasetFor } from '../../data/fit.js';
import { pruneModel } from '../../prune/index.js';
import { parseMask } from '../../prune/mask.js';
import type { BackendPreference, TrainResult } from '../../train/loop.js';
import { validateModel } from '../../validate/validate.js';
import type { ValidationReport } from '../../validate/validate.js';
import { renderValidationText } from '../../report/validation.js';
import { FITNESS_KINDS } from '../../search/fitness.js';
import type { FitnessKind } from '../../search/fitness.js';
import { checkGenome, gwcs } from '../../search/gwcs.js';
import type { BudgetMode } from '../../search/budget.js';
import type { Grouping } from '../../search/space.js';
import { printJson, progress, say } from '../output.js';
import type { Progress } from '../output.js';
import { dataSpecInputs, guardOutputs } from '../../util/output-guard.js';
import { EXIT, ExitWith } from '../exit.js';

interface SearchArgs {
  model: string;
  output: string;
  data: string;
  calibration: number;
  'flops-target'?: number;
  'params-target'?: number;
  budget: BudgetMode;
  'penalty-weight': number;
  fitness: FitnessKind;
  grouping: Grouping;
  iterations?: string;
  population: number;
  parents: number;
  offspring: number;
  survivors: number;
  mutation: number;
  seed: number;
  workers: number;
  feature?: string;
  'summary-in-graph': boolean;
  'stage-cut': boolean;
  fill: boolean;
  'round-to': string;
  state?: string;
  mask?: string;
  'recover-epochs': number;
  temperature: number;
  rho: number;
  lr?: number;
  batch: number;
  backend: BackendPreference;
  limit?: number;
  'eval-limit'?: number;
  validate: boolean;
  json: boolean;
  overwrite: boolean;
}

function maskPathOf(out: string): string {
  return out.replace(/\.onnx$/i, '') + '.mask.json';
}

/** The option problems found before any file is read (usage errors, exit 2). */
function usageProblem(a: SearchArgs): string | undefined {
  const f = a['flops-target'],
    p = a['params-target'];
  if ((f === undefined) === (p === undefined)) return 'give exactly one of --flops-target and --params-target';
  const t = (f ?? p)!;
  if (!(t > 0 && t < 1)) return `--${f !== undefined ? 'flops' : 'params'}-target is the fraction to keep, in (0, 1); got ${t}`;
  if (!(Number.isInteger(a.calibration) && a.calibration >= 1)) return `--calibration must be a positive integer; got ${a.calibration}`;
  if (!(Number.isInteger(a.workers) && a.workers >= 0)) return `--workers must be a non-negative integer; got ${a.workers}`;
  if (!(a.mutation >= 0 && a.mutation <= 1)) return `--mutation is a fraction in [0, 1]; got ${a.mutation}`;
  for (const k of ['population', 'parents', 'offspring', 'survivors'] as const)
    if (!(Number.isInteger(a[k]) && a[k] >= 1)) return `--${k} must be a positive integer; got ${a[k]}`;
  if (a.parents < 2) return '--parents must be at least 2 (crossover needs two)';
  if (a.iterations !== undefined && !/^\d+(,\d+)*$/.test(a.iterations))
    return `--iterations is a comma-separated list of generation counts, e.g. 10,10,5; got "${a.iterations}"`;
  if (!(a.rho >= 0 && a.rho <= 1)) return `--rho is in [0, 1]; got ${a.rho}`;
  if (!(a.temperature > 0)) return `--temperature must be positive; got ${a.temperature}`;
  if (!(Number.isInteger(a['recover-epochs']) && a['recover-epochs'] >= 0))
    return `--recover-epochs must be a non-negative integer; got ${a['recover-epochs']}`;
  return undefined;
}

export const searchCommand: CommandModule<object, SearchArgs> = {
  command: 'search <model>',
  describe: 'GWCS: genetic wavelet channel search for which channels to keep, then prune, distil and validate',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'trained input .onnx (never overwritten; also the teacher and the baseline)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'pruned .onnx (written atomically)' })
      .option('data', {
        type: 'string',
        demandOption: true,
        describe: `data: ${DATA_SPECS.join(' | ')}; calibration images from the train split, accuracy on the test split`,
      })
      .option('calibration', { type: 'number', default: 256, describe: 'calibration images the fitness runs on (a seeded sample of the train split)' })
      .option('flops-target', { type: 'number', describe: 'fraction of the FLOPs to KEEP, in (0, 1)' })
      .option('params-target', { type: 'number', describe: 'fraction of the params to KEEP, in (0, 1)' })
      .option('budget', {
        choices: ['repair', 'penalty'] as const,
        default: 'repair' as BudgetMode,
        describe: 'repair: drop random kept channels of the searched stage until a genome fits; penalty: fitness − w·(relative excess)',
      })
      .option('penalty-weight', { type: 'number', default: 1, describe: 'w of --budget penalty' })
      .option('fitness', {
        choices: FITNESS_KINDS,
        default: 'wca' as FitnessKind,
        describe:
          'summary of the feature map per (image, channel) before the cosine similarity: wca = max(HH)+mean(LL) of a one-level Haar transform; gap, gmp, gap+gmp',
      })
      .option('grouping', {
        choices: ['ggs', 'ogs'] as const,
        default: 'ggs' as Grouping,
        describe: 'ggs: search stages (by feature-map resolution) one after another; ogs: all channels at once',
      })
      .option('iterations', {
        type: 'string',
        describe:
          'generations per stage, comma-separated, or one number for every stage (default 10 for the first half of the stages, 5 for the rest: [10,10,5,5] for four; ogs: their sum)',
      })
      .option('population', { type: 'number', default: 50, describe: 'initial population per stage' })
      .option('parents', { type: 'number', default: 20, describe: 'the fittest genomes that breed each generation' })
      .option('offspring', { type: 'number', default: 50, describe: 'children per generation (uniform crossover with a random 50% mask, then mutation)' })
      .option('survivors', { type: 'number', default: 30, describe: 'genomes the roulette wheel keeps from parents + children' })
      .option('mutation', { type: 'number', default: 0.1, describe: "fraction of a child's bits flipped" })
      .option('seed', {
        type: 'number',
        default: 0,
        describe: 'seed of the search, the calibration sample and training (same seed, same genome, whatever --workers)',
      })
      .option('workers', {
        type: 'number',
        default: availableParallelism(),
        describe: 'worker threads, each with its own onnxruntime session (default: the cores)',
      })
      .option('feature', {
        type: 'string',
        describe: "value the fitness compares (default: the last conv layer's feature map, after its BN, activation and residual add)",
      })
      .option('round-to', {
        type: 'string',
        default: '1',
        describe:
          'kept channels per group are a multiple of this (per conv group for grouped convs, as `sculpt prune --round-to`); auto = what the kernels want here (16 with AVX-512, else 8); groups no wider than it stay whole. Default 1: exact counts, as the paper searches',
      })
      .option('fill', {
        type: 'boolean',
        default: true,
        describe:
          'after the search, give dropped channels back (most-pruned group first, largest filter norm first) while the target allows: the GA only ever drops channels to fit, so it lands below the target; --no-fill keeps the searched genome as is',
      })
      .option('stage-cut', {
        type: 'boolean',
        default: true,
        describe:
          'GGS: score each stage on the network cut at its frontier (what comes before runs once per stage); --no-stage-cut scores every genome on the whole network',
      })
      .option('summary-in-graph', {
        type: 'boolean',
        default: false,
        describe: 'compute the fitness summary inside the onnxruntime graph (Haar as stride-2 depthwise convs) instead of in JS',
      })
      .option('state', {
        type: 'string',
        describe: 'resumable state file, written after every generation; an existing one for the same search is continued (Ctrl-C stops cleanly)',
      })
      .option('mask', { type: 'string', describe: 'where to write the best mask (default <output>.mask.json); `sculpt prune --mask` applies it' })
      .option('recover-epochs', { type: 'number', default: 0, describe: 'epochs of knowledge distillation from the original after pruning (0 = none)' })
      .option('temperature', { alias: 'T', type: 'number', default: 4, describe: 'distillation temperature' })
      .option('rho', { type: 'number', default: 0.9, describe: 'weight of the soft (teacher) term; 1 − rho goes to the labels' })
      .option('lr', { type: 'number', describe: "recovery learning rate (default: the trainer's)" })
      .option('batch', { type: 'number', default: 128, describe: 'recovery batch size' })
      .option('backend', {
        choices: ['auto', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const,
        default: 'auto' as const,
        describe: 'tfjs backend for recovery',
      })
      .option('limit', { type: 'number', describe: 'recover on only this many training samples' })
      .option('eval-limit', { type: 'number', describe: 'validate on only this many test samples' })
      .option('validate', { type: 'boolean', default: true, describe: 'validate against the original in onnxruntime (--no-validate skips)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the summary (with the fitness history) as JSON on stdout' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'allow the output to be the input file' })
      .example('$0 search resnet.onnx --data folder:cifar -o small.onnx --flops-target 0.5', 'GWCS (WCA fitness, GGS) to half the FLOPs, prune, validate')
      .example(
        '$0 search vgg.onnx --data fashion-mnist -o s.onnx --flops-target 0.4 --recover-epochs 2 --state s.json',
        'resumable search, then 2 epochs of KD from the original',
      )
      .example(
        '$0 search net.onnx --data mnist -o s.onnx --params-target 0.3 --fitness gap --grouping ogs --workers 1',
        'ablations: GAP fitness, all stages at once',
      )
      .example(
        '$0 search net.onnx --data mnist -o s.onnx --flops-target 0.5 --round-to auto',
        'kept channels in multiples the CPU kernels want (16 with AVX-512, else 8), so the speed-up follows the FLOPs',
      )
      .example('$0 prune net.onnx -o again.onnx --mask s.mask.json --verify', 'apply the searched mask again, checked by masked equivalence')
      .epilogue(
        'The fitness runs in one onnxruntime session per worker whose channel masks are graph inputs (passes expose-masks, expose-outputs): no model is rebuilt per genome. The written model is checked to give the searched masked features.',
      ),
  handler: async (a) => {
    const problem = usageProblem(a);
    if (problem) {
      process.stderr.write(`usage error: ${problem} (see sculpt search --help)\n`);
      throw new ExitWith(EXIT.USAGE);
    }
    if (!a.overwrite && resolve(a.output) === resolve(a.model)) {
      throw new CompilerError('OUTPUT_IS_INPUT', `the output "${a.output}" is the input model`, { hint: 'choose another -o path (or pass --overwrite)' });
    }
    const maskPath = a.mask ?? maskPathOf(a.output);
    guardOutputs({
      inputs: [{ path: a.model, what: 'the input model', kind: 'model' }, ...dataSpecInputs(a.data)],
      outputs: [
        { path: a.output, what: '-o', kind: 'model' },
        { path: maskPath, what: '--mask' },
        { path: a.state, what: '--state' },
      ],
      overwrite: a.overwrite,
    });
    for (const [what, p] of [
      ['mask', maskPath],
      ['state', a.state],
    ] as const) {
      if (p && resolve(p) === resolve(a.model))
        throw new CompilerError('OUTPUT_IS_INPUT', `the ${what} path is the input model`, { hint: `choose another --${what} path` });
    }
    const log = (m: string): void => {
      if (!a.json) process.stderr.write(`${m}\n`);
    };
    const model = readModel(a.model);
    verifyModel(model, 'input model');
    let calib: LoadedDataset | undefined;
    let data: LoadedDataset | undefined;
    let test: LoadedDataset | undefined;
    let bar: Progress | undefined;
    const signal = { stop: false };
    let generationsDone = 0;
    const onSigint = (): void => {
      signal.stop = true;
      process.stderr.write('\nstopping after this generation (state is saved)...\n');
    };
    try {
      calib = loadDatasetFor(model, a.data, { split: 'train', limit: a.calibration, seed: a.seed });
      if (!calib.labeled) {
        // The fitness needs no labels; say now what else would, before the search runs.
        if (a['recover-epochs'] > 0 && a.rho < 1)
          throw new CompilerError('DATA_UNLABELED', `${a.data} has no labels, which recovery with --rho ${a.rho} needs (its hard term)`, {
            hint: 'recover by the soft term alone (--rho 1), or pass labelled data',
          });
        if (a.validate) process.stderr.write(`note: ${a.data} has no labels: the validation measures latency and size, not accuracy\n`);
      } else if (a.validate) test = loadDatasetFor(model, a.data, { split: 'test', limit: a['eval-limit'] });
      const first = calib.batches(a.calibration, { shuffle: false, augment: false })[Symbol.iterator]().next();
      if (first.done) throw new CompilerError('DATA_UNAVAILABLE', `${calib.name} has no samples`, { where: a.data });
      const batch = first.value;
      const xDims = [batch.n, ...calib.inputShape];
      if (a.state) process.on('SIGINT', onSigint);
      const r = await gwcs(model, {
        x: batch.x,
        xDims,
        budget: {
          kind: a['flops-target'] !== undefined ? 'flops' : 'params',
          target: (a['flops-target'] ?? a['params-target'])!,
          mode: a.budget,
          penaltyWeight: a['penalty-weight'],
        },
        fitness: a.fitness,
        grouping: a.grouping,
        iterations: a.iterations?.split(',').map(Number),
        population: a.population,
        parents: a.parents,
        offspring: a.offspring,
        survivors: a.survivors,
        mutation: a.mutation,
        seed: a.seed,
        workers: a.workers,
        feature: a.feature,
        summaryInGraph: a['summary-in-graph'],
        stageCut: a['stage-cut'],
        fill: a.fill,
        roundTo: resolveRoundTo(parseRoundTo(a['round-to'])).value,
        state: a.state,
        signal,
        onProgress: (p) => {
          bar ??= progress('search', p.generations, { quiet: a.json, format: 'stage {stage} gen {gen} | best {best} | FLOPs {flops} | {eps} evals/s' });
          bar.update(Math.min(p.generations, ++generationsDone), {
            stage: `${p.stage + 1}/${p.stages}`,
            gen: p.generation,
            best: Number.isFinite(p.bestFeasible) ? p.bestFeasible.toFixed(4) : '-',
            flops: Number.isFinite(p.bestCost) ? `${(100 * p.bestCost).toFixed(1)}%` : '-',
            eps: p.evalsPerSec.toFixed(1),
          });
        },
      });
      (bar as Progress | undefined)?.stop();
      bar = undefined;
      if (r.search.stopped) {
        process.stderr.write(`stopped; the state is in ${a.state}: run the same command again to resume\n`);
        throw new ExitWith(130);
      }
      // The searched genome, checked: the pruned model gives the masked session's features.
      const check = await checkGenome(r.prepared, r.search.genome, batch.x, xDims);
      if (!(check.relative <= 1e-4)) {
        throw new CompilerError(
          'NUMERIC_MISMATCH',
          `the pruned model's "${r.prepared.feature.original}" differs from the searched masked session (relative ${check.relative.toExponential(3)}); nothing was written`,
          { where: r.prepared.feature.original, hint: 'this is a bug in the scale points or a channel rule: please report it with the model' },
        );
      }
      const pruned = cloneModel(model);
      const outcome = pruneModel(pruned, { criterion: 'mask', mask: parseMask(r.mask, maskPath) });
      let trained: TrainResult | undefined;
      if (a['recover-epochs'] > 0) {
        data = loadDatasetFor(model, a.data, { split: 'train', limit: a.limit, seed: a.seed });
        const { train } = await import('../../train/loop.js'); // loads TensorFlow.js: not for --help
        trained = await train(pruned, {
          data,
          evalData: test,
          epochs: a['recover-epochs'],
          lr: a.lr,
          batchSize: a.batch,
          backend: a.backend,
          seed: a.seed,
          loss: 'kd',
          teacher: readModel(a.model),
          kd: { temperature: a.temperature, rho: a.rho },
          log,
          // Written before the trainer's final evaluation, so a failing evaluation loses nothing.
          output: { path: a.output, inputPath: a.model, overwrite: a.overwrite },
          onProgress: (p) => {
            bar ??= progress('recover', p.totalSteps, { quiet: a.json, format: 'loss {loss} | acc {acc}' });
            bar.update(p.step, { loss: p.loss.toFixed(4), acc: Number.isFinite(p.accuracy) ? p.accuracy.toFixed(4) : '-' });
          },
        });
        (bar as Progress | undefined)?.stop();
        bar = undefined;
      }
      atomicWrite(maskPath, [
        new TextEncoder().encode(
          `${JSON.stringify({ ...r.mask, search: { model: a.model, fitness: r.search.fitness, cost: r.search.cost, budget: r.budget } }, null, 2)}\n`,
        ),
      ]);
      const saved = saveModel(pruned, a.output, { inputPath: a.model, overwrite: a.overwrite });
      let validation: ValidationReport | undefined;
      if (a.validate) {
        validation = await validateModel(saved.path, {
          data: test,
          baseline: a.model,
          seed: a.seed,
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
      const summary = {
        input: a.model,
        output: saved.path,
        mask: maskPath,
        bytes: saved.bytes,
        search: {
          fitness: r.search.fitness,
          fitnessKind: a.fitness,
          grouping: a.grouping,
          cost: r.search.cost,
          budget: r.budget,
          iterations: r.iterations,
          workers: r.workers,
          roundTo: r.prepared.roundTo,
          stageCut: a['stage-cut'],
          cutStages: r.search.cutStages,
          fill: r.fill ?? null,
          seed: a.seed,
          calibration: batch.n,
          evaluations: r.search.evaluations,
          evaluated: r.search.evaluated,
          seconds: r.search.seconds,
          evalsPerSec: r.search.evaluated / Math.max(r.search.seconds, 1e-9),
          resumed: r.search.resumed,
          feature: r.prepared.feature.original,
          stages: r.prepared.space.stages.map((s) => ({ index: s.index, resolution: s.resolution, groups: s.groups.length, channels: s.bits.length })),
          history: r.search.history,
        },
        groups: r.groups,
        unsearched: r.prepared.unsearched,
        check: { feature: r.prepared.feature.original, maxAbs: check.maxAbs, relative: check.relative },
        prune: { before: outcome.before.total, after: outcome.after.total },
        recovery: trained ?? null,
        validation: validation ?? null,
      };
      if (a.json) {
        printJson(summary);
        return;
      }
      say(
        `searched ${summary.search.evaluated} genomes (${summary.search.evaluations} scored incl. cache) in ${summary.search.seconds.toFixed(1)} s with ${r.workers} worker(s): ${summary.search.evalsPerSec.toFixed(2)} evals/s`,
      );
      say(
        `scored ${r.search.cutStages.length ? `stage(s) ${r.search.cutStages.map((i) => i + 1).join(', ')} on the network cut at the stage (the stage cut), the rest` : 'every stage'} on the whole network`,
      );
      const [bestFit, bestCost] = r.fill ? [r.fill.fitnessBefore, r.fill.costBefore] : [r.search.fitness, r.search.cost];
      say(
        `best ${a.fitness} fitness ${bestFit.toFixed(4)} at ${(100 * bestCost).toFixed(1)}% of the ${r.budget.kind} (target ${(100 * r.budget.target).toFixed(1)}%)`,
      );
      if (r.fill)
        say(
          `filled up to the target: ${r.fill.channels} channels given back (most-pruned group first, by filter norm): fitness ${r.search.fitness.toFixed(4)} at ${(100 * r.search.cost).toFixed(1)}% (--no-fill keeps the searched genome)`,
        );
      for (const g of r.groups) say(`  stage ${g.stage + 1}  ${g.name.padEnd(28).slice(0, 28)} ${String(g.kept).padStart(5)}/${g.size}`);
      if (r.prepared.unsearched.length) say(`  left whole (after the fitness feature, so the fitness cannot judge them): ${r.prepared.unsearched.join(', ')}`);
      say(
        `checked: the pruned model's ${check.relative === 0 ? 'features equal' : `features match (relative ${check.relative.toExponential(2)})`} the searched masked session`,
      );
      if (trained)
        say(
          `recovered ${trained.epochs} epoch(s) by KD on ${trained.backend}: test accuracy ${trained.evalAccuracy !== undefined ? (100 * trained.evalAccuracy).toFixed(2) + '%' : '-'}`,
        );
      if (validation) process.stdout.write(renderValidationText(validation));
      say(`wrote ${saved.path} (${saved.bytes} bytes) and the mask ${maskPath}`);
    } finally {
      process.off('SIGINT', onSigint);
      (bar as Progress | undefined)?.stop();
      calib?.close();
      data?.close();
      test?.close();
    }
  },
};
