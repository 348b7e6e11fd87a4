/**
 * Training throughput (images/s) of `sculpt train`'s loop for the MLP 784-500-300-10
 * (batch 128), ResNet-20 at 32x32x3 (batch 32), MobileNetV2 at 64x64x3 (batch 16) and a
 * depthwise + SE + hard-swish net at 3x48x192 (batch 32; mobile-se.ts), on every tfjs backend that starts here,
 * beside PyTorch (Debian python3-torch, /usr/bin/python3) and Keras/TensorFlow (where
 * `import tensorflow` works) training the same networks with the same optimiser in the
 * same run. Goals (issue 12): tfjs-node within 1.5x of Keras (the same TensorFlow kernels),
 * wasm within 4x of PyTorch on ResNet-20 and the depthwise net. The python peers print their
 * trainable parameter count: the same for the three implementations of each network.
 *
 * Windows: the python peers and the native backends measure the same number of steps
 * (peerSteps), the wasm and cpu backends fewer; every runner first warms up (cfg.warmup
 * steps: the MLP's 30 let V8 optimise the trainer's code, whose first 30 steps cost 1–3 ms
 * more each, docs/benchmarks.md).
 * SCULPT_BENCH_STEPS=n measures n steps per sculpt backend (a longer memory window).
 * SCULPT_BENCH_NETS=mlp,resnet20 and SCULPT_BENCH_BACKENDS=tfjs-node,wasm limit the networks
 * and the sculpt backends measured (default: all).
 *
 * Each tfjs backend runs in its own child process (a backend owns its tensors), on
 * seeded random data, so data loading is not what is measured. Threads: whatever each
 * framework uses by default on this machine (2 cores). Each worker also reports tensor
 * count and RSS after its first and last step (flat = nothing leaks per step), the peak
 * tensor memory of each step (tfjs' count, from the loop's backward pass: the largest of the
 * window, with the smallest when they differ, and per image), and on wasm the heap's size
 * after the first and the last step (it only grows: what the steps needed, with the
 * allocator's slack). The window crosses an epoch boundary of the random pool.
 *
 * `--heap` measures instead the wasm heap a training step needs per image (heapTable);
 * `--memory` where a step's memory goes (memoryWorker; SCULPT_BENCH_BATCH sets the batch).
 *
 * `--profile` adds, per network and backend, where a step's time goes: tfjs kernels by
 * phase (forward, backward, optimiser; from tf.profile) and the forward pass per ONNX op
 * type (the executor's own timings), the top costs first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, TfExecutor, createOptimizer, crossEntropy, dataInputOf, logitsNameOf, selectBackend, train } from '../src/index.js';
import { leanVariableGrads } from '../src/train/backprop.js';
import type { Batch, BatchOptions, Dataset, Model } from '../src/index.js';
import { buildModel } from '../models/index.js';
import { buildMobileSe, MOBILE_SE_SHAPE } from './mobile-se.js';
import { table } from './util.js';

type Net = 'mlp' | 'resnet20' | 'mobilenetv2' | 'mobile-se';
const NETS: Record<Net, { batch: number; shape: number[]; steps: number; warmup: number; classes: number }> = {
  mlp: { batch: 128, shape: [784], steps: 30, warmup: 30, classes: 10 },
  resnet20: { batch: 32, shape: [3, 32, 32], steps: 8, warmup: 2, classes: 10 },
  mobilenetv2: { batch: 16, shape: [3, 64, 64], steps: 4, warmup: 1, classes: 10 },
  'mobile-se': { batch: 32, shape: MOBILE_SE_SHAPE, steps: 6, warmup: 2, classes: 2 },
};

/**
 * Steps the python peers measure, and the native backends with them (their steps cost the
 * same, so the same window): twice the wasm/cpu window, and 600 on the MLP, whose ~5 ms
 * step would otherwise make a window so short (0.6 s at 120 steps) that one neighbour's
 * burst on a shared machine swings its CPU time by 30%.
 */
function peerSteps(net: Net): number {
  return NETS[net].steps * (net === 'mlp' ? 20 : 2);
}

const NATIVE = new Set(['tfjs-node', 'tfjs-node-gpu']);

function netModel(net: Net): Model {
  if (net === 'mobile-se') return buildMobileSe(1);
  if (net === 'mobilenetv2') return buildModel('mobilenetv2', { seed: 1, size: 64 });
  return buildModel(net, { seed: 1 });
}

