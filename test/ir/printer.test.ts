/** The printer is stable: golden text, and the same after a serialize/parse round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, Rng, attrInts, decodeModel, encodeModel, printModel } from '../../src/index.js';

test('printed IR is golden-stable and survives a round trip', () => {
  const b = GraphBuilder.newModel();
  const x = b.input('input', ['N', 3, 8, 8]);
  const w = b.floats('w', [4, 3, 3, 3], new Rng(1).normalArray(108));
  const c = b.op('Conv', [x, w], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])], 'conv1');
  b.output(b.op('Relu', [c], [], 'relu1'), 'y');
  const text = printModel(b.model);
  assert.equal(
    text,
    [
      'model ir=8 opsets=[ai.onnx:17]',
      'graph main (%input: float[N,3,8,8]) -> (%y: float)',
      '  init %w: float[4,3,3,3]',
      '  %conv1_out = Conv(%input, %w) {kernel_shape=[3,3], pads=[1,1,1,1]}  # conv1',
      '  %y = Relu(%conv1_out)  # relu1',
      '',
    ].join('\n'),
  );
  assert.equal(printModel(decodeModel(encodeModel(b.model))), text);
});
