/**
 * `sculpt diff <a> <b>`: which layers changed between two models (an original and its
 * compressed version), as text for terminals and code review, JSON for pipelines, or one
 * self-contained HTML page with charts (and validate's numbers with --validation).
 */
import type { CommandModule } from 'yargs';
import { readModel } from '../../serde/read.js';
import { diffModels } from '../../report/diff.js';
import { renderDiffText } from '../../report/text.js';
import { renderDiffJson } from '../../report/json.js';
import { renderDiffHtml } from '../../report/html.js';
import { renderDiffMarkdown } from '../../report/markdown.js';
import { writeReportFile } from '../../report/write.js';
import { readValidationReport } from '../../validate/validate.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';
import { guardOutputs } from '../../util/output-guard.js';

interface DiffArgs extends InputShapeArgs {
  a: string;
  b: string;
  format?: 'text' | 'json' | 'html' | 'markdown';
  json: boolean;
  output?: string;
  validation?: string;
  all: boolean;
  title?: string;
}

export const diffCommand: CommandModule<object, DiffArgs> = {
  command: 'diff <a> <b>',
  describe: 'compare two models layer by layer: channels, kernels/groups, params and MACs; added, removed and replaced nodes',
  builder: (y) =>
    withInputShape(y)
      .positional('a', { type: 'string', demandOption: true, describe: 'the original model (.onnx)' })
      .positional('b', { type: 'string', demandOption: true, describe: 'the changed model (.onnx)' })
      .option('format', {
        alias: 'f',
        choices: ['text', 'json', 'html', 'markdown'] as const,
        describe: 'text (default; fits 100 columns), json (docs/diff-schema.md), markdown (a pull-request comment) or html (one self-contained page)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'same as --format json' })
      .option('output', { alias: 'o', type: 'string', describe: 'write to this file (atomically) instead of stdout' })
      .option('validation', { type: 'string', describe: 'a `sculpt validate --json` report of b against a: its accuracy/latency go into the HTML page' })
      .option('all', { type: 'boolean', default: false, describe: 'text: also list unchanged nodes without weights' })
      .option('title', { type: 'string', describe: 'html: page title' })
      .example('$0 diff resnet20.onnx pruned.onnx', 'per-layer table for a terminal')
      .example('$0 diff resnet20.onnx pruned.onnx --json > diff.json', 'for a pipeline (schemaVersion 1)')
      .example('$0 diff resnet20.onnx pruned.onnx -f markdown -o diff.md', 'a summary to paste into a pull-request comment')
      .example(
        '$0 validate pruned.onnx --baseline resnet20.onnx --data mnist --latency --json > v.json && $0 diff resnet20.onnx pruned.onnx -f html --validation v.json -o report.html',
        'an HTML review page with accuracy and latency',
      ),
  handler: (a) => {
    const format = a.format ?? (a.json ? 'json' : 'text');
    guardOutputs({
      inputs: [
        { path: a.a, what: 'model a', kind: 'model' },
        { path: a.b, what: 'model b', kind: 'model' },
        { path: a.validation, what: '--validation' },
      ],
      outputs: [{ path: a.output, what: '-o' }],
    });
    const ma = readModel(a.a);
    const mb = readModel(a.b);
    // Shapes are named by the original's inputs; the changed model normally has the same.
    const d = diffModels(ma, mb, { labelA: a.a, labelB: a.b, inputShapes: inputShapesFor(a, ma) });
    const validation = a.validation ? readValidationReport(a.validation) : undefined;
    // A report of other models is easy to pass by mistake; the counts tell.
    if (validation && (validation.model.params !== d.b.params || (validation.baseline && validation.baseline.params !== d.a.params))) {
      process.stderr.write(
        `warning: ${a.validation} measured models of ${validation.baseline ? `${validation.baseline.params} and ` : ''}${validation.model.params} parameters; ` +
          `these have ${d.a.params} and ${d.b.params} (is it the report of ${a.b} against ${a.a}?)\n`,
      );
    }
    const text =
      format === 'json'
        ? renderDiffJson(d)
        : format === 'html'
          ? renderDiffHtml(d, { validation, title: a.title })
          : format === 'markdown'
            ? renderDiffMarkdown(d, { validation })
            : renderDiffText(d, { all: a.all });
    if (a.output) {
      writeReportFile(a.output, text, [a.a, a.b, ...(a.validation ? [a.validation] : [])]);
      process.stderr.write(`wrote ${a.output}\n`);
    } else process.stdout.write(text);
  },
};
