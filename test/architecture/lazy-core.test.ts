/**
 * The compiler core (src/core.ts, what passes/ and models/ import) does not load TensorFlow.js:
 * a command that only rewrites a graph starts without the trainer (0.2 s instead of 0.5 s for
 * `sculpt prune --help`). onnxruntime-node may load: it takes ~20 ms and judges every pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../helpers.js';

/** The packages in Node's CommonJS cache after importing `modules` (tfjs and onnxruntime-node are CommonJS). */
function packagesLoadedBy(modules: string[]): string[] {
  const urls = modules.map((m) => pathToFileURL(join(ROOT, 'dist', m)).href);
  const script = `
    for (const u of ${JSON.stringify(urls)}) await import(u);
    const { createRequire } = await import('node:module');
    const req = createRequire(import.meta.url);
    const names = new Set();
    for (const k of Object.keys(req.cache)) { const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(k); if (m) names.add(m[1]); }
    console.log(JSON.stringify([...names].sort()));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as string[];
}

const tfjs = (names: string[]) => names.filter((n) => n.startsWith('@tensorflow/'));

test('importing the core, every pass and every reference model does not load tfjs', () => {
  const loaded = packagesLoadedBy(['src/core.js', 'passes/index.js', 'models/index.js']);
  assert.ok(loaded.includes('protobufjs'), `the check sees CommonJS packages: ${loaded.join(', ')}`);
  assert.deepEqual(tfjs(loaded), []);
});

test('the check itself sees tfjs when the whole library is imported', () => {
  const loaded = tfjs(packagesLoadedBy(['src/index.js']));
  assert.ok(loaded.includes('@tensorflow/tfjs-core'), loaded.join(', '));
});
