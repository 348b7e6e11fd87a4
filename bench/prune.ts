/**
 * `npm run bench -- prune [--size N] [--models a,b] [--no-latency]`: channel pruning at the
 * DEFAULT settings (`--flops-target 0.5`, `--round-to auto`, L1, layer scope) and with
 * `--latency-target 0.5`, on the reference models, the torchvision exports the tests make
 * (ResNet-18, MobileNetV2, SqueezeNet 1.1, DenseNet-121, ShuffleNetV2 ×0.5; torch.onnx,
 * BN folded; skipped with the reason where Debian python3-torch is absent) and a
 * RegNetX-style grouped-conv net (bench/regnet.ts).
 *
 * Per model: FLOPs kept vs the target; onnxruntime CPU latency (1 intra-op thread, batch 1,
 * process CPU time — robust when other jobs share the machine —, min over 3 interleaved
 * rounds of stable medians) of the original and the pruned model; speed-up ÷ FLOPs
 * reduction (target ≥ 0.85: as much faster as the FLOPs promise); masked equivalence; and
 * for the latency target, the measured latency ratio (its own interleaved check) vs 0.5 and
 * what the per-layer table predicted. Ratios only; nothing here is a pass/fail test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compareModelsMs, decideRoundTo, decodeModel, encodeModel, pruneModel, pruneModelToLatency, readModel, verifyMaskedEquivalence } from '../src/index.js';
import type { Model } from '../src/index.js';
import { buildModel } from '../models/index.js';
import type { ModelName } from '../models/index.js';
import { buildRegnet } from './regnet.js';
import { table } from './util.js';

export interface PruneBenchRow {
  model: string;
  roundTo: number;
  flopsKept: number;
  cpuBeforeMs: number;
  cpuAfterMs: number;
  speedup: number;
  flopsReduction: number;
  efficiency: number;
  verified: boolean;
  remarks: string[];
  latency?: { measuredRatio: number; predictedRatio: number; baselineMs: number; measuredMs: number; flopsKept: number; attempts: number; tableS: number };
  error?: string;
}

interface Source {
  name: string;
  load: () => Model;
}

const REFERENCE: ModelName[] = ['resnet50', 'mobilenetv2', 'resnet20', 'vgg', 'lenet5', 'mlp'];
const TORCH = ['resnet18', 'mobilenet_v2', 'squeezenet1_1', 'densenet121', 'shufflenet_v2_x0_5'];

function sources(size: number, dir: string, say: (s: string) => void): Source[] {
  const out: Source[] = REFERENCE.map((n) => ({
    name: n === 'resnet50' || n === 'mobilenetv2' ? `${n} (${size}²)` : `${n} (default size)`,
    load: () => buildModel(n, n === 'resnet50' || n === 'mobilenetv2' ? { seed: 1, size, numClasses: 1000, batch: 1 } : { seed: 1, batch: 1 }),
  }));
  const py = '/usr/bin/python3';
  const probe = existsSync(py) ? spawnSync(py, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }) : undefined;
  if (!probe || probe.status !== 0) {
    say('torchvision exports skipped: Debian python3-torch / python3-torchvision not installed in /usr/bin/python3');
  } else {
    say(`exporting ${TORCH.join(', ')} at ${size}² with torch.onnx.export`);
    const r = spawnSync(
      py,
      [
        join(process.cwd(), 'scripts/export-torch.py'),
        '--out-dir',
        dir,
        '--models',
        TORCH.join(','),
        '--size',
        String(size),
        '--classes',
        '1000',
        '--variants',
        'bnfold',
      ],
      { encoding: 'utf8', timeout: 900_000 },
    );
    if (r.status !== 0) say(`torchvision export failed: ${r.stderr.slice(-500)}`);
    for (const n of TORCH) {
      const p = join(dir, `${n}.bnfold.onnx`);
      if (existsSync(p)) out.push({ name: `${n} (torch.onnx, ${size}²)`, load: () => readModel(p) });
    }
  }
  out.push({ name: `regnet-style, group width 32 (${size}²)`, load: () => buildRegnet({ size }) });
  return out;
}

async function benchOne(src: Source, opts: { latency: boolean; rounds: number }, say: (s: string) => void): Promise<PruneBenchRow> {
  const model = src.load();
  const original = encodeModel(model);
  say(`${src.name}: prune to half the FLOPs at the default settings`);
  const out = pruneModel(model, { flopsTarget: 0.5, criterion: 'l1', scope: 'layer' });
  const v = await verifyMaskedEquivalence(decodeModel(original), model, out.applied.pruned, { untied: out.report.untied, trials: 1, batch: 1 });
  const pruned = encodeModel(model);
  say(`${src.name}: timing original vs pruned (${opts.rounds} interleaved rounds, CPU time)`);
  const [cb, ca] = await compareModelsMs(original, pruned, { threads: 1, batch: 1, clock: 'cpu' }, opts.rounds);
  const flopsKept = out.report.summary.flopsRatio;
  const speedup = cb / ca;
  const row: PruneBenchRow = {
    model: src.name,
    roundTo: out.plan.roundTo,
    flopsKept,
    cpuBeforeMs: cb,
    cpuAfterMs: ca,
    speedup,
    flopsReduction: 1 / flopsKept,
    efficiency: speedup * flopsKept,
    verified: v.ok,
    remarks: out.plan.remarks.filter((r) => /target|not reachable/.test(r)),
  };
  if (opts.latency) {
    say(`${src.name}: --latency-target 0.5 (per-layer table, cached in $XDG_CACHE_HOME/sculpt)`);
    const m2 = decodeModel(original);
    const t0 = process.cpuUsage();
    const lt = await pruneModelToLatency(
      m2,
      { latencyTarget: 0.5, criterion: 'l1', scope: 'layer' },
      { threads: 1, batch: 1, clock: 'cpu', rounds: opts.rounds, onProgress: (s) => say(`  ${s}`) },
    );
    const t = process.cpuUsage(t0);
    const l = lt.report.latency!;
    row.remarks.push(...lt.plan.remarks.filter((r) => /latency target/.test(r)));
    row.latency = {
      measuredRatio: l.measuredRatio,
      predictedRatio: l.predictedRatio,
      baselineMs: l.baselineMs,
      measuredMs: l.measuredMs,
      flopsKept: lt.report.summary.flopsRatio,
      attempts: l.attempts.length,
      tableS: (t.user + t.system) / 1e6,
    };
  }
  return row;
}

/** Runs the benchmark, prints a Markdown table, returns the rows. */
export async function benchPrune(args: readonly string[] = []): Promise<object> {
  const get = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const size = Number(get('--size') ?? 224);
  const only = get('--models')?.split(',');
  const latency = !args.includes('--no-latency');
  const rounds = Number(get('--rounds') ?? 3);
  const say = (s: string) => process.stderr.write(`bench prune: ${s}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'sculpt-bench-prune-'));
  const rows: PruneBenchRow[] = [];
  try {
    for (const s of sources(size, dir, say)) {
      if (only && !only.some((o) => s.name.startsWith(o))) continue;
      try {
        rows.push(await benchOne(s, { latency, rounds }, say));
      } catch (e) {
        rows.push({
          model: s.name,
          roundTo: 0,
          flopsKept: NaN,
          cpuBeforeMs: NaN,
          cpuAfterMs: NaN,
          speedup: NaN,
          flopsReduction: NaN,
          efficiency: NaN,
          verified: false,
          remarks: [],
          error: (e as Error).message.slice(0, 200),
        });
      }
      const r = rows[rows.length - 1]!;
      say(
        `${r.model}: ${r.error ?? `FLOPs kept ${r.flopsKept.toFixed(4)}, speed-up ${r.speedup.toFixed(2)}×, ÷ FLOPs reduction ${r.efficiency.toFixed(2)}${r.latency ? `; latency target 0.5 → measured ${r.latency.measuredRatio.toFixed(3)}` : ''}`}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');
  console.log(
    table(
      [
        'model (batch 1)',
        'round-to (auto)',
        'FLOPs kept (target 0.5)',
        'CPU ms before → after',
        'speed-up',
        'speed-up ÷ FLOPs reduction',
        'verified',
        'latency-target 0.5: measured (predicted)',
        'its FLOPs kept',
        'notes',
      ],
      rows.map((r) => [
        r.model,
        r.roundTo ? String(r.roundTo) : '—',
        f(r.flopsKept, 4),
        `${f(r.cpuBeforeMs)} → ${f(r.cpuAfterMs)}`,
        `${f(r.speedup)}×`,
        `${f(r.efficiency)}${r.efficiency >= 0.85 || !Number.isFinite(r.efficiency) ? '' : ' (< 0.85)'}`,
        r.error ? '—' : r.verified ? 'yes' : 'NO',
        r.latency
          ? `${f(r.latency.measuredRatio, 3)} (${f(r.latency.predictedRatio, 3)})${Math.abs(r.latency.measuredRatio / 0.5 - 1) <= 0.1 ? '' : ' (off > 10%)'}`
          : '—',
        r.latency ? f(r.latency.flopsKept, 3) : '—',
        r.error ? `error: ${r.error}` : r.remarks.join('; '),
      ]),
    ),
  );
  const auto = decideRoundTo('cpu');
  console.log(
    `CPU: ${cpus()[0]?.model ?? '?'} — round-to auto: ${auto.reason}; onnxruntime-node, 1 intra-op thread, process CPU time, min over ${rounds} interleaved stable medians; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`,
  );
  return { rows };
}

// Run directly: node dist/bench/prune.js [--size N] [--models a,b] [--no-latency]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchPrune(process.argv.slice(2));
}
