/**
 * The trainer's must-show runs (issue 4), each a real `sculpt` command line so the
 * printed command reproduces the result:
 *
 *   mlp     MLP 784-500-300-10 from scratch on MNIST          target ≥ 98.0% test accuracy
 *   lenet5  LeNet-5 from scratch on MNIST                     target ≥ 98.8%
 *   vgg     VGG-style CNN from scratch on Fashion-MNIST       target ≥ 91%
 *   kd      half-width VGG student on Fashion-MNIST: from scratch vs distilled from the
 *           trained `vgg` teacher, same epochs, same seed     target: KD > scratch
 *
 * Usage (after `npm run build`):
 *   node dist/experiments/train-baselines.js [mlp lenet5 vgg kd] [--backend tfjs-node] [--out fixtures/trained]
 * Long: run it with `nice`, one at a time. Trained models land in --out (default
 * fixtures/trained) as <name>.onnx; the results print as a Markdown table with each
 * command, and as JSON lines on stderr while running.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

interface Run {
  name: string;
  build: string[];
  train: string[];
  target?: number;
  needs?: string;
}

function args(): { names: string[]; backend: string; out: string } {
  const a = process.argv.slice(2);
  const opt = (k: string, d: string) => {
    const i = a.indexOf(k);
    return i >= 0 ? a.splice(i, 2)[1]! : d;
  };
  const backend = opt('--backend', 'auto');
  const out = resolve(opt('--out', join(ROOT, 'fixtures/trained')));
  return { names: a.length ? a : ['mlp', 'lenet5', 'vgg', 'kd'], backend, out };
}

function runs(out: string, backend: string): Run[] {
  const b = ['--backend', backend];
  const vggTeacher = join(out, 'vgg-fashion.onnx');
  const studentTrain = (teacher: boolean) => [
    '--data',
    'fashion-mnist',
    '--epochs',
    '2',
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
    ...(teacher ? ['--teacher', vggTeacher, '--loss', 'kd', '-T', '4', '--rho', '0.9'] : []),
    ...b,
  ];
  return [
    {
      name: 'mlp-mnist',
      target: 0.98,
      build: ['mlp', '--seed', '1'],
      train: ['--data', 'mnist', '--epochs', '20', '--batch', '128', '--lr', '0.05', '--weight-decay', '5e-4', '--schedule', 'cosine', '--seed', '1', ...b],
    },
    {
      name: 'lenet5-mnist',
      target: 0.988,
      build: ['lenet5', '--seed', '1'],
      train: ['--data', 'mnist', '--epochs', '10', '--batch', '128', '--lr', '0.05', '--weight-decay', '5e-4', '--schedule', 'cosine', '--seed', '1', ...b],
    },
    {
      name: 'vgg-fashion',
      target: 0.91,
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
        ...b,
      ],
    },
    { name: 'vgg-half-scratch', build: ['vgg', '--width', '0.5', '--seed', '2'], train: studentTrain(false) },
    { name: 'vgg-half-kd', build: ['vgg', '--width', '0.5', '--seed', '2'], train: studentTrain(true), needs: vggTeacher },
  ];
}

const GROUPS: Record<string, string[]> = { mlp: ['mlp-mnist'], lenet5: ['lenet5-mnist'], vgg: ['vgg-fashion'], kd: ['vgg-half-scratch', 'vgg-half-kd'] };

function sculpt(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: '' };
}

const { names, backend, out } = args();
mkdirSync(out, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'sculpt-baselines-'));
const wanted = names.flatMap((n) => GROUPS[n] ?? [n]);
const rows: string[][] = [];
try {
  for (const r of runs(out, backend).filter((x) => wanted.includes(x.name))) {
    if (r.needs && !existsSync(r.needs)) {
      console.error(`${r.name}: skipped, needs ${r.needs} (run vgg first)`);
      continue;
    }
    const init = join(tmp, `${r.name}-init.onnx`);
    const dest = join(out, `${r.name}.onnx`);
    const b = sculpt(['models', 'build', ...r.build, '-o', init]);
    if (b.code !== 0) throw new Error(`models build failed for ${r.name}`);
    const cmd = ['train', '<init>', '-o', `fixtures/trained/${r.name}.onnx`, ...r.train, '--json'];
    const t = sculpt(['train', init, '-o', dest, ...r.train, '--json']);
    if (t.code !== 0) {
      console.error(`${r.name}: sculpt train exited ${t.code}`);
      continue;
    }
    const s = JSON.parse(t.stdout) as {
      testAccuracy: number;
      bestTestAccuracy: number;
      seconds: number;
      epochs: number;
      imagesPerSec: number;
      backend: string;
      evals: { epoch: number; accuracy: number }[];
    };
    console.error(JSON.stringify({ run: r.name, ...s, evals: s.evals.map((e) => [e.epoch, e.accuracy]) }));
    const line = `sculpt models build ${r.build.join(' ')} -o <init> && sculpt ${cmd
      .filter((c) => c !== '--json')
      .join(' ')
      .replace('<init>', '<init>')}`;
    rows.push([
      r.name,
      `${(100 * s.testAccuracy).toFixed(2)}%`,
      r.target ? `${(100 * r.target).toFixed(1)}%` : '-',
      s.epochs.toFixed(0),
      s.backend,
      (s.seconds / s.epochs).toFixed(0),
      s.imagesPerSec.toFixed(0),
      `\`${line}\``,
    ]);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log('| run | test accuracy (last epoch) | target | epochs | backend | s/epoch | images/s | command |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
