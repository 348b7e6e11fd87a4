/** --round-to auto picks the NCHWc block of the CPU; bad values are named errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompilerError, autoRoundTo, parseRoundTo } from '../../src/index.js';

test('auto is 16 with AVX-512F, 8 without; numbers pass through', () => {
  assert.equal(autoRoundTo('flags\t: fpu sse2 avx2 avx512f avx512dq'), 16);
  assert.equal(autoRoundTo('flags\t: fpu sse2 avx avx2 fma'), 8);
  assert.equal(parseRoundTo('16'), 16);
  assert.equal(parseRoundTo(1), 1);
  assert.ok([8, 16].includes(parseRoundTo('auto')));
  for (const bad of ['0', '-8', '2.5', 'fast']) {
    assert.throws(() => parseRoundTo(bad), (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION', bad);
  }
});
