/**
 * The scores file of `sculpt score` (docs/scores-schema.md): per layer (channel group with
 * a β) the per-channel |β|, the layer score, whether it is crucial; and an `entries` list
 * in the format `sculpt prune --criterion scores --scores` reads, holding only the
 * non-crucial layers, so prune ranks exactly what one-step pruning may remove.
 *
 * Crucial layers (docs/methods.md §2.4): `auto` takes the N best-scoring layers (default 4),
 * junction outputs first in residual nets (the paper's automatic picks were all block
 * outputs), plus the layer of the last conv always; `N` the same with another N; or names.
 */
import { inferShapes } from '../analysis/shapes.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CompilerError } from '../errors.js';
import type { Model } from '../ir/core.js';
import type { BetaRecord } from './beta.js';

export const SCORES_FORMAT = 'sculpt-scores';
export const SCORES_VERSION = 1;

export type LayerScoreKind = 'mean' | 'sum';

/** `auto`, a count N (auto with N layers), or explicit layer names. */
export type CrucialSpec = 'auto' | number | readonly string[];

export interface ScoredLayer {
  /** The group's name (as `sculpt groups` prints it). */
  readonly name: string;
  /** Nodes whose filters make the channels. */
  readonly layers: readonly string[];
  readonly channels: number;
  /** mean or sum of |β| (see `layerScore`). */
  readonly score: number;
  /** |β| per channel. */
  readonly beta: readonly number[];
  /** Values β scaled; `mimic` is the one recovery reconstructs. */
  readonly sites: readonly string[];
  readonly mimic: string;
  readonly junction: boolean;
  readonly crucial: boolean;
  /** The tensor and axis `entries` uses for this layer. */
  readonly value: string;
  readonly axis: number;
}

export interface ScoresDoc {
  readonly format: typeof SCORES_FORMAT;
  readonly version: number;
  readonly model: { readonly fingerprint: string; readonly path?: string };
  readonly layerScore: LayerScoreKind;
  /** How β was learned (for the record). */
  readonly method: Record<string, unknown>;
  readonly layers: readonly ScoredLayer[];
  /** Names of the crucial layers, best first, the last conv's layer last. */
  readonly crucial: readonly string[];
  /** What prune reads: per-channel |β| of every non-crucial layer. */
  readonly entries: readonly { readonly name: string; readonly axis: number; readonly values: readonly number[] }[];
}

/**
 * A structural fingerprint of a model: op types and attributes-free wiring, initializer
 * names and shapes, inputs and outputs. Same architecture and names → same fingerprint;
 * weights may differ (fine-tuned copies keep their scores). O(nodes + initializers).
 */
