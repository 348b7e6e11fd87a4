/**
 * Shared layer helpers for the reference models. A `NetBuilder` wraps a `GraphBuilder`, a
 * seeded `Rng` and the target opset, and tracks the channel count and spatial size of every
 * feature map itself (the models are built before any shape inference exists, and the
 * builders must not depend on it: shape inference is tested against them).
 *
 * Naming follows PyTorch's module paths, so a layer is found by the name a user expects:
 * node `layer1.0.conv1`, weight `layer1.0.conv1.weight`, BN statistics
 * `layer1.0.bn1.running_mean`, node output value `layer1.0.conv1_out`.
 *
 * Weights are He-initialised (normal, std = sqrt(2 / fan_in)); biases are uniform in
 * ±1/sqrt(fan_in) as PyTorch does. BatchNormalization gets non-trivial gamma, beta, running
 * mean and running variance, so that folding BN into a conv is tested on numbers that would
 * expose a wrong formula (identity BN would hide one).
 */
import { CompilerError, DataType, GraphBuilder, Rng, attrFloat, attrInt, attrInts, tensorType } from '../src/core.js';
import type { Model, StaticDim, Value } from '../src/core.js';

/** A feature map in NCHW with its (static) channel count and spatial size. */
export interface Feature {
  readonly value: Value;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** A batch of vectors [N, features] (after Flatten, or the MLP input). */
export interface Vec {
  readonly value: Value;
  readonly features: number;
}

export interface ConvOptions {
  out: number;
  kernel: number;
  stride?: number;
  /** Symmetric padding on every side; default kernel/2 (same size at stride 1). */
  pad?: number;
  group?: number;
  /** Whether the conv has a bias input (false when a BatchNormalization follows, as in torchvision). */
  bias?: boolean;
}

export type Activation = 'relu' | 'relu6' | 'none';

/** What a caller may choose when building a reference model (each has a per-model default). */
export interface BuildOptions {
  /** Seed of every random weight (default 0). */
  seed?: number;
  /** Input height = width. */
  size?: number;
  /** Input channels. */
  channels?: number;
  /** Classifier outputs. */
  numClasses?: number;
  /** Width multiplier on every hidden layer's channels/units (default 1). */
  width?: number;
  /** Batch dimension of `input` and `logits`: a number or a symbolic name (default 'N'). */
  batch?: number | string;
  /** Default-domain opset, 7 to 21 (default 17). */
  opset?: number;
}

/** BuildOptions with every field decided. */
export type ResolvedOptions = Required<BuildOptions>;

/** The model-specific defaults of the options that have no global one. */
export interface ModelDefaults {
  size: number;
  channels: number;
  numClasses: number;
}

/**
 * Fills defaults and checks ranges.
 * @throws INVALID_OPTION for a non-integer or non-positive size/channels/classes/seed, a
 *   width that is not positive and finite, or an empty batch name; OPSET_OUT_OF_RANGE.
 */
/** The widest width multiplier (as `sculpt models build --width` allows): ResNet-50 at 4x already has ~370M parameters. */
export const MAX_WIDTH = 4;

export function resolveOptions(opts: BuildOptions, defaults: ModelDefaults): ResolvedOptions {
  const r: ResolvedOptions = {
    seed: opts.seed ?? 0,
    size: opts.size ?? defaults.size,
    channels: opts.channels ?? defaults.channels,
    numClasses: opts.numClasses ?? defaults.numClasses,
    width: opts.width ?? 1,
    batch: opts.batch ?? 'N',
    opset: opts.opset ?? 17,
  };
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new CompilerError('INVALID_OPTION', `${name} must be a positive integer; got ${v}`, { where: name });
  };
  positiveInt('size', r.size);
  positiveInt('channels', r.channels);
  positiveInt('numClasses', r.numClasses);
  if (!Number.isInteger(r.seed) || r.seed < 0)
    throw new CompilerError('INVALID_OPTION', `seed must be a non-negative integer; got ${r.seed}`, { where: 'seed' });
  if (!Number.isFinite(r.width) || r.width <= 0 || r.width > MAX_WIDTH)
    throw new CompilerError('INVALID_OPTION', `width must be a number in (0, ${MAX_WIDTH}]; got ${r.width}`, { where: 'width' });
  if (typeof r.batch === 'number' ? !Number.isInteger(r.batch) || r.batch < 1 : r.batch.length === 0) {
    throw new CompilerError('INVALID_OPTION', `batch must be a positive integer or a dimension name; got "${r.batch}"`, { where: 'batch' });
  }
  if (!Number.isInteger(r.opset) || r.opset < MIN_OPSET || r.opset > MAX_OPSET) {
    throw new CompilerError('OPSET_OUT_OF_RANGE', `the reference models are built for opsets ${MIN_OPSET} to ${MAX_OPSET}; got ${r.opset}`, {
      where: 'opset',
      hint: `pass --opset between ${MIN_OPSET} and ${MAX_OPSET}`,
    });
  }
  return r;
}

