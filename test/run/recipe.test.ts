/** Recipe schema: every error names the field it is about; defaults and paths resolve. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRecipe, validateRecipe } from '../../src/run/recipe.js';
import { optionArgs } from '../../src/run/runner.js';
import { CompilerError } from '../../src/errors.js';
import { tempDir } from '../helpers.js';

function fieldError(doc: unknown): string {
  try {
    validateRecipe(doc, '/base');
  } catch (e) {
    assert.ok(e instanceof CompilerError);
    assert.equal(e.code, 'RECIPE_INVALID');
    return e.message;
  }
  assert.fail('no error');
}

const ok = { model: 'm.onnx', data: 'mnist', steps: [{ prune: { 'flops-target': 0.5 } }] };

test('a valid recipe resolves paths against its folder and names its steps', () => {
  const r = validateRecipe({ ...ok, data: 'npy:x.npy,y.npy', steps: [{ prune: { ratio: 0.5 } }, { validate: {}, name: 'gate' }] }, '/base');
  assert.equal(r.model, '/base/m.onnx');
  assert.equal(r.data, 'npy:/base/x.npy,/base/y.npy');
  assert.deepEqual(
    r.steps.map((s) => s.name),
    ['01-prune', '02-gate'],
  );
  assert.deepEqual(r.inputShape, []);
});

test('schema errors name the field', () => {
  assert.match(fieldError({ ...ok, modle: 'x' }), /^modle: unknown field/);
  assert.match(fieldError({ ...ok, model: 3 }), /^model: /);
  assert.match(fieldError({ ...ok, model: { builtin: 'lenet5', seed: -1 } }), /^model\.seed: /);
  assert.match(fieldError({ ...ok, model: { builtin: 'lenet5', train: { epochs: 1 } }, data: undefined }), /^model\.train: .*data/);
  assert.match(fieldError({ ...ok, steps: [] }), /^steps: /);
  assert.match(fieldError({ ...ok, steps: [{ prune: {}, train: {} }] }), /^steps\[0\]: must name exactly one command/);
  assert.match(fieldError({ ...ok, steps: [{ prune: {} }, { compress: {} }] }), /^steps\[1\]\.compress: is not a command/);
  assert.match(fieldError({ ...ok, steps: [{ prune: { output: 'x.onnx' } }] }), /^steps\[0\]\.prune\.output: is set by the runner/);
  assert.match(fieldError({ ...ok, steps: [{ prune: { ratio: { a: 1 } } }] }), /^steps\[0\]\.prune\.ratio: must be/);
  assert.match(fieldError({ ...ok, steps: [{ prune: { '--ratio': 0.5 } }] }), /^steps\[0\]\.prune\.--ratio: write option names without/);
  assert.match(fieldError({ ...ok, version: 2 }), /^version: /);
  assert.match(fieldError({ ...ok, inputShape: { a: 1 } }), /^inputShape: /);
  assert.match(fieldError({ ...ok, steps: [{ prune: {}, name: 'a b' }] }), /^steps\[0\]\.name: /);
});

test('YAML and JSON recipes read the same; a syntax error is RECIPE_INVALID', () => {
  const d = tempDir();
  writeFileSync(join(d, 'r.yaml'), 'model: m.onnx\ndata: mnist\ninputShape: [1, 1, 28, 28]\nsteps:\n  - prune: { flops-target: 0.5, verify: true }\n');
  writeFileSync(
    join(d, 'r.json'),
    JSON.stringify({ model: 'm.onnx', data: 'mnist', inputShape: [1, 1, 28, 28], steps: [{ prune: { 'flops-target': 0.5, verify: true } }] }),
  );
  const y = readRecipe(join(d, 'r.yaml'));
  const j = readRecipe(join(d, 'r.json'));
  assert.deepEqual(y, j);
  assert.deepEqual(y.inputShape, ['1,1,28,28']);
  writeFileSync(join(d, 'bad.yaml'), 'steps: [ {');
  assert.throws(
    () => readRecipe(join(d, 'bad.yaml')),
    (e: CompilerError) => e.code === 'RECIPE_INVALID',
  );
});

test('options become the command line: flags, --no- forms, repeated lists, substitutions', () => {
  const argv = optionArgs({ 'flops-target': 0.5, verify: true, untie: false, 'input-shape': ['a:1,3', 'b:2'], teacher: '$original', T: 2 }, (s) =>
    s === '$original' ? '/o.onnx' : s,
  );
  assert.deepEqual(argv, [
    '--flops-target',
    '0.5',
    '--verify',
    '--no-untie',
    '--input-shape',
    'a:1,3',
    '--input-shape',
    'b:2',
    '--teacher',
    '/o.onnx',
    '-T',
    '2',
  ]);
});
