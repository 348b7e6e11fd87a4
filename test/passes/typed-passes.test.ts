/** Every registered pass is a typed definition: options in, a typed report out (no options bag). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPass } from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { insertBetaPass } from '../../passes/insert-beta.js';
import { stripBetaPass } from '../../passes/strip-beta.js';
import { exposeMasksPass } from '../../passes/expose-masks.js';
import { exposeOutputsPass } from '../../passes/expose-outputs.js';
import { inferShapesPass } from '../../passes/infer-shapes.js';
import { passDefinition, passNames } from '../../passes/index.js';

test('insert-beta, strip-beta, expose-masks, expose-outputs, infer-shapes return typed reports', () => {
  const m = buildModel('resnet20', { seed: 1 });
  const ins = runPass(m, insertBetaPass({ init: 1 })).report!;
  assert.ok(ins.records.length > 0);
  const strip = runPass(m, stripBetaPass()).report!;
  assert.equal(strip.betas, ins.records.length);

  const m2 = buildModel('resnet20', { seed: 1 });
  const masks = runPass(m2, exposeMasksPass({ prefix: 'keep' })).report!;
  assert.ok(masks.length > 0);
  assert.ok(m2.graph.inputs.some((v) => v.name.startsWith('keep_g')));
  const before = m2.graph.outputs.length;
  const outs = runPass(m2, exposeOutputsPass({ outputs: ['logits'] })).report!;
  assert.deepEqual(outs, ['logits']); // reported; already an output, so nothing is added
  assert.equal(m2.graph.outputs.length, before);

  const m3 = buildModel('resnet20', { seed: 1 });
  const written = runPass(m3, inferShapesPass({ scope: 'interface' })).report!;
  assert.equal(typeof written.valuesWritten, 'number');
});

test('no registered pass is an old-style options-bag factory any more', () => {
  for (const name of passNames()) assert.notEqual(passDefinition(name)?.acceptsAnyOption, true, name);
});