/** A fixed pool of seeded random samples, served as batches. */
class RandomData implements Dataset {
  readonly name = 'random';
  readonly #x: Float32Array;
  readonly #y: Int32Array;
  readonly numClasses: number;
  constructor(
    readonly size: number,
    readonly inputShape: number[],
    seed: number,
    classes = 10,
  ) {
    const rng = new Rng(seed);
    const per = inputShape.reduce((a, b) => a * b, 1);
    this.#x = rng.uniformArray(size * per);
    this.#y = Int32Array.from({ length: size }, () => rng.int(classes));
    this.numClasses = classes;
  }
  *batches(batchSize: number, _opts?: BatchOptions): Generator<Batch> {
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    for (let s = 0; s + batchSize <= this.size; s += batchSize) {
      yield { x: this.#x.slice(s * per, (s + batchSize) * per), y: this.#y.slice(s, s + batchSize), n: batchSize };
    }
  }
}

/** Child process: one backend, one net; prints {imagesPerSec, msPerStep, memory} as JSON. */
async function worker(backend: string, net: Net): Promise<void> {
  const steps = Number(process.env.SCULPT_BENCH_STEPS);
  const cfg = { ...NETS[net], steps: Number.isInteger(steps) && steps > 0 ? steps : NATIVE.has(backend) ? peerSteps(net) : NETS[net].steps };
  const model = netModel(net);
  // A pool of half the measured steps: the window crosses an epoch boundary (the data restarts).
  const data = new RandomData(cfg.batch * Math.max(2, Math.ceil(cfg.steps / 2)), cfg.shape, 7, cfg.classes);
  const common = {
    data,
    batchSize: cfg.batch,
    optimizer: 'sgd' as const,
    lr: 0.01,
    momentum: 0.9,
    backend: backend as 'cpu',
    seed: 1,
    recalibrateBatchNorm: 0,
  };
  const mem: { tensors: number; rss: number; peak: number; heap?: number }[] = [];
  // wasm's heap only grows: its size after a step is the most that step (or any before) needed.
  const heap = () => (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  // Process CPU time as well as wall time: on a shared machine wall time swings 2x with the
  // neighbours' load, while the CPU time of a one-thread backend (wasm, cpu) stays put. One
  // run of warm-up + measured steps, timed from the end of the last warm-up step to the end
  // of the last step, as the peers time theirs: the run's setup (compiling the graph,
  // uploading the weights), its first steps (V8 optimising the code of this run's closures,
  // the allocators warming up) and its end (writing the weights back) are not steps.
  let t0 = 0;
  let wallMs = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  const end = cfg.warmup + cfg.steps;
  const r = await train(model, {
    ...common,
    steps: end,
    onProgress: (p) => {
      if (p.step === cfg.warmup) {
        cpu0 = process.cpuUsage();
        t0 = performance.now();
      } else if (p.step === end) {
        cpu = process.cpuUsage(cpu0);
        wallMs = performance.now() - t0;
      }
      if (p.step > cfg.warmup) mem.push({ tensors: tf.memory().numTensors, rss: process.memoryUsage().rss, peak: p.stepPeakBytes, heap: heap() });
    },
  });
  const first = mem[0]!;
  const last = mem.at(-1)!;
  const peaks = mem.map((m) => m.peak / 2 ** 20);
  process.stdout.write(
    `${JSON.stringify({
      imagesPerSec: (1000 * cfg.batch * cfg.steps) / wallMs,
      msPerStep: wallMs / cfg.steps,
      cpuMsPerStep: (cpu!.user + cpu!.system) / 1000 / cfg.steps,
      backend: r.backend,
      tensorGrowth: last.tensors - first.tensors,
      rssGrowthMiB: (last.rss - first.rss) / 2 ** 20,
      steps: mem.length,
      peakMiB: Math.max(...peaks),
      peakMinMiB: Math.min(...peaks),
      heapFirstMiB: first.heap && first.heap / 2 ** 20,
      heapLastMiB: last.heap && last.heap / 2 ** 20,
    })}\n`,
  );
}

/** Child process: the wasm heap's size after two training steps of `net` at `batch` (it only grows: what the steps needed). */
async function heapWorker(net: Net, batch: number): Promise<void> {
  const cfg = NETS[net];
  const model = netModel(net);
  const data = new RandomData(batch * 2, cfg.shape, 7, cfg.classes);
  await train(model, { data, batchSize: batch, steps: 2, optimizer: 'sgd', lr: 0.01, momentum: 0.9, backend: 'wasm', seed: 1, recalibrateBatchNorm: 0 });
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  if (heap === undefined) throw new Error('not on the wasm backend');
  process.stdout.write(`${JSON.stringify({ heapMiB: heap / 2 ** 20 })}\n`);
}

/**
 * `--heap`: training memory per image on wasm, for MobileNetV2 at 64×64 (SCULPT_BENCH_NETS
 * picks others): the heap after two steps at batches 2, 4, 8 and 16, each in its own process,
 * and the growth per image between batches. The heap grows in steps, so a slope over a wider
 * range of batches is the better number.
 */
function heapTable(self: string): void {
  const nets = (process.env.SCULPT_BENCH_NETS?.split(',') as Net[] | undefined) ?? ['mobilenetv2'];
  for (const net of nets) {
    const rows: string[][] = [];
    let prev: { batch: number; heap: number } | undefined;
    let first: { batch: number; heap: number } | undefined;
    for (const batch of [2, 4, 8, 16]) {
      const r = spawnWorker(self, '--heap-worker', String(batch), net);
      if (!r.json) {
        rows.push([String(batch), `failed: ${r.why}`, '-']);
        continue;
      }
      const heap = Number(r.json.heapMiB);
      rows.push([String(batch), heap.toFixed(0), prev ? ((heap - prev.heap) / (batch - prev.batch)).toFixed(1) : '-']);
      prev = { batch, heap };
      first ??= prev;
    }
    console.log(
      `\n### wasm heap after two training steps: ${net}${first && prev && prev.batch > first.batch ? ` (${((prev.heap - first.heap) / (prev.batch - first.batch)).toFixed(1)} MiB per image from batch ${first.batch} to ${prev.batch})` : ''}\n`,
    );
    console.log(table(['batch', 'wasm heap MiB', 'MiB per image (from the row above)'], rows));
  }
}

/**
 * Child process: where one training step's memory goes. The tensors the forward pass saved
 * for the backward pass, by the kernel that saved them (each buffer once, under the first
 * kernel that saved it), and the step's peak (tf.profile: tfjs' count, where a tensor that
 * shares another's buffer counts again) with the loop's backward pass (leanVariableGrads)
 * and with tf.variableGrads.
 */
async function memoryWorker(backend: string, net: Net, batch: number): Promise<void> {
  const cfg = NETS[net];
  await selectBackend(backend as 'cpu');
  const model = netModel(net);
  const exec = TfExecutor.create(model, { trainable: 'all', batchNorm: 'train', seed: 1 });
  const vars = exec.trainableVariables();
  const input = dataInputOf(model).name;
  const logits = logitsNameOf(model);
  const rng = new Rng(3);
  const x = tf.tensor(rng.uniformArray(batch * cfg.shape.reduce((a, b) => a * b, 1)), [batch, ...cfg.shape]);
  const y = tf.tensor1d(
    Int32Array.from({ length: batch }, () => rng.int(cfg.classes)),
    'int32',
  );
  type Node = { kernelName: string; saved?: tf.Tensor[] };
  let saved: { kernel: string; bytes: number; count: number }[] = [];
  const loss = (inspect: boolean) => () => {
    const l = crossEntropy(exec.run({ [input]: x }, { training: true, outputs: [logits] })[logits]!, y);
    if (inspect) {
      const seen = new Set<unknown>();
      const by = new Map<string, { kernel: string; bytes: number; count: number }>();
      for (const n of (tf.engine().state as unknown as { activeTape: Node[] }).activeTape) {
        for (const t of n.saved ?? []) {
          if (t.isDisposed || seen.has(t.dataId)) continue;
          seen.add(t.dataId);
          const r = by.get(n.kernelName) ?? { kernel: n.kernelName, bytes: 0, count: 0 };
          r.bytes += t.size * 4;
          r.count++;
          by.set(n.kernelName, r);
        }
      }
      saved = [...by.values()].sort((a, b) => b.bytes - a.bytes);
    }
    return l;
  };
  const step = (lean: boolean, inspect = false) =>
    tf.tidy(() => {
      const r = lean ? leanVariableGrads(loss(inspect), vars) : tf.variableGrads(loss(false), vars);
      r.value.dataSync();
    });
  step(true);
  step(false);
  const base = tf.memory().numBytes;
  // tf.profile hands back one shared object: read each peak before the next.
  const peakLean = (await tf.profile(() => step(true, true))).peakBytes - base;
  const peakTf = (await tf.profile(() => step(false))).peakBytes - base;
  const MiB = 2 ** 20;
  process.stdout.write(
    `${JSON.stringify({ batch, peakLeanMiB: peakLean / MiB, peakTfMiB: peakTf / MiB, savedMiB: saved.reduce((a, r) => a + r.bytes, 0) / MiB, rssMiB: process.memoryUsage().rss / MiB, saved: saved.slice(0, 8).map((r) => ({ ...r, bytes: r.bytes / MiB })) })}\n`,
  );
}

function memoryTables(self: string): void {
  const nets = (process.env.SCULPT_BENCH_NETS?.split(',') as Net[] | undefined) ?? (Object.keys(NETS) as Net[]);
  const backends = process.env.SCULPT_BENCH_BACKENDS?.split(',') ?? ['wasm'];
  for (const net of nets) {
    for (const backend of backends) {
      const batch = Number(process.env.SCULPT_BENCH_BATCH) || NETS[net].batch;
      const r = spawnWorker(self, '--memory-worker', `${backend}:${batch}`, net);
      if (!r.json) {
        console.log(`\n### memory: ${net} (batch ${batch}) on ${backend}: failed: ${r.why}`);
        continue;
      }
      const j = r.json as {
        peakLeanMiB: number;
        peakTfMiB: number;
        savedMiB: number;
        rssMiB: number;
        saved: { kernel: string; bytes: number; count: number }[];
      };
      console.log(
        `\n### memory: ${net} (batch ${batch}) on ${backend}: step peak ${j.peakLeanMiB.toFixed(1)} MiB (${(j.peakLeanMiB / batch).toFixed(2)} per image); with tf.variableGrads ${j.peakTfMiB.toFixed(1)} MiB; saved for the backward pass ${j.savedMiB.toFixed(1)} MiB; RSS ${j.rssMiB.toFixed(0)} MiB\n`,
      );
      console.log(
        table(
          ['saved by kernel', 'MiB', 'buffers'],
          j.saved.map((x) => [x.kernel === 'unnamed scope' ? 'custom gradients (batch norm, hard-swish, ...)' : x.kernel, x.bytes.toFixed(1), String(x.count)]),
        ),
      );
    }
  }
}

interface ProfileRow {
  what: string;
  msPerStep: number;
  calls: number;
}

/** Child process: where one training step's time goes (kernels by phase; forward by ONNX op). */
async function profileWorker(backend: string, net: Net): Promise<void> {
  const cfg = NETS[net];
  await selectBackend(backend as 'cpu');
  const model = netModel(net);
  const exec = TfExecutor.create(model, { trainable: 'all', batchNorm: 'train', seed: 1 });
  const opt = createOptimizer('sgd', { momentum: 0.9 });
  const vars = exec.trainableVariables();
  const input = dataInputOf(model).name;
  const logits = logitsNameOf(model);
  const rng = new Rng(3);
  const x = tf.tensor(rng.uniformArray(cfg.batch * cfg.shape.reduce((a, b) => a * b, 1)), [cfg.batch, ...cfg.shape]);
  const y = tf.tensor1d(
    Int32Array.from({ length: cfg.batch }, () => rng.int(cfg.classes)),
    'int32',
  );
  const marks: number[][] = [];
  const kernelsSoFar = () => (tf.engine().state as unknown as { activeProfile: { kernels: unknown[] } }).activeProfile.kernels.length;
  const step = (timings?: Map<string, { ms: number; count: number }>) =>
    tf.tidy(() => {
      const m: number[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = exec.run({ [input]: x }, { training: true, outputs: [logits], timings });
        if (timings) m.push(kernelsSoFar());
        return crossEntropy(out[logits]!, y);
      }, vars);
      if (timings) m.push(kernelsSoFar());
      opt.apply(vars, new Map(vars.map((v) => [v, grads[v.name]!])), 0.01);
      value.dataSync();
      if (timings) {
        m.push(kernelsSoFar());
        marks.push(m);
      }
    });
  for (let i = 0; i < cfg.warmup; i++) step();
  const n = Math.max(2, Math.ceil(cfg.steps / 2));
  let t0 = performance.now();
  for (let i = 0; i < n; i++) step();
  const plainMs = (performance.now() - t0) / n;
  const timings = new Map<string, { ms: number; count: number }>();
  t0 = performance.now();
  const info = await tf.profile(() => {
    for (let i = 0; i < n; i++) step(timings);
  });
  const profiledMs = (performance.now() - t0) / n;
  const byKernel = new Map<string, ProfileRow>();
  let start = 0;
  const phases = ['forward', 'backward', 'optimizer'];
  for (const m of marks) {
    for (let i = start; i < m[2]!; i++) {
      const k = info.kernels[i]!;
      const phase = phases[i < m[0]! ? 0 : i < m[1]! ? 1 : 2]!;
      const key = `${phase} ${k.name}`;
      const row = byKernel.get(key) ?? { what: key, msPerStep: 0, calls: 0 };
      row.msPerStep += Number(await k.kernelTimeMs) / n;
      row.calls += 1 / n;
      byKernel.set(key, row);
    }
    start = m[2]!;
  }
  const kernels = [...byKernel.values()].sort((a, b) => b.msPerStep - a.msPerStep);
  const kernelMs = kernels.reduce((a, r) => a + r.msPerStep, 0);
  const phaseMs = Object.fromEntries(phases.map((p) => [p, kernels.filter((r) => r.what.startsWith(p)).reduce((a, r) => a + r.msPerStep, 0)]));
  const ops = [...timings].map(([op, t]) => ({ what: op, msPerStep: t.ms / n, calls: t.count / n })).sort((a, b) => b.msPerStep - a.msPerStep);
  process.stdout.write(`${JSON.stringify({ plainMs, profiledMs, kernelMs, phaseMs, kernels: kernels.slice(0, 12), ops: ops.slice(0, 8) })}\n`);
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
class SE(nn.Module):
    def __init__(s, c):
        super().__init__(); r = max(8, c // 4)
        s.f = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, r, 1), nn.ReLU(), nn.Conv2d(r, c, 1), nn.Hardsigmoid())
    def forward(s, x): return x * s.f(x)
class IR(nn.Module):
    def __init__(s, i, h, o, st):
        super().__init__(); s.res = st == 1 and i == o
        s.body = nn.Sequential(*cbn(i, h, 1, 1), nn.Hardswish(), nn.Conv2d(h, h, 3, st, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.Hardswish(), SE(h), *cbn(h, o, 1, 1))
    def forward(s, x): return x + s.body(x) if s.res else s.body(x)
ncls = 10
if net == 'mlp':
    m = nn.Sequential(nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 300), nn.ReLU(), nn.Linear(300, 10)); shape = (784,)
elif net == 'mobilenetv2':
    # models/mobilenetv2.ts at 64x64: below 96 the stem and the 24-channel stage keep stride 1.
    import torchvision; m = torchvision.models.mobilenet_v2(num_classes=10); shape = (3, 64, 64)
    m.features[0][0].stride = (1, 1); m.features[2].conv[1][0].stride = (1, 1)
elif net == 'mobile-se':
    layers, c = [*cbn(3, 16, 2), nn.Hardswish()], 16
    for h, o, st in [(64, 24, 2), (72, 24, 1), (96, 40, 2), (120, 48, 1)]:
        layers.append(IR(c, h, o, st)); c = o
    m = nn.Sequential(*layers, *cbn(c, 192, 1, 1), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(192, 2)); shape = (3, 48, 192); ncls = 2
else:
    layers, c = [*cbn(3, 16), nn.ReLU()], 16
    for si, o in enumerate([16, 32, 64]):
        for bi in range(3):
            layers.append(Block(c, o, 2 if si > 0 and bi == 0 else 1)); c = o
    m = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)); shape = (3, 32, 32)
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x = torch.rand(batch, *shape); y = torch.randint(0, ncls, (batch,))
lossf = nn.CrossEntropyLoss()
def step():
    opt.zero_grad(); l = lossf(m(x), y); l.backward(); opt.step()
