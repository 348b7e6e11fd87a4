/**
 * Mask and score files (`sculpt prune --mask m.json`, `--scores s.json`).
 *
 * A mask names channels by tensor of the model, in any of three forms:
 * ```json
 * { "keep":   { "conv1_out": [0, 2, 5] } }                       kept indices
 * { "mask":   { "conv1_out": [1, 0, 1, 0, 0, 1] } }              0/1 per channel
 * { "pruned": [ { "name": "conv1_out", "axis": 1, "removed": [1, 3, 4] } ] }   a prune report
 * ```
 * A name may be any member of a group (a weight, a BN parameter, a feature map); `axis` is
 * needed only for a value with several prunable axes (a weight, where the default is the
 * first listed by `sculpt groups`). Each entry decides the whole group; entries for the
 * same group must agree. A report of one prune run is a mask for the next model.
 *
 * Scores: `{ "scores": { "<value>": [per-channel numbers] } }` (or the bare map), plus
 * optional `{ "name", "axis", "values" }` entries under `"entries"`.
 */
import { readFileSync } from 'node:fs';
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis, ChannelSlot } from '../analysis/channel-groups.js';
import { constantTensor, isGroupPrunable } from '../analysis/channel-groups.js';
import type { Model, Value } from '../ir/core.js';
import type { ScoreEntry } from './criteria.js';

/** One mask entry: the channels of one slot to remove. */
export interface MaskEntry {
  readonly name: string;
  readonly axis?: number;
  readonly removed?: readonly number[];
  readonly keep?: readonly number[];
  readonly mask?: readonly number[];
}

