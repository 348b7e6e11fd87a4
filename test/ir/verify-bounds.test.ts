/**
 * The verifier is linear in the readers of one value (issue 15.5: 40k readers took 38 s,
 * 100k never finished). Counted, not timed: the use-list entries the verifier copies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, Value, verifyModel } from '../../src/index.js';

test('verifying a value with 20k readers copies O(readers) use-list entries, not O(readers²)', () => {
  const k = 20_000;
  const b = GraphBuilder.newModel();
  const x = b.input('x', [1, 4]);
  const outs: Value[] = [];
  for (let i = 0; i < k; i++) outs.push(b.op('Relu', [x]));
  b.output(b.op('Sum', outs), 'y');
  const uses = Value.prototype.uses;
  let copied = 0;
  Value.prototype.uses = function (this: Value) {
    const u = uses.call(this);
    copied += u.length;
    return u;
  };
  try {
    verifyModel(b.model);
  } finally {
    Value.prototype.uses = uses;
  }
  assert.ok(copied <= 10 * k, `copied ${copied} use entries for ${k} readers`);
});
