/**
 * `sculpt inspect <model>`: what a model is and what it costs. IR version, producer,
 * opsets, inputs/outputs with shapes, totals (params, MACs, FLOPs, weight/activation bytes,
 * file size), and with --layers a per-layer table that fits 100 columns.
 */
import { statSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import type { NodeCost } from '../../analysis/cost.js';
import { AnalysisManager, costAnalysis, shapesAnalysis } from '../../analysis/manager.js';
import { usageError } from '../usage.js';
import type { Model, Value } from '../../ir/core.js';
import { dataTypeName } from '../../ir/data-type.js';
import type { StaticDim } from '../../ir/types.js';
import { readModel } from '../../serde/read.js';
import { printJson, say } from '../output.js';
import { inputShapesFor, withInputShape } from '../options/input-shape.js';
import type { InputShapeArgs } from '../options/input-shape.js';
import { humanBytes, humanCount } from '../../util/format.js';

interface InspectArgs extends InputShapeArgs {
  model: string;
  layers: boolean;
  all: boolean;
  json: boolean;
  batch: number;
}

/** JSON shape of one graph input or output. */
export interface InspectValue {
  name: string;
  elemType: string | null;
  shape: StaticDim[] | null;
}

/** One row of `inspect --layers --json`. */
export interface InspectLayer {
  name: string;
  op: string;
  inChannels: number | null;
  outChannels: number | null;
  kernel: number[] | null;
  stride: number[] | null;
  groups: number | null;
  macs: number;
  flops: number;
  params: number;
  weightBytes: number;
  activationBytes: number;
  outputShape: StaticDim[] | null;
  /** Why the numbers are partial (unknown shapes); null when complete. */
  incomplete: string | null;
}

/** What `inspect --json` prints. */
export interface InspectReport {
  file: string;
  fileBytes: number;
  irVersion: number | null;
  producer: { name: string | null; version: string | null };
  opsets: { domain: string; version: number }[];
  inputs: InspectValue[];
  outputs: InspectValue[];
  /** The count the batch (a symbolic axis 0 of an input) was given. */
  batch: number;
  /** The shape each input was analysed at (--input-shape, else declared). */
  analysedInputs: { name: string; shape: StaticDim[] | null }[];
  /** With `lowerBound` true, macs/flops/activationBytes are lower bounds (unknown dims counted as 1). */
  totals: { params: number; macs: number; flops: number; weightBytes: number; activationBytes: number; fileBytes: number };
  /** Whether MACs/FLOPs/activation bytes are only lower bounds. */
  lowerBound: boolean;
  /** The symbolic or unknown ('?') dims the counts depend on; empty when exact. */
  unknown: string[];
  shapeInference: { inferred: number; unknown: { value: string; reason: string }[] };
  /** With --layers: weight and window layers (every node with --all), in topological order. */
  layers?: InspectLayer[];
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <model>',
  describe: "show a model's interface, opsets and cost (params, MACs, FLOPs, bytes), per layer with --layers",
  builder: (y) =>
    withInputShape(y)
      .positional('model', { type: 'string', demandOption: true, describe: 'the .onnx file to inspect' })
      .option('layers', { type: 'boolean', default: false, describe: 'add a per-layer table: name, op, in/out channels, kernel, stride, groups, MACs, params' })
      .option('all', { type: 'boolean', default: false, describe: 'with --layers: list every node, not only layers with weights or windows' })
      .option('batch', { type: 'number', default: 1, describe: 'count a symbolic batch dim (axis 0 of an input) as this many when computing MACs and bytes' })
      .option('json', {
        type: 'boolean',
        default: false,
        describe: 'print the report as JSON on stdout (schema: InspectReport in src/cli/commands/inspect.ts)',
      })
      .example('$0 inspect resnet20.onnx', 'interface, opsets and totals')
      .example('$0 inspect resnet20.onnx --layers', 'a per-layer table of channels, kernels, MACs and params')
      .example('$0 inspect m.onnx --json --batch 32', 'JSON for scripts; MACs and bytes for a batch of 32')
      .example('$0 inspect ocr.onnx --input-shape 1,3,48,192', 'a model with symbolic N/H/W: cost at this input size')
      .epilog(
        'MACs count Conv, ConvTranspose, Gemm and MatMul; BatchNorm, activations, pooling and other\n' +
          'elementwise ops count 0. FLOPs = 2 x MACs. Params count weights, biases and BN scale/shift\n' +
          '(not BN running statistics, which count in weight bytes only). Weights stored as Constant\n' +
          'nodes count like initializers. A dim left symbolic (H, W) is never guessed: the totals\n' +
          'then read "MACs >= X" and name the dims; give --input-shape.',
      ),
  handler: (a) => {
    if (!Number.isInteger(a.batch) || a.batch < 1) {
      throw usageError(`--batch must be a positive integer; got ${a.batch}`, { where: '--batch' });
    }
    const model = readModel(a.model);
    const report = inspectModel(a.model, { layers: a.layers, all: a.all, batch: a.batch, inputShapes: inputShapesFor(a, model), model });
    if (a.json) printJson(report);
    else say(formatReport(report));
  },
};

/** Builds the inspect report of a model file. @throws readModel's codes, SHAPE_INFERENCE_FAILED */
export function inspectModel(
  path: string,
  opts: { layers?: boolean; all?: boolean; batch?: number; inputShapes?: Record<string, number[]>; model?: Model } = {},
): InspectReport {
  const batch = opts.batch ?? 1;
  const model = opts.model ?? readModel(path);
  const fileBytes = statSync(path).size;
  const am = new AnalysisManager(model, { inputShapes: opts.inputShapes, batch });
  const shapes = am.get(shapesAnalysis);
  const cost = am.get(costAnalysis);
  const report: InspectReport = {
    file: path,
    fileBytes,
    irVersion: model.irVersion === undefined ? null : Number(model.irVersion),
    producer: { name: model.producerName ?? null, version: model.producerVersion ?? null },
    opsets: model.opsetImports.map((o) => ({ domain: o.domain === '' ? 'ai.onnx' : o.domain, version: Number(o.version) })),
    inputs: model.graph.inputs.filter((v) => !v.initializer).map(describeValue),
    outputs: model.graph.outputs.map(describeValue),
    batch,
    analysedInputs: Object.entries(shapes.inputs).map(([name, shape]) => ({ name, shape: shape ?? null })),
    totals: { ...cost.total, fileBytes },
    lowerBound: !cost.exact,
    unknown: cost.unknownDims,
    shapeInference: { inferred: shapes.inferred, unknown: shapes.unknown.map((u) => ({ value: u.value.name, reason: u.reason })) },
  };
  if (opts.layers) report.layers = cost.nodes.filter((c) => opts.all || isLayer(c)).map(layerRow);
  return report;
}

function isLayer(c: NodeCost): boolean {
  return c.macs > 0 || c.params > 0 || c.kernel !== undefined || c.inChannels !== undefined;
}

function describeValue(v: Value): InspectValue {
  const e = v.elemType;
  return { name: v.name, elemType: e === undefined ? null : dataTypeName(e), shape: v.shape ?? null };
}

function layerRow(c: NodeCost): InspectLayer {
  return {
    name: c.name,
    op: c.op,
    inChannels: c.inChannels ?? null,
    outChannels: c.outChannels ?? null,
    kernel: c.kernel ?? null,
    stride: c.stride ?? null,
    groups: c.groups ?? null,
    macs: c.macs,
    flops: c.flops,
    params: c.params,
    weightBytes: c.weightBytes,
    activationBytes: c.activationBytes,
    outputShape: c.outputShape ?? null,
    incomplete: c.incomplete ?? null,
  };
}

function shapeText(v: InspectValue): string {
  const dims = v.shape === null ? '[?]' : `[${v.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
  return `${v.elemType ?? '?'}${dims}`;
}

function fit(s: string, w: number): string {
  if (s.length <= w) return s;
  const head = Math.ceil((w - 1) / 2);
  return `${s.slice(0, head)}…${s.slice(s.length - (w - 1 - head))}`;
}

const grouped = (n: number) => n.toLocaleString('en-US');

/** The human report: fits 100 columns. */
export function formatReport(r: InspectReport): string {
  const lines: string[] = [];
  const opsets = r.opsets.map((o) => `${o.domain} ${o.version}`).join(', ');
  const producer = [r.producer.name, r.producer.version].filter(Boolean).join(' ') || '?';
  lines.push(`model     ${r.file} (${humanBytes(r.fileBytes)})`);
  lines.push(`ir        ${r.irVersion ?? '?'}   producer ${producer}   opsets ${opsets}`);
  const w = Math.min(40, Math.max(0, ...[...r.inputs, ...r.outputs].map((v) => v.name.length)));
  const io = (label: string, vs: InspectValue[]) => {
    if (vs.length === 0) lines.push(`${label.padEnd(10)}(none)`);
    vs.forEach((v, i) => lines.push(`${(i === 0 ? label : '').padEnd(10)}${fit(v.name, 40).padEnd(w)}  ${shapeText(v)}`));
  };
  io('inputs', r.inputs);
  io('outputs', r.outputs);
  const t = r.totals;
  const given = r.analysedInputs.filter((v, i) => JSON.stringify(v.shape) !== JSON.stringify(r.inputs[i]?.shape ?? null));
  const at = given.length ? `; inputs at ${given.map((v) => `${v.name} [${(v.shape ?? []).join(',')}]`).join(', ')}` : '';
  lines.push(`totals    (batch ${r.batch}${at})`);
  // Lower bounds read ">= 67,992": the label column is 14 wide, the value 16.
  const row = (label: string, value: string, bound: boolean) => `  ${label.padEnd(12)}${bound ? '>=' : '  '}${value.padStart(16)}`;
  const lb = r.lowerBound;
  lines.push(`${row('params', grouped(t.params), false)}  (${humanCount(t.params)})`);
  lines.push(`${row('MACs', grouped(t.macs), lb)}  (${humanCount(t.macs)})`);
  lines.push(`${row('FLOPs', grouped(t.flops), lb)}  (${humanCount(t.flops)}, 2 x MACs)`);
  lines.push(row('weights', humanBytes(t.weightBytes), false));
  lines.push(row('activations', humanBytes(t.activationBytes), lb));
  lines.push(`  file          ${humanBytes(t.fileBytes).padStart(16)}`);
  if (r.lowerBound) {
    const dims = r.unknown.filter((d) => d !== '?');
    lines.push(
      `  MACs >= ${humanCount(t.macs)}, unknown: ${dims.length ? `dims ${dims.join(', ')} are symbolic` : 'some shapes are unknown'}; give --input-shape (e.g. --input-shape ${exampleShape(r)})`,
    );
  }
  const unk = r.shapeInference.unknown;
  lines.push(`shapes    ${r.shapeInference.inferred} values inferred, ${unk.length} unknown`);
  for (const u of unk.slice(0, 10)) lines.push(`  ${fit(u.value, 30)}: ${fit(u.reason, 64)}`);
  if (unk.length > 10) lines.push(`  ... and ${unk.length - 10} more (--json lists all)`);
  if (r.layers) {
    lines.push('');
    lines.push(layerTable(r.layers));
  }
  return lines.join('\n');
}

function exampleShape(r: InspectReport): string {
  const ins = r.analysedInputs;
  const one = (v: { name: string; shape: StaticDim[] | null }) =>
    (v.shape ?? [1, 3, 224, 224]).map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 224)).join(',');
  return ins.length === 1 ? one(ins[0]!) : ins.map((v) => `${v.name}:${one(v)}`).join(' --input-shape ');
}

/** name 24, op 18, in 6, out 6, kernel 7, stride 6, groups 6, MACs 8, params 8: 97 columns. */
function layerTable(rows: readonly InspectLayer[]): string {
  const cols: [string, number, 'l' | 'r'][] = [
    ['name', 24, 'l'],
    ['op', 18, 'l'],
    ['in', 6, 'r'],
    ['out', 6, 'r'],
    ['kernel', 7, 'r'],
    ['stride', 6, 'r'],
    ['groups', 6, 'r'],
    ['MACs', 8, 'r'],
    ['params', 8, 'r'],
  ];
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const [, w, align] = cols[i]!;
        const s = fit(c, w);
        return align === 'l' ? s.padEnd(w) : s.padStart(w);
      })
      .join(' ')
      .trimEnd();
  const dims = (k: number[] | null) => (k === null ? '' : k.join('x'));
  const out = [line(cols.map((c) => c[0])), '-'.repeat(cols.reduce((a, c) => a + c[1], cols.length - 1))];
  for (const r of rows) {
    out.push(
      line([
        r.name,
        r.op,
        r.inChannels === null ? '' : String(r.inChannels),
        r.outChannels === null ? '' : String(r.outChannels),
        dims(r.kernel),
        dims(r.stride),
        r.groups === null ? '' : String(r.groups),
        `${r.incomplete && r.macs > 0 ? '>=' : ''}${humanCount(r.macs)}${r.incomplete && r.macs === 0 ? '?' : ''}`,
        humanCount(r.params),
      ]),
    );
  }
  return out.join('\n');
}
