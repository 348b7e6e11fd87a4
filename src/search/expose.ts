/**
 * The library side of the `expose-masks` and `expose-outputs` passes: channel masks as
 * graph inputs (one float [size] input per prunable group, applied at the group's scale
 * points) and chosen values as graph outputs.
 */
import { CompilerError } from '../errors.js';
import { analyzeChannelGroups } from '../analysis/channel-groups.js';
import { inferShapes } from '../analysis/shapes.js';
import type { Model as IrModel } from '../ir/core.js';
import { Value } from '../ir/core.js';
import type { Model } from '../ir/core.js';
import { DataType } from '../ir/data-type.js';
import { Node } from '../ir/core.js';
import { attrInt, attrInts } from '../ir/attribute.js';
import { Tensor } from '../ir/tensor.js';
import type { FitnessKind } from './fitness.js';
import type { StaticDim } from '../ir/types.js';
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
  writeInferredTypes(model);
  const a = analyzeChannelGroups(model);
  const want = o.groups ? new Set(o.groups) : undefined;
  for (const id of want ?? []) {
    if (!a.groups[id])
      throw new CompilerError('INVALID_OPTION', `expose-masks: there is no channel group ${id} (the model has ${a.groups.length})`, {
        hint: 'list the groups with `sculpt groups model.onnx`',
      });
  }
  const points = findScalePoints(a).filter((p) => {
    if (want && !want.has(p.group.id)) return false;
    if (p.sites.length === 0) {
      o.remark?.(p.group.name, `group ${p.group.id}: no layer reads it; no mask`);
      return false;
    }
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
  return points.map((p, i) => ({
    group: p.group.id,
    groupName: p.group.name,
    name: inputs.get(p.group.id)!.name,
    size: p.group.size,
    sites: inserted[i]!.muls.length,
  }));
}

/**
 * Makes the named values graph outputs (after the model's own); "last-conv" is the last
 * conv's feature map (`lastConvFeature`). Resolves every name before changing anything.
 * Returns the resolved names. @throws MISSING_VALUE, PRECONDITION_FAILED (no Conv)
 */
export function exposeOutputs(model: Model, names: readonly string[] = ['last-conv']): { names: string[]; added: number } {
  if (names.includes('last-conv')) writeInferredTypes(model);
  const values = names.map((n) => (n === 'last-conv' ? lastConvFeature(model) : valueNamed(model, n)));
  const g = model.graph;
  let added = 0;
  for (const v of values) {
    if (g.outputs.includes(v)) continue;
    g.addOutput(v);
    added++;
  }
  return { names: values.map((v) => v.name), added };
}

/**
 * Appends the fitness summary of the [N, C, H, W] value `feature` to the graph and makes it
 * an output [N, C, 1, 1]: WCA as two stride-2 depthwise 2×2 convs (the Haar LL and HH
 * filters) then GlobalAveragePool(LL) + GlobalMaxPool(HH); GAP, GMP, GAP+GMP with the
 * global pools. Computes what `summarize` computes, in float32. Returns the output name.
 * @throws INVALID_OPTION when the feature is not 4-D with static channels (or < 2×2 for WCA)
 */
export function appendSummary(model: Model, feature: string, kind: FitnessKind): string {
  const g = model.graph;
  const f = valueNamed(model, feature);
  const s = f.shape;
  const c = s?.[1];
  if (!s || s.length !== 4 || typeof c !== 'number')
    throw new CompilerError(
      'INVALID_OPTION',
      `the fitness summary runs in the graph only on a 4-D feature with static channels; "${feature}" is [${s?.join(',') ?? '?'}]`,
      { where: feature },
    );
  if (kind === 'wca' && ((typeof s[2] === 'number' && s[2] < 2) || (typeof s[3] === 'number' && s[3] < 2)))
    throw new CompilerError('INVALID_OPTION', `WCA needs feature maps of at least 2×2; "${feature}" is [${s.join(',')}]`, {
      where: feature,
      hint: 'use --fitness gap or gmp',
    });
  const outShape: StaticDim[] = [s[0]!, c, 1, 1];
  const node = (opType: string, inputs: Value[], name: string, attributes: Node['attributes'] = [], shape: readonly StaticDim[] = outShape): Value => {
    const o = new Value(model.names.fresh(name));
    o.setTensorType(DataType.FLOAT, shape);
    g.appendNode(new Node({ opType, name: model.names.fresh(name), inputs, outputs: [o], attributes }));
    return o;
  };
  const haar = (name: string, k: readonly number[]): Value => {
    const w = new Value(model.names.fresh(`${name}_w`));
    const data = new Float32Array(c * 4);
    for (let i = 0; i < c; i++) data.set(k, i * 4);
    g.addInitializer(w, Tensor.fromFloat32(w.name, [c, 1, 2, 2], data));
    w.setTensorType(DataType.FLOAT, [c, 1, 2, 2]);
    const half = (d: StaticDim | undefined): StaticDim => (typeof d === 'number' ? d >> 1 : null);
    return node('Conv', [f, w], name, [attrInt('group', c), attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])], [s[0]!, c, half(s[2]), half(s[3])]);
  };
  let out: Value;
  if (kind === 'wca') {
    out = node(
      'Add',
      [
        node('GlobalMaxPool', [haar('haar_hh', [0.5, -0.5, -0.5, 0.5])], 'hh_max'),
        node('GlobalAveragePool', [haar('haar_ll', [0.5, 0.5, 0.5, 0.5])], 'll_mean'),
      ],
      'wca',
    );
  } else if (kind === 'gap') out = node('GlobalAveragePool', [f], 'gap');
  else if (kind === 'gmp') out = node('GlobalMaxPool', [f], 'gmp');
  else out = node('Add', [node('GlobalAveragePool', [f], 'gap'), node('GlobalMaxPool', [f], 'gmp')], 'gap_gmp');
  g.addOutput(out);
  return out.name;
}

/**
 * Writes inferred types into the search's own working copy of the model (an explicit write,
 * as the infer-shapes pass does; analyses themselves never write the IR), for the readers
 * of value shapes below.
 */
export function writeInferredTypes(model: IrModel): void {
  const r = inferShapes(model);
  for (const [v, t] of r.shapes.entries()) if (t) v.type = t;
}
