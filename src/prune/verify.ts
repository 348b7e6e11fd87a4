/**
 * Masked equivalence, the proof that a pruning is exact: the pruned model must compute what
 * the ORIGINAL model computes when every tensor that lost channels is multiplied by its
 * 0/1 channel mask (a Mul with a mask constant broadcast on that axis, inserted after the
 * tensor's producer, or applied to the weight itself). Both run in onnxruntime on seeded
 * inputs; every graph output must agree within `tolerance × max|masked output|`.
 *
 * The mask is a `Where(mask, x, 0)` (opset >= 9), not a `Mul`: a removed channel that holds
 * NaN/Inf (`--nan prune-first`) must read 0 in the reference, and `NaN × 0` is NaN. Outputs
 * compare NaN-to-NaN and Inf-to-same-Inf as equal; when the reference itself computes
 * non-finite values the result says so (`nonFinite`), and a mismatch then is reported as
 * NON_FINITE_OUTPUT, not as a channel-rule bug.
 *
 * Other commands (search, one-step recovery) reuse `maskedModel` to build the reference.
 */
import { cloneModel } from '../serde/clone.js';
import { CompilerError } from '../errors.js';
import { Node, Value } from '../ir/core.js';
import type { Model } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { Tensor } from '../ir/tensor.js';
import { sortTopologically } from '../ir/toposort.js';
import { maxAbsDiff, runModel } from '../runtime/session.js';
import type { HostTensor } from '../runtime/session.js';
import { seededInputs } from '../runtime/feeds.js';
import { constantTensor } from '../analysis/channel-groups.js';
import { inferShapes } from '../analysis/shapes.js';
import type { PrunedTensor } from './apply.js';
import { replayUntie } from './untie.js';
import type { UntiedConstant } from './untie.js';

function findValue(m: Model, name: string): Value | undefined {
  const g = m.graph;
  for (const v of g.inputs) if (v.name === name) return v;
  for (const v of g.initializers) if (v.name === name) return v;
  for (const n of g.nodes) for (const o of n.outputs) if (o && o.name === name) return o;
  return undefined;
}

/**
 * A copy of `original` in which every listed tensor is multiplied by its channel mask
 * (1 = kept, 0 = removed), after replaying the untying of shared constants the pruning
 * did (the report's `untied`). O(model size).
 * @throws MISSING_VALUE for a name the model lacks; MASK_SHAPE_MISMATCH for an axis or
 *   index that does not fit the tensor; UNSUPPORTED_DATA_TYPE for a non-float tensor
 */
