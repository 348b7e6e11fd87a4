/** `sculpt prune <model> -o <out>`: dependency-aware channel pruning with a report and masked-equivalence check. */
import type { CommandModule } from 'yargs';
import { parseRoundTo } from '../../prune/round-to.js';
import { verifyModel } from '../../ir/verify.js';
import { CRITERIA } from '../../prune/criteria.js';
import { NAN_POLICIES, parseNanPolicy } from '../../prune/nan.js';
import type { PruneCriterion } from '../../prune/criteria.js';
import { readMaskFile, readScoresFile } from '../../prune/mask.js';
import type { Provider } from '../../runtime/session.js';
import type { PruneScope } from '../../prune/plan.js';
import type { LatencyClock } from '../../prune/latency.js';
import { pruneModel, pruneModelToLatency } from '../../prune/index.js';
import type { PruneModelOptions } from '../../prune/index.js';
import { formatPruneReport } from '../../prune/report.js';
import { TARGET_TOLERANCE } from '../../prune/target-remarks.js';
import { usageError } from '../usage.js';
import { verifyMaskedEquivalence, verifyMismatchError } from '../../prune/verify.js';
import { readModel } from '../../serde/read.js';
import { atomicWrite, saveModel } from '../../serde/write.js';
import { printJson, progress, say } from '../output.js';
import { EXIT, ExitWith } from '../exit.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import { fixInputShapes } from '../options/fix-input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';
import { guardOutputs } from '../../util/output-guard.js';
import { StagedFiles } from '../../util/write-protocol.js';

interface PruneArgs extends InputShapeArgs {
  model: string;
  output: string;
  ratio?: number;
  'flops-target'?: number;
  'strict-target': boolean;
  criterion?: PruneCriterion;
  scores?: string;
  mask?: string;
  scope: PruneScope;
  'round-to': string;
  provider: string;
  'min-channels': number;
  'max-ratio': number;
  seed: number;
  nan?: string;
  'latency-target'?: number;
  threads: number;
  batch: number;
  'latency-clock': LatencyClock;
  report?: string;
  verify: boolean;
  explain: boolean;
  json: boolean;
  untie: boolean;
  overwrite: boolean;
}

