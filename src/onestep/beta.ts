/**
 * β vectors of one-step pruning (docs/methods.md §2.1): one learnable vector per prunable
 * channel group, initialised to 1, applied as `|β| ⊙ X` at the group's scale points
 * (src/prune/scale-points.ts: after BatchNorm and the activation, one vector for coupled
 * channels, a site per value a layer outside the group reads). The weights are never
 * touched, so removing the β nodes again gives back the original graph.
 *
 * What was inserted is recorded in the model's metadata under `sculpt.beta` (JSON), so a
 * β model written to disk can be scored (its β read back) and stripped by another process.
 *
 * ```ts
 * const { records } = insertBeta(model);        // model now has β initializers
 * ... train only β ...
 * const beta = readBetaValues(model);           // |β| per record
 * stripBeta(model);                              // the original graph again
 * ```
 */
import { CompilerError } from '../errors.js';
import { analyzeChannelGroups } from '../analysis/channel-groups.js';
import type { ChannelAnalysis, ChannelGroup } from '../analysis/channel-groups.js';
import { Value } from '../ir/core.js';
import type { Model, Node } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { Tensor } from '../ir/tensor.js';
import { topologicalOrder } from '../ir/toposort.js';
import { findScalePoints, insertScales, removeScales } from '../prune/scale-points.js';
import type { ScalePoint } from '../prune/scale-points.js';
import { classifierNodes } from './layers.js';

export const BETA_METADATA_KEY = 'sculpt.beta';

/** One β vector: the channel group it scales and where. Names refer to the model without β. */
export interface BetaRecord {
  /** The group's name (the layers whose filters make the channels, `sculpt groups`). */
  readonly group: string;
  /** Names of the nodes whose filters make these channels. */
  readonly layers: readonly string[];
  /** The β initializer. */
  readonly beta: string;
  /** Channels (entries of β). */
  readonly size: number;
  /** The values β scales (post-activation outputs read by other layers), in graph order. */
  readonly sites: readonly string[];
  /** The value to mimic for this layer: the deepest site (a block's junction output in residual nets). */
  readonly mimic: string;
  /** A tensor holding exactly these channels in order, for a `--scores` file: name and axis. */
  readonly member: { readonly name: string; readonly axis: number };
  /** Whether the sites are junction outputs (an Add/Sum, then at most an activation). */
  readonly junction: boolean;
  /** Whether a Conv makes these channels (else a Gemm/MatMul layer). */
  readonly conv: boolean;
}

export interface InsertBetaOptions {
  /** Initial value of every β entry (default 1). */
  init?: number;
  /** Reuse an analysis of this very model (computed when absent). */
  analysis?: ChannelAnalysis;
}

export interface InsertBetaResult {
  readonly records: BetaRecord[];
  /** Prunable groups that got no β, and why. */
  readonly skipped: { group: string; why: string }[];
}

const ACTIVATIONS = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Elu',
  'Selu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Gelu',
  'Mish',
  'Identity',
]);

function isJunction(v: Value): boolean {
  let p = v.producer;
  if (p && ACTIVATIONS.has(p.opType)) p = p.inputs[0]?.producer ?? null;
  return !!p && (p.opType === 'Add' || p.opType === 'Sum');
}

function layersOf(g: ChannelGroup): Node[] {
  const out: Node[] = [];
  for (const m of g.members) for (const r of m.slot.roles) if (r.role === 'out' && !out.includes(r.node)) out.push(r.node);
  return out;
}

/** The scale points that get a β: prunable groups with sites, made by a layer that is not part of the classifier. */
export function betaPoints(model: Model, a: ChannelAnalysis): { points: ScalePoint[]; skipped: { group: string; why: string }[] } {
  const classifier = classifierNodes(model);
  const points: ScalePoint[] = [];
  const skipped: { group: string; why: string }[] = [];
  for (const p of findScalePoints(a)) {
    const layers = layersOf(p.group);
    if (p.sites.length === 0) {
      skipped.push({ group: p.group.name, why: 'no layer reads these channels' });
      continue;
    }
    if (layers.length === 0) {
      skipped.push({ group: p.group.name, why: 'no layer makes these channels' });
      continue;
    }
    if (layers.every((n) => classifier.has(n))) {
      skipped.push({ group: p.group.name, why: 'a classifier layer (after the last conv): copied and kept whole' });
      continue;
    }
    points.push(p);
  }
  return { points, skipped };
}

/**
 * Inserts one β per prunable, non-classifier channel group (see the module comment) and
 * records them in the model's metadata. Shape inference runs first.
 * @throws NO_PRUNABLE_GROUP when no group can take a β; PRECONDITION_FAILED when the model
 *   already has β; OPSET_OUT_OF_RANGE below opset 5
 */
