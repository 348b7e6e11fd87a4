/**
 * The library side of the `expose-masks` and `expose-outputs` passes: channel masks as
 * graph inputs (one float [size] input per prunable group, applied at the group's scale
 * points) and chosen values as graph outputs.
 */
import { CompilerError } from '../errors.js';
import { analyzeChannelGroups } from '../analysis/channel-groups.js';
import { inferShapes } from '../analysis/shapes.js';
import { Value } from '../ir/core.js';
import type { Model } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { findScalePoints, insertScales } from '../prune/scale-points.js';
import { lastConvFeature, valueNamed } from './feature.js';

export interface ExposedMask {
  readonly group: number;
  readonly groupName: string;
  /** The graph input's name. */
  readonly name: string;
  /** Group channels: the input is float[size]. */
  readonly size: number;
  /** Mul nodes that apply it. */
  readonly sites: number;
}

export interface ExposeMasksOptions {
  /** Group ids to expose (default every prunable group some layer reads). */
  groups?: readonly number[];
  /** Input name stem (default "mask"): inputs are `<prefix>_g<id>`. */
  prefix?: string;
  /** Told why a group got no input. */
  remark?: (where: string, message: string) => void;
}

/**
 * Adds the mask inputs in place; returns them in group order. O(nodes + members · uses).
 * @throws INVALID_OPTION for an unknown group id; OPSET_OUT_OF_RANGE below opset 5
 */
export function exposeMasks(model: Model, o: ExposeMasksOptions = {}): ExposedMask[] {
  const prefix = o.prefix ?? 'mask';
  inferShapes(model);
  const a = analyzeChannelGroups(model);
  const want = o.groups ? new Set(o.groups) : undefined;
  for (const id of want ?? []) {
    if (!a.groups[id]) throw new CompilerError('INVALID_OPTION', `expose-masks: there is no channel group ${id} (the model has ${a.groups.length})`, { hint: 'list the groups with `sculpt groups model.onnx`' });
  }
  const points = findScalePoints(a).filter((p) => {
    if (want && !want.has(p.group.id)) return false;
    if (p.sites.length === 0) { o.remark?.(p.group.name, `group ${p.group.id}: no layer reads it; no mask`); return false; }
    return true;
  });
  for (const g of a.groups) if (g.frozen.length > 0 && (!want || want.has(g.id))) o.remark?.(g.name, `group ${g.id} frozen: ${g.frozen.join('; ')}`);
  const inputs = new Map<number, Value>();
  for (const p of points) {
    const v = new Value(model.names.fresh(`${prefix}_g${p.group.id}`));
    v.setTensorType(DataType.FLOAT, [p.group.size]);
    model.graph.addInput(v);
    inputs.set(p.group.id, v);
  }
  const inserted = insertScales(model, points, (p) => inputs.get(p.group.id)!, { prefix });
  return points.map((p, i) => ({ group: p.group.id, groupName: p.group.name, name: inputs.get(p.group.id)!.name, size: p.group.size, sites: inserted[i]!.muls.length }));
}

/**
 * Makes the named values graph outputs (after the model's own); "last-conv" is the last
 * conv's feature map (`lastConvFeature`). Resolves every name before changing anything.
 * Returns the resolved names. @throws MISSING_VALUE, PRECONDITION_FAILED (no Conv)
 */
export function exposeOutputs(model: Model, names: readonly string[] = ['last-conv']): { names: string[]; added: number } {
  if (names.includes('last-conv')) inferShapes(model);
  const values = names.map((n) => (n === 'last-conv' ? lastConvFeature(model) : valueNamed(model, n)));
  const g = model.graph;
  let added = 0;
  for (const v of values) {
    if (g.outputs.includes(v)) continue;
    g.outputs.push(v);
    added++;
  }
  return { names: values.map((v) => v.name), added };
}
