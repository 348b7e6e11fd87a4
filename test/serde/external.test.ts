/** External data: read, written, kept inside the model folder, and equal after a round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CompilerError, GraphBuilder, Rng, readModel, runModel, saveModel } from '../../src/index.js';
import { externalModel } from './fixtures.js';
import { tempDir } from '../helpers.js';

function bigModel() {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 256]);
  const w = b.floats('w', [256, 128], new Rng(1).normalArray(256 * 128, 0.1));
  const bias = b.floats('bias', [128], new Rng(2).normalArray(128));
  const small = b.floats('small', [128], new Rng(3).normalArray(128)); // 512 bytes: stays inline
  const y = b.op('Add', [b.op('Add', [b.op('MatMul', [x, w]), bias]), small]);
  b.output(y, 'y');
  return b.model;
}

test('save with external data writes a .data file and reads back equal', async () => {
  const d = tempDir();
  const m = bigModel();
  const r = saveModel(m, join(d, 'm.onnx'), { externalData: 'always', externalThreshold: 1024 });
  assert.ok(r.dataPath && existsSync(r.dataPath));
  assert.ok(statSync(r.dataPath).size >= 256 * 128 * 4);
  assert.ok(r.bytes < 4096, `model file holds only the small tensors (${r.bytes} bytes)`);
  const back = readModel(join(d, 'm.onnx'));
  const w0 = m.graph.initializers[0]!.initializer!.toFloat32();
  const w1 = back.graph.initializers[0]!.initializer!.toFloat32();
  assert.deepEqual(w1, w0);
  assert.match(back.graph.initializers[0]!.initializer!.external!.location, /^m\.onnx\.[0-9a-f]{16}\.data$/, 'named by content');
  assert.equal(join(d, back.graph.initializers[0]!.initializer!.external!.location), r.dataPath);
  assert.equal(back.graph.initializers[2]!.initializer!.external, undefined, 'small tensor inline');
  const feeds = { x: { data: new Rng(4).uniformArray(256), dims: [1, 256] } };
  const [a, b] = [await runModel(m, feeds), await runModel(back, feeds)];
  assert.deepEqual(b.y!.data, a.y!.data);
});

test('a model read with external data is saved with external data beside the new file; the input data stays', () => {
  const d = tempDir();
  const first = saveModel(bigModel(), join(d, 'a.onnx'), { externalData: 'always' });
  const before = readFileSync(first.dataPath!);
  const m = readModel(join(d, 'a.onnx'));
  mkdirSync(join(d, 'out'));
  const r = saveModel(m, join(d, 'out', 'b.onnx'), { inputPath: join(d, 'a.onnx') });
  assert.equal(r.dataPath, join(d, 'out', basename(first.dataPath!).replace(/^a\.onnx/, 'b.onnx')), 'same content, same hash');
  assert.deepEqual(readFileSync(first.dataPath!), before);
  const again = readModel(join(d, 'out', 'b.onnx'));
  assert.deepEqual(again.graph.initializers[0]!.initializer!.toFloat32(), m.graph.initializers[0]!.initializer!.toFloat32());
});

test('external data in a sub-folder is fine; a symlink out of the folder is not', () => {
  const d = tempDir();
  mkdirSync(join(d, 'weights'));
  writeFileSync(join(d, 'weights', 'w.bin'), new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
  writeFileSync(join(d, 'm.onnx'), externalModel('weights/w.bin'));
  const m = readModel(join(d, 'm.onnx'));
  assert.deepEqual(Array.from(m.graph.initializers[0]!.initializer!.toFloat32()), [1, 2, 3, 4]);

  const outside = tempDir();
  writeFileSync(join(outside, 'secret.bin'), new Uint8Array(16));
  symlinkSync(join(outside, 'secret.bin'), join(d, 'link.bin'));
  writeFileSync(join(d, 'm2.onnx'), externalModel('link.bin'));
  assert.throws(
    () => readModel(join(d, 'm2.onnx')),
    (e: unknown) => e instanceof CompilerError && e.code === 'EXTERNAL_DATA_ESCAPES',
  );
});

test('tensor payloads are zero-copy views of the file buffer', () => {
  const d = tempDir();
  saveModel(bigModel(), join(d, 'm.onnx'), { externalData: 'never' });
  const m = readModel(join(d, 'm.onnx'));
  const t = m.graph.initializers[0]!.initializer!;
  assert.equal(t.data.kind, 'raw');
  if (t.data.kind === 'raw') {
    assert.ok(t.data.bytes.buffer.byteLength > t.data.bytes.byteLength, 'a view into a larger buffer, not a copy');
  }
});
