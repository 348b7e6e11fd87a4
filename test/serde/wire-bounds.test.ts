/**
 * Wire-format bounds (issue 15.7): a length varint of 2^32 or more, a varint longer than
 * 64 bits and a length past the end of the buffer are rejected, not read modulo 2^32;
 * negative int32 values (ten-byte varints) still read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompilerError, DataType, decodeModel } from '../../src/index.js';
import { encodeRaw, tinyModelProto } from './fixtures.js';

const isCode =
  (...codes: string[]) =>
  (e: unknown) =>
    e instanceof CompilerError && codes.includes(e.code);

function varint(x: bigint): number[] {
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

const valid = () => Buffer.from(encodeRaw(tinyModelProto([{ op_type: 'Relu', input: ['x'], output: ['y'], name: 'r' }])));

test('a graph length of 2^32 + n is rejected, not read as n', () => {
  const good = valid();
  // Re-frame the model: ir_version, then field 7 (graph) whose length says 2^32 + its real length.
  const m = decodeModel(good);
  assert.equal(m.graph.nodes.length, 1);
  const graphStart = good.indexOf(0x3a); // tag of field 7, wire type 2
  let pos = graphStart + 1;
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    const b = good[pos++]!;
    len += (b & 0x7f) << shift;
    if (b < 128) break;
  }
  const body = good.subarray(pos, pos + len);
  const bad = Buffer.concat([good.subarray(0, graphStart), Buffer.from([0x3a, ...varint(2n ** 32n + BigInt(len))]), body, good.subarray(pos + len)]);
  assert.throws(() => decodeModel(bad), isCode('PROTOBUF_INVALID', 'PROTOBUF_TRUNCATED'));
});

test('a varint longer than ten bytes, and a length past the end: PROTOBUF_* errors', () => {
  const long = Buffer.from([0x08, ...Array(11).fill(0x80), 0x01]); // ir_version with 12 bytes
  assert.throws(() => decodeModel(long), isCode('PROTOBUF_INVALID', 'PROTOBUF_TRUNCATED'));
  const longTag = Buffer.from([...Array(10).fill(0xff), 0x01, 0x00]);
  assert.throws(() => decodeModel(longTag), isCode('PROTOBUF_INVALID', 'PROTOBUF_TRUNCATED'));
  const past = Buffer.concat([valid(), Buffer.from([0x3a, ...varint(1000n), 0x0a])]);
  assert.throws(() => decodeModel(past), isCode('PROTOBUF_TRUNCATED', 'PROTOBUF_INVALID'));
});

test('negative int32 values (ten-byte varints) still read', () => {
  const bytes = encodeRaw(
    tinyModelProto([{ op_type: 'Add', input: ['x', 'w'], output: ['y'], name: 'a' }], {
      initializers: [{ name: 'w', data_type: DataType.INT8, dims: [4], int32_data: [-1, -128, 5, -7] }],
    }),
  );
  const m = decodeModel(bytes);
  const t = m.graph.initializers[0]!.initializer!;
  assert.ok(t.data.kind === 'typed');
  assert.deepEqual(t.data.kind === 'typed' && t.data.values, [-1, -128, 5, -7]);
});
