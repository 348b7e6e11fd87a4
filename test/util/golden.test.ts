/** The golden harness fails on a missing golden (it used to write it and pass) unless UPDATE_GOLDEN=1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkGolden } from '../golden.js';
import { tempDir } from '../helpers.js';

test('a missing golden fails and writes nothing; UPDATE_GOLDEN=1 writes it, then it compares', () => {
  const root = tempDir('sculpt-golden-');
  const texts = { input: 'in\n', expected: 'out\n', stats: '{}\n' };
  const saved = process.env.UPDATE_GOLDEN;
  try {
    delete process.env.UPDATE_GOLDEN;
    assert.throws(() => checkGolden('p', 'c', texts, root), /missing: run with UPDATE_GOLDEN=1/);
    assert.ok(!existsSync(join(root, 'p', 'c')));
    process.env.UPDATE_GOLDEN = '1';
    checkGolden('p', 'c', texts, root);
    delete process.env.UPDATE_GOLDEN;
    checkGolden('p', 'c', texts, root);
    assert.throws(() => checkGolden('p', 'c', { ...texts, expected: 'changed\n' }, root), /p\/c\/expected.txt/);
  } finally {
    if (saved === undefined) delete process.env.UPDATE_GOLDEN;
    else process.env.UPDATE_GOLDEN = saved;
  }
});