for _ in range(warm): step()
t0 = time.perf_counter(); c0 = time.process_time()
for _ in range(steps): step()
dt = time.perf_counter() - t0; dc = time.process_time() - c0
print(json.dumps({'imagesPerSec': batch * steps / dt, 'msPerStep': 1000 * dt / steps, 'cpuMsPerStep': 1000 * dc / steps, 'threads': torch.get_num_threads(), 'version': torch.__version__, 'params': sum(p.numel() for p in m.parameters())}))
`;

const KERAS = `
import sys, time, json, os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
import numpy as np, tensorflow as tf
from tensorflow import keras
L = keras.layers
net, batch, steps, warm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keras.utils.set_random_seed(1)
ncls = 10
def cbn(x, o, s=1, k=3): return L.BatchNormalization()(L.Conv2D(o, k, s, padding='same', use_bias=False)(x))
def hswish(x): return L.Activation('hard_swish')(x)
if net == 'mlp':
    inp = keras.Input((784,)); h = L.Dense(500, activation='relu')(inp); h = L.Dense(300, activation='relu')(h); out = L.Dense(10)(h); shape = (784,)
elif net == 'mobilenetv2':
    # models/mobilenetv2.ts at 64x64: below 96 the stem and the 24-channel stage keep stride 1.
    shape = (64, 64, 3)
    def relu6(x): return L.ReLU(6.0)(x)
    inp = keras.Input(shape); h = relu6(cbn(inp, 32)); c = 32
    for si, (t, o, n, s) in enumerate([(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]):
        for j in range(n):
            st = (1 if si == 1 else s) if j == 0 else 1
            y = relu6(cbn(h, c * t, 1, 1)) if t != 1 else h
            y = relu6(L.BatchNormalization()(L.DepthwiseConv2D(3, st, padding='same', use_bias=False)(y)))
            y = cbn(y, o, 1, 1)
            h = L.Add()([h, y]) if st == 1 and c == o else y; c = o
    out = L.Dense(10)(L.GlobalAveragePooling2D()(relu6(cbn(h, 1280, 1, 1))))
elif net == 'mobile-se':
    shape = (48, 192, 3); ncls = 2
    def se(x, c):
        s = L.GlobalAveragePooling2D(keepdims=True)(x)
        s = L.Conv2D(max(8, c // 4), 1, activation='relu')(s)
        return L.Multiply()([x, L.Activation('hard_sigmoid')(L.Conv2D(c, 1)(s))])
    inp = keras.Input(shape); h = hswish(cbn(inp, 16, 2)); c = 16
    for hid, o, st in [(64, 24, 2), (72, 24, 1), (96, 40, 2), (120, 48, 1)]:
        y = hswish(cbn(h, hid, 1, 1))
        y = hswish(L.BatchNormalization()(L.DepthwiseConv2D(3, st, padding='same', use_bias=False)(y)))
        y = cbn(se(y, hid), o, 1, 1)
        h = L.Add()([h, y]) if st == 1 and c == o else y; c = o
    h = hswish(cbn(h, 192, 1, 1))
    out = L.Dense(2)(L.GlobalAveragePooling2D()(h))
else:
    shape = (32, 32, 3)
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
x = tf.random.uniform((batch, *shape)); y = tf.random.uniform((batch,), 0, ncls, dtype=tf.int32)
@tf.function
def step():
    with tf.GradientTape() as t: l = lossf(y, m(x, training=True))
    opt.apply_gradients(zip(t.gradient(l, m.trainable_variables), m.trainable_variables))
for _ in range(warm): step()
t0 = time.perf_counter(); c0 = time.process_time()
for _ in range(steps): step()
dt = time.perf_counter() - t0; dc = time.process_time() - c0
print(json.dumps({'imagesPerSec': batch * steps / dt, 'msPerStep': 1000 * dt / steps, 'cpuMsPerStep': 1000 * dc / steps, 'version': tf.__version__, 'params': int(sum(np.prod(v.shape) for v in m.trainable_weights))}))
`;

interface Row {
  net: Net;
  runner: string;
  imagesPerSec?: number;
  msPerStep?: number;
  cpuMsPerStep?: number;
  peakMiB?: number;
  peakMinMiB?: number;
  note?: string;
}

function lastJson(stdout: string): Record<string, number | string> | undefined {
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) : undefined;
}

function python(code: string, exe: string, net: Net): Row {
  const cfg = NETS[net];
  const r = spawnSync(exe, ['-c', code, net, String(cfg.batch), String(peerSteps(net)), String(cfg.warmup)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  const j = r.status === 0 ? lastJson(r.stdout) : undefined;
  if (!j) return { net, runner: exe, note: `failed: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)?.slice(0, 120)}` };
  return {
    net,
    runner: '',
    imagesPerSec: Number(j.imagesPerSec),
    msPerStep: Number(j.msPerStep),
    cpuMsPerStep: Number(j.cpuMsPerStep),
    note: `${j.version ?? ''}${j.threads ? `, ${j.threads} threads` : ''}${j.params ? `, ${Number(j.params).toLocaleString('en-US')} params` : ''}`,
  };
}

function canImport(exe: string, mod: string): boolean {
  return existsSync(exe) || exe === 'python3' ? spawnSync(exe, ['-c', `import ${mod}`], { encoding: 'utf8', timeout: 120_000 }).status === 0 : false;
}

function spawnWorker(self: string, mode: string, backend: string, net: Net): { json?: Record<string, unknown>; why: string } {
  const r = spawnSync(process.execPath, [self, mode, backend, net], { encoding: 'utf8', timeout: 900_000 });
  const j = r.status === 0 ? lastJson(r.stdout) : undefined;
  const why =
    (r.stderr || '')
      .trim()
      .split('\n')
      .find((l) => l.startsWith('error')) ??
    (r.stderr || '').trim().split('\n').at(-1) ??
    'no output';
  return { json: j as Record<string, unknown> | undefined, why: why.slice(0, 140) };
}

/** The Python that imports tensorflow: $KERAS_PYTHON, else python3 or /usr/bin/python3. */
function kerasPython(): string | undefined {
  return [process.env.KERAS_PYTHON, 'python3', '/usr/bin/python3'].filter((e): e is string => !!e).find((e) => canImport(e, 'tensorflow'));
}

/** Measures and prints the table (and with --profile, where the time goes); returns the rows. */
export async function benchTrain(): Promise<Row[]> {
  const self = fileURLToPath(import.meta.url);
  if (process.argv.includes('--heap')) {
    heapTable(self);
    return [];
  }
  if (process.argv.includes('--memory')) {
    memoryTables(self);
    return [];
  }
  const profile = process.argv.includes('--profile');
  const only = process.env.SCULPT_BENCH_NETS?.split(',') as Net[] | undefined;
  const onlyBackends = process.env.SCULPT_BENCH_BACKENDS?.split(',');
  const nets = (Object.keys(NETS) as Net[]).filter((n) => !only || only.includes(n));
  const rows: Row[] = [];
  const profiles: string[] = [];
  const kerasExe = kerasPython();
  for (const net of nets) {
    for (const backend of ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'].filter((b) => !onlyBackends || onlyBackends.includes(b))) {
      if (backend === 'cpu' && net !== 'mlp') {
        rows.push({
          net,
          runner: `sculpt (${backend})`,
          note: 'skipped: the pure-JS cpu backend takes minutes per conv-net step (DESIGN.md: ~400 s for ResNet-20)',
        });
        continue;
      }
      const { json: j, why } = spawnWorker(self, '--worker', backend, net);
      if (!j) {
        rows.push({ net, runner: `sculpt (${backend})`, note: `not available: ${why}` });
        continue;
      }
      const heapNote = j.heapFirstMiB ? `, wasm heap ${Number(j.heapFirstMiB).toFixed(0)} → ${Number(j.heapLastMiB).toFixed(0)} MiB` : '';
      rows.push({
        net,
        runner: `sculpt (${backend})`,
        imagesPerSec: Number(j.imagesPerSec),
        msPerStep: Number(j.msPerStep),
        cpuMsPerStep: Number(j.cpuMsPerStep),
        peakMiB: Number(j.peakMiB),
        peakMinMiB: Number(j.peakMinMiB),
        note: `tensors ${Number(j.tensorGrowth) >= 0 ? '+' : ''}${j.tensorGrowth}, RSS ${Number(j.rssGrowthMiB) >= 0 ? '+' : ''}${Number(j.rssGrowthMiB).toFixed(1)} MiB${heapNote} over ${j.steps} steps`,
      });
      if (profile) {
        const p = spawnWorker(self, '--profile-worker', backend, net);
        if (p.json) profiles.push(renderProfile(net, backend, p.json));
        else profiles.push(`### ${net} on ${backend}: profile failed: ${p.why}`);
      }
    }
    if (canImport('/usr/bin/python3', 'torch')) rows.push({ ...python(TORCH, '/usr/bin/python3', net), runner: 'PyTorch (Debian python3-torch)' });
    else rows.push({ net, runner: 'PyTorch', note: 'skipped: /usr/bin/python3 cannot import torch (apt-get install python3-torch)' });
    if (kerasExe) rows.push({ ...python(KERAS, kerasExe, net), runner: `Keras/TensorFlow (${kerasExe})` });
    else
      rows.push({
        net,
        runner: 'Keras/TensorFlow',
        note: 'skipped: no python3 here imports tensorflow (pip install --no-index --find-links <wheel folder> tensorflow_cpu; point KERAS_PYTHON at it)',
      });
  }
  const best = (net: Net, re: RegExp) => Math.max(0, ...rows.filter((r) => r.net === net && re.test(r.runner) && r.imagesPerSec).map((r) => r.imagesPerSec!));
  const cpuOf = (net: Net, re: RegExp) => rows.find((r) => r.net === net && re.test(r.runner) && r.cpuMsPerStep)?.cpuMsPerStep;
  // Wall time swings with the neighbours' load on a shared machine; process CPU time per step
  // (all threads) is the steadier measure of work, so the ratios are given for both.
  console.log(
    table(
      [
        'network (batch)',
        'runner',
        'images/s',
        'ms/step',
        'CPU ms/step',
        'vs PyTorch (wall / CPU)',
        'vs Keras (wall / CPU)',
        'step peak MiB (per image)',
        'note',
      ],
      rows.map((r) => {
        const ratio = (re: RegExp) => {
          const wall = best(r.net, re);
          const cpu = cpuOf(r.net, re);
          if (!r.imagesPerSec || !wall) return '-';
          return `${(r.imagesPerSec / wall).toFixed(2)}x / ${cpu && r.cpuMsPerStep ? (cpu / r.cpuMsPerStep).toFixed(2) : '-'}x`;
        };
        return [
          `${r.net} (${NETS[r.net].batch})`,
          r.runner,
          r.imagesPerSec ? r.imagesPerSec.toFixed(0) : '-',
          r.msPerStep ? r.msPerStep.toFixed(1) : '-',
          r.cpuMsPerStep ? r.cpuMsPerStep.toFixed(0) : '-',
          ratio(/PyTorch/),
          ratio(/Keras/),
          peakCell(r),
          r.note ?? '',
        ];
      }),
    ),
  );
  for (const p of profiles) console.log(`\n${p}`);
  return rows;
}

