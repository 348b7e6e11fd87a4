/**
 * Test helper: the shapes onnxruntime produces for every node output, beside the shapes
 * `inferShapes` records, so a test can assert they agree value by value.
 */
import assert from 'node:assert/strict';
import { seededFeeds, inferInto } from '../helpers.js';
import { decodeModel, encodeModel, runModel } from '../../src/index.js';
import type { HostTensor, Model, ShapeInferenceResult, StaticDim } from '../../src/index.js';

/** Seeded feeds for every graph input: float uniform in [0,1), int64 zeros; symbolic dims = batch. */
export function feedsFor(model: Model, batch: number, seed = 1): Record<string, HostTensor> {
  return seededFeeds(model, seed, batch);
}

export interface ShapeCheck {
  result: ShapeInferenceResult;
  compared: number;
}

/**
 * Runs the model in onnxruntime with every node output exposed (on an untouched copy, so
 * our inferred types cannot influence onnxruntime), then infers shapes and asserts that
 * each inferred shape, symbolic dims read as `batch`, equals onnxruntime's.
 */
export async function assertShapesMatchOrt(model: Model, opts: { batch?: number; feeds?: Record<string, HostTensor> } = {}): Promise<ShapeCheck> {
  const batch = opts.batch ?? 2;
  const pristine = decodeModel(encodeModel(model));
  const names: string[] = [];
  for (const n of pristine.graph.nodes) for (const o of n.outputs) if (o) names.push(o.name);
  const feeds = opts.feeds ?? feedsFor(pristine, batch);
  const got = await runModel(pristine, feeds, names);
  const result = inferInto(model);
  assert.deepEqual(
    result.unknown.map((u) => `${u.value.name}: ${u.reason}`),
    [],
    'every value has an inferred shape',
  );
  let compared = 0;
  for (const n of model.graph.nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      const inferred = result.shapes.shape(o);
      assert.ok(inferred, `no shape for ${o.name}`);
      const resolved = inferred.map((d: StaticDim) => (typeof d === 'string' ? batch : d));
      assert.deepEqual(resolved, got[o.name]!.dims, `${n.opType} ${n.where} output "${o.name}": inferred [${inferred}] vs onnxruntime [${got[o.name]!.dims}]`);
      compared++;
    }
  }
  return { result, compared };
}
