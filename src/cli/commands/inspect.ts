/**
 * `sculpt inspect <model>`: what a model is and what it costs. IR version, producer,
 * opsets, inputs/outputs with shapes, totals (params, MACs, FLOPs, weight/activation bytes,
 * file size), and with --layers a per-layer table that fits 100 columns.
 */
import { statSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { computeCost } from '../../analysis/cost.js';
import type { NodeCost } from '../../analysis/cost.js';
import { inferShapes } from '../../analysis/shapes.js';
import { CompilerError } from '../../errors.js';
import type { Value } from '../../ir/core.js';
import { dataTypeName } from '../../ir/data-type.js';
import type { StaticDim } from '../../ir/types.js';
import { readModel } from '../../serde/read.js';
import { printJson, say } from '../output.js';
import { humanBytes, humanCount } from '../../util/format.js';

interface InspectArgs {
  model: string;
  layers: boolean;
  all: boolean;
  json: boolean;
  batch: number;
}

/** JSON shape of one graph input or output. */
export interface InspectValue { name: string; elemType: string | null; shape: StaticDim[] | null }

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
  /** The count every symbolic dim was given. */
  batch: number;
  totals: { params: number; macs: number; flops: number; weightBytes: number; activationBytes: number; fileBytes: number };
  shapeInference: { inferred: number; unknown: { value: string; reason: string }[] };
  /** With --layers: weight and window layers (every node with --all), in topological order. */
  layers?: InspectLayer[];
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <model>',
  describe: 'show a model\'s interface, opsets and cost (params, MACs, FLOPs, bytes), per layer with --layers',
  builder: (y) => y
    .positional('model', { type: 'string', demandOption: true, describe: 'the .onnx file to inspect' })
    .option('layers', { type: 'boolean', default: false, describe: 'add a per-layer table: name, op, in/out channels, kernel, stride, groups, MACs, params' })
    .option('all', { type: 'boolean', default: false, describe: 'with --layers: list every node, not only layers with weights or windows' })
    .option('batch', { type: 'number', default: 1, describe: 'count symbolic dims (the batch) as this many when computing MACs and bytes' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON on stdout (schema: InspectReport in src/cli/commands/inspect.ts)' })
    .example('$0 inspect resnet20.onnx', 'interface, opsets and totals')
    .example('$0 inspect resnet20.onnx --layers', 'a per-layer table of channels, kernels, MACs and params')
    .example('$0 inspect m.onnx --json --batch 32', 'JSON for scripts; MACs and bytes for a batch of 32')
    .epilog('MACs count Conv, ConvTranspose, Gemm and MatMul; BatchNorm, activations, pooling and other\n'
      + 'elementwise ops count 0. FLOPs = 2 x MACs. Params count weights, biases and BN scale/shift\n'
      + '(not BN running statistics, which count in weight bytes only).'),
  handler: (a) => {
    if (!Number.isInteger(a.batch) || a.batch < 1) {
      throw new CompilerError('INVALID_OPTION', `--batch must be a positive integer; got ${a.batch}`, { where: '--batch' });
    }
    const report = inspectModel(a.model, { layers: a.layers, all: a.all, batch: a.batch });
    if (a.json) printJson(report);
    else say(formatReport(report));
  },
};

/** Builds the inspect report of a model file. @throws readModel's codes, SHAPE_INFERENCE_FAILED */
export function inspectModel(path: string, opts: { layers?: boolean; all?: boolean; batch?: number } = {}): InspectReport {
  const batch = opts.batch ?? 1;
  const model = readModel(path);
  const fileBytes = statSync(path).size;
  const shapes = inferShapes(model);
  const cost = computeCost(model, { batch, inferred: true });
  const report: InspectReport = {
    file: path,
    fileBytes,
    irVersion: model.irVersion === undefined ? null : Number(model.irVersion),
    producer: { name: model.producerName ?? null, version: model.producerVersion ?? null },
    opsets: model.opsetImports.map((o) => ({ domain: o.domain === '' ? 'ai.onnx' : o.domain, version: Number(o.version) })),
    inputs: model.graph.inputs.filter((v) => !v.initializer).map(describeValue),
    outputs: model.graph.outputs.map(describeValue),
    batch,
    totals: { ...cost.total, fileBytes },
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
    name: c.name, op: c.op,
    inChannels: c.inChannels ?? null, outChannels: c.outChannels ?? null,
    kernel: c.kernel ?? null, stride: c.stride ?? null, groups: c.groups ?? null,
    macs: c.macs, flops: c.flops, params: c.params, weightBytes: c.weightBytes, activationBytes: c.activationBytes,
    outputShape: c.outputShape ?? null, incomplete: c.incomplete ?? null,
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
  lines.push(`totals    (symbolic dims counted as ${r.batch})`);
  lines.push(`  params        ${grouped(t.params).padStart(16)}  (${humanCount(t.params)})`);
  lines.push(`  MACs          ${grouped(t.macs).padStart(16)}  (${humanCount(t.macs)})`);
  lines.push(`  FLOPs         ${grouped(t.flops).padStart(16)}  (${humanCount(t.flops)}, 2 x MACs)`);
  lines.push(`  weights       ${humanBytes(t.weightBytes).padStart(16)}`);
  lines.push(`  activations   ${humanBytes(t.activationBytes).padStart(16)}`);
  lines.push(`  file          ${humanBytes(t.fileBytes).padStart(16)}`);
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

/** name 24, op 18, in 6, out 6, kernel 7, stride 6, groups 6, MACs 8, params 8: 97 columns. */
function layerTable(rows: readonly InspectLayer[]): string {
  const cols: [string, number, 'l' | 'r'][] = [
    ['name', 24, 'l'], ['op', 18, 'l'], ['in', 6, 'r'], ['out', 6, 'r'], ['kernel', 7, 'r'],
    ['stride', 6, 'r'], ['groups', 6, 'r'], ['MACs', 8, 'r'], ['params', 8, 'r'],
  ];
  const line = (cells: string[]) => cells.map((c, i) => {
    const [, w, align] = cols[i]!;
    const s = fit(c, w);
    return align === 'l' ? s.padEnd(w) : s.padStart(w);
  }).join(' ').trimEnd();
  const dims = (k: number[] | null) => (k === null ? '' : k.join('x'));
  const out = [line(cols.map((c) => c[0])), '-'.repeat(cols.reduce((a, c) => a + c[1], cols.length - 1))];
  for (const r of rows) {
    out.push(line([
      r.name, r.op, r.inChannels === null ? '' : String(r.inChannels), r.outChannels === null ? '' : String(r.outChannels),
      dims(r.kernel), dims(r.stride), r.groups === null ? '' : String(r.groups),
      `${humanCount(r.macs)}${r.incomplete && r.macs === 0 ? '?' : ''}`, humanCount(r.params),
    ]));
  }
  return out.join('\n');
}