/** The largest step peak of the window (the smallest beside it when they differ by 1 MiB or more: flat means one number), and per image. */
function peakCell(r: Row): string {
  if (r.peakMiB === undefined || !Number.isFinite(r.peakMiB)) return '-';
  const range = r.peakMinMiB !== undefined && r.peakMiB - r.peakMinMiB >= 1 ? `${r.peakMinMiB.toFixed(0)}–` : '';
  const per = r.peakMiB / NETS[r.net].batch;
  return `${range}${r.peakMiB.toFixed(0)} (${per < 1 ? per.toFixed(3) : per.toFixed(1)})`;
}

function renderProfile(net: Net, backend: string, j: Record<string, unknown>): string {
  const phase = j.phaseMs as Record<string, number>;
  const kernelMs = Number(j.kernelMs);
  const head = `### profile: ${net} (batch ${NETS[net].batch}) on ${backend}: ${Number(j.plainMs).toFixed(1)} ms/step (${Number(j.profiledMs).toFixed(1)} profiled); kernels: forward ${phase.forward!.toFixed(1)} ms, backward ${phase.backward!.toFixed(1)} ms, optimizer ${phase.optimizer!.toFixed(1)} ms; outside kernels ${(Number(j.profiledMs) - kernelMs).toFixed(1)} ms (a kernel that our JS kernels call, such as Conv2D inside Conv2DBackpropFilter on wasm, is counted in both)`;
  const k = table(
    ['phase kernel', 'ms/step', 'share', 'calls/step'],
    (j.kernels as ProfileRow[]).map((r) => [r.what, r.msPerStep.toFixed(2), `${((100 * r.msPerStep) / Number(j.profiledMs)).toFixed(1)}%`, r.calls.toFixed(0)]),
  );
  const o = table(
    ['forward by ONNX op', 'ms/step', 'nodes/step'],
    (j.ops as ProfileRow[]).map((r) => [r.what, r.msPerStep.toFixed(2), r.calls.toFixed(0)]),
  );
  return `${head}\n\n${k}\n\n${o}`;
}

if (['--worker', '--profile-worker', '--heap-worker', '--memory-worker'].includes(process.argv[2]!)) {
  try {
    if (process.argv[2] === '--worker') await worker(process.argv[3]!, process.argv[4] as Net);
    else if (process.argv[2] === '--heap-worker') await heapWorker(process.argv[4] as Net, Number(process.argv[3]));
    else if (process.argv[2] === '--memory-worker')
      await memoryWorker(process.argv[3]!.split(':')[0]!, process.argv[4] as Net, Number(process.argv[3]!.split(':')[1]));
    else await profileWorker(process.argv[3]!, process.argv[4] as Net);
  } catch (e) {
    // One line the parent can show as the reason this backend has no number.
    process.stderr.write(`error ${(e as { code?: string }).code ?? ''}: ${(e as Error).message.split('\n')[0]}\n`);
    process.exitCode = 1;
  }
}
