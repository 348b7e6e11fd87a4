/**
 * GWCS in small (issue 10): the paper's ablations on the trained VGG-style CNN on
 * Fashion-MNIST (fixtures/trained/vgg-fashion.onnx), all at a FLOPs target of 0.5 and all
 * recovered the same way, two seeds each:
 *
 *   fitness   WCA vs GAP vs GMP vs GAP+GMP, GGS (paper Table 6: WCA best)
 *   grouping  GGS vs OGS, WCA (paper Table 5: GGS better)
 *   baseline  uniform L1 (`sculpt prune --flops-target 0.5`, exact counts) and uniform
 *             random channels at the same FLOPs, same recovery
 *   beta      the one-step method's ranking (src/onestep): β learned on the train sample
 *             (λ 0.01, Adam lr 0.05, 32 steps of 64, as experiments/onestep.ts), 2 best
 *             layers + the last conv kept whole, global |β| pruning to the same FLOPs target
 *             (exact counts), then the same KD recovery as every other arm (`beta`); and, as
 *             an extra row, β's own recovery instead: the same number of steps of KL mimicry
 *             of the crucial layers (Adam lr 1e-3, classifier frozen) (`beta-mimic`)
 *   recovery  KD from the original vs plain fine-tuning (CE) on the WCA/GGS genome: test
 *             accuracy every 25 steps, steps to reach the KD run's final accuracy − 0.5
 *             (paper: ~2000 vs ~3500 iterations)
 *
 * Small on purpose (2 shared cores): calibration 64 images, population 20, parents 8,
 * children 20, survivors 12, iterations [4, 4, 2] (the defaults are 50/20/50/30 and
 * [10, 10, 5]); recovery 30 SGD steps (--recovery-steps) (batch 64, lr 0.01, momentum 0.9) by KD (T 4,
 * ρ 0.9) on a seeded 6400-image sample of the train split; accuracy on the first 2000 test
 * images. Every row says whether its FLOPs are within 1% of the target (the GA's budget is an
 * upper bound, so a search may stop below it).
 *
 * Every GWCS arm fills its genome up to the target after the search (`sculpt search`'s default);
 * `wca-ggs-nofill` is WCA GGS with the searched genome as is (`--no-fill`).
 *
 * Usage: npm run experiments -- gwcs [--seeds 1,2] [--out .tmp/gwcs] [--recovery-steps 30] [--curve-steps 100]
 *          [--variants wca-ggs,gap-ggs,gmp-ggs,gap+gmp-ggs,wca-ogs,wca-ggs-nofill,l1,random,beta,beta-mimic]
 * (default: all variants). Writes <out>/results.json and prints the tables (Markdown): per
 * row, output channels kept per layer, means ± sd over seeds, and for every pair of variants
 * the per-seed differences after recovery (all seeds, and those where both met the target).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  computeCost,
  decodeModel,
  encodeModel,
  evaluateAccuracy,
  globalPrune,
  gwcs,
  loadDatasetFor,
  openSession,
  parseMask,
  pruneModel,
  readModel,
  recoverModel,
  scoreModel,
  train,
} from '../src/index.js';
import type { Dataset, FitnessKind, Grouping, LoadedDataset, Model } from '../src/index.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

function opt(name: string, d: string): string {
  const a = process.argv.slice(2);
  const i = a.indexOf(name);
  return i >= 0 ? a[i + 1]! : d;
}

const seeds = opt('--seeds', '1,2').split(',').map(Number);
const out = resolve(opt('--out', join(ROOT, '.tmp/gwcs')));
const recoverySteps = Number(opt('--recovery-steps', '30'));
const curveSteps = Number(opt('--curve-steps', '100'));
const TARGET = 0.5;
// The fifth entry: fill the searched genome up to the target (`sculpt search`'s default; false = --no-fill).
const GWCS_VARIANTS: [string, string, FitnessKind, Grouping, boolean][] = [
  ['wca-ggs', 'WCA GGS', 'wca', 'ggs', true],
  ['gap-ggs', 'GAP GGS', 'gap', 'ggs', true],
  ['gmp-ggs', 'GMP GGS', 'gmp', 'ggs', true],
  ['gap+gmp-ggs', 'GAP+GMP GGS', 'gap+gmp', 'ggs', true],
  ['wca-ogs', 'WCA OGS', 'wca', 'ogs', true],
  ['wca-ggs-nofill', 'WCA GGS, no fill', 'wca', 'ggs', false],
];
const ALL_VARIANTS = [...GWCS_VARIANTS.map((v) => v[0]), 'l1', 'random', 'beta', 'beta-mimic'];
const variantsArg = opt('--variants', ALL_VARIANTS.join(',')).split(',');
for (const v of variantsArg) {
  if (!ALL_VARIANTS.includes(v)) {
    process.stderr.write(`unknown variant "${v}"; variants: ${ALL_VARIANTS.join(', ')}\n`);
    process.exit(2);
  }
}
const wanted = new Set(variantsArg);
// β learning as experiments/onestep.ts runs it on this VGG (its calibrate section chose these).
const BETA = { lambda: 0.01, lr: 0.05, steps: 32, crucial: 2 };
const GA = { population: 20, parents: 8, offspring: 20, survivors: 12, iterations: [4, 4, 2] };

async function accuracy(m: Model, test: Dataset): Promise<number> {
  const { session } = await openSession(m, { threads: 1 });
  try {
    return (await evaluateAccuracy(session, m, test, { batch: 250 })).top1;
  } finally {
    await session.release();
  }
}

function copy(m: Model): Model {
  return decodeModel(encodeModel(m));
}

function flopsRatio(m: Model, base: Model): number {
  return computeCost(m).total.macs / computeCost(base).total.macs;
}

interface Row {
  variant: string;
  seed: number;
  fitness?: number;
  flops: number;
  params: number;
  pruned: number;
  recovered: number;
  /** GWCS: the search's own seconds. */
  searchS?: number;
  evaluated?: number;
  /** Seconds from the teacher to the pruned model (search, or β learning + pruning, or ranking) and of the recovery. */
  selectS?: number;
  recoverS?: number;
  /** The FLOPs kept are within 1% of the target. */
  atTarget?: boolean;
  recovery?: string;
  /** Output channels kept per weighted layer (Conv, Gemm, MatMul), by node name. */
  channels?: Record<string, number>;
}

