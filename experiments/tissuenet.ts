/**
 * TissueNet in small (issue 6), each run a real `sculpt tissue` command line so the printed
 * command reproduces the number:
 *
 *   mlp     MNIST MLP 784-500-300-10 → TissueNet (fc1, fc2 as 4 units, shuffle between):
 *           ≥ 90% fewer FLOPs and params, accuracy within 1.0 point (paper: 97% fewer FLOPs,
 *           −0.7 points). Also answers "init he or original?": accuracy right after the
 *           rewrite, and after the same training with CE and with distillation.
 *   lenet5  LeNet-5 on MNIST, single vs hybrid units at equal cost (paper Table 5), 3 seeds.
 *   vgg     the VGG-style CNN on Fashion-MNIST with strategy r (first and last block and the
 *           head stay normal), distilled from the original.
 *   auto    `--groups auto` on ResNet-20 x4 (seeded, untrained; latency only) against fixed m
 *           that leave fewer than 16 channels per group.
 * Every run is validated against its baseline in onnxruntime (CPU, 1 thread): top-1, CE,
 * SE, params, FLOPs; then, after all training is done, `sculpt validate --latency` measures
 * the median latency at batch 1 and 32 of each, the speed-up and speed-up ÷ FLOPs ratio.
 *
 * Baselines: fixtures/trained/{mlp-mnist,lenet5-mnist,vgg-fashion}.onnx (made by
 * experiments/train-baselines.ts); a missing one is trained here with the same recipe.
 *
 * Usage (after `npm run build`; long, run it with `nice`, one at a time):
 *   npm run experiments -- tissuenet [mlp lenet5 vgg] [--out .tmp/tissuenet] [--backend auto] [--epochs-scale 1]
 *   npm run experiments -- tissuenet --latency-only [--out ...]   (re-measure latency of finished runs)
 * Writes <out>/<run>.onnx, <out>/<run>.json (the full `sculpt tissue --json` summary),
 * <out>/results.json and <out>/results.md (the table), and prints the table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, openSession, readModel, runSession } from '../src/index.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

/** `train: null`: the seeded, untrained model is the baseline (latency-only runs). */
interface Baseline {
  file: string;
  build: string[];
  train: string[] | null;
  data: string | null;
}

interface Run {
  group: 'mlp' | 'lenet5' | 'vgg' | 'auto';
  name: string;
  /** `sculpt tissue` arguments after `<baseline> -o <out>`. */
  args: string[];
  note: string;
}

function options(): { groups: string[]; out: string; backend: string; scale: number; latencyOnly: boolean } {
  const a = process.argv.slice(2);
  const flag = (k: string) => {
    const i = a.indexOf(k);
    if (i >= 0) a.splice(i, 1);
    return i >= 0;
  };
  const latencyOnly = flag('--latency-only');
  const opt = (k: string, d: string) => {
    const i = a.indexOf(k);
    return i >= 0 ? a.splice(i, 2)[1]! : d;
  };
  const out = resolve(opt('--out', join(ROOT, '.tmp/tissuenet')));
  const backend = opt('--backend', 'auto');
  const scale = Number(opt('--epochs-scale', '1'));
  return { groups: a.length ? a : ['mlp', 'lenet5', 'vgg', 'auto'], out, backend, scale, latencyOnly };
}

