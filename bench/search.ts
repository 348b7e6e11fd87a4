/**
 * `npm run bench -- search`: GWCS speed on a ResNet-20 (CIFAR size, 3×32×32) with a
 * calibration batch of 256 seeded images, onnxruntime CPU, 1 intra-op thread per session.
 *
 * Part 1 and 2 count process CPU time (one thread does all the work), so the rates are
 * evaluations per CPU-second: steadier than the wall clock on shared cores.
 *
 * 1. Genome evaluations per second: one session whose masks are graph inputs (what
 *    `sculpt search` does) against the peer that prunes a copy of the model with the
 *    genome's mask, encodes it and opens a new session per genome. Goal ≥ 10×. Measured at
 *    256 images and at 16 (where session start-up weighs more); for the full masked network
 *    (OGS, and GGS without the stage cut) and for each GGS stage's cut network
 *    (`stage-cut.ts`: the part before the stage's frontier runs once per stage), with the
 *    rate of a default GGS search (its evaluations spread over the stages as its iterations
 *    are). The peer's time per genome is split into prune + encode, session start and run,
 *    to show where it goes.
 * 2. The fitness summary in JS (read the feature map, Haar per channel) against the same
 *    summary computed inside the graph (`appendSummary`: LL and HH as stride-2 depthwise
 *    convs, then GlobalAveragePool / GlobalMaxPool): evals/s of each, same genomes.
 * 4. Peak memory against the population: short searches (the first generation of each
 *    stage only, 32 images, 2 workers) with populations of 50 and 400 in child processes, each printing its
 *    peak RSS (the genomes are bits; what costs memory is one feature map per session).
 * 3. The wall time of a default search (population 50, 20 parents, 50 children, 30
 *    survivors, GGS [10, 10, 5], WCA, FLOPs target 0.5) with 2 workers (set
 *    SCULPT_BENCH_SEARCH=0 to skip; it takes minutes), and the peak RSS.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  Rng,
  Scorer,
  stageNetsOf,
  cosine,
  decodeModel,
  defaultIterations,
  encodeModel,
  ensureNonEmpty,
  genomeToMask,
  gwcs,
  openSession,
  parseMask,
  prepareSearch,
  pruneModel,
  randomGenome,
  runSession,
  scatterFeature,
  scorerInit,
  summarize,
  withOutputs,
} from '../src/index.js';
import type { Model, PreparedSearch } from '../src/index.js';
import { buildModel } from '../models/index.js';
import { table } from './util.js';

/** Process CPU time in ms: each session runs on the calling thread with 1 intra-op thread, so on shared cores this is steadier than the wall clock. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function genomes(p: PreparedSearch, n: number, seed: number): Uint8Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const g = randomGenome(p.space.length, 0.7, rng);
    for (const s of p.space.stages) ensureNonEmpty(g, s, p.space, rng);
    return g;
  });
}

/** Evals/s of one Scorer session over the genomes (the WCA summary in JS, or in the graph); with `stage`, on that stage's cut network. */
async function scorerRate(p: PreparedSearch, x: Float32Array, xDims: number[], gs: Uint8Array[], stage?: number): Promise<number> {
  const sc = await Scorer.open({ ...scorerInit(p, x, xDims, 'wca'), stages: stageNetsOf(p) });
  try {
    const ones = new Uint8Array(p.space.length).fill(1);
    sc.setTeacher(await sc.summary(ones));
    let run = gs;
    if (stage !== undefined) {
      // Genomes of this stage: the held genome (all ones) with the stage's bits of each genome.
      const st = p.space.stages[stage]!;
      run = gs.map((g) => {
        const h = ones.slice();
        for (const b of st.bits) h[b] = g[b]!;
        return h;
      });
      await sc.useStage(stage, ones);
    }
    const t0 = cpuMs();
    for (const g of run) await sc.fitness(g);
    return run.length / ((cpuMs() - t0) / 1000);
  } finally {
    await sc.release();
  }
}

interface RebuildTimes {
  rate: number;
  pruneMs: number;
  sessionMs: number;
  runMs: number;
}

