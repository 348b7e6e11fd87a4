/** Haar transform and the four fitness summaries against hand-computed values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosine, fitnessOf, haar2d, summarize } from '../../src/index.js';

test('haar2d: the four bands of a 4x4 plane, computed by hand', () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const b = haar2d(x, 4, 4);
  assert.deepEqual([b.h, b.w], [2, 2]);
  // Block [1 2; 5 6]: LL = 14/2, LH = (1+2-5-6)/2, HL = (1-2+5-6)/2, HH = (1-2-5+6)/2.
  assert.deepEqual([...b.ll], [7, 11, 23, 27]);
  assert.deepEqual([...b.lh], [-4, -4, -4, -4]);
  assert.deepEqual([...b.hl], [-1, -1, -1, -1]);
  assert.deepEqual([...b.hh], [0, 0, 0, 0]);
  const d = haar2d([1, 0, 0, 1], 2, 2);
  assert.deepEqual([d.ll[0], d.lh[0], d.hl[0], d.hh[0]], [1, 0, 0, 1]);
  // Orthonormal: energy is kept.
  const e = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v * v, 0);
  assert.equal(e(b.ll) + e(b.lh) + e(b.hl) + e(b.hh), e(x));
});

test('haar2d: an odd last row and column are left out; a 1-wide plane is an error', () => {
  const b = haar2d([1, 2, 9, 3, 4, 9, 9, 9, 9], 3, 3);
  assert.deepEqual([b.h, b.w, b.ll[0], b.hh[0]], [1, 1, 5, 0]);
  assert.throws(
    () => haar2d([1, 2], 1, 2),
    (e: { code?: string }) => e.code === 'INVALID_OPTION',
  );
});

test('summaries per (sample, channel): WCA = max(HH) + mean(LL), GAP, GMP, GAP+GMP', () => {
  // One sample, one channel, a 2x4 plane: blocks [1 0; 0 1] (LL 1, HH 1) and [2 2; 0 0] (LL 2, HH 0).
  const x = [1, 0, 2, 2, 0, 1, 0, 0];
  const dims = [1, 1, 2, 4];
  assert.deepEqual([...summarize('wca', x, dims)], [1 + 1.5]);
  assert.deepEqual([...summarize('gap', x, dims)], [0.75]);
  assert.deepEqual([...summarize('gmp', x, dims)], [2]);
  assert.deepEqual([...summarize('gap+gmp', x, dims)], [2.75]);
  // Two samples x two channels, sample-major.
  const y = [1, 0, 0, 1, 0, 1, 1, 0, 1, 2, 3, 4, 1, 0, 0, 1];
  assert.deepEqual([...summarize('wca', y, [2, 2, 2, 2])], [2, 0, 5, 2]);
  // [N, C] features: GAP = GMP = the value; WCA needs a plane.
  assert.deepEqual([...summarize('gap+gmp', [3, -1], [1, 2])], [6, -2]);
  assert.throws(
    () => summarize('wca', [3, -1], [1, 2]),
    (e: { code?: string }) => e.code === 'INVALID_OPTION',
  );
});

test('cosine similarity and the fitness of a candidate against the teacher', () => {
  assert.equal(cosine([1, 0], [1, 1]), 1 / Math.sqrt(2));
  assert.equal(cosine([0, 0], [1, 1]), 0);
  assert.equal(cosine([2, 4], [1, 2]), 1);
  // Teacher channels [1 0; 0 1] → 2 and [0 1; 1 0] → 0; candidate [1 2; 3 4] → 5 and [1 0; 0 1] → 2.
  const teacher = summarize('wca', [1, 0, 0, 1, 0, 1, 1, 0], [1, 2, 2, 2]);
  assert.deepEqual([...teacher], [2, 0]);
  assert.ok(Math.abs(fitnessOf('wca', teacher, [1, 2, 3, 4, 1, 0, 0, 1], [1, 2, 2, 2]) - 5 / Math.sqrt(29)) < 1e-15);
});
