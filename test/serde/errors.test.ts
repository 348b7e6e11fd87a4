/** Bad input gives a named error code, exit 1, no stack trace, and no output file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, GraphBuilder, Rng, decodeModel, encodeModel, readModel, saveModel } from '../../src/index.js';
import { cycleModel, externalModel, missingValueModel } from './fixtures.js';
import { runCli, tempDir } from '../helpers.js';

function goodModelBytes(): Uint8Array {
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 64]);
  const w = b.floats('w', [1, 64], new Rng(3).normalArray(64));
  b.output(b.op('Add', [x, w]), 'y');
  return encodeModel(b.model);
}

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof CompilerError && e.code === code, `expected ${code}`);
}

const dir = tempDir();

const cases: [string, () => Uint8Array, string][] = [
  ['truncated file', () => goodModelBytes().slice(0, 40), 'PROTOBUF_TRUNCATED'],
  [
    'random bytes',
    () =>
      new Rng(7)
        .uniformArray(64)
        .map((x) => Math.floor(x * 256))
        .reduce((u, v, i) => {
          u[i] = v;
          return u;
        }, new Uint8Array(64)),
    'PROTOBUF_INVALID',
  ],
  ['empty file', () => new Uint8Array(0), 'MODEL_EMPTY'],
  ['a cycle', cycleModel, 'GRAPH_CYCLE'],
  ['a node reading a missing value', missingValueModel, 'MISSING_VALUE'],
  ['external data with ..', () => externalModel('../outside.bin'), 'EXTERNAL_DATA_ESCAPES'],
  ['external data with an absolute path', () => externalModel('/etc/passwd'), 'EXTERNAL_DATA_ESCAPES'],
];

for (const [what, make, code] of cases) {
  test(`CLI: ${what} → ${code}, exit 1, no stack trace, no output`, () => {
    const input = join(dir, `${code.toLowerCase()}-${what.replace(/\W+/g, '_')}.onnx`);
    const output = `${input}.out.onnx`;
    const bytes = make();
    writeFileSync(input, bytes);
    const r = runCli(['transform', input, '-o', output]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`error ${code}`));
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
    assert.equal(existsSync(output), false, 'no output file');
    assert.deepEqual(new Uint8Array(readFileSync(input)), new Uint8Array(bytes), 'input untouched');
  });
}

test('external data: offset/length past the end of the file', () => {
  const d = tempDir();
  writeFileSync(join(d, 'w.bin'), new Uint8Array(8));
  writeFileSync(join(d, 'm.onnx'), externalModel('w.bin', 0, 16));
  expectCode(() => readModel(join(d, 'm.onnx')), 'EXTERNAL_DATA_OUT_OF_RANGE');
  writeFileSync(join(d, 'm2.onnx'), externalModel('w.bin', 4, 8));
  expectCode(() => readModel(join(d, 'm2.onnx')), 'EXTERNAL_DATA_OUT_OF_RANGE');
});

test('external data: missing file, and bytes without a folder', () => {
  const d = tempDir();
  writeFileSync(join(d, 'm.onnx'), externalModel('absent.bin'));
  expectCode(() => readModel(join(d, 'm.onnx')), 'EXTERNAL_DATA_MISSING');
  expectCode(() => decodeModel(externalModel('w.bin')), 'EXTERNAL_DATA_MISSING');
});

test('refuses to write over the input; names the code', () => {
  const d = tempDir();
  const p = join(d, 'm.onnx');
  writeFileSync(p, goodModelBytes());
  const before = readFileSync(p);
  expectCode(() => saveModel(readModel(p), p, { inputPath: p }), 'OUTPUT_IS_INPUT');
  assert.deepEqual(readFileSync(p), before);
  const r = runCli(['transform', p, '-o', p]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /OUTPUT_IS_INPUT/);
});

test('a missing file is a named error (exit 1); an unknown pass, flag or command a usage error (exit 2)', () => {
  const r1 = runCli(['transform', '/nonexistent/m.onnx', '-o', join(dir, 'x.onnx')]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /FILE_NOT_FOUND/);
  const p = join(dir, 'ok.onnx');
  writeFileSync(p, goodModelBytes());
  // An unknown pass is the command line's fault: a usage error that keeps its code.
  const r2 = runCli(['transform', p, '-o', join(dir, 'ok2.onnx'), '--passes', 'no-such-pass']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /UNKNOWN_PASS/);
  const r3 = runCli(['transform', p]);
  assert.equal(r3.code, 2, r3.stderr);
  const r4 = runCli(['no-such-command']);
  assert.equal(r4.code, 2);
});

test('every truncation of a model is a named error, never a crash or a silently smaller model', () => {
  const bytes = goodModelBytes();
  for (let cut = 1; cut < bytes.length; cut++) {
    try {
      const m = decodeModel(bytes.slice(0, cut));
      // A cut exactly at a top-level field boundary decodes; it must then lack what was cut.
      assert.ok(m.opsetImports.length === 0 || m.producerName === undefined, `cut at ${cut} decoded as a complete model`);
    } catch (e) {
      assert.ok(e instanceof CompilerError, `cut at ${cut}: ${String(e)}`);
      assert.ok(['PROTOBUF_TRUNCATED', 'PROTOBUF_INVALID'].includes(e.code), `cut at ${cut}: ${e.code}`);
    }
  }
});
