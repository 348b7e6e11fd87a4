/**
 * Training throughput (images/s) of `sculpt train`'s loop for the MLP 784-500-300-10
 * (batch 128) and ResNet-20 at 32x32x3 (batch 32), on every tfjs backend that starts here,
 * beside PyTorch (Debian python3-torch, /usr/bin/python3) and Keras/TensorFlow (where
 * `import tensorflow` works) training the same networks with the same optimiser in the
 * same run. Goal (issue 4): within 2x of them on a native backend.
 *
 * Each tfjs backend runs in its own child process (a backend owns its tensors), on
 * seeded random data, so data loading is not what is measured. Threads: whatever each
 * framework uses by default on this machine (2 cores).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Rng, train } from '../src/index.js';
import type { Batch, BatchOptions, Dataset } from '../src/index.js';
import { buildModel } from '../models/index.js';
import { table } from './util.js';

type Net = 'mlp' | 'resnet20';
const NETS: Record<Net, { batch: number; shape: number[]; steps: number; warmup: number }> = {
  mlp: { batch: 128, shape: [784], steps: 30, warmup: 5 },
  resnet20: { batch: 32, shape: [3, 32, 32], steps: 8, warmup: 2 },
};

/** A fixed pool of seeded random samples, served as batches. */
class RandomData implements Dataset {
  readonly name = 'random';
  readonly numClasses = 10;
  readonly #x: Float32Array;
  readonly #y: Int32Array;
  constructor(readonly size: number, readonly inputShape: number[], seed: number) {
    const rng = new Rng(seed);
    const per = inputShape.reduce((a, b) => a * b, 1);
    this.#x = rng.uniformArray(size * per);
    this.#y = Int32Array.from({ length: size }, () => rng.int(10));
  }
  *batches(batchSize: number, _opts?: BatchOptions): Generator<Batch> {
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    for (let s = 0; s + batchSize <= this.size; s += batchSize) {
      yield { x: this.#x.slice(s * per, (s + batchSize) * per), y: this.#y.slice(s, s + batchSize), n: batchSize };
    }
  }
}

/** Child process: one backend, one net; prints {imagesPerSec, msPerStep} as JSON. */
async function worker(backend: string, net: Net): Promise<void> {
  const cfg = NETS[net];
  const model = buildModel(net, { seed: 1 });
  const data = new RandomData(cfg.batch * 4, cfg.shape, 7);
  const common = { data, batchSize: cfg.batch, optimizer: 'sgd' as const, lr: 0.01, momentum: 0.9, backend: backend as 'cpu', seed: 1 };
  await train(model, { ...common, steps: cfg.warmup });
  const r = await train(model, { ...common, steps: cfg.steps });
  process.stdout.write(`${JSON.stringify({ imagesPerSec: r.imagesPerSec, msPerStep: (1000 * cfg.batch) / r.imagesPerSec, backend: r.backend })}\n`);
}

const TORCH = `
import sys, time, json, torch, torch.nn as nn
net, batch, steps, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(1)
def cbn(i, o, s=1, k=3):
    return [nn.Conv2d(i, o, k, s, k // 2, bias=False), nn.BatchNorm2d(o)]
class Block(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.body = nn.Sequential(*cbn(i, o, st), nn.ReLU(), *cbn(o, o))
        s.short = nn.Sequential(*cbn(i, o, st, 1)) if st != 1 or i != o else nn.Identity()
    def forward(s, x): return torch.relu(s.body(x) + s.short(x))
if net == 'mlp':
    m = nn.Sequential(nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 300), nn.ReLU(), nn.Linear(300, 10)); shape = (784,)
else:
    layers, c = [*cbn(3, 16), nn.ReLU()], 16
    for si, o in enumerate([16, 32, 64]):
        for bi in range(3):
            layers.append(Block(c, o, 2 if si > 0 and bi == 0 else 1)); c = o
    m = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)); shape = (3, 32, 32)
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x = torch.rand(batch, *shape); y = torch.randint(0, 10, (batch,))
lossf = nn.CrossEntropyLoss()
def step():
    opt.zero_grad(); l = lossf(m(x), y); l.backward(); opt.step()
for _ in range(warm): step()
t0 = time.perf_counter()
for _ in range(steps): step()
dt = time.perf_counter() - t0
print(json.dumps({'imagesPerSec': batch * steps / dt, 'msPerStep': 1000 * dt / steps, 'threads': torch.get_num_threads(), 'version': torch.__version__}))
`;

const KERAS = `
import sys, time, json, os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
import numpy as np, tensorflow as tf
from tensorflow import keras
L = keras.layers
net, batch, steps, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keras.utils.set_random_seed(1)
if net == 'mlp':
    inp = keras.Input((784,)); h = L.Dense(500, activation='relu')(inp); h = L.Dense(300, activation='relu')(h); out = L.Dense(10)(h); shape = (784,)
else:
    shape = (32, 32, 3)
    def cbn(x, o, s=1, k=3): return L.BatchNormalization()(L.Conv2D(o, k, s, padding='same', use_bias=False)(x))
    inp = keras.Input(shape); h = L.ReLU()(cbn(inp, 16)); c = 16
    for si, o in enumerate([16, 32, 64]):
        for bi in range(3):
            st = 2 if si > 0 and bi == 0 else 1
            b = cbn(L.ReLU()(cbn(h, o, st)), o)
            sc = cbn(h, o, st, 1) if st != 1 or c != o else h
            h = L.ReLU()(L.Add()([b, sc])); c = o
    out = L.Dense(10)(L.GlobalAveragePooling2D()(h))
m = keras.Model(inp, out)
opt = keras.optimizers.SGD(0.01, momentum=0.9)
lossf = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
x = tf.random.uniform((batch, *shape)); y = tf.random.uniform((batch,), 0, 10, dtype=tf.int32)
@tf.function
def step():
    with tf.GradientTape() as t: l = lossf(y, m(x, training=True))
    opt.apply_gradients(zip(t.gradient(l, m.trainable_variables), m.trainable_variables))
for _ in range(warm): step()
t0 = time.perf_counter()
for _ in range(steps): step()
dt = time.perf_counter() - t0
print(json.dumps({'imagesPerSec': batch * steps / dt, 'msPerStep': 1000 * dt / steps, 'version': tf.__version__}))
`;

interface Row { net: Net; runner: string; imagesPerSec?: number; msPerStep?: number; note?: string }

function lastJson(stdout: string): Record<string, number | string> | undefined {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : undefined;
}

function python(code: string, exe: string, net: Net): Row {
  const cfg = NETS[net];
  const r = spawnSync(exe, ['-c', code, net, String(cfg.batch), String(cfg.steps * (net === 'mlp' ? 4 : 2)), String(cfg.warmup)], { encoding: 'utf8', timeout: 600_000 });
  const j = r.status === 0 ? lastJson(r.stdout) : undefined;
  if (!j) return { net, runner: exe, note: `failed: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)?.slice(0, 120)}` };
  return { net, runner: '', imagesPerSec: Number(j.imagesPerSec), msPerStep: Number(j.msPerStep), note: `${j.version ?? ''}${j.threads ? `, ${j.threads} threads` : ''}` };
}

function canImport(exe: string, mod: string): boolean {
  return existsSync(exe) || exe === 'python3' ? spawnSync(exe, ['-c', `import ${mod}`], { encoding: 'utf8', timeout: 120_000 }).status === 0 : false;
}

/** Measures and prints the table; returns the rows. */
export async function benchTrain(): Promise<Row[]> {
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  for (const net of ['mlp', 'resnet20'] as Net[]) {
    for (const backend of ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']) {
      if (backend === 'cpu' && net === 'resnet20') {
        rows.push({ net, runner: `sculpt (${backend})`, note: 'skipped: the pure-JS cpu backend takes minutes per ResNet-20 step (DESIGN.md: ~400 s)' });
        continue;
      }
      const r = spawnSync(process.execPath, [self, '--worker', backend, net], { encoding: 'utf8', timeout: 900_000 });
      const j = r.status === 0 ? lastJson(r.stdout) : undefined;
      if (!j) {
        const why = (r.stderr || '').trim().split('\n').find((l) => l.startsWith('error')) ?? (r.stderr || '').trim().split('\n').at(-1) ?? 'no output';
        rows.push({ net, runner: `sculpt (${backend})`, note: `not available: ${why.slice(0, 140)}` });
        continue;
      }
      rows.push({ net, runner: `sculpt (${backend})`, imagesPerSec: Number(j.imagesPerSec), msPerStep: Number(j.msPerStep) });
    }
    if (canImport('/usr/bin/python3', 'torch')) rows.push({ ...python(TORCH, '/usr/bin/python3', net), runner: 'PyTorch (Debian python3-torch)' });
    else rows.push({ net, runner: 'PyTorch', note: 'skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)' });
    const kerasExe = ['python3', '/usr/bin/python3'].find((e) => canImport(e, 'tensorflow'));
    if (kerasExe) rows.push({ ...python(KERAS, kerasExe, net), runner: `Keras/TensorFlow (${kerasExe})` });
    else rows.push({ net, runner: 'Keras/TensorFlow', note: 'skipped: no python3 here imports tensorflow (pip install --no-index --find-links <wheel folder> tensorflow_cpu)' });
  }
  const best = (net: Net, re: RegExp) => Math.max(0, ...rows.filter((r) => r.net === net && re.test(r.runner) && r.imagesPerSec).map((r) => r.imagesPerSec!));
  console.log(table(['network (batch)', 'runner', 'images/s', 'ms/step', 'vs PyTorch', 'note'], rows.map((r) => {
    const torch = best(r.net, /PyTorch/);
    return [`${r.net} (${NETS[r.net].batch})`, r.runner, r.imagesPerSec ? r.imagesPerSec.toFixed(0) : '-', r.msPerStep ? r.msPerStep.toFixed(1) : '-',
      r.imagesPerSec && torch ? `${(r.imagesPerSec / torch).toFixed(2)}x` : '-', r.note ?? ''];
  })));
  return rows;
}

if (process.argv[2] === '--worker') {
  try {
    await worker(process.argv[3]!, process.argv[4] as Net);
  } catch (e) {
    // One line the parent can show as the reason this backend has no number.
    process.stderr.write(`error ${(e as { code?: string }).code ?? ''}: ${(e as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
