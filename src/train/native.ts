/**
 * TensorFlow's own fused training kernels on the native backend (tfjs-node, tfjs-node-gpu).
 *
 * tfjs-node runs each tfjs kernel as one TensorFlow eager op, so a composite written with
 * tfjs ops costs one eager dispatch per op, forward and backward: batch-norm training from
 * means and variances was 9 ops forward, 6 for the running statistics, and more backward, and ReLU's gradient
 * (tfjs' table: dy · step(x)) three. TensorFlow has one op for each, the ones Keras runs:
 *
 * | what                      | kernel here                  | TensorFlow op            |
 * |---------------------------|------------------------------|--------------------------|
 * | batch norm, batch stats and the running-stat update | SculptBatchNormTrain | FusedBatchNormV3 |
 * | its gradient              | SculptBatchNormTrainGrad     | FusedBatchNormGradV3     |
 * | ReLU's gradient           | SculptReluGrad               | ReluGrad                 |
| ReLU6's gradient (Clip 0..6, hard-sigmoid) | SculptRelu6Grad | Relu6Grad             |
| Identity (tfjs' clones of saved tensors) | shares the data (kernels/conv.ts) | none          |
 * | mean cross-entropy, integer labels | SculptSparseCrossEntropyMean | SparseSoftmaxCrossEntropyWithLogits, Mean, Mul |
 *
 * Installed once the `tensorflow` backend is active (selectBackend); on wasm and cpu nothing
 * changes. test/train/native.test.ts checks each against the composite on the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelBackend, KernelFunc, NamedAttrMap, Tensor, TensorInfo } from '@tensorflow/tfjs-core';
import { identityShared } from './kernels/conv.js';
import { installKernel } from './kernels/host.js';

const TF = 'tensorflow';

/** The parts of tfjs-node's NodeJSKernelBackend used here (its TF eager op runner). */
interface NodeBackend extends KernelBackend {
  binding: {
    TF_ATTR_FLOAT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_BOOL: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
    TF_INT32: number;
    executeOp(name: string, attrs: unknown[], inputs: number[], outputs: number): TensorMeta[];
    createTensor(shape: number[], dtype: number, values: Float32Array | Int32Array): number;
    deleteTensor(id: number): void;
  };
  executeSingleOutput(name: string, attrs: unknown[], inputs: TensorInfo[]): Tensor;
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: TensorInfo[], n: number): Tensor[];
  getInputTensorIds(ts: TensorInfo[]): number[];
  createOutputTensor(meta: TensorMeta): Tensor;
}

/** A TensorFlow tensor the binding made (its id, shape and dtype code). */
interface TensorMeta {
  id: number;
  shape: number[];
  dtype: number;
}

function bnAttrs(b: NodeBackend, epsilon: number): unknown[] {
  const f = b.binding;
  return [
    { name: 'T', type: f.TF_ATTR_TYPE, value: f.TF_FLOAT },
    { name: 'U', type: f.TF_ATTR_TYPE, value: f.TF_FLOAT },
    { name: 'epsilon', type: f.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: f.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: f.TF_ATTR_BOOL, value: true },
  ];
}

/**
 * Inputs x [N,H,W,C], scale, offset, running mean and variance [C]; attrs epsilon, momentum →
 * [y, new running mean, new running variance, 3 reserve spaces]. TensorFlow's update with
 * exponential_avg_factor f = 1 − momentum is (1 − f)·running + f·batch, the batch variance
 * unbiased: the composite's.
 */
const batchNormTrain: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as NodeBackend;
  const { x, scale, offset, mean, variance } = inputs as Record<string, TensorInfo>;
  const factor = { name: 'exponential_avg_factor', type: b.binding.TF_ATTR_FLOAT, value: 1 - Number(attrs!.momentum) };
  return b.executeMultipleOutputs(
    'FusedBatchNormV3',
    [...bnAttrs(b, Number(attrs!.epsilon)), factor],
    [x!, scale!, offset!, mean!, variance!],
    6,
  ) as unknown as TensorInfo[];
};

