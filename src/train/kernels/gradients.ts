/**
 * Gradient functions for the tfjs kernels the executor and the losses use.
 *
 * `@tensorflow/tfjs-core` ships its gradient table only inside the `@tensorflow/tfjs` union
 * package (its own `register_all_gradients` module is extension-less ESM that Node cannot
 * load), so with core + backends alone `tf.grad` knows no kernel at all. These are our own,
 * each checked against finite differences in test/train/grad-*.test.ts. A gradient that is
 * already registered (e.g. by `@tensorflow/tfjs`, which `tfjs-node` brings) is left alone,
 * except for the pooling ones, whose padding handling is what this project relies on.
 *
 * Every function returns float32 gradients of exactly the input's shape: broadcasting
 * binary ops sum over the broadcast axes (`unbroadcast`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

type Grads = Record<string, () => Tensor>;
type GradFn = (dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) => Grads | (() => Tensor)[];

/**
 * Sum (or mean) of `t` over its first `k` axes. wasm and cpu reduce only along the innermost
 * axis, so a per-channel reduction of an NHWC map [N,H,W,C] costs them a full transpose
 * first. An average pool over the whole H×W window keeps C innermost (on wasm one XNNPACK
 * kernel), leaving a small [N,C] sum; its gradient is a plain broadcast (customGrad, so the
 * pool's own gradient kernel never runs). Native backends reduce any axis well: tf.sum.
 */