export function maskedModel(original: Model, pruned: readonly PrunedTensor[], untied: readonly UntiedConstant[] = []): Model {
  const m = cloneModel(original);
  replayUntie(m, untied);
  const shapes = inferShapes(m).shapes;
  const g = m.graph;
  const byName = new Map<string, PrunedTensor[]>();
  for (const e of pruned) {
    if (e.removed.length === 0) continue;
    let l = byName.get(e.name);
    if (!l) byName.set(e.name, (l = []));
    l.push(e);
  }
  const useWhere = (m.opset('') ?? 1) >= 9;
  let zeroValue: Value | undefined;
  const zero = (): Value => {
    if (zeroValue) return zeroValue;
    zeroValue = new Value(m.names.fresh('mask_zero'));
    g.addInitializer(zeroValue, Tensor.fromFloat32(zeroValue.name, [], [0]));
    zeroValue.setTensorType(DataType.FLOAT, []);
    return zeroValue;
  };
  for (const [name, entries] of byName) {
    const v = findValue(m, name);
    if (!v) throw new CompilerError('MISSING_VALUE', `the pruned list names "${name}", which the model lacks`, { where: name });
    const shape = constantTensor(v)?.shape ?? shapes.shape(v);
    if (!shape)
      throw new CompilerError('MASK_SHAPE_MISMATCH', `the shape of "${name}" is unknown, so its mask cannot be built`, {
        where: name,
        hint: 'run shape inference on the model first',
      });
    const elem = constantTensor(v)?.dataType ?? shapes.elemType(v) ?? DataType.FLOAT;
    if (elem !== DataType.FLOAT) throw new CompilerError('UNSUPPORTED_DATA_TYPE', `masking "${name}" needs float32 data`, { where: name });
    const uses = v.uses();
    const outSlot = g.outputs.indexOf(v);
    let cur = v;
    for (const e of entries) {
      const size = shape[e.axis];
      if (typeof size !== 'number' || e.axis < 0 || e.axis >= shape.length) {
        throw new CompilerError('MASK_SHAPE_MISMATCH', `"${name}" has no static axis ${e.axis} (shape [${shape.join(',')}])`, { where: name });
      }
      const mask = new Float32Array(size).fill(1);
      for (const i of e.removed) {
        if (!Number.isInteger(i) || i < 0 || i >= size)
          throw new CompilerError('MASK_SHAPE_MISMATCH', `index ${i} is out of range for "${name}" axis ${e.axis} (${size} channels)`, { where: name });
        mask[i] = 0;
      }
      const mdims = [size, ...new Array<number>(shape.length - e.axis - 1).fill(1)];
      const mv = new Value(m.names.fresh(`${name}_mask${e.axis}`));
      const out = new Value(m.names.fresh(`${name}_masked`));
      const vt = shapes.type(v);
      out.info = { type: vt ? structuredClone(vt) : undefined };
      if (useWhere) {
        g.addInitializer(mv, new Tensor(mv.name, DataType.BOOL, mdims, { kind: 'raw', bytes: Uint8Array.from(mask) }));
        mv.setTensorType(DataType.BOOL, mdims);
        g.appendNode(new Node({ opType: 'Where', name: m.names.fresh(`${name}_mask_where`), inputs: [mv, cur, zero()], outputs: [out] }));
      } else {
        g.addInitializer(mv, Tensor.fromFloat32(mv.name, mdims, mask));
        mv.setTensorType(DataType.FLOAT, mdims);
        g.appendNode(new Node({ opType: 'Mul', name: m.names.fresh(`${name}_mask_mul`), inputs: [cur, mv], outputs: [out] }));
      }
      cur = out;
    }
    for (const u of uses) u.node.setInput(u.index, cur);
    if (outSlot >= 0) {
      // The output keeps its name (the interface); the unmasked value gets a fresh one.
      g.setOutput(outSlot, cur);
      const outName = v.name;
      v.name = m.names.fresh(`${outName}_unmasked`);
      cur.name = outName;
    }
  }
  sortTopologically(g);
  return m;
}

export interface VerifyOptions {
  /** Seed of the random inputs (default 1). */
  seed?: number;
  /** Value for symbolic dims not given by `inputShapes` (default 2). */
  batch?: number;
  /** Sizes of graph inputs whose dims are symbolic (`--input-shape`); they win over `batch`. */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Number of seeded input sets (default 2). */
  trials?: number;
  /** Allowed max |diff| relative to the largest |masked output| (default 1e-4). */
  tolerance?: number;
  /** Inputs are uniform in [lo, hi) (default [0, 1): pixels). */
  range?: [number, number];
  threads?: number;
  /** Shared constants the pruning untied (replayed on the original for the reference). */
  untied?: readonly UntiedConstant[];
}

export interface OutputCheck {
  name: string;
  maxAbs: number;
  scale: number;
  relative: number;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly tolerance: number;
  /** The worst relative difference over outputs and trials. */
  readonly worst: number;
  readonly outputs: OutputCheck[];
  /** Mask nodes (Where, or Mul below opset 9) inserted into the reference. */
  readonly masks: number;
  /** Non-finite (NaN/Inf) elements in the reference's outputs (NaN weights, overflow). */
  readonly nonFinite: number;
}

/** Largest |a - b| (NaN = NaN and equal infinities count as equal), scale max|a| over finite a, non-finite count of a. */
function diffNanAware(a: HostTensor, b: HostTensor): { maxAbs: number; scale: number; nonFinite: number } {
  if (a.data.length !== b.data.length) return { ...maxAbsDiff(a, b), nonFinite: 0 };
  let maxAbs = 0,
    scale = 0,
    nonFinite = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = Number(a.data[i]);
    const y = Number(b.data[i]);
    if (!Number.isFinite(x)) nonFinite++;
    else if (Math.abs(x) > scale) scale = Math.abs(x);
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y);
    maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
  }
  return { maxAbs, scale, nonFinite };
}