const BASELINES: Record<Run['group'], Baseline> = {
  mlp: {
    file: 'fixtures/trained/mlp-mnist.onnx',
    data: 'mnist',
    build: ['mlp', '--seed', '1'],
    train: ['--data', 'mnist', '--epochs', '20', '--batch', '128', '--lr', '0.05', '--weight-decay', '5e-4', '--schedule', 'cosine', '--seed', '1'],
  },
  lenet5: {
    file: 'fixtures/trained/lenet5-mnist.onnx',
    data: 'mnist',
    build: ['lenet5', '--seed', '1'],
    train: ['--data', 'mnist', '--epochs', '10', '--batch', '128', '--lr', '0.05', '--weight-decay', '5e-4', '--schedule', 'cosine', '--seed', '1'],
  },
  auto: { file: '', data: null, build: ['resnet20', '--width', '4', '--seed', '1'], train: null },
  vgg: {
    file: 'fixtures/trained/vgg-fashion.onnx',
    data: 'fashion-mnist',
    build: ['vgg', '--seed', '1'],
    train: [
      '--data',
      'fashion-mnist',
      '--epochs',
      '8',
      '--batch',
      '128',
      '--lr',
      '0.05',
      '--weight-decay',
      '5e-4',
      '--schedule',
      'cosine',
      '--flip',
      '--crop',
      '2',
      '--seed',
      '1',
    ],
  },
};

function runs(scale: number, backend: string): Run[] {
  const ep = (n: number) => String(Math.max(1, Math.round(n * scale)));
  const fit = (data: string, epochs: number, seed: number, teacher: boolean) => [
    '--train',
    '--data',
    data,
    '--epochs',
    ep(epochs),
    '--batch',
    '128',
    '--optimizer',
    'adam',
    '--lr',
    '0.001',
    '--schedule',
    'cosine',
    '--seed',
    String(seed),
    '--backend',
    backend,
    ...(teacher ? ['--teacher', 'original'] : []),
  ];
  const mlp = ['--select', 'fc1,fc2', '--groups', '4', '--hidden', '20', '--shuffle'];
  const lenetSingle = ['--select', 'conv2,fc1,fc2', '--shuffle', '--layer', 'conv2=3:8:8', '--layer', 'fc1=100:10:30', '--layer', 'fc2=30:8:21'];
  // Equal weights per layer: conv2 2·(25·3·8 + 8·8) = 1328 vs 6·(25·2 + 5) + 9·(25·4 + 11) = 1329;
  // fc1 4·10·130 = 5200 = 12·260 + 8·130 + 2·8·65; fc2 4·8·51 = 1632 = 8·102 + 2·8·51.
  const lenetHybrid = [
    '--select',
    'conv2,fc1,fc2',
    '--shuffle',
    '--layer',
    'conv2=2:6:5*1,4:9:11*1',
    '--layer',
    'fc1=200:12:60*1,100:8:30*1,50:8:15*2',
    '--layer',
    'fc2=60:8:42*1,30:8:21*2',
  ];
  const out: Run[] = [
    { group: 'mlp', name: 'mlp-he-untrained', args: [...mlp, '--init', 'he', '--seed', '1'], note: 'init he, no training' },
    { group: 'mlp', name: 'mlp-original-untrained', args: [...mlp, '--init', 'original', '--seed', '1'], note: 'init original, no training' },
    { group: 'mlp', name: 'mlp-he-ce', args: [...mlp, '--init', 'he', ...fit('mnist', 10, 1, false)], note: 'init he, CE' },
    { group: 'mlp', name: 'mlp-original-ce', args: [...mlp, '--init', 'original', ...fit('mnist', 10, 1, false)], note: 'init original, CE' },
    { group: 'mlp', name: 'mlp-he-kd', args: [...mlp, '--init', 'he', ...fit('mnist', 10, 1, true)], note: 'init he, KD from the original' },
    { group: 'mlp', name: 'mlp-original-kd', args: [...mlp, '--init', 'original', ...fit('mnist', 10, 1, true)], note: 'init original, KD from the original' },
    {
      group: 'mlp',
      name: 'mlp-h10-original-kd',
      args: ['--select', 'fc1,fc2', '--groups', '4', '--hidden', '10', '--shuffle', '--init', 'original', ...fit('mnist', 10, 1, true)],
      note: 'hidden 10 (paper-size compression), init original, KD',
    },
  ];
  for (const seed of [1, 2, 3]) {
    out.push({
      group: 'lenet5',
      name: `lenet5-single-s${seed}`,
      args: [...lenetSingle, ...fit('mnist', 8, seed, false)],
      note: `single units, CE from scratch, seed ${seed}`,
    });
    out.push({
      group: 'lenet5',
      name: `lenet5-hybrid-s${seed}`,
      args: [...lenetHybrid, ...fit('mnist', 8, seed, false)],
      note: `hybrid units (random positions, seed ${seed}), CE from scratch`,
    });
  }
  out.push(
    {
      group: 'vgg',
      name: 'vgg-r-g4-shuffle-original-kd',
      args: ['--strategy', 'r', '--groups', '4', '--shuffle', '--init', 'original', ...fit('fashion-mnist', 5, 1, true)],
      note: 'strategy r, m=4, shuffle, init original, KD',
    },
    {
      group: 'vgg',
      name: 'vgg-r-g4-shuffle-he-kd',
      args: ['--strategy', 'r', '--groups', '4', '--shuffle', '--init', 'he', ...fit('fashion-mnist', 5, 1, true)],
      note: 'strategy r, m=4, shuffle, init he, KD',
    },
    // --groups auto on a CNN wide enough for onnxruntime's NCHWc layout (ResNet-20 x4:
    // 64/128/256 channels, seeded, untrained: latency only), against fixed m below 16 per group.
    { group: 'auto', name: 'resnet20x4-auto', args: ['--groups', 'auto', '--flops-target', '0.7'], note: 'groups auto (FLOPs ≤ 70%, ≥ 16 channels per group)' },
    { group: 'auto', name: 'resnet20x4-g8', args: ['--groups', '8'], note: 'm = 8 (8 channels per group in stage 1)' },
    { group: 'auto', name: 'resnet20x4-g16', args: ['--groups', '16'], note: 'm = 16 (4 channels per group in stage 1)' },
    {
      group: 'vgg',
      name: 'vgg-r-g2-original-kd',
      args: ['--strategy', 'r', '--groups', '2', '--init', 'original', ...fit('fashion-mnist', 5, 1, true)],
      note: 'strategy r, m=2 (block2.conv1 only), init original, KD',
    },
  );
  return out;
}