export function modelFingerprint(model: Model): string {
  const h = createHash('sha256');
  const g = model.graph;
  for (const v of g.inputs) if (!v.initializer) h.update(`in ${v.name} ${JSON.stringify(v.shape ?? null)}\n`);
  for (const v of g.outputs) h.update(`out ${v.name}\n`);
  for (const v of [...g.initializers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    h.update(`init ${v.name} ${v.initializer!.shape.join('x')}\n`);
  for (const n of g.nodes)
    h.update(`node ${n.domain}.${n.opType} ${n.inputs.map((v) => v?.name ?? '').join(',')} -> ${n.outputs.map((v) => v?.name ?? '').join(',')}\n`);
  return `sha256:${h.digest('hex').slice(0, 32)}`;
}

export function layerScore(beta: ArrayLike<number>, kind: LayerScoreKind): number {
  let s = 0;
  for (let i = 0; i < beta.length; i++) s += Math.abs(beta[i]!);
  return kind === 'sum' ? s : s / Math.max(1, beta.length);
}

interface LayerLike {
  readonly name: string;
  readonly layers: readonly string[];
  readonly sites: readonly string[];
  readonly score: number;
  readonly junction: boolean;
  readonly conv?: boolean;
}

/**
 * Resolves a crucial-layer spec against scored layers: returns the chosen layer names and,
 * per name, the value to mimic (a named site when the user named one, else the layer's
 * deepest site). `lastConvLayer` is the layer of the last convolution (always added).
 * @throws CRUCIAL_LAYER_NOT_FOUND for a name that is no layer, node or site; INVALID_OPTION for a bad N
 */
export function chooseCrucial(
  layers: readonly LayerLike[],
  spec: CrucialSpec,
  lastConvLayer: string | undefined,
): { names: string[]; mimic: Map<string, string> } {
  const mimic = new Map<string, string>();
  let names: string[];
  if (typeof spec === 'string' || typeof spec === 'number') {
    const n = spec === 'auto' ? 4 : spec;
    if (!Number.isInteger(n) || n < 0)
      throw new CompilerError('INVALID_OPTION', `--crucial must be auto, a non-negative integer or layer names; got ${String(spec)}`);
    const anyJunction = layers.some((l) => l.junction);
    const ranked = [...layers].sort((a, b) => (anyJunction ? Number(b.junction) - Number(a.junction) : 0) || b.score - a.score || a.name.localeCompare(b.name));
    names = ranked.slice(0, n).map((l) => l.name);
  } else {
    names = [];
    for (const want of spec) {
      const hit = layers.find((l) => l.name === want) ?? layers.find((l) => l.layers.includes(want)) ?? layers.find((l) => l.sites.includes(want));
      if (!hit) {
        throw new CompilerError('CRUCIAL_LAYER_NOT_FOUND', `no prunable layer is named "${want}"`, {
          where: want,
          hint: `name a layer, a conv node or a β site; layers: ${layers
            .slice(0, 12)
            .map((l) => l.name)
            .join(', ')}${layers.length > 12 ? ', …' : ''}`,
        });
      }
      if (hit.sites.includes(want)) mimic.set(hit.name, want);
      if (!names.includes(hit.name)) names.push(hit.name);
    }
  }
  if (lastConvLayer && !names.includes(lastConvLayer)) names.push(lastConvLayer);
  return { names, mimic };
}

/** Builds the scores document from β records and their learned |β|. */
export function buildScores(
  model: Model,
  records: readonly BetaRecord[],
  beta: ReadonlyMap<string, Float32Array>,
  o: { layerScore?: LayerScoreKind; crucial?: CrucialSpec; lastConvLayer?: string; method?: Record<string, unknown>; path?: string },
): ScoresDoc {
  const kind = o.layerScore ?? 'mean';
  if (kind !== 'mean' && kind !== 'sum') throw new CompilerError('INVALID_OPTION', `--layer-score must be mean or sum; got ${String(kind)}`);
  const base = records.map((r) => {
    const b = beta.get(r.beta);
    if (!b) throw new CompilerError('MISSING_VALUE', `no learned β for ${r.group}`, { where: r.beta });
    return { r, b: Array.from(b, (x) => Math.abs(x)), score: layerScore(b, kind) };
  });
  const layerLikes = base.map(({ r, score }) => ({ name: r.group, layers: r.layers, sites: r.sites, score, junction: r.junction }));
  const { names, mimic } = chooseCrucial(layerLikes, o.crucial ?? 'auto', o.lastConvLayer);
  const layers: ScoredLayer[] = base.map(({ r, b, score }) => ({
    name: r.group,
    layers: r.layers,
    channels: r.size,
    score,
    beta: b,
    sites: r.sites,
    mimic: mimic.get(r.group) ?? r.mimic,
    junction: r.junction,
    crucial: names.includes(r.group),
    value: r.member.name,
    axis: r.member.axis,
  }));
  return {
    format: SCORES_FORMAT,
    version: SCORES_VERSION,
    model: { fingerprint: modelFingerprint(model), ...(o.path ? { path: o.path } : {}) },
    layerScore: kind,
    method: o.method ?? {},
    layers,
    crucial: names,
    entries: layers.filter((l) => !l.crucial).map((l) => ({ name: l.value, axis: l.axis, values: l.beta })),
  };
}

/** A copy of `doc` with another crucial set (entries follow). @throws the chooseCrucial codes */
export function withCrucial(doc: ScoresDoc, spec: CrucialSpec, lastConvLayer: string | undefined, kind: LayerScoreKind = doc.layerScore): ScoresDoc {
  const rescored = doc.layers.map((l) => ({ ...l, score: layerScore(l.beta, kind) }));
  const { names, mimic } = chooseCrucial(rescored, spec, lastConvLayer);
  const layers = rescored.map((l) => ({ ...l, crucial: names.includes(l.name), mimic: mimic.get(l.name) ?? l.mimic }));
  return {
    ...doc,
    layerScore: kind,
    layers,
    crucial: names,
    entries: layers.filter((l) => !l.crucial).map((l) => ({ name: l.value, axis: l.axis, values: l.beta })),
  };
}

/** Parses and checks a scores document. @throws REPORT_INVALID for a document of another kind */
export function parseScoresDoc(doc: unknown, source = 'scores'): ScoresDoc {
  const d = doc as Partial<ScoresDoc> | null;
  if (
    !d ||
    typeof d !== 'object' ||
    d.format !== SCORES_FORMAT ||
    d.version !== SCORES_VERSION ||
    !Array.isArray(d.layers) ||
    !Array.isArray(d.entries) ||
    !Array.isArray(d.crucial) ||
    typeof d.model?.fingerprint !== 'string'
  ) {
    throw new CompilerError('REPORT_INVALID', `${source} is not a ${SCORES_FORMAT} v${SCORES_VERSION} file (docs/scores-schema.md)`, {
      where: source,
      hint: 'make one with `sculpt score model.onnx --data <spec> -o scores.json`',
    });
  }
  for (const l of d.layers) {
    if (typeof l?.name !== 'string' || !Array.isArray(l.beta) || l.beta.length !== l.channels || typeof l.value !== 'string') {
      throw new CompilerError('REPORT_INVALID', `${source}: layer entry "${String(l?.name)}" is malformed`, { where: source });
    }
  }
  return d as ScoresDoc;
}

/** Reads a scores file. @throws FILE_NOT_FOUND, REPORT_INVALID */
export function readScoresDoc(path: string): ScoresDoc {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CompilerError('FILE_NOT_FOUND', `cannot read the scores file "${path}"`, { where: path, cause: e });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CompilerError('REPORT_INVALID', `the scores file "${path}" is not valid JSON: ${(e as Error).message}`, { where: path, cause: e });
  }
  return parseScoresDoc(doc, path);
}

/**
 * Checks that a scores document belongs to `model`: same fingerprint, and every layer's
 * tensor present with its channel count.
 * @throws SCORES_MODEL_MISMATCH naming the first difference
 */
export function checkScoresFit(doc: ScoresDoc, model: Model, source = 'scores'): void {
  const fp = modelFingerprint(model);
  if (doc.model.fingerprint !== fp) {
    throw new CompilerError('SCORES_MODEL_MISMATCH', `${source} was made for another model (fingerprint ${doc.model.fingerprint}; this model is ${fp})`, {
      where: source,
      hint: 'score this model: `sculpt score model.onnx --data <spec> -o scores.json`',
    });
  }
  const g = model.graph;
  // Activation shapes come from the shapes analysis (a side table; the model is not written).
  const shapes = inferShapes(model).shapes;
  const shapeOf = (name: string) => {
    const v = g.initializers.find((x) => x.name === name) ?? g.findValue(name);
    return v?.initializer?.shape ?? (v ? shapes.shape(v) : undefined);
  };
  for (const l of doc.layers) {
    const s = shapeOf(l.value);
    if (!s || s[l.axis] !== l.channels) {
      throw new CompilerError(
        'SCORES_MODEL_MISMATCH',
        `${source}: layer ${l.name} names "${l.value}" axis ${l.axis} with ${l.channels} channels; the model has ${s ? `shape [${s.join(',')}]` : 'no such value'}`,
        { where: l.value, hint: 'score this model again' },
      );
    }
  }
}
