/**
 * Initial weights of a stacked layer, unit by unit.
 *
 * `he`: from scratch, He-normal (std = √(2 / fan_in)) from a seeded stream, biases zero.
 *
 * `original`: the stacked layer approximates the layer it replaces. Unit i can only see its
 * own input piece and write its own output piece, so the most it can keep of the original
 * weight W is the diagonal block W_ii (output piece i × input piece i); it keeps the best
 * rank-r fit of that block, W_ii ≈ B·A (truncated SVD, split evenly), passed through the
 * activation without loss:
 *  - none:         first layer A, second B                       (r = n2)
 *  - relu, relu6:  first [A; −A], second [B, −B]                  (r = ⌊n2/2⌋; relu(z) − relu(−z) = z,
 *                                                                  relu6 exact while |z| ≤ 6)
 *  - leaky-relu α: as relu, second layer divided by (1 + α)
 *  - tanh:         first εA, second B/ε                           (small-signal: tanh(εz)/ε ≈ z)
 *  - sigmoid:      first εA, second 4B/ε, bias −(2/ε)·B·1          (σ(z) ≈ ½ + z/4)
 * with ε = 0.1. The second layer's bias is the original bias piece. Kernels: the original
 * k×k taps are centred in k1 (cropped or zero-padded when k1 ≠ k, matching the pads the
 * planner chose); a k2 > 1 second kernel uses its centre tap only. Hidden units beyond the
 * fit get small random first-layer weights and zero second-layer weights, so they change
 * nothing yet still learn. The off-diagonal blocks are lost: that is the stacked layer's
 * approximation error, reported as `fitError`. A layer behind a channel shuffle reads its
 * input permuted; its blocks are taken from the original weight's permuted columns.
 */
import type { Rng } from '../util/rng.js';
import type { LayerPlan } from './plan.js';
import type { PlannedUnit } from './cost.js';
import { lowRankFactors } from './linalg.js';
import type { TissueActivation, TissueInit } from './spec.js';

/** One unit's weights in conv layout: w1 [n2, n1, K1], w2 [n3, n2, K2] (K = kernel elements, 1 for dense). */
export interface UnitWeights {
  readonly unit: PlannedUnit;
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  /** Null when the stacked layer has no second bias. */
  readonly b2: Float32Array | null;
}

export interface StackedWeights {
  /** Per position, in channel order. */
  readonly units: UnitWeights[];
  /**
   * `original` only: ‖W − W_stacked‖_F / ‖W‖_F of the linear map the stacked layer starts
   * as (block-diagonal low-rank part against the full original weight).
   */
  readonly fitError?: number;
}

const EPS = 0.1;

function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

function heUnit(u: PlannedUnit, bias2: boolean, rng: Rng): UnitWeights {
  const k1 = prod(u.k1);
  const k2 = prod(u.k2);
  return {
    unit: u,
    w1: rng.normalArray(u.n2 * u.n1 * k1, Math.sqrt(2 / (u.n1 * k1))),
    b1: new Float32Array(u.n2),
    w2: rng.normalArray(u.n3 * u.n2 * k2, Math.sqrt(2 / (u.n2 * k2))),
    b2: bias2 ? new Float32Array(u.n3) : null,
  };
}

/** Index of a multi-dim tap in row-major order. */
function tapIndex(t: readonly number[], dims: readonly number[]): number {
  let i = 0;
  for (let a = 0; a < dims.length; a++) i = i * dims[a]! + t[a]!;
  return i;
}

/** For each tap of k1, the original tap it takes (−1: none), centred as the planner's pads are. */
function tapMap(k: readonly number[], k1: readonly number[]): Int32Array {
  const n = prod(k1);
  const map = new Int32Array(n).fill(-1);
  const t = new Array<number>(k1.length).fill(0);
  for (let i = 0; i < n; i++) {
    let rem = i;
    for (let a = k1.length - 1; a >= 0; a--) {
      t[a] = rem % k1[a]!;
      rem = Math.floor(rem / k1[a]!);
    }
    const src = t.map((x, a) => x - Math.floor((k1[a]! - k[a]!) / 2));
    if (src.every((x, a) => x >= 0 && x < k[a]!)) map[i] = tapIndex(src, k);
  }
  return map;
}

/**
 * Weights for every position of a planned stacked layer.
 * `original` needs the original weight [C_out, C_in, K] and bias (see layers.originalWeights).
 */