export { seededInputs } from '../runtime/feeds.js';

/**
 * Runs the pruned model and the masked original on seeded inputs and compares every
 * graph output. Does not throw on a mismatch: look at `ok` (or use `checkMaskedEquivalence`).
 * @throws RUNTIME_FAILED when onnxruntime refuses either model; the `maskedModel` codes
 */
export async function verifyMaskedEquivalence(
  original: Model,
  pruned: Model,
  entries: readonly PrunedTensor[],
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const tolerance = opts.tolerance ?? 1e-4;
  const ref = maskedModel(original, entries, opts.untied);
  const names = pruned.graph.outputs.map((v) => v.name);
  const worstBy = new Map<string, OutputCheck>();
  let nonFinite = 0;
  for (let t = 0; t < (opts.trials ?? 2); t++) {
    const feeds = seededInputs(original, (opts.seed ?? 1) + t, opts.batch ?? 2, opts.range, opts.inputShapes);
    const [a, b] = [await runModel(ref, feeds, undefined, { threads: opts.threads }), await runModel(pruned, feeds, undefined, { threads: opts.threads })];
    for (const name of names) {
      const x = a[name];
      const y = b[name];
      if (!x || !y) throw new CompilerError('NUMERIC_MISMATCH', `output "${name}" is missing from ${x ? 'the pruned' : 'the masked'} model`, { where: name });
      if (x.dims.join(',') !== y.dims.join(','))
        throw new CompilerError('NUMERIC_MISMATCH', `output "${name}" has shape [${y.dims}] after pruning, [${x.dims}] before`, { where: name });
      const { maxAbs, scale, nonFinite: nf } = diffNanAware(x, y);
      nonFinite += nf;
      const relative = maxAbs / Math.max(scale, 1e-12);
      const prev = worstBy.get(name);
      if (!prev || relative > prev.relative) worstBy.set(name, { name, maxAbs, scale, relative: maxAbs === 0 ? 0 : relative });
    }
  }
  const outputs = [...worstBy.values()];
  const worst = outputs.reduce((w, o) => Math.max(w, o.relative), 0);
  const masks = ref.graph.nodes.filter((n) => n.name?.includes('_mask_mul') || n.name?.includes('_mask_where')).length;
  return { ok: outputs.every((o) => o.maxAbs <= tolerance * Math.max(o.scale, 1e-6)), tolerance, worst, outputs, masks, nonFinite };
}

/**
 * The error for a failed check: NON_FINITE_OUTPUT when the masked original itself computes
 * NaN/Inf (the weights, not a channel rule, are at fault), else NUMERIC_MISMATCH.
 */
export function verifyMismatchError(r: VerifyResult, suffix = ''): CompilerError {
  const w = r.outputs.reduce((a, b) => (b.relative > a.relative ? b : a));
  if (r.nonFinite > 0) {
    return new CompilerError(
      'NON_FINITE_OUTPUT',
      `the masked original computes ${r.nonFinite} NaN/Inf output value(s) on seeded inputs, and the pruned model differs at "${w.name}"${suffix}`,
      {
        where: w.name,
        hint: 'the model has NaN/Inf weights or overflows: fix the weights (see --nan), then prune and verify again',
      },
    );
  }
  return new CompilerError(
    'NUMERIC_MISMATCH',
    `the pruned model differs from the masked original at "${w.name}": max |diff| ${w.maxAbs.toExponential(3)} vs scale ${w.scale.toExponential(3)} (relative ${w.relative.toExponential(3)} > ${r.tolerance})${suffix}`,
    { where: w.name, hint: 'this is a bug in a channel rule; please report it with the model' },
  );
}

/** `verifyMaskedEquivalence` that throws NUMERIC_MISMATCH naming the worst output when it fails. */
export async function checkMaskedEquivalence(
  original: Model,
  pruned: Model,
  entries: readonly PrunedTensor[],
  opts: VerifyOptions = {},
): Promise<VerifyResult> {
  const r = await verifyMaskedEquivalence(original, pruned, entries, opts);
  if (!r.ok) throw verifyMismatchError(r);
  return r;
}
