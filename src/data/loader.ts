/**
 * `loadDataset(spec, opts)`: parses a data spec, opens the source, selects the split and
 * limit, and plans the per-sample transform (reshape or resize to the model's input shape,
 * normalisation, augmentation). Samples are made batch by batch: memory holds the source
 * (or only its file handle, for large raw files) and one batch, never an augmented copy.
 *
 * Specs:
 *   mnist | fashion-mnist | digits
 *   idx:<images>,<labels>[,<test-images>,<test-labels>]   (gzipped or raw); idx:<images> unlabeled
 *   npy:<x.npy>,<y.npy>[,<test-x.npy>,<test-y.npy>]; npy:<x.npy> unlabeled
 *   folder:<dir>        (<dir>/<class>/*.png|jpg, or <dir>/{train,test}/<class>/...)
 */
import { CompilerError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { Augment, Batch, BatchOptions, Dataset, LoadOptions, Split } from './dataset.js';
import { DEFAULT_MAX_IN_MEMORY } from './bytes.js';
import { augmentPlanes, resizePlanes } from './image.js';
import type { Source, SourcePair } from './sources.js';
import { ConcatSource, digitsSource, fashionMnistSource, folderSource, idxSource, isChannelsLast, mnistSource, npySource } from './sources.js';

/** The specs `loadDataset` understands, for help texts. */
export const DATA_SPECS = [
  'mnist',
  'fashion-mnist',
  'digits',
  'idx:<images>[,<labels>][,<test-images>,<test-labels>]',
  'npy:<x.npy>[,<y.npy>][,<test-x>,<test-y>]',
  'folder:<dir>',
];

/** Seed of the fixed holdout permutation: the test part must not move with --seed. */
const HOLDOUT_SEED = 0x5c1e;

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Plan {
  /** Shape after channel conversion and resizing, when the sample is an image. */
  readonly image?: readonly [number, number, number];
  /** Channel conversion + resize needed (else the native buffer is used as is). */
  readonly resample: boolean;
  readonly outShape: readonly number[];
  /** The model takes images channels-last ([H,W,C], as Keras/tf2onnx exports do): CHW planes are interleaved last. */
  readonly hwcOut?: boolean;
}

function planShape(native: readonly number[], target: readonly number[] | undefined, resize: boolean, where: string): Plan {
  // A model's per-sample shape read by the rule the array files are read by.
  if (!isChannelsLast(target)) return planChannelsFirst(native, target, resize, where);
  // Planned as channels-first (the loaders' planes), written out channels-last.
  const [h, w, c] = target;
  const p = planChannelsFirst(native, [c, h, w], resize, where, target);
  return { ...p, outShape: [...target], hwcOut: true };
}

function planChannelsFirst(native: readonly number[], target: readonly number[] | undefined, resize: boolean, where: string, asked = target): Plan {
  const img3 = (s: readonly number[]) => (s.length === 3 ? ([s[0]!, s[1]!, s[2]!] as const) : undefined);
  if (!target || (target.length === native.length && target.every((d, i) => d === native[i]))) {
    return { image: img3(native), resample: false, outShape: [...native] };
  }
  if (target.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new CompilerError('DATA_SHAPE_MISMATCH', `${where}: the requested sample shape [${target.join(',')}] is not fully static`, {
      where,
      hint: 'give the model static input dims (other than the batch)',
    });
  }
  const mismatch = (why: string) =>
    new CompilerError('DATA_SHAPE_MISMATCH', `${where}: samples are [${native.join(',')}] (channels first) but the model wants [${asked!.join(',')}]${why}`, {
      where,
      hint: resize ? 'pick a model made for this data' : "pass --resize to resample the images to the model's size (or use a model made for this data)",
    });
  if (prod(target) === prod(native) && !(target.length === 3 && native.length === 3)) {
    return { image: img3(native) ?? img3(target), resample: false, outShape: [...target] };
  }
  if (!resize) throw mismatch('');
  const n3 = img3(native);
  if (!n3) throw mismatch(': vectors cannot be resized');
  if (target.length === 3) {
    const [c, h, w] = target as [number, number, number];
    if (c !== n3[0] && !((c === 1 || c === 3) && (n3[0] === 1 || n3[0] === 3))) throw mismatch(`: cannot turn ${n3[0]} channels into ${c}`);
    return { image: [c, h, w], resample: true, outShape: [c, h, w] };
  }
  if (target.length === 1) {
    const side = Math.round(Math.sqrt(target[0]! / n3[0]));
    if (side * side * n3[0] !== target[0]) throw mismatch(`: ${target[0]} is not ${n3[0]}×s×s`);
    return { image: [n3[0], side, side], resample: true, outShape: [...target] };
  }
  throw mismatch('');
}

/** CHW planes → HWC at `out[o..]`. */
function chwToHwc(src: Float32Array, c: number, h: number, w: number, out: Float32Array, o: number): void {
  const hw = h * w;
  for (let k = 0; k < hw; k++) for (let ch = 0; ch < c; ch++) out[o + k * c + ch] = src[ch * hw + k]!;
}

/** Gray ↔ RGB, then resize, from native CHW planes. */
function resample(src: Float32Array, n: readonly [number, number, number], to: readonly [number, number, number], out: Float32Array, tmp: Float32Array): void {
  const [c0, h0, w0] = n;
  const [c1, h1, w1] = to;
  let planes = src;
  if (c0 !== c1) {
    const hw = h0 * w0;
    if (c0 === 1) for (let c = 0; c < 3; c++) tmp.set(src.subarray(0, hw), c * hw);
    else for (let i = 0; i < hw; i++) tmp[i] = 0.299 * src[i]! + 0.587 * src[hw + i]! + 0.114 * src[2 * hw + i]!;
    planes = tmp;
  }
  resizePlanes(planes, c1, h0, w0, h1, w1, out);
}

/** A loaded split: a source, the chosen sample indices, and the transform. */
export class LoadedDataset implements Dataset {
  readonly name: string;
  readonly size: number;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  /** false for samples without labels (`npy:<x.npy>`, `idx:<images>`, a folder of loose images). */
  readonly labeled: boolean;
  /** Sample indices into the source, in file order. */
  readonly indices: Int32Array;
  readonly #src: Source;
  readonly #plan: Plan;
  readonly #mean: Float32Array | null;
  readonly #invStd: Float32Array | null;
  readonly #augment: Augment | undefined;

  constructor(
    name: string,
    src: Source,
    indices: Int32Array,
    numClasses: number,
    plan: Plan,
    mean: Float32Array | null,
    invStd: Float32Array | null,
    augment: Augment | undefined,
    labeled = true,
  ) {
    this.name = name;
    this.labeled = labeled;
    this.#src = src;
    this.indices = indices;
    this.size = indices.length;
    this.numClasses = numClasses;
    this.classNames = src.classNames;
    this.#plan = plan;
    this.inputShape = plan.outShape;
    this.#mean = mean;
    this.#invStd = invStd;
    this.#augment = augment && (augment.flip || (augment.crop ?? 0) > 0) ? augment : undefined;
  }

  /** Labels of the selected samples, in `indices` order. */
  labels(): Int32Array {
    const out = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.#src.labels[this.indices[i]!]!;
    return out;
  }

  /** Whether batches are augmented by default. */
  get augmented(): boolean {
    return this.#augment !== undefined;
  }

  *batches(batchSize: number, opts: BatchOptions = {}): Generator<Batch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new CompilerError('INVALID_OPTION', `batch size must be a positive integer, not ${batchSize}`);
    const order = Array.from(this.indices);
    const seed = opts.seed ?? 0;
    if (opts.shuffle) new Rng(seed).shuffle(order);
    const aug = opts.augment === false ? undefined : this.#augment;
    const augRng = new Rng((seed * 2654435761) ^ 0x3c6ef372);
    const per = prod(this.#plan.outShape);
    const nativeLen = prod(this.#src.shape);
    const image = this.#plan.image;
    const imgLen = image ? prod(image) : per;
    const native = new Float32Array(Math.max(nativeLen, per));
    const resampled = this.#plan.resample ? new Float32Array(imgLen) : null;
    const tmp = new Float32Array(Math.max(3 * nativeLen, imgLen));
    const chans = image ? image[0] : 1;
    const planeLen = image ? image[1] * image[2] : per;
    const vectorNorm = !image && this.#mean !== null && this.#mean.length > 1;
    // Channels-last models: each sample is assembled as CHW planes here, then interleaved into x.
    const hwc = this.#plan.hwcOut ? new Float32Array(per) : null;
    for (let start = 0; start < order.length; start += batchSize) {
      const n = Math.min(batchSize, order.length - start);
      if (n < batchSize && opts.dropLast) break;
      const x = new Float32Array(n * per);
      const y = new Int32Array(n);
      for (let b = 0; b < n; b++) {
        const idx = order[start + b]!;
        this.#src.read(idx, native);
        y[b] = this.#src.labels[idx]!;
        let s = native;
        if (resampled) {
          resample(native, [this.#src.shape[0]!, this.#src.shape[1]!, this.#src.shape[2]!], image!, resampled, tmp);
          s = resampled;
        }
        if (aug && image) augmentPlanes(s, image[0], image[1], image[2], aug.crop ?? 0, !!aug.flip, augRng, tmp);
        const dst = hwc ?? x;
        const o = hwc ? 0 : b * per;
        if (this.#mean && this.#invStd) {
          if (vectorNorm) for (let k = 0; k < per; k++) dst[o + k] = (s[k]! - this.#mean[k]!) * this.#invStd[k]!;
          else {
            for (let c = 0; c < chans; c++) {
              const m = this.#mean[this.#mean.length === 1 ? 0 : c]!;
              const is = this.#invStd[this.#invStd.length === 1 ? 0 : c]!;
              const base = c * planeLen;
              for (let k = 0; k < planeLen; k++) dst[o + base + k] = (s[base + k]! - m) * is;
            }
          }
        } else dst.set(s.subarray(0, per), o);
        if (hwc) chwToHwc(hwc, chans, image![1], image![2], x, b * per);
      }
      yield { x, y, n };
    }
  }

  close(): void {
    this.#src.close();
  }
}

function parseSpec(spec: string): { kind: string; args: string[] } {
  const i = spec.indexOf(':');
  if (i < 0) return { kind: spec, args: [] };
  return {
    kind: spec.slice(0, i),
    args: spec
      .slice(i + 1)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  };
}

function openSpec(spec: string, opts: LoadOptions): SourcePair {
  const { kind, args } = parseSpec(spec);
  const mem = opts.maxInMemoryBytes ?? DEFAULT_MAX_IN_MEMORY;
  const bad = (why: string) => new CompilerError('DATA_SPEC_INVALID', `bad data spec "${spec}": ${why}`, { hint: `use one of: ${DATA_SPECS.join(' | ')}` });
  const pairOf = (open: (a: string, b: string | undefined) => Source): SourcePair => {
    if (args.length !== 1 && args.length !== 2 && args.length !== 4)
      throw bad(`${kind}: needs 1 file (samples without labels), 2 (samples, labels) or 4 (train and test pairs), got ${args.length}`);
    if (args.length === 1) return { all: open(args[0]!, undefined), numClasses: 0, labeled: false };
    if (args.length === 2) {
      const all = open(args[0]!, args[1]!);
      return { all, numClasses: maxLabel(all.labels) + 1 };
    }
    const train = open(args[0]!, args[1]!);
    const test = open(args[2]!, args[3]!);
    if (train.shape.join(',') !== test.shape.join(',')) {
      throw new CompilerError('DATA_SHAPE_MISMATCH', `${spec}: train samples are [${train.shape.join(',')}] but test samples are [${test.shape.join(',')}]`);
    }
    return { train, test, numClasses: Math.max(maxLabel(train.labels), maxLabel(test.labels)) + 1 };
  };
  switch (kind) {
    case 'mnist':
      if (args.length) throw bad('mnist takes no arguments');
      return mnistSource(mem);
    case 'fashion-mnist':
      if (args.length) throw bad('fashion-mnist takes no arguments');
      return fashionMnistSource(mem);
    case 'digits':
      if (args.length) throw bad('digits takes no arguments');
      return digitsSource();
    case 'idx':
      return pairOf((a, b) => idxSource(a, b, mem));
    case 'npy':
      return pairOf((a, b) => npySource(a, b, mem));
    case 'folder': {
      const dir = spec.slice(spec.indexOf(':') + 1);
      if (!dir) throw bad('folder: needs a directory');
      return folderSource(dir, opts.shape, mem);
    }
    default:
      throw bad(`unknown kind "${kind}"`);
  }
}

function maxLabel(l: Int32Array): number {
  let m = -1;
  for (let i = 0; i < l.length; i++) if (l[i]! > m) m = l[i]!;
  return m;
}

/** Indices of the `split` part of a pool of `count` samples, in ascending order. */
export function holdoutIndices(count: number, split: Split, holdout: number): Int32Array {
  if (split === 'all') return Int32Array.from({ length: count }, (_, i) => i);
  const perm = new Rng(HOLDOUT_SEED).shuffle(Array.from({ length: count }, (_, i) => i));
  const nTest = Math.round(count * holdout);
  const part = split === 'test' ? perm.slice(count - nTest) : perm.slice(0, count - nTest);
  return Int32Array.from(part.sort((a, b) => a - b));
}

/**
 * Opens a data set split. Synchronous: sources are read lazily or from memory.
 * @throws DATA_SPEC_INVALID, DATA_UNAVAILABLE, FILE_NOT_FOUND, DATA_CORRUPT, DATA_UNSUPPORTED,
 *   DATA_LABEL_MISMATCH, DATA_SHAPE_MISMATCH, INVALID_OPTION
 */
export function loadDataset(spec: string, opts: LoadOptions = {}): LoadedDataset {
  const split: Split = opts.split ?? 'train';
  const holdout = opts.holdout ?? 0.2;
  if (!(holdout >= 0 && holdout < 1)) throw new CompilerError('INVALID_OPTION', `holdout must be in [0, 1), not ${holdout}`);
  const pair = openSpec(spec, opts);
  let src: Source;
  let indices: Int32Array;
  if (pair.all) {
    src = pair.all;
    indices = holdoutIndices(src.count, split, holdout);
  } else if (split === 'all') {
    src = new ConcatSource(pair.train!, pair.test!);
    indices = holdoutIndices(src.count, 'all', 0);
  } else {
    src = split === 'train' ? pair.train! : pair.test!;
    (split === 'train' ? pair.test : pair.train)?.close();
    indices = holdoutIndices(src.count, 'all', 0);
  }
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new CompilerError('INVALID_OPTION', `limit must be a positive integer, not ${opts.limit}`);
    if (opts.limit < indices.length) {
      const pick = Array.from(indices);
      if (opts.seed !== undefined) new Rng(opts.seed).shuffle(pick);
      indices = Int32Array.from(pick.slice(0, opts.limit).sort((a, b) => a - b));
    }
  }
  const isFolder = spec.startsWith('folder:');
  const plan = planShape(src.shape, opts.shape, opts.resize ?? isFolder, spec);
  const norm = normalisation(opts, plan, spec);
  if (opts.augment && (opts.augment.flip || (opts.augment.crop ?? 0) > 0) && !plan.image) {
    throw new CompilerError('INVALID_OPTION', `${spec}: flip/crop augmentation needs image samples; these are vectors of ${prod(src.shape)}`);
  }
  if (opts.augment?.crop !== undefined && !(Number.isInteger(opts.augment.crop) && opts.augment.crop >= 0)) {
    throw new CompilerError('INVALID_OPTION', `crop padding must be a non-negative integer, not ${opts.augment.crop}`);
  }
  return new LoadedDataset(`${spec}:${split}`, src, indices, pair.numClasses, plan, norm.mean, norm.invStd, opts.augment, pair.labeled !== false);
}

function normalisation(opts: LoadOptions, plan: Plan, where: string): { mean: Float32Array | null; invStd: Float32Array | null } {
  if (!opts.mean && !opts.std) return { mean: null, invStd: null };
  const chans = plan.image ? plan.image[0] : prod(plan.outShape);
  const mean = opts.mean ?? [0];
  const std = opts.std ?? [1];
  for (const [k, a] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (a.length !== 1 && a.length !== chans)
      throw new CompilerError('INVALID_OPTION', `${where}: ${k} has ${a.length} values; give 1 or one per channel (${chans})`);
  }
  if (std.some((s) => !(s > 0))) throw new CompilerError('INVALID_OPTION', `${where}: std must be positive`);
  const n = Math.max(mean.length, std.length);
  const m = new Float32Array(n);
  const is = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    m[i] = mean[mean.length === 1 ? 0 : i]!;
    is[i] = 1 / std[std.length === 1 ? 0 : i]!;
  }
  return { mean: m, invStd: is };
}
