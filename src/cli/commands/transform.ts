/** `sculpt transform` and `sculpt passes`: run named passes over a model, or list them. */
import type { CommandModule } from 'yargs';
import { CompilerError } from '../../errors.js';
import { asUsage, usageError } from '../usage.js';
import { readModel } from '../../serde/read.js';
import { saveModel } from '../../serde/write.js';
import { verifyModel } from '../../ir/verify.js';
import { runPasses } from '../../pass.js';
import { AnalysisManager } from '../../analysis/manager.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import { fixInputShapes } from '../options/fix-input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';

import type { Pass } from '../../pass.js';
import { createPass, passDefinition, passNames } from '../../../passes/index.js';
import { printJson, say } from '../output.js';
import { guardOutputs } from '../../util/output-guard.js';

interface TransformArgs extends InputShapeArgs {
  model: string;
  output: string;
  passes?: string;
  'pass-option'?: string[];
  timings: boolean;
  'print-ir-after-change': boolean;
  explain: boolean;
  json: boolean;
  overwrite: boolean;
  'external-data': 'auto' | 'always' | 'never';
}

/**
 * The passes and their options, from the command line alone: a wrong one is a usage error
 * (exit 2; also `sculpt run`'s preflight, via `.check`).
 */
function transformPasses(a: TransformArgs): Pass[] {
  const names = (a.passes ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return asUsage(() => {
    const raw = passOptionsByPass(a['pass-option'] ?? [], names);
    return names.map((n) => {
      const p = createPass(n, raw.get(n));
      if (!p) throw new CompilerError('UNKNOWN_PASS', `no pass named "${n}"`, { hint: `known passes: ${passNames().join(', ')}` });
      return p;
    });
  });
}

export const transformCommand: CommandModule<object, TransformArgs> = {
  command: 'transform <model>',
  describe: 'read a model, run passes, verify, write it (no passes: a lossless rewrite)',
  builder: (y) =>
    withInputShape(y, { fix: true })
      .positional('model', { type: 'string', demandOption: true, describe: 'input .onnx file' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'output .onnx file (written atomically; never the input)' })
      .option('passes', { type: 'string', describe: `comma-separated pass names, run in order (see \`sculpt passes\`)` })
      .option('pass-option', {
        type: 'string',
        array: true,
        describe: 'an option of a listed pass: <pass>.<key>=<value> (repeatable; `sculpt passes` lists the keys)',
      })
      .option('timings', { type: 'boolean', default: false, describe: 'print how long each pass took' })
      .option('print-ir-after-change', { type: 'boolean', default: false, describe: 'print the IR (stderr) after every pass that changed it' })
      .option('explain', { type: 'boolean', default: false, describe: 'print why rewrites did not apply (remarks)' })
      .option('external-data', {
        choices: ['auto', 'always', 'never'] as const,
        default: 'auto' as const,
        describe: 'tensor data in a separate <out>.data file: auto = when the input had it or the model passes 2 GiB',
      })
      .option('overwrite', { type: 'boolean', default: false, describe: 'allow the output to be the input file' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary on stdout' })
      .example('$0 transform model.onnx -o copy.onnx', 'lossless rewrite (read, verify, write)')
      .example('$0 transform model.onnx -o folded.onnx --passes constants-to-initializers,fold-batchnorm --timings', 'fold BatchNorm into Conv')
      .example('$0 transform net.onnx -o p.onnx --passes prune-channels --pass-option prune-channels.mask=keep.json', 'remove the channels a mask file names')
      .example(
        '$0 transform mlp.onnx -o t.onnx --passes tissue --pass-option tissue.select=fc1 --pass-option tissue.groups=4',
        'one layer as 4 TissueNet units',
      )
      .check((a) => Boolean(transformPasses(a as unknown as TransformArgs))),
  handler: (a) => {
    const passes = transformPasses(a);
    guardOutputs({
      inputs: [{ path: a.model, what: 'the input model', kind: 'model' }],
      outputs: [{ path: a.output, what: '-o', kind: 'model' }],
      overwrite: a.overwrite,
    });
    const model = readModel(a.model);
    verifyModel(model, 'input model');
    const inputShapes = inputShapesFor(a, model);
    const r = runPasses(model, passes, {
      analyses: new AnalysisManager(model, { inputShapes }),
      printAfterChange: a['print-ir-after-change'] ? (p, text) => process.stderr.write(`// after ${p}\n${text}`) : undefined,
    });
    if (a['fix-input-shape']) fixInputShapes(model, inputShapes);
    const saved = saveModel(model, a.output, { inputPath: a.model, overwrite: a.overwrite, externalData: a['external-data'] });
    if (a.json) {
      printJson({ input: a.model, output: saved.path, bytes: saved.bytes, dataPath: saved.dataPath, passes: r.passes, remarks: r.remarks });
      return;
    }
    for (const p of r.passes) {
      const stats = Object.entries(p.stats)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      say(`${p.name}: ${p.changed ? 'changed' : 'no change'}${stats ? ` (${stats})` : ''}${a.timings ? ` in ${p.ms.toFixed(1)} ms` : ''}`);
    }
    if (a.explain) for (const rm of r.remarks) say(`remark [${rm.pass}] ${rm.where}: ${rm.message}`);
    say(`wrote ${saved.path} (${saved.bytes} bytes${saved.dataPath ? `, data in ${saved.dataPath}` : ''})`);
  },
};

/** `<pass>.<key>=<value>` flags grouped by pass. @throws INVALID_OPTION for a malformed flag or a pass not in --passes */
function passOptionsByPass(flags: readonly string[], names: readonly string[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const f of flags) {
    const m = /^([a-z0-9-]+)\.([A-Za-z0-9_-]+)=(.*)$/s.exec(f);
    if (!m)
      throw usageError(`--pass-option "${f}" is not <pass>.<key>=<value>`, {
        hint: 'e.g. --pass-option prune-channels.mask=keep.json',
      });
    const [, pass, key, value] = m as unknown as [string, string, string, string];
    if (!names.includes(pass))
      throw usageError(`--pass-option names pass "${pass}", which --passes does not run`, {
        hint: `add it to --passes (${names.join(',') || 'none given'})`,
      });
    const o = out.get(pass) ?? {};
    o[key] = value;
    out.set(pass, o);
  }
  return out;
}

export const passesCommand: CommandModule<object, { json: boolean }> = {
  command: 'passes',
  describe: 'list the passes `transform --passes` accepts',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'JSON list on stdout' }),
  handler: (a) => {
    const list = passNames().map((n) => {
      const d = passDefinition(n)!;
      return { name: n, summary: d.summary, options: Object.entries(d.cli).map(([key, o]) => ({ key, describe: o.describe })) };
    });
    if (a.json) {
      printJson(list);
      return;
    }
    for (const p of list) {
      say(`${p.name.padEnd(28)} ${p.summary}`);
      for (const o of p.options) say(`  ${`${p.name}.${o.key}`.padEnd(36)} ${o.describe}`);
    }
  },
};