/** Inputs dy, x, scale and the forward's reserve spaces → [dx, dscale, doffset]. */
const batchNormTrainGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as NodeBackend;
  const { dy, x, scale, r1, r2, r3 } = inputs as Record<string, TensorInfo>;
  const outs = b.executeMultipleOutputs('FusedBatchNormGradV3', bnAttrs(b, Number(attrs!.epsilon)), [dy!, x!, scale!, r1!, r2!, r3!], 5);
  for (const t of outs.slice(3)) t.dispose();
  return outs.slice(0, 3) as unknown as TensorInfo[];
};

/** ReluGrad or Relu6Grad (inputs: the gradient, then the forward's input). */
function activationGrad(op: 'ReluGrad' | 'Relu6Grad'): KernelFunc {
  return ({ inputs, backend }) => {
    const b = backend as NodeBackend;
    const { dy, x } = inputs as Record<string, TensorInfo>;
    return b.executeSingleOutput(op, [{ name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT }], [dy!, x!]) as unknown as TensorInfo;
  };
}

/** Small constant TF tensors (a reduction's axes, 1/n), made once through the binding and kept for the process: by key. */
const constants = new Map<string, number>();

function constantId(b: NodeBackend, key: string, shape: number[], dtype: number, values: Float32Array | Int32Array): number {
  let id = constants.get(key);
  if (id === undefined) constants.set(key, (id = b.binding.createTensor(shape, dtype, values)));
  return id;
}

/**
 * Logits [N,K] and int32 labels [N] → [mean loss (a scalar), its gradient (softmax − onehot) / N
 * [N,K]]: TensorFlow's SparseSoftmaxCrossEntropyWithLogits, its rows' Mean and the gradient's
 * scaling run straight through the binding, one tfjs kernel (tfjs-node's Mean would add a Cast
 * and an axis upload; a tf.customGrad, its own tape bookkeeping; the gradient, a division).
 */
const sparseCrossEntropyMean: KernelFunc = ({ inputs, backend }) => {
  const b = backend as NodeBackend;
  const { logits, labels } = inputs as Record<string, TensorInfo>;
  const f = b.binding;
  const n = logits!.shape[0]!;
  const T = { name: 'T', type: f.TF_ATTR_TYPE, value: f.TF_FLOAT };
  const [rows, backprop] = f.executeOp(
    'SparseSoftmaxCrossEntropyWithLogits',
    [T, { name: 'Tlabels', type: f.TF_ATTR_TYPE, value: f.TF_INT32 }],
    b.getInputTensorIds([logits!, labels!]),
    2,
  );
  try {
    const axis = constantId(b, 'axis0', [1], f.TF_INT32, Int32Array.of(0));
    const [mean] = f.executeOp(
      'Mean',
      [T, { name: 'Tidx', type: f.TF_ATTR_TYPE, value: f.TF_INT32 }, { name: 'keep_dims', type: f.TF_ATTR_BOOL, value: false }],
      [rows!.id, axis],
      1,
    );
    const [scaled] = f.executeOp('Mul', [T], [backprop!.id, constantId(b, `1/${n}`, [], f.TF_FLOAT, Float32Array.of(1 / n))], 1);
    return [b.createOutputTensor(mean!), b.createOutputTensor(scaled!)] as unknown as TensorInfo[];
  } finally {
    f.deleteTensor(rows!.id);
    f.deleteTensor(backprop!.id);
  }
};

const sparseCrossEntropyMeanGradient: GradConfig = {
  kernelName: 'SculptSparseCrossEntropyMean',
  inputsToSave: ['labels'],
  outputsToSave: [false, true],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [labels, scaled] = saved as [Tensor, Tensor];
    const d = (Array.isArray(dy) ? dy[0] : dy)!;
    // Integer labels carry no gradient (tfjs asks only where a path leads from a variable).
    return { logits: () => tf.mul(scaled, d), labels: () => tf.zeros(labels.shape) };
  },
};

