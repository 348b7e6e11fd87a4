/**
 * The reference models: seeded ONNX builders for the networks sculpt's methods are measured
 * on. Each takes float NCHW pixels in [0, 1] as `input` (batch dim 'N' by default; the MLP
 * takes them flattened, [N, 784]) and produces `logits` [N, classes].
 *
 * ```ts
 * import { buildModel } from '../models/index.js';
 * const m = buildModel('resnet20', { seed: 1, width: 0.5 });
 * ```
 */
import { CompilerError } from '../src/core.js';
import type { Model } from '../src/core.js';
import { resolveOptions, type BuildOptions, type ModelDefaults, type ResolvedOptions } from './layers.js';
import { buildMlp, MLP_DEFAULTS } from './mlp.js';
import { buildLenet5, LENET5_DEFAULTS } from './lenet5.js';
import { buildVgg, VGG_DEFAULTS } from './vgg.js';
import { buildResnet20, RESNET20_DEFAULTS } from './resnet20.js';
import { buildMobilenetv2, MOBILENETV2_DEFAULTS } from './mobilenetv2.js';
import { buildResnet50, RESNET50_DEFAULTS } from './resnet50.js';

export type { BuildOptions, ResolvedOptions } from './layers.js';
export { MIN_OPSET, MAX_OPSET } from './layers.js';

export type ModelName = 'mlp' | 'lenet5' | 'vgg' | 'resnet20' | 'mobilenetv2' | 'resnet50';

export interface CatalogEntry {
  readonly name: ModelName;
  /** One line for `sculpt models list`. */
  readonly summary: string;
  /** The default input, in words. */
  readonly input: string;
}

interface Entry extends CatalogEntry {
  readonly defaults: ModelDefaults;
  readonly build: (o: ResolvedOptions) => Model;
}

const ENTRIES: readonly Entry[] = [
  {
    name: 'mlp',
    summary: 'MLP 784-500-300-10 (Gemm + Relu) on flattened 28x28x1 pixels, the MNIST baseline',
    input: '[N,784]',
    defaults: MLP_DEFAULTS,
    build: buildMlp,
  },
  {
    name: 'lenet5',
    summary: 'LeNet-5: conv5x5(6)-pool-conv5x5(16)-pool-120-84-10, Relu (32x32x3: --size 32 --channels 3)',
    input: '[N,1,28,28]',
    defaults: LENET5_DEFAULTS,
    build: buildLenet5,
  },
  {
    name: 'vgg',
    summary: 'small VGG-style CNN: 3 blocks of 2x(Conv3x3+BN+Relu)+MaxPool (16/32/64), fc 128, for Fashion-MNIST',
    input: '[N,1,28,28]',
    defaults: VGG_DEFAULTS,
    build: buildVgg,
  },
  {
    name: 'resnet20',
    summary: 'CIFAR-style ResNet-20: 3 stages x 3 basic blocks (16/32/64), BN, 1x1 projection shortcuts',
    input: '[N,3,32,32]',
    defaults: RESNET20_DEFAULTS,
    build: buildResnet20,
  },
  {
    name: 'mobilenetv2',
    summary: 'MobileNetV2: inverted residuals (1x1 expand, depthwise 3x3, linear bottleneck), ReLU6 as Clip; CIFAR strides below 96 px',
    input: '[N,3,32,32]',
    defaults: MOBILENETV2_DEFAULTS,
    build: buildMobilenetv2,
  },
  {
    name: 'resnet50',
    summary: 'torchvision ResNet-50 v1.5: bottlenecks [3,4,6,3], fc 1000; 4.09 G MACs, 25.6 M params at 224',
    input: '[N,3,224,224]',
    defaults: RESNET50_DEFAULTS,
    build: buildResnet50,
  },
];

/** Every reference model, in the order `sculpt models list` shows them. */
export const MODEL_CATALOG: readonly CatalogEntry[] = ENTRIES.map(({ name, summary, input }) => ({ name, summary, input }));

/** Whether `name` is a reference model's name. */
export function isModelName(name: string): name is ModelName {
  return ENTRIES.some((e) => e.name === name);
}

/** The options `buildModel(name, opts)` will use, defaults filled. @throws UNKNOWN_MODEL, INVALID_OPTION, OPSET_OUT_OF_RANGE */
export function resolveModelOptions(name: ModelName, opts: BuildOptions = {}): ResolvedOptions {
  return resolveOptions(opts, entry(name).defaults);
}

/**
 * Builds a reference model with seeded weights: the same name and options give a
 * byte-identical model. O(params) time.
 * @throws UNKNOWN_MODEL for a name not in MODEL_CATALOG; INVALID_OPTION for options out of
 *   range (or an input too small for the net); OPSET_OUT_OF_RANGE outside opsets 7–21.
 */
export function buildModel(name: ModelName, opts: BuildOptions = {}): Model {
  const e = entry(name);
  return e.build(resolveOptions(opts, e.defaults));
}

function entry(name: string): Entry {
  const e = ENTRIES.find((x) => x.name === name);
  if (!e) {
    throw new CompilerError('UNKNOWN_MODEL', `no reference model named "${name}"`, {
      where: name,
      hint: `choose one of: ${ENTRIES.map((x) => x.name).join(', ')} (sculpt models list)`,
    });
  }
  return e;
}