export function initStackedLayer(
  plan: LayerPlan,
  init: TissueInit,
  activation: TissueActivation,
  rng: Rng,
  original?: { w: Float32Array; bias: Float32Array | null },
  leakyAlpha = 0.01,
): StackedWeights {
  if (init === 'he' || !original) return { units: plan.units.map((u) => heUnit(u, plan.bias2, rng)) };
  const { cIn, kernel } = plan.layer;
  const kOrig = prod(kernel);
  const units: UnitWeights[] = [];
  let inOff = 0;
  let outOff = 0;
  let kept = 0;
  let total = 0;
  for (const x of original.w) total += x * x;
  // Behind a channel shuffle the units read permuted channels: unit input c is original
  // channel (c mod g)·(C/g) + ⌊c/g⌋, so the fit reads the original weight's columns that way.
  const g = plan.shuffleGroups ?? 1;
  const inChannel = Int32Array.from({ length: cIn }, (_, c) => (c % g) * (cIn / g) + Math.floor(c / g));
  for (const u of plan.units) {
    const k1 = prod(u.k1);
    const k2 = prod(u.k2);
    const map = plan.layer.kind === 'conv' ? tapMap(kernel, u.k1) : Int32Array.of(0);
    // The diagonal block as a matrix [n3, n1·K1].
    const cols = u.n1 * k1;
    const block = new Float64Array(u.n3 * cols);
    for (let o = 0; o < u.n3; o++) {
      for (let i = 0; i < u.n1; i++) {
        for (let t = 0; t < k1; t++) {
          const src = map[t]!;
          if (src >= 0) block[o * cols + i * k1 + t] = original.w[((outOff + o) * cIn + inChannel[inOff + i]!) * kOrig + src]!;
        }
      }
    }
    const paired = activation === 'relu' || activation === 'relu6' || activation === 'leaky-relu';
    const r = paired ? Math.floor(u.n2 / 2) : u.n2;
    const { a, b, singular } = lowRankFactors(block, u.n3, cols, r);
    const w1 = new Float32Array(u.n2 * cols);
    const b1 = new Float32Array(u.n2);
    const w2 = new Float32Array(u.n3 * u.n2 * k2);
    const b2 = plan.bias2 ? new Float32Array(u.n3) : null;
    if (b2 && original.bias) for (let o = 0; o < u.n3; o++) b2[o] = original.bias[outOff + o]!;
    // Second kernel: only the centre tap (the 'same' pads put it over the output position).
    const centre = tapIndex(
      u.k2.map((k) => Math.floor((k - 1) / 2)),
      u.k2,
    );
    const setW2 = (o: number, h: number, v: number): void => {
      w2[(o * u.n2 + h) * k2 + centre] = v;
    };
    const scale1 = activation === 'tanh' || activation === 'sigmoid' ? EPS : 1;
    const scale2 = activation === 'tanh' ? 1 / EPS : activation === 'sigmoid' ? 4 / EPS : activation === 'leaky-relu' ? 1 / (1 + leakyAlpha) : 1;
    for (let c = 0; c < r; c++) {
      for (let k = 0; k < cols; k++) {
        w1[c * cols + k] = scale1 * a[c * cols + k]!;
        if (paired) w1[(r + c) * cols + k] = -a[c * cols + k]!;
      }
      for (let o = 0; o < u.n3; o++) {
        setW2(o, c, scale2 * b[o * r + c]!);
        if (paired) setW2(o, r + c, -scale2 * b[o * r + c]!);
      }
    }
    if (activation === 'sigmoid' && b2) {
      for (let o = 0; o < u.n3; o++) {
        let s = 0;
        for (let c = 0; c < r; c++) s += b[o * r + c]!;
        b2[o] = b2[o]! - (2 / EPS) * s;
      }
    }
    // Hidden units the fit does not use: random in, zero out (they learn, and change nothing yet).
    const used = paired ? 2 * r : r;
    const std = 0.1 * Math.sqrt(2 / cols);
    for (let h = used; h < u.n2; h++) for (let k = 0; k < cols; k++) w1[h * cols + k] = rng.normal() * std;
    // The linear map kept: B·A, the block's rank-r truncated SVD, so
    // ‖block‖² − ‖block − B·A‖² = Σ_{c<r} σ_c² (Eckart–Young).
    for (let c = 0; c < r; c++) kept += singular[c]! ** 2;
    units.push({ unit: u, w1, b1, w2, b2 });
    inOff += u.n1;
    outOff += u.n3;
  }
  const fitError = total > 0 ? Math.sqrt(Math.max(0, total - kept) / total) : 0;
  return { units, fitError };
}
