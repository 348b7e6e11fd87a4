/**
 * Start-up stays fast because commands load lazily: `--version`, `--help` and `inspect`
 * never load TensorFlow.js or onnxruntime (their load time is most of a slow start-up).
 * Checked by the modules loaded, not by a timing (timings live in benchmarks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, tempDir } from '../helpers.js';
import { commands } from '../../src/cli/commands/index.js';

const dir = tempDir('sculpt-startup-');
const probe = join(dir, 'probe.cjs');
writeFileSync(probe, `process.on('exit', () => { require('fs').writeFileSync(process.env.SCULPT_PROBE_OUT, Object.keys(require.cache).join('\\n')); });\n`);

function loadedBy(args: string[]): string[] {
  const out = join(dir, `loaded-${args.join('_').replace(/[^a-z0-9_-]/gi, '')}.txt`);
  const r = spawnSync(process.execPath, ['-r', probe, CLI, ...args], { env: { ...process.env, SCULPT_PROBE_OUT: out }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out, 'utf8').split('\n');
}

test('--version, --help and inspect load neither TensorFlow.js nor onnxruntime', () => {
  const model = join(dir, 'mlp.onnx');
  assert.equal(spawnSync(process.execPath, [CLI, 'models', 'build', 'mlp', '-o', model]).status, 0);
  for (const args of [['--version'], ['--help'], ['inspect', model]]) {
    const heavy = loadedBy(args).filter((p) => /@tensorflow|onnxruntime-node/.test(p));
    assert.deepEqual(heavy, [], args.join(' '));
  }
  // The probe sees a command that does load them (so an empty list above means something).
  assert.ok(loadedBy(['validate', '--help']).some((p) => /onnxruntime-node/.test(p)));
});

test("every command's --help starts without TensorFlow.js (the trainer loads when a command trains)", () => {
  for (const c of commands) {
    const tf = loadedBy([...c.name.split(' '), '--help']).filter((p) => /@tensorflow/.test(p));
    assert.deepEqual(tf, [], `sculpt ${c.name} --help`);
  }
});

test('the command table names and describes each command as its module does', async () => {
  for (const c of commands) {
    const m = await c.load();
    assert.equal(m.command, c.command, c.name);
    assert.equal(m.describe, c.describe, c.name);
    assert.equal(String(m.command).split(' ')[0], c.name);
  }
});
