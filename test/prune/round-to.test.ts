/** --round-to auto (the default) picks the kernel's channel block for the CPU / provider, recorded in the report; bad values are named errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompilerError, autoRoundTo, decideRoundTo, parseRoundTo, pruneModel, resolveRoundTo } from '../../src/index.js';
import { Net } from './graphs.js';

test('auto is 16 with AVX-512F, 8 with AVX2 or CUDA or unknown flags; numbers pass through', () => {
  assert.equal(autoRoundTo('flags\t: fpu sse2 avx2 avx512f avx512dq'), 16);
  assert.equal(autoRoundTo('flags\t: fpu sse2 avx avx2 fma'), 8);
  assert.equal(decideRoundTo('cpu', 'flags\t: fpu sse2 neon').value, 8);
  assert.equal(decideRoundTo('cuda', 'flags\t: avx512f').value, 8);
  assert.match(decideRoundTo('cpu', 'flags : avx512f').reason, /avx512f/);
  assert.equal(parseRoundTo('16'), 16);
  assert.equal(parseRoundTo(1), 1);
  assert.equal(parseRoundTo('auto'), 'auto');
  assert.equal(parseRoundTo(undefined), 'auto');
  assert.ok([8, 16].includes(resolveRoundTo('auto').value));
  assert.deepEqual(resolveRoundTo(4), { value: 4, reason: 'given' });
  for (const bad of ['0', '-8', '2.5', 'fast', '']) {
    assert.throws(
      () => parseRoundTo(bad),
      (e: unknown) => e instanceof CompilerError && e.code === 'INVALID_OPTION',
      bad,
    );
  }
});

function net() {
  const n = new Net(2);
  const h = n.cbr(n.input(3, 6), 3, 64, 3, { name: 'c1' });
  return n.head(n.cbr(h, 64, 64, 3, { name: 'c2' }), 64);
}

test('the default is auto, recorded as the explicit number; passing that number reproduces the run', () => {
  const a = pruneModel(net(), { ratio: 0.4, criterion: 'l1' });
  const auto = resolveRoundTo('auto');
  assert.equal(a.plan.roundTo, auto.value);
  assert.equal(a.report.options.roundTo, auto.value);
  assert.equal(a.report.options.roundToAuto, auto.reason);
  for (const g of a.plan.groups) assert.ok(g.kept === g.size || g.keptWidth % auto.value === 0);
  const b = pruneModel(net(), { ratio: 0.4, criterion: 'l1', roundTo: a.report.options.roundTo as number });
  assert.deepEqual(b.report.pruned, a.report.pruned);
  assert.equal(b.report.options.roundToAuto, undefined);
  // A CUDA target rounds to 8 on any CPU.
  assert.equal(pruneModel(net(), { ratio: 0.4, criterion: 'l1', provider: 'cuda' }).plan.roundTo, 8);
});