async function rebuildRate(model: Model, p: PreparedSearch, x: Float32Array, xDims: number[], gs: Uint8Array[]): Promise<RebuildTimes> {
  const teacherRun = await openSession(withOutputs(model, [p.feature.original]), { threads: 1 });
  const t = (await runSession(teacherRun.session, { [p.dataInput]: { data: x, dims: xDims } }, [p.feature.original]))[p.feature.original]!;
  await teacherRun.session.release();
  const teacher = summarize('wca', t.data as Float32Array, t.dims);
  let pruneMs = 0,
    sessionMs = 0,
    runMs = 0;
  const t0 = cpuMs();
  for (const g of gs) {
    const a = cpuMs();
    const m = decodeModel(encodeModel(model));
    pruneModel(m, { criterion: 'mask', mask: parseMask(genomeToMask(p.space, g)) });
    m.graph.addOutput(m.graph.nodes.flatMap((n) => n.outputs).find((o) => o?.name === p.feature.original)!);
    const bytes = encodeModel(m);
    const b = cpuMs();
    const { session } = await openSession(bytes, { threads: 1 });
    const c = cpuMs();
    const f = (await runSession(session, { [p.dataInput]: { data: x, dims: xDims } }, [p.feature.original]))[p.feature.original]!;
    await session.release();
    // Pruned channels are missing: put them back as zeros, as the mask session has them.
    const full = scatterFeature(p.space, g, p.feature.original, f);
    cosine(teacher, summarize('wca', full.data as Float32Array, full.dims));
    const d = cpuMs();
    pruneMs += b - a;
    sessionMs += c - b;
    runMs += d - c;
  }
  const n = gs.length;
  return { rate: n / ((cpuMs() - t0) / 1000), pruneMs: pruneMs / n, sessionMs: sessionMs / n, runMs: runMs / n };
}

/** The same genomes scored with the WCA summary computed in the graph (`appendSummary`). */
function inGraphRate(model: Model, x: Float32Array, xDims: number[], gs: Uint8Array[]): Promise<number> {
  return scorerRate(prepareSearch(model, { fitness: 'wca', summaryInGraph: true }), x, xDims, gs);
}

