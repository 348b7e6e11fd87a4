/**
 * The genetic loop of GWCS (METHODS.md §3): per stage (GGS: by feature-map resolution,
 * one after another, the other stages held at their best; OGS: all bits at once),
 *   generation 0: `population` random genomes over the stage's bits (each bit kept with
 *     the budget's uniform keep fraction, so they start near the target), repaired;
 *   generation t: the top `parents` by fitness breed `offspring` children (two random
 *     parents, uniform crossover with a random 50% mask, `mutation` of the bits flipped),
 *     each repaired to the budget; roulette-wheel selection over parents + offspring keeps
 *     `survivors` for the next generation.
 * The best genome that fits the budget is kept per stage and becomes the held genome.
 *
 * Every random draw of stage s, generation t comes from a generator seeded by
 * (seed, s, t), and fitness is a pure function of the genome, so the result depends on
 * neither the worker count nor a stop and resume between generations (`state`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CompilerError } from '../errors.js';
import { atomicWrite } from '../serde/write.js';
import { Rng } from '../util/rng.js';
import { Budget, ensureNonEmpty } from './budget.js';
import { crossover, genomeFromKey, genomeKey, mutate, randomGenome, rouletteSelect, topK } from './genetic.js';
import type { Genome } from './genetic.js';
import type { ScorerPool } from './pool.js';
import type { SearchSpace, SearchStage } from './space.js';

export interface GeneticOptions {
  /** Initial population (default 50). */
  population?: number;
  /** Parents per generation: the fittest (default 20). */
  parents?: number;
  /** Children per generation (default 50). */
  offspring?: number;
  /** Kept for the next generation by roulette wheel (default 30). */
  survivors?: number;
  /** Fraction of a child's stage bits flipped (default 0.1). */
  mutation?: number;
  /** Generations per stage (default `defaultIterations`). */
  iterations: readonly number[];
  seed?: number;
}

export interface GenerationRecord {
  stage: number;
  generation: number;
  /** Best fitness of the generation's population (after any penalty). */
  best: number;
  mean: number;
  /** Best fitness that fits the budget so far in this stage. */
  bestFeasible: number;
  /** Its cost as a fraction of the original (projected in GGS before the last stage). */
  bestCost: number;
  evaluations: number;
}

export interface SearchProgress extends GenerationRecord {
  stages: number;
  generations: number;
  evalsPerSec: number;
}

export interface SearchResult {
  genome: Genome;
  fitness: number;
  /** Cost of the genome as a fraction of the original (exact). */
  cost: number;
  history: GenerationRecord[];
  evaluations: number;
  /** Genomes actually run (the rest came from the fitness cache). */
  evaluated: number;
  seconds: number;
  resumed: boolean;
  /** Stopped early (signal): the genome is the held one so far; resume from the state file. */
  stopped: boolean;
  /** The stages this run scored on their cut network (the stage cut), the others on the whole network. */
  cutStages: number[];
}

/** What `--state` holds: enough to continue after the last finished generation. */
export interface SearchState {
  version: 1;
  fingerprint: string;
  stage: number;
  generation: number;
  /** The genome the other stages are held at (hex genome key). */
  held: string;
  population: { genome: string; fitness: number }[];
  best: { genome: string; fitness: number } | null;
  history: GenerationRecord[];
  evaluations: number;
}

function seeded(seed: number, stage: number, gen: number): Rng {
  const h = createHash('sha256').update(`gwcs:${seed}:${stage}:${gen}`).digest();
  return new Rng(h.readUInt32LE(0));
}

/** Reads a state file; undefined when absent. @throws SEARCH_STATE_MISMATCH for another search's state */
export function readSearchState(path: string, fingerprint: string): SearchState | undefined {
  if (!existsSync(path)) return undefined;
  let s: SearchState;
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as SearchState;
  } catch (e) {
    throw new CompilerError('SEARCH_STATE_MISMATCH', `the state file "${path}" is not a search state (${(e as Error).message})`, {
      where: path,
      hint: 'delete it, or give another --state path',
    });
  }
  if (s?.version !== 1 || typeof s.fingerprint !== 'string')
    throw new CompilerError('SEARCH_STATE_MISMATCH', `the state file "${path}" is not a search state`, {
      where: path,
      hint: 'delete it, or give another --state path',
    });
  if (s.fingerprint !== fingerprint) {
    throw new CompilerError('SEARCH_STATE_MISMATCH', `the state file "${path}" belongs to another search (another model, data or options)`, {
      where: path,
      hint: 'resume with the same model, --data and options, or delete the state file to start over',
    });
  }
  return s;
}

interface Scored {
  genome: Genome;
  fitness: number;
  raw: number;
  cost: number;
}

/**
 * Runs the search. `fingerprint` names the model, data and options (for `state`).
 * @throws BUDGET_UNREACHABLE when a stage cannot meet the budget; SEARCH_STATE_MISMATCH; RUNTIME_FAILED
 */
