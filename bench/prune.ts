/**
 * `npm run bench -- prune`: channel pruning to 50% of the FLOPs on ResNet-50 and
 * MobileNetV2 at 224×224 — analysis, prune and save seconds; onnxruntime CPU latency
 * (1 intra-op thread, warm-up then runs until the median is stable) of the original and
 * the pruned model; and speed-up ÷ FLOPs reduction (target ≥ 0.85: the pruned model is
 * as much faster as its FLOPs promise). Masked equivalence is checked on the way.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  analyzeChannelGroups, applyChannelPruning, computeCost, decodeModel, encodeModel, measureLatency, openSession,
  planPruning, retieConstants, runSession, saveModel, seededInputs, untieSharedConstants, verifyMaskedEquivalence,
} from '../src/index.js';
import { buildModel } from '../models/index.js';
import type { ModelName } from '../models/index.js';
import { table } from './util.js';

export interface PruneBenchRow {
  model: string;
  roundTo: number;
  flopsBefore: number;
  flopsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
  analysisS: number;
  pruneS: number;
  saveS: number;
  latencyBeforeMs: number;
  latencyAfterMs: number;
  /** Median process CPU time per run (robust to other load on the machine). */
  cpuBeforeMs: number;
  cpuAfterMs: number;
  runs: number;
  speedup: number;
  cpuSpeedup: number;
  flopsReduction: number;
  efficiency: number;
  cpuEfficiency: number;
  verified: boolean;
}

/** Process CPU time in ms: under a loaded machine it still counts only this inference's work. */
function cpuClock(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function latency(m: Uint8Array, clock?: () => number): Promise<{ medianMs: number; runs: number }> {
  const { session } = await openSession(m, { threads: 1 });
  try {
    const feeds = seededInputs(decodeModel(m), 3, 1);
    const r = await measureLatency(() => runSession(session, feeds), { warmup: 5, minRuns: 20, maxRuns: 300, window: 10, tolerance: 0.01, maxTimeMs: 30_000, clock });
    return { medianMs: r.medianMs, runs: r.runs };
  } finally {
    await session.release();
  }
}

/** Min over `rounds` alternating stable medians of the two models (drift hits both alike). */
async function compare(a: Uint8Array, b: Uint8Array, rounds: number, clock?: () => number): Promise<[number, number, number]> {
  let x = Infinity, y = Infinity, runs = 0;
  for (let i = 0; i < rounds; i++) {
    const la = await latency(a, clock);
    const lb = await latency(b, clock);
    x = Math.min(x, la.medianMs);
    y = Math.min(y, lb.medianMs);
    runs += la.runs + lb.runs;
  }
  return [x, y, runs];
}

async function benchOne(name: ModelName, roundTo: number, dir: string): Promise<PruneBenchRow> {
  const model = buildModel(name, { seed: 1, size: 224, numClasses: 1000, batch: 1 });
  const original = encodeModel(model);
  let t = performance.now();
  const lap = () => { const now = performance.now(); const s = (now - t) / 1000; t = now; return s; };
  const before = computeCost(model);
  const untied = untieSharedConstants(model);
  const analysis = analyzeChannelGroups(model);
  const analysisS = lap();
  const plan = planPruning(model, analysis, before, { flopsTarget: 0.5, criterion: 'l1', scope: 'layer', roundTo });
  const applied = applyChannelPruning(model, analysis, plan.keep);
  retieConstants(model, untied);
  const after = computeCost(model);
  const pruneS = lap();
  const saved = saveModel(model, join(dir, `${name}.r${roundTo}.pruned.onnx`));
  const saveS = lap();
  void saved;
  const v = await verifyMaskedEquivalence(decodeModel(original), model, applied.pruned, { untied, trials: 1, batch: 1 });
  const pruned = encodeModel(model);
  const [lb, la, runs] = await compare(original, pruned, 2);
  const [cb, ca] = await compare(original, pruned, 2, cpuClock);
  const speedup = lb / la;
  const cpuSpeedup = cb / ca;
  const flopsReduction = before.total.flops / after.total.flops;
  return {
    model: name, roundTo, flopsBefore: before.total.flops, flopsAfter: after.total.flops, paramsBefore: before.total.params, paramsAfter: after.total.params,
    analysisS, pruneS, saveS, latencyBeforeMs: lb, latencyAfterMs: la, cpuBeforeMs: cb, cpuAfterMs: ca, runs,
    speedup, cpuSpeedup, flopsReduction, efficiency: speedup / flopsReduction, cpuEfficiency: cpuSpeedup / flopsReduction, verified: v.ok,
  };
}

/**
 * Runs the prune benchmark, prints a Markdown table, returns the rows. Each model is pruned
 * with the default `--round-to 8` and with 16: onnxruntime's NCHWc conv kernels use blocks
 * of 16 channels on AVX-512 CPUs (8 on AVX2), and counts between blocks are padded.
 */
export async function benchPrune(models: readonly ModelName[] = ['resnet50', 'mobilenetv2'], roundTos: readonly number[] = [8, 16]): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'sculpt-bench-prune-'));
  const rows: PruneBenchRow[] = [];
  try {
    for (const m of models) for (const r of roundTos) rows.push(await benchOne(m, r, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const g = (x: number) => `${(x / 1e9).toFixed(2)} G`;
  const mp = (x: number) => `${(x / 1e6).toFixed(2)} M`;
  console.log(table(
    ['model (224×224, batch 1)', 'round-to', 'FLOPs', 'params', 'analysis s', 'prune s', 'save s', 'latency ms (wall)', 'CPU ms', 'FLOPs ÷', 'speed-up (wall)', 'speed-up (CPU)', 'speed-up ÷ FLOPs÷ (wall / CPU)', 'verified'],
    rows.map((r) => [
      r.model, String(r.roundTo), `${g(r.flopsBefore)} → ${g(r.flopsAfter)}`, `${mp(r.paramsBefore)} → ${mp(r.paramsAfter)}`,
      r.analysisS.toFixed(2), r.pruneS.toFixed(2), r.saveS.toFixed(2),
      `${r.latencyBeforeMs.toFixed(1)} → ${r.latencyAfterMs.toFixed(1)}`, `${r.cpuBeforeMs.toFixed(1)} → ${r.cpuAfterMs.toFixed(1)}`, `${r.flopsReduction.toFixed(2)}×`,
      `${r.speedup.toFixed(2)}×`, `${r.cpuSpeedup.toFixed(2)}×`, `${r.efficiency.toFixed(2)} / ${r.cpuEfficiency.toFixed(2)}${Math.max(r.efficiency, r.cpuEfficiency) >= 0.85 ? '' : ' (below 0.85)'}`, r.verified ? 'yes' : 'NO',
    ]),
  ));
  const avx512 = (() => { try { return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8')); } catch { return undefined; } })();
  console.log(`CPU: ${cpus()[0]?.model ?? '?'}${avx512 === undefined ? '' : avx512 ? ' (AVX-512: NCHWc block 16)' : ' (no AVX-512: NCHWc block 8)'}; onnxruntime-node, 1 intra-op thread, min over 2 alternating stable medians; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`);
  return { rows };
}

// Run directly: node dist/bench/prune.js [model...]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const names = process.argv.slice(2) as ModelName[];
  await benchPrune(names.length ? names : undefined);
}
