/**
 * Finite-difference gradient checks for tfjs computations.
 *
 * The checked scalar is L = Σ wᵢ·yᵢ with seeded weights w ∈ [−1, 1] over an output y of
 * any shape, so every output element matters and a wrong gradient cannot hide behind a
 * plain sum. L is accumulated in float64 on the host from the float32 outputs; a
 * coordinate is perturbed to fround(x ± ε) and the true step (x⁺ − x⁻) is the divisor, so
 * only float32 rounding of y limits the central difference. A coordinate passes when
 * |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|).
 *
 * ```ts
 * const [r] = gradCheck((xs) => tf.relu(xs[0]!), [{ name: 'x', shape: [2, 3], values }]);
 * assert.ok(r!.ok, `${r!.input}: worst ${JSON.stringify(r!.worst)}`);
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { leanVariableGrads } from './backprop.js';

export interface GradCheckOptions {
  /** Half step of the central difference (default 1e-2: float32 needs a coarse step). */
  eps?: number;
  /** Coordinates checked per input (all when the input is smaller; default 12). */
  samples?: number;
  /** Relative tolerance (default 2e-2). */
  rtol?: number;
  /** Absolute tolerance (default 2e-3). */
  atol?: number;
  /** Seed of the output weights and of the coordinate choice (default 7). */
  seed?: number;
}

export interface GradCheckInput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface GradCheckPoint {
  /** Flat index of the coordinate. */
  readonly index: number;
  readonly analytic: number;
  readonly numeric: number;
  /** |analytic − numeric| / (atol + rtol·max(|analytic|, |numeric|)); ≤ 1 passes. */
  readonly ratio: number;
}

export interface GradCheckResult {
  readonly input: string;
  readonly checked: number;
  /** Largest |analytic − numeric| over the checked coordinates. */
  readonly maxAbsError: number;
  /** Largest ratio (see GradCheckPoint); the check passes when it is ≤ 1. */
  readonly maxRatio: number;
  readonly worst: GradCheckPoint | undefined;
  readonly ok: boolean;
}

interface Resolved {
  eps: number;
  samples: number;
  rtol: number;
  atol: number;
  seed: number;
}

function resolve(o: GradCheckOptions): Resolved {
  return { eps: o.eps ?? 1e-2, samples: o.samples ?? 12, rtol: o.rtol ?? 2e-2, atol: o.atol ?? 2e-3, seed: o.seed ?? 7 };
}

/** Seeded weights for an output of `n` elements. */
function outputWeights(n: number, seed: number): Float32Array {
  return new Rng(seed ^ 0x5bd1e995).uniformArray(n, -1, 1);
}

function weightedSum(y: Tensor, w: Float32Array): number {
  const v = y.dataSync();
  if (v.length !== w.length) throw new Error(`output size changed between evaluations: ${w.length} → ${v.length}`);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Number(v[i]) * w[i]!;
  return s;
}

function pickCoords(n: number, k: number, rng: Rng): number[] {
  if (n <= k) return [...Array(n).keys()];
  const all = [...Array(n).keys()];
  rng.shuffle(all);
  return all.slice(0, k).sort((a, b) => a - b);
}

/** Compares analytic and central-difference gradients of one flattened input. */
function compare(
  name: string,
  current: Float32Array,
  analytic: Float32Array,
  o: Resolved,
  rng: Rng,
  lossAt: (index: number, value: number) => number,
): GradCheckResult {
  if (analytic.length !== current.length) throw new Error(`gradient of ${name} has ${analytic.length} values; the input has ${current.length}`);
  let maxAbs = 0;
  let maxRatio = 0;
  let worst: GradCheckPoint | undefined;
  const coords = pickCoords(current.length, o.samples, rng);
  for (const j of coords) {
    const x = current[j]!;
    const xp = Math.fround(x + o.eps);
    const xm = Math.fround(x - o.eps);
    const lp = lossAt(j, xp);
    const lm = lossAt(j, xm);
    lossAt(j, x);
    const numeric = (lp - lm) / (xp - xm);
    const a = analytic[j]!;
    const diff = Math.abs(a - numeric);
    const ratio = diff / (o.atol + o.rtol * Math.max(Math.abs(a), Math.abs(numeric)));
    if (diff > maxAbs || Number.isNaN(diff)) maxAbs = Number.isNaN(diff) ? Infinity : diff;
    if (!(ratio <= maxRatio)) {
      maxRatio = Number.isNaN(ratio) ? Infinity : ratio;
      worst = { index: j, analytic: a, numeric, ratio };
    }
  }
  return { input: name, checked: coords.length, maxAbsError: maxAbs, maxRatio, worst, ok: maxRatio <= 1 };
}

