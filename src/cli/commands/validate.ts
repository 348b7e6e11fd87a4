/**
 * `sculpt validate <model>`: accuracy (top-1, top-k, per class) on the test split, latency at
 * batch 1 and --batch, size; against --baseline the deltas, CE/SE and speed-up; quality gates
 * that end the process with exit code 3 when one fails.
 */
import type { CommandModule } from 'yargs';
import { asUsage, usageError } from '../usage.js';
import { readModel } from '../../serde/read.js';
import { loadDatasetFor } from '../../data/fit.js';
import { DATA_SPECS } from '../../data/loader.js';
import type { LoadedDataset } from '../../data/loader.js';
import { checkGateOptions, validateModel } from '../../validate/validate.js';
import { LATENCY_DEFAULTS } from '../../runtime/latency.js';
import type { Provider } from '../../runtime/session.js';
import { diffModels } from '../../report/diff.js';
import { renderDiffHtml } from '../../report/html.js';
import { renderValidationText } from '../../report/validation.js';
import { writeReportFile } from '../../report/write.js';
import { EXIT, ExitWith } from '../exit.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';
import { printJson, progress } from '../output.js';
import { dataSpecInputs, guardOutputs } from '../../util/output-guard.js';
import type { Progress } from '../output.js';

interface ValidateArgs extends InputShapeArgs {
  model: string;
  data?: string;
  limit?: number;
  resize?: boolean;
  baseline?: string;
  provider: Provider;
  strict: boolean;
  threads: number;
  batch: number;
  latency: boolean;
  warmup: number;
  'min-runs': number;
  'max-runs': number;
  'max-time': number;
  tolerance: number;
  window: number;
  'max-drop'?: number;
  'min-speedup'?: number;
  'max-params'?: number;
  'input-name'?: string;
  'output-name'?: string;
  seed: number;
  json: boolean;
  report?: 'html' | 'json';
  output?: string;
}

/** The command line alone, checked before any file is read (exit 2; also `sculpt run`'s preflight, via `.check`). */
function validateUsage(a: ValidateArgs): true {
  if (a.report && !a.output) throw usageError('--report needs --output <file>');
  if (a.output && !a.report) throw usageError('--output is the file for --report; say which (--report html or --report json)');
  asUsage(() =>
    checkGateOptions(
      { maxDrop: a['max-drop'], minSpeedup: a['min-speedup'], maxParams: a['max-params'] },
      { baseline: a.baseline !== undefined, data: Boolean(a.data) },
    ),
  );
  return true;
}

