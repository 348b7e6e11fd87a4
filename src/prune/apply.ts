/**
 * Applying a pruning decision to the IR: given the channel analysis of a model and the
 * group channels to keep, slice every coupled constant (weights, biases, BatchNorm
 * parameters, per-channel constants, Constant-node tensors), shrink the shapes of every
 * coupled value, and run the analysis' fixups (`group` of depthwise convs, Reshape
 * targets, Split sizes, Slice bounds, Resize sizes). The prune-channels pass is a thin
 * wrapper around `applyChannelPruning`.
 */
import { CompilerError } from '../errors.js';
import type { ChannelAnalysis, ChannelSlot, FixupContext } from '../analysis/channel-groups.js';
import { constantTensor, isGroupPrunable, removedPerSlot } from '../analysis/channel-groups.js';
import { setConstantData } from '../ir/weights.js';
import { Value } from '../ir/core.js';
import type { Model, Node } from '../ir/core.js';
import { DataType, bitsPerElement, dataTypeName } from '../ir/data-type.js';
import { Tensor } from '../ir/tensor.js';
import type { StaticDim } from '../ir/types.js';
import { compareAsc } from './nan.js';

/** One tensor of the input model that lost channels, as the report lists it. */
export interface PrunedTensor {
  readonly name: string;
  readonly axis: number;
  readonly removed: number[];
}

export interface ApplyResult {
  /** Every value that lost positions on an axis, in analysis order. */
  readonly pruned: PrunedTensor[];
  /** Group channels removed, summed over groups. */
  readonly channelsRemoved: number;
  readonly groupsPruned: number;
  readonly tensorsSliced: number;
}

/**
 * Checks a keep map against the analysis: known groups, indices in range, at least one
 * channel kept, frozen groups untouched. Returns the map with sorted, unique indices.
 * @throws MASK_SHAPE_MISMATCH for an unknown group or an index out of range;
 *   MASK_INVALID for a group left empty; GROUP_FROZEN for a frozen group that loses channels
 */
export function checkKeep(a: ChannelAnalysis, keep: ReadonlyMap<number, readonly number[]>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const [gid, kept] of keep) {
    const g = a.groups[gid];
    if (!g)
      throw new CompilerError('MASK_SHAPE_MISMATCH', `there is no channel group ${gid} (the model has ${a.groups.length})`, {
        hint: 'list the groups with `sculpt groups model.onnx`',
      });
    const set = [...new Set(kept)].sort(compareAsc);
    for (const k of set) {
      if (!Number.isInteger(k) || k < 0 || k >= g.size) {
        throw new CompilerError('MASK_SHAPE_MISMATCH', `group ${gid} (${g.name}) has ${g.size} channels; kept index ${k} is out of range`, {
          where: g.name,
          hint: 'list the groups with `sculpt groups model.onnx`',
        });
      }
    }
    if (set.length === g.size) continue;
    if (set.length === 0)
      throw new CompilerError('MASK_INVALID', `group ${gid} (${g.name}) would lose every channel`, {
        where: g.name,
        hint: 'keep at least one channel per group',
      });
    if (!isGroupPrunable(g)) {
      throw new CompilerError('GROUP_FROZEN', `group ${gid} (${g.name}) may not lose channels: ${g.frozen[0] ?? 'it has a single channel'}`, {
        where: g.name,
        hint: 'see `sculpt groups model.onnx --explain`',
      });
    }
    out.set(gid, set);
  }
  return out;
}

/**
 * Removes the channels not in `keep` (group id → kept group-channel indices; groups not
 * listed keep everything) from `model`, in place. `analysis` must have been computed on
 * this very model and the model not changed since. O(sliced bytes + nodes).
 * @throws PRECONDITION_FAILED when the analysis belongs to another model; the codes of
 *   `checkKeep`; UNSUPPORTED_DATA_TYPE for a sub-byte or string tensor that would need slicing
 */
