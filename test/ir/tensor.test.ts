/** Tensor payload conversions. */
import { halfToFloat } from '../../src/ir/tensor.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, Tensor } from '../../src/index.js';

test('toFloat32 of a misaligned Buffer view copies the right bytes (regression: Buffer.slice is a view)', () => {
  const pool = Buffer.alloc(64);
  const vals = new Float32Array([1.5, -2.25, 3.125]);
  Buffer.from(vals.buffer).copy(pool, 5);
  const t = new Tensor('t', DataType.FLOAT, [3], { kind: 'raw', bytes: pool.subarray(5, 17) });
  assert.deepEqual(Array.from(t.toFloat32()), [1.5, -2.25, 3.125]);
  const c = t.clone();
  pool.fill(0);
  assert.deepEqual(Array.from(c.toFloat32()), [1.5, -2.25, 3.125], 'clone owns its bytes');
});

test('typed fields convert to raw and numbers; int64 beyond 2^53 stays exact as bigint', () => {
  const t = new Tensor('i', DataType.INT64, [2], { kind: 'typed', field: 'int64_data', values: [9223372036854775807n, -3] });
  assert.deepEqual(t.toBigInts(), [9223372036854775807n, -3n]);
  const raw = new Tensor('r', DataType.INT64, [2], { kind: 'raw', bytes: t.rawBytes() });
  assert.deepEqual(raw.toBigInts(), [9223372036854775807n, -3n]);
  const h = new Tensor('h', DataType.FLOAT16, [3], { kind: 'typed', field: 'int32_data', values: [0x3c00, 0xc000, 0x3555] });
  assert.deepEqual(
    h.toNumbers().map((x) => Number(x.toFixed(4))),
    [1, -2, 0.3333],
  );
  assert.equal(halfToFloat(0x7c00), Infinity);
});

test('a raw payload shorter than the shape needs is a named error', () => {
  const t = new Tensor('short', DataType.FLOAT, [4], { kind: 'raw', bytes: new Uint8Array(8) });
  assert.throws(
    () => t.toNumbers(),
    (e: unknown) => (e as { code?: string }).code === 'TENSOR_DATA_SIZE_MISMATCH',
  );
  assert.throws(
    () => t.toFloat32(),
    (e: unknown) => (e as { code?: string }).code === 'TENSOR_DATA_SIZE_MISMATCH',
  );
});
