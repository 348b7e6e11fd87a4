/**
 * Genetic operators over genomes (one 0/1 byte per searched channel; 1 keeps it), as
 * METHODS.md §3.3 defines them. Every random choice comes from the `Rng` passed in, so a
 * seed fixes the whole search.
 *
 * - crossover: `child = G·p1 + (1−G)·p2` with G a fresh uniform random bit mask (each bit
 *   1 with probability 1/2): the child takes about half its bits from each parent.
 * - mutation: exactly `round(rate·n)` distinct positions flip (at least one when rate > 0).
 * - roulette: k draws without replacement, each with probability proportional to the
 *   candidate's weight among those left; weights are the fitness values shifted so the
 *   smallest is ≥ 0 (cosine fitness is normally in [0, 1]; a penalty can push it below).
 */
import type { Rng } from '../util/rng.js';

export type Genome = Uint8Array;

/** A genome whose bits are 1 with probability `p`. */
export function randomGenome(n: number, p: number, rng: Rng): Genome {
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++) g[i] = rng.next() < p ? 1 : 0;
  return g;
}

/** Uniform crossover with a random 50% bit mask. */
export function crossover(p1: Genome, p2: Genome, rng: Rng): Genome {
  const c = new Uint8Array(p1.length);
  for (let i = 0; i < c.length; i++) c[i] = rng.next() < 0.5 ? p1[i]! : p2[i]!;
  return c;
}

/** Flips `round(rate·n)` distinct random bits (at least one when rate > 0), in place. */
export function mutate(g: Genome, rate: number, rng: Rng): Genome {
  const n = g.length;
  const k = Math.min(n, rate > 0 ? Math.max(1, Math.round(rate * n)) : 0);
  // Partial Fisher–Yates: the first k of a random permutation.
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
    g[idx[i]!] = 1 - g[idx[i]!]!;
  }
  return g;
}

/**
 * Roulette-wheel selection of `k` distinct indices (fewer when there are fewer candidates),
 * in draw order. O(k·n).
 */
export function rouletteSelect(fitness: readonly number[], k: number, rng: Rng): number[] {
  const min = Math.min(0, ...fitness.filter(Number.isFinite));
  const w = fitness.map((f) => (Number.isFinite(f) ? f - min : 0));
  const left = fitness.map((_, i) => i);
  const out: number[] = [];
  while (out.length < k && left.length > 0) {
    let total = 0;
    for (const i of left) total += w[i]!;
    let pick = left.length - 1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let j = 0; j < left.length; j++) {
        r -= w[left[j]!]!;
        if (r < 0) {
          pick = j;
          break;
        }
      }
    } else pick = rng.int(left.length);
    out.push(left[pick]!);
    left.splice(pick, 1);
  }
  return out;
}

/** Indices of the `k` highest fitness values (ties: lower index first). */
export function topK(fitness: readonly number[], k: number): number[] {
  return fitness
    .map((f, i) => ({ f, i }))
    .sort((a, b) => b.f - a.f || a.i - b.i)
    .slice(0, k)
    .map((x) => x.i);
}

/** A compact key for a genome (for fitness caching and state files). */
export function genomeKey(g: Genome): string {
  let s = '';
  for (let i = 0; i < g.length; i += 4) {
    const v = (g[i]! << 3) | ((g[i + 1] ?? 0) << 2) | ((g[i + 2] ?? 0) << 1) | (g[i + 3] ?? 0);
    s += v.toString(16);
  }
  return s;
}

/** Inverse of genomeKey for a genome of `n` bits. */
export function genomeFromKey(key: string, n: number): Genome {
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = parseInt(key[i >> 2]!, 16);
    g[i] = (v >> (3 - (i & 3))) & 1;
  }
  return g;
}
