/**
 * `npm run bench -- search`: GWCS speed on a ResNet-20 (CIFAR size, 3×32×32) with a
 * calibration batch of 256 seeded images, onnxruntime CPU, 1 intra-op thread per session.
 *
 * 1. Genome evaluations per second: one session whose masks are graph inputs (what
 *    `sculpt search` does) against the peer that prunes a copy of the model with the
 *    genome's mask, encodes it and opens a new session per genome. Goal ≥ 10×. Measured at
 *    256 images and at 16 (where session start-up weighs more).
 * 2. The fitness summary in JS (read the feature map, Haar per channel) against the same
 *    summary computed inside the graph (LL and HH as stride-2 depthwise convs, then
 *    GlobalAveragePool / GlobalMaxPool): evals/s of each, same genomes.
 * 3. The wall time of a default search (population 50, 20 parents, 50 children, 30
 *    survivors, GGS [10, 10, 5], WCA, FLOPs target 0.5) with 2 workers (set
 *    SCULPT_BENCH_SEARCH=0 to skip; it takes minutes), and the peak RSS.
 */
import { availableParallelism } from 'node:os';
import {
  DataType, Node, Rng, Scorer, Tensor, Value, attrInt, attrInts, cosine, decodeModel, encodeModel, ensureNonEmpty, genomeToMask,
  gwcs, openSession, parseMask, prepareSearch, pruneModel, randomGenome, runSession, scatterFeature, summarize, withOutputs,
} from '../src/index.js';
import type { Model, PreparedSearch } from '../src/index.js';
import { buildModel } from '../models/index.js';
import { table } from './util.js';

function genomes(p: PreparedSearch, n: number, seed: number): Uint8Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const g = randomGenome(p.space.length, 0.7, rng);
    for (const s of p.space.stages) ensureNonEmpty(g, s, p.space, rng);
    return g;
  });
}

async function maskRate(p: PreparedSearch, x: Float32Array, xDims: number[], gs: Uint8Array[]): Promise<number> {
  const sc = await Scorer.open({ model: p.masked, dataInput: p.dataInput, x, xDims, feature: p.feature.masked, masks: p.scorerMasks, ones: p.ones, fitness: 'wca' });
  try {
    sc.setTeacher(await sc.summary(new Uint8Array(p.space.length).fill(1)));
    const t0 = performance.now();
    for (const g of gs) await sc.fitness(g);
    return gs.length / ((performance.now() - t0) / 1000);
  } finally { await sc.release(); }
}

async function rebuildRate(model: Model, p: PreparedSearch, x: Float32Array, xDims: number[], gs: Uint8Array[]): Promise<number> {
  const teacherRun = await openSession(withOutputs(model, [p.feature.original]), { threads: 1 });
  const t = (await runSession(teacherRun.session, { [p.dataInput]: { data: x, dims: xDims } }, [p.feature.original]))[p.feature.original]!;
  await teacherRun.session.release();
  const teacher = summarize('wca', t.data as Float32Array, t.dims);
  const t0 = performance.now();
  for (const g of gs) {
    const m = decodeModel(encodeModel(model));
    pruneModel(m, { criterion: 'mask', mask: parseMask(genomeToMask(p.space, g)) });
    m.graph.outputs.push(...[m.graph.nodes.flatMap((n) => n.outputs).find((o) => o?.name === p.feature.original)!]);
    const { session } = await openSession(m, { threads: 1 });
    const f = (await runSession(session, { [p.dataInput]: { data: x, dims: xDims } }, [p.feature.original]))[p.feature.original]!;
    await session.release();
    // Pruned channels are missing: put them back as zeros, as the mask session has them.
    const full = scatterFeature(p.space, g, p.feature.original, f);
    cosine(teacher, summarize('wca', full.data as Float32Array, full.dims));
  }
  return gs.length / ((performance.now() - t0) / 1000);
}

/** The masked network with the WCA summary computed in the graph: output [N, C, 1, 1]. */
function inGraphWca(p: PreparedSearch): { bytes: Uint8Array; output: string } {
  const m = decodeModel(p.masked);
  const g = m.graph;
  const f = g.outputs.find((v) => v.name === p.feature.masked)!;
  const c = f.shape![1] as number;
  const conv = (name: string, k: number[]): Value => {
    const w = new Value(m.names.fresh(`${name}_w`));
    const data = new Float32Array(c * 4);
    for (let i = 0; i < c; i++) data.set(k, i * 4);
    g.addInitializer(w, Tensor.fromFloat32(w.name, [c, 1, 2, 2], data));
    w.setTensorType(DataType.FLOAT, [c, 1, 2, 2]);
    const o = new Value(m.names.fresh(name));
    g.appendNode(new Node({ opType: 'Conv', name: m.names.fresh(name), inputs: [f, w], outputs: [o], attributes: [attrInt('group', c), attrInts('strides', [2, 2]), attrInts('kernel_shape', [2, 2])] }));
    return o;
  };
  const ll = conv('haar_ll', [0.5, 0.5, 0.5, 0.5]);
  const hh = conv('haar_hh', [0.5, -0.5, -0.5, 0.5]);
  const gap = new Value(m.names.fresh('ll_mean'));
  const gmp = new Value(m.names.fresh('hh_max'));
  const out = new Value(m.names.fresh('wca'));
  g.appendNode(new Node({ opType: 'GlobalAveragePool', name: m.names.fresh('ll_mean'), inputs: [ll], outputs: [gap] }));
  g.appendNode(new Node({ opType: 'GlobalMaxPool', name: m.names.fresh('hh_max'), inputs: [hh], outputs: [gmp] }));
  g.appendNode(new Node({ opType: 'Add', name: m.names.fresh('wca'), inputs: [gmp, gap], outputs: [out] }));
  g.outputs = [g.outputs[0]!, out];
  return { bytes: encodeModel(m), output: out.name };
}

