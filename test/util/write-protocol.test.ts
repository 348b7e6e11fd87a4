/**
 * The write protocol (src/util/write-protocol.ts): a model and its external data are
 * replaced together or not at all, under failures and kills at every step and under
 * concurrent writers; temps, locks and orphans do not pile up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CompilerError, saveModel } from '../../src/index.js';
import { OutputLock, StagedFiles, setWriteFaultHook } from '../../src/util/write-protocol.js';
import type { WriteStep } from '../../src/util/write-protocol.js';
import { ROOT, tempDir } from '../helpers.js';
import { readPairSeed, seededPairModel } from './pair-model.js';

const CHILD = join(ROOT, 'dist/test/util/writer-child.js');
const STEPS: WriteStep[] = ['data-written', 'data-renamed', 'model-written', 'model-renamed', 'old-data-removed'];
/** Steps at or after which the new pair is in place. */
const COMMITTED = new Set<WriteStep>(['model-renamed', 'old-data-removed']);

function files(d: string): string[] {
  return readdirSync(d).sort();
}

function assertClean(d: string): void {
  const names = files(d);
  assert.deepEqual(
    names.filter((n) => /\.tmp-|\.lock|\.stale-/.test(n)),
    [],
    `no temps or locks left: ${names.join(', ')}`,
  );
  assert.equal(names.filter((n) => n.endsWith('.data')).length, 1, `exactly one data file: ${names.join(', ')}`);
}

test('a failure at any step of a save leaves the old pair (or the whole new one), and nothing else', () => {
  for (const s of STEPS) {
    const d = tempDir();
    const out = join(d, 'm.onnx');
    saveModel(seededPairModel(1), out, { externalData: 'always' });
    setWriteFaultHook((at) => {
      if (at === s) throw new Error(`injected at ${at}`);
    });
    try {
      assert.throws(() => saveModel(seededPairModel(2), out, { externalData: 'always' }), /injected/);
    } finally {
      setWriteFaultHook(undefined);
    }
    assert.equal(readPairSeed(out), COMMITTED.has(s) ? 2 : 1, `after a failure at ${s}`);
    const names = files(d);
    assert.deepEqual(
      names.filter((n) => /\.tmp-|\.lock/.test(n)),
      [],
      `${s}: no temps or locks: ${names}`,
    );
    if (!COMMITTED.has(s)) assert.equal(names.filter((n) => n.endsWith('.data')).length, 1, `${s}: the new data file is removed: ${names}`);
    // The next save tidies whatever the failure left.
    saveModel(seededPairModel(3), out, { externalData: 'always' });
    assert.equal(readPairSeed(out), 3);
    assertClean(d);
  }
});

test('a kill -9 at any step of a save leaves a consistent pair; the next save removes the leftovers', () => {
  for (const s of ['temp-written', ...STEPS] as WriteStep[]) {
    const d = tempDir();
    const out = join(d, 'm.onnx');
    saveModel(seededPairModel(1), out, { externalData: 'always' });
    const r = spawnSync(process.execPath, [CHILD, out, '2', 'kill', s], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, 'SIGKILL', `child died at ${s}: ${r.stderr}`);
    const seed = readPairSeed(out);
    assert.equal(seed, COMMITTED.has(s) ? 2 : 1, `after a kill at ${s}`);
    assert.ok(existsSync(`${out}.lock`), 'the killed writer held the lock');
    saveModel(seededPairModel(3), out, { externalData: 'always' });
    assert.equal(readPairSeed(out), 3);
    assertClean(d);
  }
});

test('two writers racing on one output take turns: the result is always a whole pair', async () => {
  const d = tempDir();
  const out = join(d, 'm.onnx');
  const run = (seed: number) =>
    new Promise<number>((res) => {
      const c = spawn(process.execPath, [CHILD, out, String(seed), 'loop', '12'], { stdio: ['ignore', 'ignore', 'inherit'] });
      c.on('exit', (code) => res(code ?? -1));
    });
  const codes = await Promise.all([run(10), run(20)]);
  assert.deepEqual(codes, [0, 0]);
  assert.ok([10, 20, 1010, 1020].includes(readPairSeed(out)));
  assertClean(d);
});

test('a stale lock (its process is gone) is taken over; a live one makes the writer wait, then OUTPUT_LOCKED', () => {
  const d = tempDir();
  const out = join(d, 'm.onnx');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(`${out}.lock`, JSON.stringify({ token: 'x', pid: Number(dead.stdout), host: hostname() }));
  saveModel(seededPairModel(1), out, { externalData: 'always' });
  assert.equal(readPairSeed(out), 1);
  assertClean(d);

  writeFileSync(`${out}.lock`, JSON.stringify({ token: 'someone-else', pid: process.ppid, host: hostname() }));
  const t0 = Date.now();
  assert.throws(
    () => OutputLock.acquire(out, { timeoutMs: 300 }),
    (e: unknown) => e instanceof CompilerError && e.code === 'OUTPUT_LOCKED' && !!e.hint,
  );
  assert.ok(Date.now() - t0 >= 300, 'waited for the lock');
  assert.equal(readPairSeed(out), 1, 'nothing replaced');
});

test('SIGINT while a temp file is pending removes it and ends the process by the signal', async () => {
  const d = tempDir();
  const target = join(d, 'report.json');
  const c = spawn(process.execPath, [CHILD, target, '0', 'hold-temp'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => c.stdout!.once('data', () => res()));
  assert.equal(files(d).filter((n) => n.includes('.tmp-')).length, 1, 'the temp exists while pending');
  const exited = new Promise<NodeJS.Signals | null>((res) => c.on('exit', (_code, sig) => res(sig)));
  c.kill('SIGINT');
  assert.equal(await exited, 'SIGINT');
  assert.deepEqual(files(d), [], 'the temp is gone');
});

test('staged files are all renamed into place on commit, none on abort', () => {
  const d = tempDir();
  const s = new StagedFiles();
  s.stage(join(d, 'a.json'), '{}');
  s.stage(join(d, 'b.json'), '[]');
  assert.deepEqual(
    files(d).filter((n) => !n.includes('.tmp-')),
    [],
  );
  s.abort();
  assert.deepEqual(files(d), []);
  const t = new StagedFiles();
  t.stage(join(d, 'a.json'), '{}');
  t.commit();
  assert.deepEqual(files(d), ['a.json']);
});

test('external data asked for but no tensor big enough: one file, no empty .data', () => {
  const d = tempDir();
  const r = saveModel(seededPairModel(1), join(d, 'm.onnx'), { externalData: 'always', externalThreshold: 1 << 30 });
  assert.equal(r.dataPath, undefined);
  assert.deepEqual(files(d), ['m.onnx']);
  assert.equal(readPairSeed(join(d, 'm.onnx')), 1);
});

test('saving over a pair with a single-file model removes the old data file', () => {
  const d = tempDir();
  saveModel(seededPairModel(1), join(d, 'm.onnx'), { externalData: 'always' });
  saveModel(seededPairModel(2), join(d, 'm.onnx'), { externalData: 'never' });
  assert.deepEqual(files(d), ['m.onnx']);
  assert.equal(readPairSeed(join(d, 'm.onnx')), 2);
});