function keptChannels(m: Model): Record<string, number> {
  const weighted = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
  return Object.fromEntries(
    computeCost(m)
      .nodes.filter((c) => weighted.has(c.op) && c.outChannels !== undefined)
      .map((c) => [c.name, c.outChannels!]),
  );
}

async function recover(m: Model, base: Model, data: Dataset, test: Dataset, seed: number, loss: 'kd' | 'ce', steps: number, evalEverySteps?: number) {
  return train(m, {
    data,
    evalData: test,
    steps,
    batchSize: 64,
    optimizer: 'sgd',
    lr: 0.01,
    momentum: 0.9,
    seed,
    loss,
    teacher: loss === 'kd' ? base : undefined,
    kd: { temperature: 4, rho: 0.9 },
    evalEverySteps,
    backend: 'auto',
    log: () => {},
  });
}

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  const base = readModel(join(ROOT, 'fixtures/trained/vgg-fashion.onnx'));
  const test = loadDatasetFor(base, 'fashion-mnist', { split: 'test', limit: 2000 });
  const curveTest = loadDatasetFor(base, 'fashion-mnist', { split: 'test', limit: 500 });
  const baseAcc = await accuracy(base, test);
  const baseParams = computeCost(base).total.params;
  const rows: Row[] = [];
  const curves: Record<string, { step: number; accuracy: number }[]> = {};
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`baseline top-1 ${(100 * baseAcc).toFixed(2)}% on ${test.size} test images`);
  for (const seed of seeds) {
    const calib: LoadedDataset = loadDatasetFor(base, 'fashion-mnist', { split: 'train', limit: 64, seed });
    const b = calib.batches(64, { augment: false })[Symbol.iterator]().next().value!;
    const xDims = [b.n, ...calib.inputShape];
    const trainSet = loadDatasetFor(base, 'fashion-mnist', { split: 'train', limit: 6400, seed });
    /** Evaluates the pruned `m`, recovers it (KD as every arm, unless `recoverWith` is given), evaluates again. */
    const finish = async (variant: string, m: Model, extra: Partial<Row>, recoverWith?: (m: Model) => Promise<unknown>) => {
      const pruned = await accuracy(m, test);
      const t0 = performance.now();
      if (recoverWith) await recoverWith(m);
      else await recover(m, base, trainSet, test, seed, 'kd', recoverySteps);
      const recoverS = (performance.now() - t0) / 1000;
      const recovered = await accuracy(m, test);
      const flops = flopsRatio(m, base);
      const row: Row = {
        variant,
        seed,
        flops,
        params: computeCost(m).total.params / baseParams,
        pruned,
        recovered,
        ...extra,
        recoverS,
        atTarget: Math.abs(flops - TARGET) <= 0.01 * TARGET,
        recovery: extra.recovery ?? `KD ${recoverySteps} steps`,
        channels: keptChannels(m),
      };
      rows.push(row);
      log(
        `${variant} seed ${seed}: FLOPs ${row.flops.toFixed(3)} pruned ${(100 * pruned).toFixed(2)}% recovered ${(100 * recovered).toFixed(2)}%${extra.fitness !== undefined ? ` fitness ${extra.fitness.toFixed(4)} in ${extra.searchS!.toFixed(1)} s` : ''}`,
      );
      return m;
    };
    for (const [key, variant, fitness, grouping, fill] of GWCS_VARIANTS) {
      if (!wanted.has(key)) continue;
      const t0 = performance.now();
      const r = await gwcs(base, {
        x: b.x,
        xDims,
        budget: { kind: 'flops', target: TARGET },
        fitness,
        grouping,
        ...GA,
        iterations: grouping === 'ogs' ? [10] : GA.iterations,
        seed,
        workers: 1,
        fill,
      });
      const m = copy(base);
      pruneModel(m, { criterion: 'mask', mask: parseMask(r.mask) });
      const selectS = (performance.now() - t0) / 1000;
      const unrecovered = copy(m);
      await finish(variant, m, { fitness: r.search.fitness, searchS: r.search.seconds, evaluated: r.search.evaluated, selectS });
      if (variant === 'WCA GGS' && seed === seeds[0] && curveSteps > 0) {
        for (const loss of ['kd', 'ce'] as const) {
          const c = copy(unrecovered);
          const t = await recover(c, base, trainSet, curveTest, seed, loss, curveSteps, 20);
          curves[loss] = [{ step: 0, accuracy: await accuracy(unrecovered, curveTest) }, ...t.evals.map((e) => ({ step: e.step, accuracy: e.accuracy }))];
          log(`curve ${loss}: ${curves[loss]!.map((e) => `${e.step}:${(100 * e.accuracy).toFixed(1)}`).join(' ')}`);
        }
      }
    }
    for (const criterion of ['l1', 'random'] as const) {
      if (!wanted.has(criterion)) continue;
      const t0 = performance.now();
      const m = copy(base);
      pruneModel(m, { flopsTarget: TARGET, criterion, roundTo: 1, seed });
      await finish(`uniform ${criterion}`, m, { selectS: (performance.now() - t0) / 1000 });
    }
    if (wanted.has('beta') || wanted.has('beta-mimic')) {
      const t0 = performance.now();
      const s = await scoreModel(base, {
        data: trainSet,
        lambda: BETA.lambda,
        lr: BETA.lr,
        steps: BETA.steps,
        batchSize: 64,
        crucial: BETA.crucial,
        seed,
        log: () => {},
      });
      const m = copy(base);
      globalPrune(m, s.scores, { flopsTarget: TARGET, roundTo: 1 });
      const selectS = (performance.now() - t0) / 1000;
      const crucial = `crucial ${s.scores.crucial.join(', ')}`;
      if (wanted.has('beta')) await finish('β one-step', copy(m), { selectS, recovery: `KD ${recoverySteps} steps (${crucial})` });
      if (wanted.has('beta-mimic')) {
        const mimic = s.scores.layers.filter((l) => l.crucial).map((l) => l.mimic);
        await finish('β one-step, own recovery', m, { selectS, recovery: `KL mimicry of ${mimic.length} layers, ${recoverySteps} steps (${crucial})` }, (c) =>
          recoverModel(c, { data: trainSet, teacher: base, mimic, mimicLoss: 'kl', steps: recoverySteps, batchSize: 64, seed, log: () => {} }),
        );
      }
    }
    calib.close();
    trainSet.close();
  }
  const pct = (x: number) => (100 * x).toFixed(2);
  const byVariant = new Map<string, Row[]>();
  for (const r of rows) {
    let l = byVariant.get(r.variant);
    if (!l) byVariant.set(r.variant, (l = []));
    l.push(r);
  }
  const s2 = (x?: number) => x?.toFixed(1) ?? '-';
  const lines = [
    '| variant | seed | fitness | FLOPs kept | within 1% | params kept | top-1 pruned | top-1 after recovery | search/select s | recovery s | genomes run |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.variant} | ${r.seed} | ${r.fitness?.toFixed(4) ?? '-'} | ${r.flops.toFixed(3)} | ${r.atTarget ? 'yes' : 'no'} | ${r.params.toFixed(3)} | ${pct(r.pruned)} | ${pct(r.recovered)} | ${s2(r.selectS ?? r.searchS)} | ${s2(r.recoverS)} | ${r.evaluated ?? '-'} |`,
    );
  const layers = Object.keys(keptChannels(base));
  const full = keptChannels(base);
  lines.push('', `| variant | seed | output channels kept: ${layers.join(' | ')} |`, `| --- | --- | ${layers.map(() => '---').join(' | ')} |`);
  lines.push(`| original | - | ${layers.map((l) => full[l]).join(' | ')} |`);
  for (const r of rows) if (r.channels) lines.push(`| ${r.variant} | ${r.seed} | ${layers.map((l) => r.channels![l] ?? '-').join(' | ')} |`);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = (xs: number[]) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
  const pm = (xs: number[]) => `${pct(mean(xs))}${xs.length > 1 ? ` ± ${pct(sd(xs))}` : ''}`;
  lines.push('', '| variant | seeds | mean top-1 pruned ± sd | mean top-1 after recovery ± sd |', '| --- | --- | --- | --- |');
  for (const [v, rs] of byVariant) lines.push(`| ${v} | ${rs.length} | ${pm(rs.map((r) => r.pruned))} | ${pm(rs.map((r) => r.recovered))} |`);
  // Paired by seed (same calibration batch, train sample and recovery draws): every variant minus
  // each one run before it, over every seed and over the seeds where both rows kept the
  // target's FLOPs within 1%; "wins" counts the seeds where the difference is > 0.
  const names = [...byVariant.keys()];
  if (names.length > 1) {
    lines.push(
      '',
      '| after recovery, A minus B (same seed), points | per seed | mean ± sd, all seeds | wins | seeds with both within 1% of the FLOPs target | mean ± sd, those seeds |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (let i = 0; i < names.length; i++) {
      for (let j = 0; j < i; j++) {
        const pairs = byVariant.get(names[i]!)!.flatMap((r) => {
          const o = byVariant.get(names[j]!)!.find((x) => x.seed === r.seed);
          return o ? [{ seed: r.seed, d: r.recovered - o.recovered, ok: !!(r.atTarget && o.atTarget) }] : [];
        });
        const ok = pairs.filter((p) => p.ok);
        lines.push(
          `| ${names[i]} − ${names[j]} | ${pairs.map((p) => (100 * p.d).toFixed(2)).join(', ')} | ${pm(pairs.map((p) => p.d))} | ${pairs.filter((p) => p.d > 0).length}/${pairs.length} | ${ok.map((p) => p.seed).join(',') || 'none'} | ${ok.length ? pm(ok.map((p) => p.d)) : '-'} |`,
        );
      }
    }
  }
  if (curves.kd && curves.ce) {
    const goal = curves.kd[curves.kd.length - 1]!.accuracy - 0.005;
    const reach = (c: { step: number; accuracy: number }[]) => c.find((e) => e.accuracy >= goal)?.step;
    lines.push(
      '',
      `KD vs fine-tuning (CE) from the WCA/GGS genome, seed ${seeds[0]}: steps to reach ${pct(goal)}% (KD's final − 0.5): KD ${reach(curves.kd) ?? 'not reached'}, CE ${reach(curves.ce) ?? `not reached in ${curveSteps}`}`,
    );
    lines.push('', '| step | ' + curves.kd.map((e) => e.step).join(' | ') + ' |', '| --- | ' + curves.kd.map(() => '---').join(' | ') + ' |');
    lines.push('| KD | ' + curves.kd.map((e) => pct(e.accuracy)).join(' | ') + ' |');
    lines.push('| CE | ' + curves.ce.map((e) => pct(e.accuracy)).join(' | ') + ' |');
  }
  const md = `baseline top-1 ${pct(baseAcc)}% (${test.size} test images)\n\n${lines.join('\n')}\n`;
  writeFileSync(
    join(out, 'results.json'),
    JSON.stringify(
      { baseAcc, rows, curves, settings: { seeds, variants: variantsArg, TARGET, GA, BETA, recoverySteps, curveSteps, testImages: test.size } },
      null,
      2,
    ),
  );
  writeFileSync(join(out, 'results.md'), md);
  process.stdout.write(md);
  test.close();
  curveTest.close();
}

await main();