/** A NetBuilder for `name` with the resolved options, recording them in the model's metadata. */
export function netFor(name: string, o: ResolvedOptions): NetBuilder {
  return new NetBuilder({
    seed: o.seed,
    opset: o.opset,
    batch: o.batch,
    graphName: name,
    metadata: {
      'sculpt.model': name,
      'sculpt.seed': String(o.seed),
      'sculpt.size': String(o.size),
      'sculpt.channels': String(o.channels),
      'sculpt.classes': String(o.numClasses),
      'sculpt.width': String(o.width),
    },
  });
}

export interface NetBuilderOptions {
  seed: number;
  opset: number;
  batch: number | string;
  graphName: string;
  /** Recorded in the model's metadata_props (sculpt.model, sculpt.seed, ...). */
  metadata?: Record<string, string>;
}

const DEFAULT_GAMMA = [0.5, 1.5] as const;

/**
 * BN scale range for the last BN of a residual branch. With random weights and fixed
 * running statistics every residual Add roughly doubles the activation variance (ResNet-50's
 * logits reached ~3e4 with unit-scale gammas); a branch gain near 0.2 keeps the variance
 * growth per block near 4%, so deep nets give logits of ordinary size while the BN stays far
 * from the identity (the idea of zero-init-residual, without hiding the branch).
 */
export const RESIDUAL_GAMMA = [0.1, 0.3] as const;

/** Lowest and highest default-domain opset the builders emit (the range sculpt supports). */
export const MIN_OPSET = 7;
export const MAX_OPSET = 21;

/**
 * The IR version an exporter writes beside `opset` (onnx/helper.py's VERSION_TABLE), but
 * never below 4: IR 3 requires every initializer to be a graph input as well.
 */
