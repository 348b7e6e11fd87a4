/**
 * Analytic cost of TissueNet stacked layers (METHODS.md §1, tissuenet.txt §3.5).
 *
 * For a layer whose output has P positions per channel (H·W for conv, rows for dense, at
 * batch 1) and units i = 1..m with n1_i → n2_i → n3_i, kernels k1_i, k2_i (K = kernel
 * elements, 1 for dense):
 *   weights  = Σ_i K1_i·n1_i·n2_i + K2_i·n2_i·n3_i
 *   params   = weights + Σ_i n2_i (first bias) + [C_out when the second layer has a bias]
 *   MACs     = P · weights            (both weight layers run at the output resolution)
 * against the dense layers of the same widths, K1·C_in·H + K2·H·C_out with H = Σ n2_i
 * (about m times more for equal units), and the original layer, K·C_in·C_out (+ C_out bias).
 * FLOPs = 2 × MACs.
 */
import type { TissueLayer } from './layers.js';

/** Parameters, weights (params without biases), MACs and FLOPs of one layer at batch 1. */
export interface LayerCost {
  params: number;
  weights: number;
  macs: number;
  flops: number;
}

/** A unit with its kernels resolved to the layer's spatial rank. */
export interface PlannedUnit {
  readonly n1: number;
  readonly n2: number;
  readonly n3: number;
  readonly k1: readonly number[];
  readonly k2: readonly number[];
}

function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

function cost(weights: number, biases: number, positions: number): LayerCost {
  const macs = positions * weights;
  return { params: weights + biases, weights, macs, flops: 2 * macs };
}

/** Cost of the original (dense, group 1) layer. */
export function originalLayerCost(layer: TissueLayer): LayerCost {
  const w = prod(layer.kernel) * layer.cIn * layer.cOut;
  return cost(w, layer.hasBias ? layer.cOut : 0, layer.outPositions);
}

/** Cost of the stacked layer made of `units` (one entry per position). */
export function stackedLayerCost(layer: TissueLayer, units: readonly PlannedUnit[], bias2: boolean): LayerCost {
  let w = 0;
  let b = 0;
  for (const u of units) {
    w += prod(u.k1) * u.n1 * u.n2 + prod(u.k2) * u.n2 * u.n3;
    b += u.n2 + (bias2 ? u.n3 : 0);
  }
  return cost(w, b, layer.outPositions);
}

/**
 * Cost of the fully connected layers with the stacked layer's widths (C_in → Σn2 → C_out,
 * no biases): what the stacked layer would cost if its units talked to each other. With
 * hybrid units the kernels of the first unit stand for all.
 */
export function denseEquivalentCost(layer: TissueLayer, units: readonly PlannedUnit[]): LayerCost {
  const h = units.reduce((a, u) => a + u.n2, 0);
  const u0 = units[0];
  const k1 = u0 ? prod(u0.k1) : 1;
  const k2 = u0 ? prod(u0.k2) : 1;
  return cost(k1 * layer.cIn * h + k2 * h * layer.cOut, 0, layer.outPositions);
}
