/**
 * GWCS in small (issue 10): the paper's ablations on the trained VGG-style CNN on
 * Fashion-MNIST (fixtures/trained/vgg-fashion.onnx), all at a FLOPs target of 0.5 and all
 * recovered the same way, two seeds each:
 *
 *   fitness   WCA vs GAP vs GMP vs GAP+GMP, GGS (paper Table 6: WCA best)
 *   grouping  GGS vs OGS, WCA (paper Table 5: GGS better)
 *   baseline  uniform L1 (`sculpt prune --flops-target 0.5`, exact counts) and uniform
 *             random channels at the same FLOPs, same recovery
 *   recovery  KD from the original vs plain fine-tuning (CE) on the WCA/GGS genome: test
 *             accuracy every 25 steps, steps to reach the KD run's final accuracy − 0.5
 *             (paper: ~2000 vs ~3500 iterations)
 *
 * Small on purpose (2 shared cores): calibration 64 images, population 20, parents 8,
 * children 20, survivors 12, iterations [4, 4, 2] (the defaults are 50/20/50/30 and
 * [10, 10, 5]); recovery 30 SGD steps (--recovery-steps) (batch 64, lr 0.01, momentum 0.9) by KD (T 4,
 * ρ 0.9) on a seeded 6400-image sample of the train split; accuracy on the first 2000 test
 * images. The β method (one-step pruning-recovery) is not compared: not merged yet.
 *
 * Usage: npm run experiments -- gwcs [--seeds 1,2] [--out .tmp/gwcs] [--recovery-steps 30] [--curve-steps 100]
 * Writes <out>/results.json and prints the tables (Markdown).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  computeCost, decodeModel, encodeModel, evaluateAccuracy, gwcs, loadDatasetFor, openSession, parseMask,
  pruneModel, readModel, train,
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
const GA = { population: 20, parents: 8, offspring: 20, survivors: 12, iterations: [4, 4, 2] };

async function accuracy(m: Model, test: Dataset): Promise<number> {
  const { session } = await openSession(m, { threads: 1 });
  try { return (await evaluateAccuracy(session, m, test, { batch: 250 })).top1; } finally { await session.release(); }
}

function copy(m: Model): Model { return decodeModel(encodeModel(m)); }

function flopsRatio(m: Model, base: Model): number { return computeCost(m).total.macs / computeCost(base).total.macs; }

interface Row { variant: string; seed: number; fitness?: number; flops: number; params: number; pruned: number; recovered: number; searchS?: number; evaluated?: number }

async function recover(m: Model, base: Model, data: Dataset, test: Dataset, seed: number, loss: 'kd' | 'ce', steps: number, evalEverySteps?: number) {
  return train(m, {
    data, evalData: test, steps, batchSize: 64, optimizer: 'sgd', lr: 0.01, momentum: 0.9, seed, loss, teacher: loss === 'kd' ? base : undefined,
    kd: { temperature: 4, rho: 0.9 }, evalEverySteps, backend: 'auto', log: () => {},
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
    const finish = async (variant: string, m: Model, extra: Partial<Row>) => {
      const pruned = await accuracy(m, test);
      await recover(m, base, trainSet, test, seed, 'kd', recoverySteps);
      const recovered = await accuracy(m, test);
      const row: Row = { variant, seed, flops: flopsRatio(m, base), params: computeCost(m).total.params / baseParams, pruned, recovered, ...extra };
      rows.push(row);
      log(`${variant} seed ${seed}: FLOPs ${row.flops.toFixed(3)} pruned ${(100 * pruned).toFixed(2)}% recovered ${(100 * recovered).toFixed(2)}%${extra.fitness !== undefined ? ` fitness ${extra.fitness.toFixed(4)} in ${extra.searchS!.toFixed(1)} s` : ''}`);
      return m;
    };
    const variants: [string, FitnessKind, Grouping][] = [['WCA GGS', 'wca', 'ggs'], ['GAP GGS', 'gap', 'ggs'], ['GMP GGS', 'gmp', 'ggs'], ['GAP+GMP GGS', 'gap+gmp', 'ggs'], ['WCA OGS', 'wca', 'ogs']];
    for (const [variant, fitness, grouping] of variants) {
      const r = await gwcs(base, { x: b.x, xDims, budget: { kind: 'flops', target: TARGET }, fitness, grouping, ...GA, iterations: grouping === 'ogs' ? [10] : GA.iterations, seed, workers: 1 });
      const m = copy(base);
      pruneModel(m, { criterion: 'mask', mask: parseMask(r.mask) });
      const unrecovered = copy(m);
      await finish(variant, m, { fitness: r.search.fitness, searchS: r.search.seconds, evaluated: r.search.evaluated });
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
      const m = copy(base);
      pruneModel(m, { flopsTarget: TARGET, criterion, roundTo: 1, seed });
      await finish(`uniform ${criterion}`, m, {});
    }
    calib.close();
    trainSet.close();
  }
  const pct = (x: number) => (100 * x).toFixed(2);
  const byVariant = new Map<string, Row[]>();
  for (const r of rows) { let l = byVariant.get(r.variant); if (!l) byVariant.set(r.variant, (l = [])); l.push(r); }
  const lines = ['| variant | seed | fitness | FLOPs kept | params kept | top-1 pruned | top-1 after KD | search s | genomes run |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.variant} | ${r.seed} | ${r.fitness?.toFixed(4) ?? '-'} | ${r.flops.toFixed(3)} | ${r.params.toFixed(3)} | ${pct(r.pruned)} | ${pct(r.recovered)} | ${r.searchS?.toFixed(1) ?? '-'} | ${r.evaluated ?? '-'} |`);
  lines.push('', '| variant | mean top-1 pruned | mean top-1 after KD |', '| --- | --- | --- |');
  for (const [v, rs] of byVariant) lines.push(`| ${v} | ${pct(rs.reduce((s, r) => s + r.pruned, 0) / rs.length)} | ${pct(rs.reduce((s, r) => s + r.recovered, 0) / rs.length)} |`);
  if (curves.kd && curves.ce) {
    const goal = curves.kd[curves.kd.length - 1]!.accuracy - 0.005;
    const reach = (c: { step: number; accuracy: number }[]) => c.find((e) => e.accuracy >= goal)?.step;
    lines.push('', `KD vs fine-tuning (CE) from the WCA/GGS genome, seed ${seeds[0]}: steps to reach ${pct(goal)}% (KD's final − 0.5): KD ${reach(curves.kd) ?? 'not reached'}, CE ${reach(curves.ce) ?? `not reached in ${curveSteps}`}`);
    lines.push('', '| step | ' + curves.kd.map((e) => e.step).join(' | ') + ' |', '| --- | ' + curves.kd.map(() => '---').join(' | ') + ' |');
    lines.push('| KD | ' + curves.kd.map((e) => pct(e.accuracy)).join(' | ') + ' |');
    lines.push('| CE | ' + curves.ce.map((e) => pct(e.accuracy)).join(' | ') + ' |');
  }
  const md = `baseline top-1 ${pct(baseAcc)}% (${test.size} test images)\n\n${lines.join('\n')}\n`;
  writeFileSync(join(out, 'results.json'), JSON.stringify({ baseAcc, rows, curves, settings: { seeds, TARGET, GA, recoverySteps, curveSteps } }, null, 2));
  writeFileSync(join(out, 'results.md'), md);
  process.stdout.write(md);
  test.close();
  curveTest.close();
}

await main();