export function irVersionForOpset(opset: number): number {
  if (opset <= 9) return 4;
  if (opset === 10) return 5;
  if (opset === 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

/** Output size of a conv or pool along one axis (floor mode, as ONNX defaults). */
export function convOutSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

export class NetBuilder {
  readonly b: GraphBuilder;
  readonly rng: Rng;
  readonly opset: number;
  readonly batch: number | string;
  #relu6Bounds: [Value, Value] | null = null;

  constructor(opts: NetBuilderOptions) {
    if (!Number.isInteger(opts.opset) || opts.opset < MIN_OPSET || opts.opset > MAX_OPSET) {
      throw new CompilerError('OPSET_OUT_OF_RANGE', `the reference models are built for opsets ${MIN_OPSET} to ${MAX_OPSET}; got ${opts.opset}`, {
        hint: `pass --opset between ${MIN_OPSET} and ${MAX_OPSET}`,
      });
    }
    this.b = GraphBuilder.newModel({ graphName: opts.graphName, opset: opts.opset, irVersion: irVersionForOpset(opts.opset) });
    this.rng = new Rng(opts.seed);
    this.opset = opts.opset;
    this.batch = opts.batch;
    if (opts.metadata) this.b.model.metadataProps = Object.entries(opts.metadata).map(([key, value]) => ({ key, value }));
  }

  get model(): Model {
    return this.b.model;
  }

  /** The image input `input`: float NCHW [batch, channels, height, width]. */
  imageInput(channels: number, height: number, width: number): Feature {
    const value = this.b.input('input', [this.batch, channels, height, width]);
    return { value, channels, height, width };
  }

  /** The vector input `input`: float [batch, features]. */
  vectorInput(features: number): Vec {
    return { value: this.b.input('input', [this.batch, features]), features };
  }

  /** He-normal weights for a layer whose fan-in is `fanIn`. */
  heWeights(name: string, dims: number[], fanIn: number): Value {
    const n = dims.reduce((a, d) => a * d, 1);
    return this.b.floats(name, dims, this.rng.normalArray(n, Math.sqrt(2 / fanIn)));
  }

  /** PyTorch's default bias: uniform in ±1/sqrt(fan_in). */
  biasValues(name: string, n: number, fanIn: number): Value {
    const bound = 1 / Math.sqrt(fanIn);
    return this.b.floats(name, [n], this.rng.uniformArray(n, -bound, bound));
  }

  conv(x: Feature, name: string, o: ConvOptions): Feature {
    const stride = o.stride ?? 1;
    const pad = o.pad ?? Math.floor(o.kernel / 2);
    const group = o.group ?? 1;
    if (x.channels % group !== 0 || o.out % group !== 0) {
      throw new CompilerError('INVALID_OPTION', `conv ${name}: group ${group} does not divide ${x.channels} input / ${o.out} output channels`, { where: name });
    }
    const height = convOutSize(x.height, o.kernel, stride, pad);
    const width = convOutSize(x.width, o.kernel, stride, pad);
    if (height < 1 || width < 1) {
      throw new CompilerError(
        'INVALID_OPTION',
        `conv ${name}: a ${x.height}x${x.width} input is too small for a ${o.kernel}x${o.kernel} kernel at stride ${stride}`,
        { where: name, hint: 'pass a larger --size' },
      );
    }
    const fanIn = (x.channels / group) * o.kernel * o.kernel;
    const w = this.heWeights(`${name}.weight`, [o.out, x.channels / group, o.kernel, o.kernel], fanIn);
    const inputs: Value[] = [x.value, w];
    if (o.bias) inputs.push(this.biasValues(`${name}.bias`, o.out, fanIn));
    const attrs = [
      attrInts('dilations', [1, 1]),
      attrInt('group', group),
      attrInts('kernel_shape', [o.kernel, o.kernel]),
      attrInts('pads', [pad, pad, pad, pad]),
      attrInts('strides', [stride, stride]),
    ];
    return { value: this.b.op('Conv', inputs, attrs, name), channels: o.out, height, width };
  }

  /**
   * BatchNormalization in inference form with seeded statistics: gamma uniform in `gamma`
   * (default [0.5, 1.5)), beta ~ N(0, 0.1), running mean ~ N(0, 0.1), running variance in
   * [0.5, 1.5).
   */
  batchNorm(x: Feature, name: string, gamma: readonly [number, number] = DEFAULT_GAMMA): Feature {
    const c = x.channels;
    const g = this.b.floats(`${name}.weight`, [c], this.rng.uniformArray(c, gamma[0], gamma[1]));
    const beta = this.b.floats(`${name}.bias`, [c], this.rng.normalArray(c, 0.1));
    const mean = this.b.floats(`${name}.running_mean`, [c], this.rng.normalArray(c, 0.1));
    const variance = this.b.floats(`${name}.running_var`, [c], this.rng.uniformArray(c, 0.5, 1.5));
    const attrs = [attrFloat('epsilon', 1e-5), attrFloat('momentum', 0.9)];
    return { ...x, value: this.b.op('BatchNormalization', [x.value, g, beta, mean, variance], attrs, name) };
  }

  relu<T extends Feature | Vec>(x: T, name: string): T {
    return { ...x, value: this.b.op('Relu', [x.value], [], name) };
  }

  /**
   * ReLU6 as Clip(0, 6): bounds as inputs from opset 11 (shared scalar initializers), as
   * attributes before it (Clip-6).
   */
  relu6<T extends Feature | Vec>(x: T, name: string): T {
    if (this.opset < 11) {
      return { ...x, value: this.b.op('Clip', [x.value], [attrFloat('max', 6), attrFloat('min', 0)], name) };
    }
    this.#relu6Bounds ??= [this.b.floats('relu6.min', [], [0]), this.b.floats('relu6.max', [], [6])];
    return { ...x, value: this.b.op('Clip', [x.value, ...this.#relu6Bounds], [], name) };
  }

  activation<T extends Feature | Vec>(x: T, act: Activation, name: string): T {
    if (act === 'relu') return this.relu(x, name);
    if (act === 'relu6') return this.relu6(x, name);
    return x;
  }

  /**
   * Conv (no bias unless asked) → BatchNormalization → activation, with the node names
   * given (the activation's defaults to `<bn>.<act>`). `gamma` is the BN scale's range.
   */
  convBn(x: Feature, names: { conv: string; bn: string; act?: string }, o: ConvOptions, act: Activation, gamma?: readonly [number, number]): Feature {
    const y = this.batchNorm(this.conv(x, names.conv, { ...o, bias: o.bias ?? false }), names.bn, gamma);
    return this.activation(y, act, names.act ?? `${names.bn}.${act}`);
  }

  maxPool(x: Feature, name: string, kernel: number, stride = kernel, pad = 0): Feature {
    const height = convOutSize(x.height, kernel, stride, pad);
    const width = convOutSize(x.width, kernel, stride, pad);
    if (height < 1 || width < 1) {
      throw new CompilerError('INVALID_OPTION', `pool ${name}: a ${x.height}x${x.width} input is too small for a ${kernel}x${kernel} window`, {
        where: name,
        hint: 'pass a larger --size',
      });
    }
    const attrs = [attrInts('kernel_shape', [kernel, kernel]), attrInts('pads', [pad, pad, pad, pad]), attrInts('strides', [stride, stride])];
    return { ...x, value: this.b.op('MaxPool', [x.value], attrs, name), height, width };
  }

  globalAvgPool(x: Feature, name: string): Feature {
    return { ...x, value: this.b.op('GlobalAveragePool', [x.value], [], name), height: 1, width: 1 };
  }

  /** Flatten(axis=1): [N, C, H, W] → [N, C·H·W], channel-major (what Flatten → Gemm pruning expects). */
  flatten(x: Feature, name: string): Vec {
    return { value: this.b.op('Flatten', [x.value], [attrInt('axis', 1)], name), features: x.channels * x.height * x.width };
  }

  /** A fully connected layer as Gemm(x, W, b) with W stored [out, in] and transB=1 (PyTorch's export). */
  gemm(x: Vec, name: string, out: number): Vec {
    const w = this.heWeights(`${name}.weight`, [out, x.features], x.features);
    const bias = this.biasValues(`${name}.bias`, out, x.features);
    const attrs = [attrFloat('alpha', 1), attrFloat('beta', 1), attrInt('transB', 1)];
    return { value: this.b.op('Gemm', [x.value, w, bias], attrs, name), features: out };
  }

  add(a: Feature, b: Feature, name: string): Feature {
    if (a.channels !== b.channels || a.height !== b.height || a.width !== b.width) {
      throw new CompilerError('INTERNAL', `add ${name}: [${a.channels},${a.height},${a.width}] + [${b.channels},${b.height},${b.width}]`, { where: name });
    }
    return { ...a, value: this.b.op('Add', [a.value, b.value], [], name) };
  }

  /** Marks `x` as the graph output `logits` [batch, classes] and returns the model. */
  finish(x: Vec): Model {
    const v = this.b.output(x.value, 'logits');
    v.info.type = tensorType(DataType.FLOAT, [this.batch, x.features] as StaticDim[]);
    return this.b.model;
  }
}

/** `c · width`, rounded, at least 1: the width multiplier for plain nets. */
export function scaled(c: number, width: number): number {
  return Math.max(1, Math.round(c * width));
}

/**
 * MobileNet's channel rounding (torchvision `_make_divisible`): the nearest multiple of
 * `divisor`, never more than 10% below the unrounded value.
 */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (n < 0.9 * v) n += divisor;
  return n;
}
