/**
 * `npm run bench -- tissue`: TissueNet `--groups auto --flops-target 0.5` on torch.onnx
 * exports (ResNet-18 and ResNeXt-26 32x4d, 224×224, batch 1, BatchNorm at its initial
 * values so the exporter shares biases through Identity nodes, as real exports do), and the
 * measured onnxruntime speed-up against the FLOPs reduction: process CPU time per run,
 * 1 intra-op thread, the original and the rewritten model measured in alternating rounds
 * (min over the rounds' stable medians). Goal: speed-up ÷ FLOPs reduction ≥ 0.8.
 * Needs Debian python3-torch / python3-torchvision (for the exports); says so otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeModel, encodeModel, measureLatency, openSession, readModel, runPasses, runSession, seededInputs } from '../src/index.js';
import { tissuePass } from '../passes/tissue.js';
import type { TissueReport } from '../passes/tissue.js';
import { table } from './util.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PY = '/usr/bin/python3';

export interface TissueBenchRow {
  model: string;
  flopsBefore: number;
  flopsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
  stacked: number;
  perLayerM: string;
  shuffle: boolean;
  rewriteS: number;
  cpuBeforeMs: number;
  cpuAfterMs: number;
  wallBeforeMs: number;
  wallAfterMs: number;
  flopsReduction: number;
  cpuSpeedup: number;
  /** CPU speed-up ÷ FLOPs reduction. */
  ratio: number;
}

function cpuClock(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function latency(m: Uint8Array, clock?: () => number): Promise<number> {
  const { session } = await openSession(m, { threads: 1 });
  try {
    const feeds = seededInputs(decodeModel(m), 3, 1);
    const r = await measureLatency(() => runSession(session, feeds), {
      warmup: 3,
      minRuns: 15,
      maxRuns: 200,
      window: 8,
      tolerance: 0.01,
      maxTimeMs: 20_000,
      clock,
    });
    return r.medianMs;
  } finally {
    await session.release();
  }
}

/** Min over `rounds` alternating (a, b, a, b, ...) stable medians: drift hits both alike. */
async function interleaved(a: Uint8Array, b: Uint8Array, rounds: number, clock?: () => number): Promise<[number, number]> {
  let x = Infinity;
  let y = Infinity;
  for (let i = 0; i < rounds; i++) {
    x = Math.min(x, await latency(a, clock));
    y = Math.min(y, await latency(b, clock));
  }
  return [x, y];
}

async function benchOne(name: string, dir: string, rounds: number): Promise<TissueBenchRow> {
  const path = join(dir, `${name}.bninit.onnx`);
  const model = readModel(path);
  const original = encodeModel(model);
  let report: TissueReport | undefined;
  const t0 = performance.now();
  runPasses(model, [tissuePass()], {
    options: {
      tissue: {
        spec: { kind: 'groups', groups: 'auto' },
        flopsTarget: 0.5,
        init: 'he',
        onReport: (r: TissueReport) => {
          report = r;
        },
      },
    },
  });
  const rewriteS = (performance.now() - t0) / 1000;
  const r = report!;
  const rewritten = encodeModel(model);
  const [cb, ca] = await interleaved(original, rewritten, rounds, cpuClock);
  const [wb, wa] = await interleaved(original, rewritten, 1);
  const flopsReduction = r.before.flops / r.after.flops;
  const cpuSpeedup = cb / ca;
  const ms = [...new Set(Object.values(r.auto?.perLayer ?? {}))].sort((a, b) => a - b).join('/');
  return {
    model: name,
    flopsBefore: r.before.flops,
    flopsAfter: r.after.flops,
    paramsBefore: r.before.params,
    paramsAfter: r.after.params,
    stacked: r.layers.length,
    perLayerM: ms,
    shuffle: r.auto?.shuffle ?? false,
    rewriteS,
    cpuBeforeMs: cb,
    cpuAfterMs: ca,
    wallBeforeMs: wb,
    wallAfterMs: wa,
    flopsReduction,
    cpuSpeedup,
    ratio: cpuSpeedup / flopsReduction,
  };
}

/** Runs the tissue benchmark, prints a Markdown table, returns the rows (or why it could not run). */
export async function benchTissue(models: readonly string[] = ['resnet18', 'resnext26_32x4d'], rounds = 3): Promise<object> {
  const probe = existsSync(PY) ? spawnSync(PY, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }) : undefined;
  if (!probe || probe.status !== 0) {
    console.log('not available: needs Debian python3-torch and python3-torchvision in /usr/bin/python3 for the exports');
    return { skipped: 'python3-torch / python3-torchvision missing' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sculpt-bench-tissue-'));
  const rows: TissueBenchRow[] = [];
  try {
    const e = spawnSync(PY, [join(ROOT, 'scripts/export-torch.py'), '--out-dir', dir, '--models', models.join(','), '--size', '224', '--variants', 'bninit'], {
      encoding: 'utf8',
    });
    if (e.status !== 0) throw new Error(`export failed: ${e.stderr}`);
    for (const m of models) {
      process.stderr.write(`tissue bench: ${m}\n`);
      rows.push(await benchOne(m, dir, rounds));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const g = (x: number) => `${(x / 1e9).toFixed(2)} G`;
  const mp = (x: number) => `${(x / 1e6).toFixed(2)} M`;
  console.log(
    table(
      [
        'model (224×224, batch 1)',
        'FLOPs',
        'params',
        'stacked layers (m)',
        'rewrite s',
        'CPU ms/run',
        'wall ms/run',
        'FLOPs ÷',
        'speed-up (CPU)',
        'speed-up ÷ FLOPs÷',
      ],
      rows.map((r) => [
        r.model,
        `${g(r.flopsBefore)} → ${g(r.flopsAfter)}`,
        `${mp(r.paramsBefore)} → ${mp(r.paramsAfter)}`,
        `${r.stacked} (${r.perLayerM}${r.shuffle ? ', shuffle' : ''})`,
        r.rewriteS.toFixed(1),
        `${r.cpuBeforeMs.toFixed(1)} → ${r.cpuAfterMs.toFixed(1)}`,
        `${r.wallBeforeMs.toFixed(1)} → ${r.wallAfterMs.toFixed(1)}`,
        `${r.flopsReduction.toFixed(2)}×`,
        `${r.cpuSpeedup.toFixed(2)}×`,
        `${r.ratio.toFixed(2)}${r.ratio >= 0.8 ? '' : ' (below 0.8)'}`,
      ]),
    ),
  );
  const avx512 = (() => {
    try {
      return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      return undefined;
    }
  })();
  console.log(
    `CPU: ${cpus()[0]?.model ?? '?'}${avx512 ? ' (AVX-512)' : ''}; onnxruntime-node, 1 intra-op thread, process CPU time, min over ${rounds} alternating stable medians; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`,
  );
  return { rows };
}

// Run directly: node dist/bench/tissue.js [model...]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const names = process.argv.slice(2);
  await benchTissue(names.length ? names : undefined);
}
