/**
 * The data interface shared by the trainer and the validator: a labelled image (or vector)
 * set read batch by batch, so memory stays bounded however large the set is.
 * Samples are float32, NCHW per sample (or flat for vector data), pixels scaled to [0,1]
 * unless the spec asks for other normalisation.
 */
import { CompilerError } from '../errors.js';

export interface Batch {
  /** n samples, row-major: n × inputShape. */
  readonly x: Float32Array;
  /** n class indices. */
  readonly y: Int32Array;
  readonly n: number;
}

export interface BatchOptions {
  shuffle?: boolean;
  seed?: number;
  /** Drop a last batch smaller than the batch size (training). */
  dropLast?: boolean;
  /**
   * Apply the augmentation the dataset was loaded with (default true when it has one).
   * Augmented samples are made batch by batch, never stored.
   */
  augment?: boolean;
}

export interface Dataset {
  /** What was loaded, for reports: `mnist:test`, `folder:/data/x:train`, ... */
  readonly name: string;
  readonly size: number;
  /** Shape of one sample, e.g. [1, 28, 28] or [784]. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** Class names when the source has them (folder datasets), else undefined. */
  readonly classNames?: readonly string[];
  /**
   * false when the samples have no labels (every `y` is -1): only label-free uses take them
   * (distillation with the soft term alone, mimicking, search fitness, calibration).
   */
  readonly labeled?: boolean;
  batches(batchSize: number, opts?: BatchOptions): Iterable<Batch>;
}

/**
 * Refuses data without labels for a use that reads them (`need`: "accuracy", "the
 * cross-entropy loss", ...), naming the data set.
 * @throws DATA_UNLABELED
 */
export function requireLabels(
  ds: Dataset,
  need: string,
  hint = 'pass labelled data (npy:<x.npy>,<y.npy>, idx:<images>,<labels>, or a folder of class folders)',
): void {
  if (ds.labeled === false) throw new CompilerError('DATA_UNLABELED', `${need} needs labels; the data "${ds.name}" has none`, { hint });
}

/**
 * Which part of the source. Sources without their own split (digits, a single idx/npy pair,
 * a folder without train/ and test/) hold out a fixed, seed-independent fraction as `test`;
 * `all` takes every sample.
 */
export type Split = 'train' | 'test' | 'all';

/** On-the-fly augmentation, applied in image space (C,H,W) before normalisation. */
export interface Augment {
  /** Mirror left-right with probability 1/2. */
  flip?: boolean;
  /** Random translation by up to this many pixels, zero-filled (pad-and-crop). */
  crop?: number;
}

export interface LoadOptions {
  split?: Split;
  /** Keep only the first n samples (after a seeded shuffle when `seed` is given). */
  limit?: number;
  seed?: number;
  /** Resize/reshape samples to this per-sample shape (e.g. [1,32,32] or [784]). */
  shape?: readonly number[];
  /** Per-channel normalisation applied after scaling to [0,1]. */
  mean?: readonly number[];
  std?: readonly number[];
  /**
   * Allow spatial resizing (and gray↔RGB conversion) to reach `shape`. Default: true for
   * `folder:` (images come in any size), false otherwise, so a model that does not fit the
   * data is an error rather than a silent resample.
   */
  resize?: boolean;
  augment?: Augment;
  /** Fraction held out as `test` for sources without their own split (default 0.2). */
  holdout?: number;
  /** Files larger than this are read sample by sample from disk (default 256 MiB). */
  maxInMemoryBytes?: number;
}