export function applyChannelPruning(model: Model, a: ChannelAnalysis, keep: ReadonlyMap<number, readonly number[]>): ApplyResult {
  if (a.model !== model)
    throw new CompilerError('PRECONDITION_FAILED', 'the channel analysis was computed on another model', {
      hint: 'run analyzeChannelGroups on the model you prune',
    });
  const checked = checkKeep(a, keep);
  const removed = removedPerSlot(a, checked);
  const slots = [...removed.keys()].sort((x, y) => x.id - y.id);

  // Check everything that can fail before changing anything.
  const byValue = new Map<Value, ChannelSlot[]>();
  for (const s of slots) {
    let l = byValue.get(s.value);
    if (!l) byValue.set(s.value, (l = []));
    l.push(s);
  }
  for (const [v, ss] of byValue) {
    if (ss[0]!.kind !== 'constant') continue;
    const t = constantTensor(v)!;
    const bits = bitsPerElement(t.dataType);
    if (t.dataType === DataType.STRING || bits % 8 !== 0 || bits === 0) {
      throw new CompilerError('UNSUPPORTED_DATA_TYPE', `cannot slice ${dataTypeName(t.dataType)} tensor "${v.name}"`, { where: v.name });
    }
  }

  let tensorsSliced = 0;
  for (const [v, ss] of byValue) {
    const cuts = ss.map((s) => ({ axis: s.axis, removed: removed.get(s)! }));
    if (ss[0]!.kind === 'constant') {
      const t = constantTensor(v)!;
      const { bytes, dims } = sliceBytes(t, cuts);
      if (v.initializer) {
        v.initializer.setRaw(bytes, dims);
      } else {
        // A Constant node keeps its form (`value`, or `value_floats` for a 1-D float vector).
        const nt = t.clone();
        nt.setRaw(bytes, dims);
        setConstantData(v, nt);
      }
      tensorsSliced++;
      if (v.info.type || v.initializer) v.setTensorType(t.dataType, dims);
    } else {
      const shape = v.shape;
      if (shape) {
        const next: StaticDim[] = [...shape];
        for (const c of cuts) {
          const d = next[c.axis];
          if (typeof d === 'number') next[c.axis] = d - c.removed.length;
        }
        v.setTensorType(v.elemType ?? DataType.FLOAT, next);
      }
    }
  }

  const fc: FixupContext = {
    model,
    slotOf: (v, axis) => a.slotOf(v, axis),
    removed: (s) => removed.get(s) ?? new Int32Array(0),
    newSize: (s) => s.size - (removed.get(s)?.length ?? 0),
    setConstInput: (node, i, t) => setConstInput(model, node, i, t),
  };
  for (const f of a.fixups) f.run(fc);

  let channelsRemoved = 0;
  for (const [gid, kept] of checked) channelsRemoved += a.groups[gid]!.size - kept.length;
  return {
    pruned: slots.map((s) => ({ name: s.value.name, axis: s.axis, removed: Array.from(removed.get(s)!) })),
    channelsRemoved,
    groupsPruned: checked.size,
    tensorsSliced,
  };
}

/** Points input `i` of `node` at a fresh initializer holding `t`; drops the old constant when nothing else reads it. */
export function setConstInput(model: Model, node: Node, i: number, t: Tensor): void {
  const g = node.graph ?? model.graph;
  const old = node.inputs[i] ?? null;
  const name = model.names.fresh(old?.name ?? `${node.name || node.opType}_in${i}`);
  const v = new Value(name);
  t.name = name;
  g.addInitializer(v, t);
  v.setTensorType(t.dataType, t.shape);
  while (node.inputs.length < i) node.appendInput(null);
  if (i < node.inputs.length) node.setInput(i, v);
  else node.appendInput(v);
  if (!old || old.useCount > 0 || g.outputs.includes(old)) return;
  if (old.initializer && !g.inputs.includes(old)) g.removeInitializer(old);
  else if (old.producer && old.producer.opType === 'Constant' && old.producer.graph === g) g.removeNode(old.producer);
}

/** Keeps, on each cut axis, the positions not removed. Copies runs of kept positions at once. */
function sliceBytes(t: Tensor, cuts: readonly { axis: number; removed: Int32Array }[]): { bytes: Uint8Array; dims: number[] } {
  const eb = bitsPerElement(t.dataType) / 8;
  let dims = t.shape;
  let bytes = t.rawBytes();
  for (const c of cuts) {
    const D = dims[c.axis]!;
    const keepIdx: number[] = [];
    let r = 0;
    for (let i = 0; i < D; i++) {
      if (r < c.removed.length && c.removed[r] === i) {
        r++;
        continue;
      }
      keepIdx.push(i);
    }
    let outer = 1;
    for (let i = 0; i < c.axis; i++) outer *= dims[i]!;
    let inner = eb;
    for (let i = c.axis + 1; i < dims.length; i++) inner *= dims[i]!;
    const runs: [number, number][] = [];
    for (const k of keepIdx) {
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === k) last[1]++;
      else runs.push([k, 1]);
    }
    const out = new Uint8Array(outer * keepIdx.length * inner);
    if (inner % 4 === 0 && inner * keepIdx.length < 64 * runs.length) {
      // Short runs (1×1 kernels, scattered kept channels): copying 32-bit words in a loop
      // beats one subarray+set per run by an order of magnitude.
      const src = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes); // Buffer.slice would not copy
      const s32 = new Uint32Array(src.buffer, src.byteOffset, src.byteLength >> 2);
      const o32 = new Uint32Array(out.buffer);
      const w = inner >> 2;
      let at = 0;
      for (let o = 0; o < outer; o++) {
        const base = o * D * w;
        for (const [start, len] of runs) {
          const from = base + start * w;
          const n = len * w;
          for (let i = 0; i < n; i++) o32[at + i] = s32[from + i]!;
          at += n;
        }
      }
    } else {
      let at = 0;
      for (let o = 0; o < outer; o++) {
        const base = o * D * inner;
        for (const [start, len] of runs) {
          out.set(bytes.subarray(base + start * inner, base + (start + len) * inner), at);
          at += len * inner;
        }
      }
    }
    bytes = out;
    dims = [...dims];
    dims[c.axis] = keepIdx.length;
  }
  return { bytes, dims };
}