export const pruneCommand: CommandModule<object, PruneArgs> = {
  command: 'prune <model>',
  describe: 'remove channels (coupled groups) from a CNN: a smaller model that computes what the masked original computes',
  builder: (y) =>
    withInputShape(y, { fix: true })
      .positional('model', { type: 'string', demandOption: true, describe: 'input .onnx file (never overwritten)' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'pruned .onnx file (written atomically)' })
      .option('ratio', { type: 'number', describe: 'fraction of the prunable channels to REMOVE, in [0, 1): 0.5 removes half' })
      .option('flops-target', {
        type: 'number',
        describe: 'fraction of the FLOPs to KEEP, in (0, 1]: 0.5 halves the FLOPs (lands within 1% when the rounding allows, else a remark says why)',
      })
      .option('latency-target', {
        type: 'number',
        describe:
          'fraction of the measured latency to KEEP, in (0, 1]: times the model and each layer in onnxruntime (--provider, --threads, --batch; table cached in $XDG_CACHE_HOME/sculpt), picks per-group widths, then measures the result; the report gives predicted vs measured',
      })
      .option('threads', { type: 'number', default: 1, describe: 'onnxruntime intra-op threads for --latency-target' })
      .option('batch', { type: 'number', default: 1, describe: 'batch size (symbolic batch dim) for --latency-target' })
      .option('latency-clock', {
        choices: ['cpu', 'wall'] as const,
        default: 'cpu' as const,
        describe: 'what --latency-target times: process CPU time (robust on a busy machine; with 1 thread) or wall time',
      })
      .option('criterion', {
        choices: CRITERIA,
        describe:
          'which channels go: l1/l2 = smallest filter norm (BN-scaled), random (seeded), first-k (keep the lowest indices), scores (--scores), mask (--mask); default l1, or scores/mask when that file is given',
      })
      .option('scores', { type: 'string', describe: 'JSON per-channel importance: { "scores": { "<tensor>": [numbers...] } }; higher = keep' })
      .option('mask', {
        type: 'string',
        describe: 'JSON kept channels: { "keep": { "<tensor>": [indices] } }, { "mask": { "<tensor>": [0/1...] } }, or a prune report ({ "pruned": [...] })',
      })
      .option('scope', {
        choices: ['global', 'layer'] as const,
        default: 'layer' as const,
        describe: 'layer: the same ratio in every group; global: rank all channels together (scores normalised per group)',
      })
      .option('round-to', {
        type: 'string',
        default: 'auto',
        describe:
          'kept channels are a multiple of this, per conv group for grouped convs (docs/pruning.md); auto = what the kernels want here: 16 on AVX-512 CPUs, 8 with AVX2 or CUDA (the report records the number: pass it to reproduce the run elsewhere); 1 = exact',
      })
      .option('provider', { choices: ['cpu', 'cuda'], default: 'cpu', describe: 'execution provider the pruned model is for (decides --round-to auto)' })
      .option('min-channels', { type: 'number', default: 1, describe: 'fewest channels any group keeps' })
      .option('max-ratio', { type: 'number', default: 0.9, describe: 'largest fraction of any one group removed (a group never goes to zero)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed for --criterion random' })
      .option('nan', {
        choices: NAN_POLICIES,
        describe:
          'channels whose importance is NaN/Inf (bad weights): error (default: stop, naming the node and channel), prune-first (remove them first), keep (keep them)',
      })
      .option('report', {
        type: 'string',
        describe:
          'write the JSON report here: "pruned" lists every input tensor that lost channels as {name, axis, removed}, plus per-layer channels/MACs/params before and after',
      })
      .option('verify', {
        type: 'boolean',
        default: false,
        describe:
          'run the pruned model against the original with the removed channels zeroed (onnxruntime, seeded inputs); fail if they differ by more than 1e-4 of the output scale',
      })
      .option('strict-target', {
        type: 'boolean',
        default: false,
        describe: `with --flops-target: exit 3 (a failed gate; the model and report are still written) when the kept FLOPs are more than ${100 * TARGET_TOLERANCE} points off the target, as a coarse --round-to can leave them`,
      })
      .option('explain', { type: 'boolean', default: false, describe: 'also print per-layer channels, frozen groups with reasons, and remarks' })
      .option('untie', {
        type: 'boolean',
        default: true,
        describe: 'give each reader of a shared constant its own copy first (--no-untie keeps such layers coupled)',
      })
      .option('overwrite', { type: 'boolean', default: false, describe: 'allow the output to be the input file' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON on stdout (progress goes to stderr)' })
      .example('$0 prune resnet.onnx -o small.onnx --flops-target 0.5 --verify', 'half the FLOPs, L1 criterion, checked in onnxruntime')
      .example(
        '$0 prune net.onnx -o p.onnx --ratio 0.3 --scope global --round-to 1 --report r.json',
        'remove 30% of channels, ranked across layers, exact counts',
      )
      .example('$0 prune net.onnx -o p.onnx --criterion scores --scores beta.json --flops-target 0.6', 'prune by learned importance')
      .example('$0 prune net.onnx -o p.onnx --mask r.json', 'apply an explicit mask (or a previous report)')
      .example(
        '$0 prune resnet.onnx -o fast.onnx --latency-target 0.5 --threads 1',
        'half the measured CPU latency, widths chosen from a per-layer latency table',
      )
      .example('$0 prune net.onnx -o p.onnx --ratio 0.5 --nan prune-first', 'a model with NaN weights: remove those channels first')
      .example('$0 groups net.onnx --explain', 'see what can be pruned and what is frozen, and why')
      .example(
        '$0 prune ocr.onnx -o p.onnx --flops-target 0.5 --input-shape 1,3,48,192',
        'a model with symbolic H/W: FLOPs counted at this size (the output keeps N/H/W)',
      )
      .conflicts('ratio', ['flops-target', 'latency-target'])
      .conflicts('flops-target', 'latency-target')
      .conflicts('mask', ['ratio', 'flops-target', 'latency-target'])
      .check((a) => {
        if (a['strict-target'] && a['flops-target'] === undefined) throw usageError('--strict-target goes with --flops-target');
        return true;
      }),
  handler: async (a) => {
    if (a.mask === undefined && a.ratio === undefined && a['flops-target'] === undefined && a['latency-target'] === undefined) {
      process.stderr.write('usage error: give --ratio, --flops-target, --latency-target or --mask (see sculpt prune --help)\n');
      throw new ExitWith(EXIT.USAGE);
    }
    guardOutputs({
      inputs: [
        { path: a.model, what: 'the input model', kind: 'model' },
        { path: a.mask, what: '--mask' },
        { path: a.scores, what: '--scores' },
      ],
      outputs: [
        { path: a.output, what: '-o', kind: 'model' },
        { path: a.report, what: '--report' },
      ],
      overwrite: a.overwrite,
    });
    const steps = a.verify ? 6 : 5;
    const bar = progress('prune', steps, { quiet: a.json });
    const timings: Record<string, number> = {};
    let t = performance.now();
    const lap = (name: string, done: number) => {
      const now = performance.now();
      timings[name] = (now - t) / 1000;
      t = now;
      bar.update(done, { step: name });
    };
    try {
      const mask = a.mask ? readMaskFile(a.mask) : undefined;
      const scores = a.scores ? readScoresFile(a.scores) : undefined;
      const model = readModel(a.model);
      verifyModel(model, 'input model');
      const inputShapes = inputShapesFor(a, model);
      lap('read', 1);
      let done = 1;
      const opts: PruneModelOptions = {
        inputShapes,
        ratio: a.ratio,
        flopsTarget: a['flops-target'],
        criterion: a.criterion,
        scores,
        mask,
        scope: a.scope,
        roundTo: parseRoundTo(a['round-to']),
        provider: a.provider as Provider,
        minChannels: a['min-channels'],
        maxRatio: a['max-ratio'],
        seed: a.seed,
        nan: parseNanPolicy(a.nan),
        untie: a.untie,
        sources: { mask: a.mask, scores: a.scores },
        input: a.model,
        output: a.output,
        onStep: (step, seconds) => {
          timings[step] = seconds;
          t = performance.now();
          bar.update(++done, { step });
        },
      };
      const run = {
        provider: a.provider as Provider,
        threads: a.threads,
        batch: a.batch,
        clock: a['latency-clock'] as LatencyClock,
        onProgress: a.json ? undefined : (m: string) => process.stderr.write(`prune: ${m}\n`),
      };
      const { applied, report } =
        a['latency-target'] !== undefined ? await pruneModelToLatency(model, { ...opts, latencyTarget: a['latency-target'] }, run) : pruneModel(model, opts);
      if (a.verify) {
        const original = readModel(a.model);
        report.verify = await verifyMaskedEquivalence(original, model, applied.pruned, { untied: report.untied, inputShapes });
        lap('verify', 5);
        if (!report.verify.ok) {
          if (a.report) atomicWrite(a.report, [new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`)]);
          throw verifyMismatchError(report.verify, '; nothing was written');
        }
      }
      if (a['fix-input-shape']) fixInputShapes(model, inputShapes);
      // The report is written to a temp first: a report that cannot be written stops the
      // run before the model is replaced, so no output is left without the other.
      report.timings = timings;
      const staged = new StagedFiles();
      let saved: ReturnType<typeof saveModel>;
      try {
        if (a.report) staged.stage(a.report, `${JSON.stringify(report, null, 2)}\n`);
        saved = saveModel(model, a.output, { inputPath: a.model, overwrite: a.overwrite });
        staged.commit();
      } finally {
        staged.abort();
      }
      lap('save', steps);
      if (a.json) printJson(report);
      else {
        say(formatPruneReport(report, a.explain));
        say(`wrote ${saved.path} (${saved.bytes} bytes)${a.report ? `, report ${a.report}` : ''}`);
      }
      const target = a['flops-target'];
      if (a['strict-target'] && target !== undefined && Math.abs(report.summary.flopsRatio - target) > TARGET_TOLERANCE) {
        process.stderr.write(
          `gate failed: flops-target: kept ${(100 * report.summary.flopsRatio).toFixed(1)}% of FLOPs for a target of ${(100 * target).toFixed(1)}% (tolerance ${100 * TARGET_TOLERANCE} points; the remarks say why)\n`,
        );
        throw new ExitWith(EXIT.GATE_FAILED);
      }
    } finally {
      bar.stop();
    }
  },
};