async function inGraphRate(p: PreparedSearch, x: Float32Array, xDims: number[], gs: Uint8Array[]): Promise<{ rate: number; maxDiff: number }> {
  const { bytes, output } = inGraphWca(p);
  const { session } = await openSession(bytes, { threads: 1 });
  const js = await Scorer.open({ model: p.masked, dataInput: p.dataInput, x, xDims, feature: p.feature.masked, masks: p.scorerMasks, ones: p.ones, fitness: 'wca' });
  const feeds = (g: Uint8Array) => {
    const f: Record<string, { data: Float32Array; dims: number[] }> = { [p.dataInput]: { data: x, dims: xDims } };
    for (const o of p.ones) f[o.name] = { data: new Float32Array(o.size).fill(1), dims: [o.size] };
    for (const mk of p.scorerMasks) f[mk.name] = { data: Float32Array.from(g.subarray(mk.offset, mk.offset + mk.size)), dims: [mk.size] };
    return f;
  };
  try {
    const t0 = performance.now();
    let maxDiff = 0;
    const outs: Float32Array[] = [];
    for (const g of gs) outs.push((await runSession(session, feeds(g), [output]))[output]!.data as Float32Array);
    const rate = gs.length / ((performance.now() - t0) / 1000);
    for (let i = 0; i < 2; i++) {
      const s = await js.summary(gs[i]!);
      for (let j = 0; j < s.length; j++) maxDiff = Math.max(maxDiff, Math.abs(s[j]! - outs[i]![j]!) / Math.max(1e-6, Math.abs(s[j]!)));
    }
    return { rate, maxDiff };
  } finally { await session.release(); await js.release(); }
}

export async function benchSearch(): Promise<object> {
  const model = buildModel('resnet20', { seed: 1 });
  const p = prepareSearch(model);
  const rows: string[][] = [];
  const out: Record<string, unknown> = {};
  for (const n of [256, 16]) {
    const xDims = [n, 3, 32, 32];
    const x = new Rng(2).uniformArray(n * 3 * 32 * 32);
    const gs = genomes(p, n === 256 ? 6 : 20, 3);
    const mask = await maskRate(p, x, xDims, gs);
    const rebuild = await rebuildRate(model, p, x, xDims, gs);
    const ig = await inGraphRate(p, x, xDims, gs);
    rows.push([String(n), mask.toFixed(2), rebuild.toFixed(2), (mask / rebuild).toFixed(2), ig.rate.toFixed(2), (ig.rate / mask).toFixed(3), ig.maxDiff.toExponential(1)]);
    out[`images${n}`] = { maskEvalsPerSec: mask, rebuildEvalsPerSec: rebuild, ratio: mask / rebuild, inGraphEvalsPerSec: ig.rate, inGraphOverJs: ig.rate / mask, inGraphMaxRelDiff: ig.maxDiff };
  }
  console.log(table(['images', 'mask inputs evals/s', 'rebuild + new session evals/s', 'ratio (goal ≥ 10)', 'WCA in graph evals/s', 'in graph ÷ JS', 'max rel diff'], rows));
  if (process.env.SCULPT_BENCH_SEARCH !== '0') {
    const xDims = [256, 3, 32, 32];
    const x = new Rng(2).uniformArray(256 * 3 * 32 * 32);
    const workers = Math.min(2, availableParallelism());
    const t0 = performance.now();
    let last = 0;
    const r = await gwcs(model, { x, xDims, budget: { kind: 'flops', target: 0.5 }, workers, seed: 0, onProgress: (q) => {
      if (performance.now() - last > 10_000) { last = performance.now(); process.stderr.write(`  stage ${q.stage} gen ${q.generation} best ${q.bestFeasible.toFixed(4)} ${q.evalsPerSec.toFixed(2)} evals/s\n`); }
    } });
    const wall = (performance.now() - t0) / 1000;
    const rss = process.memoryUsage().rss / 2 ** 20;
    console.log(table(['default search', 'wall s (goal ≤ 300)', 'genomes run', 'scored', 'evals/s', 'fitness', 'FLOPs kept', 'RSS MiB'], [[
      `ResNet-20, 256 images, ${workers} workers, iterations ${r.iterations.join(',')}`, wall.toFixed(1), String(r.search.evaluated), String(r.search.evaluations), (r.search.evaluated / r.search.seconds).toFixed(2), r.search.fitness.toFixed(4), r.search.cost.toFixed(3), rss.toFixed(0),
    ]]));
    out.search = { wallS: wall, evaluated: r.search.evaluated, evaluations: r.search.evaluations, fitness: r.search.fitness, cost: r.search.cost, rssMiB: rss, workers };
  }
  return out;
}