export function reduceLeading(t: Tensor, k: number, mean = false): Tensor {
  const keep = t.shape.slice(k);
  const b = tf.getBackend();
  if ((b !== 'wasm' && b !== 'cpu') || t.rank !== 4 || k !== 3 || t.dtype !== 'float32') {
    const axes = [...Array(k).keys()];
    return mean ? tf.mean(t, axes) : tf.sum(t, axes);
  }
  const [n, h, w, c] = t.shape as [number, number, number, number];
  const scale = mean ? 1 / n : h * w;
  const f = tf.customGrad(((x: Tensor) => {
    const pooled = h * w === 1 ? tf.reshape(x, [n, c]) : tf.reshape(tf.avgPool(x as tf.Tensor4D, [h, w], [h, w], 'valid'), [n, c]);
    const value = tf.mul(tf.sum(pooled, 0), scale);
    const per = mean ? 1 / (n * h * w) : 1;
    // A broadcasting multiply, not broadcastTo: wasm's Tile is a slow generic loop.
    return { value, gradFunc: (dy: Tensor) => tf.mul(onesOf([n, h, w, c]), tf.reshape(tf.mul(dy, per), [1, 1, 1, c])) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.reshape(f(t), keep);
}

/**
 * A tensor of ones made by the backend's Fill kernel: `tf.ones` builds the array in JS and
 * uploads it, 4x slower on wasm than the fill (and than the multiply it feeds).
 */
function onesOf(shape: number[]): Tensor {
  return tf.fill(shape, 1, 'float32');
}

/**
 * [lo < y < hi] as float32 for the output y of a clip to [lo, hi], from `step` (1 where its
 * input is > 0): wasm runs comparisons and select 5–10x slower than a unary kernel and an
 * arithmetic op. Inside the open range exactly where the clip's input was; at a bound the
 * clip passes nothing (TF's Relu6Grad, which reads either the input or the output). Either
 * bound may be infinite.
 */
function inOpenRange(y: Tensor, lo: number, hi: number): Tensor {
  let m: Tensor | undefined;
  if (lo > -Infinity) m = tf.step(lo === 0 ? y : tf.sub(y, lo));
  if (hi < Infinity) {
    const below = tf.step(tf.sub(hi, y));
    m = m ? tf.mul(m, below) : below;
  }
  return m ?? tf.onesLike(y);
}

/**
 * Batch normalisation with batch statistics over every axis but the last (channels-last `t`,
 * per-channel `scale` and `bias`), with its gradient in closed form:
 *   y = (t − μ)·k + bias,  k = scale / √(σ² + ε)
 *   dbias = Σ dy,  dscale = Σ dy·(t − μ) / √(σ² + ε)
 *   dt = k·dy − (k/n)·dbias − (k/(n(σ² + ε)))·Σ(dy·(t − μ))·(t − μ)
 * Five full-size kernels backward instead of the dozen autodiff runs through the mean, the
 * variance and their broadcasts (each of which costs a full pass on wasm); the per-channel
 * scale-and-shifts are `channelAffine` (on wasm one SIMD depthwise 1×1 conv each, not a
 * broadcasting Multiply and Add, which wasm runs without SIMD; with the host arithmetic
 * below, 7–9% less CPU per ResNet-20 step on wasm). Returns the batch
 * mean and (biased) variance for the running statistics, as tensors and (`stats`) host
 * values; they carry no gradient.
 *
 * Memory: the whole forward, statistics included, runs inside the custom gradient, where
 * tfjs records nothing, and the backward pass keeps one full-size tensor, t − μ (the
 * per-channel 1/√(σ² + ε) and k stay on the host). Computed outside, the statistics put `Sub` (saving t) and
 * `Square` on the tape: two more full-size tensors per batch norm, kept to the end of the
 * step though no gradient reads them.
 */
export function batchNormTrain(
  t: Tensor,
  scale: Tensor,
  bias: Tensor,
  eps: number,
): { y: Tensor; mean: Tensor; variance: Tensor; stats: { mean: Float64Array; variance: Float64Array } } {
  const c = t.shape[t.rank - 1]!;
  const n = t.size / Math.max(1, c);
  // The per-channel arithmetic runs on the host in float64 (C values; each tfjs op costs ~10 µs
  // of engine time, and a batch norm had ~50 of them): only the full-size passes are kernels.
  let mean: Float64Array | undefined;
  let variance: Float64Array | undefined;
  const f = tf.customGrad(((x: Tensor, g: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    const m = channelSums(x).map((v) => v / n);
    const diff = channelAffine(x, null, tf.tensor1d(Float32Array.from(m, (v) => -v)));
    const sq = tf.square(diff);
    const v = channelSums(sq).map((s) => s / n);
    sq.dispose();
    const gv = f32(g).dataSync();
    const inv = v.map((s) => 1 / Math.sqrt(s + eps));
    const k = inv.map((iv, i) => gv[i]! * iv);
    mean = m;
    variance = v;
    save([diff]);
    const value = channelAffine(diff, tf.tensor1d(Float32Array.from(k)), b);
    // dx = k·dy + (t − μ)·A + B with per-channel A, B, each full-size temporary freed once
    // read: at most two alive beside dy and t − μ (not the five of one expression).
    const gradFunc = (dy: Tensor, saved: Tensor[]) => {
      const d = saved[0]!;
      const dyf = f32(dy);
      const dbias = channelSums(dyf);
      const prod = tf.mul(dyf, d);
      const dyDiff = channelSums(prod);
      prod.dispose();
      const a = Float32Array.from(k, (kk, i) => (-kk * inv[i]! * inv[i]! * dyDiff[i]!) / n);
      const bb = Float32Array.from(k, (kk, i) => (-kk * dbias[i]!) / n);
      const part = channelAffine(d, tf.tensor1d(a), tf.tensor1d(bb));
      const scaled = channelAffine(dyf, tf.tensor1d(Float32Array.from(k)), null);
      const dx = tf.add(scaled, part);
      scaled.dispose();
      part.dispose();
      return [
        dx,
        tf.tensor(
          Float32Array.from(dyDiff, (s, i) => s * inv[i]!),
          g.shape,
        ),
        tf.tensor(Float32Array.from(dbias), b.shape),
      ];
    };
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = f(t, tf.reshape(scale, [c]), tf.reshape(bias, [c]));
  return { y, mean: tf.tensor1d(Float32Array.from(mean!)), variance: tf.tensor1d(Float32Array.from(variance!)), stats: { mean: mean!, variance: variance! } };
}

/**
 * Per-channel sums of `t` (channels on its last axis) on the host, in float64. On wasm and
 * cpu a rank-4 map is first averaged over H×W by one pooling kernel that keeps C innermost
 * (their reductions only run along the innermost axis, so tf.sum would transpose the whole
 * map first), leaving an [N, C] read; elsewhere tf.sum over the leading axes.
 */
export function channelSums(t: Tensor): Float64Array {
  const c = t.shape[t.rank - 1]!;
  const out = new Float64Array(c);
  const be = tf.getBackend();
  let vals: Float32Array;
  let rows: number;
  let per = 1;
  if ((be === 'wasm' || be === 'cpu') && t.rank === 4 && t.dtype === 'float32') {
    const [n, h, w] = t.shape as [number, number, number, number];
    // The kernel itself: tf.avgPool adds a Cast of its result, a kernel call more.
    const pooled = h * w === 1 ? null : (tf.engine().runKernel('AvgPool', { x: t }, { filterSize: [h, w], strides: [h, w], pad: 'valid' }) as Tensor);
    vals = (pooled ?? t).dataSync() as Float32Array;
    pooled?.dispose();
    rows = n;
    per = h * w;
  } else {
    const s = t.rank <= 1 ? f32(t) : tf.sum(f32(t), [...Array(t.rank - 1).keys()]);
    vals = s.dataSync() as Float32Array;
    if (s !== t) s.dispose();
    rows = 1;
  }
  for (let r = 0; r < rows; r++) for (let i = 0; i < c; i++) out[i] = out[i]! + vals[r * c + i]!;
  if (per !== 1) for (let i = 0; i < c; i++) out[i] = out[i]! * per;
  return out;
}

/**
 * t·k + b with per-channel k and b (vectors over t's last axis; either may be left out) in
 * one pass, rounded as tf.add(tf.mul(t, k), b). On wasm as an XNNPACK depthwise 1×1
 * convolution with bias (b + t·k, a multiply then an add per element: no fused multiply-add
 * in wasm SIMD), 3–6x faster than wasm's broadcasting Multiply and Add, which have no SIMD
 * path for a per-channel operand. No gradient of its own: for the forward and backward
 * passes of custom gradients.
 */
export function channelAffine(t: Tensor, k: Tensor | null, b: Tensor | null): Tensor {
  const c = t.shape[t.rank - 1]!;
  if (tf.getBackend() !== 'wasm' || t.dtype !== 'float32' || t.rank < 1 || c === 0 || t.size === 0) {
    const scaled = k ? tf.mul(t, k) : t;
    return b ? tf.add(scaled, b) : scaled;
  }
  return tf.tidy(() => {
    const x4 = t.rank === 4 ? (t as tf.Tensor4D) : tf.reshape(t, [1, 1, t.size / c, c]);
    const filter = tf.reshape(k ?? tf.fill([c], 1, 'float32'), [1, 1, c, 1]) as tf.Tensor4D;
    const y = tf.fused.depthwiseConv2d({ x: x4 as tf.Tensor4D, filter, strides: 1, pad: 'valid', bias: b ? tf.reshape(b, [c]) : undefined });
    return t.rank === 4 ? y : tf.reshape(y, t.shape);
  });
}

/**
 * hard-swish x·clip(αx + β, 0, 1) (ONNX HardSwish: α = 1/6, β = 0.5) with a gradient that
 * keeps only x for the backward pass:
 *   d/dx = h + α·x·[0 < αx + β < 1],  h = clip(αx + β, 0, 1)
 * (recomputed from x; the open range is Clip's convention). As autodiff of the composite it
 * kept x, the clip's output and αx (for the Add's shape): two full-size maps more per
 * activation. The forward pass is the composite's arithmetic, so its values are the same.
 */
export function hardSwish(t: Tensor, alpha = 1 / 6, beta = 0.5): Tensor {
  const f = tf.customGrad(((x: Tensor, save: (ts: Tensor[]) => void) => {
    save([x]);
    const value = tf.mul(x, tf.clipByValue(tf.add(tf.mul(x, alpha), beta), 0, 1));
    // Step by step, each full-size temporary freed once read: at most three alive at a time.
    const gradFunc = (dy: Tensor, saved: Tensor[]) => {
      const xs = f32(saved[0]!);
      const ax = tf.mul(xs, alpha);
      const h = tf.tidy(() => tf.clipByValue(tf.add(ax, beta), 0, 1));
      const slope = tf.tidy(() => tf.mul(ax, inOpenRange(h, 0, 1)));
      ax.dispose();
      const d = tf.add(h, slope);
      h.dispose();
      slope.dispose();
      const dx = tf.mul(f32(dy), d);
      d.dispose();
      return dx;
    };
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(t) as Tensor;
}

/** Sums `dy` over the axes along which an input of `shape` was broadcast. */
export function unbroadcast(dy: Tensor, shape: readonly number[]): Tensor {
  const axes = tf.broadcast_util.getReductionAxes([...shape], dy.shape);
  if (axes.length === 0) return tf.reshape(dy, [...shape]);
  // The common case, a per-channel operand of an NHWC map: the reduced axes lead.
  if (axes.every((a, i) => a === i)) return tf.reshape(reduceLeading(dy, axes.length), [...shape]);
  return tf.reshape(tf.sum(dy, axes), [...shape]);
}

/**
 * matMul with transpose flags. wasm's GEMM runs ~10x slower when a transpose flag is set
 * (it falls back to a plain loop), so there the operand is transposed explicitly first.
 */
export function matMulT(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  if (tf.getBackend() !== 'wasm' || (!transposeA && !transposeB)) return tf.matMul(a, b, transposeA, transposeB);
  const swap = (t: Tensor) => tf.transpose(t, [...Array(t.rank - 2).keys(), t.rank - 1, t.rank - 2]);
  return tf.matMul(transposeA ? swap(a) : a, transposeB ? swap(b) : b);
}

function f32(t: Tensor): Tensor {
  return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
}

function axesOf(axis: unknown, shape: number[]): number[] {
  return tf.util.parseAxisParam((axis ?? null) as number | number[], shape);
}

/** dy of a reduction, broadcast back to the input's shape (keepDims or not). */
function expandReduced(dy: Tensor, xShape: number[], axes: number[]): Tensor {
  const kept = xShape.map((d, i) => (axes.includes(i) ? 1 : d));
  return tf.reshape(dy, kept);
}

function unaryFromX(fn: (x: Tensor, dy: Tensor) => Tensor): { inputsToSave: string[]; gradFunc: GradFn } {
  return { inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => fn(x!, dy) }) };
}

function unaryFromY(fn: (y: Tensor, dy: Tensor) => Tensor): { outputsToSave: boolean[]; gradFunc: GradFn } {
  return { outputsToSave: [true], gradFunc: (dy, [y]) => ({ x: () => fn(y!, dy) }) };
}

function zeroGrad(names: string[]): { inputsToSave: string[]; gradFunc: GradFn } {
  return {
    inputsToSave: names,
    gradFunc: (_dy, saved) => Object.fromEntries(names.map((n, i) => [n, () => tf.zeros(saved[i]!.shape, 'float32')])),
  };
}

const binaryInputs = ['a', 'b'];

const CONFIGS: Record<string, Omit<GradConfig, 'kernelName' | 'gradFunc'> & { gradFunc: GradFn }> = {
  // --- elementwise binary ------------------------------------------------------------
  Add: { inputsToSave: binaryInputs, gradFunc: (dy, [a, b]) => ({ a: () => unbroadcast(dy, a!.shape), b: () => unbroadcast(dy, b!.shape) }) },
  Sub: { inputsToSave: binaryInputs, gradFunc: (dy, [a, b]) => ({ a: () => unbroadcast(dy, a!.shape), b: () => tf.neg(unbroadcast(dy, b!.shape)) }) },
  Multiply: {
    inputsToSave: binaryInputs,
    gradFunc: (dy, [a, b]) => ({ a: () => unbroadcast(tf.mul(dy, f32(b!)), a!.shape), b: () => unbroadcast(tf.mul(dy, f32(a!)), b!.shape) }),
  },
  RealDiv: {
    inputsToSave: binaryInputs,
    gradFunc: (dy, [a, b]) => ({
      a: () => unbroadcast(tf.div(dy, f32(b!)), a!.shape),
      b: () => unbroadcast(tf.neg(tf.div(tf.mul(dy, f32(a!)), tf.square(f32(b!)))), b!.shape),
    }),
  },
  Maximum: {
    inputsToSave: binaryInputs,
    gradFunc: (dy, [a, b]) => ({
      a: () => unbroadcast(tf.mul(dy, f32(tf.greaterEqual(a!, b!))), a!.shape),
      b: () => unbroadcast(tf.mul(dy, f32(tf.less(a!, b!))), b!.shape),
    }),
  },
  Minimum: {
    inputsToSave: binaryInputs,
    gradFunc: (dy, [a, b]) => ({
      a: () => unbroadcast(tf.mul(dy, f32(tf.lessEqual(a!, b!))), a!.shape),
      b: () => unbroadcast(tf.mul(dy, f32(tf.greater(a!, b!))), b!.shape),
    }),
  },
  Pow: {
    inputsToSave: binaryInputs,
    outputsToSave: [true],
    gradFunc: (dy, [a, b, y]) => ({
      a: () => unbroadcast(tf.mul(dy, tf.mul(f32(b!), tf.pow(f32(a!), tf.sub(f32(b!), 1)))), a!.shape),
      b: () => {
        const positive = tf.greater(a!, 0);
        const logA = tf.where(positive, tf.log(f32(a!)), tf.zerosLike(f32(a!)));
        return unbroadcast(tf.mul(dy, tf.mul(f32(y!), logA)), b!.shape);
      },
    }),
  },
  SquaredDifference: {
    inputsToSave: binaryInputs,
    gradFunc: (dy, [a, b]) => {
      const two = tf.scalar(2);
      return {
        a: () => unbroadcast(tf.mul(dy, tf.mul(two, tf.sub(a!, b!))), a!.shape),
        b: () => unbroadcast(tf.mul(dy, tf.mul(two, tf.sub(b!, a!))), b!.shape),
      };
    },
  },
  AddN: { saveAllInputs: true, gradFunc: (dy, saved) => saved.map(() => () => tf.clone(dy)) },

  // --- elementwise unary -------------------------------------------------------------
  Neg: { gradFunc: (dy) => ({ x: () => tf.neg(dy) }) },
  Abs: unaryFromX((x, dy) => tf.mul(dy, tf.sign(f32(x)))),
  Exp: unaryFromY((y, dy) => tf.mul(dy, y)),
  Log: unaryFromX((x, dy) => tf.div(dy, f32(x))),
  Log1p: unaryFromX((x, dy) => tf.div(dy, tf.add(f32(x), 1))),
  Sqrt: unaryFromX((x, dy) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
  Rsqrt: unaryFromX((x, dy) => tf.div(dy, tf.mul(tf.pow(f32(x), 1.5), -2))),
  Reciprocal: unaryFromX((x, dy) => tf.div(dy, tf.neg(tf.square(f32(x))))),
  Square: unaryFromX((x, dy) => tf.mul(dy, tf.mul(f32(x), 2))),
  // step(y) = [y > 0]: one unary kernel instead of a comparison and a cast (5x faster on wasm).
  // ReLU, ReLU6 and Clip read their output, not their input: the output is what the next
  // layer saves anyway (a conv's input), so the pre-activation map need not be kept.
  Relu: unaryFromY((y, dy) => tf.mul(dy, tf.step(f32(y)))),
  Relu6: unaryFromY((y, dy) => tf.mul(dy, inOpenRange(f32(y), 0, 6))),
  LeakyRelu: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({ x: () => tf.mul(dy, tf.where(tf.greater(x!, 0), tf.onesLike(dy), tf.fill(dy.shape, attrs.alpha as number))) }),
  },
  Prelu: {
    inputsToSave: ['x', 'alpha'],
    gradFunc: (dy, [x, alpha]) => {
      const pos = tf.greater(x!, 0);
      return {
        x: () => tf.where(pos, dy, tf.mul(dy, alpha!)),
        alpha: () => unbroadcast(tf.where(pos, tf.zerosLike(dy), tf.mul(dy, x!)), alpha!.shape),
      };
    },
  },
  Elu: { outputsToSave: [true], gradFunc: (dy, [y]) => ({ x: () => tf.engine().runKernel('EluGrad', { dy, y: y! }) as Tensor }) },
  Selu: unaryFromX((x, dy) => {
    const scale = 1.0507009873554804934193349852946;
    const alpha = 1.6732632423543772848170429916717;
    return tf.mul(dy, tf.where(tf.greater(x, 0), tf.fill(x.shape, scale), tf.mul(tf.exp(f32(x)), scale * alpha)));
  }),
  Sigmoid: unaryFromY((y, dy) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  Tanh: unaryFromY((y, dy) => tf.mul(dy, tf.sub(1, tf.square(y)))),
  Softplus: unaryFromX((x, dy) => tf.mul(dy, tf.sigmoid(x))),
  Erf: unaryFromX((x, dy) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(f32(x)))), 2 / Math.sqrt(Math.PI)))),
  Sin: unaryFromX((x, dy) => tf.mul(dy, tf.cos(f32(x)))),
  Cos: unaryFromX((x, dy) => tf.neg(tf.mul(dy, tf.sin(f32(x))))),
  ClipByValue: {
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => ({
      // lo < y < hi, TF's Relu6Grad convention (the bounds pass nothing), from step kernels:
      // no comparison or select, which wasm runs 5–10x slower (this was most of
      // hard-swish/hard-sigmoid backward there).
      x: () => tf.mul(f32(dy), inOpenRange(f32(y!), attrs.clipValueMin as number, attrs.clipValueMax as number)),
    }),
  },
  Softmax: {
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = axesOf(attrs.dim, y!.shape);
      return { logits: () => tf.mul(y!, tf.sub(dy, tf.sum(tf.mul(dy, y!), dim, true))) };
    },
  },
  Cast: { gradFunc: (dy) => ({ x: () => tf.clone(dy) }) },
  Identity: { gradFunc: (dy) => ({ x: () => tf.clone(dy) }) },

  // Piecewise-constant and comparison kernels: zero gradient, so a loss that reads a mask
  // made from a trainable value still differentiates.
  Floor: zeroGrad(['x']),
  Ceil: zeroGrad(['x']),
  Round: zeroGrad(['x']),
  Sign: zeroGrad(['x']),
  Step: zeroGrad(['x']),
  Equal: zeroGrad(binaryInputs),
  NotEqual: zeroGrad(binaryInputs),
  Greater: zeroGrad(binaryInputs),
  GreaterEqual: zeroGrad(binaryInputs),
  Less: zeroGrad(binaryInputs),
  LessEqual: zeroGrad(binaryInputs),
  FloorDiv: zeroGrad(binaryInputs),
  ArgMax: zeroGrad(['x']),
  ArgMin: zeroGrad(['x']),
  Select: {
    inputsToSave: ['condition'],
    gradFunc: (dy, [cond]) => ({
      condition: () => tf.zeros(cond!.shape, 'float32'),
      t: () => tf.mul(dy, f32(cond!)),
      e: () => tf.mul(dy, f32(tf.logicalNot(cond!))),
    }),
  },

  // --- reductions ------------------------------------------------------------------
  Sum: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axes = axesOf(attrs.axis, x!.shape);
      return { x: () => tf.mul(expandReduced(dy, x!.shape, axes), onesOf(x!.shape)) };
    },
  },
  Mean: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axes = axesOf(attrs.axis, x!.shape);
      const count = axes.reduce((n, a) => n * x!.shape[a]!, 1);
      return { x: () => tf.div(tf.mul(expandReduced(dy, x!.shape, axes), onesOf(x!.shape)), count) };
    },
  },
  Max: minMaxGrad('reductionIndices'),
  Min: minMaxGrad('axis'),
  Prod: {
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], attrs) => {
      // Exact for inputs without zeros; the trainer never multiplies trainable values this way.
      const axes = axesOf(attrs.axis, x!.shape);
      return { x: () => tf.div(tf.mul(expandReduced(dy, x!.shape, axes), expandReduced(y!, x!.shape, axes)), x!) };
    },
  },

  // --- layout --------------------------------------------------------------------
  Reshape: { inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy, x!.shape) }) },
  ExpandDims: { inputsToSave: ['input'], gradFunc: (dy, [x]) => ({ input: () => tf.reshape(dy, x!.shape) }) },
  Transpose: {
    gradFunc: (dy, _s, attrs) => ({ x: () => tf.transpose(dy, tf.backend_util.getUndoAxesPermutation(attrs.perm as number[])) }),
  },
  Concat: {
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = axesOf(attrs.axis, saved[0]!.shape)[0]!;
      const sizes = saved.map((t) => t.shape[axis]!);
      const parts = tf.split(dy, sizes, axis);
      return parts.map((p) => () => p);
    },
  },
  SplitV: {
    gradFunc: (dy, _s, attrs) => {
      const dys = dy as unknown as Tensor[];
      return { x: () => tf.concat(dys, axesOf(attrs.axis, dys[0]!.shape)[0]!) };
    },
  },
  Pack: {
    gradFunc: (dy, _saved, attrs) => tf.unstack(dy, attrs.axis as number).map((t) => () => t),
  },
  Unpack: {
    gradFunc: (dy, _s, attrs) => ({ value: () => tf.stack(dy as unknown as Tensor[], attrs.axis as number) }),
  },
  Slice: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const [begin, size] = tf.slice_util.parseSliceParams(x!, attrs.begin as number | number[], attrs.size as number | number[]) as [number[], number[]]; // always [begin, size]
      const paddings = x!.shape.map((d, i) => [begin[i]!, d - begin[i]! - size[i]!] as [number, number]);
      return { x: () => tf.pad(dy, paddings) };
    },
  },
  PadV2: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const begin = (attrs.paddings as [number, number][]).map((p) => p[0]);
      return { x: () => tf.slice(dy, begin, x!.shape) };
    },
  },
  Reverse: {
    gradFunc: (dy, _s, attrs) => ({ x: () => tf.reverse(dy, axesOf(attrs.dims, dy.shape)) }),
  },
  Tile: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      // dy viewed as [r0, x0, r1, x1, ...]: summing the r axes undoes the tiling.
      const reps = attrs.reps as number[];
      const shape = x!.shape;
      const split: number[] = [];
      shape.forEach((d, i) => split.push(reps[i]!, d));
      const repAxes = shape.map((_, i) => 2 * i);
      return { x: () => tf.reshape(tf.sum(tf.reshape(dy, split), repAxes), shape) };
    },
  },
  GatherV2: {
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, [x, indices], attrs) => {
      if ((attrs.batchDims as number | undefined) && (attrs.batchDims as number) !== 0) {
        throw new Error('gradient of gather with batchDims > 0 is not implemented');
      }
      const axis = axesOf(attrs.axis, x!.shape)[0]!;
      return {
        x: () => {
          const shape = x!.shape;
          const outer = shape.slice(0, axis);
          const inner = shape.slice(axis + 1);
          const n = indices!.size;
          const values = tf.reshape(dy, [...outer, n, ...inner]);
          const perm = [outer.length, ...outer.map((_, i) => i), ...inner.map((_, i) => outer.length + 1 + i)];
          const moved = tf.transpose(values, perm);
          const summed = tf.unsortedSegmentSum(moved, tf.reshape(tf.cast(indices!, 'int32'), [n]), shape[axis]!);
          return tf.transpose(summed, tf.backend_util.getUndoAxesPermutation(perm));
        },
        indices: () => tf.zeros(indices!.shape, 'float32'),
      };
    },
  },

  // --- matmul and conv -------------------------------------------------------------
  BatchMatMul: {
    inputsToSave: binaryInputs,
    gradFunc: (dy, [a, b], attrs) => {
      const ta = attrs.transposeA as boolean;
      const tb = attrs.transposeB as boolean;
      let da: () => Tensor;
      let db: () => Tensor;
      if (!ta && !tb) {
        da = () => matMulT(dy, b!, false, true);
        db = () => matMulT(a!, dy, true, false);
      } else if (!ta && tb) {
        da = () => matMulT(dy, b!, false, false);
        db = () => matMulT(dy, a!, true, false);
      } else if (ta && !tb) {
        da = () => matMulT(b!, dy, false, true);
        db = () => matMulT(a!, dy, false, false);
      } else {
        da = () => matMulT(b!, dy, true, true);
        db = () => matMulT(dy, a!, true, true);
      }
      return { a: () => unbroadcast(da(), a!.shape), b: () => unbroadcast(db(), b!.shape) };
    },
  },
  Conv2D: {
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      assertUnitDilation('Conv2D', attrs.dilations);
      // The kernel's own attrs, passed on as they came (dimRoundingMode may be absent): `as NamedAttrMap` here and below.
      const { strides, pad, dataFormat, dimRoundingMode } = attrs;
      return {
        x: () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: filter! }, {
            strides,
            pad,
            dataFormat,
            dimRoundingMode,
            inputShape: x!.shape,
          } as NamedAttrMap) as Tensor,
        filter: () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy }, {
            strides,
            pad,
            dataFormat,
            dimRoundingMode,
            filterShape: filter!.shape,
          } as NamedAttrMap) as Tensor,
      };
    },
  },
  Conv2DBackpropInput: {
    inputsToSave: ['dy', 'filter'],
    gradFunc: (ddx, [dy, filter], attrs) => {
      const { strides, pad, dataFormat, dimRoundingMode } = attrs;
      return {
        dy: () =>
          tf.engine().runKernel('Conv2D', { x: ddx, filter: filter! }, { strides, pad, dataFormat, dilations: 1, dimRoundingMode } as NamedAttrMap) as Tensor,
        filter: () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: ddx, dy: dy! }, {
            strides,
            pad,
            dataFormat,
            dimRoundingMode,
            filterShape: filter!.shape,
          } as NamedAttrMap) as Tensor,
      };
    },
  },
  DepthwiseConv2dNative: {
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      const { strides, pad, dilations, dimRoundingMode } = attrs;
      return {
        x: () =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: filter! }, {
            strides,
            pad,
            dilations: dilations ?? 1,
            dimRoundingMode,
            inputShape: x!.shape,
          } as NamedAttrMap) as Tensor,
        filter: () =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: x!, dy }, {
            strides,
            pad,
            dilations: dilations ?? 1,
            dimRoundingMode,
            filterShape: filter!.shape,
          } as NamedAttrMap) as Tensor,
      };
    },
  },

  // --- pooling: the kernels behind these are ours on cpu/wasm (pool.ts) -------------
  MaxPool: {
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], attrs) => ({
      x: () =>
        tf.engine().runKernel('MaxPoolGrad', { dy, input: x!, output: y! }, {
          filterSize: attrs.filterSize,
          strides: attrs.strides,
          pad: attrs.pad,
          dimRoundingMode: attrs.dimRoundingMode,
        } as NamedAttrMap) as Tensor,
    }),
  },
  AvgPool: {
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => ({
      x: () =>
        tf.engine().runKernel('AvgPoolGrad', { dy, input: x! }, {
          filterSize: attrs.filterSize,
          strides: attrs.strides,
          pad: attrs.pad,
          dimRoundingMode: attrs.dimRoundingMode,
        } as NamedAttrMap) as Tensor,
    }),
  },
};