function sculpt(argv: string[]): { code: number; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...argv], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 2 ** 20 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '' };
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function ensureBaseline(b: Baseline, out: string, backend: string): string {
  const have = join(ROOT, b.file);
  if (b.file && existsSync(have)) return have;
  const dest = join(out, `baseline-${b.build[0]}.onnx`);
  if (existsSync(dest)) return dest;
  const init = b.train ? join(out, `baseline-${b.build[0]}-init.onnx`) : dest;
  if (sculpt(['models', 'build', ...b.build, '-o', init]).code !== 0) throw new Error(`sculpt models build ${b.build.join(' ')} failed`);
  if (!b.train) return dest;
  process.stderr.write(`training the missing baseline ${b.file} into ${dest}\n`);
  if (sculpt(['train', init, '-o', dest, ...b.train, '--backend', backend, '--json']).code !== 0) throw new Error(`baseline training for ${b.file} failed`);
  return dest;
}

interface Row {
  run: string;
  note: string;
  command: string;
  top1: number | null;
  baselineTop1: number | null;
  dropPoints: number | null;
  params: number;
  baselineParams: number;
  flops: number;
  baselineFlops: number;
  ce: number | null;
  se: number | null;
  latencyMs: number | null;
  baselineLatencyMs: number | null;
  speedup: number | null;
  speedup32: number | null;
  /** Measured speed-up ÷ ideal speed-up (FLOPs_b / FLOPs). */
  speedupVsFlops: number | null;
  latency32Ms?: number;
  baselineLatency32Ms?: number;
  speedup32VsFlops?: number;
  trainSeconds: number | null;
  /** The command that measured the latency. */
  latencyCommand?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
function row(r: Run, command: string, s: any): Row {
  const v = s.validation;
  const m = v.model;
  const b = v.baseline;
  const c = v.comparison;
  const top1 = m.accuracy?.top1 ?? null;
  const bt = b.accuracy?.top1 ?? null;
  const flopsRatio = b.flops ? m.flops / b.flops : null;
  return {
    run: r.name,
    note: r.note,
    command,
    top1,
    baselineTop1: bt,
    dropPoints: top1 !== null && bt !== null ? (bt - top1) * 100 : null,
    params: m.params,
    baselineParams: b.params,
    flops: m.flops,
    baselineFlops: b.flops,
    ce: c.ce,
    se: c.se,
    latencyMs: m.latency?.batch1.medianMs ?? null,
    baselineLatencyMs: b.latency?.batch1.medianMs ?? null,
    speedup: c.speedup.batch1,
    speedup32: c.speedup.batch,
    speedupVsFlops: c.speedup.batch1 !== null && flopsRatio ? c.speedup.batch1 * flopsRatio : null,
    trainSeconds: s.train?.seconds ?? null,
  };
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/** Median ms per run of two models, timed in alternating rounds on the same seeded input. */
async function interleaved(modelPath: string, basePath: string, batch: number): Promise<{ model: number; baseline: number }> {
  const open = async (p: string) => {
    const m = readModel(p);
    const { session } = await openSession(m, { threads: 1 });
    const x = m.graph.inputs.find((v) => !v.initializer)!;
    const dims = x.shape!.map((dd) => (typeof dd === 'number' ? dd : batch));
    const feeds = { [x.name]: { data: new Rng(1).uniformArray(dims.reduce((a, b) => a * b, 1)), dims } };
    return { session, feeds };
  };
  const [a, b] = [await open(modelPath), await open(basePath)];
  const time = async (s: typeof a, n: number, out: number[] | null) => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await runSession(s.session, s.feeds);
      out?.push(performance.now() - t0);
    }
  };
  await time(a, 20, null);
  await time(b, 20, null);
  const probe: number[] = [];
  await time(b, 10, probe);
  const per = Math.max(5, Math.min(100, Math.round(50 / Math.max(median(probe), 1e-3))));
  const ta: number[] = [];
  const tb: number[] = [];
  for (let r = 0; r < 20; r++) {
    await time(a, per, ta);
    await time(b, per, tb);
  }
  await a.session.release();
  await b.session.release();
  return { model: median(ta), baseline: median(tb) };
}