export const validateCommand: CommandModule<object, ValidateArgs> = {
  command: 'validate <model>',
  describe: 'measure accuracy, latency and size in onnxruntime; compare with the original (CE, SE, speed-up); enforce gates',
  builder: (y) =>
    withInputShape(y)
      .positional('model', { type: 'string', demandOption: true, describe: 'the model to validate (.onnx)' })
      .option('data', { type: 'string', describe: `test data: ${DATA_SPECS.join(' | ')} (its test split is used)` })
      .option('limit', { type: 'number', describe: 'evaluate only the first n test samples' })
      .option('resize', { type: 'boolean', describe: "allow resizing images to the model's input size" })
      .option('baseline', { type: 'string', describe: 'the original model: measured the same way; deltas, CE, SE and speed-up are reported' })
      .option('provider', {
        choices: ['cpu', 'cuda'] as const,
        default: 'cpu' as const,
        describe: 'onnxruntime execution provider; cuda falls back to cpu with a warning unless --strict',
      })
      .option('strict', { type: 'boolean', default: false, describe: 'fail (exit 1) instead of falling back to cpu when cuda cannot load' })
      .option('threads', { type: 'number', default: 1, describe: 'onnxruntime intra-op threads (1 gives the steadiest latency on small machines)' })
      .option('batch', { type: 'number', default: 32, describe: 'batch size for accuracy and for the second latency point' })
      .option('latency', { type: 'boolean', default: false, describe: 'measure latency at batch 1 and at --batch (always on with --min-speedup)' })
      .option('warmup', { type: 'number', default: LATENCY_DEFAULTS.warmup, describe: 'latency: untimed warm-up runs' })
      .option('min-runs', { type: 'number', default: LATENCY_DEFAULTS.minRuns, describe: 'latency: fewest timed runs' })
      .option('max-runs', { type: 'number', default: LATENCY_DEFAULTS.maxRuns, describe: 'latency: most timed runs' })
      .option('window', {
        type: 'number',
        default: LATENCY_DEFAULTS.window,
        describe: 'latency: stop when the running median moved less than --tolerance over this many runs',
      })
      .option('tolerance', {
        type: 'number',
        default: LATENCY_DEFAULTS.tolerance,
        describe: 'latency: relative change of the running median counted as stable',
      })
      .option('max-time', {
        type: 'number',
        default: LATENCY_DEFAULTS.maxTimeMs / 1000,
        describe: 'latency: seconds per measurement at most (warm-up included)',
      })
      .option('max-drop', {
        type: 'number',
        describe: 'gate: top-1 may drop at most this many percentage points below the baseline (needs --baseline, --data)',
      })
      .option('min-speedup', {
        type: 'number',
        describe: "gate: batch-1 median latency must be at least this many times lower than the baseline's (needs --baseline)",
      })
      .option('max-params', { type: 'number', describe: 'gate: at most this many parameters' })
      .option('input-name', { type: 'string', describe: 'the model input to feed, when it has several' })
      .option('output-name', { type: 'string', describe: 'the output holding class scores (default: the first)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random latency inputs' })
      .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON on stdout (docs/diff-schema.md, "validation report")' })
      .option('report', {
        choices: ['html', 'json'] as const,
        describe: 'also write the report to --output: html = the diff page against --baseline with these numbers',
      })
      .option('output', { alias: 'o', type: 'string', describe: 'file for --report (written atomically)' })
      .example('$0 validate small.onnx --data mnist', 'top-1/top-5 and per-class accuracy on the MNIST test split')
      .example('$0 validate small.onnx --baseline big.onnx --data mnist --latency', 'deltas, CE, SE and measured speed-up')
      .example(
        '$0 validate small.onnx --baseline big.onnx --data mnist --max-drop 1 --min-speedup 1.5 --json',
        'a CI gate: exit 3 if accuracy drops > 1 point or the speed-up is < 1.5x',
      )
      .example('$0 validate small.onnx --baseline big.onnx --data mnist --latency --report html -o report.html', 'the HTML review page with these numbers')
      .epilogue('Exit codes: 0 all gates passed (or none set), 1 error, 2 usage, 3 a gate failed (named on stderr).')
      .check((a) => validateUsage(a as unknown as ValidateArgs)),
  handler: async (a) => {
    guardOutputs({
      inputs: [{ path: a.model, what: 'the model', kind: 'model' }, { path: a.baseline, what: '--baseline', kind: 'model' }, ...dataSpecInputs(a.data)],
      outputs: [{ path: a.output, what: '-o' }],
    });
    let data: LoadedDataset | undefined;
    let bar: Progress | undefined;
    try {
      const inputShapes = inputShapesFor(a, readModel(a.model));
      if (a.data) {
        // The model's own input shape decides the sample shape, so a misfit fails here.
        data = loadDatasetFor(readModel(a.model), a.data, { split: 'test', limit: a.limit, resize: a.resize });
      }
      const report = await validateModel(a.model, {
        data,
        baseline: a.baseline,
        provider: a.provider,
        strict: a.strict,
        threads: a.threads,
        batch: a.batch,
        latency: a.latency,
        latencyOptions: {
          warmup: a.warmup,
          minRuns: a['min-runs'],
          maxRuns: a['max-runs'],
          window: a.window,
          tolerance: a.tolerance,
          maxTimeMs: a['max-time'] * 1000,
        },
        gates: { maxDrop: a['max-drop'], minSpeedup: a['min-speedup'], maxParams: a['max-params'] },
        io: { input: a['input-name'], output: a['output-name'] },
        seed: a.seed,
        inputShapes,
        onProgress: (label, done, total) => {
          if (!bar) bar = progress(label, total, { quiet: a.json });
          bar.update(done);
          if (done >= total) {
            bar.stop();
            bar = undefined;
          }
        },
      });
      if (a.report === 'json' && a.output) writeReportFile(a.output, `${JSON.stringify(report, null, 2)}\n`, [a.model, ...(a.baseline ? [a.baseline] : [])]);
      if (a.report === 'html' && a.output) {
        const base = a.baseline ?? a.model;
        const d = diffModels(readModel(base), readModel(a.model), { labelA: base, labelB: a.model });
        writeReportFile(a.output, renderDiffHtml(d, { validation: report }), [a.model, ...(a.baseline ? [a.baseline] : [])]);
      }
      if (a.json) printJson(report);
      else process.stdout.write(renderValidationText(report));
      if (a.output) process.stderr.write(`wrote ${a.output}\n`);
      const failed = report.gates.filter((g) => !g.passed);
      if (failed.length) {
        for (const g of failed) process.stderr.write(`gate failed: ${g.gate}: ${g.message}\n`);
        throw new ExitWith(EXIT.GATE_FAILED, `gate failed: ${failed.map((g) => g.gate).join(', ')}`);
      }
    } finally {
      bar?.stop();
      data?.close();
    }
  },
};