export type MaskSpec = readonly MaskEntry[];

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CompilerError('FILE_NOT_FOUND', `cannot read the ${what} file "${path}"`, { where: path, cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CompilerError('MASK_INVALID', `the ${what} file "${path}" is not valid JSON: ${(e as Error).message}`, { where: path, cause: e });
  }
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function numbers(x: unknown, where: string, what: string): number[] {
  if (!Array.isArray(x) || !x.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new CompilerError('MASK_INVALID', `${what} for "${where}" must be an array of numbers`, { where });
  }
  return x as number[];
}

/**
 * Parses a mask document (already JSON-decoded).
 * @throws MASK_INVALID when it has none of the accepted forms
 */
export function parseMask(doc: unknown, source = 'mask'): MaskSpec {
  if (!isObj(doc)) throw new CompilerError('MASK_INVALID', `${source}: expected a JSON object with "keep", "mask" or "pruned"`, { where: source });
  const out: MaskEntry[] = [];
  if (isObj(doc.keep)) for (const [name, v] of Object.entries(doc.keep)) out.push({ name, keep: numbers(v, name, 'kept indices') });
  if (isObj(doc.mask)) for (const [name, v] of Object.entries(doc.mask)) out.push({ name, mask: numbers(v, name, 'the 0/1 mask') });
  if (doc.pruned !== undefined) {
    if (!Array.isArray(doc.pruned))
      throw new CompilerError('MASK_INVALID', `${source}: "pruned" must be an array of { name, axis, removed }`, { where: source });
    for (const e of doc.pruned) {
      if (!isObj(e) || typeof e.name !== 'string' || (e.axis !== undefined && !Number.isInteger(e.axis))) {
        throw new CompilerError('MASK_INVALID', `${source}: every "pruned" entry needs a "name", an integer "axis" and "removed" indices`, { where: source });
      }
      out.push({ name: e.name, axis: e.axis as number | undefined, removed: numbers(e.removed, e.name, 'removed indices') });
    }
  }
  if (out.length === 0 && !isObj(doc.keep) && !isObj(doc.mask) && doc.pruned === undefined) {
    throw new CompilerError('MASK_INVALID', `${source}: expected "keep", "mask" or "pruned"`, {
      where: source,
      hint: 'see `sculpt prune --help` for the mask formats',
    });
  }
  return out;
}

/** Reads and parses a mask file. @throws FILE_NOT_FOUND, MASK_INVALID */
export function readMaskFile(path: string): MaskSpec {
  return parseMask(readJson(path, 'mask'), path);
}

/** Parses a scores document. @throws MASK_INVALID */
export function parseScores(doc: unknown, source = 'scores'): Map<string, ScoreEntry> {
  if (!isObj(doc)) throw new CompilerError('MASK_INVALID', `${source}: expected a JSON object of per-channel scores`, { where: source });
  const out = new Map<string, ScoreEntry>();
  const map = isObj(doc.scores) ? doc.scores : doc.entries === undefined ? doc : {};
  for (const [name, v] of Object.entries(map)) out.set(name, { name, values: numbers(v, name, 'scores') });
  if (Array.isArray(doc.entries)) {
    for (const e of doc.entries) {
      if (!isObj(e) || typeof e.name !== 'string')
        throw new CompilerError('MASK_INVALID', `${source}: every entry needs a "name" and "values"`, { where: source });
      out.set(e.name, { name: e.name, axis: e.axis as number | undefined, values: numbers(e.values, e.name, 'scores') });
    }
  }
  if (out.size === 0) throw new CompilerError('MASK_INVALID', `${source}: no scores found`, { where: source });
  return out;
}

/** Reads and parses a scores file. @throws FILE_NOT_FOUND, MASK_INVALID */
export function readScoresFile(path: string): Map<string, ScoreEntry> {
  return parseScores(readJson(path, 'scores'), path);
}

function findValue(model: Model, name: string): Value | undefined {
  const g = model.graph;
  for (const v of g.inputs) if (v.name === name) return v;
  for (const v of g.initializers) if (v.name === name) return v;
  for (const n of g.nodes) for (const o of n.outputs) if (o && o.name === name) return o;
  return undefined;
}

/**
 * Turns a mask into kept group channels. Every entry must name a value with a prunable
 * slot, have the slot's length, and remove whole group channels; entries of one group must
 * agree. O(entries × channels).
 * @throws MASK_INVALID for an unknown value or an ambiguous axis; MASK_SHAPE_MISMATCH for a
 *   wrong length, an index out of range, part of a coupled channel, or disagreeing entries;
 *   GROUP_FROZEN for removing channels of a frozen group
 */
export function maskToKeep(a: ChannelAnalysis, spec: MaskSpec): Map<number, number[]> {
  const removedByGroup = new Map<number, { set: Set<number>; from: string }>();
  for (const e of spec) {
    const v = findValue(a.model, e.name);
    if (!v)
      throw new CompilerError('MASK_INVALID', `the mask names "${e.name}", which is not a value of the model`, {
        where: e.name,
        hint: 'list the prunable tensors with `sculpt groups model.onnx --explain`',
      });
    const slots = a.slotsOf(v);
    const shape = constantTensor(v)?.shape ?? a.shapes.shape(v);
    const rank = shape?.length ?? 0;
    const axis = e.axis !== undefined && e.axis < 0 ? e.axis + rank : e.axis;
    if (axis === undefined && slots.length > 1) {
      throw new CompilerError('MASK_INVALID', `"${e.name}" has several channel axes (${slots.map((s) => s.axis).join(', ')}); give "axis"`, {
        where: e.name,
        hint: 'use the { "pruned": [{ "name", "axis", "removed" }] } form',
      });
    }
    const slot: ChannelSlot | undefined = axis !== undefined ? slots.find((s) => s.axis === axis) : slots[0];
    const size = slot?.size ?? shape?.[axis ?? 1];
    const where = `${e.name}${e.axis !== undefined ? ` axis ${e.axis}` : ''}`;
    // Work out the removed positions and check the length against the tensor.
    let removed: number[];
    if (e.mask) {
      if (typeof size === 'number' && e.mask.length !== size) {
        throw new CompilerError('MASK_SHAPE_MISMATCH', `mask for "${where}" has ${e.mask.length} channels; the tensor has ${size}`, {
          where: e.name,
          hint: 'list the groups with `sculpt groups model.onnx`',
        });
      }
      if (!e.mask.every((x) => x === 0 || x === 1)) throw new CompilerError('MASK_INVALID', `mask for "${where}" must hold only 0 and 1`, { where: e.name });
      removed = e.mask.flatMap((x, i) => (x === 0 ? [i] : []));
    } else {
      const list = e.keep ?? e.removed ?? [];
      for (const i of list) {
        if (!Number.isInteger(i) || i < 0 || (typeof size === 'number' && i >= size)) {
          throw new CompilerError(
            'MASK_SHAPE_MISMATCH',
            `index ${i} for "${where}" is out of range${typeof size === 'number' ? `: the tensor has ${size} channels` : ''}`,
            { where: e.name, hint: 'list the groups with `sculpt groups model.onnx`' },
          );
        }
      }
      if (e.keep) {
        const k = new Set(e.keep);
        removed = typeof size === 'number' ? Array.from({ length: size }, (_, i) => i).filter((i) => !k.has(i)) : [];
      } else removed = [...new Set(list)];
    }
    if (!slot) {
      if (removed.length === 0) continue;
      throw new CompilerError('MASK_INVALID', `"${where}" has no prunable channel axis${slots.length > 1 ? ' (give "axis")' : ''}`, {
        where: e.name,
        hint: 'list the prunable tensors with `sculpt groups model.onnx --explain`',
      });
    }
    // Positions → group channels; a group channel must be removed whole.
    const rem = new Set(removed);
    const perGroup = new Map<number, Set<number>>();
    for (let i = 0; i < slot.size; i++) {
      const gid = a.atomGroup[slot.base + i]!;
      if (!perGroup.has(gid)) perGroup.set(gid, new Set());
    }
    for (const i of rem) perGroup.get(a.atomGroup[slot.base + i]!)!.add(a.atomChannel[slot.base + i]!);
    for (const [gid, chans] of perGroup) {
      const g = a.groups[gid]!;
      const m = g.members.find((x) => x.slot === slot)!;
      for (const k of chans) {
        for (let t = 0; t < m.per; t++) {
          if (!rem.has(m.indices[k * m.per + t]!)) {
            throw new CompilerError(
              'MASK_SHAPE_MISMATCH',
              `the mask for "${where}" removes part of a coupled channel: position ${m.indices[k * m.per]} goes with ${m.per - 1} more (${g.name})`,
              { where: e.name, hint: 'see `sculpt groups model.onnx --explain`' },
            );
          }
        }
      }
      if (chans.size > 0 && !isGroupPrunable(g)) {
        throw new CompilerError(
          'GROUP_FROZEN',
          `the mask removes channels of "${where}", whose group (${g.name}) is frozen: ${g.frozen[0] ?? 'a single channel'}`,
          { where: e.name, hint: 'see `sculpt groups model.onnx --explain`' },
        );
      }
      const prev = removedByGroup.get(gid);
      if (prev) {
        const same = prev.set.size === chans.size && [...chans].every((k) => prev.set.has(k));
        if (!same)
          throw new CompilerError(
            'MASK_SHAPE_MISMATCH',
            `the mask entries for "${prev.from}" and "${where}" disagree about group ${gid} (${g.name}), which couples them`,
            { where: e.name, hint: 'give one entry per group, or identical ones' },
          );
      } else removedByGroup.set(gid, { set: chans, from: where });
    }
  }
  const keep = new Map<number, number[]>();
  for (const [gid, { set }] of removedByGroup) {
    if (set.size === 0) continue;
    const g = a.groups[gid]!;
    if (set.size >= g.size)
      throw new CompilerError('MASK_INVALID', `the mask removes every channel of group ${gid} (${g.name})`, {
        where: g.name,
        hint: 'keep at least one channel per group',
      });
    keep.set(
      gid,
      Array.from({ length: g.size }, (_, k) => k).filter((k) => !set.has(k)),
    );
  }
  return keep;
}
