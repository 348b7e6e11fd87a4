/**
 * Shape inference on the ONNX conformance corpus (Debian libonnx-testdata): for every node
 * test whose ops all have rules, the graph outputs' declared shapes are dropped, shapes are
 * inferred, and every fully known result must equal the dims of the reference output tensor.
 * Unknown is allowed (many tests feed shapes and axes as runtime inputs); wrong never is.
 */
import { inferInto } from '../helpers.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType, Rng, decodeModel, encodeModel, hasShapeRule, readModel, runModel } from '../../src/index.js';
import type { HostTensor, Model } from '../../src/index.js';

const CORPUS = '/usr/share/libonnx-testdata/data';
const NODE_TESTS = join(CORPUS, 'node');
const SKIP = !existsSync(NODE_TESTS) && !process.env.CI ? 'libonnx-testdata not installed (apt-get install libonnx-testdata)' : false;

/** The dims of a serialized TensorProto (field 1, packed or not), without a protobuf library. */
function tensorDims(bytes: Uint8Array): number[] {
  let i = 0;
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      const c = bytes[i++]!;
      x |= BigInt(c & 0x7f) << shift;
      shift += 7n;
      if (!(c & 0x80)) return x;
    }
  };
  const dims: number[] = [];
  while (i < bytes.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) dims.push(Number(BigInt.asIntN(64, v)));
    } else if (wire === 2) {
      const len = Number(varint());
      if (field === 1) {
        const end = i + len;
        while (i < end) dims.push(Number(BigInt.asIntN(64, varint())));
      } else i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return dims;
}

const supported = (m: Model) => m.graph.nodes.every((n) => (n.domain === '' || n.domain === 'ai.onnx') && hasShapeRule(n.opType));

test('conformance node tests: inferred output shapes equal the reference outputs', { skip: SKIP }, () => {
  let matched = 0;
  let unknown = 0;
  const wrong: string[] = [];
  for (const t of readdirSync(NODE_TESTS).sort()) {
    const modelPath = join(NODE_TESTS, t, 'model.onnx');
    const data = join(NODE_TESTS, t, 'test_data_set_0');
    if (!existsSync(modelPath) || !existsSync(data)) continue;
    const m = readModel(modelPath);
    if (!supported(m)) continue;
    for (const o of m.graph.outputs) if (o.type?.kind === 'tensor') o.type = { kind: 'tensor', elemType: o.type.elemType };
    try {
      inferInto(m);
    } catch (e) {
      wrong.push(`${t}: ${(e as Error).message}`);
      continue;
    }
    m.graph.outputs.forEach((o, k) => {
      const ref = join(data, `output_${k}.pb`);
      if (!existsSync(ref)) return;
      const got = o.shape;
      if (!got || !got.every((d) => typeof d === 'number')) {
        unknown++;
        return;
      }
      const want = tensorDims(readFileSync(ref));
      if (JSON.stringify(got) === JSON.stringify(want)) matched++;
      else wrong.push(`${t} output ${o.name}: inferred [${got}], reference [${want}]`);
    });
  }
  assert.deepEqual(wrong, []);
  // libonnx-testdata 1.14+ gives ~740 outputs whose shapes are computable statically.
  assert.ok(matched >= 600, `only ${matched} outputs checked (${unknown} unknown)`);
});

/** Seeded feeds for float/int64 inputs with static shapes; undefined when an input has neither. */
function staticFeeds(m: Model): Record<string, HostTensor> | undefined {
  const rng = new Rng(1);
  const feeds: Record<string, HostTensor> = {};
  for (const v of m.graph.inputs) {
    if (v.initializer) continue;
    const s = v.shape;
    if (!s || !s.every((d): d is number => typeof d === 'number')) return undefined;
    const n = s.reduce((a, b) => a * b, 1);
    if (v.elemType === DataType.FLOAT) feeds[v.name] = { data: rng.uniformArray(n, 0, 1), dims: s };
    else if (v.elemType === DataType.INT64) feeds[v.name] = { data: new BigInt64Array(n), dims: s };
    else return undefined;
  }
  return feeds;
}

test("PyTorch-exported corpus models: every intermediate shape equals onnxruntime's", { skip: SKIP }, async () => {
  let matched = 0;
  let models = 0;
  const wrong: string[] = [];
  for (const dir of ['pytorch-converted', 'pytorch-operator', 'simple']) {
    for (const t of readdirSync(join(CORPUS, dir)).sort()) {
      const path = join(CORPUS, dir, t, 'model.onnx');
      if (!existsSync(path)) continue;
      const m = readModel(path);
      const pristine = decodeModel(encodeModel(m));
      // Drop every declared shape but the inputs': inference must compute them.
      for (const o of m.graph.outputs) if (o.type?.kind === 'tensor') o.type = { kind: 'tensor', elemType: o.type.elemType };
      for (const v of m.graph.valueInfos) v.info.type = undefined;
      try {
        inferInto(m);
      } catch (e) {
        wrong.push(`${dir}/${t}: ${(e as Error).message}`);
        continue;
      }
      const feeds = staticFeeds(pristine);
      if (!feeds) continue;
      const names = pristine.graph.nodes.flatMap((n) => n.outputs.flatMap((o) => (o ? [o.name] : [])));
      let got: Record<string, HostTensor>;
      try {
        got = await runModel(pristine, feeds, names);
      } catch {
        continue; // opset < 7 kernels, sequences, training ops: onnxruntime cannot judge these
      }
      models++;
      for (const n of m.graph.nodes) {
        for (const o of n.outputs) {
          const s = o?.shape;
          if (!o || !s || !s.every((d) => typeof d === 'number')) continue;
          if (JSON.stringify(s) === JSON.stringify(got[o.name]!.dims)) matched++;
          else wrong.push(`${dir}/${t} ${n.opType} "${o.name}": inferred [${s}], onnxruntime [${got[o.name]!.dims}]`);
        }
      }
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(models >= 60 && matched >= 80, `${models} models, ${matched} values compared`);
});
