/** `--input-shape` parsing and resolution, shared by every command that counts cost. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompilerError, GraphBuilder } from '../../src/index.js';
import { inputShapesFromSample, parseInputShapeSpec, resolveInputShapeSpec } from '../../src/cli/options/input-shape.js';

const code = (c: string) => (e: unknown) => e instanceof CompilerError && e.code === c;

describe('--input-shape', () => {
  it('parses a bare shape, named shapes, and rejects malformed values', () => {
    assert.deepEqual(parseInputShapeSpec(['1,3,48,192']), { named: {}, bare: [1, 3, 48, 192] });
    assert.deepEqual(parseInputShapeSpec(['x:1,3,8,8', 'mask:1,8,8']), { named: { x: [1, 3, 8, 8], mask: [1, 8, 8] } });
    assert.deepEqual(parseInputShapeSpec(['a:b:2,2']).named, { 'a:b': [2, 2] }, 'the last colon splits name and dims');
    assert.deepEqual(parseInputShapeSpec(undefined), { named: {} });
    for (const bad of [['1,3,a'], ['1,0,3'], ['x:'], [':1,2'], ['1,2', '3,4'], ['x:1', 'x:2'], ['1,-3']]) {
      assert.throws(() => parseInputShapeSpec(bad), code('INVALID_OPTION'), bad.join(' '));
    }
  });

  it('a bare shape goes to the only input; with several inputs it must be named', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    const x = b.input('x', ['N', 3]);
    assert.deepEqual(resolveInputShapeSpec(parseInputShapeSpec(['2,3']), b.model), { x: [2, 3] });
    b.output(b.op('Add', [x, b.input('y', ['N', 3])]));
    assert.throws(() => resolveInputShapeSpec(parseInputShapeSpec(['2,3']), b.model), code('INVALID_OPTION'));
    assert.deepEqual(resolveInputShapeSpec(parseInputShapeSpec(['x:2,3', 'y:2,3']), b.model), { x: [2, 3], y: [2, 3] });
    assert.throws(() => resolveInputShapeSpec(parseInputShapeSpec(['x:2,4']), b.model), code('INPUT_SHAPE_MISMATCH'));
  });

  it('a data sample sizes the symbolic dims of the input (batch 1)', () => {
    const b = GraphBuilder.newModel({ opset: 17 });
    b.input('x', ['N', 1, 'H', 'W']);
    assert.deepEqual(inputShapesFromSample(b.model, [1, 28, 28]), { x: [1, 1, 28, 28] });
    assert.deepEqual(inputShapesFromSample(b.model, [3, 28, 28]), {}, 'a misfit gives nothing (the loader reports it)');
    assert.deepEqual(inputShapesFromSample(b.model, [784]), {});
  });
});
