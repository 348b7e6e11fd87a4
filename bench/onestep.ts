/**
 * One-step pruning-recovery cost: an epoch of `score` (β learning, every weight frozen)
 * against an epoch of fine-tuning every weight, same network, data, batch and backend, in
 * the same run. Target (issue 9): score costs at most what fine-tuning costs. Networks: the
 * VGG of fixtures/trained (1×28×28, batch 64) and ResNet-20 (3×32×32, batch 32), on seeded
 * random data (data loading is not what is measured), one warm-up epoch each first.
 */
import { Rng, finetuneModel, scoreModel } from '../src/index.js';
import type { Batch, BatchOptions, Dataset } from '../src/index.js';
import { buildModel } from '../models/index.js';
import type { ModelName } from '../models/index.js';
import { table } from './util.js';

class RandomData implements Dataset {
  readonly name = 'random';
  readonly numClasses = 10;
  readonly #x: Float32Array;
  readonly #y: Int32Array;
  constructor(
    readonly size: number,
    readonly inputShape: number[],
    seed: number,
  ) {
    const rng = new Rng(seed);
    this.#x = rng.uniformArray(size * inputShape.reduce((a, b) => a * b, 1));
    this.#y = Int32Array.from({ length: size }, () => rng.int(10));
  }
  *batches(batchSize: number, _opts?: BatchOptions): Generator<Batch> {
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    for (let s = 0; s + batchSize <= this.size; s += batchSize)
      yield { x: this.#x.slice(s * per, (s + batchSize) * per), y: this.#y.slice(s, s + batchSize), n: batchSize };
  }
}

const NETS: { net: ModelName; shape: number[]; batch: number; samples: number }[] = [
  { net: 'vgg', shape: [1, 28, 28], batch: 64, samples: 640 },
  { net: 'resnet20', shape: [3, 32, 32], batch: 32, samples: 160 },
];

export async function benchOnestep(): Promise<object[]> {
  const rows: { net: string; backend: string; score: number; finetune: number }[] = [];
  for (const c of NETS) {
    const data = new RandomData(c.samples, c.shape, 3);
    const model = buildModel(c.net, { seed: 1 });
    const time = async (f: () => Promise<{ seconds: number; backend: string }>) => {
      await f();
      return f();
    };
    const s = await time(async () => {
      const r = await scoreModel(model, { data, epochs: 1, batchSize: c.batch, seed: 1 });
      return r.train;
    });
    const f = await time(async () => finetuneModel(buildModel(c.net, { seed: 1 }), { data, epochs: 1, batchSize: c.batch, seed: 1 }));
    rows.push({ net: `${c.net} (batch ${c.batch}, ${c.samples} images)`, backend: s.backend, score: s.seconds, finetune: f.seconds });
  }
  console.log(
    table(
      ['network', 'backend', 'score epoch (s)', 'fine-tune epoch (s)', 'score / fine-tune'],
      rows.map((r) => [
        r.net,
        r.backend,
        r.score.toFixed(2),
        r.finetune.toFixed(2),
        `${(r.score / r.finetune).toFixed(2)}x${r.score <= r.finetune ? '' : ' (above target)'}`,
      ]),
    ),
  );
  return rows;
}
