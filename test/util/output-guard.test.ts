/**
 * The output guard (src/util/output-guard.ts) on the cases of issue 15.2: no command writes
 * over an input (a model, its external data, a teacher, a mask), two outputs of one run never
 * share a path, special files and folders are refused, and a report that cannot be written
 * leaves no pruned model behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompilerError, guardOutputs, saveModel } from '../../src/index.js';
import { runCli, tempDir } from '../helpers.js';
import { seededPairModel } from './pair-model.js';

const dir = tempDir('sculpt-guard-');
const model = join(dir, 'm.onnx');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const code = (r: { stderr: string }) => /error ([A-Z_]+)/.exec(r.stderr)?.[1];

test('setup: an MLP, and a copy with external data', () => {
  assert.equal(runCli(['models', 'build', 'mlp', '-o', model, '--seed', '1']).code, 0);
  const r = runCli(['transform', model, '-o', join(dir, 'ext.onnx'), '--external-data', 'always']);
  assert.equal(r.code, 0, r.stderr);
});

test("transform -o <the input's external data file> is refused; the data is untouched", () => {
  const data = readdirSync(dir).find((n) => n.startsWith('ext.onnx.') && n.endsWith('.data'))!;
  const before = sha(join(dir, data));
  const r = runCli(['transform', join(dir, 'ext.onnx'), '-o', join(dir, data)]);
  assert.equal(r.code, 1);
  assert.equal(code(r), 'OUTPUT_IS_INPUT', r.stderr);
  assert.equal(sha(join(dir, data)), before);
  const d = runCli(['diff', model, join(dir, 'ext.onnx'), '-o', join(dir, data)]);
  assert.equal(code(d), 'OUTPUT_IS_INPUT', d.stderr);
  assert.equal(sha(join(dir, data)), before);
});

test('train -o teacher.onnx --teacher teacher.onnx is refused before any data is read', () => {
  const teacher = join(dir, 'teacher.onnx');
  writeFileSync(teacher, readFileSync(model));
  const before = sha(teacher);
  const r = runCli(['train', model, '-o', teacher, '--teacher', teacher, '--data', 'npy:/nonexistent/x.npy,/nonexistent/y.npy', '--loss', 'kd']);
  assert.equal(code(r), 'OUTPUT_IS_INPUT', r.stderr);
  assert.equal(sha(teacher), before);
});

test('prune -o mask.json --mask mask.json, and -o p.onnx --report p.onnx, are refused', () => {
  const mask = join(dir, 'mask.json');
  writeFileSync(mask, '{"keep":{}}');
  const r = runCli(['prune', model, '-o', mask, '--mask', mask]);
  assert.equal(code(r), 'OUTPUT_IS_INPUT', r.stderr);
  assert.equal(readFileSync(mask, 'utf8'), '{"keep":{}}');
  const p = join(dir, 'p.onnx');
  const r2 = runCli(['prune', model, '-o', p, '--report', p, '--ratio', '0.5']);
  assert.equal(code(r2), 'OUTPUTS_COLLIDE', r2.stderr);
  assert.equal(existsSync(p), false);
});

test('a FIFO, a directory or an empty path as output: named errors, nothing written beside them', () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const r = runCli(['transform', model, '-o', fifo]);
  assert.equal(code(r), 'OUTPUT_NOT_REGULAR', r.stderr);
  assert.ok(statSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  const sub = join(dir, 'existing_dir');
  mkdirSync(sub);
  const r2 = runCli(['transform', model, '-o', sub, '--external-data', 'always']);
  assert.equal(code(r2), 'OUTPUT_NOT_REGULAR', r2.stderr);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('existing_dir')),
    ['existing_dir'],
  );
  assert.throws(
    () => saveModel(seededPairModel(1), ''),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUT_PATH_INVALID',
  );
  assert.throws(
    () => saveModel(seededPairModel(1), '/dev/null'),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUT_NOT_REGULAR',
  );
});

test('a --report that cannot be written leaves no pruned model', () => {
  const p = join(dir, 'pruned.onnx');
  const report = join(dir, `${'r'.repeat(245)}.json`); // the temp beside it passes NAME_MAX
  const r = runCli(['prune', model, '-o', p, '--ratio', '0.5', '--report', report]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(code(r), 'FILE_WRITE_FAILED', r.stderr);
  assert.equal(existsSync(p), false, 'no model without its report');
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('.tmp-')),
    [],
  );
});

test('guardOutputs: links and ./ spellings are the same file; a model output owns its lock and data names', () => {
  const a = join(dir, 'a.bin');
  writeFileSync(a, 'x');
  const rel = (p: string) => p.replace(dir, `${dir}/./`);
  assert.throws(
    () => guardOutputs({ inputs: [{ path: a }], outputs: [{ path: rel(a) }] }),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUT_IS_INPUT',
  );
  assert.throws(
    () => guardOutputs({ inputs: [], outputs: [{ path: join(dir, 'o.onnx'), kind: 'model' }, { path: join(dir, 'o.onnx.lock') }] }),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUTS_COLLIDE',
  );
  writeFileSync(join(dir, 'o.onnx.0123456789abcdef.data'), 'x');
  assert.throws(
    () => guardOutputs({ inputs: [{ path: join(dir, 'o.onnx.0123456789abcdef.data') }], outputs: [{ path: join(dir, 'o.onnx'), kind: 'model' }] }),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUT_IS_INPUT',
  );
  // --overwrite lets a model replace the input model, never another input.
  guardOutputs({ inputs: [{ path: model, kind: 'model' }], outputs: [{ path: model, kind: 'model' }], overwrite: true });
  assert.throws(
    () => guardOutputs({ inputs: [{ path: a }], outputs: [{ path: a, kind: 'model' }], overwrite: true }),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUT_IS_INPUT',
  );
});
