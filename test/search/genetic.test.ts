/** Crossover, mutation and roulette-wheel statistics on seeded generators. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, crossover, genomeFromKey, genomeKey, mutate, randomGenome, rouletteSelect, topK } from '../../src/index.js';

test('crossover: every bit from one parent, about half from each (random 50% mask)', () => {
  const rng = new Rng(1);
  const n = 1000;
  const ones = new Uint8Array(n).fill(1);
  const zeros = new Uint8Array(n);
  let total = 0;
  const trials = 20;
  for (let t = 0; t < trials; t++) total += crossover(ones, zeros, rng).reduce((s, b) => s + b, 0);
  assert.ok(Math.abs(total / (n * trials) - 0.5) < 0.02, `fraction from p1: ${total / (n * trials)}`);
  const p1 = randomGenome(n, 0.5, rng),
    p2 = randomGenome(n, 0.5, rng);
  const c = crossover(p1, p2, rng);
  for (let i = 0; i < n; i++) assert.ok(c[i] === p1[i] || c[i] === p2[i]);
  // The mask is fresh per child: two children of the same parents differ.
  assert.notDeepEqual(crossover(ones, zeros, rng), crossover(ones, zeros, rng));
});

test('mutation: exactly round(10%) distinct bits flip, each position about equally often', () => {
  const rng = new Rng(2);
  const n = 200;
  const counts = new Array<number>(n).fill(0);
  const trials = 2000;
  for (let t = 0; t < trials; t++) {
    const g = randomGenome(n, 0.5, rng);
    const before = g.slice();
    mutate(g, 0.1, rng);
    let flips = 0;
    for (let i = 0; i < n; i++)
      if (g[i] !== before[i]) {
        flips++;
        counts[i]!++;
      }
    assert.equal(flips, 20);
  }
  for (const c of counts) assert.ok(c > 140 && c < 260, `a position flipped ${c} times of ${trials} (expected ~200)`);
  assert.equal(
    mutate(new Uint8Array(3), 0.1, rng).reduce((s, b) => s + b, 0),
    1,
    'at least one flip when the rate is positive',
  );
  assert.equal(
    mutate(new Uint8Array(3), 0, rng).reduce((s, b) => s + b, 0),
    0,
  );
});

test('roulette wheel: draw frequencies follow fitness / sum, k distinct picks', () => {
  const rng = new Rng(3);
  const f = [1, 2, 3, 4];
  const counts = [0, 0, 0, 0];
  const trials = 20000;
  for (let t = 0; t < trials; t++) counts[rouletteSelect(f, 1, rng)[0]!]!++;
  counts.forEach((c, i) => assert.ok(Math.abs(c / trials - f[i]! / 10) < 0.015, `index ${i}: ${c / trials} vs ${f[i]! / 10}`));
  for (let t = 0; t < 100; t++) {
    const pick = rouletteSelect([0.9, 0.8, 0.7, 0.95, 0.1], 3, rng);
    assert.equal(new Set(pick).size, 3);
  }
  assert.equal(rouletteSelect([1, 2], 5, rng).length, 2);
  // Negative fitness (penalty) is shifted, never drawn with a negative weight; all equal → uniform.
  const neg = [0, 0, 0];
  for (let t = 0; t < 3000; t++) neg[rouletteSelect([-1, 0, 1], 1, rng)[0]!]!++;
  assert.ok(neg[0]! < 60 && Math.abs(neg[2]! / 3000 - 2 / 3) < 0.04, `${neg}`);
  const uni = [0, 0];
  for (let t = 0; t < 2000; t++) uni[rouletteSelect([0, 0], 1, rng)[0]!]!++;
  assert.ok(Math.abs(uni[0]! / 2000 - 0.5) < 0.05);
});

test('topK and genome keys', () => {
  assert.deepEqual(topK([0.5, 0.9, 0.9, 0.1], 3), [1, 2, 0]);
  const rng = new Rng(4);
  for (const n of [1, 4, 7, 101]) {
    const g = randomGenome(n, 0.5, rng);
    assert.deepEqual(genomeFromKey(genomeKey(g), n), g);
  }
  // Same seed, same genomes.
  assert.deepEqual(randomGenome(50, 0.3, new Rng(9)), randomGenome(50, 0.3, new Rng(9)));
});
