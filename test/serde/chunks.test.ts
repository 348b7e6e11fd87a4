/** The chunked writer (big payloads written straight from their buffers) encodes the same model. */
import { compareEncoded } from '../../src/serde/compare.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, Rng, encodeModel, encodeModelChunks, saveModel } from '../../src/index.js';
import { tempDir } from '../helpers.js';

test('encodeModelChunks concatenated equals encodeModel field for field, big tensors are not copied', () => {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 200]);
  const big = new Rng(1).normalArray(200 * 200);
  const w = b.floats('w', [200, 200], big);
  const s = b.floats('s', [200], new Rng(2).normalArray(200));
  b.output(b.op('Add', [b.op('MatMul', [x, w]), s]), 'y');
  const chunks = encodeModelChunks(b.model);
  const joined = Buffer.concat(chunks);
  assert.deepEqual(compareEncoded(encodeModel(b.model), joined), []);
  const payload = w.initializer!.data;
  assert.ok(payload.kind === 'raw' && chunks.some((c) => c.buffer === payload.bytes.buffer), 'the 160 KB payload is its own chunk');
  const d = tempDir();
  saveModel(b.model, join(d, 'm.onnx'));
  assert.deepEqual(compareEncoded(readFileSync(join(d, 'm.onnx')), encodeModel(b.model)), []);
});
