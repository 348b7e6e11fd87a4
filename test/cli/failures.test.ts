/**
 * Every failure a code and a hint (issue 15.6): a full stdout ends with exit 1 and one line,
 * no stack; file-system and memory errors that escape a module get their own codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { asCompilerError, formatError } from '../../src/index.js';
import { spawnSync } from 'node:child_process';
import { CLI } from '../helpers.js';

test('stdout to a full device (/dev/full): exit 1, one line on stderr, no stack trace', (t) => {
  if (!existsSync('/dev/full')) {
    t.skip('this system has no /dev/full');
    return;
  }
  for (const args of [['models', 'list'], ['models', 'list', '--json'], ['passes']]) {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" ${args.join(' ')} > /dev/full`], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.match(r.stderr, /^error FILE_WRITE_FAILED: cannot write to stdout/);
  }
});

test('file-system and memory errors become FILE_* and RESOURCE_EXHAUSTED with hints; the rest INTERNAL with a hint', () => {
  const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open', path: '/x' });
  assert.equal(asCompilerError(enoent).code, 'FILE_NOT_FOUND');
  const enospc = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC', syscall: 'write' });
  assert.equal(asCompilerError(enospc).code, 'FILE_WRITE_FAILED');
  const eloop = Object.assign(new Error('ELOOP'), { code: 'ELOOP', syscall: 'stat', path: '/l' });
  assert.match(formatError(eloop), /^error FILE_READ_FAILED at \/l: ELOOP\n {2}hint: .*link/);
  let oom: unknown;
  try {
    new Float32Array(2 ** 40);
  } catch (e) {
    oom = e;
  }
  assert.equal(asCompilerError(oom).code, 'RESOURCE_EXHAUSTED');
  const bug = asCompilerError(new TypeError('x is undefined'));
  assert.equal(bug.code, 'INTERNAL');
  assert.ok(bug.hint);
});