/**
 * Checks the gradients of `f` with respect to each of `inputs` (made into tensors here).
 * `f` may return any shape; it must be deterministic. Cost: 2·samples + 1 evaluations per input.
 */
export function gradCheck(f: (xs: Tensor[]) => Tensor, inputs: readonly GradCheckInput[], opts: GradCheckOptions = {}): GradCheckResult[] {
  const o = resolve(opts);
  const rng = new Rng(o.seed);
  const values = inputs.map((i) => Float32Array.from(i.values));
  const evalLoss = (w: Float32Array): number =>
    tf.tidy(() => {
      const y = f(values.map((v, k) => tf.tensor(v, [...inputs[k]!.shape], 'float32')));
      return weightedSum(y, w);
    });
  const size = tf.tidy(() => f(values.map((v, k) => tf.tensor(v, [...inputs[k]!.shape], 'float32'))).size);
  const w = outputWeights(size, o.seed);
  const analytic = tf.tidy(() => {
    const xs = values.map((v, k) => tf.tensor(v, [...inputs[k]!.shape], 'float32'));
    const wt = tf.tensor(w);
    const g = tf.grads((...a: Tensor[]) => tf.sum(tf.mul(tf.reshape(f(a), [-1]), wt)))(xs);
    return g.map((t, k) => {
      if (t.shape.join(',') !== inputs[k]!.shape.join(','))
        throw new Error(`gradient of ${inputs[k]!.name} has shape [${t.shape}]; the input has [${inputs[k]!.shape}]`);
      return Float32Array.from(t.dataSync() as Float32Array);
    });
  });
  return inputs.map((inp, k) =>
    compare(inp.name, values[k]!, analytic[k]!, o, rng, (j, value) => {
      values[k]![j] = value;
      return evalLoss(w);
    }),
  );
}

/**
 * Checks the gradients of `f()` with respect to `variables` as the training loop computes
 * them (`leanVariableGrads`, tf.variableGrads freeing as it goes), perturbing each variable
 * in place and restoring it afterwards.
 */
export function gradCheckVariables(f: () => Tensor, variables: readonly Variable[], opts: GradCheckOptions = {}): GradCheckResult[] {
  const o = resolve(opts);
  const rng = new Rng(o.seed);
  const size = tf.tidy(() => f().size);
  const w = outputWeights(size, o.seed);
  const analytic = tf.tidy(() => {
    const wt = tf.tensor(w);
    const { grads } = leanVariableGrads(() => tf.sum(tf.mul(tf.reshape(f(), [-1]), wt)) as tf.Scalar, [...variables]);
    return variables.map((v) => {
      const g = grads[v.name];
      if (!g) throw new Error(`no gradient reached variable ${v.name}`);
      return Float32Array.from(g.dataSync() as Float32Array);
    });
  });
  return variables.map((v, k) => {
    const current = Float32Array.from(v.dataSync() as Float32Array);
    const shape = [...v.shape];
    const result = compare(v.name, current, analytic[k]!, o, rng, (j, value) => {
      current[j] = value;
      tf.tidy(() => v.assign(tf.tensor(current, shape, 'float32')));
      return tf.tidy(() => weightedSum(f(), w));
    });
    return result;
  });
}
