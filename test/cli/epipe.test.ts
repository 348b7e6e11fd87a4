/** Regression: `sculpt diff a b | head` must not crash with an unhandled EPIPE. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { saveModel } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { CLI, tempDir } from '../helpers.js';

test('closing stdout early ends the command quietly', async () => {
  const p = join(tempDir(), 'r.onnx');
  saveModel(buildModel('resnet50', { seed: 1 }), p); // its HTML diff (~85 KB) overflows a 64 KB pipe
  const child = spawn(process.execPath, [CLI, 'diff', p, p, '--format', 'html'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  await new Promise<void>((resolve) =>
    child.stdout.once('data', () => {
      child.stdout.destroy();
      resolve();
    }),
  );
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
});