export function insertBeta(model: Model, opts: InsertBetaOptions = {}): InsertBetaResult {
  if (readBetaRecords(model))
    throw new CompilerError('PRECONDITION_FAILED', 'the model already has β vectors (sculpt.beta metadata)', {
      hint: 'strip them first: `sculpt transform m.onnx -o x.onnx --passes strip-beta`',
    });
  let a = opts.analysis;
  if (!a || a.model !== model) a = analyzeChannelGroups(model);
  const { points, skipped } = betaPoints(model, a);
  if (points.length === 0) {
    throw new CompilerError(
      'NO_PRUNABLE_GROUP',
      `the model has no channel group a β can scale${skipped.length ? ` (${skipped.map((s) => `${s.group}: ${s.why}`).join('; ')})` : ''}`,
      { hint: 'see `sculpt groups model.onnx --explain` for why groups are frozen' },
    );
  }
  const order = new Map(topologicalOrder(model.graph).map((n, i) => [n, i]));
  const pos = (v: Value) => (v.producer ? (order.get(v.producer) ?? -1) : -1);
  const init = opts.init ?? 1;
  const records: BetaRecord[] = [];
  const pending: { p: ScalePoint; v: Value }[] = [];
  for (const p of points) {
    const layers = layersOf(p.group);
    const name = model.names.fresh(`beta.${layers[0]!.name || p.group.name}`);
    const v = new Value(name);
    model.graph.addInitializer(v, Tensor.fromFloat32(name, [p.group.size], new Float32Array(p.group.size).fill(init)));
    v.setTensorType(DataType.FLOAT, [p.group.size]);
    pending.push({ p, v });
    const sites = [...p.sites].sort((x, y) => pos(x.value) - pos(y.value));
    const deepest = sites[sites.length - 1]!;
    // A tensor with exactly this group's channels in order, for score files read by `prune`.
    const exclusive =
      sites.find((s) => s.identity && s.size === p.group.size) ??
      p.group.members
        .map((m) => ({
          value: m.slot.value,
          axis: m.slot.axis,
          ok: m.per === 1 && m.slot.size === p.group.size && Array.from(m.indices).every((x, i) => x === i),
        }))
        .find((m) => m.ok);
    if (!exclusive) throw new CompilerError('INTERNAL', `group ${p.group.name} has no tensor holding exactly its channels`);
    records.push({
      group: p.group.name,
      layers: layers.map((n) => n.name ?? n.outputs[0]?.name ?? n.opType),
      beta: name,
      size: p.group.size,
      sites: sites.map((s) => s.value.name),
      mimic: deepest.value.name,
      member: { name: exclusive.value.name, axis: exclusive.axis },
      junction: sites.some((s) => isJunction(s.value)),
      conv: layers.some((n) => n.opType === 'Conv' || n.opType === 'ConvTranspose'),
    });
  }
  const byPoint = new Map(pending.map(({ p, v }) => [p, v]));
  insertScales(model, points, (p) => byPoint.get(p)!, { abs: true, prefix: 'beta' });
  writeBetaRecords(model, records);
  return { records, skipped };
}

function writeBetaRecords(model: Model, records: readonly BetaRecord[] | undefined): void {
  const props = (model.metadataProps ?? []).filter((p) => p.key !== BETA_METADATA_KEY);
  if (records) props.push({ key: BETA_METADATA_KEY, value: JSON.stringify({ version: 1, records }) });
  model.metadataProps = props.length ? props : undefined;
}

/** The β records of a model with β (from its metadata), or undefined. @throws PRECONDITION_FAILED on unreadable metadata */
export function readBetaRecords(model: Model): BetaRecord[] | undefined {
  const p = model.metadataProps?.find((x) => x.key === BETA_METADATA_KEY);
  if (!p) return undefined;
  try {
    const doc = JSON.parse(p.value) as { version: number; records: BetaRecord[] };
    if (doc.version !== 1 || !Array.isArray(doc.records)) throw new Error(`version ${doc.version}`);
    return doc.records;
  } catch (e) {
    throw new CompilerError('PRECONDITION_FAILED', `the model's ${BETA_METADATA_KEY} metadata is unreadable: ${(e as Error).message}`, { cause: e });
  }
}

/** The current |β| of every record, by β initializer name. @throws MISSING_VALUE when a β is gone */
export function readBetaValues(model: Model, records = readBetaRecords(model) ?? []): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const r of records) {
    const v = model.graph.initializers.find((x) => x.name === r.beta);
    if (!v?.initializer) throw new CompilerError('MISSING_VALUE', `β "${r.beta}" is not an initializer of the model`, { where: r.beta });
    out.set(r.beta, v.initializer.toFloat32().map(Math.abs));
  }
  return out;
}

/**
 * Removes every β (the Abs/Reshape/Gather/Mul nodes and the β initializers) and the
 * metadata. Returns the number of Mul nodes removed (0 when the model had no β).
 */
export function stripBeta(model: Model): number {
  const records = readBetaRecords(model);
  if (!records) return 0;
  const names = new Set(records.map((r) => r.beta));
  const sources = model.graph.initializers.filter((v) => names.has(v.name));
  const removed = removeScales(model, sources);
  writeBetaRecords(model, undefined);
  return removed;
}