function minMaxGrad(axisAttr: string): { inputsToSave: string[]; outputsToSave: boolean[]; gradFunc: GradFn } {
  return {
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], attrs) => {
      const axes = axesOf(attrs[axisAttr], x!.shape);
      return {
        x: () => {
          const yk = expandReduced(y!, x!.shape, axes);
          return tf.mul(expandReduced(dy, x!.shape, axes), f32(tf.equal(x!, yk)));
        },
      };
    },
  };
}

function assertUnitDilation(kernel: string, d: unknown): void {
  const ds = Array.isArray(d) ? d : [d ?? 1, d ?? 1];
  if (ds.some((v) => v !== 1))
    throw new Error(`gradient of ${kernel} with dilations ${ds.join('x')} is not implemented (the executor dilates the filter instead)`);
}

/**
 * Kernels whose gradient (ours) reads the tensors it saved only for their shapes: Add and Sub
 * (for the broadcast), reductions, layout ops, the piecewise-constant ones. tfjs saves the
 * whole input all the same (an Add of a conv's output and its bias keeps the conv's output),
 * so leanVariableGrads (backprop.ts) frees those tensors as soon as the node is recorded; a
 * disposed tensor keeps its shape.
 */
const SHAPE_ONLY = new Set([
  'Add',
  'Sub',
  'AddN',
  'Sum',
  'Mean',
  'Reshape',
  'ExpandDims',
  'Concat',
  'Slice',
  'PadV2',
  'Tile',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Step',
  'Equal',
  'NotEqual',
  'Greater',
  'GreaterEqual',
  'Less',
  'LessEqual',
  'FloorDiv',
  'ArgMax',
  'ArgMin',
]);

/** Whether the gradient registered for `kernelName` is ours and reads its saved tensors only for their shapes (SHAPE_ONLY). */
export function gradientReadsShapesOnly(kernelName: string): boolean {
  const cfg = CONFIGS[kernelName];
  return !!cfg && SHAPE_ONLY.has(kernelName) && tf.getGradient(kernelName)?.gradFunc === cfg.gradFunc;
}

/** Kernels whose gradient we always install, even over an existing one. */
const ALWAYS = new Set(['MaxPool', 'AvgPool']);

let registered = false;

/** Registers the gradient table (idempotent). Returns the kernel names it installed. */
export function registerGradients(): string[] {
  if (registered) return [];
  registered = true;
  const installed: string[] = [];
  for (const [kernelName, cfg] of Object.entries(CONFIGS)) {
    if (!ALWAYS.has(kernelName) && tf.getGradient(kernelName) !== undefined) continue;
    tf.registerGradient({ kernelName, ...cfg } as unknown as GradConfig);
    installed.push(kernelName);
  }
  return installed;
}

/** Kernel names this table covers. */
export const GRADIENT_KERNELS: readonly string[] = Object.keys(CONFIGS);