export async function runSearch(
  space: SearchSpace,
  budget: Budget,
  pool: ScorerPool,
  o: GeneticOptions & {
    fingerprint?: string;
    state?: string;
    onProgress?: (p: SearchProgress) => void;
    signal?: { stop: boolean };
  },
): Promise<SearchResult> {
  const NP = o.population ?? 50,
    P = o.parents ?? 20,
    NO = o.offspring ?? 50,
    S = o.survivors ?? 30;
  const rate = o.mutation ?? 0.1,
    seed = o.seed ?? 0;
  for (const [k, v] of [
    ['population', NP],
    ['parents', P],
    ['offspring', NO],
    ['survivors', S],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new CompilerError('INVALID_OPTION', `--${k} must be a positive integer; got ${v}`);
  }
  if (P < 2) throw new CompilerError('INVALID_OPTION', `crossover needs at least 2 parents; got --parents ${P}`);
  if (!(rate >= 0 && rate <= 1)) throw new CompilerError('INVALID_OPTION', `--mutation is a fraction in [0, 1]; got ${rate}`);
  if (o.iterations.length !== space.stages.length || !o.iterations.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new CompilerError(
      'INVALID_OPTION',
      `--iterations needs ${space.stages.length} non-negative integers (one per stage); got ${o.iterations.join(',')}`,
      { hint: `the stages are at resolutions ${space.stages.map((s) => s.resolution).join(', ')}; or give one number for every stage` },
    );
  }
  const t0 = performance.now();
  const cache = new Map<string, number>();
  const cutStages: number[] = [];
  let evaluated = 0;
  const history: GenerationRecord[] = [];
  let evaluations = 0;

  const allOnes = new Uint8Array(space.length).fill(1);
  await pool.setTeacherFrom(allOnes);

  const score = async (gs: Genome[], stage: SearchStage): Promise<Scored[]> => {
    const keys = gs.map(genomeKey);
    const todo: number[] = [];
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      if (!cache.has(k) && !seen.has(k)) {
        seen.add(k);
        todo.push(i);
      }
    });
    const f = await pool.fitness(todo.map((i) => gs[i]!));
    todo.forEach((i, j) => cache.set(keys[i]!, f[j]!));
    evaluated += todo.length;
    evaluations += gs.length;
    return gs.map((g, i) => {
      const raw = cache.get(keys[i]!)!;
      const cost = budget.costAt(g, stage.index);
      return { genome: g, raw, cost, fitness: budget.penalize(raw, cost) };
    });
  };

  // Resume.
  const fingerprint = o.fingerprint ?? '';
  let held: Genome = allOnes.slice();
  let startStage = 0,
    startGen = 0;
  let population: Scored[] = [];
  let best: { genome: Genome; fitness: number } | null = null;
  const resumed = o.state ? readSearchState(o.state, fingerprint) : undefined;
  if (resumed) {
    held = genomeFromKey(resumed.held, space.length);
    startStage = resumed.stage;
    startGen = resumed.generation + 1;
    history.push(...resumed.history);
    evaluations = resumed.evaluations;
    const st = space.stages[startStage];
    population = st
      ? resumed.population.map((p) => {
          const g = genomeFromKey(p.genome, space.length);
          const cost = budget.costAt(g, st.index);
          return { genome: g, raw: p.fitness, cost, fitness: budget.penalize(p.fitness, cost) };
        })
      : [];
    best = resumed.best ? { genome: genomeFromKey(resumed.best.genome, space.length), fitness: resumed.best.fitness } : null;
  }

  const save = (stage: number, generation: number): void => {
    if (!o.state) return;
    const s: SearchState = {
      version: 1,
      fingerprint,
      stage,
      generation,
      held: genomeKey(held),
      population: population.map((p) => ({ genome: genomeKey(p.genome), fitness: p.raw })),
      best: best ? { genome: genomeKey(best.genome), fitness: best.fitness } : null,
      history,
      evaluations,
    };
    atomicWrite(o.state, [new TextEncoder().encode(`${JSON.stringify(s)}\n`)]);
  };

  const generations = o.iterations.reduce((a, b) => a + b + 1, 0);
  const record = (stage: SearchStage, generation: number): void => {
    const fs = population.map((p) => p.fitness);
    const r: GenerationRecord = {
      stage: stage.index,
      generation,
      best: Math.max(...fs),
      mean: fs.reduce((a, b) => a + b, 0) / fs.length,
      bestFeasible: best?.fitness ?? NaN,
      bestCost: best ? budget.costAt(best.genome, stage.index) / budget.base : NaN,
      evaluations,
    };
    history.push(r);
    const secs = (performance.now() - t0) / 1000;
    o.onProgress?.({ ...r, stages: space.stages.length, generations, evalsPerSec: secs > 0 ? evaluated / secs : 0 });
  };

  const consider = (xs: Scored[], stage: SearchStage): void => {
    for (const x of xs) {
      if (x.cost > budget.limit * (1 + 1e-9)) continue;
      if (!best || x.raw > best.fitness) best = { genome: x.genome, fitness: x.raw };
    }
    void stage;
  };

  const stageBits = (stage: SearchStage, g: Genome): Genome => Uint8Array.from(stage.bits, (b) => g[b]!);
  const withStageBits = (stage: SearchStage, sub: Genome): Genome => {
    const g = held.slice();
    stage.bits.forEach((b, i) => {
      g[b] = sub[i]!;
    });
    return g;
  };
  const fix = (g: Genome, stage: SearchStage, rng: Rng): Genome => {
    ensureNonEmpty(g, stage, space, rng);
    budget.snap(g, stage, rng);
    if (budget.mode === 'repair' && !budget.repair(g, stage, rng)) {
      throw new CompilerError(
        'BUDGET_UNREACHABLE',
        `stage ${stage.index} (resolution ${stage.resolution}) cannot meet the ${budget.kind} target ${budget.target} even with one channel per group`,
        { hint: 'ask for a larger target, or use --grouping ogs' },
      );
    }
    return g;
  };

  for (let s = startStage; s < space.stages.length; s++) {
    const stage = space.stages[s]!;
    const iters = o.iterations[s]!;
    // The stage's genomes differ from `held` only in its bits: score them on its cut network.
    // One network per stage, so the cache starts empty (scores from the full network may
    // differ in the last float bit, and a resumed search must see what an uninterrupted one saw).
    if (await pool.useStage(stage.index, held)) cutStages.push(stage.index);
    cache.clear();
    if (s !== startStage || startGen === 0) {
      best = null;
      const rng = seeded(seed, s, 0);
      const init: Genome[] = [];
      for (let i = 0; i < NP; i++) init.push(fix(withStageBits(stage, randomGenome(stage.bits.length, budget.uniformKeep, rng)), stage, rng));
      population = await score(init, stage);
      consider(population, stage);
      record(stage, 0);
      save(s, 0);
      if (o.signal?.stop) break;
    }
    for (let gen = s === startStage && startGen > 0 ? startGen : 1; gen <= iters; gen++) {
      const rng = seeded(seed, s, gen);
      const parents = topK(
        population.map((p) => p.fitness),
        Math.min(P, population.length),
      ).map((i) => population[i]!);
      const kids: Genome[] = [];
      for (let k = 0; k < NO; k++) {
        const a = rng.int(parents.length);
        let b = rng.int(parents.length - 1);
        if (b >= a) b++;
        const child = mutate(crossover(stageBits(stage, parents[a]!.genome), stageBits(stage, parents[b]!.genome), rng), rate, rng);
        kids.push(fix(withStageBits(stage, child), stage, rng));
      }
      const scored = await score(kids, stage);
      consider(scored, stage);
      const pool2 = [...parents, ...scored];
      population = rouletteSelect(
        pool2.map((p) => p.fitness),
        S,
        rng,
      ).map((i) => pool2[i]!);
      record(stage, gen);
      save(s, gen);
      if (o.signal?.stop) break;
    }
    if (o.signal?.stop) break;
    // The stage's best becomes the held genome (penalty mode: repaired when nothing fitted).
    let chosen: Genome;
    if (best) chosen = (best as { genome: Genome }).genome;
    else {
      const top =
        population[
          topK(
            population.map((p) => p.fitness),
            1,
          )[0]!
        ]!.genome.slice();
      if (!budget.repair(top, stage, seeded(seed, s, -1)))
        throw new CompilerError('BUDGET_UNREACHABLE', `stage ${stage.index} cannot meet the ${budget.kind} target`, { hint: 'ask for a larger target' });
      chosen = top;
    }
    held = chosen.slice();
    // Next stage starts fresh; the state says so by pointing past this stage's generations.
    population = [];
    best = null;
    if (s + 1 < space.stages.length) saveNext(s + 1);
  }

  function saveNext(stage: number): void {
    if (!o.state) return;
    const s: SearchState = { version: 1, fingerprint, stage, generation: -1, held: genomeKey(held), population: [], best: null, history, evaluations };
    atomicWrite(o.state, [new TextEncoder().encode(`${JSON.stringify(s)}\n`)]);
  }

  const final = held;
  const cost = budget.costAt(final, undefined) / budget.base;
  const fitness = cache.get(genomeKey(final)) ?? (await score([final], space.stages[space.stages.length - 1]!))[0]!.raw;
  return {
    genome: final,
    fitness,
    cost,
    history,
    evaluations,
    evaluated,
    seconds: (performance.now() - t0) / 1000,
    resumed: resumed !== undefined,
    stopped: o.signal?.stop === true,
    cutStages,
  };
}