const nhwc = (b: NodeBackend) => [
  { name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
  { name: 'data_format', type: b.binding.TF_ATTR_STRING, value: 'NHWC' },
];

/** x [..., C] + bias [C]. */
const biasAdd: KernelFunc = ({ inputs, backend }) => {
  const b = backend as NodeBackend;
  const { x, bias } = inputs as Record<string, TensorInfo>;
  return b.executeSingleOutput('BiasAdd', nhwc(b), [x!, bias!]) as unknown as TensorInfo;
};

/** dy [..., C] summed to [C]. */
const biasAddGrad: KernelFunc = ({ inputs, backend }) => {
  const b = backend as NodeBackend;
  return b.executeSingleOutput('BiasAddGrad', nhwc(b), [(inputs as Record<string, TensorInfo>).dy!]) as unknown as TensorInfo;
};

const biasAddGradient: GradConfig = {
  kernelName: 'SculptBiasAdd',
  gradFunc: (dy: Tensor | Tensor[]) => {
    const d = dy as Tensor;
    // A clone shares the data on this backend (no op); tfjs must not get dy itself back.
    return { x: () => tf.clone(d), bias: () => tf.engine().runKernel('SculptBiasAddGrad', { dy: d }, {}) as Tensor };
  },
};

/** Routes `kernel`'s gradient to the native op on the tensorflow backend; other backends keep the one registered before. */
function nativeGradient(kernel: 'Relu' | 'Relu6', gradKernel: string): void {
  const prev = tf.getGradient(kernel);
  if (!prev) return;
  tf.registerGradient({
    ...prev,
    kernelName: kernel,
    // Saves what the gradient registered before saves (ours: the output; tfjs': the input):
    // TF's ReluGrad and Relu6Grad give the same from either.
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== TF || (saved[0] as Tensor).dtype !== 'float32') return prev.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(gradKernel, { dy: dy as Tensor, x: saved[0]! }, {}) as Tensor };
    },
  });
}

const batchNormTrainGradient: GradConfig = {
  kernelName: 'SculptBatchNormTrain',
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, false, false, true, true, true],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const [x, scale, r1, r2, r3] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const dys = Array.isArray(dy) ? dy : [dy];
    // Only y carries a gradient: the new running statistics feed their assignment alone.
    // One op gives all three; computed here, not in a closure, because each closure runs in
    // its own tidy, which would dispose the other two.
    const [dx, dscale, doffset] = tf.engine().runKernel('SculptBatchNormTrainGrad', { dy: dys[0]!, x, scale, r1, r2, r3 }, attrs) as Tensor[];
    // The running statistics are never differentiated (not trainable); zeros keep tfjs' tape whole.
    return { x: () => dx!, scale: () => dscale!, offset: () => doffset!, mean: () => tf.zerosLike(r1), variance: () => tf.zerosLike(r2) };
  },
};

let installed = false;

/** Registers the kernels above for the `tensorflow` backend and routes ReLU's gradient to ReluGrad there (idempotent). */
export function installNativeKernels(): void {
  if (installed) return;
  installed = true;
  tf.registerKernel({ kernelName: 'SculptBatchNormTrain', backendName: TF, kernelFunc: batchNormTrain });
  tf.registerKernel({ kernelName: 'SculptBatchNormTrainGrad', backendName: TF, kernelFunc: batchNormTrainGrad });
  tf.registerKernel({ kernelName: 'SculptReluGrad', backendName: TF, kernelFunc: activationGrad('ReluGrad') });
  tf.registerKernel({ kernelName: 'SculptRelu6Grad', backendName: TF, kernelFunc: activationGrad('Relu6Grad') });
  tf.registerKernel({ kernelName: 'SculptSparseCrossEntropyMean', backendName: TF, kernelFunc: sparseCrossEntropyMean });
  tf.registerKernel({ kernelName: 'SculptBiasAdd', backendName: TF, kernelFunc: biasAdd });
  tf.registerKernel({ kernelName: 'SculptBiasAddGrad', backendName: TF, kernelFunc: biasAddGrad });
  tf.registerGradient(biasAddGradient);
  tf.registerGradient(sparseCrossEntropyMeanGradient);
  tf.registerGradient(batchNormTrainGradient);
  // tfjs clones every tensor it saves for the backward pass (Identity): one eager op each,
  // ~100 per ResNet-20 step. Sharing the data costs none; no kernel writes in place.
  installKernel('Identity', TF, identityShared);
  nativeGradient('Relu', 'SculptReluGrad');
  nativeGradient('Relu6', 'SculptRelu6Grad');
}

/** True when the native kernels are in use (the tensorflow backend is active and they are installed). */
export function onNative(): boolean {
  return installed && tf.getBackend() === TF;
}

/**
 * clip(x, lo, hi) as one TensorFlow op each way where one exists: Relu6 for [0, 6], Relu for
 * [0, ∞) (tfjs' ClipByValue is Minimum + Maximum forward and five ops backward on tfjs-node).
 * Undefined elsewhere.
 */