export async function benchSearch(): Promise<object> {
  const model = buildModel('resnet20', { seed: 1 });
  const p = prepareSearch(model);
  const rows: string[][] = [];
  const out: Record<string, unknown> = {};
  const iters = defaultIterations(p.space.stages.length);
  const breakdown: string[][] = [];
  for (const n of [256, 16]) {
    const xDims = [n, 3, 32, 32];
    const x = new Rng(2).uniformArray(n * 3 * 32 * 32);
    const gs = genomes(p, n === 256 ? 6 : 20, 3);
    const mask = await scorerRate(p, x, xDims, gs);
    const rebuild = await rebuildRate(model, p, x, xDims, gs);
    const ig = await inGraphRate(model, x, xDims, gs);
    const perStage: number[] = [];
    for (const st of p.space.stages) perStage.push(await scorerRate(p, x, xDims, gs, st.index));
    // A default GGS search spends (iterations + 1) generations of evaluations on each stage.
    const weights = iters.map((k) => k + 1);
    const ggs = weights.reduce((a, b) => a + b, 0) / weights.reduce((a, w, i) => a + w / perStage[i]!, 0);
    rows.push([
      String(n),
      mask.toFixed(2),
      ig.toFixed(2),
      perStage.map((r) => r.toFixed(2)).join(' / '),
      ggs.toFixed(2),
      rebuild.rate.toFixed(2),
      (mask / rebuild.rate).toFixed(2),
      (ggs / rebuild.rate).toFixed(2),
    ]);
    breakdown.push([
      String(n),
      rebuild.pruneMs.toFixed(0),
      rebuild.sessionMs.toFixed(0),
      rebuild.runMs.toFixed(0),
      (1000 / mask).toFixed(0),
      ((100 * rebuild.runMs) / (rebuild.pruneMs + rebuild.sessionMs + rebuild.runMs)).toFixed(0),
    ]);
    out[`images${n}`] = {
      jsSummaryEvalsPerSec: mask,
      inGraphEvalsPerSec: ig,
      inGraphOverJs: ig / mask,
      stageCutEvalsPerSec: perStage,
      ggsEvalsPerSec: ggs,
      rebuildEvalsPerSec: rebuild.rate,
      rebuild,
      ratio: mask / rebuild.rate,
      ggsRatio: ggs / rebuild.rate,
    };
  }
  console.log(
    table(
      [
        'images',
        'mask inputs, full net: evals/CPU-s',
        'full net, WCA in graph: evals/CPU-s',
        `stage cut, per stage: evals/CPU-s`,
        `default GGS mix (iterations ${iters.join(',')}): evals/CPU-s`,
        'prune + new session per genome: evals/CPU-s',
        'full net ÷ rebuild',
        'GGS mix ÷ rebuild (goal ≥ 10)',
      ],
      rows,
    ),
  );
  console.log(
    table(
      [
        'images',
        'rebuild: prune + encode CPU ms',
        'session start CPU ms',
        'run + summary CPU ms',
        'mask inputs, full net: CPU ms per genome',
        'run share of the rebuild %',
      ],
      breakdown,
    ),
  );
  if (process.env.SCULPT_BENCH_SEARCH !== '0') {
    const xDims = [256, 3, 32, 32];
    const x = new Rng(2).uniformArray(256 * 3 * 32 * 32);
    const workers = Math.min(2, availableParallelism());
    const t0 = performance.now();
    let last = 0;
    const r = await gwcs(model, {
      x,
      xDims,
      budget: { kind: 'flops', target: 0.5 },
      workers,
      seed: 0,
      stageCut: process.env.SCULPT_BENCH_STAGE_CUT !== '0',
      onProgress: (q) => {
        if (performance.now() - last > 10_000) {
          last = performance.now();
          process.stderr.write(`  stage ${q.stage} gen ${q.generation} best ${q.bestFeasible.toFixed(4)} ${q.evalsPerSec.toFixed(2)} evals/s\n`);
        }
      },
    });
    const wall = (performance.now() - t0) / 1000;
    const rss = process.memoryUsage().rss / 2 ** 20;
    const peak = process.resourceUsage().maxRSS / 1024;
    console.log(
      table(
        ['default search', 'wall s (goal ≤ 300)', 'genomes run', 'scored', 'evals/s', 'fitness', 'FLOPs kept', 'RSS MiB', 'peak RSS MiB'],
        [
          [
            `ResNet-20, 256 images, ${workers} workers, iterations ${r.iterations.join(',')}`,
            wall.toFixed(1),
            String(r.search.evaluated),
            String(r.search.evaluations),
            (r.search.evaluated / r.search.seconds).toFixed(2),
            r.search.fitness.toFixed(4),
            r.search.cost.toFixed(3),
            rss.toFixed(0),
            peak.toFixed(0),
          ],
        ],
      ),
    );
    out.memory = benchSearchMemory();
    out.search = {
      wallS: wall,
      evaluated: r.search.evaluated,
      evaluations: r.search.evaluations,
      fitness: r.search.fitness,
      cost: r.search.cost,
      rssMiB: rss,
      peakRssMiB: peak,
      workers,
      stageCut: process.env.SCULPT_BENCH_STAGE_CUT !== '0',
    };
  }
  return out;
}

/** Peak RSS of a short search with `population` genomes (run in a child process). */
async function memoryRun(population: number): Promise<{ population: number; peakRssMiB: number; evaluated: number }> {
  const model = buildModel('resnet20', { seed: 1 });
  const xDims = [32, 3, 32, 32];
  const x = new Rng(2).uniformArray(32 * 3 * 32 * 32);
  const r = await gwcs(model, {
    x,
    xDims,
    budget: { kind: 'flops', target: 0.5 },
    workers: 2,
    seed: 0,
    population,
    offspring: population,
    survivors: Math.round(population * 0.6),
    parents: Math.round(population * 0.4),
    iterations: [0, 0, 0],
  });
  return { population, peakRssMiB: process.resourceUsage().maxRSS / 1024, evaluated: r.search.evaluated };
}

/** Part 4: each population in its own process, so that one peak does not hide the other. */
export function benchSearchMemory(): object {
  const rows: string[][] = [];
  const out: object[] = [];
  for (const pop of [50, 400]) {
    const r = JSON.parse(
      execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--memory', String(pop)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop()!,
    ) as { population: number; peakRssMiB: number; evaluated: number };
    rows.push([String(r.population), String(r.evaluated), r.peakRssMiB.toFixed(0)]);
    out.push(r);
  }
  console.log(table(['population (first generation per stage, 32 images, 2 workers)', 'genomes run', 'peak RSS MiB'], rows));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--memory') {
  console.log(JSON.stringify(await memoryRun(Number(process.argv[3]))));
}
