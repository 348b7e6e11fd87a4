/**
 * External data at the edges (issue 15.3, 15.6, 15.7): tensors past 2 GiB, offsets past
 * 4 GiB, hostile locations (FIFO, folder) and offsets ("abc", "0x10", ""), Constant-node
 * tensors externalised, and tensor dims or data that do not agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, statfsSync, writeFileSync, ftruncateSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { CompilerError, DataType, GraphBuilder, Rng, Tensor, readModel, runModel, saveModel } from '../../src/index.js';
import { encodeRaw, tinyModelProto } from './fixtures.js';
import { runCli, tempDir } from '../helpers.js';

const isCode = (code: string) => (e: unknown) => e instanceof CompilerError && e.code === code;

function extModel(location: string, offset: string | undefined, length: string | undefined, dims: number[] = [1, 4]): Uint8Array {
  const entries = [{ key: 'location', value: location }];
  if (offset !== undefined) entries.push({ key: 'offset', value: offset });
  if (length !== undefined) entries.push({ key: 'length', value: length });
  return encodeRaw(
    tinyModelProto([{ op_type: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }], {
      initializers: [{ name: 'w', data_type: 1, dims, data_location: 1, external_data: entries }],
    }),
  );
}

test('offsets and lengths that are not plain decimal integers: EXTERNAL_DATA_INVALID (CLI: exit 1, never INTERNAL)', () => {
  const d = tempDir();
  writeFileSync(join(d, 'w.bin'), new Uint8Array(64));
  const bad: [string | undefined, string | undefined][] = [
    ['abc', '16'],
    ['1.5', '16'],
    ['0x10', '16'],
    ['', '16'],
    ['-1', '16'],
    ['0', 'lots'],
    ['0', ''],
    ['0', '1e3'],
    ['99999999999999999999', '16'],
  ];
  for (const [off, len] of bad) {
    writeFileSync(join(d, 'm.onnx'), extModel('w.bin', off, len));
    assert.throws(() => readModel(join(d, 'm.onnx')), isCode('EXTERNAL_DATA_INVALID'), `offset ${off} length ${len}`);
  }
  const r = runCli(['inspect', join(d, 'm.onnx')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error EXTERNAL_DATA_INVALID/);
  assert.match(r.stderr, /hint:/);
  writeFileSync(join(d, 'ok.onnx'), extModel('w.bin', '16', '16'));
  assert.equal(readModel(join(d, 'ok.onnx')).graph.initializers[0]!.initializer!.toFloat32().length, 4);
});

test('a FIFO, a folder or an empty name as the data location: FILE_NOT_REGULAR / EXTERNAL_DATA_INVALID, no hang', () => {
  const d = tempDir();
  execFileSync('mkfifo', [join(d, 'fifo')]);
  mkdirSync(join(d, 'folder'));
  writeFileSync(join(d, 'a.onnx'), extModel('fifo', '0', '16'));
  assert.throws(() => readModel(join(d, 'a.onnx')), isCode('FILE_NOT_REGULAR'));
  writeFileSync(join(d, 'b.onnx'), extModel('folder', '0', '16'));
  assert.throws(() => readModel(join(d, 'b.onnx')), isCode('FILE_NOT_REGULAR'));
  writeFileSync(join(d, 'c.onnx'), extModel('', '0', '16'));
  assert.throws(() => readModel(join(d, 'c.onnx')), isCode('EXTERNAL_DATA_INVALID'));
  // The model itself as a FIFO or a folder.
  assert.throws(() => readModel(join(d, 'fifo')), isCode('FILE_NOT_REGULAR'));
  assert.throws(() => readModel(join(d, 'folder')), isCode('FILE_NOT_REGULAR'));
});

test('tensor dims negative or past 2^53, and data that does not fill the dims: named errors at read time', () => {
  const d = tempDir();
  const init = (o: object) =>
    encodeRaw(tinyModelProto([{ op_type: 'Add', input: ['x', 'w'], output: ['y'], name: 'add' }], { initializers: [{ name: 'w', data_type: 1, ...o }] }));
  const cases: [object, string][] = [
    [{ dims: [-5, 3, 3, 3], raw_data: new Uint8Array(108) }, 'TENSOR_DIMS_INVALID'],
    [{ dims: [2 ** 62, 3, 3, 3].map(String), raw_data: new Uint8Array(108) }, 'TENSOR_DIMS_INVALID'],
    [{ dims: [2 ** 30, 2 ** 30], raw_data: new Uint8Array(4) }, 'TENSOR_DIMS_INVALID'],
    [{ dims: [1, 4], raw_data: new Uint8Array(12) }, 'TENSOR_DATA_SIZE_MISMATCH'],
    [{ dims: [1, 4], raw_data: new Uint8Array(20) }, 'TENSOR_DATA_SIZE_MISMATCH'],
    [{ dims: [1, 4], float_data: [1, 2, 3] }, 'TENSOR_DATA_SIZE_MISMATCH'],
  ];
  for (const [o, code] of cases) {
    writeFileSync(join(d, 'm.onnx'), init(o));
    assert.throws(
      () => readModel(join(d, 'm.onnx')),
      isCode(code),
      JSON.stringify(o, (_k, v) => (v instanceof Uint8Array ? `${v.length} bytes` : v)),
    );
  }
  writeFileSync(join(d, 'm.onnx'), init({ dims: [1, 4], raw_data: new Uint8Array(12) }));
  const r = runCli(['transform', join(d, 'm.onnx'), '-o', join(d, 'out.onnx')]);
  assert.match(r.stderr, /error TENSOR_DATA_SIZE_MISMATCH/);
  assert.deepEqual(
    readdirSync(d).filter((n) => n.startsWith('out')),
    [],
  );
});

test('Constant-node tensors go to external data like initializers, and read back equal', async () => {
  const d = tempDir();
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 512]);
  const w = new Tensor('w', DataType.FLOAT, [512], { kind: 'raw', bytes: new Uint8Array(new Rng(1).normalArray(512).buffer) });
  const c = b.op('Constant', [], [{ name: 'value', v: { type: 4, value: w } }]);
  b.output(b.op('Add', [x, c]), 'y');
  const r = saveModel(b.model, join(d, 'm.onnx'), { externalData: 'always' });
  assert.ok(r.dataPath && r.dataBytes! >= 2048, "the Constant's 2 KB went to the data file");
  assert.ok(r.bytes < 1024, `the model file is small (${r.bytes} bytes)`);
  const back = readModel(join(d, 'm.onnx'));
  const node = back.graph.nodes.find((n) => n.opType === 'Constant')!;
  const t = node.attributes[0]!.v.value as Tensor;
  assert.ok(t.external, 'read from external data');
  assert.deepEqual(t.toFloat32(), w.toFloat32());
  const feeds = { x: { data: new Float32Array(512).fill(1), dims: [1, 512] } };
  assert.deepEqual((await runModel(back, feeds)).y!.data, (await runModel(b.model, feeds)).y!.data);
});

test("one tensor over Node's Buffer limit: TENSOR_TOO_LARGE (a sparse 5 GiB file, no disk used)", () => {
  const d = tempDir();
  const fd = openSync(join(d, 'big.bin'), 'w');
  ftruncateSync(fd, 5 * 2 ** 30);
  closeSync(fd);
  const n = 5 * 2 ** 30 - 4096;
  writeFileSync(join(d, 'm.onnx'), extModel('big.bin', '4096', String(n), [n / 4]));
  assert.throws(() => readModel(join(d, 'm.onnx')), isCode('TENSOR_TOO_LARGE'));
});

test('a model with more than 2 GiB of external data (one tensor over 2^31 bytes, one past offset 2^31) writes and reads back', (t) => {
  const d = tempDir();
  const need = 2 ** 31 + 2 ** 20;
  const free = statfsSync(d).bavail * statfsSync(d).bsize;
  if (free < 3 * need) {
    t.skip(`needs ${((3 * need) / 2 ** 30).toFixed(1)} GiB free disk in ${d}; ${(free / 2 ** 30).toFixed(1)} GiB free`);
    return;
  }
  if (freemem() < 3 * need) {
    t.skip(`needs ${((3 * need) / 2 ** 30).toFixed(1)} GiB free memory; ${(freemem() / 2 ** 30).toFixed(1)} GiB free`);
    return;
  }
  const bytes = Buffer.allocUnsafe(need);
  for (let i = 0; i < need; i += 4096) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
  const b = GraphBuilder.newModel();
  const big = b.initializer('big', new Tensor('big', DataType.UINT8, [need], { kind: 'raw', bytes }));
  const after = b.floats('after', [4], [1, 2, 3, 4]);
  const x = b.input('x', [4]);
  b.output(b.op('Add', [x, after]), 'y');
  b.output(b.op('Shape', [big]), 's');
  const t00 = Date.now();
  const r = saveModel(b.model, join(d, 'big.onnx'), { externalData: 'always', externalThreshold: 16 });
  assert.ok(r.dataBytes! > need);
  const t01 = Date.now();
  const back = readModel(join(d, 'big.onnx'));
  t.diagnostic(`write ${((t01 - t00) / 1000).toFixed(1)} s, read ${((Date.now() - t01) / 1000).toFixed(1)} s`);
  const t0 = back.graph.initializers.find((v) => v.name === 'big')!.initializer!;
  assert.ok(t0.data.kind === 'raw' && t0.data.bytes.byteLength === need);
  assert.equal(t0.data.kind === 'raw' && Buffer.compare(t0.data.bytes as Buffer, bytes), 0);
  const t1 = back.graph.initializers.find((v) => v.name === 'after')!.initializer!;
  assert.ok(Number(t1.external!.offset) >= 2 ** 31, 'the second tensor lies past 2 GiB');
  assert.deepEqual(Array.from(t1.toFloat32()), [1, 2, 3, 4]);
});