export function nativeClip(x: Tensor, lo: number, hi: number): Tensor | undefined {
  if (!onNative() || x.dtype !== 'float32' || lo !== 0) return undefined;
  if (hi === 6) return tf.relu6(x);
  if (hi === Infinity) return tf.relu(x);
  return undefined;
}

/** hard-sigmoid max(0, min(1, αx + β)) as relu6(6αx + 6β) / 6 on the native backend (undefined elsewhere). */
export function nativeHardSigmoid(x: Tensor, alpha: number, beta: number): Tensor | undefined {
  if (!onNative() || x.dtype !== 'float32') return undefined;
  // 6α and 6β in float32, as the kernels compute: hard-swish's α = 1/6 makes the scale exactly 1.
  const a6 = Math.fround(6 * alpha);
  const b6 = Math.fround(6 * beta);
  const ax = a6 === 1 ? x : tf.mul(x, a6);
  return tf.mul(tf.relu6(b6 === 0 ? ax : tf.add(ax, b6)), 1 / 6);
}

/**
 * Batch norm with batch statistics as one TensorFlow op, on the native backend: `t` is
 * channels-last, rank 2 to 4. Returns y and the running statistics updated with `momentum`
 * (running·momentum + batch·(1 − momentum), the batch variance unbiased), or undefined where
 * the op does not apply (another backend, or the kernels are not installed).
 */
export function nativeBatchNormTrain(
  t: Tensor,
  scale: Tensor,
  bias: Tensor,
  epsilon: number,
  running: { mean: Tensor; variance: Tensor; momentum: number },
): { y: Tensor; runningMean: Tensor; runningVar: Tensor } | undefined {
  if (!onNative() || t.rank < 2 || t.rank > 4 || t.dtype !== 'float32') return undefined;
  const c = t.shape[t.rank - 1]!;
  const x4 = t.rank === 4 ? t : tf.reshape(t, [t.shape[0]!, 1, t.rank === 3 ? t.shape[1]! : 1, c]);
  const flat = (v: Tensor) => (v.rank === 1 ? v : tf.reshape(v, [c]));
  const [y, mean, variance] = tf
    .engine()
    .runKernel(
      'SculptBatchNormTrain',
      { x: x4, scale: flat(scale), offset: flat(bias), mean: flat(running.mean), variance: flat(running.variance) },
      { epsilon, momentum: running.momentum },
    ) as Tensor[];
  return { y: t.rank === 4 ? y! : tf.reshape(y!, t.shape), runningMean: mean!, runningVar: variance! };
}

/**
 * Mean cross-entropy of logits [N,K] against int32 class indices [N] as TensorFlow's one op
 * (the one Keras runs), which returns the gradient, softmax − onehot, with the loss: the
 * backward pass is one multiply. Undefined where it does not apply (another backend, other
 * ranks or dtypes). A label outside [0, K) is an error here (TensorFlow names it).
 */
export function nativeCrossEntropy(logits: Tensor, labels: Tensor): tf.Scalar | undefined {
  if (!onNative() || logits.rank !== 2 || logits.dtype !== 'float32' || labels.rank !== 1) return undefined;
  const y = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
  const [loss, scaled] = tf.engine().runKernel('SculptSparseCrossEntropyMean', { logits, labels: y }, {}) as Tensor[];
  // The scaled gradient is the backward pass's (the tape keeps its own reference, a shared clone).
  scaled!.dispose();
  return loss as tf.Scalar;
}

/**
 * x [..., C] + bias [C] as TensorFlow's BiasAdd, whose gradient is one BiasAddGrad (tfjs'
 * broadcasting add takes a Sum and three Reshapes back). Undefined where it does not apply
 * (another backend, a bias of another shape, rank below 2).
 */
export function nativeBiasAdd(x: Tensor, bias: Tensor): Tensor | undefined {
  if (!onNative() || x.dtype !== 'float32' || bias.dtype !== 'float32' || x.rank < 2 || bias.rank !== 1 || bias.shape[0] !== x.shape[x.rank - 1])
    return undefined;
  return tf.engine().runKernel('SculptBiasAdd', { x, bias }, {}) as Tensor;
}