const f = (x: number | null, d = 2, scale = 1, suffix = '') => (x === null ? '-' : `${(x * scale).toFixed(d)}${suffix}`);

function markdown(rows: Row[]): string {
  const head =
    '| run | what | top-1 | baseline | drop (pts) | params | FLOPs | CE | SE | ms b1 (base) | ms b32 (base) | speed-up b1 / b32 | speed-up ÷ ideal b1 / b32 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const lines = rows.map(
    (r) =>
      `| ${r.run} | ${r.note} | ${f(r.top1, 2, 100, '%')} | ${f(r.baselineTop1, 2, 100, '%')} | ${f(r.dropPoints, 2)} | ${r.params} (${f(r.params / r.baselineParams, 1, 100, '%')}) | ${r.flops} (${f(r.flops / r.baselineFlops, 1, 100, '%')}) | ${f(r.ce)} | ${f(r.se)} | ${f(r.latencyMs, 4)} (${f(r.baselineLatencyMs, 4)}) | ${f(r.latency32Ms ?? null, 3)} (${f(r.baselineLatency32Ms ?? null, 3)}) | ${f(r.speedup)}x / ${f(r.speedup32)}x | ${f(r.speedupVsFlops)} / ${f(r.speedup32VsFlops ?? null)} |`,
  );
  const cmds = rows.map((r) => `- ${r.run}: \`${r.command}\`${r.latencyCommand ? `; latency: \`${r.latencyCommand}\`` : ''}`);
  return `${head}\n${lines.join('\n')}\n\nCommands (run from the repository root; seeds as given):\n\n${cmds.join('\n')}\n`;
}

const { groups, out, backend, scale, latencyOnly } = options();
mkdirSync(out, { recursive: true });
const rows: Row[] = latencyOnly && existsSync(join(out, 'results.json')) ? (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Row[]) : [];
const done: { r: Run; base: string; dest: string; row: Row }[] = [];
const save = () => {
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(rows, null, 2)}\n`);
  writeFileSync(join(out, 'results.md'), markdown(rows));
};
// Phase 1: rewrite, train, and measure accuracy. No latency here: the runs share the CPU
// with training, which would make the timings worthless.
for (const r of runs(scale, backend).filter((x) => groups.includes(x.group))) {
  if (latencyOnly) {
    // Re-measure latency only (e.g. on a quiet machine) for the runs already in results.json.
    const have = rows.find((x) => x.run === r.name);
    if (have && existsSync(join(out, `${r.name}.onnx`)))
      done.push({ r, base: ensureBaseline(BASELINES[r.group], out, backend), dest: join(out, `${r.name}.onnx`), row: have });
    continue;
  }
  const base = ensureBaseline(BASELINES[r.group], out, backend);
  const dest = join(out, `${r.name}.onnx`);
  const bd = BASELINES[r.group].data;
  const data = r.args.includes('--data') || !bd ? [] : ['--data', bd];
  const argv = ['tissue', base, '-o', dest, ...r.args, ...data, '--json'];
  const command = `sculpt ${argv
    .map((a) => (a === base ? relative(ROOT, base) : a === dest ? `${relative(ROOT, out)}/${r.name}.onnx` : a))
    .map(quote)
    .join(' ')}`;
  process.stderr.write(`\n== ${r.name}: ${command}\n`);
  const t = sculpt(argv);
  if (t.code !== 0) {
    process.stderr.write(`${r.name}: sculpt tissue exited ${t.code}\n`);
    continue;
  }
  writeFileSync(join(out, `${r.name}.json`), t.stdout);
  const rw = row(r, command, JSON.parse(t.stdout));
  rows.push(rw);
  done.push({ r, base, dest, row: rw });
  process.stderr.write(`${JSON.stringify(rw)}\n`);
  save();
}
// Phase 2: latency of each rewritten model against its baseline, after all training
// (onnxruntime CPU, 1 intra-op thread, graph optimisations on). The two sessions run
// interleaved, round by round, so drift of the shared machine hits both alike; each
// number is the median of 100–2000 timed runs (20 rounds of 5–100). Batch-1 times of these nets are tens of
// microseconds, mostly per-call overhead: batch 32 is the one that shows compute.
for (const d of done) {
  const b1 = await interleaved(d.dest, d.base, 1);
  const b32 = await interleaved(d.dest, d.base, 32);
  d.row.latencyMs = b1.model;
  d.row.baselineLatencyMs = b1.baseline;
  d.row.latency32Ms = b32.model;
  d.row.baselineLatency32Ms = b32.baseline;
  d.row.speedup = b1.baseline / b1.model;
  d.row.speedup32 = b32.baseline / b32.model;
  d.row.speedupVsFlops = d.row.speedup * (d.row.flops / d.row.baselineFlops);
  d.row.speedup32VsFlops = d.row.speedup32 * (d.row.flops / d.row.baselineFlops);
  d.row.latencyCommand = `npm run experiments -- tissuenet ${d.r.group} --latency-only --out ${relative(ROOT, out)}`;
  process.stderr.write(
    `${d.r.name}: batch 1 ${b1.model.toFixed(4)} vs ${b1.baseline.toFixed(4)} ms, batch 32 ${b32.model.toFixed(3)} vs ${b32.baseline.toFixed(3)} ms\n`,
  );
  save();
}
process.stdout.write(markdown(rows));
