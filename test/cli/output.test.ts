/** What the progress bars print for a training loss. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossText } from '../../src/cli/output.js';

test("a loss with an L1 penalty shows the penalty's part; without one, or unknown, the loss alone", () => {
  assert.equal(lossText({ loss: 2881.94172, penalty: 2879.6401 }), '2881.9417 (L1 2879.6401)');
  assert.equal(lossText({ loss: 0.5 }), '0.5000');
  assert.equal(lossText({ loss: 0.5, penalty: NaN }), '0.5000');
  assert.equal(lossText({ loss: NaN, penalty: 1 }), '-');
});
